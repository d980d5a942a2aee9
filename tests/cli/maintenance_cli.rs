//! `vipdeck maintenance`: a window written on both peers (here: this
//! machine through a pass-through `ssh`, the lock directory a temp dir),
//! seen by `status`, `check` and `list` of another vipdeck through the
//! host poll, ended, refused on bad input, a planted marker not believed,
//! an expired one shown as expired, and Alertmanager failing without
//! holding the window up.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

struct Peers {
    dir: tempfile::TempDir,
    bin: PathBuf,
    locks: PathBuf,
    config: PathBuf,
}

/// Two peers of cluster `web` on this machine, reached by a fake `ssh`
/// that runs the remote command here.
fn peers(extra_config: &str) -> Peers {
    let dir = tempfile::tempdir().expect("tmp");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let ssh = bin.join("ssh");
    std::fs::write(
        &ssh,
        "#!/bin/sh\nfor a; do last=$a; done\nexec sh -c \"$last\"\n",
    )
    .expect("ssh");
    Command::new("chmod")
        .arg("755")
        .arg(&ssh)
        .status()
        .expect("chmod");
    let locks = dir.path().join("locks");
    std::fs::create_dir(&locks).expect("locks");
    let mut text = format!(
        "{extra_config}\n[cloud]\nregion = \"ap-guangzhou\"\nendpoint = \"http://127.0.0.1:9\"\n\n\
         [ssh]\nconnect_timeout_ms = 2000\ncommand_timeout_ms = 3000\n\n\
         [[clusters]]\nname = \"web\"\nmode = \"havip\"\nvip = \"192.0.2.10\"\nhavip_id = \"havip-web00001\"\n"
    );
    for (name, state) in [("web-a", "MASTER"), ("web-b", "BACKUP")] {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).expect("peer dir");
        std::fs::write(d.join("state"), state).expect("state");
        std::fs::write(d.join("keepalived.log"), "").expect("log");
        std::fs::write(
            d.join("keepalived.conf"),
            "vrrp_instance VI_1 {\n state BACKUP\n virtual_ipaddress {\n 192.0.2.10\n }\n}\n",
        )
        .expect("conf");
        let d = d.display();
        text.push_str(&format!(
            "[[clusters.peers]]\nname = \"{name}\"\nssh = \"ops@{name}\"\nnetwork_interface_id = \"eni-{name}\"\n\
             interface = \"vipdeck-none0\"\nstate_file = \"{d}/state\"\nlog_file = \"{d}/keepalived.log\"\n\
             keepalived_conf = \"{d}/keepalived.conf\"\npid_file = \"{d}/keepalived.pid\"\njson_dump = \"{d}/keepalived.json\"\n"
        ));
    }
    let config = dir.path().join("vipdeck.toml");
    std::fs::write(&config, text).expect("config");
    Peers {
        dir,
        bin,
        locks,
        config,
    }
}

impl Peers {
    /// vipdeck with `args` on these peers: their config, the fake `ssh`
    /// first on the PATH, the lock directory, no cloud credentials.
    fn command(&self, args: &[&str]) -> Command {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let run = self.dir.path().join("run");
        std::fs::create_dir_all(&run).expect("run");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
        cmd.args(args)
            .arg("--config")
            .arg(&self.config)
            .env("PATH", path)
            .env("HOME", self.dir.path())
            .env("XDG_RUNTIME_DIR", &run)
            .env("VIPDECK_DATA_DIR", self.dir.path().join("data"))
            .env("VIPDECK_LOCK_DIR", &self.locks)
            .env_remove("TENCENTCLOUD_SECRET_ID")
            .env_remove("TENCENTCLOUD_SECRET_KEY")
            .env("TENCENTCLOUD_METADATA_URL", "http://127.0.0.1:9/")
            .stdin(Stdio::null());
        cmd
    }

    fn vipdeck(&self, args: &[&str]) -> Output {
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vipdeck runs");
        child.wait_with_output().expect("vipdeck ends")
    }

    /// vipdeck with `args`, which must succeed (else its output is shown).
    fn vipdeck_ok(&self, args: &[&str]) -> Output {
        let out = self.vipdeck(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        out
    }

    /// `maintenance start --cluster web` with `args` (`--for`, `--reason`, …).
    fn start(&self, args: &[&str]) -> Output {
        let mut all = vec!["maintenance", "start", "--cluster", "web"];
        all.extend_from_slice(args);
        self.vipdeck(&all)
    }

    /// [`Peers::start`], which must succeed (else its output is shown).
    fn start_ok(&self, args: &[&str]) -> Output {
        let out = self.start(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        out
    }

    /// The line `vipdeck check` prints.
    fn check_line(&self) -> String {
        String::from_utf8_lossy(&self.vipdeck(&["check"]).stdout).into_owned()
    }

    fn marker(&self) -> PathBuf {
        self.locks.join("vipdeck-maintenance-web.json")
    }

    fn audit(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("data/maintenance.jsonl")).unwrap_or_default()
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn status_json(p: &Peers) -> serde_json::Value {
    let out = p.vipdeck(&["status", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

#[test]
fn a_window_is_seen_by_another_vipdecks_status_check_and_list_until_it_ends() {
    let p = peers("");
    let out = p.start_ok(&[
        "--peer",
        "web-b",
        "--for",
        "2h",
        "--reason",
        "kernel update",
    ]);
    assert!(p.marker().exists(), "{}", text(&out));

    // Another vipdeck (another process, nothing shared but the peers).
    let v = status_json(&p);
    let w = &v["clusters"][0]["maintenance"];
    assert_eq!(w["state"], "active", "{v}");
    assert_eq!(w["reason"], "kernel update", "{v}");
    assert_eq!(w["peer"], "web-b", "{v}");
    let left = w["remaining_s"].as_u64().expect("remaining_s");
    assert!((7000..=7200).contains(&left), "{left}");
    let alerts = v["clusters"][0]["alerts"].to_string();
    assert!(alerts.contains("\"maintenance\""), "{alerts}");
    // The verdict is computed as ever: a window changes none.
    assert!(v["clusters"][0]["verdict"].is_string(), "{v}");

    let line = p.check_line();
    assert!(line.contains("[MAINTENANCE by "), "{line}");
    assert!(line.contains("'web_maintenance'=1"), "{line}");

    let prom = p.vipdeck(&["status", "--format", "prometheus"]);
    let prom = String::from_utf8_lossy(&prom.stdout).to_string();
    assert!(
        prom.contains("vipdeck_cluster_maintenance{cluster=\"web\"} 1"),
        "{prom}"
    );

    let list = p.vipdeck(&["maintenance", "list"]);
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(
        listed.contains("web: ACTIVE by ") && listed.contains("kernel update"),
        "{}",
        text(&list)
    );

    // A second window on top of an open one is refused, and says whose.
    let again = p.start(&["--for", "1h", "--reason", "other"]);
    assert_ne!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already in a maintenance window"),
        "{}",
        text(&again)
    );

    p.vipdeck_ok(&["maintenance", "end", "--cluster", "web"]);
    assert!(!p.marker().exists());
    let v = status_json(&p);
    assert!(v["clusters"][0]["maintenance"].is_null(), "{v}");
    let audit = p.audit();
    assert!(
        audit.contains("\"event\":\"start\"") && audit.contains("\"event\":\"end\""),
        "{audit}"
    );
}

#[test]
fn a_window_in_the_past_or_of_a_negative_or_absurd_length_is_refused() {
    let p = peers("");
    for (args, says) in [
        (vec!["--for", "-2h"], "negative"),
        (vec!["--for", "8d"], "at most 7 days"),
        (vec!["--for", "99999999999d"], "--for"),
        (vec!["--for", "10s"], "at least"),
        (vec!["--until", "2020-01-01T00:00:00Z"], "in the past"),
    ] {
        let mut all = vec!["--reason", "x"];
        all.extend(args.iter().copied());
        let out = p.start(&all);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {}", text(&out));
        assert!(!p.marker().exists(), "{args:?}: a marker was written");
    }
    let out = p.start(&["--for", "1h", "--reason", "  "]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
}

/// A maintenance marker of `by` (reason "upgrade") open until `until`,
/// written into the lock directory as another vipdeck would.
fn write_marker(p: &Peers, until: &str, by: &str) {
    let json = format!(
        "{{\"by\":\"{by}\",\"reason\":\"upgrade\",\"peer\":null,\"started\":\"2026-01-01T00:00:00Z\",\
         \"until\":\"{until}\",\"token\":\"t0\",\"silence_id\":null}}\n"
    );
    std::fs::write(p.marker(), json).expect("marker");
}

/// `failover --cluster web --to web-b` with `args`.
fn failover_to_web_b<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["failover", "--cluster", "web", "--to", "web-b"];
    all.extend_from_slice(args);
    all
}

#[test]
fn an_expired_window_is_shown_as_expired_and_a_new_one_replaces_it() {
    let p = peers("");
    write_marker(&p, "2026-01-01T01:00:00Z", "ops@old");
    let v = status_json(&p);
    assert_eq!(v["clusters"][0]["maintenance"]["state"], "expired", "{v}");
    let alerts = v["clusters"][0]["alerts"].to_string();
    assert!(alerts.contains("maintenance_expired"), "{alerts}");
    let line = p.check_line();
    assert!(line.contains("[MAINTENANCE EXPIRED at"), "{line}");
    assert!(line.contains("'web_maintenance'=0"), "{line}");
    p.start_ok(&["--for", "30m", "--reason", "second try"]);
    let now = std::fs::read_to_string(p.marker()).expect("marker");
    assert!(now.contains("second try"), "{now}");
}

/// Anyone can write in the lock directory: a marker owned by another
/// user is shown as not believed, opens no window, and blocks a start
/// with a clear error rather than being silently replaced or obeyed.
#[test]
fn a_marker_planted_by_another_user_is_not_believed() {
    if !is_root() {
        return; // needs to plant a file as another user
    }
    let p = peers("");
    write_marker(&p, "2099-01-01T00:00:00Z", "mallory\u{1b}[2J");
    std::os::unix::fs::chown(p.marker(), Some(65534), Some(65534)).expect("chown");
    let v = status_json(&p);
    let w = &v["clusters"][0]["maintenance"];
    assert_eq!(w["state"], "suspect", "{v}");
    assert!(w["why"].as_str().unwrap_or("").contains("uid 65534"), "{v}");
    let line = p.check_line();
    assert!(!line.contains("[MAINTENANCE by"), "{line}");
    assert!(!line.contains('\u{1b}'), "{line:?}");
    let out = p.start(&["--for", "1h", "--reason", "mine"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("uid 65534") && err.contains("remove it as root"),
        "{}",
        text(&out)
    );
}

/// A fake Alertmanager on loopback: answers every request with `answer`
/// (or never, when `None`), and sends each request it read back.
fn fake_alertmanager(answer: Option<&'static str>) -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            s.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut buf = vec![0u8; 65536];
            let n = s.read(&mut buf).unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            match answer {
                Some(a) => {
                    let _ = s.write_all(a.as_bytes());
                }
                None => held.push(s), // hang: never answer
            }
        }
    });
    (url, rx)
}

#[test]
fn an_alertmanager_that_fails_or_hangs_is_reported_and_never_blocks_the_window() {
    for (answer, says) in [
        (
            Some("HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\nconnection: close\r\n\r\nboom"),
            "500",
        ),
        (None, "did not answer within 1000 ms"),
    ] {
        let (url, _seen) = fake_alertmanager(answer);
        let p = peers(&format!(
            "[alertmanager]\nurl = \"{url}\"\ntimeout_ms = 1000\n"
        ));
        let started = std::time::Instant::now();
        let out = p.start_ok(&["--for", "1h", "--reason", "patching"]);
        assert!(p.marker().exists(), "the window is open");
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(
            shown.contains("WARNING: Alertmanager") && shown.contains(says),
            "{}",
            text(&out)
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "held up {:?}",
            started.elapsed()
        );
        let audit = p.audit();
        assert!(
            audit.contains("alertmanager_error") && audit.contains(says),
            "{audit}"
        );
    }
}

#[test]
fn a_window_creates_and_its_end_expires_an_alertmanager_silence() {
    let (url, seen) = fake_alertmanager(Some(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 29\r\nconnection: close\r\n\r\n{\"silenceID\":\"abc-123-def-4\"}",
    ));
    let p = peers(&format!("[alertmanager]\nurl = \"{url}\"\n"));
    p.start_ok(&["--for", "1h", "--reason", "patching"]);
    let post = seen.recv_timeout(Duration::from_secs(5)).expect("a POST");
    assert!(post.starts_with("POST /api/v2/silences "), "{post}");
    assert!(
        post.contains("\"name\":\"cluster\"") && post.contains("\"value\":\"web\""),
        "{post}"
    );
    let marker = std::fs::read_to_string(p.marker()).expect("marker");
    assert!(marker.contains("abc-123-def-4"), "{marker}");
    assert!(p.audit().contains("\"silence_id\":\"abc-123-def-4\""));
    let end = p.vipdeck_ok(&["maintenance", "end", "--cluster", "web"]);
    let delete = seen.recv_timeout(Duration::from_secs(5)).expect("a DELETE");
    assert!(
        delete.starts_with("DELETE /api/v2/silence/abc-123-def-4 "),
        "{delete}"
    );
    assert!(String::from_utf8_lossy(&end.stdout).contains("silence abc-123-def-4 expired"));
}

/// Issue #28: a failover inside someone else's window is refused and
/// names whose; `--override maintenance` overrides it.
#[test]
fn a_failover_inside_someone_elses_window_is_refused_and_says_whose() {
    let p = peers("");
    write_marker(&p, "2099-01-01T00:00:00Z", "alice@elsewhere");
    let out = p.vipdeck(&failover_to_web_b(&["--dry-run"]));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let line = stdout
        .lines()
        .find(|l| l.contains(" maintenance "))
        .unwrap_or_else(|| panic!("no maintenance check: {}", text(&out)));
    assert!(
        line.contains("FAIL") && line.contains("alice@elsewhere") && line.contains("upgrade"),
        "{}",
        text(&out)
    );
    let out = p.vipdeck(&failover_to_web_b(&[
        "--dry-run",
        "--override",
        "maintenance",
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        stdout
            .lines()
            .any(|l| l.contains(" maintenance ") && l.contains("OVERRIDDEN")),
        "{}",
        text(&out)
    );
}

/// Issue #28: `--wait-healthy` re-checks the plan until the time runs out,
/// then refuses with the check that still fails; bad times are refused
/// before anything connects.
#[test]
fn wait_healthy_refuses_with_the_last_failing_check_and_bad_times_are_refused() {
    let p = peers("");
    // keepalived runs on neither peer: the plan stays blocked.
    let started = std::time::Instant::now();
    let out = p.vipdeck(&failover_to_web_b(&["--yes", "--wait-healthy", "3s"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--wait-healthy: waiting"), "{}", text(&out));
    assert!(
        err.contains("still blocked after 3s: target_keepalived_running"),
        "{}",
        text(&out)
    );
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert!(
        !p.locks.join("vipdeck-failover-web.lock").exists(),
        "nothing taken"
    );
    for (args, says) in [
        (vec!["--wait-healthy", "-5m"], "cannot be negative"),
        (vec!["--wait-healthy", "30d"], "from 1s to 24h"),
        (vec!["--at", "25:00"], "not a time of day"),
    ] {
        let mut all = failover_to_web_b(&["--yes"]);
        all.extend(args.iter().copied());
        let out = p.vipdeck(&all);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {}", text(&out));
        assert!(
            !err.contains("reading cluster"),
            "{args:?}: connected first"
        );
    }
}

/// `--at` counts down, and Ctrl-C cancels with nothing done (no lock, no
/// audit record).
#[test]
fn a_failover_at_a_time_counts_down_and_ctrl_c_cancels_it() {
    use std::io::BufRead;
    let p = peers("");
    // Two minutes ahead, in this machine's zone (the child's too).
    let at = (chrono::Local::now() + chrono::Duration::minutes(2))
        .format("%H:%M")
        .to_string();
    let mut child = p
        .command(&failover_to_web_b(&["--yes", "--at", &at]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vipdeck");
    let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    let mut line = String::new();
    while err.read_line(&mut line).unwrap_or(0) > 0 {
        seen.push_str(&line);
        if line.contains("starting at") {
            break;
        }
        line.clear();
    }
    assert!(seen.contains("Ctrl-C cancels"), "{seen}");
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    let mut rest = String::new();
    err.read_to_string(&mut rest).ok();
    let status = child.wait().expect("ends");
    assert_eq!(status.code(), Some(1), "{seen}{rest}");
    assert!(rest.contains("cancelled before the start"), "{seen}{rest}");
    assert!(!p.locks.join("vipdeck-failover-web.lock").exists());
    let audit = p.dir.path().join("data/audit.jsonl");
    assert!(!audit.exists(), "nothing recorded as done");
}
