//! Events: the append-only per-organisation sequence realtime clients follow.

use jiff::Timestamp;

use crate::ids::{MemberId, MessageId, OrgId, Seq, TaskId};
use crate::message::Priority;
use crate::receipt::ReceiptState;
use crate::summary::Summary;

/// One entry of an organisation's event sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Position in the organisation's sequence.
    pub seq: Seq,
    /// The organisation.
    pub org_id: OrgId,
    /// Server time it was recorded.
    pub at: Timestamp,
    /// What happened.
    pub body: EventBody,
}

/// A recipient's change as the sender may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonUpdate {
    /// The recipient.
    pub member_id: MemberId,
    /// Their new state.
    pub state: ReceiptState,
    /// When it happened by their clock; `None` when only shown coarsely.
    pub at: Option<Timestamp>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventBody {
    /// A notice was sent; goes to each recipient.
    MessageCreated {
        /// The notice.
        message_id: MessageId,
        /// Its sender.
        sender_id: MemberId,
        /// Its title.
        title: String,
        /// Its priority.
        priority: Priority,
        /// Whether it asks for confirmation.
        require_ack: bool,
    },
    /// A recipient's state changed; goes to the sender.
    ReceiptUpdated {
        /// The notice.
        message_id: MessageId,
        /// Its sender (the frame's audience).
        sender_id: MemberId,
        /// The board's counts after the change.
        summary: Summary,
        /// The person's change, where per-person data may be shown.
        person: Option<PersonUpdate>,
    },
    /// A recipient was reminded; goes to the recipient.
    Reminder {
        /// The notice.
        message_id: MessageId,
        /// The recipient.
        member_id: MemberId,
        /// Which reminder this is (1, 2, ...).
        count: i64,
    },
    /// An unread notice was escalated; goes to the manager or backup told.
    Escalation {
        /// The notice.
        message_id: MessageId,
        /// The recipient who has not read it.
        recipient_id: MemberId,
        /// The person told (the frame's audience).
        to_member_id: MemberId,
        /// `manager` or `backup`.
        role: &'static str,
    },
    /// A task was created; goes to its owner.
    TaskCreated {
        /// The task.
        task_id: TaskId,
        /// The notice it is about.
        message_id: MessageId,
        /// The owner.
        member_id: MemberId,
    },
}

/// Who receives an event's frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAudience {
    /// One member.
    Member(MemberId),
    /// Every recipient of a notice.
    RecipientsOf(MessageId),
}

impl EventBody {
    /// The frame type on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::MessageCreated { .. } => "message.created",
            EventBody::ReceiptUpdated { .. } => "receipt.updated",
            EventBody::Reminder { .. } => "reminder",
            EventBody::Escalation { .. } => "escalation",
            EventBody::TaskCreated { .. } => "task.created",
        }
    }

    /// Who receives it.
    pub fn audience(&self) -> EventAudience {
        match self {
            EventBody::MessageCreated { message_id, .. } => {
                EventAudience::RecipientsOf(*message_id)
            }
            EventBody::ReceiptUpdated { sender_id, .. } => EventAudience::Member(*sender_id),
            EventBody::Reminder { member_id, .. } => EventAudience::Member(*member_id),
            EventBody::Escalation { to_member_id, .. } => EventAudience::Member(*to_member_id),
            EventBody::TaskCreated { member_id, .. } => EventAudience::Member(*member_id),
        }
    }

    /// The notice it concerns.
    pub fn message_id(&self) -> MessageId {
        match self {
            EventBody::MessageCreated { message_id, .. }
            | EventBody::ReceiptUpdated { message_id, .. }
            | EventBody::Reminder { message_id, .. }
            | EventBody::Escalation { message_id, .. }
            | EventBody::TaskCreated { message_id, .. } => *message_id,
        }
    }
}
