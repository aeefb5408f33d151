//! The validation error every parser returns: which field is wrong and why.

use std::fmt;

/// A rejected input: the field it came from (a JSON path such as `audience.members[2]`),
/// a stable snake_case code, and a sentence saying what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as a path into the request (`title`, `receipts[3].at`).
    pub field: String,
    /// A stable machine-readable code (`invalid_field`, `time_in_future`, ...).
    pub code: &'static str,
    /// A human sentence that names the field.
    pub message: String,
}

impl FieldError {
    /// An `invalid_field` error for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::with_code(field, "invalid_field", message)
    }

    /// An error with a specific code.
    pub fn with_code(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }

    /// The same error reported under a longer path (`members[2]` -> `audience.members[2]`).
    pub fn under(mut self, prefix: &str) -> Self {
        if !prefix.is_empty() {
            self.field = if self.field.is_empty() {
                prefix.to_string()
            } else if self.field.starts_with('[') {
                format!("{prefix}{}", self.field)
            } else {
                format!("{prefix}.{}", self.field)
            };
        }
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}
