//! The keepalived version matrix: one test per release our users run
//! (built by tests/lab/keepalived-build.sh; 2.2.7 is Debian's), each
//! running the same scenarios on one lab in eni mode and one in havip mode,
//! as fast as keepalived's own timers allow (advert_int 1: a backup takes
//! over ≈ 3.6 s after the last advert; nothing here sleeps a fixed time, it
//! polls for each condition with a deadline). For each scenario it records
//! what `vipdeck status --json` said (verdict, master, binding, each peer's
//! state, keepalived's witness and version) and how long it took, and
//! prints a row; a `status --watch --json` transcript runs through each lab
//! and must page (split_brain, no_master, vip_drift) only in the scenarios
//! that cause it. The expected verdicts are the product's, the same on
//! every version; Debian's 2.2.7 is the reference. One difference is
//! keepalived's own: 1.x started again after a crash leaves the crash's VIP
//! on the NIC, and vipdeck must page for it until it is removed. vipdeck
//! runs with the cloud polled every second and a 5 s HAVIP grace (the
//! lab's config otherwise), so the waits are keepalived's. A scenario that
//! fails is recorded with what vipdeck said, the lab is put back, the rest
//! still runs, and the test fails at the end with the failing rows.

use crate::support as lab;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The verdicts an operator is paged for.
const CRITICAL: [&str; 3] = ["split_brain", "no_master", "vip_drift"];

fn other(node: &str) -> String {
    if node == "vdlab-a" {
        "vdlab-b"
    } else {
        "vdlab-a"
    }
    .to_string()
}

fn short(node: &str) -> &str {
    node.trim_start_matches("vdlab-")
}

/// Healthy, or degraded by nothing but `flapping`: the scenarios move the
/// master more than 4 times in 5 minutes, which vipdeck rightly calls
/// flapping (a warning) until they age out.
fn calm(c: &Value) -> bool {
    c["verdict"] == "healthy"
        || (c["verdict"] == "degraded"
            && c["alerts"]
                .as_array()
                .is_some_and(|a| a.iter().all(|x| x["code"] == "flapping")))
}

fn alert_codes(c: &Value) -> String {
    c["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| s(&a["code"]))
        .collect::<Vec<_>>()
        .join(",")
}

fn s(v: &Value) -> String {
    v.as_str().map_or_else(|| "-".to_string(), str::to_string)
}

/// The lab's vipdeck.toml with the cloud polled every second (the lab's
/// emulator is local) and a 5 s HAVIP grace, so that the matrix waits on
/// keepalived's timers rather than vipdeck's cadence.
fn write_matrix_config() {
    let text = std::fs::read_to_string(lab::CONFIG).expect("the lab's vipdeck.toml");
    let text = text
        .replacen("[cloud]\n", "[cloud]\npoll_interval_ms = 1000\n", 1)
        .replacen("[ssh]\n", "[monitor]\nhavip_grace_ms = 5000\n\n[ssh]\n", 1);
    std::fs::write(matrix_config(), text).expect("write the matrix config");
}

fn matrix_config() -> String {
    format!("{}/vipdeck-matrix.toml", lab::LAB_ROOT)
}

/// `vipdeck ARGS` with the matrix config and the lab's credentials.
fn vipdeck(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.args(args)
        .args(["--config", &matrix_config()])
        .env("TENCENTCLOUD_CREDENTIALS_FILE", lab::CREDENTIALS)
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .env(
            "VIPDECK_DATA_DIR",
            format!("{}/vipdeck-data", lab::LAB_ROOT),
        )
        .stdin(Stdio::null());
    c
}

/// One `vipdeck status --json`: the lab cluster, and how long it took.
fn status() -> (Value, Duration) {
    let t0 = Instant::now();
    let out = vipdeck(&["status", "--json"])
        .stdin(Stdio::null())
        .output()
        .expect("vipdeck status runs");
    let took = t0.elapsed();
    let c = serde_json::from_slice::<Value>(&out.stdout)
        .map(|v| v["clusters"][0].clone())
        .unwrap_or_else(|_| {
            serde_json::json!({"verdict": format!("(no JSON: {})", lab::text(&out).replace('\n', " "))})
        });
    (c, took)
}

/// The node whose keepalived runs, says MASTER and holds the VIP (lab.sh's view).
fn lab_master() -> Option<String> {
    let out = lab::run(&["wait-master", "10"]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn keepalived_running(node: &str) -> bool {
    lab::run(&["exec", node, "/etc/keepalived/ctl", "status"])
        .status
        .success()
}

fn vip_on_nic(node: &str) -> bool {
    Command::new("ip")
        .args(["-n", node, "-o", "-4", "addr", "show", "dev", "eth0"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&format!("inet {}/", lab::VIP)))
}

fn state_file(node: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/{}/var/keepalived/state",
        lab::LAB_ROOT,
        short(node)
    ))
    .unwrap_or_default()
}

/// Starts keepalived again where it was killed, and waits until it is
/// BACKUP (its notify_backup ran). Whether it left the crash's VIP on the
/// NIC: 2.x removes it as it starts, 1.3.5 logs "removing protocol VIPs"
/// but keeps it. When it does, the scenario running may page for it.
fn restart_crashed(m: &mut Matrix, node: &str) -> bool {
    lab::verb(&["start-keepalived", node]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while state_file(node) != "BACKUP" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left = vip_on_nic(node) && state_file(node) == "BACKUP";
    if left {
        m.allow("split_brain");
    }
    left
}

/// What the operator does about a VIP keepalived left on a backup's NIC.
fn remove_vip(node: &str) {
    let _ = lab::run(&[
        "exec",
        node,
        "ip",
        "addr",
        "del",
        &format!("{}/24", lab::VIP),
        "dev",
        "eth0",
    ]);
}

/// A scenario's name and the function that runs it (true: as expected).
type Scenario = (&'static str, fn(&mut Matrix) -> bool);

/// One scenario's outcome.
struct Row {
    mode: &'static str,
    scenario: &'static str,
    verdict: String,
    master: String,
    bound: String,
    states: String,
    witness: String,
    alerts: String,
    /// From the fault to the expected state, seen by `status --watch`.
    secs: Option<f64>,
    /// From the repair to `healthy` again.
    back_secs: Option<f64>,
    /// The `status --json` call that recorded it.
    status_ms: u128,
    pass: bool,
    note: String,
}

impl Row {
    fn line(&self, version: &str) -> String {
        let secs = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.1}"));
        format!(
            "| {version} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {}{} |",
            self.mode,
            self.scenario,
            self.verdict,
            self.master,
            self.bound,
            self.states,
            self.witness,
            secs(self.secs),
            secs(self.back_secs),
            self.status_ms,
            if self.pass { "ok" } else { "FAIL" },
            self.alerts,
            if self.note.is_empty() {
                String::new()
            } else {
                format!(" — {}", self.note)
            }
        )
    }
}

const HEADER: &str = "| version | mode | scenario | verdict | master | bound | states | witness | s | back s | status ms | ok | alerts |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|";

/// One lab (one mode) on one version: the watch through it, the scenarios'
/// rows, and which scenario ran when (for the transcript).
struct Matrix {
    version: &'static str,
    mode: &'static str,
    w: lab::Watch,
    started: Instant,
    /// (start, scenario, the critical verdicts it may show)
    phases: Vec<(Instant, &'static str, Vec<&'static str>)>,
    rows: Vec<Row>,
    aborted: bool,
}

impl Matrix {
    fn new(version: &'static str, mode: &'static str) -> Matrix {
        let started = Instant::now();
        Matrix {
            version,
            mode,
            w: lab::Watch::spawn(vipdeck(&["status", "--watch", "--json"])),
            started,
            phases: vec![(started, "up", Vec::new())],
            rows: Vec::new(),
            aborted: false,
        }
    }

    fn phase(&mut self, scenario: &'static str, may_page: &[&'static str]) -> Instant {
        let now = Instant::now();
        self.phases.push((now, scenario, may_page.to_vec()));
        now
    }

    /// The scenario running now may also show `verdict` (found out as it ran).
    fn allow(&mut self, verdict: &'static str) {
        if let Some((_, _, may)) = self.phases.last_mut() {
            may.push(verdict);
        }
    }

    fn row(&mut self, scenario: &'static str, c: &Value, took: Duration) -> &mut Row {
        let peers: Vec<&Value> = c["peers"].as_array().into_iter().flatten().collect();
        let states = peers
            .iter()
            .map(|p| format!("{}={}", short(&s(&p["name"])), s(&p["vrrp_state"])))
            .collect::<Vec<_>>()
            .join(" ");
        let witness = peers
            .iter()
            .map(|p| {
                let v = s(&p["keepalived_version"]);
                format!("{}:{}@{v}", short(&s(&p["name"])), s(&p["witness"]))
            })
            .collect::<Vec<_>>()
            .join(" ");
        let mut note = Vec::new();
        for p in &peers {
            let v = s(&p["keepalived_version"]);
            if v != "-" && v != self.version {
                note.push(format!("{} says keepalived {v}", s(&p["name"])));
            }
            if let Some(n) = p["witness_note"].as_str() {
                note.push(format!("{}: {n}", s(&p["name"])));
            }
        }
        let alerts = alert_codes(c);
        self.rows.push(Row {
            mode: self.mode,
            scenario,
            verdict: s(&c["verdict"]),
            master: s(&c["master"]),
            bound: s(&c["vip_bound_to"]),
            states,
            witness,
            alerts,
            secs: None,
            back_secs: None,
            status_ms: took.as_millis(),
            pass: true,
            note: note.join("; "),
        });
        self.rows.last_mut().expect("a row")
    }

    fn fail(&mut self, what: &str, c: &Value) {
        let row = self.rows.last_mut().expect("a row");
        row.pass = false;
        let msgs = c["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| s(&a["message"]))
            .collect::<Vec<_>>()
            .join(" / ");
        row.note = format!("expected {what}; vipdeck said: {msgs} {}", row.note);
    }

    fn print_last(&self) {
        if let Some(r) = self.rows.last() {
            println!("{}", r.line(self.version));
        }
    }

    /// Waits on the watch for `pred` (timed from `t0`), then records what
    /// `status --json` says once it agrees too.
    fn expect(
        &mut self,
        scenario: &'static str,
        t0: Instant,
        within: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> bool {
        let seen = self.w.try_until(within, &pred);
        let mut shot = status();
        if seen.is_some() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !pred(&shot.0) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
                shot = status();
            }
        }
        let (c, took) = shot;
        let pass = seen.is_some() && pred(&c);
        let row = self.row(scenario, &c, took);
        row.secs = seen.map(|(at, _)| at.saturating_duration_since(t0).as_secs_f64());
        if !pass {
            let why = if row.secs.is_none() {
                format!("{what} (status --watch: not within {within:?})")
            } else {
                format!("{what} (status --watch showed it, status --json did not)")
            };
            self.fail(&why, &c);
        }
        self.print_last();
        pass
    }

    /// Polls `status --json` for `pred` (what the watch does not print:
    /// alerts alone).
    fn expect_status(
        &mut self,
        scenario: &'static str,
        t0: Instant,
        within: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> bool {
        let deadline = t0 + within;
        loop {
            let (c, took) = status();
            let now = Instant::now();
            if pred(&c) || now > deadline {
                let pass = pred(&c);
                let row = self.row(scenario, &c, took);
                row.secs = Some(now.saturating_duration_since(t0).as_secs_f64());
                if !pass {
                    self.fail(what, &c);
                }
                self.print_last();
                return pass;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Healthy again ([`calm`]) after a repair started at `t1`.
    fn back_to_healthy(&mut self, t1: Instant) -> bool {
        let hit = self.w.try_until(Duration::from_secs(30), calm);
        let back = hit.map(|(at, _)| at.saturating_duration_since(t1).as_secs_f64());
        let watch_said = self
            .w
            .last
            .as_ref()
            .map(|v| {
                let c = &v["clusters"][0];
                let msgs = c["alerts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| s(&a["message"]))
                    .collect::<Vec<_>>()
                    .join(" / ");
                format!("{}: {msgs}", s(&c["verdict"]))
            })
            .unwrap_or_default();
        if let Some(r) = self.rows.last_mut() {
            r.back_secs = back;
            if back.is_none() {
                r.pass = false;
                let (now, _) = status();
                r.note = format!(
                    "not healthy again within 30s (status --watch still says {watch_said}; status --json says {}: {}) {}",
                    s(&now["verdict"]),
                    alert_codes(&now),
                    r.note
                );
            }
        }
        back.is_some()
    }

    /// After a failed scenario: every fault undone, keepalived running on
    /// both (one at a time), the binding on the master, healthy.
    fn reset(&mut self) -> bool {
        self.phase("reset after a failure", &CRITICAL);
        for n in ["vdlab-a", "vdlab-b"] {
            let _ = lab::run(&["restore-vrrp", n]);
            let _ = lab::run(&["fix-notify", n]);
        }
        for n in ["vdlab-a", "vdlab-b"] {
            if !keepalived_running(n) {
                let _ = lab::run(&["start-keepalived", n]);
                let _ = lab_master();
            }
        }
        for n in ["vdlab-a", "vdlab-b"] {
            if vip_on_nic(n) && state_file(n) != "MASTER" {
                remove_vip(n);
            }
        }
        let Some(m) = lab_master() else {
            return false;
        };
        if self.mode == "eni" {
            let _ = lab::run(&["exec", &m, "/etc/keepalived/vip.py", "migrate"]);
        }
        self.w.try_until(Duration::from_secs(30), calm).is_some()
    }

    /// Runs the scenarios in order; after a failure puts the lab back, and
    /// skips the rest if it cannot.
    fn run(&mut self, scenarios: &[Scenario]) {
        for (name, f) in scenarios {
            if self.aborted {
                self.rows.push(Row {
                    mode: self.mode,
                    scenario: name,
                    verdict: "-".into(),
                    master: "-".into(),
                    bound: "-".into(),
                    states: "-".into(),
                    witness: "-".into(),
                    alerts: String::new(),
                    secs: None,
                    back_secs: None,
                    status_ms: 0,
                    pass: false,
                    note: "skipped: the lab could not be put back after a failure".into(),
                });
                continue;
            }
            if !f(self) && !self.reset() {
                self.aborted = true;
            }
        }
    }

    /// The `status --watch` transcript, and the lines that paged in a
    /// scenario that should not.
    fn transcript(&mut self) -> (Vec<String>, Vec<String>) {
        self.w.drain();
        let mut lines = Vec::new();
        let mut wrong = Vec::new();
        for (at, c) in &self.w.seen {
            let (phase, may) = self
                .phases
                .iter()
                .rev()
                .find(|(start, _, _)| start <= at)
                .map(|(_, p, may)| (*p, may.as_slice()))
                .unwrap_or(("up", &[]));
            let verdict = s(&c["verdict"]);
            let line = format!(
                "{:>6.1}s {:<22} {:<12} master={} bound={} a={} b={} {}",
                at.saturating_duration_since(self.started).as_secs_f64(),
                phase,
                verdict,
                s(&c["master"]),
                s(&c["vip_bound_to"]),
                s(&lab::peer(c, "vdlab-a")["vrrp_state"]),
                s(&lab::peer(c, "vdlab-b")["vrrp_state"]),
                alert_codes(c),
            );
            if CRITICAL.contains(&verdict.as_str()) && !may.contains(&verdict.as_str()) {
                wrong.push(format!("{} {}: {line}", self.version, self.mode));
            }
            lines.push(line);
        }
        (lines, wrong)
    }
}

fn roles() -> (String, String) {
    let m = lab_master().unwrap_or_else(|| panic!("no single master\n{}", lab::diagnostics()));
    let b = other(&m);
    (m, b)
}

// ------------------------------------------------------------ scenarios

fn healthy(m: &mut Matrix) -> bool {
    let t0 = m.phase("healthy", &[]);
    let (master, backup) = roles();
    m.expect(
        "healthy",
        t0,
        Duration::from_secs(30),
        "healthy, the master MASTER with the VIP bound to it",
        |c| {
            c["verdict"] == "healthy"
                && c["master"] == master.as_str()
                && c["vip_bound_to"] == master.as_str()
                && lab::peer(c, &backup)["vrrp_state"] == "BACKUP"
        },
    )
}

/// The backup's state file says MASTER (a stale or hand-edited file):
/// keepalived's own word wins, an alert says they disagree, no split brain.
fn stale_state_file(m: &mut Matrix) -> bool {
    let (master, backup) = roles();
    let t0 = m.phase("stale state file", &[]);
    let file = format!("{}/{}/var/keepalived/state", lab::LAB_ROOT, short(&backup));
    std::fs::write(&file, "MASTER").expect("write the backup's state file");
    let ok = m.expect_status(
        "stale state file",
        t0,
        Duration::from_secs(10),
        "healthy with witnesses_disagree, the backup BACKUP (not split_brain)",
        |c| {
            c["verdict"] == "healthy"
                && c["master"] == master.as_str()
                && lab::peer(c, &backup)["vrrp_state"] == "BACKUP"
                && lab::has_alert(c, "witnesses_disagree")
        },
    );
    std::fs::write(&file, "BACKUP").expect("restore the backup's state file");
    ok
}

/// keepalived stopped on the master: the backup takes over at once
/// (priority-0 advert), the binding follows.
fn graceful_takeover(m: &mut Matrix) -> bool {
    let (master, backup) = roles();
    let t0 = m.phase("graceful takeover", &[]);
    lab::verb(&["stop-keepalived", &master]);
    let ok = m.expect(
        "graceful takeover",
        t0,
        Duration::from_secs(15),
        "degraded (keepalived stopped on the old master), the backup MASTER with the VIP bound",
        |c| {
            c["verdict"] == "degraded"
                && c["master"] == backup.as_str()
                && c["vip_bound_to"] == backup.as_str()
                && lab::peer(c, &master)["vrrp_state"] == "STOP"
        },
    );
    let t1 = Instant::now();
    lab::verb(&["start-keepalived", &master]);
    m.back_to_healthy(t1) && ok
}

/// keepalived killed on the master: the VIP and the MASTER state file stay
/// behind on it; the backup takes over after the master-down interval.
fn master_crashed(m: &mut Matrix) -> bool {
    let (master, backup) = roles();
    let t0 = m.phase("master crashed", &[]);
    lab::verb(&["kill-keepalived", &master]);
    let ok = m.expect(
        "master crashed",
        t0,
        Duration::from_secs(15),
        "degraded (the crashed master's VIP left on its NIC), the backup MASTER with the VIP bound",
        |c| {
            c["verdict"] == "degraded"
                && c["master"] == backup.as_str()
                && c["vip_bound_to"] == backup.as_str()
                && lab::peer(c, &master)["vrrp_state"] == "STOP"
                && lab::peer(c, &master)["vip_on_nic"] == true
        },
    );
    // Started again: BACKUP, the VIP gone from its NIC (2.x), or left
    // there (1.3.5): then vipdeck must page until the operator removes it.
    let t1 = m.phase("restart after crash", &[]);
    let ok2 = if restart_crashed(m, &master) {
        let left = m.expect(
            "restart after crash",
            t1,
            Duration::from_secs(10),
            "a page for the VIP left on the restarted backup's NIC (vip_on_both)",
            |c| {
                CRITICAL.contains(&c["verdict"].as_str().unwrap_or(""))
                    && lab::has_alert(c, "vip_on_both")
                    && lab::peer(c, &master)["vrrp_state"] == "BACKUP"
            },
        );
        let row = m.rows.last_mut().expect("a row");
        row.note = format!("keepalived left the VIP on {master}'s NIC {}", row.note);
        let t2 = Instant::now();
        remove_vip(&master);
        m.back_to_healthy(t2) && left
    } else {
        m.expect(
            "restart after crash",
            t1,
            Duration::from_secs(30),
            "healthy, the restarted node BACKUP without the VIP",
            |c| calm(c) && lab::peer(c, &master)["vrrp_state"] == "BACKUP",
        )
    };
    ok && ok2
}

/// keepalived stopped on both (the backup first, so nobody takes over).
fn no_master(m: &mut Matrix) -> bool {
    let (master, backup) = roles();
    let t0 = m.phase("no master", &["no_master"]);
    lab::verb(&["stop-keepalived", &backup]);
    lab::verb(&["stop-keepalived", &master]);
    let ok = m.expect("no master", t0, Duration::from_secs(15), "no_master", |c| {
        c["verdict"] == "no_master" && c["master"].is_null()
    });
    // Back: the old master first (MASTER after the master-down interval),
    // then the other as its BACKUP.
    let t1 = Instant::now();
    lab::verb(&["start-keepalived", &master]);
    let _ =
        m.w.try_until(Duration::from_secs(15), |c| c["master"] == master.as_str());
    lab::verb(&["start-keepalived", &backup]);
    m.back_to_healthy(t1) && ok
}

/// VRRP dropped both ways inside the backup (ssh and the cloud still
/// work): both become MASTER, the second's notify moves the binding.
fn split_brain(m: &mut Matrix) -> bool {
    let (_, backup) = roles();
    let t0 = m.phase("split brain", &["split_brain", "vip_drift"]);
    lab::verb(&["cut-vrrp", &backup]);
    let ok = m.expect(
        "split brain",
        t0,
        Duration::from_secs(15),
        "split_brain, both MASTER",
        |c| {
            c["verdict"] == "split_brain"
                && c["peers"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().all(|p| p["vrrp_state"] == "MASTER"))
        },
    );
    // The second master's notify moves the binding to it; let it finish.
    let _ = m.w.try_until(Duration::from_secs(10), |c| {
        c["vip_bound_to"] == backup.as_str()
    });
    let t1 = Instant::now();
    lab::verb(&["restore-vrrp", &backup]);
    // Equal priorities: the higher address stays MASTER. If that is not
    // where the binding went, the operator moves it (vip.py by hand).
    let settled = m.w.try_until(Duration::from_secs(10), |c| {
        c["verdict"] != "split_brain" && !c["master"].is_null()
    });
    if let Some((_, v)) = settled {
        let c = &v["clusters"][0];
        if m.mode == "eni" && c["vip_bound_to"] != c["master"] {
            if let Some(master) = lab_master() {
                let _ = lab::run(&["exec", &master, "/etc/keepalived/vip.py", "migrate"]);
            }
        }
    }
    m.back_to_healthy(t1) && ok
}

/// eni: the new master's vip.py fails (wrong key): the binding stays on the
/// old master: vip_drift.
fn eni_notify_failure(m: &mut Matrix) -> bool {
    let (master, backup) = roles();
    let t0 = m.phase("ENI notify failure", &["vip_drift"]);
    lab::verb(&["break-notify", &backup]);
    lab::verb(&["kill-keepalived", &master]);
    let ok = m.expect(
        "ENI notify failure",
        t0,
        Duration::from_secs(20),
        "vip_drift, the backup MASTER, the binding left on the old master",
        |c| {
            c["verdict"] == "vip_drift"
                && c["master"] == backup.as_str()
                && c["vip_bound_to"] == master.as_str()
        },
    );
    let t1 = Instant::now();
    lab::verb(&["fix-notify", &backup]);
    if restart_crashed(m, &master) {
        remove_vip(&master);
    }
    let _ = lab::run(&["exec", &backup, "/etc/keepalived/vip.py", "migrate"]);
    m.back_to_healthy(t1) && ok
}

/// havip: the VPC never follows the new master's GARP: converging with a
/// countdown first, vip_drift after the grace.
fn havip_not_following(m: &mut Matrix) -> bool {
    let (master, backup) = roles();
    let t0 = m.phase("HAVIP not following", &["vip_drift"]);
    lab::verb(&["break-notify", &backup]);
    lab::verb(&["kill-keepalived", &master]);
    let late = m.expect(
        "HAVIP late (grace)",
        t0,
        Duration::from_secs(10),
        "degraded converging (the HAVIP countdown), the backup MASTER",
        |c| {
            c["verdict"] == "degraded"
                && c["master"] == backup.as_str()
                && c["vip_bound_to"] == master.as_str()
                && !c["converging"].is_null()
        },
    );
    let never = m.expect(
        "HAVIP not following",
        t0,
        Duration::from_secs(25),
        "vip_drift after the grace, the HAVIP left on the old master",
        |c| {
            c["verdict"] == "vip_drift"
                && c["master"] == backup.as_str()
                && c["vip_bound_to"] == master.as_str()
        },
    );
    // The VPC follows again: announce the VIP now (an operator's arping)
    // rather than wait up to 5 s for keepalived's garp_master_refresh.
    let t1 = Instant::now();
    lab::verb(&["fix-notify", &backup]);
    let _ = lab::run(&[
        "exec",
        &backup,
        "arping",
        "-q",
        "-U",
        "-c",
        "1",
        "-I",
        "eth0",
        lab::VIP,
    ]);
    if restart_crashed(m, &master) {
        remove_vip(&master);
    }
    m.back_to_healthy(t1) && late && never
}

/// `vipdeck failover --to BACKUP --yes`: exit 0, verified, healthy on the target.
fn failover(m: &mut Matrix) -> bool {
    let (_, target) = roles();
    let t0 = m.phase("failover", &[]);
    let out = vipdeck(&["failover", "--cluster", "lab", "--to", &target, "--yes"])
        .env("VIPDECK_FAILOVER_FLAP_WINDOW_S", "0")
        .output()
        .expect("vipdeck failover runs");
    let code = out.status.code();
    let ok = m.expect(
        "failover",
        t0,
        Duration::from_secs(10),
        "healthy on the target",
        |c| calm(c) && c["master"] == target.as_str() && c["vip_bound_to"] == target.as_str(),
    );
    if code != Some(0) {
        let row = m.rows.last_mut().expect("a row");
        row.pass = false;
        let said = lab::text(&out);
        let tail: Vec<&str> = said.lines().rev().take(6).collect();
        row.note = format!(
            "failover exit {code:?}: {} {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" / "),
            row.note
        );
        println!("{}", row.line(m.version));
    }
    ok && code == Some(0)
}

// ------------------------------------------------------------ the runs

struct ModeRun {
    rows: Vec<Row>,
    transcript: Vec<String>,
    wrong_pages: Vec<String>,
    up: Duration,
    total: Duration,
}

fn run_mode(version: &'static str, mode: &'static str) -> ModeRun {
    let _lab = lab::Lab::up_with(mode, version);
    let up = _lab.up_took;
    let t0 = Instant::now();
    println!(
        "keepalived {version} {mode}: lab.sh up {:.1}s",
        up.as_secs_f64()
    );
    if mode == "eni" {
        lab::emulator_faults(r#"{"migration_delay_ms": 500}"#);
    } else {
        lab::emulator_faults(r#"{"havip_delay_ms": 500}"#);
    }
    write_matrix_config();
    let mut m = Matrix::new(version, mode);
    let scenarios: &[Scenario] = if mode == "eni" {
        &[
            ("healthy", healthy),
            ("stale state file", stale_state_file),
            ("graceful takeover", graceful_takeover),
            ("master crashed", master_crashed),
            ("no master", no_master),
            ("split brain", split_brain),
            ("ENI notify failure", eni_notify_failure),
            ("failover", failover),
        ]
    } else {
        &[
            ("healthy", healthy),
            ("HAVIP not following", havip_not_following),
            ("failover", failover),
        ]
    };
    m.run(scenarios);
    let (transcript, wrong_pages) = m.transcript();
    let rows = std::mem::take(&mut m.rows);
    drop(m);
    drop(_lab);
    ModeRun {
        rows,
        transcript,
        wrong_pages,
        up,
        total: up + t0.elapsed(),
    }
}

fn run_version(version: &'static str) {
    lab::require_root();
    let runs = [run_mode(version, "eni"), run_mode(version, "havip")];
    let total = runs[0].total + runs[1].total;

    for (r, mode) in runs.iter().zip(["eni", "havip"]) {
        println!("\nkeepalived {version} {mode}: status --watch transcript");
        for l in &r.transcript {
            println!("  {l}");
        }
    }
    println!("\nkeepalived {version}: the matrix rows\n{HEADER}");
    for r in runs.iter().flat_map(|r| &r.rows) {
        println!("{}", r.line(version));
    }
    println!(
        "keepalived {version}: lab.sh up {:.1}s (eni) {:.1}s (havip); eni run {:.1}s, havip run {:.1}s; total {:.1}s",
        runs[0].up.as_secs_f64(),
        runs[1].up.as_secs_f64(),
        runs[0].total.as_secs_f64(),
        runs[1].total.as_secs_f64(),
        total.as_secs_f64()
    );

    let mut failures: Vec<String> = runs
        .iter()
        .flat_map(|r| &r.rows)
        .filter(|r| !r.pass)
        .map(|r| r.line(version))
        .collect();
    for r in &runs {
        failures.extend(
            r.wrong_pages
                .iter()
                .map(|l| format!("paged outside its scenario: {l}")),
        );
    }
    assert!(
        failures.is_empty(),
        "keepalived {version}: {} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn keepalived_1_2_24() {
    run_version("1.2.24");
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn keepalived_1_3_5() {
    run_version("1.3.5");
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn keepalived_2_0_19() {
    run_version("2.0.19");
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn keepalived_2_1_5() {
    run_version("2.1.5");
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn keepalived_2_2_4() {
    run_version("2.2.4");
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn keepalived_2_2_7() {
    run_version("2.2.7");
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn keepalived_2_2_8() {
    run_version("2.2.8");
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn keepalived_2_3_4() {
    run_version("2.3.4");
}
