//! The embedded backend: bundled SQLite in WAL mode with `synchronous=FULL`.
//!
//! One writer connection serialises every write (SQLite allows one writer at a time;
//! queueing in the pool is cheaper than retrying `SQLITE_BUSY`), while a small pool of
//! readers serves boards, inboxes and streams concurrently from the WAL.

mod directory;
mod events;
mod messages;
mod orgs;
mod privacy;
mod receipts;
mod schedule;
mod tasks;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use readtrack_domain::department::Department;
use readtrack_domain::event::Event;
use readtrack_domain::ids::{DepartmentId, MemberId, MessageId, OrgId, Seq, TokenId};
use readtrack_domain::member::{Member, Role};
use readtrack_domain::settings::OrgSettings;
use readtrack_domain::summary::{DepartmentCounts, Summary};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use crate::model::*;
use crate::{Result, Storage, StorageError};

/// The facts of a notice the receipt path needs, cached because notices never change.
#[derive(Debug)]
pub(crate) struct Facts {
    pub org_id: OrgId,
    pub require_ack: bool,
    pub sender_id: MemberId,
    pub facts: readtrack_domain::receipt::MessageFacts,
}

/// Storage in one SQLite file.
pub struct SqliteStorage {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Message facts by id; bounded by clearing when it grows past `FACTS_CACHE_MAX`.
    /// A std mutex: it is never held across an await.
    facts: Mutex<HashMap<MessageId, Arc<Facts>>>,
}

const FACTS_CACHE_MAX: usize = 10_000;

/// Page cache of the one writing connection, in KiB. It fills as the database grows
/// until it holds this much, then stays there: memory that grows with the data up to
/// this bound is this cache.
pub const WRITER_CACHE_KIB: u64 = 64 * 1024;
/// Page cache of each of the four reading connections, in KiB. Every connection has its
/// own cache, and a 30-minute soak showed five caches of 64 MiB each filling as the
/// database grew (the server's memory rose by 440 MiB); the operating system's page
/// cache holds the file for all of them, so readers keep little of their own.
pub const READER_CACHE_KIB: u64 = 8 * 1024;

impl SqliteStorage {
    /// Opens (creating if needed) `readtrack.db` in `dir` and migrates it.
    pub async fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StorageError::Corrupt(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        Self::open_file(&dir.join("readtrack.db")).await
    }

    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open_file(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A receipt is confirmed only once committed, so commits must survive power loss.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            // The writer keeps 64 MiB of pages: the hot path reads back what it wrote.
            .pragma("cache_size", format!("-{WRITER_CACHE_KIB}"))
            .pragma("temp_store", "memory")
            .statement_cache_capacity(256);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(
                options
                    .read_only(true)
                    .pragma("cache_size", format!("-{READER_CACHE_KIB}")),
            )
            .await?;
        Ok(Self {
            writer,
            reader,
            facts: Mutex::new(HashMap::new()),
        })
    }

    /// Closes the pools, waiting for in-flight statements.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// The writer pool, for tests that inspect rows directly.
    pub fn writer_pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes the write lock up front, so another
    /// process on the same file waits (busy timeout) instead of failing when a read
    /// transaction would have to upgrade.
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    fn cached_facts(&self, id: MessageId) -> Option<Arc<Facts>> {
        self.facts.lock().ok()?.get(&id).cloned()
    }

    fn cache_facts(&self, id: MessageId, facts: Arc<Facts>) {
        if let Ok(mut map) = self.facts.lock() {
            if map.len() >= FACTS_CACHE_MAX {
                map.clear();
            }
            map.insert(id, facts);
        }
    }
}

/// Maps a unique-constraint violation to [`StorageError::Conflict`].
pub(crate) fn conflict_on_unique(e: sqlx::Error, what: &str) -> StorageError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        return StorageError::Conflict(what.to_string());
    }
    StorageError::Database(e)
}

pub(crate) const MEMBER_COLUMNS: &str = "id, org_id, name, email, department_id, manager_id, backup_id, role, time_zone, policy_ack_version, active";

pub(crate) fn member_from_row(row: &SqliteRow) -> Result<Member> {
    let role: String = row.try_get("role")?;
    Ok(Member {
        id: MemberId(row.try_get("id")?),
        org_id: OrgId(row.try_get("org_id")?),
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        department_id: DepartmentId(row.try_get("department_id")?),
        manager_id: row.try_get::<Option<i64>, _>("manager_id")?.map(MemberId),
        backup_id: row.try_get::<Option<i64>, _>("backup_id")?.map(MemberId),
        role: Role::parse("role", &role)
            .map_err(|_| StorageError::Corrupt(format!("role {role:?}")))?,
        time_zone: row.try_get("time_zone")?,
        policy_ack_version: row.try_get("policy_ack_version")?,
        active: row.try_get::<i64, _>("active")? != 0,
    })
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn is_set_up(&self) -> Result<bool> {
        self.is_set_up_impl().await
    }

    async fn setup(&self, new: NewOrg) -> Result<CreatedOrg> {
        self.create_org_impl(new, true).await
    }

    async fn create_org(&self, new: NewOrg) -> Result<CreatedOrg> {
        self.create_org_impl(new, false).await
    }

    async fn org_ids(&self) -> Result<Vec<OrgId>> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT id FROM orgs ORDER BY id")
                .fetch_all(&self.reader)
                .await?
                .into_iter()
                .map(OrgId)
                .collect(),
        )
    }

    async fn org(&self, org: OrgId) -> Result<OrgRecord> {
        self.org_impl(org).await
    }

    async fn update_org_settings(
        &self,
        org: OrgId,
        settings: &OrgSettings,
        policy_changed_by: Option<MemberId>,
        now: Timestamp,
    ) -> Result<OrgRecord> {
        self.update_org_settings_impl(org, settings, policy_changed_by, now)
            .await
    }

    async fn login_record(&self, email: &str) -> Result<Option<LoginRecord>> {
        self.login_record_impl(email).await
    }

    async fn insert_token(&self, token: NewToken) -> Result<TokenId> {
        self.insert_token_impl(token).await
    }

    async fn find_token(&self, hash: &[u8], now: Timestamp) -> Result<Option<TokenRecord>> {
        self.find_token_impl(hash, now).await
    }

    async fn delete_token(&self, org: OrgId, id: TokenId) -> Result<bool> {
        self.delete_token_impl(org, id).await
    }

    async fn live_tokens(
        &self,
        ids: &[TokenId],
        now: Timestamp,
    ) -> Result<Vec<(TokenId, readtrack_domain::member::Role)>> {
        self.live_tokens_impl(ids, now).await
    }

    async fn create_department(&self, new: NewDepartment) -> Result<Department> {
        self.create_department_impl(new).await
    }

    async fn departments(&self, org: OrgId) -> Result<Vec<Department>> {
        self.departments_impl(org).await
    }

    async fn create_member(&self, new: NewMember) -> Result<Member> {
        self.create_member_impl(new).await
    }

    async fn member(&self, org: OrgId, id: MemberId) -> Result<Option<Member>> {
        self.member_impl(org, id).await
    }

    async fn members_by_ids(&self, org: OrgId, ids: &[MemberId]) -> Result<Vec<Member>> {
        self.members_by_ids_impl(org, ids).await
    }

    async fn existing_members(&self, org: OrgId, ids: &[MemberId]) -> Result<Vec<MemberId>> {
        self.existing_members_impl(org, ids).await
    }

    async fn members(&self, org: OrgId, filter: &MemberFilter, page: Page) -> Result<Vec<Member>> {
        self.members_impl(org, filter, page).await
    }

    async fn update_member(&self, org: OrgId, id: MemberId, patch: MemberPatch) -> Result<Member> {
        self.update_member_impl(org, id, patch).await
    }

    async fn manages_anyone(&self, member: MemberId) -> Result<bool> {
        self.manages_anyone_impl(member).await
    }

    async fn member_emails(&self, org: OrgId) -> Result<Vec<String>> {
        self.member_emails_impl(org).await
    }

    async fn import_members(
        &self,
        org: OrgId,
        rows: &[ImportWrite],
        dry_run: bool,
        now: Timestamp,
    ) -> Result<ImportCounts> {
        self.import_members_impl(org, rows, dry_run, now).await
    }

    async fn ack_policy(&self, member: MemberId, version: i64, now: Timestamp) -> Result<()> {
        self.ack_policy_impl(member, version, now).await
    }

    async fn create_message(&self, new: NewMessageRecord) -> Result<CreatedMessage> {
        self.create_message_impl(new).await
    }

    async fn message(&self, org: OrgId, id: MessageId) -> Result<Option<MessageRecord>> {
        self.message_impl(org, id).await
    }

    async fn inbox(
        &self,
        member: MemberId,
        filter: InboxFilter,
        page: Page,
    ) -> Result<Vec<InboxItem>> {
        self.inbox_impl(member, filter, page).await
    }

    async fn sent(&self, member: MemberId, page: Page) -> Result<Vec<MessageRecord>> {
        self.sent_impl(member, page).await
    }

    async fn receipt(&self, message: MessageId, member: MemberId) -> Result<Option<ReceiptRecord>> {
        self.receipt_impl(message, member).await
    }

    async fn apply_receipts(&self, batch: &[ReceiptWrite], now: Timestamp) -> Result<AppliedBatch> {
        self.apply_receipts_impl(batch, now).await
    }

    async fn summary(&self, message: &MessageRecord) -> Result<Summary> {
        self.summary_impl(message).await
    }

    async fn department_counts(&self, message: MessageId) -> Result<Vec<DepartmentCounts>> {
        self.department_counts_impl(message).await
    }

    async fn board_rows(
        &self,
        message: &MessageRecord,
        filter: StateFilter,
        cursor: Option<BoardCursor>,
        limit: u32,
    ) -> Result<BoardPage> {
        self.board_rows_impl(message, filter, cursor, limit).await
    }

    async fn member_zones(&self, org: OrgId) -> Result<Vec<String>> {
        self.member_zones_impl(org).await
    }

    async fn fire_due_steps(&self, now: Timestamp, limit: u32) -> Result<FiredSteps> {
        self.fire_due_steps_impl(now, limit).await
    }

    async fn next_due_at(&self) -> Result<Option<Timestamp>> {
        self.next_due_at_impl().await
    }

    async fn undo_deferrals(&self) -> Result<u64> {
        self.undo_deferrals_impl().await
    }

    async fn remind_unread(
        &self,
        message: &MessageRecord,
        timing: &[ZoneTiming],
        min_interval: jiff::SignedDuration,
        now: Timestamp,
    ) -> Result<RemindOutcome> {
        self.remind_unread_impl(message, timing, min_interval, now)
            .await
    }

    async fn tasks(&self, member: MemberId, page: Page) -> Result<Vec<TaskRecord>> {
        self.tasks_impl(member, page).await
    }

    async fn complete_task(
        &self,
        member: MemberId,
        task: readtrack_domain::ids::TaskId,
        now: Timestamp,
    ) -> Result<TaskRecord> {
        self.complete_task_impl(member, task, now).await
    }

    async fn escalations_to(&self, member: MemberId, page: Page) -> Result<Vec<EscalationRecord>> {
        self.escalations_to_impl(member, page).await
    }

    async fn create_webhook(&self, new: NewWebhook) -> Result<WebhookRecord> {
        self.create_webhook_impl(new).await
    }

    async fn webhooks(&self, org: OrgId) -> Result<Vec<WebhookRecord>> {
        self.webhooks_impl(org).await
    }

    async fn delete_webhook(
        &self,
        org: OrgId,
        id: readtrack_domain::ids::WebhookId,
    ) -> Result<bool> {
        self.delete_webhook_impl(org, id).await
    }

    async fn due_deliveries(&self, now: Timestamp, limit: u32) -> Result<Vec<DeliveryJob>> {
        self.due_deliveries_impl(now, limit).await
    }

    async fn record_delivery(&self, id: i64, result: DeliveryResult, now: Timestamp) -> Result<()> {
        self.record_delivery_impl(id, result, now).await
    }

    async fn next_delivery_at(&self) -> Result<Option<Timestamp>> {
        self.next_delivery_at_impl().await
    }

    async fn deliveries(
        &self,
        org: OrgId,
        webhook: readtrack_domain::ids::WebhookId,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        self.deliveries_impl(org, webhook, limit).await
    }

    async fn record_audit(&self, entry: NewAudit) -> Result<()> {
        self.record_audit_impl(entry).await
    }

    async fn audit_log(&self, org: OrgId, page: Page) -> Result<Vec<AuditRecord>> {
        self.audit_log_impl(org, page).await
    }

    async fn export_member(&self, org: OrgId, member: MemberId) -> Result<MemberExport> {
        self.export_member_impl(org, member).await
    }

    async fn purge_before(
        &self,
        org: OrgId,
        cutoff: Timestamp,
        now: Timestamp,
    ) -> Result<PurgeCounts> {
        self.purge_before_impl(org, cutoff, now).await
    }

    async fn department_stats(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<MessageDepartmentStats>> {
        self.department_stats_impl(org, from, to, now).await
    }

    async fn create_survey(&self, new: NewSurvey) -> Result<SurveyRecord> {
        self.create_survey_impl(new).await
    }

    async fn surveys(&self, org: OrgId) -> Result<Vec<SurveyRecord>> {
        self.surveys_impl(org).await
    }

    async fn survey(
        &self,
        org: OrgId,
        id: readtrack_domain::ids::SurveyId,
    ) -> Result<Option<SurveyRecord>> {
        self.survey_impl(org, id).await
    }

    async fn has_answered(
        &self,
        survey: readtrack_domain::ids::SurveyId,
        member: MemberId,
    ) -> Result<bool> {
        self.has_answered_impl(survey, member).await
    }

    async fn answer_survey(
        &self,
        survey: readtrack_domain::ids::SurveyId,
        member: MemberId,
        answer: SurveyAnswer,
    ) -> Result<()> {
        self.answer_survey_impl(survey, member, answer).await
    }

    async fn survey_answers(
        &self,
        survey: readtrack_domain::ids::SurveyId,
    ) -> Result<Vec<SurveyAnswer>> {
        self.survey_answers_impl(survey).await
    }

    async fn policy_text(&self, org: OrgId, version: i64) -> Result<Option<String>> {
        self.policy_text_impl(org, version).await
    }

    async fn events_for(
        &self,
        org: OrgId,
        member: MemberId,
        since: Seq,
        limit: u32,
    ) -> Result<Vec<Event>> {
        self.events_for_impl(org, member, since, limit).await
    }

    async fn last_seq(&self, org: OrgId) -> Result<Seq> {
        self.last_seq_impl(org).await
    }

    async fn recipient_ids(&self, message: MessageId) -> Result<Vec<MemberId>> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT member_id FROM receipts WHERE message_id = ? ORDER BY member_id",
        )
        .bind(message.0)
        .fetch_all(&self.reader)
        .await?
        .into_iter()
        .map(MemberId)
        .collect())
    }

    async fn recipients_among(
        &self,
        message: MessageId,
        members: &[MemberId],
    ) -> Result<Vec<MemberId>> {
        self.recipients_among_impl(message, members).await
    }
}
