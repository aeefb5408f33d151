//! The frame every page shares: header, navigation, language switch, and the error page.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::error::ApiError;
use crate::web::i18n::{Lang, Tr};
use crate::web::session::{Viewer, percent_encode};

/// One entry of the main navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    /// Where it goes.
    pub href: &'static str,
    /// What it says.
    pub label: &'static str,
    /// Whether it is the page being shown.
    pub current: bool,
}

/// A page of the navigation, whether it exists yet, and who sees it.
struct NavDef {
    href: &'static str,
    label: fn(&Tr) -> &'static str,
    /// Pages still to be built stay listed here, switched off, so adding one is a flip.
    ready: bool,
    admin_only: bool,
}

const NAV: &[NavDef] = &[
    NavDef {
        href: "/inbox",
        label: |t| t.nav_inbox,
        ready: true,
        admin_only: false,
    },
    NavDef {
        href: "/sent",
        label: |t| t.nav_sent,
        ready: true,
        admin_only: false,
    },
    NavDef {
        href: "/compose",
        label: |t| t.nav_compose,
        ready: true,
        admin_only: false,
    },
    NavDef {
        href: "/tasks",
        label: |t| t.nav_tasks,
        ready: false,
        admin_only: false,
    },
    NavDef {
        href: "/me/data",
        label: |t| t.nav_my_data,
        ready: false,
        admin_only: false,
    },
    NavDef {
        href: "/policy",
        label: |t| t.nav_policy,
        ready: false,
        admin_only: false,
    },
    NavDef {
        href: "/analytics",
        label: |t| t.nav_analytics,
        ready: false,
        admin_only: true,
    },
    NavDef {
        href: "/admin/directory",
        label: |t| t.nav_directory,
        ready: true,
        admin_only: true,
    },
    NavDef {
        href: "/admin/settings",
        label: |t| t.nav_settings,
        ready: false,
        admin_only: true,
    },
];

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
    /// The language switch: link and label (in the other language).
    pub switch_href: String,
    /// The other language's own name.
    pub switch_label: &'static str,
    /// The other language's tag.
    pub switch_tag: &'static str,
    /// Strings for the scripts, as JSON.
    pub js_strings: String,
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
        let admin = v.caller.is_admin();
        let nav = NAV
            .iter()
            .filter(|d| d.ready && (admin || !d.admin_only))
            .map(|d| NavItem {
                href: d.href,
                label: (d.label)(t),
                current: d.href == section,
            })
            .collect();
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
            switch_href,
            switch_label,
            switch_tag,
            js_strings: t.js_json(),
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
            switch_href,
            switch_label,
            switch_tag,
            js_strings: lang.tr().js_json(),
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
    render(e.status, &page)
}
