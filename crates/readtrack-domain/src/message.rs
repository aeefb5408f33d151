//! Messages (notices): priority, tracking, acknowledgement choices and their validation.

use jiff::Timestamp;

use crate::FieldError;
use crate::audience::{Audience, AudienceInput};
use crate::reminder::{ReminderPlan, ReminderPlanInput};
use crate::settings::OrgSettings;
use crate::text;

/// How urgent a notice is; decides whether it may be tracked per person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// Everyday information.
    Normal,
    /// Must be read.
    Important,
    /// Must be read now.
    Urgent,
}

impl Priority {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Normal => "normal",
            Priority::Important => "important",
            Priority::Urgent => "urgent",
        }
    }

    /// Parses the wire name.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw {
            "normal" => Ok(Self::Normal),
            "important" => Ok(Self::Important),
            "urgent" => Ok(Self::Urgent),
            _ => Err(FieldError::invalid(
                field,
                format!("`{field}` must be \"normal\", \"important\" or \"urgent\", got {raw:?}"),
            )),
        }
    }
}

/// How much is recorded about who read a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tracking {
    /// Nothing but the delivery to the recipient (their own unread marker).
    Off,
    /// Counts only: no per-person data reaches any surface.
    Aggregate,
    /// Each recipient's state, shown to the sender where the privacy rules allow.
    PerPerson,
}

impl Tracking {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tracking::Off => "off",
            Tracking::Aggregate => "aggregate",
            Tracking::PerPerson => "per_person",
        }
    }

    /// Parses the wire name.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw {
            "off" => Ok(Self::Off),
            "aggregate" => Ok(Self::Aggregate),
            "per_person" => Ok(Self::PerPerson),
            _ => Err(FieldError::invalid(
                field,
                format!("`{field}` must be \"off\", \"aggregate\" or \"per_person\", got {raw:?}"),
            )),
        }
    }
}

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest body, in characters (Markdown source).
pub const MAX_BODY_CHARS: usize = 100_000;
/// Longest response label, in characters.
pub const MAX_RESPONSE_CHARS: usize = 60;

/// A notice as a sender asks for it, before checking.
#[derive(Debug, Clone, Default)]
pub struct NewMessageInput {
    /// `title`.
    pub title: Option<String>,
    /// `body`.
    pub body: Option<String>,
    /// `priority`.
    pub priority: Option<String>,
    /// `tracking`.
    pub tracking: Option<String>,
    /// `require_ack`.
    pub require_ack: Option<bool>,
    /// `response_options`.
    pub response_options: Option<Vec<String>>,
    /// `audience`.
    pub audience: Option<AudienceInput>,
    /// `reminders`.
    pub reminders: Option<ReminderPlanInput>,
    /// `deadline` (RFC 3339).
    pub deadline: Option<String>,
    /// `emergency_reason`: makes the notice an emergency (a right of named senders).
    pub emergency_reason: Option<String>,
}

/// A checked notice, ready to be sent.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Title.
    pub title: String,
    /// Body (Markdown source).
    pub body: String,
    /// Priority.
    pub priority: Priority,
    /// Tracking level.
    pub tracking: Tracking,
    /// Whether recipients must confirm.
    pub require_ack: bool,
    /// Choices the acknowledgement must carry (empty: a plain confirmation).
    pub response_options: Vec<String>,
    /// Who receives it, before expansion.
    pub audience: Audience,
    /// Reminder plan (the org default for the priority when none is named).
    pub reminders: Option<ReminderPlan>,
    /// Optional deadline.
    pub deadline: Option<Timestamp>,
    /// Why this is an emergency (typhoon, safety), when it is one: it is urgent, goes out
    /// at any hour and its reminders run on wall-clock minutes.
    pub emergency_reason: Option<String>,
}

/// Longest emergency reason.
pub const MAX_EMERGENCY_REASON_CHARS: usize = 300;

impl NewMessage {
    /// Checks a sender's request against the organisation's rules at `now`.
    pub fn parse(
        input: NewMessageInput,
        settings: &OrgSettings,
        now: Timestamp,
    ) -> Result<Self, FieldError> {
        let title = text::bounded(
            "title",
            input
                .title
                .as_deref()
                .ok_or_else(|| FieldError::invalid("title", "`title` is required"))?,
            1,
            MAX_TITLE_CHARS,
            false,
        )?;
        let body = text::bounded(
            "body",
            input.body.as_deref().unwrap_or(""),
            0,
            MAX_BODY_CHARS,
            true,
        )?;
        let emergency_reason = match input.emergency_reason.as_deref() {
            None => None,
            Some(raw) => Some(text::bounded(
                "emergency_reason",
                raw,
                1,
                MAX_EMERGENCY_REASON_CHARS,
                false,
            )?),
        };
        // An emergency is urgent whatever else the request says.
        let priority = match input.priority.as_deref() {
            _ if emergency_reason.is_some() => Priority::Urgent,
            Some(p) => Priority::parse("priority", p)?,
            None => Priority::Normal,
        };
        let allowed = settings.per_person_tracking_for.contains(&priority);
        let tracking = match input.tracking.as_deref() {
            Some(t) => Tracking::parse("tracking", t)?,
            None if allowed => Tracking::PerPerson,
            None => Tracking::Aggregate,
        };
        if tracking == Tracking::PerPerson && !allowed {
            let allowed_list: Vec<&str> = settings
                .per_person_tracking_for
                .iter()
                .map(|p| p.as_str())
                .collect();
            return Err(FieldError::with_code(
                "tracking",
                "tracking_not_allowed",
                format!(
                    "`tracking` \"per_person\" is not allowed for {} notices by this organisation's policy (allowed for: {}); use \"aggregate\" or raise the priority",
                    priority.as_str(),
                    if allowed_list.is_empty() {
                        "none".to_string()
                    } else {
                        allowed_list.join(", ")
                    }
                ),
            ));
        }
        let response_options = parse_response_options(input.response_options.as_deref())?;
        let require_ack = input.require_ack.unwrap_or(false) || !response_options.is_empty();
        let audience = Audience::parse(input.audience.as_ref().ok_or_else(|| {
            FieldError::invalid(
                "audience",
                "`audience` is required: name members and/or departments",
            )
        })?)?;
        let reminders = match &input.reminders {
            Some(plan) => {
                let plan = ReminderPlan::parse("reminders", plan)?;
                (!plan.is_empty()).then_some(plan)
            }
            None => settings.default_reminders(priority),
        };
        let deadline = match input.deadline.as_deref() {
            None => None,
            Some(raw) => {
                let t = parse_timestamp("deadline", raw)?;
                if t <= now {
                    return Err(FieldError::invalid(
                        "deadline",
                        "`deadline` must be in the future",
                    ));
                }
                Some(t)
            }
        };
        Ok(Self {
            title,
            body,
            priority,
            tracking,
            require_ack,
            response_options,
            audience,
            reminders,
            deadline,
            emergency_reason,
        })
    }
}

fn parse_response_options(raw: Option<&[String]>) -> Result<Vec<String>, FieldError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    if !(2..=10).contains(&raw.len()) {
        return Err(FieldError::invalid(
            "response_options",
            "`response_options` must hold between 2 and 10 labels",
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, label) in raw.iter().enumerate() {
        let field = format!("response_options[{i}]");
        let label = text::bounded(&field, label, 1, MAX_RESPONSE_CHARS, false)?;
        if out.iter().any(|o| o.eq_ignore_ascii_case(&label)) {
            return Err(FieldError::invalid(
                &field,
                format!("`{field}` repeats the label {label:?}"),
            ));
        }
        out.push(label);
    }
    Ok(out)
}

/// Parses an RFC 3339 instant (`2026-11-28T09:00:00Z`), naming `field`.
pub fn parse_timestamp(field: &str, raw: &str) -> Result<Timestamp, FieldError> {
    raw.trim().parse::<Timestamp>().map_err(|_| {
        FieldError::with_code(
            field,
            "invalid_time",
            format!(
                "`{field}` must be an RFC 3339 time such as \"2026-11-28T09:00:00Z\", got {raw:?}"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time_zone::Zone;

    fn settings() -> OrgSettings {
        OrgSettings::new(Zone::parse("tz", "Asia/Hong_Kong").unwrap())
    }

    fn input() -> NewMessageInput {
        NewMessageInput {
            title: Some("Typhoon signal No. 8".into()),
            body: Some("Stores close at 15:00.".into()),
            priority: Some("urgent".into()),
            audience: Some(AudienceInput {
                members: vec!["3".into()],
                departments: vec![],
            }),
            ..Default::default()
        }
    }

    #[test]
    fn urgent_notices_default_to_per_person_and_normal_ones_to_aggregate() {
        let now = Timestamp::UNIX_EPOCH;
        let m = NewMessage::parse(input(), &settings(), now).unwrap();
        assert_eq!(m.tracking, Tracking::PerPerson);
        assert!(m.reminders.is_some(), "urgent notices get the default plan");
        let mut normal = input();
        normal.priority = Some("normal".into());
        let m = NewMessage::parse(normal, &settings(), now).unwrap();
        assert_eq!(m.tracking, Tracking::Aggregate);
        assert!(m.reminders.is_none());
    }

    #[test]
    fn per_person_tracking_of_a_normal_notice_is_refused_not_downgraded() {
        let mut normal = input();
        normal.priority = Some("normal".into());
        normal.tracking = Some("per_person".into());
        let err = NewMessage::parse(normal, &settings(), Timestamp::UNIX_EPOCH).unwrap_err();
        assert_eq!(err.code, "tracking_not_allowed");
        assert_eq!(err.field, "tracking");
    }

    #[test]
    fn response_options_imply_acknowledgement_and_must_be_distinct() {
        let mut i = input();
        i.response_options = Some(vec!["Attending".into(), "Not attending".into()]);
        let m = NewMessage::parse(i.clone(), &settings(), Timestamp::UNIX_EPOCH).unwrap();
        assert!(m.require_ack);
        i.response_options = Some(vec!["Yes".into(), "yes".into()]);
        let err = NewMessage::parse(i.clone(), &settings(), Timestamp::UNIX_EPOCH).unwrap_err();
        assert_eq!(err.field, "response_options[1]");
        i.response_options = Some(vec!["Only one".into()]);
        assert!(NewMessage::parse(i, &settings(), Timestamp::UNIX_EPOCH).is_err());
    }

    #[test]
    fn missing_and_malformed_fields_are_named() {
        let mut i = input();
        i.title = None;
        assert_eq!(
            NewMessage::parse(i, &settings(), Timestamp::UNIX_EPOCH)
                .unwrap_err()
                .field,
            "title"
        );
        let mut i = input();
        i.priority = Some("critical".into());
        assert_eq!(
            NewMessage::parse(i, &settings(), Timestamp::UNIX_EPOCH)
                .unwrap_err()
                .field,
            "priority"
        );
        let mut i = input();
        i.deadline = Some("yesterday".into());
        assert_eq!(
            NewMessage::parse(i, &settings(), Timestamp::UNIX_EPOCH)
                .unwrap_err()
                .field,
            "deadline"
        );
    }
}
