//! The VPC client over real HTTP against a small loopback server that checks
//! every TC3 signature with the crate's signer and answers from a script:
//! retries and what is never retried, timeouts, the error envelope, paging,
//! batching, migration + task polling, credentials from a loopback metadata
//! service, and no secret in any captured log line.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use vipdeck::core::model::{ClusterSpec, Mode, PeerSpec};
use vipdeck::core::vpc::sign::{parse_authorization, sign, SignInput};
use vipdeck::core::vpc::types::TaskStatus;
use vipdeck::sources::cloud::client::{ClientConfig, CloudError, RetryPolicy, VpcClient};
use vipdeck::sources::cloud::credentials::{
    self, ChainOptions, CredentialProvider, CredentialSource, Credentials,
};
use vipdeck::sources::cloud::poll_bindings;

/// Every test uses this key, so the log check covers all of them.
const SECRET_KEY: &str = "sk-Never-In-Logs-7f3a9c";
const SECRET_ID: &str = "AKIDvipdeckTEST0001";
const TOKEN: &str = "tok-Never-In-Logs-too";

/// What the script tells the server to do for one call.
enum Reply {
    Ok(Value),
    Error(&'static str),
    Hang,
}

type Script = Box<dyn Fn(&str, &Value, usize) -> Reply + Send + Sync>;

struct Server {
    script: Script,
    calls: Mutex<Vec<(String, Value)>>,
}

impl Server {
    fn count(&self, action: &str) -> usize {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .filter(|(a, _)| a == action)
            .count()
    }
    fn bodies(&self, action: &str) -> Vec<Value> {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .filter(|(a, _)| a == action)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

fn envelope_error(code: &str, n: usize) -> Value {
    json!({"Response": {"Error": {"Code": code, "Message": format!("scripted {code}")},
        "RequestId": format!("req-err-{n}")}})
}

/// Checks the request as the cloud would: headers present, signature over
/// the signed headers as received, timestamp fresh.
fn verify(headers: &HeaderMap, body: &[u8]) -> Result<String, &'static str> {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let auth = parse_authorization(h("authorization").ok_or("AuthFailure.SignatureFailure")?)
        .ok_or("AuthFailure.SignatureFailure")?;
    if auth.secret_id != SECRET_ID {
        return Err("AuthFailure.SecretIdNotFound");
    }
    if h("x-tc-version") != Some("2017-03-12") || h("x-tc-region") != Some("ap-guangzhou") {
        return Err("InvalidParameter");
    }
    let ts: i64 = h("x-tc-timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or("InvalidParameter")?;
    if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
        return Err("AuthFailure.SignatureExpire");
    }
    let mut pairs = Vec::new();
    for name in &auth.signed_headers {
        pairs.push((
            name.as_str(),
            h(name).ok_or("AuthFailure.SignatureFailure")?,
        ));
    }
    let sig = sign(
        &SignInput {
            method: "POST",
            uri: "/",
            query: "",
            headers: &pairs,
            payload: body,
            service: &auth.service,
            timestamp: ts,
        },
        SECRET_KEY,
    );
    if sig.signature != auth.signature || auth.service != "vpc" {
        return Err("AuthFailure.SignatureFailure");
    }
    // Every test key comes with TOKEN; the wrong-key test fails above.
    if h("x-tc-token") != Some(TOKEN) {
        return Err("AuthFailure.TokenFailure");
    }
    h("x-tc-action").map(str::to_string).ok_or("InvalidAction")
}

async fn handle(State(srv): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    let action = match verify(&headers, &body) {
        Ok(a) => a,
        Err(code) => return Json(envelope_error(code, 0)).into_response(),
    };
    let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
        return Json(envelope_error("InvalidParameter", 0)).into_response();
    };
    let n = {
        let mut calls = srv.calls.lock().expect("lock");
        calls.push((action.clone(), parsed.clone()));
        calls.iter().filter(|(a, _)| *a == action).count()
    };
    match (srv.script)(&action, &parsed, n) {
        Reply::Ok(mut v) => {
            v["RequestId"] = json!(format!("req-{action}-{n}"));
            Json(json!({ "Response": v })).into_response()
        }
        Reply::Error(code) => Json(envelope_error(code, n)).into_response(),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Json(envelope_error("InternalError", n)).into_response()
        }
    }
}

async fn serve(script: Script) -> (Arc<Server>, SocketAddr) {
    init_log_capture();
    let srv = Arc::new(Server {
        script,
        calls: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/", post(handle))
        .with_state(srv.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (srv, addr)
}

fn creds() -> CredentialProvider {
    CredentialProvider::fixed(Credentials::new(
        SECRET_ID,
        SECRET_KEY,
        Some(TOKEN.into()),
        CredentialSource::Static("test".into()),
    ))
}

fn client(addr: SocketAddr, attempts: u32, timeout: Duration) -> VpcClient {
    let mut cfg = ClientConfig::new(format!("http://{addr}"), "ap-guangzhou");
    cfg.timeout = timeout;
    cfg.retry = RetryPolicy {
        max_attempts: attempts,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
    };
    cfg.task_poll_interval = Duration::from_millis(20);
    VpcClient::new(cfg, creds()).expect("client")
}

// ---- log capture: one global subscriber for this test binary ----

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_log_capture() {
    let buf = LOGS
        .get_or_init(|| Arc::new(Mutex::new(Vec::new())))
        .clone();
    let writer = move || Capture(buf.clone());
    // TRACE for every crate (reqwest, hyper, axum too); the `log` bridge
    // comes with try_init. A second call fails harmlessly.
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(writer)
        .try_init();
}

fn captured() -> String {
    LOGS.get()
        .map(|b| String::from_utf8_lossy(&b.lock().expect("lock")).to_string())
        .unwrap_or_default()
}

// ---- tests ----

#[tokio::test]
async fn signed_request_reaches_the_server_and_decodes() {
    let (srv, addr) = serve(Box::new(|action, _, _| match action {
        "DescribeHaVips" => Reply::Ok(json!({"TotalCount": 1, "HaVipSet": [{
            "HaVipId": "havip-1", "Vip": "10.0.0.12", "NetworkInterfaceId": "eni-a",
            "InstanceId": "ins-a", "State": "AVAILABLE", "FlushedTime": "2026-11-22 06:44:02",
            "FieldFromTheFuture": {"x": 1}}]})),
        _ => Reply::Error("InvalidAction"),
    }))
    .await;
    let c = client(addr, 1, Duration::from_secs(5));
    assert_eq!(
        c.host(),
        addr.to_string(),
        "Host carries the port, as the SDK sends it"
    );
    let r = c
        .describe_ha_vips(&vipdeck::core::vpc::types::DescribeHaVipsRequest {
            ha_vip_ids: vec!["havip-1".into()],
            ..Default::default()
        })
        .await
        .expect("signature accepted");
    assert_eq!(r.ha_vip_set[0].network_interface_id, "eni-a");
    assert_eq!(r.request_id, "req-DescribeHaVips-1");
    assert_eq!(
        srv.bodies("DescribeHaVips")[0],
        json!({"HaVipIds": ["havip-1"]})
    );
}

#[tokio::test]
async fn throttling_is_retried_then_surfaced_with_its_request_id() {
    let (srv, addr) = serve(Box::new(|_, _, _| Reply::Error("RequestLimitExceeded"))).await;
    let c = client(addr, 3, Duration::from_secs(5));
    let e = c
        .describe_network_interfaces(&Default::default())
        .await
        .expect_err("keeps failing");
    assert_eq!(
        srv.count("DescribeNetworkInterfaces"),
        3,
        "three attempts in all"
    );
    assert_eq!(e.code(), Some("RequestLimitExceeded"));
    assert_eq!(
        e.request_id(),
        Some("req-err-3"),
        "the last attempt's RequestId"
    );
    assert!(
        e.to_string().contains("scripted RequestLimitExceeded"),
        "{e}"
    );
}

#[tokio::test]
async fn throttling_then_success_returns_the_answer() {
    let (srv, addr) = serve(Box::new(|_, _, n| {
        if n < 3 {
            Reply::Error(if n == 1 {
                "RequestLimitExceeded"
            } else {
                "InternalError"
            })
        } else {
            Reply::Ok(json!({"TotalCount": 0, "NetworkInterfaceSet": []}))
        }
    }))
    .await;
    let c = client(addr, 4, Duration::from_secs(5));
    let r = c
        .describe_network_interfaces(&Default::default())
        .await
        .expect("third try");
    assert_eq!(r.request_id, "req-DescribeNetworkInterfaces-3");
    assert_eq!(srv.count("DescribeNetworkInterfaces"), 3);
}

#[tokio::test]
async fn auth_and_parameter_errors_are_never_retried() {
    for code in [
        "AuthFailure.SignatureFailure",
        "UnauthorizedOperation",
        "InvalidParameterValue",
    ] {
        let (srv, addr) = serve(Box::new(move |_, _, _| Reply::Error(code))).await;
        let c = client(addr, 5, Duration::from_secs(5));
        let e = c
            .describe_ha_vips(&Default::default())
            .await
            .expect_err("fails");
        assert_eq!(srv.count("DescribeHaVips"), 1, "{code} tried once");
        assert_eq!(e.code(), Some(code));
        assert_eq!(e.request_id(), Some("req-err-1"));
    }
}

#[tokio::test]
async fn a_wrong_key_is_rejected_by_signature() {
    let (srv, addr) = serve(Box::new(|_, _, _| Reply::Ok(json!({})))).await;
    let mut cfg = ClientConfig::new(format!("http://{addr}"), "ap-guangzhou");
    cfg.retry.max_attempts = 3;
    let c = VpcClient::new(
        cfg,
        CredentialProvider::fixed(Credentials::new(
            SECRET_ID,
            "not-the-key",
            None,
            CredentialSource::Static("test".into()),
        )),
    )
    .expect("client");
    let e = c
        .describe_ha_vips(&Default::default())
        .await
        .expect_err("rejected");
    assert_eq!(e.code(), Some("AuthFailure.SignatureFailure"));
    assert_eq!(srv.count("DescribeHaVips"), 0, "never reached the script");
}

#[tokio::test]
async fn the_timeout_is_honoured_and_retried() {
    let (srv, addr) = serve(Box::new(|_, _, _| Reply::Hang)).await;
    let c = client(addr, 2, Duration::from_millis(300));
    let start = Instant::now();
    let e = c
        .describe_ha_vips(&Default::default())
        .await
        .expect_err("times out");
    let took = start.elapsed();
    assert!(matches!(e, CloudError::Timeout { .. }), "{e:?}");
    assert_eq!(srv.count("DescribeHaVips"), 2);
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        took >= Duration::from_millis(600),
        "two full timeouts, took {took:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let c = client(addr, 2, Duration::from_secs(2));
    let e = c
        .describe_ha_vips(&Default::default())
        .await
        .expect_err("refused");
    assert!(matches!(e, CloudError::Connect { .. }), "{e:?}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn paging_collects_every_page() {
    let (srv, addr) = serve(Box::new(|_, body, _| {
        let offset = body["Offset"].as_u64().unwrap_or(0) as usize;
        let limit = body["Limit"].as_u64().unwrap_or(20) as usize;
        let set: Vec<Value> = (offset..(offset + limit).min(250))
            .map(|i| json!({"NetworkInterfaceId": format!("eni-{i:04}")}))
            .collect();
        Reply::Ok(json!({"TotalCount": 250, "NetworkInterfaceSet": set}))
    }))
    .await;
    let c = client(addr, 1, Duration::from_secs(5));
    let all = c
        .describe_network_interfaces_all(&[], &[])
        .await
        .expect("pages");
    assert_eq!(all.len(), 250);
    assert_eq!(all[249].network_interface_id, "eni-0249");
    let offsets: Vec<u64> = srv
        .bodies("DescribeNetworkInterfaces")
        .iter()
        .map(|b| b["Offset"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(offsets, vec![0, 100, 200]);
}

fn peer(name: &str, eni: &str) -> PeerSpec {
    PeerSpec {
        name: name.into(),
        address: "sim".into(),
        network_interface_id: Some(eni.into()),
        instance_id: Some(format!("ins-{eni}")),
    }
}

#[tokio::test]
async fn poll_bindings_batches_every_cluster() {
    let (srv, addr) = serve(Box::new(|action, body, _| match action {
        "DescribeHaVips" => {
            let ids: Vec<String> = body["HaVipIds"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let set: Vec<Value> = ids
                .iter()
                .map(|id| {
                    json!({"HaVipId": id, "Vip": "10.0.0.1", "State": "AVAILABLE",
                    "NetworkInterfaceId": format!("eni-{id}-a")})
                })
                .collect();
            Reply::Ok(json!({"TotalCount": set.len(), "HaVipSet": set}))
        }
        "DescribeNetworkInterfaces" => {
            let set: Vec<Value> = body["NetworkInterfaceIds"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .map(|id| {
                    // The VIP 10.1.0.N sits on the b side of cluster N.
                    let ips = if id.ends_with("-b") {
                        let n = id.trim_start_matches("eni-e").trim_end_matches("-b");
                        vec![json!({"PrivateIpAddress": format!("10.1.0.{n}"), "Primary": false})]
                    } else {
                        vec![]
                    };
                    json!({"NetworkInterfaceId": id, "PrivateIpAddressSet": ips})
                })
                .collect();
            Reply::Ok(json!({"TotalCount": set.len(), "NetworkInterfaceSet": set}))
        }
        _ => Reply::Error("InvalidAction"),
    }))
    .await;
    let mut clusters = Vec::new();
    for i in 0..20 {
        clusters.push(ClusterSpec {
            name: format!("h{i}"),
            mode: Mode::Havip,
            vip: "10.0.0.1".into(),
            havip_id: Some(format!("havip-{i}")),
            peers: [
                peer("a", &format!("eni-havip-{i}-a")),
                peer("b", &format!("eni-havip-{i}-b")),
            ],
        });
        clusters.push(ClusterSpec {
            name: format!("e{i}"),
            mode: Mode::Eni,
            vip: format!("10.1.0.{i}"),
            havip_id: None,
            peers: [
                peer("a", &format!("eni-e{i}-a")),
                peer("b", &format!("eni-e{i}-b")),
            ],
        });
    }
    let c = client(addr, 1, Duration::from_secs(5));
    let results = poll_bindings(&c, &clusters).await;
    assert_eq!(results.len(), 40);
    assert_eq!(
        srv.count("DescribeHaVips"),
        1,
        "one call for 20 HAVIP clusters"
    );
    assert_eq!(
        srv.count("DescribeNetworkInterfaces"),
        1,
        "one call for 40 ENIs"
    );
    for (i, (spec, r)) in clusters.iter().zip(&results).enumerate() {
        let b = r.as_ref().unwrap_or_else(|e| panic!("{}: {e}", spec.name));
        assert_eq!(
            spec.peer_of_binding(b),
            Some(if spec.mode == Mode::Havip { 0 } else { 1 }),
            "{i}"
        );
    }
}

#[tokio::test]
async fn migration_is_polled_to_success_or_failure() {
    let (srv, addr) = serve(Box::new(|action, body, n| match action {
        "MigratePrivateIpAddress" => Reply::Ok(json!({})),
        "DescribeVpcTaskResult" => {
            let task = body["TaskId"].as_str().unwrap_or("");
            if task == "req-MigratePrivateIpAddress-2" {
                Reply::Ok(
                    json!({"Status": "FAILED", "Output": "IP is not a secondary IP of the source"}),
                )
            } else if n < 3 {
                Reply::Ok(json!({"Status": "RUNNING"}))
            } else {
                Reply::Ok(json!({"Status": "SUCCESS", "Output": "success"}))
            }
        }
        _ => Reply::Error("InvalidAction"),
    }))
    .await;
    let c = client(addr, 2, Duration::from_secs(5));
    let id = c
        .migrate_private_ip("eni-a", "eni-b", "10.0.0.100")
        .await
        .expect("starts");
    assert_eq!(id, "req-MigratePrivateIpAddress-1");
    assert_eq!(
        srv.bodies("MigratePrivateIpAddress")[0],
        json!({"SourceNetworkInterfaceId": "eni-a", "DestinationNetworkInterfaceId": "eni-b",
               "PrivateIpAddress": "10.0.0.100"})
    );
    let done = c
        .wait_task(&id, Duration::from_secs(5))
        .await
        .expect("ends");
    assert_eq!(done.status, TaskStatus::Success);
    assert_eq!(done.polls, 3);
    assert_eq!(
        srv.bodies("DescribeVpcTaskResult")[0],
        json!({"TaskId": id})
    );

    let id2 = c
        .migrate_private_ip("eni-a", "eni-b", "10.0.0.7")
        .await
        .expect("starts");
    let failed = c
        .wait_task(&id2, Duration::from_secs(5))
        .await
        .expect("ends");
    assert_eq!(failed.status, TaskStatus::Failed);
    assert!(!failed.succeeded());
    assert_eq!(
        failed.output.as_deref(),
        Some("IP is not a secondary IP of the source")
    );
}

#[tokio::test]
async fn a_task_that_never_ends_times_out() {
    let (_srv, addr) = serve(Box::new(|_, _, _| Reply::Ok(json!({"Status": "RUNNING"})))).await;
    let c = client(addr, 1, Duration::from_secs(5));
    let start = Instant::now();
    let e = c
        .wait_task("req-x", Duration::from_millis(200))
        .await
        .expect_err("gives up");
    assert!(matches!(e, CloudError::TaskTimeout { .. }), "{e:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn migration_is_not_retried_after_an_internal_error() {
    // The migration may have started: a second try could act twice.
    let (srv, addr) = serve(Box::new(|_, _, n| {
        if n == 1 {
            Reply::Error("InternalError")
        } else {
            Reply::Ok(json!({}))
        }
    }))
    .await;
    let c = client(addr, 4, Duration::from_secs(5));
    let e = c
        .migrate_private_ip("eni-a", "eni-b", "10.0.0.9")
        .await
        .expect_err("surfaced");
    assert_eq!(e.code(), Some("InternalError"));
    assert_eq!(srv.count("MigratePrivateIpAddress"), 1);
}

// ---- credentials from a loopback metadata service ----

async fn metadata_server(expires_in: i64, hits: Arc<Mutex<usize>>) -> SocketAddr {
    let role_hits = hits.clone();
    let app = Router::new()
        .route(
            "/latest/meta-data/cam/security-credentials/",
            get(|| async { "vipdeck-role" }),
        )
        .route(
            "/latest/meta-data/cam/security-credentials/vipdeck-role",
            get(move || {
                let hits = role_hits.clone();
                async move {
                    let n = {
                        let mut h = hits.lock().expect("lock");
                        *h += 1;
                        *h
                    };
                    Json(json!({
                        "TmpSecretId": format!("AKIDtmp{n}"),
                        "TmpSecretKey": SECRET_KEY,
                        "Token": TOKEN,
                        "ExpiredTime": chrono::Utc::now().timestamp() + expires_in,
                        "Expiration": "",
                        "Code": "Success"
                    }))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn empty_chain(home: &std::path::Path, metadata: Option<String>) -> ChainOptions {
    ChainOptions {
        env: HashMap::new(),
        home: Some(home.to_path_buf()),
        tccli_profile: None,
        metadata_base: metadata,
        metadata_timeout: Duration::from_millis(500),
    }
}

#[tokio::test]
async fn cvm_role_keys_are_fetched_and_refreshed_before_expiry() {
    let home = tempfile::tempdir().expect("tmp");
    let hits = Arc::new(Mutex::new(0));
    // Keys that expire in 100 s are inside the 5-minute refresh margin:
    // every use fetches fresh ones.
    let addr = metadata_server(100, hits.clone()).await;
    let p = credentials::resolve(&empty_chain(
        home.path(),
        Some(format!("http://{addr}/latest/meta-data/")),
    ))
    .await
    .expect("role found");
    assert_eq!(p.source(), "CVM role vipdeck-role");
    let first = p.get().await.expect("keys");
    let second = p.get().await.expect("keys");
    assert_eq!(first.token(), Some(TOKEN));
    assert_ne!(
        first.secret_id(),
        second.secret_id(),
        "refreshed near expiry"
    );

    // Keys valid for an hour are reused.
    let hits2 = Arc::new(Mutex::new(0));
    let addr2 = metadata_server(3600, hits2.clone()).await;
    let p2 = credentials::resolve(&empty_chain(
        home.path(),
        Some(format!("http://{addr2}/latest/meta-data")),
    ))
    .await
    .expect("role found");
    for _ in 0..3 {
        p2.get().await.expect("keys");
    }
    assert_eq!(*hits2.lock().expect("lock"), 1, "fetched once, then cached");
}

#[tokio::test]
async fn no_metadata_service_means_no_credentials() {
    let home = tempfile::tempdir().expect("tmp");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let err = credentials::resolve(&empty_chain(home.path(), Some(format!("http://{addr}/"))))
        .await
        .expect_err("nothing anywhere");
    assert!(err.to_string().contains("no credentials found"), "{err}");
}

#[tokio::test]
async fn role_credentials_sign_real_requests() {
    let home = tempfile::tempdir().expect("tmp");
    let hits = Arc::new(Mutex::new(0));
    let meta = metadata_server(3600, hits).await;
    let provider = credentials::resolve(&empty_chain(
        home.path(),
        Some(format!("http://{meta}/latest/meta-data/")),
    ))
    .await
    .expect("role");
    let (srv, addr) = serve(Box::new(|_, _, _| {
        Reply::Ok(json!({"TotalCount": 0, "HaVipSet": []}))
    }))
    .await;
    // The loopback API accepts SECRET_ID only; the role's id differs, so
    // expect the cloud's refusal, which proves the role's keys were used.
    let c = VpcClient::new(
        ClientConfig::new(format!("http://{addr}"), "ap-guangzhou"),
        provider,
    )
    .expect("client");
    assert_eq!(c.credential_source(), "CVM role vipdeck-role");
    let e = c
        .describe_ha_vips(&Default::default())
        .await
        .expect_err("unknown id");
    assert_eq!(e.code(), Some("AuthFailure.SecretIdNotFound"));
    assert_eq!(srv.count("DescribeHaVips"), 0);
}

// ---- no secret in the logs ----

#[tokio::test]
async fn no_secret_in_captured_logs_of_a_full_cycle() {
    let (_srv, addr) = serve(Box::new(|action, _, n| match (action, n) {
        ("DescribeHaVips", 1) => Reply::Error("RequestLimitExceeded"),
        ("DescribeHaVips", _) => Reply::Ok(json!({"TotalCount": 0, "HaVipSet": []})),
        ("MigratePrivateIpAddress", _) => Reply::Ok(json!({})),
        ("DescribeVpcTaskResult", _) => Reply::Ok(json!({"Status": "SUCCESS"})),
        _ => Reply::Error("AuthFailure.UnauthorizedOperation"),
    }))
    .await;
    let c = client(addr, 3, Duration::from_secs(5));
    c.describe_ha_vips(&Default::default())
        .await
        .expect("after a retry");
    let id = c
        .migrate_private_ip("eni-a", "eni-b", "10.0.0.5")
        .await
        .expect("starts");
    c.wait_task(&id, Duration::from_secs(2))
        .await
        .expect("ends");
    let e = c
        .describe_network_interfaces(&Default::default())
        .await
        .expect_err("refused");
    tracing::error!("surfaced: {e} / {e:?} / client {c:?}");

    let logs = captured();
    assert!(logs.contains("DescribeHaVips"), "the capture works: {logs}");
    assert!(logs.contains("retrying"), "the retry was logged");
    assert!(
        logs.contains("reqwest") && logs.contains("hyper"),
        "HTTP library logs are captured too"
    );
    assert!(logs.contains(&id), "RequestIds are logged");
    assert!(!logs.contains(SECRET_KEY), "secret key in the logs");
    assert!(!logs.contains(TOKEN), "token in the logs");
    assert!(!format!("{e} {e:?} {c:?}").contains(SECRET_KEY));
}
