//! readtrack's storage: one trait, [`Storage`], with an embedded SQLite implementation and
//! a PostgreSQL one for several nodes.
//!
//! Architecture invariant: handlers and services reach data only through this trait, so
//! the backend is chosen by configuration. The SQL is kept portable (multi-row `VALUES`,
//! `UPDATE ... FROM`, `RETURNING`) so the PostgreSQL implementation differs in dialect
//! only. Instants are stored as Unix milliseconds; nothing here speaks JSON on the wire.
//!
//! Receipts are written in batches: [`Storage::apply_receipts`] takes many clients'
//! reports at once and commits them in one transaction, keeping the per-message and
//! per-department counters and the event sequence in that same transaction.

mod db;
mod error;
pub mod model;
pub mod postgres;
mod sql;
pub mod sqlite;
mod store;

use async_trait::async_trait;
use jiff::Timestamp;
use readtrack_domain::department::Department;
use readtrack_domain::event::Event;
use readtrack_domain::ids::{DepartmentId, MemberId, MessageId, OrgId, Seq, TokenId};
use readtrack_domain::member::Member;
use readtrack_domain::settings::OrgSettings;
use readtrack_domain::summary::{DepartmentCounts, ShownCounts, Summary};

pub use error::StorageError;
pub use model::*;
pub use store::Store;

/// The storage traits, to bring their methods into scope: `use readtrack_storage::prelude::*`.
pub mod prelude {
    pub use crate::{
        Directory, Events, Governance, Idempotency, Messages, Orgs, Provisioning, Receipts,
        Schedule, Storage, Tasks, Webhooks,
    };
}

/// Result of a storage call.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Everything readtrack keeps: one trait per area, each implemented by [`Store`] in its
/// own file under `store/`. Implementations must be safe to share between tasks; every
/// write is durable when the call returns.
pub trait Storage:
    Orgs
    + Directory
    + Messages
    + Receipts
    + Schedule
    + Tasks
    + Webhooks
    + Governance
    + Events
    + Idempotency
    + Outbound
    + Provisioning
    + 'static
{
}

impl<T> Storage for T where
    T: Orgs
        + Directory
        + Messages
        + Receipts
        + Schedule
        + Tasks
        + Webhooks
        + Governance
        + Events
        + Idempotency
        + Outbound
        + Provisioning
        + 'static
{
}

/// Organisations, their settings and policy versions, and sign-in.
#[async_trait]
pub trait Orgs: Send + Sync {
    /// Checks the database answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;
    /// Whether the first-run setup has happened.
    async fn is_set_up(&self) -> Result<bool>;
    /// Creates the first organisation with its admin; [`StorageError::Conflict`] when
    /// setup already happened (only one caller can win a race).
    async fn setup(&self, new: NewOrg) -> Result<CreatedOrg>;
    /// Creates a further organisation (operators hosting several).
    async fn create_org(&self, new: NewOrg) -> Result<CreatedOrg>;
    /// Every organisation on the server (for background jobs).
    async fn org_ids(&self) -> Result<Vec<OrgId>>;
    /// An organisation's name and settings.
    async fn org(&self, org: OrgId) -> Result<OrgRecord>;
    /// Replaces an organisation's settings; a changed policy text gets a new version.
    async fn update_org_settings(
        &self,
        org: OrgId,
        settings: &OrgSettings,
        policy_changed_by: Option<MemberId>,
        now: Timestamp,
    ) -> Result<OrgRecord>;
    /// Records that a member acknowledged a policy version.
    async fn ack_policy(&self, member: MemberId, version: i64, now: Timestamp) -> Result<()>;
    /// The credentials of the member with this (normalised) email.
    async fn login_record(&self, email: &str) -> Result<Option<LoginRecord>>;
    /// The credentials of the member an identity provider's subject (issuer + `sub`)
    /// was linked to.
    async fn oidc_login_record(&self, issuer: &str, subject: &str) -> Result<Option<LoginRecord>>;
    /// Links a subject to a member; false (and nothing changed) when the subject, or
    /// another subject of the same issuer for this member, is already linked.
    async fn link_oidc_subject(
        &self,
        issuer: &str,
        subject: &str,
        member: MemberId,
        now: Timestamp,
    ) -> Result<bool>;
    /// Keeps a one-time code (its SHA-256) that the command-line client exchanges for a
    /// session of `member`, given the PKCE verifier of `challenge`; expired codes go.
    async fn insert_oidc_cli_code(
        &self,
        hash: &[u8],
        org: OrgId,
        member: MemberId,
        challenge: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()>;
    /// Takes (deletes) an unexpired one-time code: its organisation, member and PKCE
    /// challenge.
    async fn take_oidc_cli_code(
        &self,
        hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<(OrgId, MemberId, String)>>;
    /// Stores a token's hash.
    async fn insert_token(&self, token: NewToken) -> Result<TokenId>;
    /// The member behind an unexpired token hash.
    async fn find_token(&self, hash: &[u8], now: Timestamp) -> Result<Option<TokenRecord>>;
    /// Deletes a token of the organisation; false when there was none.
    async fn delete_token(&self, org: OrgId, id: TokenId) -> Result<bool>;
    /// Sets a member's own new password hash and ends their sign-in sessions but `keep`
    /// (the one making the change), in one transaction; answers the sessions ended.
    async fn change_own_password(
        &self,
        member: MemberId,
        password_hash: &str,
        keep: TokenId,
    ) -> Result<Vec<TokenId>>;
    /// Gives the member a new invitation (the SHA-256 of its secret) valid until
    /// `expires_at`, replacing any they had.
    async fn put_invitation(
        &self,
        org: OrgId,
        member: MemberId,
        hash: &[u8],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()>;
    /// The active member an unexpired invitation is for, without using it up.
    async fn invited_member(&self, hash: &[u8], now: Timestamp) -> Result<Option<Member>>;
    /// Uses an invitation up: sets the member's password hash, ends their sign-in
    /// sessions and deletes the invitation in one transaction. `None` when it is unknown, expired or its member
    /// inactive (then nothing changes).
    async fn accept_invitation(
        &self,
        hash: &[u8],
        password_hash: &str,
        now: Timestamp,
    ) -> Result<Option<Member>>;
    /// The members of an organisation with an open (unexpired) invitation, each with
    /// its expiry.
    async fn open_invitations(
        &self,
        org: OrgId,
        now: Timestamp,
    ) -> Result<Vec<(MemberId, Timestamp)>>;
    /// Starts setting up a second factor: stores `secret` as not yet confirmed,
    /// replacing any unconfirmed one. False (nothing changes) when one is already on.
    async fn begin_second_factor(&self, member: MemberId, secret: &str) -> Result<bool>;
    /// The member's second factor, confirmed or not.
    async fn second_factor(&self, member: MemberId) -> Result<Option<SecondFactor>>;
    /// Turns the stored second factor on, with `step` as the last code used.
    async fn enable_second_factor(&self, member: MemberId, step: i64) -> Result<bool>;
    /// Accepts a code of time step `step` once: false when that step (or a later one)
    /// was already used or the factor is not on.
    async fn use_second_factor_step(&self, member: MemberId, step: i64) -> Result<bool>;
    /// Removes the member's second factor; false when there was none.
    async fn remove_second_factor(&self, member: MemberId) -> Result<bool>;
    /// Which of `ids` still work at `now` (not deleted, not expired, their member
    /// active), each with its member's role as it is now: open streams are checked
    /// against this, so revoking a credential ends them.
    async fn live_tokens(
        &self,
        ids: &[TokenId],
        now: Timestamp,
    ) -> Result<Vec<(TokenId, readtrack_domain::member::Role)>>;
}

/// Departments and members.
#[async_trait]
pub trait Directory: Send + Sync {
    /// Creates a department; [`StorageError::Conflict`] when a sibling has the name.
    async fn create_department(&self, new: NewDepartment) -> Result<Department>;
    /// All departments of an organisation.
    async fn departments(&self, org: OrgId) -> Result<Vec<Department>>;
    /// Creates a member; [`StorageError::Conflict`] on a taken email.
    async fn create_member(&self, new: NewMember) -> Result<Member>;
    /// A member of the organisation.
    async fn member(&self, org: OrgId, id: MemberId) -> Result<Option<Member>>;
    /// The active members of the organisation among `ids`.
    async fn members_by_ids(&self, org: OrgId, ids: &[MemberId]) -> Result<Vec<Member>>;
    /// Which of `ids` are active members of the organisation.
    async fn existing_members(&self, org: OrgId, ids: &[MemberId]) -> Result<Vec<MemberId>>;
    /// Members, by id, filtered.
    async fn members(&self, org: OrgId, filter: &MemberFilter, page: Page) -> Result<Vec<Member>>;
    /// Applies a change to a member; [`StorageError::Conflict`] on a taken email.
    async fn update_member(&self, org: OrgId, id: MemberId, patch: MemberPatch) -> Result<Member>;
    /// Whether anyone active has this member as their line manager.
    async fn manages_anyone(&self, member: MemberId) -> Result<bool>;
    /// Email addresses of the organisation's members (for checking an import).
    async fn member_emails(&self, org: OrgId) -> Result<Vec<String>>;
    /// Writes a checked import in one transaction (or only counts, on a dry run). With
    /// `deactivate_missing_except`, the organisation's active members the file does not
    /// name are deactivated too (their sessions and tokens end), all but that one.
    async fn import_members(
        &self,
        org: OrgId,
        rows: &[ImportWrite],
        dry_run: bool,
        deactivate_missing_except: Option<MemberId>,
        now: Timestamp,
    ) -> Result<ImportCounts>;
}

/// What SCIM provisioning needs beyond the directory: members and departments with
/// their creation and change times, members an identity provider deleted (deactivated,
/// history kept, hidden from SCIM), and moving members between departments.
#[async_trait]
pub trait Provisioning: Send + Sync {
    /// One page of members (`offset` from 0), and how many match in all.
    async fn provisioned_members(
        &self,
        org: OrgId,
        filter: &ProvisionedFilter,
        offset: u64,
        limit: u32,
    ) -> Result<(u64, Vec<ProvisionedMember>)>;
    /// A member, unless an identity provider deleted them.
    async fn provisioned_member(
        &self,
        org: OrgId,
        id: MemberId,
    ) -> Result<Option<ProvisionedMember>>;
    /// Marks a member deleted by the identity provider (they are deactivated apart).
    async fn mark_member_deleted(&self, org: OrgId, id: MemberId, now: Timestamp) -> Result<()>;
    /// A member an identity provider deleted, found by address, for re-provisioning.
    async fn deleted_member_by_email(&self, org: OrgId, email: &str) -> Result<Option<MemberId>>;
    /// Brings back a member an identity provider deleted (still inactive).
    async fn undelete_member(&self, org: OrgId, id: MemberId, now: Timestamp) -> Result<()>;
    /// Records that a member changed now.
    async fn touch_member(&self, org: OrgId, id: MemberId, now: Timestamp) -> Result<()>;
    /// Every department with its members.
    async fn provisioned_departments(&self, org: OrgId) -> Result<Vec<ProvisionedDepartment>>;
    /// Renames a department and sets its identity provider id;
    /// [`StorageError::Conflict`] when a sibling has the name or another the id.
    async fn update_department(
        &self,
        org: OrgId,
        id: DepartmentId,
        name: &str,
        external_id: Option<&str>,
        now: Timestamp,
    ) -> Result<()>;
    /// Deletes a department, moving its members to `move_to`. Refused
    /// ([`StorageError::Conflict`]) while it has sub-departments or notices' history
    /// counts people in it.
    async fn delete_department(
        &self,
        org: OrgId,
        id: DepartmentId,
        move_to: DepartmentId,
    ) -> Result<()>;
}

/// Notices and what each recipient sees of them.
#[async_trait]
pub trait Messages: Send + Sync {
    /// Sends a notice: stores it, expands its audience to recipient rows, seeds its
    /// counters and appends `message.created`, all in one transaction.
    async fn create_message(&self, new: NewMessageRecord) -> Result<CreatedMessage>;
    /// A notice of the organisation.
    async fn message(&self, org: OrgId, id: MessageId) -> Result<Option<MessageRecord>>;
    /// The notices a member received, newest first, with their state.
    async fn inbox(
        &self,
        member: MemberId,
        filter: InboxFilter,
        page: Page,
    ) -> Result<Vec<InboxItem>>;
    /// The notices a member sent, newest first.
    async fn sent(&self, member: MemberId, page: Page) -> Result<Vec<MessageRecord>>;
    /// How many emergency notices the organisation sent since `since`.
    async fn emergency_notices_since(&self, org: OrgId, since: Timestamp) -> Result<i64>;
    /// One recipient's receipt.
    async fn receipt(&self, message: MessageId, member: MemberId) -> Result<Option<ReceiptRecord>>;
}

/// The receipt hot path and the read board.
#[async_trait]
pub trait Receipts: Send + Sync {
    /// Applies many clients' reports in one transaction and returns one outcome per
    /// item (in order) and the events to publish. Outcomes are final only once this
    /// returns: the commit has happened.
    async fn apply_receipts(&self, batch: &[ReceiptWrite], now: Timestamp) -> Result<AppliedBatch>;
    /// A notice's counts, with `hidden` as seen by its sender.
    async fn summary(&self, message: &MessageRecord) -> Result<Summary>;
    /// The counts over a notice's recipients who may be shown (none without per-person
    /// tracking), for notices whose hidden recipients are too few to count.
    async fn shown_counts(&self, message: &MessageRecord) -> Result<ShownCounts>;
    /// A notice's counts per recipient department.
    async fn department_counts(&self, message: MessageId) -> Result<Vec<DepartmentCounts>>;
    /// One page of a notice's recipients whose rows may be shown.
    async fn board_rows(
        &self,
        message: &MessageRecord,
        filter: StateFilter,
        cursor: Option<BoardCursor>,
        limit: u32,
    ) -> Result<BoardPage>;
}

/// The reminder and escalation due-queue.
#[async_trait]
pub trait Schedule: Send + Sync {
    /// Distinct own time zones of the organisation's members.
    async fn member_zones(&self, org: OrgId) -> Result<Vec<String>>;
    /// Fires up to `limit` steps due at `now`: each is claimed, recorded (reminder,
    /// escalation, task, events, webhook deliveries) and replaced by the recipient's next
    /// step in one transaction, so it fires exactly once. Steps of recipients who have read
    /// meanwhile are dropped; steps due inside a recipient's non-working time move to their
    /// next working instant.
    async fn fire_due_steps(&self, now: Timestamp, limit: u32) -> Result<FiredSteps>;
    /// The earliest due step, to sleep until.
    async fn next_due_at(&self) -> Result<Option<Timestamp>>;
    /// Puts every step that waits for its recipient's working time back at the time its
    /// plan gave, so the next pass works the wait out again from the clock as it is now.
    /// Called when the clock is moved: a wait worked out at a later "now" may be too long
    /// once the clock is set back. Returns how many steps it put back.
    async fn undo_deferrals(&self) -> Result<u64>;
    /// "Remind the unread now": at most once per `min_interval` per notice.
    async fn remind_unread(
        &self,
        message: &MessageRecord,
        timing: &[ZoneTiming],
        min_interval: jiff::SignedDuration,
        now: Timestamp,
    ) -> Result<RemindOutcome>;
}

/// Tasks and the escalations a manager received.
#[async_trait]
pub trait Tasks: Send + Sync {
    /// A member's tasks, newest first.
    async fn tasks(&self, member: MemberId, page: Page) -> Result<Vec<TaskRecord>>;
    /// Marks a member's task done by hand.
    async fn complete_task(
        &self,
        member: MemberId,
        task: readtrack_domain::ids::TaskId,
        now: Timestamp,
    ) -> Result<TaskRecord>;
    /// Escalations a manager or backup received, newest first, with the recipient's state.
    async fn escalations_to(&self, member: MemberId, page: Page) -> Result<Vec<EscalationRecord>>;
}

/// Webhooks and their deliveries.
#[async_trait]
pub trait Webhooks: Send + Sync {
    /// Registers a webhook.
    async fn create_webhook(&self, new: NewWebhook) -> Result<WebhookRecord>;
    /// The organisation's webhooks.
    async fn webhooks(&self, org: OrgId) -> Result<Vec<WebhookRecord>>;
    /// Removes a webhook (pending deliveries stop).
    async fn delete_webhook(
        &self,
        org: OrgId,
        id: readtrack_domain::ids::WebhookId,
    ) -> Result<bool>;
    /// Deliveries due at `now`, oldest first.
    async fn due_deliveries(&self, now: Timestamp, limit: u32) -> Result<Vec<DeliveryJob>>;
    /// Deliveries still to be made (not delivered, not given up), for `/metrics`.
    async fn webhook_backlog(&self) -> Result<u64>;
    /// Records an attempt. A delivery given up on disables its webhook when nothing
    /// reached the endpoint since the delivery was queued; that webhook is returned.
    async fn record_delivery(
        &self,
        id: i64,
        result: DeliveryResult,
        now: Timestamp,
    ) -> Result<Option<DisabledWebhook>>;
    /// The earliest pending delivery attempt.
    async fn next_delivery_at(&self) -> Result<Option<Timestamp>>;
    /// A webhook's recent deliveries, newest first.
    async fn deliveries(
        &self,
        org: OrgId,
        webhook: readtrack_domain::ids::WebhookId,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>>;
}

/// Audit, export, retention, analytics and pulse surveys.
#[async_trait]
pub trait Governance: Send + Sync {
    /// Appends an audit entry (and whose data it showed).
    async fn record_audit(&self, entry: NewAudit) -> Result<()>;
    /// The organisation's audit log, newest first.
    async fn audit_log(&self, org: OrgId, page: Page) -> Result<Vec<AuditRecord>>;
    /// Everything recorded about a member.
    async fn export_member(&self, org: OrgId, member: MemberId) -> Result<MemberExport>;
    /// Purges per-person details of notices sent before `cutoff`, keeping per-department
    /// aggregates; also drops events older than `cutoff` that no webhook still needs.
    async fn purge_before(
        &self,
        org: OrgId,
        cutoff: Timestamp,
        now: Timestamp,
    ) -> Result<PurgeCounts>;
    /// Per notice and department figures of notices sent in `[from, to)` (tracked ones),
    /// whether their per-person rows still exist or were purged.
    async fn department_stats(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<MessageDepartmentStats>>;
    /// Opens a pulse survey.
    async fn create_survey(&self, new: NewSurvey) -> Result<SurveyRecord>;
    /// The organisation's surveys, newest first.
    async fn surveys(&self, org: OrgId) -> Result<Vec<SurveyRecord>>;
    /// A survey of the organisation.
    async fn survey(
        &self,
        org: OrgId,
        id: readtrack_domain::ids::SurveyId,
    ) -> Result<Option<SurveyRecord>>;
    /// Closes a survey now if it is still open; returns it as it then is.
    async fn close_survey(
        &self,
        org: OrgId,
        id: readtrack_domain::ids::SurveyId,
        now: Timestamp,
    ) -> Result<Option<SurveyRecord>>;
    /// Whether a member has answered a survey.
    async fn has_answered(
        &self,
        survey: readtrack_domain::ids::SurveyId,
        member: MemberId,
    ) -> Result<bool>;
    /// Records a member's answer: their participation and, unlinked, what they said.
    /// [`StorageError::Conflict`] when they answered before.
    async fn answer_survey(
        &self,
        survey: readtrack_domain::ids::SurveyId,
        member: MemberId,
        answer: SurveyAnswer,
    ) -> Result<()>;
    /// A survey's answers (anonymous).
    async fn survey_answers(
        &self,
        survey: readtrack_domain::ids::SurveyId,
    ) -> Result<Vec<SurveyAnswer>>;
    /// The text of a policy version.
    async fn policy_text(&self, org: OrgId, version: i64) -> Result<Option<String>>;
}

/// The event sequence, for stream resume and routing.
#[async_trait]
pub trait Events: Send + Sync {
    /// Events a member receives with a sequence number above `since`, oldest first.
    async fn events_for(
        &self,
        org: OrgId,
        member: MemberId,
        since: Seq,
        limit: u32,
    ) -> Result<Vec<Event>>;
    /// The organisation's latest sequence number.
    async fn last_seq(&self, org: OrgId) -> Result<Seq>;
    /// The highest sequence number retention removed from the organisation's events
    /// (0: none): a stream resuming from below it cannot be given everything it missed.
    async fn events_purged_through(&self, org: OrgId) -> Result<Seq>;
    /// The organisation's events with a sequence number above `since`, oldest first
    /// (for the outbound channels, which follow the whole sequence).
    async fn org_events_after(&self, org: OrgId, since: Seq, limit: u32) -> Result<Vec<Event>>;
    /// Every recipient of a notice, by id.
    async fn recipient_ids(&self, message: MessageId) -> Result<Vec<MemberId>>;
    /// Which of `members` are recipients of the notice.
    async fn recipients_among(
        &self,
        message: MessageId,
        members: &[MemberId],
    ) -> Result<Vec<MemberId>>;
}

/// `Idempotency-Key`: the first answer to a request, kept for its retries.
#[async_trait]
pub trait Idempotency: Send + Sync {
    /// Claims `key` for a request of `scope` (a credential) with `fingerprint` (its
    /// method, path and body). A key older than `expired_before` counts as unused.
    async fn claim_idempotency_key(
        &self,
        scope: &[u8],
        key: &str,
        fingerprint: &[u8],
        now: Timestamp,
        expired_before: Timestamp,
    ) -> Result<IdempotencyClaim>;
    /// Keeps the answer to the request that claimed `key`.
    async fn finish_idempotency_key(
        &self,
        scope: &[u8],
        key: &str,
        status: u16,
        response: &str,
    ) -> Result<()>;
    /// Gives `key` up (the request failed on our side; a retry may run it again).
    async fn release_idempotency_key(&self, scope: &[u8], key: &str) -> Result<()>;
    /// Forgets keys claimed before `before`; returns how many.
    async fn purge_idempotency_keys(&self, before: Timestamp) -> Result<u64>;
}

/// Messages sent outside the app (email): queued from the event sequence behind a cursor,
/// leased to a sender, and kept as the delivery log.
#[async_trait]
pub trait Outbound: Send + Sync {
    /// The last event of the organisation already queued for `channel`.
    async fn outbound_cursor(&self, org: OrgId, channel: &str) -> Result<Seq>;
    /// Queues `items` on `channel` (a person already queued for an event is not queued
    /// again; a recipient list skips members without a usable address and inactive
    /// ones) and moves the cursor to `through`, in one transaction. Returns the rows
    /// queued.
    async fn queue_outbound(
        &self,
        org: OrgId,
        channel: &str,
        items: &[NewOutbound],
        through: Seq,
        now: Timestamp,
    ) -> Result<u64>;
    /// Up to `limit` messages due at `now`, each leased until `lease_until` so that no
    /// other sender takes it meanwhile.
    async fn due_outbound(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboundJob>>;
    /// Keeps the hash of the link a message is about to carry, valid until `expires_at`.
    async fn set_outbound_link(&self, id: i64, hash: &[u8], expires_at: Timestamp) -> Result<()>;
    /// Records what became of an attempt.
    async fn finish_outbound(
        &self,
        id: i64,
        outcome: OutboundOutcome,
        now: Timestamp,
    ) -> Result<()>;
    /// What an unexpired link opens, recording the first opening.
    async fn open_outbound_link(&self, hash: &[u8], now: Timestamp)
    -> Result<Option<OutboundLink>>;
    /// The delivery log of a notice for `members` (a board page's people).
    async fn outbound_log(
        &self,
        message: MessageId,
        members: &[MemberId],
    ) -> Result<Vec<OutboundRecord>>;
    /// When the next queued message is due, if any.
    async fn next_outbound_at(&self) -> Result<Option<Timestamp>>;
    /// The language a member last used readtrack in, if known.
    async fn member_language(&self, member: MemberId) -> Result<Option<String>>;
    /// Remembers the language a member uses readtrack in (a tag such as `zh-Hant`).
    async fn set_member_language(&self, member: MemberId, language: &str) -> Result<()>;
    /// Whether a member switched off the emails that are not essential.
    async fn email_reminders_off(&self, member: MemberId) -> Result<bool>;
    /// Switches a member's non-essential emails off or on.
    async fn set_email_reminders_off(&self, member: MemberId, off: bool) -> Result<()>;
    /// How reachable the organisation's active members are outside the app.
    async fn reachability(&self, org: OrgId) -> Result<Reachability>;
    /// Members whose address the mail server refused for good, with its answer.
    async fn unreachable_members(&self, org: OrgId) -> Result<Vec<(MemberId, String)>>;
}
