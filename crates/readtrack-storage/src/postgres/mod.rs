//! The scale-out backend: PostgreSQL, shared by any number of stateless nodes.
//!
//! The SQL mirrors the SQLite backend; what differs is concurrency. SQLite has one
//! writer, so reading a row and writing it back is safe there; here several nodes write
//! at once, so every read-modify-write locks what it reads (`FOR UPDATE`), always in the
//! same order (receipt rows by key, then counter rows by notice, then the organisation
//! row last) so concurrent transactions queue instead of deadlocking. Batches travel as
//! arrays (`UNNEST`): the same few prepared statements whatever the batch size, each sent
//! in chunks of at most [`BIND_BUDGET`] bytes.

mod copy;
mod directory;
mod events;
mod messages;
mod orgs;
mod privacy;
mod receipts;
mod schedule;
mod scratch;
mod tasks;

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
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
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};

pub use copy::{CopyReport, TableCount, copy_from_sqlite};
pub use scratch::{ScratchDatabase, with_database};

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

/// How a node connects to PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// Connections this node keeps at most. Every node has its own pool, so the sum over
    /// nodes must stay below the server's `max_connections`.
    pub max_connections: u32,
    /// How long a caller waits for a free connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for PgConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// Storage in a PostgreSQL database.
pub struct PostgresStorage {
    pool: PgPool,
    /// Message facts by id; bounded by clearing when it grows past `FACTS_CACHE_MAX`.
    /// A std mutex: it is never held across an await.
    facts: Mutex<HashMap<MessageId, Arc<Facts>>>,
}

const FACTS_CACHE_MAX: usize = 10_000;

/// Attempts of a write transaction that lost a deadlock or serialisation race.
const ATTEMPTS: u32 = 5;

impl PostgresStorage {
    /// Connects to the database at `url` (`postgres://user@host:port/db`) and migrates it.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, PgConfig::default()).await
    }

    /// [`PostgresStorage::connect`] with explicit pool settings.
    pub async fn connect_with(url: &str, config: PgConfig) -> Result<Self> {
        let options: PgConnectOptions = url.parse()?;
        // A node cut off in the middle of a transaction holds its row locks (claimed
        // due steps among them) until the server gives up on it; bound that wait.
        let options = options.options([("idle_in_transaction_session_timeout", "60s")]);
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options.application_name("readtrack"))
            .await?;
        // sqlx takes an advisory lock while migrating, so nodes starting together
        // migrate once and the others wait.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self {
            pool,
            facts: Mutex::new(HashMap::new()),
        })
    }

    /// Closes the pool, waiting for in-flight statements.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for tests and tools that inspect rows directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
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

/// Runs a write transaction again when PostgreSQL aborted it to break a deadlock or a
/// serialisation conflict with another node; it had no effect, so repeating is safe.
pub(crate) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut n = 1;
    loop {
        match attempt().await {
            Err(StorageError::Database(sqlx::Error::Database(db)))
                if n < ATTEMPTS && matches!(db.code().as_deref(), Some("40P01" | "40001")) =>
            {
                tracing::debug!(code = ?db.code(), attempt = n, "write transaction lost a race; retrying");
                n += 1;
            }
            other => return other,
        }
    }
}

/// Plans the rest of the transaction (`on`) as nested loops over the batch, or (`off`)
/// as the planner likes. Batch statements join an array of a few hundred keys to a
/// table of millions of rows; the planner cannot see the array's size and, with the
/// table still small enough, prefers hashing the whole table over a few hundred index
/// lookups: measured 55 ms against 7 ms for 1,000 keys on 100,000 receipts.
pub(crate) async fn plan_for_keys(conn: &mut sqlx::PgConnection, on: bool) -> Result<()> {
    let allow = if on { "off" } else { "on" };
    sqlx::query(
        "SELECT set_config('enable_hashjoin', $1, true), set_config('enable_mergejoin', $1, true)",
    )
    .bind(allow)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Most bytes of bound values one batch statement sends. sqlx 0.9 leaves Nagle's
/// algorithm on (upstream issue #4335): a message larger than the socket's initial send
/// buffer (16 KiB on Linux) leaves in two writes, and the second waits for the server's
/// delayed acknowledgement, 40 ms on loopback. Measured on 100,000 receipts in batches of
/// 1,000: 175 ms a batch with one statement per step, against a few ms below the budget.
pub(crate) const BIND_BUDGET: usize = 12 * 1024;

/// Bound size of an `int8` array element (length word and value).
pub(crate) const INT8: usize = 12;

/// Bound size of a `text` array element.
pub(crate) fn text(s: &str) -> usize {
    4 + s.len()
}

/// Consecutive ranges of `0..n` whose rows, sized by `row_bytes`, stay within
/// [`BIND_BUDGET`] (a row larger than the budget gets a range of its own).
pub(crate) fn chunks(n: usize, mut row_bytes: impl FnMut(usize) -> usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for i in 0..n {
        let b = row_bytes(i);
        if i > start && bytes + b > BIND_BUDGET {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += b;
    }
    if start < n {
        out.push(start..n);
    }
    out
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

pub(crate) fn member_from_row(row: &PgRow) -> Result<Member> {
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
        active: row.try_get("active")?,
    })
}

#[async_trait]
impl Storage for PostgresStorage {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
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
        self.org_ids_impl().await
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
        retrying(|| self.create_message_impl(&new)).await
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
        retrying(|| self.apply_receipts_impl(batch, now)).await
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
        retrying(|| self.fire_due_steps_impl(now, limit)).await
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
        retrying(|| self.remind_unread_impl(message, timing, min_interval, now)).await
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
            "SELECT member_id FROM receipts WHERE message_id = $1 ORDER BY member_id",
        )
        .bind(message.0)
        .fetch_all(&self.pool)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_row_once_within_the_budget() {
        assert!(chunks(0, |_| INT8).is_empty());
        let ranges = chunks(5_000, |_| 2 * INT8);
        assert_eq!(ranges.first().map(|r| r.start), Some(0));
        assert_eq!(ranges.last().map(|r| r.end), Some(5_000));
        assert!(ranges.windows(2).all(|p| p[0].end == p[1].start));
        assert!(ranges.iter().all(|r| r.len() * 2 * INT8 <= BIND_BUDGET));
        let giant = chunks(3, |i| if i == 1 { 3 * BIND_BUDGET } else { 10 });
        assert_eq!(giant, vec![0..1, 1..2, 2..3], "an oversized row goes alone");
    }
}
