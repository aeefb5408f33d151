//! Passwords, tokens and who is calling.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use readtrack_domain::ids::{MemberId, OrgId, TokenId};
use readtrack_domain::member::{Member, Role};
use readtrack_storage::{TokenKind, TokenRecord};
use sha2::{Digest, Sha256};

use crate::error::{Result, ServiceError};

/// The authenticated member behind a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The member.
    pub member: Member,
    /// The token used.
    pub token_id: TokenId,
    /// Session or API token.
    pub token_kind: TokenKind,
}

impl Caller {
    /// The member's id.
    pub fn id(&self) -> MemberId {
        self.member.id
    }

    /// The member's organisation.
    pub fn org_id(&self) -> OrgId {
        self.member.org_id
    }

    /// Whether the member is an admin.
    pub fn is_admin(&self) -> bool {
        self.member.role == Role::Admin
    }

    /// Refuses anyone but admins.
    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ServiceError::Forbidden("only an admin may do this".into()))
        }
    }
}

/// Prefix of every token secret, so leaked tokens are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "rt_";

/// A fresh token: the secret for the client and the hash to store.
pub fn new_token() -> (String, Vec<u8>) {
    let bytes: [u8; 32] = rand::random();
    let secret = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hash_token(&secret);
    (secret, hash)
}

/// The stored form of a token secret.
pub fn hash_token(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Hashes a password with Argon2id off the async threads (it takes tens of milliseconds
/// on purpose).
pub async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ServiceError::internal(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| ServiceError::Internal(Box::new(e)))?
}

/// Checks a password against a stored hash off the async threads. With no hash, checks
/// against a dummy so that unknown and known addresses take the same time.
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let dummy = dummy_hash();
        let (hash, real) = match &hash {
            Some(h) => (h.as_str(), true),
            None => (dummy, false),
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), hash)
            .is_ok();
        ok && real
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"readtrack-timing-equaliser")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// Recently validated tokens, so a burst of requests does not cost a database round
/// trip each. Entries live briefly: a revoked token stops working within `TTL` on other
/// nodes, and at once on the node that revoked it.
pub struct TokenCache {
    /// A std mutex: held only for a map lookup, never across an await.
    map: Mutex<HashMap<Vec<u8>, (TokenRecord, Instant)>>,
}

impl TokenCache {
    const TTL: Duration = Duration::from_secs(5);
    const MAX: usize = 100_000;

    /// An empty cache.
    pub fn new() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }

    /// A cached, still fresh record.
    pub fn get(&self, hash: &[u8]) -> Option<TokenRecord> {
        let map = self.map.lock().ok()?;
        let (rec, at) = map.get(hash)?;
        (at.elapsed() < Self::TTL).then(|| rec.clone())
    }

    /// Remembers a record.
    pub fn put(&self, hash: Vec<u8>, rec: TokenRecord) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= Self::MAX {
                map.retain(|_, (_, at)| at.elapsed() < Self::TTL);
                if map.len() >= Self::MAX {
                    map.clear();
                }
            }
            map.insert(hash, (rec, Instant::now()));
        }
    }

    /// Forgets every token of a member (sign-out, deactivation, password change).
    pub fn forget_member(&self, member: MemberId) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, (rec, _)| rec.member.id != member);
        }
    }

    /// Forgets one token.
    pub fn forget_token(&self, id: TokenId) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, (rec, _)| rec.id != id);
        }
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(hash_token(&a), ha);
        assert!(
            !ha.windows(8)
                .any(|w| a.as_bytes().windows(8).any(|x| x == w))
        );
    }

    #[tokio::test]
    async fn passwords_verify_and_unknown_accounts_never_do() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(verify_password("correct horse".into(), Some(hash.clone())).await);
        assert!(!verify_password("wrong horse".into(), Some(hash)).await);
        assert!(!verify_password("readtrack-timing-equaliser".into(), None).await);
    }
}
