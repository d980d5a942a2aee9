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
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.args(args)
        .args(["--config", CONFIG])
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
