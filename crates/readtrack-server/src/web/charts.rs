//! The analytics charts, drawn on the server as SVG with plotters and put inline in the
//! page, so they read without JavaScript and scale with the page.
//!
//! plotters' SVG backend writes labels as `<text>` elements (escaping what it writes) and
//! needs no font files; the page's stylesheet gives those elements the page's own font.
//! Every chart also has a `<title>` and `<desc>` for screen readers, and the page puts
//! the same figures in a table beside it.

use jiff::civil::Date;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Chart width in SVG units; the page scales the chart to its column.
const WIDTH: u32 = 900;
/// Bar chart rows: this many units each.
const ROW: u32 = 38;
/// Brand blue: the median bar and the line.
const STRONG: RGBColor = RGBColor(10, 88, 173);
/// Light blue: the 90th-percentile bar behind the median.
const LIGHT: RGBColor = RGBColor(156, 193, 234);
/// Body text.
const INK: RGBColor = RGBColor(26, 34, 48);
/// Secondary text, 4.6:1 on white.
const MUTED: RGBColor = RGBColor(86, 97, 115);
/// Grid lines.
const GRID: RGBColor = RGBColor(226, 230, 237);
/// The font family written into the SVG; the stylesheet overrides it with the page's.
const FONT: &str = "sans-serif";

/// The unit a time axis counts in, in seconds, so that plotters' round ticks (1, 2, 5,
/// 10, ...) fall on round times: seconds, minutes, hours or days.
fn axis_unit(longest_secs: f64) -> f64 {
    match longest_secs {
        s if s < 120.0 => 1.0,
        s if s < 2.0 * 3600.0 => 60.0,
        s if s < 2.0 * 86_400.0 => 3600.0,
        _ => 86_400.0,
    }
}

/// One department's bar: its median and 90th-percentile time to read.
#[derive(Debug, Clone)]
pub struct TimeToReadBar {
    /// Department name.
    pub name: String,
    /// Median seconds, when shown.
    pub p50: Option<f64>,
    /// 90th-percentile seconds, when shown.
    pub p90: Option<f64>,
    /// Too few people: drawn as a note instead of a bar.
    pub suppressed: bool,
}

/// What a chart says about itself, for screen readers.
pub struct Described<'a> {
    /// The `id` of the `<svg>`.
    pub id: &'a str,
    /// `<title>`.
    pub title: &'a str,
    /// `<desc>`: the chart's message in a sentence.
    pub desc: &'a str,
}

/// Labels a chart needs in the viewer's language.
pub struct ChartWords<'a> {
    /// "Time to read".
    pub axis_time: &'a str,
    /// "Read rate".
    pub axis_rate: &'a str,
    /// "fewer than 5 people".
    pub suppressed: &'a str,
    /// "no reads yet", for a department whose recipients have not read.
    pub no_reads: &'a str,
    /// Formats seconds ("12 min").
    pub duration: &'a (dyn Fn(f64) -> String + Sync),
}

/// Names longer than this are cut in the chart (the table beside it has them whole).
const NAME_CHARS: usize = 20;

fn short(name: &str) -> String {
    if name.chars().count() <= NAME_CHARS {
        name.to_string()
    } else {
        let mut s: String = name.chars().take(NAME_CHARS - 1).collect();
        s.push('…');
        s
    }
}

/// Horizontal bars, one row per department in the order given (lagging first, at the
/// top): a light bar to the 90th percentile with the median's darker bar over it, and
/// the two figures written after them. Suppressed departments get a note, not a bar.
pub fn time_to_read(rows: &[TimeToReadBar], words: &ChartWords, about: &Described) -> String {
    let n = rows.len().max(1) as i32;
    let height = 70 + ROW * n as u32;
    let longest = rows
        .iter()
        .filter(|r| !r.suppressed)
        .filter_map(|r| r.p90.or(r.p50))
        .fold(0.0f64, f64::max);
    // Room to the right of the longest bar for its figures.
    let x_max_secs = if longest > 0.0 { longest * 1.45 } else { 60.0 };
    let unit = axis_unit(x_max_secs);
    let x_max = x_max_secs / unit;
    let mut svg = String::new();
    let drawn = guarded(|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(20)
            .x_label_area_size(44)
            .y_label_area_size(170)
            // An i32 range counts both its ends: `0..n - 1` is n segments, one per row.
            .build_cartesian_2d(0f64..x_max, (0..n - 1).into_segmented())?;
        // Row j from the top is segment n-1-j, since the y axis grows upwards.
        let row_of = |j: usize| n - 1 - j as i32;
        let name_of = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) => rows
                .get((n - 1 - i) as usize)
                .map(|r| short(&r.name))
                .unwrap_or_default(),
            _ => String::new(),
        };
        let duration = words.duration;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n as usize)
            .y_label_formatter(&name_of)
            .x_labels(6)
            .x_label_formatter(&|v| duration(v * unit))
            .x_desc(words.axis_time)
            .label_style((FONT, 15).into_font().color(&INK))
            .axis_desc_style((FONT, 15).into_font().color(&MUTED))
            .axis_style(MUTED)
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .draw()?;
        let shown = || rows.iter().enumerate().filter(|(_, r)| !r.suppressed);
        chart.draw_series(
            Histogram::horizontal(&chart)
                .style(LIGHT.filled())
                .margin(8)
                .data(shown().filter_map(|(j, r)| r.p90.map(|v| (row_of(j), v / unit)))),
        )?;
        chart.draw_series(
            Histogram::horizontal(&chart)
                .style(STRONG.filled())
                .margin(13)
                .data(shown().filter_map(|(j, r)| r.p50.map(|v| (row_of(j), v / unit)))),
        )?;
        let figure_style = (FONT, 14)
            .into_font()
            .color(&INK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        chart.draw_series(rows.iter().enumerate().map(|(j, r)| {
            let note = if r.suppressed {
                Some(words.suppressed)
            } else if r.p50.is_none() && r.p90.is_none() {
                Some(words.no_reads)
            } else {
                None
            };
            let (x, text, style) = if let Some(note) = note {
                (
                    0.0,
                    note.to_string(),
                    (FONT, 14)
                        .into_font()
                        .style(FontStyle::Italic)
                        .color(&MUTED)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                )
            } else {
                let p50 = r.p50.map(duration).unwrap_or_else(|| "–".into());
                let p90 = r.p90.map(duration).unwrap_or_else(|| "–".into());
                (
                    r.p90.or(r.p50).unwrap_or(0.0) / unit,
                    format!("{p50} · {p90}"),
                    figure_style.clone(),
                )
            };
            EmptyElement::at((x, SegmentValue::CenterOf(row_of(j))))
                + Text::new(text, (8, 0), style)
        }))?;
        root.present()?;
        Ok(())
    });
    finish(svg, drawn, about)
}

/// A line through each day's read rate (0–100 %), with a dot on every day that has one.
/// `days` are (days after `start`, read rate); the axis counts `span_days` from `start`.
pub fn read_rate(
    start: Date,
    days: &[(i64, f64)],
    span_days: i64,
    words: &ChartWords,
    about: &Described,
) -> String {
    let span = span_days.max(1);
    let mut svg = String::new();
    let drawn = guarded(|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0i64..span, 0f64..100f64)?;
        let label_of = |d: &i64| {
            start
                .checked_add(jiff::Span::new().days(*d))
                .map(|day| format!("{:02}-{:02}", day.month(), day.day()))
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .x_labels(8.min(span as usize + 1))
            .x_label_formatter(&label_of)
            .y_labels(6)
            .y_label_formatter(&|v| format!("{v:.0}%"))
            .y_desc(words.axis_rate)
            .label_style((FONT, 15).into_font().color(&INK))
            .axis_desc_style((FONT, 15).into_font().color(&MUTED))
            .axis_style(MUTED)
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .draw()?;
        let points = || days.iter().map(|(d, r)| (*d, r * 100.0));
        chart.draw_series(LineSeries::new(points(), STRONG.stroke_width(3)))?;
        chart.draw_series(points().map(|p| Circle::new(p, 5, STRONG.filled())))?;
        root.present()?;
        Ok(())
    });
    finish(svg, drawn, about)
}

/// Runs a drawing, turning a panic inside plotters (it has a few on edge cases of its
/// axis arithmetic) into a failed chart: the page then shows its table alone.
fn guarded<E>(draw: impl FnOnce() -> Result<(), E>) -> bool {
    matches!(
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(draw)),
        Ok(Ok(()))
    )
}

/// Makes plotters' document an inline, scalable, described element: the fixed
/// width and height give way to the viewBox, and a title and description come first.
fn finish(svg: String, drawn: bool, about: &Described) -> String {
    if !drawn {
        tracing::error!(chart = about.id, "a chart could not be drawn");
        return String::new();
    }
    let Some(open_end) = svg.find('>') else {
        return String::new();
    };
    let opening = &svg[..open_end];
    let view_box = opening
        .split("viewBox=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .unwrap_or("0 0 900 320");
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    format!(
        "<svg class=\"chart\" id=\"{id}\" viewBox=\"{view_box}\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\">\
         <title id=\"{id}-title\">{title}</title><desc id=\"{id}-desc\">{desc}</desc>{rest}",
        id = esc(about.id),
        title = esc(about.title),
        desc = esc(about.desc),
        rest = &svg[open_end + 1..],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words() -> ChartWords<'static> {
        ChartWords {
            axis_time: "Time to read",
            axis_rate: "Read rate",
            suppressed: "fewer than 5 people",
            no_reads: "no reads yet",
            duration: &|s| format!("{s:.0} s"),
        }
    }

    #[test]
    fn the_bar_chart_draws_a_bar_per_shown_department_and_a_note_for_a_small_one() {
        let rows = vec![
            TimeToReadBar {
                name: "Mong Kok <store>".into(),
                p50: Some(300.0),
                p90: Some(900.0),
                suppressed: false,
            },
            TimeToReadBar {
                name: "Compliance".into(),
                p50: None,
                p90: None,
                suppressed: true,
            },
        ];
        let about = Described {
            id: "ttr",
            title: "Time to read",
            desc: "Mong Kok is slowest",
        };
        let svg = time_to_read(&rows, &words(), &about);
        if let Ok(dir) = std::env::var("READTRACK_CHART_DUMP") {
            let _ = std::fs::write(format!("{dir}/ttr.svg"), &svg);
        }
        assert!(svg.starts_with("<svg class=\"chart\" id=\"ttr\""), "{svg}");
        let opening = &svg[..svg.find('>').unwrap()];
        assert!(
            !opening.contains("width="),
            "the chart scales with the page"
        );
        assert!(svg.contains("<title id=\"ttr-title\">Time to read</title>"));
        assert!(svg.contains("Mong Kok &lt;store&gt;"), "names are escaped");
        assert!(svg.contains("fewer than 5 people"));
        assert!(svg.contains("300 s · 900 s"));
        assert!(!svg.contains("<script"));
        assert!(
            svg.matches("<rect").count() >= 3,
            "a background and two bars: {svg}"
        );
    }

    #[test]
    fn time_axes_count_in_a_unit_that_makes_their_ticks_round() {
        assert_eq!(axis_unit(50.0), 1.0);
        assert_eq!(axis_unit(2900.0), 60.0);
        assert_eq!(axis_unit(5.0 * 3600.0), 3600.0);
        assert_eq!(axis_unit(9.0 * 86_400.0), 86_400.0);
    }

    #[test]
    fn the_line_chart_draws_a_line_and_a_dot_per_day() {
        let days = vec![(0, 0.5), (2, 0.75), (5, 0.9)];
        let about = Described {
            id: "rate",
            title: "Read rate",
            desc: "rising",
        };
        let svg = read_rate(jiff::civil::date(2026, 11, 3), &days, 6, &words(), &about);
        if let Ok(dir) = std::env::var("READTRACK_CHART_DUMP") {
            let _ = std::fs::write(format!("{dir}/rate.svg"), &svg);
        }
        assert!(svg.contains("<polyline"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("11-05"), "days are labelled by date: {svg}");
        assert!(svg.contains("100%"));
    }
}
