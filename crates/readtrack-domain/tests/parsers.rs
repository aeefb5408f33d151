//! Property tests for every parser that turns client input into a domain value: none
//! panics on any input, each error names the field it was asked about, what is accepted
//! is normalised (parsing the result again changes nothing), and what the contract
//! allows is accepted.

use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use readtrack_domain::FieldError;
use readtrack_domain::department::parse_path;
use readtrack_domain::email::Email;
use readtrack_domain::ids::{DepartmentId, MemberId, MessageId};
use readtrack_domain::import::{ImportRowInput, check_rows};
use readtrack_domain::message::parse_timestamp;
use readtrack_domain::receipt::{EventId, ParsedReceipt, ReceiptInput, ReceiptKind};
use readtrack_domain::reminder::{MAX_PLAN_MINUTES, ReminderPlan, ReminderPlanInput};
use readtrack_domain::settings::{format_time_of_day, parse_time_of_day};
use readtrack_domain::time_zone::Zone;

/// Any string, weighted towards the awkward: control characters, separators, long runs.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ \\t\\r\\n\\x00-\\x1f@./:,\"'\\\\a-z0-9-]{0,40}",
        ".{200,400}",
        Just(String::new()),
    ]
}

fn names_field(e: &FieldError, field: &str) -> bool {
    e.field.starts_with(field) && !e.message.is_empty()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn an_email_parser_error_names_its_field_and_accepted_addresses_are_normalised(raw in hostile()) {
        match Email::parse("email", &raw) {
            Err(e) => prop_assert!(names_field(&e, "email"), "{e:?}"),
            Ok(email) => {
                prop_assert_eq!(email.as_str(), raw.trim().to_lowercase());
                prop_assert!(email.as_str().len() <= 254);
                prop_assert_eq!(Email::parse("email", email.as_str()).unwrap(), email);
            }
        }
    }

    #[test]
    fn plausible_email_addresses_are_accepted(
        local in "[a-zA-Z0-9._%+-]{1,30}",
        domain in "[a-z0-9-]{1,20}(\\.[a-z0-9-]{1,10}){0,3}",
    ) {
        let raw = format!(" {local}@{domain} ");
        let email = Email::parse("email", &raw).expect("accepted");
        prop_assert_eq!(email.as_str(), raw.trim().to_lowercase());
    }

    #[test]
    fn ids_accept_exactly_positive_decimal_integers(raw in hostile(), n in 1i64..=i64::MAX) {
        for parse in [
            |f: &str, r: &str| MemberId::parse(f, r).map(|i| i.0),
            |f: &str, r: &str| MessageId::parse(f, r).map(|i| i.0),
            |f: &str, r: &str| DepartmentId::parse(f, r).map(|i| i.0),
        ] {
            prop_assert_eq!(parse("id", &n.to_string()), Ok(n));
            match parse("id", &raw) {
                Ok(v) => {
                    prop_assert!(v > 0);
                    prop_assert_eq!(v.to_string(), raw.clone(), "no sign, no padding, no spaces");
                }
                Err(e) => prop_assert!(names_field(&e, "id")),
            }
        }
        let negative = format!("-{n}");
        let overflowing = format!("{n}0000000000000000000");
        prop_assert!(MemberId::parse("id", "0").is_err());
        prop_assert!(MemberId::parse("id", &negative).is_err());
        prop_assert!(MemberId::parse("id", &overflowing).is_err(), "overflow");
    }

    #[test]
    fn time_zones_are_iana_names_and_their_name_parses_back(raw in hostile()) {
        match Zone::parse("time_zone", &raw) {
            Err(e) => prop_assert!(names_field(&e, "time_zone")),
            Ok(z) => {
                let again = Zone::parse("time_zone", z.name()).expect("its own name parses");
                prop_assert_eq!(again.name(), z.name());
            }
        }
    }

    #[test]
    fn event_ids_are_one_to_128_visible_bytes(raw in hostile(), ok in "[!-~]{1,128}") {
        prop_assert!(EventId::parse("event_id", &ok).is_ok());
        match EventId::parse("event_id", &raw) {
            Ok(id) => {
                prop_assert!(!raw.is_empty() && raw.len() <= 128);
                prop_assert!(!raw.chars().any(|c| c.is_whitespace() || c.is_control()));
                prop_assert_eq!(id.as_str(), raw.as_str());
            }
            Err(e) => {
                prop_assert!(names_field(&e, "event_id"));
                prop_assert_eq!(e.code, "invalid_event_id");
            }
        }
    }

    #[test]
    fn receipt_items_fail_alone_with_the_field_named_and_never_from_the_future(
        event_id in prop::option::of(hostile()),
        message_id in prop::option::of(prop_oneof![hostile(), (1i64..1000).prop_map(|n| n.to_string())]),
        kind in prop::option::of(prop_oneof![hostile(), Just("delivered".to_string()), Just("read".to_string()), Just("ack".to_string())]),
        offset_secs in -86_400i64..86_400,
        at_garbage in prop::option::of(hostile()),
        response in prop::option::of(hostile()),
    ) {
        let now: Timestamp = "2026-12-01T02:00:00Z".parse().unwrap();
        let at = at_garbage.unwrap_or_else(|| (now + SignedDuration::from_secs(offset_secs)).to_string());
        let input = ReceiptInput { event_id, message_id, kind, at: Some(at), device_at: None, response };
        match ParsedReceipt::parse(&input, now) {
            Ok(r) => {
                prop_assert!(r.at <= now + SignedDuration::from_mins(5), "at most five minutes ahead");
                prop_assert_eq!(Some(r.kind.as_str()), input.kind.as_deref());
            }
            Err(e) => prop_assert!(
                ["event_id", "message_id", "kind", "at", "response"].contains(&e.field.as_str()),
                "{e:?}"
            ),
        }
    }

    #[test]
    fn receipt_kinds_are_exactly_three(raw in hostile()) {
        let ok = ReceiptKind::parse("kind", &raw).is_ok();
        prop_assert_eq!(ok, ["delivered", "read", "ack"].contains(&raw.as_str()));
    }

    #[test]
    fn times_of_day_are_hh_mm_and_format_back(raw in hostile(), h in 0i8..24, m in 0i8..60) {
        let text = format!("{h:02}:{m:02}");
        let t = parse_time_of_day("start", &text).expect("a valid time");
        prop_assert_eq!(format_time_of_day(t), text);
        if let Ok(t) = parse_time_of_day("start", &raw) {
            prop_assert_eq!(format_time_of_day(t), raw);
        } else {
            prop_assert!(names_field(&parse_time_of_day("start", &raw).unwrap_err(), "start"));
        }
    }

    #[test]
    fn timestamps_are_rfc3339_and_errors_name_the_field(raw in hostile(), ms in 0i64..4_102_444_800_000) {
        let t = Timestamp::from_millisecond(ms).unwrap();
        prop_assert_eq!(parse_timestamp("at", &t.to_string()), Ok(t));
        if let Err(e) = parse_timestamp("at", &raw) {
            prop_assert!(names_field(&e, "at"));
        }
    }

    #[test]
    fn reminder_plans_accept_only_bounded_minutes_and_known_escalations(
        after in prop::option::of(-10i64..MAX_PLAN_MINUTES + 10),
        every in prop::option::of(-10i64..MAX_PLAN_MINUTES + 10),
        max in prop::option::of(-5i64..50),
        escalate in prop::option::of(-10i64..MAX_PLAN_MINUTES + 10),
        to in prop::option::of(prop::collection::vec(prop_oneof![Just("manager".to_string()), Just("backup".to_string()), hostile()], 0..4)),
        task in prop::option::of(any::<bool>()),
    ) {
        let input = ReminderPlanInput {
            remind_after_minutes: after,
            remind_every_minutes: every,
            max_reminders: max,
            escalate_after_minutes: escalate,
            escalate_to: to.clone(),
            create_task: task,
        };
        match ReminderPlan::parse("reminders", &input) {
            Ok(plan) => {
                prop_assert!(i64::from(plan.remind_after_minutes) <= MAX_PLAN_MINUTES);
                prop_assert!(i64::from(plan.remind_every_minutes) <= MAX_PLAN_MINUTES);
                if let Some(e) = plan.escalate_after_minutes {
                    prop_assert!(i64::from(e) <= MAX_PLAN_MINUTES);
                }
                for name in to.iter().flatten() {
                    prop_assert!(name == "manager" || name == "backup", "{name:?} accepted");
                }
            }
            Err(e) => prop_assert!(e.field.starts_with("reminders"), "{e:?}"),
        }
    }

    #[test]
    fn department_paths_have_no_empty_parts_and_at_most_16_levels(raw in hostile(), parts in prop::collection::vec("[A-Za-z][A-Za-z ]{0,10}[A-Za-z]", 1..20)) {
        let joined = parts.join("/");
        match parse_path("department", &joined) {
            Ok(p) => {
                prop_assert!(parts.len() <= 16);
                prop_assert_eq!(p, parts.iter().map(|s| s.trim().to_string()).collect::<Vec<_>>());
            }
            Err(e) => {
                prop_assert!(parts.len() > 16);
                prop_assert!(names_field(&e, "department"));
            }
        }
        if let Ok(p) = parse_path("department", &raw) {
            prop_assert!(!p.is_empty() && p.len() <= 16);
            prop_assert!(p.iter().all(|s| !s.is_empty()));
        }
    }

    #[test]
    fn import_rows_report_only_their_own_line_numbers(
        rows in prop::collection::vec(
            (hostile(), prop_oneof![hostile(), "[a-e]{1,3}@x\\.example"], prop_oneof![hostile(), Just("Retail/Kowloon".to_string())],
             prop_oneof![Just(String::new()), "[a-e]{1,3}@x\\.example", hostile()],
             prop_oneof![Just(String::new()), hostile()],
             prop_oneof![Just(String::new()), Just("member".to_string()), Just("admin".to_string()), hostile()]),
            0..12,
        ),
    ) {
        let input: Vec<ImportRowInput> = rows
            .into_iter()
            .enumerate()
            .map(|(i, (name, email, department, manager_email, backup_email, role))| ImportRowInput {
                line: i as u64 + 2,
                name,
                email,
                department,
                manager_email,
                backup_email,
                role,
                phone: None,
                external_id: None,
            })
            .collect();
        let lines: HashSet<u64> = input.iter().map(|r| r.line).collect();
        match check_rows(&input, &HashSet::new()) {
            Ok(checked) => {
                prop_assert_eq!(checked.len(), input.len(), "every row or an error");
                let emails: HashSet<&Email> = checked.iter().map(|r| &r.email).collect();
                prop_assert_eq!(emails.len(), checked.len(), "no address twice");
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in errors {
                    prop_assert!(lines.contains(&e.line), "line {} is not one of the file's", e.line);
                    prop_assert!(!e.message.is_empty());
                }
            }
        }
    }
}
