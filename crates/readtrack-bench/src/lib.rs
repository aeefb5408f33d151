//! readtrack's load generators, run as `readtrack bench <name>`.
//!
//! `all-hands` reproduces the hardest moment of a read-tracking service: one notice to
//! the whole company, and everyone opens it at once. It drives a server only through
//! its public API (the SDK and the wire types), spawning the `readtrack` binary as a
//! subprocess when asked to, so what it measures is what a deployment would see.
//!
//! Architecture invariant: this crate depends on `readtrack-client` and
//! `readtrack-protocol` only, never on the server's crates; all its traffic stays on
//! loopback.

pub mod all_hands;
mod gateway;
mod population;
mod report;
mod rest;
mod server;
mod sockets;
mod watcher;

use clap::{Parser, Subcommand};

/// `readtrack bench …`: parsed apart from the rest of the command line, because its
/// `--server URL` and `--json FILE` take values where the client's global flags do not.
#[derive(Debug, Parser)]
#[command(
    name = "readtrack bench",
    about = "Load generators that measure a readtrack server"
)]
pub struct BenchCli {
    /// Which benchmark to run.
    #[command(subcommand)]
    pub command: BenchCommand,
}

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// One tracked, ack-required notice to the whole company; everyone reads and
    /// confirms it while the sender watches the board live.
    AllHands(all_hands::AllHandsArgs),
}
