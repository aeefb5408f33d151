//! Small helpers for people-facing output: local times, bars, JSON.

use std::io::Write;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(())
}

/// Prints text on stdout.
pub fn text(s: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    if !s.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// An RFC 3339 time in this computer's time zone, to the minute, with the zone's
/// abbreviation (or offset) so nobody takes it for another zone's time; unparsable times
/// are shown as they are.
pub fn local_time(rfc3339: &str) -> String {
    format_local(rfc3339, "%Y-%m-%d %H:%M %Z")
}

/// Like [`local_time`], to the second.
pub fn local_time_secs(rfc3339: &str) -> String {
    format_local(rfc3339, "%Y-%m-%d %H:%M:%S %Z")
}

fn format_local(rfc3339: &str, pattern: &str) -> String {
    match rfc3339.parse::<Timestamp>() {
        Ok(t) => t
            .to_zoned_datetime(TimeZone::system())
            .strftime(pattern)
            .to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// A `width`-cell bar filled to `part / whole`.
pub fn bar(part: i64, whole: i64, width: usize) -> String {
    let filled = if whole <= 0 {
        0
    } else {
        ((part.clamp(0, whole) as f64 / whole as f64) * width as f64).round() as usize
    };
    format!(
        "{}{}",
        "█".repeat(filled),
        "░".repeat(width - filled.min(width))
    )
}

/// `part / whole` in whole percent.
pub fn percent(part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        0
    } else {
        (part.clamp(0, whole) * 100 + whole / 2) / whole
    }
}

/// `s` cut to `max` characters, with an ellipsis when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_in_proportion_and_survive_empty_notices() {
        assert_eq!(bar(1, 2, 4), "██░░");
        assert_eq!(bar(0, 0, 3), "░░░");
        assert_eq!(bar(5, 2, 2), "██");
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(0, 0), 0);
    }

    #[test]
    fn long_text_is_clipped_with_an_ellipsis() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
