//! Webhooks: registration, the queue of deliveries and their attempts.

use async_trait::async_trait;
use jiff::Timestamp;
use readtrack_domain::event::Event;
use readtrack_domain::ids::{OrgId, Seq, WebhookId};

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
    })
}

#[async_trait]
impl Webhooks for Store {
    async fn create_webhook(&self, new: NewWebhook) -> Result<WebhookRecord> {
        let row = q(
            "INSERT INTO webhooks (org_id, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id, url, events, created_at",
        )
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
        let rows = q("SELECT id, url, events, created_at FROM webhooks WHERE org_id = ? AND active ORDER BY id")
            .bind(org.0)
            .fetch_all(&mut self.db.read().await?)
            .await?;
        rows.iter().map(webhook_from_row).collect()
    }

    async fn delete_webhook(&self, org: OrgId, id: WebhookId) -> Result<bool> {
        let done = q("UPDATE webhooks SET active = FALSE WHERE id = ? AND org_id = ? AND active")
            .bind(id.0)
            .bind(org.0)
            .execute(&mut self.db.write_conn().await?)
            .await?;
        Ok(done > 0)
    }

    async fn due_deliveries(&self, now: Timestamp, limit: u32) -> Result<Vec<DeliveryJob>> {
        let mut tx = self.db.write().await?;
        let rows = q(format!(
            "SELECT d.id, d.attempts, w.url, w.secret, e.org_id, e.seq, e.kind, e.target_member_id, e.message_id, e.at, e.payload
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
             JOIN events e ON e.org_id = d.org_id AND e.seq = d.event_seq
             WHERE d.delivered_at IS NULL AND d.next_attempt_at <= ? AND w.active
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
            let kind: String = r.get("kind")?;
            jobs.push(DeliveryJob {
                id,
                url: r.get("url")?,
                secret: r.get("secret")?,
                attempts: r.get("attempts")?,
                event: Event {
                    seq: Seq(r.get("seq")?),
                    org_id: OrgId(r.get("org_id")?),
                    at: ts(r.get("at")?),
                    body: decode_payload(
                        &kind,
                        r.get("target_member_id")?,
                        r.get("message_id")?,
                        &r.get::<String>("payload")?,
                    )?,
                },
            });
        }
        tx.commit().await?;
        Ok(jobs)
    }

    async fn record_delivery(&self, id: i64, result: DeliveryResult, now: Timestamp) -> Result<()> {
        match result {
            DeliveryResult::Delivered { status } => {
                q("UPDATE webhook_deliveries SET attempts = attempts + 1, delivered_at = ?, last_status = ?, last_error = NULL WHERE id = ?")
                    .bind(ms(now))
                    .bind(i64::from(status))
                    .bind(id)
                    .execute(&mut self.db.write_conn().await?)
                    .await?;
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
            }
        }
        Ok(())
    }

    async fn next_delivery_at(&self) -> Result<Option<Timestamp>> {
        let t: Option<i64> =
            q("SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE delivered_at IS NULL")
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
