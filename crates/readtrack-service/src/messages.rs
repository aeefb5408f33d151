//! Sending notices and reading them.

use readtrack_domain::FieldError;
use readtrack_domain::audience::Audience;
use readtrack_domain::department::DepartmentTree;
use readtrack_domain::ids::MemberId;
use readtrack_domain::ids::MessageId;
use readtrack_domain::message::{NewMessage, NewMessageInput};
use readtrack_domain::working_time::WorkCalendar;
use readtrack_storage::{
    InboxFilter, InboxItem, MessageRecord, NewMessageRecord, Page, ReceiptRecord,
};

use crate::App;
use crate::auth::Caller;
use crate::error::{Result, ServiceError};

/// A notice as one viewer may see it.
#[derive(Debug, Clone)]
pub struct MessageView {
    /// The notice.
    pub message: MessageRecord,
    /// The viewer's receipt, when they are a recipient.
    pub my_receipt: Option<ReceiptRecord>,
}

impl App {
    /// Checks an audience against the directory: every department must exist and every
    /// member named must be active in the caller's organisation; each bad entry is a 400
    /// naming it. Returns the department tree and the members named.
    pub(crate) async fn check_audience(
        &self,
        caller: &Caller,
        audience: &Audience,
    ) -> Result<(DepartmentTree, Vec<MemberId>)> {
        let tree = DepartmentTree::new(self.storage().departments(caller.org_id()).await?);
        if let Some((i, d)) = audience
            .departments
            .iter()
            .enumerate()
            .find(|(_, d)| !tree.contains(**d))
        {
            let field = format!("audience.departments[{i}]");
            return Err(FieldError::with_code(
                &field,
                "unknown_department",
                format!("`{field}` {d} is not a department of this organisation"),
            )
            .into());
        }
        let found = if audience.members.is_empty() {
            Vec::new()
        } else {
            self.storage()
                .existing_members(caller.org_id(), &audience.members)
                .await?
        };
        if let Some((i, m)) = audience
            .members
            .iter()
            .enumerate()
            .find(|(_, m)| !found.contains(m))
        {
            let field = format!("audience.members[{i}]");
            return Err(FieldError::with_code(
                &field,
                "unknown_member",
                format!("`{field}` {m} is not an active member of this organisation"),
            )
            .into());
        }
        Ok((tree, found))
    }

    /// Sends a notice from the caller to its audience.
    pub async fn send_message(
        &self,
        caller: &Caller,
        input: NewMessageInput,
    ) -> Result<MessageRecord> {
        self.inner.limiters.sends.check(
            &format!("token:{}", caller.token_id),
            "notices sent with this token",
        )?;
        let org = self.org(caller.org_id()).await?;
        let now = self.clock().now();
        let tracking_chosen = input.tracking.is_some();
        let mut message = NewMessage::parse(input, &org.settings, now)?;
        let (tree, _) = self.check_audience(caller, &message.audience).await?;
        self.check_sending_rights(caller, &org.settings, &tree, &mut message, tracking_chosen)
            .await?;
        let emergency = message.emergency_reason.is_some();
        if emergency
            && !org
                .settings
                .sending_rights
                .may_send_emergency(caller.id(), caller.member.role)
        {
            return Err(ServiceError::Forbidden(
                "only the people an administrator named may send emergency notices; send it as urgent instead".into(),
            ));
        }
        let departments_expanded = tree.subtrees(&message.audience.departments);
        let first_steps = match &message.reminders {
            Some(plan) if message.tracking != readtrack_domain::message::Tracking::Off => {
                self.first_steps(caller, plan, emergency).await?
            }
            _ => Vec::new(),
        };
        let calendar = WorkCalendar::new(
            &org.settings.time_zone,
            &org.settings.working_hours,
            &org.settings.quiet_hours,
        );
        let created = self
            .storage()
            .create_message(NewMessageRecord {
                org_id: caller.org_id(),
                sender_id: caller.id(),
                message,
                departments_expanded,
                // An emergency goes out at any hour: it is never held for working time.
                is_async: !emergency && !calendar.is_working(now),
                first_steps,
                now,
            })
            .await?;
        metrics::counter!("readtrack_messages_sent_total").increment(1);
        if let Some(reason) = &created.message.emergency_reason {
            // The override of working time and quiet hours is on the record, with its reason.
            self.audit(
                caller,
                "message.emergency",
                format!("message:{}", created.message.id),
                vec![],
            )
            .await?;
            tracing::info!(message = %created.message.id, %reason, "emergency notice sent");
        }
        self.wake_scheduler();
        if let Err(e) = self.bus().publish(vec![created.event].into()).await {
            tracing::warn!(error = %e, "could not publish message.created; recipients will see it on resume");
        }
        Ok(created.message)
    }

    /// The caller's inbox, newest first.
    pub async fn inbox(
        &self,
        caller: &Caller,
        filter: InboxFilter,
        page: Page,
    ) -> Result<Vec<InboxItem>> {
        Ok(self.storage().inbox(caller.id(), filter, page).await?)
    }

    /// How many emergency notices the caller's organisation sent in the last 365 days
    /// (the policy page shows it: the overrides of working time are no secret).
    pub async fn emergency_notices_last_year(&self, caller: &Caller) -> Result<i64> {
        let now = self.clock().now();
        let since = now
            .checked_sub(jiff::SignedDuration::from_hours(24 * 365))
            .unwrap_or(now);
        Ok(self
            .storage()
            .emergency_notices_since(caller.org_id(), since)
            .await?)
    }

    /// Notices the caller sent, newest first.
    pub async fn sent_messages(&self, caller: &Caller, page: Page) -> Result<Vec<MessageRecord>> {
        Ok(self.storage().sent(caller.id(), page).await?)
    }

    /// A notice the caller sent or received; anyone else gets 404.
    pub async fn message(&self, caller: &Caller, id: &str) -> Result<MessageView> {
        let id = MessageId::parse("id", id).map_err(|_| ServiceError::NotFound("message"))?;
        let message = self
            .storage()
            .message(caller.org_id(), id)
            .await?
            .ok_or(ServiceError::NotFound("message"))?;
        let my_receipt = self.storage().receipt(id, caller.id()).await?;
        if my_receipt.is_none() && message.sender_id != caller.id() {
            return Err(ServiceError::NotFound("message"));
        }
        Ok(MessageView {
            message,
            my_receipt,
        })
    }
}
