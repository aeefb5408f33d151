//! Departments, members and the bulk import.

use std::collections::HashMap;

use jiff::Timestamp;
use readtrack_domain::FieldError;
use readtrack_domain::department::{Department, DepartmentTree};
use readtrack_domain::ids::{DepartmentId, MemberId, OrgId};
use readtrack_domain::member::{Member, Role};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{MEMBER_COLUMNS, SqliteStorage, conflict_on_unique, member_from_row};
use crate::model::*;
use crate::sql::*;
use crate::{Result, StorageError};

impl SqliteStorage {
    pub(crate) async fn create_department_impl(&self, new: NewDepartment) -> Result<Department> {
        let mut tx = self.write_tx().await?;
        if let Some(parent) = new.parent_id {
            let ok: Option<i64> =
                sqlx::query_scalar("SELECT id FROM departments WHERE id = ? AND org_id = ?")
                    .bind(parent.0)
                    .bind(new.org_id.0)
                    .fetch_optional(&mut *tx)
                    .await?;
            if ok.is_none() {
                return Err(StorageError::Invalid(FieldError::with_code(
                    "parent_id",
                    "unknown_department",
                    format!("`parent_id` {parent} is not a department of this organisation"),
                )));
            }
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO departments (org_id, name, parent_id, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(new.org_id.0)
        .bind(&new.name)
        .bind(new.parent_id.map(|p| p.0))
        .bind(ms(new.now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, "a department with this name already exists under the same parent"))?;
        tx.commit().await?;
        Ok(Department {
            id: DepartmentId(id),
            name: new.name,
            parent_id: new.parent_id,
        })
    }

    pub(crate) async fn departments_impl(&self, org: OrgId) -> Result<Vec<Department>> {
        let rows =
            sqlx::query("SELECT id, name, parent_id FROM departments WHERE org_id = ? ORDER BY id")
                .bind(org.0)
                .fetch_all(&self.reader)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(Department {
                    id: DepartmentId(r.try_get("id")?),
                    name: r.try_get("name")?,
                    parent_id: r.try_get::<Option<i64>, _>("parent_id")?.map(DepartmentId),
                })
            })
            .collect()
    }

    async fn check_refs(
        &self,
        conn: &mut sqlx::SqliteConnection,
        org: OrgId,
        department: Option<DepartmentId>,
        people: &[(&str, Option<MemberId>)],
    ) -> Result<()> {
        if let Some(d) = department {
            let ok: Option<i64> =
                sqlx::query_scalar("SELECT id FROM departments WHERE id = ? AND org_id = ?")
                    .bind(d.0)
                    .bind(org.0)
                    .fetch_optional(&mut *conn)
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
                let ok: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM members WHERE id = ? AND org_id = ?")
                        .bind(m.0)
                        .bind(org.0)
                        .fetch_optional(&mut *conn)
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

    pub(crate) async fn create_member_impl(&self, new: NewMember) -> Result<Member> {
        let mut tx = self.write_tx().await?;
        self.check_refs(
            &mut tx,
            new.org_id,
            Some(new.department_id),
            &[("manager_id", new.manager_id), ("backup_id", new.backup_id)],
        )
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO members (org_id, name, email, department_id, manager_id, backup_id, role, time_zone, password_hash, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
        .bind(ms(new.now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, "a member with this email already exists"))?;
        let member = fetch_member(&mut tx, new.org_id, MemberId(id)).await?;
        tx.commit().await?;
        member.ok_or(StorageError::NotFound("member"))
    }

    pub(crate) async fn member_impl(&self, org: OrgId, id: MemberId) -> Result<Option<Member>> {
        let mut conn = self.reader.acquire().await?;
        fetch_member(&mut conn, org, id).await
    }

    pub(crate) async fn members_by_ids_impl(
        &self,
        org: OrgId,
        ids: &[MemberId],
    ) -> Result<Vec<Member>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut wanted: Vec<i64> = ids.iter().map(|id| id.0).collect();
        wanted.sort_unstable();
        wanted.dedup();
        // One statement and one JSON row for the lot: a relay's batch names up to a
        // thousand members, and the driver hands rows over one at a time between threads.
        let found: String = sqlx::query_scalar(
            "SELECT json_group_array(json_array(m.id, m.org_id, m.name, m.email, m.department_id, m.manager_id,
                 m.backup_id, m.role, m.time_zone, m.policy_ack_version, m.active))
             FROM json_each(?1) k CROSS JOIN members m ON m.id = k.value
             WHERE m.org_id = ?2 AND m.active = 1",
        )
        .bind(
            serde_json::to_string(&wanted)
                .map_err(|e| StorageError::Corrupt(format!("member ids: {e}")))?,
        )
        .bind(org.0)
        .fetch_one(&self.reader)
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
            i64,
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
                    active: c.10 != 0,
                })
            })
            .collect()
    }

    pub(crate) async fn existing_members_impl(
        &self,
        org: OrgId,
        ids: &[MemberId],
    ) -> Result<Vec<MemberId>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT id FROM members WHERE org_id = ? AND active = 1 AND id IN ({})",
                vec!["?"; chunk.len()].join(",")
            );
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).bind(org.0);
            for id in chunk {
                q = q.bind(id.0);
            }
            out.extend(q.fetch_all(&self.reader).await?.into_iter().map(MemberId));
        }
        Ok(out)
    }

    pub(crate) async fn members_impl(
        &self,
        org: OrgId,
        filter: &MemberFilter,
        page: Page,
    ) -> Result<Vec<Member>> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
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
        let rows = qb.build().fetch_all(&self.reader).await?;
        rows.iter().map(member_from_row).collect()
    }

    pub(crate) async fn update_member_impl(
        &self,
        org: OrgId,
        id: MemberId,
        p: MemberPatch,
    ) -> Result<Member> {
        let mut tx = self.write_tx().await?;
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
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("UPDATE members SET id = id");
        if let Some(v) = &p.name {
            qb.push(", name = ").push_bind(v.clone());
        }
        if let Some(v) = &p.email {
            qb.push(", email = ").push_bind(v.as_str().to_string());
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
            qb.push(", active = ").push_bind(i64::from(v));
        }
        qb.push(" WHERE id = ").push_bind(existing.id.0);
        qb.build()
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_on_unique(e, "a member with this email already exists"))?;
        if p.password_hash.is_some() || p.active == Some(false) {
            // A new password or a deactivation signs the member out everywhere.
            sqlx::query("DELETE FROM tokens WHERE member_id = ? AND kind = 'session'")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        if p.active == Some(false) {
            sqlx::query("DELETE FROM tokens WHERE member_id = ?")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        let member = fetch_member(&mut tx, org, id).await?;
        tx.commit().await?;
        member.ok_or(StorageError::NotFound("member"))
    }

    pub(crate) async fn manages_anyone_impl(&self, member: MemberId) -> Result<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE manager_id = ? AND active = 1")
                .bind(member.0)
                .fetch_one(&self.reader)
                .await?;
        Ok(n > 0)
    }

    pub(crate) async fn member_emails_impl(&self, org: OrgId) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT email FROM members WHERE org_id = ?")
                .bind(org.0)
                .fetch_all(&self.reader)
                .await?,
        )
    }

    pub(crate) async fn import_members_impl(
        &self,
        org: OrgId,
        rows: &[ImportWrite],
        dry_run: bool,
        now: Timestamp,
    ) -> Result<ImportCounts> {
        let now = ms(now);
        let mut tx = self.write_tx().await?;
        let mut counts = ImportCounts::default();

        // Departments: create each missing path, parents first.
        let depts = sqlx::query("SELECT id, name, parent_id FROM departments WHERE org_id = ?")
            .bind(org.0)
            .fetch_all(&mut *tx)
            .await?;
        let mut all: Vec<Department> = depts
            .iter()
            .map(|r| {
                Ok(Department {
                    id: DepartmentId(r.try_get("id")?),
                    name: r.try_get("name")?,
                    parent_id: r.try_get::<Option<i64>, _>("parent_id")?.map(DepartmentId),
                })
            })
            .collect::<Result<_>>()?;
        let mut tree = DepartmentTree::new(all.clone());
        let mut path_ids: HashMap<Vec<String>, DepartmentId> = HashMap::new();
        let mut fake_id = -1i64;
        for row in rows {
            if path_ids.contains_key(&row.department) {
                continue;
            }
            for depth in 1..=row.department.len() {
                let prefix = &row.department[..depth];
                if path_ids.contains_key(prefix) {
                    continue;
                }
                let id = match tree.find_path(prefix) {
                    Some(id) => id,
                    None => {
                        let parent = if depth > 1 {
                            Some(path_ids[&row.department[..depth - 1]])
                        } else {
                            None
                        };
                        let name = prefix[depth - 1].clone();
                        let id = if dry_run {
                            fake_id -= 1;
                            DepartmentId(fake_id)
                        } else {
                            DepartmentId(
                                sqlx::query_scalar(
                                    "INSERT INTO departments (org_id, name, parent_id, created_at) VALUES (?, ?, ?, ?) RETURNING id",
                                )
                                .bind(org.0)
                                .bind(&name)
                                .bind(parent.map(|p| p.0))
                                .bind(now)
                                .fetch_one(&mut *tx)
                                .await?,
                            )
                        };
                        counts.departments_created += 1;
                        all.push(Department {
                            id,
                            name,
                            parent_id: parent,
                        });
                        tree = DepartmentTree::new(all.clone());
                        id
                    }
                };
                path_ids.insert(prefix.to_vec(), id);
            }
        }

        // Members: update those whose email exists, insert the rest in multi-row statements.
        let existing: HashMap<String, (i64, i64)> =
            sqlx::query("SELECT email, id, org_id FROM members")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get::<String, _>("email")?,
                        (r.try_get("id")?, r.try_get("org_id")?),
                    ))
                })
                .collect::<Result<_>>()?;
        let mut inserts = Vec::new();
        for row in rows {
            match existing.get(row.email.as_str()) {
                Some((_, other_org)) if *other_org != org.0 => {
                    return Err(StorageError::Conflict(format!(
                        "{} belongs to another organisation on this server",
                        row.email
                    )));
                }
                Some((id, _)) => {
                    counts.updated += 1;
                    if !dry_run {
                        sqlx::query("UPDATE members SET name = ?, department_id = ?, role = ?, active = 1 WHERE id = ?")
                            .bind(&row.name)
                            .bind(path_ids[&row.department].0)
                            .bind(row.role.as_str())
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                None => {
                    counts.created += 1;
                    inserts.push(row);
                }
            }
        }
        if dry_run {
            return Ok(counts);
        }
        for chunk in inserts.chunks(2000) {
            let sql = format!(
                "INSERT INTO members (org_id, name, email, department_id, role, created_at) VALUES {}",
                placeholders(chunk.len(), 6)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for row in chunk {
                q = q
                    .bind(org.0)
                    .bind(&row.name)
                    .bind(row.email.as_str())
                    .bind(path_ids[&row.department].0)
                    .bind(row.role.as_str())
                    .bind(now);
            }
            q.execute(&mut *tx).await?;
        }
        // Managers and backups last, when every address has an id.
        let ids: HashMap<String, i64> =
            sqlx::query("SELECT email, id FROM members WHERE org_id = ?")
                .bind(org.0)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| Ok((r.try_get::<String, _>("email")?, r.try_get("id")?)))
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
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (id, m, b) in chunk {
                q = q.bind(id).bind(m).bind(b);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(counts)
    }
}

pub(crate) async fn fetch_member(
    conn: &mut sqlx::SqliteConnection,
    org: OrgId,
    id: MemberId,
) -> Result<Option<Member>> {
    let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE id = ? AND org_id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .bind(org.0)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(member_from_row).transpose()
}
