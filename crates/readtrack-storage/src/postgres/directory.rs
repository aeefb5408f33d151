//! Departments, members and the bulk import.

use std::collections::HashMap;

use jiff::Timestamp;
use readtrack_domain::FieldError;
use readtrack_domain::department::{Department, DepartmentTree};
use readtrack_domain::ids::{DepartmentId, MemberId, OrgId};
use readtrack_domain::member::Member;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use super::{
    INT8, MEMBER_COLUMNS, PostgresStorage, chunks, conflict_on_unique, member_from_row, text,
};
use crate::model::*;
use crate::sql::*;
use crate::{Result, StorageError};

const EMAIL_TAKEN: &str = "a member with this email already exists";

/// The first key of the advisory lock that serialises imports (the second is the org).
const IMPORT_LOCK: i32 = 0x5254_494d; // "RTIM"

impl PostgresStorage {
    pub(crate) async fn create_department_impl(&self, new: NewDepartment) -> Result<Department> {
        let mut tx = self.pool.begin().await?;
        if let Some(parent) = new.parent_id {
            let ok: Option<i64> =
                sqlx::query_scalar("SELECT id FROM departments WHERE id = $1 AND org_id = $2")
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
            "INSERT INTO departments (org_id, name, parent_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
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
        let rows = sqlx::query(
            "SELECT id, name, parent_id FROM departments WHERE org_id = $1 ORDER BY id",
        )
        .bind(org.0)
        .fetch_all(&self.pool)
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
        conn: &mut PgConnection,
        org: OrgId,
        department: Option<DepartmentId>,
        people: &[(&str, Option<MemberId>)],
    ) -> Result<()> {
        if let Some(d) = department {
            let ok: Option<i64> =
                sqlx::query_scalar("SELECT id FROM departments WHERE id = $1 AND org_id = $2")
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
                    sqlx::query_scalar("SELECT id FROM members WHERE id = $1 AND org_id = $2")
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
        let mut tx = self.pool.begin().await?;
        self.check_refs(
            &mut tx,
            new.org_id,
            Some(new.department_id),
            &[("manager_id", new.manager_id), ("backup_id", new.backup_id)],
        )
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO members (org_id, name, email, department_id, manager_id, backup_id, role, time_zone, password_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
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
        .map_err(|e| conflict_on_unique(e, EMAIL_TAKEN))?;
        let member = fetch_member(&mut tx, new.org_id, MemberId(id)).await?;
        tx.commit().await?;
        member.ok_or(StorageError::NotFound("member"))
    }

    pub(crate) async fn member_impl(&self, org: OrgId, id: MemberId) -> Result<Option<Member>> {
        let mut conn = self.pool.acquire().await?;
        fetch_member(&mut conn, org, id).await
    }

    pub(crate) async fn members_by_ids_impl(
        &self,
        org: OrgId,
        ids: &[MemberId],
    ) -> Result<Vec<Member>> {
        let ids: Vec<i64> = ids.iter().map(|m| m.0).collect();
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM members WHERE org_id = $1 AND active AND id = ANY($2)"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.0)
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(member_from_row).collect()
    }

    pub(crate) async fn existing_members_impl(
        &self,
        org: OrgId,
        ids: &[MemberId],
    ) -> Result<Vec<MemberId>> {
        let ids: Vec<i64> = ids.iter().map(|m| m.0).collect();
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT id FROM members WHERE org_id = $1 AND active AND id = ANY($2)",
        )
        .bind(org.0)
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(MemberId)
        .collect())
    }

    pub(crate) async fn members_impl(
        &self,
        org: OrgId,
        filter: &MemberFilter,
        page: Page,
    ) -> Result<Vec<Member>> {
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(format!(
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
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(member_from_row).collect()
    }

    pub(crate) async fn update_member_impl(
        &self,
        org: OrgId,
        id: MemberId,
        p: MemberPatch,
    ) -> Result<Member> {
        let mut tx = self.pool.begin().await?;
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
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new("UPDATE members SET id = id");
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
            qb.push(", active = ").push_bind(v);
        }
        qb.push(" WHERE id = ").push_bind(existing.id.0);
        qb.build()
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_on_unique(e, EMAIL_TAKEN))?;
        if p.password_hash.is_some() || p.active == Some(false) {
            // A new password or a deactivation signs the member out everywhere.
            sqlx::query("DELETE FROM tokens WHERE member_id = $1 AND kind = 'session'")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        if p.active == Some(false) {
            sqlx::query("DELETE FROM tokens WHERE member_id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        let member = fetch_member(&mut tx, org, id).await?;
        tx.commit().await?;
        member.ok_or(StorageError::NotFound("member"))
    }

    pub(crate) async fn member_emails_impl(&self, org: OrgId) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT email FROM members WHERE org_id = $1")
                .bind(org.0)
                .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await?;
        let mut counts = ImportCounts::default();
        // One import per organisation at a time, whichever node it reaches: the checks
        // below read the directory and must still hold when the writes land. An advisory
        // lock, not the organisation row, which every receipt commit needs meanwhile.
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(IMPORT_LOCK)
            .bind(i32::try_from(org.0).unwrap_or(i32::MAX))
            .execute(&mut *tx)
            .await?;

        // Departments: create each missing path, parents first.
        let depts = sqlx::query("SELECT id, name, parent_id FROM departments WHERE org_id = $1")
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
                                    "INSERT INTO departments (org_id, name, parent_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
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

        // Members: update those whose email exists, insert the rest as arrays.
        let emails: Vec<&str> = rows.iter().map(|r| r.email.as_str()).collect();
        let existing: HashMap<String, (i64, i64)> =
            sqlx::query("SELECT email, id, org_id FROM members WHERE email = ANY($1)")
                .bind(&emails)
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
        let mut updates: (Vec<i64>, Vec<&str>, Vec<i64>, Vec<&str>) = Default::default();
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
                    updates.0.push(*id);
                    updates.1.push(&row.name);
                    updates.2.push(path_ids[&row.department].0);
                    updates.3.push(row.role.as_str());
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
        let updated_bytes = |i: usize| 2 * INT8 + text(updates.1[i]) + text(updates.3[i]);
        for r in chunks(updates.0.len(), updated_bytes) {
            sqlx::query(
                "UPDATE members SET name = v.name, department_id = v.department_id, role = v.role, active = TRUE
                 FROM UNNEST($1::int8[], $2::text[], $3::int8[], $4::text[]) AS v(id, name, department_id, role)
                 WHERE members.id = v.id",
            )
            .bind(&updates.0[r.clone()])
            .bind(&updates.1[r.clone()])
            .bind(&updates.2[r.clone()])
            .bind(&updates.3[r])
            .execute(&mut *tx)
            .await?;
        }
        let names: Vec<&str> = inserts.iter().map(|r| r.name.as_str()).collect();
        let emails: Vec<&str> = inserts.iter().map(|r| r.email.as_str()).collect();
        let depts: Vec<i64> = inserts.iter().map(|r| path_ids[&r.department].0).collect();
        let roles: Vec<&str> = inserts.iter().map(|r| r.role.as_str()).collect();
        let inserted_bytes = |i: usize| INT8 + text(names[i]) + text(emails[i]) + text(roles[i]);
        for r in chunks(inserts.len(), inserted_bytes) {
            sqlx::query(
                "INSERT INTO members (org_id, name, email, department_id, role, created_at)
                 SELECT $1, v.name, v.email, v.department_id, v.role, $6
                 FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::text[]) AS v(name, email, department_id, role)",
            )
            .bind(org.0)
            .bind(&names[r.clone()])
            .bind(&emails[r.clone()])
            .bind(&depts[r.clone()])
            .bind(&roles[r])
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_on_unique(e, EMAIL_TAKEN))?;
        }
        // Managers and backups last, when every address has an id.
        let ids: HashMap<String, i64> =
            sqlx::query("SELECT email, id FROM members WHERE org_id = $1")
                .bind(org.0)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| Ok((r.try_get::<String, _>("email")?, r.try_get("id")?)))
                .collect::<Result<_>>()?;
        let mut links: (Vec<i64>, Vec<Option<i64>>, Vec<Option<i64>>) = Default::default();
        for r in rows {
            links.0.push(ids[r.email.as_str()]);
            links.1.push(
                r.manager_email
                    .as_ref()
                    .and_then(|e| ids.get(e.as_str()).copied()),
            );
            links.2.push(
                r.backup_email
                    .as_ref()
                    .and_then(|e| ids.get(e.as_str()).copied()),
            );
        }
        for r in chunks(links.0.len(), |_| 3 * INT8) {
            sqlx::query(
                "UPDATE members SET manager_id = v.manager_id, backup_id = v.backup_id
                 FROM UNNEST($1::int8[], $2::int8[], $3::int8[]) AS v(id, manager_id, backup_id)
                 WHERE members.id = v.id",
            )
            .bind(&links.0[r.clone()])
            .bind(&links.1[r.clone()])
            .bind(&links.2[r])
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(counts)
    }
}

pub(crate) async fn fetch_member(
    conn: &mut PgConnection,
    org: OrgId,
    id: MemberId,
) -> Result<Option<Member>> {
    let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE id = $1 AND org_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .bind(org.0)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(member_from_row).transpose()
}
