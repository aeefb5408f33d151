//! The receipt hot path (one transaction per batch) and the read board's queries.

use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use readtrack_domain::event::EventBody;
use readtrack_domain::ids::{DepartmentId, MemberId, MessageId, OrgId};
use readtrack_domain::message::Tracking;
use readtrack_domain::receipt::{MessageFacts, ReceiptState};
use readtrack_domain::summary::{DepartmentCounts, ShownCounts, Summary};

use super::messages::{RECEIPT_COLUMNS, count_visible, receipt_from_row, shown_counts};
use super::schedule::assign_and_insert;
use super::{BIND_BUDGET, Facts, Store, json_ints, lock, plan_for_keys};
use crate::db::Dialect;
use crate::db::{Exec, Tx, q, run};
use crate::model::*;
use crate::sql::*;
use crate::{Receipts, Result, StorageError};
use readtrack_domain::receipt::ReceiptTimes;
use readtrack_domain::receipt_batch::{
    Counters, LoadedRow, OrgRules, RowKey, check_batch, fold_batch, not_recipient, row_writes,
    tasks_to_close,
};

/// Rows per multi-row statement: 4 columns x 400 stays far below SQLite's bound-parameter limit.
const CHUNK: usize = 400;

#[async_trait]
impl Receipts for Store {
    async fn apply_receipts(&self, batch: &[ReceiptWrite], now: Timestamp) -> Result<AppliedBatch> {
        self.db
            .retrying(|| self.apply_receipts_impl(batch, now))
            .await
    }

    async fn summary(&self, message: &MessageRecord) -> Result<Summary> {
        let mut conn = self.db.read().await?;
        let row = q(
            "SELECT c.recipients, c.delivered, c.read, c.acknowledged, c.visible, c.visible_epoch, o.visibility_epoch
             FROM message_counters c JOIN orgs o ON o.id = ? WHERE c.message_id = ?",
        )
        .bind(message.org_id.0)
        .bind(message.id.0)
        .fetch_optional(&mut conn)
        .await?
        .ok_or(StorageError::NotFound("message"))?;
        let mut visible: i64 = row.get("visible")?;
        if message.tracking == Tracking::PerPerson
            && row.get::<i64>("visible_epoch")? != row.get::<i64>("visibility_epoch")?
        {
            visible = count_visible(&mut conn, message.id, message.org_id)
                .await?
                .0;
        }
        let responses: Vec<(String, i64)> =
            q("SELECT label, count FROM message_responses WHERE message_id = ? ORDER BY position")
                .bind(message.id.0)
                .all(&mut conn)
                .await?;
        let c = Counters {
            recipients: row.get("recipients")?,
            delivered: row.get("delivered")?,
            read: row.get("read")?,
            acknowledged: row.get("acknowledged")?,
            visible,
            visible_epoch: 0,
            responses,
            dirty: false,
        };
        Ok(c.summary(message.tracking))
    }

    async fn shown_counts(&self, message: &MessageRecord) -> Result<ShownCounts> {
        if message.tracking != Tracking::PerPerson {
            return Ok(ShownCounts::default());
        }
        let mut conn = self.db.read().await?;
        shown_counts(&mut conn, message.id, message.org_id).await
    }

    async fn department_counts(&self, message: MessageId) -> Result<Vec<DepartmentCounts>> {
        // One JSON row for the lot: an all-hands notice has hundreds of departments, and
        // the driver hands rows over one at a time between threads.
        let aggregate = match self.dialect() {
            Dialect::Sqlite => "json_group_array(json_array",
            Dialect::Postgres => "json_agg(json_build_array",
        };
        let rows: String = q(format!(
            "SELECT COALESCE(CAST({aggregate}(c.department_id, COALESCE(d.name, ''), c.recipients, c.read, c.acknowledged)
                 ORDER BY COALESCE(d.name, ''), c.department_id) AS TEXT), '[]')
             FROM department_counters c LEFT JOIN departments d ON d.id = c.department_id
             WHERE c.message_id = ?"
        ))
        .bind(message.0)
        .scalar(&mut self.db.read().await?)
        .await?;
        let rows: Vec<(i64, String, i64, i64, i64)> =
            serde_json::from_str(&rows).map_err(decoding("department counters"))?;
        Ok(rows
            .into_iter()
            .map(
                |(department_id, name, recipients, read, acknowledged)| DepartmentCounts {
                    department_id: DepartmentId(department_id),
                    name,
                    recipients,
                    read,
                    acknowledged,
                },
            )
            .collect())
    }

    async fn board_rows(
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
        let (policy_version, quiet, pilot): (i64, String, Option<String>) =
            q("SELECT policy_version, quiet_reads, pilot_expanded FROM orgs WHERE id = ?")
                .bind(message.org_id.0)
                .one(&mut self.db.read().await?)
                .await?;
        let (state_range, order) = match filter {
            StateFilter::All => ("", "r.member_id"),
            StateFilter::Unread => (" AND r.state < 2", "r.state, r.member_id"),
            StateFilter::Read => (" AND r.state >= 2", "r.state, r.member_id"),
            StateFilter::Acknowledged => (" AND r.state = 3", "r.state, r.member_id"),
        };
        let after = if filter == StateFilter::All {
            " AND r.member_id > ?2"
        } else {
            " AND (r.state, r.member_id) > (?1, ?2)"
        };
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS}, m.name, m.time_zone FROM receipts r JOIN members m ON m.id = r.member_id
             WHERE r.message_id = ?3{state_range}{after}
               AND m.policy_ack_version >= ?4
               AND NOT (?5 AND r.read_quiet AND r.state >= 2)
               AND (?6 IS NULL OR r.department_id IN {pilot_ids})
             ORDER BY {order} LIMIT ?7",
            pilot_ids = json_ints(self.dialect()).replace('?', "?6")
        );
        let c = cursor.unwrap_or(BoardCursor {
            state: -1,
            member_id: MemberId(0),
        });
        let rows = q(sql)
            .bind(c.state)
            .bind(c.member_id.0)
            .bind(message.id.0)
            .bind(policy_version)
            .bind(quiet == "untracked")
            .bind(pilot.map(|p| format!("[{p}]")))
            .bind(i64::from(limit) + 1)
            .fetch_all(&mut self.db.read().await?)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(BoardRow {
                name: r.get("name")?,
                time_zone: r.get("time_zone")?,
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

impl Store {
    async fn load_facts(
        &self,
        conn: &mut impl Exec,
        ids: impl Iterator<Item = MessageId>,
    ) -> Result<HashMap<MessageId, Arc<Facts>>> {
        let mut out = HashMap::new();
        let mut missing = Vec::new();
        for id in ids {
            if out.contains_key(&id) || missing.contains(&id) {
                continue;
            }
            match self.cached_facts(id) {
                Some(f) => {
                    out.insert(id, f);
                }
                None => missing.push(id),
            }
        }
        for chunk in missing.chunks(CHUNK) {
            let sql = format!(
                "SELECT id, org_id, sender_id, created_at, tracking, response_options, require_ack FROM messages WHERE id IN ({})",
                vec!["?"; chunk.len()].join(",")
            );
            let mut q = q(sql);
            for id in chunk {
                q = q.bind(id.0);
            }
            for row in q.fetch_all(&mut *conn).await? {
                let id = MessageId(row.get("id")?);
                let tracking: String = row.get("tracking")?;
                let options: String = row.get("response_options")?;
                let facts = Arc::new(Facts {
                    org_id: OrgId(row.get("org_id")?),
                    require_ack: row.get("require_ack")?,
                    sender_id: MemberId(row.get("sender_id")?),
                    facts: MessageFacts {
                        created_at: ts(row.get("created_at")?),
                        tracking: Tracking::parse("tracking", &tracking)
                            .map_err(|_| StorageError::Corrupt("tracking".into()))?,
                        response_options: serde_json::from_str(&options)
                            .map_err(|_| StorageError::Corrupt("response options".into()))?,
                    },
                });
                self.cache_facts(id, facts.clone());
                out.insert(id, facts);
            }
        }
        Ok(out)
    }

    pub(crate) async fn apply_receipts_impl(
        &self,
        batch: &[ReceiptWrite],
        now: Timestamp,
    ) -> Result<AppliedBatch> {
        let mut tx = self.db.write().await?;
        let d = self.dialect();
        let sql = batch_sql(d);
        plan_for_keys(&mut tx, true).await?;

        // 1. Check each report against its notice; repeats inside the batch are duplicates.
        let facts = self
            .load_facts(&mut tx, batch.iter().map(|w| w.receipt.message_id))
            .await?;
        let mut checked = check_batch(batch, &facts);

        // 2. Load the recipient rows the batch touches; a missing row means "not yours".
        let mut keys: Vec<RowKey> = checked
            .candidates
            .iter()
            .map(|&i| (batch[i].receipt.message_id, batch[i].member_id))
            .collect();
        keys.sort();
        keys.dedup();
        let mut rows: HashMap<RowKey, LoadedRow> = HashMap::with_capacity(keys.len());
        if !keys.is_empty() {
            let wanted: Vec<(i64, i64)> = keys.iter().map(|(m, p)| (m.0, p.0)).collect();
            let mut found: Vec<LoadedColumns> = Vec::with_capacity(wanted.len());
            // Chunks in key order: PostgreSQL locks the rows in that order.
            for chunk in json_chunks(d, &wanted)? {
                if let Some(lock_rows) = sql.lock_rows {
                    q(lock_rows).bind(chunk.as_str()).execute(&mut tx).await?;
                }
                let answer: String = q(sql.load_rows).bind(chunk).scalar(&mut tx).await?;
                found.extend(
                    serde_json::from_str::<Vec<LoadedColumns>>(&answer)
                        .map_err(decoding("receipt rows"))?,
                );
            }
            for columns in found {
                let policy_ack_version = columns.13;
                let mut rec = receipt_from_columns(columns);
                let f = &facts[&rec.message_id].facts;
                if f.tracking == Tracking::Off {
                    rec.restore_untimed(f.created_at);
                }
                rows.insert(
                    (rec.message_id, rec.member_id),
                    LoadedRow {
                        rec,
                        policy_ack_version,
                        dirty: false,
                    },
                );
            }
        }
        checked.retain(
            |i| rows.contains_key(&(batch[i].receipt.message_id, batch[i].member_id)),
            WriteOutcome::Rejected(not_recipient()),
        );

        // 3. Record the event ids; those already present are duplicates of earlier batches.
        // Normally every id is new: they are inserted in one statement and counted. Only
        // when some were there already is that undone and the batch asked which, since
        // `INSERT … RETURNING` would send every fresh key back one row at a time.
        if !checked.candidates.is_empty() {
            run(&mut tx, "SAVEPOINT event_ids").await?;
            let inserted = insert_event_ids(&mut tx, batch, &checked.candidates, now).await?;
            if inserted != checked.candidates.len() as u64 {
                run(&mut tx, "ROLLBACK TO SAVEPOINT event_ids").await?;
                let keys: Vec<(i64, &str)> = checked
                    .candidates
                    .iter()
                    .map(|&i| (batch[i].member_id.0, batch[i].receipt.event_id.as_str()))
                    .collect();
                let mut present: HashSet<(i64, String)> = HashSet::new();
                for chunk in json_chunks(d, &keys)? {
                    let answer: String =
                        q(sql.present_event_ids).bind(chunk).scalar(&mut tx).await?;
                    present.extend(
                        serde_json::from_str::<Vec<(i64, String)>>(&answer)
                            .map_err(decoding("event ids"))?,
                    );
                }
                checked.retain(
                    |i| {
                        let w = &batch[i];
                        !present.contains(&(w.member_id.0, w.receipt.event_id.as_str().to_string()))
                    },
                    WriteOutcome::Duplicate,
                );
                insert_event_ids(&mut tx, batch, &checked.candidates, now).await?;
            }
            run(&mut tx, "RELEASE SAVEPOINT event_ids").await?;
        }

        // 4. The rules and counters of the organisations and notices involved, counters
        // locked in notice order on PostgreSQL.
        let mut org_ids: Vec<OrgId> = checked
            .candidates
            .iter()
            .map(|&i| batch[i].org_id)
            .collect();
        org_ids.sort();
        org_ids.dedup();
        let mut rules: HashMap<OrgId, OrgRules> = HashMap::new();
        for org in org_ids {
            let (policy_version, quiet, pilot, epoch, min_group_size): (
                i64,
                String,
                Option<String>,
                i64,
                i64,
            ) = q(
                "SELECT policy_version, quiet_reads, pilot_expanded, visibility_epoch, min_group_size FROM orgs WHERE id = ?",
            )
            .bind(org.0)
            .one(&mut tx)
            .await?;
            rules.insert(
                org,
                OrgRules {
                    policy_version,
                    quiet_reads: quiet_reads(&quiet)?,
                    pilot: pilot.map(|p| split_ids(&p).into_iter().map(DepartmentId).collect()),
                    epoch,
                    min_group_size: u32::try_from(min_group_size).unwrap_or(u32::MAX),
                },
            );
        }
        let mut message_ids: Vec<MessageId> = checked
            .candidates
            .iter()
            .map(|&i| batch[i].receipt.message_id)
            .collect();
        message_ids.sort();
        message_ids.dedup();
        let mut counters: HashMap<MessageId, Counters> = HashMap::new();
        for &id in &message_ids {
            let mut c = self.load_counters(&mut tx, id).await?;
            let f = &facts[&id];
            if f.facts.tracking == Tracking::PerPerson && c.visible_epoch != rules[&f.org_id].epoch
            {
                // A count over every recipient: let the planner choose freely.
                plan_for_keys(&mut tx, false).await?;
                let (visible, epoch) = count_visible(&mut tx, id, f.org_id).await?;
                plan_for_keys(&mut tx, true).await?;
                c.visible = visible;
                c.visible_epoch = epoch;
                c.dirty = true;
            }
            counters.insert(id, c);
        }

        // 5. The rules: fold each report into its row, in order (readtrack-domain).
        let folded = fold_batch(
            batch,
            &mut checked,
            &facts,
            &rules,
            &mut rows,
            &mut counters,
            now,
        );
        let mut events = folded.events;

        // 6. Write the changed rows, counters and events; one commit for the lot.
        let writes = row_writes(&rows, &facts);
        if !writes.is_empty() {
            let changed: Vec<UpdatedColumns> = writes
                .iter()
                .map(|r| {
                    (
                        r.message_id.0,
                        r.member_id.0,
                        r.state.code(),
                        r.delivered_at.map(ms),
                        r.read_at.map(ms),
                        r.read_recorded_at.map(ms),
                        r.acked_at.map(ms),
                        r.response.as_deref(),
                        i64::from(r.read_quiet),
                    )
                })
                .collect();
            for chunk in json_chunks(d, &changed)? {
                q(sql.update_rows).bind(chunk).execute(&mut tx).await?;
            }
        }
        for (id, c) in &counters {
            if !c.dirty {
                continue;
            }
            q("UPDATE message_counters SET delivered = ?, read = ?, acknowledged = ?, visible = ?, visible_epoch = ? WHERE message_id = ?")
                .bind(c.delivered)
                .bind(c.read)
                .bind(c.acknowledged)
                .bind(c.visible)
                .bind(c.visible_epoch)
                .bind(id.0)
                .execute(&mut tx)
                .await?;
            for (pos, (_, n)) in c.responses.iter().enumerate() {
                q("UPDATE message_responses SET count = ? WHERE message_id = ? AND position = ?")
                    .bind(*n)
                    .bind(id.0)
                    .bind(pos as i64)
                    .execute(&mut tx)
                    .await?;
            }
        }
        let dept_changes: Vec<(i64, i64, i64, i64)> = folded
            .department_deltas
            .into_iter()
            .filter(|(_, (read, acked))| *read != 0 || *acked != 0)
            .map(|((msg, dept), (read, acked))| (msg.0, dept.0, read, acked))
            .collect();
        if !dept_changes.is_empty() {
            for chunk in json_chunks(d, &dept_changes)? {
                q(sql.update_department_counters)
                    .bind(chunk)
                    .execute(&mut tx)
                    .await?;
            }
        }
        let finished: Vec<(i64, i64, &'static str)> = tasks_to_close(&rows, &facts)
            .into_iter()
            .map(|(m, p, by)| (m.0, p.0, by))
            .collect();
        if !finished.is_empty() {
            for chunk in json_chunks(d, &finished)? {
                q(sql.close_tasks)
                    .bind(chunk)
                    .bind(ms(now))
                    .execute(&mut tx)
                    .await?;
            }
        }
        // Events about notices whose hidden recipients are too few to count carry the
        // shown people's counts, as they stand after this batch.
        let mut shown: HashMap<MessageId, Summary> = HashMap::new();
        for e in &mut events {
            let EventBody::ReceiptUpdated {
                message_id,
                summary,
                ..
            } = &mut e.body
            else {
                continue;
            };
            if !summary.hidden_excluded {
                continue;
            }
            if !shown.contains_key(message_id) {
                let counts = shown_counts(&mut tx, *message_id, e.org_id).await?;
                shown.insert(*message_id, summary.shown_only(&counts));
            }
            *summary = Summary {
                hidden: summary.hidden,
                ..shown[message_id].clone()
            };
        }
        assign_and_insert(&mut tx, &mut events).await?;
        tx.commit().await?;
        Ok(AppliedBatch {
            outcomes: checked.finish(),
            events,
        })
    }

    /// A notice's counters (locked on PostgreSQL, in the caller's notice order).
    async fn load_counters(&self, tx: &mut Tx, id: MessageId) -> Result<Counters> {
        let row = q(format!(
            "SELECT recipients, delivered, read, acknowledged, visible, visible_epoch FROM message_counters WHERE message_id = ?{}",
            lock(self.dialect(), " FOR UPDATE")
        ))
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await?;
        let responses: Vec<(String, i64)> =
            q("SELECT label, count FROM message_responses WHERE message_id = ? ORDER BY position")
                .bind(id.0)
                .all(&mut *tx)
                .await?;
        Ok(Counters {
            recipients: row.get("recipients")?,
            delivered: row.get("delivered")?,
            read: row.get("read")?,
            acknowledged: row.get("acknowledged")?,
            visible: row.get("visible")?,
            visible_epoch: row.get("visible_epoch")?,
            responses,
            dirty: false,
        })
    }
}

/// Records the event ids of `batch[candidates]`; answers how many were new.
async fn insert_event_ids(
    tx: &mut Tx,
    batch: &[ReceiptWrite],
    candidates: &[usize],
    now: Timestamp,
) -> Result<u64> {
    let rows: Vec<(i64, &str, i64)> = candidates
        .iter()
        .map(|&i| {
            let w = &batch[i];
            (
                w.member_id.0,
                w.receipt.event_id.as_str(),
                w.receipt.message_id.0,
            )
        })
        .collect();
    let d = tx.dialect();
    let mut inserted = 0;
    for chunk in json_chunks(d, &rows)? {
        inserted += q(batch_sql(d).insert_event_ids)
            .bind(chunk)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
    }
    Ok(inserted)
}

/// A batch's items as JSON arrays to bind: all of them in one on SQLite, in process; on
/// PostgreSQL as many arrays as keep each statement's bound value under
/// [`BIND_BUDGET`] (see there), in the items' order.
fn json_chunks<T: serde::Serialize>(d: Dialect, items: &[T]) -> Result<Vec<String>> {
    if d == Dialect::Sqlite {
        return Ok(vec![serde_json::to_string(items).map_err(encoding)?]);
    }
    let mut out = Vec::new();
    let mut current = String::from("[");
    for item in items {
        let one = serde_json::to_string(item).map_err(encoding)?;
        if current.len() > 1 && current.len() + one.len() + 2 > BIND_BUDGET {
            current.push(']');
            out.push(std::mem::replace(&mut current, String::from("[")));
        }
        if current.len() > 1 {
            current.push(',');
        }
        current.push_str(&one);
    }
    if current.len() > 1 {
        current.push(']');
        out.push(current);
    }
    Ok(out)
}

/// A recipient row as `load_rows` answers it: the receipt columns in
/// `RECEIPT_COLUMNS` order, then the member's `policy_ack_version`.
type LoadedColumns = (
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
);

fn receipt_from_columns(c: LoadedColumns) -> ReceiptRecord {
    ReceiptRecord {
        message_id: MessageId(c.0),
        member_id: MemberId(c.1),
        department_id: DepartmentId(c.2),
        stored_state: ReceiptState::from_code(c.3),
        times: ReceiptTimes {
            delivered_at: ts_opt(c.4),
            read_at: ts_opt(c.5),
            acked_at: ts_opt(c.7),
            response: c.8,
        },
        read_recorded_at: ts_opt(c.6),
        read_quiet: c.9 != 0,
        reminders: c.10,
        last_reminded_at: ts_opt(c.11),
        escalated_at: ts_opt(c.12),
    }
}

/// A changed row as `update_rows` takes it.
type UpdatedColumns<'a> = (
    i64,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<&'a str>,
    i64,
);

/// A batch's values could not be written as JSON (never happens for numbers and
/// strings; kept as an error rather than a panic).
fn encoding(e: serde_json::Error) -> StorageError {
    StorageError::Corrupt(format!("batch encoding: {e}"))
}

/// A one-row JSON answer could not be read back.
fn decoding(what: &str) -> impl Fn(serde_json::Error) -> StorageError + '_ {
    move |e| StorageError::Corrupt(format!("{what}: {e}"))
}

/// The hot path's statements, in each dialect. Each reads its batch from one bound JSON
/// array. Answers that would be one row per receipt come back as a single JSON array
/// instead: the driver hands rows over one at a time between threads, which cost more
/// than the lookups.
struct BatchSql {
    /// PostgreSQL only: locks the recipient rows of `[[message_id, member_id], …]` in key
    /// order, so concurrent batches queue instead of deadlocking.
    lock_rows: Option<&'static str>,
    /// The recipient rows of `[[message_id, member_id], …]`, with each member's policy
    /// acknowledgement, as one JSON array of [`LoadedColumns`] (`[]` when none match).
    load_rows: &'static str,
    /// Which of `[[member_id, event_id], …]` are recorded already, as `[[member_id, event_id], …]`.
    present_event_ids: &'static str,
    /// Records `[[member_id, event_id, message_id], …]` at `?2`.
    insert_event_ids: &'static str,
    /// Writes back changed rows, as [`UpdatedColumns`].
    update_rows: &'static str,
    /// Adds `[[message_id, department_id, read, acknowledged], …]` to the department counters.
    update_department_counters: &'static str,
    /// Closes the open tasks of `[[message_id, member_id, done_by], …]` at `?2`.
    close_tasks: &'static str,
}

fn batch_sql(d: Dialect) -> &'static BatchSql {
    match d {
        Dialect::Sqlite => &SQLITE_BATCH,
        Dialect::Postgres => &POSTGRES_BATCH,
    }
}

/// SQLite reads the batch with `json_each`; `CROSS JOIN` keeps the batch as the outer
/// loop, so every row is a primary-key lookup.
const SQLITE_BATCH: BatchSql = BatchSql {
    lock_rows: None,
    load_rows: "SELECT json_group_array(json_array(r.message_id, r.member_id, r.department_id, r.state, r.delivered_at, r.read_at, r.read_recorded_at, r.acked_at, r.response, r.read_quiet, r.reminders, r.last_reminded_at, r.escalated_at, m.policy_ack_version))
     FROM json_each(?1) k CROSS JOIN receipts r ON r.message_id = k.value->>0 AND r.member_id = k.value->>1
     JOIN members m ON m.id = r.member_id",
    present_event_ids: "SELECT json_group_array(json_array(e.member_id, e.event_id))
     FROM json_each(?1) k CROSS JOIN receipt_events e ON e.member_id = k.value->>0 AND e.event_id = k.value->>1",
    insert_event_ids: "INSERT INTO receipt_events (member_id, event_id, message_id, recorded_at)
     SELECT value->>0, value->>1, value->>2, ?2 FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING",
    update_rows: "WITH v(message_id, member_id, state, delivered_at, read_at, read_recorded_at, acked_at, response, read_quiet) AS (
         SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7, value->>8 FROM json_each(?1))
     UPDATE receipts SET state = v.state, delivered_at = v.delivered_at, read_at = v.read_at,
         read_recorded_at = v.read_recorded_at, acked_at = v.acked_at, response = v.response, read_quiet = v.read_quiet
     FROM v WHERE receipts.message_id = v.message_id AND receipts.member_id = v.member_id",
    update_department_counters: "WITH v(message_id, department_id, read, acknowledged) AS (
         SELECT value->>0, value->>1, value->>2, value->>3 FROM json_each(?1))
     UPDATE department_counters SET read = department_counters.read + v.read,
         acknowledged = department_counters.acknowledged + v.acknowledged
     FROM v WHERE department_counters.message_id = v.message_id AND department_counters.department_id = v.department_id",
    close_tasks: "WITH v(message_id, member_id, done_by) AS (
         SELECT value->>0, value->>1, value->>2 FROM json_each(?1))
     UPDATE tasks SET done_at = ?2, done_by = v.done_by FROM v
     WHERE tasks.message_id = v.message_id AND tasks.member_id = v.member_id AND tasks.done_at IS NULL",
};

/// PostgreSQL reads the batch with `json_array_elements` and casts each field.
const POSTGRES_BATCH: BatchSql = BatchSql {
    lock_rows: Some(
        "SELECT 1 FROM receipts r
         WHERE (r.message_id, r.member_id) IN (
             SELECT (k->>0)::bigint, (k->>1)::bigint FROM json_array_elements(?1::json) k)
         ORDER BY r.message_id, r.member_id FOR UPDATE OF r",
    ),
    load_rows: "SELECT COALESCE(json_agg(json_build_array(r.message_id, r.member_id, r.department_id, r.state, r.delivered_at, r.read_at, r.read_recorded_at, r.acked_at, r.response, CASE WHEN r.read_quiet THEN 1 ELSE 0 END, r.reminders, r.last_reminded_at, r.escalated_at, m.policy_ack_version))::text, '[]')
     FROM json_array_elements(?1::json) k
     JOIN receipts r ON r.message_id = (k->>0)::bigint AND r.member_id = (k->>1)::bigint
     JOIN members m ON m.id = r.member_id",
    present_event_ids: "SELECT COALESCE(json_agg(json_build_array(e.member_id, e.event_id))::text, '[]')
     FROM json_array_elements(?1::json) k
     JOIN receipt_events e ON e.member_id = (k->>0)::bigint AND e.event_id = k->>1",
    insert_event_ids: "INSERT INTO receipt_events (member_id, event_id, message_id, recorded_at)
     SELECT (k->>0)::bigint, k->>1, (k->>2)::bigint, ?2 FROM json_array_elements(?1::json) k
     ON CONFLICT DO NOTHING",
    update_rows: "WITH v AS (
         SELECT (k->>0)::bigint AS message_id, (k->>1)::bigint AS member_id, (k->>2)::bigint AS state,
             (k->>3)::bigint AS delivered_at, (k->>4)::bigint AS read_at, (k->>5)::bigint AS read_recorded_at,
             (k->>6)::bigint AS acked_at, k->>7 AS response, (k->>8)::bigint <> 0 AS read_quiet
         FROM json_array_elements(?1::json) k)
     UPDATE receipts SET state = v.state, delivered_at = v.delivered_at, read_at = v.read_at,
         read_recorded_at = v.read_recorded_at, acked_at = v.acked_at, response = v.response, read_quiet = v.read_quiet
     FROM v WHERE receipts.message_id = v.message_id AND receipts.member_id = v.member_id",
    update_department_counters: "WITH v AS (
         SELECT (k->>0)::bigint AS message_id, (k->>1)::bigint AS department_id,
             (k->>2)::bigint AS read, (k->>3)::bigint AS acknowledged
         FROM json_array_elements(?1::json) k)
     UPDATE department_counters SET read = department_counters.read + v.read,
         acknowledged = department_counters.acknowledged + v.acknowledged
     FROM v WHERE department_counters.message_id = v.message_id AND department_counters.department_id = v.department_id",
    close_tasks: "WITH v AS (
         SELECT (k->>0)::bigint AS message_id, (k->>1)::bigint AS member_id, k->>2 AS done_by
         FROM json_array_elements(?1::json) k)
     UPDATE tasks SET done_at = ?2, done_by = v.done_by FROM v
     WHERE tasks.message_id = v.message_id AND tasks.member_id = v.member_id AND tasks.done_at IS NULL",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_bind_as_one_array_on_sqlite_and_within_the_budget_on_postgres() {
        let items: Vec<(i64, String)> = (0..2_000).map(|i| (i, format!("event-{i}"))).collect();
        let one = json_chunks(Dialect::Sqlite, &items).unwrap();
        assert_eq!(one.len(), 1);
        let many = json_chunks(Dialect::Postgres, &items).unwrap();
        assert!(many.len() > 1);
        assert!(many.iter().all(|c| c.len() <= BIND_BUDGET));
        let back: Vec<(i64, String)> = many
            .iter()
            .flat_map(|c| serde_json::from_str::<Vec<(i64, String)>>(c).unwrap())
            .collect();
        assert_eq!(back, items, "every item once, in order");
        assert!(
            json_chunks::<i64>(Dialect::Postgres, &[])
                .unwrap()
                .is_empty()
        );
    }
}
