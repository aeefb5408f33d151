//! The all-hands benchmark at test size, through the real binary: every receipt sent is
//! seen by the sender exactly once. Times are never asserted; they depend on the machine.

use std::process::Command;
use std::time::Instant;

#[test]
fn a_small_all_hands_run_loses_and_duplicates_no_receipt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("all-hands.json");
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_readtrack"))
        .args([
            "bench",
            "all-hands",
            "--spawn",
            "--members",
            "2000",
            "--connections",
            "50",
            "--duration",
            "60s",
            "--json",
        ])
        .arg(&json)
        .env("READTRACK_LOG", "warn")
        .output()
        .expect("run readtrack bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the benchmark failed after {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        started.elapsed()
    );
    assert!(stdout.contains("lost / duplicated"), "no table:\n{stdout}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("the JSON report")).expect("JSON");
    assert_eq!(report["members"], 2000);
    assert_eq!(report["recipients"], 2000);
    assert_eq!(report["lost"], 0, "{report:#}");
    assert_eq!(report["duplicated"], 0, "{report:#}");
    // Every member delivered, read and confirmed, each receipt committed once.
    assert_eq!(report["receipts"], 6000, "{report:#}");
    assert_eq!(report["unsent"], 0, "{report:#}");
    for figure in [
        "fanout_ms",
        "receipts_per_sec",
        "board_summary_ms",
        "unread_page_ms",
        "ws_bytes_per_connection",
        "server_rss_mib",
        "server_cpu_us_per_receipt",
    ] {
        assert!(report[figure].is_number(), "{figure} missing: {report:#}");
    }
    for p in ["p50", "p99", "p999", "max"] {
        assert!(report["visible_latency_ms"][p].is_number(), "{report:#}");
    }
    assert_eq!(report["final_summary"]["acknowledged"], 2000, "{report:#}");
}
