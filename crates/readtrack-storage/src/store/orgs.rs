//! Organisations, settings, policy versions and tokens.

use std::collections::BTreeMap;

use async_trait::async_trait;
use jiff::Timestamp;
use readtrack_domain::ids::{DepartmentId, MemberId, OrgId, TokenId};
use readtrack_domain::member::{Member, Role};
use readtrack_domain::settings::{
    OrgSettings, Pilot, QuietHours, WorkingHours, format_time_of_day,
};
use readtrack_domain::time_zone::Zone;

use super::{MEMBER_COLUMNS, Store, json_id_list, json_ints, lock, member_from_row};
use crate::db::{Arg, Row, Tx, conflict_on_unique, q};
use crate::model::*;
use crate::sql::*;
use crate::{Orgs, Result, StorageError};

/// The columns [`org_from_row`] reads.
pub(crate) const ORG_COLUMNS: &str = "id, name, time_zone, working_days, work_start, work_end, quiet_start, quiet_end, quiet_reads, per_person_for, retention_days, min_group_size, policy_version, pilot_departments, pilot_expanded, reminders_important, reminders_urgent, sending_rights";

/// The policy's translations as stored: a JSON object from language tag to text.
fn decode_translations(raw: Option<String>) -> Result<BTreeMap<String, String>> {
    match raw {
        None => Ok(BTreeMap::new()),
        Some(s) => serde_json::from_str(&s)
            .map_err(|e| StorageError::Corrupt(format!("policy translations: {e}"))),
    }
}

fn encode_translations(t: &BTreeMap<String, String>) -> String {
    serde_json::to_string(t).unwrap_or_else(|_| "{}".into())
}

/// The member columns as read through the alias `m`.
fn prefixed_member_columns() -> String {
    MEMBER_COLUMNS
        .split(", ")
        .map(|c| format!("m.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The organisation of `row`, with the current policy's text and translations (the
/// schedule's own reads leave them empty).
pub(crate) fn org_from_row(
    row: &Row,
    policy_text: String,
    policy_translations: BTreeMap<String, String>,
) -> Result<OrgRecord> {
    let tz: String = row.get("time_zone")?;
    let zone = Zone::parse("time_zone", &tz).unwrap_or_else(|_| Zone::utc());
    let plan = |col: &str| -> Result<_> {
        row.get::<Option<String>>(col)?
            .map(|s| decode_plan(&s))
            .transpose()
    };
    let pilot_expanded: Option<String> = row.get("pilot_expanded")?;
    let pilot_roots: Option<String> = row.get("pilot_departments")?;
    let settings = OrgSettings {
        time_zone: zone,
        working_hours: WorkingHours {
            days: decode_days(&row.get::<String>("working_days")?)?,
            start: time_of_day(&row.get::<String>("work_start")?)?,
            end: time_of_day(&row.get::<String>("work_end")?)?,
        },
        quiet_hours: QuietHours {
            start: time_of_day(&row.get::<String>("quiet_start")?)?,
            end: time_of_day(&row.get::<String>("quiet_end")?)?,
            reads: quiet_reads(&row.get::<String>("quiet_reads")?)?,
        },
        per_person_tracking_for: decode_priorities(&row.get::<String>("per_person_for")?)?,
        retention_days: row.get::<i64>("retention_days")? as u32,
        min_group_size: row.get::<i64>("min_group_size")? as u32,
        policy_version: row.get("policy_version")?,
        policy_text,
        policy_translations,
        pilot: match (pilot_roots, pilot_expanded) {
            (Some(roots), Some(expanded)) => Some(Pilot {
                roots: split_ids(&roots).into_iter().map(DepartmentId).collect(),
                departments: split_ids(&expanded).into_iter().map(DepartmentId).collect(),
            }),
            _ => None,
        },
        default_reminders_important: plan("reminders_important")?,
        default_reminders_urgent: plan("reminders_urgent")?,
        sending_rights: decode_rights(&row.get::<String>("sending_rights")?)?,
    };
    Ok(OrgRecord {
        id: OrgId(row.get("id")?),
        name: row.get("name")?,
        settings,
    })
}

/// The organisation settings that both creating and updating an organisation write, in
/// the column order `time_zone, working_days, work_start, work_end, quiet_start, quiet_end,
/// quiet_reads, per_person_for, retention_days, min_group_size, sending_rights`.
fn settings_columns(s: &OrgSettings) -> [Arg; 11] {
    [
        s.time_zone.name().into(),
        encode_days(&s.working_hours.days).into(),
        format_time_of_day(s.working_hours.start).into(),
        format_time_of_day(s.working_hours.end).into(),
        format_time_of_day(s.quiet_hours.start).into(),
        format_time_of_day(s.quiet_hours.end).into(),
        s.quiet_hours.reads.as_str().into(),
        encode_priorities(&s.per_person_tracking_for).into(),
        i64::from(s.retention_days).into(),
        i64::from(s.min_group_size).into(),
        encode_rights(&s.sending_rights).into(),
    ]
}

#[async_trait]
impl Orgs for Store {
    async fn ping(&self) -> Result<()> {
        q("SELECT 1").execute(&mut self.db.read().await?).await?;
        Ok(())
    }

    async fn is_set_up(&self) -> Result<bool> {
        let n: i64 = q("SELECT COUNT(*) FROM server_setup")
            .scalar(&mut self.db.read().await?)
            .await?;
        Ok(n > 0)
    }

    async fn setup(&self, new: NewOrg) -> Result<CreatedOrg> {
        self.create_org_impl(new, true).await
    }

    async fn create_org(&self, new: NewOrg) -> Result<CreatedOrg> {
        self.create_org_impl(new, false).await
    }

    async fn org_ids(&self) -> Result<Vec<OrgId>> {
        Ok(q("SELECT id FROM orgs ORDER BY id")
            .scalars(&mut self.db.read().await?)
            .await?
            .into_iter()
            .map(OrgId)
            .collect())
    }

    async fn org(&self, org: OrgId) -> Result<OrgRecord> {
        let sql = format!(
            "SELECT {ORG_COLUMNS},
                (SELECT text FROM policies p WHERE p.org_id = orgs.id AND p.version = orgs.policy_version) AS policy_text,
                (SELECT translations FROM policies p WHERE p.org_id = orgs.id AND p.version = orgs.policy_version) AS policy_translations
             FROM orgs WHERE id = ?"
        );
        let row = q(sql)
            .bind(org.0)
            .fetch_optional(&mut self.db.read().await?)
            .await?
            .ok_or(StorageError::NotFound("organisation"))?;
        let text: Option<String> = row.get("policy_text")?;
        let translations = decode_translations(row.get("policy_translations")?)?;
        org_from_row(&row, text.unwrap_or_default(), translations)
    }

    async fn update_org_settings(
        &self,
        org: OrgId,
        s: &OrgSettings,
        policy_changed_by: Option<MemberId>,
        now: Timestamp,
    ) -> Result<OrgRecord> {
        let mut tx = self.db.write().await?;
        let current: (i64, Option<String>) =
            // Locked: two admins saving at once must not both create policy version n + 1.
            q(format!(
                "SELECT policy_version, pilot_expanded FROM orgs WHERE id = ?{}",
                lock(self.dialect(), " FOR UPDATE")
            ))
                .bind(org.0)
                .optional(&mut tx)
                .await?
                .ok_or(StorageError::NotFound("organisation"))?;
        let current_policy: Option<(String, String)> =
            q("SELECT text, translations FROM policies WHERE org_id = ? AND version = ?")
                .bind(org.0)
                .bind(current.0)
                .optional(&mut tx)
                .await?;
        let mut version = current.0;
        let policy_changed = match current_policy {
            Some((text, translations)) => {
                text != s.policy_text
                    || decode_translations(Some(translations))? != s.policy_translations
            }
            None => true,
        };
        if policy_changed {
            version += 1;
            q("INSERT INTO policies (org_id, version, text, translations, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(org.0)
                .bind(version)
                .bind(&s.policy_text)
                .bind(encode_translations(&s.policy_translations))
                .bind(ms(now))
                .bind(policy_changed_by.map(|m| m.0))
                .execute(&mut tx)
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
        q(
            "UPDATE orgs SET time_zone = ?, working_days = ?, work_start = ?, work_end = ?, quiet_start = ?, quiet_end = ?, quiet_reads = ?,
                 per_person_for = ?, retention_days = ?, min_group_size = ?, sending_rights = ?, policy_version = ?, pilot_departments = ?, pilot_expanded = ?,
                 reminders_important = ?, reminders_urgent = ?, visibility_epoch = visibility_epoch + ?
             WHERE id = ?",
        )
        .bind_all(settings_columns(s))
        .bind(version)
        .bind(pilot_roots)
        .bind(pilot_expanded)
        .bind(s.default_reminders_important.as_ref().map(encode_plan))
        .bind(s.default_reminders_urgent.as_ref().map(encode_plan))
        .bind(i64::from(visibility_changed))
        .bind(org.0)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        self.org(org).await
    }

    async fn ack_policy(&self, member: MemberId, version: i64, now: Timestamp) -> Result<()> {
        let mut tx = self.db.write().await?;
        let org: Option<i64> = q(
            "UPDATE members SET policy_ack_version = ?, policy_acked_at = ? WHERE id = ? AND policy_ack_version <> ? RETURNING org_id",
        )
        .bind(version)
        .bind(ms(now))
        .bind(member.0)
        .bind(version)
        .scalar_opt(&mut tx)
        .await?;
        if let Some(org) = org {
            bump_visibility(&mut tx, OrgId(org)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn login_record(&self, email: &str) -> Result<Option<LoginRecord>> {
        let row = q("SELECT id, org_id, password_hash, active FROM members WHERE email = ?")
            .bind(email)
            .fetch_optional(&mut self.db.read().await?)
            .await?;
        row.map(|r| {
            Ok(LoginRecord {
                member_id: MemberId(r.get("id")?),
                org_id: OrgId(r.get("org_id")?),
                password_hash: r.get("password_hash")?,
                active: r.get("active")?,
            })
        })
        .transpose()
    }

    async fn oidc_login_record(&self, issuer: &str, subject: &str) -> Result<Option<LoginRecord>> {
        let row = q(
            "SELECT m.id, m.org_id, m.password_hash, m.active FROM oidc_subjects s JOIN members m ON m.id = s.member_id WHERE s.issuer = ? AND s.subject = ?",
        )
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&mut self.db.read().await?)
        .await?;
        row.map(|r| {
            Ok(LoginRecord {
                member_id: MemberId(r.get("id")?),
                org_id: OrgId(r.get("org_id")?),
                password_hash: r.get("password_hash")?,
                active: r.get("active")?,
            })
        })
        .transpose()
    }

    async fn link_oidc_subject(
        &self,
        issuer: &str,
        subject: &str,
        member: MemberId,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.db.write().await?;
        // Both unique keys are checked by the one statement: a subject already linked,
        // or a member already linked to another subject of this issuer, inserts nothing.
        let inserted = q(
            "INSERT INTO oidc_subjects (issuer, subject, member_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(issuer)
        .bind(subject)
        .bind(member.0)
        .bind(ms(now))
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(inserted == 1)
    }

    async fn insert_oidc_cli_code(
        &self,
        hash: &[u8],
        org: OrgId,
        member: MemberId,
        challenge: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        let mut tx = self.db.write().await?;
        q("DELETE FROM oidc_cli_codes WHERE expires_at <= ?")
            .bind(ms(now))
            .execute(&mut tx)
            .await?;
        q("INSERT INTO oidc_cli_codes (hash, org_id, member_id, challenge, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(hash)
            .bind(org.0)
            .bind(member.0)
            .bind(challenge)
            .bind(ms(expires_at))
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn take_oidc_cli_code(
        &self,
        hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<(OrgId, MemberId, String)>> {
        let mut tx = self.db.write().await?;
        let row = q(
            "DELETE FROM oidc_cli_codes WHERE hash = ? RETURNING org_id, member_id, challenge, expires_at",
        )
        .bind(hash)
        .fetch_optional(&mut tx)
        .await?;
        tx.commit().await?;
        let Some(r) = row else { return Ok(None) };
        let expires_at: i64 = r.get("expires_at")?;
        if expires_at <= ms(now) {
            return Ok(None);
        }
        Ok(Some((
            OrgId(r.get("org_id")?),
            MemberId(r.get("member_id")?),
            r.get("challenge")?,
        )))
    }

    async fn insert_token(&self, t: NewToken) -> Result<TokenId> {
        let id: i64 = q(
            "INSERT INTO tokens (hash, org_id, member_id, kind, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&t.hash)
        .bind(t.org_id.0)
        .bind(t.member_id.0)
        .bind(t.kind.as_str())
        .bind(&t.name)
        .bind(ms(t.created_at))
        .bind(ms(t.expires_at))
        .scalar(&mut self.db.write_conn().await?)
        .await?;
        Ok(TokenId(id))
    }

    async fn find_token(&self, hash: &[u8], now: Timestamp) -> Result<Option<TokenRecord>> {
        let cols = prefixed_member_columns();
        let sql = format!(
            "SELECT t.id AS token_id, t.kind, t.expires_at, {cols} FROM tokens t JOIN members m ON m.id = t.member_id
             WHERE t.hash = ? AND t.expires_at > ? AND m.active"
        );
        let row = q(sql)
            .bind(hash)
            .bind(ms(now))
            .fetch_optional(&mut self.db.read().await?)
            .await?;
        row.map(|r| {
            let kind: String = r.get("kind")?;
            Ok(TokenRecord {
                id: TokenId(r.get("token_id")?),
                kind: match kind.as_str() {
                    "api" => TokenKind::Api,
                    "relay" => TokenKind::Relay,
                    "scim" => TokenKind::Scim,
                    _ => TokenKind::Session,
                },
                expires_at: ts(r.get("expires_at")?),
                member: member_from_row(&r)?,
            })
        })
        .transpose()
    }

    async fn delete_token(&self, org: OrgId, id: TokenId) -> Result<bool> {
        let done = q("DELETE FROM tokens WHERE id = ? AND org_id = ?")
            .bind(id.0)
            .bind(org.0)
            .execute(&mut self.db.write_conn().await?)
            .await?;
        Ok(done > 0)
    }

    async fn change_own_password(
        &self,
        member: MemberId,
        password_hash: &str,
        keep: TokenId,
    ) -> Result<Vec<TokenId>> {
        let mut tx = self.db.write().await?;
        q("UPDATE members SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(member.0)
            .execute(&mut tx)
            .await?;
        let ids: Vec<i64> =
            q("SELECT id FROM tokens WHERE member_id = ? AND kind = ? AND id <> ? ORDER BY id")
                .bind(member.0)
                .bind(TokenKind::Session.as_str())
                .bind(keep.0)
                .scalars(&mut tx)
                .await?;
        q("DELETE FROM tokens WHERE member_id = ? AND kind = ? AND id <> ?")
            .bind(member.0)
            .bind(TokenKind::Session.as_str())
            .bind(keep.0)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(ids.into_iter().map(TokenId).collect())
    }

    async fn put_invitation(
        &self,
        org: OrgId,
        member: MemberId,
        hash: &[u8],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        let mut tx = self.db.write().await?;
        q("DELETE FROM invitations WHERE member_id = ?")
            .bind(member.0)
            .execute(&mut tx)
            .await?;
        q("INSERT INTO invitations (member_id, org_id, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(member.0)
            .bind(org.0)
            .bind(hash)
            .bind(ms(now))
            .bind(ms(expires_at))
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn invited_member(&self, hash: &[u8], now: Timestamp) -> Result<Option<Member>> {
        let row = q(format!(
            "SELECT {} FROM invitations i JOIN members m ON m.id = i.member_id
             WHERE i.hash = ? AND i.expires_at > ? AND m.active",
            prefixed_member_columns()
        ))
        .bind(hash)
        .bind(ms(now))
        .fetch_optional(&mut self.db.read().await?)
        .await?;
        row.map(|r| member_from_row(&r)).transpose()
    }

    async fn accept_invitation(
        &self,
        hash: &[u8],
        password_hash: &str,
        now: Timestamp,
    ) -> Result<Option<Member>> {
        let mut tx = self.db.write().await?;
        let member: Option<i64> = q("DELETE FROM invitations WHERE hash = ? AND expires_at > ?
               AND member_id IN (SELECT id FROM members WHERE active)
             RETURNING member_id")
        .bind(hash)
        .bind(ms(now))
        .scalar_opt(&mut tx)
        .await?;
        let Some(member) = member else {
            return Ok(None);
        };
        q("UPDATE members SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(member)
            .execute(&mut tx)
            .await?;
        // A new password ends the sign-ins made with the old one (a lost phone's too).
        q("DELETE FROM tokens WHERE member_id = ? AND kind = ?")
            .bind(member)
            .bind(TokenKind::Session.as_str())
            .execute(&mut tx)
            .await?;
        let row = q(format!("SELECT {MEMBER_COLUMNS} FROM members WHERE id = ?"))
            .bind(member)
            .fetch_one(&mut tx)
            .await?;
        let member = member_from_row(&row)?;
        tx.commit().await?;
        Ok(Some(member))
    }

    async fn open_invitations(
        &self,
        org: OrgId,
        now: Timestamp,
    ) -> Result<Vec<(MemberId, Timestamp)>> {
        let rows = q("SELECT member_id, expires_at FROM invitations WHERE org_id = ? AND expires_at > ? ORDER BY member_id")
            .bind(org.0)
            .bind(ms(now))
            .fetch_all(&mut self.db.read().await?)
            .await?;
        rows.iter()
            .map(|r| Ok((MemberId(r.get("member_id")?), ts(r.get("expires_at")?))))
            .collect()
    }

    async fn begin_second_factor(&self, member: MemberId, secret: &str) -> Result<bool> {
        let mut tx = self.db.write().await?;
        let on: Option<bool> = q("SELECT enabled FROM second_factors WHERE member_id = ?")
            .bind(member.0)
            .scalar_opt(&mut tx)
            .await?;
        if on == Some(true) {
            return Ok(false);
        }
        q("DELETE FROM second_factors WHERE member_id = ?")
            .bind(member.0)
            .execute(&mut tx)
            .await?;
        q("INSERT INTO second_factors (member_id, secret, enabled) VALUES (?, ?, FALSE)")
            .bind(member.0)
            .bind(secret)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn second_factor(&self, member: MemberId) -> Result<Option<SecondFactor>> {
        let row = q("SELECT secret, enabled, last_step FROM second_factors WHERE member_id = ?")
            .bind(member.0)
            .fetch_optional(&mut self.db.read().await?)
            .await?;
        row.map(|r| {
            Ok(SecondFactor {
                secret: r.get("secret")?,
                enabled: r.get("enabled")?,
                last_step: r.get("last_step")?,
            })
        })
        .transpose()
    }

    async fn enable_second_factor(&self, member: MemberId, step: i64) -> Result<bool> {
        let done = q(
            "UPDATE second_factors SET enabled = TRUE, last_step = ? WHERE member_id = ? AND NOT enabled",
        )
        .bind(step)
        .bind(member.0)
        .execute(&mut self.db.write_conn().await?)
        .await?;
        Ok(done > 0)
    }

    async fn use_second_factor_step(&self, member: MemberId, step: i64) -> Result<bool> {
        let done = q("UPDATE second_factors SET last_step = ?
             WHERE member_id = ? AND enabled AND (last_step IS NULL OR last_step < ?)")
        .bind(step)
        .bind(member.0)
        .bind(step)
        .execute(&mut self.db.write_conn().await?)
        .await?;
        Ok(done > 0)
    }

    async fn remove_second_factor(&self, member: MemberId) -> Result<bool> {
        let done = q("DELETE FROM second_factors WHERE member_id = ?")
            .bind(member.0)
            .execute(&mut self.db.write_conn().await?)
            .await?;
        Ok(done > 0)
    }

    async fn live_tokens(&self, ids: &[TokenId], now: Timestamp) -> Result<Vec<(TokenId, Role)>> {
        let rows = q(format!(
            "SELECT t.id, m.role FROM tokens t JOIN members m ON m.id = t.member_id
             WHERE t.id IN {} AND t.expires_at > ? AND m.active",
            json_ints(self.dialect())
        ))
        .bind(json_id_list(ids.iter().map(|t| t.0)))
        .bind(ms(now))
        .fetch_all(&mut self.db.read().await?)
        .await?;
        rows.iter().map(live_token_from_row).collect()
    }
}

impl Store {
    pub(crate) async fn create_org_impl(&self, new: NewOrg, first_run: bool) -> Result<CreatedOrg> {
        let now = ms(new.now);
        let mut tx = self.db.write().await?;
        if first_run {
            let done: i64 = q("SELECT COUNT(*) FROM server_setup")
                .scalar(&mut tx)
                .await?;
            if done > 0 {
                return Err(StorageError::Conflict(
                    "the server is already set up".into(),
                ));
            }
        }
        let s = &new.settings;
        let org_id: i64 = q(
            "INSERT INTO orgs (name, time_zone, working_days, work_start, work_end, quiet_start, quiet_end, quiet_reads, per_person_for, retention_days, min_group_size, sending_rights, policy_version, reminders_important, reminders_urgent, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&new.name)
        .bind_all(settings_columns(s))
        .bind(s.policy_version)
        .bind(s.default_reminders_important.as_ref().map(encode_plan))
        .bind(s.default_reminders_urgent.as_ref().map(encode_plan))
        .bind(now)
        .scalar(&mut tx)
        .await?;
        q("INSERT INTO policies (org_id, version, text, translations, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(org_id)
            .bind(s.policy_version)
            .bind(&s.policy_text)
            .bind(encode_translations(&s.policy_translations))
            .bind(now)
            .execute(&mut tx)
            .await?;
        let dept_id: i64 = q(
            "INSERT INTO departments (org_id, name, parent_id, created_at) VALUES (?, ?, NULL, ?) RETURNING id",
        )
        .bind(org_id)
        .bind(&new.name)
        .bind(now)
        .scalar(&mut tx)
        .await?;
        let admin_id: i64 = q(
            "INSERT INTO members (org_id, name, email, department_id, role, password_hash, created_at)
             VALUES (?, ?, ?, ?, 'admin', ?, ?) RETURNING id",
        )
        .bind(org_id)
        .bind(&new.admin_name)
        .bind(new.admin_email.as_str())
        .bind(dept_id)
        .bind(&new.admin_password_hash)
        .bind(now)
        .scalar(&mut tx)
        .await
        .map_err(|e| conflict_on_unique(e, "a member with this email already exists"))?;
        if first_run {
            q("INSERT INTO server_setup (id, org_id, created_at) VALUES (1, ?, ?)")
                .bind(org_id)
                .bind(now)
                .execute(&mut tx)
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
}

/// Marks every cached visible count of the organisation stale.
pub(crate) async fn bump_visibility(tx: &mut Tx, org: OrgId) -> Result<()> {
    q("UPDATE orgs SET visibility_epoch = visibility_epoch + 1 WHERE id = ?")
        .bind(org.0)
        .execute(tx)
        .await?;
    Ok(())
}

fn live_token_from_row(row: &Row) -> Result<(TokenId, Role)> {
    let role: String = row.get("role")?;
    Ok((
        TokenId(row.get("id")?),
        Role::parse("role", &role).map_err(|_| StorageError::Corrupt(format!("role {role:?}")))?,
    ))
}
