//! `vipdeck explain` against real keepalived (issue 26, "why this
//! state"): a failing `track_script` with a negative weight keeps a node
//! BACKUP, and a downed `track_interface` puts a node in FAULT; each is
//! explained by `explain`, by `status --json` and on the screen.
//!
//! Each test rewrites one node's keepalived.conf (under /tmp/vdlab/<n>/,
//! bind-mounted over the node's /etc/keepalived) and reloads that
//! keepalived with SIGHUP, as an operator would.

use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{self as lab, Lab, LAB_ROOT};
use crate::tmux::{tmux, wait_pane, Tmux};

/// The node's short name (`a`), as lab.sh keeps its files.
fn short(node: &str) -> &str {
    node.trim_start_matches("vdlab-")
}

fn conf_path(node: &str) -> String {
    format!("{LAB_ROOT}/{}/etc/keepalived/keepalived.conf", short(node))
}

/// Rewrites `node`'s keepalived.conf with `edit` and reloads keepalived.
fn rewrite_and_reload(node: &str, edit: impl Fn(&str) -> String) {
    let path = conf_path(node);
    let conf = std::fs::read_to_string(&path).expect("the node's keepalived.conf");
    let new = edit(&conf);
    assert_ne!(conf, new, "the edit changed nothing");
    std::fs::write(&path, new).expect("write keepalived.conf");
    let pid = std::fs::read_to_string(format!("{LAB_ROOT}/{}/run/keepalived.pid", short(node)))
        .expect("keepalived's pid file");
    let st = Command::new("kill")
        .args(["-HUP", pid.trim()])
        .status()
        .expect("kill -HUP");
    assert!(st.success(), "reload keepalived on {node}");
}

/// `vipdeck explain --cluster lab --json`: the peer named `peer`.
fn explained(peer: &str) -> Value {
    let out = lab::vipdeck(&["explain", "--cluster", "lab", "--json"])
        .output()
        .expect("vipdeck explain");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v["clusters"][0]["peers"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["peer"] == peer).cloned())
        .unwrap_or(Value::Null)
}

/// Asks until `ok` holds (keepalived's scripts and reload take seconds).
fn explained_until(peer: &str, why: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        let p = explained(peer);
        if ok(&p) {
            return p;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{why}: {p:#}\n{}",
            lab::diagnostics()
        );
        sleep(Duration::from_secs(1));
    }
}

fn explain_text() -> String {
    let out = lab::vipdeck(&["explain", "--cluster", "lab"])
        .output()
        .expect("vipdeck explain");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status_peer(peer: &str) -> Value {
    let out = lab::vipdeck(&["status", "--cluster", "lab", "--json"])
        .output()
        .expect("vipdeck status");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    lab::peer(&v["clusters"][0], peer).clone()
}

/// The dashboard in tmux, `e` on `peer` (Tab to it when the other is
/// selected): the why box's text.
fn screen_why(session: &'static str, peer: &str, expect: &str) -> String {
    let data = format!("{LAB_ROOT}/vipdeck-data");
    let _t = Tmux::dashboard(session, Path::new(&data), (120, 40));
    wait_pane(session, "vdlab-", Duration::from_secs(30));
    for _ in 0..2 {
        tmux(&["send-keys", "-t", session, "e"]);
        let pane = wait_pane(session, "why ·", Duration::from_secs(20));
        if pane.contains(&format!("· {peer} ")) {
            // The dashboard asks keepalived for a dump on a change, else
            // every 60 s: wait past that.
            return wait_pane(session, expect, Duration::from_secs(90));
        }
        tmux(&["send-keys", "-t", session, "Escape"]);
        let t0 = Instant::now();
        while tmux(&["capture-pane", "-p", "-t", session]).contains("why ·") {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "Esc closes the why box"
            );
            sleep(Duration::from_millis(100));
        }
        tmux(&["send-keys", "-t", session, "Tab"]);
    }
    panic!("the why box never showed {peer}");
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn a_failing_track_script_with_weight_keeps_a_node_backup_and_explain_says_why() {
    lab::require_root();
    let lab = Lab::up("havip");
    let (master, backup) = (lab.master.clone(), lab.backup.clone());
    // The backup tracks a script that always fails, weight -20: 100 - 20.
    rewrite_and_reload(&backup, |c| {
        c.replace(
            "vrrp_instance VI_1 {",
            "vrrp_script chk_weighted {\n    script \"/bin/false\"\n    interval 1\n    fall 1\n    rise 1\n}\n\nvrrp_instance VI_1 {",
        )
        .replace(
            "    track_interface {",
            "    track_script {\n        chk_weighted weight -20\n    }\n    track_interface {",
        )
    });
    let p = explained_until(&backup, "the backup's effective priority 80", |p| {
        p["effective_priority"]["value"] == 80
    });
    assert_eq!(p["state"], "BACKUP", "{p:#}");
    assert_eq!(p["base_priority"]["value"], 100, "{p:#}");
    let summary = p["summary"].as_str().unwrap_or_default();
    assert_eq!(
        summary,
        format!(
            "{backup} stays BACKUP: its priority 80 is not above {master}'s 100 and nopreempt is set; it would take over if {master} stops"
        ),
        "{p:#}"
    );
    let script = p["trackers"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "chk_weighted"))
        .unwrap_or_else(|| panic!("chk_weighted: {p:#}"));
    assert_eq!(script["weight"], -20, "{p:#}");
    assert_eq!(script["weight_source"], "conf", "{p:#}");
    // Its result: from keepalived's own log (the JSON dump gives none).
    assert_eq!(script["status"], "bad", "{p:#}");
    assert_eq!(script["status_source"], "keepalived_log", "{p:#}");
    assert_eq!(
        script["effect"], "failing: lowers the priority by 20",
        "{p:#}"
    );
    let text = explain_text();
    assert!(text.contains(summary), "{text}");
    let s = status_peer(&backup);
    assert_eq!(s["explain"]["summary"], summary, "{s:#}");
    // The box reads live facts: the dump's effective priority comes with
    // the dashboard's first dump (until then the conf's 100 is shown, and
    // said to be the conf's).
    let pane = screen_why("vipdeck-explain-weight", &backup, "its priority 80");
    assert!(pane.contains("chk_weighted"), "{pane}");
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn a_downed_tracked_interface_makes_fault_and_explain_names_it() {
    lab::require_root();
    let lab = Lab::up("havip");
    let backup = lab.backup.clone();
    // A second link in the backup, tracked with weight 0 (a failure is FAULT).
    let ex = |args: &[&str]| {
        let mut a = vec!["exec", short(&backup)];
        a.extend_from_slice(args);
        let out = lab::run(&a);
        assert!(out.status.success(), "{args:?}: {}", lab::text(&out));
    };
    ex(&[
        "ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk1",
    ]);
    ex(&["ip", "link", "set", "trk0", "up"]);
    ex(&["ip", "link", "set", "trk1", "up"]);
    rewrite_and_reload(&backup, |c| {
        c.replace(
            "        eth0\n    }\n}",
            "        eth0\n        trk0\n    }\n}",
        )
    });
    explained_until(&backup, "trk0 tracked, the backup BACKUP", |p| {
        p["state"] == "BACKUP" && p["trackers"].to_string().contains("trk0")
    });
    ex(&["ip", "link", "set", "trk0", "down"]);
    let p = explained_until(&backup, "the backup in FAULT for trk0", |p| {
        p["state"] == "FAULT"
    });
    let summary = p["summary"].as_str().unwrap_or_default().to_string();
    // The JSON dump names trk0 but gives no result; keepalived's log
    // (`Netlink reports trk0 down`) says it went down.
    assert_eq!(
        summary,
        format!("{backup} is in FAULT because track_interface trk0 (weight 0) is failing; it returns to BACKUP when it passes again"),
        "{p:#}"
    );
    let text = explain_text();
    assert!(text.contains(&summary), "{text}");
    let s = status_peer(&backup);
    assert_eq!(s["vrrp_state"], "FAULT", "{s:#}");
    assert_eq!(s["explain"]["summary"], summary, "{s:#}");
    let pane = screen_why(
        "vipdeck-explain-fault",
        &backup,
        "because track_interface trk0",
    );
    assert!(pane.contains("FAULT"), "{pane}");
}
