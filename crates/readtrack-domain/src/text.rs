//! Bounded, trimmed text fields: names, titles, bodies, labels.

use crate::FieldError;

/// Trims `raw` and checks it holds between `min` and `max` characters and no control
/// characters other than newlines and tabs (when `multiline`).
pub fn bounded(
    field: &str,
    raw: &str,
    min: usize,
    max: usize,
    multiline: bool,
) -> Result<String, FieldError> {
    let value = raw.trim();
    let chars = value.chars().count();
    if chars < min {
        return Err(FieldError::invalid(
            field,
            if min == 1 {
                format!("`{field}` must not be empty")
            } else {
                format!("`{field}` must have at least {min} characters")
            },
        ));
    }
    if chars > max {
        return Err(FieldError::invalid(
            field,
            format!("`{field}` must have at most {max} characters, got {chars}"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t' || c == '\r')))
    {
        return Err(FieldError::invalid(
            field,
            format!("`{field}` must not contain control characters"),
        ));
    }
    Ok(value.to_string())
}

/// A person's or department's display name: 1 to 120 characters on one line.
pub fn name(field: &str, raw: &str) -> Result<String, FieldError> {
    bounded(field, raw, 1, 120, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  Chan Tai Man ").unwrap(), "Chan Tai Man");
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"x".repeat(121)).is_err());
        assert!(name("name", "a\nb").is_err());
        assert_eq!(name("name", "陳大文").unwrap(), "陳大文");
    }
}
