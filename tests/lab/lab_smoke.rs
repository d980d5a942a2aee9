//! Smoke test of the real-keepalived lab (tests/lab/lab.sh, docs/lab.md):
//! two network-namespace "CVMs" with Debian's keepalived and sshd. It checks
//! what every other lab test builds on: exactly one MASTER as seen over ssh,
//! a takeover after the master's keepalived is killed, and a clean `down`.
//!
//! Needs root: ignored without it (see main.rs), run by scripts/test.sh
//! as root and always in CI.

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::support;
use support::{run as lab, text};

const LAB_ROOT: &str = "/tmp/vdlab";
/// Every test that brings the lab up holds this lock: one lab at a time.
const TEST_LOCK: &str = "/tmp/vdlab-tests.lock";
const VIP: &str = "198.51.100.100";

/// Takes the lab down when the test ends, passed or not.
struct LabGuard;

impl Drop for LabGuard {
    fn drop(&mut self) {
        let out = lab(&["down"]);
        if !out.status.success() {
            eprintln!("lab.sh down failed: {}", text(&out));
        }
    }
}

/// Runs a command on a node over ssh, as vipdeck does (host keys checked).
fn ssh(node: &str, cmd: &str) -> Result<String, String> {
    let out = Command::new("ssh")
        .args(["-F", &format!("{LAB_ROOT}/ssh_config"), node, cmd])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(text(&out))
    }
}

fn state(node: &str) -> String {
    ssh(node, "cat /var/keepalived/state").unwrap_or_else(|e| panic!("ssh {node}: {e}"))
}

fn vip_on_nic(node: &str) -> bool {
    ssh(node, "ip -o -4 addr show dev eth0")
        .unwrap_or_else(|e| panic!("ssh {node}: {e}"))
        .contains(&format!("inet {VIP}/"))
}

fn netns_left() -> String {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("vdlab-"))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn lab_elects_one_master_and_fails_over_after_a_crash() {
    support::require_root();
    let lock = File::create(TEST_LOCK).expect("create the lab test lock");
    lock.lock().expect("lock the lab test lock");

    let _guard = LabGuard;
    let up = lab(&["up", "--mode", "eni"]);
    assert!(up.status.success(), "lab.sh up failed: {}", text(&up));

    // Each node answers over ssh with its own hostname and its own state file.
    let nodes = ["vdlab-a", "vdlab-b"];
    for n in nodes {
        let host = ssh(n, "hostname").unwrap_or_else(|e| panic!("ssh {n}: {e}"));
        assert_eq!(host.trim(), n, "ssh {n} reached another node");
    }
    let states: Vec<String> = nodes.iter().map(|n| state(n)).collect();
    let masters: Vec<&str> = nodes
        .iter()
        .zip(&states)
        .filter(|(_, s)| s.as_str() == "MASTER")
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(
        masters.len(),
        1,
        "want one MASTER, state files say {states:?}"
    );
    let master = masters[0];
    let backup = nodes
        .iter()
        .copied()
        .find(|n| *n != master)
        .unwrap_or(master);
    assert_eq!(state(backup), "BACKUP", "the other node is not BACKUP");
    assert!(vip_on_nic(master), "VIP not on {master}'s NIC");
    assert!(!vip_on_nic(backup), "VIP also on {backup}'s NIC");

    // Crash the master's keepalived: the backup must take over within 5 s.
    let kill = lab(&["kill-keepalived", master]);
    assert!(kill.status.success(), "kill-keepalived: {}", text(&kill));
    let t0 = Instant::now();
    let mut seen = String::new();
    while t0.elapsed() < Duration::from_secs(5) {
        seen = state(backup);
        if seen == "MASTER" {
            break;
        }
        sleep(Duration::from_millis(100));
    }
    let took = t0.elapsed();
    assert_eq!(seen, "MASTER", "{backup} not MASTER 5 s after the crash");
    println!("takeover by {backup} seen over ssh after {took:?}");
    assert!(vip_on_nic(backup), "VIP not on the new master's NIC");

    // The seed notify script logged the transition on the new master.
    let log = ssh(backup, "cat /var/log/keepalived.log").unwrap_or_else(|e| panic!("{e}"));
    let last = log.lines().last().unwrap_or_default();
    assert!(
        last.ends_with("]  notify_master") && last.starts_with("[20"),
        "last notify line on {backup}: {last:?}"
    );

    // `down` removes the namespaces, the bridge and the lab root.
    let down = lab(&["down"]);
    assert!(down.status.success(), "lab.sh down: {}", text(&down));
    assert_eq!(netns_left(), "", "network namespaces left after down");
    let links = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip link");
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains("vdlab-"),
        "links left after down"
    );
    assert!(!Path::new(LAB_ROOT).exists(), "{LAB_ROOT} left after down");
}
