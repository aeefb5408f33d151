//! Receipts: what a recipient's client reports (delivered, read, acknowledged) and the
//! forward-only, idempotent state machine that folds those reports into one record.

use jiff::{SignedDuration, Timestamp};

use crate::FieldError;
use crate::ids::MessageId;
use crate::message::{Tracking, parse_timestamp};

/// How far ahead of the server clock a client time may be.
pub const MAX_CLIENT_SKEW: SignedDuration = SignedDuration::from_mins(5);
/// Most receipts accepted in one batch.
pub const MAX_BATCH: usize = 1000;
/// Longest client event id, in bytes.
pub const MAX_EVENT_ID_BYTES: usize = 128;

/// A client-made id that makes a report idempotent: the same id twice is one event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(String);

impl EventId {
    /// Parses an event id: 1 to 128 bytes of visible characters.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        if raw.is_empty() || raw.len() > MAX_EVENT_ID_BYTES {
            return Err(FieldError::with_code(
                field,
                "invalid_event_id",
                format!("`{field}` must hold 1 to {MAX_EVENT_ID_BYTES} bytes; use a UUID"),
            ));
        }
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(FieldError::with_code(
                field,
                "invalid_event_id",
                format!("`{field}` must not contain spaces or control characters"),
            ));
        }
        Ok(Self(raw.to_string()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a client reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReceiptKind {
    /// The notice reached the device.
    Delivered,
    /// The notice was really shown to the person.
    Read,
    /// The person confirmed it.
    Ack,
}

impl ReceiptKind {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptKind::Delivered => "delivered",
            ReceiptKind::Read => "read",
            ReceiptKind::Ack => "ack",
        }
    }

    /// Parses the wire name.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw {
            "delivered" => Ok(Self::Delivered),
            "read" => Ok(Self::Read),
            "ack" => Ok(Self::Ack),
            _ => Err(FieldError::with_code(
                field,
                "invalid_kind",
                format!("`{field}` must be \"delivered\", \"read\" or \"ack\", got {raw:?}"),
            )),
        }
    }

    /// The state this report reaches.
    pub fn state(self) -> ReceiptState {
        match self {
            ReceiptKind::Delivered => ReceiptState::Delivered,
            ReceiptKind::Read => ReceiptState::Read,
            ReceiptKind::Ack => ReceiptState::Acknowledged,
        }
    }
}

/// Where a recipient stands; only ever moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReceiptState {
    /// Sent, not yet on the device.
    Sent = 0,
    /// On the device, not yet read.
    Delivered = 1,
    /// Read.
    Read = 2,
    /// Read and confirmed.
    Acknowledged = 3,
}

impl ReceiptState {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptState::Sent => "sent",
            ReceiptState::Delivered => "delivered",
            ReceiptState::Read => "read",
            ReceiptState::Acknowledged => "acknowledged",
        }
    }

    /// The storage code (0..=3).
    pub fn code(self) -> i64 {
        self as i64
    }

    /// From the storage code; unknown codes read as `Sent`.
    pub fn from_code(code: i64) -> Self {
        match code {
            1 => Self::Delivered,
            2 => Self::Read,
            3 => Self::Acknowledged,
            _ => Self::Sent,
        }
    }

    /// Whether the person has read the notice (acknowledging implies reading).
    pub fn is_read(self) -> bool {
        self >= ReceiptState::Read
    }
}

/// The folded record of one recipient's reports on one notice. Every time is the
/// client's clock; `apply` is commutative and idempotent, so any order of the same
/// reports gives the same record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiptTimes {
    /// Earliest time any report showed the notice on the device.
    pub delivered_at: Option<Timestamp>,
    /// Earliest time a read or acknowledgement was reported.
    pub read_at: Option<Timestamp>,
    /// Earliest acknowledgement.
    pub acked_at: Option<Timestamp>,
    /// The response carried by the earliest acknowledgement.
    pub response: Option<String>,
}

/// What applying one report changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// State before.
    pub from: ReceiptState,
    /// State after.
    pub to: ReceiptState,
    /// Whether any recorded time or the response changed.
    pub changed: bool,
}

fn earliest(slot: &mut Option<Timestamp>, at: Timestamp) -> bool {
    match slot {
        Some(existing) if *existing <= at => false,
        _ => {
            *slot = Some(at);
            true
        }
    }
}

impl ReceiptTimes {
    /// The state these times amount to.
    pub fn state(&self) -> ReceiptState {
        if self.acked_at.is_some() {
            ReceiptState::Acknowledged
        } else if self.read_at.is_some() {
            ReceiptState::Read
        } else if self.delivered_at.is_some() {
            ReceiptState::Delivered
        } else {
            ReceiptState::Sent
        }
    }

    /// Folds in one report: `read` implies `delivered`, `ack` implies `read`; each time
    /// keeps the earliest report that implies it.
    pub fn apply(
        &mut self,
        kind: ReceiptKind,
        at: Timestamp,
        response: Option<&str>,
    ) -> Transition {
        let from = self.state();
        let mut changed = earliest(&mut self.delivered_at, at);
        if kind >= ReceiptKind::Read {
            changed |= earliest(&mut self.read_at, at);
        }
        if kind == ReceiptKind::Ack {
            let was = self.acked_at;
            let earlier = earliest(&mut self.acked_at, at);
            // The response of the earliest acknowledgement wins; on a tie, the smaller label,
            // so that the outcome never depends on arrival order.
            let tie = was == Some(at)
                && match (response, self.response.as_deref()) {
                    (Some(new), Some(old)) => new < old,
                    (Some(_), None) => true,
                    _ => false,
                };
            if earlier || tie {
                let new = response.map(str::to_string);
                if new != self.response {
                    self.response = new;
                    changed = true;
                }
            }
            changed |= earlier;
        }
        Transition {
            from,
            to: self.state(),
            changed,
        }
    }
}

/// One report as a client sends it, fields still raw (so one bad item fails alone).
#[derive(Debug, Clone, Default)]
pub struct ReceiptInput {
    /// `event_id`.
    pub event_id: Option<String>,
    /// `message_id`.
    pub message_id: Option<String>,
    /// `kind`.
    pub kind: Option<String>,
    /// `at`.
    pub at: Option<String>,
    /// `device_at`: the device's own, uncorrected time, when the client corrected `at`.
    pub device_at: Option<String>,
    /// `response`.
    pub response: Option<String>,
}

/// A report whose fields parsed; still to be checked against its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReceipt {
    /// Idempotency key.
    pub event_id: EventId,
    /// The notice.
    pub message_id: MessageId,
    /// What happened.
    pub kind: ReceiptKind,
    /// When, on the server's time line as the client knew it.
    pub at: Timestamp,
    /// The device's own time, when the client corrected `at` by a learned offset.
    pub device_at: Option<Timestamp>,
    /// The chosen response (acknowledgements of notices with choices).
    pub response: Option<String>,
}

impl ParsedReceipt {
    /// Parses one item, checking its time against the server clock `now`.
    pub fn parse(input: &ReceiptInput, now: Timestamp) -> Result<Self, FieldError> {
        let required = |name: &str, v: &Option<String>| -> Result<String, FieldError> {
            v.clone().ok_or_else(|| {
                FieldError::with_code(name, "missing_field", format!("`{name}` is required"))
            })
        };
        let event_id = EventId::parse("event_id", &required("event_id", &input.event_id)?)?;
        let message_id =
            MessageId::parse("message_id", &required("message_id", &input.message_id)?).map_err(
                |e| FieldError {
                    code: "invalid_message_id",
                    ..e
                },
            )?;
        let kind = ReceiptKind::parse("kind", &required("kind", &input.kind)?)?;
        let at = parse_timestamp("at", &required("at", &input.at)?)?;
        if at > now + MAX_CLIENT_SKEW {
            return Err(FieldError::with_code(
                "at",
                "time_in_future",
                format!(
                    "`at` is {} ahead of the server clock; more than {} minutes is refused. Check the device's clock",
                    format_ahead(at.duration_since(now)),
                    MAX_CLIENT_SKEW.as_mins()
                ),
            ));
        }
        let device_at = input
            .device_at
            .as_deref()
            .map(|d| parse_timestamp("device_at", d))
            .transpose()?;
        let response = match &input.response {
            None => None,
            Some(r) => Some(crate::text::bounded(
                "response",
                r,
                1,
                crate::message::MAX_RESPONSE_CHARS,
                false,
            )?),
        };
        Ok(Self {
            event_id,
            message_id,
            kind,
            at,
            device_at,
            response,
        })
    }
}

fn format_ahead(d: SignedDuration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    } else {
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

/// The facts about a notice that decide whether a report on it is acceptable.
#[derive(Debug, Clone)]
pub struct MessageFacts {
    /// When the notice was created (server clock).
    pub created_at: Timestamp,
    /// Its tracking level.
    pub tracking: Tracking,
    /// Its response choices (empty: a plain confirmation).
    pub response_options: Vec<String>,
}

impl ParsedReceipt {
    /// The time the record keeps: the device's, but never before the notice was sent. A
    /// device whose clock lags the server's by less than [`MAX_CLIENT_SKEW`] reports a read
    /// right after the send as a moment before it; the board must not show a read before
    /// the send, and refusing a real read would be worse.
    pub fn recorded_at(&self, facts: &MessageFacts) -> Timestamp {
        self.at.max(facts.created_at)
    }

    /// Checks the report against its notice: not before the notice existed (allowing a
    /// device clock up to [`MAX_CLIENT_SKEW`] behind the server's), and a response
    /// exactly where the notice asks for one. Returns the canonical response label (as
    /// the sender spelled it).
    pub fn check_against(&self, facts: &MessageFacts) -> Result<Option<String>, FieldError> {
        if self.at + MAX_CLIENT_SKEW <= facts.created_at {
            return Err(FieldError::with_code(
                "at",
                "before_message",
                format!(
                    "`at` is {} or more minutes before the notice was sent; the device's clock is behind",
                    MAX_CLIENT_SKEW.as_mins()
                ),
            ));
        }
        match (&self.response, self.kind, facts.response_options.is_empty()) {
            (None, ReceiptKind::Ack, false) => Err(FieldError::with_code(
                "response",
                "response_required",
                format!(
                    "`response` is required to acknowledge this notice; choose one of: {}",
                    facts.response_options.join(", ")
                ),
            )),
            (Some(r), ReceiptKind::Ack, false) => facts
                .response_options
                .iter()
                .find(|o| o.eq_ignore_ascii_case(r))
                .cloned()
                .map(Some)
                .ok_or_else(|| {
                    FieldError::with_code(
                        "response",
                        "invalid_response",
                        format!(
                            "`response` {r:?} is not one of this notice's choices: {}",
                            facts.response_options.join(", ")
                        ),
                    )
                }),
            (Some(_), _, _) => Err(FieldError::with_code(
                "response",
                "invalid_response",
                "`response` is only accepted on an `ack` of a notice that offers choices",
            )),
            (None, _, _) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn read_implies_delivered_and_ack_implies_read() {
        let mut r = ReceiptTimes::default();
        let tr = r.apply(ReceiptKind::Ack, t(10), None);
        assert_eq!(
            (tr.from, tr.to),
            (ReceiptState::Sent, ReceiptState::Acknowledged)
        );
        assert_eq!(r.delivered_at, Some(t(10)));
        assert_eq!(r.read_at, Some(t(10)));
    }

    #[test]
    fn states_never_move_backwards_and_earlier_times_win() {
        let mut r = ReceiptTimes::default();
        r.apply(ReceiptKind::Read, t(20), None);
        let tr = r.apply(ReceiptKind::Delivered, t(30), None);
        assert_eq!(tr.to, ReceiptState::Read);
        assert!(!tr.changed);
        let tr = r.apply(ReceiptKind::Read, t(15), None);
        assert!(tr.changed);
        assert_eq!(r.read_at, Some(t(15)));
        assert_eq!(r.delivered_at, Some(t(15)));
    }

    #[test]
    fn repeating_a_report_changes_nothing() {
        let mut r = ReceiptTimes::default();
        r.apply(ReceiptKind::Read, t(5), None);
        let before = r.clone();
        assert!(!r.apply(ReceiptKind::Read, t(5), None).changed);
        assert_eq!(r, before);
    }

    #[test]
    fn future_times_beyond_the_skew_are_refused() {
        let now = t(0);
        let mut input = ReceiptInput {
            event_id: Some("e1".into()),
            message_id: Some("1".into()),
            kind: Some("read".into()),
            at: Some(t(299).to_string()),
            device_at: None,
            response: None,
        };
        assert!(ParsedReceipt::parse(&input, now).is_ok());
        input.at = Some(t(301).to_string());
        assert_eq!(
            ParsedReceipt::parse(&input, now).unwrap_err().code,
            "time_in_future"
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let ok = ReceiptInput {
            event_id: Some("e1".into()),
            message_id: Some("1".into()),
            kind: Some("read".into()),
            at: Some(t(0).to_string()),
            device_at: Some(t(-240).to_string()),
            response: None,
        };
        assert_eq!(
            ParsedReceipt::parse(&ok, t(0)).map(|r| r.device_at),
            Ok(Some(t(-240))),
            "a device four minutes behind, corrected by its client"
        );
        let cases: Vec<(ReceiptInput, &str)> = vec![
            (
                ReceiptInput {
                    event_id: None,
                    ..ok.clone()
                },
                "event_id",
            ),
            (
                ReceiptInput {
                    event_id: Some("has space".into()),
                    ..ok.clone()
                },
                "event_id",
            ),
            (
                ReceiptInput {
                    message_id: Some("x".into()),
                    ..ok.clone()
                },
                "message_id",
            ),
            (
                ReceiptInput {
                    kind: Some("opened".into()),
                    ..ok.clone()
                },
                "kind",
            ),
            (
                ReceiptInput {
                    at: Some("now".into()),
                    ..ok.clone()
                },
                "at",
            ),
            (
                ReceiptInput {
                    device_at: Some("yesterday".into()),
                    ..ok.clone()
                },
                "device_at",
            ),
        ];
        for (input, field) in cases {
            assert_eq!(ParsedReceipt::parse(&input, t(0)).unwrap_err().field, field);
        }
    }

    #[test]
    fn responses_are_required_and_checked_where_the_notice_offers_choices() {
        let facts = MessageFacts {
            created_at: t(0),
            tracking: Tracking::PerPerson,
            response_options: vec!["Attending".into(), "Not attending".into()],
        };
        let mut r = ParsedReceipt {
            event_id: EventId::parse("e", "e").unwrap(),
            message_id: MessageId(1),
            kind: ReceiptKind::Ack,
            at: t(1),
            device_at: None,
            response: None,
        };
        assert_eq!(
            r.check_against(&facts).unwrap_err().code,
            "response_required"
        );
        r.response = Some("attending".into());
        assert_eq!(r.check_against(&facts).unwrap(), Some("Attending".into()));
        r.response = Some("Maybe".into());
        assert_eq!(
            r.check_against(&facts).unwrap_err().code,
            "invalid_response"
        );
        r.response = None;
        r.kind = ReceiptKind::Read;
        r.at = t(-1);
        assert_eq!(
            r.check_against(&facts),
            Ok(None),
            "a device a second behind"
        );
        assert_eq!(
            r.recorded_at(&facts),
            t(0),
            "recorded at the send, not before"
        );
        r.at = t(-299);
        assert_eq!(
            r.check_against(&facts),
            Ok(None),
            "less than five minutes behind"
        );
        r.at = t(-300);
        assert_eq!(r.check_against(&facts).unwrap_err().code, "before_message");
    }

    fn kind() -> impl Strategy<Value = ReceiptKind> {
        prop_oneof![
            Just(ReceiptKind::Delivered),
            Just(ReceiptKind::Read),
            Just(ReceiptKind::Ack)
        ]
    }

    fn report() -> impl Strategy<Value = (ReceiptKind, i64, Option<String>)> {
        (
            kind(),
            0i64..50,
            prop::option::of(prop_oneof![Just("A".to_string()), Just("B".to_string())]),
        )
    }

    proptest! {
        /// Any order of any reports yields the same record as the reports sorted by time.
        #[test]
        fn any_order_of_reports_folds_to_the_same_record(
            reports in prop::collection::vec(report(), 0..12),
            seed in any::<u64>(),
        ) {
            let fold = |list: &[(ReceiptKind, i64, Option<String>)]| {
                let mut r = ReceiptTimes::default();
                let mut prev = ReceiptState::Sent;
                for (k, s, resp) in list {
                    let resp = if *k == ReceiptKind::Ack { resp.as_deref() } else { None };
                    let tr = r.apply(*k, t(*s), resp);
                    assert!(tr.to >= prev, "state moved backwards");
                    assert_eq!(tr.from, prev);
                    prev = tr.to;
                }
                r
            };
            let mut shuffled = reports.clone();
            // A deterministic shuffle from the seed.
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut sorted = reports.clone();
            sorted.sort_by_key(|(_, s, _)| *s);
            let a = fold(&shuffled);
            let b = fold(&sorted);
            prop_assert_eq!(&a, &b);
            // Times are consistent: delivered <= read <= acked.
            if let (Some(d), Some(r)) = (a.delivered_at, a.read_at) { prop_assert!(d <= r); }
            if let (Some(r), Some(k)) = (a.read_at, a.acked_at) { prop_assert!(r <= k); }
        }

        /// Applying the same report twice changes nothing the second time.
        #[test]
        fn reports_are_idempotent(reports in prop::collection::vec(report(), 1..8)) {
            let mut r = ReceiptTimes::default();
            for (k, s, resp) in &reports {
                let resp = if *k == ReceiptKind::Ack { resp.as_deref() } else { None };
                r.apply(*k, t(*s), resp);
                let again = r.apply(*k, t(*s), resp);
                prop_assert!(!again.changed);
            }
        }
    }
}
