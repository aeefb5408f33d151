//! The records storage takes and returns.

use jiff::Timestamp;
use readtrack_domain::audience::Audience;
use readtrack_domain::department::Department;
use readtrack_domain::email::Email;
use readtrack_domain::event::Event;
use readtrack_domain::ids::{DepartmentId, MemberId, MessageId, OrgId, Seq};
use readtrack_domain::member::{Member, Role};
use readtrack_domain::message::{NewMessage, Priority, Tracking};
use readtrack_domain::receipt::ReceiptState;
pub use readtrack_domain::receipt_batch::{
    AppliedBatch, ReceiptRecord, ReceiptWrite, WriteOutcome,
};
use readtrack_domain::reminder::ReminderPlan;
use readtrack_domain::settings::OrgSettings;

/// A new organisation with its first admin.
#[derive(Debug, Clone)]
pub struct NewOrg {
    /// Display name.
    pub name: String,
    /// Initial settings (time zone, defaults).
    pub settings: OrgSettings,
    /// The admin's name.
    pub admin_name: String,
    /// The admin's address.
    pub admin_email: Email,
    /// The admin's Argon2 password hash.
    pub admin_password_hash: String,
    /// When.
    pub now: Timestamp,
}

/// What creating an organisation made.
#[derive(Debug, Clone, Copy)]
pub struct CreatedOrg {
    /// The organisation.
    pub org_id: OrgId,
    /// Its admin.
    pub admin_id: MemberId,
    /// The top department, named after the organisation, where the admin sits.
    pub root_department_id: DepartmentId,
}

/// An organisation as stored.
#[derive(Debug, Clone)]
pub struct OrgRecord {
    /// Identity.
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Current settings, including the current policy text.
    pub settings: OrgSettings,
}

/// A member's second factor (TOTP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactor {
    /// The shared secret, base32.
    pub secret: String,
    /// Confirmed with a code, so sign-in asks for one.
    pub enabled: bool,
    /// The last time step a code was accepted for.
    pub last_step: Option<i64>,
}

/// What login needs to know about an address.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    /// The member.
    pub member_id: MemberId,
    /// The organisation.
    pub org_id: OrgId,
    /// The Argon2 hash, if the member may sign in with a password.
    pub password_hash: Option<String>,
    /// Deactivated members cannot sign in.
    pub active: bool,
}

/// The two kinds of bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Issued by login, expires.
    Session,
    /// Issued by an admin for another system, acting as a member.
    Api,
    /// Issued by an admin for a gateway (a company messaging app's backend) that reports
    /// receipts on behalf of the organisation's members, each item naming its member.
    Relay,
    /// Issued by an admin for an identity provider: SCIM provisioning at `/scim/v2`, and
    /// nothing else.
    Scim,
}

impl TokenKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Api => "api",
            TokenKind::Relay => "relay",
            TokenKind::Scim => "scim",
        }
    }
}

/// A token to store (its hash only).
#[derive(Debug, Clone)]
pub struct NewToken {
    /// SHA-256 of the secret.
    pub hash: Vec<u8>,
    /// Organisation.
    pub org_id: OrgId,
    /// The member it acts as.
    pub member_id: MemberId,
    /// Kind.
    pub kind: TokenKind,
    /// A label for API tokens.
    pub name: Option<String>,
    /// Issued.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
}

/// A valid token and the member it acts as.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    /// The token's id.
    pub id: readtrack_domain::ids::TokenId,
    /// Its kind.
    pub kind: TokenKind,
    /// Expiry.
    pub expires_at: Timestamp,
    /// The member.
    pub member: Member,
}

/// A department to create.
#[derive(Debug, Clone)]
pub struct NewDepartment {
    /// Organisation.
    pub org_id: OrgId,
    /// Name.
    pub name: String,
    /// Parent (must belong to the organisation).
    pub parent_id: Option<DepartmentId>,
    /// When.
    pub now: Timestamp,
}

/// A member to create.
#[derive(Debug, Clone)]
pub struct NewMember {
    /// Organisation.
    pub org_id: OrgId,
    /// Name.
    pub name: String,
    /// Address.
    pub email: Email,
    /// Department (must belong to the organisation).
    pub department_id: DepartmentId,
    /// Manager (a member of the organisation).
    pub manager_id: Option<MemberId>,
    /// Backup contact (a member of the organisation).
    pub backup_id: Option<MemberId>,
    /// Role.
    pub role: Role,
    /// Argon2 hash when the member may sign in.
    pub password_hash: Option<String>,
    /// Own time zone.
    pub time_zone: Option<String>,
    /// Mobile number (E.164).
    pub phone: Option<String>,
    /// The identity provider's id (unique in the organisation).
    pub external_id: Option<String>,
    /// When.
    pub now: Timestamp,
}

/// A change to a member; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct MemberPatch {
    /// New name.
    pub name: Option<String>,
    /// New address.
    pub email: Option<Email>,
    /// New department.
    pub department_id: Option<DepartmentId>,
    /// New or cleared manager.
    pub manager_id: Option<Option<MemberId>>,
    /// New or cleared backup.
    pub backup_id: Option<Option<MemberId>>,
    /// New role.
    pub role: Option<Role>,
    /// New or cleared time zone.
    pub time_zone: Option<Option<String>>,
    /// New password hash.
    pub password_hash: Option<String>,
    /// Activate or deactivate.
    pub active: Option<bool>,
    /// New or cleared mobile number.
    pub phone: Option<Option<String>>,
    /// New or cleared identity provider id.
    pub external_id: Option<Option<String>>,
}

/// Which members a listing returns.
#[derive(Debug, Clone, Default)]
pub struct MemberFilter {
    /// Only this department (not its sub-departments).
    pub department_id: Option<DepartmentId>,
    /// Name or email containing this text, case-insensitively.
    pub query: Option<String>,
}

/// Keyset pagination: items after `after`, at most `limit`.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Page size.
    pub limit: u32,
    /// The last id of the previous page.
    pub after: Option<i64>,
}

pub use readtrack_domain::import::ImportWrite;

/// What an import created and updated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// Members created.
    pub created: u64,
    /// Members updated.
    pub updated: u64,
    /// Departments created.
    pub departments_created: u64,
    /// Row by row, what the import does (or would do): every new member and every
    /// existing one it changes, with the fields.
    pub changes: Vec<readtrack_domain::import::ImportChange>,
    /// Members deactivated because the file does not name them.
    pub deactivated: Vec<MemberId>,
}

/// A checked notice to store and fan out.
#[derive(Debug, Clone)]
pub struct NewMessageRecord {
    /// Organisation.
    pub org_id: OrgId,
    /// Sender (never a recipient).
    pub sender_id: MemberId,
    /// The notice.
    pub message: NewMessage,
    /// The audience's departments with all their sub-departments.
    pub departments_expanded: Vec<DepartmentId>,
    /// Sent outside the organisation's working time.
    pub is_async: bool,
    /// The first reminder-plan step of each recipient, by time zone (empty: no plan).
    pub first_steps: Vec<FirstStep>,
    /// When.
    pub now: Timestamp,
}

/// The kinds of scheduled step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// A planned reminder (`step_no` says which).
    Reminder,
    /// The planned escalation.
    Escalation,
    /// A sender's "remind now", deferred to the recipient's working time.
    Manual,
}

impl StepKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Reminder => "reminder",
            StepKind::Escalation => "escalation",
            StepKind::Manual => "manual",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reminder" => Some(Self::Reminder),
            "escalation" => Some(Self::Escalation),
            "manual" => Some(Self::Manual),
            _ => None,
        }
    }
}

/// The first step for recipients in one time zone. `zone: None` is the default for
/// everyone whose zone is not listed (members without their own zone).
#[derive(Debug, Clone)]
pub struct FirstStep {
    /// The members' own IANA zone, or `None` for the default.
    pub zone: Option<String>,
    /// Which step.
    pub step: StepKind,
    /// Reminder number (0 for escalation).
    pub step_no: i64,
    /// When it is due.
    pub due_at: Timestamp,
}

/// What one scheduler pass did.
#[derive(Debug, Clone, Default)]
pub struct FiredSteps {
    /// Steps recorded (reminders and escalations sent).
    pub fired: u64,
    /// Steps moved to the recipient's next working instant.
    pub rescheduled: u64,
    /// Steps dropped because the recipient had read in the meantime.
    pub dropped: u64,
    /// Events appended, to publish.
    pub events: Vec<Event>,
}

/// When a recipient of a manual reminder can be reminded: now, or later.
#[derive(Debug, Clone)]
pub struct ZoneTiming {
    /// The zone (`None`: the default for members without their own).
    pub zone: Option<String>,
    /// `None`: in working time now; else the next working instant.
    pub defer_to: Option<Timestamp>,
}

/// The outcome of "remind the unread now".
#[derive(Debug, Clone)]
pub enum RemindOutcome {
    /// Done.
    Done {
        /// Reminded at once.
        reminded: i64,
        /// Deferred to their working time.
        deferred: i64,
        /// Events to publish.
        events: Vec<Event>,
    },
    /// The notice was reminded too recently; retry after this instant.
    TooSoon(Timestamp),
}

/// A task on someone's to-do list.
#[derive(Debug, Clone)]
pub struct TaskRecord {
    /// Id.
    pub id: readtrack_domain::ids::TaskId,
    /// The notice.
    pub message_id: MessageId,
    /// The owner.
    pub member_id: MemberId,
    /// Why it exists.
    pub reason: String,
    /// When created.
    pub created_at: Timestamp,
    /// When done.
    pub done_at: Option<Timestamp>,
    /// How it was done: `read`, `acknowledged` or `manual`.
    pub done_by: Option<String>,
    /// The notice's title.
    pub title: String,
}

/// An escalation a manager or backup received.
#[derive(Debug, Clone)]
pub struct EscalationRecord {
    /// Id.
    pub id: i64,
    /// The notice.
    pub message_id: MessageId,
    /// Its title.
    pub title: String,
    /// The recipient who had not read.
    pub recipient_id: MemberId,
    /// Their name.
    pub recipient_name: String,
    /// `manager` or `backup`.
    pub role: String,
    /// When escalated.
    pub created_at: Timestamp,
    /// The recipient's state now.
    pub state: ReceiptState,
}

/// A webhook to create.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// Organisation.
    pub org_id: OrgId,
    /// Where to POST.
    pub url: String,
    /// Event kinds (`receipt.updated`, `reminder`, `escalation`, `task.created`, `message.created`).
    pub events: Vec<String>,
    /// HMAC key.
    pub secret: String,
    /// When.
    pub now: Timestamp,
}

/// A stored webhook (the secret is never read back out).
#[derive(Debug, Clone)]
pub struct WebhookRecord {
    /// Id.
    pub id: readtrack_domain::ids::WebhookId,
    /// Where.
    pub url: String,
    /// Kinds.
    pub events: Vec<String>,
    /// When created.
    pub created_at: Timestamp,
    /// When it was disabled for failing every delivery for the retry window.
    pub disabled_at: Option<Timestamp>,
    /// Why, for the admins.
    pub disabled_reason: Option<String>,
}

/// A webhook disabled because its endpoint failed for the whole retry window.
#[derive(Debug, Clone)]
pub struct DisabledWebhook {
    /// Its organisation.
    pub org_id: OrgId,
    /// Which.
    pub id: readtrack_domain::ids::WebhookId,
    /// Where it pointed.
    pub url: String,
    /// Why.
    pub reason: String,
}

/// A delivery to attempt.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    /// Delivery id (sent as `X-Readtrack-Delivery`).
    pub id: i64,
    /// Target URL.
    pub url: String,
    /// HMAC key.
    pub secret: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When the delivery was queued (retries stop a bounded time after it).
    pub queued_at: Timestamp,
    /// The event to deliver.
    pub event: Event,
}

/// The result of one delivery attempt.
#[derive(Debug, Clone)]
pub enum DeliveryResult {
    /// The receiver answered 2xx.
    Delivered {
        /// HTTP status.
        status: u16,
    },
    /// It failed; try again at `retry_at`.
    Failed {
        /// HTTP status, if any.
        status: Option<u16>,
        /// What went wrong.
        error: String,
        /// Next attempt.
        retry_at: Timestamp,
    },
    /// It failed and its retry window is over: no more attempts.
    GaveUp {
        /// HTTP status, if any.
        status: Option<u16>,
        /// What went wrong.
        error: String,
    },
}

/// A delivery as an admin sees it.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    /// Id.
    pub id: i64,
    /// Webhook.
    pub webhook_id: i64,
    /// Event kind.
    pub kind: String,
    /// Event seq.
    pub event_seq: i64,
    /// Attempts.
    pub attempts: i64,
    /// Delivered when.
    pub delivered_at: Option<Timestamp>,
    /// Last HTTP status.
    pub last_status: Option<i64>,
    /// Last error.
    pub last_error: Option<String>,
}

/// What sending made.
#[derive(Debug, Clone)]
pub struct CreatedMessage {
    /// The notice.
    pub message: MessageRecord,
    /// The `message.created` event to publish.
    pub event: Event,
}

/// A stored notice.
#[derive(Debug, Clone)]
pub struct MessageRecord {
    /// Identity.
    pub id: MessageId,
    /// Organisation.
    pub org_id: OrgId,
    /// Sender.
    pub sender_id: MemberId,
    /// Sender's name.
    pub sender_name: String,
    /// Title.
    pub title: String,
    /// Body (Markdown source).
    pub body: String,
    /// Priority.
    pub priority: Priority,
    /// Tracking.
    pub tracking: Tracking,
    /// Confirmation required.
    pub require_ack: bool,
    /// Choices for the confirmation.
    pub response_options: Vec<String>,
    /// Audience as named.
    pub audience: Audience,
    /// Reminder plan.
    pub reminders: Option<ReminderPlan>,
    /// Deadline.
    pub deadline: Option<Timestamp>,
    /// Sent outside working time.
    pub is_async: bool,
    /// Recipients at send time.
    pub recipient_count: i64,
    /// Sent.
    pub created_at: Timestamp,
    /// Why it is an emergency, when it is one.
    pub emergency_reason: Option<String>,
}

/// Which notices an inbox lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InboxFilter {
    /// All.
    #[default]
    All,
    /// Only those not yet read.
    Unread,
}

/// A notice in a recipient's inbox.
#[derive(Debug, Clone)]
pub struct InboxItem {
    /// The notice.
    pub message: MessageRecord,
    /// The recipient's receipt.
    pub receipt: ReceiptRecord,
}

/// Which recipients a board page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateFilter {
    /// Everyone.
    #[default]
    All,
    /// Not yet read.
    Unread,
    /// Read (acknowledged included).
    Read,
    /// Acknowledged.
    Acknowledged,
}

/// Where a board page continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardCursor {
    /// The state of the last row (filtered pages are ordered by state, then member).
    pub state: i64,
    /// The last member.
    pub member_id: MemberId,
}

/// A recipient's row on a board.
#[derive(Debug, Clone)]
pub struct BoardRow {
    /// Name.
    pub name: String,
    /// The person's own time zone, if set (their quiet hours are in it).
    pub time_zone: Option<String>,
    /// The receipt.
    pub receipt: ReceiptRecord,
}

/// One page of a board.
#[derive(Debug, Clone)]
pub struct BoardPage {
    /// Rows that may be shown.
    pub rows: Vec<BoardRow>,
    /// Where the next page starts.
    pub next: Option<BoardCursor>,
}

/// An audit entry to append.
#[derive(Debug, Clone)]
pub struct NewAudit {
    /// Organisation.
    pub org_id: OrgId,
    /// Who acted (`None`: the system, e.g. retention).
    pub actor_id: Option<MemberId>,
    /// What happened (`board.viewed`, `settings.updated`, `policy.updated`, `export`, …).
    pub action: String,
    /// What it concerned (`message:42`, `org`, `member:7`).
    pub subject: String,
    /// Members whose per-person data the action showed.
    pub members: Vec<MemberId>,
    /// When.
    pub now: Timestamp,
}

/// An audit entry.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// Id.
    pub id: i64,
    /// When.
    pub at: Timestamp,
    /// Who acted.
    pub actor_id: Option<MemberId>,
    /// Their name.
    pub actor_name: Option<String>,
    /// What happened.
    pub action: String,
    /// What it concerned.
    pub subject: String,
}

/// One of a member's receipts, for their export.
#[derive(Debug, Clone)]
pub struct ExportedReceipt {
    /// The notice's title.
    pub title: String,
    /// Its sender's name.
    pub sender_name: String,
    /// Its tracking level.
    pub tracking: Tracking,
    /// When it was sent.
    pub sent_at: Timestamp,
    /// The receipt.
    pub receipt: ReceiptRecord,
}

/// An escalation about a member, for their export.
#[derive(Debug, Clone)]
pub struct ExportedEscalation {
    /// The notice.
    pub message_id: MessageId,
    /// Its title.
    pub title: String,
    /// Who was told.
    pub to_member_id: MemberId,
    /// Their name.
    pub to_name: String,
    /// `manager` or `backup`.
    pub role: String,
    /// When.
    pub at: Timestamp,
}

/// Everything recorded about one member.
#[derive(Debug, Clone)]
pub struct MemberExport {
    /// The directory entry.
    pub member: Member,
    /// When they acknowledged the policy version they acknowledged.
    pub policy_acked_at: Option<Timestamp>,
    /// Their receipts.
    pub receipts: Vec<ExportedReceipt>,
    /// Escalations about them.
    pub escalations: Vec<ExportedEscalation>,
    /// Their tasks.
    pub tasks: Vec<TaskRecord>,
    /// Who viewed their per-person data (audited views).
    pub views: Vec<AuditRecord>,
    /// Every email sent (or not) to the member: the delivery log.
    pub emails: Vec<OutboundRecord>,
}

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    /// Notices whose per-person rows were purged.
    pub messages: u64,
    /// Receipt rows deleted.
    pub receipts: u64,
    /// Events deleted.
    pub events: u64,
}

pub use readtrack_domain::analytics::MessageDepartmentStats;

/// A pulse survey to open.
#[derive(Debug, Clone)]
pub struct NewSurvey {
    /// Organisation.
    pub org_id: OrgId,
    /// Title shown to people.
    pub title: String,
    /// Departments in scope, sub-departments included (empty: everyone).
    pub scope: Vec<DepartmentId>,
    /// The admin who opened it.
    pub created_by: MemberId,
    /// When it closes.
    pub closes_at: Option<Timestamp>,
    /// When.
    pub now: Timestamp,
}

/// A pulse survey.
#[derive(Debug, Clone)]
pub struct SurveyRecord {
    /// Id.
    pub id: readtrack_domain::ids::SurveyId,
    /// Title.
    pub title: String,
    /// Scope (empty: everyone).
    pub scope: Vec<DepartmentId>,
    /// Opened.
    pub created_at: Timestamp,
    /// Closes.
    pub closes_at: Option<Timestamp>,
}

/// One anonymous answer.
#[derive(Debug, Clone)]
pub struct SurveyAnswer {
    /// The answerer's department (for grouping only).
    pub department_id: DepartmentId,
    /// "Do you feel monitored?" 1–5.
    pub monitored: i64,
    /// "Has read tracking helped you?" 1–5.
    pub helped: i64,
    /// Free text.
    pub comment: Option<String>,
}

/// What became of a claim on an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new: run the request, then keep its answer.
    New,
    /// The same request came with this key before: its answer.
    Replay {
        /// HTTP status.
        status: u16,
        /// The body.
        response: String,
    },
    /// The key came with a different request.
    Mismatch,
    /// The first request with this key is still running.
    InFlight,
}

/// An email (or later another channel's message) to queue for an event.
#[derive(Debug, Clone)]
pub struct NewOutbound {
    /// The event it comes from (one row per event, person and channel).
    pub event_seq: Seq,
    /// The notice.
    pub message: MessageId,
    /// The person; `None`: every recipient of the notice.
    pub member: Option<MemberId>,
    /// Whom it is about when not the person (an escalation's unread recipient).
    pub about: Option<MemberId>,
    /// `notice`, `reminder` or `escalation` ([`readtrack_domain::reach::MailReason`]).
    pub reason: &'static str,
    /// Not before this (the person's working time, worked out by the caller).
    pub not_before: Timestamp,
}

/// A queued message to send now, leased to the caller for a while.
#[derive(Debug, Clone)]
pub struct OutboundJob {
    /// Its id.
    pub id: i64,
    /// The organisation.
    pub org: OrgId,
    /// The person it goes to.
    pub member: MemberId,
    /// Whom it is about: the person, or an escalation's unread recipient.
    pub about: MemberId,
    /// The notice it is about.
    pub message: MessageId,
    /// The event it came from.
    pub event_seq: Seq,
    /// `email`.
    pub channel: String,
    /// Why it is sent.
    pub reason: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When it was queued (retries stop a bounded time after it).
    pub queued_at: Timestamp,
    /// The language the person last used readtrack in.
    pub language: Option<String>,
    /// The person switched off the emails that are not essential.
    pub reminders_off: bool,
}

/// What became of an attempt at an outbound message.
#[derive(Debug, Clone)]
pub enum OutboundOutcome {
    /// The server took it; its answer.
    Sent(String),
    /// Not sent, and never will be (the person already read, or has no usable address).
    Skipped(String),
    /// Not now: try again at this time (outside working time, or a passing failure,
    /// with the server's answer).
    Later(Timestamp, Option<String>),
    /// Refused for good; `member_unreachable`: the address itself was refused, so the
    /// member is marked and gets no more mail until it changes.
    Failed {
        /// The server's answer.
        answer: String,
        /// The address was refused.
        member_unreachable: bool,
    },
}

/// One row of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRecord {
    /// Its id.
    pub id: i64,
    /// The person it went to.
    pub member: MemberId,
    /// The notice.
    pub message: MessageId,
    /// `email`.
    pub channel: String,
    /// `notice`, `reminder` or `escalation`.
    pub reason: String,
    /// Queued.
    pub queued_at: Timestamp,
    /// Taken by the server.
    pub sent_at: Option<Timestamp>,
    /// Not sent, and why (in `answer`).
    pub skipped_at: Option<Timestamp>,
    /// Refused for good.
    pub failed_at: Option<Timestamp>,
    /// The server's last answer, or why it was skipped.
    pub answer: Option<String>,
    /// When its link was first opened.
    pub opened_at: Option<Timestamp>,
}

/// What an email's link opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundLink {
    /// The organisation.
    pub org: OrgId,
    /// The person it was sent to.
    pub member: MemberId,
    /// The notice.
    pub message: MessageId,
}

/// A member as SCIM provisioning shows it: the member, their department's name, and
/// when the row was created and last changed.
#[derive(Debug, Clone)]
pub struct ProvisionedMember {
    /// The member.
    pub member: Member,
    /// Their department's name (the enterprise extension's `department`).
    pub department_name: String,
    /// When the member was created.
    pub created_at: Timestamp,
    /// When the member was last changed (the creation time if never).
    pub updated_at: Timestamp,
}

/// Which members a provisioning listing returns (all of them when empty). Members an
/// identity provider deleted are never listed.
#[derive(Debug, Clone, Default)]
pub struct ProvisionedFilter {
    /// Only the member with this address (case-insensitive).
    pub email: Option<String>,
    /// Only the member with this identity provider id.
    pub external_id: Option<String>,
}

/// A department as SCIM provisioning shows it (a Group).
#[derive(Debug, Clone)]
pub struct ProvisionedDepartment {
    /// The department.
    pub department: Department,
    /// The identity provider's id for it.
    pub external_id: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed (the creation time if never).
    pub updated_at: Timestamp,
    /// Its members (not its sub-departments'), by id, deleted ones left out.
    pub members: Vec<MemberId>,
}

/// How reachable an organisation's active members are outside the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reachability {
    /// Active members.
    pub active: i64,
    /// Whose address the mail server refused: the app only.
    pub email_refused: i64,
    /// Who switched reminder emails off: the app only for reminders and escalations.
    pub reminders_off: i64,
}
