//! "My data": everything readtrack records about the viewer, from the same export as
//! `GET /api/v1/me/export` (which is offered as a download), who has looked at it, and
//! the form to change one's password.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use readtrack_domain::message::Tracking;
use readtrack_service::ServiceError;
use serde::Deserialize;

use crate::state::ServerState;
use crate::web::chrome::{Chrome, error_page, render};
use crate::web::format::{self, ShownTime};
use crate::web::i18n::Tr;
use crate::web::session::Viewer;

/// One notice the viewer received, with what was recorded about their reading it.
#[derive(Debug, Clone)]
pub struct ReceiptRow {
    /// The notice's title.
    pub title: String,
    /// Its sender.
    pub sender: String,
    /// When it was sent.
    pub sent: ShownTime,
    /// How it was tracked, as words.
    pub tracking: &'static str,
    /// Per-person tracking (the sender may see this row's times).
    pub per_person: bool,
    /// State, wire name.
    pub state: &'static str,
    /// State as words.
    pub state_label: &'static str,
    /// When the viewer's device received it.
    pub delivered: Option<ShownTime>,
    /// When they read it, by their device's clock.
    pub read: Option<ShownTime>,
    /// The read fell in their quiet hours (shown to the sender without its time).
    pub read_quiet: bool,
    /// When they confirmed.
    pub acked: Option<ShownTime>,
    /// Their answer.
    pub response: String,
    /// Reminders sent to them.
    pub reminders: i64,
    /// The last of them.
    pub last_reminded: Option<ShownTime>,
    /// When their manager or backup was told.
    pub escalated: Option<ShownTime>,
}

/// An escalation about the viewer.
#[derive(Debug, Clone)]
pub struct EscalationRow {
    /// The notice's title.
    pub title: String,
    /// Who was told.
    pub told: String,
    /// As what, in words.
    pub role: &'static str,
    /// When.
    pub at: ShownTime,
}

/// A task of the viewer's.
#[derive(Debug, Clone)]
pub struct TaskLine {
    /// The notice's title.
    pub title: String,
    /// Created.
    pub created: ShownTime,
    /// Done.
    pub done: Option<ShownTime>,
}

/// Someone's audited look at the viewer's per-person data.
#[derive(Debug, Clone)]
pub struct ViewRow {
    /// When.
    pub at: ShownTime,
    /// Who looked.
    pub who: String,
    /// What they did, in words.
    pub action: String,
    /// What it concerned.
    pub subject: String,
}

#[derive(Template)]
#[template(path = "my_data.html")]
struct MyDataPage {
    ctx: Chrome,
    t: &'static Tr,
    name: String,
    email: String,
    department: String,
    role: &'static str,
    zone: String,
    own_zone: bool,
    manager: String,
    backup: String,
    policy_version: i64,
    policy_acked: i64,
    policy_acked_at: Option<ShownTime>,
    receipts: Vec<ReceiptRow>,
    reminded: Vec<ReceiptRow>,
    escalations: Vec<EscalationRow>,
    tasks: Vec<TaskLine>,
    views: Vec<ViewRow>,
    /// What became of a password change: (said, is an error).
    password: Option<(&'static str, bool)>,
    /// Two-step sign-in is on.
    second_factor_on: bool,
    /// While turning it on: the secret and the `otpauth://` link, shown once.
    second_factor_setup: Option<(String, String)>,
    /// What became of the last two-step sign-in form: (said, is an error).
    second_factor_said: Option<(&'static str, bool)>,
    /// The server sends email (so the email choice is shown).
    sends_email: bool,
    /// Reminders and escalations also come by email.
    email_reminders: bool,
}

/// `?password=changed|wrong|short|wait|expired` after the password form,
/// `?second_factor=on|off|wrong|expired` after a two-step sign-in form.
#[derive(Debug, Deserialize, Default)]
pub struct MyDataQuery {
    /// The outcome of a password change.
    pub password: Option<String>,
    /// The outcome of turning two-step sign-in on or off.
    pub second_factor: Option<String>,
}

/// A two-step sign-in form: the CSRF token and, but for the first step, a code.
#[derive(Debug, Deserialize)]
pub struct SecondFactorForm {
    #[serde(default)]
    code: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /me/second-factor`: a new secret for the authenticator app, shown once on the
/// page with the form that confirms it.
pub async fn begin_second_factor(
    State(s): State<ServerState>,
    v: Viewer,
    Form(f): Form<SecondFactorForm>,
) -> Response {
    if !v.csrf_ok(&f.csrf) {
        return Redirect::to("/me/data?second_factor=expired#second-factor-h").into_response();
    }
    match s.app.begin_second_factor(&v.caller).await {
        Ok(setup) => {
            page(
                &s,
                &v,
                MyDataQuery::default(),
                Some((setup.secret, setup.otpauth_url)),
            )
            .await
        }
        Err(ServiceError::Conflict(_)) => Redirect::to("/me/data#second-factor-h").into_response(),
        Err(e) => error_page(v.lang, e.into()),
    }
}

/// `POST /me/second-factor/confirm` and `…/disable`: turns it on with a first code, or
/// off with a current one, and comes back saying what happened.
async fn second_factor_change(
    s: &ServerState,
    v: &Viewer,
    f: SecondFactorForm,
    on: bool,
) -> Response {
    let outcome = if !v.csrf_ok(&f.csrf) {
        "expired"
    } else {
        let result = if on {
            s.app.confirm_second_factor(&v.caller, &f.code).await
        } else {
            s.app.disable_second_factor(&v.caller, &f.code).await
        };
        match result {
            Ok(()) if on => "on",
            Ok(()) => "off",
            Err(ServiceError::Invalid(_) | ServiceError::Conflict(_)) => "wrong",
            Err(e) => return error_page(v.lang, e.into()),
        }
    };
    Redirect::to(&format!("/me/data?second_factor={outcome}#second-factor-h")).into_response()
}

/// `POST /me/second-factor/confirm`.
pub async fn confirm_second_factor(
    State(s): State<ServerState>,
    v: Viewer,
    Form(f): Form<SecondFactorForm>,
) -> Response {
    second_factor_change(&s, &v, f, true).await
}

/// `POST /me/second-factor/disable`.
pub async fn disable_second_factor(
    State(s): State<ServerState>,
    v: Viewer,
    Form(f): Form<SecondFactorForm>,
) -> Response {
    second_factor_change(&s, &v, f, false).await
}

/// The password form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// The email form: the CSRF token and the box (absent when unticked).
#[derive(Debug, Deserialize)]
pub struct NotificationsForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    email_reminders: Option<String>,
}

/// `POST /me/notifications`: switches the viewer's reminder emails on or off.
pub async fn set_notifications(
    State(s): State<ServerState>,
    v: Viewer,
    Form(f): Form<NotificationsForm>,
) -> Response {
    if !v.csrf_ok(&f.csrf) {
        return crate::web::chrome::form_expired_page(v.lang);
    }
    match s
        .app
        .set_email_reminders(&v.caller, f.email_reminders.is_some())
        .await
    {
        Ok(()) => Redirect::to("/me/data#email-h").into_response(),
        Err(e) => error_page(v.lang, e.into()),
    }
}

/// `POST /me/password`: changes the viewer's password and comes back to My data, saying
/// what happened.
pub async fn change_password(
    State(s): State<ServerState>,
    v: Viewer,
    Form(f): Form<PasswordForm>,
) -> Response {
    let outcome = if !v.csrf_ok(&f.csrf) {
        "expired"
    } else {
        match s
            .app
            .change_own_password(&v.caller, &f.current_password, &f.new_password)
            .await
        {
            Ok(()) => "changed",
            Err(ServiceError::Forbidden(_)) => "wrong",
            Err(ServiceError::Invalid(_)) => "short",
            Err(ServiceError::RateLimited { .. }) => "wait",
            Err(e) => return error_page(v.lang, e.into()),
        }
    };
    Redirect::to(&format!("/me/data?password={outcome}#password-h")).into_response()
}

/// An audit action in the viewer's language, or as recorded when it is not a known one.
pub fn action_label(t: &Tr, action: &str) -> String {
    match action {
        "board.viewed" => t.audit_board_viewed,
        "export" => t.audit_export,
        "settings.updated" => t.audit_settings_updated,
        "policy.updated" => t.audit_policy_updated,
        "survey.opened" => t.audit_survey_opened,
        "retention.purged" => t.audit_retention_purged,
        "password.changed" => t.audit_password_changed,
        "second_factor.enabled" => t.audit_second_factor_enabled,
        "second_factor.disabled" => t.audit_second_factor_disabled,
        "second_factor.reset" => t.audit_second_factor_reset,
        "member.invited" => t.audit_member_invited,
        "members.imported" => t.audit_members_imported,
        other => return other.to_string(),
    }
    .to_string()
}

fn tracking_label(t: &Tr, tracking: Tracking) -> &'static str {
    match tracking {
        Tracking::PerPerson => t.tracking_per_person,
        Tracking::Aggregate => t.tracking_aggregate,
        Tracking::Off => t.tracking_off,
    }
}

/// `GET /me/data`.
pub async fn my_data(
    State(s): State<ServerState>,
    v: Viewer,
    Query(q): Query<MyDataQuery>,
) -> Response {
    page(&s, &v, q, None).await
}

/// The page, with the secret of a two-step sign-in being set up when there is one.
async fn page(
    s: &ServerState,
    v: &Viewer,
    q: MyDataQuery,
    second_factor_setup: Option<(String, String)>,
) -> Response {
    let second_factor_on = match s.app.has_second_factor(v.caller.id()).await {
        Ok(on) => on,
        Err(e) => return error_page(v.lang, e.into()),
    };
    let email_reminders = match s.app.email_reminders(&v.caller).await {
        Ok(on) => on,
        Err(e) => return error_page(v.lang, e.into()),
    };
    // Looking is itself recorded (as an export), exactly like the JSON download.
    let e = match s.app.export_me(&v.caller).await {
        Ok(e) => e,
        Err(e) => return error_page(v.lang, e.into()),
    };
    let departments = match s.app.departments(&v.caller).await {
        Ok(d) => d,
        Err(e) => return error_page(v.lang, e.into()),
    };
    let t = v.t();
    let name_of = |id: Option<readtrack_domain::ids::MemberId>| {
        let s = s.clone();
        let caller = &v.caller;
        async move {
            match id {
                Some(id) => s
                    .app
                    .member(caller, &id.to_string())
                    .await
                    .map(|m| m.name)
                    .unwrap_or_default(),
                None => String::new(),
            }
        }
    };
    let manager = name_of(e.member.manager_id).await;
    let backup = name_of(e.member.backup_id).await;
    let at = |x: Option<jiff::Timestamp>| x.map(|x| format::seconds(x, &v.zone));
    let receipts: Vec<ReceiptRow> = e
        .receipts
        .iter()
        .map(|r| {
            let rec = &r.receipt;
            let state = rec.state().as_str();
            ReceiptRow {
                title: r.title.clone(),
                sender: r.sender_name.clone(),
                sent: format::minutes(r.sent_at, &v.zone),
                tracking: tracking_label(t, r.tracking),
                per_person: r.tracking == Tracking::PerPerson,
                state,
                state_label: t.board_state_label(state),
                delivered: at(rec.times.delivered_at),
                read: at(rec.times.read_at),
                read_quiet: rec.read_quiet,
                acked: at(rec.times.acked_at),
                response: rec.times.response.clone().unwrap_or_default(),
                reminders: rec.reminders,
                last_reminded: at(rec.last_reminded_at),
                escalated: at(rec.escalated_at),
            }
        })
        .collect();
    // An audited look names the notice by id; the viewer knows it by its title.
    let titles: std::collections::HashMap<String, String> = e
        .receipts
        .iter()
        .map(|r| (format!("message:{}", r.receipt.message_id), r.title.clone()))
        .collect();
    let reminded = receipts
        .iter()
        .filter(|r| r.reminders > 0)
        .cloned()
        .collect();
    let page = MyDataPage {
        ctx: Chrome::for_viewer(v, "/me/data"),
        t,
        name: e.member.name.clone(),
        email: e.member.email.clone(),
        department: departments
            .iter()
            .find(|d| d.id == e.member.department_id)
            .map(|d| d.name.clone())
            .unwrap_or_default(),
        role: t.role_label(e.member.role.as_str()),
        zone: v.zone.name().to_string(),
        own_zone: e.member.time_zone.is_some(),
        manager,
        backup,
        policy_version: v.org.settings.policy_version,
        policy_acked: e.member.policy_ack_version,
        policy_acked_at: at(e.policy_acked_at),
        receipts,
        reminded,
        escalations: e
            .escalations
            .iter()
            .map(|x| EscalationRow {
                title: x.title.clone(),
                told: x.to_name.clone(),
                role: if x.role == "backup" {
                    t.your_backup
                } else {
                    t.your_manager
                },
                at: format::seconds(x.at, &v.zone),
            })
            .collect(),
        tasks: e
            .tasks
            .iter()
            .map(|x| TaskLine {
                title: x.title.clone(),
                created: format::minutes(x.created_at, &v.zone),
                done: x.done_at.map(|d| format::minutes(d, &v.zone)),
            })
            .collect(),
        views: e
            .views
            .iter()
            .map(|a| ViewRow {
                at: format::seconds(a.at, &v.zone),
                who: a.actor_name.clone().unwrap_or_else(|| t.system.to_string()),
                action: action_label(t, &a.action),
                subject: titles
                    .get(&a.subject)
                    .cloned()
                    .unwrap_or_else(|| a.subject.clone()),
            })
            .collect(),
        password: match q.password.as_deref() {
            Some("changed") => Some((t.password_changed, false)),
            Some("wrong") => Some((t.password_wrong, true)),
            Some("short") => Some((t.password_too_short, true)),
            Some("wait") => Some((t.password_wait, true)),
            Some("expired") => Some((t.form_expired, true)),
            _ => None,
        },
        second_factor_on,
        sends_email: s.app.sends_email(),
        email_reminders,
        second_factor_setup,
        second_factor_said: match q.second_factor.as_deref() {
            Some("on") => Some((t.second_factor_enabled, false)),
            Some("off") => Some((t.second_factor_disabled, false)),
            Some("wrong") => Some((t.second_factor_wrong, true)),
            Some("expired") => Some((t.form_expired, true)),
            _ => None,
        },
    };
    render(StatusCode::OK, &page)
}
