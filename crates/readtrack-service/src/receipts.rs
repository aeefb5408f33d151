//! Taking receipts from clients: parse each item alone, then hand the good ones to the
//! group-commit writer.

use readtrack_domain::FieldError;
use readtrack_domain::receipt::{MAX_BATCH, ParsedReceipt, ReceiptInput, ReceiptKind};
use readtrack_domain::working_time::WorkCalendar;
use std::collections::HashMap;

use readtrack_domain::ids::MemberId;
use readtrack_domain::member::Member;
use readtrack_storage::{ReceiptWrite, TokenKind, WriteOutcome};

use crate::App;
use crate::auth::Caller;
use crate::error::{Result, ServiceError};

/// What became of one submitted item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemResult {
    /// The item's event id, if it had a readable one.
    pub event_id: Option<String>,
    /// Applied, duplicate or rejected.
    pub outcome: WriteOutcome,
}

impl App {
    /// Applies a batch of receipts and returns one result per item, in order, once every
    /// applied item is committed. A bad item fails alone. Items are the caller's own, or,
    /// from a relay token, each names its member (`member_id`).
    pub async fn submit_receipts(
        &self,
        caller: &Caller,
        items: Vec<std::result::Result<ReceiptInput, FieldError>>,
    ) -> Result<Vec<ItemResult>> {
        self.submit_receipts_for(
            caller,
            items.into_iter().map(|i| i.map(|i| (i, None))).collect(),
        )
        .await
    }

    /// [`App::submit_receipts`] where each item may name its member (`member_id`), as a
    /// relay token's items must.
    pub async fn submit_receipts_for(
        &self,
        caller: &Caller,
        items: Vec<std::result::Result<(ReceiptInput, Option<String>), FieldError>>,
    ) -> Result<Vec<ItemResult>> {
        if items.len() > MAX_BATCH {
            return Err(ServiceError::invalid(
                "receipts",
                format!(
                    "`receipts` holds {} items; send at most {MAX_BATCH} per request",
                    items.len()
                ),
            ));
        }
        let relay = caller.token_kind == TokenKind::Relay;
        if !relay {
            self.inner.limiters.receipts.check(
                &format!("token:{}", caller.token_id),
                "receipt batches with this token",
            )?;
        }
        let org = self.org(caller.org_id()).await?;
        // The members the batch speaks for, with their calendars (a read's quiet-hours
        // status depends on the reader's own zone).
        let mut members: HashMap<MemberId, Member> = HashMap::new();
        if relay {
            let mut ids: Vec<MemberId> = items
                .iter()
                .filter_map(|i| i.as_ref().ok()?.1.as_deref()?.parse().ok())
                .collect();
            ids.sort();
            ids.dedup();
            for m in self.storage().members_by_ids(caller.org_id(), &ids).await? {
                members.insert(m.id, m);
            }
        } else {
            members.insert(caller.id(), caller.member.clone());
        }
        let mut calendars: HashMap<Option<String>, WorkCalendar> = HashMap::new();
        let now = self.clock().now();
        let mut results: Vec<ItemResult> = Vec::with_capacity(items.len());
        let mut writes = Vec::with_capacity(items.len());
        let mut slots = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let event_id = item
                .as_ref()
                .ok()
                .and_then(|(input, _)| input.event_id.clone());
            let parsed = item.and_then(|(input, member_id)| {
                let member = reporter(caller, relay, member_id.as_deref(), &members)?;
                Ok((member, ParsedReceipt::parse(&input, now)?))
            });
            match parsed {
                Ok((member, receipt)) => {
                    if let Some(device_at) = receipt.device_at {
                        // How far devices' clocks are off, as their clients corrected
                        // them: a fleet drifting apart shows here before reads are refused.
                        metrics::histogram!("readtrack_device_clock_correction_seconds")
                            .record(receipt.at.duration_since(device_at).as_secs_f64().abs());
                    }
                    let zone = member.time_zone.clone();
                    let calendar = calendars.entry(zone).or_insert_with(|| {
                        let z = App::member_zone(member, &org);
                        WorkCalendar::new(
                            &z,
                            &org.settings.working_hours,
                            &org.settings.quiet_hours,
                        )
                    });
                    // Whether the read happened in the reader's quiet hours decides how
                    // the sender may see its time.
                    let quiet = receipt.kind >= ReceiptKind::Read && calendar.is_quiet(receipt.at);
                    results.push(ItemResult {
                        event_id,
                        outcome: WriteOutcome::Applied,
                    });
                    slots.push(i);
                    writes.push(ReceiptWrite {
                        org_id: caller.org_id(),
                        member_id: member.id,
                        receipt,
                        at_in_quiet_hours: quiet,
                    });
                }
                Err(e) => results.push(ItemResult {
                    event_id,
                    outcome: WriteOutcome::Rejected(e),
                }),
            }
        }
        let outcomes = self.writer().write(writes).await?;
        for (slot, outcome) in slots.into_iter().zip(outcomes) {
            results[slot].outcome = outcome;
        }
        Ok(results)
    }
}

/// Whose receipt an item is: the caller's own, or the named member for relay tokens.
fn reporter<'a>(
    caller: &Caller,
    relay: bool,
    member_id: Option<&str>,
    members: &'a HashMap<MemberId, Member>,
) -> std::result::Result<&'a Member, FieldError> {
    if relay {
        let raw = member_id.ok_or_else(|| {
            FieldError::with_code(
                "member_id",
                "missing_field",
                "`member_id` is required on receipts from a relay token",
            )
        })?;
        let id = MemberId::parse("member_id", raw)?;
        members.get(&id).ok_or_else(|| {
            FieldError::with_code(
                "member_id",
                "unknown_member",
                format!("`member_id` {id} is not an active member of this organisation"),
            )
        })
    } else {
        match member_id {
            Some(raw) if raw != caller.id().to_string() => Err(FieldError::with_code(
                "member_id",
                "member_id_not_allowed",
                "`member_id` may name only yourself; reporting for others needs a relay token",
            )),
            _ => members
                .get(&caller.id())
                .ok_or_else(|| FieldError::invalid("member_id", "unknown caller")),
        }
    }
}
