//! The real binary on the embedded simulator: `status --demo --json`,
//! `check --demo`, `status --watch [--json] --demo`.

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

/// `status --watch` speaks text by default, one line per change, during a
/// demo takeover: keepalived on web's MASTER is killed a second after the
/// first round (the dashboard's `K`, through a debug-build hook), the other
/// peer takes over, the binding follows, and the supervisor restarts the
/// old master as BACKUP ten seconds later. Between those changes nothing
/// is printed; pay, which does not change, prints only its first line.
#[test]
fn watch_prints_a_text_line_per_change_during_a_takeover() {
    let mut child = vipdeck()
        .args(["status", "--demo", "--watch"])
        .env("VIPDECK_DEBUG_DEMO_KILL_MASTER_AFTER_MS", "1000")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    // The kill, the takeover, the binding (2 s cloud delay) and the
    // restart (10 s) all happen within 20 s; give it twice that.
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut lines: Vec<(Instant, String)> = Vec::new();
    while Instant::now() < deadline {
        let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let done = l.1.contains("STOP → BACKUP");
        lines.push(l);
        if done {
            break;
        }
    }
    // A moment more: nothing follows once everything is back.
    std::thread::sleep(Duration::from_secs(2));
    while let Ok(l) = rx.try_recv() {
        lines.push(l);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        matches!(child.try_wait(), Ok(Some(_))),
        "the watch has ended"
    );
    let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    let shown = text.join("\n");
    let re = regex::Regex::new(r"^\d\d:\d\d:\d\d (web|pay) (.+) · (HEALTHY|DEGRADED|SPLIT_BRAIN|NO_MASTER|VIP_DRIFT|UNKNOWN)$")
        .expect("regex");
    for l in &text {
        assert!(re.is_match(l), "not a watch line: {l:?}\n{shown}");
    }
    // The first round: one line per cluster, then pay stays quiet.
    assert!(
        text[0].contains(" web ") || text[1].contains(" web "),
        "{shown}"
    );
    assert_eq!(
        text.iter().filter(|l| l.contains(" pay ")).count(),
        1,
        "pay did not change:\n{shown}"
    );
    let web: Vec<&str> = text
        .iter()
        .copied()
        .filter(|l| l.contains(" web "))
        .collect();
    // Every later line says what changed, and no two say the same.
    for pair in web.windows(2) {
        assert_ne!(pair[0][9..], pair[1][9..], "{shown}");
    }
    for l in &web[1..] {
        assert!(
            l.contains(" → ") || l.contains("unreachable"),
            "{l}\n{shown}"
        );
    }
    let has = |what: &str| web.iter().any(|l| l.contains(what));
    assert!(has("MASTER → STOP"), "the old master stopped:\n{shown}");
    assert!(has("master "), "the master changed:\n{shown}");
    assert!(has("VIP bound havip-0"), "the binding followed:\n{shown}");
    assert!(
        web.last()
            .is_some_and(|l| l.contains("STOP → BACKUP") && l.ends_with("HEALTHY")),
        "restarted as BACKUP, healthy again:\n{shown}"
    );
    // A handful of lines for a handful of changes, not a line per poll.
    assert!(web.len() <= 8, "{shown}");
    // Nothing between changes: the binding moved seconds before the
    // restart, and no line came in between.
    let bound = web
        .iter()
        .position(|l| l.contains("VIP bound ") && !l.contains("VIP bound to "))
        .expect("a binding line");
    let bound_at = lines
        .iter()
        .find(|(_, l)| l.as_str() == web[bound])
        .map(|(t, _)| *t)
        .expect("time");
    let restart_at = lines.last().map(|(t, _)| *t).expect("time");
    let between = lines
        .iter()
        .filter(|(t, _)| *t > bound_at && *t < restart_at)
        .count();
    assert!(
        restart_at.duration_since(bound_at) > Duration::from_secs(2) && between == 0,
        "quiet between the binding ({bound_at:?}) and the restart:\n{shown}"
    );
}

#[test]
fn status_wide_adds_priority_transition_data_age_and_watcher() {
    let out = vipdeck()
        .args(["status", "--demo", "-o", "wide"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let narrow = vipdeck().args(["status", "--demo"]).output().expect("runs");
    let narrow = String::from_utf8_lossy(&narrow.stdout);
    assert!(!narrow.contains(" prio "), "{narrow}");
    let re = regex::Regex::new(
        r"^  \S+ +(MASTER|BACKUP) .* prio 100  transition \S+ ago  data age \S+  watcher simulated  keepalived 2\.2\.7 via json dump$",
    )
    .expect("regex");
    let peers: Vec<&str> = text.lines().filter(|l| re.is_match(l)).collect();
    assert_eq!(peers.len(), 4, "two peers of two clusters:\n{text}");
    let clouds = text
        .lines()
        .filter(|l| l.starts_with("  cloud: ") && l.contains(", read ") && l.contains(" ago"))
        .count();
    assert_eq!(clouds, 2, "the cloud's age:\n{text}");
    // Wide with --watch is refused, not ignored.
    let out = vipdeck()
        .args(["status", "--demo", "--watch", "-o", "wide"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
}
