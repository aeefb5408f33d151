//! Composing a notice: the form, its Markdown preview, and sending.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use readtrack_domain::audience::AudienceInput;
use readtrack_domain::department::Department;
use readtrack_domain::message::{NewMessageInput, Priority, Tracking};
use readtrack_domain::reminder::ReminderPlanInput;
use readtrack_domain::rights::Reach;
use readtrack_service::rights::MaySend;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Auth};
use crate::state::ServerState;
use crate::web::chrome::{Chrome, error_page, render};
use crate::web::format;
use crate::web::i18n::Tr;
use crate::web::markdown;
use crate::web::session::Viewer;

/// A department in the picker, flattened in tree order.
#[derive(Debug, Clone)]
pub struct DeptOption {
    /// Id.
    pub id: String,
    /// Own name.
    pub name: String,
    /// Nesting depth (0 at the top), capped for styling.
    pub depth: usize,
    /// Ticked.
    pub checked: bool,
}

/// The department tree in display order: each department followed by its children,
/// siblings by name.
pub fn tree_order(departments: &[Department]) -> Vec<(Department, usize)> {
    let mut children: HashMap<Option<i64>, Vec<&Department>> = HashMap::new();
    for d in departments {
        children
            .entry(d.parent_id.map(|p| p.0))
            .or_default()
            .push(d);
    }
    for kids in children.values_mut() {
        kids.sort_by_key(|d| d.name.to_lowercase());
    }
    let mut out = Vec::with_capacity(departments.len());
    let mut stack: Vec<(&Department, usize)> = children
        .get(&None)
        .map(|k| k.iter().rev().map(|d| (*d, 0)).collect())
        .unwrap_or_default();
    while let Some((d, depth)) = stack.pop() {
        out.push((d.clone(), depth));
        if out.len() > departments.len() {
            break; // a cycle storage never makes: stop rather than loop
        }
        if let Some(kids) = children.get(&Some(d.id.0)) {
            stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
        }
    }
    out
}

/// A person already picked.
#[derive(Debug, Clone)]
pub struct PickedMember {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// What the form holds (empty for a new notice, the sender's input after a refusal).
#[derive(Debug, Clone, Default)]
pub struct ComposeValues {
    title: String,
    body: String,
    priority: String,
    tracking: String,
    require_ack: bool,
    response_options: String,
    plan: String,
    remind_after: String,
    remind_every: String,
    max_reminders: String,
    escalate_after: String,
    escalate_manager: bool,
    escalate_backup: bool,
    create_task: bool,
    deadline: String,
    departments: Vec<String>,
    members: Vec<String>,
    csrf: String,
}

impl ComposeValues {
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut v = ComposeValues::default();
        for (k, val) in pairs {
            match k.as_str() {
                "title" => v.title = val,
                "body" => v.body = val,
                "priority" => v.priority = val,
                "tracking" => v.tracking = val,
                "require_ack" => v.require_ack = true,
                "response_options" => v.response_options = val,
                "plan" => v.plan = val,
                "remind_after" => v.remind_after = val,
                "remind_every" => v.remind_every = val,
                "max_reminders" => v.max_reminders = val,
                "escalate_after" => v.escalate_after = val,
                "escalate_manager" => v.escalate_manager = true,
                "escalate_backup" => v.escalate_backup = true,
                "create_task" => v.create_task = true,
                "deadline" => v.deadline = val,
                "department" if !val.is_empty() => v.departments.push(val),
                "member" if !val.is_empty() => v.members.push(val),
                "_csrf" => v.csrf = val,
                _ => {}
            }
        }
        v
    }
}

/// One choice of a select.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The submitted value.
    pub value: &'static str,
    /// What the sender reads.
    pub label: &'static str,
    /// Chosen now.
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "compose.html")]
struct ComposePage {
    ctx: Chrome,
    t: &'static Tr,
    v: ComposeValues,
    /// The sending rights let the viewer send something; otherwise the page says so.
    may_send: bool,
    /// Only the priorities and tracking levels the viewer may use.
    priorities: Vec<Choice>,
    trackings: Vec<Choice>,
    departments: Vec<DeptOption>,
    picked: Vec<PickedMember>,
    error: Option<String>,
    preview_html: String,
}

/// The priorities and tracking levels the sender may choose, the current ones selected
/// (the highest allowed priority when the current one is not).
fn choices(t: &'static Tr, may: &MaySend, v: &ComposeValues) -> (Vec<Choice>, Vec<Choice>) {
    let g = &may.grant;
    let allowed_priorities: Vec<(Priority, &'static str)> = [
        (Priority::Normal, t.priority_normal),
        (Priority::Important, t.priority_important),
        (Priority::Urgent, t.priority_urgent),
    ]
    .into_iter()
    .filter(|(p, _)| *p <= g.max_priority)
    .collect();
    let current = allowed_priorities
        .iter()
        .map(|(p, _)| p.as_str())
        .find(|p| *p == v.priority)
        .or_else(|| allowed_priorities.last().map(|(p, _)| p.as_str()))
        .unwrap_or("normal");
    let priorities = allowed_priorities
        .iter()
        .map(|(p, label)| Choice {
            value: p.as_str(),
            label,
            selected: p.as_str() == current,
        })
        .collect();
    let mut trackings = vec![Choice {
        value: "",
        label: t.tracking_default,
        selected: v.tracking.is_empty(),
    }];
    trackings.extend(
        [
            (Tracking::PerPerson, t.tracking_per_person),
            (Tracking::Aggregate, t.tracking_aggregate),
            (Tracking::Off, t.tracking_off),
        ]
        .into_iter()
        .filter(|(level, _)| *level <= g.max_tracking)
        .map(|(level, label)| Choice {
            value: level.as_str(),
            label,
            selected: v.tracking == level.as_str(),
        }),
    );
    (priorities, trackings)
}

async fn page(
    s: &ServerState,
    viewer: &Viewer,
    v: ComposeValues,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let (departments, may) = match tokio::try_join!(
        s.app.departments(&viewer.caller),
        s.app.may_send(&viewer.caller)
    ) {
        Ok(both) => both,
        Err(e) => return error_page(viewer.lang, e.into()),
    };
    let (priorities, trackings) = choices(viewer.t(), &may, &v);
    // Only the departments the sender may reach are offered.
    let departments = tree_order(&departments)
        .into_iter()
        .filter(|(d, _)| may.grant.reach != Reach::OwnDepartment || may.departments.contains(&d.id))
        .map(|(d, depth)| DeptOption {
            checked: v.departments.contains(&d.id.to_string()),
            id: d.id.to_string(),
            name: d.name,
            depth: depth.min(6),
        })
        .collect();
    let mut picked = Vec::new();
    for id in &v.members {
        if let Ok(m) = s.app.member(&viewer.caller, id).await {
            picked.push(PickedMember {
                id: m.id.to_string(),
                name: m.name,
            });
        }
    }
    let preview_html = markdown::render(&v.body);
    let page = ComposePage {
        ctx: Chrome::for_viewer(viewer, "/compose"),
        t: viewer.t(),
        v,
        may_send: may.grant.may_send(),
        priorities,
        trackings,
        departments,
        picked,
        error,
        preview_html,
    };
    render(status, &page)
}

/// `GET /compose`.
pub async fn compose_page(State(s): State<ServerState>, v: Viewer) -> Response {
    let values = ComposeValues {
        priority: "important".into(),
        plan: "default".into(),
        ..Default::default()
    };
    page(&s, &v, values, None, StatusCode::OK).await
}

fn number(field: &str, raw: &str) -> Result<Option<i64>, ApiError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i64>().map(Some).map_err(|_| {
        ApiError::bad_request("invalid_field", format!("`{field}` must be a whole number"))
    })
}

fn input(v: &ComposeValues, viewer: &Viewer) -> Result<NewMessageInput, ApiError> {
    let options: Vec<String> = v
        .response_options
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let reminders = match v.plan.as_str() {
        "none" => Some(ReminderPlanInput {
            max_reminders: Some(0),
            ..Default::default()
        }),
        "custom" => {
            let mut escalate_to = Vec::new();
            if v.escalate_manager {
                escalate_to.push("manager".to_string());
            }
            if v.escalate_backup {
                escalate_to.push("backup".to_string());
            }
            Some(ReminderPlanInput {
                remind_after_minutes: number("reminders.remind_after_minutes", &v.remind_after)?,
                remind_every_minutes: number("reminders.remind_every_minutes", &v.remind_every)?,
                max_reminders: number("reminders.max_reminders", &v.max_reminders)?,
                escalate_after_minutes: number(
                    "reminders.escalate_after_minutes",
                    &v.escalate_after,
                )?,
                escalate_to: Some(escalate_to),
                create_task: Some(v.create_task),
            })
        }
        _ => None,
    };
    let deadline = match v.deadline.trim() {
        "" => None,
        raw => Some(
            format::parse_local_input(raw, &viewer.zone)
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_field", "`deadline` must be a date and time")
                })?
                .to_string(),
        ),
    };
    Ok(NewMessageInput {
        title: Some(v.title.clone()),
        body: Some(v.body.clone()),
        priority: Some(v.priority.clone()).filter(|p| !p.is_empty()),
        tracking: Some(v.tracking.clone()).filter(|p| !p.is_empty()),
        require_ack: Some(v.require_ack),
        response_options: (!options.is_empty()).then_some(options),
        audience: Some(AudienceInput {
            members: v.members.clone(),
            departments: v.departments.clone(),
        }),
        reminders,
        deadline,
        emergency_reason: None,
    })
}

/// `POST /compose`: sends, then opens the notice's read board.
pub async fn compose_submit(
    State(s): State<ServerState>,
    viewer: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let v = ComposeValues::from_pairs(pairs);
    if !viewer.csrf_ok(&v.csrf) {
        let msg = viewer.t().form_expired.to_string();
        return page(&s, &viewer, v, Some(msg), StatusCode::FORBIDDEN).await;
    }
    let sent = match input(&v, &viewer) {
        Ok(i) => s
            .app
            .send_message(&viewer.caller, i)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match sent {
        Ok(m) if m.tracking == Tracking::Off => Redirect::to("/sent").into_response(),
        Ok(m) => Redirect::to(&format!("/notices/{}/board", m.id)).into_response(),
        Err(e) if e.status.is_client_error() => {
            page(&s, &viewer, v, Some(e.message), e.status).await
        }
        Err(e) => error_page(viewer.lang, e),
    }
}

/// A body to preview.
#[derive(Debug, Deserialize)]
pub struct MarkdownPreview {
    /// Markdown source.
    pub body: String,
}

/// The rendered preview.
#[derive(Debug, Serialize)]
pub struct MarkdownHtml {
    /// Sanitised HTML.
    pub html: String,
}

/// `POST /web/markdown/preview`: the body as recipients will see it.
pub async fn markdown_preview(
    Auth(_caller): Auth,
    ApiJson(req): ApiJson<MarkdownPreview>,
) -> ApiResult<Json<MarkdownHtml>> {
    if req.body.len() > 400_000 {
        return Err(ApiError::bad_request(
            "invalid_field",
            "`body` is too long to preview",
        ));
    }
    Ok(Json(MarkdownHtml {
        html: markdown::render(&req.body),
    }))
}
