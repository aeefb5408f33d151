//! Pulse surveys ("do you feel monitored?"): administrators open one and read its
//! results once enough people answered; members answer anonymously, once.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use readtrack_domain::member::Role;
use readtrack_service::ServiceError;
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::ServerState;
use crate::web::chrome::{Chrome, error_page, render};
use crate::web::compose::{DeptOption, tree_order};
use crate::web::format::{self, ShownTime};
use crate::web::i18n::Tr;
use crate::web::session::{Viewer, percent_encode};

/// How many answers gave one score, for a result bar.
#[derive(Debug, Clone)]
pub struct ScoreBar {
    /// The score, 1 to 5.
    pub score: usize,
    /// Answers with it.
    pub count: u64,
    /// Share of all answers, in whole percent.
    pub percent: u64,
}

/// One department's averages (only departments with enough answers).
#[derive(Debug, Clone)]
pub struct DeptMeans {
    /// Name.
    pub name: String,
    /// Answers.
    pub answers: u64,
    /// Mean "monitored", one decimal.
    pub monitored: String,
    /// Mean "helped", one decimal.
    pub helped: String,
}

/// A survey as the administrators' page shows it.
#[derive(Debug, Clone)]
pub struct SurveyCard {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Opened.
    pub opened: ShownTime,
    /// Closes, when it does.
    pub closes: Option<ShownTime>,
    /// Closed already.
    pub closed: bool,
    /// Who it asks: department names, empty for everyone.
    pub scope: Vec<String>,
    /// Answers so far.
    pub answers: u64,
    /// Too few answers to show anything.
    pub suppressed: bool,
    /// "Do you feel monitored?" per score.
    pub monitored: Vec<ScoreBar>,
    /// "Has read tracking helped you?" per score.
    pub helped: Vec<ScoreBar>,
    /// Free-text comments.
    pub comments: Vec<String>,
    /// Per department.
    pub by_department: Vec<DeptMeans>,
}

#[derive(Template)]
#[template(path = "surveys_admin.html")]
struct SurveysAdminPage {
    ctx: Chrome,
    t: &'static Tr,
    tab: &'static str,
    k: u32,
    surveys: Vec<SurveyCard>,
    departments: Vec<DeptOption>,
    title: String,
    closes_at: String,
    notice: Option<&'static str>,
    error: Option<String>,
}

fn bars(counts: &[u64; 5]) -> Vec<ScoreBar> {
    let total: u64 = counts.iter().sum();
    counts
        .iter()
        .enumerate()
        .map(|(i, &count)| ScoreBar {
            score: i + 1,
            count,
            percent: (count * 100 + total / 2).checked_div(total).unwrap_or(0),
        })
        .collect()
}

/// `?opened=1` after opening a survey.
#[derive(Debug, Deserialize)]
pub struct AdminQuery {
    /// Set after a survey was opened.
    pub opened: Option<String>,
}

struct FormValues {
    title: String,
    closes_at: String,
    departments: Vec<String>,
}

async fn admin_page(
    s: &ServerState,
    v: &Viewer,
    values: FormValues,
    notice: bool,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    if v.caller.member.role != Role::Admin {
        return error_page(
            v.lang,
            ServiceError::Forbidden("only admins open and read surveys here".into()).into(),
        );
    }
    let t = v.t();
    let departments = match s.app.departments(&v.caller).await {
        Ok(d) => d,
        Err(e) => return error_page(v.lang, e.into()),
    };
    // Every survey of the organisation, closed ones too: the service's own list is of
    // those open to the caller. The role was checked above.
    let records = match s.app.all_surveys(&v.caller).await {
        Ok(r) => r,
        Err(e) => return error_page(v.lang, e.into()),
    };
    let now = s.app.clock().now();
    let name_of = |id: readtrack_domain::ids::DepartmentId| {
        departments
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.name.clone())
            .unwrap_or_default()
    };
    let mut surveys = Vec::with_capacity(records.len());
    for r in records {
        let results = match s.app.survey_results(&v.caller, &r.id.to_string()).await {
            Ok(x) => x,
            Err(e) => return error_page(v.lang, e.into()),
        };
        // The stored scope lists every department below the ones chosen; naming the
        // topmost ones is enough to say who was asked.
        let scope_set: std::collections::HashSet<_> = r.scope.iter().copied().collect();
        let scope = departments
            .iter()
            .filter(|d| scope_set.contains(&d.id))
            .filter(|d| d.parent_id.is_none_or(|p| !scope_set.contains(&p)))
            .map(|d| d.name.clone())
            .collect();
        surveys.push(SurveyCard {
            id: r.id.to_string(),
            title: r.title.clone(),
            opened: format::minutes(r.created_at, &v.zone),
            closes: r.closes_at.map(|c| format::minutes(c, &v.zone)),
            closed: r.closes_at.is_some_and(|c| c <= now),
            scope,
            answers: results.answers,
            suppressed: results.suppressed,
            monitored: bars(&results.monitored),
            helped: bars(&results.helped),
            comments: results.comments.clone(),
            by_department: results
                .by_department
                .iter()
                .map(|(d, name, n, m, h)| DeptMeans {
                    name: if name.is_empty() {
                        name_of(*d)
                    } else {
                        name.clone()
                    },
                    answers: *n,
                    monitored: format!("{m:.1}"),
                    helped: format!("{h:.1}"),
                })
                .collect(),
        });
    }
    let page = SurveysAdminPage {
        ctx: Chrome::for_viewer(v, "/admin/settings"),
        t,
        tab: "surveys",
        k: v.org.settings.min_group_size,
        surveys,
        departments: tree_order(&departments)
            .into_iter()
            .map(|(d, depth)| DeptOption {
                checked: values.departments.contains(&d.id.to_string()),
                id: d.id.to_string(),
                name: d.name,
                depth: depth.min(6),
            })
            .collect(),
        title: values.title,
        closes_at: values.closes_at,
        notice: notice.then_some(t.survey_opened),
        error,
    };
    render(status, &page)
}

/// `GET /admin/surveys`.
pub async fn admin(
    State(s): State<ServerState>,
    v: Viewer,
    Query(q): Query<AdminQuery>,
) -> Response {
    let values = FormValues {
        title: v.t().survey_default_title.to_string(),
        closes_at: String::new(),
        departments: Vec::new(),
    };
    admin_page(&s, &v, values, q.opened.is_some(), None, StatusCode::OK).await
}

/// `POST /admin/surveys`: opens a survey.
pub async fn open(
    State(s): State<ServerState>,
    v: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let mut values = FormValues {
        title: String::new(),
        closes_at: String::new(),
        departments: Vec::new(),
    };
    let mut csrf = String::new();
    for (k, val) in pairs {
        match k.as_str() {
            "title" => values.title = val,
            "closes_at" => values.closes_at = val,
            "department" if !val.is_empty() => values.departments.push(val),
            "_csrf" => csrf = val,
            _ => {}
        }
    }
    if !v.csrf_ok(&csrf) {
        let msg = v.t().form_expired.to_string();
        return admin_page(&s, &v, values, false, Some(msg), StatusCode::FORBIDDEN).await;
    }
    let closes_at = match values.closes_at.trim() {
        "" => None,
        raw => match format::parse_local_input(raw, &v.zone) {
            Some(at) => Some(at.to_string()),
            None => {
                let msg = v.t().bad_date_time.to_string();
                return admin_page(&s, &v, values, false, Some(msg), StatusCode::BAD_REQUEST).await;
            }
        },
    };
    match s
        .app
        .create_survey(
            &v.caller,
            Some(values.title.as_str()),
            &values.departments,
            closes_at.as_deref(),
        )
        .await
    {
        Ok(_) => Redirect::to("/admin/surveys?opened=1").into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN {
                admin_page(&s, &v, values, false, Some(e.message), e.status).await
            } else {
                error_page(v.lang, e)
            }
        }
    }
}

/// The form of the close button.
#[derive(Debug, Deserialize)]
pub struct CloseForm {
    /// The session's CSRF token.
    #[serde(rename = "_csrf", default)]
    pub csrf: String,
}

/// `POST /admin/surveys/{id}/close`: closes a survey now, so its results may show.
pub async fn close(
    State(s): State<ServerState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(form): Form<CloseForm>,
) -> Response {
    let values = FormValues {
        title: v.t().survey_default_title.to_string(),
        closes_at: String::new(),
        departments: Vec::new(),
    };
    if !v.csrf_ok(&form.csrf) {
        let msg = v.t().form_expired.to_string();
        return admin_page(&s, &v, values, false, Some(msg), StatusCode::FORBIDDEN).await;
    }
    match s.app.close_survey(&v.caller, &id).await {
        Ok(_) => Redirect::to("/admin/surveys").into_response(),
        Err(e) => error_page(v.lang, e.into()),
    }
}

#[derive(Template)]
#[template(path = "survey.html")]
struct SurveyPage {
    ctx: Chrome,
    t: &'static Tr,
    id: String,
    title: String,
    answered: bool,
    thanks: bool,
    monitored: String,
    helped: String,
    comment: String,
    error: Option<String>,
    /// Another survey still waiting for the viewer, after this one is answered.
    next: Option<String>,
}

/// `?thanks=1` after answering.
#[derive(Debug, Deserialize)]
pub struct SurveyQuery {
    /// Set after the answer was recorded.
    pub thanks: Option<String>,
}

struct Answer {
    monitored: String,
    helped: String,
    comment: String,
}

async fn survey_page(
    s: &ServerState,
    v: &Viewer,
    id: &str,
    answer: Answer,
    thanks: bool,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let surveys = match s.app.my_surveys(&v.caller).await {
        Ok(list) => list,
        Err(e) => return error_page(v.lang, e.into()),
    };
    let Some((survey, answered)) = surveys.iter().find(|(x, _)| x.id.to_string() == id) else {
        return error_page(v.lang, ApiError::not_found("survey"));
    };
    let page = SurveyPage {
        ctx: Chrome::for_viewer(v, &format!("/surveys/{id}")),
        t: v.t(),
        id: survey.id.to_string(),
        title: survey.title.clone(),
        answered: *answered,
        thanks,
        monitored: answer.monitored,
        helped: answer.helped,
        comment: answer.comment,
        error,
        next: surveys
            .iter()
            .find(|(x, answered)| !answered && x.id != survey.id)
            .map(|(x, _)| format!("/surveys/{}", x.id)),
    };
    render(status, &page)
}

/// `GET /surveys/{id}`.
pub async fn survey(
    State(s): State<ServerState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<SurveyQuery>,
) -> Response {
    let empty = Answer {
        monitored: String::new(),
        helped: String::new(),
        comment: String::new(),
    };
    survey_page(&s, &v, &id, empty, q.thanks.is_some(), None, StatusCode::OK).await
}

/// The answer form.
#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    monitored: String,
    #[serde(default)]
    helped: String,
    #[serde(default)]
    comment: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /surveys/{id}`: records the viewer's anonymous answer, once.
pub async fn answer(
    State(s): State<ServerState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<AnswerForm>,
) -> Response {
    let answer = Answer {
        monitored: f.monitored.clone(),
        helped: f.helped.clone(),
        comment: f.comment.clone(),
    };
    if !v.csrf_ok(&f.csrf) {
        let msg = v.t().form_expired.to_string();
        return survey_page(&s, &v, &id, answer, false, Some(msg), StatusCode::FORBIDDEN).await;
    }
    // A missing choice is 0, which the service refuses by name like any other score.
    let score = |raw: &str| raw.trim().parse::<i64>().unwrap_or(0);
    match s
        .app
        .answer_survey(
            &v.caller,
            &id,
            score(&f.monitored),
            score(&f.helped),
            Some(f.comment.as_str()),
        )
        .await
    {
        Ok(()) => {
            Redirect::to(&format!("/surveys/{}?thanks=1", percent_encode(&id))).into_response()
        }
        Err(ServiceError::Conflict(_)) => {
            let msg = v.t().survey_already_answered.to_string();
            survey_page(&s, &v, &id, answer, false, Some(msg), StatusCode::CONFLICT).await
        }
        Err(ServiceError::Invalid(field)) => {
            // A score out of range means a choice was left out; a comment problem is
            // told as the service words it.
            let msg = if field.field == "comment" {
                field.message
            } else {
                v.t().survey_pick_scores.to_string()
            };
            survey_page(
                &s,
                &v,
                &id,
                answer,
                false,
                Some(msg),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => error_page(v.lang, e.into()),
    }
}
