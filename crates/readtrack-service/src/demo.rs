//! The demo: a Hong Kong retail and logistics company, and a simulated crowd that reads
//! its notices with realistic delays so a newcomer watches a read board fill up.

use std::collections::HashSet;
use std::time::Duration;

use readtrack_bus::BusMessage;
use readtrack_domain::audience::AudienceInput;
use readtrack_domain::event::EventBody;
use readtrack_domain::ids::{MemberId, MessageId, OrgId};
use readtrack_domain::message::NewMessageInput;
use readtrack_domain::receipt::{EventId, ParsedReceipt, ReceiptKind};
use readtrack_domain::rights::{GrantInput, SendingRightsInput};
use readtrack_domain::working_time::WorkCalendar;
use readtrack_storage::ReceiptWrite;

use crate::directory::{ImportOutcome, MemberPatchInput};
use crate::org::SetupInput;
use crate::privacy::SettingsPatch;
use crate::{App, Caller, Result, ServiceError};

/// The password of the demo's three sign-ins.
pub const DEMO_PASSWORD: &str = "readtrack-demo";
/// The demo admin.
pub const DEMO_ADMIN: &str = "admin@harbourline.example";
/// The demo sender (operations director).
pub const DEMO_SENDER: &str = "grace.wong@harbourline.example";
/// A demo employee the crowd leaves alone, for trying the reader's side by hand.
pub const DEMO_READER: &str = "kelvin.chan@harbourline.example";

/// The sign-ins a seeded demo prints.
#[derive(Debug, Clone)]
pub struct DemoLogins {
    /// (role, email) pairs, all with [`DEMO_PASSWORD`].
    pub logins: Vec<(&'static str, &'static str)>,
    /// Members created.
    pub members: u64,
}

const SURNAMES: &[&str] = &[
    "Chan", "Wong", "Lee", "Cheung", "Lau", "Ho", "Ng", "Leung", "Yip", "Tam", "Lam", "Cheng",
    "Kwok", "Tsang", "Mak", "Fung", "Lo", "Choi", "Yeung", "Siu", "Chow", "Tang", "Law", "Poon",
];
const GIVEN: &[&str] = &[
    "Ka Yan",
    "Wing Sze",
    "Chi Ho",
    "Man Kit",
    "Hoi Ting",
    "Tsz Ching",
    "Ka Ho",
    "Wai Man",
    "Siu Fung",
    "Pui Yee",
    "Chun Kit",
    "Hiu Tung",
    "Yan Ting",
    "Kwok Wai",
    "Mei Ling",
    "Sze Wan",
    "Ho Yin",
    "Lok Yi",
    "Ming Hei",
    "Wing Yan",
];
const ENGLISH: &[&str] = &[
    "Karen", "Jason", "Winnie", "Eric", "Cindy", "Kenneth", "Joyce", "Alan", "Vivian", "Dickson",
    "Phoebe", "Raymond", "Iris", "Terence", "Queenie", "Marco", "Fiona", "Samuel", "Bonnie",
    "Oscar",
];

/// (department path, staff count).
const DEPARTMENTS: &[(&str, usize)] = &[
    ("Head Office/Human Resources", 8),
    ("Head Office/Finance", 8),
    ("Head Office/IT", 9),
    ("Head Office/Compliance", 5),
    ("Retail/Hong Kong Island/Causeway Bay", 16),
    ("Retail/Hong Kong Island/Central", 13),
    ("Retail/Kowloon/Mong Kok", 17),
    ("Retail/Kowloon/Tsim Sha Tsui", 15),
    ("Retail/New Territories/Sha Tin", 14),
    ("Retail/New Territories/Tsuen Wan", 12),
    ("Logistics/Kwai Chung Warehouse", 22),
    ("Logistics/Tsing Yi Distribution Centre", 20),
    ("Logistics/Fleet and Dispatch", 16),
    ("Customer Service", 14),
];

fn demo_csv() -> String {
    let mut out = String::from("name,email,department,manager_email,backup_email,role\n");
    let mut used = HashSet::new();
    let mut n = 0usize;
    let mut person =
        |dept: &str, manager: &str, backup: &str, fixed: Option<(&str, &str)>| -> String {
            let (name, email) = match fixed {
                Some((name, email)) => (name.to_string(), email.to_string()),
                None => loop {
                    n += 1;
                    let surname = SURNAMES[(n * 7) % SURNAMES.len()];
                    let given = GIVEN[(n * 3) % GIVEN.len()];
                    let english = ENGLISH[(n * 11) % ENGLISH.len()];
                    let email = format!(
                        "{}.{}@harbourline.example",
                        english.to_lowercase(),
                        surname.to_lowercase()
                    );
                    let email = if used.contains(&email) {
                        format!(
                            "{}.{}{n}@harbourline.example",
                            english.to_lowercase(),
                            surname.to_lowercase()
                        )
                    } else {
                        email
                    };
                    if used.insert(email.clone()) {
                        break (format!("{english} {surname} {given}"), email);
                    }
                },
            };
            used.insert(email.clone());
            out.push_str(&format!(
                "{name},{email},Harbour Line/{dept},{manager},{backup},member\n"
            ));
            email
        };
    let ceo = person(
        "Head Office",
        "",
        "",
        Some((
            "Catherine Leung Wai Kwan",
            "catherine.leung@harbourline.example",
        )),
    );
    let ops = person(
        "Head Office",
        &ceo,
        "",
        Some(("Grace Wong Mei Ling", DEMO_SENDER)),
    );
    let retail_head = person(
        "Retail",
        &ops,
        "",
        Some(("Patrick Ho Chi Wai", "patrick.ho@harbourline.example")),
    );
    let logistics_head = person(
        "Logistics",
        &ops,
        &retail_head,
        Some(("Daniel Tam Ka Ming", "daniel.tam@harbourline.example")),
    );
    for (dept, staff) in DEPARTMENTS {
        let head_of = if dept.starts_with("Retail") {
            &retail_head
        } else if dept.starts_with("Logistics") {
            &logistics_head
        } else {
            &ops
        };
        let manager = person(dept, head_of, "", None);
        let deputy = person(dept, &manager, &manager, None);
        for i in 0..staff.saturating_sub(2) {
            let fixed = (*dept == "Retail/Kowloon/Mong Kok" && i == 0)
                .then_some(("Kelvin Chan Chun Kit", DEMO_READER));
            person(dept, &manager, &deputy, fixed);
        }
    }
    out
}

impl App {
    /// Seeds the demo organisation when the server has none; returns the sign-ins.
    pub async fn seed_demo(&self) -> Result<Option<DemoLogins>> {
        if self.is_set_up().await? {
            return Ok(None);
        }
        let setup = self
            .first_org(SetupInput {
                org_name: "Harbour Line".into(),
                time_zone: "Asia/Hong_Kong".into(),
                admin_name: "Ivy Lam (IT admin)".into(),
                admin_email: DEMO_ADMIN.into(),
                admin_password: DEMO_PASSWORD.into(),
                setup_code: String::new(),
            })
            .await?;
        let admin = self.authenticate(&setup.token).await?;
        let created = match self.import_members(&admin, &demo_csv(), false).await? {
            ImportOutcome::Done(c) => c.created,
            ImportOutcome::Refused(errors) => {
                return Err(ServiceError::internal(format!(
                    "demo directory refused: {errors:?}"
                )));
            }
        };
        let everyone = self
            .members(
                &admin,
                Default::default(),
                readtrack_storage::Page {
                    limit: 10_000,
                    after: None,
                },
            )
            .await?;
        // Sending rights as a company would set them: head office (the operations
        // director among them) sends to everyone; managers to their own department;
        // store and warehouse staff send nothing.
        let head_office = self
            .departments(&admin)
            .await?
            .into_iter()
            .find(|d| d.name == "Head Office")
            .map(|d| d.id.to_string());
        if let Some(head_office) = head_office {
            let everything = || GrantInput {
                reach: "everyone".into(),
                max_priority: "urgent".into(),
                max_tracking: "per_person".into(),
            };
            self.update_settings(
                &admin,
                SettingsPatch {
                    sending_rights: Some(SendingRightsInput {
                        staff: GrantInput {
                            reach: "nobody".into(),
                            max_priority: "normal".into(),
                            max_tracking: "off".into(),
                        },
                        managers: GrantInput {
                            reach: "own_department".into(),
                            ..everything()
                        },
                        departments: vec![(head_office, everything())],
                        // The operations director may send emergencies (the typhoon).
                        emergency_senders: everyone
                            .iter()
                            .filter(|m| m.email == DEMO_SENDER)
                            .map(|m| m.id.to_string())
                            .collect(),
                    }),
                    ..Default::default()
                },
            )
            .await?;
        }
        let org = self.org(admin.org_id()).await?;
        for (i, m) in everyone.iter().enumerate() {
            if m.email == DEMO_SENDER || m.email == DEMO_READER {
                self.update_member(
                    &admin,
                    &m.id.to_string(),
                    MemberPatchInput {
                        password: Some(DEMO_PASSWORD.into()),
                        ..Default::default()
                    },
                )
                .await?;
            }
            // Most people have acknowledged the policy; the rest show how the board keeps
            // them private (counted, never listed).
            if i % 11 != 5 || m.email == DEMO_SENDER || m.email == DEMO_READER {
                self.storage()
                    .ack_policy(m.id, org.settings.policy_version, self.clock().now())
                    .await?;
            }
        }
        Ok(Some(DemoLogins {
            logins: vec![
                ("admin", DEMO_ADMIN),
                ("sender", DEMO_SENDER),
                ("reader", DEMO_READER),
            ],
            members: created,
        }))
    }

    /// Sends the demo's opening notices from the sender, so the board moves at once.
    pub async fn send_demo_notices(&self) -> Result<()> {
        let Some(login) = self.storage().login_record(DEMO_SENDER).await? else {
            return Ok(());
        };
        let sender = self.caller_for(login.org_id, login.member_id).await?;
        let departments = self.departments(&sender).await?;
        let id_of = |name: &str| {
            departments
                .iter()
                .find(|d| d.name == name)
                .map(|d| d.id.to_string())
        };
        let everyone: Vec<String> = ["Retail", "Logistics", "Customer Service"]
            .iter()
            .filter_map(|n| id_of(n))
            .collect();
        self.send_message(
            &sender,
            NewMessageInput {
                title: Some("Typhoon Signal No. 8: store and warehouse arrangements".into()),
                body: Some("The Observatory expects to raise Signal No. 8 at 14:00.\n\n- **Stores** close at 13:30; shutters down by 13:45.\n- **Warehouses and fleet**: last dispatch 12:30, all vehicles back by 13:30.\n- Go home safely. Confirm you have read this so your manager knows you are safe.".into()),
                priority: Some("urgent".into()),
                require_ack: Some(true),
                audience: Some(AudienceInput { members: vec![], departments: everyone }),
                emergency_reason: Some("Typhoon Signal No. 8 expected at 14:00".into()),
                ..Default::default()
            },
        )
        .await?;
        if let Some(head_office) = id_of("Head Office") {
            self.send_message(
                &sender,
                NewMessageInput {
                    title: Some("Q4 town hall, Friday 16:00, Kwai Chung".into()),
                    body: Some("Results of the quarter and the peak-season plan. Tell us if you are coming.".into()),
                    priority: Some("important".into()),
                    response_options: Some(vec!["Attending".into(), "Not attending".into()]),
                    audience: Some(AudienceInput { members: vec![], departments: vec![head_office] }),
                    ..Default::default()
                },
            )
            .await?;
        }
        Ok(())
    }

    async fn caller_for(&self, org: OrgId, id: MemberId) -> Result<Caller> {
        let member = self
            .storage()
            .member(org, id)
            .await?
            .ok_or(ServiceError::NotFound("member"))?;
        Ok(Caller {
            member,
            token_id: readtrack_domain::ids::TokenId(0),
            token_kind: readtrack_storage::TokenKind::Session,
        })
    }

    /// Starts the simulated crowd: every new notice of the demo organisation is
    /// delivered, read and (where asked) confirmed by its recipients over the next minutes,
    /// except by the reader account kept for people to try by hand. Subscribes before it
    /// returns, so nothing sent afterwards is missed; runs until shutdown.
    pub async fn start_demo_crowd(self) -> Result<tokio::task::JoinHandle<()>> {
        let mut bus = self
            .bus()
            .subscribe()
            .await
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        // Notices sent before a restart lost their simulated readers with the process:
        // take them up again (reports that change nothing are harmless).
        tokio::spawn(self.clone().resume_demo_crowd());
        Ok(tokio::spawn(async move {
            let mut shutdown = self.shutdown_signal();
            loop {
                let msg = tokio::select! {
                    m = bus.recv() => m,
                    _ = shutdown.signalled() => None,
                };
                let Some(msg) = msg else { return };
                let BusMessage::Events(batch) = msg else {
                    continue;
                };
                for event in batch.iter() {
                    if let EventBody::MessageCreated {
                        message_id,
                        require_ack,
                        ..
                    } = &event.body
                    {
                        tokio::spawn(self.clone().crowd_reads(
                            event.org_id,
                            *message_id,
                            *require_ack,
                        ));
                    }
                }
            }
        }))
    }

    /// Restarts the crowd on the demo sender's recent notices that are not yet fully read
    /// (or confirmed, where asked) by everyone but the reader account.
    async fn resume_demo_crowd(self) {
        let Ok(Some(sender)) = self.storage().login_record(DEMO_SENDER).await else {
            return;
        };
        let recent = readtrack_storage::Page {
            limit: 20,
            after: None,
        };
        let Ok(sent) = self.storage().sent(sender.member_id, recent).await else {
            return;
        };
        for message in sent {
            let Ok(summary) = self.storage().summary(&message).await else {
                continue;
            };
            // The reader account never reports, so one left over is done.
            let open = summary.read + 1 < summary.recipients
                || (message.require_ack && summary.acknowledged + 1 < summary.recipients);
            if open {
                tokio::spawn(self.clone().crowd_reads(
                    message.org_id,
                    message.id,
                    message.require_ack,
                ));
            }
        }
    }

    async fn crowd_reads(self, org: OrgId, message: MessageId, require_ack: bool) {
        // Looked up per notice, not when the crowd starts: on a fresh data directory the
        // crowd starts before the demo organisation (and its reader account) exists.
        let skip = self
            .storage()
            .login_record(DEMO_READER)
            .await
            .ok()
            .flatten()
            .map(|r| r.member_id);
        let Ok(recipients) = self.storage().recipient_ids(message).await else {
            return;
        };
        let Ok(Some(record)) = self.storage().message(org, message).await else {
            return;
        };
        let Ok(settings) = self.org(org).await else {
            return;
        };
        let calendar = WorkCalendar::new(
            &settings.settings.time_zone,
            &settings.settings.working_hours,
            &settings.settings.quiet_hours,
        );
        // (seconds after sending, member, kind)
        let mut plan: Vec<(f64, MemberId, ReceiptKind)> = Vec::new();
        for member in recipients.into_iter().filter(|m| Some(*m) != skip) {
            if rand::random_bool(0.04) {
                continue; // phone off: never even delivered
            }
            let delivered = rand::random_range(0.5..8.0);
            plan.push((delivered, member, ReceiptKind::Delivered));
            if rand::random_bool(0.12) {
                continue; // delivered, never read while we watch
            }
            // Log-normal reading delay: most within a minute, a long tail over minutes.
            let normal: f64 = (0..6).map(|_| rand::random::<f64>()).sum::<f64>() - 3.0;
            let read = delivered + (20.0 * (normal * 0.9).exp()).min(240.0);
            plan.push((read, member, ReceiptKind::Read));
            if require_ack && rand::random_bool(0.85) {
                plan.push((
                    read + rand::random_range(3.0..40.0),
                    member,
                    ReceiptKind::Ack,
                ));
            }
        }
        plan.sort_by(|a, b| a.0.total_cmp(&b.0));
        let started = tokio::time::Instant::now();
        let mut shutdown = self.shutdown_signal();
        let mut i = 0;
        while i < plan.len() {
            let due = started + Duration::from_secs_f64(plan[i].0);
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = shutdown.signalled() => return,
            }
            // Everything due within the next 200 ms goes in one write, as clients batch.
            let horizon = plan[i].0 + 0.2;
            let now = self.clock().now();
            let mut writes = Vec::new();
            while i < plan.len() && plan[i].0 <= horizon {
                let (_, member, kind) = plan[i];
                i += 1;
                let response = (kind == ReceiptKind::Ack && !record.response_options.is_empty())
                    .then(|| {
                        let pick = if rand::random_bool(0.7) {
                            0
                        } else {
                            1 + rand::random_range(0..record.response_options.len().max(2) - 1)
                        };
                        record.response_options[pick.min(record.response_options.len() - 1)].clone()
                    });
                let Ok(event_id) = EventId::parse("event_id", &uuid::Uuid::new_v4().to_string())
                else {
                    continue;
                };
                writes.push(ReceiptWrite {
                    org_id: org,
                    member_id: member,
                    at_in_quiet_hours: kind >= ReceiptKind::Read && calendar.is_quiet(now),
                    receipt: ParsedReceipt {
                        event_id,
                        message_id: message,
                        kind,
                        at: now,
                        device_at: None,
                        response,
                    },
                });
            }
            if let Err(e) = self.writer().write(writes).await {
                tracing::debug!(error = %e, "demo crowd write failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_directory_has_about_two_hundred_people_with_unique_emails() {
        let csv = demo_csv();
        let lines: Vec<&str> = csv.lines().skip(1).collect();
        assert!((190..=230).contains(&lines.len()), "{} people", lines.len());
        let emails: HashSet<&str> = lines.iter().map(|l| l.split(',').nth(1).unwrap()).collect();
        assert_eq!(emails.len(), lines.len());
        assert!(emails.contains(DEMO_SENDER) && emails.contains(DEMO_READER));
    }
}
