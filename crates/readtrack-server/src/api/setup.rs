//! Setup, sign-in, tokens and `me`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use readtrack_protocol::ErrorBody;
use readtrack_protocol::auth::*;
use readtrack_service::org::SetupInput;

use crate::convert;
use crate::error::ApiResult;
use crate::extract::{ApiJson, Auth};
use crate::state::ServerState;

/// First-run setup: creates the organisation and its admin. Only while the server has
/// no organisation (afterwards 409) and with the setup code the server printed at its
/// first start (else 403).
#[utoipa::path(post, path = "/api/v1/setup", tag = "setup", request_body = SetupRequest,
    responses((status = 201, body = SetupResponse), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn setup(
    State(s): State<ServerState>,
    ApiJson(req): ApiJson<SetupRequest>,
) -> ApiResult<(StatusCode, Json<SetupResponse>)> {
    let out = s
        .app
        .setup(SetupInput {
            org_name: req.org_name,
            time_zone: req.time_zone,
            admin_name: req.admin.name,
            admin_email: req.admin.email,
            admin_password: req.admin.password,
            setup_code: req.setup_code,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SetupResponse {
            org_id: out.created.org_id.to_string(),
            admin_id: out.created.admin_id.to_string(),
            token: out.token,
        }),
    ))
}

/// Signs in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "setup", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(s): State<ServerState>,
    crate::extract::ClientAddr(address): crate::extract::ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let out = s
        .app
        .login_from(
            &req.email,
            &req.password,
            req.second_factor_code.as_deref(),
            address,
        )
        .await?;
    Ok(Json(LoginResponse {
        token: out.token,
        member_id: out.member_id.to_string(),
        expires_at: convert::time(out.expires_at),
    }))
}

/// Exchanges the one-time code of a sign-in with the company account, started by the
/// command-line client (`readtrack login --sso`), for a session. The code works once,
/// for two minutes, and only with the PKCE verifier of the challenge the client started
/// with; otherwise 401.
#[utoipa::path(post, path = "/api/v1/auth/oidc/exchange", tag = "setup", request_body = OidcExchangeRequest,
    responses((status = 200, body = LoginResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn oidc_exchange(
    State(s): State<ServerState>,
    crate::extract::ClientAddr(address): crate::extract::ClientAddr,
    ApiJson(req): ApiJson<OidcExchangeRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let out = s
        .app
        .oidc_exchange(&req.code, &req.code_verifier, address)
        .await?;
    Ok(Json(LoginResponse {
        token: out.token,
        member_id: out.member_id.to_string(),
        expires_at: convert::time(out.expires_at),
    }))
}

/// Asks for a password-reset link, emailed to the member (valid for an hour; it opens
/// the invitation page, `POST /api/v1/invitations/accept` takes its secret). The answer
/// is 202 whether or not the address belongs to anyone, and the email goes out after it.
/// 409 `conflict` on a server that sends no email; limited like sign-in (429).
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "setup", request_body = PasswordResetRequest,
    responses((status = 202), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn password_reset(
    State(s): State<ServerState>,
    crate::extract::ClientAddr(address): crate::extract::ClientAddr,
    ApiJson(req): ApiJson<PasswordResetRequest>,
) -> ApiResult<StatusCode> {
    s.app.request_password_reset(&req.email, address).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Signs out: the bearer token stops working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "setup", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(s): State<ServerState>,
    parts: axum::http::request::Parts,
) -> ApiResult<StatusCode> {
    let token = crate::extract::token_of(&parts).ok_or_else(|| {
        crate::error::ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send `Authorization: Bearer <token>`",
        )
    })?;
    s.app.logout(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates an API token acting as a member (admin).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "setup", request_body = CreateTokenRequest, security(("bearer" = [])),
    responses((status = 201, body = CreateTokenResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_token(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreateTokenResponse>)> {
    let (token, id, expires_at) = s
        .app
        .create_api_token(
            &caller,
            &req.name,
            &req.member_id,
            req.expires_in_days,
            req.scope.as_deref(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreateTokenResponse {
            id: id.to_string(),
            token,
            expires_at: convert::time(expires_at),
        }),
    ))
}

/// Revokes a token (admin).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "setup", security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_token(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.delete_token(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's own password, given the current one. Every other sign-in
/// session of the caller ends (open streams too); this one stays. Wrong current
/// passwords count against the account's sign-in limit.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "setup", request_body = ChangePassword, security(("bearer" = [])),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn change_password(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiJson(req): ApiJson<ChangePassword>,
) -> ApiResult<StatusCode> {
    s.app
        .change_own_password(&caller, &req.current_password, &req.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/api/v1/me", tag = "setup", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(State(s): State<ServerState>, Auth(caller): Auth) -> ApiResult<Json<Me>> {
    let org = s.app.org(caller.org_id()).await?;
    let zone = readtrack_service::App::member_zone(&caller.member, &org);
    let may_send = may_send_body(&s.app.may_send(&caller).await?);
    let second_factor = s.app.has_second_factor(caller.id()).await?;
    let email_reminders = s.app.email_reminders(&caller).await?;
    let m = &caller.member;
    Ok(Json(Me {
        id: m.id.to_string(),
        name: m.name.clone(),
        email: m.email.clone(),
        role: m.role.as_str().to_string(),
        department_id: m.department_id.to_string(),
        policy_ack_version: m.policy_ack_version,
        policy_version: org.settings.policy_version,
        org_id: org.id.to_string(),
        org_name: org.name.clone(),
        time_zone: zone.name().to_string(),
        may_send,
        second_factor,
        email_reminders,
    }))
}

/// Switches your reminder and escalation emails on or off (urgent notices and
/// emergencies are emailed regardless).
#[utoipa::path(put, path = "/api/v1/me/notifications", tag = "setup", request_body = NotificationSettings, security(("bearer" = [])),
    responses((status = 200, body = NotificationSettings), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn set_notifications(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiJson(req): ApiJson<NotificationSettings>,
) -> ApiResult<Json<NotificationSettings>> {
    s.app
        .set_email_reminders(&caller, req.email_reminders)
        .await?;
    Ok(Json(NotificationSettings {
        email_reminders: req.email_reminders,
    }))
}

/// What the caller may send, as `GET /api/v1/me` tells it.
pub(crate) fn may_send_body(m: &readtrack_service::rights::MaySend) -> MaySendBody {
    use readtrack_domain::message::{Priority, Tracking};
    let g = &m.grant;
    let allowed = g.may_send();
    MaySendBody {
        reach: g.reach.as_str().into(),
        departments: m.departments.iter().map(|d| d.to_string()).collect(),
        priorities: [Priority::Normal, Priority::Important, Priority::Urgent]
            .into_iter()
            .filter(|p| allowed && *p <= g.max_priority)
            .map(|p| p.as_str().into())
            .collect(),
        tracking: [Tracking::Off, Tracking::Aggregate, Tracking::PerPerson]
            .into_iter()
            .filter(|t| allowed && *t <= g.max_tracking)
            .map(|t| t.as_str().into())
            .collect(),
    }
}

/// Acknowledges the organisation's current communication policy. Until a member has
/// acknowledged the current version, their per-person read data is never shown.
#[utoipa::path(post, path = "/api/v1/policy/ack", tag = "privacy", request_body = PolicyAck, security(("bearer" = [])),
    responses((status = 200, body = PolicyAck), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn ack_policy(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiJson(req): ApiJson<PolicyAck>,
) -> ApiResult<Json<PolicyAck>> {
    let version = s.app.ack_policy(&caller, req.version).await?;
    Ok(Json(PolicyAck { version }))
}

/// Provisions one API token per member (admin), at most 1000 per call.
#[utoipa::path(post, path = "/api/v1/tokens/batch", tag = "setup", request_body = CreateTokensRequest, security(("bearer" = [])),
    responses((status = 201, body = CreateTokensResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_tokens(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiJson(req): ApiJson<CreateTokensRequest>,
) -> ApiResult<(StatusCode, Json<CreateTokensResponse>)> {
    let (tokens, expires_at) = s
        .app
        .create_api_tokens(&caller, &req.name, &req.member_ids, req.expires_in_days)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreateTokensResponse {
            items: tokens
                .into_iter()
                .map(|(member, id, token)| MemberToken {
                    member_id: member.to_string(),
                    id: id.to_string(),
                    token,
                })
                .collect(),
            expires_at: convert::time(expires_at),
        }),
    ))
}

/// Sets an invited member's password and signs them in; the invitation is used up.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "setup", request_body = AcceptInvitation,
    responses((status = 200, body = LoginResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn accept_invitation(
    State(s): State<ServerState>,
    ApiJson(req): ApiJson<AcceptInvitation>,
) -> ApiResult<Json<LoginResponse>> {
    let out = s.app.accept_invitation(&req.token, req.password).await?;
    Ok(Json(LoginResponse {
        token: out.token,
        member_id: out.member_id.to_string(),
        expires_at: convert::time(out.expires_at),
    }))
}

/// Invites a member (admin): a one-time link, valid for a week, with which they choose
/// their password. A new invitation replaces the last; audited.
#[utoipa::path(post, path = "/api/v1/members/{id}/invitation", tag = "directory", security(("bearer" = [])),
    params(("id" = String, Path, description = "Member id")),
    responses((status = 201, body = InvitationResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn invite(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    parts: axum::http::request::Parts,
) -> ApiResult<(StatusCode, Json<InvitationResponse>)> {
    let invitation = s.app.invite(&caller, &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitationResponse {
            member_id: invitation.member_id.to_string(),
            url: crate::web::session::invitation_url(&parts, &invitation.secret),
            token: invitation.secret,
            expires_at: convert::time(invitation.expires_at),
            emailed: invitation.emailed,
        }),
    ))
}

/// Starts turning two-step sign-in on: a new secret for the authenticator app, shown
/// once; it works after `POST /api/v1/me/second-factor/confirm`. 409 when already on.
#[utoipa::path(post, path = "/api/v1/me/second-factor", tag = "setup", security(("bearer" = [])),
    responses((status = 201, body = SecondFactorSetupBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn begin_second_factor(
    State(s): State<ServerState>,
    Auth(caller): Auth,
) -> ApiResult<(StatusCode, Json<SecondFactorSetupBody>)> {
    let setup = s.app.begin_second_factor(&caller).await?;
    Ok((
        StatusCode::CREATED,
        Json(SecondFactorSetupBody {
            secret: setup.secret,
            otpauth_url: setup.otpauth_url,
        }),
    ))
}

/// Turns two-step sign-in on with a first code from the app.
#[utoipa::path(post, path = "/api/v1/me/second-factor/confirm", tag = "setup", request_body = SecondFactorCode, security(("bearer" = [])),
    responses((status = 200, body = SecondFactorState), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn confirm_second_factor(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiJson(req): ApiJson<SecondFactorCode>,
) -> ApiResult<Json<SecondFactorState>> {
    s.app.confirm_second_factor(&caller, &req.code).await?;
    Ok(Json(SecondFactorState { enabled: true }))
}

/// Turns the caller's two-step sign-in off, given a current code.
#[utoipa::path(post, path = "/api/v1/me/second-factor/disable", tag = "setup", request_body = SecondFactorCode, security(("bearer" = [])),
    responses((status = 200, body = SecondFactorState), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn disable_second_factor(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiJson(req): ApiJson<SecondFactorCode>,
) -> ApiResult<Json<SecondFactorState>> {
    s.app.disable_second_factor(&caller, &req.code).await?;
    Ok(Json(SecondFactorState { enabled: false }))
}

/// Removes a member's two-step sign-in (admin), for a lost phone; audited.
#[utoipa::path(delete, path = "/api/v1/members/{id}/second-factor", tag = "directory", security(("bearer" = [])),
    params(("id" = String, Path, description = "Member id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reset_second_factor(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.reset_second_factor(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
