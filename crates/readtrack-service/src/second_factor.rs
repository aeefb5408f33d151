//! The optional second factor for password sign-ins: TOTP (RFC 6238: HMAC-SHA-1, six
//! digits, 30-second steps, one step of drift either way), as authenticator apps speak
//! it. A member turns it on by scanning the secret and confirming one code; from then on
//! sign-in asks for a code, and no code is accepted twice.

use readtrack_domain::FieldError;
use readtrack_domain::ids::MemberId;
use totp_rs::{Builder, Secret, Totp};

use crate::App;
use crate::auth::Caller;
use crate::error::{Result, ServiceError};

/// What the authenticator app needs, shown once while turning the factor on.
#[derive(Debug, Clone)]
pub struct SecondFactorSetup {
    /// The shared secret, base32 (for typing in).
    pub secret: String,
    /// The `otpauth://` URL (for a QR code or a tap on the phone).
    pub otpauth_url: String,
}

/// The generator for a stored base32 secret, named for `account` in the app.
fn generator(secret: &str, account: &str) -> Result<Totp> {
    let secret = Secret::try_from_base32(secret)
        .map_err(|_| ServiceError::internal("a stored second-factor secret is not base32"))?;
    Builder::new()
        .with_secret(secret)
        .with_account_name(account.replace(':', " "))
        .with_issuer(Some("readtrack"))
        .build()
        .map_err(|e| ServiceError::internal(format!("second-factor generator: {e}")))
}

/// The time step a six-digit `code` belongs to at `unix_secs` (within one step either
/// way), if it is right.
fn matching_step(totp: &Totp, code: &str, unix_secs: u64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    totp.check(&code, unix_secs)
        .and_then(|step| i64::try_from(step).ok())
}

impl App {
    fn unix_secs(&self) -> u64 {
        u64::try_from(self.clock().now().as_second()).unwrap_or(0)
    }

    /// Starts turning the caller's second factor on: a new secret, shown once, that
    /// works only after [`App::confirm_second_factor`]. 409 when it is already on.
    pub async fn begin_second_factor(&self, caller: &Caller) -> Result<SecondFactorSetup> {
        let bytes: [u8; 20] = rand::random();
        let secret = Secret::from(bytes).to_base32();
        let totp = generator(&secret, &caller.member.email)?;
        if !self
            .storage()
            .begin_second_factor(caller.id(), &secret)
            .await?
        {
            return Err(ServiceError::Conflict(
                "two-step sign-in is already on; turn it off first to set up a new app".into(),
            ));
        }
        let otpauth_url = totp
            .to_url()
            .map_err(|e| ServiceError::internal(format!("otpauth URL: {e}")))?;
        Ok(SecondFactorSetup {
            secret,
            otpauth_url,
        })
    }

    /// Turns the second factor on with a first code from the app; audited.
    pub async fn confirm_second_factor(&self, caller: &Caller, code: &str) -> Result<()> {
        let factor = self
            .storage()
            .second_factor(caller.id())
            .await?
            .filter(|f| !f.enabled)
            .ok_or_else(|| {
                ServiceError::Conflict("there is no two-step sign-in being set up".into())
            })?;
        let totp = generator(&factor.secret, &caller.member.email)?;
        let step = matching_step(&totp, code, self.unix_secs()).ok_or_else(wrong_code)?;
        if !self
            .storage()
            .enable_second_factor(caller.id(), step)
            .await?
        {
            return Err(ServiceError::Conflict(
                "two-step sign-in is already on".into(),
            ));
        }
        self.audit(
            caller,
            "second_factor.enabled",
            format!("member:{}", caller.id()),
            vec![caller.id()],
        )
        .await
    }

    /// Turns the caller's own second factor off, given a current code; audited.
    pub async fn disable_second_factor(&self, caller: &Caller, code: &str) -> Result<()> {
        if !self
            .second_factor_accepts(caller.id(), &caller.member.email, code)
            .await?
        {
            return Err(wrong_code().into());
        }
        self.storage().remove_second_factor(caller.id()).await?;
        self.audit(
            caller,
            "second_factor.disabled",
            format!("member:{}", caller.id()),
            vec![caller.id()],
        )
        .await
    }

    /// An admin removes a member's second factor (a lost phone); audited.
    pub async fn reset_second_factor(&self, caller: &Caller, member_id: &str) -> Result<()> {
        caller.require_admin()?;
        let member = self.member(caller, member_id).await?;
        if !self.storage().remove_second_factor(member.id).await? {
            return Err(ServiceError::NotFound("second factor"));
        }
        self.audit(
            caller,
            "second_factor.reset",
            format!("member:{}", member.id),
            vec![member.id],
        )
        .await
    }

    /// Whether the member has a second factor turned on.
    pub async fn has_second_factor(&self, member: MemberId) -> Result<bool> {
        Ok(self
            .storage()
            .second_factor(member)
            .await?
            .is_some_and(|f| f.enabled))
    }

    /// Whether `code` is right for the member's second factor now and was not used
    /// before (a code is spent once accepted).
    pub(crate) async fn second_factor_accepts(
        &self,
        member: MemberId,
        account: &str,
        code: &str,
    ) -> Result<bool> {
        let Some(factor) = self
            .storage()
            .second_factor(member)
            .await?
            .filter(|f| f.enabled)
        else {
            return Ok(false);
        };
        let totp = generator(&factor.secret, account)?;
        let Some(step) = matching_step(&totp, code, self.unix_secs()) else {
            return Ok(false);
        };
        Ok(self.storage().use_second_factor_step(member, step).await?)
    }
}

fn wrong_code() -> FieldError {
    FieldError::invalid(
        "code",
        "`code` is not the current 6-digit code of your authenticator app",
    )
}
