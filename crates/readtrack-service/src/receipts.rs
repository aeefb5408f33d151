//! Taking receipts from clients: parse each item alone, then hand the good ones to the
//! group-commit writer.

use readtrack_domain::FieldError;
use readtrack_domain::receipt::{MAX_BATCH, ParsedReceipt, ReceiptInput, ReceiptKind};
use readtrack_domain::working_time::WorkCalendar;
use readtrack_storage::{ReceiptWrite, WriteOutcome};

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
    /// Applies a batch of the caller's receipts. Returns one result per item, in order,
    /// once every applied item is committed. A bad item fails alone.
    pub async fn submit_receipts(
        &self,
        caller: &Caller,
        items: Vec<std::result::Result<ReceiptInput, FieldError>>,
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
        let org = self.org(caller.org_id()).await?;
        let zone = App::member_zone(&caller.member, &org);
        let calendar = WorkCalendar::new(
            &zone,
            &org.settings.working_hours,
            &org.settings.quiet_hours,
        );
        let now = self.clock().now();
        let mut results: Vec<ItemResult> = Vec::with_capacity(items.len());
        let mut writes = Vec::with_capacity(items.len());
        let mut slots = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let event_id = item.as_ref().ok().and_then(|input| input.event_id.clone());
            match item.and_then(|input| ParsedReceipt::parse(&input, now)) {
                Ok(receipt) => {
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
                        member_id: caller.id(),
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
