//! Shared by the lab tests: bring the real-keepalived lab (tests/lab/lab.sh)
//! up under the one-lab-at-a-time lock, run its verbs, and take it down
//! whatever happens. Use with `use crate::support as lab;`.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const LAB_ROOT: &str = "/tmp/vdlab";
pub const CONFIG: &str = "/tmp/vdlab/vipdeck.toml";
/// The same two hosts in two clusters (`lab` and `lab2`).
pub const CONFIG_TWO: &str = "/tmp/vdlab/vipdeck-two.toml";
pub const CREDENTIALS: &str = "/tmp/vdlab/credentials";
/// The lab config plus the data-plane probe through the lab VPC (written by
/// `lab.sh up` when the emulator runs): `http://VIP:8080/health`.
pub const CONFIG_PROBE: &str = "/tmp/vdlab/vipdeck-probe.toml";
/// `probe_interval_ms` of [`CONFIG_PROBE`].
pub const PROBE_INTERVAL_MS: i64 = 500;
/// The client loop's log: `EPOCH_MS ok NODE` / `EPOCH_MS fail REASON`.
pub const CLIENT_LOOP_LOG: &str = "/tmp/vdlab/client-loop.log";
/// The client loop's period (tests/lab/client.py).
pub const CLIENT_PERIOD_MS: i64 = 100;
/// The lab VPC's route changes: `EPOCH_MS NODE ENI` (NODE `none` when unbound).
pub const VPC_ROUTE_LOG: &str = "/tmp/vdlab/vpc-route.log";
pub const TEST_LOCK: &str = "/tmp/vdlab-tests.lock";
pub const VIP: &str = "198.51.100.100";
/// The cloud emulator of a lab brought up with `--cloudsim-bin`.
pub const EMULATOR: &str = "http://198.51.100.1:18080";

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab.sh")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Every lab test starts here. Lab tests are `#[ignore]`d, so a plain
/// `cargo test` lists them as ignored; they run when asked for
/// (`-- --ignored`, as scripts/test.sh does as root), and then a missing
/// root is a failure, never a silent pass.
pub fn require_root() {
    assert!(
        is_root(),
        "lab tests need root and network namespaces: sudo -E cargo test --test lab -- --ignored"
    );
}

pub fn run(args: &[&str]) -> Output {
    Command::new(script())
        .args(args)
        .env_remove("VIPDECK_BIN")
        .env_remove("VDLAB_ROOT")
        .output()
        .expect("runs tests/lab/lab.sh")
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs a lab verb and fails the test if it fails.
pub fn verb(args: &[&str]) -> String {
    let out = run(args);
    assert!(out.status.success(), "lab.sh {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lab, up in `mode` with the emulator, for as long as this lives:
/// holds the lock, and runs `down` when dropped.
pub struct Lab {
    _lock: File,
    pub master: String,
    pub backup: String,
    /// How long `lab.sh up` took (not the wait for the lock).
    pub up_took: Duration,
}

impl Lab {
    pub fn up(mode: &str) -> Lab {
        Lab::start(mode, None, None)
    }

    /// The lab on another keepalived release of the matrix (`1.3.5`, or
    /// `2.2.7` for Debian's): `lab.sh up --keepalived VERSION`, which
    /// builds it on a cache miss (tests/lab/keepalived-build.sh).
    pub fn up_with(mode: &str, keepalived_version: &str) -> Lab {
        Lab::start(mode, Some(keepalived_version), None)
    }

    /// The lab whose nodes' tools are busybox's applets (`--userland busybox`).
    pub fn up_busybox(mode: &str) -> Lab {
        Lab::start(mode, None, Some("busybox"))
    }

    fn start(mode: &str, keepalived_version: Option<&str>, userland: Option<&str>) -> Lab {
        let lock = File::create(TEST_LOCK).expect("create the lab test lock");
        lock.lock().expect("lock the lab test lock");
        let mut args = vec![
            "up",
            "--mode",
            mode,
            "--cloudsim-bin",
            env!("CARGO_BIN_EXE_vipdeck"),
        ];
        if let Some(v) = keepalived_version {
            args.extend(["--keepalived", v]);
        }
        if let Some(u) = userland {
            args.extend(["--userland", u]);
        }
        let t0 = Instant::now();
        let out = run(&args);
        let up_took = t0.elapsed();
        if !out.status.success() {
            let _ = run(&["down"]);
            panic!("lab.sh up failed: {}", text(&out));
        }
        let master = verb(&["wait-master", "10"]).trim().to_string();
        let backup = if master == "vdlab-a" {
            "vdlab-b"
        } else {
            "vdlab-a"
        }
        .to_string();
        Lab {
            _lock: lock,
            master,
            backup,
            up_took,
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let out = run(&["down"]);
        if !out.status.success() {
            eprintln!("lab.sh down failed: {}", text(&out));
        }
    }
}

/// `vipdeck ARGS --config <lab config>` with the lab's credentials.
pub fn vipdeck(args: &[&str]) -> Command {
    vipdeck_with(CONFIG, args)
}

/// [`vipdeck`] with the lab config that probes the VIP through the lab VPC.
pub fn vipdeck_probe(args: &[&str]) -> Command {
    vipdeck_with(CONFIG_PROBE, args)
}

fn vipdeck_with(config: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.args(args)
        .args(["--config", config])
        .env("TENCENTCLOUD_CREDENTIALS_FILE", CREDENTIALS)
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .env("VIPDECK_DATA_DIR", format!("{LAB_ROOT}/vipdeck-data"));
    c
}

/// What the lab looked like, for a failing test's message: `lab.sh
/// status`, the tail of each node's notify/vip.py log and of the emulator's.
pub fn diagnostics() -> String {
    let mut out = String::new();
    out.push_str(&text(&run(&["status"])));
    for node in ["vdlab-a", "vdlab-b"] {
        let log = run(&["exec", node, "tail", "-n", "25", "/var/log/keepalived.log"]);
        out.push_str(&format!(
            "\n--- {node} /var/log/keepalived.log\n{}",
            String::from_utf8_lossy(&log.stdout)
        ));
    }
    let sim = std::fs::read_to_string(format!("{LAB_ROOT}/cloudsim.log")).unwrap_or_default();
    let tail: Vec<&str> = sim.lines().rev().take(25).collect();
    out.push_str("\n--- cloudsim.log (last lines)\n");
    for l in tail.iter().rev() {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// `vipdeck status --watch --json` running against the lab: every line
/// kept, with when it was printed.
pub struct Watch {
    child: Child,
    lines: Receiver<(Instant, Value)>,
    /// The last line printed (the whole report).
    pub last: Option<Value>,
    /// Every line's lab cluster (`clusters[0]`), in order, with when it was printed.
    pub seen: Vec<(Instant, Value)>,
}

impl Watch {
    /// `status --watch --json` with the lab's config and credentials.
    pub fn start() -> Watch {
        Watch::spawn(vipdeck(&["status", "--watch", "--json"]))
    }

    /// A `status --watch --json` command of the caller's making.
    pub fn spawn(mut cmd: Command) -> Watch {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("vipdeck status --watch");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line).expect("each --watch line is JSON");
                if tx.send((Instant::now(), v)).is_err() {
                    return;
                }
            }
        });
        Watch {
            child,
            lines: rx,
            last: None,
            seen: Vec::new(),
        }
    }

    /// The next line, if one is printed within `within`.
    pub fn next(&mut self, within: Duration) -> Option<(Instant, Value)> {
        let (at, v) = self.lines.recv_timeout(within).ok()?;
        self.seen.push((at, v["clusters"][0].clone()));
        self.last = Some(v.clone());
        Some((at, v))
    }

    /// Takes every line printed so far without waiting.
    pub fn drain(&mut self) {
        while self.next(Duration::ZERO).is_some() {}
    }

    /// The first line (the last one printed, if it already does) whose lab
    /// cluster satisfies `pred`, and when it was printed; `None` after `timeout`.
    pub fn try_until(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<(Instant, Value)> {
        if let Some(v) = &self.last {
            if pred(&v["clusters"][0]) {
                return Some((Instant::now(), v.clone()));
            }
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, v) = self.next(left)?;
            if pred(&v["clusters"][0]) {
                return Some((at, v));
            }
        }
    }

    /// [`Watch::try_until`], failing the test with the last snapshot and the
    /// lab's diagnostics when `what` is not seen within `timeout`.
    pub fn until(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> (Instant, Value) {
        match self.try_until(timeout, pred) {
            Some(hit) => hit,
            None => panic!(
                "not seen within {timeout:?}: {what}\nlast snapshot: {:#}\n{}",
                self.last
                    .as_ref()
                    .map(|v| v["clusters"][0].clone())
                    .unwrap_or_default(),
                diagnostics()
            ),
        }
    }

    /// The verdict of every line so far.
    pub fn verdicts_seen(&self) -> Vec<String> {
        self.seen
            .iter()
            .map(|(_, c)| c["verdict"].as_str().unwrap_or("?").to_string())
            .collect()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A peer of a cluster in `status --json` by name (null when absent).
pub fn peer<'a>(c: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    c["peers"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or(&serde_json::Value::Null)
}

/// Whether a cluster in `status --json` has an alert with `code`.
pub fn has_alert(c: &serde_json::Value, code: &str) -> bool {
    c["alerts"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x["code"] == code))
}

/// Sets the emulator's faults and delays (`POST /admin/faults`).
pub fn emulator_faults(body: &str) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "3", "-X", "POST"])
        .args(["-H", "Content-Type: application/json", "-d", body])
        .arg(format!("{EMULATOR}/admin/faults"))
        .output()
        .expect("curl");
    assert!(out.status.success(), "{}", text(&out));
}

/// One request of the lab client's loop: when it was sent (epoch ms),
/// whether it was answered, and the node that answered or why not.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSample {
    pub ms: i64,
    pub ok: bool,
    /// The answering node (`ok`) or the failure's reason.
    pub what: String,
}

/// Parses the client loop's log, in send order (a request's line is
/// written when it ends, so a timeout's comes late); a line cut short by
/// a kill is skipped.
pub fn parse_client_loop(text: &str) -> Vec<ClientSample> {
    let mut samples: Vec<ClientSample> = text
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let ms = w.next()?.parse().ok()?;
            let ok = match w.next()? {
                "ok" => true,
                "fail" => false,
                _ => return None,
            };
            let what = w.next()?.to_string();
            Some(ClientSample { ms, ok, what })
        })
        .collect();
    samples.sort_by_key(|s| s.ms);
    samples
}

/// When the newest request of `samples` was sent (0 when none).
pub fn last_sent_ms(samples: &[ClientSample]) -> i64 {
    samples.last().map(|s| s.ms).unwrap_or(0)
}

/// The samples sent after `ms` (samples in send order).
pub fn sent_after(samples: &[ClientSample], ms: i64) -> &[ClientSample] {
    &samples[samples.partition_point(|s| s.ms <= ms)..]
}

/// The client loop's log as it is now.
pub fn client_loop_samples() -> Vec<ClientSample> {
    parse_client_loop(&std::fs::read_to_string(CLIENT_LOOP_LOG).unwrap_or_default())
}

/// A run of failed requests: from the first failure's send time to the
/// send time of the first answer after it (`None` while still failing).
#[derive(Debug, Clone, PartialEq)]
pub struct FailureRun {
    pub first_fail_ms: i64,
    pub recovered_ms: Option<i64>,
    pub failures: usize,
}

impl FailureRun {
    /// How long clients got no answer, as the loop saw it (to its last
    /// failure when it never recovered).
    pub fn duration_ms(&self, samples: &[ClientSample]) -> i64 {
        let end = self
            .recovered_ms
            .unwrap_or_else(|| samples.last().map(|s| s.ms).unwrap_or(self.first_fail_ms));
        end - self.first_fail_ms
    }
}

/// Every run of consecutive failures, in order.
pub fn failure_runs(samples: &[ClientSample]) -> Vec<FailureRun> {
    let mut runs: Vec<FailureRun> = Vec::new();
    let mut open: Option<FailureRun> = None;
    for s in samples {
        if s.ok {
            if let Some(mut r) = open.take() {
                r.recovered_ms = Some(s.ms);
                runs.push(r);
            }
        } else if let Some(r) = open.as_mut() {
            r.failures += 1;
        } else {
            open = Some(FailureRun {
                first_fail_ms: s.ms,
                recovered_ms: None,
                failures: 1,
            });
        }
    }
    runs.extend(open);
    runs
}

/// The longest run of failures (the client-visible interruption).
pub fn longest_failure_run(samples: &[ClientSample]) -> Option<FailureRun> {
    failure_runs(samples)
        .into_iter()
        .max_by_key(|r| r.duration_ms(samples))
}

/// `lab.sh client-loop start` for as long as this lives (stopped on drop).
pub struct ClientLoop;

impl ClientLoop {
    pub fn start() -> ClientLoop {
        verb(&["client-loop", "start"]);
        ClientLoop
    }

    /// Waits until the loop logged `n` answers in a row (panics after `within`).
    pub fn wait_answers(&self, n: usize, within: Duration) -> Vec<ClientSample> {
        let deadline = Instant::now() + within;
        loop {
            let s = client_loop_samples();
            if s.len() >= n && s[s.len() - n..].iter().all(|x| x.ok) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the client loop got no {n} answers in a row within {within:?}: {:?}\n{}",
                s.iter().rev().take(5).collect::<Vec<_>>(),
                diagnostics()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ClientLoop {
    fn drop(&mut self) {
        let _ = run(&["client-loop", "stop"]);
    }
}

/// The lab VPC's route changes: (epoch ms, node or `none`).
pub fn vpc_routes() -> Vec<(i64, String)> {
    std::fs::read_to_string(VPC_ROUTE_LOG)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.parse().ok()?, w.next()?.to_string()))
        })
        .collect()
}

/// Epoch milliseconds of an RFC 3339 time in vipdeck's JSON.
pub fn epoch_ms(v: &Value) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "1000 ok vdlab-a\n1100 ok vdlab-a\n2300 fail unreachable\n\
        1200 fail timeout\n2400 ok vdlab-b\n2500 fail refused\n2600 ok vdlab-b\n2700 fa";

    #[test]
    fn the_client_loop_log_is_read_in_send_order_and_a_cut_line_skipped() {
        let s = parse_client_loop(LOG);
        assert_eq!(s.len(), 7);
        assert_eq!(
            s[3],
            ClientSample {
                ms: 2300,
                ok: false,
                what: "unreachable".into()
            }
        );
    }

    #[test]
    fn the_longest_failure_run_ends_at_the_first_answer() {
        let s = parse_client_loop(LOG);
        let runs = failure_runs(&s);
        assert_eq!(runs.len(), 2);
        let r = longest_failure_run(&s).expect("a run");
        assert_eq!(
            (r.first_fail_ms, r.recovered_ms, r.failures),
            (1200, Some(2400), 2)
        );
        assert_eq!(r.duration_ms(&s), 1200);
    }

    #[test]
    fn a_run_that_has_not_recovered_lasts_to_the_last_failure() {
        let s = parse_client_loop("1 ok a\n100 fail timeout\n1200 fail timeout\n");
        let r = longest_failure_run(&s).expect("a run");
        assert_eq!((r.recovered_ms, r.duration_ms(&s)), (None, 1100));
        assert!(longest_failure_run(&parse_client_loop("1 ok a\n")).is_none());
    }
}
