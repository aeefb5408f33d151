//! `readtrack`: the server, the command-line client and the benchmark in one binary.
//!
//! `main` only parses flags, starts logging and hands over to a command module; every
//! rule lives in the library crates.

mod backup;
mod cli;
mod memory;
mod migrate;
mod serve;
mod telemetry;

use clap::{Parser, Subcommand};

/// Accountable messaging for organisations.
#[derive(Debug, Parser)]
#[command(name = "readtrack", version, about, long_about = None)]
struct Cli {
    /// Options of the command-line client (ignored by `serve`).
    #[command(flatten)]
    client: cli::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the server.
    Serve(Box<serve::ServeArgs>),
    /// Copies an embedded deployment into an empty PostgreSQL database and verifies it.
    Migrate(migrate::MigrateArgs),
    /// Makes a consistent copy of the embedded database while the server keeps serving.
    Backup(backup::BackupArgs),
    /// Checks a backup and puts it in place as a data directory's database.
    Restore(backup::RestoreArgs),
    /// Load generators that measure a server: `readtrack bench all-hands --help`.
    #[command(disable_help_flag = true)]
    Bench {
        /// The benchmark and its flags, parsed by the benchmark itself: its `--server`
        /// and `--json` take values, unlike the client's global flags of those names.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<std::ffi::OsString>,
    },
    /// Client commands (login, inbox, read, ack, send, board, outbox, sync, import).
    #[command(flatten)]
    Client(cli::Command),
}

/// Parses `readtrack bench …` with the benchmark's own parser (printing its help or
/// mistakes and exiting, as clap does) and runs it.
async fn bench(args: Vec<std::ffi::OsString>) -> anyhow::Result<()> {
    let argv = std::iter::once(std::ffi::OsString::from("readtrack bench")).chain(args);
    match readtrack_bench::BenchCli::parse_from(argv).command {
        readtrack_bench::BenchCommand::AllHands(args) => {
            readtrack_bench::all_hands::run(args).await
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // One TLS crypto provider for the whole process (webhooks, the client, NATS, PostgreSQL).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("readtrack: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await,
            Command::Migrate(args) => migrate::run(args).await,
            Command::Backup(args) => backup::backup(args).await,
            Command::Restore(args) => backup::restore(args).await,
            Command::Bench { args } => bench(args).await,
            Command::Client(command) => cli::run(cli.client, command).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("readtrack: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
