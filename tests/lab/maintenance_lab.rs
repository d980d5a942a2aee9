//! `vipdeck maintenance` on the real-keepalived lab: a window started by
//! one vipdeck shows on a second vipdeck and through a collector; a real
//! Alertmanager (the Debian package, started here on loopback and ended by
//! its pid) receives, lists and expires the silence; a window past its end
//! is shown as expired, and its silence has ended with it.
//!
//! Needs root (the lab; Alertmanager is installed by
//! scripts/install-lab-deps.sh). Holds /tmp/vdlab-tests.lock.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{self, text, Lab};

/// A process this test started, killed by its pid and reaped when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .args(args)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `vipdeck ARGS` on the lab's config with `[alertmanager]` added.
fn vipdeck_am(config: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("TENCENTCLOUD_CREDENTIALS_FILE", support::CREDENTIALS)
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .env(
            "VIPDECK_DATA_DIR",
            format!("{}/vipdeck-data", support::LAB_ROOT),
        )
        .stdin(Stdio::null())
        .output()
        .expect("vipdeck")
}

fn status_of(out: &Output) -> Value {
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)));
    v["clusters"][0].clone()
}

/// Polls `read` until `pred` holds on it, or fails with the last value.
fn until(
    what: &str,
    within: Duration,
    read: impl Fn() -> Value,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let v = read();
        if pred(&v) {
            return v;
        }
        if start.elapsed() > within {
            panic!(
                "{what} not seen within {within:?}; last: {v}\n{}",
                support::diagnostics()
            );
        }
        sleep(Duration::from_millis(500));
    }
}

fn silence(am: &str, id: &str) -> Value {
    serde_json::from_str(&curl(&[&format!("{am}/api/v2/silence/{id}")])).unwrap_or_default()
}

fn silence_id(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix("Alertmanager silence ")
                .and_then(|r| r.strip_suffix(" created"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no silence created: {}", text(out)))
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn a_window_shows_everywhere_silences_alertmanager_and_expires() {
    support::require_root();
    let _lab = Lab::up("havip");
    let dir = tempfile::tempdir().expect("tempdir");

    // A real Alertmanager on loopback, clustering off.
    let port = free_port();
    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_config,
        "route: {receiver: nobody}\nreceivers: [{name: nobody}]\n",
    )
    .expect("alertmanager.yml");
    let am_log = std::fs::File::create(dir.path().join("alertmanager.log")).expect("log");
    let _am = Proc(
        Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", am_config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("am").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(am_log)
            .spawn()
            .expect("prometheus-alertmanager (scripts/install-lab-deps.sh installs it)"),
    );
    let am = format!("http://127.0.0.1:{port}");
    until(
        "Alertmanager ready",
        Duration::from_secs(30),
        || Value::from(curl(&[&format!("{am}/-/ready")])),
        |v| v.as_str().is_some_and(|s| s.contains("OK")),
    );
    let config = dir.path().join("vipdeck.toml");
    let lab_config = std::fs::read_to_string(support::CONFIG).expect("lab config");
    std::fs::write(
        &config,
        format!("{lab_config}\n[alertmanager]\nurl = \"{am}\"\n"),
    )
    .expect("config");

    // A collector, watching before the window opens.
    let mut serve = support::vipdeck(&["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("vipdeck serve");
    let mut first = String::new();
    BufReader::new(serve.stderr.take().expect("stderr"))
        .read_line(&mut first)
        .expect("serve's first line");
    let _serve = Proc(serve);
    let collector = format!(
        "http://{}",
        first
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {first:?}"))
    );

    // One vipdeck opens a window.
    let out = vipdeck_am(
        &config,
        &[
            "maintenance",
            "start",
            "--cluster",
            "lab",
            "--for",
            "2h",
            "--reason",
            "lab kernel update",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let id = silence_id(&out);

    // A second vipdeck sees it on the peers.
    let c = status_of(
        &support::vipdeck(&["status", "--json"])
            .output()
            .expect("status"),
    );
    assert_eq!(c["maintenance"]["state"], "active", "{c}");
    assert_eq!(c["maintenance"]["reason"], "lab kernel update", "{c}");
    assert_eq!(c["maintenance"]["silence_id"], id.as_str(), "{c}");
    // And so does a face attached to the collector, at its next poll.
    until(
        "the window through the collector",
        Duration::from_secs(20),
        || {
            status_of(
                &support::vipdeck(&["status", "--json", "--attach", &collector])
                    .output()
                    .expect("status --attach"),
            )
        },
        |c| c["maintenance"]["state"] == "active",
    );
    // Alertmanager holds the silence, on the cluster's label.
    let s = silence(&am, &id);
    assert_eq!(s["status"]["state"], "active", "{s}");
    assert!(
        s["matchers"].to_string().contains("\"value\":\"lab\""),
        "{s}"
    );
    let listed = curl(&[&format!("{am}/api/v2/silences")]);
    assert!(listed.contains(&id), "{listed}");

    // Ending the window expires the silence.
    let out = vipdeck_am(&config, &["maintenance", "end", "--cluster", "lab"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(silence(&am, &id)["status"]["state"], "expired");
    let c = status_of(
        &support::vipdeck(&["status", "--json"])
            .output()
            .expect("status"),
    );
    assert!(c["maintenance"].is_null(), "{c}");

    // A short window expires on its own: shown as expired, its silence ended.
    let out = vipdeck_am(
        &config,
        &[
            "maintenance",
            "start",
            "--cluster",
            "lab",
            "--for",
            "1m",
            "--reason",
            "short",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let id = silence_id(&out);
    let c = until(
        "the window expired",
        Duration::from_secs(100),
        || {
            status_of(
                &support::vipdeck(&["status", "--json"])
                    .output()
                    .expect("status"),
            )
        },
        |c| c["maintenance"]["state"] == "expired",
    );
    assert!(
        c["alerts"].to_string().contains("maintenance_expired"),
        "{c}"
    );
    until(
        "the silence expired",
        Duration::from_secs(20),
        || silence(&am, &id),
        |s| s["status"]["state"] == "expired",
    );
    let check = support::vipdeck(&["check"]).output().expect("check");
    let line = String::from_utf8_lossy(&check.stdout).to_string();
    assert!(
        line.contains("MAINTENANCE EXPIRED") && line.contains("'lab_maintenance'=0"),
        "{line}"
    );
    // Ending an expired window works, the silence being over already.
    let out = vipdeck_am(&config, &["maintenance", "end", "--cluster", "lab"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("WARNING"),
        "{}",
        text(&out)
    );
}

/// `failover --wait-healthy` with keepalived stopped on the backup: it
/// waits, saying the check that blocks, and goes on once keepalived is
/// back and the backup is BACKUP again; the move is verified.
#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn wait_healthy_waits_through_a_stopped_backup_and_proceeds_when_it_is_back() {
    use crate::failover_lab::short;
    use std::io::Read;
    support::require_root();
    let lab = Lab::up("havip");
    let (m, b) = (lab.master.clone(), lab.backup.clone());
    support::verb(&["stop-keepalived", short(&b)]);
    let mut child = support::vipdeck(&[
        "failover",
        "--cluster",
        "lab",
        "--to",
        &b,
        "--yes",
        "--wait-healthy",
        "3m",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("vipdeck failover");
    let stderr = child.stderr.take().expect("stderr");
    let stdout = child.stdout.take().expect("stdout");
    // Killed and reaped if the test ends early (std never signals a child
    // it has reaped).
    let mut child = Proc(child);
    let mut err = BufReader::new(stderr);
    let mut seen = String::new();
    let mut line = String::new();
    let start = Instant::now();
    while err.read_line(&mut line).unwrap_or(0) > 0 {
        seen.push_str(&line);
        if line.contains("--wait-healthy: waiting") {
            break;
        }
        line.clear();
        assert!(start.elapsed() < Duration::from_secs(60), "{seen}");
    }
    assert!(
        seen.contains("target_keepalived_running"),
        "waits on the stopped backup: {seen}"
    );
    // Still waiting a few seconds on: nothing moved.
    sleep(Duration::from_secs(3));
    assert!(child.0.try_wait().expect("try_wait").is_none(), "{seen}");
    assert_eq!(crate::failover_lab::state(&m), "MASTER");
    support::verb(&["start-keepalived", short(&b)]);
    let back = Instant::now();
    let mut rest = String::new();
    err.read_to_string(&mut rest).ok();
    let mut out = String::new();
    BufReader::new(stdout).read_to_string(&mut out).ok();
    let status = child.0.wait().expect("ends");
    assert_eq!(
        status.code(),
        Some(0),
        "{seen}{rest}\n{out}\n{}",
        support::diagnostics()
    );
    assert!(rest.contains("the checks pass now"), "{seen}{rest}");
    assert!(
        back.elapsed() < Duration::from_secs(120),
        "went on {:?} after the backup was back",
        back.elapsed()
    );
    assert_eq!(crate::failover_lab::state(&b), "MASTER", "{out}");
}
