//! Benchmark on the real lab (prints figures; asserts only sanity): what
//! one poll of a peer costs three ways, measured in the same run —
//! a fresh `ssh host cmd`, a new command over an existing ControlMaster,
//! and vipdeck's long-lived remote shell — and how long a VRRP transition
//! takes from the state file changing on the node to the line
//! `vipdeck status --watch --json` prints.
//!
//! CI runs its smoke size (fewer polls and transitions, the same
//! assertions); the full benchmark, whose figures docs/performance.md
//! quotes, runs with `VIPDECK_BENCH=full`: `sudo -E bash scripts/bench.sh
//! lab-poll` (release build; or scripts/bench-lab.sh).

use crate::support as lab;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vipdeck::sources::probe::{self, ProbePaths, ProbeWants};
use vipdeck::sources::transport::{Shell, SshTarget, Target};

/// The benchmarks' size: `VIPDECK_BENCH=full` (scripts/bench.sh) runs the
/// full benchmark, whose figures docs/performance.md quotes; unset (or
/// `smoke`, as in CI) each runs its smoke size: the same steps and the same
/// assertions on correctness, fewer rounds, shorter windows, figures
/// labelled as a smoke run's.
pub(crate) fn full_size() -> bool {
    match std::env::var("VIPDECK_BENCH").as_deref() {
        Ok("full") => true,
        Ok("smoke") | Ok("") | Err(_) => false,
        Ok(other) => panic!("VIPDECK_BENCH={other}: `full` or `smoke`"),
    }
}

/// In a smoke run, says so before its figures: `what` it cut.
pub(crate) fn smoke_label(what: &str) {
    if !full_size() {
        println!(
            "SMOKE RUN ({what}): not the benchmark's figures; VIPDECK_BENCH=full \
             (scripts/bench.sh) runs the full benchmark"
        );
    }
}

/// `full` in a full run, `smoke` otherwise.
pub(crate) fn sized<T>(full: T, smoke: T) -> T {
    if full_size() {
        full
    } else {
        smoke
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(name: &str, mut ms: Vec<f64>) -> f64 {
    ms.sort_by(|a, b| a.total_cmp(b));
    let p50 = percentile(&ms, 0.5);
    println!(
        "{name:<44} n={:<3} p50 {:>8.2} ms  p99 {:>8.2} ms  min {:>7.2} ms",
        ms.len(),
        p50,
        percentile(&ms, 0.99),
        ms[0]
    );
    p50
}

fn ssh_base() -> Command {
    let mut c = Command::new("ssh");
    c.args([
        "-F",
        &format!("{}/ssh_config", lab::LAB_ROOT),
        "-o",
        "BatchMode=yes",
    ]);
    c
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs its smoke size as root, CI always"]
fn lab_poll_and_transition_latency() {
    lab::require_root();
    // Polls each way and state-file changes: the full benchmark's, or the
    // smoke run's.
    let (fresh_n, muxed_n, shell_n, changes) = sized((10, 20, 100, 20), (3, 5, 20, 5));
    smoke_label(&format!(
        "{fresh_n} fresh ssh, {muxed_n} ControlMaster and {shell_n}+{shell_n} shell polls, \
         {changes} state-file changes"
    ));
    let l = lab::Lab::up("havip");
    let node = l.backup.clone();
    let paths = ProbePaths::new(
        "/var/keepalived/state",
        "/etc/keepalived/keepalived.conf",
        "eth0",
    );
    let poll = probe::script(&paths, &ProbeWants::default());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!();
    println!(
        "one poll of {node} (the same probe script each way); load average {}:",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    // 1. A fresh ssh per poll: handshake, auth, session, command.
    let mut fresh = Vec::new();
    for _ in 0..fresh_n {
        let t = Instant::now();
        let out = ssh_base().arg(&node).arg(&poll).output().expect("ssh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        fresh.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let fresh_p50 = summary("fresh `ssh host cmd`", fresh);

    // 2. A new session per poll over one ControlMaster connection.
    let ctl = format!("{}/bench-ctl-%C", lab::LAB_ROOT);
    let mut master = ssh_base()
        .args([
            "-o",
            "ControlMaster=yes",
            "-o",
            &format!("ControlPath={ctl}"),
            "-N",
        ])
        .arg(&node)
        .stdin(Stdio::null())
        .spawn()
        .expect("ssh master");
    std::thread::sleep(Duration::from_millis(800));
    let mut muxed = Vec::new();
    for _ in 0..muxed_n {
        let t = Instant::now();
        let out = ssh_base()
            .args([
                "-o",
                "ControlMaster=no",
                "-o",
                &format!("ControlPath={ctl}"),
            ])
            .arg(&node)
            .arg(&poll)
            .output()
            .expect("ssh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        muxed.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let _ = master.kill();
    let _ = master.wait();
    let muxed_p50 = summary("new command over a ControlMaster", muxed);

    // 3. vipdeck's way: one long-lived remote shell fed commands.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (bare_p50, shell_p50) = rt.block_on(async {
        let target = Target::Ssh(SshTarget {
            destination: node.clone(),
            config_file: Some(format!("{}/ssh_config", lab::LAB_ROOT).into()),
            control_dir: std::path::PathBuf::from(format!("{}/ctl", lab::LAB_ROOT)),
            connect_timeout: Duration::from_secs(5),
        });
        let mut sh = Shell::spawn(&target).await.expect("shell");
        sh.run("true", Duration::from_secs(10))
            .await
            .expect("first answer");
        let mut bare = Vec::new();
        for _ in 0..shell_n {
            let t = Instant::now();
            sh.run("true", Duration::from_secs(5))
                .await
                .expect("round trip");
            bare.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let bare = summary("vipdeck: bare round trip on that shell", bare);
        let mut ms = Vec::new();
        for _ in 0..shell_n {
            let t = Instant::now();
            let (out, _) = sh.run(&poll, Duration::from_secs(5)).await.expect("poll");
            assert!(out.contains("@@state"), "{out}");
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        sh.close().await;
        (
            bare,
            summary("vipdeck: long-lived remote shell, full poll", ms),
        )
    });
    println!(
        "(the poll's own cost on the node: {:.1} ms over the bare round trip)",
        shell_p50 - bare_p50
    );
    println!(
        "ratios (p50): fresh ssh / shell = {:.0}x, ControlMaster command / shell = {:.0}x",
        fresh_p50 / shell_p50,
        muxed_p50 / shell_p50
    );
    assert!(
        shell_p50 < muxed_p50,
        "the long-lived shell should beat a new session per poll"
    );

    // 4. State file changes on the node → the `--watch` line.
    let mut watch = lab::vipdeck(&["status", "--watch", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch");
    let out = watch.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let v: serde_json::Value = match serde_json::from_str(&line) {
                Ok(v) => v,
                Err(_) => continue,
            };
            if tx.send((Instant::now(), v)).is_err() {
                return;
            }
        }
    });
    let file_state = |v: &serde_json::Value| {
        v["clusters"][0]["peers"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == node.as_str()))
            .map(|p| p["state_file"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    // Wait for the watch to see the node as BACKUP first.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut shows_backup = false;
    while Instant::now() < deadline {
        if let Ok((_, v)) = rx.recv_timeout(Duration::from_millis(500)) {
            if file_state(&v) == "BACKUP" {
                shows_backup = true;
                break;
            }
        }
    }
    // The notify script's own move: the state word changes on the node, and
    // the watch prints the peer's `state_file` (keepalived's next dump may
    // contradict it; what is measured is how fast the file's witness arrives).
    let mut lat = Vec::new();
    let wait_for = |word: &str, limit: Duration| {
        let t = Instant::now();
        while t.elapsed() < limit {
            if let Ok((at, v)) = rx.recv_timeout(Duration::from_millis(200)) {
                if file_state(&v) == word {
                    return Some(at);
                }
            }
        }
        None
    };
    for i in 0..changes {
        // keepalived's fresh dump (BACKUP) is the state shown between rounds.
        lab::verb(&[
            "exec",
            &node,
            "sh",
            "-c",
            "echo -n BACKUP > /var/keepalived/state",
        ]);
        // The watch prints a line only when something changes: none comes
        // when it shows BACKUP already.
        if i > 0 || !shows_backup {
            wait_for("BACKUP", Duration::from_secs(5));
        }
        std::thread::sleep(Duration::from_millis(300));
        while rx.try_recv().is_ok() {}
        lab::verb(&[
            "exec",
            &node,
            "sh",
            "-c",
            "echo -n FAULT > /var/keepalived/state",
        ]);
        // Count from when the write command returned: entering the
        // namespaces to write is not vipdeck's time.
        let wrote = Instant::now();
        let at = wait_for("FAULT", Duration::from_secs(5))
            .unwrap_or_else(|| panic!("FAULT never shown"));
        lat.push(at.saturating_duration_since(wrote).as_secs_f64() * 1e3);
    }
    lab::verb(&[
        "exec",
        &node,
        "sh",
        "-c",
        "echo -n BACKUP > /var/keepalived/state",
    ]);
    let _ = watch.kill();
    let _ = watch.wait();
    println!();
    smoke_label(&format!("{changes} state-file changes"));
    let p50 = summary("state file change → `status --watch` line", lat.clone());
    lat.sort_by(|a, b| a.total_cmp(b));
    let p99 = percentile(&lat, 0.99);
    println!("transition latency p50 {p50:.0} ms, p99 {p99:.0} ms (target p99 ≤ 300 ms)");
    assert!(p99 < 5000.0);
}
