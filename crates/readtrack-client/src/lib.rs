//! readtrack's client SDK: a typed client for the HTTP API and an offline-first receipt
//! outbox, for any Rust app that shows readtrack notices (the `readtrack` command line is
//! one).
//!
//! The promise to senders is that a read is never lost. It is kept here:
//!
//! 1. [`Outbox::record`] writes every receipt (delivered / read / ack) with its own event
//!    id and the true local time into a SQLite file ([`Store`]) and returns once the
//!    commit is durable (WAL, `synchronous=FULL`). Nothing else needs the network.
//! 2. [`Outbox::sync`] sends pending receipts in batches of up to 1000 and deletes each
//!    one only after the server answered `applied` or `duplicate` for it; `rejected`
//!    moves it to a dead-letter table with the server's reason.
//! 3. [`SyncEngine`] runs syncs in the background, retries with exponential backoff and
//!    jitter (honouring `Retry-After`), and wakes at once when [`Stream`] reconnects.
//!
//! Because every receipt carries a client-made event id and the server treats a repeat
//! as `duplicate`, sending a receipt twice (a lost response, a killed process) is
//! harmless, while deleting it only after the answer means it is never sent zero times.
//!
//! Architecture invariant: this crate depends on readtrack's wire types only
//! (`readtrack-protocol`), never on the server's crates.

pub mod api;
pub mod backoff;
pub mod clock;
pub mod error;
pub mod outbox;
pub mod store;
pub mod stream;
pub mod sync;
pub mod tls;

pub use api::{ApiClient, BoardQuery, ClientOptions, InboxQuery, MemberQuery};
pub use backoff::Backoff;
pub use clock::{Clock, OffsetClock, ServerClock, SystemClock};
pub use error::{ClientError, Result};
pub use outbox::{NewReceipt, Outbox, ReceiptKind, SyncFailure, SyncReport};
pub use store::{ClaimOutcome, DeadLetter, PendingReceipt, Store, StoreError};
pub use stream::{Stream, StreamEvent, StreamOptions};
pub use sync::{SyncEngine, SyncHandle, SyncStatus, SyncWaker};

/// Re-exported wire types, so users of the SDK need no second dependency.
pub use readtrack_protocol as protocol;
