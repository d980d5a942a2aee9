//! `vipdeck explain` and the dashboard's why box (`e`) on the embedded
//! simulator (both peers BACKUP-configured, equal priority 100,
//! `nopreempt`, `chk_self` and `eth0` tracked with weight 0; its
//! keepalived answers a JSON dump, which names trackers but gives no
//! result).

use std::process::Command;

use crate::tmux_pane::{vipdeck_cmd, Pane};

fn vipdeck(data: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.env("VIPDECK_DATA_DIR", data).env_remove("VIPDECK_CONFIG");
    c
}

fn run(args: &[&str]) -> (bool, String, String) {
    let data = tempfile::tempdir().expect("tempdir");
    let out = vipdeck(data.path()).args(args).output().expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn explain_says_why_the_backup_stays_backup_and_what_it_could_not_see() {
    let (ok, out, err) = run(&["explain", "--demo", "--cluster", "web"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("web (healthy):"), "{out}");
    assert!(!out.contains("pay"), "only web: {out}");
    // One peer is MASTER, the other stays BACKUP for the nopreempt tie.
    let re = regex::Regex::new(
        r"(havip-0[12]) stays BACKUP: its priority 100 is not above (havip-0[12])'s 100 and nopreempt is set; it would take over if (havip-0[12]) stops",
    )
    .expect("re");
    let c = re.captures(&out).unwrap_or_else(|| panic!("{out}"));
    assert_ne!(&c[1], &c[2]);
    assert_eq!(&c[2], &c[3]);
    assert!(
        out.contains(&format!("{} is MASTER with priority 100", &c[2])),
        "{out}"
    );
    // Each fact with its source.
    assert!(
        out.contains("priority: base 100 (keepalived dump), effective 100 (keepalived dump)"),
        "{out}"
    );
    assert!(
        out.contains("track_script chk_self: weight 0 (keepalived.conf)"),
        "{out}"
    );
    // The JSON dump gives no tracker result: said, not guessed.
    assert!(
        out.contains("not seen: the result of track_script chk_self, track_interface eth0: keepalived's JSON dump names trackers but gives no result"),
        "{out}"
    );
    let (ok, _, err) = run(&["explain", "--demo", "--cluster", "nope"]);
    assert!(!ok);
    assert!(err.contains("no cluster named `nope`"), "{err}");
}

#[test]
fn explain_json_and_status_json_carry_the_same_explanation() {
    let (ok, out, err) = run(&["explain", "--demo", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let clusters = v["clusters"].as_array().expect("clusters");
    assert_eq!(clusters.len(), 2);
    for c in clusters {
        for p in c["peers"].as_array().expect("peers") {
            assert!(p["summary"].as_str().is_some_and(|s| !s.is_empty()), "{p}");
            assert_eq!(p["base_priority"]["value"], 100, "{p}");
            assert_eq!(p["base_priority"]["source"], "keepalived_dump", "{p}");
            assert_eq!(p["nopreempt"]["value"], true, "{p}");
            let t = &p["trackers"][0];
            assert_eq!(t["kind"], "script", "{p}");
            assert_eq!(t["weight"], 0, "{p}");
            assert_eq!(t["weight_source"], "conf", "{p}");
            assert_eq!(t["status"], "unknown", "{p}");
            assert!(!p["unseen"].as_array().expect("unseen").is_empty(), "{p}");
        }
    }
    let (ok, out, err) = run(&["status", "--demo", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    for c in v["clusters"].as_array().expect("clusters") {
        for p in c["peers"].as_array().expect("peers") {
            // The existing fields stay; `explain` is added.
            assert!(p["vrrp_state"].is_string(), "{p}");
            assert_eq!(p["explain"]["peer"], p["name"], "{p}");
            assert_eq!(p["explain"]["state"], p["vrrp_state"], "{p}");
        }
    }
}

#[test]
fn e_opens_the_why_box_of_the_selected_peer_and_esc_closes_it() {
    let data = tempfile::tempdir().expect("tempdir");
    let cmd = vipdeck_cmd(data.path(), "demo");
    let s = Pane::start("explain", 80, 24, &cmd);
    s.wait_for("the demo", |t| {
        t.contains("2 clusters") && t.contains("MASTER")
    });
    s.keys(&["e"]);
    let first = s.wait_for("e opens the why box", |t| t.contains("why ·"));
    assert!(first.contains("nopreempt (keepalived dump)"), "{first}");
    assert!(first.contains("track_script chk_self: weight 0"), "{first}");
    let peer_of = |t: &str| {
        let re = regex::Regex::new(r"why · \S+ · (\S+) (MASTER|BACKUP)").expect("re");
        re.captures(t).map(|c| (c[1].to_string(), c[2].to_string()))
    };
    let (p1, st1) = peer_of(&first).unwrap_or_else(|| panic!("{first}"));
    assert!(first.contains(&format!("{p1} ")), "{first}");
    s.keys(&["Escape"]);
    s.wait_for("Esc closes it", |t| !t.contains("why ·"));
    // The other peer.
    s.keys(&["Tab"]);
    s.keys(&["e"]);
    let second = s.wait_for("e on the other peer", |t| {
        peer_of(t).is_some_and(|(p, _)| p != p1)
    });
    let (_, st2) = peer_of(&second).expect("a peer");
    assert_ne!(st1, st2, "one MASTER, one BACKUP:\n{first}\n{second}");
    assert!(s.alive());
    s.keys(&["q"]);
    s.wait_for("q closes the box", |t| !t.contains("why ·"));
    s.keys(&["q"]);
    s.wait_ended("q quits");
}
