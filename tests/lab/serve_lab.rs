//! `vipdeck serve` on the real-keepalived lab, scraped by a real Prometheus
//! (the Debian package): the verdict and master metrics change within two
//! scrapes of a takeover; two attached dashboards and a `status --attach`
//! add no connection to the peers, which see one connection each. Also `promtool` on the shipped rules.
//!
//! Needs root (the lab; Prometheus is installed by
//! scripts/install-lab-deps.sh): ignored without it, run by scripts/test.sh
//! as root and always in CI. Holds /tmp/vdlab-tests.lock.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::support::{self, text, verb, Lab};
use crate::tmux::{tmux, wait_pane, Tmux};

/// A process this test started, killed and reaped when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const SCRAPE_S: f64 = 1.0;

fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn promtool_checks_and_unit_tests_the_shipped_rules() {
    support::require_root();
    let check = Command::new("promtool")
        .args([
            "check",
            "rules",
            &repo("deploy/prometheus/vipdeck-rules.yml"),
        ])
        .output()
        .expect("promtool (scripts/install-lab-deps.sh installs prometheus)");
    assert!(check.status.success(), "{}", text(&check));
    let test = Command::new("promtool")
        .args([
            "test",
            "rules",
            &repo("deploy/prometheus/vipdeck-rules.test.yml"),
        ])
        .output()
        .expect("promtool");
    assert!(test.status.success(), "{}", text(&test));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn http_get(url: &str, token: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", url])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Samples of `series` over the last minute, from Prometheus: (time, value).
fn samples(prom: &str, series: &str) -> Vec<(f64, String)> {
    let q = format!("{series}[1m]");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-G"])
        .arg(format!("{prom}/api/v1/query"))
        .args(["--data-urlencode", &format!("query={q}")])
        .output()
        .expect("curl");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["data"]["result"][0]["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p[0].as_f64()?, p[1].as_str()?.to_string())))
        .collect()
}

/// When `series` first read `value` at or after `after` (Unix seconds).
fn first_scrape_with(prom: &str, series: &str, value: &str, after: f64) -> Option<f64> {
    samples(prom, series)
        .into_iter()
        .find(|(t, v)| *t >= after - SCRAPE_S && v == value)
        .map(|(t, _)| t)
}

/// Established ssh connections into `node` (counted inside its namespace).
fn ssh_connections(node: &str) -> usize {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            node,
            "ss",
            "-Htn",
            "state",
            "established",
            "( sport = :22 )",
        ])
        .output()
        .expect("ss");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn now_unix() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

fn state(node: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/{}/var/keepalived/state",
        support::LAB_ROOT,
        node.trim_start_matches("vdlab-")
    ))
    .unwrap_or_default()
    .trim()
    .to_string()
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn prometheus_scrapes_the_collector_through_a_takeover() {
    support::require_root();
    let lab = Lab::up("havip");
    let (m, b) = (lab.master.clone(), lab.backup.clone());

    // The collector.
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
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    let collector = format!("http://{addr}");
    // On loopback the collector makes a token for its user and names the
    // file: Prometheus reads it, the faces of the same user find it.
    let token_file = first
        .split("token in ")
        .nth(1)
        .map(|p| p.trim().to_string())
        .unwrap_or_else(|| panic!("no token file in {first:?}"));
    let token = std::fs::read_to_string(&token_file)
        .expect("the token file")
        .trim()
        .to_string();

    // A real Prometheus scraping it every second.
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: {SCRAPE_S}s, evaluation_interval: 1s}}\n\
             rule_files: [{rules}]\n\
             scrape_configs:\n  - job_name: vipdeck\n    static_configs: [{{targets: ['{addr}']}}]\n    \
             authorization: {{credentials_file: {token_file}}}\n",
            rules = repo("deploy/prometheus/vipdeck-rules.yml")
        ),
    )
    .expect("prometheus.yml");
    let prom_log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
    let _prom = Proc(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(prom_log)
            .spawn()
            .expect("prometheus (scripts/install-lab-deps.sh installs it)"),
    );
    let prom = format!("http://127.0.0.1:{port}");
    let master_of = |p: &str| format!("vipdeck_cluster_master{{cluster=\"lab\",peer=\"{p}\"}}");
    let healthy = "vipdeck_cluster_verdict{cluster=\"lab\",verdict=\"healthy\"}";
    let t0 = Instant::now();
    while !samples(&prom, healthy).iter().any(|(_, v)| v == "1")
        || !samples(&prom, &master_of(&m)).iter().any(|(_, v)| v == "1")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "Prometheus never saw the lab healthy with {m} MASTER: {}\n{}",
            http_get(&format!("{collector}/metrics"), &token),
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        sleep(Duration::from_millis(250));
    }

    // Two attached dashboards and a one-shot status: the peers see the
    // collector's connections only.
    let before = [ssh_connections("vdlab-a"), ssh_connections("vdlab-b")];
    let bin = env!("CARGO_BIN_EXE_vipdeck");
    let sessions = ["vdserve-1", "vdserve-2"];
    let _t1 = Tmux(sessions[0]);
    let _t2 = Tmux(sessions[1]);
    for s in sessions {
        tmux(&["kill-session", "-t", s]);
        tmux(&[
            "new-session",
            "-d",
            "-s",
            s,
            "-x",
            "140",
            "-y",
            "40",
            &format!("{bin} --attach {collector} --token-file {token_file}"),
        ]);
    }
    for s in sessions {
        let pane = wait_pane(s, "attached to", Duration::from_secs(20));
        assert!(pane.contains(&m), "{pane}");
    }
    let out = support::vipdeck(&["status", "--attach", &collector])
        .output()
        .expect("status --attach");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("HEALTHY"),
        "{}",
        text(&out)
    );
    let during = [ssh_connections("vdlab-a"), ssh_connections("vdlab-b")];
    println!(
        "ssh connections per node: collector alone {before:?}, with 3 attached faces {during:?}"
    );
    assert_eq!(
        during, before,
        "attached faces must not connect to the peers"
    );
    assert_eq!(
        before,
        [1, 1],
        "the collector holds one ssh connection per peer host"
    );

    // The takeover: the master's keepalived stops.
    verb(&["stop-keepalived", m.trim_start_matches("vdlab-")]);
    let t1 = Instant::now();
    while state(&b) != "MASTER" {
        assert!(
            t1.elapsed() < Duration::from_secs(30),
            "{b} never became MASTER"
        );
        sleep(Duration::from_millis(20));
    }
    let takeover = now_unix();
    // Both attached dashboards show the new master.
    for s in sessions {
        wait_pane(s, "STOP", Duration::from_secs(20));
    }
    let mut changed = (None, None);
    let t2 = Instant::now();
    while changed.0.is_none() || changed.1.is_none() {
        assert!(
            t2.elapsed() < Duration::from_secs(30),
            "Prometheus did not see the takeover: master {:?} verdict {:?}",
            samples(&prom, &master_of(&b)),
            samples(&prom, healthy)
        );
        sleep(Duration::from_millis(250));
        changed = (
            first_scrape_with(&prom, &master_of(&b), "1", takeover),
            first_scrape_with(&prom, healthy, "0", takeover),
        );
    }
    let (master_at, verdict_at) = (changed.0.unwrap_or_default(), changed.1.unwrap_or_default());
    println!(
        "takeover at {takeover:.3}: Prometheus saw {b} MASTER {:+.3}s, verdict not healthy {:+.3}s \
         (scrape interval {SCRAPE_S}s)",
        master_at - takeover,
        verdict_at - takeover
    );
    for (what, at) in [("master", master_at), ("verdict", verdict_at)] {
        assert!(
            at - takeover <= 2.0 * SCRAPE_S,
            "the {what} metric changed {:.3}s after the takeover, more than two scrapes",
            at - takeover
        );
    }
}
