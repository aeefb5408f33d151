//! Audit, the member export, retention, analytics figures and pulse surveys.

use async_trait::async_trait;
use jiff::Timestamp;
use readtrack_domain::analytics::{DepartmentStats, Histogram, LiveReceipt, LiveStatsFold};
use readtrack_domain::ids::{DepartmentId, MemberId, MessageId, OrgId, SurveyId};
use readtrack_domain::message::Tracking;
use readtrack_domain::receipt::ReceiptState;

use super::directory::fetch_member;
use super::messages::{RECEIPT_COLUMNS, receipt_from_row};
use super::tasks::task_from_row;
use super::{Store, lock};
use crate::db::{Row, conflict_on_unique, q};
use crate::model::*;
use crate::sql::*;
use crate::{Governance, Result, StorageError};

fn audit_from_row(r: &Row) -> Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.get("id")?,
        at: ts(r.get("at")?),
        actor_id: r.get::<Option<i64>>("actor_id")?.map(MemberId),
        actor_name: r.get("actor_name")?,
        action: r.get("action")?,
        subject: r.get("subject")?,
    })
}

fn encode_hist(h: &Histogram) -> String {
    // Trailing empty buckets are dropped; the common case is a short string.
    let counts = h.counts();
    let last = counts
        .iter()
        .rposition(|c| *c > 0)
        .map(|i| i + 1)
        .unwrap_or(0);
    counts[..last]
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_hist(s: &str) -> Histogram {
    let counts: Vec<u64> = s.split(',').filter_map(|c| c.parse().ok()).collect();
    Histogram::from_counts(&counts)
}

fn survey_from_row(r: &Row) -> Result<SurveyRecord> {
    Ok(SurveyRecord {
        id: SurveyId(r.get("id")?),
        title: r.get("title")?,
        scope: split_ids(&r.get::<String>("scope")?)
            .into_iter()
            .map(DepartmentId)
            .collect(),
        created_at: ts(r.get("created_at")?),
        closes_at: ts_opt(r.get("closes_at")?),
    })
}

/// One row of [`LIVE_STATS_SQL`] as the analytics fold reads it.
fn live_receipt(r: &Row) -> Result<LiveReceipt> {
    Ok(LiveReceipt {
        message_id: MessageId(r.get("message_id")?),
        department_id: DepartmentId(r.get("department_id")?),
        created_at: ts(r.get("created_at")?),
        deadline: ts_opt(r.get("deadline")?),
        state: ReceiptState::from_code(r.get("state")?),
        read_at: ts_opt(r.get("read_at")?),
        acked_at: ts_opt(r.get("acked_at")?),
        reminders: r.get("reminder_count")?,
        escalated: r.get::<Option<i64>>("escalated_at")?.is_some(),
    })
}

const LIVE_STATS_SQL: &str = "SELECT m.id AS message_id, m.created_at, m.deadline, r.department_id, r.state, r.read_at, r.acked_at, r.reminders AS reminder_count, r.escalated_at
     FROM messages m JOIN receipts r ON r.message_id = m.id";

#[async_trait]
impl Governance for Store {
    async fn record_audit(&self, e: NewAudit) -> Result<()> {
        let mut tx = self.db.write().await?;
        let id: i64 = q(
            "INSERT INTO audit_log (org_id, at, actor_id, action, subject) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(e.org_id.0)
        .bind(ms(e.now))
        .bind(e.actor_id.map(|m| m.0))
        .bind(&e.action)
        .bind(&e.subject)
        .scalar(&mut tx)
        .await?;
        for chunk in e.members.chunks(500) {
            let sql = format!(
                "INSERT INTO audit_subjects (audit_id, member_id) VALUES {} ON CONFLICT DO NOTHING",
                placeholders(chunk.len(), 2)
            );
            let mut q = q(sql);
            for m in chunk {
                q = q.bind(id).bind(m.0);
            }
            q.execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn audit_log(&self, org: OrgId, page: Page) -> Result<Vec<AuditRecord>> {
        let rows = q(
            "SELECT a.id, a.at, a.actor_id, p.name AS actor_name, a.action, a.subject FROM audit_log a
             LEFT JOIN members p ON p.id = a.actor_id WHERE a.org_id = ? AND a.id < ? ORDER BY a.id DESC LIMIT ?",
        )
        .bind(org.0)
        .bind(page.after.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit))
        .fetch_all(&mut self.db.read().await?)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn export_member(&self, org: OrgId, member: MemberId) -> Result<MemberExport> {
        // One snapshot for the whole export, so its parts agree with each other.
        let mut conn = self.db.snapshot().await?;
        let m = fetch_member(&mut conn, org, member)
            .await?
            .ok_or(StorageError::NotFound("member"))?;
        let acked: Option<i64> = q("SELECT policy_acked_at FROM members WHERE id = ?")
            .bind(member.0)
            .scalar(&mut conn)
            .await?;
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS}, m.title, m.tracking, m.created_at AS sent_at, s.name AS sender_name
             FROM receipts r JOIN messages m ON m.id = r.message_id LEFT JOIN members s ON s.id = m.sender_id
             WHERE r.member_id = ? ORDER BY r.message_id"
        );
        let rows = q(sql).bind(member.0).fetch_all(&mut conn).await?;
        let mut receipts = Vec::with_capacity(rows.len());
        for r in &rows {
            let tracking: String = r.get("tracking")?;
            receipts.push(ExportedReceipt {
                title: r.get("title")?,
                sender_name: r.get::<Option<String>>("sender_name")?.unwrap_or_default(),
                tracking: Tracking::parse("tracking", &tracking)
                    .map_err(|_| StorageError::Corrupt("tracking".into()))?,
                sent_at: ts(r.get("sent_at")?),
                receipt: receipt_from_row(r)?,
            });
        }
        let esc = q(
            "SELECT e.message_id, m.title, e.to_member_id, p.name AS to_name, e.role, e.created_at FROM escalations e
             JOIN messages m ON m.id = e.message_id LEFT JOIN members p ON p.id = e.to_member_id
             WHERE e.recipient_id = ? ORDER BY e.id",
        )
        .bind(member.0)
        .fetch_all(&mut conn)
        .await?;
        let escalations = esc
            .iter()
            .map(|r| {
                Ok(ExportedEscalation {
                    message_id: MessageId(r.get("message_id")?),
                    title: r.get("title")?,
                    to_member_id: MemberId(r.get("to_member_id")?),
                    to_name: r.get::<Option<String>>("to_name")?.unwrap_or_default(),
                    role: r.get("role")?,
                    at: ts(r.get("created_at")?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let task_rows = q(
            "SELECT t.*, m.title FROM tasks t LEFT JOIN messages m ON m.id = t.message_id WHERE t.member_id = ? ORDER BY t.id",
        )
        .bind(member.0)
        .fetch_all(&mut conn)
        .await?;
        let tasks = task_rows
            .iter()
            .map(task_from_row)
            .collect::<Result<Vec<_>>>()?;
        let view_rows = q(
            "SELECT a.id, a.at, a.actor_id, p.name AS actor_name, a.action, a.subject FROM audit_subjects s
             JOIN audit_log a ON a.id = s.audit_id LEFT JOIN members p ON p.id = a.actor_id
             WHERE s.member_id = ? ORDER BY a.id",
        )
        .bind(member.0)
        .fetch_all(&mut conn)
        .await?;
        let views = view_rows
            .iter()
            .map(audit_from_row)
            .collect::<Result<Vec<_>>>()?;
        let emails = q(format!(
            "SELECT {} FROM outbound WHERE member_id = ? ORDER BY id",
            super::outbound::LOG_COLUMNS
        ))
        .bind(member.0)
        .fetch_all(&mut conn)
        .await?
        .iter()
        .map(super::outbound::record_from_row)
        .collect::<Result<Vec<_>>>()?;
        Ok(MemberExport {
            member: m,
            policy_acked_at: ts_opt(acked),
            receipts,
            escalations,
            tasks,
            views,
            emails,
        })
    }

    async fn purge_before(
        &self,
        org: OrgId,
        cutoff: Timestamp,
        now: Timestamp,
    ) -> Result<PurgeCounts> {
        let mut counts = PurgeCounts::default();
        let expired: Vec<i64> = q(
            "SELECT id FROM messages WHERE org_id = ? AND created_at < ? AND purged_at IS NULL ORDER BY id",
        )
        .bind(org.0)
        .bind(ms(cutoff))
        .scalars(&mut self.db.read().await?)
        .await?;
        // One notice per transaction keeps each commit short on a large organisation.
        for id in expired {
            if let Some(removed) = self
                .db
                .retrying(|| self.purge_message(org, id, now))
                .await?
            {
                counts.receipts += removed;
                counts.messages += 1;
            }
        }
        let mut tx = self.db.write().await?;
        const EXPIRED_EVENTS: &str = "FROM events WHERE org_id = ? AND at < ?
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.org_id = events.org_id AND d.event_seq = events.seq AND d.delivered_at IS NULL AND d.abandoned_at IS NULL)";
        // Remembered, so a stream resuming from before it is told it missed events.
        let purged_through: Option<i64> = q(format!("SELECT MAX(seq) {EXPIRED_EVENTS}"))
            .bind(org.0)
            .bind(ms(cutoff))
            .scalar(&mut tx)
            .await?;
        let events = q(format!("DELETE {EXPIRED_EVENTS}"))
            .bind(org.0)
            .bind(ms(cutoff))
            .execute(&mut tx)
            .await?;
        if let Some(seq) = purged_through {
            q("UPDATE orgs SET events_purged_through = ?1 WHERE id = ?2 AND events_purged_through < ?1")
                .bind(seq)
                .bind(org.0)
                .execute(&mut tx)
                .await?;
        }
        counts.events = events;
        q(
            "DELETE FROM webhook_deliveries WHERE org_id = ?1 AND (delivered_at < ?2 OR abandoned_at < ?2)",
        )
        .bind(org.0)
        .bind(ms(cutoff))
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(counts)
    }

    async fn department_stats(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<MessageDepartmentStats>> {
        let sql = format!(
            "{LIVE_STATS_SQL} WHERE m.org_id = ? AND m.created_at >= ? AND m.created_at < ? AND m.tracking <> 'off' AND m.purged_at IS NULL"
        );
        let mut fold = LiveStatsFold::default();
        q(sql)
            .bind(org.0)
            .bind(ms(from))
            .bind(ms(to))
            .for_each(&mut self.db.read().await?, |r| {
                fold.add(live_receipt(&r)?, now);
                Ok(())
            })
            .await?;
        let mut out = fold.finish();
        let kept = q("SELECT * FROM department_stats WHERE org_id = ? AND created_at >= ? AND created_at < ?")
            .bind(org.0)
            .bind(ms(from))
            .bind(ms(to))
            .fetch_all(&mut self.db.read().await?)
            .await?;
        for r in &kept {
            let n = |c: &str| -> Result<u64> { Ok(r.get::<i64>(c)?.max(0) as u64) };
            out.push(MessageDepartmentStats {
                message_id: MessageId(r.get("message_id")?),
                created_at: ts(r.get("created_at")?),
                department_id: DepartmentId(r.get("department_id")?),
                stats: DepartmentStats {
                    recipients: n("recipients")?,
                    read: n("read")?,
                    acknowledged: n("acknowledged")?,
                    reminders: n("reminders")?,
                    escalations: n("escalations")?,
                    unread_at_deadline: n("unread_at_deadline")?,
                    with_deadline: n("with_deadline")?,
                    read_delays: decode_hist(&r.get::<String>("read_delays")?),
                    ack_delays: decode_hist(&r.get::<String>("ack_delays")?),
                },
            });
        }
        out.sort_by_key(|s| (s.message_id, s.department_id));
        Ok(out)
    }

    async fn create_survey(&self, new: NewSurvey) -> Result<SurveyRecord> {
        let row = q(
            "INSERT INTO surveys (org_id, title, scope, created_by, created_at, closes_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(new.org_id.0)
        .bind(&new.title)
        .bind(join_ids(new.scope.iter().map(|d| d.0)))
        .bind(new.created_by.0)
        .bind(ms(new.now))
        .bind(new.closes_at.map(ms))
        .fetch_one(&mut self.db.write_conn().await?)
        .await?;
        survey_from_row(&row)
    }

    async fn surveys(&self, org: OrgId) -> Result<Vec<SurveyRecord>> {
        let rows = q("SELECT * FROM surveys WHERE org_id = ? ORDER BY id DESC")
            .bind(org.0)
            .fetch_all(&mut self.db.read().await?)
            .await?;
        rows.iter().map(survey_from_row).collect()
    }

    async fn survey(&self, org: OrgId, id: SurveyId) -> Result<Option<SurveyRecord>> {
        let row = q("SELECT * FROM surveys WHERE org_id = ? AND id = ?")
            .bind(org.0)
            .bind(id.0)
            .fetch_optional(&mut self.db.read().await?)
            .await?;
        row.as_ref().map(survey_from_row).transpose()
    }

    async fn close_survey(
        &self,
        org: OrgId,
        id: SurveyId,
        now: Timestamp,
    ) -> Result<Option<SurveyRecord>> {
        let mut conn = self.db.write_conn().await?;
        q("UPDATE surveys SET closes_at = ? WHERE org_id = ? AND id = ? AND (closes_at IS NULL OR closes_at > ?)")
            .bind(ms(now))
            .bind(org.0)
            .bind(id.0)
            .bind(ms(now))
            .execute(&mut conn)
            .await?;
        let row = q("SELECT * FROM surveys WHERE org_id = ? AND id = ?")
            .bind(org.0)
            .bind(id.0)
            .fetch_optional(&mut conn)
            .await?;
        row.as_ref().map(survey_from_row).transpose()
    }

    async fn has_answered(&self, survey: SurveyId, member: MemberId) -> Result<bool> {
        let n: i64 =
            q("SELECT COUNT(*) FROM survey_participation WHERE survey_id = ? AND member_id = ?")
                .bind(survey.0)
                .bind(member.0)
                .scalar(&mut self.db.read().await?)
                .await?;
        Ok(n > 0)
    }

    async fn answer_survey(
        &self,
        survey: SurveyId,
        member: MemberId,
        a: SurveyAnswer,
    ) -> Result<()> {
        let mut tx = self.db.write().await?;
        q("INSERT INTO survey_participation (survey_id, member_id) VALUES (?, ?)")
            .bind(survey.0)
            .bind(member.0)
            .execute(&mut tx)
            .await
            .map_err(|e| conflict_on_unique(e, "you have already answered this survey"))?;
        // A random key: answers sort in no meaningful order, so they cannot be matched to
        // participation rows by position or time.
        q("INSERT INTO survey_answers (id, survey_id, department_id, monitored, helped, comment) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(uuid::Uuid::new_v4().simple().to_string())
            .bind(survey.0)
            .bind(a.department_id.0)
            .bind(a.monitored)
            .bind(a.helped)
            .bind(&a.comment)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn survey_answers(&self, survey: SurveyId) -> Result<Vec<SurveyAnswer>> {
        let rows = q("SELECT department_id, monitored, helped, comment FROM survey_answers WHERE survey_id = ? ORDER BY id")
            .bind(survey.0)
            .fetch_all(&mut self.db.read().await?)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SurveyAnswer {
                    department_id: DepartmentId(r.get("department_id")?),
                    monitored: r.get("monitored")?,
                    helped: r.get("helped")?,
                    comment: r.get("comment")?,
                })
            })
            .collect()
    }

    async fn policy_text(&self, org: OrgId, version: i64) -> Result<Option<String>> {
        Ok(
            q("SELECT text FROM policies WHERE org_id = ? AND version = ?")
                .bind(org.0)
                .bind(version)
                .scalar_opt(&mut self.db.read().await?)
                .await?,
        )
    }
}

impl Store {
    /// Purges one notice's per-person rows, keeping its per-department figures. `None`
    /// when another node purged it first. Locks in the order the scheduler and the
    /// receipt path do (due steps, then receipts, then counters) so they never deadlock.
    async fn purge_message(&self, org: OrgId, id: i64, now: Timestamp) -> Result<Option<u64>> {
        let mut tx = self.db.write().await?;
        let claimed: Option<i64> = q(format!(
            "SELECT id FROM messages WHERE id = ? AND purged_at IS NULL{}",
            lock(self.dialect(), " FOR UPDATE")
        ))
        .bind(id)
        .scalar_opt(&mut tx)
        .await?;
        if claimed.is_none() {
            return Ok(None);
        }
        q("DELETE FROM due_steps WHERE message_id = ?")
            .bind(id)
            .execute(&mut tx)
            .await?;
        let sql = format!("{LIVE_STATS_SQL} WHERE m.id = ? AND m.tracking <> 'off'");
        let mut fold = LiveStatsFold::default();
        q(sql)
            .bind(id)
            .for_each(&mut tx, |r| {
                fold.add(live_receipt(&r)?, now);
                Ok(())
            })
            .await?;
        for s in fold.finish() {
            q("INSERT INTO department_stats (message_id, department_id, org_id, created_at, recipients, read, acknowledged, reminders, escalations, unread_at_deadline, with_deadline, read_delays, ack_delays)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (message_id, department_id) DO UPDATE SET
                     org_id = excluded.org_id, created_at = excluded.created_at, recipients = excluded.recipients,
                     read = excluded.read, acknowledged = excluded.acknowledged, reminders = excluded.reminders,
                     escalations = excluded.escalations, unread_at_deadline = excluded.unread_at_deadline,
                     with_deadline = excluded.with_deadline, read_delays = excluded.read_delays, ack_delays = excluded.ack_delays")
                .bind(id)
                .bind(s.department_id.0)
                .bind(org.0)
                .bind(ms(s.created_at))
                .bind(s.stats.recipients as i64)
                .bind(s.stats.read as i64)
                .bind(s.stats.acknowledged as i64)
                .bind(s.stats.reminders as i64)
                .bind(s.stats.escalations as i64)
                .bind(s.stats.unread_at_deadline as i64)
                .bind(s.stats.with_deadline as i64)
                .bind(encode_hist(&s.stats.read_delays))
                .bind(encode_hist(&s.stats.ack_delays))
                .execute(&mut tx)
                .await?;
        }
        let removed = q("DELETE FROM receipts WHERE message_id = ?")
            .bind(id)
            .execute(&mut tx)
            .await?;
        // The delivery log names who was emailed about the notice and when: it goes too.
        for table in ["receipt_events", "escalations", "tasks", "outbound"] {
            q(format!("DELETE FROM {table} WHERE message_id = ?"))
                .bind(id)
                .execute(&mut tx)
                .await?;
        }
        // The notice's per-person events go too, and deliveries of them still waiting:
        // retention removes every copy, not only the board's. (Its `message.created`
        // names nobody and stays.) A stream resuming from before them is told to reload.
        const PERSONAL_EVENTS: &str =
            "FROM events WHERE org_id = ?1 AND message_id = ?2 AND kind <> 'message.created'";
        q(format!(
            "DELETE FROM webhook_deliveries WHERE org_id = ?1 AND delivered_at IS NULL
               AND event_seq IN (SELECT seq {PERSONAL_EVENTS})"
        ))
        .bind(org.0)
        .bind(id)
        .execute(&mut tx)
        .await?;
        let last_personal: Option<i64> = q(format!("SELECT MAX(seq) {PERSONAL_EVENTS}"))
            .bind(org.0)
            .bind(id)
            .scalar(&mut tx)
            .await?;
        q(format!("DELETE {PERSONAL_EVENTS}"))
            .bind(org.0)
            .bind(id)
            .execute(&mut tx)
            .await?;
        // Nobody is shown any more: the cached count of visible people drops to zero.
        q("UPDATE message_counters SET visible = 0 WHERE message_id = ?")
            .bind(id)
            .execute(&mut tx)
            .await?;
        q("UPDATE messages SET purged_at = ? WHERE id = ?")
            .bind(ms(now))
            .bind(id)
            .execute(&mut tx)
            .await?;
        if let Some(seq) = last_personal {
            // The organisation row last, as every writer locks it.
            q("UPDATE orgs SET events_purged_through = ?1 WHERE id = ?2 AND events_purged_through < ?1")
                .bind(seq)
                .bind(org.0)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(removed))
    }
}
