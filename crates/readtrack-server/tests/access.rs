//! Access control, table-driven: every endpoint of the OpenAPI document against every
//! kind of caller, each answer exactly what API.md allows; tokens of one organisation
//! never reach another's data. A new endpoint without a row in the table fails the test.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{TestApp, receipt};
use readtrack_service::org::SetupInput;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The callers, in the order of each row's expectations.
const ROLES: [&str; 8] = [
    "none",
    "expired",
    "member",
    "sender",
    "manager",
    "admin",
    "auditor",
    "other_admin",
];

/// A request body.
#[derive(Clone, Copy)]
enum Body {
    None,
    Json(fn(&Fixture) -> Value),
    Csv(&'static str),
}

/// One endpoint: method, path as documented, the concrete path (ids of organisation A
/// filled in), the body, and the status each caller of [`ROLES`] must get.
struct Row {
    method: Method,
    documented: &'static str,
    path: fn(&Fixture) -> String,
    body: Body,
    expect: [u16; 8],
}

/// Organisation A with a person for each role, a tracked notice from the sender to
/// the member, manager and auditor, a task, a survey and a webhook; organisation B with
/// its own admin.
struct Fixture {
    app: TestApp,
    tokens: [Option<String>; 8],
    dept: String,
    member_id: String,
    message: String,
    task: String,
    survey: String,
    other_admin_email: &'static str,
}

const SENDER: usize = 3;
const ADMIN: usize = 5;
const OTHER_ADMIN: usize = 7;

impl Fixture {
    fn token(&self, role: usize) -> Option<&str> {
        self.tokens[role].as_deref()
    }
}

async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let dept = app.department(&org.admin, "Kowloon", Some(&org.root)).await;
    let (sender_id, sender) = app
        .person(&org.admin, "Grace", "grace@harbour.example", &dept, true)
        .await;
    let (manager_id, manager) = app
        .person(&org.admin, "Mona", "mona@harbour.example", &dept, true)
        .await;
    let (member_id, member) = app
        .person_with(
            &org.admin,
            json!({"name": "Ada", "email": "ada@harbour.example", "department_id": dept,
                   "manager_id": manager_id}),
            true,
        )
        .await;
    let (_, auditor) = app
        .person_with(
            &org.admin,
            json!({"name": "Otto", "email": "otto@harbour.example", "department_id": dept,
                   "role": "auditor"}),
            true,
        )
        .await;
    let _ = sender_id;

    // A token that expires in a day, for a clock that then moves two days on.
    let (status, expiring) = app
        .post(
            "/api/v1/tokens",
            Some(&org.admin),
            json!({"name": "short-lived", "member_id": member_id, "expires_in_days": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{expiring}");
    let expired = expiring["token"].as_str().unwrap().to_string();

    let message = app
        .send(
            &sender,
            json!({"title": "Typhoon signal No. 8", "body": "Stores close at 15:00.",
                   "priority": "urgent", "tracking": "per_person", "require_ack": true,
                   "audience": {"departments": [dept]}}),
        )
        .await;
    // A notice escalated at once, so the member has a task.
    app.send(
        &sender,
        json!({"title": "Sign the roster", "priority": "urgent", "audience": {"members": [member_id]},
               "reminders": {"remind_after_minutes": 1, "max_reminders": 1, "remind_every_minutes": 1,
                             "escalate_after_minutes": 2, "escalate_to": ["manager"], "create_task": true}}),
    )
    .await;
    app.advance(10).await;
    let task = app
        .eventually("the member's task", Duration::from_secs(10), || async {
            let (_, tasks) = app.get("/api/v1/tasks", Some(&member)).await;
            tasks["items"][0]["id"].as_str().map(str::to_string)
        })
        .await;
    let (status, survey) = app
        .post(
            "/api/v1/surveys",
            Some(&org.admin),
            json!({"title": "Do you feel monitored?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{survey}");
    let survey = survey["id"].as_str().unwrap().to_string();

    // Organisation B: only the service can create it (an operator action).
    let other = app
        .service
        .create_org(SetupInput {
            org_name: "Other Co".into(),
            time_zone: "Europe/London".into(),
            admin_name: "Olga".into(),
            admin_email: "olga@other.example".into(),
            admin_password: "correct horse".into(),
            setup_code: String::new(),
        })
        .await
        .expect("a second organisation");

    app.advance(2 * 24 * 60).await;
    assert_eq!(
        app.get("/api/v1/me", Some(&expired)).await.0,
        StatusCode::UNAUTHORIZED,
        "the short-lived token has expired"
    );
    Fixture {
        tokens: [
            None,
            Some(expired),
            Some(member),
            Some(sender),
            Some(manager),
            Some(org.admin),
            Some(auditor),
            Some(other.token),
        ],
        app,
        dept,
        member_id,
        message,
        task,
        survey,
        other_admin_email: "olga@other.example",
    }
}

/// A fresh webhook of organisation A, so each caller has one to delete.
async fn fresh_webhook(f: &Fixture) -> String {
    let (status, hook) = f
        .app
        .post(
            "/api/v1/webhooks",
            f.token(ADMIN),
            json!({"url": "http://127.0.0.1:9/hook", "events": ["receipt.updated"],
                   "secret": "a shared secret of some length"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    hook["id"].as_str().unwrap().to_string()
}

/// A fresh API token of organisation A, so each caller has one to revoke.
async fn fresh_token(f: &Fixture) -> String {
    let (status, token) = f
        .app
        .post(
            "/api/v1/tokens",
            f.token(ADMIN),
            json!({"name": "to revoke", "member_id": f.member_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    token["id"].as_str().unwrap().to_string()
}

const PERIOD: &str = "from=2026-11-01T00:00:00Z&to=2026-12-31T00:00:00Z";
const COMPARE: &str = "before_from=2026-10-01T00:00:00Z&before_to=2026-11-01T00:00:00Z&after_from=2026-11-01T00:00:00Z&after_to=2026-12-31T00:00:00Z";
/// Placeholders replaced just before the call by a fresh resource.
const FRESH_WEBHOOK: &str = "{fresh-webhook}";
const FRESH_TOKEN: &str = "{fresh-token}";

fn get(documented: &'static str, path: fn(&Fixture) -> String, expect: [u16; 8]) -> Row {
    Row {
        method: Method::GET,
        documented,
        path,
        body: Body::None,
        expect,
    }
}

fn write(
    method: Method,
    documented: &'static str,
    path: fn(&Fixture) -> String,
    body: Body,
    expect: [u16; 8],
) -> Row {
    Row {
        method,
        documented,
        path,
        body,
        expect,
    }
}

/// The table. Columns: none, expired, member, sender, manager, admin, auditor, other
/// organisation's admin. The member, manager and auditor received the notice; the admin
/// did not. Ids are organisation A's, so the last column is the cross-organisation probe.
fn table() -> Vec<Row> {
    use Method as M;
    vec![
        // Setup and sign-in: public, the body decides.
        write(
            M::POST,
            "/api/v1/setup",
            |_| "/api/v1/setup".into(),
            Body::Json(
                |_| json!({"org_name": "X", "time_zone": "Asia/Hong_Kong", "admin": {"name": "A", "email": "a@x.example", "password": "longenough"}}),
            ),
            [409, 409, 409, 409, 409, 409, 409, 409],
        ),
        write(
            M::POST,
            "/api/v1/auth/login",
            |_| "/api/v1/auth/login".into(),
            Body::Json(|_| json!({"email": "ada@harbour.example", "password": "not the password"})),
            [401, 401, 401, 401, 401, 401, 401, 401],
        ),
        // Each signed-in member sets their own.
        write(
            M::PUT,
            "/api/v1/me/notifications",
            |_| "/api/v1/me/notifications".into(),
            Body::Json(|_| json!({"email_reminders": true})),
            [401, 401, 200, 200, 200, 200, 200, 200],
        ),
        // Only a one-time code from a finished sign-in, with its verifier, makes a session.
        write(
            M::POST,
            "/api/v1/auth/oidc/exchange",
            |_| "/api/v1/auth/oidc/exchange".into(),
            Body::Json(|_| json!({"code": "not-a-code", "code_verifier": "not-the-verifier"})),
            [401, 401, 401, 401, 401, 401, 401, 401],
        ),
        // Anyone may ask; this server sends no email, so nobody gets a link.
        write(
            M::POST,
            "/api/v1/auth/password-reset",
            |_| "/api/v1/auth/password-reset".into(),
            Body::Json(|_| json!({"email": "ada@harbour.example"})),
            [409, 409, 409, 409, 409, 409, 409, 409],
        ),
        get(
            "/api/v1/me",
            |_| "/api/v1/me".into(),
            [401, 401, 200, 200, 200, 200, 200, 200],
        ),
        write(
            M::POST,
            "/api/v1/tokens",
            |_| "/api/v1/tokens".into(),
            Body::Json(|f| json!({"name": "bot", "member_id": f.member_id})),
            [401, 401, 403, 403, 403, 201, 403, 400],
        ),
        write(
            M::POST,
            "/api/v1/tokens/batch",
            |_| "/api/v1/tokens/batch".into(),
            Body::Json(|f| json!({"name": "kiosk", "member_ids": [f.member_id]})),
            [401, 401, 403, 403, 403, 201, 403, 400],
        ),
        write(
            M::DELETE,
            "/api/v1/tokens/{id}",
            |_| format!("/api/v1/tokens/{FRESH_TOKEN}"),
            Body::None,
            [401, 401, 403, 403, 403, 204, 403, 404],
        ),
        // Policy and settings: the rules are public inside the organisation.
        write(
            M::POST,
            "/api/v1/policy/ack",
            |_| "/api/v1/policy/ack".into(),
            Body::Json(|_| json!({"version": 1})),
            [401, 401, 200, 200, 200, 200, 200, 200],
        ),
        get(
            "/api/v1/policy",
            |_| "/api/v1/policy".into(),
            [401, 401, 200, 200, 200, 200, 200, 200],
        ),
        get(
            "/api/v1/org/settings",
            |_| "/api/v1/org/settings".into(),
            [401, 401, 200, 200, 200, 200, 200, 200],
        ),
        write(
            M::PATCH,
            "/api/v1/org/settings",
            |_| "/api/v1/org/settings".into(),
            Body::Json(|_| json!({"min_group_size": 5})),
            [401, 401, 403, 403, 403, 200, 403, 200],
        ),
        get(
            "/api/v1/me/export",
            |_| "/api/v1/me/export".into(),
            [401, 401, 200, 200, 200, 200, 200, 200],
        ),
        // Everyone may change their own password, given the current one (wrong here).
        write(
            M::POST,
            "/api/v1/me/password",
            |_| "/api/v1/me/password".into(),
            Body::Json(|_| json!({"current_password": "not it", "new_password": "a-new-secret"})),
            [401, 401, 403, 403, 403, 403, 403, 403],
        ),
        get(
            "/api/v1/audit",
            |_| "/api/v1/audit".into(),
            [401, 401, 403, 403, 403, 200, 200, 200],
        ),
        // Analytics: admins, auditors, managers (their own subtree).
        get(
            "/api/v1/analytics/departments",
            |_| format!("/api/v1/analytics/departments?{PERIOD}"),
            [401, 401, 403, 403, 200, 200, 200, 200],
        ),
        get(
            "/api/v1/analytics/compare",
            |_| format!("/api/v1/analytics/compare?{COMPARE}"),
            [401, 401, 403, 403, 200, 200, 200, 200],
        ),
        // Surveys: the admin asks, everyone answers once, admins and auditors see results.
        write(
            M::POST,
            "/api/v1/surveys",
            |_| "/api/v1/surveys".into(),
            Body::Json(|_| json!({"title": "How are we doing?"})),
            [401, 401, 403, 403, 403, 201, 403, 201],
        ),
        get(
            "/api/v1/surveys",
            |_| "/api/v1/surveys".into(),
            [401, 401, 200, 200, 200, 200, 200, 200],
        ),
        write(
            M::POST,
            "/api/v1/surveys/{id}/answers",
            |f| format!("/api/v1/surveys/{}/answers", f.survey),
            Body::Json(|_| json!({"monitored": 2, "helped": 4})),
            [401, 401, 204, 204, 204, 204, 204, 404],
        ),
        get(
            "/api/v1/surveys/{id}/results",
            |f| format!("/api/v1/surveys/{}/results", f.survey),
            [401, 401, 403, 403, 403, 200, 200, 404],
        ),
        write(
            M::POST,
            "/api/v1/surveys/{id}/close",
            |f| format!("/api/v1/surveys/{}/close", f.survey),
            Body::None,
            [401, 401, 403, 403, 403, 200, 403, 404],
        ),
        // Directory: admins write, everyone in the organisation reads.
        write(
            M::POST,
            "/api/v1/departments",
            |_| "/api/v1/departments".into(),
            Body::Json(|_| json!({"name": "New department"})),
            [401, 401, 403, 403, 403, 201, 403, 201],
        ),
        get(
            "/api/v1/departments",
            |_| "/api/v1/departments".into(),
            [401, 401, 200, 200, 200, 200, 200, 200],
        ),
        write(
            M::POST,
            "/api/v1/members",
            |_| "/api/v1/members".into(),
            Body::Json(
                |f| json!({"name": "Newcomer", "email": format!("new-{}@harbour.example", rand_suffix()), "department_id": f.dept}),
            ),
            [401, 401, 403, 403, 403, 201, 403, 400],
        ),
        get(
            "/api/v1/members",
            |_| "/api/v1/members".into(),
            [401, 401, 200, 200, 200, 200, 200, 200],
        ),
        get(
            "/api/v1/members/{id}",
            |f| format!("/api/v1/members/{}", f.member_id),
            [401, 401, 200, 200, 200, 200, 200, 404],
        ),
        write(
            M::PATCH,
            "/api/v1/members/{id}",
            |f| format!("/api/v1/members/{}", f.member_id),
            Body::Json(|_| json!({"name": "Ada Chan"})),
            [401, 401, 403, 403, 403, 200, 403, 404],
        ),
        // Two-step sign-in: each member sets up their own; a code that is not one is
        // refused; admins remove a member's (the one being set up above).
        write(
            M::POST,
            "/api/v1/me/second-factor",
            |_| "/api/v1/me/second-factor".into(),
            Body::None,
            [401, 401, 201, 201, 201, 201, 201, 201],
        ),
        write(
            M::POST,
            "/api/v1/me/second-factor/confirm",
            |_| "/api/v1/me/second-factor/confirm".into(),
            Body::Json(|_| json!({"code": "not a code"})),
            [401, 401, 400, 400, 400, 400, 400, 400],
        ),
        write(
            M::POST,
            "/api/v1/me/second-factor/disable",
            |_| "/api/v1/me/second-factor/disable".into(),
            Body::Json(|_| json!({"code": "not a code"})),
            [401, 401, 400, 400, 400, 400, 400, 400],
        ),
        write(
            M::DELETE,
            "/api/v1/members/{id}/second-factor",
            |f| format!("/api/v1/members/{}/second-factor", f.member_id),
            Body::None,
            [401, 401, 403, 403, 403, 204, 403, 404],
        ),
        // Invitations: admins invite their own members; accepting needs the link's
        // secret, not a session.
        write(
            M::POST,
            "/api/v1/members/{id}/invitation",
            |f| format!("/api/v1/members/{}/invitation", f.member_id),
            Body::None,
            [401, 401, 403, 403, 403, 201, 403, 404],
        ),
        write(
            M::POST,
            "/api/v1/invitations/accept",
            |_| "/api/v1/invitations/accept".into(),
            Body::Json(|_| json!({"token": "rt_not-an-invitation", "password": "long enough"})),
            [404, 404, 404, 404, 404, 404, 404, 404],
        ),
        write(
            M::POST,
            "/api/v1/members/import",
            |_| "/api/v1/members/import?dry_run=true".into(),
            Body::Csv(
                "name,email,department,manager_email,backup_email,role\nDora Ng,dora@harbour.example,Logistics,,,\n",
            ),
            [401, 401, 403, 403, 403, 200, 403, 200],
        ),
        // Messages: anyone sends to their own organisation; a notice is the sender's and
        // its recipients'.
        write(
            M::POST,
            "/api/v1/messages",
            |_| "/api/v1/messages".into(),
            Body::Json(|f| json!({"title": "Hello", "audience": {"departments": [f.dept]}})),
            [401, 401, 201, 201, 201, 201, 201, 400],
        ),
        get(
            "/api/v1/messages",
            |_| "/api/v1/messages".into(),
            [401, 401, 200, 200, 200, 200, 200, 200],
        ),
        get(
            "/api/v1/messages/{id}",
            |f| format!("/api/v1/messages/{}", f.message),
            [401, 401, 200, 200, 200, 404, 200, 404],
        ),
        get(
            "/api/v1/messages/{id}/receipts",
            |f| format!("/api/v1/messages/{}/receipts", f.message),
            [401, 401, 403, 200, 403, 200, 403, 404],
        ),
        get(
            "/api/v1/messages/{id}/receipts.csv",
            |f| format!("/api/v1/messages/{}/receipts.csv", f.message),
            [401, 401, 403, 200, 403, 200, 403, 404],
        ),
        write(
            M::POST,
            "/api/v1/messages/{id}/remind",
            |f| format!("/api/v1/messages/{}/remind", f.message),
            Body::None,
            [401, 401, 403, 200, 403, 404, 403, 404],
        ),
        // Receipts: every caller may report; what they may report is per item.
        write(
            M::POST,
            "/api/v1/receipts",
            |_| "/api/v1/receipts".into(),
            Body::Json(
                |f| json!({"receipts": [receipt(&format!("acl-{}", rand_suffix()), &f.message, "delivered", &f.app.clock_now())]}),
            ),
            [401, 401, 200, 200, 200, 200, 200, 200],
        ),
        // Tasks and escalations: one's own.
        get(
            "/api/v1/tasks",
            |_| "/api/v1/tasks".into(),
            [401, 401, 200, 200, 200, 200, 200, 200],
        ),
        write(
            M::POST,
            "/api/v1/tasks/{id}/complete",
            |f| format!("/api/v1/tasks/{}/complete", f.task),
            Body::None,
            [401, 401, 200, 404, 404, 404, 404, 404],
        ),
        get(
            "/api/v1/team/unread",
            |_| "/api/v1/team/unread".into(),
            [401, 401, 200, 200, 200, 200, 200, 200],
        ),
        // Webhooks: admins of the organisation.
        write(
            M::POST,
            "/api/v1/webhooks",
            |_| "/api/v1/webhooks".into(),
            Body::Json(
                |_| json!({"url": "http://127.0.0.1:9/hook", "events": ["receipt.updated"], "secret": "a shared secret of some length"}),
            ),
            [401, 401, 403, 403, 403, 201, 403, 201],
        ),
        get(
            "/api/v1/webhooks",
            |_| "/api/v1/webhooks".into(),
            [401, 401, 403, 403, 403, 200, 403, 200],
        ),
        get(
            "/api/v1/webhooks/{id}/deliveries",
            |_| format!("/api/v1/webhooks/{FRESH_WEBHOOK}/deliveries"),
            [401, 401, 403, 403, 403, 200, 403, 404],
        ),
        write(
            M::DELETE,
            "/api/v1/webhooks/{id}",
            |_| format!("/api/v1/webhooks/{FRESH_WEBHOOK}"),
            Body::None,
            [401, 401, 403, 403, 403, 204, 403, 404],
        ),
        // Realtime: a plain GET is not a WebSocket handshake, but authentication comes first.
        get(
            "/api/v1/stream",
            |_| "/api/v1/stream".into(),
            [401, 401, 400, 400, 400, 400, 400, 400],
        ),
        // SCIM provisioning takes only `scim` tokens (tests/scim.rs has the token itself):
        // every session is refused, in SCIM's error shape.
        get(
            "/scim/v2/Users",
            |_| "/scim/v2/Users".into(),
            [401, 401, 403, 403, 403, 403, 403, 403],
        ),
        get(
            "/scim/v2/Groups",
            |_| "/scim/v2/Groups".into(),
            [401, 401, 403, 403, 403, 403, 403, 403],
        ),
        get(
            "/scim/v2/Schemas",
            |_| "/scim/v2/Schemas".into(),
            [401, 401, 403, 403, 403, 403, 403, 403],
        ),
        // Operations: public.
        get("/healthz", |_| "/healthz".into(), [200; 8]),
        get("/readyz", |_| "/readyz".into(), [200; 8]),
        get("/metrics", |_| "/metrics".into(), [200; 8]),
        // Last: signing out revokes the token it is called with.
        write(
            M::POST,
            "/api/v1/auth/logout",
            |_| "/api/v1/auth/logout".into(),
            Body::None,
            [401, 401, 204, 204, 204, 204, 204, 204],
        ),
    ]
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn call(f: &Fixture, row: &Row, role: usize) -> (StatusCode, Value) {
    let mut path = (row.path)(f);
    if path.contains(FRESH_WEBHOOK) {
        path = path.replace(FRESH_WEBHOOK, &fresh_webhook(f).await);
    }
    if path.contains(FRESH_TOKEN) {
        path = path.replace(FRESH_TOKEN, &fresh_token(f).await);
    }
    let (body, content_type) = match row.body {
        Body::None => (None, ""),
        Body::Json(make) => (Some(make(f).to_string().into_bytes()), "application/json"),
        Body::Csv(csv) => (Some(csv.as_bytes().to_vec()), "text/csv"),
    };
    let (status, value, _) = f
        .app
        .send_raw(row.method.clone(), &path, f.token(role), body, content_type)
        .await;
    (status, value)
}

#[tokio::test]
async fn every_endpoint_answers_each_kind_of_caller_exactly_as_the_contract_allows() {
    let f = fixture().await;
    let mut wrong = Vec::new();
    for row in table() {
        for (role, name) in ROLES.iter().enumerate() {
            let (status, body) = call(&f, &row, role).await;
            if status.as_u16() != row.expect[role] {
                wrong.push(format!(
                    "{} {} as {name}: got {status}, expected {}: {body}",
                    row.method, row.documented, row.expect[role]
                ));
            }
            if status.is_client_error() && row.documented.starts_with("/api/") {
                assert!(
                    body["error"]["code"].is_string(),
                    "{} {} as {name}: a refusal in the API's error shape: {body}",
                    row.method,
                    row.documented
                );
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn the_access_table_has_a_row_for_every_documented_endpoint() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let covered: BTreeSet<(String, String)> = table()
        .iter()
        .map(|r| (r.method.to_string(), r.documented.to_string()))
        .collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "endpoints without a row in the access table: {missing:?}"
    );
    // SCIM's contract is RFC 7644 and its own /scim/v2/Schemas, not the OpenAPI document.
    let stale: Vec<_> = covered
        .difference(&documented)
        .filter(|(_, path)| !path.starts_with("/scim/v2/"))
        .collect();
    assert!(
        stale.is_empty(),
        "rows for undocumented endpoints: {stale:?}"
    );
}

#[tokio::test]
async fn another_organisations_admin_never_sees_this_organisations_data() {
    let f = fixture().await;
    let other = f.token(OTHER_ADMIN);
    // Lists answer with the caller's own organisation only.
    for path in [
        "/api/v1/members?limit=500",
        "/api/v1/departments",
        "/api/v1/audit",
        "/api/v1/messages?box=sent",
        "/api/v1/messages",
    ] {
        let (status, body) = f.app.get(path, other).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let text = body.to_string();
        for secret in ["ada@harbour.example", "Kowloon", "Typhoon", "Harbour Line"] {
            assert!(!text.contains(secret), "{path} leaked {secret:?}: {text}");
        }
    }
    let (_, me) = f.app.get("/api/v1/me", other).await;
    assert_eq!(me["email"], f.other_admin_email);
    // Receipts for another organisation's notice are refused item by item, and change
    // nothing on its board.
    let results = f
        .app
        .receipts(
            other.unwrap(),
            json!([receipt("cross-org", &f.message, "read", &f.app.clock_now())]),
        )
        .await;
    assert_eq!(results[0]["status"], "rejected", "{results:?}");
    let (_, board) = f.app.board(f.token(SENDER).unwrap(), &f.message, "").await;
    assert_eq!(board["summary"]["read"], 0, "{board}");
    // Nor can the WebSocket carry another organisation's events.
    let mut ws = f.app.ws(other.unwrap(), Some(0)).await;
    let mut replayed = Vec::new();
    loop {
        let frame = ws
            .next(Duration::from_secs(5))
            .await
            .expect("frames up to hello");
        if frame["type"] == "hello" {
            break;
        }
        replayed.push(frame);
    }
    assert!(
        replayed.is_empty(),
        "no frame of organisation A is replayed to B: {replayed:?}"
    );
}
