//! Tasks, escalations and webhooks.

use serde::{Deserialize, Serialize};

/// A to-do an escalation put on a recipient's list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    /// Id.
    pub id: String,
    /// The notice.
    pub message_id: String,
    /// The owner.
    pub member_id: String,
    /// Why it exists.
    pub reason: String,
    /// When created (RFC 3339).
    pub created_at: String,
    /// When done, or `null`.
    pub done_at: Option<String>,
    /// How it was done: `read`, `acknowledged` or `manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_by: Option<String>,
    /// The notice's title.
    pub title: String,
}

/// A notice escalated to the caller because someone they manage or back up has not read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamUnread {
    /// The notice.
    pub message_id: String,
    /// Its title.
    pub title: String,
    /// The person who had not read it.
    pub member_id: String,
    /// Their name.
    pub name: String,
    /// Why the caller was told: `manager` or `backup`.
    pub role: String,
    /// When escalated.
    pub escalated_at: String,
    /// Their state now.
    pub state: String,
}

/// `POST /api/v1/webhooks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateWebhook {
    /// Where to POST (http or https).
    pub url: String,
    /// `receipt.updated`, `reminder`, `escalation`, `task.created`, `message.created`.
    pub events: Vec<String>,
    /// HMAC-SHA256 key (16–256 characters) for `X-Readtrack-Signature`.
    pub secret: String,
}

/// A registered webhook (its secret is never returned).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    /// Id.
    pub id: String,
    /// Target.
    pub url: String,
    /// Kinds.
    pub events: Vec<String>,
    /// Created.
    pub created_at: String,
    /// False once the webhook was disabled because its endpoint failed every delivery
    /// for the retry window (three days); nothing is sent to it any more.
    #[serde(default = "yes")]
    pub active: bool,
    /// Why it was disabled, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

fn yes() -> bool {
    true
}

/// One delivery of a webhook.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    /// Delivery id (the `X-Readtrack-Delivery` header).
    pub id: String,
    /// Event kind.
    pub event: String,
    /// Event sequence number.
    pub seq: i64,
    /// Attempts so far.
    pub attempts: i64,
    /// When delivered, or `null`.
    pub delivered_at: Option<String>,
    /// Last HTTP status.
    pub last_status: Option<i64>,
    /// Last error.
    pub last_error: Option<String>,
}
