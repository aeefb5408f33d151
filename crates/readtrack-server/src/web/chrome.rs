//! The frame every page shares: header, navigation, language switch, and the error page.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use readtrack_domain::member::Role;

use crate::error::ApiError;
use crate::web::i18n::{Lang, Tr};
use crate::web::session::{Viewer, percent_encode};

/// One entry of the main navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    /// Where it goes.
    pub href: String,
    /// What it says.
    pub label: &'static str,
    /// Whether it is the page being shown.
    pub current: bool,
    /// Drawn as something waiting for the viewer (an open survey).
    pub waiting: bool,
}

/// Who a navigation entry is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// Every signed-in member.
    Everyone,
    /// Administrators.
    Admin,
    /// Administrators, auditors, and managers (for their own department subtree).
    Analysts,
    /// Auditors (administrators reach the audit log through the settings tabs).
    Auditor,
    /// Whoever the sending rights let send something.
    Senders,
}

/// A page of the navigation, whether it exists yet, and who sees it.
struct NavDef {
    href: &'static str,
    label: fn(&Tr) -> &'static str,
    /// Pages still to be built stay listed here, switched off, so adding one is a flip.
    ready: bool,
    who: Who,
}

const NAV: &[NavDef] = &[
    NavDef {
        href: "/inbox",
        label: |t| t.nav_inbox,
        ready: true,
        who: Who::Everyone,
    },
    NavDef {
        href: "/sent",
        label: |t| t.nav_sent,
        ready: true,
        who: Who::Everyone,
    },
    NavDef {
        href: "/compose",
        label: |t| t.nav_compose,
        ready: true,
        who: Who::Senders,
    },
    NavDef {
        href: "/tasks",
        label: |t| t.nav_tasks,
        ready: true,
        who: Who::Everyone,
    },
    NavDef {
        href: "/analytics",
        label: |t| t.nav_analytics,
        ready: true,
        who: Who::Analysts,
    },
    NavDef {
        href: "/admin/directory",
        label: |t| t.nav_directory,
        ready: true,
        who: Who::Admin,
    },
    NavDef {
        href: "/admin/settings",
        label: |t| t.nav_settings,
        ready: true,
        who: Who::Admin,
    },
    NavDef {
        href: "/admin/audit",
        label: |t| t.nav_audit,
        ready: true,
        who: Who::Auditor,
    },
    NavDef {
        href: "/me/data",
        label: |t| t.nav_my_data,
        ready: true,
        who: Who::Everyone,
    },
    NavDef {
        href: "/policy",
        label: |t| t.nav_policy,
        ready: true,
        who: Who::Everyone,
    },
];

fn may_see(who: Who, v: &Viewer) -> bool {
    match who {
        Who::Everyone => true,
        Who::Admin => v.caller.member.role == Role::Admin,
        Who::Analysts => matches!(v.caller.member.role, Role::Admin | Role::Auditor) || v.manages,
        Who::Auditor => v.caller.member.role == Role::Auditor,
        Who::Senders => v.may_send,
    }
}

/// What the shared frame of a page needs.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// Strings.
    pub t: &'static Tr,
    /// `<html lang>`.
    pub lang_tag: &'static str,
    /// The session's CSRF token (empty when signed out).
    pub csrf: String,
    /// The viewer's member id (empty when signed out), for the outbox.
    pub member_id: String,
    /// The viewer's IANA zone, for scripts formatting live times.
    pub zone: String,
    /// The viewer's name, when signed in.
    pub user_name: Option<String>,
    /// The organisation's name, when signed in.
    pub org_name: String,
    /// Main navigation.
    pub nav: Vec<NavItem>,
    /// The viewer is an administrator (the settings pages show their tabs).
    pub is_admin: bool,
    /// The viewer may send notices (pages offer "New notice" only then).
    pub may_send: bool,
    /// The current policy is not acknowledged yet: every page but the policy's own
    /// shows a banner leading there.
    pub policy_banner: bool,
    /// The language switch: link and label (in the other language).
    pub switch_href: String,
    /// The other language's own name.
    pub switch_label: &'static str,
    /// The other language's tag.
    pub switch_tag: &'static str,
    /// Strings for the scripts, as JSON.
    pub js_strings: String,
    /// The server's clock as the page was made, for the outbox's clock offset (empty
    /// when signed out).
    pub server_time: String,
}

fn switch(lang: Lang, path: &str) -> (String, &'static str, &'static str) {
    let other = lang.other();
    (
        format!("/lang/{}?next={}", other.tag(), percent_encode(path)),
        other.native_name(),
        other.tag(),
    )
}

impl Chrome {
    /// The frame of a signed-in page; `section` is the navigation entry to highlight.
    pub fn for_viewer(v: &Viewer, section: &str) -> Self {
        let t = v.t();
        let mut nav: Vec<NavItem> = NAV
            .iter()
            .filter(|d| d.ready && may_see(d.who, v))
            .map(|d| NavItem {
                href: d.href.to_string(),
                label: (d.label)(t),
                current: d.href == section,
                waiting: false,
            })
            .collect();
        // An open survey is a question waiting for the viewer: it sits right after Tasks.
        if let Some((id, _)) = v.open_surveys.first() {
            let href = format!("/surveys/{id}");
            let at = nav
                .iter()
                .position(|n| n.href == "/tasks")
                .map_or(0, |i| i + 1);
            nav.insert(
                at,
                NavItem {
                    current: section == href,
                    href,
                    label: t.nav_survey,
                    waiting: true,
                },
            );
        }
        let policy_banner = v.caller.member.policy_ack_version < v.org.settings.policy_version
            && section != "/policy";
        let (switch_href, switch_label, switch_tag) = switch(v.lang, &v.path);
        Chrome {
            t,
            lang_tag: v.lang.tag(),
            csrf: v.csrf.clone(),
            member_id: v.caller.id().to_string(),
            zone: v.zone.name().to_string(),
            user_name: Some(v.caller.member.name.clone()),
            org_name: v.org.name.clone(),
            nav,
            is_admin: v.caller.is_admin(),
            may_send: v.may_send,
            policy_banner,
            switch_href,
            switch_label,
            switch_tag,
            js_strings: t.js_json(),
            server_time: v.server_time.clone(),
        }
    }

    /// The frame of a page shown before sign-in.
    pub fn anonymous(lang: Lang, path: &str) -> Self {
        let (switch_href, switch_label, switch_tag) = switch(lang, path);
        Chrome {
            t: lang.tr(),
            lang_tag: lang.tag(),
            csrf: String::new(),
            member_id: String::new(),
            zone: String::new(),
            user_name: None,
            org_name: String::new(),
            nav: Vec::new(),
            is_admin: false,
            may_send: false,
            policy_banner: false,
            switch_href,
            switch_label,
            switch_tag,
            js_strings: lang.tr().js_json(),
            server_time: String::new(),
        }
    }
}

/// Renders a template into a response, or a plain 500 when rendering itself fails.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    ctx: Chrome,
    status: u16,
    message: String,
}

/// A page for a failed request, in the viewer's language. Validation messages (400, 409)
/// are shown as they are; others get a sentence of their own, and 5xx never leak causes.
pub fn error_page(lang: Lang, e: ApiError) -> Response {
    let t = lang.tr();
    let message = match e.status {
        StatusCode::NOT_FOUND => t.not_found.to_string(),
        StatusCode::FORBIDDEN => t.forbidden.to_string(),
        s if s.is_server_error() => t.server_error.to_string(),
        _ => e.message.clone(),
    };
    let page = ErrorPage {
        ctx: Chrome::anonymous(lang, "/"),
        status: e.status.as_u16(),
        message,
    };
    let mut res = render(e.status, &page);
    if let Some(cause) = e.cause {
        res.extensions_mut().insert(cause);
    }
    res
}

/// The answer to a form whose CSRF token is not this session's: an old tab, or a form
/// posted from another site. Nothing was changed; going back and sending again works.
pub fn form_expired_page(lang: Lang) -> Response {
    let page = ErrorPage {
        ctx: Chrome::anonymous(lang, "/"),
        status: StatusCode::FORBIDDEN.as_u16(),
        message: lang.tr().form_expired.to_string(),
    };
    render(StatusCode::FORBIDDEN, &page)
}

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundPage {
    ctx: Chrome,
}

/// Any path no route knows: an HTML page for people, and the API's JSON error for
/// programs under `/api/`, so a client never has to parse a web page.
pub async fn not_found(
    viewer: Result<Viewer, Response>,
    visitor: crate::web::session::Visitor,
    uri: axum::http::Uri,
) -> Response {
    if uri.path().starts_with("/api/") {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint; see /docs",
        )
        .into_response();
    }
    let ctx = match &viewer {
        Ok(v) => Chrome::for_viewer(v, ""),
        Err(_) => Chrome::anonymous(visitor.lang, uri.path()),
    };
    render(StatusCode::NOT_FOUND, &NotFoundPage { ctx })
}
