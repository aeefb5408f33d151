//! Encoding shared by the backends: instants, id lists, settings, plans and event payloads.
//!
//! These are storage formats, private to this crate; the wire format lives elsewhere.

use jiff::Timestamp;
use readtrack_domain::event::EventBody;
use readtrack_domain::ids::{DepartmentId, MemberId};
use readtrack_domain::message::{Priority, Tracking};
use readtrack_domain::reminder::{EscalateTo, ReminderPlan};
use readtrack_domain::rights::{DepartmentGrant, Grant, Reach, SendingRights};
use readtrack_domain::settings::{self, QuietReads};

use crate::StorageError;

/// Unix milliseconds of an instant.
pub fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// The instant of Unix milliseconds.
pub fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Optional variant of [`ts`].
pub fn ts_opt(ms: Option<i64>) -> Option<Timestamp> {
    ms.map(ts)
}

/// `"1,2,3"` from ids.
pub fn join_ids(ids: impl IntoIterator<Item = i64>) -> String {
    ids.into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Ids from `"1,2,3"` (empty string: none).
pub fn split_ids(s: &str) -> Vec<i64> {
    s.split(',').filter_map(|p| p.trim().parse().ok()).collect()
}

/// A placeholder list `(?,?),(?,?)` of `rows` rows of `cols` columns.
pub fn placeholders(rows: usize, cols: usize) -> String {
    let one = format!("({})", vec!["?"; cols].join(","));
    vec![one; rows].join(",")
}

/// Stored form of a reminder plan: `after,every,max,escalate_after,targets,task`.
pub fn encode_plan(plan: &ReminderPlan) -> String {
    let targets: Vec<&str> = plan.escalate_to.iter().map(|t| t.as_str()).collect();
    format!(
        "{},{},{},{},{},{}",
        plan.remind_after_minutes,
        plan.remind_every_minutes,
        plan.max_reminders,
        plan.escalate_after_minutes
            .map(|m| m.to_string())
            .unwrap_or_default(),
        targets.join("+"),
        u8::from(plan.create_task)
    )
}

/// Reads [`encode_plan`]'s form back.
pub fn decode_plan(s: &str) -> Result<ReminderPlan, StorageError> {
    let bad = || StorageError::Corrupt(format!("reminder plan {s:?}"));
    let parts: Vec<&str> = s.split(',').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let num = |p: &str| p.parse::<u32>().map_err(|_| bad());
    Ok(ReminderPlan {
        remind_after_minutes: num(parts[0])?,
        remind_every_minutes: num(parts[1])?,
        max_reminders: num(parts[2])?,
        escalate_after_minutes: if parts[3].is_empty() {
            None
        } else {
            Some(num(parts[3])?)
        },
        escalate_to: parts[4]
            .split('+')
            .filter(|p| !p.is_empty())
            .map(|p| EscalateTo::parse("escalate_to", p).map_err(|_| bad()))
            .collect::<Result<_, _>>()?,
        create_task: parts[5] == "1",
    })
}

/// Stored form of the sending rights: a JSON object with `staff`, `managers` (each
/// `{"reach", "max_priority", "max_tracking"}`) and `departments` (the same with a
/// `department_id`).
pub fn encode_rights(rights: &SendingRights) -> String {
    let grant = |g: &Grant| {
        serde_json::json!({
            "reach": g.reach.as_str(),
            "max_priority": g.max_priority.as_str(),
            "max_tracking": g.max_tracking.as_str(),
        })
    };
    let departments: Vec<serde_json::Value> = rights
        .departments
        .iter()
        .map(|d| {
            let mut v = grant(&d.grant);
            v["department_id"] = d.department.0.into();
            v
        })
        .collect();
    let emergency: Vec<i64> = rights.emergency_senders.iter().map(|m| m.0).collect();
    serde_json::json!({
        "staff": grant(&rights.staff),
        "managers": grant(&rights.managers),
        "departments": departments,
        "emergency_senders": emergency,
    })
    .to_string()
}

/// Reads [`encode_rights`]'s form back.
pub fn decode_rights(s: &str) -> Result<SendingRights, StorageError> {
    let bad = || StorageError::Corrupt(format!("sending rights {s:?}"));
    let v: serde_json::Value = serde_json::from_str(s).map_err(|_| bad())?;
    let text =
        |g: &serde_json::Value, key: &str| g[key].as_str().map(str::to_owned).ok_or_else(bad);
    let grant = |g: &serde_json::Value| -> Result<Grant, StorageError> {
        Ok(Grant {
            reach: Reach::parse("reach", &text(g, "reach")?).map_err(|_| bad())?,
            max_priority: priority(&text(g, "max_priority")?)?,
            max_tracking: Tracking::parse("tracking", &text(g, "max_tracking")?)
                .map_err(|_| bad())?,
        })
    };
    let departments = match v["departments"].as_array() {
        Some(list) => list
            .iter()
            .map(|d| {
                Ok(DepartmentGrant {
                    department: DepartmentId(d["department_id"].as_i64().ok_or_else(bad)?),
                    grant: grant(d)?,
                })
            })
            .collect::<Result<_, StorageError>>()?,
        None => Vec::new(),
    };
    let emergency_senders = match v["emergency_senders"].as_array() {
        Some(list) => list
            .iter()
            .map(|m| m.as_i64().map(MemberId).ok_or_else(bad))
            .collect::<Result<_, StorageError>>()?,
        None => Vec::new(),
    };
    Ok(SendingRights {
        staff: grant(&v["staff"])?,
        managers: grant(&v["managers"])?,
        departments,
        emergency_senders,
    })
}

/// The priority of a stored name.
pub fn priority(s: &str) -> Result<Priority, StorageError> {
    Priority::parse("priority", s).map_err(|_| StorageError::Corrupt(format!("priority {s:?}")))
}

/// Stored form of a priority list.
pub fn encode_priorities(list: &[Priority]) -> String {
    list.iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads [`encode_priorities`]'s form back.
pub fn decode_priorities(s: &str) -> Result<Vec<Priority>, StorageError> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(priority)
        .collect()
}

/// Stored form of working days: ISO numbers.
pub fn encode_days(days: &[jiff::civil::Weekday]) -> String {
    days.iter()
        .map(|d| settings::weekday_number(*d).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads [`encode_days`]'s form back.
pub fn decode_days(s: &str) -> Result<Vec<jiff::civil::Weekday>, StorageError> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<i64>()
                .ok()
                .and_then(|n| settings::weekday_from_number("days", n).ok())
                .ok_or_else(|| StorageError::Corrupt(format!("working days {s:?}")))
        })
        .collect()
}

/// A stored time of day.
pub fn time_of_day(s: &str) -> Result<jiff::civil::Time, StorageError> {
    settings::parse_time_of_day("time", s).map_err(|_| StorageError::Corrupt(format!("time {s:?}")))
}

/// A stored quiet-read mode.
pub fn quiet_reads(s: &str) -> Result<QuietReads, StorageError> {
    QuietReads::parse("reads", s).map_err(|_| StorageError::Corrupt(format!("quiet reads {s:?}")))
}

/// The stored payload of an event body: the one event encoding (`readtrack-events`).
pub fn encode_payload(body: &EventBody) -> String {
    readtrack_events::body_to_json(body)
}

/// Rebuilds an event body from its stored columns.
pub fn decode_payload(
    kind: &str,
    target: Option<i64>,
    message_id: i64,
    payload: &str,
) -> Result<EventBody, StorageError> {
    readtrack_events::body_from_stored(kind, target, message_id, payload)
        .map_err(|e| StorageError::Corrupt(e.to_string()))
}

/// The stored target column of an event (NULL: every recipient of the message).
pub fn target_of(body: &EventBody) -> Option<i64> {
    match body.audience() {
        readtrack_domain::event::EventAudience::Member(m) => Some(m.0),
        readtrack_domain::event::EventAudience::RecipientsOf(_) => None,
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn plans_round_trip() {
        let plan = ReminderPlan::default_for_tracked();
        assert_eq!(decode_plan(&encode_plan(&plan)).unwrap(), plan);
        let none = ReminderPlan {
            escalate_after_minutes: None,
            escalate_to: vec![],
            ..plan
        };
        assert_eq!(decode_plan(&encode_plan(&none)).unwrap(), none);
    }
}
