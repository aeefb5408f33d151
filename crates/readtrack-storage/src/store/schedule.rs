//! The durable due-queue (reminders, escalations, tasks) and "remind the unread now".

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use readtrack_domain::event::{Event, EventBody};
use readtrack_domain::ids::{MemberId, MessageId, OrgId, Seq, TaskId};
use readtrack_domain::receipt::ReceiptState;
use readtrack_domain::reminder::{ReminderPlan, escalation_targets};
use readtrack_domain::schedule::{self, RecipientNow, Step, StepDecision, StepsDone};
use readtrack_domain::settings::OrgSettings;
use readtrack_domain::time_zone::Zone;
use readtrack_domain::working_time::WorkCalendar;

use super::messages::{allocate_seqs, insert_events};
use super::orgs::{ORG_COLUMNS, org_from_row};
use super::{Store, chunks, json_id_list, json_ints, lock, plan_for_keys};
use crate::db::Dialect;
use crate::db::{Tx, q};
use crate::model::*;
use crate::sql::*;
use crate::{Result, Schedule, StorageError};

/// What a pass needs to know about a notice.
struct PlanFacts {
    org_id: OrgId,
    title: String,
    require_ack: bool,
    created_at: Timestamp,
    plan: Option<ReminderPlan>,
    /// An emergency's reminders run on wall-clock minutes, at any hour.
    emergency: bool,
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
    tx: &mut Tx,
    cache: &mut HashMap<OrgId, Arc<OrgSettings>>,
    org: OrgId,
) -> Result<Arc<OrgSettings>> {
    if let Some(s) = cache.get(&org) {
        return Ok(s.clone());
    }
    let row = q(format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = ?"))
        .bind(org.0)
        .fetch_one(tx)
        .await?;
    let settings = Arc::new(org_from_row(&row, String::new(), Default::default())?.settings);
    cache.insert(org, settings.clone());
    Ok(settings)
}

/// The state at which a notice needs nothing more from its recipient.
fn finished_state(require_ack: bool) -> ReceiptState {
    if require_ack {
        ReceiptState::Acknowledged
    } else {
        ReceiptState::Read
    }
}

fn calendar(settings: &OrgSettings, member_zone: Option<&str>, emergency: bool) -> WorkCalendar {
    let zone = member_zone
        .and_then(|z| Zone::parse("time_zone", z).ok())
        .unwrap_or_else(|| settings.time_zone.clone());
    if emergency {
        WorkCalendar::around_the_clock(&zone)
    } else {
        WorkCalendar::new(&zone, &settings.working_hours, &settings.quiet_hours)
    }
}

#[async_trait]
impl Schedule for Store {
    async fn member_zones(&self, org: OrgId) -> Result<Vec<String>> {
        Ok(
            q("SELECT DISTINCT time_zone FROM members WHERE org_id = ? AND time_zone IS NOT NULL")
                .bind(org.0)
                .scalars(&mut self.db.read().await?)
                .await?,
        )
    }

    async fn fire_due_steps(&self, now: Timestamp, limit: u32) -> Result<FiredSteps> {
        self.db
            .retrying(|| self.fire_due_steps_impl(now, limit))
            .await
    }

    async fn next_due_at(&self) -> Result<Option<Timestamp>> {
        let t: Option<i64> = q("SELECT MIN(due_at) FROM due_steps")
            .scalar(&mut self.db.read().await?)
            .await?;
        Ok(ts_opt(t))
    }

    async fn undo_deferrals(&self) -> Result<u64> {
        let done = q(
            "UPDATE due_steps SET due_at = deferred_from, deferred_from = NULL WHERE deferred_from IS NOT NULL",
        )
        .execute(&mut self.db.write_conn().await?)
        .await?;
        Ok(done)
    }

    async fn remind_unread(
        &self,
        message: &MessageRecord,
        timing: &[ZoneTiming],
        min_interval: jiff::SignedDuration,
        now: Timestamp,
    ) -> Result<RemindOutcome> {
        self.db
            .retrying(|| self.remind_unread_impl(message, timing, min_interval, now))
            .await
    }
}

impl Store {
    pub(crate) async fn fire_due_steps_impl(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<FiredSteps> {
        // Most passes find nothing due: look from a reader before taking the write lock.
        let any: Option<i64> = q("SELECT id FROM due_steps WHERE due_at <= ? LIMIT 1")
            .bind(ms(now))
            .scalar_opt(&mut self.db.read().await?)
            .await?;
        if any.is_none() {
            return Ok(FiredSteps::default());
        }
        let mut tx = self.db.write().await?;
        // The single writer connection serialises passes: a step is claimed, recorded and
        // deleted inside this one transaction, so no two passes can fire it.
        // On SQLite the single writer serialises passes. On PostgreSQL steps another node
        // has claimed are skipped, not waited for, and the receipt rows of the claimed
        // steps are locked in key order, as the receipt path locks them.
        let d = self.dialect();
        plan_for_keys(&mut tx, true).await?;
        let due = q(format!(
            "SELECT id, org_id, message_id, member_id, step, step_no, COALESCE(deferred_from, due_at) AS planned_at FROM due_steps WHERE due_at <= ? ORDER BY due_at, id LIMIT ?{}",
            lock(d, " FOR UPDATE SKIP LOCKED")
        ))
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&mut tx)
        .await?;
        if d == Dialect::Postgres && !due.is_empty() {
            let keys = due
                .iter()
                .map(|r| {
                    Ok(format!(
                        "[{},{}]",
                        r.get::<i64>("message_id")?,
                        r.get::<i64>("member_id")?
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            q("SELECT 1 FROM receipts r
                 WHERE (r.message_id, r.member_id) IN (
                     SELECT (k->>0)::bigint, (k->>1)::bigint FROM json_array_elements(?::json) k)
                 ORDER BY r.message_id, r.member_id FOR UPDATE OF r")
            .bind(format!("[{}]", keys.join(",")))
            .execute(&mut tx)
            .await?;
        }
        let mut out = FiredSteps::default();
        let mut plans: HashMap<MessageId, Arc<PlanFacts>> = HashMap::new();
        let mut orgs: HashMap<OrgId, Arc<OrgSettings>> = HashMap::new();
        let mut events: Vec<Event> = Vec::new();
        for row in &due {
            let id: i64 = row.get("id")?;
            let message = MessageId(row.get("message_id")?);
            let member = MemberId(row.get("member_id")?);
            let kind = StepKind::parse(&row.get::<String>("step")?)
                .ok_or_else(|| StorageError::Corrupt("step kind".into()))?;
            let step_no: i64 = row.get("step_no")?;
            let planned_at = ts(row.get("planned_at")?);
            let facts = match plans.get(&message) {
                Some(f) => f.clone(),
                None => {
                    let m = q("SELECT org_id, title, require_ack, created_at, reminders, emergency_reason FROM messages WHERE id = ?")
                        .bind(message.0)
                        .fetch_optional(&mut tx)
                        .await?;
                    let Some(m) = m else {
                        delete_step(&mut tx, id).await?;
                        out.dropped += 1;
                        continue;
                    };
                    let f = Arc::new(PlanFacts {
                        org_id: OrgId(m.get("org_id")?),
                        title: m.get("title")?,
                        require_ack: m.get("require_ack")?,
                        created_at: ts(m.get("created_at")?),
                        plan: m
                            .get::<Option<String>>("reminders")?
                            .map(|p| decode_plan(&p))
                            .transpose()?,
                        emergency: m.get::<Option<String>>("emergency_reason")?.is_some(),
                    });
                    plans.insert(message, f.clone());
                    f
                }
            };
            let recipient = q(
                "SELECT r.state, r.reminders, r.escalated_at, m.time_zone, m.manager_id, m.backup_id, m.active
                 FROM receipts r JOIN members m ON m.id = r.member_id WHERE r.message_id = ? AND r.member_id = ?",
            )
            .bind(message.0)
            .bind(member.0)
            .fetch_optional(&mut tx)
            .await?;
            let Some(recipient) = recipient else {
                delete_step(&mut tx, id).await?;
                out.dropped += 1;
                continue;
            };
            let state = ReceiptState::from_code(recipient.get("state")?);
            let settings = org_settings(&mut tx, &mut orgs, facts.org_id).await?;
            let zone: Option<String> = recipient.get("time_zone")?;
            let cal = calendar(&settings, zone.as_deref(), facts.emergency);
            let now_state = RecipientNow {
                finished: state >= finished_state(facts.require_ack),
                active: recipient.get("active")?,
            };
            match schedule::decide_step(now_state, &cal, planned_at, now) {
                StepDecision::Fire => {}
                StepDecision::Wait(t) => {
                    q("UPDATE due_steps SET deferred_from = COALESCE(deferred_from, due_at), due_at = ? WHERE id = ?")
                        .bind(ms(t))
                        .bind(id)
                        .execute(&mut tx)
                        .await?;
                    out.rescheduled += 1;
                    continue;
                }
                StepDecision::Drop => {
                    delete_step(&mut tx, id).await?;
                    out.dropped += 1;
                    continue;
                }
            }
            let escalated_before = recipient.get::<Option<i64>>("escalated_at")?.is_some();
            match kind {
                StepKind::Reminder | StepKind::Manual => {
                    let count: i64 = q(
                        "UPDATE receipts SET reminders = reminders + 1, last_reminded_at = ? WHERE message_id = ? AND member_id = ? RETURNING reminders",
                    )
                    .bind(ms(now))
                    .bind(message.0)
                    .bind(member.0)
                    .scalar(&mut tx)
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
                    q("UPDATE receipts SET escalated_at = ? WHERE message_id = ? AND member_id = ?")
                        .bind(ms(now))
                        .bind(message.0)
                        .bind(member.0)
                        .execute(&mut tx)
                        .await?;
                    let plan = facts
                        .plan
                        .clone()
                        .unwrap_or_else(ReminderPlan::default_for_tracked);
                    let manager = recipient.get::<Option<i64>>("manager_id")?.map(MemberId);
                    let backup = recipient.get::<Option<i64>>("backup_id")?.map(MemberId);
                    for (who, role) in
                        escalation_targets(&plan.escalate_to, member, manager, backup)
                    {
                        q("INSERT INTO escalations (org_id, message_id, recipient_id, to_member_id, role, created_at) VALUES (?, ?, ?, ?, ?, ?)")
                            .bind(facts.org_id.0)
                            .bind(message.0)
                            .bind(member.0)
                            .bind(who.0)
                            .bind(role)
                            .bind(ms(now))
                            .execute(&mut tx)
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
                        let task: i64 = q(
                            "INSERT INTO tasks (org_id, member_id, message_id, reason, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                        )
                        .bind(facts.org_id.0)
                        .bind(member.0)
                        .bind(message.0)
                        .bind(format!("Read and confirm: {}", facts.title))
                        .bind(ms(now))
                        .scalar(&mut tx)
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
        let mut tx = self.db.write().await?;
        let d = self.dialect();
        if d == Dialect::Postgres {
            // A row to lock, so two nodes pressing "remind" at once take turns.
            q("INSERT INTO manual_reminds (message_id, last_at) VALUES (?, ?) ON CONFLICT (message_id) DO NOTHING")
                .bind(message.id.0)
                .bind(i64::MIN)
                .execute(&mut tx)
                .await?;
        }
        let last: Option<i64> = q(format!(
            "SELECT last_at FROM manual_reminds WHERE message_id = ?{}",
            lock(d, " FOR UPDATE")
        ))
        .bind(message.id.0)
        .scalar_opt(&mut tx)
        .await?;
        let last = last.filter(|&l| l != i64::MIN);
        if let Some(last) = last.map(ts) {
            let next = last + min_interval;
            if now < next {
                return Ok(RemindOutcome::TooSoon(next));
            }
        }
        let unread = q(format!(
            "SELECT r.member_id, m.time_zone FROM receipts r JOIN members m ON m.id = r.member_id
             WHERE r.message_id = ? AND r.state < ? AND m.active ORDER BY r.member_id{}",
            lock(d, " FOR UPDATE OF r")
        ))
        .bind(message.id.0)
        .bind(finished_state(message.require_ack).code())
        .fetch_all(&mut tx)
        .await?;
        let default = timing
            .iter()
            .find(|t| t.zone.is_none())
            .and_then(|t| t.defer_to);
        let mut now_ids = Vec::new();
        let mut later = Vec::new();
        for row in &unread {
            let member = MemberId(row.get("member_id")?);
            let zone: Option<String> = row.get("time_zone")?;
            let defer = match zone {
                Some(z) => timing
                    .iter()
                    .find(|t| t.zone.as_deref() == Some(z.as_str()))
                    .map(|t| t.defer_to)
                    .unwrap_or(default),
                None => default,
            };
            match defer {
                None => now_ids.push(member),
                Some(t) => later.push((member, t)),
            }
        }
        let mut events = Vec::new();
        let sql = format!(
            "UPDATE receipts SET reminders = reminders + 1, last_reminded_at = ? WHERE message_id = ? AND member_id IN {} RETURNING member_id, reminders",
            json_ints(d)
        );
        for r in chunks(d, now_ids.len(), 5_000, |_| 12) {
            let reminded = q(sql.clone())
                .bind(ms(now))
                .bind(message.id.0)
                .bind(json_id_list(now_ids[r].iter().map(|m| m.0)))
                .fetch_all(&mut tx)
                .await?;
            for row in reminded {
                events.push(event(
                    message.org_id,
                    now,
                    EventBody::Reminder {
                        message_id: message.id,
                        member_id: MemberId(row.get("member_id")?),
                        count: row.get("reminders")?,
                    },
                ));
            }
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
        q("INSERT INTO manual_reminds (message_id, last_at) VALUES (?, ?) ON CONFLICT (message_id) DO UPDATE SET last_at = excluded.last_at")
            .bind(message.id.0)
            .bind(ms(now))
            .execute(&mut tx)
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

async fn delete_step(tx: &mut Tx, id: i64) -> Result<()> {
    q("DELETE FROM due_steps WHERE id = ?")
        .bind(id)
        .execute(tx)
        .await?;
    Ok(())
}

pub(crate) async fn insert_step(
    tx: &mut Tx,
    org: OrgId,
    message: MessageId,
    member: MemberId,
    kind: StepKind,
    step_no: i64,
    due: Timestamp,
) -> Result<()> {
    q(
        "INSERT INTO due_steps (org_id, message_id, member_id, step, step_no, due_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (message_id, member_id, step, step_no) DO NOTHING",
    )
    .bind(org.0)
    .bind(message.0)
    .bind(member.0)
    .bind(kind.as_str())
    .bind(step_no)
    .bind(ms(due))
    .execute(tx)
    .await?;
    Ok(())
}

/// Numbers events per organisation and appends them.
pub(crate) async fn assign_and_insert(tx: &mut Tx, events: &mut [Event]) -> Result<()> {
    let mut per_org: HashMap<OrgId, i64> = HashMap::new();
    for e in events.iter() {
        *per_org.entry(e.org_id).or_default() += 1;
    }
    let mut next: HashMap<OrgId, i64> = HashMap::new();
    for (org, n) in per_org {
        next.insert(org, allocate_seqs(tx, org, n).await?);
    }
    for e in events.iter_mut() {
        let s = next
            .get_mut(&e.org_id)
            .ok_or(StorageError::NotFound("org"))?;
        e.seq = Seq(*s);
        *s += 1;
    }
    insert_events(tx, events).await
}
