//! One storage suite, two backends: builds a fresh store of either kind, and the small
//! world (an organisation, departments, people) most tests start from.

#![allow(dead_code)]

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use readtrack_domain::audience::Audience;
use readtrack_domain::email::Email;
use readtrack_domain::ids::{DepartmentId, MemberId, MessageId, OrgId};
use readtrack_domain::member::Role;
use readtrack_domain::message::{NewMessage, Priority, Tracking};
use readtrack_domain::receipt::{EventId, ParsedReceipt, ReceiptKind};
use readtrack_domain::reminder::ReminderPlan;
use readtrack_domain::settings::OrgSettings;
use readtrack_domain::time_zone::Zone;
use readtrack_storage::postgres::{PostgresStorage, ScratchDatabase};
use readtrack_storage::sqlite::SqliteStorage;
use readtrack_storage::*;

/// Which backend a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty store; its database disappears with it.
pub struct TestStore {
    pub backend: Backend,
    pub storage: Arc<dyn Storage>,
    sqlite_dir: Option<tempfile::TempDir>,
    // Declared last: the pools above close before the database is dropped.
    postgres: Option<ScratchDatabase>,
}

impl TestStore {
    /// A second, independent handle on the same database, as another process or node
    /// would have.
    pub async fn another_handle(&self) -> Arc<dyn Storage> {
        match (&self.sqlite_dir, &self.postgres) {
            (Some(dir), _) => Arc::new(SqliteStorage::open(dir.path()).await.expect("reopen")),
            (_, Some(db)) => Arc::new(PostgresStorage::connect(db.url()).await.expect("reconnect")),
            _ => unreachable!("a store has one backend"),
        }
    }
}

impl std::ops::Deref for TestStore {
    type Target = dyn Storage;
    fn deref(&self) -> &Self::Target {
        self.storage.as_ref()
    }
}

/// A store on a fresh SQLite file.
pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = SqliteStorage::open(dir.path()).await.expect("open sqlite");
    TestStore {
        backend: Backend::Sqlite,
        storage: Arc::new(storage),
        sqlite_dir: Some(dir),
        postgres: None,
    }
}

/// A store on a fresh PostgreSQL database, or `None` (with a line saying so) when
/// `READTRACK_TEST_POSTGRES` is not set. Under `CI=true` a missing database fails.
pub async fn postgres(test: &str) -> Option<TestStore> {
    let Ok(admin) = std::env::var("READTRACK_TEST_POSTGRES") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but READTRACK_TEST_POSTGRES is not set: the PostgreSQL suite must run in CI"
        );
        println!("skipped: PostgreSQL not configured (set READTRACK_TEST_POSTGRES) for {test}");
        return None;
    };
    let db = ScratchDatabase::create(&admin)
        .await
        .expect("create a test database");
    let storage = PostgresStorage::connect(db.url())
        .await
        .expect("connect and migrate");
    Some(TestStore {
        backend: Backend::Postgres,
        storage: Arc::new(storage),
        sqlite_dir: None,
        postgres: Some(db),
    })
}

/// Runs each named test function (taking a `TestStore`) once per backend, as
/// `sqlite::name` and `postgres::name`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::harness::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(store) = crate::harness::postgres(stringify!($name)).await {
                        super::$name(store).await;
                    }
                }
            )*
        }
    };
}

/// Tuesday 1 December 2026, 10:00 in Hong Kong: inside working hours.
pub fn t0() -> Timestamp {
    "2026-12-01T02:00:00Z".parse().unwrap()
}

/// `t0` plus some minutes.
pub fn at(minutes: i64) -> Timestamp {
    t0() + SignedDuration::from_mins(minutes)
}

pub fn email(s: &str) -> Email {
    Email::parse("email", s).unwrap()
}

/// An organisation, two departments under its root, and people who acknowledged the
/// policy: `sender` in the root, `north` people in North, `south` people in South.
pub struct World {
    pub org: OrgId,
    pub admin: MemberId,
    pub root: DepartmentId,
    pub north: DepartmentId,
    pub south: DepartmentId,
    pub sender: MemberId,
    pub north_people: Vec<MemberId>,
    pub south_people: Vec<MemberId>,
}

pub fn new_org(name: &str, admin_email: &str) -> NewOrg {
    NewOrg {
        name: name.into(),
        settings: OrgSettings::new(Zone::parse("time_zone", "Asia/Hong_Kong").unwrap()),
        admin_name: "Ivy Lam".into(),
        admin_email: email(admin_email),
        admin_password_hash: "$argon2id$not-a-real-hash".into(),
        now: t0(),
    }
}

pub async fn person(
    s: &dyn Storage,
    org: OrgId,
    dept: DepartmentId,
    name: &str,
    mail: &str,
) -> MemberId {
    let m = s
        .create_member(NewMember {
            org_id: org,
            name: name.into(),
            email: email(mail),
            department_id: dept,
            manager_id: None,
            backup_id: None,
            role: Role::Member,
            password_hash: None,
            time_zone: None,
            phone: None,
            external_id: None,
            now: t0(),
        })
        .await
        .expect("create member");
    s.ack_policy(m.id, 1, t0()).await.expect("ack policy");
    m.id
}

pub async fn world(s: &dyn Storage, north: usize, south: usize) -> World {
    let created = s
        .setup(new_org("Harbour Line", "ivy@hl.example"))
        .await
        .unwrap();
    let dept = |name: &str| NewDepartment {
        org_id: created.org_id,
        name: name.into(),
        parent_id: Some(created.root_department_id),
        now: t0(),
    };
    let n = s.create_department(dept("North")).await.unwrap().id;
    let so = s.create_department(dept("South")).await.unwrap().id;
    let sender = person(
        s,
        created.org_id,
        created.root_department_id,
        "Grace",
        "grace@hl.example",
    )
    .await;
    let mut north_people = Vec::new();
    for i in 0..north {
        north_people.push(
            person(
                s,
                created.org_id,
                n,
                &format!("North {i:03}"),
                &format!("n{i}@hl.example"),
            )
            .await,
        );
    }
    let mut south_people = Vec::new();
    for i in 0..south {
        south_people.push(
            person(
                s,
                created.org_id,
                so,
                &format!("South {i:03}"),
                &format!("s{i}@hl.example"),
            )
            .await,
        );
    }
    World {
        org: created.org_id,
        admin: created.admin_id,
        root: created.root_department_id,
        north: n,
        south: so,
        sender,
        north_people,
        south_people,
    }
}

/// A tracked (per-person, urgent) notice from the world's sender.
pub fn notice(w: &World, members: &[MemberId], departments: &[DepartmentId]) -> NewMessageRecord {
    NewMessageRecord {
        org_id: w.org,
        sender_id: w.sender,
        message: NewMessage {
            title: "Typhoon signal No. 8".into(),
            body: "Stores close at 15:00.".into(),
            priority: Priority::Urgent,
            tracking: Tracking::PerPerson,
            require_ack: true,
            response_options: vec![],
            audience: Audience {
                members: members.to_vec(),
                departments: departments.to_vec(),
            },
            reminders: None,
            deadline: None,
            emergency_reason: None,
        },
        departments_expanded: departments.to_vec(),
        is_async: false,
        first_steps: vec![],
        now: t0(),
    }
}

/// A notice with a reminder plan whose first reminder is due at `due`.
pub fn reminded_notice(w: &World, members: &[MemberId], due: Timestamp) -> NewMessageRecord {
    let mut n = notice(w, members, &[]);
    n.message.reminders = Some(ReminderPlan {
        remind_after_minutes: 60,
        remind_every_minutes: 60,
        max_reminders: 2,
        escalate_after_minutes: None,
        escalate_to: vec![],
        create_task: false,
    });
    n.first_steps = vec![FirstStep {
        zone: None,
        step: StepKind::Reminder,
        step_no: 1,
        due_at: due,
    }];
    n
}

/// One report of `member` on `message`.
pub fn report(
    org: OrgId,
    member: MemberId,
    message: MessageId,
    event_id: &str,
    kind: ReceiptKind,
    at: Timestamp,
) -> ReceiptWrite {
    ReceiptWrite {
        org_id: org,
        member_id: member,
        receipt: ParsedReceipt {
            event_id: EventId::parse("event_id", event_id).unwrap(),
            message_id: message,
            kind,
            at,
            device_at: None,
            response: None,
        },
        at_in_quiet_hours: false,
    }
}
