//! `Idempotency-Key`: a retried create gets the first answer again instead of creating
//! twice (the IETF httpapi draft's semantics). Keys are scoped to the credential that
//! sent them and kept for [`KEPT_FOR`].

use jiff::SignedDuration;
use readtrack_storage::IdempotencyClaim;

use crate::App;
use crate::error::{Result, ServiceError};

/// How long a key and its answer are kept.
pub const KEPT_FOR: SignedDuration = SignedDuration::from_hours(24);

/// Checks a key as the header gave it: 1 to 255 visible ASCII characters.
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ServiceError::invalid(
            "Idempotency-Key",
            "`Idempotency-Key` must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(())
}

impl App {
    /// Claims `key` for a request of `scope` with `fingerprint`.
    pub async fn claim_idempotency_key(
        &self,
        scope: &[u8],
        key: &str,
        fingerprint: &[u8],
    ) -> Result<IdempotencyClaim> {
        check_key(key)?;
        let now = self.clock().now();
        Ok(self
            .storage()
            .claim_idempotency_key(scope, key, fingerprint, now, now - KEPT_FOR)
            .await?)
    }

    /// Keeps the answer to the request that claimed `key`.
    pub async fn finish_idempotency_key(
        &self,
        scope: &[u8],
        key: &str,
        status: u16,
        response: &str,
    ) -> Result<()> {
        Ok(self
            .storage()
            .finish_idempotency_key(scope, key, status, response)
            .await?)
    }

    /// Gives `key` up after a failure of ours, so a retry runs the request again.
    pub async fn release_idempotency_key(&self, scope: &[u8], key: &str) -> Result<()> {
        Ok(self.storage().release_idempotency_key(scope, key).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::check_key;

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(check_key("8e03978e-40d5-43e8-bc93-6894a57f9324").is_ok());
        assert!(check_key("").is_err());
        assert!(check_key("has space").is_err());
        assert!(check_key(&"k".repeat(256)).is_err());
    }
}
