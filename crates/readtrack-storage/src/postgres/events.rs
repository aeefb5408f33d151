//! Reading the event sequence back for stream resume.

use readtrack_domain::event::Event;
use readtrack_domain::ids::{MemberId, MessageId, OrgId, Seq};
use sqlx::Row;

use super::{INT8, PostgresStorage, chunks};
use crate::Result;
use crate::sql::*;

impl PostgresStorage {
    pub(crate) async fn events_for_impl(
        &self,
        org: OrgId,
        member: MemberId,
        since: Seq,
        limit: u32,
    ) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT seq, kind, target_member_id, message_id, at, payload FROM (
                 (SELECT seq, kind, target_member_id, message_id, at, payload FROM events
                  WHERE target_member_id = $1 AND org_id = $2 AND seq > $3 ORDER BY seq LIMIT $4)
                 UNION ALL
                 (SELECT e.seq, e.kind, e.target_member_id, e.message_id, e.at, e.payload FROM events e
                  WHERE e.org_id = $2 AND e.target_member_id IS NULL AND e.seq > $3
                    AND EXISTS (SELECT 1 FROM receipts r WHERE r.message_id = e.message_id AND r.member_id = $1)
                  ORDER BY e.seq LIMIT $4)
             ) AS mine ORDER BY seq LIMIT $4",
        )
        .bind(member.0)
        .bind(org.0)
        .bind(since.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                Ok(Event {
                    seq: Seq(r.try_get("seq")?),
                    org_id: org,
                    at: ts(r.try_get("at")?),
                    body: decode_payload(
                        &kind,
                        r.try_get("target_member_id")?,
                        r.try_get("message_id")?,
                        &r.try_get::<String, _>("payload")?,
                    )?,
                })
            })
            .collect()
    }

    pub(crate) async fn last_seq_impl(&self, org: OrgId) -> Result<Seq> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM orgs WHERE id = $1")
            .bind(org.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(Seq(seq.unwrap_or(0)))
    }

    pub(crate) async fn recipients_among_impl(
        &self,
        message: MessageId,
        members: &[MemberId],
    ) -> Result<Vec<MemberId>> {
        let ids: Vec<i64> = members.iter().map(|m| m.0).collect();
        let mut out = Vec::new();
        for r in chunks(ids.len(), |_| INT8) {
            out.extend(
                sqlx::query_scalar::<_, i64>(
                    "SELECT member_id FROM receipts WHERE message_id = $1 AND member_id = ANY($2)",
                )
                .bind(message.0)
                .bind(&ids[r])
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(MemberId),
            );
        }
        Ok(out)
    }
}
