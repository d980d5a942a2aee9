//! The real binary against real parts without root: two `local = true`
//! peers whose state files, pid files and keepalived.conf live in a temp
//! dir (read through the same probe script as over ssh), and the cloud
//! binding from `vipdeck cloudsim` over real HTTP with real signatures.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ID: &str = "AKIDcloudsimEXAMPLEid000000000000001";
const KEY: &str = "cloudsimEXAMPLEkey00000000000001";

struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start_cloudsim() -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .args([
            "cloudsim",
            "--listen",
            "127.0.0.1:0",
            "--havip-delay-ms",
            "200",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cloudsim starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready line");
    let url = line
        .trim()
        .strip_prefix("cloudsim listening on ")
        .expect("ready line names the address")
        .to_string();
    (child, url)
}

const CONF: &str = r#"! keepalived.conf as the seed documents write it
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    nopreempt
    unicast_src_ip SRC
    unicast_peer {
        PEER
    }
    virtual_ipaddress {
        192.0.2.10/24
    }
}
"#;

fn peer_files(dir: &Path, name: &str, state: &str, src: &str, peer: &str, pid: u32) {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::write(d.join("state"), state).expect("state");
    std::fs::write(d.join("keepalived.pid"), format!("{pid}\n")).expect("pid");
    std::fs::write(
        d.join("keepalived.conf"),
        CONF.replace("SRC", src).replace("PEER", peer),
    )
    .expect("conf");
    std::fs::write(
        d.join("keepalived.log"),
        "[2026-11-21 22:44:01]  notify_backup\n",
    )
    .expect("log");
}

fn config(dir: &Path, url: &str) -> std::path::PathBuf {
    let peer = |name: &str, eni: &str| {
        let d = dir.join(name).display().to_string();
        format!(
            "[[clusters.peers]]\nname = \"{name}\"\nlocal = true\nnetwork_interface_id = \"{eni}\"\n\
             interface = \"vipdeck-none0\"\nstate_file = \"{d}/state\"\nlog_file = \"{d}/keepalived.log\"\n\
             daemon_log = \"{d}/daemon.log\"\nkeepalived_conf = \"{d}/keepalived.conf\"\n\
             pid_file = \"{d}/keepalived.pid\"\njson_dump = \"{d}/keepalived.json\"\n"
        )
    };
    let text = format!(
        "[cloud]\nregion = \"ap-guangzhou\"\nendpoint = \"{url}\"\npoll_interval_ms = 300\n\n\
         [monitor]\npoll_interval_ms = 300\n\n\
         [[clusters]]\nname = \"web\"\nmode = \"havip\"\nvip = \"192.0.2.10\"\nhavip_id = \"havip-web00001\"\n{}{}",
        peer("web-a", "eni-web00001"),
        peer("web-b", "eni-web00002")
    );
    let path = dir.join("vipdeck.toml");
    std::fs::write(&path, text).expect("config");
    path
}

fn status(cfg: &Path) -> (serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .args(["status", "--json", "--config"])
        .arg(cfg)
        .env("TENCENTCLOUD_SECRET_ID", ID)
        .env("TENCENTCLOUD_SECRET_KEY", KEY)
        .env("VIPDECK_DATA_DIR", cfg.parent().expect("dir"))
        .output()
        .expect("status runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let all = format!("{}{stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(!all.contains(KEY), "the secret key leaked into output");
    (serde_json::from_slice(&out.stdout).expect("JSON"), stderr)
}

#[test]
fn status_reads_local_peers_and_the_emulated_cloud() {
    let (sim, url) = start_cloudsim();
    // Stand-ins for keepalived's processes: the pid files point at them.
    let a = Command::new("sleep").arg("600").spawn().expect("sleep");
    let b = Command::new("sleep").arg("600").spawn().expect("sleep");
    let (pa, pb) = (a.id(), b.id());
    let _guard = Killed(vec![sim, a, b]);
    let dir = tempfile::tempdir().expect("tmp");
    peer_files(
        dir.path(),
        "web-a",
        "MASTER",
        "192.0.2.11",
        "192.0.2.12",
        pa,
    );
    peer_files(
        dir.path(),
        "web-b",
        "BACKUP\n",
        "192.0.2.12",
        "192.0.2.11",
        pb,
    );
    let cfg = config(dir.path(), &url);

    let (v, _) = status(&cfg);
    let c = &v["clusters"][0];
    assert_eq!(c["master"], "web-a", "{c:#}");
    assert_eq!(c["vip_bound_to"], "web-a", "{c:#}");
    assert_eq!(c["cloud"]["network_interface_id"], "eni-web00001");
    assert_eq!(c["cloud"]["havip_id"], "havip-web00001");
    assert_eq!(c["cloud"]["credential_source"], "env");
    assert_eq!(c["peers"][0]["vrrp_state"], "MASTER");
    assert_eq!(c["peers"][0]["keepalived_running"], true);
    assert_eq!(c["peers"][0]["priority"], 100);
    assert_eq!(c["peers"][1]["vrrp_state"], "BACKUP");
    // The VIP is on no NIC here (the interface does not exist): the master
    // lacks it, and vipdeck says so instead of calling this healthy.
    assert_eq!(c["verdict"], "degraded");
    let codes: Vec<&str> = c["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|a| a["code"].as_str())
        .collect();
    assert!(codes.contains(&"vip_missing_on_master"), "{codes:?}");

    // keepalived dies on web-a (the state file still says MASTER); web-b
    // takes over and its GARP rebinds the HAVIP.
    std::fs::write(dir.path().join("web-a/keepalived.pid"), "999999999\n").expect("pid");
    std::fs::write(dir.path().join("web-b/state"), "MASTER").expect("state");
    let garp = Command::new("curl")
        .args([
            "-sf",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-d",
        ])
        .arg(r#"{"mac":"52:54:00:00:01:02","ip":"192.0.2.10"}"#)
        .arg(format!("{url}/admin/garp"))
        .output()
        .expect("curl");
    assert!(
        garp.status.success(),
        "{}",
        String::from_utf8_lossy(&garp.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (v, _) = status(&cfg);
        let c = &v["clusters"][0];
        if c["vip_bound_to"] == "web-b" {
            assert_eq!(c["master"], "web-b");
            assert_eq!(c["peers"][0]["vrrp_state"], "STOP", "{c:#}");
            assert_eq!(c["peers"][0]["state_file"], "MASTER");
            assert!(c["cloud"]["flushed_time"].is_string());
            let msgs: Vec<&str> = c["alerts"]
                .as_array()
                .expect("alerts")
                .iter()
                .filter_map(|a| a["message"].as_str())
                .collect();
            assert!(
                msgs.contains(&"web-a: state file says MASTER but keepalived is not running"),
                "{msgs:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "binding never followed: {c:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_failing_cloud_is_shown_and_does_not_block_the_peers() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = Command::new("sleep").arg("600").spawn().expect("sleep");
    let pa = a.id();
    let _guard = Killed(vec![a]);
    peer_files(
        dir.path(),
        "web-a",
        "MASTER",
        "192.0.2.11",
        "192.0.2.12",
        pa,
    );
    peer_files(
        dir.path(),
        "web-b",
        "BACKUP",
        "192.0.2.12",
        "192.0.2.11",
        pa,
    );
    // Nothing listens here: every cloud call fails fast.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let cfg = config(dir.path(), &url);
    let started = Instant::now();
    let (v, _) = status(&cfg);
    let c = &v["clusters"][0];
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(c["master"], "web-a");
    assert!(
        c["cloud"]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{c:#}"
    );
    assert_eq!(c["vip_bound_to"], serde_json::Value::Null);
}
