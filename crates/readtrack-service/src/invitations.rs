//! Invitations: how people get into an organisation without an identity provider. An
//! admin invites a member; the one-time link (kept only as a hash, valid for a week,
//! replaced by a newer one) lets that member choose their password, and signs them in.
//! When the server sends email the link is also emailed to the member. A password reset
//! is the same link, asked for by the member themselves, emailed only, valid for an hour.

use jiff::{SignedDuration, Timestamp};
use readtrack_domain::ids::MemberId;
use readtrack_domain::member::{Member, check_password};

use readtrack_domain::email::Email;

use crate::App;
use crate::auth::{self, Caller};
use crate::error::{Result, ServiceError};
use crate::mail::AccountMailKind;
use crate::org::LoginOutput;

/// How long an invitation link works.
pub const INVITATION_TTL: SignedDuration = SignedDuration::from_hours(24 * 7);
/// How long a password-reset link works.
pub const RESET_TTL: SignedDuration = SignedDuration::from_hours(1);

/// A fresh invitation: hand `secret` to the person (as a link), once.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// Who is invited.
    pub member_id: MemberId,
    /// The link's secret; only its hash is stored.
    pub secret: String,
    /// Until when it works.
    pub expires_at: Timestamp,
    /// Whether it was emailed to the member (the server sends email and the mail server
    /// took it).
    pub emailed: bool,
}

impl App {
    /// Invites a member (admin): a new one-time secret that replaces any earlier one.
    /// Audited, naming the member.
    pub async fn invite(&self, caller: &Caller, member_id: &str) -> Result<Invitation> {
        caller.require_admin()?;
        let id = MemberId::parse("id", member_id).map_err(|_| ServiceError::NotFound("member"))?;
        let member = self
            .storage()
            .member(caller.org_id(), id)
            .await?
            .ok_or(ServiceError::NotFound("member"))?;
        if !member.active {
            return Err(ServiceError::Conflict(format!(
                "{} is deactivated; reactivate them before inviting them",
                member.name
            )));
        }
        let (secret, hash) = auth::new_token();
        let now = self.clock().now();
        let expires_at = now.saturating_add(INVITATION_TTL).unwrap_or(now);
        self.storage()
            .put_invitation(caller.org_id(), id, &hash, now, expires_at)
            .await?;
        self.audit(caller, "member.invited", format!("member:{id}"), vec![id])
            .await?;
        let emailed = self.sends_email()
            && match self
                .send_account_mail(
                    &member,
                    AccountMailKind::Invitation,
                    &format!("/invite/{secret}"),
                    INVITATION_TTL,
                )
                .await
            {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(error = %e, member = %id, "the invitation could not be emailed; hand out its link");
                    false
                }
            };
        Ok(Invitation {
            member_id: id,
            secret,
            expires_at,
            emailed,
        })
    }

    /// A member who forgot their password asks for a reset: when `email` is an active
    /// member's, a link that sets a new password (valid for an hour, replacing any open
    /// invitation) is emailed to them. The answer is the same whether or not the address
    /// is known, and the email goes out after it, so neither the answer nor its timing
    /// tells who has an account. Limited per address and per account like sign-in;
    /// refused (409) on a server that sends no email.
    pub async fn request_password_reset(
        &self,
        email: &str,
        address: Option<std::net::IpAddr>,
    ) -> Result<()> {
        if !self.sends_email() {
            return Err(ServiceError::Conflict(
                "this server does not send email, so passwords cannot be reset by email; ask an administrator for a new invitation".into(),
            ));
        }
        if let Some(ip) = address {
            self.inner
                .limiters
                .login_address
                .check(&ip.to_string(), "password resets from this address")?;
        }
        let account = email.trim().to_lowercase();
        self.inner
            .limiters
            .login_account
            .check(&account, "password resets for this account")?;
        let app = self.clone();
        tokio::spawn(async move {
            if let Err(e) = app.send_password_reset(&account).await {
                tracing::warn!(error = %e, "a password reset could not be sent");
            }
        });
        Ok(())
    }

    async fn send_password_reset(&self, email: &str) -> Result<()> {
        let Ok(email) = Email::parse("email", email) else {
            return Ok(());
        };
        let Some(record) = self.storage().login_record(email.as_str()).await? else {
            return Ok(());
        };
        let Some(member) = self
            .storage()
            .member(record.org_id, record.member_id)
            .await?
            .filter(|m| m.active)
        else {
            return Ok(());
        };
        let (secret, hash) = auth::new_token();
        let now = self.clock().now();
        let expires_at = now.saturating_add(RESET_TTL).unwrap_or(now);
        self.storage()
            .put_invitation(member.org_id, member.id, &hash, now, expires_at)
            .await?;
        self.storage()
            .record_audit(readtrack_storage::NewAudit {
                org_id: member.org_id,
                actor_id: Some(member.id),
                action: "member.password_reset_requested".into(),
                subject: format!("member:{}", member.id),
                members: vec![member.id],
                now,
            })
            .await?;
        self.send_account_mail(
            &member,
            AccountMailKind::PasswordReset,
            &format!("/invite/{secret}"),
            RESET_TTL,
        )
        .await?;
        Ok(())
    }

    /// The person an invitation is for (the page greets them by name); 404 when the link
    /// is unknown, used or expired.
    pub async fn invitation(&self, secret: &str) -> Result<Member> {
        self.storage()
            .invited_member(&auth::hash_token(secret.trim()), self.clock().now())
            .await?
            .ok_or(ServiceError::NotFound("invitation"))
    }

    /// Accepts an invitation: sets the invited member's password, uses the link up and
    /// signs them in. 404 when the link is unknown, used or expired.
    pub async fn accept_invitation(&self, secret: &str, password: String) -> Result<LoginOutput> {
        check_password("password", &password)?;
        let hash = auth::hash_password(password).await?;
        let member = self
            .storage()
            .accept_invitation(&auth::hash_token(secret.trim()), &hash, self.clock().now())
            .await?
            .ok_or(ServiceError::NotFound("invitation"))?;
        // Their earlier sessions ended with the old password: drop them from the cache and
        // close the streams opened with them.
        self.inner.tokens.forget_member(member.id);
        self.inner.streams.end_member(member.id);
        self.start_session(member.org_id, member.id).await
    }

    /// The members with an invitation still open, with its expiry (admin).
    pub async fn open_invitations(&self, caller: &Caller) -> Result<Vec<(MemberId, Timestamp)>> {
        caller.require_admin()?;
        Ok(self
            .storage()
            .open_invitations(caller.org_id(), self.clock().now())
            .await?)
    }
}
