//! Directory import: checking the rows of a members CSV before anything is written.

use std::collections::{HashMap, HashSet};

use crate::FieldError;
use crate::department::parse_path;
use crate::email::Email;
use crate::member::Role;

/// The header an import file must start with.
pub const IMPORT_HEADER: [&str; 6] = [
    "name",
    "email",
    "department",
    "manager_email",
    "backup_email",
    "role",
];

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
    for row in rows {
        match check_row(row) {
            Ok(r) => {
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
    })
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
}
