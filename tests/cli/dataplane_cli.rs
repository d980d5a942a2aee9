//! The data-plane witness through the CLI: `status --json`'s `dataplane`
//! object and the alert, with a real HTTP service on 127.0.0.1 (and a
//! closed port), peers that are this machine.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A cluster of two local peers whose VIP is probed at `probe`.
pub(crate) fn config(dir: &Path, probe: &str) -> PathBuf {
    let mut toml = format!(
        "[cloud]\nregion = \"ap-guangzhou\"\nendpoint = \"http://127.0.0.1:9\"\n\
         [[clusters]]\nname = \"t\"\nmode = \"havip\"\nvip = \"127.0.0.1\"\n\
         probe = \"{probe}\"\nprobe_node = \"header:X-Node\"\n"
    );
    for name in ["a", "b"] {
        toml.push_str(&format!(
            "  [[clusters.peers]]\n  name = \"{name}\"\n  local = true\n  \
             network_interface_id = \"eni-{name}0000001\"\n  \
             keepalived_conf = \"{d}/{name}.conf\"\n  state_file = \"{d}/state-{name}\"\n  \
             log_file = \"{d}/log-{name}\"\n",
            d = dir.display()
        ));
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, toml).expect("config");
    path
}

fn status_json(dir: &Path, config: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .arg("--config")
        .arg(config)
        .args(["status", "--json"])
        .env("VIPDECK_DATA_DIR", dir.join("data"))
        .output()
        .expect("run");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn status_json_has_the_vip_as_clients_see_it() {
    let dir = tempfile::tempdir().expect("tmp");
    // A service that names its node in a header, with an escape to clean.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nX-Node: b\x1b[31m\r\n\r\nok\n");
        }
    });
    let config = config(dir.path(), &format!("http://VIP:{port}/health"));
    let v = status_json(dir.path(), &config);
    let dp = &v["clusters"][0]["dataplane"];
    assert_eq!(dp["reachable"], true, "{v:#}");
    assert_eq!(dp["node"], "b␛[31m", "its escape shown, not sent: {v:#}");
    assert!(dp["rtt_ms"].as_f64().is_some(), "{v:#}");
    assert!(dp["since"].as_str().is_some(), "{v:#}");
    assert!(
        !dp["recent"].as_array().expect("recent").is_empty(),
        "{v:#}"
    );

    // The same cluster probing a closed port: no answer, named, alerted.
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let config = self::config(dir.path(), &format!("tcp:{closed_port}"));
    // tcp probes cannot read a node.
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        text.replace("probe_node = \"header:X-Node\"\n", ""),
    )
    .expect("write");
    let v = status_json(dir.path(), &config);
    let c = &v["clusters"][0];
    assert_eq!(c["dataplane"]["reachable"], false, "{v:#}");
    assert_eq!(c["dataplane"]["error"], "refused", "{v:#}");
    let codes: Vec<&str> = c["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|a| a["code"].as_str())
        .collect();
    assert!(codes.contains(&"vip_unreachable"), "{v:#}");
}

#[test]
fn a_cluster_without_a_probe_has_no_dataplane_object() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = config(dir.path(), "tcp:9");
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        text.replace("probe = \"tcp:9\"\nprobe_node = \"header:X-Node\"\n", ""),
    )
    .expect("write");
    let v = status_json(dir.path(), &config);
    let c = &v["clusters"][0];
    assert!(c.get("dataplane").is_none(), "{c:#}");
    assert!(c["peers"].is_array(), "a report all the same: {c:#}");
}

#[test]
fn the_demo_probes_its_vips_as_a_client_would() {
    let out = Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .args(["status", "--demo", "--json"])
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for c in v["clusters"].as_array().expect("clusters") {
        // The answer comes from the node the binding names, the MASTER.
        assert_eq!(c["dataplane"]["reachable"], true, "{c:#}");
        assert_eq!(c["dataplane"]["node"], c["master"], "{c:#}");
    }
}
