//! The OpenAPI document, generated from the handlers and wire types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// readtrack's HTTP API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "readtrack",
        description = "Accountable messaging: tracked notices, receipts, live read boards, reminders and privacy guardrails. Every POST takes an optional `Idempotency-Key` header (1-255 visible characters): the same key and body from the same credential get the first answer again (`Idempotent-Replayed: true`), the same key with another body 422 `idempotency_key_reused`, a retry while the first runs 409. A request body must arrive within 20 s (408 `body_too_slow`) and is received before the request takes a server slot; one address may have 256 requests in flight (429) and 512 connections open; a connection idle for 75 s is closed.",
        license(name = "Apache-2.0")
    ),
    paths(
        api::setup::setup,
        api::setup::login,
        api::setup::password_reset,
        api::setup::set_notifications,
        api::setup::oidc_exchange,
        api::setup::accept_invitation,
        api::setup::invite,
        api::setup::begin_second_factor,
        api::setup::confirm_second_factor,
        api::setup::disable_second_factor,
        api::setup::reset_second_factor,
        api::setup::logout,
        api::setup::create_token,
        api::setup::delete_token,
        api::setup::create_tokens,
        api::setup::me,
        api::setup::change_password,
        api::setup::ack_policy,
        api::directory::create_department,
        api::directory::list_departments,
        api::directory::create_member,
        api::directory::list_members,
        api::directory::get_member,
        api::directory::update_member,
        api::directory::import_members,
        api::messages::send,
        api::messages::list,
        api::messages::get,
        api::receipts::post_receipts,
        api::receipts::board,
        api::board_csv::board_csv,
        api::stream::stream,
        api::tasks::list,
        api::tasks::complete,
        api::tasks::team_unread,
        api::tasks::remind,
        api::tasks::create_webhook,
        api::tasks::list_webhooks,
        api::tasks::delete_webhook,
        api::tasks::deliveries,
        api::privacy::get_settings,
        api::privacy::patch_settings,
        api::privacy::get_policy,
        api::privacy::export_me,
        api::privacy::audit_log,
        api::privacy::departments,
        api::privacy::compare,
        api::privacy::create_survey,
        api::privacy::my_surveys,
        api::privacy::answer_survey,
        api::privacy::survey_results,
        api::privacy::close_survey,
        api::ops::healthz,
        api::ops::readyz,
        api::ops::metrics,
    ),
    components(schemas(
        readtrack_protocol::frames::ServerFrame,
        readtrack_protocol::frames::ClientFrame,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "setup", description = "First run, sign-in and tokens"),
        (name = "directory", description = "Departments and members"),
        (name = "messages", description = "Tracked notices"),
        (name = "receipts", description = "Receipts and read boards"),
        (name = "realtime", description = "The WebSocket stream"),
        (name = "tasks", description = "Tasks and escalations"),
        (name = "integrations", description = "Outgoing webhooks"),
        (name = "privacy", description = "Policy, settings, audit and export"),
        (name = "analytics", description = "Department figures and pilot comparisons"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;
