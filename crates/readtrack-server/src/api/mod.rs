//! The JSON API under `/api/v1`, one module per resource.

pub mod board_csv;
pub mod directory;
pub mod messages;
pub mod ops;
pub mod privacy;
pub mod receipts;
pub mod setup;
pub mod stream;
pub mod tasks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};

use crate::state::ServerState;

/// The `/api/v1` routes.
pub fn routes(state: &ServerState) -> Router<ServerState> {
    let import_limit = state.config.import_body_limit;
    let mut api = Router::new()
        .route("/setup", post(setup::setup))
        .route("/auth/login", post(setup::login))
        .route("/auth/password-reset", post(setup::password_reset))
        .route("/auth/oidc/exchange", post(setup::oidc_exchange))
        .route("/auth/logout", post(setup::logout))
        .route("/tokens", post(setup::create_token))
        .route("/tokens/batch", post(setup::create_tokens))
        .route("/tokens/{id}", delete(setup::delete_token))
        .route("/me", get(setup::me))
        .route("/policy/ack", post(setup::ack_policy))
        .route("/policy", get(privacy::get_policy))
        .route(
            "/org/settings",
            get(privacy::get_settings).patch(privacy::patch_settings),
        )
        .route("/me/export", get(privacy::export_me))
        .route("/me/notifications", put(setup::set_notifications))
        .route("/me/password", post(setup::change_password))
        .route("/invitations/accept", post(setup::accept_invitation))
        .route("/me/second-factor", post(setup::begin_second_factor))
        .route(
            "/me/second-factor/confirm",
            post(setup::confirm_second_factor),
        )
        .route(
            "/me/second-factor/disable",
            post(setup::disable_second_factor),
        )
        .route(
            "/members/{id}/second-factor",
            delete(setup::reset_second_factor),
        )
        .route("/members/{id}/invitation", post(setup::invite))
        .route("/audit", get(privacy::audit_log))
        .route("/analytics/departments", get(privacy::departments))
        .route("/analytics/compare", get(privacy::compare))
        .route(
            "/surveys",
            post(privacy::create_survey).get(privacy::my_surveys),
        )
        .route("/surveys/{id}/answers", post(privacy::answer_survey))
        .route("/surveys/{id}/results", get(privacy::survey_results))
        .route("/surveys/{id}/close", post(privacy::close_survey))
        .route(
            "/departments",
            post(directory::create_department).get(directory::list_departments),
        )
        .route(
            "/members",
            post(directory::create_member).get(directory::list_members),
        )
        .route(
            "/members/import",
            post(directory::import_members).layer(DefaultBodyLimit::max(import_limit)),
        )
        .route(
            "/members/{id}",
            get(directory::get_member).patch(directory::update_member),
        )
        .route("/messages", post(messages::send).get(messages::list))
        .route("/messages/{id}", get(messages::get))
        .route("/messages/{id}/receipts", get(receipts::board))
        .route("/messages/{id}/receipts.csv", get(board_csv::board_csv))
        .route("/messages/{id}/remind", post(tasks::remind))
        .route("/receipts", post(receipts::post_receipts))
        .route("/tasks", get(tasks::list))
        .route("/tasks/{id}/complete", post(tasks::complete))
        .route("/team/unread", get(tasks::team_unread))
        .route(
            "/webhooks",
            post(tasks::create_webhook).get(tasks::list_webhooks),
        )
        .route("/webhooks/{id}", delete(tasks::delete_webhook))
        .route("/webhooks/{id}/deliveries", get(tasks::deliveries))
        .route("/stream", get(stream::stream));
    if state.config.dev_clock {
        api = api.route("/dev/clock", post(ops::dev_clock));
    }
    api.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        crate::idempotency::idempotent,
    ))
}
