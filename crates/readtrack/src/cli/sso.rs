//! `readtrack login --sso`: signing in with the company account in the browser, the
//! answer coming back to this machine's loopback address (RFC 8252).
//!
//! The client listens on `127.0.0.1` on a port of its choosing and has the server start
//! the sign-in with that port, a PKCE challenge and a state of its own. The browser comes
//! back with a one-time code, which only the verifier kept here turns into a session, so
//! nothing that passes through the browser is a credential on its own.

use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use readtrack_client::ApiClient;
use readtrack_protocol::auth::LoginResponse;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How long the browser has to come back.
const WAIT: Duration = Duration::from_secs(300);

fn random_b64(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(raw)
}

/// Signs in through the browser; answers the session, not yet saved.
pub async fn sign_in(anonymous: &ApiClient) -> anyhow::Result<LoginResponse> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot listen on a loopback port for the browser's answer")?;
    let port = listener.local_addr()?.port();
    let verifier = random_b64(32);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = random_b64(16);
    let mut url = anonymous
        .base_url()
        .join("/auth/oidc/start")
        .context("the server address")?;
    url.query_pairs_mut()
        .append_pair("cli_port", &port.to_string())
        .append_pair("cli_challenge", &challenge)
        .append_pair("cli_state", &state);
    eprintln!(
        "Open this address in a browser on this computer and sign in with your company account:\n\n  {url}\n"
    );
    let code = tokio::time::timeout(WAIT, wait_for_code(&listener, &state))
        .await
        .context("the browser did not come back within 5 minutes")??;
    anonymous
        .oidc_exchange(&code, &verifier)
        .await
        .context("the server did not accept the sign-in")
}

/// Answers the browser's requests until one brings the code (with our state).
async fn wait_for_code(listener: &TcpListener, state: &str) -> anyhow::Result<String> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&head);
        let target = head
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("GET "))
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or("/");
        let url = reqwest::Url::parse("http://127.0.0.1")?.join(target)?;
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let (Some(code), Some(came)) = (param("code"), param("state")) else {
            // The browser asking for a favicon, or anything else: not the answer.
            let _ = stream
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
            continue;
        };
        let ok = came == state;
        let body = if ok {
            "Signed in. You can close this tab and go back to the terminal."
        } else {
            "This sign-in was not started by this terminal. Nothing was done."
        };
        let reply = format!(
            "HTTP/1.1 {}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            if ok { "200 OK" } else { "400 Bad Request" },
            body.len()
        );
        let _ = stream.write_all(reply.as_bytes()).await;
        // An answer to another sign-in is ignored: keep waiting for ours.
        if ok {
            return Ok(code);
        }
    }
}
