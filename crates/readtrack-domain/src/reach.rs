//! Reaching people outside the app: which events are also sent by email, to whom, and when
//! a queued email is no longer worth sending. The email ladder: an urgent notice (or an
//! emergency) is mailed at once; every reminder is mailed to the person reminded; every
//! escalation to the manager or backup told. An email is skipped when, by the time it
//! would go, the person has already done what it asks (read, or confirmed where the
//! notice asks for it); an escalation is skipped once the unread person has read.

use crate::event::EventBody;
use crate::message::Priority;
use crate::receipt::ReceiptState;

/// Why a person gets an email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailReason {
    /// A new notice, urgent or an emergency.
    Notice,
    /// A reminder of an unread notice.
    Reminder,
    /// A recipient has not read a notice; the manager or backup is told.
    Escalation,
}

impl MailReason {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MailReason::Notice => "notice",
            MailReason::Reminder => "reminder",
            MailReason::Escalation => "escalation",
        }
    }

    /// Whether it goes even to someone who switched email reminders off: an urgent
    /// notice or an emergency does; reminders and escalations are theirs to refuse.
    pub fn is_essential(self) -> bool {
        self == MailReason::Notice
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "notice" => Some(MailReason::Notice),
            "reminder" => Some(MailReason::Reminder),
            "escalation" => Some(MailReason::Escalation),
            _ => None,
        }
    }
}

/// Whether an event is also sent by email, and why. `emergency`: the event's notice is
/// an emergency.
pub fn mail_reason(body: &EventBody, emergency: bool) -> Option<MailReason> {
    match body {
        EventBody::MessageCreated { priority, .. } => {
            (emergency || *priority == Priority::Urgent).then_some(MailReason::Notice)
        }
        EventBody::Reminder { .. } => Some(MailReason::Reminder),
        EventBody::Escalation { .. } => Some(MailReason::Escalation),
        EventBody::ReceiptUpdated { .. } | EventBody::TaskCreated { .. } => None,
    }
}

/// Whether a queued email is no longer needed: `state` is the receipt of the person the
/// email is about (the recipient; for an escalation the unread recipient, not the
/// manager), `require_ack` whether the notice asks for a confirmation.
pub fn no_longer_needed(reason: MailReason, state: ReceiptState, require_ack: bool) -> bool {
    match reason {
        MailReason::Notice | MailReason::Reminder if require_ack => {
            state == ReceiptState::Acknowledged
        }
        MailReason::Notice | MailReason::Reminder | MailReason::Escalation => state.is_read(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{MemberId, MessageId};

    fn created(priority: Priority) -> EventBody {
        EventBody::MessageCreated {
            message_id: MessageId(1),
            sender_id: MemberId(1),
            title: "t".into(),
            priority,
            require_ack: false,
        }
    }

    #[test]
    fn only_urgent_notices_and_emergencies_are_mailed_at_once() {
        assert_eq!(mail_reason(&created(Priority::Normal), false), None);
        assert_eq!(mail_reason(&created(Priority::Important), false), None);
        assert_eq!(
            mail_reason(&created(Priority::Urgent), false),
            Some(MailReason::Notice)
        );
        assert_eq!(
            mail_reason(&created(Priority::Normal), true),
            Some(MailReason::Notice)
        );
        let reminder = EventBody::Reminder {
            message_id: MessageId(1),
            member_id: MemberId(2),
            count: 1,
        };
        assert_eq!(mail_reason(&reminder, false), Some(MailReason::Reminder));
    }

    #[test]
    fn a_mail_is_dropped_once_the_person_did_what_it_asks() {
        use ReceiptState::*;
        assert!(!no_longer_needed(MailReason::Reminder, Delivered, false));
        assert!(no_longer_needed(MailReason::Reminder, Read, false));
        assert!(!no_longer_needed(MailReason::Reminder, Read, true));
        assert!(no_longer_needed(MailReason::Reminder, Acknowledged, true));
        assert!(no_longer_needed(MailReason::Escalation, Read, true));
        assert!(MailReason::Notice.is_essential());
        assert!(!MailReason::Reminder.is_essential());
        assert!(!MailReason::Escalation.is_essential());
        for r in ["notice", "reminder", "escalation"] {
            assert_eq!(MailReason::parse(r).unwrap().as_str(), r);
        }
    }
}
