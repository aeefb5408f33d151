//! Audiences: the members and departments a notice is addressed to.

use crate::FieldError;
use crate::ids::{DepartmentId, MemberId};

/// Most entries an audience may list (departments reach any number of people).
pub const MAX_AUDIENCE_ENTRIES: usize = 10_000;

/// An audience as it arrives: raw id strings.
#[derive(Debug, Clone, Default)]
pub struct AudienceInput {
    /// Member ids.
    pub members: Vec<String>,
    /// Department ids; each includes its sub-departments.
    pub departments: Vec<String>,
}

/// A checked audience, before expansion to recipients. Duplicates are removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    /// Members named directly.
    pub members: Vec<MemberId>,
    /// Departments named (sub-departments are added at expansion).
    pub departments: Vec<DepartmentId>,
}

impl Audience {
    /// Parses the ids, naming `audience.members[i]` or `audience.departments[i]` on error.
    pub fn parse(input: &AudienceInput) -> Result<Self, FieldError> {
        if input.members.is_empty() && input.departments.is_empty() {
            return Err(FieldError::with_code(
                "audience",
                "empty_audience",
                "`audience` is empty: name at least one member or department",
            ));
        }
        if input.members.len() + input.departments.len() > MAX_AUDIENCE_ENTRIES {
            return Err(FieldError::invalid(
                "audience",
                format!(
                    "`audience` may list at most {MAX_AUDIENCE_ENTRIES} entries; name departments instead of every person"
                ),
            ));
        }
        let mut members = input
            .members
            .iter()
            .enumerate()
            .map(|(i, raw)| MemberId::parse(&format!("audience.members[{i}]"), raw))
            .collect::<Result<Vec<_>, _>>()?;
        let mut departments = input
            .departments
            .iter()
            .enumerate()
            .map(|(i, raw)| DepartmentId::parse(&format!("audience.departments[{i}]"), raw))
            .collect::<Result<Vec<_>, _>>()?;
        members.sort();
        members.dedup();
        departments.sort();
        departments.dedup();
        Ok(Self {
            members,
            departments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_audience_is_refused() {
        let err = Audience::parse(&AudienceInput::default()).unwrap_err();
        assert_eq!(err.code, "empty_audience");
    }

    #[test]
    fn repeated_entries_collapse_and_bad_ids_are_named() {
        let a = Audience::parse(&AudienceInput {
            members: vec!["2".into(), "2".into(), "1".into()],
            departments: vec!["7".into()],
        })
        .unwrap();
        assert_eq!(a.members, vec![MemberId(1), MemberId(2)]);
        let err = Audience::parse(&AudienceInput {
            members: vec!["2".into(), "bob".into()],
            departments: vec![],
        })
        .unwrap_err();
        assert_eq!(err.field, "audience.members[1]");
    }
}
