//! Reading the event sequence back for stream resume.

use async_trait::async_trait;
use readtrack_domain::event::Event;
use readtrack_domain::ids::{MemberId, MessageId, OrgId, Seq};

use super::{Store, chunks, json_id_list, json_ints};
use crate::db::q;
use crate::sql::*;
use crate::{Events, Result};

/// An event row (`seq, kind, target_member_id, message_id, at, payload`).
pub(crate) fn event_from_row(org: OrgId, r: &crate::db::Row) -> Result<Event> {
    let kind: String = r.get("kind")?;
    Ok(Event {
        seq: Seq(r.get("seq")?),
        org_id: org,
        at: ts(r.get("at")?),
        body: decode_payload(
            &kind,
            r.get("target_member_id")?,
            r.get("message_id")?,
            &r.get::<String>("payload")?,
        )?,
    })
}

#[async_trait]
impl Events for Store {
    async fn events_for(
        &self,
        org: OrgId,
        member: MemberId,
        since: Seq,
        limit: u32,
    ) -> Result<Vec<Event>> {
        let rows = q(
            "SELECT seq, kind, target_member_id, message_id, at, payload FROM (
                 SELECT * FROM (SELECT seq, kind, target_member_id, message_id, at, payload FROM events
                     WHERE target_member_id = ?1 AND org_id = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4) AS own
                 UNION ALL
                 SELECT * FROM (SELECT e.seq, e.kind, e.target_member_id, e.message_id, e.at, e.payload FROM events e
                     WHERE e.org_id = ?2 AND e.target_member_id IS NULL AND e.seq > ?3
                       AND EXISTS (SELECT 1 FROM receipts r WHERE r.message_id = e.message_id AND r.member_id = ?1)
                     ORDER BY e.seq LIMIT ?4) AS shared
             ) AS mine ORDER BY seq LIMIT ?4",
        )
        .bind(member.0)
        .bind(org.0)
        .bind(since.0)
        .bind(i64::from(limit))
        .fetch_all(&mut self.db.read().await?)
        .await?;
        rows.iter().map(|r| event_from_row(org, r)).collect()
    }

    async fn org_events_after(&self, org: OrgId, since: Seq, limit: u32) -> Result<Vec<Event>> {
        let rows = q(
            "SELECT seq, kind, target_member_id, message_id, at, payload FROM events
                      WHERE org_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(org.0)
        .bind(since.0)
        .bind(i64::from(limit))
        .fetch_all(&mut self.db.read().await?)
        .await?;
        rows.iter().map(|r| event_from_row(org, r)).collect()
    }

    async fn last_seq(&self, org: OrgId) -> Result<Seq> {
        let seq: Option<i64> = q("SELECT last_seq FROM orgs WHERE id = ?")
            .bind(org.0)
            .scalar_opt(&mut self.db.read().await?)
            .await?;
        Ok(Seq(seq.unwrap_or(0)))
    }

    async fn events_purged_through(&self, org: OrgId) -> Result<Seq> {
        let seq: Option<i64> = q("SELECT events_purged_through FROM orgs WHERE id = ?")
            .bind(org.0)
            .scalar_opt(&mut self.db.read().await?)
            .await?;
        Ok(Seq(seq.unwrap_or(0)))
    }

    async fn recipient_ids(&self, message: MessageId) -> Result<Vec<MemberId>> {
        Ok(
            q("SELECT member_id FROM receipts WHERE message_id = ? ORDER BY member_id")
                .bind(message.0)
                .scalars(&mut self.db.read().await?)
                .await?
                .into_iter()
                .map(MemberId)
                .collect(),
        )
    }

    async fn recipients_among(
        &self,
        message: MessageId,
        members: &[MemberId],
    ) -> Result<Vec<MemberId>> {
        let mut out = Vec::new();
        let d = self.dialect();
        let sql = format!(
            "SELECT member_id FROM receipts WHERE message_id = ? AND member_id IN {}",
            json_ints(d)
        );
        for r in chunks(d, members.len(), 5_000, |_| 12) {
            out.extend(
                q(sql.clone())
                    .bind(message.0)
                    .bind(json_id_list(members[r].iter().map(|m| m.0)))
                    .scalars(&mut self.db.read().await?)
                    .await?
                    .into_iter()
                    .map(MemberId),
            );
        }
        Ok(out)
    }
}
