//! An organisation's rules: time zone, working and quiet hours, tracking, retention, policy.

use std::collections::BTreeMap;

use jiff::civil::{Time, Weekday};

use crate::FieldError;
use crate::ids::DepartmentId;
use crate::message::Priority;
use crate::reminder::ReminderPlan;
use crate::rights::SendingRights;
use crate::time_zone::Zone;

/// A time of day on the wire, `"HH:MM"`.
pub fn parse_time_of_day(field: &str, raw: &str) -> Result<Time, FieldError> {
    let bad = || {
        FieldError::invalid(
            field,
            format!("`{field}` must be a time of day as \"HH:MM\" (00:00 to 23:59), got {raw:?}"),
        )
    };
    let (h, m) = raw.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: i8 = h.parse().map_err(|_| bad())?;
    let m: i8 = m.parse().map_err(|_| bad())?;
    Time::new(h, m, 0, 0).map_err(|_| bad())
}

/// Formats a time of day as `"HH:MM"`.
pub fn format_time_of_day(t: Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// ISO weekday number, Monday = 1 ... Sunday = 7.
pub fn weekday_number(d: Weekday) -> u8 {
    d.to_monday_one_offset() as u8
}

/// The weekday of an ISO number (1 = Monday).
pub fn weekday_from_number(field: &str, n: i64) -> Result<Weekday, FieldError> {
    if !(1..=7).contains(&n) {
        return Err(FieldError::invalid(
            field,
            format!("`{field}` must hold weekday numbers from 1 (Monday) to 7 (Sunday), got {n}"),
        ));
    }
    Weekday::from_monday_one_offset(n as i8).map_err(|_| FieldError::invalid(field, "bad weekday"))
}

/// The working week: which days, and the hours on each of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    /// Working weekdays.
    pub days: Vec<Weekday>,
    /// Start of the working day (inclusive).
    pub start: Time,
    /// End of the working day (exclusive); after `start`.
    pub end: Time,
}

impl WorkingHours {
    /// Checks the shape: at least one day, start before end.
    pub fn new(days: Vec<Weekday>, start: Time, end: Time) -> Result<Self, FieldError> {
        if days.is_empty() {
            return Err(FieldError::invalid(
                "working_hours.days",
                "`working_hours.days` must name at least one working day",
            ));
        }
        if start >= end {
            return Err(FieldError::invalid(
                "working_hours.end",
                "`working_hours.end` must be later than `working_hours.start` on the same day",
            ));
        }
        let mut days = days;
        days.sort_by_key(|d| weekday_number(*d));
        days.dedup();
        Ok(Self { days, start, end })
    }
}

impl Default for WorkingHours {
    fn default() -> Self {
        Self {
            days: vec![
                Weekday::Monday,
                Weekday::Tuesday,
                Weekday::Wednesday,
                Weekday::Thursday,
                Weekday::Friday,
            ],
            start: Time::constant(9, 0, 0, 0),
            end: Time::constant(18, 0, 0, 0),
        }
    }
}

/// How a read inside the reader's quiet hours is shown to the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuietReads {
    /// Shown as "read outside working hours", without the exact time.
    Coarse,
    /// Counted in the aggregate only; the person's row does not show it.
    Untracked,
}

impl QuietReads {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            QuietReads::Coarse => "coarse",
            QuietReads::Untracked => "untracked",
        }
    }

    /// Parses the wire name.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw {
            "coarse" => Ok(Self::Coarse),
            "untracked" => Ok(Self::Untracked),
            _ => Err(FieldError::invalid(
                field,
                format!("`{field}` must be \"coarse\" or \"untracked\", got {raw:?}"),
            )),
        }
    }
}

/// Quiet hours in the member's local time; may span midnight (20:00 to 08:00).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietHours {
    /// Start (inclusive).
    pub start: Time,
    /// End (exclusive). Earlier than `start` means the span crosses midnight.
    pub end: Time,
    /// What a read inside quiet hours shows.
    pub reads: QuietReads,
}

impl QuietHours {
    /// Whether a local time of day falls inside the quiet hours.
    pub fn contains(&self, t: Time) -> bool {
        if self.start == self.end {
            false
        } else if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

impl Default for QuietHours {
    fn default() -> Self {
        Self {
            start: Time::constant(20, 0, 0, 0),
            end: Time::constant(8, 0, 0, 0),
            reads: QuietReads::Coarse,
        }
    }
}

/// A pilot: per-person tracking limited to some departments while it is tried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pilot {
    /// The departments the admin named.
    pub roots: Vec<DepartmentId>,
    /// Those departments with all their sub-departments, as of the last change to the
    /// pilot or the tree.
    pub departments: Vec<DepartmentId>,
}

/// Everything an organisation decides about how tracking works.
#[derive(Debug, Clone)]
pub struct OrgSettings {
    /// The organisation's time zone, used for members without their own.
    pub time_zone: Zone,
    /// The working week.
    pub working_hours: WorkingHours,
    /// Quiet hours.
    pub quiet_hours: QuietHours,
    /// Priorities for which a sender may ask for per-person tracking.
    pub per_person_tracking_for: Vec<Priority>,
    /// Per-person receipt details older than this are purged; aggregates stay.
    pub retention_days: u32,
    /// Smallest group an aggregate report may describe.
    pub min_group_size: u32,
    /// The current communication policy version (starts at 1).
    pub policy_version: i64,
    /// The current communication policy text (shown where no translation fits).
    pub policy_text: String,
    /// The same policy in other languages, by language tag (`en`, `zh-Hant`); part of
    /// the version people acknowledge.
    pub policy_translations: BTreeMap<String, String>,
    /// When set, per-person tracking applies only to recipients in the pilot.
    pub pilot: Option<Pilot>,
    /// Reminder plan applied to important notices that name none.
    pub default_reminders_important: Option<ReminderPlan>,
    /// Reminder plan applied to urgent notices that name none.
    pub default_reminders_urgent: Option<ReminderPlan>,
    /// Who may send what, to whom.
    pub sending_rights: SendingRights,
}

/// The policy text a new organisation starts with.
pub const DEFAULT_POLICY_TEXT: &str = "readtrack records when you receive, read and confirm notices that your organisation marks as important or urgent. Only the sender of a notice sees your individual read time, and only after you have acknowledged this policy; administrators can see it only through an audited view that is recorded and shown to you. Reads during your quiet hours are shown without their time. Nobody is ranked or scored across notices. Details are deleted after the retention period, and you can export everything recorded about you at any time.";

impl OrgSettings {
    /// The defaults of a new organisation in `time_zone`.
    pub fn new(time_zone: Zone) -> Self {
        Self {
            time_zone,
            working_hours: WorkingHours::default(),
            quiet_hours: QuietHours::default(),
            per_person_tracking_for: vec![Priority::Important, Priority::Urgent],
            retention_days: 180,
            min_group_size: 5,
            policy_version: 1,
            policy_text: DEFAULT_POLICY_TEXT.to_string(),
            policy_translations: BTreeMap::new(),
            pilot: None,
            default_reminders_important: Some(ReminderPlan::default_for_tracked()),
            default_reminders_urgent: Some(ReminderPlan::default_for_tracked()),
            sending_rights: SendingRights::default(),
        }
    }

    /// The reminder plan a notice of `priority` gets when it names none.
    pub fn default_reminders(&self, priority: Priority) -> Option<ReminderPlan> {
        match priority {
            Priority::Normal => None,
            Priority::Important => self.default_reminders_important.clone(),
            Priority::Urgent => self.default_reminders_urgent.clone(),
        }
    }

    /// Checks a retention period.
    pub fn check_retention_days(n: i64) -> Result<u32, FieldError> {
        if !(1..=3650).contains(&n) {
            return Err(FieldError::invalid(
                "retention_days",
                "`retention_days` must be between 1 and 3650",
            ));
        }
        Ok(n as u32)
    }

    /// Checks the policy's main text.
    pub fn check_policy_text(text: &str) -> Result<String, FieldError> {
        crate::text::bounded("policy.text", text, 1, MAX_POLICY_CHARS, true)
    }

    /// Checks the policy's translations: at most [`MAX_POLICY_TRANSLATIONS`], each under a
    /// language tag (letters, digits and hyphens, starting with a 2–3 letter language,
    /// as `zh-Hant`) and as long as the main text may be.
    pub fn check_policy_translations(
        translations: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, FieldError> {
        if translations.len() > MAX_POLICY_TRANSLATIONS {
            return Err(FieldError::invalid(
                "policy.translations",
                format!("`policy.translations` holds at most {MAX_POLICY_TRANSLATIONS} languages"),
            ));
        }
        let mut out = BTreeMap::new();
        for (tag, text) in translations {
            let field = format!("policy.translations.{tag}");
            let mut parts = tag.split('-');
            let language_ok = parts.next().is_some_and(|l| {
                (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase())
            });
            let rest_ok = parts.all(|p| {
                (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric())
            });
            if !language_ok || !rest_ok || tag.len() > 35 {
                return Err(FieldError::invalid(
                    "policy.translations",
                    format!(
                        "`policy.translations` key {tag:?} is not a language tag such as \"en\" or \"zh-Hant\""
                    ),
                ));
            }
            out.insert(
                tag.clone(),
                crate::text::bounded(&field, text, 1, MAX_POLICY_CHARS, true)?,
            );
        }
        Ok(out)
    }

    /// The policy text for a reader of `language` (a tag such as `zh-Hant`): its
    /// translation when there is one, else the main text.
    pub fn policy_text_for(&self, language: &str) -> &str {
        self.policy_translations
            .get(language)
            .map_or(self.policy_text.as_str(), String::as_str)
    }

    /// Checks a minimum group size.
    pub fn check_min_group_size(n: i64) -> Result<u32, FieldError> {
        if !(1..=1000).contains(&n) {
            return Err(FieldError::invalid(
                "min_group_size",
                "`min_group_size` must be between 1 and 1000",
            ));
        }
        Ok(n as u32)
    }
}

/// The longest policy text, in characters, in any language.
pub const MAX_POLICY_CHARS: usize = 20_000;
/// The most translations a policy may have.
pub const MAX_POLICY_TRANSLATIONS: usize = 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_translations_are_keyed_by_language_tags_and_fall_back_to_the_main_text() {
        let mut t = BTreeMap::new();
        t.insert("zh-Hant".to_string(), "通訊政策".to_string());
        let mut s = OrgSettings::new(Zone::utc());
        s.policy_translations = OrgSettings::check_policy_translations(&t).expect("valid");
        assert_eq!(s.policy_text_for("zh-Hant"), "通訊政策");
        assert_eq!(s.policy_text_for("en"), s.policy_text);
        for bad in ["Chinese", "zh_Hant", "", "zh-"] {
            let mut t = BTreeMap::new();
            t.insert(bad.to_string(), "x".to_string());
            assert_eq!(
                OrgSettings::check_policy_translations(&t)
                    .unwrap_err()
                    .field,
                "policy.translations",
                "{bad:?}"
            );
        }
        let mut t = BTreeMap::new();
        t.insert("en".to_string(), "  ".to_string());
        assert_eq!(
            OrgSettings::check_policy_translations(&t)
                .unwrap_err()
                .field,
            "policy.translations.en"
        );
    }

    #[test]
    fn quiet_hours_may_span_midnight() {
        let q = QuietHours::default();
        assert!(q.contains(Time::constant(23, 0, 0, 0)));
        assert!(q.contains(Time::constant(7, 59, 0, 0)));
        assert!(!q.contains(Time::constant(8, 0, 0, 0)));
        assert!(q.contains(Time::constant(20, 0, 0, 0)));
        let day = QuietHours {
            start: Time::constant(12, 0, 0, 0),
            end: Time::constant(13, 0, 0, 0),
            reads: QuietReads::Coarse,
        };
        assert!(day.contains(Time::constant(12, 30, 0, 0)));
        assert!(!day.contains(Time::constant(13, 0, 0, 0)));
    }

    #[test]
    fn times_of_day_parse_strictly() {
        assert_eq!(
            parse_time_of_day("start", "09:30").unwrap(),
            Time::constant(9, 30, 0, 0)
        );
        for bad in ["9:30", "24:00", "09:60", "0930", "", "aa:bb"] {
            assert!(parse_time_of_day("start", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn working_hours_need_a_day_and_a_positive_span() {
        let d = vec![Weekday::Monday];
        assert!(WorkingHours::new(vec![], Time::MIN, Time::MAX).is_err());
        assert!(
            WorkingHours::new(
                d.clone(),
                Time::constant(18, 0, 0, 0),
                Time::constant(9, 0, 0, 0)
            )
            .is_err()
        );
        assert!(
            WorkingHours::new(d, Time::constant(9, 0, 0, 0), Time::constant(18, 0, 0, 0)).is_ok()
        );
    }
}
