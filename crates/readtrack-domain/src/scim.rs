//! SCIM 2.0 provisioning rules (RFC 7643/7644): how a SCIM User maps onto a member and
//! a Group onto a department, the filters and PATCH paths readtrack understands, and the
//! version (ETag) of a resource.
//!
//! The wire format stays at the edge: a request body reaches this module as a [`Value`]
//! tree the server builds from its JSON, and what comes out are plain attributes.

use crate::FieldError;
use crate::email::Email;
use crate::member::{parse_external_id, parse_phone};
use crate::text;

/// The core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension (`department`, `manager`).
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The SCIM error types (RFC 7644 §3.12) readtrack answers with; they travel as the
/// `code` of a [`FieldError`] so the server can name them in `scimType`.
pub mod scim_type {
    /// The filter cannot be parsed or names what cannot be filtered on.
    pub const INVALID_FILTER: &str = "invalidFilter";
    /// A PATCH path cannot be parsed or names no attribute.
    pub const INVALID_PATH: &str = "invalidPath";
    /// A value is missing, of the wrong type or not allowed.
    pub const INVALID_VALUE: &str = "invalidValue";
    /// The body is not a SCIM message readtrack understands.
    pub const INVALID_SYNTAX: &str = "invalidSyntax";
    /// The attribute cannot be changed that way.
    pub const MUTABILITY: &str = "mutability";
    /// A PATCH path filter matched nothing.
    pub const NO_TARGET: &str = "noTarget";
}

/// A JSON value as the SCIM rules see it, without the wire format's types.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number (SCIM attributes readtrack keeps are never numbers).
    Number(f64),
    /// A string.
    Str(String),
    /// An array.
    List(Vec<Value>),
    /// An object, keys as sent.
    Map(Vec<(String, Value)>),
}

impl Value {
    /// The member of an object named `key`, compared case-insensitively as RFC 7643
    /// §2.1 asks of attribute names.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

fn invalid(field: &str, message: impl Into<String>) -> FieldError {
    FieldError::with_code(field, scim_type::INVALID_VALUE, message)
}

fn string_of(field: &str, v: &Value) -> Result<Option<String>, FieldError> {
    match v {
        Value::Null => Ok(None),
        Value::Str(s) => Ok(Some(s.clone())),
        _ => Err(invalid(field, format!("`{field}` must be a string"))),
    }
}

fn bool_of(field: &str, v: &Value) -> Result<bool, FieldError> {
    match v {
        Value::Bool(b) => Ok(*b),
        // Some identity providers send booleans as strings.
        Value::Str(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::Str(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(invalid(field, format!("`{field}` must be true or false"))),
    }
}

/// The value of a multi-valued attribute (`emails`, `phoneNumbers`) readtrack keeps one
/// of: the primary entry's `value`, else the first one's. `None` for an empty list.
fn primary_value(field: &str, v: &Value) -> Result<Option<String>, FieldError> {
    let items = match v {
        Value::Null => return Ok(None),
        Value::List(items) => items.as_slice(),
        Value::Map(_) => std::slice::from_ref(v),
        _ => {
            return Err(invalid(
                field,
                format!("`{field}` must be a list of {{\"value\": …}} objects"),
            ));
        }
    };
    let chosen = items
        .iter()
        .find(|i| matches!(i.get("primary"), Some(Value::Bool(true))))
        .or_else(|| items.first());
    match chosen {
        None => Ok(None),
        Some(item) => match item.get("value") {
            Some(value) => string_of(&format!("{field}.value"), value),
            None => Err(invalid(field, format!("`{field}` entries need a `value`"))),
        },
    }
}

/// A member as SCIM sees and writes it. The one address readtrack keeps is both the
/// sign-in name (`userName`) and the only entry of `emails`; the one name is both
/// `displayName` and `name.formatted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAttrs {
    /// The email address (`userName`, `emails[0].value`).
    pub email: String,
    /// The display name.
    pub name: String,
    /// The identity provider's id (`externalId`).
    pub external_id: Option<String>,
    /// `active`: false deprovisions (the member is deactivated, history kept).
    pub active: bool,
    /// The mobile number, E.164 (`phoneNumbers[0].value`).
    pub phone: Option<String>,
    /// The department's name (enterprise `department`); `None` keeps the default one.
    pub department: Option<String>,
    /// The line manager's member id (enterprise `manager.value`).
    pub manager: Option<String>,
}

impl UserAttrs {
    /// Reads a whole User (POST, PUT). `userName` is required and must be an email
    /// address unless `emails` gives one; the name falls back from `displayName` to
    /// `name.formatted` to the address's local part.
    pub fn from_resource(body: &Value) -> Result<Self, FieldError> {
        if !matches!(body, Value::Map(_)) {
            return Err(FieldError::with_code(
                "body",
                scim_type::INVALID_SYNTAX,
                "the body must be a SCIM User object",
            ));
        }
        let user_name = body
            .get("userName")
            .map(|v| string_of("userName", v))
            .transpose()?
            .flatten()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| invalid("userName", "`userName` is required"))?;
        let listed = body
            .get("emails")
            .map(|v| primary_value("emails", v))
            .transpose()?
            .flatten();
        let email = match Email::parse("userName", &user_name) {
            Ok(e) => e.as_str().to_string(),
            Err(e) => match &listed {
                Some(address) => Email::parse("emails.value", address)
                    .map_err(retype)?
                    .as_str()
                    .to_string(),
                None => return Err(retype(e)),
            },
        };
        let display = body
            .get("displayName")
            .map(|v| string_of("displayName", v))
            .transpose()?
            .flatten();
        let formatted = match body.get("name") {
            Some(n @ Value::Map(_)) => n
                .get("formatted")
                .map(|v| string_of("name.formatted", v))
                .transpose()?
                .flatten(),
            _ => None,
        };
        let name = display
            .or(formatted)
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| email.split('@').next().unwrap_or("").to_string());
        let name = text::name("displayName", &name).map_err(retype)?;
        let external_id = match body.get("externalId") {
            Some(v) => parse_external_id(
                "externalId",
                &string_of("externalId", v)?.unwrap_or_default(),
            )
            .map_err(retype)?,
            None => None,
        };
        let active = match body.get("active") {
            None | Some(Value::Null) => true,
            Some(v) => bool_of("active", v)?,
        };
        let phone = match body.get("phoneNumbers") {
            Some(v) => phone_of(primary_value("phoneNumbers", v)?)?,
            None => None,
        };
        let mut attrs = UserAttrs {
            email,
            name,
            external_id,
            active,
            phone,
            department: None,
            manager: None,
        };
        if let Some(ext) = body.get(ENTERPRISE_SCHEMA) {
            if let Some(d) = ext.get("department") {
                attrs.department = department_of(string_of("department", d)?)?;
            }
            if let Some(m) = ext.get("manager") {
                attrs.manager = manager_of(m)?;
            }
        }
        Ok(attrs)
    }

    /// Applies PATCH operations in order (RFC 7644 §3.5.2); any failing operation fails
    /// the whole request, so the caller writes nothing.
    pub fn apply(&mut self, ops: &[PatchOp]) -> Result<(), FieldError> {
        for op in ops {
            match &op.path {
                None => self.apply_without_path(op)?,
                Some(raw) => {
                    let path = UserPath::parse(raw)?;
                    self.apply_path(op.kind, path, op.value.as_ref())?;
                }
            }
        }
        Ok(())
    }

    fn apply_without_path(&mut self, op: &PatchOp) -> Result<(), FieldError> {
        if op.kind == PatchKind::Remove {
            return Err(FieldError::with_code(
                "path",
                scim_type::NO_TARGET,
                "a `remove` operation needs a `path`",
            ));
        }
        let Some(Value::Map(entries)) = &op.value else {
            return Err(invalid(
                "value",
                "an operation without `path` needs an object `value`",
            ));
        };
        for (key, value) in entries {
            if key.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
                if let Value::Map(inner) = value {
                    for (k, v) in inner {
                        let path = UserPath::parse(&format!("{ENTERPRISE_SCHEMA}:{k}"))?;
                        self.apply_path(op.kind, path, Some(v))?;
                    }
                }
                continue;
            }
            if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case("id") {
                continue;
            }
            // `name: {formatted}` and other complex values arrive whole.
            let path = UserPath::parse(key)?;
            self.apply_path(op.kind, path, Some(value))?;
        }
        Ok(())
    }

    fn apply_path(
        &mut self,
        kind: PatchKind,
        path: UserPath,
        value: Option<&Value>,
    ) -> Result<(), FieldError> {
        let need = |v: Option<&Value>| -> Result<Value, FieldError> {
            v.cloned()
                .ok_or_else(|| invalid("value", "`add` and `replace` need a `value`"))
        };
        if kind == PatchKind::Remove {
            return match path {
                UserPath::ExternalId => {
                    self.external_id = None;
                    Ok(())
                }
                UserPath::Phone => {
                    self.phone = None;
                    Ok(())
                }
                UserPath::Department => {
                    self.department = None;
                    Ok(())
                }
                UserPath::Manager => {
                    self.manager = None;
                    Ok(())
                }
                UserPath::Active => Err(FieldError::with_code(
                    "path",
                    scim_type::MUTABILITY,
                    "a member is always active or not; replace `active` with false to deprovision",
                )),
                UserPath::Enterprise => {
                    // The department stays: every member belongs to one.
                    self.manager = None;
                    Ok(())
                }
                UserPath::UserName | UserPath::Emails => Err(FieldError::with_code(
                    "path",
                    scim_type::MUTABILITY,
                    "the email address is the sign-in name and cannot be removed; replace it",
                )),
                UserPath::Name => Err(FieldError::with_code(
                    "path",
                    scim_type::MUTABILITY,
                    "a member always has a name; replace it instead",
                )),
            };
        }
        let value = need(value)?;
        match path {
            UserPath::UserName => {
                let raw = string_of("userName", &value)?.unwrap_or_default();
                self.email = Email::parse("userName", &raw)
                    .map_err(retype)?
                    .as_str()
                    .to_string();
            }
            UserPath::Emails => {
                let raw = primary_value("emails", &value)?
                    .ok_or_else(|| invalid("emails", "`emails` needs one address"))?;
                self.email = Email::parse("emails.value", &raw)
                    .map_err(retype)?
                    .as_str()
                    .to_string();
            }
            UserPath::Name => {
                let raw = match &value {
                    Value::Map(_) => value
                        .get("formatted")
                        .map(|v| string_of("name.formatted", v))
                        .transpose()?
                        .flatten(),
                    other => string_of("name", other)?,
                };
                if let Some(raw) = raw {
                    self.name = text::name("name", &raw).map_err(retype)?;
                }
            }
            UserPath::ExternalId => {
                self.external_id = parse_external_id(
                    "externalId",
                    &string_of("externalId", &value)?.unwrap_or_default(),
                )
                .map_err(retype)?;
            }
            UserPath::Active => self.active = bool_of("active", &value)?,
            UserPath::Phone => {
                let raw = match &value {
                    Value::Str(s) => Some(s.clone()),
                    other => primary_value("phoneNumbers", other)?,
                };
                self.phone = phone_of(raw)?;
            }
            UserPath::Department => {
                self.department = department_of(string_of("department", &value)?)?;
            }
            UserPath::Manager => self.manager = manager_of(&value)?,
            UserPath::Enterprise => {
                if let Some(d) = value.get("department") {
                    self.department = department_of(string_of("department", d)?)?;
                }
                if let Some(m) = value.get("manager") {
                    self.manager = manager_of(m)?;
                }
            }
        }
        Ok(())
    }

    /// The resource version (`meta.version`, the ETag): changes whenever anything SCIM
    /// shows of the member changes.
    pub fn version(&self) -> String {
        let mut h = Fnv::default();
        h.write(&self.email);
        h.write(&self.name);
        h.write_opt(self.external_id.as_deref());
        h.write(if self.active { "1" } else { "0" });
        h.write_opt(self.phone.as_deref());
        h.write_opt(self.department.as_deref());
        h.write_opt(self.manager.as_deref());
        format!("W/\"{:016x}\"", h.0)
    }
}

fn phone_of(raw: Option<String>) -> Result<Option<String>, FieldError> {
    match raw {
        None => Ok(None),
        Some(raw) => {
            // RFC 3966 `tel:` URIs are how SCIM suggests numbers travel.
            let bare = raw.strip_prefix("tel:").unwrap_or(&raw);
            parse_phone("phoneNumbers.value", bare).map_err(retype)
        }
    }
}

fn department_of(raw: Option<String>) -> Result<Option<String>, FieldError> {
    match raw {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => Ok(Some(text::name("department", &s).map_err(retype)?)),
    }
}

fn manager_of(v: &Value) -> Result<Option<String>, FieldError> {
    let raw = match v {
        Value::Null => None,
        Value::Str(s) => Some(s.clone()),
        Value::Map(_) => v
            .get("value")
            .map(|x| string_of("manager.value", x))
            .transpose()?
            .flatten(),
        _ => {
            return Err(invalid(
                "manager",
                "`manager` must be {\"value\": \"<member id>\"}",
            ));
        }
    };
    Ok(raw.filter(|s| !s.trim().is_empty()))
}

/// Gives a parser's error the SCIM type of a bad value.
fn retype(mut e: FieldError) -> FieldError {
    e.code = scim_type::INVALID_VALUE;
    e
}

/// What a User PATCH path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UserPath {
    UserName,
    Emails,
    Name,
    ExternalId,
    Active,
    Phone,
    Department,
    Manager,
    /// The whole enterprise extension.
    Enterprise,
}

impl UserPath {
    fn parse(raw: &str) -> Result<Self, FieldError> {
        let bad = || {
            FieldError::with_code(
                "path",
                scim_type::INVALID_PATH,
                format!("`path` {raw:?} names no attribute readtrack keeps"),
            )
        };
        let trimmed = raw.trim();
        let (schema_less, enterprise) = match strip_prefix_ci(trimmed, ENTERPRISE_SCHEMA) {
            Some(rest) => (rest.trim_start_matches(':'), true),
            None => (
                strip_prefix_ci(trimmed, USER_SCHEMA)
                    .map(|r| r.trim_start_matches(':'))
                    .unwrap_or(trimmed),
                false,
            ),
        };
        // A value filter (`emails[type eq "work"]`) or sub-attribute still names the
        // one value readtrack keeps.
        let head = schema_less
            .split(['[', '.'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let sub = schema_less
            .rsplit_once('.')
            .map(|(_, s)| s.trim_end_matches(']').to_ascii_lowercase());
        if enterprise {
            return match head.as_str() {
                "" => Ok(UserPath::Enterprise),
                "department" => Ok(UserPath::Department),
                "manager" if matches!(sub.as_deref(), None | Some("value")) => {
                    Ok(UserPath::Manager)
                }
                _ => Err(bad()),
            };
        }
        match head.as_str() {
            "username" => Ok(UserPath::UserName),
            "emails" if matches!(sub.as_deref(), None | Some("value")) => Ok(UserPath::Emails),
            "displayname" => Ok(UserPath::Name),
            "name" if matches!(sub.as_deref(), None | Some("formatted")) => Ok(UserPath::Name),
            "externalid" => Ok(UserPath::ExternalId),
            "active" => Ok(UserPath::Active),
            "phonenumbers" if matches!(sub.as_deref(), None | Some("value")) => Ok(UserPath::Phone),
            _ => Err(bad()),
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// A department as SCIM sees and writes it (a Group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAttrs {
    /// The department's name (`displayName`).
    pub name: String,
    /// The identity provider's id (`externalId`).
    pub external_id: Option<String>,
    /// Member ids, as SCIM `members[].value`, in id order.
    pub members: Vec<String>,
}

impl GroupAttrs {
    /// Reads a whole Group (POST, PUT).
    pub fn from_resource(body: &Value) -> Result<Self, FieldError> {
        let name = body
            .get("displayName")
            .map(|v| string_of("displayName", v))
            .transpose()?
            .flatten()
            .ok_or_else(|| invalid("displayName", "`displayName` is required"))?;
        let name = text::name("displayName", &name).map_err(retype)?;
        let external_id = match body.get("externalId") {
            Some(v) => parse_external_id(
                "externalId",
                &string_of("externalId", v)?.unwrap_or_default(),
            )
            .map_err(retype)?,
            None => None,
        };
        let mut members = match body.get("members") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => member_values(v)?,
        };
        sort_ids(&mut members);
        Ok(GroupAttrs {
            name,
            external_id,
            members,
        })
    }

    /// Applies PATCH operations in order.
    pub fn apply(&mut self, ops: &[PatchOp]) -> Result<(), FieldError> {
        for op in ops {
            match &op.path {
                None => {
                    let Some(Value::Map(entries)) = &op.value else {
                        return Err(invalid(
                            "value",
                            "an operation without `path` needs an object `value`",
                        ));
                    };
                    for (k, v) in entries {
                        if k.eq_ignore_ascii_case("schemas") || k.eq_ignore_ascii_case("id") {
                            continue;
                        }
                        self.apply_path(op.kind, k, Some(v))?;
                    }
                }
                Some(p) => self.apply_path(op.kind, p, op.value.as_ref())?,
            }
        }
        sort_ids(&mut self.members);
        Ok(())
    }

    fn apply_path(
        &mut self,
        kind: PatchKind,
        raw: &str,
        value: Option<&Value>,
    ) -> Result<(), FieldError> {
        let path = strip_prefix_ci(raw.trim(), GROUP_SCHEMA)
            .map(|r| r.trim_start_matches(':'))
            .unwrap_or(raw.trim());
        let lower = path.to_ascii_lowercase();
        let need = || {
            value
                .filter(|v| !v.is_null())
                .ok_or_else(|| invalid("value", "`add` and `replace` need a `value`"))
        };
        if lower == "displayname" {
            return match kind {
                PatchKind::Remove => Err(FieldError::with_code(
                    "path",
                    scim_type::MUTABILITY,
                    "a department always has a name; replace it instead",
                )),
                _ => {
                    let s = string_of("displayName", need()?)?.unwrap_or_default();
                    self.name = text::name("displayName", &s).map_err(retype)?;
                    Ok(())
                }
            };
        }
        if lower == "externalid" {
            self.external_id = match kind {
                PatchKind::Remove => None,
                _ => parse_external_id(
                    "externalId",
                    &string_of("externalId", need()?)?.unwrap_or_default(),
                )
                .map_err(retype)?,
            };
            return Ok(());
        }
        if lower == "members" {
            match kind {
                PatchKind::Add => {
                    for m in member_values(need()?)? {
                        if !self.members.contains(&m) {
                            self.members.push(m);
                        }
                    }
                }
                PatchKind::Replace => self.members = member_values(need()?)?,
                PatchKind::Remove => match value.filter(|v| !v.is_null()) {
                    // Azure-style: `remove members` with the values to remove.
                    Some(v) => {
                        let gone = member_values(v)?;
                        self.members.retain(|m| !gone.contains(m));
                    }
                    None => self.members.clear(),
                },
            }
            return Ok(());
        }
        // `members[value eq "42"]`
        if let Some(filter) = lower
            .strip_prefix("members[")
            .and_then(|r| r.strip_suffix(']'))
        {
            let original = &path["members[".len()..path.len() - 1];
            let f = Filter::parse(original)
                .map_err(|e| FieldError::with_code("path", scim_type::INVALID_PATH, e.message))?;
            if f.attribute != "value" || kind != PatchKind::Remove {
                return Err(FieldError::with_code(
                    "path",
                    scim_type::INVALID_PATH,
                    format!(
                        "`path` {raw:?}: only `remove` of members[value eq \"…\"] is supported"
                    ),
                ));
            }
            let before = self.members.len();
            self.members.retain(|m| *m != f.value);
            if before == self.members.len() {
                return Err(FieldError::with_code(
                    "path",
                    scim_type::NO_TARGET,
                    format!("`path` {raw:?} matches no member of this group"),
                ));
            }
            let _ = filter;
            return Ok(());
        }
        Err(FieldError::with_code(
            "path",
            scim_type::INVALID_PATH,
            format!("`path` {raw:?} names no attribute readtrack keeps"),
        ))
    }

    /// The resource version (`meta.version`).
    pub fn version(&self) -> String {
        let mut h = Fnv::default();
        h.write(&self.name);
        h.write_opt(self.external_id.as_deref());
        for m in &self.members {
            h.write(m);
        }
        format!("W/\"{:016x}\"", h.0)
    }
}

fn sort_ids(ids: &mut Vec<String>) {
    ids.sort_by_key(|s| (s.parse::<i64>().unwrap_or(i64::MAX), s.clone()));
    ids.dedup();
}

fn member_values(v: &Value) -> Result<Vec<String>, FieldError> {
    let items = match v {
        Value::List(items) => items.as_slice(),
        Value::Map(_) => std::slice::from_ref(v),
        _ => {
            return Err(invalid(
                "members",
                "`members` must be a list of {\"value\": \"<user id>\"}",
            ));
        }
    };
    items
        .iter()
        .map(|i| match i.get("value") {
            Some(Value::Str(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            _ => Err(invalid(
                "members",
                "every member needs a `value` (a User id)",
            )),
        })
        .collect()
}

/// A PATCH operation's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `add`.
    Add,
    /// `replace`.
    Replace,
    /// `remove`.
    Remove,
}

/// One PATCH operation.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    /// What to do.
    pub kind: PatchKind,
    /// Where; `None` means the value is an object of attributes.
    pub path: Option<String>,
    /// The value (absent for most `remove`s).
    pub value: Option<Value>,
}

/// Reads a PatchOp message's `Operations` (RFC 7644 §3.5.2).
pub fn parse_patch(body: &Value) -> Result<Vec<PatchOp>, FieldError> {
    let syntax = |m: &str| FieldError::with_code("Operations", scim_type::INVALID_SYNTAX, m);
    let Some(Value::List(ops)) = body.get("Operations") else {
        return Err(syntax("a PatchOp needs an `Operations` list"));
    };
    ops.iter()
        .map(|op| {
            let kind = match op.get("op") {
                Some(Value::Str(s)) => match s.to_ascii_lowercase().as_str() {
                    "add" => PatchKind::Add,
                    "replace" => PatchKind::Replace,
                    "remove" => PatchKind::Remove,
                    _ => return Err(syntax("`op` must be add, replace or remove")),
                },
                _ => return Err(syntax("every operation needs an `op`")),
            };
            let path = match op.get("path") {
                None | Some(Value::Null) => None,
                Some(Value::Str(s)) => Some(s.clone()),
                Some(_) => {
                    return Err(FieldError::with_code(
                        "path",
                        scim_type::INVALID_PATH,
                        "`path` must be a string",
                    ));
                }
            };
            Ok(PatchOp {
                kind,
                path,
                value: op.get("value").cloned(),
            })
        })
        .collect()
}

/// A filter readtrack answers: `attribute eq "value"` (RFC 7644 §3.4.2.2), the form
/// identity providers use to find a resource before creating it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The attribute, lower case, without its schema (`username`, `externalid`).
    pub attribute: String,
    /// The value compared with.
    pub value: String,
}

impl Filter {
    /// Parses `attr eq "value"`; anything else is `invalidFilter`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let bad = |why: &str| {
            FieldError::with_code(
                "filter",
                scim_type::INVALID_FILTER,
                format!("`filter` {raw:?}: {why}; readtrack understands `attribute eq \"value\"`"),
            )
        };
        let s = raw.trim();
        let (attr, rest) = s
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad("no operator"))?;
        let rest = rest.trim_start();
        let (op, value) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad("no value"))?;
        if !op.eq_ignore_ascii_case("eq") {
            return Err(bad("only `eq` is supported"));
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(|| bad("the value must be a quoted string"))?;
        if value.contains('"') && !value.contains("\\\"") {
            return Err(bad("only one comparison is supported"));
        }
        let value = value.replace("\\\"", "\"").replace("\\\\", "\\");
        let attr = [USER_SCHEMA, GROUP_SCHEMA]
            .iter()
            .find_map(|p| strip_prefix_ci(attr, p).map(|r| r.trim_start_matches(':')))
            .unwrap_or(attr)
            .to_ascii_lowercase();
        Ok(Filter {
            attribute: attr,
            value,
        })
    }
}

/// 64-bit FNV-1a, for resource versions (not a security measure: an ETag only has to
/// change when the resource does).
#[derive(Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, s: &str) {
        for b in s.bytes().chain(std::iter::once(0xff)) {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_opt(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.write(s),
            None => self.write("\u{0}none"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    fn map(entries: Vec<(&str, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    #[test]
    fn filters_are_attribute_eq_quoted_value_and_nothing_else() {
        let f = Filter::parse(r#"userName eq "Ann@Example.com""#).unwrap();
        assert_eq!(f.attribute, "username");
        assert_eq!(f.value, "Ann@Example.com");
        let f = Filter::parse(&format!("{USER_SCHEMA}:externalId eq \"x 1\"")).unwrap();
        assert_eq!(
            (f.attribute.as_str(), f.value.as_str()),
            ("externalid", "x 1")
        );
        for bad in [
            "userName",
            "userName sw \"a\"",
            "userName eq a",
            "a eq \"b\" or c eq \"d\"",
        ] {
            let e = Filter::parse(bad).unwrap_err();
            assert_eq!(e.code, scim_type::INVALID_FILTER, "{bad}");
        }
    }

    #[test]
    fn a_user_needs_an_address_and_gets_a_name_from_what_was_sent() {
        let u = UserAttrs::from_resource(&map(vec![("userName", s("Ann@Example.com"))])).unwrap();
        assert_eq!(
            (u.email.as_str(), u.name.as_str(), u.active),
            ("ann@example.com", "ann", true)
        );
        let u = UserAttrs::from_resource(&map(vec![
            ("userName", s("ann")),
            (
                "emails",
                Value::List(vec![map(vec![("value", s("a@b.org"))])]),
            ),
            ("name", map(vec![("formatted", s("Ann Lee"))])),
            (
                "phoneNumbers",
                Value::List(vec![map(vec![("value", s("tel:+85291234567"))])]),
            ),
        ]))
        .unwrap();
        assert_eq!(u.email, "a@b.org");
        assert_eq!(u.name, "Ann Lee");
        assert_eq!(u.phone.as_deref(), Some("+85291234567"));
        let e = UserAttrs::from_resource(&map(vec![("userName", s("ann"))])).unwrap_err();
        assert_eq!(e.code, scim_type::INVALID_VALUE);
    }

    #[test]
    fn patches_set_and_clear_the_enterprise_manager_and_deactivate() {
        let mut u = UserAttrs::from_resource(&map(vec![("userName", s("a@b.org"))])).unwrap();
        let before = u.version();
        u.apply(&[
            PatchOp {
                kind: PatchKind::Replace,
                path: Some(format!("{ENTERPRISE_SCHEMA}:manager")),
                value: Some(map(vec![("value", s("7"))])),
            },
            PatchOp {
                kind: PatchKind::Replace,
                path: None,
                value: Some(map(vec![("active", Value::Bool(false))])),
            },
        ])
        .unwrap();
        assert_eq!(u.manager.as_deref(), Some("7"));
        assert!(!u.active);
        assert_ne!(u.version(), before);
        u.apply(&[PatchOp {
            kind: PatchKind::Remove,
            path: Some(format!("{ENTERPRISE_SCHEMA}:manager")),
            value: None,
        }])
        .unwrap();
        assert_eq!(u.manager, None);
        let e = u
            .apply(&[PatchOp {
                kind: PatchKind::Add,
                path: Some("addresses".into()),
                value: Some(s("x")),
            }])
            .unwrap_err();
        assert_eq!(e.code, scim_type::INVALID_PATH);
    }

    #[test]
    fn group_members_are_added_removed_by_filter_and_replaced() {
        let mut g = GroupAttrs::from_resource(&map(vec![("displayName", s("Sales"))])).unwrap();
        let add =
            |ids: &[&str]| Value::List(ids.iter().map(|i| map(vec![("value", s(i))])).collect());
        g.apply(&[PatchOp {
            kind: PatchKind::Add,
            path: Some("members".into()),
            value: Some(add(&["10", "2"])),
        }])
        .unwrap();
        assert_eq!(g.members, vec!["2", "10"]);
        g.apply(&[PatchOp {
            kind: PatchKind::Remove,
            path: Some("members[value eq \"2\"]".into()),
            value: None,
        }])
        .unwrap();
        assert_eq!(g.members, vec!["10"]);
        let e = g
            .apply(&[PatchOp {
                kind: PatchKind::Remove,
                path: Some("members[value eq \"2\"]".into()),
                value: None,
            }])
            .unwrap_err();
        assert_eq!(e.code, scim_type::NO_TARGET);
    }
}
