//! The official Tencent Cloud Python SDK, unchanged, against the real
//! `vipdeck cloudsim` binary. Needs `.venv` (scripts/setup-venv.sh): a
//! missing venv fails the test with a one-line hint.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use vipdeck::cloudsim::example_world;

/// Kills the emulator when the test ends, however it ends.
struct Emulator(Child);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary on a free port with `world` and returns it with its
/// `HOST:PORT`.
fn spawn_cloudsim(world: &std::path::Path) -> (Emulator, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .args([
            "cloudsim",
            "--listen",
            "127.0.0.1:0",
            "--migration-delay-ms",
            "300",
            "--state",
        ])
        .arg(world)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("vipdeck cloudsim starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let emulator = Emulator(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("reads the ready line");
    let url = line
        .trim()
        .strip_prefix("cloudsim listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let endpoint = url.strip_prefix("http://").expect("http URL").to_string();
    assert!(
        !endpoint.ends_with(":0"),
        "the real port is printed: {endpoint}"
    );
    (emulator, endpoint)
}

#[test]
fn official_python_sdk_works_unchanged() {
    let python = crate::venv_python();
    let world = example_world().expect("example world");
    let (id, key) = (
        world.keys[0].secret_id.clone(),
        world.keys[0].secret_key.expose().to_string(),
    );
    let wrong = world.keys[1].secret_key.expose().to_string();
    // The example world plus a temporary key that needs its token.
    let dir = tempfile::tempdir().expect("tempdir");
    let world_path = dir.path().join("world.json");
    let mut world_json: Value =
        serde_json::from_str(vipdeck::cloudsim::EXAMPLE_WORLD).expect("json");
    world_json["Keys"].as_array_mut().expect("keys").push(serde_json::json!(
        {"SecretId": "AKIDtemporary0001", "SecretKey": "tmp-key-0001", "Token": "tmp-token-0001"}
    ));
    std::fs::write(&world_path, world_json.to_string()).expect("write world");
    let (_emulator, endpoint) = spawn_cloudsim(&world_path);

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk_cloudsim.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&endpoint)
        .env("TENCENTCLOUD_SECRET_ID", &id)
        .env("TENCENTCLOUD_SECRET_KEY", &key)
        .env("CLOUDSIM_WRONG_SECRET_KEY", &wrong)
        .env("CLOUDSIM_TMP_SECRET_ID", "AKIDtemporary0001")
        .env("CLOUDSIM_TMP_SECRET_KEY", "tmp-key-0001")
        .env("CLOUDSIM_TMP_TOKEN", "tmp-token-0001")
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .output()
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the SDK script failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));

    // DescribeHaVips through the SDK's own models.
    let h = &r["havip"];
    assert_eq!(h["TotalCount"], 1);
    assert_eq!(h["HaVipId"], "havip-web00001");
    assert_eq!(h["Vip"], "192.0.2.10");
    assert_eq!(h["NetworkInterfaceId"], "eni-web00001");
    assert_eq!(h["InstanceId"], "ins-web00001");
    assert_eq!(h["State"], "AVAILABLE");
    assert_eq!(h["CheckAssociate"], true);
    assert_eq!(
        h["Associations"],
        serde_json::json!(["ins-web00001", "ins-web00002"])
    );
    assert_eq!(h["RequestId"].as_str().map(str::len), Some(36));

    assert_eq!(r["enis"]["TotalCount"], 6);
    assert_eq!(r["enis"]["Macs"]["eni-web00002"], "52:54:00:00:01:02");

    // MigratePrivateIpAddress, then DescribeVpcTaskResult with its RequestId.
    assert_eq!(
        r["migration"]["Statuses"],
        serde_json::json!(["RUNNING", "SUCCESS"])
    );
    let after = r["after"].as_array().expect("ips");
    assert!(
        after
            .iter()
            .any(|p| p["ip"] == "192.0.2.20" && p["primary"] == false),
        "{after:?}"
    );

    // Errors come back as the SDK's typed exception with code and RequestId.
    assert_eq!(r["primary_error"]["code"], "UnsupportedOperation.PrimaryIp");
    assert_eq!(r["bad_key_error"]["code"], "AuthFailure.SignatureFailure");
    assert_eq!(
        r["bad_key_error"]["request_id"].as_str().map(str::len),
        Some(36)
    );

    // Temporary credentials work with their token and fail without it.
    assert_eq!(r["token_ok"], 2);
    assert_eq!(r["token_missing_error"], "AuthFailure.TokenFailure");

    // The emulator saw the SDK's calls under the SDK's SecretId.
    let log = admin_get(&format!("http://{endpoint}/admin/requests"));
    let actions: Vec<&str> = log
        .as_array()
        .expect("log")
        .iter()
        .filter(|e| e["secret_id"] == id.as_str())
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "DescribeHaVips").count(),
        2
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "MigratePrivateIpAddress")
            .count(),
        2
    );
    assert!(actions.contains(&"DescribeVpcTaskResult"));
    assert!(!log.to_string().contains(&key));
}

/// GET an admin endpoint from this synchronous test.
fn admin_get(url: &str) -> Value {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        reqwest::get(url)
            .await
            .expect("admin reachable")
            .json()
            .await
            .expect("admin JSON")
    })
}
