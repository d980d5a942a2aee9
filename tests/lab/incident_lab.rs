//! `vipdeck incident` after real takeovers on the lab: the Markdown record
//! holds the transitions, the cloud rebinding and the log lines around them
//! in true order, with the measured durations; in ENI mode after a vipdeck
//! failover it also holds the operator's action from the audit trail.
//!
//! Needs root: ignored without it (see main.rs), run by scripts/test.sh as
//! root and always in CI. Holds /tmp/vdlab-tests.lock (through
//! failover_lab's `Lab`) and always takes the lab down.

use std::os::unix::fs::PermissionsExt;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::failover_lab::{
    binding, cluster_state, failover, master, other, state, vipdeck_cmd, wait_healthy_on, Lab,
};
use crate::support::{text, verb};

/// Waits until `node` is MASTER and the emulator binds the VIP to it.
fn wait_master_and_bound(node: &str, within: Duration) {
    let t0 = Instant::now();
    while !(state(node) == "MASTER" && binding() == node) {
        assert!(
            t0.elapsed() < within,
            "{node} not MASTER and bound within {within:?}: {}",
            cluster_state()
        );
        sleep(Duration::from_millis(200));
    }
}

/// Runs `vipdeck incident` into a file and returns the Markdown.
fn incident(lab: &Lab) -> String {
    let file = lab.data.path().join("incident.md");
    let out = vipdeck_cmd(
        lab,
        &["incident", "--cluster", "lab", "--since", "10m", "-o"],
        None,
    )
    .arg(&file)
    .output()
    .expect("runs vipdeck incident");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mode = std::fs::metadata(&file)
        .expect("the record")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the record is private");
    let md = std::fs::read_to_string(&file).expect("reads the record");
    println!("{md}");
    md
}

/// The section of `md` under `heading` (up to the next heading of any level).
fn section<'a>(md: &'a str, heading: &str) -> &'a str {
    let start = md
        .find(heading)
        .unwrap_or_else(|| panic!("no `{heading}` in:\n{md}"));
    let body = &md[start + heading.len()..];
    let end = body.find("\n#").unwrap_or(body.len());
    &body[..end]
}

/// Row positions in the timeline table of the rows containing each of `whats`.
fn timeline_rows(md: &str, whats: &[&str]) -> Vec<usize> {
    let timeline = section(md, "## Timeline");
    let rows: Vec<&str> = timeline.lines().filter(|l| l.starts_with("| ")).collect();
    whats
        .iter()
        .map(|w| {
            rows.iter()
                .position(|r| r.contains(w))
                .unwrap_or_else(|| panic!("no `{w}` in the timeline:\n{timeline}"))
        })
        .collect()
}

/// Every `HH:MM:SS` at the start of the lines of each log block, in order.
fn assert_blocks_in_time_order(md: &str) {
    let mut blocks = 0;
    let mut inside = false;
    let mut last = String::new();
    for l in md.lines() {
        if l.starts_with("```") {
            inside = !inside && l.ends_with("text");
            last.clear();
            blocks += inside as usize;
            continue;
        }
        if inside {
            let t = l.get(..8).unwrap_or("").to_string();
            assert!(t >= last, "log lines out of order at `{l}`:\n{md}");
            last = t;
        }
    }
    assert!(blocks > 0, "no log blocks:\n{md}");
}

/// The takeover row: durations measured, not dashes.
fn assert_takeover_measured(md: &str, from: &str, to: &str) {
    let table = section(md, "## Takeovers");
    let row = table
        .lines()
        .find(|l| l.starts_with(&format!("| {from} ")) && l.contains(&format!("| {to} |")))
        .unwrap_or_else(|| panic!("no takeover {from} → {to}:\n{table}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // | left | new | MASTER at | bound | takeover | rebinding | interruption |
    for (i, what) in [(5, "takeover"), (6, "rebinding"), (7, "interruption")] {
        assert!(
            cells[i].ends_with(" s"),
            "{what} not measured in `{row}`:\n{md}"
        );
    }
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn incident_record_after_an_havip_takeover() {
    crate::support::require_root();
    let lab = Lab::up("havip");
    let m = master();
    let b = other(&m).to_string();
    wait_healthy_on(&m, Duration::from_secs(30));
    // The master's keepalived stops (maintenance gone wrong): the backup
    // takes over and its GARP moves the HAVIP.
    verb(&["stop-keepalived", m.trim_start_matches("vdlab-")]);
    wait_master_and_bound(&b, Duration::from_secs(30));
    // The daemon and script logs reach the files.
    sleep(Duration::from_secs(2));

    let md = incident(&lab);
    let rows = timeline_rows(
        &md,
        &[
            &format!("{m} MASTER → STOP"),
            &format!("{b} BACKUP → MASTER"),
            "FlushedTime",
        ],
    );
    // The old master's stop is seen by its host's poll (each second, later
    // on a loaded machine), the new master's state file at once: within one
    // second the two may come in either order, never further apart.
    let timeline = section(&md, "## Timeline");
    let time_of = |row: usize| {
        timeline
            .lines()
            .filter(|l| l.starts_with("| "))
            .nth(row)
            .and_then(|l| l.split('|').nth(1))
            .map(|t| t.trim().to_string())
            .unwrap_or_default()
    };
    assert!(
        (rows[0] < rows[1] || time_of(rows[0]) == time_of(rows[1]))
            && rows[1].max(rows[0]) < rows[2],
        "order {rows:?}:\n{md}"
    );
    assert_takeover_measured(&md, &m, &b);
    // Around the takeover: both peers' lines in one block, the new
    // master's takeover and the old master's stop each in its own order.
    let around = section(&md, &format!("{b} BACKUP → MASTER\n"));
    let pos = |what: &str| {
        around
            .find(what)
            .unwrap_or_else(|| panic!("no `{what}` around the takeover:\n{around}"))
    };
    assert!(
        pos(&format!("{m} daemon Stopping")) < pos(&format!("{m} daemon (VI_1) sent 0 priority"))
    );
    assert!(
        pos(&format!("{m} daemon (VI_1) sent 0 priority"))
            < pos(&format!("{m} daemon Stopped Keepalived"))
    );
    assert!(
        pos(&format!("{b} daemon (VI_1) Entering MASTER STATE"))
            < pos(&format!("{b} script notify_master"))
    );
    assert_blocks_in_time_order(&md);
    assert!(md.contains("Now: **degraded**"), "{m} is stopped:\n{md}");
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn incident_record_after_an_eni_failover() {
    crate::support::require_root();
    let lab = Lab::up("eni");
    let m = master();
    let t = other(&m).to_string();
    wait_healthy_on(&m, Duration::from_secs(30));
    let out = failover(&lab, &t, &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    wait_healthy_on(&t, Duration::from_secs(30));
    sleep(Duration::from_secs(2));

    let md = incident(&lab);
    let rows = timeline_rows(
        &md,
        &[
            "started a graceful failover",
            &format!("{t} BACKUP → MASTER"),
            "set done",
            "ended: moved and verified",
        ],
    );
    assert!(
        rows[0] < rows[1] && rows[1] < rows[2] && rows[2] < rows[3],
        "order {rows:?}:\n{md}"
    );
    assert_takeover_measured(&md, &m, &t);
    assert_blocks_in_time_order(&md);
    assert!(md.contains("Now: **healthy**"), "{md}");
}
