//! A peer whose tools are Debian's busybox-static applets (`sh`, `stat`,
//! `head`, `base64`, `date` without `%N`, an `ip` without `monitor`): the
//! same truth as on a stock Debian peer, over real ssh, against real
//! keepalived (`lab.sh up --userland busybox`).

use crate::support as lab;

use std::time::{Duration, Instant};

use serde_json::Value;

fn status() -> Value {
    let out = lab::vipdeck(&["status", "--json"])
        .output()
        .expect("runs vipdeck");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status --json: {e}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The lab cluster once `ok` holds for it (or the last one seen, failing).
fn until(what: &str, within: Duration, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let v = status();
        let c = v["clusters"][0].clone();
        if ok(&c) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not within {within:?}: {c:#}\n{}",
            lab::diagnostics()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn a_peer_with_busybox_tools_gives_the_same_truth() {
    lab::require_root();
    let l = lab::Lab::up_busybox("eni");
    // Every tool of an ssh session on the node is busybox's, its shell too.
    let tools = lab::verb(&[
        "ssh",
        &l.master,
        "for t in sh stat head base64 date ip tail; do readlink -f \"$(command -v $t)\"; done",
    ]);
    assert_eq!(tools.lines().count(), 7, "{tools}");
    assert!(tools.lines().all(|p| p.ends_with("busybox")), "{tools}");

    let c = until("healthy", Duration::from_secs(20), |c| {
        c["verdict"] == "healthy" && c["master"] == l.master.as_str()
    });
    for name in [&l.master, &l.backup] {
        let p = lab::peer(&c, name);
        assert_eq!(p["witness"], "json_dump", "{p:#}");
        assert_eq!(p["keepalived_version"], "2.2.7", "{p:#}");
        // busybox's ip has no `monitor`: the addresses are read each poll.
        assert_eq!(p["watcher"], "tick + ip per poll", "{p:#}");
        assert_eq!(p["vip_on_nic"], *name == l.master, "{p:#}");
    }

    // The backup's state file wrongly says MASTER: keepalived's word wins.
    let state = format!("{}/{}/var/keepalived/state", lab::LAB_ROOT, &l.backup[6..]);
    std::fs::write(&state, "MASTER").expect("write the state file");
    let c = until("the lie seen", Duration::from_secs(10), |c| {
        lab::has_alert(c, "witnesses_disagree")
    });
    assert_eq!(c["verdict"], "healthy", "{c:#}");
    assert_eq!(lab::peer(&c, &l.backup)["vrrp_state"], "BACKUP", "{c:#}");
    std::fs::write(&state, "BACKUP").expect("write the state file");

    // A graceful takeover is seen as on any peer.
    lab::verb(&["stop-keepalived", &l.master]);
    let c = until("the takeover", Duration::from_secs(20), |c| {
        c["master"] == l.backup.as_str() && c["vip_bound_to"] == l.backup.as_str()
    });
    assert_eq!(lab::peer(&c, &l.master)["vrrp_state"], "STOP", "{c:#}");
    assert_eq!(lab::peer(&c, &l.backup)["vip_on_nic"], true, "{c:#}");
}
