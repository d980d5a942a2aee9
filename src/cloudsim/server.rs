//! The HTTP face of the emulator: `POST /` speaks the VPC API (signed
//! requests, the official envelope), `/admin/*` lets tests and the lab look
//! at and steer the world. All decisions are made in `auth.rs` and
//! `sim.rs`; this file only moves bytes, sleeps for injected latency and
//! keeps the request log.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration as StdDuration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::auth::{claimed_secret_id, verify, Received};
use super::engine::{ApiError, Sim, Timing, ACTIONS};
use super::world::World;

/// Faults injected into API calls (not into admin calls).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Added before every API response.
    pub(crate) latency_ms: u64,
    /// Probability per error code that a verified call fails with it
    /// instead of running, e.g. `{"RequestLimitExceeded": 0.5}`.
    pub error_rate: BTreeMap<String, f64>,
    /// While true, API calls wait (and are answered once it is cleared).
    pub(crate) hang: bool,
}

impl Faults {
    /// Probabilities must be in 0..=1 and add up to at most 1.
    pub(crate) fn check(&self) -> Result<(), String> {
        let mut sum = 0.0;
        for (code, p) in &self.error_rate {
            if !(0.0..=1.0).contains(p) {
                return Err(format!(
                    "error_rate for {code} must be between 0 and 1, got {p}"
                ));
            }
            if code.trim().is_empty() {
                return Err("error_rate has an empty error code".to_string());
            }
            sum += p;
        }
        if sum > 1.0 + 1e-9 {
            return Err(format!(
                "error_rate probabilities add up to {sum}, more than 1"
            ));
        }
        Ok(())
    }

    /// Which injected error (if any) a roll in 0..1 lands on.
    pub(crate) fn pick(&self, roll: f64) -> Option<&str> {
        let mut acc = 0.0;
        for (code, p) in &self.error_rate {
            acc += p;
            if roll < acc {
                return Some(code);
            }
        }
        None
    }
}

fn injected_message(code: &str) -> String {
    match code {
        "RequestLimitExceeded" => "Your current request times exceeds the limit, please try again later (injected by cloudsim).".into(),
        "InternalError" => "An internal error has occurred, please retry later (injected by cloudsim).".into(),
        other => format!("{other} (injected by cloudsim)."),
    }
}

/// Everything a running emulator starts from.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) world: World,
    pub timing: Timing,
    pub faults: Faults,
    pub fail_next_migration: bool,
}

impl Config {
    pub fn new(world: World) -> Self {
        Config {
            world,
            timing: Timing::default(),
            faults: Faults::default(),
            fail_next_migration: false,
        }
    }
}

/// One API call as received, for tests that count or inspect calls. It
/// holds the SecretId, never the key.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RequestRecord {
    pub(crate) seq: u64,
    pub at: String,
    pub(crate) action: Option<String>,
    pub secret_id: Option<String>,
    pub region: Option<String>,
    pub request_id: String,
    /// The error code returned, `null` on success.
    pub error: Option<String>,
    pub(crate) params: Value,
}

/// The fault view served by `GET /admin/faults`, and the patch accepted by
/// `POST /admin/faults` (every field optional there).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultsPatch {
    pub(crate) latency_ms: Option<u64>,
    pub error_rate: Option<BTreeMap<String, f64>>,
    pub(crate) hang: Option<bool>,
    pub fail_next_migration: Option<bool>,
    pub(crate) migration_delay_ms: Option<u64>,
    pub(crate) havip_delay_ms: Option<u64>,
    pub(crate) garp_interval_ms: Option<u64>,
}

struct Shared {
    sim: Sim,
    faults: Faults,
    log: Vec<RequestRecord>,
    seq: u64,
}

type AppState = Arc<Mutex<Shared>>;

fn lock(state: &AppState) -> MutexGuard<'_, Shared> {
    // A panic while holding the lock cannot leave the world half-changed in
    // a way worse than refusing all further calls would, so keep serving.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A random UUID v4, the shape of the API's RequestIds.
pub(crate) fn new_request_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn api_json(body: Value) -> Response {
    // Exactly `application/json`: the official SDK only decodes errors
    // from responses of that content type.
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn envelope(result: &Result<Value, ApiError>, request_id: &str) -> Value {
    let mut inner = match result {
        Ok(Value::Object(m)) => m.clone(),
        Ok(_) => Map::new(),
        Err(e) => {
            let mut m = Map::new();
            m.insert(
                "Error".into(),
                json!({"Code": e.code, "Message": e.message}),
            );
            m
        }
    };
    inner.insert("RequestId".into(), Value::String(request_id.to_string()));
    json!({ "Response": inner })
}

async fn api(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = new_request_id();
    loop {
        let (hang, latency) = {
            let s = lock(&state);
            (s.faults.hang, s.faults.latency_ms)
        };
        if !hang {
            if latency > 0 {
                tokio::time::sleep(StdDuration::from_millis(latency)).await;
            }
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_ascii_lowercase(), v.to_string()))
        })
        .collect();
    let received = Received {
        method: method.as_str(),
        headers: &pairs,
        body: &body,
    };
    let params: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let now = Utc::now();
    let roll: f64 = rand::random();

    let mut s = lock(&state);
    let verified = verify(&received, s.sim.world(), now.timestamp());
    let action = match &verified {
        Ok(v) => Some(v.action.clone()),
        Err(_) => received.header("x-tc-action").map(str::to_string),
    };
    let result = verified.and_then(|v| {
        if !ACTIONS.contains(&v.action.as_str()) {
            return Err(ApiError::new(
                "InvalidAction",
                format!(
                    "The action `{}` does not exist or is not supported by cloudsim.",
                    v.action
                ),
            ));
        }
        if let Some(code) = s.faults.pick(roll) {
            return Err(ApiError::new(code, injected_message(code)));
        }
        if !params.is_object() {
            return Err(ApiError::new(
                "InvalidParameter",
                "The request body must be a JSON object.",
            ));
        }
        s.sim.call(&v.action, &params, &request_id, now)
    });
    s.seq += 1;
    let record = RequestRecord {
        seq: s.seq,
        at: now.to_rfc3339_opts(SecondsFormat::Millis, true),
        action: action.clone(),
        secret_id: claimed_secret_id(&received),
        region: received.header("x-tc-region").map(str::to_string),
        request_id: request_id.clone(),
        error: result.as_ref().err().map(|e| e.code.clone()),
        params,
    };
    tracing::info!(
        action = record.action.as_deref().unwrap_or("-"),
        secret_id = record.secret_id.as_deref().unwrap_or("-"),
        error = record.error.as_deref().unwrap_or("-"),
        request_id = %request_id,
        "api call"
    );
    s.log.push(record);
    drop(s);
    api_json(envelope(&result, &request_id))
}

fn admin_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": msg.into()}).to_string(),
    )
        .into_response()
}

fn admin_json<T: Serialize>(v: &T) -> Response {
    match serde_json::to_string_pretty(v) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => admin_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn get_world(State(state): State<AppState>) -> Response {
    let mut s = lock(&state);
    s.sim.advance(Utc::now());
    admin_json(s.sim.world())
}

async fn put_world(State(state): State<AppState>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    match World::from_json(&text) {
        Ok(w) => {
            lock(&state).sim.replace_world(w);
            admin_json(&json!({"ok": true}))
        }
        Err(e) => admin_error(StatusCode::BAD_REQUEST, format!("{e:#}")),
    }
}

fn faults_view(s: &Shared) -> FaultsPatch {
    FaultsPatch {
        latency_ms: Some(s.faults.latency_ms),
        error_rate: Some(s.faults.error_rate.clone()),
        hang: Some(s.faults.hang),
        fail_next_migration: Some(s.sim.fail_next_migration),
        migration_delay_ms: Some(s.sim.timing.migration_delay.num_milliseconds().max(0) as u64),
        havip_delay_ms: Some(s.sim.timing.havip_delay.num_milliseconds().max(0) as u64),
        garp_interval_ms: Some(s.sim.timing.garp_interval.num_milliseconds().max(0) as u64),
    }
}

async fn get_faults(State(state): State<AppState>) -> Response {
    admin_json(&faults_view(&lock(&state)))
}

fn ms(n: u64) -> Duration {
    Duration::milliseconds(i64::try_from(n).unwrap_or(i64::MAX / 1_000_000))
}

async fn post_faults(State(state): State<AppState>, body: Bytes) -> Response {
    let patch: FaultsPatch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, format!("bad faults: {e}")),
    };
    let mut s = lock(&state);
    let mut faults = s.faults.clone();
    if let Some(v) = patch.latency_ms {
        faults.latency_ms = v;
    }
    if let Some(v) = patch.error_rate {
        faults.error_rate = v;
    }
    if let Some(v) = patch.hang {
        faults.hang = v;
    }
    if let Err(e) = faults.check() {
        return admin_error(StatusCode::BAD_REQUEST, e);
    }
    s.faults = faults;
    if let Some(v) = patch.fail_next_migration {
        s.sim.fail_next_migration = v;
    }
    if let Some(v) = patch.migration_delay_ms {
        s.sim.timing.migration_delay = ms(v);
    }
    if let Some(v) = patch.havip_delay_ms {
        s.sim.timing.havip_delay = ms(v);
    }
    if let Some(v) = patch.garp_interval_ms {
        s.sim.timing.garp_interval = ms(v);
    }
    admin_json(&faults_view(&s))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GarpClaim {
    mac: String,
    ip: String,
}

async fn post_garp(State(state): State<AppState>, body: Bytes) -> Response {
    let claim: GarpClaim = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return admin_error(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"mac\",\"ip\"}}: {e}"),
            )
        }
    };
    let outcome = lock(&state).sim.garp(&claim.mac, &claim.ip, Utc::now());
    tracing::info!(mac = %claim.mac, ip = %claim.ip, ?outcome, "garp claim");
    admin_json(&outcome)
}

async fn get_garp(State(state): State<AppState>) -> Response {
    let mut s = lock(&state);
    s.sim.advance(Utc::now());
    admin_json(&json!({"stats": s.sim.garp_stats(), "pending": s.sim.pending_rebinds()}))
}

async fn get_tasks(State(state): State<AppState>) -> Response {
    let mut s = lock(&state);
    s.sim.advance(Utc::now());
    admin_json(&s.sim.tasks())
}

async fn get_requests(State(state): State<AppState>) -> Response {
    admin_json(&lock(&state).log)
}

async fn clear_requests(State(state): State<AppState>) -> Response {
    lock(&state).log.clear();
    admin_json(&json!({"ok": true}))
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", post(api).get(api))
        .route("/admin/world", get(get_world).put(put_world))
        .route("/admin/faults", get(get_faults).post(post_faults))
        .route("/admin/garp", get(get_garp).post(post_garp))
        .route("/admin/tasks", get(get_tasks))
        .route("/admin/requests", get(get_requests).delete(clear_requests))
        .with_state(state)
}

/// A running emulator. Dropping it leaves the server running until the
/// runtime ends; call [`Running::shutdown`] to stop it earlier.
pub struct Running {
    pub addr: SocketAddr,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// `http://ADDR`, the endpoint for clients and the admin API.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting calls and waits for the ones in flight (held calls
    /// are released first, or a hang fault would keep it waiting forever).
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        lock(&self.state).faults.hang = false;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await??;
        Ok(())
    }
}

/// Serves the emulator on an already bound listener.
pub(crate) fn serve(listener: TcpListener, config: Config) -> anyhow::Result<Running> {
    config.faults.check().map_err(anyhow::Error::msg)?;
    let addr = listener.local_addr()?;
    let mut sim = Sim::new(config.world, config.timing);
    sim.fail_next_migration = config.fail_next_migration;
    let state = Arc::new(Mutex::new(Shared {
        sim,
        faults: config.faults,
        log: Vec::new(),
        seq: 0,
    }));
    let (stop, stopped) = oneshot::channel::<()>();
    let app = router(state.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Running {
        addr,
        state,
        stop: Some(stop),
        task,
    })
}

/// Binds `listen` (port 0 picks a free port) and serves the emulator.
pub async fn start(listen: &str, config: Config) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    serve(listener, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_uuids() {
        let id = new_request_id();
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12]);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_request_id());
    }

    #[test]
    fn fault_rolls() {
        let f = Faults {
            error_rate: [
                ("InternalError".to_string(), 0.25),
                ("RequestLimitExceeded".to_string(), 0.5),
            ]
            .into(),
            ..Default::default()
        };
        assert!(f.check().is_ok());
        assert_eq!(f.pick(0.1), Some("InternalError"));
        assert_eq!(f.pick(0.5), Some("RequestLimitExceeded"));
        assert_eq!(f.pick(0.8), None);
        let too_much = Faults {
            error_rate: [("A".to_string(), 0.7), ("B".to_string(), 0.7)].into(),
            ..Default::default()
        };
        assert!(too_much.check().is_err());
    }

    #[test]
    fn envelopes_match_the_api() {
        let ok = envelope(&Ok(json!({"TotalCount": 0})), "r-1");
        assert_eq!(
            ok,
            json!({"Response": {"TotalCount": 0, "RequestId": "r-1"}})
        );
        let err = envelope(&Err(ApiError::new("InvalidAction", "no")), "r-2");
        assert_eq!(
            err,
            json!({"Response": {"Error": {"Code": "InvalidAction", "Message": "no"}, "RequestId": "r-2"}})
        );
    }
}
