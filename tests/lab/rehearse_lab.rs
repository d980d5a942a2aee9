//! `vipdeck rehearse` against the lab: the failover it predicts on a
//! simulated twin of the live cluster takes within 25% of the real
//! failover that follows. The twin is timed from the lab itself (its
//! keepalived.conf and the audit trail of a first, real failover), never
//! from figures written here.
//!
//! Needs root: ignored without it (see main.rs). One lab at a time.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{self, text, Lab};

fn vipdeck(args: &[&str]) -> Output {
    support::vipdeck(args)
        .env("VIPDECK_FAILOVER_FLAP_WINDOW_S", "0")
        .stdin(Stdio::null())
        .output()
        .expect("vipdeck runs")
}

/// Waits until `vipdeck status` says the lab is healthy with `master`.
fn wait_healthy(master: &str, within: Duration) {
    let until = Instant::now() + within;
    loop {
        let out = vipdeck(&["status", "--json", "--cluster", "lab"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let c = &v["clusters"][0];
        if c["verdict"] == "healthy" && c["master"] == master {
            return;
        }
        assert!(
            Instant::now() < until,
            "not healthy on {master}: {}\n{}",
            text(&out),
            support::diagnostics()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The seconds after `label` in `out` ("label 3.21s").
fn seconds(out: &str, label: &str) -> f64 {
    let at = out
        .find(label)
        .unwrap_or_else(|| panic!("no `{label}` in:\n{out}"));
    out[at + label.len()..]
        .trim_start()
        .split('s')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no seconds after `{label}` in:\n{out}"))
}

fn rehearse_then_fail_over(mode: &str, forced: bool) {
    support::require_root();
    let lab = Lab::up(mode);
    let (a, b) = (lab.master.clone(), lab.backup.clone());
    wait_healthy(&a, Duration::from_secs(30));
    let extra: &[&str] = if forced { &["--force"] } else { &[] };

    // Real failovers there and back: the audit trail then holds how long
    // this cluster's steps take.
    for to in [&b, &a, &b] {
        let mut args = vec!["failover", "--cluster", "lab", "--to", to.as_str(), "--yes"];
        args.extend(extra);
        let first = vipdeck(&args);
        assert_eq!(first.status.code(), Some(0), "{}", text(&first));
        wait_healthy(to, Duration::from_secs(30));
    }

    // The rehearsal of the way back, on the twin.
    let mut args = vec!["rehearse", "--cluster", "lab", "--to", &a];
    args.extend(extra);
    let reh = vipdeck(&args);
    let reh_out = text(&reh);
    println!("--- vipdeck rehearse\n{reh_out}");
    assert_eq!(reh.status.code(), Some(0), "{reh_out}");
    assert!(
        reh_out.contains("Predicted outcome: moved and verified"),
        "{reh_out}"
    );
    assert!(
        reh_out.contains("in the audit trail"),
        "calibrated from it: {reh_out}"
    );
    let predicted = seconds(&reh_out, "Predicted switchover (confirm → verified):");
    // The rehearsal changed nothing: b is still the master.
    wait_healthy(&b, Duration::from_secs(5));

    // The real way back.
    let mut args = vec!["failover", "--cluster", "lab", "--to", &a, "--yes"];
    args.extend(extra);
    let real = vipdeck(&args);
    let real_out = text(&real);
    println!("--- vipdeck failover\n{real_out}");
    assert_eq!(real.status.code(), Some(0), "{real_out}");
    let measured = seconds(&real_out, "Switchover time (confirm → verified):");
    let off = (predicted - measured).abs() / measured;
    println!(
        "{mode}{}: predicted {predicted:.2}s, real {measured:.2}s ({:.0}% off)",
        if forced { " forced" } else { "" },
        off * 100.0
    );
    assert!(
        off <= 0.25,
        "the prediction {predicted:.2}s is more than 25% off the real {measured:.2}s"
    );
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn rehearse_predicts_the_eni_failover_within_a_quarter() {
    rehearse_then_fail_over("eni", false);
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn rehearse_predicts_the_havip_failover_within_a_quarter() {
    rehearse_then_fail_over("havip", false);
}
