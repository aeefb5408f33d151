//! The storage suite: every test runs against SQLite and, when `READTRACK_TEST_POSTGRES`
//! names a server, against a fresh PostgreSQL database of its own (`sqlite::…` and
//! `postgres::…`). It drives the `Storage` trait directly, so both backends are held to
//! one contract, concurrency included.

#[macro_use]
mod harness;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use harness::*;
use jiff::SignedDuration;
use readtrack_domain::event::EventBody;
use readtrack_domain::ids::{MemberId, MessageId, Seq};
use readtrack_domain::member::Role;
use readtrack_domain::receipt::{ReceiptKind, ReceiptState};
use readtrack_domain::reminder::{EscalateTo, ReminderPlan};
use readtrack_storage::*;

on_both_backends!(
    setup_happens_once_and_an_organisation_reads_back_with_its_settings_and_tokens,
    the_directory_keeps_names_unique_per_parent_and_emails_unique_per_server,
    an_import_creates_missing_departments_updates_known_people_and_links_managers,
    a_notice_reaches_each_person_once_never_the_sender_and_seeds_its_counters,
    receipts_are_idempotent_forward_only_and_counters_equal_a_recount,
    a_batch_rejects_what_does_not_fit_item_by_item_and_applies_the_rest,
    board_pages_walk_every_recipient_once_under_each_filter,
    events_resume_after_any_sequence_number_with_exactly_what_came_later,
    a_due_step_fires_once_when_two_handles_race_for_it,
    a_step_waiting_for_working_time_goes_back_to_its_planned_time_when_deferrals_are_undone,
    an_escalation_tells_the_manager_creates_a_task_and_a_confirmation_closes_it,
    reminding_the_unread_by_hand_reaches_them_once_per_interval,
    a_webhook_delivery_is_leased_to_one_caller_until_it_reports,
    concurrent_batches_from_two_handles_keep_counters_equal_a_recount_and_seqs_dense,
    audited_views_appear_in_the_export_of_each_person_they_showed,
    retention_purges_per_person_rows_and_keeps_the_same_department_figures,
    a_survey_takes_one_answer_per_person_and_keeps_no_link_to_them,
    an_identity_provider_subject_names_one_member_and_a_member_one_subject_per_issuer,
    a_command_line_sign_in_code_is_taken_once_and_never_after_it_expires,
);

fn page(limit: u32) -> Page {
    Page { limit, after: None }
}

/// Every recipient's row on the board, walking pages of `size`.
async fn walk_board(
    s: &dyn Storage,
    msg: &MessageRecord,
    filter: StateFilter,
    size: u32,
) -> Vec<ReceiptRecord> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let p = s.board_rows(msg, filter, cursor, size).await.unwrap();
        assert!(p.rows.len() <= size as usize);
        out.extend(p.rows.into_iter().map(|r| r.receipt));
        match p.next {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

/// The summary and department counts must equal a count of the rows themselves.
async fn assert_counters_match_rows(s: &dyn Storage, msg: &MessageRecord) {
    let rows = walk_board(s, msg, StateFilter::All, 50).await;
    assert_eq!(
        rows.len() as i64,
        msg.recipient_count,
        "everyone acked the policy"
    );
    let count = |pred: &dyn Fn(ReceiptState) -> bool| {
        rows.iter().filter(|r| pred(r.state())).count() as i64
    };
    let summary = s.summary(msg).await.unwrap();
    assert_eq!(summary.recipients, rows.len() as i64);
    assert_eq!(
        summary.delivered,
        count(&|st| st >= ReceiptState::Delivered)
    );
    assert_eq!(summary.read, count(&|st| st.is_read()));
    assert_eq!(
        summary.acknowledged,
        count(&|st| st == ReceiptState::Acknowledged)
    );
    assert_eq!(summary.hidden, 0);
    let mut by_dept: BTreeMap<i64, (i64, i64, i64)> = BTreeMap::new();
    for r in &rows {
        let e = by_dept.entry(r.department_id.0).or_default();
        e.0 += 1;
        e.1 += i64::from(r.state().is_read());
        e.2 += i64::from(r.state() == ReceiptState::Acknowledged);
    }
    let stored: BTreeMap<i64, (i64, i64, i64)> = s
        .department_counts(msg.id)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.department_id.0, (d.recipients, d.read, d.acknowledged)))
        .collect();
    assert_eq!(stored, by_dept);
}

async fn setup_happens_once_and_an_organisation_reads_back_with_its_settings_and_tokens(
    s: TestStore,
) {
    assert!(!s.is_set_up().await.unwrap());
    let created = s
        .setup(new_org("Harbour Line", "ivy@hl.example"))
        .await
        .unwrap();
    assert!(s.is_set_up().await.unwrap());
    let again = s.setup(new_org("Other", "other@hl.example")).await;
    assert!(matches!(again, Err(StorageError::Conflict(_))), "{again:?}");
    let second = s
        .create_org(new_org("Second", "boss@second.example"))
        .await
        .unwrap();
    assert_ne!(second.org_id, created.org_id);

    let org = s.org(created.org_id).await.unwrap();
    assert_eq!(org.name, "Harbour Line");
    assert_eq!(org.settings.time_zone.name(), "Asia/Hong_Kong");
    assert_eq!(org.settings.policy_version, 1);
    assert!(!org.settings.policy_text.is_empty());

    let mut settings = org.settings.clone();
    settings.policy_text = "A shorter policy.".into();
    settings.retention_days = 90;
    let updated = s
        .update_org_settings(created.org_id, &settings, Some(created.admin_id), at(1))
        .await
        .unwrap();
    assert_eq!(
        updated.settings.policy_version, 2,
        "a new text is a new version"
    );
    assert_eq!(updated.settings.policy_text, "A shorter policy.");
    assert_eq!(updated.settings.retention_days, 90);

    let login = s.login_record("ivy@hl.example").await.unwrap().unwrap();
    assert_eq!(login.member_id, created.admin_id);
    assert!(login.active);
    assert!(s.login_record("nobody@hl.example").await.unwrap().is_none());

    let token = s
        .insert_token(NewToken {
            hash: vec![7; 32],
            org_id: created.org_id,
            member_id: created.admin_id,
            kind: TokenKind::Api,
            name: Some("hr-sync".into()),
            created_at: t0(),
            expires_at: at(60),
        })
        .await
        .unwrap();
    let found = s.find_token(&[7; 32], at(1)).await.unwrap().unwrap();
    assert_eq!(found.id, token);
    assert_eq!(found.kind, TokenKind::Api);
    assert_eq!(found.member.role, Role::Admin);
    assert!(
        s.find_token(&[7; 32], at(61)).await.unwrap().is_none(),
        "expired"
    );
    assert!(
        !s.delete_token(second.org_id, token).await.unwrap(),
        "another org's token"
    );
    assert!(s.delete_token(created.org_id, token).await.unwrap());
    assert!(s.find_token(&[7; 32], at(1)).await.unwrap().is_none());
}

async fn the_directory_keeps_names_unique_per_parent_and_emails_unique_per_server(s: TestStore) {
    let w = world(&*s, 3, 0).await;
    let dup = s
        .create_department(NewDepartment {
            org_id: w.org,
            name: "NORTH".into(),
            parent_id: Some(w.root),
            now: t0(),
        })
        .await;
    assert!(matches!(dup, Err(StorageError::Conflict(_))), "{dup:?}");
    let nested = s
        .create_department(NewDepartment {
            org_id: w.org,
            name: "North".into(),
            parent_id: Some(w.north),
            now: t0(),
        })
        .await
        .expect("the same name under another parent is fine");
    let unknown = s
        .create_department(NewDepartment {
            org_id: w.org,
            name: "X".into(),
            parent_id: Some(readtrack_domain::ids::DepartmentId(999_999)),
            now: t0(),
        })
        .await;
    assert!(
        matches!(unknown, Err(StorageError::Invalid(_))),
        "{unknown:?}"
    );
    assert_eq!(s.departments(w.org).await.unwrap().len(), 4);

    let taken = s
        .create_member(NewMember {
            org_id: w.org,
            name: "Copy".into(),
            email: email("n0@hl.example"),
            department_id: w.north,
            manager_id: None,
            backup_id: None,
            role: Role::Member,
            password_hash: None,
            time_zone: None,
            phone: None,
            external_id: None,
            now: t0(),
        })
        .await;
    assert!(matches!(taken, Err(StorageError::Conflict(_))), "{taken:?}");
    let in_north = s
        .members(
            w.org,
            &MemberFilter {
                department_id: Some(w.north),
                query: None,
            },
            page(10),
        )
        .await
        .unwrap();
    assert_eq!(in_north.len(), 3);
    let found = s
        .members(
            w.org,
            &MemberFilter {
                department_id: None,
                query: Some("NORTH 00".into()),
            },
            page(10),
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 3, "case-insensitive name search");
    let literal = s
        .members(
            w.org,
            &MemberFilter {
                department_id: None,
                query: Some("%".into()),
            },
            page(10),
        )
        .await
        .unwrap();
    assert!(
        literal.is_empty(),
        "a % in the query is a character, not a wildcard"
    );
    let first = s
        .members(w.org, &MemberFilter::default(), page(2))
        .await
        .unwrap();
    let rest = s
        .members(
            w.org,
            &MemberFilter::default(),
            Page {
                limit: 10,
                after: Some(first[1].id.0),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        first.len() + rest.len(),
        5,
        "admin, sender and three people"
    );

    let moved = s
        .update_member(
            w.org,
            w.north_people[0],
            MemberPatch {
                department_id: Some(nested.id),
                manager_id: Some(Some(w.sender)),
                time_zone: Some(Some("Europe/London".into())),
                ..MemberPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.department_id, nested.id);
    assert_eq!(moved.manager_id, Some(w.sender));
    assert_eq!(
        s.member_zones(w.org).await.unwrap(),
        vec!["Europe/London".to_string()]
    );
    let clash = s
        .update_member(
            w.org,
            w.north_people[0],
            MemberPatch {
                email: Some(email("n1@hl.example")),
                ..MemberPatch::default()
            },
        )
        .await;
    assert!(matches!(clash, Err(StorageError::Conflict(_))), "{clash:?}");
    let gone = s
        .update_member(
            w.org,
            w.north_people[2],
            MemberPatch {
                active: Some(false),
                ..MemberPatch::default()
            },
        )
        .await
        .unwrap();
    assert!(!gone.active);
    let existing = s
        .existing_members(
            w.org,
            &[w.north_people[0], w.north_people[2], MemberId(999_999)],
        )
        .await
        .unwrap();
    assert_eq!(
        existing,
        vec![w.north_people[0]],
        "only active members of the org"
    );
    assert_eq!(s.member_emails(w.org).await.unwrap().len(), 5);
    assert_eq!(
        s.member(w.org, w.north_people[1])
            .await
            .unwrap()
            .unwrap()
            .name,
        "North 001"
    );
    // The identity provider's id is unique in the organisation, and named when taken.
    let with_ids = |mail: &str| NewMember {
        org_id: w.org,
        name: "Okta person".into(),
        email: email(mail),
        department_id: w.north,
        manager_id: None,
        backup_id: None,
        role: Role::Member,
        password_hash: None,
        time_zone: None,
        phone: Some("+85291234567".into()),
        external_id: Some("00u-okta-1".into()),
        now: t0(),
    };
    let first = s.create_member(with_ids("okta1@hl.example")).await.unwrap();
    assert_eq!(first.phone.as_deref(), Some("+85291234567"));
    assert_eq!(first.external_id.as_deref(), Some("00u-okta-1"));
    match s.create_member(with_ids("okta2@hl.example")).await {
        Err(StorageError::Conflict(m)) => assert!(m.contains("external_id"), "{m}"),
        other => panic!("a second 00u-okta-1: {other:?}"),
    }
}

async fn an_import_creates_missing_departments_updates_known_people_and_links_managers(
    s: TestStore,
) {
    let w = world(&*s, 1, 0).await;
    let row = |name: &str, mail: &str, path: &[&str], manager: Option<&str>| ImportWrite {
        line: 0,
        phone: None,
        external_id: None,
        name: name.into(),
        email: email(mail),
        department: path.iter().map(|p| p.to_string()).collect(),
        manager_email: manager.map(email),
        backup_email: None,
        role: Role::Member,
    };
    let rows = vec![
        row(
            "Renamed North",
            "n0@hl.example",
            &["Harbour Line", "North"],
            None,
        ),
        row(
            "Boss",
            "boss@hl.example",
            &["Harbour Line", "North", "Depot"],
            None,
        ),
        row(
            "Worker",
            "worker@hl.example",
            &["harbour line", "North", "Depot"],
            Some("boss@hl.example"),
        ),
        row(
            "Clerk",
            "clerk@hl.example",
            &["East", "Office"],
            Some("boss@hl.example"),
        ),
    ];
    let dry = s
        .import_members(w.org, &rows, true, None, t0())
        .await
        .unwrap();
    assert_eq!(
        (dry.created, dry.updated, dry.departments_created),
        (3, 1, 3)
    );
    // The review: the renamed person (name; the department path names the same one)
    // and the three new people.
    let reviewed: Vec<(&str, bool, Vec<&str>)> = dry
        .changes
        .iter()
        .map(|c| {
            (
                c.email.as_str(),
                c.kind == readtrack_domain::import::ChangeKind::Create,
                c.fields.clone(),
            )
        })
        .collect();
    assert!(
        reviewed.contains(&("n0@hl.example", false, vec!["name"])),
        "{reviewed:?}"
    );
    assert_eq!(reviewed.iter().filter(|r| r.1).count(), 3, "{reviewed:?}");
    assert_eq!(
        s.departments(w.org).await.unwrap().len(),
        3,
        "a dry run writes nothing"
    );
    let done = s
        .import_members(w.org, &rows, false, None, t0())
        .await
        .unwrap();
    assert_eq!(done, dry);
    let depts = s.departments(w.org).await.unwrap();
    assert_eq!(depts.len(), 6);
    let people = s
        .members(w.org, &MemberFilter::default(), page(50))
        .await
        .unwrap();
    let by_email = |e: &str| people.iter().find(|m| m.email == e).unwrap().clone();
    assert_eq!(by_email("n0@hl.example").name, "Renamed North");
    assert_eq!(
        by_email("worker@hl.example").manager_id,
        Some(by_email("boss@hl.example").id)
    );
    assert_eq!(
        by_email("clerk@hl.example").manager_id,
        Some(by_email("boss@hl.example").id)
    );
    let again = s
        .import_members(w.org, &rows, false, None, t0())
        .await
        .unwrap();
    assert_eq!(
        (again.created, again.updated, again.departments_created),
        (0, 4, 0)
    );
    assert_eq!(again.changes, vec![], "the same file again changes nothing");
    let other = s
        .create_org(new_org("Other", "boss@other.example"))
        .await
        .unwrap();
    let stolen = s
        .import_members(other.org_id, &rows[..1], false, None, t0())
        .await;
    assert!(
        matches!(stolen, Err(StorageError::Conflict(_))),
        "{stolen:?}"
    );
}

async fn a_notice_reaches_each_person_once_never_the_sender_and_seeds_its_counters(s: TestStore) {
    let w = world(&*s, 4, 2).await;
    let created = s
        .create_message(notice(
            &w,
            &[w.north_people[0], w.sender, w.south_people[0]],
            &[w.north],
        ))
        .await
        .unwrap();
    let msg = created.message;
    assert_eq!(
        msg.recipient_count, 5,
        "four in North once each, one from South"
    );
    assert!(matches!(
        created.event.body,
        EventBody::MessageCreated { .. }
    ));
    assert_eq!(created.event.seq, Seq(1));
    let ids = s.recipient_ids(msg.id).await.unwrap();
    assert_eq!(ids.len(), 5);
    assert!(!ids.contains(&w.sender));
    let among = s
        .recipients_among(msg.id, &[w.sender, w.south_people[0], w.south_people[1]])
        .await
        .unwrap();
    assert_eq!(among, vec![w.south_people[0]]);
    let summary = s.summary(&msg).await.unwrap();
    assert_eq!((summary.recipients, summary.read), (5, 0));
    let depts = s.department_counts(msg.id).await.unwrap();
    assert_eq!(
        depts
            .iter()
            .map(|d| (d.name.as_str(), d.recipients))
            .collect::<Vec<_>>(),
        vec![("North", 4), ("South", 1)]
    );
    assert_eq!(
        s.message(w.org, msg.id).await.unwrap().unwrap().title,
        msg.title
    );
    assert_eq!(
        s.message(w.org, msg.id).await.unwrap().unwrap().sender_name,
        "Grace"
    );
    let inbox = s
        .inbox(w.north_people[0], InboxFilter::Unread, page(10))
        .await
        .unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].receipt.state(), ReceiptState::Sent);
    assert!(
        s.inbox(w.sender, InboxFilter::All, page(10))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.sent(w.sender, page(10)).await.unwrap().len(), 1);
    let events = s
        .events_for(w.org, w.north_people[0], Seq(0), 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "the recipient is told");
    assert!(
        s.events_for(w.org, w.south_people[1], Seq(0), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let empty = s.create_message(notice(&w, &[w.sender], &[])).await;
    assert!(matches!(empty, Err(StorageError::Invalid(_))), "{empty:?}");
    assert_eq!(
        s.last_seq(w.org).await.unwrap(),
        Seq(1),
        "a refused notice leaves no event"
    );
}

async fn receipts_are_idempotent_forward_only_and_counters_equal_a_recount(s: TestStore) {
    let w = world(&*s, 6, 3).await;
    let msg = s
        .create_message(notice(&w, &[], &[w.north, w.south]))
        .await
        .unwrap()
        .message;
    let (n, so) = (&w.north_people, &w.south_people);
    let r =
        |who: MemberId, id: &str, kind, minute| report(w.org, who, msg.id, id, kind, at(minute));
    let first = s
        .apply_receipts(
            &[
                r(n[0], "a1", ReceiptKind::Delivered, 1),
                r(n[0], "a2", ReceiptKind::Read, 5),
                r(n[1], "b1", ReceiptKind::Read, 3),
                r(n[1], "b1", ReceiptKind::Read, 3),
                r(n[2], "c1", ReceiptKind::Ack, 4),
                r(so[0], "d1", ReceiptKind::Read, 2),
            ],
            at(6),
        )
        .await
        .unwrap();
    use WriteOutcome::*;
    assert_eq!(
        first.outcomes,
        vec![Applied, Applied, Applied, Duplicate, Applied, Applied]
    );
    assert_eq!(first.events.len(), 5, "one frame per change");
    let seqs: Vec<i64> = first.events.iter().map(|e| e.seq.0).collect();
    assert_eq!(
        seqs,
        (2..=6).collect::<Vec<_>>(),
        "numbered after message.created"
    );

    let second = s
        .apply_receipts(
            &[
                r(n[0], "a2", ReceiptKind::Read, 5),
                r(n[0], "a3", ReceiptKind::Read, 2),
                r(n[2], "c2", ReceiptKind::Read, 5),
                r(so[0], "d2", ReceiptKind::Delivered, 7),
            ],
            at(8),
        )
        .await
        .unwrap();
    assert_eq!(second.outcomes, vec![Duplicate, Applied, Applied, Applied]);
    let n0 = s.receipt(msg.id, n[0]).await.unwrap().unwrap();
    assert_eq!(
        n0.times.read_at,
        Some(at(2)),
        "an earlier read time is kept"
    );
    assert_eq!(
        n0.read_recorded_at,
        Some(at(6)),
        "first recorded when first read"
    );
    let n2 = s.receipt(msg.id, n[2]).await.unwrap().unwrap();
    assert_eq!(
        n2.state(),
        ReceiptState::Acknowledged,
        "never back from acknowledged"
    );
    let so0 = s.receipt(msg.id, so[0]).await.unwrap().unwrap();
    assert_eq!(
        so0.state(),
        ReceiptState::Read,
        "a late delivered does not undo a read"
    );
    let summary = s.summary(&msg).await.unwrap();
    assert_eq!(
        (summary.recipients, summary.read, summary.acknowledged),
        (9, 4, 1)
    );
    assert_counters_match_rows(&*s, &msg).await;
}

async fn a_batch_rejects_what_does_not_fit_item_by_item_and_applies_the_rest(s: TestStore) {
    let w = world(&*s, 2, 1).await;
    let msg = s
        .create_message(notice(&w, &[], &[w.north]))
        .await
        .unwrap()
        .message;
    let other = s
        .create_org(new_org("Other", "boss@other.example"))
        .await
        .unwrap();
    let outcomes = s
        .apply_receipts(
            &[
                report(
                    w.org,
                    w.south_people[0],
                    msg.id,
                    "x1",
                    ReceiptKind::Read,
                    at(1),
                ),
                report(
                    w.org,
                    w.north_people[0],
                    msg.id,
                    "x2",
                    ReceiptKind::Read,
                    at(-5),
                ),
                report(
                    w.org,
                    w.north_people[0],
                    MessageId(999_999),
                    "x3",
                    ReceiptKind::Read,
                    at(1),
                ),
                report(
                    other.org_id,
                    other.admin_id,
                    msg.id,
                    "x4",
                    ReceiptKind::Read,
                    at(1),
                ),
                report(
                    w.org,
                    w.north_people[1],
                    msg.id,
                    "x5",
                    ReceiptKind::Read,
                    at(1),
                ),
            ],
            at(2),
        )
        .await
        .unwrap()
        .outcomes;
    let codes: Vec<&str> = outcomes
        .iter()
        .map(|o| match o {
            WriteOutcome::Rejected(e) => e.code,
            WriteOutcome::Applied => "applied",
            WriteOutcome::Duplicate => "duplicate",
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            "not_recipient",
            "before_message",
            "not_recipient",
            "not_recipient",
            "applied"
        ]
    );
    assert_eq!(s.summary(&msg).await.unwrap().read, 1);
    // A rejected item's event id was not consumed: once fixed it applies.
    let retry = s
        .apply_receipts(
            &[report(
                w.org,
                w.north_people[0],
                msg.id,
                "x2",
                ReceiptKind::Read,
                at(1),
            )],
            at(3),
        )
        .await
        .unwrap();
    assert_eq!(retry.outcomes, vec![WriteOutcome::Applied]);
}

async fn board_pages_walk_every_recipient_once_under_each_filter(s: TestStore) {
    let w = world(&*s, 17, 8).await;
    let msg = s
        .create_message(notice(&w, &[], &[w.north, w.south]))
        .await
        .unwrap()
        .message;
    let everyone: Vec<MemberId> = w
        .north_people
        .iter()
        .chain(&w.south_people)
        .copied()
        .collect();
    let mut batch = Vec::new();
    for (i, who) in everyone.iter().enumerate() {
        let kind = match i % 4 {
            0 => continue,
            1 => ReceiptKind::Delivered,
            2 => ReceiptKind::Read,
            _ => ReceiptKind::Ack,
        };
        batch.push(report(w.org, *who, msg.id, &format!("e{i}"), kind, at(1)));
    }
    s.apply_receipts(&batch, at(2)).await.unwrap();
    let expect = |pred: &dyn Fn(usize) -> bool| -> BTreeSet<MemberId> {
        everyone
            .iter()
            .enumerate()
            .filter(|(i, _)| pred(*i))
            .map(|(_, m)| *m)
            .collect()
    };
    for size in [1, 4, 7, 100] {
        for (filter, want) in [
            (StateFilter::All, expect(&|_| true)),
            (StateFilter::Unread, expect(&|i| i % 4 < 2)),
            (StateFilter::Read, expect(&|i| i % 4 >= 2)),
            (StateFilter::Acknowledged, expect(&|i| i % 4 == 3)),
        ] {
            let rows = walk_board(&*s, &msg, filter, size).await;
            let got: Vec<MemberId> = rows.iter().map(|r| r.member_id).collect();
            let unique: BTreeSet<MemberId> = got.iter().copied().collect();
            assert_eq!(
                unique.len(),
                got.len(),
                "{filter:?} by {size}: no row twice"
            );
            assert_eq!(unique, want, "{filter:?} by {size}: every row once");
            if filter != StateFilter::All {
                let keys: Vec<(i64, MemberId)> = rows
                    .iter()
                    .map(|r| (r.state().code(), r.member_id))
                    .collect();
                assert!(
                    keys.windows(2).all(|p| p[0] < p[1]),
                    "ordered by state, then member"
                );
            }
        }
    }
    assert_counters_match_rows(&*s, &msg).await;
}

async fn events_resume_after_any_sequence_number_with_exactly_what_came_later(s: TestStore) {
    let w = world(&*s, 5, 0).await;
    let msg = s
        .create_message(notice(&w, &[], &[w.north]))
        .await
        .unwrap()
        .message;
    for (i, who) in w.north_people.iter().enumerate() {
        s.apply_receipts(
            &[report(
                w.org,
                *who,
                msg.id,
                &format!("r{i}"),
                ReceiptKind::Read,
                at(1),
            )],
            at(2),
        )
        .await
        .unwrap();
    }
    let last = s.last_seq(w.org).await.unwrap();
    assert_eq!(last, Seq(6), "one message.created and five reads");
    let all = s.events_for(w.org, w.sender, Seq(0), 100).await.unwrap();
    let seqs: Vec<i64> = all.iter().map(|e| e.seq.0).collect();
    assert_eq!(seqs, vec![2, 3, 4, 5, 6], "the sender gets the reads");
    for since in 0..=6 {
        let tail = s
            .events_for(w.org, w.sender, Seq(since), 100)
            .await
            .unwrap();
        let want: Vec<_> = all.iter().filter(|e| e.seq.0 > since).cloned().collect();
        assert_eq!(tail, want, "resuming after {since}");
    }
    let limited = s.events_for(w.org, w.sender, Seq(2), 2).await.unwrap();
    assert_eq!(
        limited.iter().map(|e| e.seq.0).collect::<Vec<_>>(),
        vec![3, 4]
    );
    match &all.last().unwrap().body {
        EventBody::ReceiptUpdated {
            summary, person, ..
        } => {
            assert_eq!(summary.read, 5);
            assert_eq!(person.as_ref().unwrap().state, ReceiptState::Read);
        }
        other => panic!("unexpected {other:?}"),
    }
    let reader = s
        .events_for(w.org, w.north_people[0], Seq(0), 100)
        .await
        .unwrap();
    assert_eq!(
        reader.len(),
        1,
        "a recipient gets message.created, not others' reads"
    );
}

async fn a_due_step_fires_once_when_two_handles_race_for_it(s: TestStore) {
    let w = world(&*s, 30, 10).await;
    let everyone: Vec<MemberId> = w
        .north_people
        .iter()
        .chain(&w.south_people)
        .copied()
        .collect();
    let msg = s
        .create_message(reminded_notice(&w, &everyone, at(60)))
        .await
        .unwrap()
        .message;
    assert_eq!(s.next_due_at().await.unwrap(), Some(at(60)));
    assert_eq!(
        s.fire_due_steps(at(59), 100).await.unwrap().fired,
        0,
        "not yet due"
    );
    let a = s.another_handle().await;
    let b = s.another_handle().await;
    // Small passes from both handles at once, until neither finds anything due.
    let drain = |h: Arc<dyn Storage>| async move {
        let mut fired = 0;
        let mut reminded = Vec::new();
        loop {
            let pass = h.fire_due_steps(at(61), 7).await.unwrap();
            if pass.fired + pass.dropped + pass.rescheduled == 0 {
                return (fired, reminded);
            }
            fired += pass.fired;
            for e in pass.events {
                if let EventBody::Reminder {
                    member_id, count, ..
                } = e.body
                {
                    assert_eq!(count, 1);
                    reminded.push(member_id);
                }
            }
        }
    };
    let ((fa, ra), (fb, rb)) = tokio::join!(drain(a), drain(b));
    assert_eq!(fa + fb, 40, "every step fired");
    let all: Vec<MemberId> = ra.into_iter().chain(rb).collect();
    let unique: HashSet<MemberId> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "no step fired twice");
    assert_eq!(unique.len(), 40);
    for who in &everyone {
        assert_eq!(s.receipt(msg.id, *who).await.unwrap().unwrap().reminders, 1);
    }
    let next = s
        .next_due_at()
        .await
        .unwrap()
        .expect("the second reminders are queued");
    assert!(next > at(61));
    // A recipient who reads before the next step gets nothing more.
    s.apply_receipts(
        &[report(
            w.org,
            everyone[0],
            msg.id,
            "read",
            ReceiptKind::Ack,
            at(62),
        )],
        at(62),
    )
    .await
    .unwrap();
    let later = s.fire_due_steps(next, 100).await.unwrap();
    assert_eq!((later.fired, later.dropped), (39, 1));
}

async fn a_step_waiting_for_working_time_goes_back_to_its_planned_time_when_deferrals_are_undone(
    s: TestStore,
) {
    let w = world(&*s, 3, 0).await;
    let msg = s
        .create_message(reminded_notice(&w, &w.north_people, at(60)))
        .await
        .unwrap()
        .message;
    // Looked at first on Tuesday 22:00 (quiet hours), then on Wednesday 22:00: each wait
    // keeps the planned time, so undoing restores Tuesday 11:00, not the first wait.
    for night in [at(12 * 60), at(36 * 60)] {
        let pass = s.fire_due_steps(night, 100).await.unwrap();
        assert_eq!((pass.fired, pass.rescheduled), (0, 3));
        let morning = s.next_due_at().await.unwrap().expect("waiting steps");
        assert!(morning > night, "they wait for the next working time");
    }
    assert_eq!(s.undo_deferrals().await.unwrap(), 3);
    assert_eq!(s.next_due_at().await.unwrap(), Some(at(60)));
    assert_eq!(
        s.undo_deferrals().await.unwrap(),
        0,
        "nothing waits any more"
    );
    let pass = s.fire_due_steps(at(61), 100).await.unwrap();
    assert_eq!(pass.fired, 3, "fired at 11:01 the same day");
    for who in &w.north_people {
        assert_eq!(s.receipt(msg.id, *who).await.unwrap().unwrap().reminders, 1);
    }
}

async fn an_escalation_tells_the_manager_creates_a_task_and_a_confirmation_closes_it(s: TestStore) {
    let w = world(&*s, 2, 0).await;
    let ada = w.north_people[0];
    let boss = w.north_people[1];
    s.update_member(
        w.org,
        ada,
        MemberPatch {
            manager_id: Some(Some(boss)),
            ..MemberPatch::default()
        },
    )
    .await
    .unwrap();
    let mut n = notice(&w, &[ada], &[]);
    n.message.reminders = Some(ReminderPlan {
        remind_after_minutes: 60,
        remind_every_minutes: 60,
        max_reminders: 0,
        escalate_after_minutes: Some(60),
        escalate_to: vec![EscalateTo::Manager],
        create_task: true,
    });
    n.first_steps = vec![FirstStep {
        zone: None,
        step: StepKind::Escalation,
        step_no: 0,
        due_at: at(60),
    }];
    let msg = s.create_message(n).await.unwrap().message;
    let pass = s.fire_due_steps(at(61), 100).await.unwrap();
    assert_eq!(pass.fired, 1);
    let kinds: Vec<&str> = pass.events.iter().map(|e| e.body.kind()).collect();
    assert_eq!(kinds, vec!["escalation", "task.created"]);
    let told = s.escalations_to(boss, page(10)).await.unwrap();
    assert_eq!(told.len(), 1);
    assert_eq!(
        (told[0].recipient_id, told[0].role.as_str()),
        (ada, "manager")
    );
    let tasks = s.tasks(ada, page(10)).await.unwrap();
    assert_eq!(tasks.len(), 1);
    assert!(tasks[0].done_at.is_none());
    assert_eq!(tasks[0].title, msg.title);
    s.apply_receipts(
        &[report(w.org, ada, msg.id, "ack", ReceiptKind::Ack, at(62))],
        at(62),
    )
    .await
    .unwrap();
    let tasks = s.tasks(ada, page(10)).await.unwrap();
    assert_eq!(tasks[0].done_by.as_deref(), Some("acknowledged"));
    let by_hand = s.complete_task(ada, tasks[0].id, at(63)).await.unwrap();
    assert_eq!(
        by_hand.done_by.as_deref(),
        Some("acknowledged"),
        "done stays done"
    );
    let foreign = s.complete_task(boss, tasks[0].id, at(63)).await;
    assert!(
        matches!(foreign, Err(StorageError::NotFound(_))),
        "{foreign:?}"
    );
}

async fn reminding_the_unread_by_hand_reaches_them_once_per_interval(s: TestStore) {
    let w = world(&*s, 4, 0).await;
    let msg = s
        .create_message(notice(&w, &[], &[w.north]))
        .await
        .unwrap()
        .message;
    s.apply_receipts(
        &[report(
            w.org,
            w.north_people[0],
            msg.id,
            "ack",
            ReceiptKind::Ack,
            at(1),
        )],
        at(1),
    )
    .await
    .unwrap();
    let now_everywhere = [ZoneTiming {
        zone: None,
        defer_to: None,
    }];
    let interval = SignedDuration::from_hours(1);
    let a = s.another_handle().await;
    let b = s.another_handle().await;
    let (x, y) = tokio::join!(
        a.remind_unread(&msg, &now_everywhere, interval, at(2)),
        b.remind_unread(&msg, &now_everywhere, interval, at(2))
    );
    let outcomes = [x.unwrap(), y.unwrap()];
    let done: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            RemindOutcome::Done {
                reminded, events, ..
            } => Some((*reminded, events.len())),
            RemindOutcome::TooSoon(_) => None,
        })
        .collect();
    assert_eq!(done, vec![(3, 3)], "one click wins, the other is too soon");
    assert!(matches!(
        s.remind_unread(&msg, &now_everywhere, interval, at(30)).await.unwrap(),
        RemindOutcome::TooSoon(t) if t == at(62)
    ));
    let later = s
        .remind_unread(&msg, &now_everywhere, interval, at(63))
        .await
        .unwrap();
    assert!(matches!(later, RemindOutcome::Done { reminded: 3, .. }));
    assert_eq!(
        s.receipt(msg.id, w.north_people[1])
            .await
            .unwrap()
            .unwrap()
            .reminders,
        2
    );
    assert_eq!(
        s.receipt(msg.id, w.north_people[0])
            .await
            .unwrap()
            .unwrap()
            .reminders,
        0
    );
}

async fn a_webhook_delivery_is_leased_to_one_caller_until_it_reports(s: TestStore) {
    let w = world(&*s, 1, 0).await;
    let hook = s
        .create_webhook(NewWebhook {
            org_id: w.org,
            url: "http://127.0.0.1:9/hook".into(),
            events: vec!["receipt.updated".into()],
            secret: "shh".into(),
            now: t0(),
        })
        .await
        .unwrap();
    assert_eq!(s.webhooks(w.org).await.unwrap().len(), 1);
    let msg = s
        .create_message(notice(&w, &[], &[w.north]))
        .await
        .unwrap()
        .message;
    s.apply_receipts(
        &[report(
            w.org,
            w.north_people[0],
            msg.id,
            "r",
            ReceiptKind::Read,
            at(1),
        )],
        at(1),
    )
    .await
    .unwrap();
    assert_eq!(s.next_delivery_at().await.unwrap(), Some(at(1)));
    let a = s.another_handle().await;
    let b = s.another_handle().await;
    let (x, y) = tokio::join!(a.due_deliveries(at(2), 10), b.due_deliveries(at(2), 10));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.len() + y.len(), 1, "one caller gets the delivery");
    let job = x.into_iter().chain(y).next().unwrap();
    assert_eq!(job.event.body.kind(), "receipt.updated");
    assert_eq!(job.secret, "shh");
    assert!(
        s.due_deliveries(at(2), 10).await.unwrap().is_empty(),
        "leased"
    );
    let after_lease = at(2) + SignedDuration::from_secs(61);
    let again = s.due_deliveries(after_lease, 10).await.unwrap();
    assert_eq!(again.len(), 1, "a lease that never reports expires");
    s.record_delivery(
        job.id,
        DeliveryResult::Failed {
            status: Some(500),
            error: "server error".into(),
            retry_at: at(10),
        },
        at(3),
    )
    .await
    .unwrap();
    assert!(s.due_deliveries(at(9), 10).await.unwrap().is_empty());
    let retried = s.due_deliveries(at(10), 10).await.unwrap();
    assert_eq!(retried[0].attempts, 1);
    s.record_delivery(job.id, DeliveryResult::Delivered { status: 204 }, at(10))
        .await
        .unwrap();
    assert!(s.due_deliveries(at(100), 10).await.unwrap().is_empty());
    assert_eq!(s.next_delivery_at().await.unwrap(), None);
    let log = s.deliveries(w.org, hook.id, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].attempts, log[0].last_status), (2, Some(204)));
    assert!(s.delete_webhook(w.org, hook.id).await.unwrap());
    assert!(s.webhooks(w.org).await.unwrap().is_empty());
}

async fn concurrent_batches_from_two_handles_keep_counters_equal_a_recount_and_seqs_dense(
    s: TestStore,
) {
    let w = world(&*s, 40, 20).await;
    let msg = s
        .create_message(notice(&w, &[], &[w.north, w.south]))
        .await
        .unwrap()
        .message;
    let everyone: Vec<MemberId> = w
        .north_people
        .iter()
        .chain(&w.south_people)
        .copied()
        .collect();
    let a = s.another_handle().await;
    let b = s.another_handle().await;
    // Both handles report everyone (as two nodes would after a client retried on the
    // other), in different orders and batch sizes: each change must land exactly once.
    let run = |h: Arc<dyn Storage>, order: Vec<MemberId>, size: usize| {
        let (org, id) = (w.org, msg.id);
        async move {
            let mut applied = 0;
            for chunk in order.chunks(size) {
                let mut batch = Vec::new();
                for who in chunk {
                    batch.push(report(
                        org,
                        *who,
                        id,
                        &format!("d{}", who.0),
                        ReceiptKind::Delivered,
                        at(1),
                    ));
                    batch.push(report(
                        org,
                        *who,
                        id,
                        &format!("r{}", who.0),
                        ReceiptKind::Read,
                        at(2),
                    ));
                }
                let done = h.apply_receipts(&batch, at(3)).await.unwrap();
                applied += done
                    .outcomes
                    .iter()
                    .filter(|o| **o == WriteOutcome::Applied)
                    .count();
            }
            applied
        }
    };
    let reversed: Vec<MemberId> = everyone.iter().rev().copied().collect();
    let (x, y) = tokio::join!(run(a, everyone.clone(), 5), run(b, reversed, 3));
    assert_eq!(
        x + y,
        120,
        "each report applied once, the other copy a duplicate"
    );
    let summary = s.summary(&msg).await.unwrap();
    assert_eq!((summary.delivered, summary.read), (60, 60));
    assert_counters_match_rows(&*s, &msg).await;
    let last = s.last_seq(w.org).await.unwrap();
    let events = s.events_for(w.org, w.sender, Seq(0), 1000).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq.0).collect();
    assert_eq!(seqs, (2..=last.0).collect::<Vec<_>>(), "dense and in order");
    // Commit order is sequence order, so the counts the frames carry only grow.
    let reads: Vec<i64> = events
        .iter()
        .map(|e| match &e.body {
            EventBody::ReceiptUpdated { summary, .. } => summary.delivered + summary.read,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert!(reads.windows(2).all(|p| p[0] < p[1]), "{reads:?}");
}

async fn audited_views_appear_in_the_export_of_each_person_they_showed(s: TestStore) {
    let w = world(&*s, 2, 0).await;
    let msg = s
        .create_message(notice(&w, &[], &[w.north]))
        .await
        .unwrap()
        .message;
    s.apply_receipts(
        &[report(
            w.org,
            w.north_people[0],
            msg.id,
            "r",
            ReceiptKind::Read,
            at(1),
        )],
        at(1),
    )
    .await
    .unwrap();
    for (action, members) in [
        ("board.viewed", vec![w.north_people[0], w.north_people[1]]),
        ("settings.updated", vec![]),
    ] {
        s.record_audit(NewAudit {
            org_id: w.org,
            actor_id: Some(w.admin),
            action: action.into(),
            subject: format!("message:{}", msg.id),
            members,
            now: at(2),
        })
        .await
        .unwrap();
    }
    let log = s.audit_log(w.org, page(10)).await.unwrap();
    assert_eq!(
        log.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(),
        vec!["settings.updated", "board.viewed"],
        "newest first"
    );
    assert_eq!(log[0].actor_name.as_deref(), Some("Ivy Lam"));
    let export = s.export_member(w.org, w.north_people[0]).await.unwrap();
    assert_eq!(export.member.id, w.north_people[0]);
    assert_eq!(export.policy_acked_at, Some(t0()));
    assert_eq!(export.receipts.len(), 1);
    assert_eq!(export.receipts[0].receipt.times.read_at, Some(at(1)));
    assert_eq!(export.views.len(), 1, "only the view that showed them");
    assert_eq!(export.views[0].action, "board.viewed");
    assert_eq!(
        s.policy_text(w.org, 1).await.unwrap(),
        Some(s.org(w.org).await.unwrap().settings.policy_text)
    );
    assert!(s.policy_text(w.org, 9).await.unwrap().is_none());
    assert_eq!(s.org_ids().await.unwrap(), vec![w.org]);
    assert!(!s.manages_anyone(w.sender).await.unwrap());
    s.update_member(
        w.org,
        w.north_people[1],
        MemberPatch {
            manager_id: Some(Some(w.sender)),
            ..MemberPatch::default()
        },
    )
    .await
    .unwrap();
    assert!(s.manages_anyone(w.sender).await.unwrap());
}

async fn retention_purges_per_person_rows_and_keeps_the_same_department_figures(s: TestStore) {
    let w = world(&*s, 3, 2).await;
    let old = s
        .create_message(notice(&w, &[], &[w.north, w.south]))
        .await
        .unwrap()
        .message;
    let mut batch = Vec::new();
    for (i, who) in w
        .north_people
        .iter()
        .chain(&w.south_people)
        .enumerate()
        .skip(1)
    {
        batch.push(report(
            w.org,
            *who,
            old.id,
            &format!("r{i}"),
            ReceiptKind::Read,
            at(i as i64),
        ));
    }
    s.apply_receipts(&batch, at(10)).await.unwrap();
    // One more read, recorded after the cutoff: its event is newer than the retention
    // line, but it is about the old notice's reader and must go with the notice.
    let late = report(
        w.org,
        w.north_people[0],
        old.id,
        "late",
        ReceiptKind::Read,
        at(90),
    );
    s.apply_receipts(&[late], at(90)).await.unwrap();
    let mut fresh = notice(&w, &[], &[w.north]);
    fresh.now = at(24 * 60);
    let fresh = s.create_message(fresh).await.unwrap().message;
    let window = (at(-1), at(2 * 24 * 60));
    let before = s
        .department_stats(w.org, window.0, window.1, at(3 * 24 * 60))
        .await
        .unwrap();
    let counts = s
        .purge_before(w.org, at(60), at(3 * 24 * 60))
        .await
        .unwrap();
    assert_eq!((counts.messages, counts.receipts), (1, 5));
    let backlog = s.events_for(w.org, w.sender, Seq(0), 1_000).await.unwrap();
    assert!(
        !backlog.iter().any(|e| matches!(
            &e.body,
            EventBody::ReceiptUpdated { message_id, .. } if *message_id == old.id
        )),
        "no per-person event of the purged notice is left in the backlog"
    );
    let through = s.events_purged_through(w.org).await.unwrap();
    assert!(
        through.0 > 0,
        "streams from before the purge are told to reload"
    );
    assert!(s.recipient_ids(old.id).await.unwrap().is_empty());
    assert_eq!(
        s.recipient_ids(fresh.id).await.unwrap().len(),
        3,
        "newer notices stay"
    );
    let after = s
        .department_stats(w.org, window.0, window.1, at(3 * 24 * 60))
        .await
        .unwrap();
    let figures = |v: &[MessageDepartmentStats]| -> Vec<(i64, i64, u64, u64)> {
        v.iter()
            .map(|d| {
                (
                    d.message_id.0,
                    d.department_id.0,
                    d.stats.recipients,
                    d.stats.read,
                )
            })
            .collect()
    };
    assert_eq!(
        figures(&after),
        figures(&before),
        "analytics agree across a purge"
    );
    let again = s
        .purge_before(w.org, at(60), at(3 * 24 * 60))
        .await
        .unwrap();
    assert_eq!(again.messages, 0, "a purged notice is not purged twice");
    assert_eq!(s.summary(&old).await.unwrap().read, 5, "the counters stay");
}

async fn a_survey_takes_one_answer_per_person_and_keeps_no_link_to_them(s: TestStore) {
    let w = world(&*s, 2, 0).await;
    let survey = s
        .create_survey(NewSurvey {
            org_id: w.org,
            title: "Do you feel monitored?".into(),
            scope: vec![w.north],
            created_by: w.admin,
            closes_at: Some(at(7 * 24 * 60)),
            now: t0(),
        })
        .await
        .unwrap();
    assert_eq!(s.surveys(w.org).await.unwrap().len(), 1);
    assert_eq!(
        s.survey(w.org, survey.id).await.unwrap().unwrap().scope,
        vec![w.north]
    );
    let answer = |monitored| SurveyAnswer {
        department_id: w.north,
        monitored,
        helped: 4,
        comment: None,
    };
    assert!(!s.has_answered(survey.id, w.north_people[0]).await.unwrap());
    s.answer_survey(survey.id, w.north_people[0], answer(2))
        .await
        .unwrap();
    assert!(s.has_answered(survey.id, w.north_people[0]).await.unwrap());
    let twice = s
        .answer_survey(survey.id, w.north_people[0], answer(5))
        .await;
    assert!(matches!(twice, Err(StorageError::Conflict(_))), "{twice:?}");
    s.answer_survey(survey.id, w.north_people[1], answer(3))
        .await
        .unwrap();
    let mut answers: Vec<i64> = s
        .survey_answers(survey.id)
        .await
        .unwrap()
        .iter()
        .map(|a| a.monitored)
        .collect();
    answers.sort();
    assert_eq!(answers, vec![2, 3]);
}

async fn an_identity_provider_subject_names_one_member_and_a_member_one_subject_per_issuer(
    s: TestStore,
) {
    let created = s
        .setup(new_org("Harbour Line", "ivy@hl.example"))
        .await
        .unwrap();
    let second = s
        .create_org(new_org("Second", "boss@second.example"))
        .await
        .unwrap();
    let idp = "https://id.example";
    assert!(s.oidc_login_record(idp, "ivy").await.unwrap().is_none());
    assert!(
        s.link_oidc_subject(idp, "ivy", created.admin_id, t0())
            .await
            .unwrap()
    );
    let found = s.oidc_login_record(idp, "ivy").await.unwrap().unwrap();
    assert_eq!(found.member_id, created.admin_id);
    assert_eq!(found.org_id, created.org_id);
    assert!(found.active);
    assert!(
        !s.link_oidc_subject(idp, "ivy", second.admin_id, t0())
            .await
            .unwrap(),
        "a linked subject is not taken over"
    );
    assert!(
        !s.link_oidc_subject(idp, "ivy-2", created.admin_id, t0())
            .await
            .unwrap(),
        "one subject per member and issuer"
    );
    assert!(
        s.link_oidc_subject("https://other.example", "ivy", second.admin_id, t0())
            .await
            .unwrap(),
        "subjects are per issuer"
    );
    assert!(
        s.oidc_login_record("https://other.example", "nobody")
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_command_line_sign_in_code_is_taken_once_and_never_after_it_expires(s: TestStore) {
    let created = s
        .setup(new_org("Harbour Line", "ivy@hl.example"))
        .await
        .unwrap();
    let (org, ivy) = (created.org_id, created.admin_id);
    s.insert_oidc_cli_code(&[1; 32], org, ivy, "challenge-1", t0(), at(2))
        .await
        .unwrap();
    s.insert_oidc_cli_code(&[2; 32], org, ivy, "challenge-2", t0(), at(2))
        .await
        .unwrap();
    assert_eq!(
        s.take_oidc_cli_code(&[1; 32], at(1)).await.unwrap(),
        Some((org, ivy, "challenge-1".to_string()))
    );
    assert_eq!(
        s.take_oidc_cli_code(&[1; 32], at(1)).await.unwrap(),
        None,
        "once"
    );
    assert_eq!(
        s.take_oidc_cli_code(&[2; 32], at(2)).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(s.take_oidc_cli_code(&[3; 32], at(1)).await.unwrap(), None);
}
