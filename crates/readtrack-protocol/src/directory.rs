//! Departments, members and the CSV import.

use serde::{Deserialize, Deserializer, Serialize};

/// A department.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Department {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Parent, `null` at the top.
    pub parent_id: Option<String>,
}

/// `POST /api/v1/departments`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateDepartment {
    /// Name, unique among its siblings.
    pub name: String,
    /// Parent department.
    #[serde(default)]
    pub parent_id: Option<String>,
}

/// A member of the directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Department.
    pub department_id: String,
    /// Line manager.
    pub manager_id: Option<String>,
    /// Backup contact.
    pub backup_id: Option<String>,
    /// `member`, `admin` or `auditor`.
    pub role: String,
    /// Own IANA time zone, if set.
    pub time_zone: Option<String>,
    /// Acknowledged policy version (0: none).
    pub policy_ack_version: i64,
    /// Deactivated members receive nothing new.
    pub active: bool,
    /// Mobile number (E.164); shown to admins and to the member themself only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The identity provider's id; shown to admins and to the member themself only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// `POST /api/v1/members`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateMember {
    /// Name.
    pub name: String,
    /// Email, unique on the server.
    pub email: String,
    /// Department.
    pub department_id: String,
    /// Line manager.
    #[serde(default)]
    pub manager_id: Option<String>,
    /// Backup contact.
    #[serde(default)]
    pub backup_id: Option<String>,
    /// `member` (default), `admin` or `auditor`.
    #[serde(default)]
    pub role: Option<String>,
    /// Password, if the member signs in with one (8+ characters).
    #[serde(default)]
    pub password: Option<String>,
    /// Own IANA time zone.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Mobile number in international form (`+85291234567`), for SMS.
    #[serde(default)]
    pub phone: Option<String>,
    /// The identity provider's id for them (unique in the organisation).
    #[serde(default)]
    pub external_id: Option<String>,
}

/// `PATCH /api/v1/members/{id}`: absent fields stay, `null` clears.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// A patch applies only the fields it names, so a misspelt one would answer 200 and
// change nothing: unknown fields are refused instead, naming the field.
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// New department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_id: Option<String>,
    /// New manager, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub manager_id: Option<Option<String>>,
    /// New backup, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub backup_id: Option<Option<String>>,
    /// New role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// New password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// New time zone, or `null` to use the organisation's.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub time_zone: Option<Option<String>>,
    /// Deactivate (`false`) or reactivate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// New mobile number, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub phone: Option<Option<String>>,
    /// New identity provider id, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub external_id: Option<Option<String>>,
}

/// Tells "absent" (outer `None`) from "null" (`Some(None)`).
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Answer to an import (200), and the body of its 400 when any line is wrong.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportResult {
    /// Members created (or that would be, on a dry run).
    pub created: u64,
    /// Members updated.
    pub updated: u64,
    /// Problems, by line (the header is line 1). Non-empty means nothing was written.
    pub errors: Vec<ImportError>,
    /// Departments created along the way.
    #[serde(default)]
    pub departments_created: u64,
    /// Whether this was a dry run.
    #[serde(default)]
    pub dry_run: bool,
    /// What the import does (or, on a dry run, would do), row by row: each new member
    /// and each existing one it changes. At most [`IMPORT_CHANGES_SHOWN`]; the counts
    /// above are always complete.
    #[serde(default)]
    pub changes: Vec<ImportChangeBody>,
    /// More changes than listed.
    #[serde(default)]
    pub changes_truncated: bool,
    /// Members deactivated (or that would be) because the file does not name them, with
    /// `?deactivate_missing=true`.
    #[serde(default)]
    pub deactivated: u64,
}

/// Most changes an import answer lists.
pub const IMPORT_CHANGES_SHOWN: usize = 1000;

/// One member an import creates or changes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportChangeBody {
    /// The row's line in the file.
    pub line: u64,
    /// The member's address.
    pub email: String,
    /// `create` or `update`.
    pub change: String,
    /// For an update: what changes (`name`, `department`, `role`, `manager`, `backup`,
    /// `phone`, `external_id`, `active` for a reactivation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// One problem in an import file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportError {
    /// Line number (1 is the header).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}
