//! Sign-in through the organisation's identity provider (OpenID Connect): the start,
//! which sends the browser to the provider, and the callback it comes back to.
//!
//! What the callback must be given back (state, nonce, PKCE verifier, where to go next)
//! waits in a short-lived HttpOnly cookie limited to `/auth/oidc`, SameSite=Lax because
//! the provider's redirect is a navigation from another site. Its values are random and
//! used once; the cookie only proves the callback comes back to the browser that
//! started, which is what the `state` check is for. Everything else is the service's.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use readtrack_service::ServiceError;
use readtrack_service::oidc::OidcOutcome;
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::cookie_in;
use crate::state::ServerState;
use crate::web::auth::login_form;
use crate::web::chrome::error_page;
use crate::web::session::{
    Visitor, csrf_matches_plain, percent_encode, safe_next, set_lax_cookie, sign_in_headers,
};

/// The cookie holding a started sign-in until the provider sends the browser back.
const OIDC_COOKIE: &str = "rt_oidc";
/// Where that cookie is sent: the callback only.
const OIDC_COOKIE_PATH: &str = "/auth/oidc";
/// Ten minutes to sign in at the provider.
const OIDC_COOKIE_SECS: i64 = 600;

/// Query of the start: where to go next, or the command-line client waiting on a
/// loopback port (RFC 8252) with its PKCE challenge and its own state.
#[derive(Debug, Deserialize)]
pub struct StartQuery {
    next: Option<String>,
    cli_port: Option<u16>,
    cli_challenge: Option<String>,
    cli_state: Option<String>,
}

/// The command-line client that started a sign-in.
struct CliClient {
    port: u16,
    challenge: String,
    state: String,
}

fn is_b64url(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The command-line client of a start query: all three of port (not a privileged
/// one), S256 challenge and state, or none.
fn cli_client(q: &StartQuery) -> Result<Option<CliClient>, ()> {
    match (q.cli_port, &q.cli_challenge, &q.cli_state) {
        (None, None, None) => Ok(None),
        (Some(port), Some(challenge), Some(state))
            if port >= 1024 && is_b64url(challenge, 43, 43) && is_b64url(state, 16, 128) =>
        {
            Ok(Some(CliClient {
                port,
                challenge: challenge.clone(),
                state: state.clone(),
            }))
        }
        _ => Err(()),
    }
}

/// `GET /auth/oidc/start`: a fresh sign-in at the provider.
pub async fn start(
    State(s): State<ServerState>,
    visitor: Visitor,
    Query(q): Query<StartQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    let Ok(cli) = cli_client(&q) else {
        let t = visitor.lang.tr();
        return login_form(
            &s,
            &visitor,
            StatusCode::BAD_REQUEST,
            next,
            String::new(),
            Some(t.oidc_failed.into()),
        );
    };
    match s.app.oidc_start().await {
        Ok(req) => {
            let mut value = format!(
                "{}.{}.{}.{}",
                req.state,
                req.nonce,
                req.verifier,
                URL_SAFE_NO_PAD.encode(next.as_bytes())
            );
            if let Some(cli) = &cli {
                value.push_str(&format!(".{}.{}.{}", cli.port, cli.challenge, cli.state));
            }
            let mut headers = HeaderMap::new();
            headers.insert(
                header::SET_COOKIE,
                set_lax_cookie(
                    OIDC_COOKIE,
                    &value,
                    OIDC_COOKIE_PATH,
                    OIDC_COOKIE_SECS,
                    visitor.https,
                ),
            );
            (headers, Redirect::to(&req.url)).into_response()
        }
        Err(e) => refusal(&s, &visitor, e),
    }
}

/// The provider's answer on the callback.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// Set when the person cancelled or the provider refused.
    error: Option<String>,
}

/// A started sign-in, read back from its cookie.
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    cli: Option<CliClient>,
}

fn pending(raw: &str) -> Option<Pending> {
    let mut parts = raw.split('.');
    let (state, nonce, verifier, next) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let next = String::from_utf8(URL_SAFE_NO_PAD.decode(next).ok()?).ok()?;
    let cli = match (parts.next(), parts.next(), parts.next()) {
        (Some(port), Some(challenge), Some(state)) => Some(CliClient {
            port: port.parse().ok()?,
            challenge: challenge.to_string(),
            state: state.to_string(),
        }),
        _ => None,
    };
    Some(Pending {
        cli,
        state: state.to_string(),
        nonce: nonce.to_string(),
        verifier: verifier.to_string(),
        next: safe_next(Some(&next)),
    })
}

/// `GET /auth/oidc/callback`: checks the state, then the service exchanges the code,
/// verifies the ID token and finds the person; signed in, they get the same session
/// cookie as a password sign-in.
pub async fn callback(
    State(s): State<ServerState>,
    visitor: Visitor,
    crate::extract::ClientAddr(address): crate::extract::ClientAddr,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let started = cookie_in(&headers, OIDC_COOKIE).and_then(|c| pending(&c));
    // The started sign-in is used once, whatever comes of it.
    let clear = set_lax_cookie(OIDC_COOKIE, "", OIDC_COOKIE_PATH, 0, visitor.https);
    let t = visitor.lang.tr();
    let page = |status: StatusCode, message: &str| {
        let mut res = login_form(
            &s,
            &visitor,
            status,
            "/inbox".into(),
            String::new(),
            Some(message.to_string()),
        );
        res.headers_mut().append(header::SET_COOKIE, clear.clone());
        res
    };
    let Some(started) = started else {
        return page(StatusCode::BAD_REQUEST, t.form_expired);
    };
    let state_ok = q
        .state
        .as_deref()
        .is_some_and(|st| csrf_matches_plain(&started.state, st));
    if !state_ok {
        return page(StatusCode::BAD_REQUEST, t.oidc_failed);
    }
    let (Some(code), None) = (q.code.as_deref(), q.error.as_deref()) else {
        return page(StatusCode::UNAUTHORIZED, t.oidc_failed);
    };
    match s
        .app
        .oidc_finish(
            code,
            &started.verifier,
            &started.nonce,
            address,
            started.cli.as_ref().map(|c| c.challenge.as_str()),
        )
        .await
    {
        // Back to the command-line client on this machine, with a code only its PKCE
        // verifier turns into a session (the browser itself is not signed in).
        Ok(OidcOutcome::CliCode(code)) => match &started.cli {
            Some(cli) => {
                let to = format!(
                    "http://127.0.0.1:{}/?code={}&state={}",
                    cli.port,
                    percent_encode(&code),
                    percent_encode(&cli.state)
                );
                let mut headers = HeaderMap::new();
                headers.insert(header::SET_COOKIE, clear);
                (headers, Redirect::to(&to)).into_response()
            }
            None => page(StatusCode::INTERNAL_SERVER_ERROR, t.oidc_failed),
        },
        Ok(OidcOutcome::SignedIn(out)) => {
            s.app
                .remember_language(out.member_id, visitor.lang.tag())
                .await;
            let mut headers = sign_in_headers(&out.token, visitor.https);
            headers.append(header::SET_COOKIE, clear);
            (headers, Redirect::to(&started.next)).into_response()
        }
        Ok(OidcOutcome::NoAccount) => page(StatusCode::FORBIDDEN, t.oidc_no_account),
        Ok(OidcOutcome::Deactivated) => page(StatusCode::FORBIDDEN, t.oidc_deactivated),
        Err(ServiceError::Unauthenticated(_)) => page(StatusCode::UNAUTHORIZED, t.oidc_failed),
        Err(ServiceError::Unavailable(_)) => {
            page(StatusCode::SERVICE_UNAVAILABLE, t.oidc_unavailable)
        }
        Err(e) => {
            let mut res = refusal(&s, &visitor, e);
            res.headers_mut().append(header::SET_COOKIE, clear);
            res
        }
    }
}

fn refusal(s: &ServerState, visitor: &Visitor, e: ServiceError) -> Response {
    let t = visitor.lang.tr();
    let e = ApiError::from(e);
    match e.status {
        StatusCode::SERVICE_UNAVAILABLE => login_form(
            s,
            visitor,
            e.status,
            "/inbox".into(),
            String::new(),
            Some(t.oidc_unavailable.into()),
        ),
        StatusCode::TOO_MANY_REQUESTS => login_form(
            s,
            visitor,
            e.status,
            "/inbox".into(),
            String::new(),
            Some(e.message),
        ),
        _ => error_page(visitor.lang, e),
    }
}
