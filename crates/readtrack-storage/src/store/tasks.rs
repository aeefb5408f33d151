//! Tasks and the escalations a manager or backup received.

use async_trait::async_trait;
use jiff::Timestamp;
use readtrack_domain::ids::{MemberId, MessageId, TaskId};
use readtrack_domain::receipt::ReceiptState;

use super::Store;
use crate::db::{Row, q};
use crate::model::*;
use crate::sql::*;
use crate::{Result, StorageError, Tasks};

pub(crate) fn task_from_row(r: &Row) -> Result<TaskRecord> {
    Ok(TaskRecord {
        id: TaskId(r.get("id")?),
        message_id: MessageId(r.get("message_id")?),
        member_id: MemberId(r.get("member_id")?),
        reason: r.get("reason")?,
        created_at: ts(r.get("created_at")?),
        done_at: ts_opt(r.get("done_at")?),
        done_by: r.get("done_by")?,
        title: r.get::<Option<String>>("title")?.unwrap_or_default(),
    })
}

#[async_trait]
impl Tasks for Store {
    async fn tasks(&self, member: MemberId, page: Page) -> Result<Vec<TaskRecord>> {
        let rows = q(
            "SELECT t.*, m.title FROM tasks t LEFT JOIN messages m ON m.id = t.message_id
             WHERE t.member_id = ? AND t.id < ? ORDER BY t.id DESC LIMIT ?",
        )
        .bind(member.0)
        .bind(page.after.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit))
        .fetch_all(&mut self.db.read().await?)
        .await?;
        rows.iter().map(task_from_row).collect()
    }

    async fn complete_task(
        &self,
        member: MemberId,
        task: TaskId,
        now: Timestamp,
    ) -> Result<TaskRecord> {
        let mut tx = self.db.write().await?;
        let exists: Option<i64> = q("SELECT id FROM tasks WHERE id = ? AND member_id = ?")
            .bind(task.0)
            .bind(member.0)
            .scalar_opt(&mut tx)
            .await?;
        if exists.is_none() {
            return Err(StorageError::NotFound("task"));
        }
        q("UPDATE tasks SET done_at = ?, done_by = 'manual' WHERE id = ? AND done_at IS NULL")
            .bind(ms(now))
            .bind(task.0)
            .execute(&mut tx)
            .await?;
        let row = q("SELECT t.*, m.title FROM tasks t LEFT JOIN messages m ON m.id = t.message_id WHERE t.id = ?")
            .bind(task.0)
            .fetch_one(&mut tx)
            .await?;
        tx.commit().await?;
        task_from_row(&row)
    }

    async fn escalations_to(&self, member: MemberId, page: Page) -> Result<Vec<EscalationRecord>> {
        let rows = q(
            "SELECT e.id, e.message_id, m.title, e.recipient_id, p.name AS recipient_name, e.role, e.created_at, COALESCE(r.state, 0) AS state
             FROM escalations e JOIN messages m ON m.id = e.message_id JOIN members p ON p.id = e.recipient_id
             LEFT JOIN receipts r ON r.message_id = e.message_id AND r.member_id = e.recipient_id
             WHERE e.to_member_id = ? AND e.id < ? ORDER BY e.id DESC LIMIT ?",
        )
        .bind(member.0)
        .bind(page.after.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit))
        .fetch_all(&mut self.db.read().await?)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EscalationRecord {
                    id: r.get("id")?,
                    message_id: MessageId(r.get("message_id")?),
                    title: r.get("title")?,
                    recipient_id: MemberId(r.get("recipient_id")?),
                    recipient_name: r.get("recipient_name")?,
                    role: r.get("role")?,
                    created_at: ts(r.get("created_at")?),
                    state: ReceiptState::from_code(r.get("state")?),
                })
            })
            .collect()
    }
}
