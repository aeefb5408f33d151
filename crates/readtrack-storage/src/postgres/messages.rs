//! Sending notices (fan-out to recipient rows) and reading them back.

use readtrack_domain::audience::Audience;
use readtrack_domain::event::{Event, EventBody};
use readtrack_domain::ids::{DepartmentId, MemberId, MessageId, OrgId, Seq};
use readtrack_domain::message::Tracking;
use readtrack_domain::receipt::{ReceiptState, ReceiptTimes};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::{INT8, PostgresStorage, chunks, text};
use crate::model::*;
use crate::sql::*;
use crate::{Result, StorageError};

pub(crate) const MESSAGE_COLUMNS: &str = "m.id, m.org_id, m.sender_id, s.name AS sender_name, m.title, m.body, m.priority, m.tracking, m.require_ack, m.response_options, m.audience_members, m.audience_departments, m.reminders, m.deadline, m.is_async, m.recipient_count, m.created_at";

pub(crate) fn message_from_row(row: &PgRow) -> Result<MessageRecord> {
    let tracking: String = row.try_get("tracking")?;
    let options: String = row.try_get("response_options")?;
    Ok(MessageRecord {
        id: MessageId(row.try_get("id")?),
        org_id: OrgId(row.try_get("org_id")?),
        sender_id: MemberId(row.try_get("sender_id")?),
        sender_name: row
            .try_get::<Option<String>, _>("sender_name")?
            .unwrap_or_default(),
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        priority: priority(&row.try_get::<String, _>("priority")?)?,
        tracking: Tracking::parse("tracking", &tracking)
            .map_err(|_| StorageError::Corrupt(format!("tracking {tracking:?}")))?,
        require_ack: row.try_get("require_ack")?,
        response_options: serde_json::from_str(&options)
            .map_err(|_| StorageError::Corrupt("response options".into()))?,
        audience: Audience {
            members: split_ids(&row.try_get::<String, _>("audience_members")?)
                .into_iter()
                .map(MemberId)
                .collect(),
            departments: split_ids(&row.try_get::<String, _>("audience_departments")?)
                .into_iter()
                .map(DepartmentId)
                .collect(),
        },
        reminders: row
            .try_get::<Option<String>, _>("reminders")?
            .map(|s| decode_plan(&s))
            .transpose()?,
        deadline: ts_opt(row.try_get("deadline")?),
        is_async: row.try_get("is_async")?,
        recipient_count: row.try_get("recipient_count")?,
        created_at: ts(row.try_get("created_at")?),
    })
}

pub(crate) const RECEIPT_COLUMNS: &str = "r.message_id, r.member_id, r.department_id, r.state, r.delivered_at, r.read_at, r.read_recorded_at, r.acked_at, r.response, r.read_quiet, r.reminders AS reminder_count, r.last_reminded_at, r.escalated_at";

pub(crate) fn receipt_from_row(row: &PgRow) -> Result<ReceiptRecord> {
    Ok(ReceiptRecord {
        stored_state: ReceiptState::from_code(i64::from(row.try_get::<i16, _>("state")?)),
        message_id: MessageId(row.try_get("message_id")?),
        member_id: MemberId(row.try_get("member_id")?),
        department_id: DepartmentId(row.try_get("department_id")?),
        times: ReceiptTimes {
            delivered_at: ts_opt(row.try_get("delivered_at")?),
            read_at: ts_opt(row.try_get("read_at")?),
            acked_at: ts_opt(row.try_get("acked_at")?),
            response: row.try_get("response")?,
        },
        read_recorded_at: ts_opt(row.try_get("read_recorded_at")?),
        read_quiet: row.try_get("read_quiet")?,
        reminders: row.try_get("reminder_count")?,
        last_reminded_at: ts_opt(row.try_get("last_reminded_at")?),
        escalated_at: ts_opt(row.try_get("escalated_at")?),
    })
}

/// Hands out `n` sequence numbers of the organisation; returns the first. The row lock
/// this takes is held until commit, so another writer of the organisation allocates only
/// after this transaction is visible: sequence order is commit order. Callers do it last.
pub(crate) async fn allocate_seqs(conn: &mut PgConnection, org: OrgId, n: i64) -> Result<i64> {
    let last: i64 = sqlx::query_scalar(
        "UPDATE orgs SET last_seq = last_seq + $1 WHERE id = $2 RETURNING last_seq",
    )
    .bind(n)
    .bind(org.0)
    .fetch_one(&mut *conn)
    .await?;
    Ok(last - n + 1)
}

/// Events, column by column, for one `INSERT ... SELECT FROM UNNEST(...)`.
#[derive(Default)]
struct EventColumns {
    org_id: Vec<i64>,
    seq: Vec<i64>,
    kind: Vec<&'static str>,
    target: Vec<Option<i64>>,
    message_id: Vec<i64>,
    at: Vec<i64>,
    payload: Vec<String>,
}

/// Appends events (their seqs already assigned) and queues their webhook deliveries.
pub(crate) async fn insert_events(conn: &mut PgConnection, events: &[Event]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    // Every webhook subscribed to an event's kind gets a delivery queued in this same
    // transaction: a committed event is never without its deliveries.
    let mut orgs: Vec<i64> = events.iter().map(|e| e.org_id.0).collect();
    orgs.sort();
    orgs.dedup();
    let hooks: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT id, org_id, events FROM webhooks WHERE org_id = ANY($1) AND active ORDER BY id",
    )
    .bind(&orgs)
    .fetch_all(&mut *conn)
    .await?;
    let mut deliveries: (Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>) = Default::default();
    for (hook, org, kinds) in &hooks {
        for e in events.iter().filter(|e| e.org_id.0 == *org) {
            if kinds.split(',').any(|k| k == e.body.kind()) {
                deliveries.0.push(*hook);
                deliveries.1.push(*org);
                deliveries.2.push(e.seq.0);
                deliveries.3.push(ms(e.at));
            }
        }
    }
    for r in chunks(deliveries.0.len(), |_| 4 * INT8) {
        sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, org_id, event_seq, next_attempt_at, created_at)
             SELECT v.webhook_id, v.org_id, v.seq, v.at, v.at
             FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::int8[]) AS v(webhook_id, org_id, seq, at)",
        )
        .bind(&deliveries.0[r.clone()])
        .bind(&deliveries.1[r.clone()])
        .bind(&deliveries.2[r.clone()])
        .bind(&deliveries.3[r])
        .execute(&mut *conn)
        .await?;
    }
    let mut cols = EventColumns::default();
    for e in events {
        cols.org_id.push(e.org_id.0);
        cols.seq.push(e.seq.0);
        cols.kind.push(e.body.kind());
        cols.target.push(target_of(&e.body));
        cols.message_id.push(e.body.message_id().0);
        cols.at.push(ms(e.at));
        cols.payload.push(encode_payload(&e.body));
    }
    let row_bytes = |i: usize| 5 * INT8 + text(cols.kind[i]) + text(&cols.payload[i]);
    for r in chunks(cols.seq.len(), row_bytes) {
        sqlx::query(
            "INSERT INTO events (org_id, seq, kind, target_member_id, message_id, at, payload)
             SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::text[])",
        )
        .bind(&cols.org_id[r.clone()])
        .bind(&cols.seq[r.clone()])
        .bind(&cols.kind[r.clone()])
        .bind(&cols.target[r.clone()])
        .bind(&cols.message_id[r.clone()])
        .bind(&cols.at[r.clone()])
        .bind(&cols.payload[r])
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The pilot departments as stored (`"1,2,3"`), as an array for `= ANY(...)`.
pub(crate) fn pilot_array(pilot: Option<&str>) -> Option<Vec<i64>> {
    pilot.map(split_ids)
}

/// Counts the recipients of a notice whose rows may be shown under the org's current rules.
/// Recipients from which a notice's fan-out refreshes the receipts table's statistics.
const ANALYZE_AFTER_FAN_OUT: i64 = 5_000;

pub(crate) async fn count_visible(
    conn: &mut PgConnection,
    message: MessageId,
    org: OrgId,
) -> Result<(i64, i64)> {
    let (policy_version, quiet_reads, pilot, epoch): (i64, String, Option<String>, i64) = sqlx::query_as(
        "SELECT policy_version, quiet_reads, pilot_expanded, visibility_epoch FROM orgs WHERE id = $1",
    )
    .bind(org.0)
    .fetch_one(&mut *conn)
    .await?;
    let visible: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM receipts r JOIN members m ON m.id = r.member_id
         WHERE r.message_id = $1 AND m.policy_ack_version >= $2
           AND NOT ($3 AND r.read_quiet AND r.state >= 2)
           AND ($4::int8[] IS NULL OR r.department_id = ANY($4))",
    )
    .bind(message.0)
    .bind(policy_version)
    .bind(quiet_reads == "untracked")
    .bind(pilot_array(pilot.as_deref()))
    .fetch_one(&mut *conn)
    .await?;
    Ok((visible, epoch))
}

/// Queues each recipient's first reminder-plan step, by their time zone, in one statement.
async fn insert_first_steps(
    conn: &mut PgConnection,
    message: MessageId,
    org: OrgId,
    steps: &[FirstStep],
) -> Result<()> {
    let Some(default) = steps.iter().find(|s| s.zone.is_none()) else {
        return Ok(());
    };
    let mut zones: (Vec<&str>, Vec<&str>, Vec<i64>, Vec<i64>) = Default::default();
    for s in steps {
        if let Some(z) = &s.zone {
            zones.0.push(z);
            zones.1.push(s.step.as_str());
            zones.2.push(s.step_no);
            zones.3.push(ms(s.due_at));
        }
    }
    sqlx::query(
        "INSERT INTO due_steps (org_id, message_id, member_id, step, step_no, due_at)
         SELECT $1, r.message_id, r.member_id, COALESCE(z.step, $3), COALESCE(z.step_no, $4), COALESCE(z.due_at, $5)
         FROM receipts r JOIN members m ON m.id = r.member_id
         LEFT JOIN UNNEST($6::text[], $7::text[], $8::int8[], $9::int8[]) AS z(zone, step, step_no, due_at)
             ON z.zone = m.time_zone
         WHERE r.message_id = $2",
    )
    .bind(org.0)
    .bind(message.0)
    .bind(default.step.as_str())
    .bind(default.step_no)
    .bind(ms(default.due_at))
    .bind(&zones.0)
    .bind(&zones.1)
    .bind(&zones.2)
    .bind(&zones.3)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl PostgresStorage {
    pub(crate) async fn create_message_impl(
        &self,
        new: &NewMessageRecord,
    ) -> Result<CreatedMessage> {
        let m = &new.message;
        let now = ms(new.now);
        let mut tx = self.pool.begin().await?;
        let options = serde_json::to_string(&m.response_options).unwrap_or_else(|_| "[]".into());
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO messages (org_id, sender_id, title, body, priority, tracking, require_ack, response_options, audience_members, audience_departments, reminders, deadline, is_async, recipient_count, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14) RETURNING id",
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
        .fetch_one(&mut *tx)
        .await?;

        // Fan-out in one statement: every active member reached directly or through a
        // department subtree, once, never the sender.
        let depts: Vec<i64> = new.departments_expanded.iter().map(|d| d.0).collect();
        let members: Vec<i64> = m.audience.members.iter().map(|d| d.0).collect();
        let fanned = sqlx::query(
            "INSERT INTO receipts (message_id, member_id, department_id)
             SELECT $1, id, department_id FROM members
             WHERE org_id = $2 AND active AND id <> $3
               AND (department_id = ANY($4) OR id = ANY($5))",
        )
        .bind(id)
        .bind(new.org_id.0)
        .bind(new.sender_id.0)
        .bind(&depts)
        .bind(&members)
        .execute(&mut *tx)
        .await?;
        let recipients = fanned.rows_affected() as i64;
        if recipients == 0 {
            return Err(StorageError::Invalid(
                readtrack_domain::FieldError::with_code(
                    "audience",
                    "empty_audience",
                    "`audience` reaches no one but the sender; add members or departments with people in them",
                ),
            ));
        }
        sqlx::query("UPDATE messages SET recipient_count = $1 WHERE id = $2")
            .bind(recipients)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let (visible, epoch) = if m.tracking == Tracking::PerPerson {
            count_visible(&mut tx, MessageId(id), new.org_id).await?
        } else {
            (0, -1)
        };
        sqlx::query("INSERT INTO message_counters (message_id, recipients, visible, visible_epoch) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(recipients)
            .bind(visible)
            .bind(epoch)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO department_counters (message_id, department_id, recipients)
             SELECT message_id, department_id, COUNT(*) FROM receipts WHERE message_id = $1 GROUP BY message_id, department_id",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        insert_first_steps(&mut tx, MessageId(id), new.org_id, &new.first_steps).await?;
        if !m.response_options.is_empty() {
            let positions: Vec<i64> = (0..m.response_options.len() as i64).collect();
            sqlx::query(
                "INSERT INTO message_responses (message_id, position, label)
                 SELECT $1, v.position, v.label FROM UNNEST($2::int8[], $3::text[]) AS v(position, label)",
            )
            .bind(id)
            .bind(&positions)
            .bind(&m.response_options)
            .execute(&mut *tx)
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
            "SELECT {MESSAGE_COLUMNS} FROM messages m LEFT JOIN members s ON s.id = m.sender_id WHERE m.id = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let message = message_from_row(&row)?;
        tx.commit().await?;
        if recipients >= ANALYZE_AFTER_FAN_OUT {
            // A large fan-out changes the receipts table faster than autovacuum looks
            // (up to a minute): until its statistics are refreshed the planner takes the
            // notice's rows for a handful and sorts them all for a board page (measured:
            // 40 ms instead of 2 ms at 20,000 recipients). ANALYZE samples, takes a lock
            // that blocks neither reads nor writes, and runs after the sender's answer.
            let pool = self.pool.clone();
            tokio::spawn(async move {
                if let Err(e) = sqlx::query("ANALYZE receipts").execute(&pool).await {
                    tracing::warn!(error = %e, "could not refresh the receipts table's statistics");
                }
            });
        }
        Ok(CreatedMessage { message, event })
    }

    pub(crate) async fn message_impl(
        &self,
        org: OrgId,
        id: MessageId,
    ) -> Result<Option<MessageRecord>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m LEFT JOIN members s ON s.id = m.sender_id WHERE m.id = $1 AND m.org_id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .bind(org.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    pub(crate) async fn inbox_impl(
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
             WHERE r.member_id = $1 AND r.message_id < $2{unread}
             ORDER BY r.message_id DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(member.0)
            .bind(page.after.unwrap_or(i64::MAX))
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
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

    pub(crate) async fn sent_impl(
        &self,
        member: MemberId,
        page: Page,
    ) -> Result<Vec<MessageRecord>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m LEFT JOIN members s ON s.id = m.sender_id
             WHERE m.sender_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(member.0)
            .bind(page.after.unwrap_or(i64::MAX))
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(message_from_row).collect()
    }

    pub(crate) async fn receipt_impl(
        &self,
        message: MessageId,
        member: MemberId,
    ) -> Result<Option<ReceiptRecord>> {
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS} FROM receipts r WHERE r.message_id = $1 AND r.member_id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(message.0)
            .bind(member.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(receipt_from_row).transpose()
    }
}
