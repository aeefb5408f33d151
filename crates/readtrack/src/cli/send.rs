//! `readtrack send`: sends a notice. Recipients are named as people see them
//! (`dept:Retail/Kowloon`, `kelvin.chan@…`) and resolved through the directory.

use std::collections::HashMap;
use std::io::Read;

use anyhow::{Context, bail};
use clap::Args;
use readtrack_client::ApiClient;
use readtrack_client::protocol::directory::Department;
use readtrack_client::protocol::messages::{AudienceBody, SendMessage};

use super::GlobalArgs;
use super::render;
use super::session::Session;

/// Flags of `readtrack send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// A recipient: `dept:NAME` (a department and its sub-departments; `dept:A/B` for a
    /// path when names repeat) or a member's email. Repeat for more.
    #[arg(long = "to", required = true, value_name = "dept:NAME|EMAIL")]
    to: Vec<String>,
    /// The title.
    #[arg(long)]
    title: String,
    /// The body (Markdown); `-` reads it from standard input.
    #[arg(long)]
    body: String,
    /// `normal`, `important` or `urgent` [default: normal].
    #[arg(long, value_parser = ["normal", "important", "urgent"])]
    priority: Option<String>,
    /// `off`, `aggregate` or `per_person` [default: the organisation's rule].
    #[arg(long, value_parser = ["off", "aggregate", "per_person"])]
    tracking: Option<String>,
    /// Recipients must confirm they read it.
    #[arg(long)]
    require_ack: bool,
    /// A choice the confirmation must carry (repeat, 2 to 10; implies --require-ack).
    #[arg(long = "choice", value_name = "LABEL")]
    choices: Vec<String>,
    /// Deadline (RFC 3339, e.g. 2026-12-01T10:00:00Z).
    #[arg(long)]
    deadline: Option<String>,
    /// Send it as an emergency (typhoon, safety), saying why: urgent, at any hour, its
    /// reminders on wall-clock minutes. Only for those an administrator named.
    #[arg(long, value_name = "REASON")]
    emergency: Option<String>,
}

/// Each department's full path (`Harbour Line/Retail/Kowloon`), by id.
fn paths(departments: &[Department]) -> HashMap<String, String> {
    let by_id: HashMap<&str, &Department> =
        departments.iter().map(|d| (d.id.as_str(), d)).collect();
    let mut out = HashMap::new();
    for d in departments {
        let mut parts = vec![d.name.as_str()];
        let mut parent = d.parent_id.as_deref();
        // The depth bound guards against a cycle in a damaged directory.
        while let Some(p) = parent.and_then(|id| by_id.get(id)) {
            if parts.len() > 64 {
                break;
            }
            parts.push(p.name.as_str());
            parent = p.parent_id.as_deref();
        }
        parts.reverse();
        out.insert(d.id.clone(), parts.join("/"));
    }
    out
}

/// The department `wanted` names: its name, or a trailing part of its path, compared
/// case-insensitively.
fn resolve_department(
    wanted: &str,
    departments: &[Department],
    paths: &HashMap<String, String>,
) -> anyhow::Result<String> {
    let wanted_parts: Vec<String> = wanted
        .split('/')
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    if wanted_parts.is_empty() {
        bail!("`dept:` needs a department name, e.g. dept:Finance");
    }
    let matches: Vec<&Department> = departments
        .iter()
        .filter(|d| {
            let path: Vec<String> = paths
                .get(&d.id)
                .map(|p| p.split('/').map(str::to_lowercase).collect())
                .unwrap_or_default();
            path.ends_with(&wanted_parts)
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => {
            let hint: Vec<&str> = departments
                .iter()
                .filter(|d| {
                    d.name
                        .to_lowercase()
                        .contains(wanted_parts.last().map(String::as_str).unwrap_or(""))
                })
                .filter_map(|d| paths.get(&d.id).map(String::as_str))
                .take(5)
                .collect();
            if hint.is_empty() {
                bail!("no department is called {wanted:?}")
            }
            bail!(
                "no department is called {wanted:?}; did you mean: {}?",
                hint.join(", ")
            )
        }
        many => {
            let names: Vec<&str> = many
                .iter()
                .filter_map(|d| paths.get(&d.id).map(String::as_str))
                .collect();
            bail!(
                "{wanted:?} names {} departments: {}; give more of the path, e.g. dept:{}",
                many.len(),
                names.join(", "),
                names.first().copied().unwrap_or_default()
            )
        }
    }
}

async fn audience(api: &ApiClient, to: &[String]) -> anyhow::Result<AudienceBody> {
    let mut audience = AudienceBody::default();
    let mut departments: Option<(Vec<Department>, HashMap<String, String>)> = None;
    for target in to {
        let target = target.trim();
        if let Some(name) = target.strip_prefix("dept:") {
            if departments.is_none() {
                let all = api
                    .departments()
                    .await
                    .context("cannot list the departments")?;
                let p = paths(&all);
                departments = Some((all, p));
            }
            if let Some((all, p)) = &departments {
                let id = resolve_department(name, all, p)?;
                if !audience.departments.contains(&id) {
                    audience.departments.push(id);
                }
            }
        } else if target.contains('@') {
            let member = api
                .member_by_email(target)
                .await
                .with_context(|| format!("cannot look up {target}"))?
                .with_context(|| format!("nobody in the directory has the email {target}"))?;
            if !audience.members.contains(&member.id) {
                audience.members.push(member.id);
            }
        } else {
            bail!("--to {target:?}: give `dept:NAME` or an email address");
        }
    }
    Ok(audience)
}

/// Runs `readtrack send`.
pub async fn run(global: &GlobalArgs, args: SendArgs) -> anyhow::Result<()> {
    let s = Session::open(global).await?;
    let body = if args.body == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the body from standard input")?;
        text
    } else {
        args.body
    };
    let audience = audience(&s.api, &args.to).await?;
    let message = SendMessage {
        title: args.title,
        body,
        priority: args.priority,
        tracking: args.tracking,
        require_ack: args.require_ack || !args.choices.is_empty(),
        response_options: (!args.choices.is_empty()).then_some(args.choices),
        audience,
        reminders: None,
        deadline: args.deadline,
        emergency_reason: args.emergency,
    };
    let sent = s
        .api
        .send_message(&message)
        .await
        .context("the notice was not sent")?;
    if s.json {
        return render::json(&sent);
    }
    let mut text = format!(
        "Sent notice {} \"{}\" to {} recipient(s).\n",
        sent.id, message.title, sent.recipient_count
    );
    if sent.is_async {
        text.push_str(
            "It was sent outside working time: reminders start at the next working hour.\n",
        );
    }
    if message.tracking.as_deref() != Some("off") {
        text.push_str(&format!("Follow it: readtrack board {} --watch\n", sent.id));
    }
    render::text(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dept(id: &str, name: &str, parent: Option<&str>) -> Department {
        Department {
            id: id.into(),
            name: name.into(),
            parent_id: parent.map(Into::into),
        }
    }

    fn directory() -> Vec<Department> {
        vec![
            dept("1", "Harbour Line", None),
            dept("2", "Retail", Some("1")),
            dept("3", "Kowloon", Some("2")),
            dept("4", "Logistics", Some("1")),
            dept("5", "Kowloon", Some("4")),
            dept("6", "Finance", Some("1")),
        ]
    }

    #[test]
    fn a_unique_name_resolves_case_insensitively() {
        let d = directory();
        assert_eq!(
            resolve_department("finance", &d, &paths(&d)).expect("found"),
            "6"
        );
    }

    #[test]
    fn a_repeated_name_needs_more_of_its_path() {
        let d = directory();
        let p = paths(&d);
        let err = resolve_department("Kowloon", &d, &p)
            .expect_err("ambiguous")
            .to_string();
        assert!(
            err.contains("Harbour Line/Retail/Kowloon")
                && err.contains("Harbour Line/Logistics/Kowloon"),
            "{err}"
        );
        assert_eq!(
            resolve_department("Logistics/Kowloon", &d, &p).expect("found"),
            "5"
        );
    }

    #[test]
    fn an_unknown_name_suggests_close_ones() {
        let d = directory();
        let err = resolve_department("Retai", &d, &paths(&d))
            .expect_err("unknown")
            .to_string();
        assert!(err.contains("Harbour Line/Retail"), "{err}");
    }
}
