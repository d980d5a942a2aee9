//! The interruption a vipdeck failover measures (#27 item 3) against the
//! lab VPC's independent client loop: a client namespace asking the VIP
//! every 100 ms through the router that follows the emulated cloud's
//! binding. They must agree within one probe interval (plus the loop's
//! own 100 ms resolution).

use crate::support as lab;

use std::time::Duration;

use serde_json::Value;

/// The newest record in the lab's audit trail.
fn last_audit_record() -> Value {
    let trail = format!("{}/vipdeck-data/audit.jsonl", lab::LAB_ROOT);
    let text = std::fs::read_to_string(&trail).unwrap_or_else(|e| panic!("{trail}: {e}"));
    let line = text
        .lines()
        .last()
        .unwrap_or_else(|| panic!("{trail} is empty"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// The failover's summary line, `clients: interrupted 3.2 s (…)`, in ms.
fn said_ms(stdout: &str) -> Option<i64> {
    let re = regex::Regex::new(r"clients: interrupted (\d+\.\d) s").expect("regex");
    let secs: f64 = re.captures(stdout)?[1].parse().ok()?;
    Some((secs * 1000.0).round() as i64)
}

fn a_failover_measures_what_the_client_saw(mode: &str) {
    lab::require_root();
    let l = lab::Lab::up(mode);
    let client = lab::ClientLoop::start();
    let start = lab::last_sent_ms(&client.wait_answers(5, Duration::from_secs(30)));
    let out = lab::vipdeck_probe(&["failover", "--cluster", "lab", "--to", &l.backup, "--yes"])
        .output()
        .expect("failover runs");
    let stdout = lab::text(&out);
    assert!(out.status.success(), "{stdout}\n{}", lab::diagnostics());
    // The client is answered by the new master again before it is read.
    let samples = client.wait_answers(5, Duration::from_secs(30));
    drop(client);
    let after = lab::sent_after(&samples, start);
    let run = lab::longest_failure_run(after)
        .unwrap_or_else(|| panic!("the client saw no interruption: {after:?}\n{stdout}"));
    let client_ms = run.duration_ms(after);
    assert!(
        after.last().is_some_and(|s| s.ok && s.what == l.backup),
        "the client ends answered by {}: {:?}",
        l.backup,
        after.last()
    );

    let record = last_audit_record();
    assert_eq!(record["outcome"], "moved_verified", "{record:#}");
    let clients = &record["clients"];
    assert_eq!(clients["seen"], "interrupted", "{record:#}\n{stdout}");
    let recorded_ms = clients["duration_ms"]
        .as_i64()
        .unwrap_or_else(|| panic!("no duration_ms: {clients:#}"));
    assert_eq!(clients["node_after"], l.backup.as_str(), "{clients:#}");
    let shown_ms = said_ms(&stdout).unwrap_or_else(|| panic!("no clients line:\n{stdout}"));
    // The summary shows the recorded figure, to a tenth of a second.
    assert!(
        (shown_ms - recorded_ms).abs() <= 50,
        "{shown_ms} vs {recorded_ms}"
    );

    let tolerance = lab::PROBE_INTERVAL_MS + lab::CLIENT_PERIOD_MS;
    println!(
        "{mode}: vipdeck failover measured {recorded_ms} ms, the client loop {client_ms} ms \
         ({:+} ms; tolerance {tolerance} ms)",
        recorded_ms - client_ms
    );
    assert!(
        (recorded_ms - client_ms).abs() <= tolerance,
        "vipdeck measured {recorded_ms} ms, the client {client_ms} ms (tolerance {tolerance} ms)\n{stdout}"
    );
    drop(l);
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn a_vipdeck_failover_measures_the_interruption_the_client_saw_eni() {
    a_failover_measures_what_the_client_saw("eni");
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn a_vipdeck_failover_measures_the_interruption_the_client_saw_havip() {
    a_failover_measures_what_the_client_saw("havip");
}
