//! Times as people read them: in the viewer's zone, with the exact instant kept in
//! `<time datetime>` for scripts and tests.

use jiff::Timestamp;
use readtrack_domain::time_zone::Zone;

/// A time on a page: what to show and the RFC 3339 instant behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownTime {
    /// RFC 3339 in UTC, for `<time datetime>`.
    pub iso: String,
    /// Local date and time in the viewer's zone.
    pub local: String,
}

/// `2026-11-28 17:03` in `zone`.
pub fn minutes(t: Timestamp, zone: &Zone) -> ShownTime {
    ShownTime {
        iso: t.to_string(),
        local: zone
            .tz()
            .to_datetime(t)
            .strftime("%Y-%m-%d %H:%M")
            .to_string(),
    }
}

/// `2026-11-28 17:03:09` in `zone`: the board shows reads to the second.
pub fn seconds(t: Timestamp, zone: &Zone) -> ShownTime {
    ShownTime {
        iso: t.to_string(),
        local: zone
            .tz()
            .to_datetime(t)
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
    }
}

/// An RFC 3339 string from the wire, shown to the second; unparseable input is shown as is.
pub fn seconds_of(raw: &str, zone: &Zone) -> ShownTime {
    match raw.parse::<Timestamp>() {
        Ok(t) => seconds(t, zone),
        Err(_) => ShownTime {
            iso: raw.to_string(),
            local: raw.to_string(),
        },
    }
}

/// A `datetime-local` input's value (`2026-11-28T17:03`) read in `zone`, as an instant.
pub fn parse_local_input(raw: &str, zone: &Zone) -> Option<Timestamp> {
    let dt: jiff::civil::DateTime = raw.trim().parse().ok()?;
    dt.to_zoned_datetime(zone.tz().clone())
        .ok()
        .map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_the_viewers_zone_and_keep_the_instant() {
        let hk = Zone::parse("tz", "Asia/Hong_Kong").unwrap();
        let t: Timestamp = "2026-11-28T09:00:05Z".parse().unwrap();
        assert_eq!(minutes(t, &hk).local, "2026-11-28 17:00");
        assert_eq!(seconds(t, &hk).local, "2026-11-28 17:00:05");
        assert_eq!(seconds(t, &hk).iso, "2026-11-28T09:00:05Z");
        assert_eq!(
            parse_local_input("2026-11-28T17:00", &hk),
            "2026-11-28T09:00:00Z".parse().ok()
        );
    }
}
