//! Sending notices (fan-out to recipient rows) and reading them back.

use async_trait::async_trait;
use readtrack_domain::audience::Audience;
use readtrack_domain::event::{Event, EventBody};
use readtrack_domain::ids::{DepartmentId, MemberId, MessageId, OrgId, Seq};
use readtrack_domain::message::Tracking;
use readtrack_domain::receipt::{ReceiptState, ReceiptTimes};
use readtrack_domain::summary::{ShownCounts, ShownLine};

use super::{Store, chunks, json_id_list, json_ints};
use crate::db::{Dialect, Pools};
use crate::db::{Exec, Q, Row, Tx, q};
use crate::model::*;
use crate::sql::*;
use crate::{Messages, Result, StorageError};

/// Recipients of one notice from which PostgreSQL refreshes the receipts statistics.
const ANALYZE_AFTER_FAN_OUT: i64 = 5_000;

pub(crate) const MESSAGE_COLUMNS: &str = "m.id, m.org_id, m.sender_id, s.name AS sender_name, m.title, m.body, m.priority, m.tracking, m.require_ack, m.response_options, m.audience_members, m.audience_departments, m.reminders, m.deadline, m.is_async, m.recipient_count, m.created_at, m.emergency_reason";

pub(crate) fn message_from_row(row: &Row) -> Result<MessageRecord> {
    let tracking: String = row.get("tracking")?;
    let options: String = row.get("response_options")?;
    Ok(MessageRecord {
        id: MessageId(row.get("id")?),
        org_id: OrgId(row.get("org_id")?),
        sender_id: MemberId(row.get("sender_id")?),
        sender_name: row
            .get::<Option<String>>("sender_name")?
            .unwrap_or_default(),
        title: row.get("title")?,
        body: row.get("body")?,
        priority: priority(&row.get::<String>("priority")?)?,
        tracking: Tracking::parse("tracking", &tracking)
            .map_err(|_| StorageError::Corrupt(format!("tracking {tracking:?}")))?,
        require_ack: row.get("require_ack")?,
        response_options: serde_json::from_str(&options)
            .map_err(|_| StorageError::Corrupt("response options".into()))?,
        audience: Audience {
            members: split_ids(&row.get::<String>("audience_members")?)
                .into_iter()
                .map(MemberId)
                .collect(),
            departments: split_ids(&row.get::<String>("audience_departments")?)
                .into_iter()
                .map(DepartmentId)
                .collect(),
        },
        reminders: row
            .get::<Option<String>>("reminders")?
            .map(|s| decode_plan(&s))
            .transpose()?,
        deadline: ts_opt(row.get("deadline")?),
        is_async: row.get("is_async")?,
        recipient_count: row.get("recipient_count")?,
        created_at: ts(row.get("created_at")?),
        emergency_reason: row.get("emergency_reason")?,
    })
}

pub(crate) const RECEIPT_COLUMNS: &str = "r.message_id, r.member_id, r.department_id, r.state, r.delivered_at, r.read_at, r.read_recorded_at, r.acked_at, r.response, r.read_quiet, r.reminders AS reminder_count, r.last_reminded_at, r.escalated_at";

pub(crate) fn receipt_from_row(row: &Row) -> Result<ReceiptRecord> {
    Ok(ReceiptRecord {
        stored_state: ReceiptState::from_code(row.get("state")?),
        message_id: MessageId(row.get("message_id")?),
        member_id: MemberId(row.get("member_id")?),
        department_id: DepartmentId(row.get("department_id")?),
        times: ReceiptTimes {
            delivered_at: ts_opt(row.get("delivered_at")?),
            read_at: ts_opt(row.get("read_at")?),
            acked_at: ts_opt(row.get("acked_at")?),
            response: row.get("response")?,
        },
        read_recorded_at: ts_opt(row.get("read_recorded_at")?),
        read_quiet: row.get("read_quiet")?,
        reminders: row.get("reminder_count")?,
        last_reminded_at: ts_opt(row.get("last_reminded_at")?),
        escalated_at: ts_opt(row.get("escalated_at")?),
    })
}

/// Hands out `n` sequence numbers of the organisation; returns the first.
pub(crate) async fn allocate_seqs(tx: &mut Tx, org: OrgId, n: i64) -> Result<i64> {
    let last: i64 = q("UPDATE orgs SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq")
        .bind(n)
        .bind(org.0)
        .scalar(tx)
        .await?;
    Ok(last - n + 1)
}

/// Appends events (their seqs already assigned) in multi-row statements.
pub(crate) async fn insert_events(tx: &mut Tx, events: &[Event]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    // Every webhook subscribed to an event's kind gets a delivery queued in this same
    // transaction: a committed event is never without its deliveries.
    let mut orgs: Vec<OrgId> = events.iter().map(|e| e.org_id).collect();
    orgs.sort();
    orgs.dedup();
    let mut deliveries: Vec<(i64, i64, i64, i64)> = Vec::new();
    for org in orgs {
        let hooks: Vec<(i64, String)> =
            q("SELECT id, events FROM webhooks WHERE org_id = ? AND active")
                .bind(org.0)
                .all(tx)
                .await?;
        for (hook, kinds) in &hooks {
            for e in events.iter().filter(|e| e.org_id == org) {
                if kinds.split(',').any(|k| k == e.body.kind()) {
                    deliveries.push((*hook, org.0, e.seq.0, ms(e.at)));
                }
            }
        }
    }
    let d = tx.dialect();
    for r in chunks(d, deliveries.len(), 500, |_| 5 * 12) {
        let chunk = &deliveries[r];
        let sql = format!(
            "INSERT INTO webhook_deliveries (webhook_id, org_id, event_seq, next_attempt_at, created_at) VALUES {}",
            placeholders(chunk.len(), 5)
        );
        let mut q = q(sql);
        for (hook, org, seq, at) in chunk {
            q = q.bind(hook).bind(org).bind(seq).bind(at).bind(at);
        }
        q.execute(tx).await?;
    }
    // Sized by what each row really binds (six numbers, the kind and the payload), so a
    // PostgreSQL statement stays within the bind budget.
    let payloads: Vec<String> = events.iter().map(|e| encode_payload(&e.body)).collect();
    for r in chunks(d, events.len(), 1000, |i| {
        6 * 12 + 4 + events[i].body.kind().len() + 4 + payloads[i].len()
    }) {
        let payloads = &payloads[r.clone()];
        let chunk = &events[r];
        let sql = format!(
            "INSERT INTO events (org_id, seq, kind, target_member_id, message_id, at, payload) VALUES {}",
            placeholders(chunk.len(), 7)
        );
        let mut q = q(sql);
        for (e, payload) in chunk.iter().zip(payloads) {
            q = q
                .bind(e.org_id.0)
                .bind(e.seq.0)
                .bind(e.body.kind())
                .bind(target_of(&e.body))
                .bind(e.body.message_id().0)
                .bind(ms(e.at))
                .bind(payload.as_str());
        }
        q.execute(tx).await?;
    }
    Ok(())
}

/// Counts the recipients of a notice whose rows may be shown under the org's current rules.
pub(crate) async fn count_visible(
    conn: &mut impl Exec,
    message: MessageId,
    org: OrgId,
) -> Result<(i64, i64)> {
    let rules = ShownRules::load(conn, org).await?;
    let visible: i64 = rules
        .bind(q(format!(
            "SELECT COUNT(*) FROM receipts r JOIN members m ON m.id = r.member_id WHERE {}",
            rules.filter(conn.raw().dialect())
        )))
        .bind(message.0)
        .scalar(&mut *conn)
        .await?;
    Ok((visible, rules.epoch))
}

/// The counts over a notice's recipients who may be shown, per department, with the
/// tally of their answers (for notices whose hidden recipients are too few to count).
pub(crate) async fn shown_counts(
    conn: &mut impl Exec,
    message: MessageId,
    org: OrgId,
) -> Result<ShownCounts> {
    let rules = ShownRules::load(conn, org).await?;
    let d = conn.raw().dialect();
    let lines: Vec<(i64, String, i64, i64, i64, i64)> = rules
        .bind(q(format!(
            "SELECT r.department_id, COALESCE(d.name, '') AS name, COUNT(*) AS recipients,
                    SUM(CASE WHEN r.state >= 1 THEN 1 ELSE 0 END) AS delivered,
                    SUM(CASE WHEN r.state >= 2 THEN 1 ELSE 0 END) AS read,
                    SUM(CASE WHEN r.state = 3 THEN 1 ELSE 0 END) AS acknowledged
             FROM receipts r JOIN members m ON m.id = r.member_id
                  LEFT JOIN departments d ON d.id = r.department_id
             WHERE {} GROUP BY r.department_id, d.name ORDER BY 2, 1",
            rules.filter(d)
        )))
        .bind(message.0)
        .all(&mut *conn)
        .await?;
    let responses: Vec<(String, i64)> = rules
        .bind(q(format!(
            "SELECT r.response, COUNT(*) FROM receipts r JOIN members m ON m.id = r.member_id
             WHERE {} AND r.response IS NOT NULL GROUP BY r.response",
            rules.filter(d)
        )))
        .bind(message.0)
        .all(&mut *conn)
        .await?;
    Ok(ShownCounts {
        lines: lines
            .into_iter()
            .map(
                |(department_id, name, recipients, delivered, read, acknowledged)| ShownLine {
                    department_id: DepartmentId(department_id),
                    name,
                    recipients,
                    delivered,
                    read,
                    acknowledged,
                },
            )
            .collect(),
        responses,
    })
}

/// The organisation's rules of who may be shown, as SQL binds.
struct ShownRules {
    policy_version: i64,
    untracked: bool,
    pilot: Option<String>,
    epoch: i64,
}

impl ShownRules {
    async fn load(conn: &mut impl Exec, org: OrgId) -> Result<Self> {
        let (policy_version, quiet_reads, pilot, epoch): (i64, String, Option<String>, i64) = q(
            "SELECT policy_version, quiet_reads, pilot_expanded, visibility_epoch FROM orgs WHERE id = ?",
        )
        .bind(org.0)
        .one(&mut *conn)
        .await?;
        Ok(Self {
            policy_version,
            untracked: quiet_reads == "untracked",
            pilot,
            epoch,
        })
    }

    /// The condition on `receipts r JOIN members m`; its binds come first ([`Self::bind`]),
    /// then the notice's id.
    fn filter(&self, d: Dialect) -> String {
        format!(
            "m.policy_ack_version >= ? AND NOT (? AND r.read_quiet AND r.state >= 2)
             AND (? IS NULL OR r.department_id IN {}) AND r.message_id = ?",
            json_ints(d)
        )
    }

    fn bind(&self, query: Q) -> Q {
        query
            .bind(self.policy_version)
            .bind(self.untracked)
            .bind(&self.pilot)
            .bind(self.pilot.as_ref().map(|p| format!("[{p}]")))
    }
}

/// Queues each recipient's first reminder-plan step, by their time zone, in one statement.
async fn insert_first_steps(
    tx: &mut Tx,
    message: MessageId,
    org: OrgId,
    steps: &[FirstStep],
) -> Result<()> {
    let Some(default) = steps.iter().find(|s| s.zone.is_none()) else {
        return Ok(());
    };
    let by_zone: serde_json::Map<String, serde_json::Value> = steps
        .iter()
        .filter_map(|s| {
            s.zone.as_ref().map(|z| {
                (
                    z.clone(),
                    serde_json::json!([s.step.as_str(), s.step_no, ms(s.due_at)]),
                )
            })
        })
        .collect();
    let sql = match tx.dialect() {
        Dialect::Sqlite => {
            "INSERT INTO due_steps (org_id, message_id, member_id, step, step_no, due_at)
             SELECT ?1, r.message_id, r.member_id,
                    COALESCE(json_extract(?2, '$.\"' || m.time_zone || '\"[0]'), ?3),
                    COALESCE(json_extract(?2, '$.\"' || m.time_zone || '\"[1]'), ?4),
                    COALESCE(json_extract(?2, '$.\"' || m.time_zone || '\"[2]'), ?5)
             FROM receipts r JOIN members m ON m.id = r.member_id WHERE r.message_id = ?6"
        }
        Dialect::Postgres => {
            "INSERT INTO due_steps (org_id, message_id, member_id, step, step_no, due_at)
             SELECT ?1, r.message_id, r.member_id,
                    COALESCE(?2::json -> m.time_zone ->> 0, ?3),
                    COALESCE((?2::json -> m.time_zone ->> 1)::bigint, ?4),
                    COALESCE((?2::json -> m.time_zone ->> 2)::bigint, ?5)
             FROM receipts r JOIN members m ON m.id = r.member_id WHERE r.message_id = ?6"
        }
    };
    q(sql)
        .bind(org.0)
        .bind(serde_json::Value::Object(by_zone).to_string())
        .bind(default.step.as_str())
        .bind(default.step_no)
        .bind(ms(default.due_at))
        .bind(message.0)
        .execute(tx)
        .await?;
    Ok(())
}

#[async_trait]
impl Messages for Store {
    async fn create_message(&self, new: NewMessageRecord) -> Result<CreatedMessage> {
        self.db.retrying(|| self.create_message_impl(&new)).await
    }

    async fn message(&self, org: OrgId, id: MessageId) -> Result<Option<MessageRecord>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m LEFT JOIN members s ON s.id = m.sender_id WHERE m.id = ? AND m.org_id = ?"
        );
        let row = q(sql)
            .bind(id.0)
            .bind(org.0)
            .fetch_optional(&mut self.db.read().await?)
            .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    async fn inbox(
        &self,
        member: MemberId,
        filter: InboxFilter,
        page: Page,
    ) -> Result<Vec<InboxItem>> {
        let unread = match filter {
            InboxFilter::All => "",
            InboxFilter::Unread => " AND r.state < 2",
        };
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS}, {RECEIPT_COLUMNS} FROM receipts r
             JOIN messages m ON m.id = r.message_id LEFT JOIN members s ON s.id = m.sender_id
             WHERE r.member_id = ? AND r.message_id < ?{unread}
             ORDER BY r.message_id DESC LIMIT ?"
        );
        let rows = q(sql)
            .bind(member.0)
            .bind(page.after.unwrap_or(i64::MAX))
            .bind(i64::from(page.limit))
            .fetch_all(&mut self.db.read().await?)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(InboxItem {
                    message: message_from_row(r)?,
                    receipt: receipt_from_row(r)?,
                })
            })
            .collect()
    }

    async fn emergency_notices_since(&self, org: OrgId, since: jiff::Timestamp) -> Result<i64> {
        Ok(q(
            "SELECT COUNT(*) FROM messages WHERE org_id = ? AND emergency_reason IS NOT NULL AND created_at >= ?",
        )
        .bind(org.0)
        .bind(ms(since))
        .scalar(&mut self.db.read().await?)
        .await?)
    }

    async fn sent(&self, member: MemberId, page: Page) -> Result<Vec<MessageRecord>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m LEFT JOIN members s ON s.id = m.sender_id
             WHERE m.sender_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?"
        );
        let rows = q(sql)
            .bind(member.0)
            .bind(page.after.unwrap_or(i64::MAX))
            .bind(i64::from(page.limit))
            .fetch_all(&mut self.db.read().await?)
            .await?;
        rows.iter().map(message_from_row).collect()
    }

    async fn receipt(&self, message: MessageId, member: MemberId) -> Result<Option<ReceiptRecord>> {
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS} FROM receipts r WHERE r.message_id = ? AND r.member_id = ?"
        );
        let row = q(sql)
            .bind(message.0)
            .bind(member.0)
            .fetch_optional(&mut self.db.read().await?)
            .await?;
        row.as_ref().map(receipt_from_row).transpose()
    }
}

impl Store {
    pub(crate) async fn create_message_impl(
        &self,
        new: &NewMessageRecord,
    ) -> Result<CreatedMessage> {
        let m = &new.message;
        let now = ms(new.now);
        let mut tx = self.db.write().await?;
        let options = serde_json::to_string(&m.response_options).unwrap_or_else(|_| "[]".into());
        let id: i64 = q(
            "INSERT INTO messages (org_id, sender_id, title, body, priority, tracking, require_ack, response_options, audience_members, audience_departments, reminders, deadline, is_async, recipient_count, created_at, emergency_reason)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) RETURNING id",
        )
        .bind(new.org_id.0)
        .bind(new.sender_id.0)
        .bind(&m.title)
        .bind(&m.body)
        .bind(m.priority.as_str())
        .bind(m.tracking.as_str())
        .bind(m.require_ack)
        .bind(&options)
        .bind(join_ids(m.audience.members.iter().map(|x| x.0)))
        .bind(join_ids(m.audience.departments.iter().map(|x| x.0)))
        .bind(m.reminders.as_ref().map(encode_plan))
        .bind(m.deadline.map(ms))
        .bind(new.is_async)
        .bind(now)
        .bind(&m.emergency_reason)
        .scalar(&mut tx)
        .await?;

        // Fan-out in one statement: every active member reached directly or through a
        // department subtree, once, never the sender.
        let dept_json = json_id_list(new.departments_expanded.iter().map(|d| d.0));
        let member_json = json_id_list(m.audience.members.iter().map(|d| d.0));
        let ints = json_ints(self.dialect());
        let fanned = q(format!(
            "INSERT INTO receipts (message_id, member_id, department_id)
             SELECT ?, id, department_id FROM members
             WHERE org_id = ? AND active AND id <> ?
               AND (department_id IN {ints} OR id IN {ints})"
        ))
        .bind(id)
        .bind(new.org_id.0)
        .bind(new.sender_id.0)
        .bind(&dept_json)
        .bind(&member_json)
        .execute(&mut tx)
        .await?;
        let recipients = fanned as i64;
        if recipients == 0 {
            return Err(StorageError::Invalid(
                readtrack_domain::FieldError::with_code(
                    "audience",
                    "empty_audience",
                    "`audience` reaches no one but the sender; add members or departments with people in them",
                ),
            ));
        }
        q("UPDATE messages SET recipient_count = ? WHERE id = ?")
            .bind(recipients)
            .bind(id)
            .execute(&mut tx)
            .await?;
        let (visible, epoch) = if m.tracking == Tracking::PerPerson {
            count_visible(&mut tx, MessageId(id), new.org_id).await?
        } else {
            (0, -1)
        };
        q("INSERT INTO message_counters (message_id, recipients, visible, visible_epoch) VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(recipients)
            .bind(visible)
            .bind(epoch)
            .execute(&mut tx)
            .await?;
        q(
            "INSERT INTO department_counters (message_id, department_id, recipients)
             SELECT ?1, department_id, COUNT(*) FROM receipts WHERE message_id = ?1 GROUP BY department_id",
        )
        .bind(id)
        .execute(&mut tx)
        .await?;
        insert_first_steps(&mut tx, MessageId(id), new.org_id, &new.first_steps).await?;
        for (pos, label) in m.response_options.iter().enumerate() {
            q("INSERT INTO message_responses (message_id, position, label) VALUES (?, ?, ?)")
                .bind(id)
                .bind(pos as i64)
                .bind(label)
                .execute(&mut tx)
                .await?;
        }
        let seq = allocate_seqs(&mut tx, new.org_id, 1).await?;
        let event = Event {
            seq: Seq(seq),
            org_id: new.org_id,
            at: new.now,
            body: EventBody::MessageCreated {
                message_id: MessageId(id),
                sender_id: new.sender_id,
                title: m.title.clone(),
                priority: m.priority,
                require_ack: m.require_ack,
            },
        };
        insert_events(&mut tx, std::slice::from_ref(&event)).await?;
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m LEFT JOIN members s ON s.id = m.sender_id WHERE m.id = ?"
        );
        let row = q(sql).bind(id).fetch_one(&mut tx).await?;
        let message = message_from_row(&row)?;
        tx.commit().await?;
        if let (Pools::Postgres(pool), true) = (&self.db, recipients >= ANALYZE_AFTER_FAN_OUT) {
            // A large fan-out changes the receipts table faster than autovacuum looks
            // (up to a minute): until its statistics are refreshed the planner takes the
            // notice's rows for a handful and sorts them all for a board page (measured:
            // 40 ms instead of 2 ms at 20,000 recipients). ANALYZE samples, takes a lock
            // that blocks neither reads nor writes, and runs after the sender's answer.
            let pool = pool.clone();
            tokio::spawn(async move {
                if let Err(e) = sqlx::query("ANALYZE receipts").execute(&pool).await {
                    tracing::warn!(error = %e, "could not refresh the receipts table's statistics");
                }
            });
        }
        Ok(CreatedMessage { message, event })
    }
}
