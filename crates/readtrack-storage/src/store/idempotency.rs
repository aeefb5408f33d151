//! Idempotency keys: the first answer to a request, replayed to its retries.

use async_trait::async_trait;
use jiff::Timestamp;

use super::Store;
use crate::db::q;
use crate::model::IdempotencyClaim;
use crate::sql::ms;
use crate::{Idempotency, Result};

#[async_trait]
impl Idempotency for Store {
    async fn claim_idempotency_key(
        &self,
        scope: &[u8],
        key: &str,
        fingerprint: &[u8],
        now: Timestamp,
        expired_before: Timestamp,
    ) -> Result<IdempotencyClaim> {
        let mut tx = self.db.write().await?;
        q("DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND created_at < ?")
            .bind(scope)
            .bind(key)
            .bind(ms(expired_before))
            .execute(&mut tx)
            .await?;
        let claimed = q(
            "INSERT INTO idempotency_keys (scope, key, fingerprint, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(scope)
        .bind(key)
        .bind(fingerprint)
        .bind(ms(now))
        .execute(&mut tx)
        .await?;
        let claim = if claimed > 0 {
            IdempotencyClaim::New
        } else {
            let (stored, status, response): (Vec<u8>, Option<i64>, Option<String>) = q(
                "SELECT fingerprint, status, response FROM idempotency_keys WHERE scope = ? AND key = ?",
            )
            .bind(scope)
            .bind(key)
            .one(&mut tx)
            .await?;
            match (stored == fingerprint, status) {
                (false, _) => IdempotencyClaim::Mismatch,
                (true, None) => IdempotencyClaim::InFlight,
                (true, Some(status)) => IdempotencyClaim::Replay {
                    status: u16::try_from(status).unwrap_or(500),
                    response: response.unwrap_or_default(),
                },
            }
        };
        tx.commit().await?;
        Ok(claim)
    }

    async fn finish_idempotency_key(
        &self,
        scope: &[u8],
        key: &str,
        status: u16,
        response: &str,
    ) -> Result<()> {
        q("UPDATE idempotency_keys SET status = ?, response = ? WHERE scope = ? AND key = ?")
            .bind(i64::from(status))
            .bind(response)
            .bind(scope)
            .bind(key)
            .execute(&mut self.db.write_conn().await?)
            .await?;
        Ok(())
    }

    async fn release_idempotency_key(&self, scope: &[u8], key: &str) -> Result<()> {
        q("DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND status IS NULL")
            .bind(scope)
            .bind(key)
            .execute(&mut self.db.write_conn().await?)
            .await?;
        Ok(())
    }

    async fn purge_idempotency_keys(&self, before: Timestamp) -> Result<u64> {
        q("DELETE FROM idempotency_keys WHERE created_at < ?")
            .bind(ms(before))
            .execute(&mut self.db.write_conn().await?)
            .await
    }
}
