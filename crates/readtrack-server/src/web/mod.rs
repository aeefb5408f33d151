//! The web app: server-rendered pages (askama), a little plain JavaScript, and assets
//! embedded in the binary.
//!
//! Architecture invariant: pages call the same service operations as the JSON API and
//! convert errors through [`crate::error::ApiError`]; the scripts talk to the JSON API
//! itself (with the session cookie and the CSRF header), so there is one set of rules.
//! Every page gets a strict Content-Security-Policy: no inline script, no framing.

pub mod admin;
pub mod analytics;
pub mod assets;
pub mod audience;
pub mod audit;
pub mod auth;
pub mod board;
pub mod charts;
pub mod chrome;
pub mod compose;
pub mod format;
pub mod i18n;
pub mod inbox;
pub mod mail;
pub mod markdown;
pub mod my_data;
pub mod notice;
pub mod oidc;
pub mod policy;
pub mod session;
pub mod settings;
pub mod surveys;
pub mod tasks;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};

use crate::state::ServerState;

/// The policy every page is served with. Scripts and styles come only from this server;
/// `connect-src 'self'` covers the API and the WebSocket of the same origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The pages, their form handlers and their assets.
pub fn routes(state: &ServerState) -> Router<ServerState> {
    let import_limit = state.config.import_body_limit;
    Router::new()
        .route("/", get(auth::root))
        .route("/login", get(auth::login_page).post(auth::login_submit))
        .route("/auth/oidc/start", get(oidc::start))
        .route("/auth/oidc/callback", get(oidc::callback))
        .route("/setup", get(auth::setup_page).post(auth::setup_submit))
        .route("/l/{secret}", get(auth::mail_link))
        .route(
            "/password-reset",
            get(auth::password_reset_form).post(auth::password_reset_submit),
        )
        .route(
            "/invite/{secret}",
            get(auth::invite_page).post(auth::invite_submit),
        )
        .route("/logout", post(auth::logout))
        .route("/lang/{tag}", get(auth::switch_language))
        .route("/inbox", get(inbox::inbox))
        .route("/inbox/list", get(inbox::inbox_list))
        .route("/sent", get(inbox::sent))
        .route("/notices/{id}", get(notice::notice))
        .route("/notices/{id}/ack", post(notice::ack_without_script))
        .route("/notices/{id}/board", get(board::board))
        .route(
            "/compose",
            get(compose::compose_page).post(compose::compose_submit),
        )
        .route("/web/audience/preview", post(audience::preview))
        .route("/web/markdown/preview", post(compose::markdown_preview))
        .route("/admin/directory", get(admin::directory))
        .route("/admin/departments", post(admin::add_department))
        .route("/admin/members", post(admin::add_member))
        .route(
            "/admin/members/{id}",
            get(admin::member_page).post(admin::save_member),
        )
        .route("/admin/members/{id}/active", post(admin::set_active))
        .route("/admin/members/{id}/invite", post(admin::invite))
        .route(
            "/admin/import",
            post(admin::import).layer(DefaultBodyLimit::max(import_limit)),
        )
        .route("/tasks", get(tasks::tasks))
        .route("/tasks/{id}/complete", post(tasks::complete))
        .route("/me/data", get(my_data::my_data))
        .route("/me/password", post(my_data::change_password))
        .route("/me/notifications", post(my_data::set_notifications))
        .route("/me/second-factor", post(my_data::begin_second_factor))
        .route(
            "/me/second-factor/confirm",
            post(my_data::confirm_second_factor),
        )
        .route(
            "/me/second-factor/disable",
            post(my_data::disable_second_factor),
        )
        .route("/policy", get(policy::policy))
        .route("/policy/ack", post(policy::acknowledge))
        .route("/analytics", get(analytics::analytics))
        .route(
            "/admin/settings",
            get(settings::settings).post(settings::save),
        )
        .route("/admin/audit", get(audit::audit))
        .route("/admin/surveys", get(surveys::admin).post(surveys::open))
        .route("/admin/surveys/{id}/close", post(surveys::close))
        .route("/surveys/{id}", get(surveys::survey).post(surveys::answer))
        // Every other path: a page saying so (and the JSON error under /api/). Static
        // routes and `/api/v1/…` win over this catch-all, whatever the order.
        .route("/{*rest}", any(chrome::not_found))
        .layer(middleware::from_fn(page_headers))
        .route("/assets/{file}", get(assets::asset))
        .route("/favicon.ico", get(assets::favicon))
        .route("/sw.js", get(assets::service_worker))
        .route("/manifest.webmanifest", get(assets::manifest))
}

/// Security headers on every page and form answer (assets set their own caching).
async fn page_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Pages hold personal data (who read what): never keep them in a shared cache.
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    res
}
