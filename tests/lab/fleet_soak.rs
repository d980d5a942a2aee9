//! The fleet for hours: N clusters of local peers and the emulator (the
//! fleet benchmark's, `fleet_bench.rs`), watched by one `vipdeck status
//! --watch --json` and one dashboard in a real terminal (tmux) at once,
//! with faults injected on a schedule, round after round:
//!
//! - **keepalived stopped** on one cluster's backup peer (its stand-in
//!   killed and reaped), started again 45 s later (25 s in the smoke run);
//! - **a dump that never comes**: one cluster's master keepalived frozen
//!   (`SIGSTOP`: alive, signalled, silent) and its state file written
//!   again (so its dump is asked at once), thawed 45 s later;
//! - **a cloud throttle**: every API call answers `RequestLimitExceeded`
//!   for 45 s (less than the minute after which cloud facts count as stale).
//!
//! None of them changes who is master: at every sample (every 10 s) every
//! cluster must read `degraded` with side a its master, as the fleet is
//! (the VIP is on no NIC), except the cluster under a fault in the 20 s
//! after it starts or ends; and the fault must show (the stopped peer has
//! no keepalived witness, the frozen one's dump is missing, the cloud
//! errors). Every minute it prints the CPU of each face with its children
//! (% of one core over that minute), their RSS and open descriptors, and
//! it asserts they stay flat: RSS at the end at most 10 % + 8 MiB over
//! the most of the first quarter, descriptors at most 2 more.
//!
//! `VIPDECK_SOAK_SECS` (default: an hour in full, 120 s in the smoke run)
//! and `VIPDECK_SOAK_CLUSTERS` (1,000 in full, 10 in the smoke run) set
//! its size; `sudo -E bash scripts/bench.sh soak` runs it in full. It
//! does not take the lab lock for its hour: it runs beside the lab.

use crate::fleet_bench::{curl, descendants, rss_kib, ticks_per_sec, Emulator, Fleet, RIGHT};
use crate::lab_bench::{sized, smoke_label};

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env_or(name: &str, full: u64, smoke: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| sized(full, smoke))
}

/// The schedule, in full and in the smoke run: a round (quiet, a fault,
/// quiet again); when in it the fault starts and how long it lasts; how
/// long after a fault starts or ends the affected cluster may read anything
/// (dumps are asked again, the cloud is read every 5 s); how often the
/// `--watch` line is checked and the figures taken.
struct Schedule {
    round: u64,
    fault_at: u64,
    fault_for: u64,
    grace: Duration,
    sample_every: Duration,
    figures_every: Duration,
}

fn schedule() -> Schedule {
    sized(
        Schedule {
            round: 120,
            fault_at: 30,
            fault_for: 45,
            grace: Duration::from_secs(20),
            sample_every: Duration::from_secs(10),
            figures_every: Duration::from_secs(60),
        },
        Schedule {
            round: 40,
            fault_at: 5,
            fault_for: 25,
            grace: Duration::from_secs(12),
            sample_every: Duration::from_secs(3),
            figures_every: Duration::from_secs(10),
        },
    )
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    KeepalivedStopped,
    DumpNeverComes,
    CloudThrottled,
}

impl Fault {
    fn of_round(r: u64) -> Fault {
        [
            Fault::KeepalivedStopped,
            Fault::DumpNeverComes,
            Fault::CloudThrottled,
        ][(r % 3) as usize]
    }
}

/// The CPU ticks (with reaped children) of `root` and its live descendants.
fn tree_ticks(root: u32) -> u64 {
    let mut pids = descendants(root);
    pids.push(root);
    pids.iter()
        .map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let f: Vec<u64> = stat
                .rsplit_once(") ")
                .map(|(_, r)| r)
                .unwrap_or("")
                .split_whitespace()
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            if f.len() < 15 {
                0
            } else {
                f[11] + f[12] + f[13] + f[14]
            }
        })
        .sum()
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// One face's figures over a minute.
#[derive(Debug, Clone, Copy)]
struct Figures {
    cpu: f64,
    rss_mib: f64,
    fds: usize,
    children: usize,
}

struct Face {
    name: &'static str,
    pid: u32,
    ticks: u64,
    rows: Vec<Figures>,
}

impl Face {
    fn new(name: &'static str, pid: u32) -> Face {
        Face {
            name,
            pid,
            ticks: tree_ticks(pid),
            rows: Vec::new(),
        }
    }

    fn measure(&mut self, over: Duration) -> Figures {
        let t = tree_ticks(self.pid);
        let f = Figures {
            cpu: t.saturating_sub(self.ticks) as f64 / ticks_per_sec() / over.as_secs_f64() * 100.0,
            rss_mib: rss_kib(self.pid) as f64 / 1024.0,
            fds: fds(self.pid),
            children: descendants(self.pid).len(),
        };
        self.ticks = t;
        self.rows.push(f);
        f
    }
}

/// Sets the emulator's faults (`POST /admin/faults`).
fn faults_patch(endpoint: &str, json: &str) {
    curl(&[
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "-d",
        json,
        &format!("{endpoint}/admin/faults"),
    ]);
}

/// What one cluster of the last `--watch` line says.
fn cluster_view(v: &serde_json::Value, k: usize) -> (String, String) {
    let c = &v["clusters"][k];
    (
        c["verdict"].as_str().unwrap_or("?").to_string(),
        c["master"].as_str().unwrap_or("-").to_string(),
    )
}

fn peer<'a>(v: &'a serde_json::Value, k: usize, side: &str) -> &'a serde_json::Value {
    let name = format!("c{k}-{side}");
    v["clusters"][k]["peers"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name.as_str()))
        .unwrap_or(&serde_json::Value::Null)
}

/// Whether the fault shows on cluster `k` (or the cloud) in `v`.
fn fault_shows(v: &serde_json::Value, fault: Fault, k: usize) -> bool {
    match fault {
        Fault::KeepalivedStopped => {
            let b = peer(v, k, "b");
            b["keepalived_running"] == false && b["vrrp_state"] == "STOP"
        }
        Fault::DumpNeverComes => {
            let a = peer(v, k, "a");
            a["keepalived_running"] == true
                && (a["witness"] != "json_dump" || a["witness_note"].is_string())
        }
        Fault::CloudThrottled => v["clusters"][k]["cloud"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("RequestLimitExceeded")),
    }
}

#[test]
#[ignore = "needs root (keepalived stand-ins run by root are signalled): scripts/test.sh runs its smoke size as root, CI always"]
fn a_fleet_watched_for_an_hour_with_faults() {
    crate::support::require_root();
    let n = env_or("VIPDECK_SOAK_CLUSTERS", 1000, 10) as usize;
    let secs = env_or("VIPDECK_SOAK_SECS", 3600, 120);
    let sch = schedule();
    smoke_label(&format!("{n} clusters for {secs} s"));
    let emulator = Emulator::start(n);
    let endpoint = emulator.endpoint.clone();
    let mut fleet = Fleet::new(n, &endpoint);

    let mut watch = crate::fleet_bench::Killed(
        fleet
            .vipdeck(&["status", "--watch", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("watch"),
    );
    let watch_pid = watch.0.id();
    let latest: Arc<Mutex<(u64, String)>> = Arc::default();
    {
        let latest = latest.clone();
        let stdout = watch.0.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut l = latest.lock().unwrap_or_else(|e| e.into_inner());
                l.0 += 1;
                l.1 = line;
            }
        });
    }

    // The dashboard, in a real terminal.
    let session = format!("vdsoak{}", std::process::id());
    let dir = fleet.dir().display().to_string();
    let st = Command::new("tmux")
        .args(["new-session", "-d", "-s", &session, "-x", "200", "-y", "50"])
        .args([
            "-e",
            &format!("TENCENTCLOUD_CREDENTIALS_FILE={dir}/credentials"),
        ])
        .args(["-e", &format!("VIPDECK_DATA_DIR={dir}/data")])
        .arg(format!(
            "{} --config {}",
            env!("CARGO_BIN_EXE_vipdeck"),
            fleet.config.display()
        ))
        .status()
        .expect("tmux");
    assert!(st.success(), "tmux starts the dashboard");
    struct Tmux(String);
    impl Drop for Tmux {
        fn drop(&mut self) {
            let _ = Command::new("tmux")
                .args(["kill-session", "-t", &self.0])
                .status();
        }
    }
    let tmux = Tmux(session.clone());
    let pane = String::from_utf8_lossy(
        &Command::new("tmux")
            .args(["list-panes", "-t", &session, "-F", "#{pane_pid}"])
            .output()
            .expect("tmux")
            .stdout,
    )
    .trim()
    .to_string();
    let tui_pid: u32 = pane.parse().expect("the dashboard's pid");

    // Every cluster answered before the clock starts.
    let t = Instant::now();
    loop {
        let line = latest.lock().unwrap_or_else(|e| e.into_inner()).1.clone();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let right = (0..n)
            .filter(|&k| cluster_view(&v, k) == (RIGHT.to_string(), format!("c{k}-a")))
            .count();
        if right == n {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "{right}/{n} clusters right after 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let mut faces = [
        Face::new("status --watch --json", watch_pid),
        Face::new("dashboard", tui_pid),
    ];
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let (mut next_sample, mut next_figures) = (start + sch.sample_every, start + sch.figures_every);
    let mut last_figures = start;
    let mut samples = 0usize;
    let mut wrong: Vec<String> = Vec::new();
    // (round, fault, cluster, started, ended, shown)
    let mut faults: Vec<(u64, Fault, usize, Instant, Option<Instant>, bool)> = Vec::new();
    let lines_at_start = latest.lock().unwrap_or_else(|e| e.into_inner()).0;
    println!(
        "\nsoak: {n} clusters, {secs} s, a fault every {} s",
        sch.round
    );
    println!("| minute | face | CPU (with children, % of one core) | RSS | fds | children |");
    println!("|---|---|---|---|---|---|");
    while Instant::now() < end {
        let now = Instant::now();
        let t = now - start;
        let round = t.as_secs() / sch.round;
        let into = t.as_secs() % sch.round;
        let k = (round as usize * 7 + 1) % n;
        // Start this round's fault, or end it.
        let current = faults.last().filter(|f| f.0 == round).cloned();
        if into >= sch.fault_at && current.is_none() {
            let fault = Fault::of_round(round);
            match fault {
                Fault::KeepalivedStopped => fleet.standins.kill(k, "b"),
                Fault::DumpNeverComes => {
                    // SAFETY: kill has no memory preconditions; the pid is
                    // our own child's.
                    unsafe { libc::kill(fleet.standins.pid(k, "a") as i32, libc::SIGSTOP) };
                    // Its notify script writes the state file again: a
                    // dump is asked at once (else within the minute).
                    std::fs::write(fleet.dir().join(format!("c{k}a/state")), "MASTER")
                        .expect("state file");
                }
                Fault::CloudThrottled => {
                    faults_patch(&endpoint, r#"{"error_rate":{"RequestLimitExceeded":1.0}}"#)
                }
            }
            faults.push((round, fault, k, now, None, false));
        } else if let Some(f) =
            current.filter(|f| f.4.is_none() && into >= sch.fault_at + sch.fault_for)
        {
            match f.1 {
                Fault::KeepalivedStopped => fleet.standins.restart(f.2, "b"),
                Fault::DumpNeverComes => {
                    // SAFETY: as above.
                    unsafe { libc::kill(fleet.standins.pid(f.2, "a") as i32, libc::SIGCONT) };
                }
                Fault::CloudThrottled => faults_patch(&endpoint, r#"{"error_rate":{}}"#),
            }
            if let Some(last) = faults.last_mut() {
                last.4 = Some(now);
            }
        }
        if now >= next_sample {
            next_sample += sch.sample_every;
            samples += 1;
            let line = latest.lock().unwrap_or_else(|e| e.into_inner()).1.clone();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            let fault = faults.last().cloned();
            // The cluster a fault touches, while it may still be moving.
            let moving = fault.as_ref().and_then(|f| {
                let changed = f.4.unwrap_or(f.3);
                let cloud_wide = f.1 == Fault::CloudThrottled;
                (now - changed < sch.grace && !cloud_wide).then_some(f.2)
            });
            for c in 0..n {
                if Some(c) == moving {
                    continue;
                }
                let (verdict, master) = cluster_view(&v, c);
                if verdict != RIGHT || master != format!("c{c}-a") {
                    let why: Vec<String> = ["a", "b"]
                        .iter()
                        .map(|side| {
                            let p = peer(&v, c, side);
                            format!(
                                "{side}: {} {} age {}",
                                p["vrrp_state"], p["error"], p["data_age_ms"]
                            )
                        })
                        .collect();
                    wrong.push(format!(
                        "{:.0} s: c{c} {verdict} (master {master}; {}; cloud {}){}",
                        t.as_secs_f64(),
                        why.join(", "),
                        v["clusters"][c]["cloud"]["error"],
                        fault
                            .as_ref()
                            .map(|f| format!(", during {:?} on c{}", f.1, f.2))
                            .unwrap_or_default()
                    ));
                }
            }
            if let Some(f) = faults.last_mut() {
                if f.4.is_none() && now - f.3 >= sch.grace && !f.5 {
                    f.5 = fault_shows(&v, f.1, f.2);
                    if !f.5 && std::env::var_os("VIPDECK_SOAK_DEBUG").is_some() {
                        println!("{:?} c{}: {:#}", f.1, f.2, v["clusters"][f.2]);
                    }
                }
            }
        }
        if now >= next_figures {
            next_figures += sch.figures_every;
            let over = now - last_figures;
            last_figures = now;
            for face in faces.iter_mut() {
                let f = face.measure(over);
                println!(
                    "| {} | {} | {:.1} % | {:.0} MiB | {} | {} |",
                    t.as_secs() / 60,
                    face.name,
                    f.cpu,
                    f.rss_mib,
                    f.fds,
                    f.children
                );
            }
            // The emulator keeps every request: forgotten each minute.
            curl(&["-X", "DELETE", &format!("{endpoint}/admin/requests")]);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let lines = latest.lock().unwrap_or_else(|e| e.into_inner()).0 - lines_at_start;
    let screen = String::from_utf8_lossy(
        &Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &session])
            .output()
            .expect("tmux")
            .stdout,
    )
    .into_owned();
    drop(tmux);
    drop(watch);
    drop(fleet);
    drop(emulator);

    println!(
        "{samples} samples of {n} clusters, {} wrong; {lines} `--watch` lines; faults: {}",
        wrong.len(),
        faults
            .iter()
            .map(|f| format!(
                "{:?} c{} {}",
                f.1,
                f.2,
                if f.5 { "shown" } else { "NOT shown" }
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(samples >= 3, "{samples} samples");
    assert!(
        wrong.is_empty(),
        "{} wrong readings, the first: {:#?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    // A fault that lasted past its grace must have shown.
    for f in &faults {
        if f.4.is_some_and(|e| e - f.3 > sch.grace + sch.sample_every) {
            assert!(f.5, "{:?} on c{} never showed", f.1, f.2);
        }
    }
    assert!(
        screen.contains("c0"),
        "the dashboard draws the fleet: {screen}"
    );
    // Flat: the end against the most of the first quarter (the warm-up:
    // an hour's run settles by its tenth minute).
    for face in &faces {
        let warm = &face.rows[..face.rows.len().div_ceil(4)];
        let (Some(first), Some(last)) = (
            warm.iter().max_by(|a, b| a.rss_mib.total_cmp(&b.rss_mib)),
            face.rows.last(),
        ) else {
            continue;
        };
        assert!(
            last.rss_mib <= first.rss_mib * 1.1 + 8.0,
            "{}: RSS {:.0} MiB, was {:.0} MiB",
            face.name,
            last.rss_mib,
            first.rss_mib
        );
        assert!(
            last.fds <= first.fds + 2,
            "{}: {} fds, were {}",
            face.name,
            last.fds,
            first.fds
        );
    }
}
