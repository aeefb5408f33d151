//! Departments, members and the bulk import.

use async_trait::async_trait;
use std::collections::HashMap;

use jiff::Timestamp;
use readtrack_domain::FieldError;
use readtrack_domain::department::Department;
use readtrack_domain::ids::{DepartmentId, MemberId, OrgId};
use readtrack_domain::import::{
    ChangeKind, DepartmentRef, ForeignAddress, ImportChange, missing_members, plan_import, review,
    taken_external_ids,
};
use readtrack_domain::member::{Member, Role};

use super::{MEMBER_COLUMNS, Store, chunks, json_id_list, json_ints, member_from_row};
use crate::db::Dialect;

/// The advisory lock an import holds on PostgreSQL ("RTIM").
const IMPORT_LOCK: i64 = 0x5254_494d;
use crate::db::{Exec, conflict_on_unique, q};
use crate::model::*;
use crate::sql::*;
use crate::{Directory, Result, StorageError};

#[async_trait]
impl Directory for Store {
    async fn create_department(&self, new: NewDepartment) -> Result<Department> {
        let mut tx = self.db.write().await?;
        if let Some(parent) = new.parent_id {
            let ok: Option<i64> = q("SELECT id FROM departments WHERE id = ? AND org_id = ?")
                .bind(parent.0)
                .bind(new.org_id.0)
                .scalar_opt(&mut tx)
                .await?;
            if ok.is_none() {
                return Err(StorageError::Invalid(FieldError::with_code(
                    "parent_id",
                    "unknown_department",
                    format!("`parent_id` {parent} is not a department of this organisation"),
                )));
            }
        }
        let id: i64 = q(
            "INSERT INTO departments (org_id, name, parent_id, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(new.org_id.0)
        .bind(&new.name)
        .bind(new.parent_id.map(|p| p.0))
        .bind(ms(new.now))
        .scalar(&mut tx)
        .await
        .map_err(|e| conflict_on_unique(e, "a department with this name already exists under the same parent"))?;
        tx.commit().await?;
        Ok(Department {
            id: DepartmentId(id),
            name: new.name,
            parent_id: new.parent_id,
        })
    }

    async fn departments(&self, org: OrgId) -> Result<Vec<Department>> {
        let rows = q("SELECT id, name, parent_id FROM departments WHERE org_id = ? ORDER BY id")
            .bind(org.0)
            .fetch_all(&mut self.db.read().await?)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Department {
                    id: DepartmentId(r.get("id")?),
                    name: r.get("name")?,
                    parent_id: r.get::<Option<i64>>("parent_id")?.map(DepartmentId),
                })
            })
            .collect()
    }

    async fn create_member(&self, new: NewMember) -> Result<Member> {
        let mut tx = self.db.write().await?;
        self.check_refs(
            &mut tx,
            new.org_id,
            Some(new.department_id),
            &[("manager_id", new.manager_id), ("backup_id", new.backup_id)],
        )
        .await?;
        let id: i64 = q(
            "INSERT INTO members (org_id, name, email, department_id, manager_id, backup_id, role, time_zone, password_hash, phone, external_id, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(new.org_id.0)
        .bind(&new.name)
        .bind(new.email.as_str())
        .bind(new.department_id.0)
        .bind(new.manager_id.map(|m| m.0))
        .bind(new.backup_id.map(|m| m.0))
        .bind(new.role.as_str())
        .bind(&new.time_zone)
        .bind(&new.password_hash)
        .bind(&new.phone)
        .bind(&new.external_id)
        .bind(ms(new.now))
        .scalar(&mut tx)
        .await
        .map_err(member_conflict)?;
        let member = fetch_member(&mut tx, new.org_id, MemberId(id)).await?;
        tx.commit().await?;
        member.ok_or(StorageError::NotFound("member"))
    }

    async fn member(&self, org: OrgId, id: MemberId) -> Result<Option<Member>> {
        let mut conn = self.db.read().await?;
        fetch_member(&mut conn, org, id).await
    }

    async fn members_by_ids(&self, org: OrgId, ids: &[MemberId]) -> Result<Vec<Member>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut wanted: Vec<i64> = ids.iter().map(|id| id.0).collect();
        wanted.sort_unstable();
        wanted.dedup();
        // One statement and one JSON row for the lot: a relay's batch names up to a
        // thousand members, and the driver hands rows over one at a time between threads.
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT json_group_array(json_array(m.id, m.org_id, m.name, m.email, m.department_id, m.manager_id,
                     m.backup_id, m.role, m.time_zone, m.policy_ack_version, m.phone, m.external_id))
                 FROM json_each(?1) k CROSS JOIN members m ON m.id = k.value
                 WHERE m.org_id = ?2 AND m.active"
            }
            Dialect::Postgres => {
                "SELECT COALESCE(json_agg(json_build_array(m.id, m.org_id, m.name, m.email, m.department_id, m.manager_id,
                     m.backup_id, m.role, m.time_zone, m.policy_ack_version, m.phone, m.external_id))::text, '[]')
                 FROM members m WHERE m.id IN (SELECT value::bigint FROM json_array_elements_text(?1::json))
                   AND m.org_id = ?2 AND m.active"
            }
        };
        let found: String = q(sql)
            .bind(
                serde_json::to_string(&wanted)
                    .map_err(|e| StorageError::Corrupt(format!("member ids: {e}")))?,
            )
            .bind(org.0)
            .scalar(&mut self.db.read().await?)
            .await?;
        type Columns = (
            i64,
            i64,
            String,
            String,
            i64,
            Option<i64>,
            Option<i64>,
            String,
            Option<String>,
            i64,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Columns> = serde_json::from_str(&found)
            .map_err(|e| StorageError::Corrupt(format!("member rows: {e}")))?;
        rows.into_iter()
            .map(|c| {
                Ok(Member {
                    id: MemberId(c.0),
                    org_id: OrgId(c.1),
                    name: c.2,
                    email: c.3,
                    department_id: DepartmentId(c.4),
                    manager_id: c.5.map(MemberId),
                    backup_id: c.6.map(MemberId),
                    role: Role::parse("role", &c.7)
                        .map_err(|_| StorageError::Corrupt(format!("role {:?}", c.7)))?,
                    time_zone: c.8,
                    policy_ack_version: c.9,
                    active: true,
                    phone: c.10,
                    external_id: c.11,
                })
            })
            .collect()
    }

    async fn existing_members(&self, org: OrgId, ids: &[MemberId]) -> Result<Vec<MemberId>> {
        let mut out = Vec::with_capacity(ids.len());
        let d = self.dialect();
        for r in chunks(d, ids.len(), 500, |_| 12) {
            let sql = format!(
                "SELECT id FROM members WHERE org_id = ? AND active AND id IN {}",
                json_ints(d)
            );
            out.extend(
                q(sql)
                    .bind(org.0)
                    .bind(json_id_list(ids[r].iter().map(|m| m.0)))
                    .scalars(&mut self.db.read().await?)
                    .await?
                    .into_iter()
                    .map(MemberId),
            );
        }
        Ok(out)
    }

    async fn members(&self, org: OrgId, filter: &MemberFilter, page: Page) -> Result<Vec<Member>> {
        let mut qb = q(format!(
            "SELECT {MEMBER_COLUMNS} FROM members WHERE org_id = "
        ));
        qb.push_bind(org.0);
        if let Some(d) = filter.department_id {
            qb.push(" AND department_id = ").push_bind(d.0);
        }
        if let Some(q) = &filter.query {
            let pattern = format!(
                "%{}%",
                q.to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            qb.push(" AND (lower(name) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR email LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        if let Some(after) = page.after {
            qb.push(" AND id > ").push_bind(after);
        }
        qb.push(" ORDER BY id LIMIT ")
            .push_bind(i64::from(page.limit));
        let rows = qb.fetch_all(&mut self.db.read().await?).await?;
        rows.iter().map(member_from_row).collect()
    }

    async fn update_member(&self, org: OrgId, id: MemberId, p: MemberPatch) -> Result<Member> {
        let mut tx = self.db.write().await?;
        let existing = fetch_member(&mut tx, org, id)
            .await?
            .ok_or(StorageError::NotFound("member"))?;
        self.check_refs(
            &mut tx,
            org,
            p.department_id,
            &[
                ("manager_id", p.manager_id.flatten()),
                ("backup_id", p.backup_id.flatten()),
            ],
        )
        .await?;
        let mut qb = q("UPDATE members SET id = id");
        if let Some(v) = &p.name {
            qb.push(", name = ").push_bind(v.clone());
        }
        if let Some(v) = &p.email {
            qb.push(", email = ").push_bind(v.as_str().to_string());
            // A new address is worth trying even if the old one was refused.
            qb.push(", email_failed_at = NULL, email_failure = NULL");
        }
        if let Some(v) = p.department_id {
            qb.push(", department_id = ").push_bind(v.0);
        }
        if let Some(v) = p.manager_id {
            qb.push(", manager_id = ").push_bind(v.map(|m| m.0));
        }
        if let Some(v) = p.backup_id {
            qb.push(", backup_id = ").push_bind(v.map(|m| m.0));
        }
        if let Some(v) = p.role {
            qb.push(", role = ").push_bind(v.as_str());
        }
        if let Some(v) = &p.time_zone {
            qb.push(", time_zone = ").push_bind(v.clone());
        }
        if let Some(v) = &p.password_hash {
            qb.push(", password_hash = ").push_bind(v.clone());
        }
        if let Some(v) = p.active {
            qb.push(", active = ").push_bind(v);
        }
        if let Some(v) = &p.phone {
            qb.push(", phone = ").push_bind(v.clone());
        }
        if let Some(v) = &p.external_id {
            qb.push(", external_id = ").push_bind(v.clone());
        }
        qb.push(" WHERE id = ").push_bind(existing.id.0);
        qb.execute(&mut tx).await.map_err(member_conflict)?;
        if p.password_hash.is_some() || p.active == Some(false) {
            // A new password or a deactivation signs the member out everywhere.
            q("DELETE FROM tokens WHERE member_id = ? AND kind = 'session'")
                .bind(id.0)
                .execute(&mut tx)
                .await?;
        }
        if p.active == Some(false) {
            q("DELETE FROM tokens WHERE member_id = ?")
                .bind(id.0)
                .execute(&mut tx)
                .await?;
        }
        let member = fetch_member(&mut tx, org, id).await?;
        tx.commit().await?;
        member.ok_or(StorageError::NotFound("member"))
    }

    async fn manages_anyone(&self, member: MemberId) -> Result<bool> {
        let n: i64 = q("SELECT COUNT(*) FROM members WHERE manager_id = ? AND active")
            .bind(member.0)
            .scalar(&mut self.db.read().await?)
            .await?;
        Ok(n > 0)
    }

    async fn member_emails(&self, org: OrgId) -> Result<Vec<String>> {
        Ok(q("SELECT email FROM members WHERE org_id = ?")
            .bind(org.0)
            .scalars(&mut self.db.read().await?)
            .await?)
    }

    async fn import_members(
        &self,
        org: OrgId,
        rows: &[ImportWrite],
        dry_run: bool,
        deactivate_missing_except: Option<MemberId>,
        now: Timestamp,
    ) -> Result<ImportCounts> {
        let now = ms(now);
        let mut tx = self.db.write().await?;
        let mut counts = ImportCounts::default();
        if self.dialect() == Dialect::Postgres {
            // Two imports into one organisation at once would both create the same
            // missing departments: the second waits for the first.
            q("SELECT pg_advisory_xact_lock(CAST(? AS INTEGER), CAST(? AS INTEGER))")
                .bind(IMPORT_LOCK)
                .bind(org.0.min(i64::from(i32::MAX)))
                .execute(&mut tx)
                .await?;
        }

        // The plan (readtrack-domain) decides; this only writes it.
        let departments: Vec<Department> =
            q("SELECT id, name, parent_id FROM departments WHERE org_id = ?")
                .bind(org.0)
                .fetch_all(&mut tx)
                .await?
                .iter()
                .map(|r| {
                    Ok(Department {
                        id: DepartmentId(r.get("id")?),
                        name: r.get("name")?,
                        parent_id: r.get::<Option<i64>>("parent_id")?.map(DepartmentId),
                    })
                })
                .collect::<Result<_>>()?;
        let existing: HashMap<String, (MemberId, OrgId)> =
            q("SELECT email, id, org_id FROM members")
                .fetch_all(&mut tx)
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        r.get::<String>("email")?,
                        (MemberId(r.get("id")?), OrgId(r.get("org_id")?)),
                    ))
                })
                .collect::<Result<_>>()?;
        let plan =
            plan_import(&departments, &existing, org, rows).map_err(|ForeignAddress(email)| {
                StorageError::Conflict(format!(
                    "{email} belongs to another organisation on this server"
                ))
            })?;
        let current: Vec<Member> = q(format!(
            "SELECT {MEMBER_COLUMNS} FROM members WHERE org_id = ?"
        ))
        .bind(org.0)
        .fetch_all(&mut tx)
        .await?
        .iter()
        .map(member_from_row)
        .collect::<Result<_>>()?;
        if let Some((line, id, holder)) = taken_external_ids(rows, &current).into_iter().next() {
            return Err(StorageError::Conflict(format!(
                "line {line}: external_id {id} already belongs to {holder}"
            )));
        }
        counts.changes = review(&plan, rows, &current);
        if let Some(keep) = deactivate_missing_except {
            counts.deactivated = missing_members(rows, &current, keep);
            let leaving: std::collections::HashSet<MemberId> =
                counts.deactivated.iter().copied().collect();
            counts
                .changes
                .extend(
                    current
                        .iter()
                        .filter(|m| leaving.contains(&m.id))
                        .map(|m| ImportChange {
                            line: 0,
                            email: m.email.clone(),
                            kind: ChangeKind::Deactivate,
                            fields: vec!["active"],
                        }),
                );
        }
        counts.departments_created = plan.departments.len() as u64;
        counts.updated = plan.updates.len() as u64;
        counts.created = plan.creates.len() as u64;
        if dry_run {
            return Ok(counts);
        }
        let mut created: Vec<DepartmentId> = Vec::with_capacity(plan.departments.len());
        let resolve = |r: DepartmentRef, created: &[DepartmentId]| match r {
            DepartmentRef::Existing(id) => id,
            DepartmentRef::New(i) => created[i],
        };
        for d in &plan.departments {
            let parent = d.parent.map(|p| resolve(p, &created));
            let id: i64 = q("INSERT INTO departments (org_id, name, parent_id, created_at) VALUES (?, ?, ?, ?) RETURNING id")
                .bind(org.0)
                .bind(d.name.as_str())
                .bind(parent.map(|p| p.0))
                .bind(now)
                .scalar(&mut tx)
                .await?;
            created.push(DepartmentId(id));
        }
        let department_of = |i: usize| -> Result<i64> {
            plan.row_departments[i]
                .map(|r| resolve(r, &created).0)
                .ok_or(StorageError::NotFound("department"))
        };
        for &(member, i) in &plan.updates {
            let row = &rows[i];
            // A column the file does not have leaves the field as it is.
            q(
                "UPDATE members SET name = ?, department_id = ?, role = ?, active = TRUE,
                 phone = CASE WHEN ? THEN ? ELSE phone END,
                 external_id = CASE WHEN ? THEN ? ELSE external_id END
               WHERE id = ?",
            )
            .bind(row.name.as_str())
            .bind(department_of(i)?)
            .bind(row.role.as_str())
            .bind(row.phone.is_some())
            .bind(row.phone.clone().flatten())
            .bind(row.external_id.is_some())
            .bind(row.external_id.clone().flatten())
            .bind(member.0)
            .execute(&mut tx)
            .await
            .map_err(member_conflict)?;
        }
        for chunk in plan.creates.chunks(2000) {
            let sql = format!(
                "INSERT INTO members (org_id, name, email, department_id, role, phone, external_id, created_at) VALUES {}",
                placeholders(chunk.len(), 8)
            );
            let mut insert = q(sql);
            for &i in chunk {
                let row = &rows[i];
                insert = insert
                    .bind(org.0)
                    .bind(row.name.as_str())
                    .bind(row.email.as_str())
                    .bind(department_of(i)?)
                    .bind(row.role.as_str())
                    .bind(row.phone.clone().flatten())
                    .bind(row.external_id.clone().flatten())
                    .bind(now);
            }
            insert.execute(&mut tx).await.map_err(member_conflict)?;
        }
        // Managers and backups last, when every address has an id.
        let ids: HashMap<String, i64> = q("SELECT email, id FROM members WHERE org_id = ?")
            .bind(org.0)
            .fetch_all(&mut tx)
            .await?
            .iter()
            .map(|r| Ok((r.get::<String>("email")?, r.get("id")?)))
            .collect::<Result<_>>()?;
        let links: Vec<(i64, Option<i64>, Option<i64>)> = rows
            .iter()
            .map(|r| {
                (
                    ids[r.email.as_str()],
                    r.manager_email
                        .as_ref()
                        .and_then(|e| ids.get(e.as_str()).copied()),
                    r.backup_email
                        .as_ref()
                        .and_then(|e| ids.get(e.as_str()).copied()),
                )
            })
            .collect();
        for chunk in links.chunks(2000) {
            let sql = format!(
                "WITH v(id, manager_id, backup_id) AS (VALUES {}) UPDATE members SET manager_id = v.manager_id, backup_id = v.backup_id FROM v WHERE members.id = v.id",
                placeholders(chunk.len(), 3)
            );
            let mut q = q(sql);
            for (id, m, b) in chunk {
                q = q.bind(id).bind(m).bind(b);
            }
            q.execute(&mut tx).await?;
        }
        if !counts.deactivated.is_empty() {
            let ids = json_id_list(counts.deactivated.iter().map(|m| m.0));
            let list = json_ints(self.dialect());
            q(format!(
                "UPDATE members SET active = FALSE WHERE org_id = ? AND id IN {list}"
            ))
            .bind(org.0)
            .bind(ids.clone())
            .execute(&mut tx)
            .await?;
            q(format!("DELETE FROM tokens WHERE member_id IN {list}"))
                .bind(ids)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(counts)
    }
}

impl Store {
    async fn check_refs(
        &self,
        conn: &mut impl Exec,
        org: OrgId,
        department: Option<DepartmentId>,
        people: &[(&str, Option<MemberId>)],
    ) -> Result<()> {
        if let Some(d) = department {
            let ok: Option<i64> = q("SELECT id FROM departments WHERE id = ? AND org_id = ?")
                .bind(d.0)
                .bind(org.0)
                .scalar_opt(&mut *conn)
                .await?;
            if ok.is_none() {
                return Err(StorageError::Invalid(FieldError::with_code(
                    "department_id",
                    "unknown_department",
                    format!("`department_id` {d} is not a department of this organisation"),
                )));
            }
        }
        for (field, who) in people {
            if let Some(m) = who {
                let ok: Option<i64> = q("SELECT id FROM members WHERE id = ? AND org_id = ?")
                    .bind(m.0)
                    .bind(org.0)
                    .scalar_opt(&mut *conn)
                    .await?;
                if ok.is_none() {
                    return Err(StorageError::Invalid(FieldError::with_code(
                        *field,
                        "unknown_member",
                        format!("`{field}` {m} is not a member of this organisation"),
                    )));
                }
            }
        }
        Ok(())
    }
}

pub(crate) async fn fetch_member(
    conn: &mut impl Exec,
    org: OrgId,
    id: MemberId,
) -> Result<Option<Member>> {
    let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE id = ? AND org_id = ?");
    let row = q(sql).bind(id.0).bind(org.0).fetch_optional(conn).await?;
    row.as_ref().map(member_from_row).transpose()
}

/// A unique-index violation on members, named for what collided: the address or the
/// identity provider's id.
fn member_conflict(e: StorageError) -> StorageError {
    let on_external_id = matches!(&e, StorageError::Database(sqlx::Error::Database(db))
        if db.constraint() == Some("members_external_id") || db.message().contains("external_id"));
    if on_external_id {
        conflict_on_unique(e, "a member with this external_id already exists")
    } else {
        conflict_on_unique(e, "a member with this email already exists")
    }
}
