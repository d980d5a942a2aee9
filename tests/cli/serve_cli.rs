//! `vipdeck serve --demo` and the faces that attach to it: /metrics,
//! /status, `status --attach`, the bearer token, and the shipped Prometheus
//! rules and Grafana dashboard naming only metrics vipdeck exports. (The
//! lab test `serve_lab` scrapes a collector on real peers with a real
//! Prometheus.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tmux_pane::{vipdeck_cmd, Pane};

fn vipdeck() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    let dir = std::env::temp_dir().join("vipdeck-cli-test");
    c.env("VIPDECK_DATA_DIR", &dir)
        .env_remove("VIPDECK_CONFIG")
        .env_remove("VIPDECK_ATTACH")
        .env_remove("VIPDECK_TOKEN_FILE");
    c
}

/// A running `vipdeck serve`, killed (and reaped) when dropped.
struct Collector {
    child: Child,
    addr: String,
    /// The token a loopback collector made for this user (none when one
    /// was given).
    token: Option<String>,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(extra: &[&str]) -> Collector {
    serve_at("127.0.0.1:0", extra)
}

fn serve_at(listen: &str, extra: &[&str]) -> Collector {
    let mut child = vipdeck()
        .args(["serve", "--demo", "--listen", listen])
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawns vipdeck serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut first = String::new();
    BufReader::new(stderr)
        .read_line(&mut first)
        .expect("reads serve's first line");
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    let token = first
        .split("token in ")
        .nth(1)
        .map(|p| std::fs::read_to_string(p.trim()).expect("the token file"))
        .map(|t| t.trim().to_string());
    Collector { child, addr, token }
}

/// GET `path`; returns (status code, body).
fn get(addr: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connects");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("writes");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("reads");
    let code = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (code, body)
}

/// Waits until the collector's /status has both demo clusters healthy.
fn wait_healthy(addr: &str, token: Option<&str>) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        let (code, body) = get(addr, "/status", token);
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("/status is JSON");
        let healthy = v["clusters"]
            .as_array()
            .is_some_and(|c| c.len() == 2 && c.iter().all(|c| c["verdict"] == "healthy"));
        if healthy {
            return v;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "not healthy: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_collector_serves_metrics_status_and_attached_faces() {
    let c = serve(&[]);
    let token = c.token.as_deref();
    let status = wait_healthy(&c.addr, token);
    assert_eq!(status["clusters"][0]["name"], "web");

    let (code, metrics) = get(&c.addr, "/metrics", token);
    assert_eq!(code, 200);
    assert!(
        metrics.contains("vipdeck_cluster_verdict{cluster=\"web\",verdict=\"healthy\"} 1"),
        "{metrics}"
    );

    // `status --attach` draws from the collector: the same clusters, the
    // same masters.
    let out = vipdeck()
        .args([
            "status",
            "--json",
            "--attach",
            &format!("http://{}", c.addr),
        ])
        .output()
        .expect("status --attach");
    assert!(out.status.success(), "{out:?}");
    let attached: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for i in 0..2 {
        for field in ["name", "mode", "vip", "master"] {
            assert_eq!(
                attached["clusters"][i][field], status["clusters"][i][field],
                "{field}: {attached}"
            );
        }
    }
}

/// Every command that reads clusters works through a collector:
/// `rehearse --attach` copies the collector's cluster onto a twin and
/// `incident --attach` writes its record, with no config file anywhere.
#[test]
fn rehearse_and_incident_work_through_a_collector() {
    let c = serve(&[]);
    wait_healthy(&c.addr, c.token.as_deref());
    let url = format!("http://{}", c.addr);
    let out = vipdeck()
        .args([
            "--attach",
            &url,
            "rehearse",
            "--cluster",
            "pay",
            "--to",
            "pay-a",
        ])
        .output()
        .expect("rehearse --attach");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Rehearsal on a simulated twin of pay (eni mode): pay-a BACKUP"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Predicted outcome: moved and verified"),
        "{stdout}"
    );
    assert!(stdout.contains("Nothing was changed on pay."), "{stdout}");
    let out = vipdeck()
        .args([
            "--attach",
            &url,
            "incident",
            "--cluster",
            "web",
            "--since",
            "5m",
        ])
        .output()
        .expect("incident --attach");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("# Incident record: web (havip"), "{stdout}");
    assert!(
        stdout.contains("Now: **healthy** · MASTER havip-02"),
        "{stdout}"
    );
    // A failover acts on the peers: through a collector it says what it needs.
    let out = vipdeck()
        .args([
            "--attach",
            &url,
            "failover",
            "--cluster",
            "pay",
            "--to",
            "pay-a",
        ])
        .output()
        .expect("failover --attach");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr.contains("not a collector (--attach)"), "{stderr}");
    let out = vipdeck()
        .args([
            "--attach",
            &url,
            "rehearse",
            "--cluster",
            "db",
            "--to",
            "db-a",
        ])
        .output()
        .expect("rehearse --attach");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr.contains("the collector watches no cluster named `db` (clusters: web, pay)"),
        "{stderr}"
    );
}

#[test]
fn a_token_guards_every_endpoint_and_a_wide_address_needs_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "tok-3f9a1c\n").expect("write");
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let tf = token_file.to_str().expect("utf-8");
    let c = serve(&["--token-file", tf]);
    for path in ["/metrics", "/status", "/watch"] {
        let (code, body) = get(&c.addr, path, None);
        assert_eq!(code, 401, "{path} without a token: {body}");
        let (code, _) = get(&c.addr, path, Some("wrong"));
        assert_eq!(code, 401, "{path} with a wrong token");
    }
    wait_healthy(&c.addr, Some("tok-3f9a1c"));
    let out = vipdeck()
        .args(["status", "--attach", &format!("http://{}", c.addr)])
        .output()
        .expect("status --attach");
    assert!(!out.status.success(), "no token, no facts");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401"), "{err}");
    let out = vipdeck()
        .args(["status", "--attach", &format!("http://{}", c.addr)])
        .args(["--token-file", tf])
        .output()
        .expect("status --attach");
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("tok-3f9a1c"));

    // Listening beyond loopback without a token is refused.
    let out = vipdeck()
        .args(["serve", "--demo", "--listen", "0.0.0.0:0"])
        .output()
        .expect("serve");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs a bearer token"),
        "{out:?}"
    );
}

#[test]
fn a_loopback_collector_serves_only_its_own_user_by_default() {
    // Loopback is every local user: without a token, any of them read the
    // peers' log lines, lock holders and ssh destinations.
    let c = serve(&[]);
    for path in ["/metrics", "/status", "/watch"] {
        let (code, body) = get(&c.addr, path, None);
        assert_eq!(code, 401, "{path} without a token on loopback: {body}");
    }
    let token = c.token.clone().expect("serve names the token file it made");
    assert!(token.len() >= 32, "a long random token");
    let data = std::env::temp_dir().join("vipdeck-cli-test");
    let port = c.addr.rsplit(':').next().expect("port");
    let file = data.join("serve").join(format!("serve-{port}.token"));
    let mode = std::fs::metadata(&file)
        .expect("token file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    let dir_mode = std::fs::metadata(file.parent().expect("dir"))
        .expect("dir")
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    wait_healthy(&c.addr, Some(&token));
    // The same user's faces find the token by themselves.
    let out = vipdeck()
        .args([
            "status",
            "--json",
            "--attach",
            &format!("http://{}", c.addr),
        ])
        .output()
        .expect("status --attach");
    assert!(out.status.success(), "{out:?}");
    // ...and what they get names no password digest.
    let (_, watch) = get_some(&c.addr, "/watch", Some(&token), 64 << 10);
    assert!(watch.contains("auth_pass_tag"), "{watch}");
    assert!(!watch.contains("auth_digest"), "{watch}");
}

/// GET `path` and read at most `limit` bytes (for /watch, which does not end).
fn get_some(addr: &str, path: &str, token: Option<&str>, limit: usize) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connects");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}\r\n").expect("writes");
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    while raw.len() < limit {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let code = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, raw)
}

/// The metric names in a PromQL text: `vipdeck_…` words.
fn vipdeck_metrics(text: &str) -> std::collections::BTreeSet<String> {
    let re = regex::Regex::new(r"vipdeck_[a-z_]+").expect("regex");
    re.find_iter(text).map(|m| m.as_str().to_string()).collect()
}

#[test]
fn the_shipped_rules_and_dashboard_name_only_exported_metrics() {
    let c = serve(&[]);
    let token = c.token.as_deref();
    wait_healthy(&c.addr, token);
    let (_, metrics) = get(&c.addr, "/metrics", token);
    let exported = vipdeck_metrics(&metrics);
    let root = env!("CARGO_MANIFEST_DIR");
    let rules = std::fs::read_to_string(format!("{root}/deploy/prometheus/vipdeck-rules.yml"))
        .expect("rules");
    let dashboard =
        std::fs::read_to_string(format!("{root}/deploy/grafana/vipdeck-dashboard.json"))
            .expect("dashboard");
    let d: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard JSON");
    let exprs: Vec<String> = d["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_string))
        .collect();
    assert!(exprs.len() >= 5, "{exprs:?}");
    for (what, used) in [
        ("rules", vipdeck_metrics(&rules)),
        ("dashboard", vipdeck_metrics(&exprs.join("\n"))),
    ] {
        assert!(!used.is_empty(), "{what} names no vipdeck metric");
        let unknown: Vec<_> = used.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{what} names metrics vipdeck does not export: {unknown:?}"
        );
    }
}

/// `vipdeck --attach` to the collector at `addr`, in an 80×24 pane.
fn attached_dashboard(tag: &str, addr: &str) -> Pane {
    let data = std::env::temp_dir().join("vipdeck-cli-test");
    let cmd = vipdeck_cmd(&data, &format!("--attach http://{addr}"));
    Pane::start(tag, 80, 24, &cmd)
}

#[test]
fn an_attached_dashboard_says_at_once_that_its_collector_is_gone_and_blames_no_peer() {
    let mut c = serve(&[]);
    wait_healthy(&c.addr, c.token.as_deref());
    let pane = attached_dashboard("attach-lost", &c.addr);
    pane.wait_for("the attached dashboard comes up healthy", |s| {
        s.contains("attached to") && s.contains("HEALTHY")
    });

    // The collector dies.
    c.child.kill().expect("kills vipdeck serve");
    c.child.wait().expect("reaps it");
    let killed = Instant::now();
    let lost = pane.wait_for("the dashboard says the collector is gone", |s| {
        s.contains("collector unreachable since")
    });
    // Said at once: before the peers' facts could even have gone stale.
    assert!(
        killed.elapsed() < Duration::from_secs(10),
        "took {:?}",
        killed.elapsed()
    );
    assert!(
        lost.contains("HEALTHY") && lost.contains("LAST KNOWN"),
        "{lost}"
    );

    // Past the peers' stale threshold (10 s): the verdicts stay as last
    // known, with their age; no peer is blamed for the collector's silence.
    std::thread::sleep(Duration::from_secs(12).saturating_sub(killed.elapsed()));
    let later = pane.wait_for("the last known facts are marked stale", |s| {
        s.contains("STALE")
    });
    assert!(later.contains("collector unreachable since"), "{later}");
    assert!(
        later.contains("HEALTHY") && later.contains("LAST KNOWN"),
        "{later}"
    );
    for blame in [
        "data is stale",
        "no visible MASTER",
        "NO MASTER",
        "DEGRADED",
    ] {
        assert!(!later.contains(blame), "{blame}:\n{later}");
    }
    assert!(later.contains("ALERTS (0)"), "{later}");

    // The collector is back (restarted on the same port): the
    // banner goes, the facts are current again.
    let again = serve_at(&c.addr, &[]);
    wait_healthy(&again.addr, again.token.as_deref());
    let back = pane.wait_for("the dashboard follows the collector again", |s| {
        s.contains("attached to") && !s.contains("collector unreachable")
    });
    assert!(
        !back.contains("STALE") && !back.contains("LAST KNOWN"),
        "{back}"
    );
}

#[test]
fn status_watch_attached_says_the_collector_is_gone_and_prints_no_verdict_about_the_peers() {
    let mut c = serve(&[]);
    wait_healthy(&c.addr, c.token.as_deref());
    let mut watch = vipdeck()
        .args([
            "status",
            "--watch",
            "--attach",
            &format!("http://{}", c.addr),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("status --watch --attach");
    // Lines as they come, read on a thread of their own.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = watch.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a first line");
    assert!(first.contains("HEALTHY"), "{first}");

    c.child.kill().expect("kills vipdeck serve");
    c.child.wait().expect("reaps it");
    let killed = Instant::now();
    let mut after = Vec::new();
    // Past the peers' stale threshold (10 s) and then some.
    while killed.elapsed() < Duration::from_secs(13) {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            after.push(l);
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    let lost = after
        .iter()
        .position(|l| l.contains("collector unreachable since"))
        .unwrap_or_else(|| panic!("no word of the collector:\n{}", after.join("\n")));
    for l in &after[lost + 1..] {
        assert!(
            ![
                "stale",
                "STALE",
                "UNKNOWN",
                "nobody",
                "NO_MASTER",
                "DEGRADED"
            ]
            .iter()
            .any(|w| l.contains(w)),
            "a lost collector turned into a verdict about the peers: {l}\n{}",
            after.join("\n")
        );
    }
}

#[test]
fn a_collector_that_hangs_is_called_lost_before_its_facts_could_blame_the_peers() {
    let c = serve(&[]);
    wait_healthy(&c.addr, c.token.as_deref());
    let pane = attached_dashboard("attach-hung", &c.addr);
    pane.wait_for("the attached dashboard comes up healthy", |s| {
        s.contains("attached to") && s.contains("HEALTHY")
    });
    // The collector hangs (a partition, a stopped VM): its connection
    // stays open and says nothing. Dropping `c` kills it.
    let pid = c.child.id().to_string();
    let ok = Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .expect("kill -STOP")
        .success();
    assert!(ok, "kill -STOP {pid}");
    let stopped = Instant::now();
    // Every screen until the dashboard says so blames no peer.
    let lost = loop {
        let screen = pane.capture();
        for blame in [
            "data is stale",
            "no visible MASTER",
            "STALE",
            "DEGRADED",
            "UNKNOWN",
        ] {
            assert!(
                screen.contains("collector unreachable") || !screen.contains(blame),
                "{blame} before the collector was called lost ({:?}):\n{screen}",
                stopped.elapsed()
            );
        }
        if screen.contains("collector unreachable since") {
            break screen;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(20),
            "never called lost:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        lost.contains("HEALTHY") && lost.contains("LAST KNOWN"),
        "{lost}"
    );
}
