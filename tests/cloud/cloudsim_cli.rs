//! `vipdeck cloudsim` as a command: flags, world files, refusals, and what
//! it writes to its own log.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use vipdeck::cloudsim::World;
use vipdeck::core::vpc::sign::{authorization, sign, SignInput, CONTENT_TYPE_JSON};

fn vipdeck() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vipdeck"))
}

struct Emulator(Child);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts cloudsim with `args`, stderr to `log`, and returns its base URL.
fn spawn(args: &[&str], log: &std::path::Path) -> (Emulator, String) {
    let mut child = vipdeck()
        .arg("cloudsim")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("piped");
    let emulator = Emulator(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    let url = line
        .trim()
        .strip_prefix("cloudsim listening on ")
        .unwrap_or_else(|| panic!("unexpected {line:?}"))
        .to_string();
    (emulator, url)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Runtime::new().expect("runtime").block_on(f)
}

fn get(url: String) -> Value {
    block_on(async {
        reqwest::get(url)
            .await
            .expect("reachable")
            .json()
            .await
            .expect("json")
    })
}

/// One signed API call with the crate's signer.
fn call(base: &str, id: &str, key: &str, action: &str, body: Value) -> Value {
    let host = base.trim_start_matches("http://").to_string();
    let body = body.to_string();
    let ts = chrono::Utc::now().timestamp();
    let headers = [("content-type", CONTENT_TYPE_JSON), ("host", host.as_str())];
    let sig = sign(
        &SignInput {
            method: "POST",
            uri: "/",
            query: "",
            headers: &headers,
            payload: body.as_bytes(),
            service: "vpc",
            timestamp: ts,
        },
        key,
    );
    let auth = authorization(id, &sig);
    block_on(async {
        reqwest::Client::new()
            .post(base)
            .header("Content-Type", CONTENT_TYPE_JSON)
            .header("X-TC-Action", action)
            .header("X-TC-Version", "2017-03-12")
            .header("X-TC-Timestamp", ts.to_string())
            .header("X-TC-Region", "ap-guangzhou")
            .header("Authorization", auth)
            .body(body)
            .send()
            .await
            .expect("reachable")
            .json::<Value>()
            .await
            .expect("json")
    })["Response"]
        .clone()
}

#[test]
fn printed_example_world_loads() {
    let out = vipdeck()
        .args(["cloudsim", "--print-example-world"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let w = World::from_json(&String::from_utf8_lossy(&out.stdout)).expect("a valid world");
    assert_eq!(w.ha_vips[0].vip, "192.0.2.10");
}

#[test]
fn bad_world_files_and_addresses_are_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("world.json");
    let mut w: Value = serde_json::from_str(vipdeck::cloudsim::EXAMPLE_WORLD).expect("json");
    w["NetworkInterfaces"][1]["SubnetId"] = json!("subnet-gone0001");
    std::fs::write(&path, w.to_string()).expect("write");
    let out = vipdeck()
        .args(["cloudsim", "--listen", "127.0.0.1:0", "--state"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("eni-web00002") && err.contains("subnet-gone0001"),
        "{err}"
    );

    let out = vipdeck()
        .args(["cloudsim", "--listen", "0.0.0.0:0"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));

    let out = vipdeck()
        .args([
            "cloudsim",
            "--listen",
            "127.0.0.1:0",
            "--error-rate",
            "RequestLimitExceeded=2",
        ])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("between 0 and 1"));
}

#[test]
fn flags_set_faults_and_the_log_never_holds_a_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("cloudsim.log");
    let world_path = dir.path().join("world.json");
    let mut w: Value = serde_json::from_str(vipdeck::cloudsim::EXAMPLE_WORLD).expect("json");
    w["Keys"] = json!([{"SecretId": "AKIDlabonly", "SecretKey": "lab-secret-key-0123456789"}]);
    std::fs::write(&world_path, w.to_string()).expect("write");
    let world = world_path.to_string_lossy().to_string();
    let (emulator, base) = spawn(
        &[
            "--state",
            &world,
            "--error-rate",
            "RequestLimitExceeded=1",
            "--fail-next-migration",
            "--migration-delay-ms",
            "150",
            "--havip-delay-ms",
            "250",
            "--latency-ms",
            "5",
        ],
        &log,
    );
    let faults = get(format!("{base}/admin/faults"));
    assert_eq!(faults["error_rate"], json!({"RequestLimitExceeded": 1.0}));
    assert_eq!(faults["fail_next_migration"], true);
    assert_eq!(faults["migration_delay_ms"], 150);
    assert_eq!(faults["havip_delay_ms"], 250);
    assert_eq!(faults["garp_interval_ms"], 5000);
    assert_eq!(faults["latency_ms"], 5);

    let r = call(
        &base,
        "AKIDlabonly",
        "lab-secret-key-0123456789",
        "DescribeHaVips",
        json!({}),
    );
    assert_eq!(r["Error"]["Code"], "RequestLimitExceeded");
    let r = call(
        &base,
        "AKIDlabonly",
        "not-the-key",
        "DescribeHaVips",
        json!({}),
    );
    assert_eq!(r["Error"]["Code"], "AuthFailure.SignatureFailure");

    std::thread::sleep(Duration::from_millis(100));
    drop(emulator);
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.contains("api call") && text.contains("AKIDlabonly"),
        "{text}"
    );
    assert!(text.contains("RequestLimitExceeded"), "{text}");
    assert!(
        !text.contains("lab-secret-key-0123456789"),
        "the key leaked into the log"
    );
}

#[test]
fn generated_clusters_need_several_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_emulator, base) = spawn(&["--generate-clusters", "150"], &dir.path().join("log"));
    let w = vipdeck::cloudsim::example_world().expect("world");
    let (id, key) = (w.keys[0].secret_id.as_str(), w.keys[0].secret_key.expose());
    let page = |offset: u64| {
        call(
            &base,
            id,
            key,
            "DescribeNetworkInterfaces",
            json!({"Limit": 100, "Offset": offset}),
        )
    };
    let (p1, p2, p3) = (page(0), page(100), page(200));
    assert_eq!(p1["TotalCount"], 300);
    let len = |p: &Value| p["NetworkInterfaceSet"].as_array().map(Vec::len);
    assert_eq!(
        (len(&p1), len(&p2), len(&p3)),
        (Some(100), Some(100), Some(100))
    );
    assert_eq!(
        p3["NetworkInterfaceSet"][99]["NetworkInterfaceId"],
        "eni-g00149b"
    );
    let ids: Vec<String> = (0..150)
        .step_by(2)
        .map(|i| format!("havip-g{i:07}"))
        .collect();
    let r = call(
        &base,
        id,
        key,
        "DescribeHaVips",
        json!({"HaVipIds": ids, "Limit": 100}),
    );
    assert_eq!(r["TotalCount"], 75);
    assert_eq!(r["HaVipSet"].as_array().map(Vec::len), Some(75));
}
