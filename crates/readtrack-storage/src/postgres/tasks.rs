//! Tasks, escalation lists and webhooks.

use jiff::Timestamp;
use readtrack_domain::event::Event;
use readtrack_domain::ids::{MemberId, MessageId, OrgId, Seq, TaskId, WebhookId};
use readtrack_domain::receipt::ReceiptState;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStorage;
use crate::model::*;
use crate::sql::*;
use crate::{Result, StorageError};

/// How long a claimed delivery is left alone before another attempt may pick it up.
const DELIVERY_LEASE_MS: i64 = 60_000;

const TASK_COLUMNS: &str =
    "t.id, t.message_id, t.member_id, t.reason, t.created_at, t.done_at, t.done_by, m.title";

fn task_from_row(r: &PgRow) -> Result<TaskRecord> {
    Ok(TaskRecord {
        id: TaskId(r.try_get("id")?),
        message_id: MessageId(r.try_get("message_id")?),
        member_id: MemberId(r.try_get("member_id")?),
        reason: r.try_get("reason")?,
        created_at: ts(r.try_get("created_at")?),
        done_at: ts_opt(r.try_get("done_at")?),
        done_by: r.try_get("done_by")?,
        title: r.try_get::<Option<String>, _>("title")?.unwrap_or_default(),
    })
}

fn webhook_from_row(r: &PgRow) -> Result<WebhookRecord> {
    Ok(WebhookRecord {
        id: WebhookId(r.try_get("id")?),
        url: r.try_get("url")?,
        events: r
            .try_get::<String, _>("events")?
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect(),
        created_at: ts(r.try_get("created_at")?),
    })
}

impl PostgresStorage {
    pub(crate) async fn tasks_impl(&self, member: MemberId, page: Page) -> Result<Vec<TaskRecord>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks t LEFT JOIN messages m ON m.id = t.message_id
             WHERE t.member_id = $1 AND t.id < $2 ORDER BY t.id DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(member.0)
            .bind(page.after.unwrap_or(i64::MAX))
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(task_from_row).collect()
    }

    pub(crate) async fn complete_task_impl(
        &self,
        member: MemberId,
        task: TaskId,
        now: Timestamp,
    ) -> Result<TaskRecord> {
        let mut tx = self.pool.begin().await?;
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT id FROM tasks WHERE id = $1 AND member_id = $2")
                .bind(task.0)
                .bind(member.0)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(StorageError::NotFound("task"));
        }
        sqlx::query(
            "UPDATE tasks SET done_at = $1, done_by = 'manual' WHERE id = $2 AND done_at IS NULL",
        )
        .bind(ms(now))
        .bind(task.0)
        .execute(&mut *tx)
        .await?;
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks t LEFT JOIN messages m ON m.id = t.message_id WHERE t.id = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(task.0)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        task_from_row(&row)
    }

    pub(crate) async fn escalations_to_impl(
        &self,
        member: MemberId,
        page: Page,
    ) -> Result<Vec<EscalationRecord>> {
        let rows = sqlx::query(
            "SELECT e.id, e.message_id, m.title, e.recipient_id, p.name AS recipient_name, e.role, e.created_at, COALESCE(r.state, 0::int2) AS state
             FROM escalations e JOIN messages m ON m.id = e.message_id JOIN members p ON p.id = e.recipient_id
             LEFT JOIN receipts r ON r.message_id = e.message_id AND r.member_id = e.recipient_id
             WHERE e.to_member_id = $1 AND e.id < $2 ORDER BY e.id DESC LIMIT $3",
        )
        .bind(member.0)
        .bind(page.after.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EscalationRecord {
                    id: r.try_get("id")?,
                    message_id: MessageId(r.try_get("message_id")?),
                    title: r.try_get("title")?,
                    recipient_id: MemberId(r.try_get("recipient_id")?),
                    recipient_name: r.try_get("recipient_name")?,
                    role: r.try_get("role")?,
                    created_at: ts(r.try_get("created_at")?),
                    state: ReceiptState::from_code(i64::from(r.try_get::<i16, _>("state")?)),
                })
            })
            .collect()
    }

    pub(crate) async fn create_webhook_impl(&self, new: NewWebhook) -> Result<WebhookRecord> {
        let row = sqlx::query(
            "INSERT INTO webhooks (org_id, url, events, secret, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id, url, events, created_at",
        )
        .bind(new.org_id.0)
        .bind(&new.url)
        .bind(new.events.join(","))
        .bind(&new.secret)
        .bind(ms(new.now))
        .fetch_one(&self.pool)
        .await?;
        webhook_from_row(&row)
    }

    pub(crate) async fn webhooks_impl(&self, org: OrgId) -> Result<Vec<WebhookRecord>> {
        let rows = sqlx::query(
            "SELECT id, url, events, created_at FROM webhooks WHERE org_id = $1 AND active ORDER BY id",
        )
        .bind(org.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(webhook_from_row).collect()
    }

    pub(crate) async fn delete_webhook_impl(&self, org: OrgId, id: WebhookId) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE webhooks SET active = FALSE WHERE id = $1 AND org_id = $2 AND active",
        )
        .bind(id.0)
        .bind(org.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn due_deliveries_impl(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<DeliveryJob>> {
        // Claim and lease in one statement: rows another node is leasing right now are
        // skipped, and the lease (a later next attempt) keeps the attempt in flight from
        // being picked up again unless it never reports.
        let rows = sqlx::query(
            "WITH claimed AS (
                 SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                 WHERE d.delivered_at IS NULL AND d.next_attempt_at <= $1 AND w.active
                 ORDER BY d.next_attempt_at, d.id LIMIT $2
                 FOR UPDATE OF d SKIP LOCKED
             ), leased AS (
                 UPDATE webhook_deliveries d SET next_attempt_at = $3 FROM claimed
                 WHERE d.id = claimed.id
                 RETURNING d.id, d.webhook_id, d.org_id, d.event_seq, d.attempts
             )
             SELECT l.id, l.attempts, w.url, w.secret, e.org_id, e.seq, e.kind, e.target_member_id, e.message_id, e.at, e.payload
             FROM leased l JOIN webhooks w ON w.id = l.webhook_id
             JOIN events e ON e.org_id = l.org_id AND e.seq = l.event_seq
             ORDER BY l.id",
        )
        .bind(ms(now))
        .bind(i64::from(limit))
        .bind(ms(now) + DELIVERY_LEASE_MS)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                Ok(DeliveryJob {
                    id: r.try_get("id")?,
                    url: r.try_get("url")?,
                    secret: r.try_get("secret")?,
                    attempts: r.try_get("attempts")?,
                    event: Event {
                        seq: Seq(r.try_get("seq")?),
                        org_id: OrgId(r.try_get("org_id")?),
                        at: ts(r.try_get("at")?),
                        body: decode_payload(
                            &kind,
                            r.try_get("target_member_id")?,
                            r.try_get("message_id")?,
                            &r.try_get::<String, _>("payload")?,
                        )?,
                    },
                })
            })
            .collect()
    }

    pub(crate) async fn record_delivery_impl(
        &self,
        id: i64,
        result: DeliveryResult,
        now: Timestamp,
    ) -> Result<()> {
        match result {
            DeliveryResult::Delivered { status } => {
                sqlx::query("UPDATE webhook_deliveries SET attempts = attempts + 1, delivered_at = $1, last_status = $2, last_error = NULL WHERE id = $3")
                    .bind(ms(now))
                    .bind(i64::from(status))
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
            }
            DeliveryResult::Failed {
                status,
                error,
                retry_at,
            } => {
                sqlx::query("UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $1, last_status = $2, last_error = $3 WHERE id = $4")
                    .bind(ms(retry_at))
                    .bind(status.map(i64::from))
                    .bind(error)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn next_delivery_at_impl(&self) -> Result<Option<Timestamp>> {
        let t: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE delivered_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(ts_opt(t))
    }

    pub(crate) async fn deliveries_impl(
        &self,
        org: OrgId,
        webhook: WebhookId,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        let rows = sqlx::query(
            "SELECT d.id, d.webhook_id, e.kind, d.event_seq, d.attempts, d.delivered_at, d.last_status, d.last_error
             FROM webhook_deliveries d JOIN events e ON e.org_id = d.org_id AND e.seq = d.event_seq
             WHERE d.org_id = $1 AND d.webhook_id = $2 ORDER BY d.id DESC LIMIT $3",
        )
        .bind(org.0)
        .bind(webhook.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryRecord {
                    id: r.try_get("id")?,
                    webhook_id: r.try_get("webhook_id")?,
                    kind: r.try_get("kind")?,
                    event_seq: r.try_get("event_seq")?,
                    attempts: r.try_get("attempts")?,
                    delivered_at: ts_opt(r.try_get("delivered_at")?),
                    last_status: r.try_get("last_status")?,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect()
    }
}
