//! Receipts and the read board.

use serde::{Deserialize, Serialize};

use crate::ErrorDetail;

/// One report from a recipient's client.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptItem {
    /// Client-made unique id; repeating it is harmless (`duplicate`).
    pub event_id: String,
    /// The notice.
    pub message_id: String,
    /// `delivered`, `read` or `ack`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^(delivered|read|ack)$"))]
    pub kind: String,
    /// When it happened (RFC 3339): the device's clock corrected by the offset the
    /// client learned from the server's `x-server-time` answers.
    pub at: String,
    /// The device's own clock at that moment, uncorrected (RFC 3339), when the client
    /// corrected `at`. Checked, never used for the record; the server reports how far
    /// devices are off on `/metrics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_at: Option<String>,
    /// The chosen response, on an `ack` of a notice with choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Whose receipt this is: only from relay tokens (a gateway reporting for members).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
}

/// `POST /api/v1/receipts`: at most 1000 items. Items are checked one by one, so one
/// malformed item is rejected alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptBatch {
    /// The reports.
    pub receipts: Vec<ReceiptItem>,
}

/// What became of one report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptResult {
    /// The report's `event_id` (`null` when it had none).
    pub event_id: Option<String>,
    /// `applied` (durably committed), `duplicate` or `rejected`.
    pub status: ReceiptStatus,
    /// Why it was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// Outcome of one report.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// Committed.
    Applied,
    /// Seen before; nothing changed.
    Duplicate,
    /// Refused; see `error`.
    Rejected,
}

/// Answer to a batch: one result per item, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptResults {
    /// Results.
    pub results: Vec<ReceiptResult>,
}

/// A board's counts. Cumulative: acknowledged people also count as delivered and read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Summary {
    /// People the notice went to.
    pub recipients: i64,
    /// Delivered to their device.
    pub delivered: i64,
    /// Read.
    pub read: i64,
    /// Acknowledged.
    pub acknowledged: i64,
    /// Not read yet.
    pub unread: i64,
    /// People counted here whose individual rows may not be shown.
    pub hidden: i64,
    /// Tally of acknowledgement choices, for notices that offer them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responses: Option<std::collections::BTreeMap<String, i64>>,
    /// True when the hidden people are fewer than the organisation's minimum group size:
    /// then `delivered`, `read`, `acknowledged`, `unread` and `responses` count only the
    /// people who may be shown, and the hidden ones are in `recipients` and `hidden` alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden_not_counted: bool,
}

/// One department's line on a board.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DepartmentLine {
    /// Department (of the recipients when the notice was sent).
    pub department_id: String,
    /// Its name.
    pub name: String,
    /// Recipients in it.
    pub recipients: i64,
    /// Of them, read.
    pub read: i64,
    /// Of them, acknowledged.
    pub acknowledged: i64,
}

/// One person's row on a board.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BoardItem {
    /// The recipient.
    pub member_id: String,
    /// Name.
    pub name: String,
    /// Department at send time.
    pub department_id: String,
    /// `sent`, `delivered`, `read` or `acknowledged`.
    pub state: String,
    /// When delivered (client clock); `null` when delivered in the person's quiet hours.
    pub delivered_at: Option<String>,
    /// When read (client clock); `null` when read outside working hours.
    pub read_at: Option<String>,
    /// When acknowledged (client clock); `null` when confirmed in quiet hours.
    pub acked_at: Option<String>,
    /// The chosen response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Read during the reader's quiet hours: shown without its time.
    pub outside_working_hours: bool,
    /// Confirmed during the person's quiet hours: shown without its time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acked_outside_working_hours: bool,
    /// Delivered during the person's quiet hours: shown without its time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delivered_outside_working_hours: bool,
    /// Reminders sent.
    pub reminders: i64,
    /// When escalated.
    pub escalated_at: Option<String>,
    /// The emails sent to the person about this notice, oldest first.
    #[serde(default)]
    pub emails: Vec<EmailSent>,
}

/// An email the person was sent about a notice.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmailSent {
    /// `notice` (an urgent notice or an emergency, at once) or `reminder`.
    pub reason: String,
    /// When the mail server took it (RFC 3339).
    pub sent_at: String,
}

/// `GET /api/v1/messages/{id}/receipts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Board {
    /// Counts.
    pub summary: Summary,
    /// Counts by department.
    pub by_department: Vec<DepartmentLine>,
    /// People whose rows may be shown, one page.
    pub items: Vec<BoardItem>,
    /// The next page.
    pub next_cursor: Option<String>,
}

/// `POST /api/v1/messages/{id}/remind`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemindResult {
    /// Unread recipients reminded now.
    pub reminded: i64,
    /// Unread recipients in quiet hours, reminded when their working time starts.
    pub deferred: i64,
}
