//! Flaps and their residue (#26) against real keepalived: a backup that is
//! MASTER for a moment moves the HAVIP with its gratuitous ARP; back to
//! BACKUP, it leaves the binding behind when the real master re-announces
//! nothing (no `garp_master_refresh`). vipdeck names it, counts the flap,
//! and the forced move brings the binding back.

use crate::support as lab;
use crate::tmux::{wait_pane, Tmux};

use std::time::{Duration, Instant};

use serde_json::Value;

fn alert<'a>(c: &'a Value, code: &str) -> Option<&'a str> {
    c["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["code"] == code)
        .and_then(|a| a["message"].as_str())
}

/// Each node's keepalived.conf without `garp_master_refresh`: a master
/// that does not re-announce by itself.
fn drop_garp_master_refresh() {
    for n in ["a", "b"] {
        let path = format!("{}/{n}/etc/keepalived/keepalived.conf", lab::LAB_ROOT);
        let conf = std::fs::read_to_string(&path).expect("the node's keepalived.conf");
        let without: String = conf
            .lines()
            .filter(|l| !l.trim_start().starts_with("garp_master_refresh"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_ne!(conf, without, "the lab's template sets garp_master_refresh");
        std::fs::write(&path, without).expect("rewrite keepalived.conf");
    }
}

/// The VRRP cut of `lab.sh cut-vrrp` one way only: node `n` hears its peer
/// again (INPUT), while what it sends is still dropped (OUTPUT).
fn restore_vrrp_input(n: &str) {
    lab::verb(&[
        "exec",
        n,
        "iptables",
        "-D",
        "INPUT",
        "-p",
        "112",
        "-m",
        "comment",
        "--comment",
        "vdlab-vrrpcut",
        "-j",
        "DROP",
    ]);
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn a_brief_flap_leaves_the_havip_behind_and_vipdeck_names_it() {
    lab::require_root();
    let _l = lab::Lab::up("havip");
    drop_garp_master_refresh();
    // vdlab-b (198.51.100.12, the higher address) is the master: with equal
    // priorities it wins the tie when vdlab-a hears it again, so vdlab-a
    // goes back to BACKUP instead of taking over.
    for n in ["vdlab-a", "vdlab-b"] {
        lab::verb(&["stop-keepalived", n]);
    }
    lab::verb(&["start-keepalived", "vdlab-b"]);
    std::thread::sleep(Duration::from_secs(5));
    lab::verb(&["start-keepalived", "vdlab-a"]);
    let mut w = lab::Watch::start();
    w.until(
        "healthy with vdlab-b MASTER",
        Duration::from_secs(60),
        |c| c["verdict"] == "healthy" && c["master"] == "vdlab-b" && c["vip_bound_to"] == "vdlab-b",
    );

    // vdlab-a stops hearing vdlab-b and vdlab-b stops hearing vdlab-a:
    // vdlab-a becomes MASTER and its GARP moves the HAVIP.
    let t0 = Instant::now();
    lab::verb(&["cut-vrrp", "vdlab-a"]);
    w.until("the HAVIP on vdlab-a", Duration::from_secs(30), |c| {
        c["vip_bound_to"] == "vdlab-a"
    });
    // vdlab-a hears vdlab-b again and goes back to BACKUP; vdlab-b never
    // heard vdlab-a's adverts (no lower-priority advert to answer with a
    // GARP) and sends none of its own.
    restore_vrrp_input("vdlab-a");
    w.until("vdlab-a BACKUP again", Duration::from_secs(15), |c| {
        lab::peer(c, "vdlab-a")["vrrp_state"] == "BACKUP"
    });
    std::thread::sleep(Duration::from_secs(2));
    lab::verb(&["restore-vrrp", "vdlab-a"]);
    println!("flap: vdlab-a MASTER and back within {:?}", t0.elapsed());

    let (named, v) = w.until("binding_left_by_flap", Duration::from_secs(40), |c| {
        alert(c, "binding_left_by_flap").is_some()
    });
    let c = &v["clusters"][0];
    let msg = alert(c, "binding_left_by_flap").unwrap_or_default();
    println!("flap: named {:?} after the cut: {msg}", named - t0);
    assert_eq!(c["verdict"], "vip_drift", "{c:#}");
    assert_eq!(c["master"], "vdlab-b", "{c:#}");
    assert_eq!(c["vip_bound_to"], "vdlab-a", "{c:#}");
    for part in [
        "the cloud binds 198.51.100.100 to vdlab-a",
        "vdlab-b stayed MASTER",
        "has no garp_master_refresh",
        "vipdeck failover --cluster lab --to vdlab-b --force",
    ] {
        assert!(msg.contains(part), "{part:?} not in {msg}");
    }
    assert!(
        c["flaps"]["master_changes_1h"].as_u64() >= Some(1),
        "the flap is counted: {:#}",
        c["flaps"]
    );
    println!("flap: {:#}", c["flaps"]);
    // vdlab-a's return to BACKUP was the tie-break, never the advert
    // timeout that made it MASTER.
    let last = &c["flaps"]["last_change"];
    if last["peer"] == "vdlab-a" && last["to"] == "BACKUP" {
        assert!(
            !last["cause"]
                .as_str()
                .unwrap_or("")
                .contains("advert timeout"),
            "{last:#}"
        );
    }
    // `check` pages on it. A fresh process anchors the grace on the
    // transition as its first read finds it (a state file's mtime, whole
    // seconds): within a second of the watch's verdict it may still say
    // converging, so it is asked again for a few seconds.
    let t_check = Instant::now();
    let out = loop {
        let out = lab::vipdeck(&["check"]).output().expect("check runs");
        if out.status.code() == Some(2) || t_check.elapsed() > Duration::from_secs(5) {
            break out;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(out.status.code(), Some(2), "{}", lab::text(&out));
    // `lint` names the lasting fix on both peers' real files.
    let out = lab::vipdeck(&["lint", "--cluster", "lab"])
        .output()
        .expect("lint runs");
    let said = lab::text(&out);
    println!("flap: lint says\n{said}");
    for node in ["vdlab-a", "vdlab-b"] {
        assert!(
            said.lines()
                .any(|l| l.contains("VD120") && l.contains(node) && l.contains("keepalived.conf")),
            "VD120 on {node}:\n{said}"
        );
    }
    assert_ne!(out.status.code(), Some(0), "a warning is not clean: {said}");
    // The screen names it, with the fix.
    screen_names_the_residue();

    // The fix now: the forced move, vdlab-b re-announces.
    let out = lab::vipdeck(&[
        "failover",
        "--cluster",
        "lab",
        "--to",
        "vdlab-b",
        "--force",
        "--yes",
    ])
    .output()
    .expect("failover runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        lab::text(&out),
        lab::diagnostics()
    );
    w.until(
        "the binding back on vdlab-b",
        Duration::from_secs(30),
        |c| c["vip_bound_to"] == "vdlab-b" && alert(c, "binding_left_by_flap").is_none(),
    );
}

/// The dashboard in tmux names the situation and its fix in the alerts.
fn screen_names_the_residue() {
    const SESSION: &str = "vdlab-flap";
    let data = format!("{}/vipdeck-data", lab::LAB_ROOT);
    let _t = Tmux::dashboard(SESSION, std::path::Path::new(&data), (200, 50));
    let pane = wait_pane(
        SESSION,
        "binding left behind by a flap",
        Duration::from_secs(60),
    );
    assert!(pane.contains("VIP DRIFT"), "{pane}");
    println!("flap: the screen\n{pane}");
}
