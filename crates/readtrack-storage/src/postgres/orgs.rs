//! Organisations, settings, policy versions and tokens.

use jiff::Timestamp;
use readtrack_domain::ids::{DepartmentId, MemberId, OrgId, TokenId};
use readtrack_domain::member::Role;
use readtrack_domain::settings::{
    OrgSettings, Pilot, QuietHours, WorkingHours, format_time_of_day,
};
use readtrack_domain::time_zone::Zone;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::{MEMBER_COLUMNS, PostgresStorage, conflict_on_unique, member_from_row};
use crate::model::*;
use crate::sql::*;
use crate::{Result, StorageError};

pub(crate) const ORG_COLUMNS: &str = "id, name, time_zone, working_days, work_start, work_end, quiet_start, quiet_end, quiet_reads, per_person_for, retention_days, min_group_size, policy_version, pilot_departments, pilot_expanded, reminders_important, reminders_urgent";

pub(crate) fn org_from_row(row: &PgRow, policy_text: String) -> Result<OrgRecord> {
    let tz: String = row.try_get("time_zone")?;
    let zone = Zone::parse("time_zone", &tz).unwrap_or_else(|_| Zone::utc());
    let plan = |col: &str| -> Result<_> {
        row.try_get::<Option<String>, _>(col)?
            .map(|s| decode_plan(&s))
            .transpose()
    };
    let pilot_expanded: Option<String> = row.try_get("pilot_expanded")?;
    let pilot_roots: Option<String> = row.try_get("pilot_departments")?;
    let settings = OrgSettings {
        time_zone: zone,
        working_hours: WorkingHours {
            days: decode_days(&row.try_get::<String, _>("working_days")?)?,
            start: time_of_day(&row.try_get::<String, _>("work_start")?)?,
            end: time_of_day(&row.try_get::<String, _>("work_end")?)?,
        },
        quiet_hours: QuietHours {
            start: time_of_day(&row.try_get::<String, _>("quiet_start")?)?,
            end: time_of_day(&row.try_get::<String, _>("quiet_end")?)?,
            reads: quiet_reads(&row.try_get::<String, _>("quiet_reads")?)?,
        },
        per_person_tracking_for: decode_priorities(&row.try_get::<String, _>("per_person_for")?)?,
        retention_days: row.try_get::<i64, _>("retention_days")? as u32,
        min_group_size: row.try_get::<i64, _>("min_group_size")? as u32,
        policy_version: row.try_get("policy_version")?,
        policy_text,
        pilot: match (pilot_roots, pilot_expanded) {
            (Some(roots), Some(expanded)) => Some(Pilot {
                roots: split_ids(&roots).into_iter().map(DepartmentId).collect(),
                departments: split_ids(&expanded).into_iter().map(DepartmentId).collect(),
            }),
            _ => None,
        },
        default_reminders_important: plan("reminders_important")?,
        default_reminders_urgent: plan("reminders_urgent")?,
    };
    Ok(OrgRecord {
        id: OrgId(row.try_get("id")?),
        name: row.try_get("name")?,
        settings,
    })
}

impl PostgresStorage {
    pub(crate) async fn is_set_up_impl(&self) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM server_setup")
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    pub(crate) async fn create_org_impl(&self, new: NewOrg, first_run: bool) -> Result<CreatedOrg> {
        let now = ms(new.now);
        let mut tx = self.pool.begin().await?;
        if first_run {
            let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM server_setup")
                .fetch_one(&mut *tx)
                .await?;
            if done > 0 {
                return Err(StorageError::Conflict(
                    "the server is already set up".into(),
                ));
            }
        }
        let s = &new.settings;
        let org_id: i64 = sqlx::query_scalar(
            "INSERT INTO orgs (name, time_zone, working_days, work_start, work_end, quiet_start, quiet_end, quiet_reads, per_person_for, retention_days, min_group_size, policy_version, reminders_important, reminders_urgent, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
        )
        .bind(&new.name)
        .bind(s.time_zone.name())
        .bind(encode_days(&s.working_hours.days))
        .bind(format_time_of_day(s.working_hours.start))
        .bind(format_time_of_day(s.working_hours.end))
        .bind(format_time_of_day(s.quiet_hours.start))
        .bind(format_time_of_day(s.quiet_hours.end))
        .bind(s.quiet_hours.reads.as_str())
        .bind(encode_priorities(&s.per_person_tracking_for))
        .bind(i64::from(s.retention_days))
        .bind(i64::from(s.min_group_size))
        .bind(s.policy_version)
        .bind(s.default_reminders_important.as_ref().map(encode_plan))
        .bind(s.default_reminders_urgent.as_ref().map(encode_plan))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO policies (org_id, version, text, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(org_id)
        .bind(s.policy_version)
        .bind(&s.policy_text)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let dept_id: i64 = sqlx::query_scalar(
            "INSERT INTO departments (org_id, name, parent_id, created_at) VALUES ($1, $2, NULL, $3) RETURNING id",
        )
        .bind(org_id)
        .bind(&new.name)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let admin_id: i64 = sqlx::query_scalar(
            "INSERT INTO members (org_id, name, email, department_id, role, password_hash, created_at)
             VALUES ($1, $2, $3, $4, 'admin', $5, $6) RETURNING id",
        )
        .bind(org_id)
        .bind(&new.admin_name)
        .bind(new.admin_email.as_str())
        .bind(dept_id)
        .bind(&new.admin_password_hash)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, "a member with this email already exists"))?;
        if first_run {
            // Two nodes racing through setup both pass the count above; the primary key
            // lets exactly one of them commit.
            sqlx::query("INSERT INTO server_setup (id, org_id, created_at) VALUES (1, $1, $2)")
                .bind(org_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_on_unique(e, "the server is already set up"))?;
        }
        tx.commit().await?;
        Ok(CreatedOrg {
            org_id: OrgId(org_id),
            admin_id: MemberId(admin_id),
            root_department_id: DepartmentId(dept_id),
        })
    }

    pub(crate) async fn org_impl(&self, org: OrgId) -> Result<OrgRecord> {
        let sql = format!(
            "SELECT {ORG_COLUMNS}, (SELECT text FROM policies p WHERE p.org_id = orgs.id AND p.version = orgs.policy_version) AS policy_text
             FROM orgs WHERE id = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.0)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound("organisation"))?;
        let text: Option<String> = row.try_get("policy_text")?;
        org_from_row(&row, text.unwrap_or_default())
    }

    pub(crate) async fn update_org_settings_impl(
        &self,
        org: OrgId,
        s: &OrgSettings,
        policy_changed_by: Option<MemberId>,
        now: Timestamp,
    ) -> Result<OrgRecord> {
        let mut tx = self.pool.begin().await?;
        // Locked: two admins saving at once must not both create policy version n + 1.
        let current: (i64, Option<String>) = sqlx::query_as(
            "SELECT policy_version, pilot_expanded FROM orgs WHERE id = $1 FOR UPDATE",
        )
        .bind(org.0)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StorageError::NotFound("organisation"))?;
        let current_text: Option<String> =
            sqlx::query_scalar("SELECT text FROM policies WHERE org_id = $1 AND version = $2")
                .bind(org.0)
                .bind(current.0)
                .fetch_optional(&mut *tx)
                .await?;
        let mut version = current.0;
        let policy_changed = current_text.as_deref() != Some(s.policy_text.as_str());
        if policy_changed {
            version += 1;
            sqlx::query("INSERT INTO policies (org_id, version, text, created_at, created_by) VALUES ($1, $2, $3, $4, $5)")
                .bind(org.0)
                .bind(version)
                .bind(&s.policy_text)
                .bind(ms(now))
                .bind(policy_changed_by.map(|m| m.0))
                .execute(&mut *tx)
                .await?;
        }
        let pilot_roots = s
            .pilot
            .as_ref()
            .map(|p| join_ids(p.roots.iter().map(|d| d.0)));
        let pilot_expanded = s
            .pilot
            .as_ref()
            .map(|p| join_ids(p.departments.iter().map(|d| d.0)));
        let visibility_changed = policy_changed || pilot_expanded != current.1;
        sqlx::query(
            "UPDATE orgs SET time_zone = $1, working_days = $2, work_start = $3, work_end = $4, quiet_start = $5, quiet_end = $6, quiet_reads = $7,
                 per_person_for = $8, retention_days = $9, min_group_size = $10, policy_version = $11, pilot_departments = $12, pilot_expanded = $13,
                 reminders_important = $14, reminders_urgent = $15, visibility_epoch = visibility_epoch + $16
             WHERE id = $17",
        )
        .bind(s.time_zone.name())
        .bind(encode_days(&s.working_hours.days))
        .bind(format_time_of_day(s.working_hours.start))
        .bind(format_time_of_day(s.working_hours.end))
        .bind(format_time_of_day(s.quiet_hours.start))
        .bind(format_time_of_day(s.quiet_hours.end))
        .bind(s.quiet_hours.reads.as_str())
        .bind(encode_priorities(&s.per_person_tracking_for))
        .bind(i64::from(s.retention_days))
        .bind(i64::from(s.min_group_size))
        .bind(version)
        .bind(pilot_roots)
        .bind(pilot_expanded)
        .bind(s.default_reminders_important.as_ref().map(encode_plan))
        .bind(s.default_reminders_urgent.as_ref().map(encode_plan))
        .bind(i64::from(visibility_changed))
        .bind(org.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.org_impl(org).await
    }

    pub(crate) async fn login_record_impl(&self, email: &str) -> Result<Option<LoginRecord>> {
        let row =
            sqlx::query("SELECT id, org_id, password_hash, active FROM members WHERE email = $1")
                .bind(email)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(LoginRecord {
                member_id: MemberId(r.try_get("id")?),
                org_id: OrgId(r.try_get("org_id")?),
                password_hash: r.try_get("password_hash")?,
                active: r.try_get("active")?,
            })
        })
        .transpose()
    }

    pub(crate) async fn insert_token_impl(&self, t: NewToken) -> Result<TokenId> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tokens (hash, org_id, member_id, kind, name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(&t.hash)
        .bind(t.org_id.0)
        .bind(t.member_id.0)
        .bind(t.kind.as_str())
        .bind(&t.name)
        .bind(ms(t.created_at))
        .bind(ms(t.expires_at))
        .fetch_one(&self.pool)
        .await?;
        Ok(TokenId(id))
    }

    pub(crate) async fn find_token_impl(
        &self,
        hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<TokenRecord>> {
        let cols = MEMBER_COLUMNS
            .split(", ")
            .map(|c| format!("m.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT t.id AS token_id, t.kind, t.expires_at, {cols} FROM tokens t JOIN members m ON m.id = t.member_id
             WHERE t.hash = $1 AND t.expires_at > $2 AND m.active"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash)
            .bind(ms(now))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let kind: String = r.try_get("kind")?;
            Ok(TokenRecord {
                id: TokenId(r.try_get("token_id")?),
                kind: match kind.as_str() {
                    "api" => TokenKind::Api,
                    "relay" => TokenKind::Relay,
                    _ => TokenKind::Session,
                },
                expires_at: ts(r.try_get("expires_at")?),
                member: member_from_row(&r)?,
            })
        })
        .transpose()
    }

    pub(crate) async fn live_tokens_impl(
        &self,
        ids: &[TokenId],
        now: Timestamp,
    ) -> Result<Vec<(TokenId, Role)>> {
        let rows = sqlx::query(
            "SELECT t.id, m.role FROM tokens t JOIN members m ON m.id = t.member_id
             WHERE t.id = ANY($1) AND t.expires_at > $2 AND m.active",
        )
        .bind(ids.iter().map(|t| t.0).collect::<Vec<i64>>())
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(live_token_from_row).collect()
    }

    pub(crate) async fn delete_token_impl(&self, org: OrgId, id: TokenId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM tokens WHERE id = $1 AND org_id = $2")
            .bind(id.0)
            .bind(org.0)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn ack_policy_impl(
        &self,
        member: MemberId,
        version: i64,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let org: Option<i64> = sqlx::query_scalar(
            "UPDATE members SET policy_ack_version = $1, policy_acked_at = $2 WHERE id = $3 AND policy_ack_version <> $1 RETURNING org_id",
        )
        .bind(version)
        .bind(ms(now))
        .bind(member.0)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(org) = org {
            bump_visibility(&mut tx, OrgId(org)).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Marks every cached visible count of the organisation stale.
pub(crate) async fn bump_visibility(conn: &mut PgConnection, org: OrgId) -> Result<()> {
    sqlx::query("UPDATE orgs SET visibility_epoch = visibility_epoch + 1 WHERE id = $1")
        .bind(org.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn live_token_from_row(row: &PgRow) -> Result<(TokenId, Role)> {
    let role: String = row.try_get("role")?;
    Ok((
        TokenId(row.try_get("id")?),
        Role::parse("role", &role).map_err(|_| StorageError::Corrupt(format!("role {role:?}")))?,
    ))
}
