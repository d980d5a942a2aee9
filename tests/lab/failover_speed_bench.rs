//! How fast `vipdeck failover --yes` is against the same switchover
//! scripted by hand, on the real-keepalived lab, in both modes (HAVIP and
//! ENI), alternating in one run so both see the same machine:
//!
//! - by hand: stop keepalived on the master; wait until the target is
//!   MASTER with the VIP on its NIC and the emulator binds it; start
//!   keepalived on the old master; wait until it is BACKUP without the VIP —
//!   timed end to end, polling every 20 ms;
//! - vipdeck: `vipdeck failover --cluster lab --to <backup> --yes`, from
//!   the command's start to its exit.
//!
//! Prints each round, the medians, the ratio and where vipdeck's time goes
//! (`VIPDECK_TIMING=1`: start → the executor's own first probes, lock
//! reads and cloud read, the facts the plan needs, the plan, each step, the
//! outcome, the exit). The figures are in
//! docs/performance.md ("Failover speed").
//!
//! CI runs the smoke size: one round per mode, every failover still
//! moved and verified (and, for the wizard, no ssh connection of its own).
//! The full benchmark, four rounds per mode, whose figures
//! docs/performance.md quotes, runs with `VIPDECK_BENCH=full` (the debug
//! build the tests use): `sudo -E bash scripts/bench.sh failover-speed`
//! (and `wizard-speed`).

use std::collections::BTreeMap;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::failover_lab::{
    binding, cluster_state, master, other, short, state, vip_on_nic, vipdeck_cmd, wait_healthy_on,
    Dashboard, Lab, LAB_ROOT,
};
use crate::lab_bench::{sized, smoke_label};
use crate::support::{self, text, verb as lab_ok};

/// Rounds per mode: the full benchmark's, or the smoke run's.
fn rounds_per_mode() -> usize {
    sized(4, 1)
}
/// The goal: the whole command within this of the scripted steps.
const TARGET_RATIO: f64 = 1.15;

/// Polls `ok` every 20 ms until it holds (at most `within`).
fn until(what: &str, within: Duration, ok: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(
            t0.elapsed() < within,
            "{what}: not within {within:?}: {}",
            cluster_state()
        );
        sleep(Duration::from_millis(20));
    }
}

/// The switchover scripted by hand, master → its peer, end to end, and
/// how long keepalived's own shutdown (the stop command) took of it.
fn by_hand() -> (Duration, Duration) {
    let m = master();
    let t = other(&m);
    let t0 = Instant::now();
    lab_ok(&["stop-keepalived", short(&m)]);
    let stop = t0.elapsed();
    until(
        "the target MASTER with the VIP and the binding",
        Duration::from_secs(60),
        || state(t) == "MASTER" && vip_on_nic(t) && binding() == t,
    );
    lab_ok(&["start-keepalived", short(&m)]);
    until("the old master BACKUP", Duration::from_secs(30), || {
        state(&m) == "BACKUP" && !vip_on_nic(&m)
    });
    (t0.elapsed(), stop)
}

/// One `vipdeck failover --yes` to the master's peer: its wall time and its
/// `VIPDECK_TIMING` marks (milliseconds since the command started).
fn with_vipdeck(lab: &Lab) -> (Duration, Vec<(u64, String)>) {
    let m = master();
    let t = other(&m);
    let mut cmd: Command = vipdeck_cmd(
        lab,
        &["failover", "--cluster", "lab", "--to", t, "--yes"],
        Some("0"),
    );
    cmd.env("VIPDECK_TIMING", "1");
    let t0 = Instant::now();
    let out = cmd.output().expect("runs vipdeck");
    let took = t0.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Outcome: moved and verified"),
        "{}",
        text(&out)
    );
    assert_eq!(binding(), t, "{}", cluster_state());
    let marks = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("vipdeck timing: "))
        .filter_map(|l| {
            let (ms, what) = l.split_once(" ms ")?;
            Some((ms.parse().ok()?, what.to_string()))
        })
        .collect();
    (took, marks)
}

/// The phases of one vipdeck run, in milliseconds, from its marks.
fn phases(wall: Duration, marks: &[(u64, String)]) -> Vec<(String, u64)> {
    let at = |what: &str| marks.iter().find(|(_, w)| w == what).map(|(ms, _)| *ms);
    let mut out = Vec::new();
    let mut last = 0;
    let mut push = |name: String, to: Option<u64>, last: &mut u64| {
        if let Some(to) = to {
            out.push((name, to.saturating_sub(*last)));
            *last = to;
        }
    };
    // The executor's own probes, lock reads and cloud read; the watch's
    // first fact only when those were not enough.
    push(
        "start → own probes, lock reads, cloud read".into(),
        at("fact: own probes, lock reads, cloud read"),
        &mut last,
    );
    push(
        "→ facts the plan needs".into(),
        at("facts the plan needs"),
        &mut last,
    );
    push("→ plan shown".into(), at("plan shown"), &mut last);
    let mut step = None;
    for (ms, what) in marks {
        if let Some(n) = what
            .strip_prefix("step ")
            .and_then(|s| s.strip_suffix(" started"))
        {
            if step.is_none() {
                push("plan → first step (lock)".into(), Some(*ms), &mut last);
            }
            step = Some(n.to_string());
        } else if what == "step finished" {
            let n = step.take().unwrap_or_default();
            push(format!("step {n}"), Some(*ms), &mut last);
        }
    }
    push("→ outcome known".into(), at("outcome known"), &mut last);
    push("→ done".into(), at("done"), &mut last);
    out.push((
        "process start/exit beyond the marks".into(),
        (wall.as_millis() as u64).saturating_sub(last),
    ));
    out
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Runs the rounds in `mode`; returns (by hand, vipdeck) medians in seconds.
fn bench(mode: &str) -> (f64, f64) {
    let lab = Lab::up(mode);
    let m = master();
    // The HAVIP starts unbound: the first master's GARP binds it.
    wait_healthy_on(&m, Duration::from_secs(30));
    let (mut hand, mut tool) = (Vec::new(), Vec::new());
    let mut breakdown: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut order = Vec::new();
    let mut added = Vec::new();
    let rounds = rounds_per_mode();
    for round in 1..=rounds {
        let (h, h_stop) = by_hand();
        wait_healthy_on(&master(), Duration::from_secs(20));
        let (v, marks) = with_vipdeck(&lab);
        wait_healthy_on(&master(), Duration::from_secs(20));
        let phases = phases(v, &marks);
        // Step 2 stops keepalived: its own shutdown, as the by-hand stop.
        let v_stop = phases
            .iter()
            .find(|(n, _)| n.starts_with("step 2/"))
            .map_or(0.0, |(_, ms)| *ms as f64 / 1000.0);
        println!(
            "{mode} round {round}: by hand {:.2}s, vipdeck {:.2}s; keepalived's shutdown: \
             by hand {:.2}s, vipdeck {v_stop:.2}s",
            h.as_secs_f64(),
            v.as_secs_f64(),
            h_stop.as_secs_f64()
        );
        hand.push(h.as_secs_f64());
        tool.push(v.as_secs_f64());
        added.push((v.as_secs_f64() - v_stop - (h.as_secs_f64() - h_stop.as_secs_f64())) * 1000.0);
        for (name, ms) in phases {
            if !breakdown.contains_key(&name) {
                order.push(name.clone());
            }
            breakdown.entry(name).or_default().push(ms as f64);
        }
    }
    let (h, v) = (median(&hand), median(&tool));
    smoke_label(&format!("{mode}: {rounds} round"));
    println!(
        "{mode}: by hand median {h:.2}s {hand:.2?}; vipdeck failover --yes median {v:.2}s \
         {tool:.2?}; ratio {:.2}× (goal ≤ {TARGET_RATIO}×)",
        v / h
    );
    println!(
        "{mode}: without keepalived's own shutdown, vipdeck adds {:.0} ms (median; per round \
         {added:.0?} ms)",
        median(&added)
    );
    println!("{mode}: where vipdeck's time goes (median ms of {rounds} runs):");
    for name in order {
        println!("  {:>6.0}  {name}", median(&breakdown[&name]));
    }
    (h, v)
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs its smoke size as root, CI always"]
fn failover_speed_against_the_scripted_steps_in_both_modes() {
    support::require_root();
    smoke_label("one round per mode");
    let mut ratios = Vec::new();
    for mode in ["havip", "eni"] {
        let (h, v) = bench(mode);
        ratios.push((mode, v / h));
    }
    smoke_label("one round per mode");
    for (mode, r) in &ratios {
        println!(
            "{mode}: vipdeck / by hand = {r:.2}× — {}",
            if *r <= TARGET_RATIO {
                "within the goal"
            } else {
                "above the goal"
            }
        );
    }
}

/// The established ssh (TCP) connections from this machine to each node,
/// by the nodes' addresses in the lab's ssh config.
fn ssh_connections() -> [usize; 2] {
    let conf = std::fs::read_to_string(format!("{LAB_ROOT}/ssh_config")).expect("lab ssh config");
    let addrs: Vec<String> = conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("HostName "))
        .map(|a| format!("{}:22", a.trim()))
        .collect();
    assert_eq!(addrs.len(), 2, "two nodes in {conf}");
    let out = Command::new("ss")
        .args(["-Htn", "state", "established", "( dport = :22 )"])
        .output()
        .expect("runs ss");
    let list = String::from_utf8_lossy(&out.stdout);
    [0, 1].map(|i| {
        list.lines()
            .filter(|l| l.split_whitespace().any(|f| f == addrs[i]))
            .count()
    })
}

/// One guided failover in the dashboard's wizard, master → its peer:
/// `m` → the prompt on screen, and the confirming Enter → the outcome on
/// screen; the switchover the wizard itself reports.
struct WizardRound {
    open: Duration,
    key_to_verified: Duration,
    reported: f64,
}

fn with_wizard(d: &Dashboard, pause: Duration) -> WizardRound {
    let m = master();
    let t = other(&m);
    d.until(
        &["HEALTHY", &format!("MASTER {m}")],
        Duration::from_secs(20),
    );
    let before = ssh_connections();
    d.tmux(&["send-keys", "-t", "d", "m"]);
    let (pane, open) = d.until(&["Type the target peer's name"], Duration::from_secs(20));
    assert!(
        pane.contains(&format!("Guided failover: lab → {t}")),
        "{pane}"
    );
    d.tmux(&["send-keys", "-t", "d", t]);
    d.until(
        &[&format!("to proceed, Esc to cancel: {t}")],
        Duration::from_secs(5),
    );
    sleep(pause);
    d.tmux(&["send-keys", "-t", "d", "Enter"]);
    let t0 = Instant::now();
    let (pane, _) = d.until(&["Outcome:"], Duration::from_secs(60));
    let key_to_verified = t0.elapsed();
    assert!(pane.contains("Outcome: moved and verified"), "{pane}");
    assert_eq!(binding(), t, "{}", cluster_state());
    let during = ssh_connections();
    assert!(
        during[0] <= before[0] && during[1] <= before[1],
        "the wizard opened ssh connections of its own: {before:?} before, {during:?} after"
    );
    let reported = pane
        .split("Switchover time (confirm → verified): ")
        .nth(1)
        .and_then(|r| r.split('s').next())
        .and_then(|n| n.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no switchover time in\n{pane}"));
    d.tmux(&["send-keys", "-t", "d", "Escape"]);
    d.until(
        &["HEALTHY", &format!("MASTER {t}")],
        Duration::from_secs(20),
    );
    WizardRound {
        open,
        key_to_verified,
        reported,
    }
}

/// Each step's milliseconds in an audit record, in order.
fn step_ms(record: Option<&serde_json::Value>) -> Vec<i64> {
    let at = |s: &serde_json::Value, k: &str| {
        s[k].as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    record
        .and_then(|r| r["steps"].as_array())
        .map(|steps| {
            steps
                .iter()
                .filter_map(|s| Some((at(s, "ended")? - at(s, "started")?).num_milliseconds()))
                .collect()
        })
        .unwrap_or_default()
}

fn spread(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{lo:.2}–{hi:.2}")
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs its smoke size as root, CI always"]
fn wizard_speed_against_the_scripted_steps_in_both_modes() {
    support::require_root();
    smoke_label("one round per mode");
    let rounds = rounds_per_mode();
    for mode in ["havip", "eni"] {
        let lab = Lab::up(mode);
        wait_healthy_on(&master(), Duration::from_secs(30));
        let d = Dashboard::open(&lab, "vipdeck-wizard-bench");
        let (mut hand, mut key, mut open, mut reported, mut beside) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 1..=rounds {
            let (h, h_stop) = by_hand();
            wait_healthy_on(&master(), Duration::from_secs(20));
            // keepalived's shutdown takes longer or shorter by where its
            // timers are: the Enter comes at a different point each round.
            let w = with_wizard(&d, Duration::from_millis(250 * (round as u64 - 1)));
            wait_healthy_on(&master(), Duration::from_secs(20));
            let record = lab.audit();
            let steps = step_ms(record.last());
            // Keepalived's own shutdown varies by hundreds of ms from one
            // stop to the next (its timers): the rest is what each side adds.
            let w_stop = steps.get(1).copied().unwrap_or_default() as f64 / 1000.0;
            beside.push((
                h.as_secs_f64() - h_stop.as_secs_f64(),
                w.key_to_verified.as_secs_f64() - w_stop,
            ));
            println!(
                "{mode} round {round}: by hand {:.2}s; wizard: m → plan and prompt {:.0} ms, \
                 Enter → outcome on screen {:.2}s (the wizard says confirm → verified {:.2}s)",
                h.as_secs_f64(),
                w.open.as_secs_f64() * 1000.0,
                w.key_to_verified.as_secs_f64(),
                w.reported
            );
            println!(
                "  keepalived's shutdown: by hand {:.2}s, wizard {w_stop:.2}s; wizard steps (ms): {steps:?}",
                h_stop.as_secs_f64()
            );
            hand.push(h.as_secs_f64());
            key.push(w.key_to_verified.as_secs_f64());
            open.push(w.open.as_secs_f64() * 1000.0);
            reported.push(w.reported);
        }
        let (h, k) = (median(&hand), median(&key));
        smoke_label(&format!("{mode}: {rounds} round"));
        println!(
            "{mode}: by hand median {h:.2}s (spread {}); wizard Enter → outcome on screen median \
             {k:.2}s (spread {}), {:.2}× the scripted steps; the wizard's own confirm → verified \
             median {:.2}s ({:.2}×); m → plan median {:.0} ms; ssh connections per node unchanged \
             ({:?})",
            spread(&hand),
            spread(&key),
            k / h,
            median(&reported),
            median(&reported) / h,
            median(&open),
            ssh_connections()
        );
        let rest_h: Vec<f64> = beside.iter().map(|b| b.0).collect();
        let rest_w: Vec<f64> = beside.iter().map(|b| b.1).collect();
        let added: Vec<f64> = beside.iter().map(|b| (b.1 - b.0) * 1000.0).collect();
        println!(
            "{mode}: without keepalived's own shutdown: by hand median {:.2}s, wizard median \
             {:.2}s; the wizard adds {:.0} ms (median; per round {:.0?} ms)",
            median(&rest_h),
            median(&rest_w),
            median(&added),
            added
        );
    }
}
