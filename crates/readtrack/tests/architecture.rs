//! Architecture invariants, checked against the workspace itself: what ARCHITECTURE.md
//! says about the layers must be what `cargo metadata` and the sources show.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/readtrack sits two levels below the workspace root")
        .to_path_buf()
}

/// Each workspace crate with the workspace crates (and, separately, all crates) it
/// depends on for its library or binary, build and test dependencies aside.
struct Graph {
    internal: BTreeMap<String, BTreeSet<String>>,
    external: BTreeMap<String, BTreeSet<String>>,
}

fn graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let names: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default().to_string())
        .collect();
    let mut internal = BTreeMap::new();
    let mut external = BTreeMap::new();
    for p in packages {
        let name = p["name"].as_str().unwrap_or_default().to_string();
        let normal: Vec<String> = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap_or_default().to_string())
            .collect();
        internal.insert(
            name.clone(),
            normal
                .iter()
                .filter(|d| names.contains(*d))
                .cloned()
                .collect(),
        );
        external.insert(name, normal.into_iter().collect());
    }
    Graph { internal, external }
}

/// The `depends-on` block of ARCHITECTURE.md: lines `crate -> dep, dep`.
fn documented_edges() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md"))
        .expect("read ARCHITECTURE.md");
    let block = text
        .split("```text depends-on\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("ARCHITECTURE.md has a ```text depends-on block");
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (from, to) = l.split_once("->").expect("a line `crate -> deps`");
            let deps = to
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect();
            (from.trim().to_string(), deps)
        })
        .collect()
}

#[test]
fn the_documented_layers_are_the_real_dependencies() {
    assert_eq!(
        documented_edges(),
        graph().internal,
        "ARCHITECTURE.md's depends-on block must list exactly the workspace edges `cargo metadata` reports"
    );
}

#[test]
fn the_http_layer_reaches_data_only_through_the_service() {
    let g = graph();
    assert!(
        !g.internal["readtrack-server"].contains("readtrack-storage"),
        "readtrack-server must not depend on readtrack-storage: handlers call the service"
    );
}

#[test]
fn the_domain_crate_does_no_io_and_knows_no_async_or_serde() {
    let g = graph();
    let allowed: BTreeSet<String> = ["jiff", "thiserror"].map(String::from).into();
    let deps = &g.external["readtrack-domain"];
    assert!(
        deps.is_subset(&allowed),
        "readtrack-domain may depend only on {allowed:?}, found {deps:?}"
    );
    for file in rust_files(&workspace_root().join("crates/readtrack-domain/src")) {
        let text = std::fs::read_to_string(&file).expect("read source");
        for banned in [
            "async fn",
            ".await",
            "std::fs",
            "std::net",
            "std::io::",
            "serde",
        ] {
            assert!(
                !text.contains(banned),
                "{} uses `{banned}`: the domain crate is pure rules",
                file.display()
            );
        }
    }
}

#[test]
fn only_storage_and_the_client_speak_sql() {
    let g = graph();
    let speaking: BTreeSet<&str> = g
        .external
        .iter()
        .filter(|(_, deps)| deps.contains("sqlx"))
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(
        speaking,
        BTreeSet::from(["readtrack-client", "readtrack-storage"]),
        "sqlx belongs to the storage layer and the client's offline outbox only"
    );
}

#[test]
fn every_source_file_says_what_it_is_on_its_first_line() {
    let mut missing = Vec::new();
    for file in rust_files(&workspace_root().join("crates")) {
        let text = std::fs::read_to_string(&file).expect("read source");
        if !text.starts_with("//!") {
            missing.push(file.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "these files do not open with a `//!` line: {missing:#?}"
    );
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name()
                    .is_some_and(|n| n == "target" || n == "node_modules")
                {
                    continue;
                }
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
