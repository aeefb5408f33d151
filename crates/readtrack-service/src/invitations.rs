//! Invitations: how people get into an organisation without an identity provider. An
//! admin invites a member; the one-time link (kept only as a hash, valid for a week,
//! replaced by a newer one) lets that member choose their password, and signs them in.

use jiff::{SignedDuration, Timestamp};
use readtrack_domain::ids::MemberId;
use readtrack_domain::member::{Member, check_password};
use readtrack_storage::TokenKind;

use crate::App;
use crate::auth::{self, Caller};
use crate::error::{Result, ServiceError};
use crate::org::LoginOutput;

/// How long an invitation link works.
pub const INVITATION_TTL: SignedDuration = SignedDuration::from_hours(24 * 7);

/// A fresh invitation: hand `secret` to the person (as a link), once.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// Who is invited.
    pub member_id: MemberId,
    /// The link's secret; only its hash is stored.
    pub secret: String,
    /// Until when it works.
    pub expires_at: Timestamp,
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
        Ok(Invitation {
            member_id: id,
            secret,
            expires_at,
        })
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
        let (token, _, expires_at) = self
            .issue_token(member.org_id, member.id, TokenKind::Session, None, None)
            .await?;
        Ok(LoginOutput {
            token,
            member_id: member.id,
            expires_at,
        })
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
