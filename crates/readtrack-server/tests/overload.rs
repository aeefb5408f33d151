//! Overload: a WebSocket consumer that stops reading is cut loose with a reason instead
//! of growing the server's memory, and resumes with `since` without missing a frame; a
//! burst beyond capacity is answered 503 with Retry-After at once, not left to time out,
//! and the server recovers by itself; slow bodies, from one address or from many, cannot
//! lock everyone else out; an address's connections beyond its share are closed as they
//! arrive and silent ones time out; behind a trusted proxy each forwarded client has its own sign-in allowance,
//! and without one a forged X-Forwarded-For changes nothing.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{FormBody, TestApp};
use futures_util::StreamExt;
use readtrack_server::ServerConfig;
use readtrack_server::client_addr::parse_trusted_proxies;
use readtrack_service::AppConfig;
use readtrack_service::ratelimit::{Limit, Limits};
use readtrack_service::writer::WriterConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(20);
/// Recipients of each notice: one receipt batch of this size per kind.
const CROWD: usize = 1000;

/// Frames of a connection until it is closed: their sequence numbers and the close frame.
async fn drain(ws: &mut common::Ws) -> (Vec<i64>, Option<(u16, String)>) {
    let mut seqs = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, ws.stream.next()).await {
            Err(_) => panic!("the connection neither sent nor closed"),
            Ok(None) | Ok(Some(Err(_))) => return (seqs, None),
            Ok(Some(Ok(Message::Close(frame)))) => {
                return (
                    seqs,
                    frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                );
            }
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if let Some(seq) = v["seq"].as_i64() {
                    seqs.push(seq);
                }
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Frames replayed after `since`, up to `hello`.
async fn replay(app: &TestApp, token: &str, since: i64) -> Vec<i64> {
    let mut ws = app.ws(token, Some(since)).await;
    let mut seqs = Vec::new();
    loop {
        let frame = ws.next(WAIT).await.expect("frames up to hello");
        if frame["type"] == "hello" {
            return seqs;
        }
        seqs.push(frame["seq"].as_i64().expect("seq"));
    }
}

/// An organisation with a department of [`CROWD`] people and a relay token that
/// reports for all of them.
struct Crowd {
    admin: String,
    dept: String,
    members: Vec<String>,
    relay: String,
}

async fn crowd(app: &TestApp) -> Crowd {
    let org = app.setup().await;
    let mut csv = String::from("name,email,department,manager_email,backup_email,role\n");
    for i in 0..CROWD {
        csv.push_str(&format!(
            "Picker {i},picker{i}@harbour.example,Warehouse,,,\n"
        ));
    }
    let (status, res, _) = app
        .send_raw(
            reqwest::Method::POST,
            "/api/v1/members/import",
            Some(&org.admin),
            Some(csv.into_bytes()),
            "text/csv",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let (_, members) = app.get("/api/v1/members?limit=500", Some(&org.admin)).await;
    let (_, more) = app
        .get(
            &format!(
                "/api/v1/members?limit=500&cursor={}",
                members["next_cursor"].as_str().unwrap()
            ),
            Some(&org.admin),
        )
        .await;
    let (_, rest) = app
        .get(
            &format!(
                "/api/v1/members?limit=500&cursor={}",
                more["next_cursor"].as_str().unwrap()
            ),
            Some(&org.admin),
        )
        .await;
    let pickers: Vec<Value> = [&members, &more, &rest]
        .iter()
        .flat_map(|page| page["items"].as_array().unwrap().clone())
        .filter(|m| m["email"].as_str().unwrap().starts_with("picker"))
        .collect();
    // The import made the department; every picker is in it.
    let dept = pickers[0]["department_id"].as_str().unwrap().to_string();
    let crowd: Vec<String> = pickers
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(crowd.len(), CROWD);
    // A gateway reports for the whole crowd.
    let (status, relay) = app
        .post(
            "/api/v1/tokens",
            Some(&org.admin),
            json!({"name": "turnstiles", "member_id": org.admin_id, "scope": "relay"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{relay}");
    let relay = relay["token"].as_str().unwrap().to_string();

    Crowd {
        admin: org.admin,
        dept,
        members: crowd,
        relay,
    }
}

/// One notice to the crowd, and all of it delivered, read and acknowledged by relay.
async fn flood(app: &TestApp, c: &Crowd, n: usize) {
    let id = app
        .send(
            &c.admin,
            json!({"title": format!("Shift change {n}"), "priority": "urgent",
                   "tracking": "per_person", "require_ack": true,
                   "audience": {"departments": [c.dept]}}),
        )
        .await;
    for kind in ["delivered", "read", "ack"] {
        let at = app.clock_now();
        let items: Vec<Value> = c
            .members
            .iter()
            .map(|m| {
                json!({"event_id": format!("flood-{n}-{kind}-{m}"), "message_id": id,
                       "member_id": m, "kind": kind, "at": at})
            })
            .collect();
        let results = app.receipts(&c.relay, json!(items)).await;
        assert!(results.iter().all(|r| r["status"] == "applied"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_stops_reading_is_dropped_with_a_reason_and_resumes_without_a_gap() {
    let app = TestApp::spawn().await;
    let c = crowd(&app).await;
    // The sender's board connection reads its hello, then nothing more.
    let mut slow = app.ws(&c.admin, None).await;
    let hello = slow
        .until(WAIT, |f| f["type"] == "hello")
        .await
        .expect("hello");
    let start = hello["last_seq"].as_i64().unwrap();
    assert_eq!(app.service.hub().connection_count(), 1);

    // Receipts flow until the hub gives up on the connection: its queue is bounded.
    let mut notices = 0;
    while app.service.hub().connection_count() > 0 {
        assert!(
            notices < 60,
            "the server kept queueing for a reader that reads nothing"
        );
        flood(&app, &c, notices).await;
        notices += 1;
    }

    // Reading again: what was already on its way, then a close saying how to resume.
    let (got, close) = drain(&mut slow).await;
    let (code, reason) = close.expect("a close frame with a reason");
    assert_eq!(code, 1013, "try again later: {reason}");
    let since: i64 = reason
        .rsplit("since=")
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the reason names where to resume: {reason:?}"));
    assert_eq!(Some(&since), got.last().or(Some(&start)), "{reason}");

    // Resuming from there misses nothing and repeats nothing.
    let resumed = replay(&app, &c.admin, since).await;
    let everything = replay(&app, &c.admin, start).await;
    let mut seen = got.clone();
    seen.extend(&resumed);
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no frame twice");
    assert_eq!(
        seen, everything,
        "the dropped connection plus its resume is exactly the full history"
    );
    assert!(
        everything.len() >= notices * 3 * CROWD,
        "every receipt made a frame"
    );
    eprintln!(
        "slow consumer: dropped after {} frames of {} ({notices} notices)",
        got.len(),
        everything.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_capacity_is_refused_at_once_and_the_server_recovers_by_itself() {
    // A tiny server: four requests at a time, one receipt job waiting at most.
    let app = TestApp::spawn_with(
        ServerConfig {
            max_concurrent_requests: 4,
            ..ServerConfig::default()
        },
        AppConfig {
            writer: WriterConfig {
                max_batch: 64,
                queue: 1,
            },
            limits: Limits {
                receipts_per_token: Limit::per_secs(100_000, 1),
                ..Limits::default()
            },
            ..AppConfig::default()
        },
    )
    .await;
    let org = app.setup().await;
    let dept = app.department(&org.admin, "Kowloon", Some(&org.root)).await;
    let (_, reader) = app
        .person(&org.admin, "Ada", "ada@harbour.example", &dept, true)
        .await;
    let message = app
        .send(
            &org.admin,
            json!({"title": "Typhoon signal No. 8", "priority": "urgent", "require_ack": true,
                   "audience": {"departments": [dept]}}),
        )
        .await;

    // Far more at once than the server takes; every request gets an answer.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut burst = Vec::new();
    for i in 0..300 {
        let http = http.clone();
        let url = app.url("/api/v1/receipts");
        let at = app.clock_now();
        let token = reader.clone();
        let message = message.clone();
        burst.push(tokio::spawn(async move {
            let items: Vec<Value> = (0..50)
                .map(|j| {
                    json!({"event_id": format!("burst-{i}-{j}"), "message_id": message,
                                "kind": "read", "at": at})
                })
                .collect();
            let res = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "receipts": items }))
                .send()
                .await
                .expect("an answer, not a timeout or a reset");
            let status = res.status();
            let retry_after = res.headers().get("retry-after").cloned();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            (status, retry_after, body)
        }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for task in burst {
        let (status, retry_after, body) = task.await.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                assert!(
                    ["overloaded", "unavailable"]
                        .contains(&body["error"]["code"].as_str().unwrap_or("")),
                    "{body}"
                );
                let secs: u64 = retry_after
                    .expect("Retry-After on a 503")
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(secs >= 1);
            }
            other => panic!("a burst answer is 200 or 503, not {other}: {body}"),
        }
    }
    assert!(
        refused > 0,
        "the burst went beyond capacity ({ok} accepted)"
    );
    assert!(ok > 0, "some of the burst was served");

    // Afterwards, with nobody doing anything, the server serves again.
    let results = app
        .eventually("the server to serve again", WAIT, || async {
            let (status, res) = app
                .post(
                    "/api/v1/receipts",
                    Some(&reader),
                    json!({"receipts": [{"event_id": "after", "message_id": message,
                                         "kind": "ack", "at": app.clock_now()}]}),
                )
                .await;
            (status == StatusCode::OK).then_some(res)
        })
        .await;
    assert_eq!(results["results"][0]["status"], "applied", "{results}");
    assert_eq!(app.get("/healthz", None).await.0, StatusCode::OK);
    eprintln!("burst: {ok} served, {refused} refused with 503");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_again_is_disconnected_and_the_server_moves_on() {
    // Writes may stall one second here (thirty by default).
    let app = TestApp::spawn_with(
        ServerConfig {
            stream_write_timeout_secs: 1,
            ..ServerConfig::default()
        },
        AppConfig::default(),
    )
    .await;
    let c = crowd(&app).await;
    let mut stalled = app.ws(&c.admin, None).await;
    stalled
        .until(WAIT, |f| f["type"] == "hello")
        .await
        .expect("hello");
    let mut notices = 0;
    while app.service.hub().connection_count() > 0 {
        assert!(notices < 60, "the hub kept the connection");
        flood(&app, &c, notices).await;
        notices += 1;
    }
    // The connection's task is blocked writing to a client that reads nothing; it gives
    // up instead of holding its queue and buffers for as long as the client likes.
    app.eventually("the stalled write to be abandoned", WAIT, || async {
        let (_, text, _) = app
            .send_raw(reqwest::Method::GET, "/metrics", None, None, "")
            .await;
        let text = text.as_str().unwrap_or("").to_string();
        text.lines()
            .any(|l| {
                l.starts_with("readtrack_websocket_stalled_total")
                    && l.split_whitespace()
                        .last()
                        .and_then(|v| v.parse::<f64>().ok())
                        .is_some_and(|v| v >= 1.0)
            })
            .then_some(())
    })
    .await;
    // What the client finds when it looks again: the end of the connection.
    let (_, close) = drain(&mut stalled).await;
    assert!(
        close.as_ref().is_none_or(|(code, _)| *code != 1000),
        "not a normal closure: {close:?}"
    );
    // Meanwhile everyone else is served.
    assert_eq!(app.get("/healthz", None).await.0, StatusCode::OK);
    let mut fresh = app.ws(&c.admin, None).await;
    fresh
        .until(WAIT, |f| f["type"] == "hello")
        .await
        .expect("a new connection works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_from_one_address_cannot_lock_everyone_else_out() {
    let app = sixteen_slots(2).await;
    // Thirty connections from another address each trickle a sign-in body (on Linux all
    // of 127.0.0.0/8 is this machine).
    let mut slow = Vec::new();
    for _ in 0..30 {
        slow.push(trickling_sign_in(&app, "127.0.0.2").await);
    }
    // Everyone else still signs in.
    let token = app.login("ivy@harbour.example", "correct horse").await;
    assert!(token.starts_with("rt_"));
    // The slow address was told at once for all but its four, and those four are cut off
    // with 408 when their bodies' deadline passes.
    let mut statuses = Vec::new();
    for stream in &mut slow {
        statuses.push(next_status(stream).await.unwrap_or_default());
    }
    let refused = statuses.iter().filter(|s| *s == "429").count();
    let too_slow = statuses.iter().filter(|s| *s == "408").count();
    assert_eq!(refused + too_slow, 30, "{statuses:?}");
    assert!(
        too_slow <= 4,
        "at most the address's cap got a slot: {statuses:?}"
    );
    assert!(
        too_slow >= 1,
        "a slot's body is cut off at its deadline: {statuses:?}"
    );
}

/// A connection from `from` (any address of 127.0.0.0/8) to the test server.
async fn connect_from(app: &TestApp, from: &str) -> tokio::net::TcpStream {
    let server: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(server).await.unwrap()
}

/// A server with sixteen request slots in all, four per address, and `deadline_secs`
/// for a body, set up.
async fn sixteen_slots(deadline_secs: u64) -> TestApp {
    let app = TestApp::spawn_with(
        ServerConfig {
            max_concurrent_requests: 16,
            max_requests_per_address: 4,
            body_deadline_secs: deadline_secs,
            ..ServerConfig::default()
        },
        AppConfig::default(),
    )
    .await;
    app.setup().await;
    app
}

/// A connection from `from` that announces a sign-in body of 1 KiB and sends one byte of it.
async fn trickling_sign_in(app: &TestApp, from: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = connect_from(app, from).await;
    stream
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: readtrack\r\nContent-Type: application/json\r\nContent-Length: 1024\r\n\r\n{",
        )
        .await
        .unwrap();
    stream
}

/// The status of the next answer on `stream`, or `None` when the server closed it.
async fn next_status(stream: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .expect("an answer or a close before the deadline")
        .unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    head.split_whitespace().nth(1).map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_from_many_addresses_hold_no_slot_and_sign_in_stays_open() {
    let app = sixteen_slots(3).await;
    // Forty addresses each keep four sign-in bodies trickling: 160 requests, each within
    // its address's share, ten times the server's slots.
    let mut slow = Vec::new();
    for host in 2..42 {
        for _ in 0..4 {
            slow.push(trickling_sign_in(&app, &format!("127.0.0.{host}")).await);
        }
    }
    // A body arrives before its request takes a slot: the slow ones hold none, so
    // everyone else signs in and reads (before, this answered 503).
    let token = app.login("ivy@harbour.example", "correct horse").await;
    let (status, _) = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    // Each slow body is cut off at its deadline.
    for stream in &mut slow {
        assert_eq!(next_status(stream).await.as_deref(), Some("408"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_an_address_share_are_closed_and_silent_ones_time_out() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn_with(
        ServerConfig {
            max_connections_per_address: 8,
            idle_connection_secs: 2,
            ..ServerConfig::default()
        },
        AppConfig::default(),
    )
    .await;
    // Twenty connections from one address, each asking for /healthz and keeping the
    // connection: its first eight are answered, the rest are closed unanswered.
    let mut open = Vec::new();
    for _ in 0..20 {
        open.push(connect_from(&app, "127.0.0.3").await);
    }
    let mut answered = Vec::new();
    let mut closed = 0;
    for mut stream in open {
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: readtrack\r\n\r\n")
            .await;
        match next_status(&mut stream).await {
            Some(status) => {
                assert_eq!(status, "200");
                answered.push(stream);
            }
            None => closed += 1,
        }
    }
    assert_eq!((answered.len(), closed), (8, 12));
    // Meanwhile another address is served as usual.
    let other = reqwest::get(format!("{}/healthz", app.base)).await.unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    // Silent connections are closed by the server once idle, freeing the address's share.
    for stream in &mut answered {
        assert_eq!(
            next_status(stream).await,
            None,
            "an idle connection is closed"
        );
    }
    let mut again = connect_from(&app, "127.0.0.3").await;
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: readtrack\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(next_status(&mut again).await.as_deref(), Some("200"));
}

/// A server that believes forwarded headers from `trusted` (none: from nobody), with a
/// sign-in limit of three attempts per address.
async fn behind_proxy(trusted: &[&str]) -> (TestApp, String) {
    let app = TestApp::spawn_with(
        ServerConfig {
            trusted_proxies: parse_trusted_proxies(
                &trusted.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
            .unwrap(),
            ..ServerConfig::default()
        },
        AppConfig {
            limits: Limits {
                login_per_address: Limit::per_secs(3, 300),
                ..Limits::default()
            },
            ..AppConfig::default()
        },
    )
    .await;
    let org = app.setup().await;
    (app, org.admin)
}

/// Attempts a wrong sign-in on the API as `client` (its X-Forwarded-For).
async fn wrong_sign_in(app: &TestApp, client: &str) -> StatusCode {
    app.http
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", client)
        .json(&json!({"email": "nobody@harbour.example", "password": "not it"}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn rate_limits_count_the_forwarded_client_only_behind_a_trusted_proxy() {
    // Behind a trusted proxy (the tests connect from 127.0.0.1), each client has its
    // own sign-in allowance: one client's mistakes do not lock the next one out.
    let (app, _) = behind_proxy(&["127.0.0.1/32"]).await;
    for _ in 0..3 {
        assert_eq!(
            wrong_sign_in(&app, "203.0.113.5").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        wrong_sign_in(&app, "203.0.113.5").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the fourth attempt from that client"
    );
    assert_eq!(
        wrong_sign_in(&app, "203.0.113.6").await,
        StatusCode::UNAUTHORIZED,
        "another client behind the same proxy is not locked out"
    );
    // The web sign-in form counts under the same address as the API: no side door.
    let (status, _) = web_sign_in(&app, "203.0.113.5", false, "not it").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Without a trusted proxy, X-Forwarded-For is anyone's to write: it is ignored, and
    // a client cannot dodge its limit by inventing addresses.
    let (app, _) = behind_proxy(&[]).await;
    for i in 0..3 {
        let invented = format!("198.51.100.{i}");
        assert_eq!(
            wrong_sign_in(&app, &invented).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        wrong_sign_in(&app, "198.51.100.200").await,
        StatusCode::TOO_MANY_REQUESTS,
        "every attempt counted under the connection's own address"
    );
}

/// Signs in on the web form (with its CSRF cookie) from `client`, optionally saying
/// the client used TLS; returns the status and the session cookie, if one was set.
async fn web_sign_in(
    app: &TestApp,
    client: &str,
    tls: bool,
    password: &str,
) -> (StatusCode, Option<String>) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookies = |res: &reqwest::Response| -> Vec<String> {
        res.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(String::from))
            .collect()
    };
    let page = http.get(app.url("/login")).send().await.unwrap();
    let login_csrf = cookies(&page)
        .iter()
        .find_map(|c| c.strip_prefix("rt_login_csrf=").map(String::from))
        .and_then(|c| c.split(';').next().map(String::from))
        .expect("a sign-in CSRF cookie");
    let mut req = http
        .post(app.url("/login"))
        .header("x-forwarded-for", client)
        .header("cookie", format!("rt_login_csrf={login_csrf}"));
    if tls {
        req = req.header("x-forwarded-proto", "https");
    }
    let res = req
        .form_body(&[
            ("email", "ivy@harbour.example"),
            ("password", password),
            ("_csrf", login_csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let session = cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("rt_session="));
    (res.status(), session)
}

#[tokio::test]
async fn a_session_cookie_is_secure_when_a_trusted_proxy_says_the_client_used_tls() {
    for (trusted, secure) in [(&["127.0.0.1"][..], true), (&[][..], false)] {
        let (app, _) = behind_proxy(trusted).await;
        let (status, session) = web_sign_in(&app, "203.0.113.20", true, "correct horse").await;
        let session = session.unwrap_or_else(|| panic!("signed in: {status}"));
        assert_eq!(
            session.contains("; Secure"),
            secure,
            "trusted {trusted:?}: {session}"
        );
    }
}
