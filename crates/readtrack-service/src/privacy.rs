//! Privacy and governance: settings and the versioned policy, the audit log, a member's
//! export, retention, analytics with small-group suppression, and pulse surveys.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use readtrack_domain::analytics::{DepartmentStats, Histogram};
use readtrack_domain::department::{Department, DepartmentTree};
use readtrack_domain::ids::{DepartmentId, MemberId, SurveyId};
use readtrack_domain::member::Role;
use readtrack_domain::message::{Priority, parse_timestamp};
use readtrack_domain::privacy::{
    analytics_cell_countable, groups_to_show, meets_group_size, survey_publishable,
};
use readtrack_domain::reminder::{ReminderPlan, ReminderPlanInput};
use readtrack_domain::settings::{
    OrgSettings, Pilot, QuietHours, QuietReads, WorkingHours, parse_time_of_day,
    weekday_from_number,
};
use readtrack_domain::text;
use readtrack_domain::time_zone::Zone;
use readtrack_storage::{
    AuditRecord, MemberExport, NewAudit, NewSurvey, OrgRecord, Page, SurveyAnswer, SurveyRecord,
};

use crate::App;
use crate::auth::Caller;
use crate::error::{Result, ServiceError};

/// A change to the organisation's settings, raw; absent fields stay.
#[derive(Debug, Clone, Default)]
pub struct SettingsPatch {
    /// IANA zone.
    pub time_zone: Option<String>,
    /// Working days (ISO numbers), start and end (`HH:MM`).
    pub working_hours: Option<(Vec<i64>, String, String)>,
    /// Quiet hours start, end and read display (`coarse`/`untracked`).
    pub quiet_hours: Option<(String, String, Option<String>)>,
    /// Priorities that may be tracked per person.
    pub per_person_tracking_for: Option<Vec<String>>,
    /// Retention in days.
    pub retention_days: Option<i64>,
    /// Smallest reported group.
    pub min_group_size: Option<i64>,
    /// New policy text (a change makes a new version).
    pub policy_text: Option<String>,
    /// The policy's translations by language tag, replacing the current ones.
    pub policy_translations: Option<std::collections::BTreeMap<String, String>>,
    /// Pilot departments: `Some(None)` ends the pilot.
    pub pilot_departments: Option<Option<Vec<String>>>,
    /// Default plans for important and urgent notices.
    pub default_reminders: Option<DefaultPlansPatch>,
    /// New sending rights.
    pub sending_rights: Option<readtrack_domain::rights::SendingRightsInput>,
}

/// A change to one default reminder plan: `None` leaves it, `Some(None)` turns it off.
pub type PlanPatch = Option<Option<ReminderPlanInput>>;

/// Changes to the default plans of important and urgent notices.
pub type DefaultPlansPatch = (PlanPatch, PlanPatch);

/// One department's line in the analytics.
#[derive(Debug, Clone)]
pub struct DepartmentFigures {
    /// Department.
    pub department_id: DepartmentId,
    /// Its name.
    pub name: String,
    /// Notices that reached it.
    pub messages: u64,
    /// Recipients (person × notice).
    pub recipients: u64,
    /// Fewer people than the minimum group size: no figures.
    pub suppressed: bool,
    /// Summed figures (meaningless when suppressed; never shown then).
    pub stats: DepartmentStats,
}

/// One period of a before/after comparison.
#[derive(Debug, Clone)]
pub struct PeriodFigures {
    /// Start (inclusive).
    pub from: Timestamp,
    /// End (exclusive).
    pub to: Timestamp,
    /// Notices sent.
    pub messages: u64,
    /// Too few people to report.
    pub suppressed: bool,
    /// Median seconds from sending to reading.
    pub median_time_to_read_secs: Option<f64>,
    /// Median seconds from sending to acknowledging.
    pub median_time_to_ack_secs: Option<f64>,
    /// Reminders per notice.
    pub reminders_per_message: Option<f64>,
    /// Share of recipients of notices with a passed deadline who had not read by then.
    pub unread_at_deadline_rate: Option<f64>,
}

/// Survey results, shown only with enough answers.
#[derive(Debug, Clone)]
pub struct SurveyResults {
    /// The survey.
    pub survey: SurveyRecord,
    /// Answers received.
    pub answers: u64,
    /// Fewer answers than the minimum group size: nothing else is shown.
    pub suppressed: bool,
    /// Answers per score 1–5 for "Do you feel monitored?".
    pub monitored: [u64; 5],
    /// Answers per score 1–5 for "Has read tracking helped you?".
    pub helped: [u64; 5],
    /// Free-text comments, in no particular order.
    pub comments: Vec<String>,
    /// Per department with enough answers: (department, name, answers, mean monitored, mean helped).
    pub by_department: Vec<(DepartmentId, String, u64, f64, f64)>,
}

impl App {
    /// The organisation's settings (every member may read them).
    pub async fn settings(&self, caller: &Caller) -> Result<std::sync::Arc<OrgRecord>> {
        self.org(caller.org_id()).await
    }

    pub(crate) async fn audit(
        &self,
        caller: &Caller,
        action: &str,
        subject: String,
        members: Vec<MemberId>,
    ) -> Result<()> {
        self.storage()
            .record_audit(NewAudit {
                org_id: caller.org_id(),
                actor_id: Some(caller.id()),
                action: action.to_string(),
                subject,
                members,
                now: self.clock().now(),
            })
            .await?;
        Ok(())
    }

    /// Records an audited view of per-person data (the admin's board view, a CSV export).
    pub async fn audit_view(
        &self,
        caller: &Caller,
        action: &str,
        subject: String,
        members: Vec<MemberId>,
    ) -> Result<()> {
        self.audit(caller, action, subject, members).await
    }

    /// Changes the settings (admin). A changed policy text becomes a new version that every
    /// member must acknowledge again before their per-person data is shown.
    pub async fn update_settings(
        &self,
        caller: &Caller,
        patch: SettingsPatch,
    ) -> Result<std::sync::Arc<OrgRecord>> {
        caller.require_admin()?;
        let current = self.storage().org(caller.org_id()).await?;
        let mut s: OrgSettings = current.settings.clone();
        if let Some(tz) = &patch.time_zone {
            s.time_zone = Zone::parse("time_zone", tz)?;
        }
        if let Some((days, start, end)) = &patch.working_hours {
            let days = days
                .iter()
                .enumerate()
                .map(|(i, d)| weekday_from_number(&format!("working_hours.days[{i}]"), *d))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            s.working_hours = WorkingHours::new(
                days,
                parse_time_of_day("working_hours.start", start)?,
                parse_time_of_day("working_hours.end", end)?,
            )?;
        }
        if let Some((start, end, reads)) = &patch.quiet_hours {
            s.quiet_hours = QuietHours {
                start: parse_time_of_day("quiet_hours.start", start)?,
                end: parse_time_of_day("quiet_hours.end", end)?,
                reads: match reads {
                    Some(r) => QuietReads::parse("quiet_hours.reads", r)?,
                    None => s.quiet_hours.reads,
                },
            };
        }
        if let Some(list) = &patch.per_person_tracking_for {
            let mut out = Vec::new();
            for (i, p) in list.iter().enumerate() {
                let p = Priority::parse(&format!("per_person_tracking_for[{i}]"), p)?;
                if !out.contains(&p) {
                    out.push(p);
                }
            }
            s.per_person_tracking_for = out;
        }
        if let Some(n) = patch.retention_days {
            s.retention_days = OrgSettings::check_retention_days(n)?;
        }
        if let Some(n) = patch.min_group_size {
            s.min_group_size = OrgSettings::check_min_group_size(n)?;
        }
        let mut policy_changed = match &patch.policy_text {
            Some(t) => {
                let t = OrgSettings::check_policy_text(t)?;
                let changed = t != s.policy_text;
                s.policy_text = t;
                changed
            }
            None => false,
        };
        if let Some(translations) = &patch.policy_translations {
            let translations = OrgSettings::check_policy_translations(translations)?;
            policy_changed |= translations != s.policy_translations;
            s.policy_translations = translations;
        }
        if let Some(pilot) = &patch.pilot_departments {
            s.pilot = match pilot {
                None => None,
                Some(ids) => {
                    let tree =
                        DepartmentTree::new(self.storage().departments(caller.org_id()).await?);
                    let mut roots = Vec::new();
                    for (i, raw) in ids.iter().enumerate() {
                        let field = format!("pilot.departments[{i}]");
                        let d = DepartmentId::parse(&field, raw)?;
                        if !tree.contains(d) {
                            return Err(ServiceError::invalid(
                                &field,
                                format!("`{field}` {d} is not a department of this organisation"),
                            ));
                        }
                        roots.push(d);
                    }
                    if roots.is_empty() {
                        return Err(ServiceError::invalid(
                            "pilot.departments",
                            "`pilot.departments` must name at least one department, or send `\"pilot\": null` to end the pilot",
                        ));
                    }
                    Some(Pilot {
                        departments: tree.subtrees(&roots),
                        roots,
                    })
                }
            };
        }
        if let Some((important, urgent)) = &patch.default_reminders {
            let plan =
                |field: &str, v: &Option<ReminderPlanInput>| -> Result<Option<ReminderPlan>> {
                    Ok(match v {
                        None => None,
                        Some(p) => Some(ReminderPlan::parse(field, p)?).filter(|p| !p.is_empty()),
                    })
                };
            if let Some(i) = important {
                s.default_reminders_important = plan("default_reminders.important", i)?;
            }
            if let Some(u) = urgent {
                s.default_reminders_urgent = plan("default_reminders.urgent", u)?;
            }
        }
        if let Some(input) = &patch.sending_rights {
            let rights = readtrack_domain::rights::SendingRights::parse(input)?;
            let tree = DepartmentTree::new(self.storage().departments(caller.org_id()).await?);
            rights.check_departments(&tree)?;
            // Members of the organisation, deactivated ones included: a leaver on the
            // list must not make every later save of the settings fail.
            let mut known = Vec::new();
            for id in &rights.emergency_senders {
                if self.storage().member(caller.org_id(), *id).await?.is_some() {
                    known.push(*id);
                }
            }
            rights.check_emergency_senders(&known)?;
            s.sending_rights = rights;
        }
        let updated = self
            .storage()
            .update_org_settings(caller.org_id(), &s, Some(caller.id()), self.clock().now())
            .await?;
        self.forget_org(caller.org_id());
        self.audit(caller, "settings.updated", "org".into(), vec![])
            .await?;
        if policy_changed {
            self.audit(
                caller,
                "policy.updated",
                format!("policy:{}", updated.settings.policy_version),
                vec![],
            )
            .await?;
        }
        Ok(std::sync::Arc::new(updated))
    }

    /// The audit log (admins and auditors).
    pub async fn audit_log(&self, caller: &Caller, page: Page) -> Result<Vec<AuditRecord>> {
        if !matches!(caller.member.role, Role::Admin | Role::Auditor) {
            return Err(ServiceError::Forbidden(
                "only admins and auditors may read the audit log".into(),
            ));
        }
        Ok(self.storage().audit_log(caller.org_id(), page).await?)
    }

    /// Everything recorded about the caller. The export itself is audited.
    pub async fn export_me(&self, caller: &Caller) -> Result<MemberExport> {
        let export = self
            .storage()
            .export_member(caller.org_id(), caller.id())
            .await?;
        self.audit(caller, "export", format!("member:{}", caller.id()), vec![])
            .await?;
        Ok(export)
    }

    /// Purges per-person details past each organisation's retention period.
    pub async fn run_retention(&self) -> Result<u64> {
        let now = self.clock().now();
        let mut purged = 0;
        for org in self.storage().org_ids().await? {
            let record = self.storage().org(org).await?;
            let cutoff =
                now - SignedDuration::from_hours(24 * i64::from(record.settings.retention_days));
            let counts = self.storage().purge_before(org, cutoff, now).await?;
            if counts.messages > 0 || counts.events > 0 {
                tracing::info!(org = %org, messages = counts.messages, receipts = counts.receipts, events = counts.events, "retention purge");
                self.storage()
                    .record_audit(NewAudit {
                        org_id: org,
                        actor_id: None,
                        action: "retention.purged".into(),
                        subject: format!(
                            "{} notices, {} receipts",
                            counts.messages, counts.receipts
                        ),
                        members: vec![],
                        now,
                    })
                    .await?;
            }
            purged += counts.messages;
        }
        self.storage()
            .purge_idempotency_keys(now - crate::idempotency::KEPT_FOR)
            .await?;
        Ok(purged)
    }

    /// Runs retention at start and daily (and when the clock is moved) until shutdown.
    pub async fn run_retention_loop(self) {
        let mut shutdown = self.shutdown_signal();
        let mut clock_moves = self.clock().changes();
        loop {
            if let Err(e) = self.run_retention().await {
                tracing::error!(error = %e, "retention pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(24 * 3600)) => {}
                _ = clock_moves.changed() => {}
                _ = shutdown.signalled() => return,
            }
        }
    }

    /// Which departments the caller may see analytics of: all for admins and auditors,
    /// their own department subtree for managers, none for anyone else.
    pub(crate) async fn analytics_scope(
        &self,
        caller: &Caller,
    ) -> Result<(Vec<Department>, Option<HashSet<DepartmentId>>)> {
        let departments = self.storage().departments(caller.org_id()).await?;
        if matches!(caller.member.role, Role::Admin | Role::Auditor) {
            return Ok((departments, None));
        }
        if !self.storage().manages_anyone(caller.id()).await? {
            return Err(ServiceError::Forbidden(
                "analytics are for admins, auditors and managers (for their own department)".into(),
            ));
        }
        let tree = DepartmentTree::new(departments.clone());
        let scope = tree
            .subtrees(&[caller.member.department_id])
            .into_iter()
            .collect();
        Ok((departments, Some(scope)))
    }

    /// Per-department figures of notices sent in `[from, to)`; groups smaller than the
    /// minimum group size are suppressed.
    pub async fn department_analytics(
        &self,
        caller: &Caller,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Vec<DepartmentFigures>> {
        let (from, to) = period(self, "from", from, "to", to)?;
        let (departments, scope) = self.analytics_scope(caller).await?;
        let org = self.org(caller.org_id()).await?;
        let rows = self
            .storage()
            .department_stats(caller.org_id(), from, to, self.clock().now())
            .await?;
        let names: HashMap<DepartmentId, String> =
            departments.iter().map(|d| (d.id, d.name.clone())).collect();
        let mut by_dept: BTreeMap<DepartmentId, (DepartmentStats, HashSet<i64>, u64)> =
            BTreeMap::new();
        let k = org.settings.min_group_size;
        for r in rows
            .iter()
            .filter(|r| scope.as_ref().is_none_or(|s| s.contains(&r.department_id)))
        {
            let e = by_dept.entry(r.department_id).or_default();
            // A notice that reached fewer than k people here is left out of every figure:
            // with it, two periods or scopes could differ by a handful of people.
            if !analytics_cell_countable(r.stats.recipients, k) {
                continue;
            }
            e.0.merge(&r.stats);
            e.1.insert(r.message_id.0);
            // The largest audience a notice had in the department is the group's size.
            e.2 = e.2.max(r.stats.recipients);
        }
        let mut out: Vec<DepartmentFigures> = by_dept
            .into_iter()
            .map(|(id, (stats, messages, group))| DepartmentFigures {
                department_id: id,
                name: names.get(&id).cloned().unwrap_or_default(),
                messages: messages.len() as u64,
                recipients: stats.recipients,
                suppressed: !meets_group_size(group as i64, k),
                stats,
            })
            .collect();
        // Lagging departments first: lowest read rate, then slowest median.
        out.sort_by(|a, b| {
            let key = |f: &DepartmentFigures| (f.suppressed, f.stats.read_rate().unwrap_or(1.0));
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        Ok(out)
    }

    /// Before/after figures of two periods, and how they changed.
    pub async fn compare_periods(
        &self,
        caller: &Caller,
        before: (Option<&str>, Option<&str>),
        after: (Option<&str>, Option<&str>),
    ) -> Result<(PeriodFigures, PeriodFigures)> {
        let b = period(self, "before_from", before.0, "before_to", before.1)?;
        let a = period(self, "after_from", after.0, "after_to", after.1)?;
        let (_, scope) = self.analytics_scope(caller).await?;
        let org = self.org(caller.org_id()).await?;
        let mut figures = Vec::new();
        for (from, to) in [b, a] {
            let rows = self
                .storage()
                .department_stats(caller.org_id(), from, to, self.clock().now())
                .await?;
            let mut total = DepartmentStats::default();
            let mut messages = HashSet::new();
            let mut group: HashMap<i64, u64> = HashMap::new();
            for r in rows.iter().filter(|r| {
                scope.as_ref().is_none_or(|s| s.contains(&r.department_id))
                    && analytics_cell_countable(r.stats.recipients, org.settings.min_group_size)
            }) {
                total.merge(&r.stats);
                messages.insert(r.message_id.0);
                *group.entry(r.message_id.0).or_default() += r.stats.recipients;
            }
            let largest = group.values().copied().max().unwrap_or(0);
            let suppressed = !meets_group_size(largest as i64, org.settings.min_group_size);
            let n = messages.len() as u64;
            figures.push(PeriodFigures {
                from,
                to,
                messages: n,
                suppressed,
                median_time_to_read_secs: if suppressed {
                    None
                } else {
                    total.read_delays.quantile(0.5)
                },
                median_time_to_ack_secs: if suppressed {
                    None
                } else {
                    total.ack_delays.quantile(0.5)
                },
                reminders_per_message: (!suppressed && n > 0)
                    .then(|| total.reminders as f64 / n as f64),
                unread_at_deadline_rate: (!suppressed && total.with_deadline > 0)
                    .then(|| total.unread_at_deadline as f64 / total.with_deadline as f64),
            });
        }
        let after = figures.pop().expect("two periods");
        let before = figures.pop().expect("two periods");
        Ok((before, after))
    }

    /// Whether anyone reports to the caller (managers see their team's analytics and
    /// unread notices).
    pub async fn manages_anyone(&self, caller: &Caller) -> Result<bool> {
        Ok(self.storage().manages_anyone(caller.id()).await?)
    }

    /// Every survey of the organisation, newest first (admins and auditors).
    pub async fn all_surveys(&self, caller: &Caller) -> Result<Vec<SurveyRecord>> {
        if !matches!(caller.member.role, Role::Admin | Role::Auditor) {
            return Err(ServiceError::Forbidden(
                "only admins and auditors may list every survey".into(),
            ));
        }
        Ok(self.storage().surveys(caller.org_id()).await?)
    }

    /// Opens a pulse survey (admin) to departments (sub-departments included) or everyone.
    pub async fn create_survey(
        &self,
        caller: &Caller,
        title: Option<&str>,
        departments: &[String],
        closes_at: Option<&str>,
    ) -> Result<SurveyRecord> {
        caller.require_admin()?;
        let title = text::bounded(
            "title",
            title.unwrap_or("Read tracking: how does it feel?"),
            1,
            200,
            false,
        )?;
        let tree = DepartmentTree::new(self.storage().departments(caller.org_id()).await?);
        let mut roots = Vec::new();
        for (i, raw) in departments.iter().enumerate() {
            let field = format!("scope.departments[{i}]");
            let d = DepartmentId::parse(&field, raw)?;
            if !tree.contains(d) {
                return Err(ServiceError::invalid(
                    &field,
                    format!("`{field}` {d} is not a department of this organisation"),
                ));
            }
            roots.push(d);
        }
        let now = self.clock().now();
        let closes_at = closes_at
            .map(|c| parse_timestamp("closes_at", c))
            .transpose()?;
        if closes_at.is_some_and(|c| c <= now) {
            return Err(ServiceError::invalid(
                "closes_at",
                "`closes_at` must be in the future",
            ));
        }
        let survey = self
            .storage()
            .create_survey(NewSurvey {
                org_id: caller.org_id(),
                title,
                scope: tree.subtrees(&roots),
                created_by: caller.id(),
                closes_at,
                now,
            })
            .await?;
        self.audit(
            caller,
            "survey.opened",
            format!("survey:{}", survey.id),
            vec![],
        )
        .await?;
        Ok(survey)
    }

    /// Closes a survey now (admin): no answers after this, and its results may be shown.
    pub async fn close_survey(&self, caller: &Caller, id: &str) -> Result<SurveyRecord> {
        caller.require_admin()?;
        let id = SurveyId::parse("id", id).map_err(|_| ServiceError::NotFound("survey"))?;
        let now = self.clock().now();
        let before = self
            .storage()
            .survey(caller.org_id(), id)
            .await?
            .ok_or(ServiceError::NotFound("survey"))?;
        let survey = self
            .storage()
            .close_survey(caller.org_id(), id, now)
            .await?
            .ok_or(ServiceError::NotFound("survey"))?;
        if before.closes_at.is_none_or(|c| c > now) {
            self.audit(caller, "survey.closed", format!("survey:{id}"), vec![])
                .await?;
        }
        Ok(survey)
    }

    /// Surveys open to the caller, each with whether they answered it.
    pub async fn my_surveys(&self, caller: &Caller) -> Result<Vec<(SurveyRecord, bool)>> {
        let now = self.clock().now();
        let mut out = Vec::new();
        for s in self.storage().surveys(caller.org_id()).await? {
            let in_scope = s.scope.is_empty() || s.scope.contains(&caller.member.department_id);
            let open = s.closes_at.is_none_or(|c| c > now);
            if in_scope && open {
                let answered = self.storage().has_answered(s.id, caller.id()).await?;
                out.push((s, answered));
            }
        }
        Ok(out)
    }

    /// Records the caller's anonymous answer; a second answer is 409.
    pub async fn answer_survey(
        &self,
        caller: &Caller,
        id: &str,
        monitored: i64,
        helped: i64,
        comment: Option<&str>,
    ) -> Result<()> {
        let id = SurveyId::parse("id", id).map_err(|_| ServiceError::NotFound("survey"))?;
        let survey = self
            .storage()
            .survey(caller.org_id(), id)
            .await?
            .ok_or(ServiceError::NotFound("survey"))?;
        if !(survey.scope.is_empty() || survey.scope.contains(&caller.member.department_id)) {
            return Err(ServiceError::NotFound("survey"));
        }
        if survey.closes_at.is_some_and(|c| c <= self.clock().now()) {
            return Err(ServiceError::Conflict("this survey is closed".into()));
        }
        for (field, v) in [("monitored", monitored), ("helped", helped)] {
            if !(1..=5).contains(&v) {
                return Err(ServiceError::invalid(
                    field,
                    format!("`{field}` must be a score from 1 to 5"),
                ));
            }
        }
        let comment = match comment.map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => Some(text::bounded("comment", c, 1, 2000, true)?),
            None => None,
        };
        self.storage()
            .answer_survey(
                id,
                caller.id(),
                SurveyAnswer {
                    department_id: caller.member.department_id,
                    monitored,
                    helped,
                    comment,
                },
            )
            .await?;
        Ok(())
    }

    /// A survey's results (admins and auditors), shown only with enough answers.
    pub async fn survey_results(&self, caller: &Caller, id: &str) -> Result<SurveyResults> {
        if !matches!(caller.member.role, Role::Admin | Role::Auditor) {
            return Err(ServiceError::Forbidden(
                "only admins and auditors may read survey results".into(),
            ));
        }
        let id = SurveyId::parse("id", id).map_err(|_| ServiceError::NotFound("survey"))?;
        let survey = self
            .storage()
            .survey(caller.org_id(), id)
            .await?
            .ok_or(ServiceError::NotFound("survey"))?;
        let answers = self.storage().survey_answers(id).await?;
        let org = self.org(caller.org_id()).await?;
        let k = org.settings.min_group_size;
        let n = answers.len() as u64;
        let closed = survey.closes_at.is_some_and(|c| c <= self.clock().now());
        let suppressed = !survey_publishable(closed, n, k);
        let mut results = SurveyResults {
            survey,
            answers: n,
            suppressed,
            monitored: [0; 5],
            helped: [0; 5],
            comments: vec![],
            by_department: vec![],
        };
        if suppressed {
            return Ok(results);
        }
        let names: HashMap<DepartmentId, String> = self
            .storage()
            .departments(caller.org_id())
            .await?
            .into_iter()
            .map(|d| (d.id, d.name))
            .collect();
        let mut per: BTreeMap<DepartmentId, (u64, i64, i64)> = BTreeMap::new();
        for a in &answers {
            results.monitored[(a.monitored - 1) as usize] += 1;
            results.helped[(a.helped - 1) as usize] += 1;
            if let Some(c) = &a.comment {
                results.comments.push(c.clone());
            }
            let e = per.entry(a.department_id).or_default();
            e.0 += 1;
            e.1 += a.monitored;
            e.2 += a.helped;
        }
        results.comments.sort();
        // The overall figures are shown, so the departments left out together must be
        // empty or at least k answers too (complementary suppression).
        let sizes: Vec<i64> = per.values().map(|(count, _, _)| *count as i64).collect();
        let show = groups_to_show(&sizes, k);
        results.by_department = per
            .into_iter()
            .zip(show)
            .filter_map(|(line, shown)| shown.then_some(line))
            .map(|(d, (count, m, h))| {
                (
                    d,
                    names.get(&d).cloned().unwrap_or_default(),
                    count,
                    m as f64 / count as f64,
                    h as f64 / count as f64,
                )
            })
            .collect();
        Ok(results)
    }
}

fn period(
    app: &App,
    from_field: &str,
    from: Option<&str>,
    to_field: &str,
    to: Option<&str>,
) -> Result<(Timestamp, Timestamp)> {
    let now = app.clock().now();
    let to = match to.filter(|s| !s.is_empty()) {
        Some(t) => parse_timestamp(to_field, t)?,
        None => now + SignedDuration::from_secs(1),
    };
    let from = match from.filter(|s| !s.is_empty()) {
        Some(f) => parse_timestamp(from_field, f)?,
        None => to - SignedDuration::from_hours(24 * 90),
    };
    if from >= to {
        return Err(ServiceError::invalid(
            to_field,
            format!("`{to_field}` must be after `{from_field}`"),
        ));
    }
    Ok((from, to))
}

/// Histogram helpers re-exported for callers that chart delays.
pub fn median(h: &Histogram) -> Option<f64> {
    h.quantile(0.5)
}
