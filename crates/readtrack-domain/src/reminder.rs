//! Reminder plans: when an unread notice is reminded, escalated and turned into a task.

use crate::FieldError;
use crate::ids::MemberId;

/// Who hears about a recipient's unread notice once it is escalated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EscalateTo {
    /// The recipient's line manager.
    Manager,
    /// The recipient's backup contact.
    Backup,
}

impl EscalateTo {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EscalateTo::Manager => "manager",
            EscalateTo::Backup => "backup",
        }
    }

    /// Parses the wire name.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw {
            "manager" => Ok(Self::Manager),
            "backup" => Ok(Self::Backup),
            _ => Err(FieldError::invalid(
                field,
                format!("`{field}` must be \"manager\" or \"backup\", got {raw:?}"),
            )),
        }
    }
}

/// A notice's reminder plan. All durations are working minutes: quiet hours and
/// non-working days do not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderPlan {
    /// First reminder this many working minutes after the notice reached the recipient.
    pub remind_after_minutes: u32,
    /// Further reminders this many working minutes apart.
    pub remind_every_minutes: u32,
    /// How many reminders at most (0: none).
    pub max_reminders: u32,
    /// Escalate this many working minutes after the notice arrived; `None`: never.
    pub escalate_after_minutes: Option<u32>,
    /// Who is told on escalation.
    pub escalate_to: Vec<EscalateTo>,
    /// Whether escalation also puts a task on the recipient's to-do list.
    pub create_task: bool,
}

/// Raw reminder plan fields as they arrive, before checking.
#[derive(Debug, Clone, Default)]
pub struct ReminderPlanInput {
    /// `remind_after_minutes`.
    pub remind_after_minutes: Option<i64>,
    /// `remind_every_minutes`.
    pub remind_every_minutes: Option<i64>,
    /// `max_reminders`.
    pub max_reminders: Option<i64>,
    /// `escalate_after_minutes`.
    pub escalate_after_minutes: Option<i64>,
    /// `escalate_to`.
    pub escalate_to: Option<Vec<String>>,
    /// `create_task`.
    pub create_task: Option<bool>,
}

/// The longest any step may wait: 30 working days of 24 hours.
pub const MAX_PLAN_MINUTES: i64 = 30 * 24 * 60;

impl ReminderPlan {
    /// The default for important and urgent notices: remind after two working hours,
    /// once more two hours later, then escalate to the manager with a task.
    pub fn default_for_tracked() -> Self {
        Self {
            remind_after_minutes: 120,
            remind_every_minutes: 120,
            max_reminders: 2,
            escalate_after_minutes: Some(360),
            escalate_to: vec![EscalateTo::Manager],
            create_task: true,
        }
    }

    /// Checks a plan, naming fields under `prefix` (`reminders`).
    pub fn parse(prefix: &str, input: &ReminderPlanInput) -> Result<Self, FieldError> {
        let minutes = |name: &str, v: Option<i64>, min: i64| -> Result<Option<u32>, FieldError> {
            match v {
                None => Ok(None),
                Some(n) if (min..=MAX_PLAN_MINUTES).contains(&n) => Ok(Some(n as u32)),
                Some(_) => {
                    let field = format!("{prefix}.{name}");
                    Err(FieldError::invalid(
                        &field,
                        format!(
                            "`{field}` must be between {min} and {MAX_PLAN_MINUTES} working minutes"
                        ),
                    ))
                }
            }
        };
        let remind_after = minutes("remind_after_minutes", input.remind_after_minutes, 1)?;
        let remind_every = minutes("remind_every_minutes", input.remind_every_minutes, 1)?;
        let escalate_after = minutes("escalate_after_minutes", input.escalate_after_minutes, 1)?;
        let max_reminders = match input.max_reminders {
            None => {
                if remind_after.is_some() {
                    1
                } else {
                    0
                }
            }
            Some(n) if (0..=20).contains(&n) => n as u32,
            Some(_) => {
                let field = format!("{prefix}.max_reminders");
                return Err(FieldError::invalid(
                    &field,
                    format!("`{field}` must be between 0 and 20"),
                ));
            }
        };
        if max_reminders > 0 && remind_after.is_none() {
            let field = format!("{prefix}.remind_after_minutes");
            return Err(FieldError::invalid(
                &field,
                format!("`{field}` is required when `max_reminders` is above 0"),
            ));
        }
        let mut escalate_to = Vec::new();
        for (i, raw) in input.escalate_to.iter().flatten().enumerate() {
            let target = EscalateTo::parse(&format!("{prefix}.escalate_to[{i}]"), raw)?;
            if !escalate_to.contains(&target) {
                escalate_to.push(target);
            }
        }
        if escalate_after.is_some() && escalate_to.is_empty() && input.escalate_to.is_some() {
            let field = format!("{prefix}.escalate_to");
            return Err(FieldError::invalid(
                &field,
                format!("`{field}` must name \"manager\", \"backup\" or both"),
            ));
        }
        if escalate_after.is_some() && escalate_to.is_empty() {
            escalate_to.push(EscalateTo::Manager);
        }
        if escalate_after.is_none() && !escalate_to.is_empty() {
            let field = format!("{prefix}.escalate_after_minutes");
            return Err(FieldError::invalid(
                &field,
                format!("`{field}` is required when `escalate_to` is given"),
            ));
        }
        Ok(Self {
            remind_after_minutes: remind_after.unwrap_or(0),
            remind_every_minutes: remind_every.or(remind_after).unwrap_or(0),
            max_reminders,
            escalate_after_minutes: escalate_after,
            escalate_to,
            create_task: input.create_task.unwrap_or(false),
        })
    }

    /// Whether the plan schedules anything at all.
    pub fn is_empty(&self) -> bool {
        self.max_reminders == 0 && self.escalate_after_minutes.is_none()
    }
}

/// Who hears about `recipient`'s unread notice when it is escalated, in the plan's order,
/// each with the role they hear it in: the line manager and/or the backup contact, where
/// the directory names one, never the recipient themself and nobody twice.
pub fn escalation_targets(
    escalate_to: &[EscalateTo],
    recipient: MemberId,
    manager: Option<MemberId>,
    backup: Option<MemberId>,
) -> Vec<(MemberId, &'static str)> {
    let mut told: Vec<(MemberId, &'static str)> = Vec::new();
    for target in escalate_to {
        let who = match target {
            EscalateTo::Manager => manager,
            EscalateTo::Backup => backup,
        };
        if let Some(who) = who.filter(|w| *w != recipient && !told.iter().any(|(t, _)| t == w)) {
            told.push((who, target.as_str()));
        }
    }
    told
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_plan_parses() {
        let plan = ReminderPlan::parse(
            "reminders",
            &ReminderPlanInput {
                remind_after_minutes: Some(120),
                remind_every_minutes: Some(60),
                max_reminders: Some(2),
                escalate_after_minutes: Some(240),
                escalate_to: Some(vec!["manager".into(), "backup".into()]),
                create_task: Some(true),
            },
        )
        .unwrap();
        assert_eq!(plan.max_reminders, 2);
        assert_eq!(
            plan.escalate_to,
            vec![EscalateTo::Manager, EscalateTo::Backup]
        );
    }

    #[test]
    fn bad_plans_name_the_field() {
        let err = ReminderPlan::parse(
            "reminders",
            &ReminderPlanInput {
                remind_after_minutes: Some(0),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(err.field, "reminders.remind_after_minutes");
        let err = ReminderPlan::parse(
            "reminders",
            &ReminderPlanInput {
                escalate_after_minutes: Some(10),
                escalate_to: Some(vec!["ceo".into()]),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(err.field, "reminders.escalate_to[0]");
    }

    #[test]
    fn an_escalation_reaches_each_named_contact_once_and_never_the_recipient() {
        let (me, boss, backup) = (MemberId(1), MemberId(2), MemberId(3));
        let both = [EscalateTo::Manager, EscalateTo::Backup];
        assert_eq!(
            escalation_targets(&both, me, Some(boss), Some(backup)),
            vec![(boss, "manager"), (backup, "backup")]
        );
        assert_eq!(
            escalation_targets(&both, me, Some(boss), Some(boss)),
            vec![(boss, "manager")],
            "one person who is both hears it once"
        );
        assert_eq!(escalation_targets(&both, me, Some(me), None), vec![]);
        assert_eq!(
            escalation_targets(&[EscalateTo::Backup], me, Some(boss), None),
            vec![]
        );
    }
}
