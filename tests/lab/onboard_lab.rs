//! From a node's keepalived.conf to a watched cluster, on the real lab
//! (tests/lab/lab.sh, docs/lab.md): `vipdeck init --from` node a's
//! keepalived.conf (its notify script names vip.py, which names the ENI
//! ids), with the emulator as the cloud, writes a config; `vipdeck status
//! --json` with that config, untouched, names the right master and binding;
//! `vipdeck check` exits 0/1/2/3 in the matching lab states.
//!
//! Needs root: ignored without it (see main.rs), run by scripts/test.sh
//! as root and always in CI.

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support;
use support::{run as lab, text, verb as lab_ok};

const LAB_ROOT: &str = "/tmp/vdlab";
/// Every test that brings the lab up holds this lock: one lab at a time.
const TEST_LOCK: &str = "/tmp/vdlab-tests.lock";

struct LabGuard;

impl Drop for LabGuard {
    fn drop(&mut self) {
        let out = lab(&["down"]);
        if !out.status.success() {
            eprintln!("lab.sh down failed: {}", text(&out));
        }
    }
}

/// vipdeck as an operator runs it: the lab's credentials file, nothing else.
fn vipdeck(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.env("HOME", home)
        .env("VIPDECK_DATA_DIR", home.join("data"))
        .env(
            "TENCENTCLOUD_CREDENTIALS_FILE",
            format!("{LAB_ROOT}/credentials"),
        )
        .env_remove("VIPDECK_CONFIG")
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY");
    c
}

fn lab_env(key: &str) -> String {
    let env = std::fs::read_to_string(format!("{LAB_ROOT}/lab.env")).expect("lab.env");
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} not in lab.env"))
        .to_string()
}

fn status(home: &Path, config: &Path) -> Value {
    let o = vipdeck(home)
        .arg("--config")
        .arg(config)
        .args(["status", "--json"])
        .output()
        .expect("status");
    assert!(o.status.success(), "status --json: {}", text(&o));
    serde_json::from_slice(&o.stdout).expect("status JSON")
}

fn check(home: &Path, config: &Path) -> (i32, String) {
    let o = vipdeck(home)
        .arg("--config")
        .arg(config)
        .arg("check")
        .output()
        .expect("check");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).trim().to_string(),
    )
}

/// Runs `check` until it exits `want` (or `within` passes); returns the
/// last line and how long it took.
fn check_until(home: &Path, config: &Path, want: i32, within: Duration) -> (String, Duration) {
    let t0 = Instant::now();
    loop {
        let (code, line) = check(home, config);
        if code == want {
            return (line, t0.elapsed());
        }
        assert!(
            t0.elapsed() < within,
            "check did not exit {want} within {within:?}; last: {code} {line}"
        );
        sleep(Duration::from_millis(500));
    }
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn init_from_a_lab_node_watches_the_cluster_and_check_follows_its_states() {
    support::require_root();
    let lock = File::create(TEST_LOCK).expect("create the lab test lock");
    lock.lock().expect("lock the lab test lock");
    let _guard = LabGuard;
    lab_ok(&[
        "up",
        "--mode",
        "eni",
        "--cloudsim-bin",
        env!("CARGO_BIN_EXE_vipdeck"),
    ]);
    let master = lab_ok(&["wait-master", "15"]).trim().to_string();
    let master = if master.starts_with("vdlab-") {
        master
    } else {
        format!("vdlab-{master}")
    };
    let backup = if master == "vdlab-a" {
        "vdlab-b"
    } else {
        "vdlab-a"
    }
    .to_string();
    let endpoint = lab_env("VDLAB_CLOUD_URL");

    // init from node a's files as they sit on the host.
    let home = tempfile::tempdir().expect("tmp");
    let config = home.path().join("vipdeck.toml");
    let o = vipdeck(home.path())
        .arg("--config")
        .arg(&config)
        .arg("init")
        .arg("--from")
        .arg(format!("{LAB_ROOT}/a/etc/keepalived/keepalived.conf"))
        .args(["--endpoint", &endpoint])
        .arg("--ssh-config")
        .arg(format!("{LAB_ROOT}/ssh_config"))
        .args([
            "--peer-ssh",
            "vdlab-a",
            "--peer-ssh",
            "vdlab-b",
            "--name",
            "lab",
        ])
        .arg("--write")
        .output()
        .expect("init");
    assert!(o.status.success(), "init: {}", text(&o));
    let written = std::fs::read_to_string(&config).expect("written");
    println!("{written}");
    let secret = std::fs::read_to_string(format!("{LAB_ROOT}/credentials")).expect("creds");
    let key = secret
        .lines()
        .find_map(|l| l.strip_prefix("secret_key = "))
        .expect("key");
    assert!(!written.contains(key), "the lab key leaked into the config");
    assert!(written.contains("mode = \"eni\""), "{written}");
    assert!(
        written.contains("network_interface_id = \"eni-laba0001\""),
        "{written}"
    );
    assert!(
        written.contains("network_interface_id = \"eni-labb0001\""),
        "{written}"
    );
    assert!(
        written.contains("instance_id = \"ins-labb0001\""),
        "{written}"
    );

    // Healthy: status names the master and the binding; check exits 0.
    let (line, took) = check_until(home.path(), &config, 0, Duration::from_secs(30));
    println!("healthy after {took:?}: {line}");
    let s = status(home.path(), &config);
    let c = &s["clusters"][0];
    assert_eq!(c["name"], "lab");
    assert_eq!(c["verdict"], "healthy", "{c}");
    assert_eq!(c["master"], master.as_str(), "{c}");
    assert_eq!(c["vip_bound_to"], master.as_str(), "{c}");
    assert_eq!(c["vip"], "198.51.100.100");

    // The same over ssh from node b, with no --peer-ssh: peers are named
    // after the ssh host and, for the unicast_peer address, the ssh
    // config's alias for it.
    let config_b = home.path().join("from-b.toml");
    let o = vipdeck(home.path())
        .arg("--config")
        .arg(&config_b)
        .args(["init", "--from", "ssh://vdlab-b", "--endpoint", &endpoint])
        .arg("--ssh-config")
        .arg(format!("{LAB_ROOT}/ssh_config"))
        .arg("--write")
        .output()
        .expect("init over ssh");
    assert!(o.status.success(), "init --from ssh://: {}", text(&o));
    let written_b = std::fs::read_to_string(&config_b).expect("written");
    assert!(
        written_b.contains("from /etc/keepalived/keepalived.conf on vdlab-b"),
        "{written_b}"
    );
    let t0 = Instant::now();
    let c = loop {
        let s = status(home.path(), &config_b);
        let c = s["clusters"][0].clone();
        if c["verdict"] == "healthy" || t0.elapsed() > Duration::from_secs(20) {
            break c;
        }
        sleep(Duration::from_millis(500));
    };
    assert_eq!(c["name"], "VI_1", "{c}");
    assert_eq!(c["verdict"], "healthy", "{c}");
    assert_eq!(c["master"], master.as_str(), "{c}");
    assert_eq!(c["vip_bound_to"], master.as_str(), "{c}");

    // Degraded: the backup cannot be reached over ssh.
    lab_ok(&["blackhole-ssh", &backup]);
    let (line, took) = check_until(home.path(), &config, 1, Duration::from_secs(40));
    println!("degraded after {took:?}: {line}");
    assert!(line.starts_with("VIPDECK WARNING - lab degraded"), "{line}");

    // Unknown: neither peer answers.
    lab_ok(&["blackhole-ssh", &master]);
    let (line, took) = check_until(home.path(), &config, 3, Duration::from_secs(40));
    println!("unknown after {took:?}: {line}");
    assert!(line.starts_with("VIPDECK UNKNOWN"), "{line}");
    lab_ok(&["restore-ssh", &master]);
    lab_ok(&["restore-ssh", &backup]);
    check_until(home.path(), &config, 0, Duration::from_secs(40));

    // vip_drift: the backup's vip.py cannot move the VIP, then the master dies.
    lab_ok(&["break-notify", &backup]);
    lab_ok(&["kill-keepalived", &master]);
    let (line, took) = check_until(home.path(), &config, 2, Duration::from_secs(40));
    println!("critical after {took:?}: {line}");
    // The new master holds the VIP; the cloud still binds it to the old one.
    let t0 = Instant::now();
    let c = loop {
        let s = status(home.path(), &config);
        let c = s["clusters"][0].clone();
        if c["verdict"] == "vip_drift" || t0.elapsed() > Duration::from_secs(30) {
            break c;
        }
        sleep(Duration::from_millis(500));
    };
    assert_eq!(c["verdict"], "vip_drift", "{c}");
    assert_eq!(c["master"], backup.as_str(), "{c}");
    assert_eq!(c["vip_bound_to"], master.as_str(), "{c}");
}

/// HAVIP mode: no vip.py in the notify script; the cloud's HAVIP decides
/// the mode and gives its id.
#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn init_from_a_lab_node_detects_havip_mode() {
    support::require_root();
    let lock = File::create(TEST_LOCK).expect("create the lab test lock");
    lock.lock().expect("lock the lab test lock");
    let _guard = LabGuard;
    lab_ok(&[
        "up",
        "--mode",
        "havip",
        "--cloudsim-bin",
        env!("CARGO_BIN_EXE_vipdeck"),
    ]);
    let master = lab_ok(&["wait-master", "15"]).trim().to_string();
    let master = if master.starts_with("vdlab-") {
        master
    } else {
        format!("vdlab-{master}")
    };
    let endpoint = lab_env("VDLAB_CLOUD_URL");
    let home = tempfile::tempdir().expect("tmp");
    let o = vipdeck(home.path())
        .arg("init")
        .arg("--from")
        .arg(format!("{LAB_ROOT}/b/etc/keepalived"))
        .args(["--endpoint", &endpoint])
        .arg("--ssh-config")
        .arg(format!("{LAB_ROOT}/ssh_config"))
        .args(["--peer-ssh", "vdlab-b", "--peer-ssh", "vdlab-a"])
        .output()
        .expect("init");
    assert!(o.status.success(), "init: {}", text(&o));
    let printed = String::from_utf8_lossy(&o.stdout).to_string();
    println!("{printed}");
    assert!(
        printed.contains("mode = \"havip\"   # the cloud: DescribeHaVips"),
        "{printed}"
    );
    assert!(
        printed.contains("havip_id = \"havip-lab00001\""),
        "{printed}"
    );
    let config = home.path().join("havip.toml");
    std::fs::write(&config, &printed).expect("write");

    // The HAVIP follows the master's gratuitous ARP within seconds.
    let t0 = Instant::now();
    let c = loop {
        let s = status(home.path(), &config);
        let c = s["clusters"][0].clone();
        if c["verdict"] == "healthy" || t0.elapsed() > Duration::from_secs(30) {
            break c;
        }
        sleep(Duration::from_millis(500));
    };
    println!("healthy after {:?}", t0.elapsed());
    assert_eq!(c["mode"], "havip", "{c}");
    assert_eq!(c["verdict"], "healthy", "{c}");
    assert_eq!(c["master"], master.as_str(), "{c}");
    assert_eq!(c["vip_bound_to"], master.as_str(), "{c}");
    assert_eq!(c["cloud"]["havip_id"], "havip-lab00001", "{c}");
}
