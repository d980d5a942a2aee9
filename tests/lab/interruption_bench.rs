//! The client-visible interruption of a switchover (#27), on the lab VPC
//! (docs/lab.md), in both modes: keepalived alone (the master's keepalived
//! stopped by hand) against `vipdeck failover --cluster lab --to OTHER
//! --yes`. Measured twice, independently:
//!
//! - the client loop in the client namespace (a request every 100 ms): the
//!   longest run of failed requests, first failure to first answer, by
//!   send time;
//! - vipdeck's own probe (`status --watch --json` with the probe config,
//!   every 500 ms): `dataplane.since` of the line where the VIP stopped
//!   answering to that of the line where it answered again.
//!
//! Prints every round, then per mode and method the median and max of
//! both, and how many rounds agree within one probe interval (plus the
//! client's period). CI runs the smoke size (one round each); the full
//! benchmark, three rounds each, whose figures docs/performance.md
//! quotes, runs with `sudo -E bash scripts/bench.sh interruption`.

use std::time::Duration;

use serde_json::Value;

use crate::lab_bench::{sized, smoke_label};
use crate::support as lab;

#[derive(Clone, Copy, PartialEq)]
enum Method {
    KeepalivedAlone,
    VipdeckFailover,
}

impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::KeepalivedAlone => "keepalived alone (master stopped)",
            Method::VipdeckFailover => "vipdeck failover --yes",
        }
    }
}

struct Round {
    mode: &'static str,
    method: Method,
    client_ms: i64,
    probe_ms: i64,
    /// What `vipdeck failover` itself said (its `clients:` line): only
    /// for its rounds.
    failover_ms: Option<i64>,
}

fn answered_by(c: &Value, node: &str) -> bool {
    c["dataplane"]["reachable"] == true && c["dataplane"]["node"] == node
}

fn settled_on(c: &Value, node: &str) -> bool {
    c["verdict"] == "healthy"
        && c["master"] == node
        && c["vip_bound_to"] == node
        && answered_by(c, node)
}

/// The VIP's outage as the probe's `--watch` lines show it: the first
/// line where it does not answer, to the next where it does (0 when the
/// probe never saw it fail).
fn probe_outage_ms(lines: &[(std::time::Instant, Value)]) -> i64 {
    let mut down: Option<i64> = None;
    for (_, c) in lines {
        let dp = &c["dataplane"];
        match (down, dp["reachable"].as_bool()) {
            (None, Some(false)) => down = lab::epoch_ms(&dp["since"]),
            (Some(d), Some(true)) => {
                return lab::epoch_ms(&dp["since"]).map_or(0, |up| up - d);
            }
            _ => {}
        }
    }
    0
}

/// One switchover from `from` to `to`, measured; leaves the cluster
/// healthy on `to` with `from` its BACKUP.
fn switch(
    w: &mut lab::Watch,
    client: &lab::ClientLoop,
    mode: &'static str,
    method: Method,
    from: &str,
    to: &str,
) -> Round {
    let start = lab::last_sent_ms(&client.wait_answers(3, Duration::from_secs(15)));
    w.drain();
    let seen_before = w.seen.len();
    let failover_ms = match method {
        Method::KeepalivedAlone => {
            lab::verb(&["stop-keepalived", from]);
            None
        }
        Method::VipdeckFailover => {
            // Rounds follow each other within the anti-flap window.
            let out = lab::vipdeck_probe(&[
                "failover",
                "--cluster",
                "lab",
                "--to",
                to,
                "--yes",
                "--override",
                "anti_flap",
            ])
            .output()
            .expect("failover runs");
            let stdout = lab::text(&out);
            assert!(out.status.success(), "{stdout}\n{}", lab::diagnostics());
            Some(said_ms(&stdout).unwrap_or_else(|| panic!("no clients line:\n{stdout}")))
        }
    };
    w.until(
        "the VIP bound to and answered by the new master",
        Duration::from_secs(60),
        |c| c["vip_bound_to"] == to && answered_by(c, to),
    );
    let samples = client.wait_answers(3, Duration::from_secs(15));
    let after = lab::sent_after(&samples, start);
    let client_ms = lab::longest_failure_run(after).map_or(0, |r| r.duration_ms(after));
    if std::env::var_os("VIPDECK_BENCH_TRACE").is_some() {
        for r in lab::failure_runs(after) {
            println!(
                "  client run from {} ({} failures) to {:?}",
                r.first_fail_ms, r.failures, r.recovered_ms
            );
        }
        for (_, c) in &w.seen[seen_before..] {
            let dp = &c["dataplane"];
            println!(
                "  probe {} reachable {} since {}",
                c["at"], dp["reachable"], dp["since"]
            );
        }
    }
    let probe_ms = probe_outage_ms(&w.seen[seen_before..]);
    // Back to a healthy pair: the old master as BACKUP.
    if !keepalived_running(from) {
        lab::verb(&["start-keepalived", from]);
    }
    w.until("healthy on the new master", Duration::from_secs(40), |c| {
        settled_on(c, to)
    });
    let said = failover_ms.map_or(String::new(), |f| format!(", failover said {f} ms"));
    println!(
        "{mode:5} {:35} {from} → {to}: client {client_ms:6} ms, probe {probe_ms:6} ms ({:+} ms){said}",
        method.label(),
        probe_ms - client_ms
    );
    Round {
        mode,
        method,
        client_ms,
        probe_ms,
        failover_ms,
    }
}

/// The failover's summary line, `clients: interrupted 3.2 s (…)`, in ms.
fn said_ms(stdout: &str) -> Option<i64> {
    let re = regex::Regex::new(r"clients: interrupted (\d+\.\d) s").expect("regex");
    let secs: f64 = re.captures(stdout)?[1].parse().ok()?;
    Some((secs * 1000.0).round() as i64)
}

/// Whether `lab.sh status` shows keepalived running on `node`.
fn keepalived_running(node: &str) -> bool {
    lab::verb(&["status"])
        .lines()
        .find(|l| l.starts_with(&format!("{node} ")))
        .is_some_and(|l| !l.contains("keepalived=- "))
}

fn median(mut v: Vec<i64>) -> i64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn client_visible_interruption_keepalived_alone_and_vipdeck_failover() {
    lab::require_root();
    smoke_label("interruption");
    let rounds_each = sized(3, 1);
    let mut rounds = Vec::new();
    for mode in ["havip", "eni"] {
        let l = lab::Lab::up(mode);
        let mut w = lab::Watch::spawn(lab::vipdeck_probe(&["status", "--watch", "--json"]));
        let (mut m, mut t) = (l.master.clone(), l.backup.clone());
        w.until("healthy on the master", Duration::from_secs(45), |c| {
            settled_on(c, &m)
        });
        let client = lab::ClientLoop::start();
        for _ in 0..rounds_each {
            for method in [Method::KeepalivedAlone, Method::VipdeckFailover] {
                rounds.push(switch(&mut w, &client, mode, method, &m, &t));
                std::mem::swap(&mut m, &mut t);
            }
        }
        drop(client);
        drop(w);
        drop(l);
    }

    let tolerance = lab::PROBE_INTERVAL_MS + lab::CLIENT_PERIOD_MS;
    println!(
        "\n| mode | switchover | rounds | client median | client max | probe median | probe max | probe agrees within {tolerance} ms | failover said (median) | failover agrees |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for mode in ["havip", "eni"] {
        for method in [Method::KeepalivedAlone, Method::VipdeckFailover] {
            let these: Vec<&Round> = rounds
                .iter()
                .filter(|r| r.mode == mode && r.method == method)
                .collect();
            let client: Vec<i64> = these.iter().map(|r| r.client_ms).collect();
            let probe: Vec<i64> = these.iter().map(|r| r.probe_ms).collect();
            let agree = these
                .iter()
                .filter(|r| (r.probe_ms - r.client_ms).abs() <= tolerance)
                .count();
            let said: Vec<i64> = these.iter().filter_map(|r| r.failover_ms).collect();
            let (said_median, said_agree) = if said.is_empty() {
                ("—".to_string(), "—".to_string())
            } else {
                let agree = these
                    .iter()
                    .filter(|r| {
                        r.failover_ms
                            .is_some_and(|f| (f - r.client_ms).abs() <= tolerance)
                    })
                    .count();
                (
                    format!("{} ms", median(said.clone())),
                    format!("{agree}/{}", said.len()),
                )
            };
            println!(
                "| {mode} | {} | {} | {} ms | {} ms | {} ms | {} ms | {agree}/{} | {said_median} | {said_agree} |",
                method.label(),
                these.len(),
                median(client.clone()),
                client.iter().max().unwrap_or(&0),
                median(probe.clone()),
                probe.iter().max().unwrap_or(&0),
                these.len()
            );
        }
    }
    // Every switchover cost the client something it could measure (the
    // old master lets go of the VIP before the binding moves).
    assert!(
        rounds.iter().all(|r| r.client_ms > 0),
        "a switchover the client did not notice: the loop is not measuring"
    );
}
