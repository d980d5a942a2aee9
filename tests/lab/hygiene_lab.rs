//! When vipdeck ends — a signal to `status --watch`, to `logs --follow` —
//! nothing it started on the peers goes on: no state-file loop, no `tail`,
//! no shell of ours is left in either node (checked with the node's own
//! process list, `ip netns pids`).

use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::support::{self as lab, Lab};

/// Processes in a node's network namespace that vipdeck would have
/// started there: shells running our follow loops, `tail`, `journalctl`,
/// the state loop's `sleep`. keepalived, sshd's listener and keepalived's
/// own short-lived scripts are the node's.
fn ours_on(node: &str) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", node])
        .output()
        .expect("ip netns pids");
    let mut found = Vec::new();
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let ours = cmd.contains("while :; do cur=")
            || cmd.contains("tail -n")
            || cmd.contains("journalctl -u keepalived")
            || cmd.contains("exec sh");
        if ours {
            found.push(format!("{pid}: {}", cmd.trim()));
        }
    }
    found
}

fn ours_on_both() -> Vec<String> {
    ["vdlab-a", "vdlab-b"]
        .iter()
        .flat_map(|n| ours_on(n))
        .collect()
}

/// Waits (bounded) until `pred` holds; returns whether it did.
fn within(limit: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if pred() {
            return true;
        }
        sleep(Duration::from_millis(200));
    }
    pred()
}

fn signal(child: &Child, sig: &str) {
    let st = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success(), "kill {sig}");
}

fn start(args: &[&str]) -> Child {
    lab::vipdeck(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("vipdeck")
}

fn ends_leaving_nothing(args: &[&str], sig: &str) {
    let mut child = start(args);
    assert!(
        within(Duration::from_secs(30), || ours_on_both().len() >= 4),
        "{args:?}: the followers started on the peers: {:#?}",
        ours_on_both()
    );
    let running = ours_on_both().len();
    signal(&child, sig);
    let status = child.wait().expect("wait");
    println!("{args:?}: {running} processes on the peers; {sig} → exit {status}");
    assert!(
        within(Duration::from_secs(15), || ours_on_both().is_empty()),
        "{args:?} after {sig}: left on the peers:\n{}",
        ours_on_both().join("\n")
    );
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn nothing_of_vipdeck_is_left_on_the_peers_after_it_ends() {
    lab::require_root();
    let _lab = Lab::up("havip");
    ends_leaving_nothing(&["status", "--watch", "--json"], "-TERM");
    ends_leaving_nothing(&["logs", "--follow"], "-HUP");
}
