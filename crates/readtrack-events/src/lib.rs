//! The one JSON encoding of events: the event log in storage keeps each event's body in
//! it, and the bus between nodes carries whole events in it. A new kind of event, or a new
//! field, is added here once.
//!
//! An event body is a JSON object tagged by its `kind` (`message.created`,
//! `receipt.updated`, `reminder`, `escalation`, `task.created`); ids are numbers and
//! instants Unix milliseconds. This is an internal format: the HTTP API's frames have
//! their own types in `readtrack-protocol`.

use jiff::Timestamp;
use readtrack_domain::event::{Event, EventBody, PersonUpdate};
use readtrack_domain::ids::{MemberId, MessageId, OrgId, Seq, TaskId};
use readtrack_domain::message::Priority;
use readtrack_domain::receipt::ReceiptState;
use readtrack_domain::summary::Summary;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An event or event body that could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("undecodable event: {0}")]
pub struct CodecError(String);

/// One event, whole, as JSON (for the bus).
pub fn event_to_json(e: &Event) -> Vec<u8> {
    // Numbers and strings only: serialising cannot fail.
    serde_json::to_vec(&WireEvent::from(e)).unwrap_or_default()
}

/// A JSON array of whole events (as the bus sends them) back into events.
pub fn events_from_json(bytes: &[u8]) -> Result<Vec<Event>, CodecError> {
    serde_json::from_slice::<Vec<WireEvent>>(bytes)
        .map_err(|e| CodecError(e.to_string()))?
        .into_iter()
        .map(|w| Event::try_from(w).map_err(CodecError))
        .collect()
}

/// An event body as JSON, tagged by its kind (for the event log's payload column).
pub fn body_to_json(body: &EventBody) -> String {
    serde_json::to_string(&WireBody::from(body)).unwrap_or_default()
}

/// An event body from the event log: its payload, with the columns stored beside it
/// (`kind`, the target member, the notice) filling in what a payload written before the
/// body carried them lacks.
pub fn body_from_stored(
    kind: &str,
    target: Option<i64>,
    message_id: i64,
    payload: &str,
) -> Result<EventBody, CodecError> {
    let mut object: Map<String, Value> =
        serde_json::from_str(payload).map_err(|e| CodecError(format!("{kind} payload: {e}")))?;
    object.insert("kind".into(), Value::from(kind));
    object.insert("message_id".into(), Value::from(message_id));
    let target_field = match kind {
        "receipt.updated" => Some("sender_id"),
        "escalation" => Some("to_member_id"),
        _ => None,
    };
    if let (Some(field), Some(t)) = (target_field, target) {
        object.entry(field).or_insert(Value::from(t));
    }
    let wire: WireBody = serde_json::from_value(Value::Object(object))
        .map_err(|e| CodecError(format!("{kind} payload: {e}")))?;
    EventBody::try_from(wire).map_err(CodecError)
}

/// An event with its sequence, organisation and time, as the bus carries it.
#[derive(Debug, Serialize, Deserialize)]
struct WireEvent {
    seq: i64,
    org: i64,
    /// Unix milliseconds.
    at: i64,
    #[serde(flatten)]
    body: WireBody,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind")]
enum WireBody {
    #[serde(rename = "message.created")]
    MessageCreated {
        message_id: i64,
        sender_id: i64,
        title: String,
        priority: String,
        require_ack: bool,
    },
    #[serde(rename = "receipt.updated")]
    ReceiptUpdated {
        message_id: i64,
        sender_id: i64,
        summary: WireSummary,
        person: Option<WirePerson>,
    },
    #[serde(rename = "reminder")]
    Reminder {
        message_id: i64,
        member_id: i64,
        count: i64,
    },
    #[serde(rename = "escalation")]
    Escalation {
        message_id: i64,
        recipient_id: i64,
        to_member_id: i64,
        role: String,
    },
    #[serde(rename = "task.created")]
    TaskCreated {
        task_id: i64,
        message_id: i64,
        member_id: i64,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct WireSummary {
    recipients: i64,
    delivered: i64,
    read: i64,
    acknowledged: i64,
    hidden: i64,
    responses: Vec<(String, i64)>,
    /// Absent from payloads written before hidden groups could be left out of counts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    hidden_excluded: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct WirePerson {
    member_id: i64,
    state: i64,
    at: Option<i64>,
}

impl From<&Event> for WireEvent {
    fn from(e: &Event) -> Self {
        Self {
            seq: e.seq.0,
            org: e.org_id.0,
            at: e.at.as_millisecond(),
            body: WireBody::from(&e.body),
        }
    }
}

impl From<&EventBody> for WireBody {
    fn from(body: &EventBody) -> Self {
        match body {
            EventBody::MessageCreated {
                message_id,
                sender_id,
                title,
                priority,
                require_ack,
            } => WireBody::MessageCreated {
                message_id: message_id.0,
                sender_id: sender_id.0,
                title: title.clone(),
                priority: priority.as_str().to_string(),
                require_ack: *require_ack,
            },
            EventBody::ReceiptUpdated {
                message_id,
                sender_id,
                summary,
                person,
            } => WireBody::ReceiptUpdated {
                message_id: message_id.0,
                sender_id: sender_id.0,
                summary: WireSummary {
                    recipients: summary.recipients,
                    delivered: summary.delivered,
                    read: summary.read,
                    acknowledged: summary.acknowledged,
                    hidden: summary.hidden,
                    responses: summary.responses.clone(),
                    hidden_excluded: summary.hidden_excluded,
                },
                person: person.as_ref().map(|p| WirePerson {
                    member_id: p.member_id.0,
                    state: p.state.code(),
                    at: p.at.map(|t| t.as_millisecond()),
                }),
            },
            EventBody::Reminder {
                message_id,
                member_id,
                count,
            } => WireBody::Reminder {
                message_id: message_id.0,
                member_id: member_id.0,
                count: *count,
            },
            EventBody::Escalation {
                message_id,
                recipient_id,
                to_member_id,
                role,
            } => WireBody::Escalation {
                message_id: message_id.0,
                recipient_id: recipient_id.0,
                to_member_id: to_member_id.0,
                role: (*role).to_string(),
            },
            EventBody::TaskCreated {
                task_id,
                message_id,
                member_id,
            } => WireBody::TaskCreated {
                task_id: task_id.0,
                message_id: message_id.0,
                member_id: member_id.0,
            },
        }
    }
}

fn instant(ms: i64) -> Result<Timestamp, String> {
    Timestamp::from_millisecond(ms).map_err(|e| format!("bad instant: {e}"))
}

impl TryFrom<WireEvent> for Event {
    type Error = String;

    fn try_from(w: WireEvent) -> Result<Self, String> {
        Ok(Event {
            seq: Seq(w.seq),
            org_id: OrgId(w.org),
            at: instant(w.at)?,
            body: EventBody::try_from(w.body)?,
        })
    }
}

impl TryFrom<WireBody> for EventBody {
    type Error = String;

    fn try_from(w: WireBody) -> Result<Self, String> {
        Ok(match w {
            WireBody::MessageCreated {
                message_id,
                sender_id,
                title,
                priority,
                require_ack,
            } => EventBody::MessageCreated {
                message_id: MessageId(message_id),
                sender_id: MemberId(sender_id),
                title,
                priority: Priority::parse("priority", &priority).map_err(|e| e.message)?,
                require_ack,
            },
            WireBody::ReceiptUpdated {
                message_id,
                sender_id,
                summary,
                person,
            } => EventBody::ReceiptUpdated {
                message_id: MessageId(message_id),
                sender_id: MemberId(sender_id),
                summary: Summary {
                    recipients: summary.recipients,
                    delivered: summary.delivered,
                    read: summary.read,
                    acknowledged: summary.acknowledged,
                    hidden: summary.hidden,
                    responses: summary.responses,
                    hidden_excluded: summary.hidden_excluded,
                },
                person: match person {
                    None => None,
                    Some(p) => Some(PersonUpdate {
                        member_id: MemberId(p.member_id),
                        state: ReceiptState::from_code(p.state),
                        at: p.at.map(instant).transpose()?,
                    }),
                },
            },
            WireBody::Reminder {
                message_id,
                member_id,
                count,
            } => EventBody::Reminder {
                message_id: MessageId(message_id),
                member_id: MemberId(member_id),
                count,
            },
            WireBody::Escalation {
                message_id,
                recipient_id,
                to_member_id,
                role,
            } => EventBody::Escalation {
                message_id: MessageId(message_id),
                recipient_id: MemberId(recipient_id),
                to_member_id: MemberId(to_member_id),
                role: if role == "backup" {
                    "backup"
                } else {
                    "manager"
                },
            },
            WireBody::TaskCreated {
                task_id,
                message_id,
                member_id,
            } => EventBody::TaskCreated {
                task_id: TaskId(task_id),
                message_id: MessageId(message_id),
                member_id: MemberId(member_id),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_event_survives_the_bus_and_the_event_log() {
        let at = Timestamp::from_millisecond(1_800_000_000_123).unwrap();
        let bodies = vec![
            EventBody::MessageCreated {
                message_id: MessageId(4),
                sender_id: MemberId(2),
                title: "Typhoon signal No. 8 \u{1f300}".into(),
                priority: Priority::Urgent,
                require_ack: true,
            },
            EventBody::ReceiptUpdated {
                message_id: MessageId(4),
                sender_id: MemberId(2),
                summary: Summary {
                    recipients: 3,
                    delivered: 2,
                    read: 1,
                    acknowledged: 0,
                    hidden: 1,
                    responses: vec![("Yes".into(), 1), ("No".into(), 0)],
                    hidden_excluded: false,
                },
                person: Some(PersonUpdate {
                    member_id: MemberId(7),
                    state: ReceiptState::Read,
                    at: Some(at),
                }),
            },
            EventBody::ReceiptUpdated {
                message_id: MessageId(4),
                sender_id: MemberId(2),
                summary: Summary::default(),
                person: None,
            },
            EventBody::Reminder {
                message_id: MessageId(4),
                member_id: MemberId(7),
                count: 2,
            },
            EventBody::Escalation {
                message_id: MessageId(4),
                recipient_id: MemberId(7),
                to_member_id: MemberId(9),
                role: "backup",
            },
            EventBody::TaskCreated {
                task_id: TaskId(5),
                message_id: MessageId(4),
                member_id: MemberId(7),
            },
        ];
        for (i, body) in bodies.into_iter().enumerate() {
            let e = Event {
                seq: Seq(i as i64 + 1),
                org_id: OrgId(3),
                at,
                body,
            };
            // Between nodes: whole events in an array.
            let mut bytes = b"[".to_vec();
            bytes.extend(event_to_json(&e));
            bytes.push(b']');
            assert_eq!(events_from_json(&bytes).unwrap(), vec![e.clone()]);
            // In the event log: the body beside its columns.
            let target = match e.body.audience() {
                readtrack_domain::event::EventAudience::Member(m) => Some(m.0),
                readtrack_domain::event::EventAudience::RecipientsOf(_) => None,
            };
            let stored = body_to_json(&e.body);
            assert_eq!(
                body_from_stored(e.body.kind(), target, e.body.message_id().0, &stored).unwrap(),
                e.body
            );
        }
    }

    #[test]
    fn payloads_written_before_bodies_carried_their_columns_still_read() {
        // The event log's payloads as earlier versions wrote them: the notice, the kind
        // and the target lived only in their columns.
        let receipt = body_from_stored(
            "receipt.updated",
            Some(2),
            4,
            r#"{"summary":{"recipients":3,"delivered":2,"read":1,"acknowledged":0,"hidden":1,"responses":[["Yes",1]]},"person":{"member_id":7,"state":2,"at":1800000000123}}"#,
        )
        .unwrap();
        let EventBody::ReceiptUpdated {
            message_id,
            sender_id,
            summary,
            person,
        } = receipt
        else {
            panic!("a receipt update");
        };
        assert_eq!(
            (message_id, sender_id, summary.read),
            (MessageId(4), MemberId(2), 1)
        );
        assert_eq!(person.map(|p| p.state), Some(ReceiptState::Read));
        let escalation = body_from_stored(
            "escalation",
            Some(9),
            4,
            r#"{"recipient_id":7,"role":"backup"}"#,
        )
        .unwrap();
        assert_eq!(
            escalation,
            EventBody::Escalation {
                message_id: MessageId(4),
                recipient_id: MemberId(7),
                to_member_id: MemberId(9),
                role: "backup",
            }
        );
        assert!(body_from_stored("reminder", Some(7), 4, "not json").is_err());
        assert!(body_from_stored("no.such.kind", None, 4, "{}").is_err());
    }
}
