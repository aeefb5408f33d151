//! The command-line client: `readtrack login`, `inbox`, `read`, `ack`, `send`, `board`,
//! `outbox`, `sync`, `import`. One module per command; [`session`] holds what they
//! share (the profile, the offline store, the API client).
//!
//! Output is for people by default and JSON with `--json`; errors go to stderr and
//! make the process exit non-zero.

mod board;
mod import;
mod inbox;
mod login;
mod outbox;
mod profile;
mod read;
mod render;
mod send;
mod session;
mod sso;
mod sync;

use clap::{Args, Subcommand};

/// Options shared by every client command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The server's base URL (else the saved profile's).
    #[arg(long, global = true, env = "READTRACK_SERVER")]
    pub server: Option<String>,
    /// Print JSON instead of text, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Client commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Signs in and saves the server and token in your profile.
    Login(login::LoginArgs),
    /// Shows the notices you received (the cached copy when offline).
    Inbox(inbox::InboxArgs),
    /// Shows a notice and records that you read it (works offline).
    Read(read::ReadArgs),
    /// Confirms a notice (works offline).
    Ack(read::AckArgs),
    /// Sends a notice to departments and people.
    Send(send::SendArgs),
    /// Shows who has read a notice you sent; `--watch` follows it live.
    Board(board::BoardArgs),
    /// Lists receipts waiting for the server and those it refused.
    Outbox(outbox::OutboxArgs),
    /// Sends the waiting receipts now.
    Sync(sync::SyncArgs),
    /// Imports members from a CSV file (admins).
    Import(import::ImportArgs),
}

/// Runs a client command.
pub async fn run(global: GlobalArgs, command: Command) -> anyhow::Result<()> {
    readtrack_client::tls::install_crypto_provider();
    match command {
        Command::Login(args) => login::run(&global, args).await,
        Command::Inbox(args) => inbox::run(&global, args).await,
        Command::Read(args) => read::run_read(&global, args).await,
        Command::Ack(args) => read::run_ack(&global, args).await,
        Command::Send(args) => send::run(&global, args).await,
        Command::Board(args) => board::run(&global, args).await,
        Command::Outbox(args) => outbox::run(&global, args).await,
        Command::Sync(args) => sync::run(&global, args).await,
        Command::Import(args) => import::run(&global, args).await,
    }
}
