//! Audit, the member export, retention, analytics figures and pulse surveys.

use futures_util::TryStreamExt;
use jiff::Timestamp;
use readtrack_domain::analytics::{DepartmentStats, Histogram};
use readtrack_domain::ids::{DepartmentId, MemberId, MessageId, OrgId, SurveyId, TaskId};
use readtrack_domain::message::Tracking;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::directory::fetch_member;
use super::messages::{RECEIPT_COLUMNS, receipt_from_row};
use super::{PostgresStorage, conflict_on_unique, retrying};
use crate::model::*;
use crate::sql::*;
use crate::{Result, StorageError};

const AUDIT_COLUMNS: &str = "a.id, a.at, a.actor_id, p.name AS actor_name, a.action, a.subject";

fn audit_from_row(r: &PgRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.try_get("id")?,
        at: ts(r.try_get("at")?),
        actor_id: r.try_get::<Option<i64>, _>("actor_id")?.map(MemberId),
        actor_name: r.try_get("actor_name")?,
        action: r.try_get("action")?,
        subject: r.try_get("subject")?,
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

const SURVEY_COLUMNS: &str = "id, title, scope, created_at, closes_at";

fn survey_from_row(r: &PgRow) -> Result<SurveyRecord> {
    Ok(SurveyRecord {
        id: SurveyId(r.try_get("id")?),
        title: r.try_get("title")?,
        scope: split_ids(&r.try_get::<String, _>("scope")?)
            .into_iter()
            .map(DepartmentId)
            .collect(),
        created_at: ts(r.try_get("created_at")?),
        closes_at: ts_opt(r.try_get("closes_at")?),
    })
}

/// One row of [`LIVE_STATS_SQL`] as the analytics fold reads it.
fn live_receipt(r: &PgRow) -> Result<LiveReceipt> {
    Ok(LiveReceipt {
        message: r.try_get("message_id")?,
        department: r.try_get("department_id")?,
        created_at: r.try_get("created_at")?,
        deadline: r.try_get("deadline")?,
        state: i64::from(r.try_get::<i16, _>("state")?),
        read_at: r.try_get("read_at")?,
        acked_at: r.try_get("acked_at")?,
        reminders: r.try_get("reminder_count")?,
        escalated: r.try_get::<Option<i64>, _>("escalated_at")?.is_some(),
    })
}

const LIVE_STATS_SQL: &str = "SELECT m.id AS message_id, m.created_at, m.deadline, r.department_id, r.state, r.read_at, r.acked_at, r.reminders AS reminder_count, r.escalated_at
     FROM messages m JOIN receipts r ON r.message_id = m.id";

impl PostgresStorage {
    pub(crate) async fn org_ids_impl(&self) -> Result<Vec<OrgId>> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT id FROM orgs ORDER BY id")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(OrgId)
                .collect(),
        )
    }

    pub(crate) async fn manages_anyone_impl(&self, member: MemberId) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM members WHERE manager_id = $1 AND active)",
        )
        .bind(member.0)
        .fetch_one(&self.pool)
        .await?)
    }

    pub(crate) async fn record_audit_impl(&self, e: NewAudit) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO audit_log (org_id, at, actor_id, action, subject) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(e.org_id.0)
        .bind(ms(e.now))
        .bind(e.actor_id.map(|m| m.0))
        .bind(&e.action)
        .bind(&e.subject)
        .fetch_one(&mut *tx)
        .await?;
        if !e.members.is_empty() {
            let members: Vec<i64> = e.members.iter().map(|m| m.0).collect();
            sqlx::query(
                "INSERT INTO audit_subjects (audit_id, member_id) SELECT $1, m FROM UNNEST($2::int8[]) AS m
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(&members)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn audit_log_impl(&self, org: OrgId, page: Page) -> Result<Vec<AuditRecord>> {
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log a LEFT JOIN members p ON p.id = a.actor_id
             WHERE a.org_id = $1 AND a.id < $2 ORDER BY a.id DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.0)
            .bind(page.after.unwrap_or(i64::MAX))
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    pub(crate) async fn export_member_impl(
        &self,
        org: OrgId,
        member: MemberId,
    ) -> Result<MemberExport> {
        // One snapshot for the whole export, so its parts agree with each other.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let m = fetch_member(&mut tx, org, member)
            .await?
            .ok_or(StorageError::NotFound("member"))?;
        let acked: Option<i64> =
            sqlx::query_scalar("SELECT policy_acked_at FROM members WHERE id = $1")
                .bind(member.0)
                .fetch_one(&mut *tx)
                .await?;
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS}, m.title, m.tracking, m.created_at AS sent_at, s.name AS sender_name
             FROM receipts r JOIN messages m ON m.id = r.message_id LEFT JOIN members s ON s.id = m.sender_id
             WHERE r.member_id = $1 ORDER BY r.message_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(member.0)
            .fetch_all(&mut *tx)
            .await?;
        let mut receipts = Vec::with_capacity(rows.len());
        for r in &rows {
            let tracking: String = r.try_get("tracking")?;
            receipts.push(ExportedReceipt {
                title: r.try_get("title")?,
                sender_name: r
                    .try_get::<Option<String>, _>("sender_name")?
                    .unwrap_or_default(),
                tracking: Tracking::parse("tracking", &tracking)
                    .map_err(|_| StorageError::Corrupt("tracking".into()))?,
                sent_at: ts(r.try_get("sent_at")?),
                receipt: receipt_from_row(r)?,
            });
        }
        let esc = sqlx::query(
            "SELECT e.message_id, m.title, e.to_member_id, p.name AS to_name, e.role, e.created_at FROM escalations e
             JOIN messages m ON m.id = e.message_id LEFT JOIN members p ON p.id = e.to_member_id
             WHERE e.recipient_id = $1 ORDER BY e.id",
        )
        .bind(member.0)
        .fetch_all(&mut *tx)
        .await?;
        let escalations = esc
            .iter()
            .map(|r| {
                Ok(ExportedEscalation {
                    message_id: MessageId(r.try_get("message_id")?),
                    title: r.try_get("title")?,
                    to_member_id: MemberId(r.try_get("to_member_id")?),
                    to_name: r
                        .try_get::<Option<String>, _>("to_name")?
                        .unwrap_or_default(),
                    role: r.try_get("role")?,
                    at: ts(r.try_get("created_at")?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let task_rows = sqlx::query(
            "SELECT t.id, t.message_id, t.member_id, t.reason, t.created_at, t.done_at, t.done_by, m.title
             FROM tasks t LEFT JOIN messages m ON m.id = t.message_id WHERE t.member_id = $1 ORDER BY t.id",
        )
        .bind(member.0)
        .fetch_all(&mut *tx)
        .await?;
        let tasks = task_rows
            .iter()
            .map(|r| {
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
            })
            .collect::<Result<Vec<_>>>()?;
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_subjects s
             JOIN audit_log a ON a.id = s.audit_id LEFT JOIN members p ON p.id = a.actor_id
             WHERE s.member_id = $1 ORDER BY a.id"
        );
        let view_rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(member.0)
            .fetch_all(&mut *tx)
            .await?;
        let views = view_rows
            .iter()
            .map(audit_from_row)
            .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok(MemberExport {
            member: m,
            policy_acked_at: ts_opt(acked),
            receipts,
            escalations,
            tasks,
            views,
        })
    }

    pub(crate) async fn purge_before_impl(
        &self,
        org: OrgId,
        cutoff: Timestamp,
        now: Timestamp,
    ) -> Result<PurgeCounts> {
        let mut counts = PurgeCounts::default();
        let expired: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM messages WHERE org_id = $1 AND created_at < $2 AND purged_at IS NULL ORDER BY id",
        )
        .bind(org.0)
        .bind(ms(cutoff))
        .fetch_all(&self.pool)
        .await?;
        // One notice per transaction keeps each commit short on a large organisation.
        for id in expired {
            if let Some(removed) = retrying(|| self.purge_message(org, id, now)).await? {
                counts.receipts += removed;
                counts.messages += 1;
            }
        }
        let mut tx = self.pool.begin().await?;
        let events = sqlx::query(
            "DELETE FROM events WHERE org_id = $1 AND at < $2
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.org_id = events.org_id AND d.event_seq = events.seq AND d.delivered_at IS NULL)",
        )
        .bind(org.0)
        .bind(ms(cutoff))
        .execute(&mut *tx)
        .await?;
        counts.events = events.rows_affected();
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE org_id = $1 AND delivered_at IS NOT NULL AND delivered_at < $2",
        )
        .bind(org.0)
        .bind(ms(cutoff))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// Purges one notice's per-person rows, keeping its per-department figures. `None`
    /// when another node purged it first. Locks in the order the scheduler and the
    /// receipt path do (due steps, then receipts, then counters) so they never deadlock.
    async fn purge_message(&self, org: OrgId, id: i64, now: Timestamp) -> Result<Option<u64>> {
        let mut tx = self.pool.begin().await?;
        let claimed: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM messages WHERE id = $1 AND purged_at IS NULL FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if claimed.is_none() {
            return Ok(None);
        }
        sqlx::query("DELETE FROM due_steps WHERE message_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let sql = format!("{LIVE_STATS_SQL} WHERE m.id = $1 AND m.tracking <> 'off'");
        let mut fold = LiveStatsFold::default();
        {
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch(&mut *tx);
            while let Some(r) = rows.try_next().await? {
                fold.add(live_receipt(&r)?, now);
            }
        }
        for s in fold.finish() {
            insert_stats(&mut tx, org, id, &s).await?;
        }
        let removed = sqlx::query("DELETE FROM receipts WHERE message_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for table in ["receipt_events", "escalations", "tasks"] {
            let sql = format!("DELETE FROM {table} WHERE message_id = $1");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        // Nobody is shown any more: the cached count of visible people drops to zero.
        sqlx::query("UPDATE message_counters SET visible = 0 WHERE message_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE messages SET purged_at = $1 WHERE id = $2")
            .bind(ms(now))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(removed))
    }

    pub(crate) async fn department_stats_impl(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<MessageDepartmentStats>> {
        let sql = format!(
            "{LIVE_STATS_SQL} WHERE m.org_id = $1 AND m.created_at >= $2 AND m.created_at < $3 AND m.tracking <> 'off' AND m.purged_at IS NULL"
        );
        let mut fold = LiveStatsFold::default();
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.0)
            .bind(ms(from))
            .bind(ms(to))
            .fetch(&self.pool);
        while let Some(r) = rows.try_next().await? {
            fold.add(live_receipt(&r)?, now);
        }
        drop(rows);
        let mut out = fold.finish();
        let kept = sqlx::query(
            "SELECT message_id, department_id, created_at, recipients, read, acknowledged, reminders, escalations,
                    unread_at_deadline, with_deadline, read_delays, ack_delays
             FROM department_stats WHERE org_id = $1 AND created_at >= $2 AND created_at < $3",
        )
        .bind(org.0)
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.pool)
        .await?;
        for r in &kept {
            let n = |c: &str| -> Result<u64> { Ok(r.try_get::<i64, _>(c)?.max(0) as u64) };
            out.push(MessageDepartmentStats {
                message_id: MessageId(r.try_get("message_id")?),
                created_at: ts(r.try_get("created_at")?),
                department_id: DepartmentId(r.try_get("department_id")?),
                stats: DepartmentStats {
                    recipients: n("recipients")?,
                    read: n("read")?,
                    acknowledged: n("acknowledged")?,
                    reminders: n("reminders")?,
                    escalations: n("escalations")?,
                    unread_at_deadline: n("unread_at_deadline")?,
                    with_deadline: n("with_deadline")?,
                    read_delays: decode_hist(&r.try_get::<String, _>("read_delays")?),
                    ack_delays: decode_hist(&r.try_get::<String, _>("ack_delays")?),
                },
            });
        }
        out.sort_by_key(|s| (s.message_id, s.department_id));
        Ok(out)
    }

    pub(crate) async fn create_survey_impl(&self, new: NewSurvey) -> Result<SurveyRecord> {
        let sql = format!(
            "INSERT INTO surveys (org_id, title, scope, created_by, created_at, closes_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {SURVEY_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(new.org_id.0)
            .bind(&new.title)
            .bind(join_ids(new.scope.iter().map(|d| d.0)))
            .bind(new.created_by.0)
            .bind(ms(new.now))
            .bind(new.closes_at.map(ms))
            .fetch_one(&self.pool)
            .await?;
        survey_from_row(&row)
    }

    pub(crate) async fn surveys_impl(&self, org: OrgId) -> Result<Vec<SurveyRecord>> {
        let sql =
            format!("SELECT {SURVEY_COLUMNS} FROM surveys WHERE org_id = $1 ORDER BY id DESC");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(survey_from_row).collect()
    }

    pub(crate) async fn survey_impl(
        &self,
        org: OrgId,
        id: SurveyId,
    ) -> Result<Option<SurveyRecord>> {
        let sql = format!("SELECT {SURVEY_COLUMNS} FROM surveys WHERE org_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.0)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(survey_from_row).transpose()
    }

    pub(crate) async fn has_answered_impl(
        &self,
        survey: SurveyId,
        member: MemberId,
    ) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM survey_participation WHERE survey_id = $1 AND member_id = $2)",
        )
        .bind(survey.0)
        .bind(member.0)
        .fetch_one(&self.pool)
        .await?)
    }

    pub(crate) async fn answer_survey_impl(
        &self,
        survey: SurveyId,
        member: MemberId,
        a: SurveyAnswer,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO survey_participation (survey_id, member_id) VALUES ($1, $2)")
            .bind(survey.0)
            .bind(member.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_on_unique(e, "you have already answered this survey"))?;
        // A random key: answers sort in no meaningful order, so they cannot be matched to
        // participation rows by position or time.
        sqlx::query("INSERT INTO survey_answers (id, survey_id, department_id, monitored, helped, comment) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(uuid::Uuid::new_v4().simple().to_string())
            .bind(survey.0)
            .bind(a.department_id.0)
            .bind(a.monitored)
            .bind(a.helped)
            .bind(&a.comment)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn survey_answers_impl(&self, survey: SurveyId) -> Result<Vec<SurveyAnswer>> {
        let rows = sqlx::query("SELECT department_id, monitored, helped, comment FROM survey_answers WHERE survey_id = $1 ORDER BY id")
            .bind(survey.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SurveyAnswer {
                    department_id: DepartmentId(r.try_get("department_id")?),
                    monitored: r.try_get("monitored")?,
                    helped: r.try_get("helped")?,
                    comment: r.try_get("comment")?,
                })
            })
            .collect()
    }

    pub(crate) async fn policy_text_impl(
        &self,
        org: OrgId,
        version: i64,
    ) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT text FROM policies WHERE org_id = $1 AND version = $2")
                .bind(org.0)
                .bind(version)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

async fn insert_stats(
    conn: &mut PgConnection,
    org: OrgId,
    message: i64,
    s: &MessageDepartmentStats,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO department_stats (message_id, department_id, org_id, created_at, recipients, read, acknowledged, reminders, escalations, unread_at_deadline, with_deadline, read_delays, ack_delays)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (message_id, department_id) DO UPDATE SET
             org_id = EXCLUDED.org_id, created_at = EXCLUDED.created_at, recipients = EXCLUDED.recipients,
             read = EXCLUDED.read, acknowledged = EXCLUDED.acknowledged, reminders = EXCLUDED.reminders,
             escalations = EXCLUDED.escalations, unread_at_deadline = EXCLUDED.unread_at_deadline,
             with_deadline = EXCLUDED.with_deadline, read_delays = EXCLUDED.read_delays, ack_delays = EXCLUDED.ack_delays",
    )
    .bind(message)
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
    .execute(&mut *conn)
    .await?;
    Ok(())
}
