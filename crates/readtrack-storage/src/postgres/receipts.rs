//! The receipt hot path (one transaction per batch) and the read board's queries.
//!
//! Several nodes apply batches at once, so the batch locks what it folds: first the
//! receipt rows (`FOR UPDATE`, in key order), then the counter rows of their notices (in
//! notice order), and allocates event sequence numbers last. Every writer takes locks in
//! that order, so batches touching the same notice queue behind each other rather than
//! deadlock, and no counter update is lost.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use readtrack_domain::FieldError;
use readtrack_domain::event::{Event, EventBody, PersonUpdate};
use readtrack_domain::ids::{DepartmentId, MemberId, MessageId, OrgId, Seq};
use readtrack_domain::message::Tracking;
use readtrack_domain::privacy::{self, ReadDisplay, RecipientFacts};
use readtrack_domain::receipt::{MessageFacts, ReceiptState};
use readtrack_domain::settings::QuietReads;
use readtrack_domain::summary::{DepartmentCounts, Summary};
use sqlx::{PgConnection, Row};

use super::messages::{RECEIPT_COLUMNS, count_visible, pilot_array, receipt_from_row};
use super::schedule::assign_and_insert;
use super::{Facts, INT8, PostgresStorage, chunks, plan_for_keys, text};
use crate::model::*;
use crate::sql::*;
use crate::{Result, StorageError};

fn not_recipient() -> FieldError {
    FieldError::with_code(
        "message_id",
        "not_recipient",
        "`message_id` names a notice you did not receive",
    )
}

/// The organisation's rules that decide who may be shown, read once per batch.
struct OrgRules {
    policy_version: i64,
    quiet_reads: QuietReads,
    pilot: Option<Vec<DepartmentId>>,
    epoch: i64,
}

impl OrgRules {
    fn shows(&self, tracking: Tracking, rec: &ReceiptRecord, policy_ack_version: i64) -> bool {
        let facts = RecipientFacts {
            policy_ack_version,
            in_pilot: privacy::in_pilot(self.pilot.as_deref(), rec.department_id),
        };
        privacy::may_show_person(tracking, self.policy_version, facts)
            && !(rec.state().is_read()
                && privacy::read_display(rec.read_quiet, self.quiet_reads) == ReadDisplay::Withheld)
    }
}

/// A recipient row loaded for the batch.
struct Loaded {
    rec: ReceiptRecord,
    policy_ack_version: i64,
    dirty: bool,
}

/// A message's counters while a batch walks through its changes.
struct Counters {
    recipients: i64,
    delivered: i64,
    read: i64,
    acknowledged: i64,
    visible: i64,
    visible_epoch: i64,
    responses: Vec<(String, i64)>,
    dirty: bool,
}

/// Changed receipt rows, column by column, for one `UPDATE ... FROM UNNEST(...)`.
#[derive(Default)]
struct ReceiptColumns {
    message_id: Vec<i64>,
    member_id: Vec<i64>,
    state: Vec<i16>,
    delivered_at: Vec<Option<i64>>,
    read_at: Vec<Option<i64>>,
    read_recorded_at: Vec<Option<i64>>,
    acked_at: Vec<Option<i64>>,
    response: Vec<Option<String>>,
    read_quiet: Vec<bool>,
}

/// Changed message counters, column by column.
#[derive(Default)]
struct CounterColumns {
    message_id: Vec<i64>,
    delivered: Vec<i64>,
    read: Vec<i64>,
    acknowledged: Vec<i64>,
    visible: Vec<i64>,
    visible_epoch: Vec<i64>,
}

impl Counters {
    fn summary(&self, tracking: Tracking) -> Summary {
        Summary {
            recipients: self.recipients,
            delivered: self.delivered,
            read: self.read,
            acknowledged: self.acknowledged,
            hidden: if tracking == Tracking::PerPerson {
                (self.recipients - self.visible).max(0)
            } else {
                self.recipients
            },
            responses: self.responses.clone(),
        }
    }
}

impl PostgresStorage {
    async fn load_facts(
        &self,
        conn: &mut PgConnection,
        ids: impl Iterator<Item = MessageId>,
    ) -> Result<HashMap<MessageId, Arc<Facts>>> {
        let mut out = HashMap::new();
        let mut missing = Vec::new();
        for id in ids {
            if out.contains_key(&id) || missing.contains(&id.0) {
                continue;
            }
            match self.cached_facts(id) {
                Some(f) => {
                    out.insert(id, f);
                }
                None => missing.push(id.0),
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let rows = sqlx::query(
            "SELECT id, org_id, sender_id, created_at, tracking, response_options, require_ack FROM messages WHERE id = ANY($1)",
        )
        .bind(&missing)
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            let id = MessageId(row.try_get("id")?);
            let tracking: String = row.try_get("tracking")?;
            let options: String = row.try_get("response_options")?;
            let facts = Arc::new(Facts {
                org_id: OrgId(row.try_get("org_id")?),
                require_ack: row.try_get("require_ack")?,
                sender_id: MemberId(row.try_get("sender_id")?),
                facts: MessageFacts {
                    created_at: ts(row.try_get("created_at")?),
                    tracking: Tracking::parse("tracking", &tracking)
                        .map_err(|_| StorageError::Corrupt("tracking".into()))?,
                    response_options: serde_json::from_str(&options)
                        .map_err(|_| StorageError::Corrupt("response options".into()))?,
                },
            });
            self.cache_facts(id, facts.clone());
            out.insert(id, facts);
        }
        Ok(out)
    }

    pub(crate) async fn apply_receipts_impl(
        &self,
        batch: &[ReceiptWrite],
        now: Timestamp,
    ) -> Result<AppliedBatch> {
        let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; batch.len()];
        let mut responses: Vec<Option<String>> = vec![None; batch.len()];
        let mut tx = self.pool.begin().await?;
        plan_for_keys(&mut tx, true).await?;

        // 1. Check each item against its notice; repeats inside the batch are duplicates.
        let facts = self
            .load_facts(&mut tx, batch.iter().map(|w| w.receipt.message_id))
            .await?;
        let mut seen: HashSet<(MemberId, &str)> = HashSet::with_capacity(batch.len());
        let mut candidates = Vec::with_capacity(batch.len());
        for (i, w) in batch.iter().enumerate() {
            let Some(f) = facts
                .get(&w.receipt.message_id)
                .filter(|f| f.org_id == w.org_id)
            else {
                outcomes[i] = Some(WriteOutcome::Rejected(not_recipient()));
                continue;
            };
            match w.receipt.check_against(&f.facts) {
                Err(e) => outcomes[i] = Some(WriteOutcome::Rejected(e)),
                Ok(r) => {
                    responses[i] = r;
                    if seen.insert((w.member_id, w.receipt.event_id.as_str())) {
                        candidates.push(i);
                    } else {
                        outcomes[i] = Some(WriteOutcome::Duplicate);
                    }
                }
            }
        }

        // 2. Lock and load the recipient rows the batch touches, in key order; a missing
        //    row means "not yours". Another node's batch on the same rows waits here and
        //    then reads what that one committed.
        let mut keys: Vec<(MessageId, MemberId)> = candidates
            .iter()
            .map(|&i| (batch[i].receipt.message_id, batch[i].member_id))
            .collect();
        keys.sort();
        keys.dedup();
        let mut rows: HashMap<(MessageId, MemberId), Loaded> = HashMap::with_capacity(keys.len());
        if !keys.is_empty() {
            let msgs: Vec<i64> = keys.iter().map(|k| k.0.0).collect();
            let members: Vec<i64> = keys.iter().map(|k| k.1.0).collect();
            let sql = format!(
                "SELECT {RECEIPT_COLUMNS}, m.policy_ack_version
                 FROM UNNEST($1::int8[], $2::int8[]) AS k(message_id, member_id)
                 JOIN receipts r ON r.message_id = k.message_id AND r.member_id = k.member_id
                 JOIN members m ON m.id = r.member_id
                 ORDER BY r.message_id, r.member_id
                 FOR UPDATE OF r"
            );
            // Chunks of sorted keys lock in key order as one statement would.
            let mut loaded = Vec::with_capacity(keys.len());
            for r in chunks(keys.len(), |_| 2 * INT8) {
                loaded.extend(
                    sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(&msgs[r.clone()])
                        .bind(&members[r])
                        .fetch_all(&mut *tx)
                        .await?,
                );
            }
            for row in loaded {
                let mut rec = receipt_from_row(&row)?;
                let f = &facts[&rec.message_id].facts;
                if f.tracking == Tracking::Off {
                    restore_untimed_state(&mut rec, f.created_at);
                }
                rows.insert(
                    (rec.message_id, rec.member_id),
                    Loaded {
                        rec,
                        policy_ack_version: row.try_get("policy_ack_version")?,
                        dirty: false,
                    },
                );
            }
        }
        candidates.retain(|&i| {
            let ok = rows.contains_key(&(batch[i].receipt.message_id, batch[i].member_id));
            if !ok {
                outcomes[i] = Some(WriteOutcome::Rejected(not_recipient()));
            }
            ok
        });

        // 3. Record the event ids; those already present are duplicates of earlier batches
        //    (on this node or another: a concurrent insert of the same key waits for the
        //    other transaction and then does nothing).
        let mut fresh: HashSet<(i64, String)> = HashSet::with_capacity(candidates.len());
        if !candidates.is_empty() {
            let mut cols: (Vec<i64>, Vec<&str>, Vec<i64>) = Default::default();
            for &i in &candidates {
                let w = &batch[i];
                cols.0.push(w.member_id.0);
                cols.1.push(w.receipt.event_id.as_str());
                cols.2.push(w.receipt.message_id.0);
            }
            for r in chunks(cols.0.len(), |i| 2 * INT8 + text(cols.1[i])) {
                let inserted = sqlx::query(
                    "INSERT INTO receipt_events (member_id, event_id, message_id, recorded_at)
                     SELECT v.member_id, v.event_id, v.message_id, $4
                     FROM UNNEST($1::int8[], $2::text[], $3::int8[]) AS v(member_id, event_id, message_id)
                     ON CONFLICT DO NOTHING RETURNING member_id, event_id",
                )
                .bind(&cols.0[r.clone()])
                .bind(&cols.1[r.clone()])
                .bind(&cols.2[r])
                .bind(ms(now))
                .fetch_all(&mut *tx)
                .await?;
                for row in inserted {
                    fresh.insert((row.try_get("member_id")?, row.try_get("event_id")?));
                }
            }
        }
        candidates.retain(|&i| {
            let w = &batch[i];
            let ok = fresh.contains(&(w.member_id.0, w.receipt.event_id.as_str().to_string()));
            if !ok {
                outcomes[i] = Some(WriteOutcome::Duplicate);
            }
            ok
        });

        // 4. The rules of the organisations involved, and the counters of the notices,
        //    locked in notice order.
        let mut org_ids: Vec<i64> = candidates.iter().map(|&i| batch[i].org_id.0).collect();
        org_ids.sort();
        org_ids.dedup();
        let mut rules: HashMap<OrgId, OrgRules> = HashMap::new();
        if !org_ids.is_empty() {
            let org_rows = sqlx::query(
                "SELECT id, policy_version, quiet_reads, pilot_expanded, visibility_epoch FROM orgs WHERE id = ANY($1)",
            )
            .bind(&org_ids)
            .fetch_all(&mut *tx)
            .await?;
            for row in org_rows {
                let pilot: Option<String> = row.try_get("pilot_expanded")?;
                rules.insert(
                    OrgId(row.try_get("id")?),
                    OrgRules {
                        policy_version: row.try_get("policy_version")?,
                        quiet_reads: quiet_reads(&row.try_get::<String, _>("quiet_reads")?)?,
                        pilot: pilot.map(|p| split_ids(&p).into_iter().map(DepartmentId).collect()),
                        epoch: row.try_get("visibility_epoch")?,
                    },
                );
            }
        }
        let mut message_ids: Vec<i64> = candidates
            .iter()
            .map(|&i| batch[i].receipt.message_id.0)
            .collect();
        message_ids.sort();
        message_ids.dedup();
        let mut counters: HashMap<MessageId, Counters> = HashMap::new();
        if !message_ids.is_empty() {
            let counter_rows = sqlx::query(
                "SELECT message_id, recipients, delivered, read, acknowledged, visible, visible_epoch
                 FROM message_counters WHERE message_id = ANY($1) ORDER BY message_id FOR UPDATE",
            )
            .bind(&message_ids)
            .fetch_all(&mut *tx)
            .await?;
            let response_rows = sqlx::query(
                "SELECT message_id, label, count FROM message_responses WHERE message_id = ANY($1) ORDER BY message_id, position",
            )
            .bind(&message_ids)
            .fetch_all(&mut *tx)
            .await?;
            let mut labels: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
            for r in response_rows {
                labels
                    .entry(r.try_get("message_id")?)
                    .or_default()
                    .push((r.try_get("label")?, r.try_get("count")?));
            }
            for row in counter_rows {
                let id = MessageId(row.try_get("message_id")?);
                let mut c = Counters {
                    recipients: row.try_get("recipients")?,
                    delivered: row.try_get("delivered")?,
                    read: row.try_get("read")?,
                    acknowledged: row.try_get("acknowledged")?,
                    visible: row.try_get("visible")?,
                    visible_epoch: row.try_get("visible_epoch")?,
                    responses: labels.remove(&id.0).unwrap_or_default(),
                    dirty: false,
                };
                let f = &facts[&id];
                let epoch = rules.get(&f.org_id).map(|r| r.epoch);
                if f.facts.tracking == Tracking::PerPerson && Some(c.visible_epoch) != epoch {
                    // A recount reads every recipient: the one statement here that
                    // should hash rather than loop.
                    plan_for_keys(&mut tx, false).await?;
                    let (visible, epoch) = count_visible(&mut tx, id, f.org_id).await?;
                    plan_for_keys(&mut tx, true).await?;
                    c.visible = visible;
                    c.visible_epoch = epoch;
                    c.dirty = true;
                }
                counters.insert(id, c);
            }
        }

        // 5. Fold each report into its row, in order, keeping counters and frames in step.
        let mut dept_deltas: HashMap<(MessageId, DepartmentId), (i64, i64)> = HashMap::new();
        let mut events: Vec<Event> = Vec::new();
        for &i in &candidates {
            let w = &batch[i];
            outcomes[i] = Some(WriteOutcome::Applied);
            let f = &facts[&w.receipt.message_id];
            let org_rules = rules
                .get(&w.org_id)
                .ok_or(StorageError::NotFound("organisation"))?;
            let tracking = f.facts.tracking;
            let loaded = rows
                .get_mut(&(w.receipt.message_id, w.member_id))
                .ok_or(StorageError::NotFound("receipt"))?;
            let before_read_at = loaded.rec.times.read_at;
            let before_response = loaded.rec.times.response.clone();
            let shown_before = org_rules.shows(tracking, &loaded.rec, loaded.policy_ack_version);
            let tr = loaded.rec.times.apply(
                w.receipt.kind,
                w.receipt.recorded_at(&f.facts),
                responses[i].as_deref(),
            );
            if !tr.changed {
                continue;
            }
            loaded.dirty = true;
            if loaded.rec.times.read_at != before_read_at {
                loaded.rec.read_quiet = w.at_in_quiet_hours;
                if before_read_at.is_none() {
                    loaded.rec.read_recorded_at = Some(now);
                }
            }
            let c = counters
                .get_mut(&w.receipt.message_id)
                .ok_or(StorageError::NotFound("counters"))?;
            c.dirty = true;
            let (from, to) = (tr.from, tr.to);
            let dept = dept_deltas
                .entry((w.receipt.message_id, loaded.rec.department_id))
                .or_default();
            if from < ReceiptState::Delivered && to >= ReceiptState::Delivered {
                c.delivered += 1;
            }
            if !from.is_read() && to.is_read() {
                c.read += 1;
                dept.0 += 1;
            }
            if from < ReceiptState::Acknowledged && to == ReceiptState::Acknowledged {
                c.acknowledged += 1;
                dept.1 += 1;
            }
            if loaded.rec.times.response != before_response {
                for (label, n) in c.responses.iter_mut() {
                    if Some(label.as_str()) == before_response.as_deref() {
                        *n -= 1;
                    }
                    if Some(label.as_str()) == loaded.rec.times.response.as_deref() {
                        *n += 1;
                    }
                }
            }
            let shown_after = org_rules.shows(tracking, &loaded.rec, loaded.policy_ack_version);
            c.visible += i64::from(shown_after) - i64::from(shown_before);
            if tracking == Tracking::Off {
                // Nothing but the recipient's own unread marker is kept: no frame to the sender.
                continue;
            }
            let person = (shown_after && tracking == Tracking::PerPerson).then(|| {
                let t = &loaded.rec.times;
                let exact = match to {
                    ReceiptState::Sent => None,
                    ReceiptState::Delivered => t.delivered_at,
                    ReceiptState::Read => t.read_at,
                    ReceiptState::Acknowledged => t.acked_at,
                };
                let coarse = to.is_read() && loaded.rec.read_quiet;
                PersonUpdate {
                    member_id: w.member_id,
                    state: to,
                    at: if coarse { None } else { exact },
                }
            });
            events.push(Event {
                seq: Seq(0),
                org_id: w.org_id,
                at: now,
                body: EventBody::ReceiptUpdated {
                    message_id: w.receipt.message_id,
                    sender_id: f.sender_id,
                    summary: c.summary(tracking),
                    person,
                },
            });
        }

        // 6. Write the changed rows, counters and events, one statement each; one commit.
        let dirty: Vec<&Loaded> = rows.values().filter(|l| l.dirty).collect();
        if !dirty.is_empty() {
            let mut cols = ReceiptColumns::default();
            for l in &dirty {
                let r = &l.rec;
                let timed = facts[&r.message_id].facts.tracking != Tracking::Off;
                let keep = |t: Option<Timestamp>| if timed { t.map(ms) } else { None };
                cols.message_id.push(r.message_id.0);
                cols.member_id.push(r.member_id.0);
                cols.state.push(r.state().code() as i16);
                cols.delivered_at.push(keep(r.times.delivered_at));
                cols.read_at.push(keep(r.times.read_at));
                cols.read_recorded_at.push(keep(r.read_recorded_at));
                cols.acked_at.push(keep(r.times.acked_at));
                cols.response.push(if timed {
                    r.times.response.clone()
                } else {
                    None
                });
                cols.read_quiet.push(timed && r.read_quiet);
            }
            let row_bytes =
                |i: usize| 6 * INT8 + 6 + 5 + cols.response[i].as_deref().map_or(4, text);
            for r in chunks(cols.message_id.len(), row_bytes) {
                sqlx::query(
                    "UPDATE receipts SET state = v.state, delivered_at = v.delivered_at, read_at = v.read_at,
                         read_recorded_at = v.read_recorded_at, acked_at = v.acked_at, response = v.response, read_quiet = v.read_quiet
                     FROM UNNEST($1::int8[], $2::int8[], $3::int2[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::text[], $9::bool[])
                         AS v(message_id, member_id, state, delivered_at, read_at, read_recorded_at, acked_at, response, read_quiet)
                     WHERE receipts.message_id = v.message_id AND receipts.member_id = v.member_id",
                )
                .bind(&cols.message_id[r.clone()])
                .bind(&cols.member_id[r.clone()])
                .bind(&cols.state[r.clone()])
                .bind(&cols.delivered_at[r.clone()])
                .bind(&cols.read_at[r.clone()])
                .bind(&cols.read_recorded_at[r.clone()])
                .bind(&cols.acked_at[r.clone()])
                .bind(&cols.response[r.clone()])
                .bind(&cols.read_quiet[r])
                .execute(&mut *tx)
                .await?;
            }
        }
        let mut changed = CounterColumns::default();
        let mut tallies: (Vec<i64>, Vec<i64>, Vec<i64>) = Default::default();
        for (id, c) in &counters {
            if !c.dirty {
                continue;
            }
            changed.message_id.push(id.0);
            changed.delivered.push(c.delivered);
            changed.read.push(c.read);
            changed.acknowledged.push(c.acknowledged);
            changed.visible.push(c.visible);
            changed.visible_epoch.push(c.visible_epoch);
            for (pos, (_, n)) in c.responses.iter().enumerate() {
                tallies.0.push(id.0);
                tallies.1.push(pos as i64);
                tallies.2.push(*n);
            }
        }
        if !changed.message_id.is_empty() {
            for r in chunks(changed.message_id.len(), |_| 6 * INT8) {
                sqlx::query(
                    "UPDATE message_counters SET delivered = v.delivered, read = v.read, acknowledged = v.acknowledged,
                         visible = v.visible, visible_epoch = v.visible_epoch
                     FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[])
                         AS v(message_id, delivered, read, acknowledged, visible, visible_epoch)
                     WHERE message_counters.message_id = v.message_id",
                )
                .bind(&changed.message_id[r.clone()])
                .bind(&changed.delivered[r.clone()])
                .bind(&changed.read[r.clone()])
                .bind(&changed.acknowledged[r.clone()])
                .bind(&changed.visible[r.clone()])
                .bind(&changed.visible_epoch[r])
                .execute(&mut *tx)
                .await?;
            }
        }
        if !tallies.0.is_empty() {
            for r in chunks(tallies.0.len(), |_| 3 * INT8) {
                sqlx::query(
                    "UPDATE message_responses SET count = v.count
                     FROM UNNEST($1::int8[], $2::int8[], $3::int8[]) AS v(message_id, position, count)
                     WHERE message_responses.message_id = v.message_id AND message_responses.position = v.position",
                )
                .bind(&tallies.0[r.clone()])
                .bind(&tallies.1[r.clone()])
                .bind(&tallies.2[r])
                .execute(&mut *tx)
                .await?;
            }
        }
        let mut depts: (Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>) = Default::default();
        for ((msg, dept), (read, acked)) in dept_deltas {
            if read == 0 && acked == 0 {
                continue;
            }
            depts.0.push(msg.0);
            depts.1.push(dept.0);
            depts.2.push(read);
            depts.3.push(acked);
        }
        if !depts.0.is_empty() {
            for r in chunks(depts.0.len(), |_| 4 * INT8) {
                sqlx::query(
                    "UPDATE department_counters SET read = department_counters.read + v.read,
                         acknowledged = department_counters.acknowledged + v.acknowledged
                     FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::int8[]) AS v(message_id, department_id, read, acknowledged)
                     WHERE department_counters.message_id = v.message_id AND department_counters.department_id = v.department_id",
                )
                .bind(&depts.0[r.clone()])
                .bind(&depts.1[r.clone()])
                .bind(&depts.2[r.clone()])
                .bind(&depts.3[r])
                .execute(&mut *tx)
                .await?;
            }
        }
        // Tasks close by themselves once their notice is read (or confirmed, where asked).
        let mut finished: (Vec<i64>, Vec<i64>, Vec<&str>) = Default::default();
        for l in rows.values().filter(|l| l.dirty) {
            let state = l.rec.state();
            let needs_ack = facts[&l.rec.message_id].require_ack;
            let by = if state == ReceiptState::Acknowledged {
                "acknowledged"
            } else if state.is_read() && !needs_ack {
                "read"
            } else {
                continue;
            };
            finished.0.push(l.rec.message_id.0);
            finished.1.push(l.rec.member_id.0);
            finished.2.push(by);
        }
        if !finished.0.is_empty() {
            for r in chunks(finished.0.len(), |i| 2 * INT8 + text(finished.2[i])) {
                sqlx::query(
                    "UPDATE tasks SET done_at = $4, done_by = v.done_by
                     FROM UNNEST($1::int8[], $2::int8[], $3::text[]) AS v(message_id, member_id, done_by)
                     WHERE tasks.message_id = v.message_id AND tasks.member_id = v.member_id AND tasks.done_at IS NULL",
                )
                .bind(&finished.0[r.clone()])
                .bind(&finished.1[r.clone()])
                .bind(&finished.2[r])
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            }
        }
        assign_and_insert(&mut tx, &mut events).await?;
        tx.commit().await?;
        Ok(AppliedBatch {
            outcomes: outcomes
                .into_iter()
                .map(|o| o.unwrap_or(WriteOutcome::Rejected(not_recipient())))
                .collect(),
            events,
        })
    }

    pub(crate) async fn summary_impl(&self, message: &MessageRecord) -> Result<Summary> {
        let mut conn = self.pool.acquire().await?;
        let row = sqlx::query(
            "SELECT c.recipients, c.delivered, c.read, c.acknowledged, c.visible, c.visible_epoch, o.visibility_epoch
             FROM message_counters c JOIN orgs o ON o.id = $1 WHERE c.message_id = $2",
        )
        .bind(message.org_id.0)
        .bind(message.id.0)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StorageError::NotFound("message"))?;
        let mut visible: i64 = row.try_get("visible")?;
        if message.tracking == Tracking::PerPerson
            && row.try_get::<i64, _>("visible_epoch")?
                != row.try_get::<i64, _>("visibility_epoch")?
        {
            visible = count_visible(&mut conn, message.id, message.org_id)
                .await?
                .0;
        }
        let responses: Vec<(String, i64)> = sqlx::query_as(
            "SELECT label, count FROM message_responses WHERE message_id = $1 ORDER BY position",
        )
        .bind(message.id.0)
        .fetch_all(&mut *conn)
        .await?;
        let c = Counters {
            recipients: row.try_get("recipients")?,
            delivered: row.try_get("delivered")?,
            read: row.try_get("read")?,
            acknowledged: row.try_get("acknowledged")?,
            visible,
            visible_epoch: 0,
            responses,
            dirty: false,
        };
        Ok(c.summary(message.tracking))
    }

    pub(crate) async fn department_counts_impl(
        &self,
        message: MessageId,
    ) -> Result<Vec<DepartmentCounts>> {
        // Byte order, as SQLite sorts, whatever the database's collation.
        let rows = sqlx::query(
            "SELECT c.department_id, COALESCE(d.name, '') AS name, c.recipients, c.read, c.acknowledged
             FROM department_counters c LEFT JOIN departments d ON d.id = c.department_id
             WHERE c.message_id = $1 ORDER BY name COLLATE \"C\"",
        )
        .bind(message.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DepartmentCounts {
                    department_id: DepartmentId(r.try_get("department_id")?),
                    name: r.try_get("name")?,
                    recipients: r.try_get("recipients")?,
                    read: r.try_get("read")?,
                    acknowledged: r.try_get("acknowledged")?,
                })
            })
            .collect()
    }

    pub(crate) async fn board_rows_impl(
        &self,
        message: &MessageRecord,
        filter: StateFilter,
        cursor: Option<BoardCursor>,
        limit: u32,
    ) -> Result<BoardPage> {
        if message.tracking != Tracking::PerPerson {
            return Ok(BoardPage {
                rows: vec![],
                next: None,
            });
        }
        let (policy_version, quiet, pilot): (i64, String, Option<String>) = sqlx::query_as(
            "SELECT policy_version, quiet_reads, pilot_expanded FROM orgs WHERE id = $1",
        )
        .bind(message.org_id.0)
        .fetch_one(&self.pool)
        .await?;
        let (state_range, order) = match filter {
            StateFilter::All => ("", "r.member_id"),
            StateFilter::Unread => (" AND r.state < 2", "r.state, r.member_id"),
            StateFilter::Read => (" AND r.state >= 2", "r.state, r.member_id"),
            StateFilter::Acknowledged => (" AND r.state = 3", "r.state, r.member_id"),
        };
        // Filtered pages walk the (message_id, state, member_id) index from the cursor.
        let after = if filter == StateFilter::All {
            " AND r.member_id > $2"
        } else {
            " AND (r.state, r.member_id) > ($1::int2, $2)"
        };
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS}, m.name FROM receipts r JOIN members m ON m.id = r.member_id
             WHERE r.message_id = $3{state_range}{after}
               AND m.policy_ack_version >= $4
               AND NOT ($5 AND r.read_quiet AND r.state >= 2)
               AND ($6::int8[] IS NULL OR r.department_id = ANY($6))
             ORDER BY {order} LIMIT $7"
        );
        let c = cursor.unwrap_or(BoardCursor {
            state: -1,
            member_id: MemberId(0),
        });
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(c.state.clamp(-1, i64::from(i16::MAX)) as i16)
            .bind(c.member_id.0)
            .bind(message.id.0)
            .bind(policy_version)
            .bind(quiet == "untracked")
            .bind(pilot_array(pilot.as_deref()))
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(BoardRow {
                name: r.try_get("name")?,
                receipt: receipt_from_row(r)?,
            });
        }
        let next = if out.len() > limit as usize {
            out.truncate(limit as usize);
            out.last().map(|l| BoardCursor {
                state: l.receipt.state().code(),
                member_id: l.receipt.member_id,
            })
        } else {
            None
        };
        Ok(BoardPage { rows: out, next })
    }
}

/// Notices without tracking keep no times; rebuild the folded record from the stored
/// state so later reports still move it forward and never back.
fn restore_untimed_state(rec: &mut ReceiptRecord, placeholder: Timestamp) {
    let state = rec.stored_state;
    let t = Some(placeholder);
    if state >= ReceiptState::Delivered {
        rec.times.delivered_at = t;
    }
    if state >= ReceiptState::Read {
        rec.times.read_at = t;
    }
    if state >= ReceiptState::Acknowledged {
        rec.times.acked_at = t;
    }
}
