//! Notices: sending, listing, reading.

use serde::{Deserialize, Serialize};

/// `POST /api/v1/messages`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendMessage {
    /// Title (1–200 characters).
    pub title: String,
    /// Body, Markdown.
    #[serde(default)]
    pub body: String,
    /// `normal` (default), `important` or `urgent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = "^(normal|important|urgent)$"))]
    pub priority: Option<String>,
    /// `off`, `aggregate` or `per_person`; default: `per_person` where the org allows it
    /// for the priority, else `aggregate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = "^(off|aggregate|per_person)$"))]
    pub tracking: Option<String>,
    /// Recipients must confirm.
    #[serde(default)]
    pub require_ack: bool,
    /// 2–10 choices the confirmation must carry (implies `require_ack`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_options: Option<Vec<String>>,
    /// Who receives it.
    pub audience: AudienceBody,
    /// Reminder plan; default: the org's plan for the priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminders: Option<ReminderPlanBody>,
    /// Deadline (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// Marks an emergency (typhoon, safety), with why: urgent, sent at any hour, its
    /// reminders on wall-clock minutes; only admins and the people they named may (403).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency_reason: Option<String>,
}

/// Members and departments; departments include their sub-departments.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AudienceBody {
    /// Member ids.
    #[serde(default)]
    pub members: Vec<String>,
    /// Department ids.
    #[serde(default)]
    pub departments: Vec<String>,
}

/// A reminder plan; minutes are working minutes.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReminderPlanBody {
    /// First reminder after this many working minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_after_minutes: Option<i64>,
    /// Then every this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_every_minutes: Option<i64>,
    /// At most this many reminders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_reminders: Option<i64>,
    /// Escalate after this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_after_minutes: Option<i64>,
    /// `manager` and/or `backup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_to: Option<Vec<String>>,
    /// Also put a task on the recipient's list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_task: Option<bool>,
}

/// Answer to sending.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SentMessage {
    /// The notice.
    pub id: String,
    /// People it reached (sender excluded, each once).
    pub recipient_count: i64,
    /// Sent outside working time: reminders start at the next working instant.
    #[serde(rename = "async")]
    pub is_async: bool,
    /// When (RFC 3339).
    pub created_at: String,
}

/// A notice in a list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageSummary {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Sender.
    pub sender_id: String,
    /// Sender's name.
    pub sender_name: String,
    /// Priority.
    pub priority: String,
    /// Tracking.
    pub tracking: String,
    /// Confirmation required.
    pub require_ack: bool,
    /// Sent outside working time.
    #[serde(rename = "async")]
    pub is_async: bool,
    /// Sent (RFC 3339).
    pub created_at: String,
    /// Recipients.
    pub recipient_count: i64,
    /// The caller's state, in the inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub my_state: Option<String>,
    /// Reminders the caller got for it, in the inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub my_reminders: Option<i64>,
    /// Deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
}

/// A notice in full.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageDetail {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Body, Markdown.
    pub body: String,
    /// Sender.
    pub sender_id: String,
    /// Sender's name.
    pub sender_name: String,
    /// Priority.
    pub priority: String,
    /// Tracking.
    pub tracking: String,
    /// Confirmation required.
    pub require_ack: bool,
    /// Choices for the confirmation.
    pub response_options: Vec<String>,
    /// Audience as named.
    pub audience: AudienceBody,
    /// Reminder plan.
    pub reminders: Option<ReminderPlanBody>,
    /// Deadline.
    pub deadline: Option<String>,
    /// Why it is an emergency, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency_reason: Option<String>,
    /// Sent outside working time.
    #[serde(rename = "async")]
    pub is_async: bool,
    /// Recipients.
    pub recipient_count: i64,
    /// Sent.
    pub created_at: String,
    /// The caller's state, for a recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub my_state: Option<String>,
    /// The caller's chosen response, for a recipient who acknowledged with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub my_response: Option<String>,
}
