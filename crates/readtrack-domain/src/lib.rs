//! readtrack's domain: the types, rules and state transitions of accountable messaging.
//!
//! Architecture invariant: this crate does no I/O and knows no wire format. It has no
//! tokio, no database and no JSON; every input reaches it as plain values, is parsed into
//! a newtype here (`Email`, `EventId`, `Audience`, ...) and only parsed values travel on.
//! Time is always passed in, never read from the system.

pub mod analytics;
pub mod audience;
pub mod department;
pub mod email;
pub mod error;
pub mod event;
pub mod ids;
pub mod import;
pub mod member;
pub mod message;
pub mod oidc;
pub mod privacy;
pub mod reach;
pub mod receipt;
pub mod receipt_batch;
pub mod reminder;
pub mod rights;
pub mod schedule;
pub mod scim;
pub mod settings;
pub mod summary;
pub mod text;
pub mod time_zone;
pub mod working_time;

pub use error::FieldError;
