//! Typed identifiers. On the wire every id is an opaque string; inside, a positive integer.

use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub i64);

        impl $name {
            /// Parses the wire form, naming `field` in the error.
            pub fn parse(field: &str, raw: &str) -> Result<Self, crate::FieldError> {
                raw.parse().map_err(|_| {
                    crate::FieldError::invalid(
                        field,
                        format!(concat!("`{}` must be ", $what, " id (a string such as \"12\"), got {:?}"), field, raw),
                    )
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(());
                }
                match s.parse::<i64>() {
                    Ok(n) if n > 0 => Ok(Self(n)),
                    _ => Err(()),
                }
            }
        }
    };
}

id_type!(
    /// An organisation.
    OrgId,
    "an organisation"
);
id_type!(
    /// A member of an organisation.
    MemberId,
    "a member"
);
id_type!(
    /// A department in an organisation's tree.
    DepartmentId,
    "a department"
);
id_type!(
    /// A message (a notice).
    MessageId,
    "a message"
);
id_type!(
    /// An API or session token's record (never the secret itself).
    TokenId,
    "a token"
);
id_type!(
    /// A task created for a recipient.
    TaskId,
    "a task"
);
id_type!(
    /// An outgoing webhook subscription.
    WebhookId,
    "a webhook"
);
id_type!(
    /// A pulse survey.
    SurveyId,
    "a survey"
);

/// A position in an organisation's append-only event sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Seq(pub i64);

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_positive_decimal_strings() {
        assert_eq!("12".parse::<MemberId>(), Ok(MemberId(12)));
        for bad in ["", "0", "-1", "1.5", " 1", "abc", "99999999999999999999"] {
            assert!(bad.parse::<MemberId>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn id_errors_name_the_field() {
        let err = DepartmentId::parse("department_id", "x").unwrap_err();
        assert_eq!(err.field, "department_id");
        assert!(err.message.contains("department_id"));
    }
}
