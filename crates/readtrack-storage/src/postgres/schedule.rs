//! The durable due-queue (reminders, escalations, tasks) and "remind the unread now".
//!
//! Several nodes run the scheduler against one database. A pass claims due rows with
//! `FOR UPDATE SKIP LOCKED`: rows another node has claimed are skipped, not waited for,
//! and a claim lasts exactly as long as the claiming transaction. The pass records each
//! step and replaces it by the next one before committing, so a step fires once; a node
//! that dies mid-pass has its transaction aborted and its claims released to the others.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use readtrack_domain::event::{Event, EventBody};
use readtrack_domain::ids::{MemberId, MessageId, OrgId, Seq, TaskId};
use readtrack_domain::receipt::ReceiptState;
use readtrack_domain::reminder::{EscalateTo, ReminderPlan};
use readtrack_domain::schedule::{self, Step, StepsDone};
use readtrack_domain::settings::OrgSettings;
use readtrack_domain::time_zone::Zone;
use readtrack_domain::working_time::WorkCalendar;
use sqlx::{PgConnection, Row};

use super::messages::{allocate_seqs, insert_events};
use super::orgs::{ORG_COLUMNS, org_from_row};
use super::{INT8, PostgresStorage, chunks, plan_for_keys};
use crate::model::*;
use crate::sql::*;
use crate::{Result, StorageError};

/// What a pass needs to know about a notice.
struct PlanFacts {
    org_id: OrgId,
    title: String,
    require_ack: bool,
    created_at: Timestamp,
    plan: Option<ReminderPlan>,
}

/// The step a stored row names.
fn step_of(kind: StepKind, no: i64) -> Option<Step> {
    match kind {
        StepKind::Reminder => Some(Step::Reminder(no.max(1) as u32)),
        StepKind::Escalation => Some(Step::Escalation),
        StepKind::Manual => None,
    }
}

/// The stored form of a step.
fn row_of(step: Step) -> (StepKind, i64) {
    match step {
        Step::Reminder(k) => (StepKind::Reminder, i64::from(k)),
        Step::Escalation => (StepKind::Escalation, 0),
    }
}

/// What had happened by the time `target` fires: every earlier step in plan order.
fn done_through(
    plan: &ReminderPlan,
    cal: &WorkCalendar,
    sent_at: Timestamp,
    target: Step,
) -> StepsDone {
    let mut done = StepsDone::default();
    for _ in 0..64 {
        match schedule::next_step(plan, cal, sent_at, done) {
            Some((step, _)) if step == target => return done.after(step),
            Some((step, _)) => done = done.after(step),
            None => break,
        }
    }
    done.after(target)
}

async fn org_settings(
    conn: &mut PgConnection,
    cache: &mut HashMap<OrgId, Arc<OrgSettings>>,
    org: OrgId,
) -> Result<Arc<OrgSettings>> {
    if let Some(s) = cache.get(&org) {
        return Ok(s.clone());
    }
    let sql = format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.0)
        .fetch_one(&mut *conn)
        .await?;
    let settings = Arc::new(org_from_row(&row, String::new())?.settings);
    cache.insert(org, settings.clone());
    Ok(settings)
}

fn calendar(settings: &OrgSettings, member_zone: Option<&str>) -> WorkCalendar {
    let zone = member_zone
        .and_then(|z| Zone::parse("time_zone", z).ok())
        .unwrap_or_else(|| settings.time_zone.clone());
    WorkCalendar::new(&zone, &settings.working_hours, &settings.quiet_hours)
}

impl PostgresStorage {
    pub(crate) async fn member_zones_impl(&self, org: OrgId) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT time_zone FROM members WHERE org_id = $1 AND time_zone IS NOT NULL",
        )
        .bind(org.0)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(crate) async fn next_due_at_impl(&self) -> Result<Option<Timestamp>> {
        let t: Option<i64> = sqlx::query_scalar("SELECT MIN(due_at) FROM due_steps")
            .fetch_one(&self.pool)
            .await?;
        Ok(ts_opt(t))
    }

    pub(crate) async fn undo_deferrals_impl(&self) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE due_steps SET due_at = deferred_from, deferred_from = NULL WHERE deferred_from IS NOT NULL",
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn fire_due_steps_impl(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<FiredSteps> {
        let mut tx = self.pool.begin().await?;
        plan_for_keys(&mut tx, true).await?;
        // The claim: due rows nobody else holds. They stay locked until this
        // transaction ends, committed (fired and replaced) or aborted (left for others).
        let due = sqlx::query(
            "SELECT id, org_id, message_id, member_id, step, step_no, COALESCE(deferred_from, due_at) AS planned_at FROM due_steps
             WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let mut out = FiredSteps::default();
        if due.is_empty() {
            return Ok(out);
        }
        // Lock the recipients' receipt rows up front in key order, the order the receipt
        // path uses, so a pass and a batch of reads never wait on each other in a cycle.
        let mut keys: (Vec<i64>, Vec<i64>) = Default::default();
        for row in &due {
            keys.0.push(row.try_get("message_id")?);
            keys.1.push(row.try_get("member_id")?);
        }
        let mut sorted: Vec<(i64, i64)> =
            keys.0.iter().copied().zip(keys.1.iter().copied()).collect();
        sorted.sort();
        sorted.dedup();
        let (messages, members): (Vec<i64>, Vec<i64>) = sorted.into_iter().unzip();
        for r in chunks(messages.len(), |_| 2 * INT8) {
            sqlx::query(
                "SELECT 1 FROM receipts r JOIN UNNEST($1::int8[], $2::int8[]) AS k(message_id, member_id)
                     ON r.message_id = k.message_id AND r.member_id = k.member_id
                 ORDER BY r.message_id, r.member_id FOR UPDATE OF r",
            )
            .bind(&messages[r.clone()])
            .bind(&members[r])
            .execute(&mut *tx)
            .await?;
        }
        let mut plans: HashMap<MessageId, Arc<PlanFacts>> = HashMap::new();
        let mut orgs: HashMap<OrgId, Arc<OrgSettings>> = HashMap::new();
        let mut events: Vec<Event> = Vec::new();
        for row in &due {
            let id: i64 = row.try_get("id")?;
            let message = MessageId(row.try_get("message_id")?);
            let member = MemberId(row.try_get("member_id")?);
            let kind = StepKind::parse(&row.try_get::<String, _>("step")?)
                .ok_or_else(|| StorageError::Corrupt("step kind".into()))?;
            let step_no: i64 = row.try_get("step_no")?;
            let planned_at = ts(row.try_get("planned_at")?);
            let facts = match plans.get(&message) {
                Some(f) => f.clone(),
                None => {
                    let m = sqlx::query("SELECT org_id, title, require_ack, created_at, reminders FROM messages WHERE id = $1")
                        .bind(message.0)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(m) = m else {
                        delete_step(&mut tx, id).await?;
                        out.dropped += 1;
                        continue;
                    };
                    let f = Arc::new(PlanFacts {
                        org_id: OrgId(m.try_get("org_id")?),
                        title: m.try_get("title")?,
                        require_ack: m.try_get("require_ack")?,
                        created_at: ts(m.try_get("created_at")?),
                        plan: m
                            .try_get::<Option<String>, _>("reminders")?
                            .map(|p| decode_plan(&p))
                            .transpose()?,
                    });
                    plans.insert(message, f.clone());
                    f
                }
            };
            let recipient = sqlx::query(
                "SELECT r.state, r.reminders, r.escalated_at, m.time_zone, m.manager_id, m.backup_id, m.active
                 FROM receipts r JOIN members m ON m.id = r.member_id WHERE r.message_id = $1 AND r.member_id = $2",
            )
            .bind(message.0)
            .bind(member.0)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(recipient) = recipient else {
                delete_step(&mut tx, id).await?;
                out.dropped += 1;
                continue;
            };
            let state = ReceiptState::from_code(i64::from(recipient.try_get::<i16, _>("state")?));
            let finished = if facts.require_ack {
                ReceiptState::Acknowledged
            } else {
                ReceiptState::Read
            };
            if state >= finished || !recipient.try_get::<bool, _>("active")? {
                // Read (or confirmed) in the meantime: every further step stops here.
                delete_step(&mut tx, id).await?;
                out.dropped += 1;
                continue;
            }
            let settings = org_settings(&mut tx, &mut orgs, facts.org_id).await?;
            let zone: Option<String> = recipient.try_get("time_zone")?;
            let cal = calendar(&settings, zone.as_deref());
            if !cal.is_working(now) {
                // Never inside quiet hours or off work: wait for the recipient's working time.
                match schedule::deliverable_at(&cal, planned_at, now) {
                    Some(t) => {
                        sqlx::query("UPDATE due_steps SET deferred_from = COALESCE(deferred_from, due_at), due_at = $1 WHERE id = $2")
                            .bind(ms(t))
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        out.rescheduled += 1;
                    }
                    None => {
                        delete_step(&mut tx, id).await?;
                        out.dropped += 1;
                    }
                }
                continue;
            }
            let escalated_before = recipient
                .try_get::<Option<i64>, _>("escalated_at")?
                .is_some();
            match kind {
                StepKind::Reminder | StepKind::Manual => {
                    let count: i64 = sqlx::query_scalar(
                        "UPDATE receipts SET reminders = reminders + 1, last_reminded_at = $1 WHERE message_id = $2 AND member_id = $3 RETURNING reminders",
                    )
                    .bind(ms(now))
                    .bind(message.0)
                    .bind(member.0)
                    .fetch_one(&mut *tx)
                    .await?;
                    events.push(event(
                        facts.org_id,
                        now,
                        EventBody::Reminder {
                            message_id: message,
                            member_id: member,
                            count,
                        },
                    ));
                }
                StepKind::Escalation => {
                    sqlx::query("UPDATE receipts SET escalated_at = $1 WHERE message_id = $2 AND member_id = $3")
                        .bind(ms(now))
                        .bind(message.0)
                        .bind(member.0)
                        .execute(&mut *tx)
                        .await?;
                    let plan = facts
                        .plan
                        .clone()
                        .unwrap_or_else(ReminderPlan::default_for_tracked);
                    let manager = recipient
                        .try_get::<Option<i64>, _>("manager_id")?
                        .map(MemberId);
                    let backup = recipient
                        .try_get::<Option<i64>, _>("backup_id")?
                        .map(MemberId);
                    let mut told = Vec::new();
                    for target in &plan.escalate_to {
                        let (who, role) = match target {
                            EscalateTo::Manager => (manager, "manager"),
                            EscalateTo::Backup => (backup, "backup"),
                        };
                        let Some(who) = who.filter(|w| *w != member && !told.contains(w)) else {
                            continue;
                        };
                        told.push(who);
                        sqlx::query("INSERT INTO escalations (org_id, message_id, recipient_id, to_member_id, role, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                            .bind(facts.org_id.0)
                            .bind(message.0)
                            .bind(member.0)
                            .bind(who.0)
                            .bind(role)
                            .bind(ms(now))
                            .execute(&mut *tx)
                            .await?;
                        events.push(event(
                            facts.org_id,
                            now,
                            EventBody::Escalation {
                                message_id: message,
                                recipient_id: member,
                                to_member_id: who,
                                role,
                            },
                        ));
                    }
                    if plan.create_task {
                        let task: i64 = sqlx::query_scalar(
                            "INSERT INTO tasks (org_id, member_id, message_id, reason, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                        )
                        .bind(facts.org_id.0)
                        .bind(member.0)
                        .bind(message.0)
                        .bind(format!("Read and confirm: {}", facts.title))
                        .bind(ms(now))
                        .fetch_one(&mut *tx)
                        .await?;
                        events.push(event(
                            facts.org_id,
                            now,
                            EventBody::TaskCreated {
                                task_id: TaskId(task),
                                message_id: message,
                                member_id: member,
                            },
                        ));
                    }
                }
            }
            delete_step(&mut tx, id).await?;
            out.fired += 1;
            // The recipient's next planned step, if any.
            if let (Some(step), Some(plan)) = (step_of(kind, step_no), facts.plan.as_ref()) {
                let mut done = done_through(plan, &cal, facts.created_at, step);
                done.escalated |= escalated_before;
                if let Some((next, due)) = schedule::next_step(plan, &cal, facts.created_at, done) {
                    let (k, no) = row_of(next);
                    insert_step(&mut tx, facts.org_id, message, member, k, no, due).await?;
                }
            }
        }
        assign_and_insert(&mut tx, &mut events).await?;
        tx.commit().await?;
        out.events = events;
        Ok(out)
    }

    pub(crate) async fn remind_unread_impl(
        &self,
        message: &MessageRecord,
        timing: &[ZoneTiming],
        min_interval: SignedDuration,
        now: Timestamp,
    ) -> Result<RemindOutcome> {
        let mut tx = self.pool.begin().await?;
        // Claim the notice's "last reminded" slot first: of two senders' clicks on two
        // nodes, the second waits here and then sees the first one's time.
        sqlx::query("INSERT INTO manual_reminds (message_id, last_at) VALUES ($1, $2) ON CONFLICT (message_id) DO NOTHING")
            .bind(message.id.0)
            .bind(i64::MIN)
            .execute(&mut *tx)
            .await?;
        let last: i64 = sqlx::query_scalar(
            "SELECT last_at FROM manual_reminds WHERE message_id = $1 FOR UPDATE",
        )
        .bind(message.id.0)
        .fetch_one(&mut *tx)
        .await?;
        if last != i64::MIN {
            let next = ts(last) + min_interval;
            if now < next {
                return Ok(RemindOutcome::TooSoon(next));
            }
        }
        let finished: i16 = if message.require_ack { 3 } else { 2 };
        let unread = sqlx::query(
            "SELECT r.member_id, m.time_zone FROM receipts r JOIN members m ON m.id = r.member_id
             WHERE r.message_id = $1 AND r.state < $2 AND m.active
             ORDER BY r.member_id FOR UPDATE OF r",
        )
        .bind(message.id.0)
        .bind(finished)
        .fetch_all(&mut *tx)
        .await?;
        let default = timing
            .iter()
            .find(|t| t.zone.is_none())
            .and_then(|t| t.defer_to);
        let mut now_ids = Vec::new();
        let mut later = Vec::new();
        for row in &unread {
            let member = MemberId(row.try_get("member_id")?);
            let zone: Option<String> = row.try_get("time_zone")?;
            let defer = match zone {
                Some(z) => timing
                    .iter()
                    .find(|t| t.zone.as_deref() == Some(z.as_str()))
                    .map(|t| t.defer_to)
                    .unwrap_or(default),
                None => default,
            };
            match defer {
                None => now_ids.push(member.0),
                Some(t) => later.push((member, t)),
            }
        }
        let mut events = Vec::new();
        if !now_ids.is_empty() {
            let rows = sqlx::query(
                "UPDATE receipts SET reminders = reminders + 1, last_reminded_at = $1
                 WHERE message_id = $2 AND member_id = ANY($3) RETURNING member_id, reminders",
            )
            .bind(ms(now))
            .bind(message.id.0)
            .bind(&now_ids)
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                events.push(event(
                    message.org_id,
                    now,
                    EventBody::Reminder {
                        message_id: message.id,
                        member_id: MemberId(row.try_get("member_id")?),
                        count: row.try_get("reminders")?,
                    },
                ));
            }
            events.sort_by_key(|e| match &e.body {
                EventBody::Reminder { member_id, .. } => member_id.0,
                _ => 0,
            });
        }
        for (member, at) in &later {
            insert_step(
                &mut tx,
                message.org_id,
                message.id,
                *member,
                StepKind::Manual,
                0,
                *at,
            )
            .await?;
        }
        sqlx::query("UPDATE manual_reminds SET last_at = $2 WHERE message_id = $1")
            .bind(message.id.0)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
        assign_and_insert(&mut tx, &mut events).await?;
        tx.commit().await?;
        Ok(RemindOutcome::Done {
            reminded: now_ids.len() as i64,
            deferred: later.len() as i64,
            events,
        })
    }
}

fn event(org: OrgId, at: Timestamp, body: EventBody) -> Event {
    Event {
        seq: Seq(0),
        org_id: org,
        at,
        body,
    }
}

async fn delete_step(conn: &mut PgConnection, id: i64) -> Result<()> {
    sqlx::query("DELETE FROM due_steps WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(crate) async fn insert_step(
    conn: &mut PgConnection,
    org: OrgId,
    message: MessageId,
    member: MemberId,
    kind: StepKind,
    step_no: i64,
    due: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO due_steps (org_id, message_id, member_id, step, step_no, due_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (message_id, member_id, step, step_no) DO NOTHING",
    )
    .bind(org.0)
    .bind(message.0)
    .bind(member.0)
    .bind(kind.as_str())
    .bind(step_no)
    .bind(ms(due))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Numbers events per organisation and appends them. Called last in a transaction: the
/// organisation rows stay locked from here to commit (see [`allocate_seqs`]).
pub(crate) async fn assign_and_insert(conn: &mut PgConnection, events: &mut [Event]) -> Result<()> {
    let mut per_org: HashMap<OrgId, i64> = HashMap::new();
    for e in events.iter() {
        *per_org.entry(e.org_id).or_default() += 1;
    }
    // Organisations in id order, so two transactions spanning two organisations never
    // lock them in opposite orders.
    let mut orgs: Vec<(OrgId, i64)> = per_org.into_iter().collect();
    orgs.sort();
    let mut next: HashMap<OrgId, i64> = HashMap::new();
    for (org, n) in orgs {
        next.insert(org, allocate_seqs(conn, org, n).await?);
    }
    for e in events.iter_mut() {
        let s = next
            .get_mut(&e.org_id)
            .ok_or(StorageError::NotFound("org"))?;
        e.seq = Seq(*s);
        *s += 1;
    }
    insert_events(conn, events).await
}
