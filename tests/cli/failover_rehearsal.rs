//! Rehearsal: `failover --demo` and the demo's `m`/`F` run the real
//! session, plan and executor against the simulator, in both modes, and
//! record to the demo run's own audit file (never the real one, never
//! another run's); `rehearse`, `incident` and `audit` work on the demo.

use crate::tmux_pane::{vipdeck_cmd, Pane};
use std::path::Path;
use std::process::Command;

fn vipdeck(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.env("VIPDECK_DATA_DIR", data).env_remove("VIPDECK_CONFIG");
    c
}

/// Each demo run's directory (`<data dir>/demo-runs/<run>`), oldest first.
fn demo_runs(data: &Path) -> Vec<std::path::PathBuf> {
    let mut runs: Vec<_> = std::fs::read_dir(data.join("demo-runs"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    runs.sort();
    runs
}

/// Every demo run's records (one JSON object a line), oldest run first.
pub(crate) fn records(data: &Path) -> Vec<serde_json::Value> {
    demo_runs(data)
        .iter()
        .flat_map(|run| {
            let text = std::fs::read_to_string(run.join("demo-audit.jsonl")).unwrap_or_default();
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The finished attempts (records with steps) of `cluster` by `method`.
fn finished<'a>(
    recs: &'a [serde_json::Value],
    cluster: &str,
    method: &str,
) -> Vec<&'a serde_json::Value> {
    recs.iter()
        .filter(|r| {
            r["cluster"] == cluster
                && r["method"] == method
                && r["steps"].as_array().is_some_and(|s| !s.is_empty())
        })
        .collect()
}

#[test]
fn failover_demo_yes_moves_and_verifies_in_both_modes_and_records_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path();
    // ENI (pay), guided; HAVIP (web), forced. The demo's masters are the
    // peers with the higher address (equal priorities): pay-b and havip-02.
    for (cluster, to, forced) in [("pay", "pay-a", false), ("web", "havip-01", true)] {
        let mut cmd = vipdeck(data);
        cmd.args([
            "failover",
            "--demo",
            "--cluster",
            cluster,
            "--to",
            to,
            "--yes",
        ]);
        if forced {
            cmd.arg("--force");
        }
        let out = cmd.output().expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{cluster}: {stdout}\n{stderr}");
        assert!(
            stdout.contains("Outcome: moved and verified"),
            "{cluster}: {stdout}"
        );
        assert!(
            stdout.contains(&format!("Verified: {to} MASTER with")),
            "{cluster}: {stdout}"
        );
        assert!(stderr.contains("demo-audit.jsonl"), "{stderr}");
    }
    let recs = records(data);
    for (cluster, to, method) in [("pay", "pay-a", "graceful"), ("web", "havip-01", "forced")] {
        let done = finished(&recs, cluster, method);
        assert_eq!(done.len(), 1, "{cluster}: {recs:?}");
        assert_eq!(done[0]["to"], to);
        assert_eq!(done[0]["outcome"], "moved_verified", "{}", done[0]);
    }
    // The forced HAVIP move sent the GARP itself; the ENI one did not migrate.
    let web = finished(&recs, "web", "forced")[0];
    assert!(web["steps"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| s["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("GARP sent")))));
    assert!(
        !data.join("audit.jsonl").exists(),
        "the real audit trail is untouched"
    );
}

/// Two demo runs one after the other: each practises on its own record,
/// so the second is not blocked by the first's failover (anti_flap) and
/// says nothing of it; each record sits in a directory of its own that
/// only this user can enter.
#[test]
fn each_demo_run_practises_on_its_own_record() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    for run in 1..=2 {
        let out = vipdeck(dir.path())
            .args([
                "failover",
                "--demo",
                "--cluster",
                "pay",
                "--to",
                "pay-a",
                "--yes",
            ])
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "run {run}: {stdout}\n{stderr}");
        assert!(stdout.contains("[pass] anti_flap"), "run {run}: {stdout}");
        assert!(!stdout.contains("failed over"), "run {run}: {stdout}");
    }
    let runs = demo_runs(dir.path());
    assert_eq!(runs.len(), 2, "{runs:?}");
    for run in &runs {
        let mode = std::fs::metadata(run).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}: {mode:o}", run.display());
        let text = std::fs::read_to_string(run.join("demo-audit.jsonl")).expect("a record");
        let ended: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| r["outcome"] == "moved_verified")
            .collect();
        assert_eq!(ended.len(), 1, "{}: one failover per run", run.display());
    }
    // `audit --demo` lists the newest run's record.
    let out = vipdeck(dir.path())
        .args(["audit", "--demo"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("pay-b → pay-a"), "{stdout}");
    assert!(stdout.contains("moved and verified"), "{stdout}");
    let newest = runs.last().expect("a run");
    assert!(
        stderr.contains(&newest.display().to_string()),
        "names the run it lists: {stderr}"
    );
    assert!(
        !dir.path().join("audit.jsonl").exists(),
        "the real audit trail is untouched"
    );
}

/// `rehearse --demo` and `incident --demo`: the practice does not stop at
/// the command line.
#[test]
fn rehearse_and_incident_work_on_the_demo() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = vipdeck(dir.path())
        .args(["rehearse", "--demo", "--cluster", "web", "--to", "havip-01"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Rehearsal on a simulated twin of web (havip mode)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Predicted outcome: moved and verified"),
        "{stdout}"
    );
    let out = vipdeck(dir.path())
        .args(["incident", "--demo", "--cluster", "pay", "--since", "5m"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("# Incident record: pay (eni"), "{stdout}");
    assert!(stdout.contains("pay-b BACKUP → MASTER"), "{stdout}");
    // A cluster the demo does not have is named as such, with the ones it has.
    let out = vipdeck(dir.path())
        .args(["incident", "--demo", "--cluster", "db"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr.contains("no cluster named `db` (clusters: web, pay)"),
        "{stderr}"
    );
}

/// After a failover, the demo's faults leave the binding behind (`N`, `K`:
/// vip_drift); `F` rebinds the VIP to the peer that is MASTER now. That
/// moves no VRRP role: the anti-flap window does not block it and asks for
/// no override.
#[test]
fn the_drift_repair_after_a_failover_is_not_a_flap_in_tmux() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = Pane::start("antiflap-repair", 120, 40, &vipdeck_cmd(dir.path(), "demo"));
    t.wait_for_text("healthy");
    jump_to(&t, "web");
    t.wait_for_text("MASTER havip-02");
    wizard_failover(&t, "m", "havip-01", false);
    t.wait_for_text("✔ web");
    t.keys(&["N", "K"]);
    t.wait_for_text("vip_drift");
    t.keys(&["F"]);
    let plan = t.wait_for_text("Type the target peer's name (havip-02)");
    assert!(!plan.contains("FAIL] anti_flap"), "{plan}");
    assert!(
        !plan.contains("[ ] anti_flap"),
        "no override asked:\n{plan}"
    );
    t.type_text("havip-02");
    t.keys(&["Enter"]);
    let done = t.wait_for_text("Enter or Esc: back to the dashboard");
    assert!(done.contains("Outcome: moved and verified"), "{done}");
    let recs = records(dir.path());
    let forced = finished(&recs, "web", "forced");
    assert_eq!(forced.len(), 1, "{recs:?}");
    let anti_flap = forced[0]["plan"]["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == "anti_flap"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(anti_flap["status"], "pass", "{anti_flap}");
    assert!(
        anti_flap["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not a flap")),
        "{anti_flap}"
    );
}

/// The progress a failover prints, without its clock: the stamp before
/// each line and the seconds in it ("ok in 0.2s", "(1.4s)").
fn progress_lines(stderr: &str) -> Vec<String> {
    let stamp = regex::Regex::new(r"^\s*\d+\.\ds ").expect("regex");
    let secs = regex::Regex::new(r"\d+\.\ds").expect("regex");
    stderr
        .lines()
        .filter(|l| stamp.is_match(l))
        .map(|l| {
            secs.replace_all(&stamp.replace(l, ""), "Ns")
                .trim()
                .to_string()
        })
        .collect()
}

/// Each step line, each progress line and each part of the outcome is
/// said once, in both modes: no step shown twice, no status repeated, no
/// detail ending on a dangling colon, the lock release shown as the last
/// step, and the verified state said in one wording.
#[test]
fn failover_progress_says_each_line_once_in_both_modes() {
    let dir = tempfile::tempdir().expect("tmp");
    for (cluster, to, other) in [("pay", "pay-a", "pay-b"), ("web", "havip-01", "havip-02")] {
        let out = vipdeck(dir.path())
            .args([
                "failover",
                "--demo",
                "--cluster",
                cluster,
                "--to",
                to,
                "--yes",
            ])
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{cluster}: {stdout}\n{stderr}");
        let lines = progress_lines(&stderr);
        assert!(lines.len() >= 8, "{cluster}: {stderr}");
        let mut seen = std::collections::HashSet::new();
        for l in &lines {
            assert!(seen.insert(l), "{cluster}: `{l}` printed twice:\n{stderr}");
            assert!(
                !l.ends_with(':'),
                "{cluster}: `{l}` ends on a colon:\n{stderr}"
            );
        }
        // Every step of the plan started once, in order, the release last.
        let started: Vec<&String> = lines.iter().filter(|l| l.starts_with('[')).collect();
        let total = started.len();
        for (i, l) in started.iter().enumerate() {
            assert!(
                l.starts_with(&format!("[{}/{total}] ", i + 1)),
                "{cluster}: {l}\n{stderr}"
            );
        }
        assert!(
            started
                .last()
                .is_some_and(|l| l.ends_with("release the failover lock")),
            "{cluster}: {stderr}"
        );
        let finished = lines.iter().filter(|l| l.starts_with("ok in ")).count();
        assert_eq!(finished, total, "{cluster}: {stderr}");
        // The outcome says each part of the verified state once.
        let end = stdout.split("Outcome:").nth(1).expect("an outcome");
        for part in [
            format!("{to} MASTER"),
            format!("cloud binding {to}"),
            format!("{other} BACKUP"),
            "verdict".to_string(),
        ] {
            assert_eq!(
                end.matches(&part).count(),
                1,
                "{cluster}: `{part}` in {end}"
            );
        }
        assert!(end.contains("verdict healthy"), "{cluster}: {end}");
    }
}

/// A failover asked of a cluster the demo does not have is refused
/// before anything starts.
#[test]
fn failover_demo_names_an_unknown_cluster() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = vipdeck(dir.path())
        .args([
            "failover",
            "--demo",
            "--cluster",
            "nope",
            "--to",
            "x",
            "--yes",
        ])
        .output()
        .expect("runs");
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no simulated cluster named `nope`"),
        "{stderr}"
    );
}

/// Selects `cluster` by name (`:name` Enter).
fn jump_to(t: &Pane, cluster: &str) {
    t.keys(&[":"]);
    t.type_text(cluster);
    t.keys(&["Enter"]);
}

/// Runs one failover in the wizard: the key (`m`/`F`), overriding the
/// anti-flap check if offered, typing the target's name; returns the
/// screen with the outcome.
fn wizard_failover(t: &Pane, key: &str, target: &str, override_anti_flap: bool) -> String {
    t.keys(&[key]);
    if override_anti_flap {
        t.wait_for_text("[ ] anti_flap");
        t.keys(&["Space", "Enter"]);
    }
    let prompt = format!("Type the target peer's name ({target})");
    let s = t.wait_for_text(&prompt);
    assert!(s.contains("(rehearsal)"), "{s}");
    t.type_text(target);
    t.keys(&["Enter"]);
    let s = t.wait_for_text("Enter or Esc: back to the dashboard");
    assert!(s.contains("Outcome: moved and verified"), "{s}");
    assert!(s.contains(&format!("Verified: {target} MASTER")), "{s}");
    println!("{s}");
    t.keys(&["Enter"]);
    s
}

/// In `vipdeck demo`, `m` and `F` practise the real failover on the
/// simulator: a guided and a forced one in each mode, one of them the
/// repair of a vip_drift the demo's faults made, each confirmed by typing
/// the target's name, verified, and recorded in the demo's audit file.
#[test]
fn demo_rehearses_guided_and_forced_failovers_in_both_modes_in_tmux() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path();
    let t = Pane::start("rehearse-demo", 120, 40, &vipdeck_cmd(data, "demo"));
    t.wait_for_text("healthy");
    // Sort by name: pay (ENI) first, web (HAVIP) second, whatever happens.
    t.keys(&["o"]);
    t.wait_for_text("sort: by name");

    // ENI: guided pay-b → pay-a, then forced back (anti_flap overridden).
    t.wait_for_text("MASTER pay-b");
    wizard_failover(&t, "m", "pay-a", false);
    wizard_failover(&t, "F", "pay-b", true);

    // HAVIP under the demo's faults: the notify path broken, the master
    // killed: the binding stays behind (vip_drift); F repairs it on the new
    // master.
    t.keys(&["j"]);
    t.wait_for_text("MASTER havip-02");
    t.keys(&["N", "K"]);
    let drift = t.wait_for_text("vip_drift");
    println!("{drift}");
    wizard_failover(&t, "F", "havip-01", false);
    // Healed, a guided move back within the anti-flap window.
    t.keys(&["H"]);
    t.wait_for_text("MASTER havip-01");
    t.wait_for_text("✔ web");
    wizard_failover(&t, "m", "havip-02", true);

    let recs = records(data);
    for (cluster, method) in [
        ("pay", "graceful"),
        ("pay", "forced"),
        ("web", "forced"),
        ("web", "graceful"),
    ] {
        let done = finished(&recs, cluster, method);
        assert_eq!(done.len(), 1, "{cluster} {method}: {recs:?}");
        assert_eq!(done[0]["outcome"], "moved_verified", "{}", done[0]);
        let conf = done[0]["confirmations"].to_string();
        assert!(conf.contains("in the TUI"), "{conf}");
    }
    assert!(!data.join("audit.jsonl").exists());
    t.keys(&["q"]);
    t.wait_ended("vipdeck demo ended with q");
}

/// At 80×24 the wizard opens on a one-screen summary (method, what moves,
/// checks not passing, step count, expected time) with the prompt in view;
/// Tab shows the whole plan from its first check, End its last step, Home
/// the first check again; then the name is typed and the move runs.
#[test]
fn at_80x24_the_wizard_summarises_and_scrolls_the_plan_before_the_name_in_tmux() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = Pane::start("rehearse-80x24", 80, 24, &vipdeck_cmd(dir.path(), "demo"));
    t.wait_for_text("HEALTHY");
    // Pay is the ENI cluster.
    jump_to(&t, "pay");
    t.wait_for_text("MASTER pay-b");
    t.keys(&["m"]);
    // The summary follows the plan: wait for it, not just the prompt.
    let prompt = "Type the target peer's name (pay-a)";
    t.wait_for_text(prompt);
    let summary = t.wait_for_text("Failover summary:");
    println!("the summary at 80×24:\n{summary}");
    for part in [
        "Failover summary: cluster pay (eni mode, VIP 198.51.100.100)",
        "Method:       graceful",
        "What moves:   VIP 198.51.100.100 pay-b → pay-a",
        "Checks:",
        "Steps:        8 (Tab: the full plan)",
        "Expected:     about",
        "Tab summary/full plan",
    ] {
        assert!(summary.contains(part), "`{part}` missing:\n{summary}");
    }
    // The checks not passing are named, or all pass.
    assert!(
        summary.contains("not passing:") && summary.contains("[warn]")
            || summary.contains("all 12 pass"),
        "{summary}"
    );
    assert!(!summary.contains("Preflight checks:"), "{summary}");
    // The full plan, from its first check.
    t.keys(&["Tab"]);
    let top = t.wait_for_text("Preflight checks:");
    println!("the plan's top:\n{top}");
    assert!(top.contains("Failover plan: cluster pay"), "{top}");
    assert!(top.contains("target_known"), "{top}");
    assert!(top.contains(prompt), "{top}");
    t.keys(&["End"]);
    let end = t.wait_for_text("lock file gone");
    assert!(!end.contains("Preflight checks:"), "{end}");
    assert!(end.contains(prompt), "{end}");
    t.keys(&["Home"]);
    let back = t.wait_for_text("Preflight checks:");
    assert!(back.contains(prompt), "{back}");
    // Nothing was typed by the scrolling.
    assert!(
        back.contains("Esc to") && back.contains("cancel: █"),
        "{back}"
    );
    t.type_text("pay-a");
    t.keys(&["Enter"]);
    let done = t.wait_for_text("Enter or Esc: back to the dashboard");
    println!("{done}");
    assert!(done.contains("Outcome: moved and verified"), "{done}");
    let recs = records(dir.path());
    assert_eq!(finished(&recs, "pay", "graceful").len(), 1, "{recs:?}");
}

/// An unknown `--to` once put a peer of the cluster in the plan's header
/// (`pay-b → pay-a` for `--to pay-c`) and in the refusal's record: both
/// name the target asked for.
#[test]
fn an_unknown_target_is_named_in_the_plan_and_its_record() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path();
    let run = |extra: &str| {
        let out = vipdeck(data)
            .args([
                "failover",
                "--demo",
                "--cluster",
                "pay",
                "--to",
                "pay-c",
                extra,
            ])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let plan = run("--dry-run");
    let header = plan
        .lines()
        .find(|l| l.starts_with("Failover plan:"))
        .unwrap_or_else(|| panic!("{plan}"));
    assert!(
        header.contains("pay-b → pay-c, method graceful"),
        "{header}"
    );
    assert!(
        plan.contains("`pay-c` is not a peer of cluster pay (peers: pay-a, pay-b)"),
        "{plan}"
    );
    run("--yes");
    let recs = records(data);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["to"], "pay-c", "{}", recs[0]);
    assert_eq!(recs[0]["outcome"], "not_started");
}

/// On a terminal, a mistyped name once ended `vipdeck failover` ("not
/// confirmed"), the plan gone; it is asked again, the plan and the lock
/// kept, and the move runs once the name is right.
#[test]
fn failover_on_a_terminal_asks_a_mistyped_name_again() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path();
    // The pane outlives vipdeck (and the waits) so that its last words can
    // be read; it ends with the test.
    let cmd = vipdeck_cmd(data, "failover --demo --cluster pay --to pay-a; sleep 600");
    let t = Pane::start("cli-retype", 120, 40, &cmd);
    t.wait_for_text("Type the target peer's name (pay-a) to proceed:");
    t.type_text("pay-x");
    t.keys(&["Enter"]);
    let again = t.wait_for_text("typed `pay-x`, not `pay-a`: type it again (2 tries left)");
    assert!(!again.contains("not confirmed"), "{again}");
    t.type_text("pay-a");
    t.keys(&["Enter"]);
    t.wait_for_text("Outcome: moved and verified");
    let recs = records(data);
    let done = finished(&recs, "pay", "graceful");
    assert_eq!(done.len(), 1, "{recs:?}");
    assert_eq!(
        done[0]["confirmations"][0]["answer"], "pay-a",
        "{}",
        done[0]
    );
}
