//! The organisation's communication policy: its text and version, whether the viewer has
//! acknowledged it, and the Acknowledge button. Until a member acknowledges the current
//! version, senders see them only in the counts, never by name.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use readtrack_domain::settings::{OrgSettings, QuietReads, format_time_of_day};
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::ServerState;
use crate::web::chrome::{Chrome, error_page, render};
use crate::web::i18n::Tr;
use crate::web::markdown;
use crate::web::session::Viewer;

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    ctx: Chrome,
    t: &'static Tr,
    version: i64,
    text_html: String,
    /// The version the viewer acknowledged (0: none).
    acked: i64,
    /// The organisation's settings the policy relies on, as label and value.
    rules: Vec<(&'static str, String)>,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// `?done=1` after acknowledging.
#[derive(Debug, Deserialize)]
pub struct PolicyQuery {
    /// Set after the acknowledgement was recorded.
    pub done: Option<String>,
}

async fn page(
    s: &ServerState,
    v: &Viewer,
    status: StatusCode,
    notice: bool,
    error: Option<String>,
) -> Response {
    let t = v.t();
    let settings = &v.org.settings;
    let emergencies = match s.app.emergency_notices_last_year(&v.caller).await {
        Ok(n) => n,
        Err(e) => return error_page(v.lang, e.into()),
    };
    let mut rules = rules(t, settings);
    rules.push((t.emergency_count, emergencies.to_string()));
    let page = PolicyPage {
        ctx: Chrome::for_viewer(v, "/policy"),
        t,
        version: settings.policy_version,
        // The policy is the admin's own Markdown, cleaned like a notice body.
        text_html: markdown::render(settings.policy_text_for(v.lang.tag())),
        acked: v.caller.member.policy_ack_version,
        rules,
        notice: notice.then_some(t.policy_acknowledged_now),
        error,
    };
    render(status, &page)
}

/// The numbers the README promises on this page: what is tracked per person, quiet hours
/// and how a read in them is shown, working time, retention and the smallest group.
fn rules(t: &'static Tr, s: &OrgSettings) -> Vec<(&'static str, String)> {
    let tracked: Vec<&str> = s
        .per_person_tracking_for
        .iter()
        .map(|p| t.priority_label(p.as_str()))
        .collect();
    let day = |d: jiff::civil::Weekday| match d {
        jiff::civil::Weekday::Monday => t.mon,
        jiff::civil::Weekday::Tuesday => t.tue,
        jiff::civil::Weekday::Wednesday => t.wed,
        jiff::civil::Weekday::Thursday => t.thu,
        jiff::civil::Weekday::Friday => t.fri,
        jiff::civil::Weekday::Saturday => t.sat,
        jiff::civil::Weekday::Sunday => t.sun,
    };
    let days: Vec<&str> = s.working_hours.days.iter().map(|d| day(*d)).collect();
    let quiet_reads = match s.quiet_hours.reads {
        QuietReads::Coarse => t.quiet_reads_coarse,
        QuietReads::Untracked => t.quiet_reads_untracked,
    };
    vec![
        (t.per_person_tracking, tracked.join(", ")),
        (
            t.quiet_hours,
            format!(
                "{}–{}; {}: {}",
                format_time_of_day(s.quiet_hours.start),
                format_time_of_day(s.quiet_hours.end),
                t.quiet_reads,
                quiet_reads
            ),
        ),
        (
            t.working_time,
            format!(
                "{} {}–{} ({})",
                days.join(" "),
                format_time_of_day(s.working_hours.start),
                format_time_of_day(s.working_hours.end),
                s.time_zone.name()
            ),
        ),
        (t.retention_days, s.retention_days.to_string()),
        (t.min_group_size, s.min_group_size.to_string()),
    ]
}

/// `GET /policy`.
pub async fn policy(
    State(s): State<ServerState>,
    v: Viewer,
    Query(q): Query<PolicyQuery>,
) -> Response {
    page(&s, &v, StatusCode::OK, q.done.is_some(), None).await
}

/// The Acknowledge form: the version the viewer read, so that a policy changed while
/// the page was open is not acknowledged unread.
#[derive(Debug, Deserialize)]
pub struct AckForm {
    #[serde(default)]
    version: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /policy/ack`.
pub async fn acknowledge(
    State(s): State<ServerState>,
    v: Viewer,
    Form(f): Form<AckForm>,
) -> Response {
    if !v.csrf_ok(&f.csrf) {
        let msg = v.t().form_expired.to_string();
        return page(&s, &v, StatusCode::FORBIDDEN, false, Some(msg)).await;
    }
    let Ok(version) = f.version.trim().parse::<i64>() else {
        let msg = v.t().policy_changed.to_string();
        return page(&s, &v, StatusCode::BAD_REQUEST, false, Some(msg)).await;
    };
    match s.app.ack_policy(&v.caller, version).await {
        Ok(_) => Redirect::to("/policy?done=1").into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status == StatusCode::BAD_REQUEST {
                // The only refusal: the policy changed since the page was shown.
                let msg = v.t().policy_changed.to_string();
                page(&s, &v, e.status, false, Some(msg)).await
            } else {
                error_page(v.lang, e)
            }
        }
    }
}
