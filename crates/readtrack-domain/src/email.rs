//! Email addresses, the login name of a member.

use std::fmt;

use crate::FieldError;

/// A syntactically plausible email address, trimmed and lower-cased so that one person
/// has one address however it is typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Parses an address, naming `field` in the error.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim().to_lowercase();
        let bad = |why: &str| {
            FieldError::invalid(
                field,
                format!("`{field}` is not a valid email address: {why}"),
            )
        };
        if value.is_empty() {
            return Err(bad("it is empty"));
        }
        if value.len() > 254 {
            return Err(bad("it is longer than 254 characters"));
        }
        let Some((local, domain)) = value.rsplit_once('@') else {
            return Err(bad("it has no `@`"));
        };
        if local.is_empty() || domain.is_empty() {
            return Err(bad("it needs a name before and a domain after the `@`"));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) || local.contains('@') {
            return Err(bad("it contains spaces or extra `@`"));
        }
        if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
            return Err(bad("its domain is malformed"));
        }
        Ok(Self(value))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised() {
        assert_eq!(
            Email::parse("email", " Ada@Example.HK ").unwrap().as_str(),
            "ada@example.hk"
        );
    }

    #[test]
    fn malformed_addresses_are_rejected_naming_the_field() {
        for bad in [
            "", "ada", "@x.hk", "ada@", "a b@x.hk", "a@b@c", "a@.hk", "a@x..hk",
        ] {
            let err = Email::parse("admin.email", bad).unwrap_err();
            assert_eq!(err.field, "admin.email", "{bad}");
        }
    }
}
