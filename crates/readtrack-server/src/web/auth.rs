//! Sign-in, first-run setup, sign-out and the language switch.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use readtrack_service::org::SetupInput;
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::ServerState;
use crate::web::chrome::{Chrome, error_page, render};
use crate::web::i18n::{LANG_COOKIE, Lang};
use crate::web::session::{
    self, LOGIN_CSRF_COOKIE, Visitor, new_login_csrf, safe_next, set_cookie, sign_in_headers,
};

/// `GET /`: the inbox, or the way to it.
pub async fn root(State(s): State<ServerState>, visitor: Visitor) -> Response {
    match s.app.is_set_up().await {
        Ok(false) => Redirect::to("/setup").into_response(),
        Ok(true) if visitor.session.is_some() => Redirect::to("/inbox").into_response(),
        Ok(true) => Redirect::to("/login").into_response(),
        Err(e) => error_page(visitor.lang, e.into()),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    ctx: Chrome,
    csrf: String,
    next: String,
    email: String,
    /// The account has two-step sign-in: the form asks for the code too.
    needs_code: bool,
    error: Option<String>,
    /// Where sign-in through the organisation's identity provider starts, when offered.
    oidc_href: Option<String>,
}

/// Query of the sign-in page.
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    /// Where to go after signing in (a path on this site).
    pub next: Option<String>,
}

/// A fresh sign-in CSRF value, reusing the visitor's cookie when it has one so that two
/// open tabs do not invalidate each other.
fn login_csrf(visitor: &Visitor) -> (String, Option<HeaderValue>) {
    match &visitor.login_csrf {
        Some(c) => (c.clone(), None),
        None => {
            let c = new_login_csrf();
            let cookie = set_cookie(LOGIN_CSRF_COOKIE, &c, 3600, visitor.https);
            (c, Some(cookie))
        }
    }
}

fn with_cookie(mut res: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

pub(crate) fn login_form(
    s: &ServerState,
    visitor: &Visitor,
    status: StatusCode,
    next: String,
    email: String,
    error: Option<String>,
) -> Response {
    login_form_with(s, visitor, status, next, email, false, error)
}

fn login_form_with(
    s: &ServerState,
    visitor: &Visitor,
    status: StatusCode,
    next: String,
    email: String,
    needs_code: bool,
    error: Option<String>,
) -> Response {
    let (csrf, cookie) = login_csrf(visitor);
    let oidc_href = s
        .app
        .oidc_enabled()
        .then(|| format!("/auth/oidc/start?next={}", session::percent_encode(&next)));
    let page = LoginPage {
        ctx: Chrome::anonymous(visitor.lang, "/login"),
        csrf,
        next,
        email,
        needs_code,
        error,
        oidc_href,
    };
    with_cookie(render(status, &page), cookie)
}

/// `GET /login`.
pub async fn login_page(
    State(s): State<ServerState>,
    visitor: Visitor,
    Query(q): Query<NextQuery>,
) -> Response {
    match s.app.is_set_up().await {
        Ok(false) => return Redirect::to("/setup").into_response(),
        Ok(true) => {}
        Err(e) => return error_page(visitor.lang, e.into()),
    }
    login_form(
        &s,
        &visitor,
        StatusCode::OK,
        safe_next(q.next.as_deref()),
        String::new(),
        None,
    )
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
    /// The authenticator app's code, for accounts with two-step sign-in.
    #[serde(default)]
    code: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /login`: signs in and sets the session cookie.
pub async fn login_submit(
    State(s): State<ServerState>,
    visitor: Visitor,
    crate::extract::ClientAddr(address): crate::extract::ClientAddr,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    if !visitor.login_csrf_ok(&f.csrf) {
        let t = visitor.lang.tr();
        return login_form(
            &s,
            &visitor,
            StatusCode::FORBIDDEN,
            next,
            f.email,
            Some(t.form_expired.into()),
        );
    }
    // The per-address limit holds here as on the API's sign-in.
    let code = Some(f.code.as_str()).filter(|c| !c.trim().is_empty());
    match s.app.login_from(&f.email, &f.password, code, address).await {
        Ok(out) => {
            // Emails go out in the language the person signs in with.
            s.app
                .remember_language(out.member_id, visitor.lang.tag())
                .await;
            (
                sign_in_headers(&out.token, visitor.https),
                Redirect::to(&next),
            )
                .into_response()
        }
        // The password was right: ask again, with the code.
        Err(readtrack_service::ServiceError::SecondFactorRequired) => {
            let t = visitor.lang.tr();
            login_form_with(
                &s,
                &visitor,
                StatusCode::UNAUTHORIZED,
                next,
                f.email,
                true,
                Some(t.second_factor_needed.into()),
            )
        }
        Err(readtrack_service::ServiceError::Unauthenticated(_)) => {
            let t = visitor.lang.tr();
            login_form_with(
                &s,
                &visitor,
                StatusCode::UNAUTHORIZED,
                next,
                f.email,
                code.is_some(),
                Some(t.wrong_login.into()),
            )
        }
        Err(e) => {
            let e = ApiError::from(e);
            if e.status == StatusCode::TOO_MANY_REQUESTS {
                login_form(&s, &visitor, e.status, next, f.email, Some(e.message))
            } else {
                error_page(visitor.lang, e)
            }
        }
    }
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct PasswordResetPage {
    ctx: Chrome,
    csrf: String,
    show_form: bool,
    message: Option<String>,
    error: Option<String>,
}

fn password_reset_page(
    s: &ServerState,
    visitor: &Visitor,
    status: StatusCode,
    message: Option<String>,
    error: Option<String>,
) -> Response {
    let (csrf, cookie) = login_csrf(visitor);
    let sends = s.app.sends_email();
    let page = PasswordResetPage {
        ctx: Chrome::anonymous(visitor.lang, "/password-reset"),
        csrf,
        show_form: sends && message.is_none(),
        message: message
            .or_else(|| (!sends).then(|| visitor.lang.tr().reset_unavailable.to_string())),
        error,
    };
    with_cookie(render(status, &page), cookie)
}

/// `GET /password-reset`: asks for the address to send a reset link to.
pub async fn password_reset_form(State(s): State<ServerState>, visitor: Visitor) -> Response {
    password_reset_page(&s, &visitor, StatusCode::OK, None, None)
}

/// The reset form.
#[derive(Debug, Deserialize)]
pub struct PasswordResetForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// `POST /password-reset`: the same answer whether or not the address is known.
pub async fn password_reset_submit(
    State(s): State<ServerState>,
    visitor: Visitor,
    crate::extract::ClientAddr(address): crate::extract::ClientAddr,
    Form(f): Form<PasswordResetForm>,
) -> Response {
    let t = visitor.lang.tr();
    if !visitor.login_csrf_ok(&f.csrf) {
        return password_reset_page(
            &s,
            &visitor,
            StatusCode::FORBIDDEN,
            None,
            Some(t.form_expired.into()),
        );
    }
    match s.app.request_password_reset(&f.email, address).await {
        Ok(()) => password_reset_page(
            &s,
            &visitor,
            StatusCode::OK,
            Some(t.reset_sent.into()),
            None,
        ),
        Err(e) => {
            let e = ApiError::from(e);
            password_reset_page(&s, &visitor, e.status, None, Some(e.message))
        }
    }
}

/// `GET /l/{secret}`: an email's link. Signs the person it was sent to in (someone who
/// protects their sign-in with a second factor is sent to the sign-in page instead) and
/// opens the notice, where the usual rule decides what is read; a manager told of an
/// unread notice lands on their tasks. An unknown or expired link says so (410).
pub async fn mail_link(
    State(s): State<ServerState>,
    visitor: Visitor,
    axum::extract::Path(secret): axum::extract::Path<String>,
) -> Response {
    let opened = match s.app.open_mail_link(&secret).await {
        Ok(o) => o,
        Err(readtrack_service::ServiceError::NotFound(_)) => {
            let t = visitor.lang.tr();
            return error_page(
                visitor.lang,
                ApiError::new(StatusCode::GONE, "link_expired", t.link_expired_body),
            );
        }
        Err(e) => return error_page(visitor.lang, e.into()),
    };
    let target = if opened.is_recipient {
        format!("/notices/{}", opened.message)
    } else {
        "/tasks".to_string()
    };
    if let Some(token) = &visitor.session
        && let Ok(caller) = s.app.authenticate(token).await
        && caller.id() == opened.member.id
    {
        return Redirect::to(&target).into_response();
    }
    match s.app.sign_in_by_link(&opened).await {
        Ok(Some(token)) => (
            sign_in_headers(&token, visitor.https),
            Redirect::to(&target),
        )
            .into_response(),
        Ok(None) => Redirect::to(&format!("/login?next={target}")).into_response(),
        Err(e) => error_page(visitor.lang, e.into()),
    }
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    ctx: Chrome,
    csrf: String,
    org_name: String,
    time_zone: String,
    name: String,
    email: String,
    setup_code: String,
    error: Option<String>,
}

/// The first-run form.
#[derive(Debug, Deserialize, Default)]
pub struct SetupForm {
    org_name: String,
    time_zone: String,
    name: String,
    email: String,
    password: String,
    #[serde(default)]
    setup_code: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

fn setup_form(
    visitor: &Visitor,
    status: StatusCode,
    f: SetupForm,
    error: Option<String>,
) -> Response {
    let (csrf, cookie) = login_csrf(visitor);
    let page = SetupPage {
        ctx: Chrome::anonymous(visitor.lang, "/setup"),
        csrf,
        org_name: f.org_name,
        time_zone: if f.time_zone.is_empty() {
            "Asia/Hong_Kong".into()
        } else {
            f.time_zone
        },
        name: f.name,
        email: f.email,
        setup_code: f.setup_code,
        error,
    };
    with_cookie(render(status, &page), cookie)
}

/// `GET /setup`: only while the server has no organisation.
pub async fn setup_page(State(s): State<ServerState>, visitor: Visitor) -> Response {
    match s.app.is_set_up().await {
        Ok(true) => Redirect::to("/login").into_response(),
        Ok(false) => setup_form(&visitor, StatusCode::OK, SetupForm::default(), None),
        Err(e) => error_page(visitor.lang, e.into()),
    }
}

/// `POST /setup`: creates the organisation and signs its admin in.
pub async fn setup_submit(
    State(s): State<ServerState>,
    visitor: Visitor,
    Form(f): Form<SetupForm>,
) -> Response {
    if !visitor.login_csrf_ok(&f.csrf) {
        let msg = visitor.lang.tr().form_expired.to_string();
        return setup_form(&visitor, StatusCode::FORBIDDEN, f, Some(msg));
    }
    let input = SetupInput {
        org_name: f.org_name.clone(),
        time_zone: f.time_zone.clone(),
        admin_name: f.name.clone(),
        admin_email: f.email.clone(),
        admin_password: f.password.clone(),
        setup_code: f.setup_code.clone(),
    };
    match s.app.setup(input).await {
        Ok(out) => (
            sign_in_headers(&out.token, visitor.https),
            Redirect::to("/admin/directory"),
        )
            .into_response(),
        Err(readtrack_service::ServiceError::Conflict(_)) => Redirect::to("/login").into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_client_error() {
                setup_form(&visitor, e.status, f, Some(e.message))
            } else {
                error_page(visitor.lang, e)
            }
        }
    }
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /logout`: forgets the session cookie.
pub async fn logout(
    State(s): State<ServerState>,
    visitor: Visitor,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let Some(token) = &visitor.session else {
        return Redirect::to("/login").into_response();
    };
    if !session::session_csrf_ok(token, &f.csrf) {
        // A cross-site form cannot sign people out; a stale tab just goes home.
        return Redirect::to("/inbox").into_response();
    }
    // The token itself is revoked, not only forgotten by this browser.
    if let Err(e) = s.app.logout(token).await {
        tracing::debug!(error = %e, "sign-out of an already invalid session");
    }
    let mut h = HeaderMap::new();
    h.append(
        header::SET_COOKIE,
        set_cookie(crate::SESSION_COOKIE, "", 0, visitor.https),
    );
    (h, Redirect::to("/login")).into_response()
}

/// `GET /lang/{tag}?next=`: remembers the language and goes back.
pub async fn switch_language(
    visitor: Visitor,
    Path(tag): Path<String>,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    let Some(lang) = Lang::from_tag(&tag) else {
        return Redirect::to(&next).into_response();
    };
    let mut h = HeaderMap::new();
    // A preference, not a credential: a year, and readable by nothing but the server.
    h.append(
        header::SET_COOKIE,
        set_cookie(LANG_COOKIE, lang.tag(), 365 * 24 * 3600, visitor.https),
    );
    (h, Redirect::to(&next)).into_response()
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    ctx: Chrome,
    csrf: String,
    secret: String,
    /// The invited person's name; `None` when the link does not work.
    name: Option<String>,
    email: String,
    org_name: String,
    error: Option<String>,
}

/// The invitation form: the invited member's password.
#[derive(Debug, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    password: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

async fn invite_form(
    s: &ServerState,
    visitor: &Visitor,
    secret: String,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let (csrf, cookie) = login_csrf(visitor);
    let invited = match s.app.invitation(&secret).await {
        Ok(m) => Some(m),
        Err(readtrack_service::ServiceError::NotFound(_)) => None,
        Err(e) => return error_page(visitor.lang, e.into()),
    };
    let org_name = match &invited {
        Some(m) => match s.app.org(m.org_id).await {
            Ok(org) => org.name.clone(),
            Err(e) => return error_page(visitor.lang, e.into()),
        },
        None => String::new(),
    };
    let status = if invited.is_none() {
        StatusCode::NOT_FOUND
    } else {
        status
    };
    let page = InvitePage {
        ctx: Chrome::anonymous(visitor.lang, "/login"),
        csrf,
        secret: if invited.is_some() {
            secret
        } else {
            String::new()
        },
        name: invited.as_ref().map(|m| m.name.clone()),
        email: invited.map(|m| m.email).unwrap_or_default(),
        org_name,
        error,
    };
    with_cookie(render(status, &page), cookie)
}

/// `GET /invite/{secret}`: the invited person chooses their password.
pub async fn invite_page(
    State(s): State<ServerState>,
    visitor: Visitor,
    Path(secret): Path<String>,
) -> Response {
    invite_form(&s, &visitor, secret, StatusCode::OK, None).await
}

/// `POST /invite/{secret}`: sets the password, uses the invitation up and signs in.
pub async fn invite_submit(
    State(s): State<ServerState>,
    visitor: Visitor,
    Path(secret): Path<String>,
    Form(f): Form<InviteForm>,
) -> Response {
    if !visitor.login_csrf_ok(&f.csrf) {
        let msg = visitor.lang.tr().form_expired.to_string();
        return invite_form(&s, &visitor, secret, StatusCode::FORBIDDEN, Some(msg)).await;
    }
    match s.app.accept_invitation(&secret, f.password).await {
        // The policy comes first: it says what is recorded about them.
        Ok(out) => (
            sign_in_headers(&out.token, visitor.https),
            Redirect::to("/policy"),
        )
            .into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_client_error() {
                invite_form(&s, &visitor, secret, e.status, Some(e.message)).await
            } else {
                error_page(visitor.lang, e)
            }
        }
    }
}
