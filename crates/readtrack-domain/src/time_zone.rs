//! IANA time zones, as chosen by an organisation or a member.

use std::fmt;

use jiff::tz::TimeZone;

use crate::FieldError;

/// A valid IANA time zone name (`Asia/Hong_Kong`) with the zone it names.
#[derive(Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    /// Parses an IANA name, naming `field` in the error. Names are looked up in the time
    /// zone database bundled with the binary, so results do not depend on the host.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(FieldError::invalid(
                field,
                format!("`{field}` must be an IANA time zone name such as \"Asia/Hong_Kong\""),
            ));
        }
        match TimeZone::get(name) {
            Ok(tz) => Ok(Self {
                name: tz.iana_name().unwrap_or(name).to_string(),
                tz,
            }),
            Err(_) => Err(FieldError::with_code(
                field,
                "unknown_time_zone",
                format!(
                    "`{field}` names an unknown time zone {name:?}; use an IANA name such as \"Asia/Hong_Kong\" or \"Europe/London\""
                ),
            )),
        }
    }

    /// UTC, the zone of last resort.
    pub fn utc() -> Self {
        Self {
            name: "UTC".into(),
            tz: TimeZone::UTC,
        }
    }

    /// The IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone, for civil-time arithmetic.
    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({})", self.name)
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_zones_parse_and_unknown_ones_are_refused() {
        assert_eq!(
            Zone::parse("time_zone", "Asia/Hong_Kong").unwrap().name(),
            "Asia/Hong_Kong"
        );
        let err = Zone::parse("time_zone", "Mars/Olympus_Mons").unwrap_err();
        assert_eq!(err.code, "unknown_time_zone");
        assert_eq!(err.field, "time_zone");
    }
}
