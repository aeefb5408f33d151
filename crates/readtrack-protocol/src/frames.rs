//! Realtime frames on `GET /api/v1/stream` (WebSocket, JSON text frames).

use serde::{Deserialize, Serialize};

use crate::receipts::{ReceiptItem, ReceiptResult, Summary};

/// A frame the server sends. Frames with a `seq` are events of the organisation's
/// sequence; resume with `since=<last seq>` to receive everything after it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type")]
pub enum ServerFrame {
    /// The `since` the client resumed from cannot be honoured: it lies beyond this
    /// organisation's sequence (a stream of another deployment, or a database restored
    /// from a backup). Nothing is replayed; the client must reload what it shows and
    /// resume from `last_seq`. Sent before `hello`, never silently skipped.
    #[serde(rename = "reset")]
    Reset {
        /// The organisation's latest sequence number: resume from here.
        last_seq: i64,
        /// Why, for people.
        reason: String,
    },
    /// Sent once the backlog after `since` has been replayed; live frames follow.
    #[serde(rename = "hello")]
    Hello {
        /// The member connected.
        member_id: String,
        /// The organisation's latest sequence number.
        last_seq: i64,
    },
    /// A notice arrived for the connected member.
    #[serde(rename = "message.created")]
    MessageCreated {
        /// Sequence number.
        seq: i64,
        /// The notice.
        message_id: String,
        /// Sender.
        sender_id: String,
        /// Title.
        title: String,
        /// Priority.
        priority: String,
        /// Confirmation required.
        require_ack: bool,
        /// When (RFC 3339).
        at: String,
    },
    /// A recipient's state changed on one of the member's sent notices.
    #[serde(rename = "receipt.updated")]
    ReceiptUpdated {
        /// Sequence number.
        seq: i64,
        /// The notice.
        message_id: String,
        /// Counts after the change.
        summary: Summary,
        /// The recipient, where per-person data may be shown.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        member_id: Option<String>,
        /// Their new state, where it may be shown.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<String>,
        /// When, where it may be shown (client clock).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
        /// Read during the reader's quiet hours: no time is shown.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        outside_working_hours: bool,
    },
    /// The member is reminded of an unread notice.
    #[serde(rename = "reminder")]
    Reminder {
        /// Sequence number.
        seq: i64,
        /// The notice.
        message_id: String,
        /// Which reminder (1, 2, …).
        count: i64,
        /// When (RFC 3339).
        at: String,
    },
    /// Someone the member manages or backs up has not read a notice.
    #[serde(rename = "escalation")]
    Escalation {
        /// Sequence number.
        seq: i64,
        /// The notice.
        message_id: String,
        /// The recipient who has not read it.
        recipient_id: String,
        /// Why the member is told: `manager` or `backup`.
        role: String,
        /// When (RFC 3339).
        at: String,
    },
    /// A task was put on the member's list.
    #[serde(rename = "task.created")]
    TaskCreated {
        /// Sequence number.
        seq: i64,
        /// The task.
        task_id: String,
        /// The notice.
        message_id: String,
        /// When (RFC 3339).
        at: String,
    },
    /// Answer to a `receipts` frame.
    #[serde(rename = "receipts.result")]
    ReceiptsResult {
        /// One per item, in order.
        results: Vec<ReceiptResult>,
    },
    /// A frame the server could not act on.
    #[serde(rename = "error")]
    Error {
        /// Stable code.
        code: String,
        /// What is wrong.
        message: String,
    },
    /// Answer to `ping`.
    #[serde(rename = "pong")]
    Pong,
}

impl ServerFrame {
    /// The frame's sequence number, for frames of the event sequence.
    pub fn seq(&self) -> Option<i64> {
        match self {
            ServerFrame::MessageCreated { seq, .. }
            | ServerFrame::ReceiptUpdated { seq, .. }
            | ServerFrame::Reminder { seq, .. }
            | ServerFrame::Escalation { seq, .. }
            | ServerFrame::TaskCreated { seq, .. } => Some(*seq),
            _ => None,
        }
    }
}

/// A frame a client sends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type")]
pub enum ClientFrame {
    /// Receipts, with the semantics of `POST /api/v1/receipts`.
    #[serde(rename = "receipts")]
    Receipts {
        /// The reports (at most 1000).
        receipts: Vec<ReceiptItem>,
    },
    /// Keep-alive; answered with `pong`.
    #[serde(rename = "ping")]
    Ping,
}
