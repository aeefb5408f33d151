//! The simulated company: an admin who sends the notice, N members imported through the
//! CSV endpoint into a department tree, one API token per member, each member's policy
//! acknowledgement (so the sender may see per-person rows), and the relay token the
//! company's messaging gateway reports receipts with.
//!
//! Everything here is setup: it is timed and reported, but it is not what the
//! benchmark measures.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use indicatif::ProgressBar;
use readtrack_client::protocol::privacy::{OrgSettingsPatch, QuietHoursBody};
use readtrack_client::{ApiClient, ClientError, ClientOptions, MemberQuery};
use readtrack_protocol::auth::{
    CreateTokenRequest, CreateTokenResponse, CreateTokensRequest, CreateTokensResponse, PolicyAck,
    SetupAdmin, SetupRequest,
};

use crate::rest::{self, RestError};

/// Members per department; ten departments make a division.
pub const DEPARTMENT_SIZE: usize = 200;
/// Departments per division.
pub const DEPARTMENTS_PER_DIVISION: usize = 10;
/// Members per import file: a whole number of departments, and small enough that one
/// file is imported well within the server's request timeout.
const IMPORT_CHUNK: usize = 25 * DEPARTMENT_SIZE;
/// Most members per bulk token request (the server's limit).
const TOKENS_PER_CALL: usize = 1000;
/// Policy acknowledgements in flight at once.
const ACK_CONCURRENCY: usize = 32;
/// Attempts per setup request that the server refuses for overload.
const SETUP_ATTEMPTS: u32 = 20;

/// How the benchmark signs in as the organisation's admin (who also sends the notice).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// An API token of an admin.
    pub token: Option<String>,
    /// An admin's email, with `password`.
    pub email: Option<String>,
    /// The password.
    pub password: Option<String>,
    /// The setup code of a server without an organisation yet.
    pub setup_code: Option<String>,
}

/// The signed-in admin.
pub struct Admin {
    /// The admin's client (long timeouts: imports of 100,000 lines take a while).
    pub api: ApiClient,
    /// The admin's token.
    pub token: String,
    /// The admin's member id.
    pub id: String,
    /// The organisation's current policy version.
    pub policy_version: i64,
}

/// Setup durations, in milliseconds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SetupTimings {
    /// The members import (one CSV request).
    pub import_ms: f64,
    /// Reading the imported members back (their ids).
    pub list_members_ms: f64,
    /// One API token per member (bulk requests of 1000).
    pub tokens_ms: f64,
    /// One policy acknowledgement per member.
    pub policy_acks_ms: f64,
}

/// The imported company.
pub struct Company {
    /// The root department's id (the notice's audience).
    pub root_department: String,
    /// Member ids, by member index.
    pub member_ids: Vec<String>,
    /// API tokens, by member index.
    pub tokens: Vec<String>,
    /// Setup durations.
    pub timings: SetupTimings,
}

/// A client with timeouts fit for setup requests (a 100,000-line import).
pub fn setup_client(base: &str) -> anyhow::Result<ApiClient> {
    ApiClient::with_options(
        base,
        ClientOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(600),
        },
    )
    .context("bad server URL")
}

/// Signs in as the admin: with a token, with email and password, or, on a server
/// without an organisation yet, by setting one up.
pub async fn sign_in(base: &str, creds: &Credentials, tag: &str) -> anyhow::Result<Admin> {
    let anonymous = setup_client(base)?;
    let token = match (&creds.token, &creds.email, &creds.password) {
        (Some(token), _, _) => token.clone(),
        (None, Some(email), Some(password)) => {
            anonymous
                .login(email, password)
                .await
                .context("cannot sign in with --admin-email and --admin-password")?
                .token
        }
        (None, Some(_), None) | (None, None, Some(_)) => {
            bail!("give both --admin-email and --admin-password (or --admin-token)")
        }
        (None, None, None) => {
            let request = SetupRequest {
                org_name: format!("All-hands benchmark {tag}"),
                time_zone: "UTC".into(),
                admin: SetupAdmin {
                    name: "Benchmark Sender".into(),
                    email: format!("sender.{tag}@example.com"),
                    password: format!("bench-{tag}-{}", uuid::Uuid::new_v4().simple()),
                },
                setup_code: creds.setup_code.clone().unwrap_or_default(),
            };
            match anonymous.setup(&request).await {
                Ok(done) => {
                    // The all-hands is measured in working time: the benchmark's own
                    // organisation has no quiet hours, so a run at night measures what a
                    // run at 09:00 does (reads in quiet hours are counted, never named
                    // live, and the benchmark matches named frames).
                    let admin = anonymous.clone().with_token(done.token.clone());
                    admin
                        .update_org_settings(&OrgSettingsPatch {
                            quiet_hours: Some(QuietHoursBody {
                                start: "00:00".into(),
                                end: "00:00".into(),
                                reads: None,
                            }),
                            ..OrgSettingsPatch::default()
                        })
                        .await
                        .context("PATCH /api/v1/org/settings failed")?;
                    done.token
                }
                Err(ClientError::Api { status: 403, .. }) => bail!(
                    "the server has no organisation yet: pass its setup code with --setup-code (printed on its console at start)"
                ),
                Err(ClientError::Api { status: 409, .. }) => bail!(
                    "the server already has an organisation: pass an admin's --admin-token, or --admin-email and --admin-password"
                ),
                Err(e) => return Err(e).context("POST /api/v1/setup failed"),
            }
        }
    };
    let api = anonymous.with_token(token.clone());
    let me = api.me().await.context("GET /api/v1/me failed")?;
    if me.role != "admin" {
        bail!(
            "{} is a {}, not an admin: the benchmark imports members and provisions tokens",
            me.email,
            me.role
        );
    }
    Ok(Admin {
        api,
        token,
        id: me.id,
        policy_version: me.policy_version,
    })
}

/// The root department's name for a run.
pub fn root_name(tag: &str) -> String {
    format!("All-hands {tag}")
}

/// The email of member `i` of a run.
fn email(tag: &str, i: usize) -> String {
    format!("m{i}.{tag}@example.com")
}

/// The member index an email of this run names.
fn index_of(tag: &str, email: &str) -> Option<usize> {
    let rest = email.strip_prefix('m')?;
    let (number, domain) = rest.split_once('.')?;
    if domain != format!("{tag}@example.com") {
        return None;
    }
    number.parse().ok()
}

/// The import file for members `range` of a run: each under
/// `All-hands <tag>/Division d/Department k`, each department's first member the
/// manager of the others.
pub fn company_csv(tag: &str, range: std::ops::Range<usize>) -> String {
    let root = root_name(tag);
    let mut csv = String::with_capacity(64 + range.len() * 96);
    csv.push_str("name,email,department,manager_email,backup_email,role\n");
    for i in range {
        let department = i / DEPARTMENT_SIZE;
        let division = department / DEPARTMENTS_PER_DIVISION;
        let head = department * DEPARTMENT_SIZE;
        let manager = if i == head {
            String::new()
        } else {
            email(tag, head)
        };
        csv.push_str(&format!(
            "Member {},{},{root}/Division {}/Department {},{manager},,member\n",
            i + 1,
            email(tag, i),
            division + 1,
            department + 1,
        ));
    }
    csv
}

/// Imports the company and reads back every member's id.
pub async fn import(
    admin: &Admin,
    http: &reqwest::Client,
    tag: &str,
    n: usize,
    progress: &ProgressBar,
) -> anyhow::Result<Company> {
    let mut timings = SetupTimings::default();
    let started = Instant::now();
    let mut created = 0;
    let mut start = 0;
    while start < n {
        // Whole departments per file, so every manager is in the file or already imported.
        let end = (start + IMPORT_CHUNK).min(n);
        progress.set_message(format!("importing members: {start} of {n}"));
        let result = admin
            .api
            .import_members(
                company_csv(tag, start..end).into_bytes(),
                false,
                false,
                None,
            )
            .await
            .context("the members import failed")?;
        created += result.created as usize;
        start = end;
    }
    timings.import_ms = ms(started.elapsed());
    if created != n {
        bail!("the import created {created} members, not {n}");
    }

    progress.set_message("reading member ids back");
    let started = Instant::now();
    let root = root_name(tag);
    let root_department = admin
        .api
        .departments()
        .await
        .context("GET /api/v1/departments failed")?
        .into_iter()
        .find(|d| d.name == root && d.parent_id.is_none())
        .map(|d| d.id)
        .context("the import did not create the root department")?;
    let mut member_ids = vec![String::new(); n];
    let mut found = 0usize;
    let mut cursor: Option<String> = None;
    // Bounded: one page per 500 members, plus slack.
    for _ in 0..(n / 500 + 10) {
        let page = admin
            .api
            .members(&MemberQuery {
                q: Some(tag.to_string()),
                limit: Some(500),
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .context("GET /api/v1/members failed")?;
        for m in page.items {
            if let Some(i) = index_of(tag, &m.email).filter(|&i| i < n)
                && member_ids[i].is_empty()
            {
                member_ids[i] = m.id;
                found += 1;
            }
        }
        match page.next_cursor {
            Some(next) if found < n => cursor = Some(next),
            _ => break,
        }
    }
    if found != n {
        bail!("found {found} of the {n} imported members");
    }
    timings.list_members_ms = ms(started.elapsed());

    progress.set_message(format!("provisioning {n} member tokens"));
    let started = Instant::now();
    let tokens = provision_tokens(admin, http, tag, &member_ids).await?;
    timings.tokens_ms = ms(started.elapsed());

    progress.set_message(format!("{n} members acknowledge the policy"));
    let started = Instant::now();
    ack_policy_all(admin, http, &tokens, progress).await?;
    timings.policy_acks_ms = ms(started.elapsed());

    Ok(Company {
        root_department,
        member_ids,
        tokens,
        timings,
    })
}

async fn provision_tokens(
    admin: &Admin,
    http: &reqwest::Client,
    tag: &str,
    ids: &[String],
) -> anyhow::Result<Vec<String>> {
    let base = admin.api.base_url();
    let mut tokens = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(TOKENS_PER_CALL) {
        let request = CreateTokensRequest {
            name: format!("all-hands {tag}"),
            member_ids: chunk.to_vec(),
            expires_in_days: Some(1),
        };
        let answer: CreateTokensResponse =
            with_retries(|| rest::post(http, base, &admin.token, "tokens/batch", &request))
                .await
                .context("POST /api/v1/tokens/batch failed")?;
        if answer.items.len() != chunk.len() {
            bail!(
                "asked for {} tokens, got {}",
                chunk.len(),
                answer.items.len()
            );
        }
        for (want, got) in chunk.iter().zip(&answer.items) {
            if *want != got.member_id {
                bail!(
                    "tokens came back out of order ({want} vs {})",
                    got.member_id
                );
            }
        }
        tokens.extend(answer.items.into_iter().map(|t| t.token));
    }
    Ok(tokens)
}

async fn ack_policy_all(
    admin: &Admin,
    http: &reqwest::Client,
    tokens: &[String],
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let base = admin.api.base_url();
    let body = PolicyAck {
        version: admin.policy_version,
    };
    let mut done = 0usize;
    let mut acks = futures_util::stream::iter(tokens.iter().map(|token| {
        let body = &body;
        async move {
            with_retries(|| rest::post::<_, PolicyAck>(http, base, token, "policy/ack", body)).await
        }
    }))
    .buffer_unordered(ACK_CONCURRENCY);
    while let Some(result) = acks.next().await {
        result.context("POST /api/v1/policy/ack failed")?;
        done += 1;
        if done.is_multiple_of(1000) {
            progress.set_message(format!(
                "{done} of {} members acknowledged the policy",
                tokens.len()
            ));
        }
    }
    Ok(())
}

/// Creates the gateway's relay token (acting for the admin's organisation).
pub async fn relay_token(
    admin: &Admin,
    http: &reqwest::Client,
    tag: &str,
) -> anyhow::Result<String> {
    let request = CreateTokenRequest {
        name: format!("all-hands gateway {tag}"),
        member_id: admin.id.clone(),
        expires_in_days: Some(1),
        scope: Some("relay".into()),
    };
    let answer: CreateTokenResponse =
        with_retries(|| rest::post(http, admin.api.base_url(), &admin.token, "tokens", &request))
            .await
            .context("POST /api/v1/tokens (relay) failed")?;
    Ok(answer.token)
}

/// Runs `call` until it succeeds, fails for good, or has failed [`SETUP_ATTEMPTS`] times.
async fn with_retries<T, F, Fut>(mut call: F) -> Result<T, RestError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RestError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if e.is_transient() && attempt < SETUP_ATTEMPTS => {
                let wait = e
                    .retry_after()
                    .unwrap_or(Duration::from_millis(100))
                    .min(Duration::from_secs(2));
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_import_file_puts_two_hundred_people_in_each_department() {
        let csv = company_csv("t1", 0..401);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 402);
        assert_eq!(
            lines[0],
            "name,email,department,manager_email,backup_email,role"
        );
        assert_eq!(
            lines[1],
            "Member 1,m0.t1@example.com,All-hands t1/Division 1/Department 1,,,member"
        );
        assert_eq!(
            lines[2],
            "Member 2,m1.t1@example.com,All-hands t1/Division 1/Department 1,m0.t1@example.com,,member"
        );
        assert_eq!(
            lines[401],
            "Member 401,m400.t1@example.com,All-hands t1/Division 1/Department 3,,,member"
        );
    }

    #[test]
    fn a_later_file_names_managers_of_its_own_departments() {
        let csv = company_csv("t1", 200..202);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[1],
            "Member 201,m200.t1@example.com,All-hands t1/Division 1/Department 2,,,member"
        );
        assert!(lines[2].ends_with("Department 2,m200.t1@example.com,,member"));
    }

    #[test]
    fn emails_map_back_to_member_indexes_of_their_own_run_only() {
        assert_eq!(index_of("ab12", "m17.ab12@example.com"), Some(17));
        assert_eq!(index_of("ab12", "m17.zz99@example.com"), None);
        assert_eq!(index_of("ab12", "sender.ab12@example.com"), None);
    }
}
