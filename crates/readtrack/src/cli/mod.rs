//! The command-line client: `readtrack login`, `inbox`, `read`, `ack`, `send`, `board`,
//! `outbox`, `sync`, `import`.

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
    /// Shows the notices you received.
    Inbox,
}

/// Runs a client command.
pub async fn run(_global: GlobalArgs, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Inbox => anyhow::bail!("the command-line client is not built yet"),
    }
}
