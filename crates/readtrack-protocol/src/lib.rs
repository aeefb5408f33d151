//! readtrack's wire types: every HTTP body and realtime frame of the API, shared by the
//! server and the client SDK so the two cannot drift apart.
//!
//! Architecture invariant: this crate depends on nothing of readtrack's. Times are RFC
//! 3339 strings in UTC and ids are opaque strings, exactly as they travel.

pub mod auth;
pub mod directory;
pub mod error;
pub mod frames;
pub mod messages;
pub mod privacy;
pub mod receipts;
pub mod tasks;

pub use error::{ErrorBody, ErrorDetail};

/// A page of a list: `{"items": [...], "next_cursor": "…" | null}`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}
