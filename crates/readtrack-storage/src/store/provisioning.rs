//! SCIM provisioning: members and departments with their times, members an identity
//! provider deleted, and departments renamed, given an identity provider id or deleted.

use async_trait::async_trait;
use jiff::Timestamp;
use readtrack_domain::department::Department;
use readtrack_domain::ids::{DepartmentId, MemberId, OrgId};

use super::{MEMBER_COLUMNS, Store, member_from_row};
use crate::db::{Row, conflict_on_unique, q};
use crate::model::*;
use crate::sql::*;
use crate::{Provisioning, Result, StorageError};

/// The member columns prefixed for a join with their department.
fn member_columns() -> String {
    MEMBER_COLUMNS
        .split(", ")
        .map(|c| format!("m.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn provisioned_from_row(r: &Row) -> Result<ProvisionedMember> {
    let created: i64 = r.get("created_at")?;
    Ok(ProvisionedMember {
        member: member_from_row(r)?,
        department_name: r.get("department_name")?,
        created_at: ts(created),
        updated_at: ts(r.get::<Option<i64>>("updated_at")?.unwrap_or(created)),
    })
}

#[async_trait]
impl Provisioning for Store {
    async fn provisioned_members(
        &self,
        org: OrgId,
        filter: &ProvisionedFilter,
        offset: u64,
        limit: u32,
    ) -> Result<(u64, Vec<ProvisionedMember>)> {
        let mut conn = self.db.read().await?;
        let mut count =
            q("SELECT COUNT(*) FROM members m WHERE m.scim_deleted_at IS NULL AND m.org_id = ");
        let mut page = q(format!(
            "SELECT {}, m.created_at, m.updated_at, d.name AS department_name
             FROM members m JOIN departments d ON d.id = m.department_id
             WHERE m.scim_deleted_at IS NULL AND m.org_id = ",
            member_columns()
        ));
        for qb in [&mut count, &mut page] {
            qb.push_bind(org.0);
            if let Some(e) = &filter.email {
                qb.push(" AND m.email = ")
                    .push_bind(e.trim().to_lowercase());
            }
            if let Some(x) = &filter.external_id {
                qb.push(" AND m.external_id = ").push_bind(x.clone());
            }
        }
        let total: i64 = count.scalar(&mut conn).await?;
        page.push(" ORDER BY m.id LIMIT ")
            .push_bind(i64::from(limit))
            .push(" OFFSET ")
            .push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
        let rows = page.fetch_all(&mut conn).await?;
        let members = rows
            .iter()
            .map(provisioned_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok((u64::try_from(total).unwrap_or(0), members))
    }

    async fn provisioned_member(
        &self,
        org: OrgId,
        id: MemberId,
    ) -> Result<Option<ProvisionedMember>> {
        let row = q(format!(
            "SELECT {}, m.created_at, m.updated_at, d.name AS department_name
             FROM members m JOIN departments d ON d.id = m.department_id
             WHERE m.id = ? AND m.org_id = ? AND m.scim_deleted_at IS NULL",
            member_columns()
        ))
        .bind(id.0)
        .bind(org.0)
        .fetch_optional(&mut self.db.read().await?)
        .await?;
        row.as_ref().map(provisioned_from_row).transpose()
    }

    async fn mark_member_deleted(&self, org: OrgId, id: MemberId, now: Timestamp) -> Result<()> {
        q("UPDATE members SET scim_deleted_at = ?, updated_at = ? WHERE id = ? AND org_id = ?")
            .bind(ms(now))
            .bind(ms(now))
            .bind(id.0)
            .bind(org.0)
            .execute(&mut self.db.write_conn().await?)
            .await?;
        Ok(())
    }

    async fn deleted_member_by_email(&self, org: OrgId, email: &str) -> Result<Option<MemberId>> {
        let id: Option<i64> = q(
            "SELECT id FROM members WHERE org_id = ? AND email = ? AND scim_deleted_at IS NOT NULL",
        )
        .bind(org.0)
        .bind(email.trim().to_lowercase())
        .scalar_opt(&mut self.db.read().await?)
        .await?;
        Ok(id.map(MemberId))
    }

    async fn undelete_member(&self, org: OrgId, id: MemberId, now: Timestamp) -> Result<()> {
        q("UPDATE members SET scim_deleted_at = NULL, updated_at = ? WHERE id = ? AND org_id = ?")
            .bind(ms(now))
            .bind(id.0)
            .bind(org.0)
            .execute(&mut self.db.write_conn().await?)
            .await?;
        Ok(())
    }

    async fn touch_member(&self, org: OrgId, id: MemberId, now: Timestamp) -> Result<()> {
        q("UPDATE members SET updated_at = ? WHERE id = ? AND org_id = ?")
            .bind(ms(now))
            .bind(id.0)
            .bind(org.0)
            .execute(&mut self.db.write_conn().await?)
            .await?;
        Ok(())
    }

    async fn provisioned_departments(&self, org: OrgId) -> Result<Vec<ProvisionedDepartment>> {
        let mut conn = self.db.read().await?;
        let rows = q(
            "SELECT id, name, parent_id, external_id, created_at, updated_at
             FROM departments WHERE org_id = ? ORDER BY id",
        )
        .bind(org.0)
        .fetch_all(&mut conn)
        .await?;
        let members = q("SELECT department_id, id FROM members
             WHERE org_id = ? AND scim_deleted_at IS NULL ORDER BY id")
        .bind(org.0)
        .fetch_all(&mut conn)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                let created: i64 = r.get("created_at")?;
                Ok(ProvisionedDepartment {
                    department: Department {
                        id: DepartmentId(r.get("id")?),
                        name: r.get("name")?,
                        parent_id: r.get::<Option<i64>>("parent_id")?.map(DepartmentId),
                    },
                    external_id: r.get("external_id")?,
                    created_at: ts(created),
                    updated_at: ts(r.get::<Option<i64>>("updated_at")?.unwrap_or(created)),
                    members: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        for m in &members {
            let dept: i64 = m.get("department_id")?;
            let id: i64 = m.get("id")?;
            if let Some(d) = out.iter_mut().find(|d| d.department.id.0 == dept) {
                d.members.push(MemberId(id));
            }
        }
        Ok(out)
    }

    async fn update_department(
        &self,
        org: OrgId,
        id: DepartmentId,
        name: &str,
        external_id: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        let done = q(
            "UPDATE departments SET name = ?, external_id = ?, updated_at = ? WHERE id = ? AND org_id = ?",
        )
        .bind(name)
        .bind(external_id)
        .bind(ms(now))
        .bind(id.0)
        .bind(org.0)
        .execute(&mut self.db.write_conn().await?)
        .await
        .map_err(|e| {
            conflict_on_unique(
                e,
                "another department has this name under the same parent, or this externalId",
            )
        })?;
        if done == 0 {
            return Err(StorageError::NotFound("department"));
        }
        Ok(())
    }

    async fn delete_department(
        &self,
        org: OrgId,
        id: DepartmentId,
        move_to: DepartmentId,
    ) -> Result<()> {
        let mut tx = self.db.write().await?;
        let children: i64 =
            q("SELECT COUNT(*) FROM departments WHERE parent_id = ? AND org_id = ?")
                .bind(id.0)
                .bind(org.0)
                .scalar(&mut tx)
                .await?;
        if children > 0 {
            return Err(StorageError::Conflict(
                "the department has sub-departments; move or delete them first".into(),
            ));
        }
        // Boards and analytics name the departments notices counted people in.
        let history: i64 = q(
            "SELECT (SELECT COUNT(*) FROM department_counters WHERE department_id = ?)
                  + (SELECT COUNT(*) FROM department_stats WHERE department_id = ?)",
        )
        .bind(id.0)
        .bind(id.0)
        .scalar(&mut tx)
        .await?;
        if history > 0 {
            return Err(StorageError::Conflict(
                "notices were sent to people in this department, and their history names it; rename it instead".into(),
            ));
        }
        q("UPDATE members SET department_id = ? WHERE department_id = ? AND org_id = ?")
            .bind(move_to.0)
            .bind(id.0)
            .bind(org.0)
            .execute(&mut tx)
            .await?;
        let done = q("DELETE FROM departments WHERE id = ? AND org_id = ?")
            .bind(id.0)
            .bind(org.0)
            .execute(&mut tx)
            .await?;
        if done == 0 {
            return Err(StorageError::NotFound("department"));
        }
        tx.commit().await?;
        Ok(())
    }
}
