//! The outbound log: emails queued from the event sequence, leased to a sender, recorded.

use async_trait::async_trait;
use jiff::Timestamp;
use readtrack_domain::ids::{MemberId, MessageId, OrgId, Seq};

use super::{Store, json_id_list, json_ints, lock};
use crate::db::{Row, q};
use crate::sql::*;
use crate::{
    NewOutbound, Outbound, OutboundJob, OutboundLink, OutboundOutcome, OutboundRecord,
    Reachability, Result,
};

/// The columns [`record_from_row`] reads.
pub(crate) const LOG_COLUMNS: &str = "id, member_id, message_id, channel, reason, queued_at, sent_at, skipped_at, failed_at, answer, opened_at";

pub(crate) fn record_from_row(r: &Row) -> Result<OutboundRecord> {
    Ok(OutboundRecord {
        id: r.get("id")?,
        member: MemberId(r.get("member_id")?),
        message: MessageId(r.get("message_id")?),
        channel: r.get("channel")?,
        reason: r.get("reason")?,
        queued_at: ts(r.get("queued_at")?),
        sent_at: ts_opt(r.get("sent_at")?),
        skipped_at: ts_opt(r.get("skipped_at")?),
        failed_at: ts_opt(r.get("failed_at")?),
        answer: r.get("answer")?,
        opened_at: ts_opt(r.get("opened_at")?),
    })
}

#[async_trait]
impl Outbound for Store {
    async fn outbound_cursor(&self, org: OrgId, channel: &str) -> Result<Seq> {
        let seq: Option<i64> =
            q("SELECT last_seq FROM outbound_cursors WHERE org_id = ? AND channel = ?")
                .bind(org.0)
                .bind(channel)
                .scalar_opt(&mut self.db.read().await?)
                .await?;
        Ok(Seq(seq.unwrap_or(0)))
    }

    async fn queue_outbound(
        &self,
        org: OrgId,
        channel: &str,
        items: &[NewOutbound],
        through: Seq,
        now: Timestamp,
    ) -> Result<u64> {
        let mut tx = self.db.write().await?;
        let mut queued = 0;
        for item in items {
            // One person, or every recipient of the notice; either way only active
            // members whose address was never refused.
            let (who, member_bind) = match item.member {
                Some(m) => ("m.id = ?", Some(m.0)),
                None => (
                    "m.id IN (SELECT r.member_id FROM receipts r WHERE r.message_id = ?)",
                    None,
                ),
            };
            let about = match item.about {
                Some(a) => a.0.to_string(),
                None => "m.id".to_string(),
            };
            let sql = format!(
                "INSERT INTO outbound (org_id, event_seq, member_id, about_member_id, message_id, channel, reason, queued_at, next_attempt_at)
                 SELECT ?, ?, m.id, {about}, ?, ?, ?, ?, ? FROM members m
                 WHERE m.org_id = ? AND m.active AND m.email_failed_at IS NULL AND {who}
                 ON CONFLICT (org_id, event_seq, member_id, channel) DO NOTHING"
            );
            queued += q(sql)
                .bind(org.0)
                .bind(item.event_seq.0)
                .bind(item.message.0)
                .bind(channel)
                .bind(item.reason)
                .bind(ms(now))
                .bind(ms(item.not_before.max(now)))
                .bind(org.0)
                .bind(member_bind.unwrap_or(item.message.0))
                .execute(&mut tx)
                .await?;
        }
        q("INSERT INTO outbound_cursors (org_id, channel, last_seq) VALUES (?, ?, ?)
           ON CONFLICT (org_id, channel) DO UPDATE SET last_seq =
             CASE WHEN excluded.last_seq > outbound_cursors.last_seq THEN excluded.last_seq ELSE outbound_cursors.last_seq END")
            .bind(org.0)
            .bind(channel)
            .bind(through.0)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(queued)
    }

    async fn due_outbound(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboundJob>> {
        let mut tx = self.db.write().await?;
        let rows = q(format!(
            "SELECT id, org_id, member_id, about_member_id, message_id, event_seq, channel, reason, attempts, queued_at,
                    (SELECT m.language FROM members m WHERE m.id = outbound.member_id) AS language,
                    (SELECT m.email_reminders_off FROM members m WHERE m.id = outbound.member_id) AS reminders_off
             FROM outbound WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ?
             ORDER BY next_attempt_at, id LIMIT ?{}",
            // Rows another node is leasing right now are skipped, not waited for.
            lock(self.dialect(), " FOR UPDATE SKIP LOCKED")
        ))
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&mut tx)
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.get("id")?;
            q("UPDATE outbound SET next_attempt_at = ? WHERE id = ?")
                .bind(ms(lease_until))
                .bind(id)
                .execute(&mut tx)
                .await?;
            jobs.push(OutboundJob {
                id,
                org: OrgId(r.get("org_id")?),
                member: MemberId(r.get("member_id")?),
                about: MemberId(r.get("about_member_id")?),
                message: MessageId(r.get("message_id")?),
                event_seq: Seq(r.get("event_seq")?),
                channel: r.get("channel")?,
                reason: r.get("reason")?,
                attempts: r.get("attempts")?,
                queued_at: ts(r.get("queued_at")?),
                language: r.get("language")?,
                reminders_off: r.get::<Option<bool>>("reminders_off")?.unwrap_or(false),
            });
        }
        tx.commit().await?;
        Ok(jobs)
    }

    async fn set_outbound_link(&self, id: i64, hash: &[u8], expires_at: Timestamp) -> Result<()> {
        let mut tx = self.db.write().await?;
        q("UPDATE outbound SET link_hash = ?, link_expires_at = ? WHERE id = ?")
            .bind(hash)
            .bind(ms(expires_at))
            .bind(id)
            .execute(&mut tx)
            .await?;
        tx.commit().await
    }

    async fn finish_outbound(
        &self,
        id: i64,
        outcome: OutboundOutcome,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.db.write().await?;
        let (sql, answer, at): (&str, Option<String>, i64) = match outcome {
            OutboundOutcome::Sent(answer) => (
                "UPDATE outbound SET attempts = attempts + 1, sent_at = ?, next_attempt_at = NULL, answer = ? WHERE id = ?",
                Some(answer),
                ms(now),
            ),
            OutboundOutcome::Skipped(why) => (
                "UPDATE outbound SET skipped_at = ?, next_attempt_at = NULL, answer = ? WHERE id = ?",
                Some(why),
                ms(now),
            ),
            OutboundOutcome::Later(at, None) => (
                "UPDATE outbound SET next_attempt_at = ?, answer = COALESCE(?, answer) WHERE id = ?",
                None,
                ms(at),
            ),
            OutboundOutcome::Later(at, Some(answer)) => (
                "UPDATE outbound SET attempts = attempts + 1, next_attempt_at = ?, answer = ? WHERE id = ?",
                Some(answer),
                ms(at),
            ),
            OutboundOutcome::Failed {
                answer,
                member_unreachable,
            } => {
                if member_unreachable {
                    q("UPDATE members SET email_failed_at = ?, email_failure = ?
                       WHERE id = (SELECT member_id FROM outbound WHERE id = ?)")
                    .bind(ms(now))
                    .bind(&answer)
                    .bind(id)
                    .execute(&mut tx)
                    .await?;
                }
                (
                    "UPDATE outbound SET attempts = attempts + 1, failed_at = ?, next_attempt_at = NULL, answer = ? WHERE id = ?",
                    Some(answer),
                    ms(now),
                )
            }
        };
        q(sql)
            .bind(at)
            .bind(answer)
            .bind(id)
            .execute(&mut tx)
            .await?;
        tx.commit().await
    }

    async fn open_outbound_link(
        &self,
        hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<OutboundLink>> {
        let mut tx = self.db.write().await?;
        let row = q("SELECT org_id, member_id, message_id FROM outbound
                     WHERE link_hash = ? AND link_expires_at > ?")
        .bind(hash)
        .bind(ms(now))
        .fetch_optional(&mut tx)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        q("UPDATE outbound SET opened_at = ? WHERE link_hash = ? AND opened_at IS NULL")
            .bind(ms(now))
            .bind(hash)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(Some(OutboundLink {
            org: OrgId(r.get("org_id")?),
            member: MemberId(r.get("member_id")?),
            message: MessageId(r.get("message_id")?),
        }))
    }

    async fn outbound_log(
        &self,
        message: MessageId,
        members: &[MemberId],
    ) -> Result<Vec<OutboundRecord>> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        q(format!(
            "SELECT {LOG_COLUMNS} FROM outbound WHERE message_id = ? AND member_id IN {} ORDER BY id",
            json_ints(self.dialect())
        ))
        .bind(message.0)
        .bind(json_id_list(members.iter().map(|m| m.0)))
        .fetch_all(&mut self.db.read().await?)
        .await?
        .iter()
        .map(record_from_row)
        .collect()
    }

    async fn next_outbound_at(&self) -> Result<Option<Timestamp>> {
        let next: Option<i64> = q("SELECT MIN(next_attempt_at) FROM outbound")
            .scalar_opt(&mut self.db.read().await?)
            .await?
            .flatten();
        Ok(ts_opt(next))
    }

    async fn member_language(&self, member: MemberId) -> Result<Option<String>> {
        Ok(q("SELECT language FROM members WHERE id = ?")
            .bind(member.0)
            .scalar_opt::<Option<String>>(&mut self.db.read().await?)
            .await?
            .flatten())
    }

    async fn set_member_language(&self, member: MemberId, language: &str) -> Result<()> {
        let mut tx = self.db.write().await?;
        q("UPDATE members SET language = ? WHERE id = ? AND (language IS NULL OR language <> ?)")
            .bind(language)
            .bind(member.0)
            .bind(language)
            .execute(&mut tx)
            .await?;
        tx.commit().await
    }

    async fn email_reminders_off(&self, member: MemberId) -> Result<bool> {
        Ok(q("SELECT email_reminders_off FROM members WHERE id = ?")
            .bind(member.0)
            .scalar_opt::<bool>(&mut self.db.read().await?)
            .await?
            .unwrap_or(false))
    }

    async fn set_email_reminders_off(&self, member: MemberId, off: bool) -> Result<()> {
        let mut tx = self.db.write().await?;
        q("UPDATE members SET email_reminders_off = ? WHERE id = ?")
            .bind(off)
            .bind(member.0)
            .execute(&mut tx)
            .await?;
        tx.commit().await
    }

    async fn reachability(&self, org: OrgId) -> Result<Reachability> {
        let r = q("SELECT COUNT(*) AS active,
                          COALESCE(SUM(CASE WHEN email_failed_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS refused,
                          COALESCE(SUM(CASE WHEN email_reminders_off THEN 1 ELSE 0 END), 0) AS off
                   FROM members WHERE org_id = ? AND active")
        .bind(org.0)
        .fetch_one(&mut self.db.read().await?)
        .await?;
        Ok(Reachability {
            active: r.get("active")?,
            email_refused: r.get("refused")?,
            reminders_off: r.get("off")?,
        })
    }

    async fn unreachable_members(&self, org: OrgId) -> Result<Vec<(MemberId, String)>> {
        let rows = q("SELECT id, email_failure FROM members
                      WHERE org_id = ? AND email_failed_at IS NOT NULL ORDER BY id")
        .bind(org.0)
        .fetch_all(&mut self.db.read().await?)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    MemberId(r.get("id")?),
                    r.get::<Option<String>>("email_failure")?
                        .unwrap_or_default(),
                ))
            })
            .collect()
    }
}
