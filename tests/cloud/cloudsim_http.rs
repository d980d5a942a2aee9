//! `vipdeck cloudsim` over real HTTP, in-process on 127.0.0.1:0, with
//! requests signed by the crate's own TC3 signer (src/cloud/sign.rs).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vipdeck::cloudsim::{self, example_world, Config, Running, Timing};
use vipdeck::core::vpc::sign::{authorization, sign, SignInput, CONTENT_TYPE_JSON};

struct Key {
    id: String,
    secret: String,
}

fn keys() -> (Key, Key) {
    let w = example_world().expect("example world");
    let k = |i: usize| Key {
        id: w.keys[i].secret_id.clone(),
        secret: w.keys[i].secret_key.expose().to_string(),
    };
    (k(0), k(1))
}

async fn start_with(timing: Timing) -> Running {
    let mut config = Config::new(example_world().expect("example world"));
    config.timing = timing;
    cloudsim::start("127.0.0.1:0", config)
        .await
        .expect("cloudsim starts")
}

async fn start() -> Running {
    start_with(Timing {
        migration_delay: chrono::Duration::milliseconds(300),
        havip_delay: chrono::Duration::milliseconds(200),
        garp_interval: chrono::Duration::seconds(5),
    })
    .await
}

/// How a test request is signed and what it sends.
struct Call<'a> {
    action: &'a str,
    key: &'a Key,
    signed_body: String,
    sent_body: String,
    timestamp: i64,
    version: &'a str,
}

impl<'a> Call<'a> {
    fn new(action: &'a str, key: &'a Key, body: Value) -> Self {
        Call {
            action,
            key,
            signed_body: body.to_string(),
            sent_body: body.to_string(),
            timestamp: chrono::Utc::now().timestamp(),
            version: "2017-03-12",
        }
    }

    async fn send(&self, sim: &Running) -> (reqwest::header::HeaderMap, Value) {
        let host = sim.addr.to_string();
        let headers = [("content-type", CONTENT_TYPE_JSON), ("host", host.as_str())];
        let sig = sign(
            &SignInput {
                method: "POST",
                uri: "/",
                query: "",
                headers: &headers,
                payload: self.signed_body.as_bytes(),
                service: "vpc",
                timestamp: self.timestamp,
            },
            &self.key.secret,
        );
        let resp = reqwest::Client::new()
            .post(sim.url())
            .header("Content-Type", CONTENT_TYPE_JSON)
            .header("X-TC-Action", self.action)
            .header("X-TC-Version", self.version)
            .header("X-TC-Timestamp", self.timestamp.to_string())
            .header("X-TC-Region", "ap-guangzhou")
            .header("Authorization", authorization(&self.key.id, &sig))
            .body(self.sent_body.clone())
            .send()
            .await
            .expect("request reaches cloudsim");
        assert_eq!(
            resp.status(),
            200,
            "the API answers errors with HTTP 200 too"
        );
        let headers = resp.headers().clone();
        let body: Value = resp.json().await.expect("JSON body");
        (headers, body)
    }

    async fn response(&self, sim: &Running) -> Value {
        self.send(sim).await.1["Response"].clone()
    }
}

fn error_code(r: &Value) -> Option<&str> {
    r["Error"]["Code"].as_str()
}

async fn admin_get(sim: &Running, path: &str) -> Value {
    reqwest::get(format!("{}{path}", sim.url()))
        .await
        .expect("admin reachable")
        .json()
        .await
        .expect("admin JSON")
}

async fn admin_post(sim: &Running, path: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", sim.url()))
        .json(&body)
        .send()
        .await
        .expect("admin reachable");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("admin JSON"))
}

#[tokio::test]
async fn good_signature_gets_the_official_envelope() {
    let sim = start().await;
    let (k, _) = keys();
    let (headers, body) = Call::new(
        "DescribeHaVips",
        &k,
        json!({"HaVipIds": ["havip-web00001"]}),
    )
    .send(&sim)
    .await;
    assert_eq!(headers["content-type"], "application/json");
    let r = &body["Response"];
    assert!(r.get("Error").is_none(), "{body}");
    assert_eq!(r["TotalCount"], 1);
    assert_eq!(r["HaVipSet"][0]["HaVipId"], "havip-web00001");
    assert_eq!(r["HaVipSet"][0]["NetworkInterfaceId"], "eni-web00001");
    let rid = r["RequestId"].as_str().expect("RequestId");
    assert_eq!(rid.len(), 36);
    sim.shutdown().await.expect("stops");
}

#[tokio::test]
async fn bad_signatures_are_rejected_with_the_right_codes() {
    let sim = start().await;
    let (k, other) = keys();

    let mut tampered = Call::new("DescribeNetworkInterfaces", &k, json!({"Limit": 1}));
    tampered.sent_body = json!({"Limit": 2}).to_string();
    assert_eq!(
        error_code(&tampered.response(&sim).await),
        Some("AuthFailure.SignatureFailure")
    );

    let wrong_key = Key {
        id: k.id.clone(),
        secret: other.secret.clone(),
    };
    let r = Call::new("DescribeNetworkInterfaces", &wrong_key, json!({}))
        .response(&sim)
        .await;
    assert_eq!(error_code(&r), Some("AuthFailure.SignatureFailure"));
    assert!(r["RequestId"].is_string());

    let mut expired = Call::new("DescribeNetworkInterfaces", &k, json!({}));
    expired.timestamp -= 301;
    assert_eq!(
        error_code(&expired.response(&sim).await),
        Some("AuthFailure.SignatureExpire")
    );

    let nobody = Key {
        id: "AKIDnobodyhere".into(),
        secret: k.secret.clone(),
    };
    let r = Call::new("DescribeNetworkInterfaces", &nobody, json!({}))
        .response(&sim)
        .await;
    assert_eq!(error_code(&r), Some("AuthFailure.SecretIdNotFound"));

    let mut old = Call::new("DescribeNetworkInterfaces", &k, json!({}));
    old.version = "2019-07-19";
    assert_eq!(error_code(&old.response(&sim).await), Some("NoSuchVersion"));

    let r = Call::new("TerminateInstances", &k, json!({}))
        .response(&sim)
        .await;
    assert_eq!(error_code(&r), Some("InvalidAction"));

    // The other key of the world works as well.
    let r = Call::new("DescribeNetworkInterfaces", &other, json!({}))
        .response(&sim)
        .await;
    assert_eq!(r["TotalCount"], 6, "{r}");
    sim.shutdown().await.expect("stops");
}

async fn task_status(sim: &Running, k: &Key, task: &str) -> String {
    let r = Call::new("DescribeVpcTaskResult", k, json!({"TaskId": task}))
        .response(sim)
        .await;
    r["Status"]
        .as_str()
        .unwrap_or_else(|| panic!("no Status in {r}"))
        .to_string()
}

async fn holder_of(sim: &Running, k: &Key, ip: &str) -> Vec<String> {
    let r = Call::new(
        "DescribeNetworkInterfaces",
        k,
        json!({"Filters": [{"Name": "address-ip", "Values": [ip]}, {"Name": "ip-exact-match", "Values": ["TRUE"]}]}),
    )
    .response(sim)
    .await;
    r["NetworkInterfaceSet"]
        .as_array()
        .expect("set")
        .iter()
        .filter_map(|e| e["NetworkInterfaceId"].as_str().map(String::from))
        .collect()
}

async fn wait_for_status(sim: &Running, k: &Key, task: &str) -> (String, Vec<String>) {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = task_status(sim, k, task).await;
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s != "RUNNING" || Instant::now() > deadline {
            return (s, seen);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn migration_runs_then_succeeds_and_moves_the_ip() {
    let sim = start().await;
    let (k, _) = keys();
    let migrate = json!({
        "SourceNetworkInterfaceId": "eni-api00001",
        "DestinationNetworkInterfaceId": "eni-api00002",
        "PrivateIpAddress": "192.0.2.20"
    });
    let r = Call::new("MigratePrivateIpAddress", &k, migrate)
        .response(&sim)
        .await;
    assert!(r.get("Error").is_none(), "{r}");
    let task = r["RequestId"].as_str().expect("RequestId").to_string();
    let (last, seen) = wait_for_status(&sim, &k, &task).await;
    assert_eq!(seen, vec!["RUNNING", "SUCCESS"]);
    assert_eq!(last, "SUCCESS");
    assert_eq!(
        holder_of(&sim, &k, "192.0.2.20").await,
        vec!["eni-api00002"]
    );

    // A primary IP cannot be moved; the error arrives at once.
    let primary = json!({
        "SourceNetworkInterfaceId": "eni-api00002",
        "DestinationNetworkInterfaceId": "eni-api00001",
        "PrivateIpAddress": "192.0.2.22"
    });
    let r = Call::new("MigratePrivateIpAddress", &k, primary)
        .response(&sim)
        .await;
    assert_eq!(error_code(&r), Some("UnsupportedOperation.PrimaryIp"));
    sim.shutdown().await.expect("stops");
}

#[tokio::test]
async fn a_doomed_migration_ends_failed() {
    let sim = start().await;
    let (k, _) = keys();
    let (status, view) =
        admin_post(&sim, "/admin/faults", json!({"fail_next_migration": true})).await;
    assert_eq!((status, &view["fail_next_migration"]), (200, &json!(true)));
    let r = Call::new(
        "MigratePrivateIpAddress",
        &k,
        json!({"SourceNetworkInterfaceId": "eni-api00001", "DestinationNetworkInterfaceId": "eni-api00002", "PrivateIpAddress": "192.0.2.20"}),
    )
    .response(&sim)
    .await;
    let task = r["RequestId"].as_str().expect("RequestId").to_string();
    let (last, seen) = wait_for_status(&sim, &k, &task).await;
    assert_eq!(seen, vec!["RUNNING", "FAILED"]);
    assert_eq!(last, "FAILED");
    assert_eq!(
        holder_of(&sim, &k, "192.0.2.20").await,
        vec!["eni-api00001"]
    );
    let faults = admin_get(&sim, "/admin/faults").await;
    assert_eq!(faults["fail_next_migration"], false, "the fault is used up");
    sim.shutdown().await.expect("stops");
}

#[tokio::test]
async fn throttling_latency_and_hang_faults() {
    let sim = start().await;
    let (k, _) = keys();
    let (status, _) = admin_post(
        &sim,
        "/admin/faults",
        json!({"error_rate": {"RequestLimitExceeded": 1.0}}),
    )
    .await;
    assert_eq!(status, 200);
    let r = Call::new("DescribeHaVips", &k, json!({}))
        .response(&sim)
        .await;
    assert_eq!(error_code(&r), Some("RequestLimitExceeded"));
    // Auth is still checked first: a bad signature is not hidden by throttling.
    let mut expired = Call::new("DescribeHaVips", &k, json!({}));
    expired.timestamp -= 3600;
    assert_eq!(
        error_code(&expired.response(&sim).await),
        Some("AuthFailure.SignatureExpire")
    );

    let (status, err) = admin_post(
        &sim,
        "/admin/faults",
        json!({"error_rate": {"InternalError": 1.5}}),
    )
    .await;
    assert_eq!(status, 400, "{err}");

    admin_post(
        &sim,
        "/admin/faults",
        json!({"error_rate": {}, "latency_ms": 300}),
    )
    .await;
    let t = Instant::now();
    let r = Call::new("DescribeHaVips", &k, json!({}))
        .response(&sim)
        .await;
    assert!(r.get("Error").is_none(), "{r}");
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );

    admin_post(
        &sim,
        "/admin/faults",
        json!({"latency_ms": 0, "hang": true}),
    )
    .await;
    let call = Call::new("DescribeHaVips", &k, json!({}));
    let r = {
        let pending = call.response(&sim);
        tokio::pin!(pending);
        let early = tokio::time::timeout(Duration::from_millis(400), &mut pending).await;
        assert!(early.is_err(), "a hanging call must not be answered");
        admin_post(&sim, "/admin/faults", json!({"hang": false})).await;
        tokio::time::timeout(Duration::from_secs(5), pending)
            .await
            .expect("answered once released")
    };
    // Signed before the hang began, answered well within the 5-minute window.
    assert!(r.get("Error").is_none(), "{r}");
    sim.shutdown().await.expect("stops");
}

#[tokio::test]
async fn garp_rebinds_the_havip_and_is_rate_limited() {
    let sim = start().await;
    let (k, _) = keys();
    let (_, out) = admin_post(
        &sim,
        "/admin/garp",
        json!({"mac": "52:54:00:00:01:02", "ip": "192.0.2.10"}),
    )
    .await;
    assert_eq!(out["outcome"], "scheduled", "{out}");
    let (_, out) = admin_post(
        &sim,
        "/admin/garp",
        json!({"mac": "52:54:00:00:01:02", "ip": "192.0.2.10"}),
    )
    .await;
    assert_eq!(out["outcome"], "rate_limited", "{out}");
    let (_, out) = admin_post(
        &sim,
        "/admin/garp",
        json!({"mac": "52:54:00:00:03:01", "ip": "192.0.2.10"}),
    )
    .await;
    assert_eq!(out["outcome"], "refused", "{out}");

    let before = Call::new(
        "DescribeHaVips",
        &k,
        json!({"Filters": [{"Name": "vip", "Values": ["192.0.2.10"]}]}),
    )
    .response(&sim)
    .await;
    assert_eq!(before["HaVipSet"][0]["NetworkInterfaceId"], "eni-web00001");
    assert_eq!(before["HaVipSet"][0]["FlushedTime"], "0000-00-00 00:00:00");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = Call::new(
        "DescribeHaVips",
        &k,
        json!({"HaVipIds": ["havip-web00001"]}),
    )
    .response(&sim)
    .await;
    let h = &after["HaVipSet"][0];
    assert_eq!(h["NetworkInterfaceId"], "eni-web00002");
    assert_eq!(h["InstanceId"], "ins-web00002");
    assert_eq!(h["State"], "AVAILABLE");
    let flushed =
        vipdeck::core::vpc::types::parse_api_time(h["FlushedTime"].as_str().expect("string"))
            .expect("API time");
    assert!(
        (chrono::Utc::now() - flushed).num_seconds().abs() < 5,
        "FlushedTime is now in Beijing time"
    );

    let garp = admin_get(&sim, "/admin/garp").await;
    assert_eq!(garp["stats"]["rate_limited"], 1);
    assert_eq!(garp["stats"]["refused"], 1);
    assert_eq!(garp["stats"]["rebinds_applied"], 1);
    sim.shutdown().await.expect("stops");
}

#[tokio::test]
async fn request_log_counts_calls_and_never_holds_a_key() {
    let sim = start().await;
    let (k, other) = keys();
    for _ in 0..3 {
        Call::new("DescribeHaVips", &k, json!({}))
            .response(&sim)
            .await;
    }
    Call::new("DescribeNetworkInterfaces", &other, json!({"Limit": 100}))
        .response(&sim)
        .await;
    let log = admin_get(&sim, "/admin/requests").await;
    let entries = log.as_array().expect("array");
    let havips: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "DescribeHaVips")
        .collect();
    assert_eq!(havips.len(), 3);
    assert!(havips
        .iter()
        .all(|e| e["secret_id"] == k.id.as_str() && e["region"] == "ap-guangzhou"));
    let eni = entries
        .iter()
        .find(|e| e["action"] == "DescribeNetworkInterfaces")
        .expect("logged");
    assert_eq!(eni["params"]["Limit"], 100);
    assert_eq!(eni["secret_id"], other.id.as_str());

    let everything = format!(
        "{log}{}{}",
        admin_get(&sim, "/admin/world").await,
        admin_get(&sim, "/admin/faults").await
    );
    assert!(!everything.contains(&k.secret) && !everything.contains(&other.secret));

    let cleared = reqwest::Client::new()
        .delete(format!("{}/admin/requests", sim.url()))
        .send()
        .await
        .expect("reachable");
    assert_eq!(cleared.status(), 200);
    assert_eq!(admin_get(&sim, "/admin/requests").await, json!([]));
    sim.shutdown().await.expect("stops");
}

#[tokio::test]
async fn a_new_world_can_be_loaded_and_bad_ones_are_refused() {
    let sim = start().await;
    let (k, _) = keys();
    let world_url = format!("{}/admin/world", sim.url());
    let put = |world: Value| {
        let url = world_url.clone();
        async move {
            let resp = reqwest::Client::new()
                .put(url)
                .body(world.to_string())
                .send()
                .await
                .expect("reachable");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.expect("json"))
        }
    };
    let mut world: Value = serde_json::from_str(cloudsim::EXAMPLE_WORLD).expect("json");
    world["HaVips"][1]["Vip"] = world["HaVips"][0]["Vip"].clone();
    let (status, body) = put(world.clone()).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("already used"),
        "{body}"
    );

    // 40 HAVIPs in subnet b: more than one page of 25.
    let havips: Vec<Value> = (0..40)
        .map(|i| json!({"HaVipId": format!("havip-p{i:07}"), "SubnetId": "subnet-simb0001", "Vip": format!("192.0.2.{}", 80 + i)}))
        .collect();
    world["HaVips"] = Value::Array(havips);
    let (status, body) = put(world).await;
    assert_eq!(status, 200, "{body}");
    let p1 = Call::new("DescribeHaVips", &k, json!({"Limit": 25}))
        .response(&sim)
        .await;
    let p2 = Call::new("DescribeHaVips", &k, json!({"Limit": 25, "Offset": 25}))
        .response(&sim)
        .await;
    assert_eq!(p1["TotalCount"], 40);
    assert_eq!(p1["HaVipSet"].as_array().map(Vec::len), Some(25));
    assert_eq!(p2["HaVipSet"].as_array().map(Vec::len), Some(15));
    assert_eq!(p2["HaVipSet"][0]["HaVipId"], "havip-p0000025");
    assert_eq!(p2["HaVipSet"][0]["State"], "UNBIND");
    sim.shutdown().await.expect("stops");
}

#[tokio::test]
async fn shutdown_releases_held_calls() {
    let sim = start().await;
    let (k, _) = keys();
    admin_post(&sim, "/admin/faults", json!({"hang": true})).await;
    let url = sim.url();
    let host = sim.addr.to_string();
    let held = tokio::spawn(async move {
        // Built by hand: the helper borrows the server, which shutdown takes.
        let body = "{}";
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
            &k.secret,
        );
        reqwest::Client::new()
            .post(url)
            .header("Content-Type", CONTENT_TYPE_JSON)
            .header("X-TC-Action", "DescribeHaVips")
            .header("X-TC-Version", "2017-03-12")
            .header("X-TC-Timestamp", ts.to_string())
            .header("X-TC-Region", "ap-guangzhou")
            .header("Authorization", authorization(&k.id, &sig))
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!held.is_finished());
    tokio::time::timeout(Duration::from_secs(5), sim.shutdown())
        .await
        .expect("shutdown does not wait for a hang")
        .expect("stops");
    let status = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .expect("answered")
        .expect("task");
    assert_eq!(status.ok(), Some(200));
}
