//! Times as people read them: in the viewer's zone, with the exact instant kept in
//! `<time datetime>` for scripts and tests.

use jiff::Timestamp;
use readtrack_domain::time_zone::Zone;

use crate::web::i18n::Lang;

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

/// A delay as people say it: "45 s", "12 min", "2.5 h", "1.5 d" (or in Chinese).
pub fn duration(secs: f64, lang: Lang) -> String {
    let secs = secs.max(0.0);
    let (value, unit) = if secs < 60.0 {
        (secs, 0)
    } else if secs < 3600.0 {
        (secs / 60.0, 1)
    } else if secs < 86_400.0 {
        (secs / 3600.0, 2)
    } else {
        (secs / 86_400.0, 3)
    };
    // One decimal only while it says something: "2.5 h", but "12 min" and "45 s".
    let n = if value < 10.0 && unit > 0 {
        let v = format!("{value:.1}");
        v.strip_suffix(".0").map(String::from).unwrap_or(v)
    } else {
        format!("{value:.0}")
    };
    let unit = match (lang, unit) {
        (Lang::En, 0) => "s",
        (Lang::En, 1) => "min",
        (Lang::En, 2) => "h",
        (Lang::En, _) => "d",
        (Lang::ZhHant, 0) => "秒",
        (Lang::ZhHant, 1) => "分鐘",
        (Lang::ZhHant, 2) => "小時",
        (Lang::ZhHant, _) => "天",
    };
    format!("{n} {unit}")
}

/// A share as a whole percentage: `0.873` is "87%".
pub fn percent(share: f64) -> String {
    format!("{:.0}%", (share * 100.0).clamp(0.0, 100.0))
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

    #[test]
    fn delays_read_as_people_say_them_in_both_languages() {
        assert_eq!(duration(42.4, Lang::En), "42 s");
        assert_eq!(duration(150.0, Lang::En), "2.5 min");
        assert_eq!(duration(720.0, Lang::En), "12 min");
        assert_eq!(duration(7200.0, Lang::En), "2 h");
        assert_eq!(duration(3.0 * 86_400.0, Lang::ZhHant), "3 天");
        assert_eq!(duration(5400.0, Lang::ZhHant), "1.5 小時");
        assert_eq!(percent(0.873), "87%");
    }
}
