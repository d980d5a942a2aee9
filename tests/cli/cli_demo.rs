//! The real binary on the embedded simulator: `status --demo --json`,
//! `check --demo`, `status --watch --json --demo`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn vipdeck() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    // Keep the developer's config and data out of the test.
    let dir = std::env::temp_dir().join("vipdeck-cli-test");
    c.env("VIPDECK_DATA_DIR", &dir).env_remove("VIPDECK_CONFIG");
    c
}

#[test]
fn status_demo_json_has_the_documented_fields() {
    let out = vipdeck()
        .args(["status", "--demo", "--json"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let clusters = v["clusters"].as_array().expect("clusters");
    assert_eq!(clusters.len(), 2);
    let modes: Vec<&str> = clusters
        .iter()
        .map(|c| c["mode"].as_str().unwrap_or(""))
        .collect();
    assert!(
        modes.contains(&"havip") && modes.contains(&"eni"),
        "{modes:?}"
    );
    for c in clusters {
        for key in [
            "name",
            "mode",
            "vip",
            "verdict",
            "master",
            "vip_bound_to",
            "cloud",
            "peers",
            "alerts",
        ] {
            assert!(c.get(key).is_some(), "cluster lacks {key}: {c}");
        }
        assert_eq!(c["verdict"], "healthy", "{c}");
        assert_eq!(c["master"], c["vip_bound_to"]);
        let peers = c["peers"].as_array().expect("peers");
        assert_eq!(peers.len(), 2);
        for p in peers {
            for key in [
                "name",
                "reachable",
                "keepalived_running",
                "vrrp_state",
                "vip_on_nic",
                "priority",
                "last_transition",
                "error",
            ] {
                assert!(p.get(key).is_some(), "peer lacks {key}: {p}");
            }
            let s = p["vrrp_state"].as_str().expect("state");
            assert!(["MASTER", "BACKUP", "FAULT", "STOP", "UNKNOWN"].contains(&s));
        }
    }
}

#[test]
fn jq_reads_the_verdicts() {
    let Ok(jq) = Command::new("jq").arg("--version").output() else {
        assert!(std::env::var("CI").is_err(), "jq must be installed in CI");
        println!("jq not installed: skipping the jq check");
        return;
    };
    assert!(jq.status.success());
    let out = vipdeck()
        .args(["status", "--demo", "--json"])
        .output()
        .expect("runs");
    let mut child = Command::new("jq")
        .args(["-r", ".clusters[].verdict"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("jq");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&out.stdout)
        .expect("write");
    let res = child.wait_with_output().expect("jq output");
    assert_eq!(String::from_utf8_lossy(&res.stdout), "healthy\nhealthy\n");
}

#[test]
fn check_demo_exits_zero_with_perfdata() {
    let out = vipdeck().args(["check", "--demo"]).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("VIPDECK OK - "), "{text}");
    assert!(text.contains("'web_data_age'="), "{text}");
}

#[test]
fn status_for_an_unknown_cluster_is_an_error() {
    let out = vipdeck()
        .args(["status", "--demo", "--cluster", "nope"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no cluster named `nope`"));
}

/// Monitoring-plugin conventions: a usage error, an unreadable config and
/// an unknown cluster are UNKNOWN (exit 3) with one line on stdout.
#[test]
fn check_usage_errors_are_unknown_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.toml");
    let missing = missing.to_str().expect("utf-8 path");
    let cases: [&[&str]; 3] = [
        &["check", "--no-such-flag"],
        &["--config", missing, "check"],
        &["check", "--demo", "--cluster", "nope"],
    ];
    for args in cases {
        let out = vipdeck().args(args).output().expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stdout}");
        assert_eq!(stdout.lines().count(), 1, "{args:?}: {stdout}");
        assert!(
            stdout.starts_with("VIPDECK UNKNOWN - "),
            "{args:?}: {stdout}"
        );
    }
    let out = vipdeck()
        .args(["check", "--demo", "--cluster", "nope"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(clusters: web, pay)"), "{stdout}");
}

#[test]
fn watch_prints_one_json_line_per_change_with_at() {
    let mut child = vipdeck()
        .args(["status", "--demo", "--watch", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last_verdicts = String::new();
    while Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(&line).expect("each line is JSON");
        let at = v["at"].as_str().expect("at");
        chrono::DateTime::parse_from_rfc3339(at).expect("RFC 3339");
        assert!(
            at.contains('.') && at.ends_with('Z'),
            "milliseconds, UTC: {at}"
        );
        last_verdicts = v["clusters"]
            .as_array()
            .expect("clusters")
            .iter()
            .map(|c| c["verdict"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
            .join(",");
        if last_verdicts == "healthy,healthy" {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(last_verdicts, "healthy,healthy");
}
