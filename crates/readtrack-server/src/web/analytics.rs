//! Analytics for administrators, auditors and managers (their own department subtree):
//! time to read per department as a bar chart, read rate over time as a line chart,
//! lagging departments first, and a before/after comparison of two periods (a pilot).
//! Groups below the minimum group size show "fewer than k people" and no figures.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use jiff::civil::Date;
use readtrack_domain::member::Role;
use readtrack_domain::time_zone::Zone;
use readtrack_service::ServiceError;
use readtrack_service::privacy::PeriodFigures;
use serde::Deserialize;

use crate::state::ServerState;
use crate::web::charts::{self, ChartWords, Described, TimeToReadBar};
use crate::web::chrome::{Chrome, error_page, render};
use crate::web::format::{duration, percent};
use crate::web::i18n::{Lang, Tr};
use crate::web::session::Viewer;

/// The period shown when none is asked for: the last 30 days.
const DEFAULT_DAYS: i64 = 30;

/// The period and the comparison, as `YYYY-MM-DD` days in the viewer's zone (both ends
/// included).
#[derive(Debug, Deserialize, Default)]
pub struct AnalyticsQuery {
    /// First day.
    pub from: Option<String>,
    /// Last day.
    pub to: Option<String>,
    /// First day before the change.
    pub before_from: Option<String>,
    /// Last day before the change.
    pub before_to: Option<String>,
    /// First day after the change.
    pub after_from: Option<String>,
    /// Last day after the change.
    pub after_to: Option<String>,
}

/// A department's line of the table.
#[derive(Debug, Clone)]
pub struct DeptRow {
    /// Name.
    pub name: String,
    /// Too few people: no figures.
    pub suppressed: bool,
    /// Notices.
    pub messages: u64,
    /// Recipients (person × notice).
    pub recipients: u64,
    /// Read rate.
    pub read_rate: String,
    /// Confirmation rate.
    pub ack_rate: String,
    /// Median time to read.
    pub p50: String,
    /// 90th percentile time to read.
    pub p90: String,
    /// Reminders sent.
    pub reminders: u64,
    /// Escalations.
    pub escalations: u64,
}

/// A day's line of the timeline table.
#[derive(Debug, Clone)]
pub struct DayRow {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Too few people: no figures.
    pub suppressed: bool,
    /// Recipients of that day's notices.
    pub recipients: u64,
    /// Of them, read.
    pub read: u64,
    /// Read rate.
    pub rate: String,
}

/// One measure of the before/after comparison.
#[derive(Debug, Clone)]
pub struct CompareRow {
    /// What is measured.
    pub label: &'static str,
    /// Before.
    pub before: String,
    /// After.
    pub after: String,
    /// The change, with its sign.
    pub change: String,
    /// `good`, `bad` or empty: whether the change is an improvement.
    pub verdict: &'static str,
}

/// The comparison's result.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Measures.
    pub rows: Vec<CompareRow>,
    /// Notices in each period.
    pub messages: (u64, u64),
    /// A period with too few people.
    pub suppressed: bool,
}

#[derive(Template)]
#[template(path = "analytics.html")]
struct AnalyticsPage {
    ctx: Chrome,
    t: &'static Tr,
    k: u32,
    scoped: bool,
    from: String,
    to: String,
    period_error: Option<String>,
    departments: Vec<DeptRow>,
    lagging: Option<String>,
    ttr_svg: String,
    days: Vec<DayRow>,
    rate_svg: String,
    before_from: String,
    before_to: String,
    after_from: String,
    after_to: String,
    compare_error: Option<String>,
    comparison: Option<Comparison>,
}

/// A day typed into a date field.
fn parse_day(raw: &str) -> Option<Date> {
    raw.trim().parse::<Date>().ok()
}

/// The instant a day starts in `zone`.
fn start_of(day: Date, zone: &Zone) -> Option<Timestamp> {
    day.to_zoned_datetime(zone.tz().clone())
        .ok()
        .map(|z| z.timestamp())
}

/// `[start of first, start of the day after last)` in `zone`, or why not.
fn period(first: Date, last: Date, zone: &Zone, t: &Tr) -> Result<(Timestamp, Timestamp), String> {
    if last < first {
        return Err(t.period_backwards.to_string());
    }
    let after_last = last.tomorrow().map_err(|_| t.bad_date.to_string())?;
    match (start_of(first, zone), start_of(after_last, zone)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(t.bad_date.to_string()),
    }
}

fn day_or(raw: Option<&str>, default: Date) -> (String, Option<Date>) {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => (r.to_string(), parse_day(r)),
        None => (default.to_string(), Some(default)),
    }
}

fn rate(x: Option<f64>) -> String {
    x.map(percent).unwrap_or_else(|| "–".into())
}

fn compare_rows(b: &PeriodFigures, a: &PeriodFigures, lang: Lang) -> Vec<CompareRow> {
    let t = lang.tr();
    let secs = |x: Option<f64>| x.map(|s| duration(s, lang)).unwrap_or_else(|| "–".into());
    let signed_secs = |d: f64| {
        let sign = if d < 0.0 { "−" } else { "+" };
        format!("{sign}{}", duration(d.abs(), lang))
    };
    // Lower is better for every measure here: faster reads, fewer reminders, fewer unread.
    let verdict = |d: f64| {
        if d < 0.0 {
            "good"
        } else if d > 0.0 {
            "bad"
        } else {
            ""
        }
    };
    let time_row = |label, x: Option<f64>, y: Option<f64>| {
        let d = x.zip(y).map(|(x, y)| y - x);
        CompareRow {
            label,
            before: secs(x),
            after: secs(y),
            change: d.map(signed_secs).unwrap_or_else(|| "–".into()),
            verdict: d.map(verdict).unwrap_or(""),
        }
    };
    let reminders = b.reminders_per_message.zip(a.reminders_per_message);
    let unread = b.unread_at_deadline_rate.zip(a.unread_at_deadline_rate);
    let two = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into());
    vec![
        time_row(
            t.median_time_to_read,
            b.median_time_to_read_secs,
            a.median_time_to_read_secs,
        ),
        time_row(
            t.median_time_to_ack,
            b.median_time_to_ack_secs,
            a.median_time_to_ack_secs,
        ),
        CompareRow {
            label: t.reminders_per_notice,
            before: two(b.reminders_per_message),
            after: two(a.reminders_per_message),
            change: reminders
                .map(|(x, y)| format!("{:+.2}", y - x))
                .unwrap_or_else(|| "–".into()),
            verdict: reminders.map(|(x, y)| verdict(y - x)).unwrap_or(""),
        },
        CompareRow {
            label: t.unread_at_deadline,
            before: rate(b.unread_at_deadline_rate),
            after: rate(a.unread_at_deadline_rate),
            change: unread
                .map(|(x, y)| format!("{:+.0} pp", (y - x) * 100.0))
                .unwrap_or_else(|| "–".into()),
            verdict: unread.map(|(x, y)| verdict(y - x)).unwrap_or(""),
        },
    ]
}

/// `GET /analytics`.
pub async fn analytics(
    State(s): State<ServerState>,
    v: Viewer,
    Query(q): Query<AnalyticsQuery>,
) -> Response {
    let t = v.t();
    let lang = v.lang;
    let k = v.org.settings.min_group_size;
    let today = v.zone.tz().to_datetime(s.app.clock().now()).date();
    let days_ago = |n: i64| {
        today
            .checked_sub(jiff::Span::new().days(n))
            .unwrap_or(today)
    };

    // The period of the charts.
    let (from_raw, from_day) = day_or(q.from.as_deref(), days_ago(DEFAULT_DAYS - 1));
    let (to_raw, to_day) = day_or(q.to.as_deref(), today);
    let mut period_error = None;
    let span = match (from_day, to_day) {
        (Some(f), Some(l)) => match period(f, l, &v.zone, t) {
            Ok(p) => Some((f, l, p)),
            Err(e) => {
                period_error = Some(e);
                None
            }
        },
        _ => {
            period_error = Some(t.bad_date.to_string());
            None
        }
    };
    // Without a usable period the page still explains itself, with the default one.
    let (first_day, last_day, (from, to)) = match span {
        Some(x) => x,
        None => {
            let f = days_ago(DEFAULT_DAYS - 1);
            match period(f, today, &v.zone, t) {
                Ok(p) => (f, today, p),
                Err(e) => return error_page(lang, ServiceError::internal(e).into()),
            }
        }
    };

    let figures = match s
        .app
        .department_analytics(&v.caller, Some(&from.to_string()), Some(&to.to_string()))
        .await
    {
        Ok(f) => f,
        Err(e) => return error_page(lang, e.into()),
    };
    let timeline = match s.app.read_rate_timeline(&v.caller, from, to).await {
        Ok(d) => d,
        Err(ServiceError::Invalid(f)) => {
            period_error = Some(f.message);
            Vec::new()
        }
        Err(e) => return error_page(lang, e.into()),
    };

    let suppressed_words = format!("{} {k} {}", t.fewer_than, t.people_suffix);
    let dur = |s: f64| duration(s, lang);
    let words = ChartWords {
        axis_time: t.time_to_read,
        axis_rate: t.read_rate,
        suppressed: &suppressed_words,
        no_reads: t.no_reads_yet,
        duration: &dur,
    };

    let departments: Vec<DeptRow> = figures
        .iter()
        .map(|f| {
            let st = &f.stats;
            DeptRow {
                name: f.name.clone(),
                suppressed: f.suppressed,
                messages: f.messages,
                recipients: f.recipients,
                read_rate: rate(st.read_rate()),
                ack_rate: rate(st.ack_rate()),
                p50: st
                    .read_delays
                    .quantile(0.5)
                    .map(dur)
                    .unwrap_or_else(|| "–".into()),
                p90: st
                    .read_delays
                    .quantile(0.9)
                    .map(dur)
                    .unwrap_or_else(|| "–".into()),
                reminders: st.reminders,
                escalations: st.escalations,
            }
        })
        .collect();
    let bars: Vec<TimeToReadBar> = figures
        .iter()
        .map(|f| TimeToReadBar {
            name: f.name.clone(),
            p50: (!f.suppressed)
                .then(|| f.stats.read_delays.quantile(0.5))
                .flatten(),
            p90: (!f.suppressed)
                .then(|| f.stats.read_delays.quantile(0.9))
                .flatten(),
            suppressed: f.suppressed,
        })
        .collect();
    let lagging = figures
        .iter()
        .find(|f| !f.suppressed && f.stats.read_rate().is_some())
        .map(|f| f.name.clone());
    let ttr_desc = match &lagging {
        Some(name) => format!("{} {name}", t.chart_ttr_desc),
        None => t.no_figures.to_string(),
    };
    let ttr_svg = if bars.is_empty() {
        String::new()
    } else {
        charts::time_to_read(
            &bars,
            &words,
            &Described {
                id: "chart-time-to-read",
                title: t.chart_ttr_title,
                desc: &ttr_desc,
            },
        )
    };

    let days: Vec<DayRow> = timeline
        .iter()
        .map(|d| DayRow {
            day: d.day.to_string(),
            suppressed: d.suppressed,
            recipients: d.recipients,
            read: d.read,
            rate: rate(d.read_rate()),
        })
        .collect();
    let points: Vec<(i64, f64)> = timeline
        .iter()
        .filter_map(|d| {
            let offset = (d.day - first_day).get_days();
            d.read_rate().map(|r| (i64::from(offset), r))
        })
        .collect();
    let span_days = i64::from((last_day - first_day).get_days());
    let rate_desc = match (points.first(), points.last()) {
        (Some(a), Some(b)) => format!("{} {} → {}", t.chart_rate_desc, percent(a.1), percent(b.1)),
        _ => t.no_figures.to_string(),
    };
    let rate_svg = if points.is_empty() {
        String::new()
    } else {
        charts::read_rate(
            first_day,
            &points,
            span_days,
            &words,
            &Described {
                id: "chart-read-rate",
                title: t.chart_rate_title,
                desc: &rate_desc,
            },
        )
    };

    // The comparison, once asked for; the form starts with the 30 days before the last 30.
    let asked = q.before_from.is_some() || q.after_from.is_some();
    let (before_from, bf) = day_or(q.before_from.as_deref(), days_ago(2 * DEFAULT_DAYS - 1));
    let (before_to, bt) = day_or(q.before_to.as_deref(), days_ago(DEFAULT_DAYS));
    let (after_from, af) = day_or(q.after_from.as_deref(), days_ago(DEFAULT_DAYS - 1));
    let (after_to, at) = day_or(q.after_to.as_deref(), today);
    let mut compare_error = None;
    let mut comparison = None;
    if asked {
        let periods = match (bf, bt, af, at) {
            (Some(bf), Some(bt), Some(af), Some(at)) => {
                period(bf, bt, &v.zone, t).and_then(|b| period(af, at, &v.zone, t).map(|a| (b, a)))
            }
            _ => Err(t.bad_date.to_string()),
        };
        match periods {
            Ok((b, a)) => {
                let (b0, b1, a0, a1) = (
                    b.0.to_string(),
                    b.1.to_string(),
                    a.0.to_string(),
                    a.1.to_string(),
                );
                match s
                    .app
                    .compare_periods(
                        &v.caller,
                        (Some(b0.as_str()), Some(b1.as_str())),
                        (Some(a0.as_str()), Some(a1.as_str())),
                    )
                    .await
                {
                    Ok((b, a)) => {
                        comparison = Some(Comparison {
                            rows: compare_rows(&b, &a, lang),
                            messages: (b.messages, a.messages),
                            suppressed: b.suppressed || a.suppressed,
                        })
                    }
                    Err(ServiceError::Invalid(f)) => compare_error = Some(f.message),
                    Err(e) => return error_page(lang, e.into()),
                }
            }
            Err(e) => compare_error = Some(e),
        }
    }

    let page = AnalyticsPage {
        ctx: Chrome::for_viewer(&v, "/analytics"),
        t,
        k,
        scoped: !matches!(v.caller.member.role, Role::Admin | Role::Auditor),
        from: from_raw,
        to: to_raw,
        period_error,
        departments,
        lagging,
        ttr_svg,
        days,
        rate_svg,
        before_from,
        before_to,
        after_from,
        after_to,
        compare_error,
        comparison,
    };
    render(StatusCode::OK, &page)
}
