//! Sign-in through the organisation's identity provider (OpenID Connect): the start,
//! which sends the browser to the provider, and the callback it comes back to.
//!
//! What the callback must be given back (state, nonce, PKCE verifier, where to go next)
//! waits in a short-lived HttpOnly cookie limited to `/auth/oidc`, SameSite=Lax because
//! the provider's redirect is a navigation from another site. Its values are random and
//! used once; the cookie only proves the callback comes back to the browser that
//! started, which is what the `state` check is for. Everything else is the service's.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use readtrack_service::ServiceError;
use readtrack_service::oidc::OidcOutcome;
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::cookie_in;
use crate::state::ServerState;
use crate::web::auth::{NextQuery, login_form};
use crate::web::chrome::error_page;
use crate::web::session::{
    Visitor, csrf_matches_plain, safe_next, set_lax_cookie, sign_in_headers,
};

/// The cookie holding a started sign-in until the provider sends the browser back.
const OIDC_COOKIE: &str = "rt_oidc";
/// Where that cookie is sent: the callback only.
const OIDC_COOKIE_PATH: &str = "/auth/oidc";
/// Ten minutes to sign in at the provider.
const OIDC_COOKIE_SECS: i64 = 600;

/// `GET /auth/oidc/start`: a fresh sign-in at the provider.
pub async fn start(
    State(s): State<ServerState>,
    visitor: Visitor,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    match s.app.oidc_start().await {
        Ok(req) => {
            let value = format!(
                "{}.{}.{}.{}",
                req.state,
                req.nonce,
                req.verifier,
                URL_SAFE_NO_PAD.encode(next.as_bytes())
            );
            let mut headers = HeaderMap::new();
            headers.insert(
                header::SET_COOKIE,
                set_lax_cookie(
                    OIDC_COOKIE,
                    &value,
                    OIDC_COOKIE_PATH,
                    OIDC_COOKIE_SECS,
                    visitor.https,
                ),
            );
            (headers, Redirect::to(&req.url)).into_response()
        }
        Err(e) => refusal(&s, &visitor, e),
    }
}

/// The provider's answer on the callback.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// Set when the person cancelled or the provider refused.
    error: Option<String>,
}

/// A started sign-in, read back from its cookie.
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
}

fn pending(raw: &str) -> Option<Pending> {
    let mut parts = raw.split('.');
    let (state, nonce, verifier, next) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let next = String::from_utf8(URL_SAFE_NO_PAD.decode(next).ok()?).ok()?;
    Some(Pending {
        state: state.to_string(),
        nonce: nonce.to_string(),
        verifier: verifier.to_string(),
        next: safe_next(Some(&next)),
    })
}

/// `GET /auth/oidc/callback`: checks the state, then the service exchanges the code,
/// verifies the ID token and finds the person; signed in, they get the same session
/// cookie as a password sign-in.
pub async fn callback(
    State(s): State<ServerState>,
    visitor: Visitor,
    crate::extract::ClientAddr(address): crate::extract::ClientAddr,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let started = cookie_in(&headers, OIDC_COOKIE).and_then(|c| pending(&c));
    // The started sign-in is used once, whatever comes of it.
    let clear = set_lax_cookie(OIDC_COOKIE, "", OIDC_COOKIE_PATH, 0, visitor.https);
    let t = visitor.lang.tr();
    let page = |status: StatusCode, message: &str| {
        let mut res = login_form(
            &s,
            &visitor,
            status,
            "/inbox".into(),
            String::new(),
            Some(message.to_string()),
        );
        res.headers_mut().append(header::SET_COOKIE, clear.clone());
        res
    };
    let Some(started) = started else {
        return page(StatusCode::BAD_REQUEST, t.form_expired);
    };
    let state_ok = q
        .state
        .as_deref()
        .is_some_and(|st| csrf_matches_plain(&started.state, st));
    if !state_ok {
        return page(StatusCode::BAD_REQUEST, t.oidc_failed);
    }
    let (Some(code), None) = (q.code.as_deref(), q.error.as_deref()) else {
        return page(StatusCode::UNAUTHORIZED, t.oidc_failed);
    };
    match s
        .app
        .oidc_finish(code, &started.verifier, &started.nonce, address)
        .await
    {
        Ok(OidcOutcome::SignedIn(out)) => {
            s.app
                .remember_language(out.member_id, visitor.lang.tag())
                .await;
            let mut headers = sign_in_headers(&out.token, visitor.https);
            headers.append(header::SET_COOKIE, clear);
            (headers, Redirect::to(&started.next)).into_response()
        }
        Ok(OidcOutcome::NoAccount) => page(StatusCode::FORBIDDEN, t.oidc_no_account),
        Ok(OidcOutcome::Deactivated) => page(StatusCode::FORBIDDEN, t.oidc_deactivated),
        Err(ServiceError::Unauthenticated(_)) => page(StatusCode::UNAUTHORIZED, t.oidc_failed),
        Err(ServiceError::Unavailable(_)) => {
            page(StatusCode::SERVICE_UNAVAILABLE, t.oidc_unavailable)
        }
        Err(e) => refusal(&s, &visitor, e),
    }
}

fn refusal(s: &ServerState, visitor: &Visitor, e: ServiceError) -> Response {
    let t = visitor.lang.tr();
    let e = ApiError::from(e);
    match e.status {
        StatusCode::SERVICE_UNAVAILABLE => login_form(
            s,
            visitor,
            e.status,
            "/inbox".into(),
            String::new(),
            Some(t.oidc_unavailable.into()),
        ),
        StatusCode::TOO_MANY_REQUESTS => login_form(
            s,
            visitor,
            e.status,
            "/inbox".into(),
            String::new(),
            Some(e.message),
        ),
        _ => error_page(visitor.lang, e),
    }
}
