//! OpenID Connect sign-in (authorization code with PKCE): discovery, the authorization
//! request, the code exchange, the ID token's verification and who the person is here.
//!
//! The ID token is checked before anything in it is believed: an RS256 signature by a
//! key of the provider's JWKS, the issuer, the audience (this client), the expiry and the
//! nonce of this sign-in. Matching the person is the domain's rule
//! ([`readtrack_domain::oidc::match_sign_in`]); nobody is created by a sign-in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use readtrack_domain::email::Email;
use readtrack_domain::oidc::{Candidate, SignInMatch, match_sign_in};
use readtrack_storage::{LoginRecord, NewAudit};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{OnceCell, RwLock};

use crate::App;
use crate::error::{Result, ServiceError};
use crate::org::LoginOutput;

/// How far the provider's clock may be from ours when checking `exp` and `iat`.
const CLOCK_LEEWAY_SECS: i64 = 60;

/// The identity provider this server signs people in with (`serve --oidc-issuer`).
#[derive(Clone)]
pub struct OidcConfig {
    /// The issuer URL, exactly as the provider names itself in its tokens.
    pub issuer: String,
    /// This server's client id at the provider.
    pub client_id: String,
    /// The client secret (sent with HTTP Basic, `client_secret_basic`).
    pub client_secret: String,
    /// Where the provider sends the browser back: `{public_url}/auth/oidc/callback`.
    pub redirect_uri: String,
}

impl std::fmt::Debug for OidcConfig {
    // The secret never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// A started sign-in: where to send the browser, and what the callback must be given
/// back (kept by the caller, e.g. in a short-lived cookie).
#[derive(Debug, Clone)]
pub struct OidcRequest {
    /// The provider's authorization URL with every parameter.
    pub url: String,
    /// Echoed by the provider; the callback compares it.
    pub state: String,
    /// Must come back inside the ID token.
    pub nonce: String,
    /// The PKCE code verifier (its S256 challenge went to the provider).
    pub verifier: String,
}

/// What a finished sign-in came to.
#[derive(Debug)]
pub enum OidcOutcome {
    /// Signed in: a session token as a password sign-in gives.
    SignedIn(LoginOutput),
    /// Nobody here is this person; an admin must add them.
    NoAccount,
    /// The person's account here is deactivated.
    Deactivated,
    /// Matched, for the command-line client that started the sign-in: the one-time
    /// code its loopback address is given, exchanged by [`App::oidc_exchange`].
    CliCode(String),
}

/// How long the command-line client has to exchange its one-time code.
const CLI_CODE_SECS: i64 = 120;

/// What the provider's discovery document says, fetched once.
struct Provider {
    http: reqwest::Client,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// One RSA public key of the provider's JWKS.
#[derive(Clone)]
struct RsaKey {
    kid: Option<String>,
    n: Vec<u8>,
    e: Vec<u8>,
}

/// The provider client: its configuration, discovery (on first use, so the server
/// starts while the provider is away) and the signing keys (fetched again when a token
/// names a key not seen yet, which is how providers rotate keys).
pub struct OidcClient {
    config: OidcConfig,
    provider: OnceCell<Provider>,
    keys: RwLock<Vec<RsaKey>>,
}

/// The claims of a verified ID token that sign-in uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdClaims {
    /// The provider's stable identifier of the person.
    pub sub: String,
    /// Their email, if the provider gave one.
    pub email: Option<String>,
    /// Whether the provider says it verified that email.
    pub email_verified: bool,
}

fn unavailable(what: impl std::fmt::Display) -> ServiceError {
    tracing::warn!(error = %what, "the identity provider could not be used");
    ServiceError::Unavailable("the identity provider cannot be reached; try again later".into())
}

fn refused(why: &str) -> ServiceError {
    tracing::warn!(reason = why, "an identity provider sign-in was refused");
    ServiceError::Unauthenticated(format!("the sign-in was refused: {why}"))
}

fn random_b64(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(raw)
}

/// `application/x-www-form-urlencoded` pairs (also how `client_secret_basic` wants the
/// id and secret written inside the Basic credentials, RFC 6749 §2.3.1).
fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://form.invalid/").expect("a fixed URL parses");
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    url.query().unwrap_or_default().to_string()
}

fn now_secs() -> i64 {
    // The provider stamps tokens with the real time, not the app's (possibly moved) clock.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl OidcClient {
    /// A client for this configuration; nothing is fetched yet.
    pub fn new(config: OidcConfig) -> Self {
        Self {
            config,
            provider: OnceCell::new(),
            keys: RwLock::new(Vec::new()),
        }
    }

    async fn provider(&self) -> Result<&Provider> {
        self.provider
            .get_or_try_init(|| async {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(unavailable)?;
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.config.issuer.trim_end_matches('/')
                );
                let doc: Value = get_json(&http, &url).await?;
                // The document must be the issuer's own (OpenID Connect Discovery §4.3).
                if doc["issuer"].as_str() != Some(self.config.issuer.as_str()) {
                    return Err(unavailable(format!(
                        "discovery names issuer {} instead of {}",
                        doc["issuer"], self.config.issuer
                    )));
                }
                let field = |name: &str| {
                    doc[name]
                        .as_str()
                        .map(str::to_string)
                        .ok_or_else(|| unavailable(format!("discovery has no {name}")))
                };
                Ok(Provider {
                    authorization_endpoint: field("authorization_endpoint")?,
                    token_endpoint: field("token_endpoint")?,
                    jwks_uri: field("jwks_uri")?,
                    http,
                })
            })
            .await
    }

    /// A new authorization request: fresh state, nonce and PKCE verifier.
    pub async fn start(&self) -> Result<OidcRequest> {
        let provider = self.provider().await?;
        let state = random_b64(32);
        let nonce = random_b64(32);
        let verifier = random_b64(32);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let mut url = reqwest::Url::parse(&provider.authorization_endpoint).map_err(unavailable)?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.config.redirect_uri)
            .append_pair("scope", "openid email")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(OidcRequest {
            url: url.to_string(),
            state,
            nonce,
            verifier,
        })
    }

    /// Exchanges the code for tokens and verifies the ID token.
    pub async fn finish(&self, code: &str, verifier: &str, nonce: &str) -> Result<IdClaims> {
        let provider = self.provider().await?;
        let body = form_encode(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.config.redirect_uri),
            ("code_verifier", verifier),
        ]);
        let basic = format!(
            "{}:{}",
            form_encode(&[("", &self.config.client_id)]).trim_start_matches('='),
            form_encode(&[("", &self.config.client_secret)]).trim_start_matches('='),
        );
        let res = provider
            .http
            .post(&provider.token_endpoint)
            .header(
                "authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(basic)
                ),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(unavailable)?;
        let status = res.status();
        let tokens: Value = res.json().await.map_err(unavailable)?;
        if !status.is_success() {
            // An expired or replayed code is the visitor's fault, not the provider's.
            return Err(refused(&format!(
                "the provider did not accept the code ({})",
                tokens["error"].as_str().unwrap_or("no error code")
            )));
        }
        let id_token = tokens["id_token"]
            .as_str()
            .ok_or_else(|| refused("the provider sent no ID token"))?;
        self.verify(id_token, nonce).await
    }

    /// Verifies an ID token: signature, issuer, audience, expiry, nonce.
    async fn verify(&self, id_token: &str, nonce: &str) -> Result<IdClaims> {
        let (header, claims, signing_input, signature) =
            split_jwt(id_token).ok_or_else(|| refused("the ID token is malformed"))?;
        // Only RS256, the algorithm every provider must support; never `none`, never
        // an HMAC keyed with a public value.
        if header["alg"].as_str() != Some("RS256") {
            return Err(refused("the ID token is not signed with RS256"));
        }
        let kid = header["kid"].as_str().map(str::to_string);
        let mut key = find_key(&self.keys.read().await, kid.as_deref());
        if key.is_none() {
            let fresh = self.fetch_keys().await?;
            key = find_key(&fresh, kid.as_deref());
            *self.keys.write().await = fresh;
        }
        let key = key.ok_or_else(|| refused("the ID token's key is not the provider's"))?;
        ring::signature::RsaPublicKeyComponents {
            n: &key.n,
            e: &key.e,
        }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            signing_input.as_bytes(),
            &signature,
        )
        .map_err(|_| refused("the ID token's signature does not verify"))?;
        check_claims(
            &claims,
            &self.config.issuer,
            &self.config.client_id,
            nonce,
            now_secs(),
        )
        .map_err(refused)
    }

    async fn fetch_keys(&self) -> Result<Vec<RsaKey>> {
        let provider = self.provider().await?;
        let jwks = get_json(&provider.http, &provider.jwks_uri).await?;
        let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
        Ok(keys
            .iter()
            .filter(|k| k["kty"].as_str() == Some("RSA"))
            .filter(|k| k["use"].as_str().is_none_or(|u| u == "sig"))
            .filter_map(|k| {
                Some(RsaKey {
                    kid: k["kid"].as_str().map(str::to_string),
                    n: URL_SAFE_NO_PAD.decode(k["n"].as_str()?).ok()?,
                    e: URL_SAFE_NO_PAD.decode(k["e"].as_str()?).ok()?,
                })
            })
            .collect())
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value> {
    let res = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(unavailable)?;
    if !res.status().is_success() {
        return Err(unavailable(format!("{url} answered {}", res.status())));
    }
    res.json().await.map_err(unavailable)
}

/// The key a token's `kid` names; with no `kid`, the provider's only key.
fn find_key(keys: &[RsaKey], kid: Option<&str>) -> Option<RsaKey> {
    match kid {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)).cloned(),
        None if keys.len() == 1 => keys.first().cloned(),
        None => None,
    }
}

/// A compact JWS: its header and claims as JSON, the signed part, the signature.
fn split_jwt(token: &str) -> Option<(Value, Value, &str, Vec<u8>)> {
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (header, claims) = signing_input.split_once('.')?;
    let json = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    Some((
        json(header)?,
        json(claims)?,
        signing_input,
        URL_SAFE_NO_PAD.decode(signature).ok()?,
    ))
}

/// The checks of OpenID Connect Core §3.1.3.7 on a signature-verified token's claims.
pub fn check_claims(
    claims: &Value,
    issuer: &str,
    client_id: &str,
    nonce: &str,
    now: i64,
) -> std::result::Result<IdClaims, &'static str> {
    if claims["iss"].as_str() != Some(issuer) {
        return Err("the ID token is from another issuer");
    }
    let audience_ok = match &claims["aud"] {
        Value::String(a) => a == client_id,
        Value::Array(list) => {
            list.iter().any(|a| a.as_str() == Some(client_id))
                && (list.len() == 1 || claims["azp"].as_str() == Some(client_id))
        }
        _ => false,
    };
    if !audience_ok {
        return Err("the ID token is meant for another client");
    }
    match claims["exp"].as_i64() {
        Some(exp) if exp + CLOCK_LEEWAY_SECS > now => {}
        _ => return Err("the ID token has expired"),
    }
    if claims["iat"]
        .as_i64()
        .is_some_and(|iat| iat > now + CLOCK_LEEWAY_SECS)
    {
        return Err("the ID token is issued in the future");
    }
    if claims["nonce"].as_str() != Some(nonce) {
        return Err("the ID token is not from this sign-in");
    }
    let sub = claims["sub"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or("the ID token names nobody")?;
    Ok(IdClaims {
        sub: sub.to_string(),
        email: claims["email"].as_str().map(str::to_string),
        // Some providers write the boolean as a string.
        email_verified: matches!(&claims["email_verified"], Value::Bool(true))
            || claims["email_verified"].as_str() == Some("true"),
    })
}

fn candidate(record: Option<&LoginRecord>) -> Option<Candidate> {
    record.map(|r| Candidate {
        member: r.member_id,
        active: r.active,
    })
}

impl App {
    /// Whether sign-in through an identity provider is configured.
    pub fn oidc_enabled(&self) -> bool {
        self.inner.oidc.is_some()
    }

    fn oidc(&self) -> Result<&OidcClient> {
        self.inner
            .oidc
            .as_ref()
            .ok_or(ServiceError::NotFound("identity provider sign-in"))
    }

    /// Starts a sign-in through the identity provider.
    pub async fn oidc_start(&self) -> Result<OidcRequest> {
        self.oidc()?.start().await
    }

    /// Finishes a sign-in: exchanges the code, verifies the ID token against the nonce
    /// of this sign-in, finds the member and gives them a session. The first sign-in of
    /// a subject links it to the member its verified email found (audited
    /// `member.oidc_linked`). With `cli_challenge` (the command-line client's PKCE
    /// challenge) the session is not made here: a one-time code for the client is.
    pub async fn oidc_finish(
        &self,
        code: &str,
        verifier: &str,
        nonce: &str,
        address: Option<std::net::IpAddr>,
        cli_challenge: Option<&str>,
    ) -> Result<OidcOutcome> {
        if let Some(ip) = address {
            self.inner
                .limiters
                .login_address
                .check(&ip.to_string(), "sign-in attempts from this address")?;
        }
        let client = self.oidc()?;
        let claims = client.finish(code, verifier, nonce).await?;
        let issuer = client.config.issuer.as_str();
        let by_subject = self
            .storage()
            .oidc_login_record(issuer, &claims.sub)
            .await?;
        let by_email = match claims.email.as_deref().map(|e| Email::parse("email", e)) {
            Some(Ok(email)) if by_subject.is_none() => {
                self.storage().login_record(email.as_str()).await?
            }
            _ => None,
        };
        let record = match match_sign_in(
            candidate(by_subject.as_ref()),
            candidate(by_email.as_ref()),
            claims.email_verified,
        ) {
            SignInMatch::Unknown => return Ok(OidcOutcome::NoAccount),
            SignInMatch::Deactivated => return Ok(OidcOutcome::Deactivated),
            SignInMatch::Linked(_) => by_subject,
            SignInMatch::LinkByEmail(member) => {
                let now = self.clock().now();
                if !self
                    .storage()
                    .link_oidc_subject(issuer, &claims.sub, member, now)
                    .await?
                {
                    // The member already signs in as another subject of this provider:
                    // the email alone does not make this one the same person.
                    return Ok(OidcOutcome::NoAccount);
                }
                if let Some(r) = &by_email {
                    self.storage()
                        .record_audit(NewAudit {
                            org_id: r.org_id,
                            actor_id: Some(member),
                            action: "member.oidc_linked".into(),
                            subject: format!("member:{member}"),
                            members: vec![member],
                            now,
                        })
                        .await?;
                }
                by_email
            }
        };
        let record = record.ok_or_else(|| ServiceError::internal("matched member vanished"))?;
        if let Some(challenge) = cli_challenge {
            let code = random_b64(32);
            let now = self.clock().now();
            self.storage()
                .insert_oidc_cli_code(
                    &crate::auth::hash_token(&code),
                    record.org_id,
                    record.member_id,
                    challenge,
                    now,
                    now + jiff::SignedDuration::from_secs(CLI_CODE_SECS),
                )
                .await?;
            return Ok(OidcOutcome::CliCode(code));
        }
        Ok(OidcOutcome::SignedIn(
            self.start_session(record.org_id, record.member_id).await?,
        ))
    }
}

impl App {
    /// The command-line client exchanges its one-time code, with the PKCE verifier of the
    /// challenge it started with, for a session. A code works once, for two minutes,
    /// whether or not the verifier was right.
    pub async fn oidc_exchange(
        &self,
        code: &str,
        verifier: &str,
        address: Option<std::net::IpAddr>,
    ) -> Result<LoginOutput> {
        if let Some(ip) = address {
            self.inner
                .limiters
                .login_address
                .check(&ip.to_string(), "sign-in attempts from this address")?;
        }
        let denied =
            || ServiceError::Unauthenticated("the code is wrong, expired or already used".into());
        let (org, member, challenge) = self
            .storage()
            .take_oidc_cli_code(&crate::auth::hash_token(code), self.clock().now())
            .await?
            .ok_or_else(denied)?;
        if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != challenge {
            return Err(denied());
        }
        self.start_session(org, member).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims() -> Value {
        json!({"iss": "https://id.example", "aud": "rt", "exp": 1_000, "iat": 900,
               "nonce": "n1", "sub": "alice", "email": "a@example.test", "email_verified": true})
    }

    #[test]
    fn a_token_for_this_client_and_sign_in_passes() {
        let c = check_claims(&claims(), "https://id.example", "rt", "n1", 950).unwrap();
        assert_eq!(c.sub, "alice");
        assert!(c.email_verified);
    }

    #[test]
    fn issuer_audience_expiry_and_nonce_are_each_checked() {
        let ok = |c: &Value| check_claims(c, "https://id.example", "rt", "n1", 950).is_ok();
        for (k, v) in [
            ("iss", json!("https://evil.example")),
            ("aud", json!("other")),
            ("aud", json!(["other", "rt"])),
            ("exp", json!(800)),
            ("nonce", json!("n2")),
            ("sub", json!("")),
        ] {
            let mut c = claims();
            c[k] = v;
            assert!(!ok(&c), "{k} must be checked");
        }
        let mut c = claims();
        c["aud"] = json!(["other", "rt"]);
        c["azp"] = json!("rt");
        assert!(ok(&c));
    }
}
