//! Tasks, escalation lists and webhooks.

use jiff::Timestamp;
use readtrack_domain::event::Event;
use readtrack_domain::ids::{MemberId, MessageId, OrgId, Seq, TaskId, WebhookId};
use readtrack_domain::receipt::ReceiptState;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStorage;
use crate::model::*;
use crate::sql::*;
use crate::{Result, StorageError};

/// How long a claimed delivery is left alone before another attempt may pick it up.
const DELIVERY_LEASE_MS: i64 = 60_000;

fn task_from_row(r: &SqliteRow) -> Result<TaskRecord> {
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

fn webhook_from_row(r: &SqliteRow) -> Result<WebhookRecord> {
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

impl SqliteStorage {
    pub(crate) async fn tasks_impl(&self, member: MemberId, page: Page) -> Result<Vec<TaskRecord>> {
        let rows = sqlx::query(
            "SELECT t.*, m.title FROM tasks t LEFT JOIN messages m ON m.id = t.message_id
             WHERE t.member_id = ? AND t.id < ? ORDER BY t.id DESC LIMIT ?",
        )
        .bind(member.0)
        .bind(page.after.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(task_from_row).collect()
    }

    pub(crate) async fn complete_task_impl(
        &self,
        member: MemberId,
        task: TaskId,
        now: Timestamp,
    ) -> Result<TaskRecord> {
        let mut tx = self.write_tx().await?;
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT id FROM tasks WHERE id = ? AND member_id = ?")
                .bind(task.0)
                .bind(member.0)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(StorageError::NotFound("task"));
        }
        sqlx::query(
            "UPDATE tasks SET done_at = ?, done_by = 'manual' WHERE id = ? AND done_at IS NULL",
        )
        .bind(ms(now))
        .bind(task.0)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query("SELECT t.*, m.title FROM tasks t LEFT JOIN messages m ON m.id = t.message_id WHERE t.id = ?")
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
            "SELECT e.id, e.message_id, m.title, e.recipient_id, p.name AS recipient_name, e.role, e.created_at, COALESCE(r.state, 0) AS state
             FROM escalations e JOIN messages m ON m.id = e.message_id JOIN members p ON p.id = e.recipient_id
             LEFT JOIN receipts r ON r.message_id = e.message_id AND r.member_id = e.recipient_id
             WHERE e.to_member_id = ? AND e.id < ? ORDER BY e.id DESC LIMIT ?",
        )
        .bind(member.0)
        .bind(page.after.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit))
        .fetch_all(&self.reader)
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
                    state: ReceiptState::from_code(r.try_get("state")?),
                })
            })
            .collect()
    }

    pub(crate) async fn create_webhook_impl(&self, new: NewWebhook) -> Result<WebhookRecord> {
        let row = sqlx::query(
            "INSERT INTO webhooks (org_id, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id, url, events, created_at",
        )
        .bind(new.org_id.0)
        .bind(&new.url)
        .bind(new.events.join(","))
        .bind(&new.secret)
        .bind(ms(new.now))
        .fetch_one(&self.writer)
        .await?;
        webhook_from_row(&row)
    }

    pub(crate) async fn webhooks_impl(&self, org: OrgId) -> Result<Vec<WebhookRecord>> {
        let rows = sqlx::query("SELECT id, url, events, created_at FROM webhooks WHERE org_id = ? AND active = 1 ORDER BY id")
            .bind(org.0)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(webhook_from_row).collect()
    }

    pub(crate) async fn delete_webhook_impl(&self, org: OrgId, id: WebhookId) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE webhooks SET active = 0 WHERE id = ? AND org_id = ? AND active = 1",
        )
        .bind(id.0)
        .bind(org.0)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn due_deliveries_impl(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<DeliveryJob>> {
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(
            "SELECT d.id, d.attempts, w.url, w.secret, e.org_id, e.seq, e.kind, e.target_member_id, e.message_id, e.at, e.payload
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
             JOIN events e ON e.org_id = d.org_id AND e.seq = d.event_seq
             WHERE d.delivered_at IS NULL AND d.next_attempt_at <= ? AND w.active = 1
             ORDER BY d.next_attempt_at, d.id LIMIT ?",
        )
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            // A lease: the attempt now in flight is not picked up again unless it never reports.
            sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?")
                .bind(ms(now) + DELIVERY_LEASE_MS)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let kind: String = r.try_get("kind")?;
            jobs.push(DeliveryJob {
                id,
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
            });
        }
        tx.commit().await?;
        Ok(jobs)
    }

    pub(crate) async fn record_delivery_impl(
        &self,
        id: i64,
        result: DeliveryResult,
        now: Timestamp,
    ) -> Result<()> {
        match result {
            DeliveryResult::Delivered { status } => {
                sqlx::query("UPDATE webhook_deliveries SET attempts = attempts + 1, delivered_at = ?, last_status = ?, last_error = NULL WHERE id = ?")
                    .bind(ms(now))
                    .bind(i64::from(status))
                    .bind(id)
                    .execute(&self.writer)
                    .await?;
            }
            DeliveryResult::Failed {
                status,
                error,
                retry_at,
            } => {
                sqlx::query("UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?, last_status = ?, last_error = ? WHERE id = ?")
                    .bind(ms(retry_at))
                    .bind(status.map(i64::from))
                    .bind(error)
                    .bind(id)
                    .execute(&self.writer)
                    .await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn next_delivery_at_impl(&self) -> Result<Option<Timestamp>> {
        let t: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE delivered_at IS NULL",
        )
        .fetch_one(&self.reader)
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
             WHERE d.org_id = ? AND d.webhook_id = ? ORDER BY d.id DESC LIMIT ?",
        )
        .bind(org.0)
        .bind(webhook.0)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
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
