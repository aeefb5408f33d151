//! Setup, sign-in, tokens and `me`.

use serde::{Deserialize, Serialize};

/// `POST /api/v1/setup`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetupRequest {
    /// The organisation's name.
    pub org_name: String,
    /// IANA time zone, e.g. `Asia/Hong_Kong`.
    pub time_zone: String,
    /// The first admin.
    pub admin: SetupAdmin,
    /// The one-time code the server printed on its console at its first start (or the
    /// one preset with `--setup-code`); without the right one, 403.
    #[serde(default)]
    pub setup_code: String,
}

/// The first admin of a new organisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetupAdmin {
    /// Name.
    pub name: String,
    /// Email (the login).
    pub email: String,
    /// Password, at least 8 characters.
    pub password: String,
}

/// Answer to setup.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetupResponse {
    /// The organisation.
    pub org_id: String,
    /// The admin.
    pub admin_id: String,
    /// A session token for the admin.
    pub token: String,
}

/// `POST /api/v1/me/password`: the caller changes their own password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePassword {
    /// The password now.
    pub current_password: String,
    /// The new one (at least 8 characters).
    pub new_password: String,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
    /// The current 6-digit code of the authenticator app, for an account with two-step
    /// sign-in (without it such an account answers 401 `second_factor_required`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_factor_code: Option<String>,
}

/// `POST /api/v1/auth/oidc/exchange`: the command-line client's one-time code from a
/// sign-in with the company account, and the PKCE verifier of the challenge it started
/// with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OidcExchangeRequest {
    /// The one-time code the browser brought to the client's loopback address.
    pub code: String,
    /// The PKCE code verifier whose S256 challenge started the sign-in.
    pub code_verifier: String,
}

/// Answer to login.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    /// Bearer token.
    pub token: String,
    /// The member signed in.
    pub member_id: String,
    /// When the token stops working (RFC 3339).
    pub expires_at: String,
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTokenRequest {
    /// A label (`hr-system`).
    pub name: String,
    /// The member the token acts as (for `scim`, an admin; left out, the caller).
    #[serde(default)]
    pub member_id: String,
    /// Days until it expires (default 365).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<i64>,
    /// `member` (default): acts as `member_id`. `relay`: a gateway that may only post
    /// receipts, each naming its member with `member_id`. `scim`: an identity provider's
    /// token for SCIM provisioning at `/scim/v2`, refused everywhere else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// `POST /api/v1/tokens/batch` (admin): one API token per member, for provisioning
/// devices or integrations (at most 1000 members per call).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTokensRequest {
    /// A label for all of them.
    pub name: String,
    /// The members.
    pub member_ids: Vec<String>,
    /// Days until they expire (default 365).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<i64>,
}

/// One provisioned token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberToken {
    /// The member it acts as.
    pub member_id: String,
    /// The token's id.
    pub id: String,
    /// The secret (shown once).
    pub token: String,
}

/// Answer to a batch of tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTokensResponse {
    /// One per member, in order.
    pub items: Vec<MemberToken>,
    /// Expiry of all of them.
    pub expires_at: String,
}

/// Answer to token creation; the secret is shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTokenResponse {
    /// The token's id (for deletion).
    pub id: String,
    /// The secret.
    pub token: String,
    /// Expiry (RFC 3339).
    pub expires_at: String,
}

/// `GET /api/v1/me`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    /// Member id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// `admin`, `member` or `auditor`.
    pub role: String,
    /// Home department.
    pub department_id: String,
    /// The policy version this member acknowledged (0: none).
    pub policy_ack_version: i64,
    /// The organisation's current policy version.
    pub policy_version: i64,
    /// The organisation.
    pub org_id: String,
    /// The organisation's name.
    pub org_name: String,
    /// The member's own time zone, else the organisation's.
    pub time_zone: String,
    /// What this member may send.
    pub may_send: MaySendBody,
    /// Whether two-step sign-in (TOTP) is on for this member.
    pub second_factor: bool,
    /// Whether reminders and escalations also reach you by email when the server sends
    /// email (urgent notices and emergencies do regardless).
    #[serde(default = "yes")]
    pub email_reminders: bool,
}

/// What a member may send, for clients to offer only that.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MaySendBody {
    /// `nobody`, `own_department` or `everyone`.
    pub reach: String,
    /// With `own_department`: the departments they may send to (their own and below).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub departments: Vec<String>,
    /// The priorities they may use, lowest first.
    pub priorities: Vec<String>,
    /// The tracking levels they may ask for, least first.
    pub tracking: Vec<String>,
}

/// `POST /api/v1/policy/ack`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyAck {
    /// The policy version read and acknowledged (the current one).
    pub version: i64,
}

/// `POST /api/v1/members/{id}/invitation` (admin): a one-time link for the member to
/// choose their password. A newer invitation replaces it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitationResponse {
    /// Who is invited.
    pub member_id: String,
    /// The link to hand them (this server's address as the request reached it).
    pub url: String,
    /// The link's secret, for `POST /api/v1/invitations/accept`.
    pub token: String,
    /// Until when it works (RFC 3339).
    pub expires_at: String,
    /// Whether it was also emailed to the member (the server sends email and the mail
    /// server took it); otherwise hand them the link.
    #[serde(default)]
    pub emailed: bool,
}

fn yes() -> bool {
    true
}

/// `PUT /api/v1/me/notifications`: which emails you receive.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationSettings {
    /// Reminders and escalations by email (urgent notices and emergencies are emailed
    /// regardless).
    pub email_reminders: bool,
}

/// `POST /api/v1/auth/password-reset`: a member who forgot their password asks for a
/// link that sets a new one, emailed to them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasswordResetRequest {
    /// The member's email address.
    pub email: String,
}

/// `POST /api/v1/invitations/accept`: the invited member's password; answers like
/// sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptInvitation {
    /// The invitation's secret (the last part of its link).
    pub token: String,
    /// The password to set, at least 8 characters.
    pub password: String,
}

/// `POST /api/v1/me/second-factor`: what the authenticator app needs, shown once; the
/// factor works after a first code confirms it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecondFactorSetupBody {
    /// The shared secret, base32 (to type into the app).
    pub secret: String,
    /// The `otpauth://totp/…` URL (for a QR code).
    pub otpauth_url: String,
}

/// A code from the authenticator app.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecondFactorCode {
    /// The current 6-digit code.
    pub code: String,
}

/// Whether two-step sign-in is on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecondFactorState {
    /// On or off.
    pub enabled: bool,
}
