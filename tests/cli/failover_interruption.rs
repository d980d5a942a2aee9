//! The interruption as clients saw it, measured during a failover: a
//! loopback HTTP service this test controls stands for the service behind
//! the VIP (`VIPDECK_DEMO_PROBE`), the failover is practised on the demo's
//! simulated peers, and the service stops answering while it runs. The
//! command, its audit record and the wizard name the interruption with a
//! duration that fits what the test did, within the probe's interval.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::tmux_pane::{vipdeck_cmd, Pane};

/// How often the demo's probe asks the service, in milliseconds.
const INTERVAL_MS: u64 = 200;
/// How long the service stops answering.
const DOWN_FOR: Duration = Duration::from_millis(1200);

/// A service on 127.0.0.1 that answers 200 naming its node (`pay-b`
/// before an outage, `pay-a` after one), or 503 while `down`.
struct Service {
    port: u16,
    down: Arc<AtomicBool>,
    /// Good answers given so far.
    answered: AtomicUsize,
    /// When it went down and came back, as the test did it.
    outage: Mutex<Option<(Instant, Instant)>>,
}

impl Service {
    fn start() -> Arc<Service> {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let svc = Arc::new(Service {
            port: listener.local_addr().expect("addr").port(),
            down: Arc::new(AtomicBool::new(false)),
            answered: AtomicUsize::new(0),
            outage: Mutex::new(None),
        });
        let s = svc.clone();
        // The thread ends with the test process; the listener is loopback.
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let mut buf = [0; 1024];
                let _ = conn.read(&mut buf);
                let answer: &[u8] = if s.down.load(Ordering::SeqCst) {
                    b"HTTP/1.1 503 Service Unavailable\r\n\r\n"
                } else if s.outage.lock().expect("lock").is_some() {
                    s.answered.fetch_add(1, Ordering::SeqCst);
                    b"HTTP/1.1 200 OK\r\nX-Node: pay-a\r\n\r\nok\n"
                } else {
                    s.answered.fetch_add(1, Ordering::SeqCst);
                    b"HTTP/1.1 200 OK\r\nX-Node: pay-b\r\n\r\nok\n"
                };
                let _ = conn.write_all(answer);
            }
        });
        svc
    }

    /// Stops answering for [`DOWN_FOR`], in the background, once the
    /// probe has had a good answer (so there is a "before" to measure from).
    fn outage(self: &Arc<Self>) -> std::thread::JoinHandle<()> {
        let s = self.clone();
        std::thread::spawn(move || {
            let asked = Instant::now();
            while s.answered.load(Ordering::SeqCst) == 0
                && asked.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            s.down.store(true, Ordering::SeqCst);
            let from = Instant::now();
            std::thread::sleep(DOWN_FOR);
            *s.outage.lock().expect("lock") = Some((from, Instant::now()));
            s.down.store(false, Ordering::SeqCst);
        })
    }

    /// How long the outage lasted.
    fn down_for(&self) -> Duration {
        let (from, to) = self.outage.lock().expect("lock").expect("an outage");
        to - from
    }

    fn probe(&self) -> String {
        format!("http://127.0.0.1:{}/health", self.port)
    }
}

/// The measured interruption in `text` (`clients: interrupted 1.2 s`).
fn measured(text: &str) -> Option<Duration> {
    let re = regex::Regex::new(r"clients: interrupted (\d+\.\d) s").expect("regex");
    let secs: f64 = re.captures(text)?[1].parse().ok()?;
    Some(Duration::from_secs_f64(secs))
}

/// The measurement fits the outage the test made: the first failed probe
/// comes at most an interval (plus jitter) after it began, the first good
/// one at most an interval after it ended, and a loaded machine delays a
/// probe a little more: two intervals either way.
fn assert_fits(got: Duration, made: Duration, text: &str) {
    let slack = Duration::from_millis(2 * INTERVAL_MS);
    assert!(
        got + slack >= made && got <= made + slack,
        "measured {got:?} for an outage of {made:?}:\n{text}"
    );
}

/// `vipdeck failover --demo --cluster CLUSTER --to TO --yes` on a fresh
/// data dir, probing `svc` (or, without one, the simulator's data plane).
fn demo_failover(dir: &std::path::Path, svc: Option<&Service>, cluster: &str, to: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.env("VIPDECK_DATA_DIR", dir)
        .env_remove("VIPDECK_CONFIG")
        .args([
            "failover",
            "--demo",
            "--cluster",
            cluster,
            "--to",
            to,
            "--yes",
        ]);
    match svc {
        Some(svc) => c
            .env("VIPDECK_DEMO_PROBE", svc.probe())
            .env("VIPDECK_DEMO_PROBE_INTERVAL_MS", INTERVAL_MS.to_string()),
        None => c.env_remove("VIPDECK_DEMO_PROBE"),
    };
    c
}

#[test]
fn failover_names_the_interruption_the_probe_saw_and_records_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let svc = Service::start();
    let mut child = demo_failover(dir.path(), Some(&svc), "pay", "pay-a")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let mut stdout = child.stdout.take().expect("stdout");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    // The outage starts with the step that stops the old master.
    let mut stderr = String::new();
    let mut outage = None;
    for line in BufReader::new(child.stderr.take().expect("stderr")).lines() {
        let line = line.expect("a line");
        if outage.is_none() && line.contains("stop keepalived on pay-b") {
            outage = Some(svc.outage());
        }
        stderr.push_str(&line);
        stderr.push('\n');
    }
    let status = child.wait().expect("exits");
    let stdout = out_reader.join().expect("stdout read");
    outage.expect("the stop step ran").join().expect("outage");
    assert_eq!(status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("Outcome: moved and verified"), "{stdout}");
    let got = measured(&stdout).unwrap_or_else(|| panic!("no interruption said:\n{stdout}"));
    assert_fits(got, svc.down_for(), &stdout);
    assert!(
        stdout.contains("answered by pay-b before, pay-a after"),
        "{stdout}"
    );
    assert!(!stdout.contains("WARNING clients"), "{stdout}");

    // The audit record carries it, for scripts (`vipdeck audit --json`).
    let recs = crate::failover_rehearsal::records(dir.path());
    let done = recs
        .iter()
        .find(|r| r["outcome"] == "moved_verified")
        .unwrap_or_else(|| panic!("{recs:?}"));
    let clients = &done["clients"];
    assert_eq!(clients["seen"], "interrupted", "{clients}");
    let ms = clients["duration_ms"].as_u64().expect("duration_ms");
    assert_fits(
        Duration::from_millis(ms),
        svc.down_for(),
        &clients.to_string(),
    );
    assert!(
        clients["failed_probes"].as_u64().is_some_and(|n| n >= 1),
        "{clients}"
    );
    assert_eq!(clients["node_after"], "pay-a", "{clients}");

    // The incident record of a window holding that failover shows what it
    // measured, from the audit trail: the record, moved to a cluster of a
    // config (two local peers), in the real trail's place.
    let mut rec = done.clone();
    rec["cluster"] = "t".into();
    let data = dir.path().join("real");
    std::fs::create_dir_all(&data).expect("data dir");
    std::fs::write(data.join("audit.jsonl"), format!("{rec}\n")).expect("trail");
    let config = crate::dataplane_cli::config(dir.path(), &svc.probe());
    let out = Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .env("VIPDECK_DATA_DIR", &data)
        .env_remove("VIPDECK_CONFIG")
        .arg("--config")
        .arg(&config)
        .args(["incident", "--cluster", "t", "--since", "10m"])
        .output()
        .expect("runs");
    let md = String::from_utf8_lossy(&out.stdout);
    let section = md
        .split("## Clients (the data-plane probe)")
        .nth(1)
        .unwrap_or_else(|| panic!("{md}\n{}", String::from_utf8_lossy(&out.stderr)));
    let failover_line = section
        .lines()
        .find(|l| l.starts_with("- Failover pay-b → pay-a at "))
        .unwrap_or_else(|| panic!("{md}"));
    let got = measured(failover_line).unwrap_or_else(|| panic!("{md}"));
    // The same measurement, said to a tenth of a second.
    assert!(
        got.as_millis().abs_diff(u128::from(ms)) <= 100,
        "{ms} ms recorded: {failover_line}"
    );
    // The incident command probes for a few seconds only: it claims
    // nothing for the ten minutes before it.
    assert!(
        section.contains("Window: clients: not measured"),
        "{section}"
    );
}

/// A service that does not come back: the failover is verified on the
/// control plane, and the summary says plainly that clients still get no
/// answer, never that all is well.
#[test]
fn failover_warns_when_the_vip_still_does_not_answer() {
    let dir = tempfile::tempdir().expect("tmp");
    let svc = Service::start();
    svc.down.store(true, Ordering::SeqCst);
    let out = demo_failover(dir.path(), Some(&svc), "web", "havip-01")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("WARNING clients: the VIP still does not answer"),
        "{stdout}"
    );
    let recs = crate::failover_rehearsal::records(dir.path());
    assert!(
        recs.iter().any(|r| r["clients"]["seen"] == "still_down"),
        "{recs:?}"
    );
    // Without VIPDECK_DEMO_PROBE the demo's own data plane is measured:
    // the VIP is silent from the old master's stop until the cloud binds
    // the new one (the simulator's 2 s cloud delay).
    let out = demo_failover(dir.path(), None, "pay", "pay-a")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let got = measured(&stdout).unwrap_or_else(|| panic!("no interruption said:\n{stdout}"));
    let secs = got.as_secs_f64();
    assert!((1.0..=6.0).contains(&secs), "{secs} s: {stdout}");
    assert!(!stdout.contains("no probe configured"), "{stdout}");
}

/// The wizard (the demo's `m`) shows the same line on its last screen.
#[test]
fn the_wizard_shows_the_interruption_in_tmux() {
    let dir = tempfile::tempdir().expect("tmp");
    let svc = Service::start();
    let cmd = format!(
        "env VIPDECK_DEMO_PROBE={} VIPDECK_DEMO_PROBE_INTERVAL_MS={INTERVAL_MS} {}",
        svc.probe(),
        vipdeck_cmd(dir.path(), "demo")
    );
    let t = Pane::start("interruption", 160, 45, &cmd);
    t.wait_for_text("healthy");
    t.keys(&[":"]);
    t.type_text("pay");
    t.keys(&["Enter"]);
    t.wait_for_text("MASTER pay-b");
    t.keys(&["m"]);
    t.wait_for_text("Type the target peer's name (pay-a)");
    t.type_text("pay-a");
    t.keys(&["Enter"]);
    svc.outage().join().expect("outage");
    let s = t.wait_for_text("Enter or Esc: back to the dashboard");
    assert!(s.contains("Outcome: moved and verified"), "{s}");
    let got = measured(&s).unwrap_or_else(|| panic!("no interruption said:\n{s}"));
    assert_fits(got, svc.down_for(), &s);
}

/// `rehearse` predicts the interruption clients will see, within the
/// predicted switchover, says what it rests on, and what the probe
/// measured before (here: nothing yet, on a fresh data dir).
#[test]
fn rehearse_predicts_the_clients_interruption() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .env("VIPDECK_DATA_DIR", dir.path())
        .env_remove("VIPDECK_CONFIG")
        .env_remove("VIPDECK_DEMO_PROBE")
        .args(["rehearse", "--demo", "--cluster", "web", "--to", "havip-01"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let num = |re: &str| -> f64 {
        let re = regex::Regex::new(re).expect("regex");
        re.captures(&stdout)
            .and_then(|c| c[1].parse().ok())
            .unwrap_or_else(|| panic!("{re}: {stdout}"))
    };
    let clients = num(r"Predicted client interruption: about (\d+\.\d) s \(the twin's steps");
    let switchover = num(r"Predicted switchover \(confirm → verified\): (\d+\.\d+)s");
    assert!(
        clients > 0.0 && clients <= switchover + 0.05,
        "{clients} of {switchover}: {stdout}"
    );
    assert!(
        stdout.contains("Measured before: no failover of this cluster measured by its probe yet"),
        "{stdout}"
    );
}
