//! The directory: departments, members and the CSV import.

use std::collections::HashSet;

use readtrack_domain::department::{Department, DepartmentTree};
use readtrack_domain::email::Email;
use readtrack_domain::ids::{DepartmentId, MemberId};
use readtrack_domain::import::{
    IMPORT_HEADER, IMPORT_OPTIONAL_COLUMNS, ImportRowInput, LineError, check_rows,
};
use readtrack_domain::member::{Member, Role, check_password, parse_external_id, parse_phone};
use readtrack_domain::text;
use readtrack_domain::time_zone::Zone;
use readtrack_storage::{
    ImportCounts, ImportWrite, MemberFilter, MemberPatch, NewDepartment, NewMember, Page,
};

use crate::App;
use crate::auth::{self, Caller};
use crate::error::{Result, ServiceError};

/// A new member, raw.
#[derive(Debug, Clone, Default)]
pub struct NewMemberInput {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Department id.
    pub department_id: String,
    /// Manager id.
    pub manager_id: Option<String>,
    /// Backup id.
    pub backup_id: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Time zone.
    pub time_zone: Option<String>,
    /// Mobile number (E.164).
    pub phone: Option<String>,
    /// The identity provider's id.
    pub external_id: Option<String>,
}

/// A change to a member, raw; `Some(None)` clears.
#[derive(Debug, Clone, Default)]
pub struct MemberPatchInput {
    /// Name.
    pub name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Department id.
    pub department_id: Option<String>,
    /// Manager id.
    pub manager_id: Option<Option<String>>,
    /// Backup id.
    pub backup_id: Option<Option<String>>,
    /// Role.
    pub role: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Time zone.
    pub time_zone: Option<Option<String>>,
    /// Active.
    pub active: Option<bool>,
    /// Mobile number; `Some(None)` (or empty) clears.
    pub phone: Option<Option<String>>,
    /// The identity provider's id; `Some(None)` (or empty) clears.
    pub external_id: Option<Option<String>>,
}

/// A patch of an optional text field: absent, cleared (`null` or empty), or set to what
/// `parse` makes of it.
fn text_patch(
    field: &str,
    raw: &Option<Option<String>>,
    parse: fn(&str, &str) -> std::result::Result<Option<String>, readtrack_domain::FieldError>,
) -> Result<Option<Option<String>>> {
    Ok(match raw {
        None => None,
        Some(None) => Some(None),
        Some(Some(v)) => Some(parse(field, v)?),
    })
}

/// The outcome of an import.
#[derive(Debug, Clone)]
pub enum ImportOutcome {
    /// Written (or counted, on a dry run).
    Done(ImportCounts),
    /// Refused: nothing was written.
    Refused(Vec<LineError>),
}

fn optional_id<T>(
    field: &str,
    raw: Option<&str>,
    parse: fn(&str, &str) -> Result<T, readtrack_domain::FieldError>,
) -> Result<Option<T>> {
    match raw {
        None | Some("") => Ok(None),
        Some(s) => Ok(Some(parse(field, s)?)),
    }
}

impl App {
    /// Creates a department (admin).
    pub async fn create_department(
        &self,
        caller: &Caller,
        name: &str,
        parent_id: Option<&str>,
    ) -> Result<Department> {
        caller.require_admin()?;
        let name = text::name("name", name)?;
        let parent = optional_id("parent_id", parent_id, DepartmentId::parse)?;
        let dept = self
            .storage()
            .create_department(NewDepartment {
                org_id: caller.org_id(),
                name,
                parent_id: parent,
                now: self.clock().now(),
            })
            .await?;
        self.refresh_pilot(caller).await?;
        Ok(dept)
    }

    /// A new sub-department of a pilot department joins the pilot.
    async fn refresh_pilot(&self, caller: &Caller) -> Result<()> {
        let org = self.storage().org(caller.org_id()).await?;
        if let Some(pilot) = &org.settings.pilot {
            let tree = DepartmentTree::new(self.storage().departments(caller.org_id()).await?);
            let expanded = tree.subtrees(&pilot.roots);
            if expanded != pilot.departments {
                let mut settings = org.settings.clone();
                if let Some(p) = settings.pilot.as_mut() {
                    p.departments = expanded;
                }
                self.storage()
                    .update_org_settings(
                        caller.org_id(),
                        &settings,
                        Some(caller.id()),
                        self.clock().now(),
                    )
                    .await?;
                self.forget_org(caller.org_id());
            }
        }
        Ok(())
    }

    /// All departments of the caller's organisation.
    pub async fn departments(&self, caller: &Caller) -> Result<Vec<Department>> {
        Ok(self.storage().departments(caller.org_id()).await?)
    }

    /// Creates a member (admin).
    pub async fn create_member(&self, caller: &Caller, input: NewMemberInput) -> Result<Member> {
        caller.require_admin()?;
        let name = text::name("name", &input.name)?;
        let email = Email::parse("email", &input.email)?;
        let department_id = DepartmentId::parse("department_id", &input.department_id)?;
        let manager_id = optional_id("manager_id", input.manager_id.as_deref(), MemberId::parse)?;
        let backup_id = optional_id("backup_id", input.backup_id.as_deref(), MemberId::parse)?;
        let role = match &input.role {
            Some(r) => Role::parse("role", r)?,
            None => Role::Member,
        };
        let time_zone = match input.time_zone.as_deref() {
            None | Some("") => None,
            Some(tz) => Some(Zone::parse("time_zone", tz)?.name().to_string()),
        };
        let password_hash = match input.password {
            None => None,
            Some(p) => {
                check_password("password", &p)?;
                Some(auth::hash_password(p).await?)
            }
        };
        Ok(self
            .storage()
            .create_member(NewMember {
                org_id: caller.org_id(),
                name,
                email,
                department_id,
                manager_id,
                backup_id,
                role,
                password_hash,
                time_zone,
                phone: parse_phone("phone", input.phone.as_deref().unwrap_or(""))?,
                external_id: parse_external_id(
                    "external_id",
                    input.external_id.as_deref().unwrap_or(""),
                )?,
                now: self.clock().now(),
            })
            .await?)
    }

    /// A member of the caller's organisation.
    pub async fn member(&self, caller: &Caller, id: &str) -> Result<Member> {
        let id = MemberId::parse("id", id).map_err(|_| ServiceError::NotFound("member"))?;
        self.storage()
            .member(caller.org_id(), id)
            .await?
            .ok_or(ServiceError::NotFound("member"))
    }

    /// Members of the caller's organisation, one page.
    pub async fn members(
        &self,
        caller: &Caller,
        filter: MemberFilter,
        page: Page,
    ) -> Result<Vec<Member>> {
        Ok(self
            .storage()
            .members(caller.org_id(), &filter, page)
            .await?)
    }

    /// Changes a member (admin).
    pub async fn update_member(
        &self,
        caller: &Caller,
        id: &str,
        input: MemberPatchInput,
    ) -> Result<Member> {
        caller.require_admin()?;
        let id = MemberId::parse("id", id).map_err(|_| ServiceError::NotFound("member"))?;
        let clear_or =
            |field: &str, v: &Option<Option<String>>| -> Result<Option<Option<MemberId>>> {
                Ok(match v {
                    None => None,
                    Some(None) => Some(None),
                    Some(Some(s)) if s.is_empty() => Some(None),
                    Some(Some(s)) => {
                        let m = MemberId::parse(field, s)?;
                        if m == id {
                            return Err(ServiceError::invalid(
                                field,
                                format!("`{field}` cannot be the member themselves"),
                            ));
                        }
                        Some(Some(m))
                    }
                })
            };
        let patch = MemberPatch {
            name: input
                .name
                .as_deref()
                .map(|n| text::name("name", n))
                .transpose()?,
            email: input
                .email
                .as_deref()
                .map(|e| Email::parse("email", e))
                .transpose()?,
            department_id: input
                .department_id
                .as_deref()
                .map(|d| DepartmentId::parse("department_id", d))
                .transpose()?,
            manager_id: clear_or("manager_id", &input.manager_id)?,
            backup_id: clear_or("backup_id", &input.backup_id)?,
            role: input
                .role
                .as_deref()
                .map(|r| Role::parse("role", r))
                .transpose()?,
            time_zone: match &input.time_zone {
                None => None,
                Some(None) => Some(None),
                Some(Some(tz)) if tz.is_empty() => Some(None),
                Some(Some(tz)) => Some(Some(Zone::parse("time_zone", tz)?.name().to_string())),
            },
            password_hash: match input.password {
                None => None,
                Some(p) => {
                    check_password("password", &p)?;
                    Some(auth::hash_password(p).await?)
                }
            },
            active: input.active,
            phone: text_patch("phone", &input.phone, parse_phone)?,
            external_id: text_patch("external_id", &input.external_id, parse_external_id)?,
        };
        if id == caller.id()
            && (patch.active == Some(false) || patch.role.is_some_and(|r| r != Role::Admin))
        {
            return Err(ServiceError::Conflict(
                "an admin cannot deactivate or demote themselves; ask another admin".into(),
            ));
        }
        // A new role or password takes rights away from what streams were opened with.
        let changes_rights = patch.role.is_some() || patch.password_hash.is_some();
        let member = self
            .storage()
            .update_member(caller.org_id(), id, patch)
            .await?;
        // Cached tokens carry the member's role and state: drop them so the change applies
        // now, and end the member's open streams when it takes rights away (other nodes
        // end theirs at their next credential check).
        self.inner.tokens.forget_member(id);
        if !member.active || changes_rights {
            self.inner.streams.end_member(id);
        }
        Ok(member)
    }

    /// Imports members from CSV (admin). Any bad line refuses the whole file.
    pub async fn import_members(
        &self,
        caller: &Caller,
        csv_text: &str,
        dry_run: bool,
    ) -> Result<ImportOutcome> {
        self.import_members_with(caller, csv_text, dry_run, false)
            .await
    }

    /// [`App::import_members`]; with `deactivate_missing`, the organisation's active
    /// members the file does not name (but the caller) are deactivated in the same
    /// transaction: their sessions and open streams end, their history stays. Audited.
    pub async fn import_members_with(
        &self,
        caller: &Caller,
        csv_text: &str,
        dry_run: bool,
        deactivate_missing: bool,
    ) -> Result<ImportOutcome> {
        caller.require_admin()?;
        let rows = match parse_csv(csv_text) {
            Ok(rows) => rows,
            Err(errors) => return Ok(ImportOutcome::Refused(errors)),
        };
        let existing: HashSet<Email> = self
            .storage()
            .member_emails(caller.org_id())
            .await?
            .iter()
            .filter_map(|e| Email::parse("email", e).ok())
            .collect();
        let checked = match check_rows(&rows, &existing) {
            Ok(c) => c,
            Err(errors) => return Ok(ImportOutcome::Refused(errors)),
        };
        if checked
            .iter()
            .any(|r| r.email.as_str() == caller.member.email && r.role != Role::Admin)
        {
            let line = checked
                .iter()
                .find(|r| r.email.as_str() == caller.member.email)
                .map(|r| r.line)
                .unwrap_or(0);
            return Ok(ImportOutcome::Refused(vec![LineError {
                line,
                message: "this line would take away your own admin role".into(),
            }]));
        }
        let writes: Vec<ImportWrite> = checked.into_iter().map(ImportWrite::from).collect();
        match self
            .storage()
            .import_members(
                caller.org_id(),
                &writes,
                dry_run,
                deactivate_missing.then(|| caller.id()),
                self.clock().now(),
            )
            .await
        {
            Ok(counts) => {
                if !dry_run {
                    if counts.departments_created > 0 {
                        self.refresh_pilot(caller).await?;
                    }
                    for id in &counts.deactivated {
                        self.inner.tokens.forget_member(*id);
                        self.inner.streams.end_member(*id);
                    }
                    self.audit(
                        caller,
                        "members.imported",
                        format!(
                            "created {}, updated {}, deactivated {}",
                            counts.created,
                            counts.updated,
                            counts.deactivated.len()
                        ),
                        vec![],
                    )
                    .await?;
                }
                Ok(ImportOutcome::Done(counts))
            }
            Err(readtrack_storage::StorageError::Conflict(msg)) => {
                Ok(ImportOutcome::Refused(vec![LineError {
                    line: 0,
                    message: msg,
                }]))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Most rows one import may carry.
pub const MAX_IMPORT_ROWS: usize = 200_000;

/// The 1-based line of a byte offset: counted from the text itself, because the CSV
/// reader does not count the blank lines it skips.
fn line_at(text: &str, byte: u64) -> u64 {
    let bytes = text.as_bytes();
    let mut end = (byte as usize).min(text.len());
    // A record's position is where the reader started, before the blank lines it skipped.
    while end < bytes.len() && (bytes[end] == b'\n' || bytes[end] == b'\r') {
        end += 1;
    }
    bytes[..end].iter().filter(|b| **b == b'\n').count() as u64 + 1
}

fn parse_csv(text: &str) -> std::result::Result<Vec<ImportRowInput>, Vec<LineError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.to_ascii_lowercase()).collect(),
        Err(e) => {
            return Err(vec![LineError {
                line: 1,
                message: format!("the header row cannot be read: {e}"),
            }]);
        }
    };
    // The six columns, then any of the optional ones, each once.
    let extra = header.get(IMPORT_HEADER.len()..).unwrap_or(&[]);
    let extras_ok = extra
        .iter()
        .all(|c| IMPORT_OPTIONAL_COLUMNS.contains(&c.as_str()))
        && extra.iter().collect::<HashSet<_>>().len() == extra.len();
    if header.len() < IMPORT_HEADER.len()
        || header[..IMPORT_HEADER.len()] != IMPORT_HEADER
        || !extras_ok
    {
        return Err(vec![LineError {
            line: 1,
            message: format!(
                "the header row must be `{}`, optionally followed by {}",
                IMPORT_HEADER.join(","),
                IMPORT_OPTIONAL_COLUMNS
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        }]);
    }
    let column = |name: &str| header.iter().position(|c| c == name);
    let (phone_at, external_id_at) = (column("phone"), column("external_id"));
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let fallback_line = i as u64 + 2;
        match record {
            Ok(r) => {
                let line = r
                    .position()
                    .map(|p| line_at(text, p.byte()))
                    .unwrap_or(fallback_line);
                if r.iter().all(|c| c.is_empty()) {
                    continue;
                }
                if r.len() > header.len() {
                    errors.push(LineError {
                        line,
                        message: format!("has {} columns, expected {}", r.len(), header.len()),
                    });
                    continue;
                }
                let col = |n: usize| r.get(n).unwrap_or("").to_string();
                rows.push(ImportRowInput {
                    line,
                    name: col(0),
                    email: col(1),
                    department: col(2),
                    manager_email: col(3),
                    backup_email: col(4),
                    role: col(5),
                    phone: phone_at.map(col),
                    external_id: external_id_at.map(col),
                });
            }
            Err(e) => errors.push(LineError {
                line: e
                    .position()
                    .map(|p| line_at(text, p.byte()))
                    .unwrap_or(fallback_line),
                message: format!("cannot be read as CSV: {e}"),
            }),
        }
        if rows.len() > MAX_IMPORT_ROWS {
            return Err(vec![LineError {
                line: fallback_line,
                message: format!("a file may hold at most {MAX_IMPORT_ROWS} rows; split it"),
            }]);
        }
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(LineError {
            line: 2,
            message: "the file has no member rows".into(),
        });
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_keep_their_line_numbers() {
        let rows = parse_csv("name,email,department,manager_email,backup_email,role\nAda,ada@x.hk,Retail,,,\n\nBen,ben@x.hk,Retail,ada@x.hk,,admin\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[1].line, 4);
        assert_eq!(rows[1].role, "admin");
    }

    #[test]
    fn a_wrong_header_is_line_one() {
        let errs = parse_csv("name,mail\nAda,ada@x.hk\n").unwrap_err();
        assert_eq!(errs[0].line, 1);
        let base = "name,email,department,manager_email,backup_email,role";
        for bad in [",phone,phone", ",mobile"] {
            let errs = parse_csv(&format!("{base}{bad}\nAda,ada@x.hk,Retail,,,\n")).unwrap_err();
            assert_eq!(errs[0].line, 1, "{bad}");
        }
    }

    #[test]
    fn the_optional_columns_are_read_in_any_order_and_absent_ones_stay_absent() {
        let rows = parse_csv("name,email,department,manager_email,backup_email,role,external_id,phone\nAda,ada@x.hk,Retail,,,,okta-1,+852 9123 4567\n").unwrap();
        assert_eq!(rows[0].external_id.as_deref(), Some("okta-1"));
        assert_eq!(rows[0].phone.as_deref(), Some("+852 9123 4567"));
        let rows = parse_csv(
            "name,email,department,manager_email,backup_email,role\nAda,ada@x.hk,Retail,,,\n",
        )
        .unwrap();
        assert_eq!(
            (rows[0].phone.clone(), rows[0].external_id.clone()),
            (None, None)
        );
    }
}
