//! `readtrack login`: signs in with email and password, or with the company account in
//! the browser (`--sso`), and saves the server and token in the profile (readable by its
//! owner only).

use std::io::{IsTerminal, Read};

use anyhow::{Context, bail};
use clap::Args;
use readtrack_client::ApiClient;
use readtrack_client::store::ClaimOutcome;
use serde::Serialize;

use super::GlobalArgs;
use super::profile::{Home, Profile};
use super::render;
use super::session::{INTERACTIVE, open_store};

/// Flags of `readtrack login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Your email.
    #[arg(long, required_unless_present = "sso")]
    email: Option<String>,
    /// Sign in with your company account in a browser instead of a password (the server
    /// must offer it; the browser comes back to this computer).
    #[arg(long, conflicts_with_all = ["email", "password_stdin", "code"])]
    sso: bool,
    /// Read the password from standard input (for scripts) instead of asking.
    #[arg(long)]
    password_stdin: bool,
    /// The current code of your authenticator app, for an account with two-step
    /// sign-in (asked for on a terminal when needed).
    #[arg(long, value_name = "CODE")]
    code: Option<String>,
}

/// Asks for the authenticator app's code on the terminal.
fn ask_code() -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("this account uses two-step sign-in: give the authenticator app's code with --code");
    }
    let term = console::Term::stderr();
    term.write_str("Code from your authenticator app: ")?;
    let code = term.read_line().context("cannot read the code")?;
    Ok(code.trim().to_string())
}

#[derive(Serialize)]
struct LoginOutput<'a> {
    server: &'a str,
    member_id: &'a str,
    name: &'a str,
    email: &'a str,
    expires_at: Option<&'a str>,
    profile: String,
}

fn read_password(args: &LoginArgs, email: &str) -> anyhow::Result<String> {
    let password = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from standard input")?;
        // Only the line ending goes: spaces may be part of a password.
        text.trim_end_matches(['\n', '\r']).to_string()
    } else if std::io::stdin().is_terminal() {
        let term = console::Term::stderr();
        term.write_str(&format!("Password for {email}: "))?;
        term.read_secure_line()
            .context("cannot read the password")?
    } else {
        bail!("no terminal to ask for the password on: pipe it in with --password-stdin");
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    Ok(password)
}

/// Runs `readtrack login`.
pub async fn run(global: &GlobalArgs, args: LoginArgs) -> anyhow::Result<()> {
    let home = Home::resolve()?;
    let previous = Profile::load(&home)?;
    let server = match (&global.server, &previous) {
        (Some(s), _) => s.clone(),
        (None, Some(p)) => p.server.clone(),
        (None, None) => {
            bail!("which server? run `readtrack --server URL login --email …` (or `--sso`)")
        }
    };
    let anonymous = ApiClient::with_options(&server, INTERACTIVE)?;
    let login = match args.email.as_deref() {
        None => super::sso::sign_in(&anonymous)
            .await
            .with_context(|| format!("cannot sign in to {server} with your company account"))?,
        Some(email) => {
            let email = email.trim();
            let password = read_password(&args, email)?;
            let first = anonymous
                .login_with_code(email, &password, args.code.as_deref())
                .await;
            match first {
                Err(readtrack_client::ClientError::Api { code, .. })
                    if code == "second_factor_required" && args.code.is_none() =>
                {
                    let code = ask_code()?;
                    anonymous
                        .login_with_code(email, &password, Some(&code))
                        .await
                }
                other => other,
            }
            .with_context(|| format!("cannot sign in to {server}"))?
        }
    };
    let api = anonymous.with_token(login.token.clone());
    let me = api
        .me()
        .await
        .context("signed in, but cannot read who you are")?;
    let profile = Profile {
        server: api.base_url().as_str().trim_end_matches('/').to_string(),
        token: login.token,
        member_id: me.id.clone(),
        email: me.email.clone(),
        name: me.name.clone(),
        org_id: me.org_id.clone(),
        expires_at: Some(login.expires_at.clone()),
    };
    // The offline store belongs to one person: switching people must not send one
    // person's waiting receipts as another's, nor drop them.
    let store = open_store(&home).await?;
    if let ClaimOutcome::Refused { pending, .. } = store.claim(&profile.owner()).await? {
        let who = previous
            .as_ref()
            .map(|p| p.email.as_str())
            .unwrap_or("the previous account");
        bail!(
            "this device still holds {pending} receipt(s) of {who} that the server has not received; \
             run `readtrack sync` while signed in as {who} before signing in as someone else"
        );
    }
    store.close().await;
    let path = profile.save(&home)?;
    if global.json {
        render::json(&LoginOutput {
            server: &profile.server,
            member_id: &profile.member_id,
            name: &profile.name,
            email: &profile.email,
            expires_at: profile.expires_at.as_deref(),
            profile: path.display().to_string(),
        })
    } else {
        render::text(&format!(
            "Signed in to {} as {} <{}>.\nToken saved in {} (readable by you only); it expires {}.",
            profile.server,
            profile.name,
            profile.email,
            path.display(),
            render::local_time(&login.expires_at),
        ))
    }
}
