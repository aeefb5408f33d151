//! Directory import: checking the rows of a members CSV before anything is written.

use std::collections::{HashMap, HashSet};

use crate::FieldError;
use crate::department::{Department, DepartmentTree, parse_path};
use crate::email::Email;
use crate::ids::{DepartmentId, MemberId, OrgId};
use crate::member::{Member, Role, parse_external_id, parse_phone};

/// The header an import file must start with.
pub const IMPORT_HEADER: [&str; 6] = [
    "name",
    "email",
    "department",
    "manager_email",
    "backup_email",
    "role",
];

/// Columns an import file may add after [`IMPORT_HEADER`], each at most once; a file
/// without one leaves that field of existing members as it is.
pub const IMPORT_OPTIONAL_COLUMNS: [&str; 2] = ["phone", "external_id"];

/// One CSV row as read, with its 1-based line number in the file.
#[derive(Debug, Clone, Default)]
pub struct ImportRowInput {
    /// Line in the file (the header is line 1).
    pub line: u64,
    /// Columns in header order; missing trailing columns are empty.
    pub name: String,
    /// `email`.
    pub email: String,
    /// `department`, a `/`-separated path.
    pub department: String,
    /// `manager_email`.
    pub manager_email: String,
    /// `backup_email`.
    pub backup_email: String,
    /// `role`.
    pub role: String,
    /// `phone`, when the file has the column.
    pub phone: Option<String>,
    /// `external_id`, when the file has the column.
    pub external_id: Option<String>,
}

/// A checked row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// Line in the file.
    pub line: u64,
    /// Display name.
    pub name: String,
    /// Address.
    pub email: Email,
    /// Department path.
    pub department: Vec<String>,
    /// Manager's address, if any.
    pub manager_email: Option<Email>,
    /// Backup's address, if any.
    pub backup_email: Option<Email>,
    /// Role.
    pub role: Role,
    /// Mobile number (inner `None`: none); outer `None` when the file has no such column.
    pub phone: Option<Option<String>>,
    /// The identity provider's id, likewise.
    pub external_id: Option<Option<String>>,
}

/// A problem on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The line (1 is the header).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// Checks every row: fields, duplicates within the file, and that managers and backups
/// exist in the file or in `existing` (addresses already in the directory). Returns all
/// problems at once, so a file is fixed in one pass.
pub fn check_rows(
    rows: &[ImportRowInput],
    existing: &HashSet<Email>,
) -> Result<Vec<ImportRow>, Vec<LineError>> {
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(rows.len());
    let mut seen: HashMap<Email, u64> = HashMap::new();
    let mut external_ids: HashMap<String, u64> = HashMap::new();
    for row in rows {
        match check_row(row) {
            Ok(r) => {
                if let Some(Some(id)) = &r.external_id {
                    if let Some(first) = external_ids.get(id) {
                        errors.push(LineError {
                            line: row.line,
                            message: format!("external_id {id} already appears on line {first}"),
                        });
                        continue;
                    }
                    external_ids.insert(id.clone(), row.line);
                }
                if let Some(first) = seen.get(&r.email) {
                    errors.push(LineError {
                        line: row.line,
                        message: format!("email {} already appears on line {first}", r.email),
                    });
                } else {
                    seen.insert(r.email.clone(), row.line);
                    out.push(r);
                }
            }
            Err(e) => errors.push(LineError {
                line: row.line,
                message: e.message,
            }),
        }
    }
    for r in &out {
        for (what, addr) in [
            ("manager_email", &r.manager_email),
            ("backup_email", &r.backup_email),
        ] {
            if let Some(a) = addr {
                if a == &r.email {
                    errors.push(LineError {
                        line: r.line,
                        message: format!("`{what}` is the person's own address"),
                    });
                } else if !seen.contains_key(a) && !existing.contains(a) {
                    errors.push(LineError {
                        line: r.line,
                        message: format!(
                            "`{what}` {a} is neither in this file nor in the directory"
                        ),
                    });
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

fn check_row(row: &ImportRowInput) -> Result<ImportRow, FieldError> {
    let optional_email = |field: &str, raw: &str| -> Result<Option<Email>, FieldError> {
        if raw.trim().is_empty() {
            Ok(None)
        } else {
            Email::parse(field, raw).map(Some)
        }
    };
    Ok(ImportRow {
        line: row.line,
        name: crate::text::name("name", &row.name)?,
        email: Email::parse("email", &row.email)?,
        department: parse_path("department", &row.department)?,
        manager_email: optional_email("manager_email", &row.manager_email)?,
        backup_email: optional_email("backup_email", &row.backup_email)?,
        role: Role::parse("role", &row.role)?,
        phone: row
            .phone
            .as_deref()
            .map(|p| parse_phone("phone", p))
            .transpose()?,
        external_id: row
            .external_id
            .as_deref()
            .map(|p| parse_external_id("external_id", p))
            .transpose()?,
    })
}

/// One checked import row, ready to be planned against the directory.
#[derive(Debug, Clone)]
pub struct ImportWrite {
    /// Its line in the file.
    pub line: u64,
    /// Name.
    pub name: String,
    /// Address.
    pub email: Email,
    /// Department path (created as needed).
    pub department: Vec<String>,
    /// Manager's address.
    pub manager_email: Option<Email>,
    /// Backup's address.
    pub backup_email: Option<Email>,
    /// Role.
    pub role: Role,
    /// Mobile number; outer `None` leaves an existing member's as it is.
    pub phone: Option<Option<String>>,
    /// The identity provider's id; outer `None` leaves it as it is.
    pub external_id: Option<Option<String>>,
}

impl From<ImportRow> for ImportWrite {
    fn from(r: ImportRow) -> Self {
        Self {
            line: r.line,
            name: r.name,
            email: r.email,
            department: r.department,
            manager_email: r.manager_email,
            backup_email: r.backup_email,
            role: r.role,
            phone: r.phone,
            external_id: r.external_id,
        }
    }
}

/// What an import does to one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new member.
    Create,
    /// A change to an existing one.
    Update,
    /// An active member the file does not name, deactivated when the import is asked
    /// to make the directory match the file.
    Deactivate,
}

impl ChangeKind {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Deactivate => "deactivate",
        }
    }
}

/// What an import does to one member, for the review before it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportChange {
    /// The row's line in the file (0 for a member the file does not name).
    pub line: u64,
    /// The member's address.
    pub email: String,
    /// What happens to them.
    pub kind: ChangeKind,
    /// What changes for an existing member (`name`, `department`, `role`, `manager`,
    /// `backup`, `phone`, `external_id`, `active` for a reactivation); empty for a new one.
    pub fields: Vec<&'static str>,
}

/// What a planned import changes, row by row: every new member and every existing one
/// whose record the row changes (rows that change nothing are left out). `current` holds
/// the organisation's members.
pub fn review(plan: &ImportPlan, rows: &[ImportWrite], current: &[Member]) -> Vec<ImportChange> {
    let by_id: HashMap<MemberId, &Member> = current.iter().map(|m| (m.id, m)).collect();
    let email_of: HashMap<MemberId, &str> =
        current.iter().map(|m| (m.id, m.email.as_str())).collect();
    let mut out: Vec<ImportChange> = Vec::new();
    for &(id, i) in &plan.updates {
        let (Some(m), Some(row)) = (by_id.get(&id), rows.get(i)) else {
            continue;
        };
        let mut fields = Vec::new();
        if m.name != row.name {
            fields.push("name");
        }
        if plan.row_departments.get(i).copied().flatten()
            != Some(DepartmentRef::Existing(m.department_id))
        {
            fields.push("department");
        }
        if m.role != row.role {
            fields.push("role");
        }
        let link = |now: Option<MemberId>, wanted: &Option<Email>| {
            now.and_then(|id| email_of.get(&id).copied()) != wanted.as_ref().map(Email::as_str)
        };
        if link(m.manager_id, &row.manager_email) {
            fields.push("manager");
        }
        if link(m.backup_id, &row.backup_email) {
            fields.push("backup");
        }
        if row.phone.as_ref().is_some_and(|p| *p != m.phone) {
            fields.push("phone");
        }
        if row
            .external_id
            .as_ref()
            .is_some_and(|x| *x != m.external_id)
        {
            fields.push("external_id");
        }
        if !m.active {
            fields.push("active");
        }
        if !fields.is_empty() {
            out.push(ImportChange {
                line: row.line,
                email: row.email.as_str().to_string(),
                kind: ChangeKind::Update,
                fields,
            });
        }
    }
    out.extend(
        plan.creates
            .iter()
            .filter_map(|&i| rows.get(i))
            .map(|row| ImportChange {
                line: row.line,
                email: row.email.as_str().to_string(),
                kind: ChangeKind::Create,
                fields: Vec::new(),
            }),
    );
    out.sort_by_key(|c| c.line);
    out
}

/// The active members of the organisation that the file does not name, except `keep`
/// (the admin importing): those an import that makes the directory match the file
/// deactivates.
pub fn missing_members(rows: &[ImportWrite], current: &[Member], keep: MemberId) -> Vec<MemberId> {
    let named: HashSet<&str> = rows.iter().map(|r| r.email.as_str()).collect();
    current
        .iter()
        .filter(|m| m.active && m.id != keep && !named.contains(m.email.as_str()))
        .map(|m| m.id)
        .collect()
}

/// An external id a row gives that already belongs to another member of the
/// organisation: (the row's line, the id, the holder's address).
pub fn taken_external_ids(rows: &[ImportWrite], current: &[Member]) -> Vec<(u64, String, String)> {
    let holders: HashMap<&str, &str> = current
        .iter()
        .filter_map(|m| m.external_id.as_deref().map(|x| (x, m.email.as_str())))
        .collect();
    let in_file: HashSet<&str> = rows.iter().map(|r| r.email.as_str()).collect();
    rows.iter()
        .filter_map(|r| {
            let id = r.external_id.as_ref()?.as_deref()?;
            let holder = *holders.get(id)?;
            // Taken unless it is this person's, or its holder is in the file giving it up.
            let given_up = in_file.contains(holder)
                && rows.iter().any(|o| {
                    o.email.as_str() == holder
                        && o.external_id
                            .as_ref()
                            .is_some_and(|x| x.as_deref() != Some(id))
                });
            (holder != r.email.as_str() && !given_up)
                .then(|| (r.line, id.to_string(), holder.to_string()))
        })
        .collect()
}

/// A department an import refers to: one that exists, or the n-th it creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepartmentRef {
    /// Already in the directory.
    Existing(DepartmentId),
    /// Created by this import: an index into [`ImportPlan::departments`].
    New(usize),
}

/// A department the import creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDepartment {
    /// Its name.
    pub name: String,
    /// Its parent (`None`: a top-level department); always earlier in the plan or existing.
    pub parent: Option<DepartmentRef>,
}

/// What an import changes, decided before anything is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPlan {
    /// Departments to create, parents before children.
    pub departments: Vec<PlannedDepartment>,
    /// Each row's department.
    pub row_departments: Vec<Option<DepartmentRef>>,
    /// Rows whose address is already a member of the organisation: that member is updated
    /// (name, department, role) and reactivated.
    pub updates: Vec<(MemberId, usize)>,
    /// Rows that become new members.
    pub creates: Vec<usize>,
}

/// An import row whose address belongs to another organisation on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignAddress(pub String);

/// Plans an import: every missing department path is created (parents first, matched
/// case-insensitively like the directory does), a row whose address is a member of the
/// organisation updates that member, any other row creates one. `existing` maps every
/// address on the server to its member and organisation; an address of another
/// organisation stops the whole import.
pub fn plan_import(
    departments: &[Department],
    existing: &HashMap<String, (MemberId, OrgId)>,
    org: OrgId,
    rows: &[ImportWrite],
) -> Result<ImportPlan, ForeignAddress> {
    // New departments get stand-in ids below zero, so the tree finds them like the rest.
    let stand_in = |i: usize| DepartmentId(-(i as i64) - 1);
    let as_ref = |id: DepartmentId| {
        if id.0 < 0 {
            DepartmentRef::New((-id.0 - 1) as usize)
        } else {
            DepartmentRef::Existing(id)
        }
    };
    let mut all: Vec<Department> = departments.to_vec();
    let mut tree = DepartmentTree::new(all.clone());
    let mut plan = ImportPlan::default();
    let mut path_ids: HashMap<Vec<String>, DepartmentId> = HashMap::new();
    for row in rows {
        for depth in 1..=row.department.len() {
            let prefix = &row.department[..depth];
            if path_ids.contains_key(prefix) {
                continue;
            }
            let id = match tree.find_path(prefix) {
                Some(id) => id,
                None => {
                    let parent = (depth > 1).then(|| path_ids[&row.department[..depth - 1]]);
                    let id = stand_in(plan.departments.len());
                    plan.departments.push(PlannedDepartment {
                        name: prefix[depth - 1].clone(),
                        parent: parent.map(as_ref),
                    });
                    all.push(Department {
                        id,
                        name: prefix[depth - 1].clone(),
                        parent_id: parent,
                    });
                    tree = DepartmentTree::new(all.clone());
                    id
                }
            };
            path_ids.insert(prefix.to_vec(), id);
        }
        plan.row_departments
            .push(path_ids.get(row.department.as_slice()).copied().map(as_ref));
    }
    for (i, row) in rows.iter().enumerate() {
        match existing.get(row.email.as_str()) {
            Some((_, other)) if *other != org => {
                return Err(ForeignAddress(row.email.as_str().to_string()));
            }
            Some((id, _)) => plan.updates.push((*id, i)),
            None => plan.creates.push(i),
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: u64, name: &str, email: &str, dept: &str, mgr: &str) -> ImportRowInput {
        ImportRowInput {
            line,
            name: name.into(),
            email: email.into(),
            department: dept.into(),
            manager_email: mgr.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_clean_file_checks_with_managers_from_the_file_or_directory() {
        let existing: HashSet<Email> = [Email::parse("e", "boss@x.hk").unwrap()].into();
        let rows = vec![
            row(2, "Ada", "ada@x.hk", "Retail/Kowloon", "boss@x.hk"),
            row(3, "Ben", "ben@x.hk", "Retail", "ada@x.hk"),
        ];
        let ok = check_rows(&rows, &existing).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].department, vec!["Retail", "Kowloon"]);
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let rows = vec![
            row(2, "Ada", "ada@x.hk", "Retail", ""),
            row(3, "", "bad", "Retail", ""),
            row(4, "Ada again", "ADA@x.hk", "Retail", ""),
            row(5, "Cy", "cy@x.hk", "", "ghost@x.hk"),
            row(6, "Di", "di@x.hk", "Ops", "nobody@x.hk"),
        ];
        let errs = check_rows(&rows, &HashSet::new()).unwrap_err();
        let lines: Vec<u64> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6]);
        assert!(errs[3].message.contains("nobody@x.hk"));
    }

    #[test]
    fn an_import_plans_missing_departments_parents_first_and_sorts_rows_into_updates_and_creates() {
        let org = OrgId(1);
        let existing_dept = Department {
            id: DepartmentId(10),
            name: "Logistics".into(),
            parent_id: None,
        };
        let row = |email: &str, path: &[&str]| ImportWrite {
            line: 0,
            phone: None,
            external_id: None,
            name: email.into(),
            email: Email::parse("email", email).unwrap(),
            department: path.iter().map(|p| p.to_string()).collect(),
            manager_email: None,
            backup_email: None,
            role: Role::Member,
        };
        let rows = [
            row("a@x.hk", &["logistics", "Kwai Chung"]),
            row("b@x.hk", &["Logistics", "kwai chung", "Night"]),
            row("c@x.hk", &["Retail"]),
        ];
        let existing = HashMap::from([("b@x.hk".to_string(), (MemberId(5), org))]);
        let plan = plan_import(&[existing_dept], &existing, org, &rows).unwrap();
        assert_eq!(
            plan.departments,
            vec![
                PlannedDepartment {
                    name: "Kwai Chung".into(),
                    parent: Some(DepartmentRef::Existing(DepartmentId(10))),
                },
                PlannedDepartment {
                    name: "Night".into(),
                    parent: Some(DepartmentRef::New(0)),
                },
                PlannedDepartment {
                    name: "Retail".into(),
                    parent: None,
                },
            ],
            "paths are matched regardless of case and each is created once"
        );
        assert_eq!(
            plan.row_departments,
            vec![
                Some(DepartmentRef::New(0)),
                Some(DepartmentRef::New(1)),
                Some(DepartmentRef::New(2)),
            ]
        );
        assert_eq!(plan.updates, vec![(MemberId(5), 1)]);
        assert_eq!(plan.creates, vec![0, 2]);
        let foreign = HashMap::from([("c@x.hk".to_string(), (MemberId(9), OrgId(2)))]);
        assert_eq!(
            plan_import(&[], &foreign, org, &rows),
            Err(ForeignAddress("c@x.hk".into()))
        );
    }

    #[test]
    fn the_review_names_what_changes_for_whom_and_an_external_id_taken_by_another() {
        let org = OrgId(1);
        let dept = Department {
            id: DepartmentId(10),
            name: "Retail".into(),
            parent_id: None,
        };
        let member = |id: i64, email: &str| Member {
            id: MemberId(id),
            org_id: org,
            name: "Ada".into(),
            email: email.into(),
            department_id: DepartmentId(10),
            manager_id: None,
            backup_id: None,
            role: Role::Member,
            time_zone: None,
            policy_ack_version: 0,
            active: true,
            phone: None,
            external_id: Some("ext-ben".into()),
        };
        let current = vec![member(1, "ada@x.hk"), member(2, "ben@x.hk")];
        let write = |line: u64, name: &str, email: &str, phone: Option<Option<&str>>| ImportWrite {
            line,
            name: name.into(),
            email: Email::parse("email", email).unwrap(),
            department: vec!["Retail".into()],
            manager_email: None,
            backup_email: None,
            role: Role::Member,
            phone: phone.map(|p| p.map(String::from)),
            external_id: None,
        };
        let rows = vec![
            write(2, "Ada", "ada@x.hk", None),
            write(3, "Ben Chan", "ben@x.hk", Some(Some("+85291234567"))),
            write(4, "Cy", "cy@x.hk", None),
        ];
        let existing = HashMap::from([
            ("ada@x.hk".to_string(), (MemberId(1), org)),
            ("ben@x.hk".to_string(), (MemberId(2), org)),
        ]);
        let plan = plan_import(std::slice::from_ref(&dept), &existing, org, &rows).unwrap();
        let changes = review(&plan, &rows, &current);
        assert_eq!(
            changes,
            vec![
                ImportChange {
                    line: 3,
                    email: "ben@x.hk".into(),
                    kind: ChangeKind::Update,
                    fields: vec!["name", "phone"],
                },
                ImportChange {
                    line: 4,
                    email: "cy@x.hk".into(),
                    kind: ChangeKind::Create,
                    fields: vec![],
                },
            ],
            "Ada's row changes nothing and is left out"
        );
        let mut taking = rows.clone();
        taking[2].external_id = Some(Some("ext-ben".into()));
        assert_eq!(
            taken_external_ids(&taking, &current),
            vec![(4, "ext-ben".to_string(), "ben@x.hk".to_string())]
        );
        // Unless Ben's own row gives it up in the same file.
        taking[1].external_id = Some(Some("ext-ben-2".into()));
        assert!(taken_external_ids(&taking, &current).is_empty());
        // Making the directory match a file without Ben deactivates him, never the
        // admin importing.
        assert_eq!(
            missing_members(&rows[..1], &current, MemberId(1)),
            vec![MemberId(2)]
        );
        assert_eq!(
            missing_members(&rows[..1], &current, MemberId(2)),
            Vec::<MemberId>::new()
        );
    }
}
