//! Webhooks: registration, the queue of deliveries and their attempts.

use async_trait::async_trait;
use jiff::Timestamp;
use readtrack_domain::ids::{OrgId, WebhookId};

use super::{Store, lock};
use crate::db::{Row, q};
use crate::model::*;
use crate::sql::*;
use crate::{Result, Webhooks};

/// How long a claimed delivery is left alone before another attempt may pick it up.
const DELIVERY_LEASE_MS: i64 = 60_000;

fn webhook_from_row(r: &Row) -> Result<WebhookRecord> {
    Ok(WebhookRecord {
        id: WebhookId(r.get("id")?),
        url: r.get("url")?,
        events: r
            .get::<String>("events")?
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect(),
        created_at: ts(r.get("created_at")?),
        disabled_at: ts_opt(r.get("disabled_at")?),
        disabled_reason: r.get("disabled_reason")?,
    })
}

/// The columns [`webhook_from_row`] reads.
const WEBHOOK_COLUMNS: &str = "id, url, events, created_at, disabled_at, disabled_reason";

#[async_trait]
impl Webhooks for Store {
    async fn create_webhook(&self, new: NewWebhook) -> Result<WebhookRecord> {
        let row = q(format!(
            "INSERT INTO webhooks (org_id, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?) RETURNING {WEBHOOK_COLUMNS}"
        ))
        .bind(new.org_id.0)
        .bind(&new.url)
        .bind(new.events.join(","))
        .bind(&new.secret)
        .bind(ms(new.now))
        .fetch_one(&mut self.db.write_conn().await?)
        .await?;
        webhook_from_row(&row)
    }

    async fn webhooks(&self, org: OrgId) -> Result<Vec<WebhookRecord>> {
        // Deleted webhooks are gone; disabled ones stay listed, with why, for the admins.
        let rows = q(format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE org_id = ? AND (active OR disabled_at IS NOT NULL) ORDER BY id"
        ))
            .bind(org.0)
            .fetch_all(&mut self.db.read().await?)
            .await?;
        rows.iter().map(webhook_from_row).collect()
    }

    async fn delete_webhook(&self, org: OrgId, id: WebhookId) -> Result<bool> {
        let done = q(
            "UPDATE webhooks SET active = FALSE, disabled_at = NULL, disabled_reason = NULL
             WHERE id = ? AND org_id = ? AND (active OR disabled_at IS NOT NULL)",
        )
        .bind(id.0)
        .bind(org.0)
        .execute(&mut self.db.write_conn().await?)
        .await?;
        Ok(done > 0)
    }

    async fn webhook_backlog(&self) -> Result<u64> {
        let n: i64 = q("SELECT COUNT(*) FROM webhook_deliveries WHERE delivered_at IS NULL AND abandoned_at IS NULL")
            .scalar(&mut self.db.read().await?)
            .await?;
        Ok(n.max(0) as u64)
    }

    async fn due_deliveries(&self, now: Timestamp, limit: u32) -> Result<Vec<DeliveryJob>> {
        let mut tx = self.db.write().await?;
        let rows = q(format!(
            "SELECT d.id, d.attempts, d.created_at AS queued_at, w.url, w.secret, e.org_id, e.seq, e.kind, e.target_member_id, e.message_id, e.at, e.payload
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
             JOIN events e ON e.org_id = d.org_id AND e.seq = d.event_seq
             WHERE d.delivered_at IS NULL AND d.abandoned_at IS NULL AND d.next_attempt_at <= ? AND w.active
             ORDER BY d.next_attempt_at, d.id LIMIT ?{}",
            // Rows another node is leasing right now are skipped, not waited for.
            lock(self.dialect(), " FOR UPDATE OF d SKIP LOCKED")
        ))
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&mut tx)
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.get("id")?;
            // A lease: the attempt now in flight is not picked up again unless it never reports.
            q("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?")
                .bind(ms(now) + DELIVERY_LEASE_MS)
                .bind(id)
                .execute(&mut tx)
                .await?;
            jobs.push(DeliveryJob {
                id,
                url: r.get("url")?,
                secret: r.get("secret")?,
                attempts: r.get("attempts")?,
                queued_at: ts(r.get("queued_at")?),
                event: super::events::event_from_row(OrgId(r.get("org_id")?), r)?,
            });
        }
        tx.commit().await?;
        Ok(jobs)
    }

    async fn record_delivery(
        &self,
        id: i64,
        result: DeliveryResult,
        now: Timestamp,
    ) -> Result<Option<DisabledWebhook>> {
        match result {
            DeliveryResult::Delivered { status } => {
                q("UPDATE webhook_deliveries SET attempts = attempts + 1, delivered_at = ?, last_status = ?, last_error = NULL WHERE id = ?")
                    .bind(ms(now))
                    .bind(i64::from(status))
                    .bind(id)
                    .execute(&mut self.db.write_conn().await?)
                    .await?;
                Ok(None)
            }
            DeliveryResult::Failed {
                status,
                error,
                retry_at,
            } => {
                q("UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?, last_status = ?, last_error = ? WHERE id = ?")
                    .bind(ms(retry_at))
                    .bind(status.map(i64::from))
                    .bind(error)
                    .bind(id)
                    .execute(&mut self.db.write_conn().await?)
                    .await?;
                Ok(None)
            }
            DeliveryResult::GaveUp { status, error } => {
                let mut tx = self.db.write().await?;
                let queued: Option<(i64, i64)> = q(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, abandoned_at = ?, last_status = ?, last_error = ?
                     WHERE id = ? RETURNING webhook_id, created_at",
                )
                .bind(ms(now))
                .bind(status.map(i64::from))
                .bind(error.as_str())
                .bind(id)
                .optional(&mut tx)
                .await?;
                let Some((webhook, queued_at)) = queued else {
                    tx.commit().await?;
                    return Ok(None);
                };
                // Dead: nothing reached it since this delivery was queued. An endpoint that
                // took later deliveries keeps working; only this one is given up.
                let reason = format!(
                    "disabled after failing every delivery for the retry window; last error: {error}"
                );
                let disabled: Option<(i64, String)> = q(
                    "UPDATE webhooks SET active = FALSE, disabled_at = ?, disabled_reason = ?
                     WHERE id = ? AND active AND NOT EXISTS (
                         SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = webhooks.id AND d.delivered_at >= ?)
                     RETURNING org_id, url",
                )
                .bind(ms(now))
                .bind(reason.as_str())
                .bind(webhook)
                .bind(queued_at)
                .optional(&mut tx)
                .await?;
                tx.commit().await?;
                Ok(disabled.map(|(org, url)| DisabledWebhook {
                    org_id: OrgId(org),
                    id: WebhookId(webhook),
                    url,
                    reason,
                }))
            }
        }
    }

    async fn next_delivery_at(&self) -> Result<Option<Timestamp>> {
        let t: Option<i64> =
            q("SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE delivered_at IS NULL AND abandoned_at IS NULL")
                .scalar(&mut self.db.read().await?)
                .await?;
        Ok(ts_opt(t))
    }

    async fn deliveries(
        &self,
        org: OrgId,
        webhook: WebhookId,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        let rows = q(
            "SELECT d.id, d.webhook_id, e.kind, d.event_seq, d.attempts, d.delivered_at, d.last_status, d.last_error
             FROM webhook_deliveries d JOIN events e ON e.org_id = d.org_id AND e.seq = d.event_seq
             WHERE d.org_id = ? AND d.webhook_id = ? ORDER BY d.id DESC LIMIT ?",
        )
        .bind(org.0)
        .bind(webhook.0)
        .bind(i64::from(limit))
        .fetch_all(&mut self.db.read().await?)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryRecord {
                    id: r.get("id")?,
                    webhook_id: r.get("webhook_id")?,
                    kind: r.get("kind")?,
                    event_seq: r.get("event_seq")?,
                    attempts: r.get("attempts")?,
                    delivered_at: ts_opt(r.get("delivered_at")?),
                    last_status: r.get("last_status")?,
                    last_error: r.get("last_error")?,
                })
            })
            .collect()
    }
}
