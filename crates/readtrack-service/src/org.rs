//! Setup, sign-in, tokens and organisation settings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use readtrack_domain::email::Email;
use readtrack_domain::ids::{MemberId, OrgId, TokenId};
use readtrack_domain::member::check_password;
use readtrack_domain::settings::OrgSettings;
use readtrack_domain::text;
use readtrack_domain::time_zone::Zone;
use readtrack_storage::{CreatedOrg, NewOrg, NewToken, OrgRecord, TokenKind};

use crate::App;
use crate::auth::{self, Caller};
use crate::error::{Result, ServiceError};

/// Organisation records cached briefly: settings are read on every send and receipt.
pub struct OrgCache {
    /// A std mutex: held for a lookup only.
    map: Mutex<HashMap<OrgId, (Arc<OrgRecord>, Instant)>>,
}

impl OrgCache {
    const TTL: Duration = Duration::from_secs(2);

    /// An empty cache.
    pub fn new() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl Default for OrgCache {
    fn default() -> Self {
        Self::new()
    }
}

/// A first-run request, raw.
#[derive(Debug, Clone)]
pub struct SetupInput {
    /// Organisation name.
    pub org_name: String,
    /// IANA time zone.
    pub time_zone: String,
    /// Admin name.
    pub admin_name: String,
    /// Admin email.
    pub admin_email: String,
    /// Admin password.
    pub admin_password: String,
    /// The one-time code the server printed at its first start (or was given).
    pub setup_code: String,
}

/// The symbols of a setup code: no 0/O, 1/I/L or U, so it survives being read aloud or
/// copied from a console by hand.
const SETUP_CODE_SYMBOLS: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A fresh setup code: three groups of four symbols (about 59 bits), as `7KQ4-M2XD-9PTA`.
pub fn new_setup_code() -> String {
    let symbol = || SETUP_CODE_SYMBOLS[rand::random_range(0..SETUP_CODE_SYMBOLS.len())] as char;
    (0..3)
        .map(|_| (0..4).map(|_| symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// Whether `given` is `expected`, ignoring case, spaces and dashes (people retype codes),
/// in time that does not depend on where they differ.
fn setup_code_matches(expected: &str, given: &str) -> bool {
    let canonical = |s: &str| -> Vec<u8> {
        s.bytes()
            .filter(|b| !matches!(b, b'-' | b' '))
            .map(|b| b.to_ascii_uppercase())
            .collect()
    };
    let (expected, given) = (canonical(expected), canonical(given));
    if expected.is_empty() || expected.len() != given.len() {
        return false;
    }
    expected
        .iter()
        .zip(&given)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// What setup made, with the admin's first token.
#[derive(Debug, Clone)]
pub struct SetupOutput {
    /// The organisation and admin.
    pub created: CreatedOrg,
    /// A session token for the admin.
    pub token: String,
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginOutput {
    /// Bearer token.
    pub token: String,
    /// The member.
    pub member_id: MemberId,
    /// Expiry.
    pub expires_at: Timestamp,
}

impl App {
    /// The organisation's record (cached for a moment).
    pub async fn org(&self, org: OrgId) -> Result<Arc<OrgRecord>> {
        if let Ok(map) = self.inner.orgs.map.lock()
            && let Some((rec, at)) = map.get(&org)
            && at.elapsed() < OrgCache::TTL
        {
            return Ok(rec.clone());
        }
        let rec = Arc::new(self.inner.storage.org(org).await?);
        if let Ok(mut map) = self.inner.orgs.map.lock() {
            map.insert(org, (rec.clone(), Instant::now()));
        }
        Ok(rec)
    }

    pub(crate) fn forget_org(&self, org: OrgId) {
        if let Ok(mut map) = self.inner.orgs.map.lock() {
            map.remove(&org);
        }
    }

    async fn parse_new_org(&self, input: SetupInput) -> Result<NewOrg> {
        let name = text::name("org_name", &input.org_name)?;
        let zone = Zone::parse("time_zone", &input.time_zone)?;
        let admin_name = text::name("admin.name", &input.admin_name)?;
        let admin_email = Email::parse("admin.email", &input.admin_email)?;
        check_password("admin.password", &input.admin_password)?;
        let hash = auth::hash_password(input.admin_password).await?;
        Ok(NewOrg {
            name,
            settings: OrgSettings::new(zone),
            admin_name,
            admin_email,
            admin_password_hash: hash,
            now: self.inner.clock.now(),
        })
    }

    /// The code first-run setup asks for; print it where only the operator sees it.
    pub fn setup_code(&self) -> &str {
        self.inner.config.setup_code.as_deref().unwrap_or_default()
    }

    /// First-run setup: only while the server has no organisation (else 409), and only
    /// with the setup code (else 403), so that the first visitor of a new server does not
    /// become its admin.
    pub async fn setup(&self, input: SetupInput) -> Result<SetupOutput> {
        if self.inner.storage.is_set_up().await? {
            return Err(ServiceError::Conflict(
                "this server is already set up; sign in instead".into(),
            ));
        }
        if !setup_code_matches(self.setup_code(), &input.setup_code) {
            return Err(ServiceError::Forbidden(
                "the setup code is missing or wrong: it is printed on the server's console at its first start (or was set with --setup-code)".into(),
            ));
        }
        self.first_org(input).await
    }

    /// Creates the first organisation and signs its admin in, with no code asked: for
    /// the demo, which the operator started on purpose.
    pub(crate) async fn first_org(&self, input: SetupInput) -> Result<SetupOutput> {
        let new = self.parse_new_org(input).await?;
        let created = self.inner.storage.setup(new).await?;
        let (token, _, _) = self
            .issue_token(
                created.org_id,
                created.admin_id,
                TokenKind::Session,
                None,
                None,
            )
            .await?;
        Ok(SetupOutput { created, token })
    }

    /// Creates a further organisation on a server hosting several (an operator command).
    pub async fn create_org(&self, input: SetupInput) -> Result<SetupOutput> {
        let new = self.parse_new_org(input).await?;
        let created = self.inner.storage.create_org(new).await?;
        let (token, _, _) = self
            .issue_token(
                created.org_id,
                created.admin_id,
                TokenKind::Session,
                None,
                None,
            )
            .await?;
        Ok(SetupOutput { created, token })
    }

    /// Whether first-run setup has happened.
    pub async fn is_set_up(&self) -> Result<bool> {
        Ok(self.inner.storage.is_set_up().await?)
    }

    /// A new session for a member who has just proved who they are (password, invitation,
    /// identity provider), as sign-in answers it.
    pub(crate) async fn start_session(&self, org: OrgId, member: MemberId) -> Result<LoginOutput> {
        let (token, _, expires_at) = self
            .issue_token(org, member, TokenKind::Session, None, None)
            .await?;
        Ok(LoginOutput {
            token,
            member_id: member,
            expires_at,
        })
    }

    pub(crate) async fn issue_token(
        &self,
        org: OrgId,
        member: MemberId,
        kind: TokenKind,
        name: Option<String>,
        ttl: Option<SignedDuration>,
    ) -> Result<(String, TokenId, Timestamp)> {
        let (secret, hash) = auth::new_token();
        let now = self.inner.clock.now();
        let ttl = ttl.unwrap_or(self.inner.config.session_ttl);
        let expires_at = now.saturating_add(ttl).unwrap_or(now);
        let id = self
            .inner
            .storage
            .insert_token(NewToken {
                hash,
                org_id: org,
                member_id: member,
                kind,
                name,
                created_at: now,
                expires_at,
            })
            .await?;
        Ok((secret, id, expires_at))
    }

    /// Signs a member in with email and password. Unknown addresses and wrong passwords
    /// get the same answer after the same work.
    pub async fn login(&self, email: &str, password: &str) -> Result<LoginOutput> {
        self.login_from(email, password, None, None).await
    }

    /// [`App::login`] from a client address: attempts are limited per account and per
    /// address (429 with a wait), checked before any password work.
    pub async fn login_from(
        &self,
        email: &str,
        password: &str,
        second_factor_code: Option<&str>,
        address: Option<std::net::IpAddr>,
    ) -> Result<LoginOutput> {
        if let Some(ip) = address {
            self.inner
                .limiters
                .login_address
                .check(&ip.to_string(), "sign-in attempts from this address")?;
        }
        let account = email.trim().to_lowercase();
        self.inner
            .limiters
            .login_account
            .check(&account, "sign-in attempts for this account")?;
        let denied = || ServiceError::Unauthenticated("wrong email or password".into());
        let record = match Email::parse("email", email) {
            Ok(e) => self.inner.storage.login_record(e.as_str()).await?,
            Err(_) => None,
        };
        let hash = record.as_ref().and_then(|r| r.password_hash.clone());
        let ok = auth::verify_password(password.to_string(), hash).await;
        let record = record.filter(|r| ok && r.active).ok_or_else(denied)?;
        // The password was right: an account with two-step sign-in also needs a code,
        // each good for one sign-in (the attempts above count against the limits).
        if self.has_second_factor(record.member_id).await? {
            let Some(code) = second_factor_code.filter(|c| !c.trim().is_empty()) else {
                return Err(ServiceError::SecondFactorRequired);
            };
            let account = email.trim().to_lowercase();
            if !self
                .second_factor_accepts(record.member_id, &account, code)
                .await?
            {
                return Err(ServiceError::Unauthenticated(
                    "the code is wrong or was already used; wait for the next one".into(),
                ));
            }
        }
        self.start_session(record.org_id, record.member_id).await
    }

    /// The member behind a bearer token, or 401.
    pub async fn authenticate(&self, token: &str) -> Result<Caller> {
        let denied = || {
            ServiceError::Unauthenticated(
                "the token is missing, expired or revoked; sign in again".into(),
            )
        };
        if !token.starts_with(auth::TOKEN_PREFIX) || token.len() > 200 {
            return Err(denied());
        }
        let hash = auth::hash_token(token);
        let now = self.inner.clock.now();
        let record = match self.inner.tokens.get(&hash) {
            Some(r) if r.expires_at > now => r,
            Some(_) => return Err(denied()),
            None => {
                let r = self
                    .inner
                    .storage
                    .find_token(&hash, now)
                    .await?
                    .ok_or_else(denied)?;
                self.inner.tokens.put(hash, r.clone());
                r
            }
        };
        Ok(Caller {
            member: record.member,
            token_id: record.id,
            token_kind: record.kind,
        })
    }

    /// An admin issues an API token acting as a member of the organisation, or (scope
    /// `relay`) a gateway token that may only post receipts on members' behalf, or (scope
    /// `scim`) an identity provider's token for SCIM provisioning only, held by an admin.
    pub async fn create_api_token(
        &self,
        caller: &Caller,
        name: &str,
        member_id: &str,
        expires_in_days: Option<i64>,
        scope: Option<&str>,
    ) -> Result<(String, TokenId, Timestamp)> {
        caller.require_admin()?;
        let name = text::name("name", name)?;
        let scim = scope == Some("scim");
        // A SCIM token provisions as the admin who holds it, the creator by default.
        let member = if scim && member_id.trim().is_empty() {
            caller.id()
        } else {
            MemberId::parse("member_id", member_id)?
        };
        let kind = match scope.unwrap_or("member") {
            "member" => TokenKind::Api,
            "relay" => TokenKind::Relay,
            "scim" => TokenKind::Scim,
            other => {
                return Err(ServiceError::invalid(
                    "scope",
                    format!("`scope` must be \"member\", \"relay\" or \"scim\", got {other:?}"),
                ));
            }
        };
        let ttl = token_days(expires_in_days)?;
        let target = self
            .inner
            .storage
            .member(caller.org_id(), member)
            .await?
            .filter(|m| m.active)
            .ok_or_else(|| {
                ServiceError::invalid(
                    "member_id",
                    format!("`member_id` {member} is not an active member of this organisation"),
                )
            })?;
        if scim && target.role != readtrack_domain::member::Role::Admin {
            return Err(ServiceError::invalid(
                "member_id",
                "a SCIM token provisions as an admin: `member_id` must be an admin (or left out)",
            ));
        }
        self.issue_token(caller.org_id(), target.id, kind, Some(name), Some(ttl))
            .await
    }

    /// An admin provisions one API token per member (devices, kiosks, load tests).
    pub async fn create_api_tokens(
        &self,
        caller: &Caller,
        name: &str,
        member_ids: &[String],
        expires_in_days: Option<i64>,
    ) -> Result<(Vec<(MemberId, TokenId, String)>, Timestamp)> {
        caller.require_admin()?;
        let name = text::name("name", name)?;
        if member_ids.is_empty() || member_ids.len() > 1000 {
            return Err(ServiceError::invalid(
                "member_ids",
                "`member_ids` must hold 1 to 1000 members",
            ));
        }
        let ids = member_ids
            .iter()
            .enumerate()
            .map(|(i, raw)| MemberId::parse(&format!("member_ids[{i}]"), raw))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let found = self
            .inner
            .storage
            .existing_members(caller.org_id(), &ids)
            .await?;
        if let Some((i, m)) = ids.iter().enumerate().find(|(_, m)| !found.contains(m)) {
            return Err(ServiceError::invalid(
                &format!("member_ids[{i}]"),
                format!("`member_ids[{i}]` {m} is not an active member of this organisation"),
            ));
        }
        let ttl = token_days(expires_in_days)?;
        let mut out = Vec::with_capacity(ids.len());
        let mut expires = self.inner.clock.now();
        for id in ids {
            let (secret, token_id, exp) = self
                .issue_token(
                    caller.org_id(),
                    id,
                    TokenKind::Api,
                    Some(name.clone()),
                    Some(ttl),
                )
                .await?;
            expires = exp;
            out.push((id, token_id, secret));
        }
        Ok((out, expires))
    }

    /// Signs the bearer of `token` out: the token stops working at once.
    pub async fn logout(&self, token: &str) -> Result<()> {
        let caller = self.authenticate(token).await?;
        self.inner
            .storage
            .delete_token(caller.org_id(), caller.token_id)
            .await?;
        self.inner.tokens.forget_token(caller.token_id);
        self.inner.streams.end_token(caller.token_id);
        Ok(())
    }

    /// Changes the caller's own password, given the current one: attempts count against
    /// the account's sign-in limit, and every other sign-in session of the member ends
    /// (their open streams too); this one stays.
    pub async fn change_own_password(
        &self,
        caller: &Caller,
        current: &str,
        new: &str,
    ) -> Result<()> {
        self.inner.limiters.login_account.check(
            &caller.member.email.to_lowercase(),
            "sign-in attempts for this account",
        )?;
        let record = self
            .inner
            .storage
            .login_record(&caller.member.email)
            .await?;
        let hash = record.and_then(|r| r.password_hash);
        if !auth::verify_password(current.to_string(), hash).await {
            return Err(ServiceError::Forbidden(
                "`current_password` is not your current password".into(),
            ));
        }
        readtrack_domain::member::check_password("new_password", new)?;
        let hash = auth::hash_password(new.to_string()).await?;
        for id in self
            .inner
            .storage
            .change_own_password(caller.id(), &hash, caller.token_id)
            .await?
        {
            self.inner.tokens.forget_token(id);
            self.inner.streams.end_token(id);
        }
        self.audit(
            caller,
            "password.changed",
            format!("member:{}", caller.id()),
            vec![],
        )
        .await?;
        Ok(())
    }

    /// An admin revokes a token of the organisation.
    pub async fn delete_token(&self, caller: &Caller, id: &str) -> Result<()> {
        caller.require_admin()?;
        let id = TokenId::parse("id", id).map_err(|_| ServiceError::NotFound("token"))?;
        if !self.inner.storage.delete_token(caller.org_id(), id).await? {
            return Err(ServiceError::NotFound("token"));
        }
        self.inner.tokens.forget_token(id);
        self.inner.streams.end_token(id);
        Ok(())
    }

    /// The calendar-relevant zone of a member: their own, else the organisation's.
    pub fn member_zone(member: &readtrack_domain::member::Member, org: &OrgRecord) -> Zone {
        member
            .time_zone
            .as_deref()
            .and_then(|tz| Zone::parse("time_zone", tz).ok())
            .unwrap_or_else(|| org.settings.time_zone.clone())
    }
}

fn token_days(days: Option<i64>) -> Result<SignedDuration> {
    let days = days.unwrap_or(365);
    if !(1..=3650).contains(&days) {
        return Err(ServiceError::invalid(
            "expires_in_days",
            "`expires_in_days` must be between 1 and 3650",
        ));
    }
    Ok(SignedDuration::from_hours(24 * days))
}

impl App {
    /// The caller acknowledges a policy version; only the current one may be acknowledged.
    pub async fn ack_policy(&self, caller: &Caller, version: i64) -> Result<i64> {
        let org = self.org(caller.org_id()).await?;
        if version != org.settings.policy_version {
            return Err(ServiceError::Invalid(
                readtrack_domain::FieldError::with_code(
                    "version",
                    "stale_policy_version",
                    format!(
                        "`version` {version} is not the current policy version {}; read the current policy and acknowledge that",
                        org.settings.policy_version
                    ),
                ),
            ));
        }
        self.storage()
            .ack_policy(caller.id(), version, self.clock().now())
            .await?;
        self.inner.tokens.forget_member(caller.id());
        Ok(version)
    }
}
