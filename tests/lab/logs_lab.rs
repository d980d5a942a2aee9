//! `vipdeck logs` against the real-keepalived lab (tests/lab/lab.sh,
//! docs/lab.md): after the master's keepalived crashes, the merged view
//! read over ssh from both nodes tells the story in order — the old
//! master's lines, then the new master's takeover — with the transitions
//! marked; and `--follow` shows the old master coming back as BACKUP live.
//!
//! Needs root: ignored without it (see main.rs), run by scripts/test.sh
//! as root and always in CI. Holds
//! /tmp/vdlab-tests.lock like every lab test, and always takes the lab down.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::support;
use support::{run as lab, text};

const LAB_ROOT: &str = "/tmp/vdlab";
const TEST_LOCK: &str = "/tmp/vdlab-tests.lock";

struct LabGuard;

impl Drop for LabGuard {
    fn drop(&mut self) {
        let out = lab(&["down"]);
        if !out.status.success() {
            eprintln!("lab.sh down failed: {}", text(&out));
        }
    }
}

/// Kills a `vipdeck logs --follow` this test started, if it is still running.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn state(node: &str) -> String {
    let out = Command::new("ssh")
        .args([
            "-F",
            &format!("{LAB_ROOT}/ssh_config"),
            node,
            "cat /var/keepalived/state",
        ])
        .output()
        .expect("ssh");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn vipdeck(config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.arg("--config")
        .arg(config)
        .env(
            "TENCENTCLOUD_CREDENTIALS_FILE",
            format!("{LAB_ROOT}/credentials"),
        )
        .env_remove("VIPDECK_CONFIG");
    c
}

/// Index of the first line after `from` that contains all of `words`.
fn find(lines: &[&str], from: usize, words: &[&str]) -> Option<usize> {
    lines
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, l)| words.iter().all(|w| l.contains(w)))
        .map(|(i, _)| i)
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn a_failover_reads_in_order_in_the_merged_logs() {
    support::require_root();
    let lock = File::create(TEST_LOCK).expect("create the lab test lock");
    lock.lock().expect("lock the lab test lock");
    let _guard = LabGuard;
    let up = lab(&["up", "--mode", "eni"]);
    assert!(up.status.success(), "lab.sh up failed: {}", text(&up));
    // The lab's own config names each node's daemon log file.
    let cfg = PathBuf::from(format!("{LAB_ROOT}/vipdeck.toml"));

    let nodes = ["vdlab-a", "vdlab-b"];
    let master = *nodes
        .iter()
        .find(|n| state(n) == "MASTER")
        .expect("a MASTER after up");
    let backup = *nodes.iter().find(|n| **n != master).expect("two nodes");

    let kill = lab(&["kill-keepalived", master]);
    assert!(kill.status.success(), "kill-keepalived: {}", text(&kill));
    let t0 = Instant::now();
    while state(backup) != "MASTER" {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{backup} did not take over"
        );
        sleep(Duration::from_millis(100));
    }
    // Let the new master's notify script and GARPs reach the logs.
    sleep(Duration::from_secs(2));

    let out = vipdeck(&cfg).arg("logs").output().expect("vipdeck logs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "vipdeck logs: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    let peer = |n: &str| format!(" {n} ");
    for n in nodes {
        assert!(
            lines.iter().any(|l| l.contains(&peer(n))),
            "{n}'s lines: {stdout}"
        );
    }
    // The time column never goes back.
    assert!(
        lines.windows(2).all(|w| w[0][..19] <= w[1][..19]),
        "{stdout}"
    );
    // Every transition is marked.
    for l in lines.iter().filter(|l| l.contains("Entering ")) {
        assert!(l.contains(" * "), "unmarked transition: {l}");
    }
    // The story: the old master became MASTER (its daemon and its notify
    // script say so), then the backup stopped hearing it and took over.
    let old_master = find(
        &lines,
        0,
        &[&peer(master), "daemon *", "Entering MASTER STATE"],
    )
    .unwrap_or_else(|| panic!("{master} entering MASTER: {stdout}"));
    let old_notify = find(&lines, 0, &[&peer(master), "script *", "notify_master"])
        .unwrap_or_else(|| panic!("{master}'s notify_master: {stdout}"));
    let timeout = find(
        &lines,
        old_master,
        &[&peer(backup), "Receive advertisement timeout"],
    )
    .unwrap_or_else(|| panic!("{backup}'s advert timeout after {master}'s MASTER: {stdout}"));
    let new_master = find(
        &lines,
        timeout,
        &[&peer(backup), "daemon *", "Entering MASTER STATE"],
    )
    .unwrap_or_else(|| panic!("{backup} entering MASTER after the timeout: {stdout}"));
    let new_notify = find(
        &lines,
        old_notify + 1,
        &[&peer(backup), "script *", "notify_master"],
    )
    .unwrap_or_else(|| panic!("{backup}'s notify_master: {stdout}"));
    assert!(old_master < timeout && timeout < new_master, "{stdout}");
    assert!(old_notify < new_notify, "{stdout}");
    // Nothing from the dead old master claims MASTER after the takeover.
    assert!(
        find(&lines, new_master, &[&peer(master), "Entering MASTER"]).is_none(),
        "{stdout}"
    );

    // Live: the old master comes back and becomes BACKUP while we follow.
    let child = vipdeck(&cfg)
        .args(["logs", "--follow", "--grep", "entering|notify_"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("vipdeck logs --follow");
    let mut child = ChildGuard(child);
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // Wait for the backlog, then restart keepalived on the old master.
    let mut seen = Vec::new();
    let backlog_deadline = Instant::now() + Duration::from_secs(15);
    while let Ok(l) = rx.recv_timeout(backlog_deadline.saturating_duration_since(Instant::now())) {
        let done = l.contains(&peer(backup)) && l.contains("notify_master");
        seen.push(l);
        if done {
            break;
        }
    }
    let backlog_len = seen.len();
    assert!(backlog_len > 0, "no backlog from --follow");
    let start = lab(&["start-keepalived", master]);
    assert!(start.status.success(), "start-keepalived: {}", text(&start));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut back = None;
    while let Ok(l) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let hit = l.contains(&peer(master)) && l.contains("* ") && l.contains("Entering BACKUP");
        seen.push(l.clone());
        if hit {
            back = Some(l);
            break;
        }
    }
    let back = back.unwrap_or_else(|| {
        panic!(
            "{master} entering BACKUP not followed live: {}",
            seen.join("\n")
        )
    });
    println!("followed live: {back}");
}
