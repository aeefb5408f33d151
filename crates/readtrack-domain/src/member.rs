//! Members of an organisation and their roles.

use crate::FieldError;
use crate::ids::{DepartmentId, MemberId, OrgId};

/// What a member may do beyond reading and sending notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sets up the directory, settings, webhooks and tokens.
    Admin,
    /// An ordinary employee: receives, reads and sends notices.
    Member,
    /// Reads the audit log (a works council, a compliance officer).
    Auditor,
}

impl Role {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Auditor => "auditor",
        }
    }

    /// Parses the wire name, naming `field` in the error.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "member" | "" => Ok(Role::Member),
            "auditor" => Ok(Role::Auditor),
            other => Err(FieldError::invalid(
                field,
                format!("`{field}` must be one of member, admin, auditor; got {other:?}"),
            )),
        }
    }
}

/// Minimum password length; longer is better, so no maximum beyond a sanity bound.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Checks a new password's length (hashing happens in the service layer).
pub fn check_password(field: &str, raw: &str) -> Result<(), FieldError> {
    let n = raw.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(FieldError::invalid(
            field,
            format!("`{field}` must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if raw.len() > 1024 {
        return Err(FieldError::invalid(
            field,
            format!("`{field}` must be at most 1024 bytes"),
        ));
    }
    Ok(())
}

/// A mobile number in E.164 form (`+85291234567`), for SMS; `None` when `raw` is blank.
/// Spaces, dashes, dots and brackets people type are dropped; the rest must be `+` and
/// 8 to 15 digits, the first not 0.
pub fn parse_phone(field: &str, raw: &str) -> Result<Option<String>, FieldError> {
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    if compact.is_empty() {
        return Ok(None);
    }
    let digits = compact.strip_prefix('+').unwrap_or("");
    let ok = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if !ok {
        return Err(FieldError::invalid(
            field,
            format!(
                "`{field}` must be an international number such as +85291234567 (E.164), got {raw:?}"
            ),
        ));
    }
    Ok(Some(compact))
}

/// The identity provider's id for a member (unique in the organisation); `None` when
/// `raw` is blank.
pub fn parse_external_id(field: &str, raw: &str) -> Result<Option<String>, FieldError> {
    let id = raw.trim();
    if id.is_empty() {
        return Ok(None);
    }
    if id.chars().count() > 200 || id.chars().any(char::is_control) {
        return Err(FieldError::invalid(
            field,
            format!("`{field}` must be at most 200 characters, without control characters"),
        ));
    }
    Ok(Some(id.to_string()))
}

/// A member as the rules see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Identity.
    pub id: MemberId,
    /// The organisation.
    pub org_id: OrgId,
    /// Display name.
    pub name: String,
    /// Login and contact address (normalised).
    pub email: String,
    /// Home department.
    pub department_id: DepartmentId,
    /// Line manager (上級), if any.
    pub manager_id: Option<MemberId>,
    /// Backup contact when the member is unavailable.
    pub backup_id: Option<MemberId>,
    /// Role.
    pub role: Role,
    /// Own IANA time zone overriding the organisation's.
    pub time_zone: Option<String>,
    /// The policy version the member acknowledged (0: none).
    pub policy_ack_version: i64,
    /// Deactivated members keep their history but receive nothing new.
    pub active: bool,
    /// Mobile number (E.164), for SMS.
    pub phone: Option<String>,
    /// The identity provider's id for them.
    pub external_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_kept_in_e164_and_anything_else_is_refused_by_name() {
        assert_eq!(
            parse_phone("phone", "+852 9123-4567"),
            Ok(Some("+85291234567".into()))
        );
        assert_eq!(parse_phone("phone", "  "), Ok(None));
        for bad in [
            "91234567",
            "+0852123456",
            "+85 2",
            "+8529123456789012",
            "+852 9123 abc",
        ] {
            let e = parse_phone("phone", bad).unwrap_err();
            assert!(e.message.contains("`phone`"), "{bad}: {e:?}");
        }
        assert_eq!(
            parse_external_id("external_id", " 00u1ab "),
            Ok(Some("00u1ab".into()))
        );
        assert!(parse_external_id("external_id", "a\nb").is_err());
    }

    #[test]
    fn roles_round_trip_and_default_to_member() {
        for role in [Role::Admin, Role::Member, Role::Auditor] {
            assert_eq!(Role::parse("role", role.as_str()), Ok(role));
        }
        assert_eq!(Role::parse("role", ""), Ok(Role::Member));
        assert!(Role::parse("role", "owner").is_err());
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_password("password", "short").is_err());
        assert!(check_password("password", "long enough").is_ok());
    }
}
