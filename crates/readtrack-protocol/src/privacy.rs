//! Settings and policy, the audit log, a member's export, analytics and pulse surveys.

use serde::{Deserialize, Deserializer, Serialize};

use crate::messages::ReminderPlanBody;
use crate::tasks::Task;

/// Tells "absent" (outer `None`) from "null" (`Some(None)`).
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The working week.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkingHoursBody {
    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    pub days: Vec<i64>,
    /// Start, `HH:MM`.
    pub start: String,
    /// End, `HH:MM`.
    pub end: String,
}

/// Quiet hours in each member's local time; may span midnight.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuietHoursBody {
    /// Start, `HH:MM`.
    pub start: String,
    /// End, `HH:MM`.
    pub end: String,
    /// A read inside quiet hours shows as `coarse` (no time) or stays `untracked` (aggregate only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads: Option<String>,
}

/// The communication policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyBody {
    /// Version (a new text, or a changed translation, makes a new version).
    #[serde(default)]
    pub version: i64,
    /// Text (Markdown), shown where no translation fits the reader's language.
    pub text: String,
    /// The same policy in other languages, by language tag (`en`, `zh-Hant`). On a
    /// change, replaces the current translations; left out, keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translations: Option<std::collections::BTreeMap<String, String>>,
}

/// The pilot: per-person tracking only for recipients in these departments.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PilotBody {
    /// Department ids (sub-departments included).
    pub departments: Vec<String>,
}

/// Default reminder plans by priority.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DefaultRemindersBody {
    /// For important notices (`null`: none).
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<ReminderPlanBody>))]
    pub important: Option<Option<ReminderPlanBody>>,
    /// For urgent notices (`null`: none).
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<ReminderPlanBody>))]
    pub urgent: Option<Option<ReminderPlanBody>>,
}

/// `GET /api/v1/org/settings`: the rules, public inside the organisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgSettingsBody {
    /// The organisation's name.
    pub org_name: String,
    /// IANA zone.
    pub time_zone: String,
    /// The working week.
    pub working_hours: WorkingHoursBody,
    /// Quiet hours.
    pub quiet_hours: QuietHoursBody,
    /// Priorities a sender may track per person.
    pub per_person_tracking_for: Vec<String>,
    /// Per-person details are purged after this many days; aggregates stay.
    pub retention_days: i64,
    /// Smallest group an aggregate may describe.
    pub min_group_size: i64,
    /// The current policy.
    pub policy: PolicyBody,
    /// The pilot, or `null`.
    pub pilot: Option<PilotBody>,
    /// Default reminder plans.
    pub default_reminders: DefaultRemindersBody,
    /// Who may send what, to whom (admins: anything to anyone).
    pub sending_rights: SendingRightsBody,
}

/// What one group of people may send.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// `nobody`, `own_department` (their department and below) or `everyone`.
    pub reach: String,
    /// The highest priority: `normal`, `important` or `urgent`.
    pub max_priority: String,
    /// The most tracking: `off`, `aggregate` or `per_person`.
    pub max_tracking: String,
}

/// What the people of one department (and its sub-departments) may send.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DepartmentGrantBody {
    /// The department.
    pub department_id: String,
    /// `nobody`, `own_department` or `everyone`.
    pub reach: String,
    /// The highest priority.
    pub max_priority: String,
    /// The most tracking.
    pub max_tracking: String,
}

/// Sending rights: each person gets the widest of the grants that apply to them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SendingRightsBody {
    /// People who manage nobody.
    pub staff: GrantBody,
    /// People who are someone's manager.
    pub managers: GrantBody,
    /// Departments whose people may send more (HR, communications).
    #[serde(default)]
    pub departments: Vec<DepartmentGrantBody>,
    /// Member ids of the people, besides admins, who may send emergency notices.
    #[serde(default)]
    pub emergency_senders: Vec<String>,
}

/// `PATCH /api/v1/org/settings` (admin): absent fields stay; `"pilot": null` ends the pilot.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// A patch applies only the fields it names, so a misspelt one would answer 200 and
// change nothing: unknown fields are refused instead, naming the field.
#[serde(deny_unknown_fields)]
pub struct OrgSettingsPatch {
    /// IANA zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// The working week.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_hours: Option<WorkingHoursBody>,
    /// Quiet hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHoursBody>,
    /// Priorities a sender may track per person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_person_tracking_for: Option<Vec<String>>,
    /// Retention in days (1–3650).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<i64>,
    /// Smallest reported group (1–1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_group_size: Option<i64>,
    /// A new policy text (its version is assigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyBody>,
    /// The pilot, or `null` to end it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<PilotBody>))]
    pub pilot: Option<Option<PilotBody>>,
    /// Default reminder plans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_reminders: Option<DefaultRemindersBody>,
    /// Sending rights, replacing the current ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_rights: Option<SendingRightsBody>,
}

/// `GET /api/v1/policy`: the current policy and the caller's acknowledgement.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyView {
    /// Current version.
    pub version: i64,
    /// Its text.
    pub text: String,
    /// Its translations by language tag.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub translations: std::collections::BTreeMap<String, String>,
    /// The version the caller acknowledged (0: none).
    pub acknowledged_version: i64,
}

/// An audit entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// When.
    pub at: String,
    /// Who (`null`: the system).
    pub actor_id: Option<String>,
    /// Their name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    /// What (`board.viewed`, `settings.updated`, `policy.updated`, `export`, …).
    pub action: String,
    /// Of what (`message:42`, `org`, …).
    pub subject: String,
}

/// One of the caller's receipts in their export.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedReceipt {
    /// The notice.
    pub message_id: String,
    /// Its title.
    pub title: String,
    /// Its sender's name.
    pub sender_name: String,
    /// Tracking level (`off` keeps no times).
    pub tracking: String,
    /// When it was sent.
    pub sent_at: String,
    /// Your state.
    pub state: String,
    /// Recorded delivery time (your device's clock).
    pub delivered_at: Option<String>,
    /// Recorded read time (your device's clock).
    pub read_at: Option<String>,
    /// When the server learned of the read.
    pub read_recorded_at: Option<String>,
    /// Recorded confirmation time.
    pub acked_at: Option<String>,
    /// Your response.
    pub response: Option<String>,
    /// The read happened in your quiet hours (the sender never sees its time).
    pub read_in_quiet_hours: bool,
    /// Reminders you received.
    pub reminders: i64,
    /// When you were last reminded.
    pub last_reminded_at: Option<String>,
    /// When your manager or backup was told.
    pub escalated_at: Option<String>,
}

/// An email in the delivery log, in the caller's export.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedEmail {
    /// The notice.
    pub message_id: String,
    /// `email`.
    pub channel: String,
    /// `notice`, `reminder` or `escalation` (you were told someone had not read).
    pub reason: String,
    /// When it was queued.
    pub queued_at: String,
    /// When the mail server took it.
    pub sent_at: Option<String>,
    /// When it was held back for good (`answer` says why: you had read it, ...).
    pub skipped_at: Option<String>,
    /// When it was refused for good.
    pub failed_at: Option<String>,
    /// The mail server's answer, or why it was held back.
    pub answer: Option<String>,
    /// When you first opened its link.
    pub opened_at: Option<String>,
}

/// An escalation about the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedEscalation {
    /// The notice.
    pub message_id: String,
    /// Its title.
    pub title: String,
    /// Who was told.
    pub told_member_id: String,
    /// Their name.
    pub told_name: String,
    /// As your `manager` or `backup`.
    pub role: String,
    /// When.
    pub at: String,
}

/// `GET /api/v1/me/export`: everything recorded about the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MyExport {
    /// Your directory entry.
    pub member: crate::directory::Member,
    /// The policy version you acknowledged and when.
    pub policy_acknowledged_version: i64,
    /// When.
    pub policy_acknowledged_at: Option<String>,
    /// Your receipts.
    pub receipts: Vec<ExportedReceipt>,
    /// Escalations about you.
    pub escalations: Vec<ExportedEscalation>,
    /// Every email readtrack sent you, or held back, about a notice.
    #[serde(default)]
    pub emails: Vec<ExportedEmail>,
    /// Your tasks.
    pub tasks: Vec<Task>,
    /// Who viewed your per-person data outside their own notices (audited views).
    pub viewed_by: Vec<AuditEntry>,
    /// When this export was made.
    pub exported_at: String,
}

/// One department in the analytics; figures are `null` when suppressed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DepartmentAnalytics {
    /// Department.
    pub department_id: String,
    /// Name.
    pub name: String,
    /// Notices that reached it.
    pub messages: Option<u64>,
    /// Recipients (person × notice).
    pub recipients: Option<u64>,
    /// Share read.
    pub read_rate: Option<f64>,
    /// Share acknowledged.
    pub ack_rate: Option<f64>,
    /// Median seconds to read.
    pub p50_time_to_read_secs: Option<f64>,
    /// 90th percentile seconds to read.
    pub p90_time_to_read_secs: Option<f64>,
    /// Reminders sent.
    pub reminders: Option<u64>,
    /// Escalations.
    pub escalations: Option<u64>,
    /// Fewer people than the minimum group size: no figures.
    pub suppressed: bool,
}

/// One period of a comparison.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeriodAnalytics {
    /// Start.
    pub from: String,
    /// End.
    pub to: String,
    /// Notices.
    pub messages: u64,
    /// Too few people to report.
    pub suppressed: bool,
    /// Median seconds to read.
    pub median_time_to_read_secs: Option<f64>,
    /// Median seconds to acknowledge.
    pub median_time_to_ack_secs: Option<f64>,
    /// Reminders per notice.
    pub reminders_per_message: Option<f64>,
    /// Share of recipients unread when the deadline passed.
    pub unread_at_deadline_rate: Option<f64>,
}

/// The change from before to after (after minus before).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeriodChange {
    /// Seconds.
    pub median_time_to_read_secs: Option<f64>,
    /// Seconds.
    pub median_time_to_ack_secs: Option<f64>,
    /// Reminders per notice.
    pub reminders_per_message: Option<f64>,
    /// Share.
    pub unread_at_deadline_rate: Option<f64>,
}

/// `GET /api/v1/analytics/compare`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Comparison {
    /// The earlier period.
    pub before: PeriodAnalytics,
    /// The later period.
    pub after: PeriodAnalytics,
    /// After minus before.
    pub change: PeriodChange,
}

/// `POST /api/v1/surveys` (admin).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateSurvey {
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Departments asked (sub-departments included); empty: everyone.
    #[serde(default)]
    pub departments: Vec<String>,
    /// When it closes.
    #[serde(default)]
    pub closes_at: Option<String>,
}

/// A pulse survey.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Survey {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// The questions, always the same: monitored (1–5), helped (1–5), comment.
    pub questions: Vec<String>,
    /// Departments asked.
    pub departments: Vec<String>,
    /// Opened.
    pub created_at: String,
    /// Closes.
    pub closes_at: Option<String>,
    /// Whether the caller answered (in their own list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<bool>,
}

/// `POST /api/v1/surveys/{id}/answers`: stored without any link to you.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SurveyAnswerBody {
    /// "Do you feel monitored?" 1 (not at all) – 5 (very).
    pub monitored: i64,
    /// "Has read tracking helped you?" 1 (not at all) – 5 (a lot).
    pub helped: i64,
    /// Anything else.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Per-department survey figures (only groups of at least the minimum size).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SurveyDepartment {
    /// Department.
    pub department_id: String,
    /// Name.
    pub name: String,
    /// Answers.
    pub answers: u64,
    /// Mean "monitored" score.
    pub monitored_mean: f64,
    /// Mean "helped" score.
    pub helped_mean: f64,
}

/// `GET /api/v1/surveys/{id}/results` (admins, auditors).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SurveyResultsBody {
    /// The survey.
    pub survey: Survey,
    /// Answers received.
    pub answers: u64,
    /// Too few answers: nothing else is shown.
    pub suppressed: bool,
    /// Answers per score 1–5 ("monitored").
    pub monitored: Option<Vec<u64>>,
    /// Answers per score 1–5 ("helped").
    pub helped: Option<Vec<u64>>,
    /// Comments.
    pub comments: Option<Vec<String>>,
    /// By department.
    pub by_department: Option<Vec<SurveyDepartment>>,
}
