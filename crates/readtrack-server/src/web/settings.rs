//! The organisation's settings for administrators: time zone, working and quiet hours,
//! which priorities may be tracked per person, retention, the minimum group size, the
//! pilot departments, the policy text, the default reminder plans and who may send.
//!
//! The form is sent whole and applied in one service call, so a refusal changes nothing;
//! the refusal names its field, and the page shows the message next to that field.

use std::collections::HashSet;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use readtrack_domain::department::Department;
use readtrack_domain::reminder::{ReminderPlan, ReminderPlanInput};
use readtrack_domain::rights::{Grant, GrantInput, SendingRights, SendingRightsInput};
use readtrack_domain::settings::{OrgSettings, format_time_of_day, weekday_number};
use readtrack_service::ServiceError;
use readtrack_service::privacy::{PlanPatch, SettingsPatch};
use serde::Deserialize;

use crate::state::ServerState;
use crate::web::admin::admin_departments;
use crate::web::chrome::{Chrome, error_page, render};
use crate::web::compose::{DeptOption, tree_order};
use crate::web::i18n::{Lang, Tr};
use crate::web::session::Viewer;

/// One default reminder plan as the form holds it.
#[derive(Debug, Clone, Default)]
pub struct PlanValues {
    /// The plan is on.
    pub on: bool,
    /// First reminder after (working minutes).
    pub remind_after: String,
    /// Then every (working minutes).
    pub remind_every: String,
    /// At most this many reminders.
    pub max_reminders: String,
    /// Escalate after (working minutes).
    pub escalate_after: String,
    /// Tell the manager.
    pub manager: bool,
    /// Tell the backup contact.
    pub backup: bool,
    /// Put a task on the recipient's list.
    pub task: bool,
}

impl PlanValues {
    fn of(plan: Option<&ReminderPlan>) -> Self {
        let Some(p) = plan else {
            return Self::default();
        };
        let to = |t: readtrack_domain::reminder::EscalateTo| p.escalate_to.contains(&t);
        Self {
            on: true,
            remind_after: nonzero(p.remind_after_minutes),
            remind_every: nonzero(p.remind_every_minutes),
            max_reminders: p.max_reminders.to_string(),
            escalate_after: p
                .escalate_after_minutes
                .map(|m| m.to_string())
                .unwrap_or_default(),
            manager: to(readtrack_domain::reminder::EscalateTo::Manager),
            backup: to(readtrack_domain::reminder::EscalateTo::Backup),
            task: p.create_task,
        }
    }

    fn set(&mut self, key: &str, val: String) {
        match key {
            "on" => self.on = true,
            "remind_after" => self.remind_after = val,
            "remind_every" => self.remind_every = val,
            "max_reminders" => self.max_reminders = val,
            "escalate_after" => self.escalate_after = val,
            "manager" => self.manager = true,
            "backup" => self.backup = true,
            "task" => self.task = true,
            _ => {}
        }
    }

    /// The patch for this plan; `field` prefixes the names of numbers that do not parse.
    fn patch(&self, field: &str) -> Result<PlanPatch, (String, String)> {
        if !self.on {
            return Ok(Some(None));
        }
        let mut escalate_to = Vec::new();
        if self.manager {
            escalate_to.push("manager".to_string());
        }
        if self.backup {
            escalate_to.push("backup".to_string());
        }
        Ok(Some(Some(ReminderPlanInput {
            remind_after_minutes: number(
                &format!("{field}.remind_after_minutes"),
                &self.remind_after,
            )?,
            remind_every_minutes: number(
                &format!("{field}.remind_every_minutes"),
                &self.remind_every,
            )?,
            max_reminders: number(&format!("{field}.max_reminders"), &self.max_reminders)?,
            escalate_after_minutes: number(
                &format!("{field}.escalate_after_minutes"),
                &self.escalate_after,
            )?,
            escalate_to: Some(escalate_to),
            create_task: Some(self.task),
        })))
    }
}

fn nonzero(n: u32) -> String {
    if n == 0 { String::new() } else { n.to_string() }
}

/// A whole number from a form field, or nothing when the field is empty.
fn number(field: &str, raw: &str) -> Result<Option<i64>, (String, String)> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i64>().map(Some).map_err(|_| {
        (
            field.to_string(),
            format!("`{field}` must be a whole number"),
        )
    })
}

/// One sending grant as the form holds it (wire names).
#[derive(Debug, Clone, Default)]
pub struct GrantValues {
    /// `nobody`, `own_department`, `everyone`; empty on a department row: no grant.
    pub reach: String,
    /// Highest priority.
    pub max_priority: String,
    /// Most tracking.
    pub max_tracking: String,
}

impl GrantValues {
    fn of(g: &Grant) -> Self {
        Self {
            reach: g.reach.as_str().into(),
            max_priority: g.max_priority.as_str().into(),
            max_tracking: g.max_tracking.as_str().into(),
        }
    }

    fn set(&mut self, key: &str, val: String) {
        match key {
            "reach" => self.reach = val,
            "max_priority" => self.max_priority = val,
            "max_tracking" => self.max_tracking = val,
            _ => {}
        }
    }

    fn input(&self) -> GrantInput {
        GrantInput {
            reach: self.reach.clone(),
            max_priority: self.max_priority.clone(),
            max_tracking: self.max_tracking.clone(),
        }
    }
}

/// The sending rights as the form holds them; department rows by position, the last
/// one (empty) for adding a department.
#[derive(Debug, Clone, Default)]
pub struct RightsValues {
    staff: GrantValues,
    managers: GrantValues,
    departments: Vec<(String, GrantValues)>,
    /// Carried through the form unchanged (set with the API).
    emergency_senders: Vec<String>,
}

impl RightsValues {
    fn of(r: &SendingRights) -> Self {
        Self {
            staff: GrantValues::of(&r.staff),
            managers: GrantValues::of(&r.managers),
            departments: r
                .departments
                .iter()
                .map(|d| (d.department.to_string(), GrantValues::of(&d.grant)))
                .collect(),
            emergency_senders: r.emergency_senders.iter().map(|m| m.to_string()).collect(),
        }
    }

    /// Takes `rights.staff.reach`, `rights.dept.3.department` and the like.
    fn set(&mut self, key: &str, val: String) {
        if key == "emergency" {
            if !val.is_empty() {
                self.emergency_senders.push(val);
            }
        } else if let Some(k) = key.strip_prefix("staff.") {
            self.staff.set(k, val);
        } else if let Some(k) = key.strip_prefix("managers.") {
            self.managers.set(k, val);
        } else if let Some(rest) = key.strip_prefix("dept.")
            && let Some((i, k)) = rest.split_once('.')
            && let Ok(i) = i.parse::<usize>()
            && i < readtrack_domain::rights::MAX_DEPARTMENT_GRANTS + 1
        {
            if self.departments.len() <= i {
                self.departments.resize(i + 1, Default::default());
            }
            let row = &mut self.departments[i];
            if k == "department" {
                row.0 = val;
            } else {
                row.1.set(k, val);
            }
        }
    }

    /// The rights the form asks for: department rows without a department or a reach
    /// are dropped (that is how a grant is removed).
    fn input(&self) -> SendingRightsInput {
        SendingRightsInput {
            staff: self.staff.input(),
            managers: self.managers.input(),
            departments: self
                .departments
                .iter()
                .filter(|(d, g)| !d.is_empty() && !g.reach.is_empty())
                .map(|(d, g)| (d.clone(), g.input()))
                .collect(),
            emergency_senders: self.emergency_senders.clone(),
        }
    }
}

/// A choice in one of the rights' selects.
#[derive(Debug, Clone)]
pub struct Opt {
    /// The submitted value.
    pub value: String,
    /// What the admin reads.
    pub label: String,
    /// Chosen now.
    pub selected: bool,
}

/// One row of the "who may send" table.
#[derive(Debug, Clone)]
pub struct RightsRow {
    /// Field-name prefix (`rights.staff`, `rights.dept.2`).
    pub prefix: String,
    /// The group, for the fixed rows.
    pub label: String,
    /// The department select, on department rows.
    pub departments: Option<Vec<Opt>>,
    /// Reach choices.
    pub reach: Vec<Opt>,
    /// Priority choices.
    pub priority: Vec<Opt>,
    /// Tracking choices.
    pub tracking: Vec<Opt>,
}

fn opts(pairs: &[(&str, &str)], current: &str) -> Vec<Opt> {
    pairs
        .iter()
        .map(|(value, label)| Opt {
            value: value.to_string(),
            label: label.to_string(),
            selected: *value == current,
        })
        .collect()
}

/// The rows of the "who may send" table: staff, managers, each department grant, and
/// an empty row to add one.
fn rights_rows(t: &Tr, values: &RightsValues, departments: &[Department]) -> Vec<RightsRow> {
    let reach = [
        ("nobody", t.reach_nobody),
        ("own_department", t.reach_own_department),
        ("everyone", t.reach_everyone),
    ];
    let priority = [
        ("normal", t.priority_normal),
        ("important", t.priority_important),
        ("urgent", t.priority_urgent),
    ];
    let tracking = [
        ("off", t.tracking_off),
        ("aggregate", t.tracking_aggregate),
        ("per_person", t.tracking_per_person),
    ];
    let row = |prefix: String, label: String, g: &GrantValues, depts: Option<Vec<Opt>>| {
        let mut reach_opts = opts(&reach, &g.reach);
        if depts.is_some() {
            reach_opts.insert(
                0,
                Opt {
                    value: String::new(),
                    label: t.grant_none.to_string(),
                    selected: g.reach.is_empty(),
                },
            );
        }
        RightsRow {
            prefix,
            label,
            departments: depts,
            reach: reach_opts,
            priority: opts(&priority, &g.max_priority),
            tracking: opts(&tracking, &g.max_tracking),
        }
    };
    let ordered = tree_order(departments);
    let dept_opts = |current: &str| {
        let mut list = vec![Opt {
            value: String::new(),
            label: t.grant_add_department.to_string(),
            selected: current.is_empty(),
        }];
        list.extend(ordered.iter().map(|(d, depth)| Opt {
            value: d.id.to_string(),
            label: format!("{}{}", "\u{a0}\u{a0}".repeat((*depth).min(6)), d.name),
            selected: d.id.to_string() == current,
        }));
        list
    };
    let mut rows = vec![
        row(
            "rights.staff".into(),
            t.rights_staff.into(),
            &values.staff,
            None,
        ),
        row(
            "rights.managers".into(),
            t.rights_managers.into(),
            &values.managers,
            None,
        ),
    ];
    let kept: Vec<&(String, GrantValues)> = values
        .departments
        .iter()
        .filter(|(d, _)| !d.is_empty())
        .collect();
    for (i, (d, g)) in kept.iter().enumerate() {
        rows.push(row(
            format!("rights.dept.{i}"),
            String::new(),
            g,
            Some(dept_opts(d)),
        ));
    }
    let adding = GrantValues {
        reach: String::new(),
        max_priority: "urgent".into(),
        max_tracking: "per_person".into(),
    };
    rows.push(row(
        format!("rights.dept.{}", kept.len()),
        String::new(),
        &adding,
        Some(dept_opts("")),
    ));
    rows
}

/// What the form holds: the saved settings, or what the admin sent after a refusal.
#[derive(Debug, Clone, Default)]
pub struct SettingsValues {
    time_zone: String,
    days: Vec<u8>,
    work_start: String,
    work_end: String,
    quiet_start: String,
    quiet_end: String,
    quiet_reads: String,
    tracking_for: Vec<String>,
    retention_days: String,
    min_group_size: String,
    pilot: Vec<String>,
    policy_text: String,
    /// Translations by language tag, one box per language the pages speak.
    policy_translations: std::collections::BTreeMap<String, String>,
    important: PlanValues,
    urgent: PlanValues,
    rights: RightsValues,
    csrf: String,
}

impl SettingsValues {
    /// The people who may send emergencies (kept through the form).
    pub fn rights_emergency(&self) -> &[String] {
        &self.rights.emergency_senders
    }

    /// Whether per-person tracking is ticked for a priority.
    pub fn tracks(&self, priority: &str) -> bool {
        self.tracking_for.iter().any(|p| p == priority)
    }

    fn of(s: &OrgSettings) -> Self {
        Self {
            time_zone: s.time_zone.name().to_string(),
            days: s
                .working_hours
                .days
                .iter()
                .map(|d| weekday_number(*d))
                .collect(),
            work_start: format_time_of_day(s.working_hours.start),
            work_end: format_time_of_day(s.working_hours.end),
            quiet_start: format_time_of_day(s.quiet_hours.start),
            quiet_end: format_time_of_day(s.quiet_hours.end),
            quiet_reads: s.quiet_hours.reads.as_str().to_string(),
            tracking_for: s
                .per_person_tracking_for
                .iter()
                .map(|p| p.as_str().to_string())
                .collect(),
            retention_days: s.retention_days.to_string(),
            min_group_size: s.min_group_size.to_string(),
            pilot: s
                .pilot
                .as_ref()
                .map(|p| p.roots.iter().map(|d| d.to_string()).collect())
                .unwrap_or_default(),
            policy_text: s.policy_text.clone(),
            policy_translations: s.policy_translations.clone(),
            important: PlanValues::of(s.default_reminders_important.as_ref()),
            urgent: PlanValues::of(s.default_reminders_urgent.as_ref()),
            rights: RightsValues::of(&s.sending_rights),
            csrf: String::new(),
        }
    }

    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut v = Self::default();
        for (k, val) in pairs {
            if let Some(key) = k.strip_prefix("important.") {
                v.important.set(key, val);
                continue;
            }
            if let Some(key) = k.strip_prefix("urgent.") {
                v.urgent.set(key, val);
                continue;
            }
            if let Some(key) = k.strip_prefix("rights.") {
                v.rights.set(key, val);
                continue;
            }
            match k.as_str() {
                "time_zone" => v.time_zone = val,
                "day" => {
                    if let Ok(d) = val.parse::<u8>() {
                        v.days.push(d);
                    }
                }
                "work_start" => v.work_start = val,
                "work_end" => v.work_end = val,
                "quiet_start" => v.quiet_start = val,
                "quiet_end" => v.quiet_end = val,
                "quiet_reads" => v.quiet_reads = val,
                "tracking_for" => v.tracking_for.push(val),
                "retention_days" => v.retention_days = val,
                "min_group_size" => v.min_group_size = val,
                "pilot" if !val.is_empty() => v.pilot.push(val),
                // Browsers send a textarea's line breaks as CRLF; the policy is stored
                // with LF, so an untouched text does not look like a new version.
                "policy_text" => v.policy_text = val.replace("\r\n", "\n"),
                key if key.starts_with("policy_text.") => {
                    let tag = &key["policy_text.".len()..];
                    let text = val.replace("\r\n", "\n");
                    if !text.trim().is_empty() {
                        v.policy_translations.insert(tag.to_string(), text);
                    }
                }
                "_csrf" => v.csrf = val,
                _ => {}
            }
        }
        v
    }

    /// The whole form as one patch; a number that does not parse is refused by name.
    fn patch(&self, current: &OrgSettings) -> Result<SettingsPatch, (String, String)> {
        let whole = |field: &str, raw: &str| -> Result<i64, (String, String)> {
            number(field, raw)?
                .ok_or_else(|| (field.to_string(), format!("`{field}` must not be empty")))
        };
        let policy_text = (self.policy_text.trim() != current.policy_text.trim())
            .then(|| self.policy_text.clone());
        // The form shows a box per language the pages speak; translations in other
        // languages (set through the API) are kept as they are.
        let mut translations = current.policy_translations.clone();
        for lang in Lang::ALL {
            match self.policy_translations.get(lang.tag()) {
                Some(text) => translations.insert(lang.tag().to_string(), text.clone()),
                None => translations.remove(lang.tag()),
            };
        }
        let trimmed = |m: &std::collections::BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.trim().to_string()))
                .collect::<Vec<_>>()
        };
        let policy_translations = (trimmed(&translations) != trimmed(&current.policy_translations))
            .then_some(translations);
        Ok(SettingsPatch {
            time_zone: Some(self.time_zone.trim().to_string()),
            working_hours: Some((
                self.days.iter().map(|d| i64::from(*d)).collect(),
                self.work_start.trim().to_string(),
                self.work_end.trim().to_string(),
            )),
            quiet_hours: Some((
                self.quiet_start.trim().to_string(),
                self.quiet_end.trim().to_string(),
                Some(self.quiet_reads.clone()).filter(|r| !r.is_empty()),
            )),
            per_person_tracking_for: Some(self.tracking_for.clone()),
            retention_days: Some(whole("retention_days", &self.retention_days)?),
            min_group_size: Some(whole("min_group_size", &self.min_group_size)?),
            policy_text,
            policy_translations,
            pilot_departments: Some(Some(self.pilot.clone()).filter(|p| !p.is_empty())),
            default_reminders: Some((
                self.important.patch("default_reminders.important")?,
                self.urgent.patch("default_reminders.urgent")?,
            )),
            // A form without the rights' fields (a page from before they existed)
            // leaves them as they are.
            sending_rights: (!self.rights.staff.reach.is_empty()).then(|| self.rights.input()),
        })
    }
}

/// Which part of the form a refused field belongs to, as the template names it.
pub fn field_slot(field: &str) -> &'static str {
    let first = field.split(['.', '[']).next().unwrap_or(field);
    match first {
        "time_zone" => "time_zone",
        "working_hours" => "working_hours",
        "quiet_hours" => "quiet_hours",
        "per_person_tracking_for" => "tracking_for",
        "retention_days" => "retention_days",
        "min_group_size" => "min_group_size",
        "policy" => "policy",
        "pilot" => "pilot",
        "default_reminders" if field.contains("urgent") => "urgent",
        "default_reminders" => "important",
        "sending_rights" => "sending_rights",
        _ => "form",
    }
}

/// The refusal to show, if any: the form's part and the message.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    /// The message for a part of the form.
    pub fn get(&self, slot: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, m)| m.as_str())
    }

    /// Whether a part of the form was refused.
    pub fn has(&self, slot: &str) -> bool {
        self.get(slot).is_some()
    }

    /// The first refusal, for the summary at the top: its part and message.
    pub fn first(&self) -> Option<(&'static str, &str)> {
        self.0.first().map(|(s, m)| (*s, m.as_str()))
    }
}

/// One default plan's part of the form.
#[derive(Debug, Clone)]
pub struct PlanBox {
    /// Field-name prefix and error slot (`important`, `urgent`).
    pub prefix: &'static str,
    /// The fieldset's legend.
    pub legend: &'static str,
    /// Its values.
    pub v: PlanValues,
}

/// A weekday checkbox.
#[derive(Debug, Clone)]
pub struct DayBox {
    /// ISO number.
    pub n: u8,
    /// Short name.
    pub label: &'static str,
    /// Ticked.
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    ctx: Chrome,
    t: &'static Tr,
    tab: &'static str,
    v: SettingsValues,
    days: Vec<DayBox>,
    pilot: Vec<DeptOption>,
    /// (wire name, label, ticked) for each priority.
    tracking: Vec<(&'static str, &'static str, bool)>,
    plans: Vec<PlanBox>,
    policy_version: i64,
    /// A translation box per language: (tag, the language's own name, text).
    translations: Vec<(&'static str, &'static str, String)>,
    /// Who may send: a row per group and department grant.
    rights: Vec<RightsRow>,
    errors: FieldErrors,
    notice: Option<String>,
}

/// `?saved=1`, or `?saved=policy` when the policy became a new version.
#[derive(Debug, Deserialize)]
pub struct SettingsQuery {
    /// What was saved.
    pub saved: Option<String>,
}

fn page(
    v: &Viewer,
    departments: &[Department],
    values: SettingsValues,
    errors: FieldErrors,
    notice: Option<String>,
    status: StatusCode,
) -> Response {
    let t = v.t();
    let names = [t.mon, t.tue, t.wed, t.thu, t.fri, t.sat, t.sun];
    let chosen: HashSet<&str> = values.pilot.iter().map(String::as_str).collect();
    let page = SettingsPage {
        ctx: Chrome::for_viewer(v, "/admin/settings"),
        t,
        tab: "settings",
        days: (1..=7u8)
            .map(|n| DayBox {
                n,
                label: names[usize::from(n) - 1],
                checked: values.days.contains(&n),
            })
            .collect(),
        pilot: tree_order(departments)
            .into_iter()
            .map(|(d, depth)| DeptOption {
                checked: chosen.contains(d.id.to_string().as_str()),
                id: d.id.to_string(),
                name: d.name,
                depth: depth.min(6),
            })
            .collect(),
        tracking: [
            ("normal", t.priority_normal),
            ("important", t.priority_important),
            ("urgent", t.priority_urgent),
        ]
        .into_iter()
        .map(|(p, label)| (p, label, values.tracks(p)))
        .collect(),
        plans: vec![
            PlanBox {
                prefix: "important",
                legend: t.default_plan_important,
                v: values.important.clone(),
            },
            PlanBox {
                prefix: "urgent",
                legend: t.default_plan_urgent,
                v: values.urgent.clone(),
            },
        ],
        policy_version: v.org.settings.policy_version,
        translations: Lang::ALL
            .iter()
            .map(|l| {
                let text = values.policy_translations.get(l.tag()).cloned();
                (l.tag(), l.native_name(), text.unwrap_or_default())
            })
            .collect(),
        rights: rights_rows(t, &values.rights, departments),
        v: values,
        errors,
        notice,
    };
    render(status, &page)
}

/// `GET /admin/settings`.
pub async fn settings(
    State(s): State<ServerState>,
    v: Viewer,
    Query(q): Query<SettingsQuery>,
) -> Response {
    let departments = match admin_departments(&s, &v).await {
        Ok(d) => d,
        Err(page) => return page,
    };
    let t = v.t();
    let notice = match q.saved.as_deref() {
        Some("policy") => Some(format!(
            "{} {} {}",
            t.settings_saved_policy_before,
            v.org.settings.policy_version,
            t.settings_saved_policy_after
        )),
        Some(_) => Some(t.settings_saved.to_string()),
        None => None,
    };
    let values = SettingsValues::of(&v.org.settings);
    page(
        &v,
        &departments,
        values,
        FieldErrors::default(),
        notice,
        StatusCode::OK,
    )
}

/// `POST /admin/settings`: applies the whole form, or changes nothing and says why.
pub async fn save(
    State(s): State<ServerState>,
    v: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let departments = match admin_departments(&s, &v).await {
        Ok(d) => d,
        Err(page) => return page,
    };
    let values = SettingsValues::from_pairs(pairs);
    let refuse =
        |values: SettingsValues, slot: &'static str, message: String, status: StatusCode| {
            page(
                &v,
                &departments,
                values,
                FieldErrors(vec![(slot, message)]),
                None,
                status,
            )
        };
    if !v.csrf_ok(&values.csrf) {
        let msg = v.t().form_expired.to_string();
        return refuse(values, "form", msg, StatusCode::FORBIDDEN);
    }
    let patch = match values.patch(&v.org.settings) {
        Ok(p) => p,
        Err((field, message)) => {
            return refuse(values, field_slot(&field), message, StatusCode::BAD_REQUEST);
        }
    };
    let before = v.org.settings.policy_version;
    match s.app.update_settings(&v.caller, patch).await {
        Ok(org) => {
            let saved = if org.settings.policy_version != before {
                "policy"
            } else {
                "1"
            };
            Redirect::to(&format!("/admin/settings?saved={saved}")).into_response()
        }
        Err(ServiceError::Invalid(f)) => refuse(
            values,
            field_slot(&f.field),
            f.message,
            StatusCode::BAD_REQUEST,
        ),
        Err(e) => error_page(v.lang, e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_fields_land_next_to_their_part_of_the_form() {
        assert_eq!(field_slot("time_zone"), "time_zone");
        assert_eq!(field_slot("working_hours.days[2]"), "working_hours");
        assert_eq!(field_slot("quiet_hours.reads"), "quiet_hours");
        assert_eq!(field_slot("per_person_tracking_for[0]"), "tracking_for");
        assert_eq!(field_slot("pilot.departments[1]"), "pilot");
        assert_eq!(field_slot("policy.text"), "policy");
        assert_eq!(
            field_slot("default_reminders.urgent.max_reminders"),
            "urgent"
        );
        assert_eq!(
            field_slot("default_reminders.important.remind_after_minutes"),
            "important"
        );
        assert_eq!(
            field_slot("sending_rights.departments[0].reach"),
            "sending_rights"
        );
        assert_eq!(field_slot("something_new"), "form");
    }
}
