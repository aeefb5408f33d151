//! Settings and policy, audit, export, analytics and pulse surveys.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use readtrack_domain::reminder::ReminderPlanInput;
use readtrack_domain::rights::{Grant, GrantInput, SendingRights, SendingRightsInput};
use readtrack_domain::settings::{format_time_of_day, weekday_number};
use readtrack_protocol::messages::ReminderPlanBody;
use readtrack_protocol::privacy::*;
use readtrack_protocol::{ErrorBody, Page};
use readtrack_service::privacy::{PeriodFigures, SettingsPatch};
use readtrack_service::records::{OrgRecord, Page as StoragePage, SurveyRecord};
use serde::Deserialize;

use crate::convert::{self, time, time_opt};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, Auth, PageParams};
use crate::state::ServerState;

fn settings_body(org: &OrgRecord) -> OrgSettingsBody {
    // The record arrives behind an Arc from the service's cache.
    let s = &org.settings;
    OrgSettingsBody {
        org_name: org.name.clone(),
        time_zone: s.time_zone.name().to_string(),
        working_hours: WorkingHoursBody {
            days: s
                .working_hours
                .days
                .iter()
                .map(|d| i64::from(weekday_number(*d)))
                .collect(),
            start: format_time_of_day(s.working_hours.start),
            end: format_time_of_day(s.working_hours.end),
        },
        quiet_hours: QuietHoursBody {
            start: format_time_of_day(s.quiet_hours.start),
            end: format_time_of_day(s.quiet_hours.end),
            reads: Some(s.quiet_hours.reads.as_str().to_string()),
        },
        per_person_tracking_for: s
            .per_person_tracking_for
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
        retention_days: i64::from(s.retention_days),
        min_group_size: i64::from(s.min_group_size),
        policy: PolicyBody {
            version: s.policy_version,
            text: s.policy_text.clone(),
            translations: Some(s.policy_translations.clone()),
        },
        pilot: s.pilot.as_ref().map(|p| PilotBody {
            departments: p.roots.iter().map(|d| d.to_string()).collect(),
        }),
        default_reminders: DefaultRemindersBody {
            important: Some(s.default_reminders_important.as_ref().map(convert::plan)),
            urgent: Some(s.default_reminders_urgent.as_ref().map(convert::plan)),
        },
        sending_rights: rights_body(&s.sending_rights),
    }
}

fn grant_body(g: &Grant) -> GrantBody {
    GrantBody {
        reach: g.reach.as_str().into(),
        max_priority: g.max_priority.as_str().into(),
        max_tracking: g.max_tracking.as_str().into(),
    }
}

fn rights_body(r: &SendingRights) -> SendingRightsBody {
    SendingRightsBody {
        staff: grant_body(&r.staff),
        managers: grant_body(&r.managers),
        departments: r
            .departments
            .iter()
            .map(|d| DepartmentGrantBody {
                department_id: d.department.to_string(),
                reach: d.grant.reach.as_str().into(),
                max_priority: d.grant.max_priority.as_str().into(),
                max_tracking: d.grant.max_tracking.as_str().into(),
            })
            .collect(),
        emergency_senders: r.emergency_senders.iter().map(|m| m.to_string()).collect(),
    }
}

fn rights_input(r: SendingRightsBody) -> SendingRightsInput {
    let grant = |g: GrantBody| GrantInput {
        reach: g.reach,
        max_priority: g.max_priority,
        max_tracking: g.max_tracking,
    };
    SendingRightsInput {
        staff: grant(r.staff),
        managers: grant(r.managers),
        departments: r
            .departments
            .into_iter()
            .map(|d| {
                (
                    d.department_id,
                    GrantInput {
                        reach: d.reach,
                        max_priority: d.max_priority,
                        max_tracking: d.max_tracking,
                    },
                )
            })
            .collect(),
        emergency_senders: r.emergency_senders,
    }
}

fn plan_input(p: &ReminderPlanBody) -> ReminderPlanInput {
    ReminderPlanInput {
        remind_after_minutes: p.remind_after_minutes,
        remind_every_minutes: p.remind_every_minutes,
        max_reminders: p.max_reminders,
        escalate_after_minutes: p.escalate_after_minutes,
        escalate_to: p.escalate_to.clone(),
        create_task: p.create_task,
    }
}

/// The organisation's rules: every member may read them.
#[utoipa::path(get, path = "/api/v1/org/settings", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, body = OrgSettingsBody), (status = 401, body = ErrorBody)))]
pub async fn get_settings(
    State(s): State<ServerState>,
    Auth(caller): Auth,
) -> ApiResult<Json<OrgSettingsBody>> {
    Ok(Json(settings_body(s.app.settings(&caller).await?.as_ref())))
}

/// Changes the rules (admin). A new policy text becomes a new version; members are then
/// shown individually only after acknowledging it. Every change is audited.
#[utoipa::path(patch, path = "/api/v1/org/settings", tag = "privacy", request_body = OrgSettingsPatch, security(("bearer" = [])),
    responses((status = 200, body = OrgSettingsBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn patch_settings(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiJson(req): ApiJson<OrgSettingsPatch>,
) -> ApiResult<Json<OrgSettingsBody>> {
    let patch = SettingsPatch {
        time_zone: req.time_zone,
        working_hours: req.working_hours.map(|w| (w.days, w.start, w.end)),
        quiet_hours: req.quiet_hours.map(|q| (q.start, q.end, q.reads)),
        per_person_tracking_for: req.per_person_tracking_for,
        retention_days: req.retention_days,
        min_group_size: req.min_group_size,
        policy_translations: req.policy.as_ref().and_then(|p| p.translations.clone()),
        policy_text: req.policy.map(|p| p.text),
        pilot_departments: req.pilot.map(|p| p.map(|p| p.departments)),
        default_reminders: req.default_reminders.map(|d| {
            (
                d.important.map(|p| p.as_ref().map(plan_input)),
                d.urgent.map(|p| p.as_ref().map(plan_input)),
            )
        }),
        sending_rights: req.sending_rights.map(rights_input),
    };
    Ok(Json(settings_body(
        s.app.update_settings(&caller, patch).await?.as_ref(),
    )))
}

/// The current communication policy and whether the caller acknowledged it.
#[utoipa::path(get, path = "/api/v1/policy", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, body = PolicyView), (status = 401, body = ErrorBody)))]
pub async fn get_policy(
    State(s): State<ServerState>,
    Auth(caller): Auth,
) -> ApiResult<Json<PolicyView>> {
    let org = s.app.settings(&caller).await?;
    Ok(Json(PolicyView {
        version: org.settings.policy_version,
        text: org.settings.policy_text.clone(),
        translations: org.settings.policy_translations.clone(),
        acknowledged_version: caller.member.policy_ack_version,
    }))
}

/// Everything recorded about the caller, including who viewed their per-person data.
#[utoipa::path(get, path = "/api/v1/me/export", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, body = MyExport), (status = 401, body = ErrorBody)))]
pub async fn export_me(State(s): State<ServerState>, Auth(caller): Auth) -> ApiResult<Response> {
    let e = s.app.export_me(&caller).await?;
    let body = MyExport {
        member: convert::member_seen_by(&e.member, &caller),
        policy_acknowledged_version: e.member.policy_ack_version,
        policy_acknowledged_at: time_opt(e.policy_acked_at),
        receipts: e
            .receipts
            .iter()
            .map(|r| {
                let rec = &r.receipt;
                ExportedReceipt {
                    message_id: rec.message_id.to_string(),
                    title: r.title.clone(),
                    sender_name: r.sender_name.clone(),
                    tracking: r.tracking.as_str().to_string(),
                    sent_at: time(r.sent_at),
                    state: rec.state().as_str().to_string(),
                    delivered_at: time_opt(rec.times.delivered_at),
                    read_at: time_opt(rec.times.read_at),
                    read_recorded_at: time_opt(rec.read_recorded_at),
                    acked_at: time_opt(rec.times.acked_at),
                    response: rec.times.response.clone(),
                    read_in_quiet_hours: rec.read_quiet,
                    reminders: rec.reminders,
                    last_reminded_at: time_opt(rec.last_reminded_at),
                    escalated_at: time_opt(rec.escalated_at),
                }
            })
            .collect(),
        escalations: e
            .escalations
            .iter()
            .map(|x| ExportedEscalation {
                message_id: x.message_id.to_string(),
                title: x.title.clone(),
                told_member_id: x.to_member_id.to_string(),
                told_name: x.to_name.clone(),
                role: x.role.clone(),
                at: time(x.at),
            })
            .collect(),
        emails: e
            .emails
            .iter()
            .map(|m| readtrack_protocol::privacy::ExportedEmail {
                message_id: m.message.to_string(),
                channel: m.channel.clone(),
                reason: m.reason.clone(),
                queued_at: time(m.queued_at),
                sent_at: time_opt(m.sent_at),
                skipped_at: time_opt(m.skipped_at),
                failed_at: time_opt(m.failed_at),
                answer: m.answer.clone(),
                opened_at: time_opt(m.opened_at),
            })
            .collect(),
        tasks: e.tasks.iter().map(crate::api::tasks::task).collect(),
        viewed_by: e.views.iter().map(audit_entry).collect(),
        exported_at: time(s.app.clock().now()),
    };
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            "inline; filename=\"readtrack-my-data.json\"",
        )],
        Json(body),
    )
        .into_response())
}

fn audit_entry(a: &readtrack_service::records::AuditRecord) -> AuditEntry {
    AuditEntry {
        at: time(a.at),
        actor_id: a.actor_id.map(|m| m.to_string()),
        actor_name: a.actor_name.clone(),
        action: a.action.clone(),
        subject: a.subject.clone(),
    }
}

/// The audit log, newest first (admins and auditors).
#[utoipa::path(get, path = "/api/v1/audit", tag = "privacy", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = Page<AuditEntry>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn audit_log(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    let limit = p.limit()?;
    let mut rows = s
        .app
        .audit_log(
            &caller,
            StoragePage {
                limit: limit + 1,
                after: p.id_cursor()?,
            },
        )
        .await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
    Ok(Json(Page {
        items: rows.iter().map(audit_entry).collect(),
        next_cursor,
    }))
}

/// Analytics period.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// Start (RFC 3339); default 90 days before `to`.
    pub from: Option<String>,
    /// End (RFC 3339); default now.
    pub to: Option<String>,
}

fn round(x: Option<f64>, places: i32) -> Option<f64> {
    let f = 10f64.powi(places);
    x.map(|v| (v * f).round() / f)
}

/// Per-department read figures (admins, auditors; managers for their department subtree).
/// Groups under the minimum group size are `suppressed` with no figures.
/// `Accept: text/csv` gives CSV.
#[utoipa::path(get, path = "/api/v1/analytics/departments", tag = "analytics", security(("bearer" = [])), params(PeriodQuery),
    responses((status = 200, body = Page<DepartmentAnalytics>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn departments(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> ApiResult<Response> {
    let figures = s
        .app
        .department_analytics(&caller, q.from.as_deref(), q.to.as_deref())
        .await?;
    let items: Vec<DepartmentAnalytics> = figures
        .iter()
        .map(|f| {
            let shown = |v: Option<f64>| if f.suppressed { None } else { v };
            DepartmentAnalytics {
                department_id: f.department_id.to_string(),
                name: f.name.clone(),
                messages: (!f.suppressed).then_some(f.messages),
                recipients: (!f.suppressed).then_some(f.recipients),
                read_rate: shown(round(f.stats.read_rate(), 4)),
                ack_rate: shown(round(f.stats.ack_rate(), 4)),
                p50_time_to_read_secs: shown(round(f.stats.read_delays.quantile(0.5), 1)),
                p90_time_to_read_secs: shown(round(f.stats.read_delays.quantile(0.9), 1)),
                reminders: (!f.suppressed).then_some(f.stats.reminders),
                escalations: (!f.suppressed).then_some(f.stats.escalations),
                suppressed: f.suppressed,
            }
        })
        .collect();
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        let mut w = crate::csv_out::SpreadsheetCsv::new();
        w.record([
            "department_id",
            "name",
            "messages",
            "recipients",
            "read_rate",
            "ack_rate",
            "p50_time_to_read_secs",
            "p90_time_to_read_secs",
            "reminders",
            "escalations",
            "suppressed",
        ])?;
        let opt = |v: Option<String>| v.unwrap_or_default();
        for i in &items {
            w.record([
                i.department_id.clone(),
                i.name.clone(),
                opt(i.messages.map(|v| v.to_string())),
                opt(i.recipients.map(|v| v.to_string())),
                opt(i.read_rate.map(|v| v.to_string())),
                opt(i.ack_rate.map(|v| v.to_string())),
                opt(i.p50_time_to_read_secs.map(|v| v.to_string())),
                opt(i.p90_time_to_read_secs.map(|v| v.to_string())),
                opt(i.reminders.map(|v| v.to_string())),
                opt(i.escalations.map(|v| v.to_string())),
                i.suppressed.to_string(),
            ])?;
        }
        let body = w.into_bytes()?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    Ok(Json(Page {
        items,
        next_cursor: None,
    })
    .into_response())
}

/// Periods to compare.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompareQuery {
    /// Start of the earlier period.
    pub before_from: Option<String>,
    /// End of the earlier period.
    pub before_to: Option<String>,
    /// Start of the later period.
    pub after_from: Option<String>,
    /// End of the later period.
    pub after_to: Option<String>,
}

fn period_body(p: &PeriodFigures) -> PeriodAnalytics {
    PeriodAnalytics {
        from: time(p.from),
        to: time(p.to),
        messages: p.messages,
        suppressed: p.suppressed,
        median_time_to_read_secs: round(p.median_time_to_read_secs, 1),
        median_time_to_ack_secs: round(p.median_time_to_ack_secs, 1),
        reminders_per_message: round(p.reminders_per_message, 3),
        unread_at_deadline_rate: round(p.unread_at_deadline_rate, 4),
    }
}

/// Before against after: how a pilot changed time to read and to acknowledge, reminders
/// per notice and unread-at-deadline.
#[utoipa::path(get, path = "/api/v1/analytics/compare", tag = "analytics", security(("bearer" = [])), params(CompareQuery),
    responses((status = 200, body = Comparison), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn compare(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<CompareQuery>,
) -> ApiResult<Json<Comparison>> {
    let (b, a) = s
        .app
        .compare_periods(
            &caller,
            (q.before_from.as_deref(), q.before_to.as_deref()),
            (q.after_from.as_deref(), q.after_to.as_deref()),
        )
        .await?;
    let (before, after) = (period_body(&b), period_body(&a));
    let diff = |x: Option<f64>, y: Option<f64>, places| round(x.zip(y).map(|(x, y)| y - x), places);
    let change = PeriodChange {
        median_time_to_read_secs: diff(
            before.median_time_to_read_secs,
            after.median_time_to_read_secs,
            1,
        ),
        median_time_to_ack_secs: diff(
            before.median_time_to_ack_secs,
            after.median_time_to_ack_secs,
            1,
        ),
        reminders_per_message: diff(before.reminders_per_message, after.reminders_per_message, 3),
        unread_at_deadline_rate: diff(
            before.unread_at_deadline_rate,
            after.unread_at_deadline_rate,
            4,
        ),
    };
    Ok(Json(Comparison {
        before,
        after,
        change,
    }))
}

const QUESTIONS: [&str; 3] = [
    "Do you feel monitored? (1 = not at all, 5 = very)",
    "Has read tracking helped you? (1 = not at all, 5 = a lot)",
    "Anything else? (optional)",
];

fn survey_body(s: &SurveyRecord, answered: Option<bool>) -> Survey {
    Survey {
        id: s.id.to_string(),
        title: s.title.clone(),
        questions: QUESTIONS.iter().map(|q| q.to_string()).collect(),
        departments: s.scope.iter().map(|d| d.to_string()).collect(),
        created_at: time(s.created_at),
        closes_at: time_opt(s.closes_at),
        answered,
    }
}

/// Opens an anonymous pulse survey (admin).
#[utoipa::path(post, path = "/api/v1/surveys", tag = "privacy", request_body = CreateSurvey, security(("bearer" = [])),
    responses((status = 201, body = Survey), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_survey(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiJson(req): ApiJson<CreateSurvey>,
) -> ApiResult<(StatusCode, Json<Survey>)> {
    let survey = s
        .app
        .create_survey(
            &caller,
            req.title.as_deref(),
            &req.departments,
            req.closes_at.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(survey_body(&survey, None))))
}

/// Surveys open to the caller.
#[utoipa::path(get, path = "/api/v1/surveys", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, body = Page<Survey>), (status = 401, body = ErrorBody)))]
pub async fn my_surveys(
    State(s): State<ServerState>,
    Auth(caller): Auth,
) -> ApiResult<Json<Page<Survey>>> {
    let items = s
        .app
        .my_surveys(&caller)
        .await?
        .iter()
        .map(|(s, a)| survey_body(s, Some(*a)))
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

/// Answers a survey, once; the answer is stored without any link to the caller.
#[utoipa::path(post, path = "/api/v1/surveys/{id}/answers", tag = "privacy", request_body = SurveyAnswerBody, security(("bearer" = [])),
    params(("id" = String, Path, description = "Survey id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn answer_survey(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SurveyAnswerBody>,
) -> ApiResult<StatusCode> {
    s.app
        .answer_survey(
            &caller,
            &id,
            req.monitored,
            req.helped,
            req.comment.as_deref(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Closes a survey now (admin): it takes no more answers, and its results may be shown.
#[utoipa::path(post, path = "/api/v1/surveys/{id}/close", tag = "privacy", security(("bearer" = [])),
    params(("id" = String, Path, description = "Survey id")),
    responses((status = 200, body = Survey), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn close_survey(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Survey>> {
    let survey = s.app.close_survey(&caller, &id).await?;
    Ok(Json(survey_body(&survey, None)))
}

/// A survey's results (admins, auditors): only once it is closed, with at least the
/// minimum group size of answers, and per department only where no small remainder is
/// left.
#[utoipa::path(get, path = "/api/v1/surveys/{id}/results", tag = "privacy", security(("bearer" = [])),
    params(("id" = String, Path, description = "Survey id")),
    responses((status = 200, body = SurveyResultsBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn survey_results(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<SurveyResultsBody>> {
    let r = s.app.survey_results(&caller, &id).await?;
    let shown = !r.suppressed;
    Ok(Json(SurveyResultsBody {
        survey: survey_body(&r.survey, None),
        answers: r.answers,
        suppressed: r.suppressed,
        monitored: shown.then(|| r.monitored.to_vec()),
        helped: shown.then(|| r.helped.to_vec()),
        comments: shown.then(|| r.comments.clone()),
        by_department: shown.then(|| {
            r.by_department
                .iter()
                .map(|(d, name, n, m, h)| SurveyDepartment {
                    department_id: d.to_string(),
                    name: name.clone(),
                    answers: *n,
                    monitored_mean: (m * 100.0).round() / 100.0,
                    helped_mean: (h * 100.0).round() / 100.0,
                })
                .collect()
        }),
    }))
}
