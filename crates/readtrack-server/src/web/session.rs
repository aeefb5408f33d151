//! Web sessions: the HttpOnly cookie, who is looking at a page, and CSRF checks on forms.
//!
//! The session cookie holds an ordinary session token (the same kind `POST
//! /api/v1/auth/login` hands out), so the pages' scripts call the JSON API with the
//! cookie and the CSRF header, and nothing on the page can read the token itself.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use readtrack_domain::time_zone::Zone;
use readtrack_service::records::OrgRecord;
use readtrack_service::{App, Caller};

use crate::extract::{cookie, csrf_matches, csrf_token};
use crate::state::ServerState;
use crate::web::i18n::{self, Lang, Tr};

/// The cookie that carries a random value a sign-in or setup form must echo, so that
/// another site cannot sign a browser into an account of its choosing.
pub const LOGIN_CSRF_COOKIE: &str = "rt_login_csrf";

/// The form field every form carries its CSRF token in.
pub const CSRF_FIELD: &str = "_csrf";

/// Whether the request reached us over TLS, directly or through a trusted proxy that
/// says so ([`crate::client_addr`]): only then may cookies be marked `Secure` (a
/// plain-HTTP demo on localhost would otherwise lose its session).
pub fn is_https(parts: &Parts) -> bool {
    parts.uri.scheme_str() == Some("https")
        || parts
            .extensions
            .get::<crate::client_addr::Client>()
            .is_some_and(|c| c.https)
}

/// This server's address as a request reached it (`https://readtrack.example.com`), for
/// links handed to people: the scheme as [`is_https`] sees it, the `Host` header's name
/// (only if it looks like one), else the loopback address.
pub fn site_origin(parts: &Parts) -> String {
    let scheme = if is_https(parts) { "https" } else { "http" };
    let host = parts
        .headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        })
        .unwrap_or("127.0.0.1");
    format!("{scheme}://{host}")
}

/// The link that accepts an invitation.
pub fn invitation_url(parts: &Parts, secret: &str) -> String {
    format!("{}/invite/{secret}", site_origin(parts))
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, whole site, `Secure` over TLS.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let v = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("rt_invalid=; Max-Age=0"))
}

/// A `Set-Cookie` value for one path, HttpOnly and SameSite=Lax, `Secure` over TLS: for
/// what must come back on a top-level navigation from another site (an identity
/// provider's redirect), which a Strict cookie would not.
pub fn set_lax_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age_secs: i64,
    secure: bool,
) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let v = format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("rt_invalid=; Max-Age=0"))
}

/// The signed-in person looking at a page, with what every page needs to render.
pub struct Viewer {
    /// The member.
    pub caller: Caller,
    /// Their organisation.
    pub org: Arc<OrgRecord>,
    /// The zone times are shown in: the member's own, else the organisation's.
    pub zone: Zone,
    /// The page language.
    pub lang: Lang,
    /// The session's CSRF token, for forms and script calls.
    pub csrf: String,
    /// Path and query of the page, for the language switch to come back to.
    pub path: String,
    /// Whether anyone reports to the viewer (managers see their team's analytics).
    pub manages: bool,
    /// Whether the viewer may send notices at all (the sending rights).
    pub may_send: bool,
    /// Pulse surveys open to the viewer that they have not answered: (id, title).
    pub open_surveys: Vec<(String, String)>,
    /// The server's clock as the page was made (RFC 3339, milliseconds), from which the
    /// page's scripts learn how far the device's clock is off.
    pub server_time: String,
}

impl Viewer {
    /// The strings of the viewer's language.
    pub fn t(&self) -> &'static Tr {
        self.lang.tr()
    }

    /// Whether a form's CSRF field belongs to this session.
    pub fn csrf_ok(&self, presented: &str) -> bool {
        // `csrf` is derived from the session token; compare against a fresh derivation
        // through the same constant-time check the API uses.
        presented.len() == self.csrf.len()
            && self
                .csrf
                .bytes()
                .zip(presented.bytes())
                .fold(0u8, |a, (x, y)| a | (x ^ y))
                == 0
    }
}

/// Where an unsigned-in visitor is sent: the sign-in page, coming back here afterwards.
///
/// A link followed from another site (a notice link in webmail) arrives without the
/// SameSite=Strict cookie even when the person is signed in. Such a request gets a page
/// that reloads the same address from this site, which does carry the cookie; a visitor
/// who really is signed out then reaches the sign-in page on that second, same-site load.
fn to_login(parts: &Parts) -> Response {
    let next = local_path(parts);
    let cross_site = parts
        .headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site");
    if cross_site && parts.method == axum::http::Method::GET {
        let escaped = next
            .replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let html = format!(
            "<!doctype html><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0; url={escaped}\">\
             <title>readtrack</title><p><a href=\"{escaped}\">readtrack</a></p>"
        );
        return axum::response::Html(html).into_response();
    }
    let target = if next == "/" || next.starts_with("/login") {
        "/login".to_string()
    } else {
        format!("/login?next={}", percent_encode(&next))
    };
    Redirect::to(&target).into_response()
}

/// The path and query of a request.
pub fn local_path(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into())
}

/// Keeps a redirect target on this site: a path, never `//host` or a full URL.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.contains(['\r', '\n']) =>
        {
            n.to_string()
        }
        _ => "/inbox".to_string(),
    }
}

/// Percent-encodes a query value.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl FromRequestParts<ServerState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ServerState) -> Result<Self, Response> {
        let Some(token) = cookie(parts, crate::SESSION_COOKIE).filter(|t| !t.is_empty()) else {
            return Err(to_login(parts));
        };
        let caller = match state.app.authenticate(&token).await {
            Ok(c) => c,
            Err(readtrack_service::ServiceError::Unauthenticated(_)) => {
                return Err(to_login(parts));
            }
            Err(e) => {
                return Err(crate::web::chrome::error_page(
                    i18n::negotiate(parts),
                    e.into(),
                ));
            }
        };
        // A relay or SCIM token is no way into the pages, whichever cookie carries it.
        if crate::extract::require_token_scope(&caller, parts.uri.path()).is_err() {
            return Err(to_login(parts));
        }
        let org = match state.app.org(caller.org_id()).await {
            Ok(o) => o,
            Err(e) => {
                return Err(crate::web::chrome::error_page(
                    i18n::negotiate(parts),
                    e.into(),
                ));
            }
        };
        let zone = App::member_zone(&caller.member, &org);
        let (manages, may_send, open_surveys) = navigation_facts(state, &caller).await;
        Ok(Viewer {
            caller,
            org,
            zone,
            lang: i18n::negotiate(parts),
            csrf: csrf_token(&token),
            path: local_path(parts),
            manages,
            may_send,
            open_surveys,
            server_time: {
                let now = state.app.clock().now();
                jiff::Timestamp::from_millisecond(now.as_millisecond())
                    .unwrap_or(now)
                    .to_string()
            },
        })
    }
}

/// What the navigation shows beyond the role: whether the viewer manages anyone (for
/// Analytics), whether they may send (for New notice) and the surveys waiting for their
/// answer. A failed look-up only hides an entry; the page itself still renders.
async fn navigation_facts(
    state: &ServerState,
    caller: &Caller,
) -> (bool, bool, Vec<(String, String)>) {
    let manages = match state.app.manages_anyone(caller).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "could not tell whether the viewer manages anyone");
            false
        }
    };
    let may_send = match state.app.may_send_anything(caller, manages).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "could not tell whether the viewer may send");
            false
        }
    };
    let surveys = match state.app.my_surveys(caller).await {
        Ok(list) => list
            .into_iter()
            .filter(|(_, answered)| !answered)
            .map(|(s, _)| (s.id.to_string(), s.title))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "could not list the viewer's open surveys");
            Vec::new()
        }
    };
    (manages, may_send, surveys)
}

/// A visitor who may or may not be signed in (sign-in and setup pages).
pub struct Visitor {
    /// The page language.
    pub lang: Lang,
    /// The session token, when the visitor has a cookie (not yet checked).
    pub session: Option<String>,
    /// The value of the sign-in CSRF cookie, when set.
    pub login_csrf: Option<String>,
    /// Whether cookies may be `Secure`.
    pub https: bool,
}

impl FromRequestParts<ServerState> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &ServerState) -> Result<Self, Response> {
        Ok(Visitor {
            lang: i18n::negotiate(parts),
            session: cookie(parts, crate::SESSION_COOKIE).filter(|t| !t.is_empty()),
            login_csrf: cookie(parts, LOGIN_CSRF_COOKIE).filter(|t| t.len() >= 16),
            https: is_https(parts),
        })
    }
}

impl Visitor {
    /// Whether a sign-in or setup form echoes the visitor's sign-in CSRF cookie.
    pub fn login_csrf_ok(&self, presented: &str) -> bool {
        self.login_csrf
            .as_deref()
            .is_some_and(|c| csrf_matches_plain(c, presented))
    }
}

pub(crate) fn csrf_matches_plain(expected: &str, presented: &str) -> bool {
    expected.len() == presented.len()
        && expected
            .bytes()
            .zip(presented.bytes())
            .fold(0u8, |a, (x, y)| a | (x ^ y))
            == 0
}

/// A fresh random value for the sign-in CSRF cookie.
pub fn new_login_csrf() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether a session token's CSRF token is `presented` (for handlers that only have the
/// token, such as the sign-out form).
pub fn session_csrf_ok(session: &str, presented: &str) -> bool {
    csrf_matches(session, presented)
}

/// Headers that sign a browser in: the session cookie, and the sign-in CSRF cookie cleared.
pub fn sign_in_headers(token: &str, https: bool) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.append(
        header::SET_COOKIE,
        set_cookie(crate::SESSION_COOKIE, token, 30 * 24 * 3600, https),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(LOGIN_CSRF_COOKIE, "", 0, https),
    );
    h
}
