//! `vipdeck serve`: the shared collector. It runs the sources once and
//! serves what the other faces show: `/metrics` (the Prometheus exposition
//! of `status --format prometheus`), `/status` (the JSON of
//! `status --json`) and `/watch`, the stream of updates that
//! `vipdeck --attach` and `status --attach` draw from
//! ([`crate::sources::attach`]). A team of on-call engineers then costs the
//! peers one set of connections, not one per engineer.
//!
//! Every request carries a bearer token. Bound to localhost unless told
//! otherwise; any other address needs the token given (`--token-file`).
//! On loopback without one, the collector makes one for its user (mode
//! 600, in a directory of the user's only) where that user's attached
//! faces find it: loopback is every local user, and the stream holds the
//! peers' log lines, lock holders and ssh destinations.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use tokio::sync::broadcast;

use crate::core::model::{Snapshot, Update};
use crate::faces::{export, report};
use crate::sources::attach::{self, Hello};
use crate::sources::monitor::Sources;

/// `vipdeck serve` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Where to listen. Anything but a loopback address needs --token-file.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9813")]
    pub listen: SocketAddr,
    /// Serve the embedded simulated clusters (to try it, and for tests).
    #[arg(long)]
    pub demo: bool,
}

/// What every request handler shares.
struct Shared {
    snapshot: Mutex<Snapshot>,
    updates: broadcast::Sender<Arc<Update>>,
    hello: Hello,
    token: Option<String>,
}

pub use crate::sources::attach::read_token;

/// The token of a collector on loopback when none is given: the one it
/// made before on this port if it is still there and sound, else a new
/// random one, in `serve-PORT.token` (mode 600) in a directory only this
/// user can enter. Faces of the same user that attach to that port read
/// it from there ([`attach::local_token_path`]).
fn local_token(port: u16) -> anyhow::Result<(String, PathBuf)> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    let path = attach::local_token_path(port).ok_or_else(|| {
        anyhow::anyhow!("no data directory for the collector's token: set VIPDECK_DATA_DIR or pass --token-file PATH")
    })?;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    // lstat: a symbolic link is refused, never followed.
    let md =
        std::fs::symlink_metadata(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if !md.is_dir() || md.uid() != me || md.mode() & 0o077 != 0 {
        anyhow::bail!(
            "{} must be a directory of yours that no one else can enter (mode 700); \
             remove it so vipdeck can create it, or pass --token-file PATH",
            dir.display()
        );
    }
    if let Ok(lmd) = std::fs::symlink_metadata(&path) {
        if lmd.is_file() && lmd.uid() == me {
            if let Ok(token) = read_token(&path) {
                return Ok((token, path));
            }
        }
        std::fs::remove_file(&path)
            .map_err(|e| anyhow::anyhow!("cannot replace {}: {e}", path.display()))?;
    }
    let token = hex::encode(rand::random::<[u8; 32]>());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    f.write_all(format!("{token}\n").as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok((token, path))
}

/// Equal in time whatever the first difference: the token is a secret.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(token) = &shared.token else {
        return true;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same_secret(given.trim().as_bytes(), token.as_bytes()))
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "a bearer token is required\n",
    )
        .into_response()
}

fn current_report(shared: &Shared) -> (report::Report, chrono::DateTime<Utc>) {
    let now = Utc::now();
    let snap = shared.snapshot.lock().unwrap_or_else(|e| e.into_inner());
    (
        report::report(&snap, &shared.hello.thresholds, now, None),
        now,
    )
}

async fn metrics(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !authorised(&shared, &headers) {
        return unauthorised();
    }
    let (r, now) = current_report(&shared);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        export::prometheus(&r, now),
    )
        .into_response()
}

async fn status(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !authorised(&shared, &headers) {
        return unauthorised();
    }
    let (mut r, now) = current_report(&shared);
    r.at = Some(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    match serde_json::to_string_pretty(&r) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json + "\n").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Subscribes and takes the replay under the snapshot's lock: the fold
/// sends each update while holding it, so the replay and the updates that
/// follow it neither miss nor repeat one.
fn subscribe(shared: &Shared) -> (broadcast::Receiver<Arc<Update>>, Vec<Update>) {
    let snap = shared.snapshot.lock().unwrap_or_else(|e| e.into_inner());
    let rx = shared.updates.subscribe();
    let replay = snap
        .clusters
        .iter()
        .enumerate()
        .flat_map(|(i, c)| attach::replay(i, c))
        .collect();
    (rx, replay)
}

fn line<T: serde::Serialize>(v: &T) -> Bytes {
    let mut s = serde_json::to_vec(v).unwrap_or_default();
    s.push(b'\n');
    Bytes::from(s)
}

async fn watch(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !authorised(&shared, &headers) {
        return unauthorised();
    }
    let (rx, replay) = subscribe(&shared);
    let mut first = vec![line(&shared.hello)];
    first.extend(replay.iter().map(line));
    struct St {
        shared: Arc<Shared>,
        rx: broadcast::Receiver<Arc<Update>>,
        queued: std::collections::VecDeque<Bytes>,
    }
    let st = St {
        shared,
        rx,
        queued: first.into(),
    };
    let stream = futures::stream::unfold(st, |mut st| async move {
        if let Some(b) = st.queued.pop_front() {
            return Some((Ok::<_, Infallible>(b), st));
        }
        let next = tokio::time::timeout(attach::KEEPALIVE, st.rx.recv()).await;
        let bytes = match next {
            Err(_) => Bytes::from_static(b"\n"),
            Ok(Ok(u)) => line(&*u),
            // Fell behind: start again from the state as it is now.
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                let (rx, replay) = subscribe(&st.shared);
                st.rx = rx;
                st.queued = replay.iter().map(line).collect();
                Bytes::from_static(b"\n")
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => return None,
        };
        Some((Ok(bytes), st))
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn index() -> &'static str {
    "vipdeck collector: /metrics (Prometheus), /status (JSON), /watch (vipdeck --attach)\n"
}

/// The router over running `sources`, and the task that folds their
/// updates in (it ends when the sources end).
pub(crate) fn router(
    mut sources: Sources,
    token: Option<String>,
) -> (Router, tokio::task::JoinHandle<Sources>) {
    let (tx, _) = broadcast::channel(4096);
    let shared = Arc::new(Shared {
        snapshot: Mutex::new(Snapshot::new(sources.specs.clone())),
        updates: tx,
        hello: Hello {
            specs: sources.specs.clone(),
            thresholds: sources.thresholds.clone(),
            label: sources.label.clone(),
        },
        token,
    });
    let fold_shared = shared.clone();
    let fold = tokio::spawn(async move {
        while let Some(u) = sources.updates.recv().await {
            let mut snap = fold_shared
                .snapshot
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            snap.apply(u.clone());
            // No subscriber is not an error.
            let _ = fold_shared.updates.send(Arc::new(u));
        }
        sources
    });
    let app = Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/watch", get(watch))
        .with_state(shared);
    (app, fold)
}

/// `vipdeck serve`: serves until a signal ends it.
pub async fn run(
    sources: Sources,
    args: &ServeArgs,
    token_file: Option<PathBuf>,
) -> anyhow::Result<u8> {
    let given = token_file.as_deref().map(read_token).transpose()?;
    if !args.listen.ip().is_loopback() && given.is_none() {
        anyhow::bail!(
            "serving on {} (not loopback) needs a bearer token: --token-file PATH",
            args.listen
        );
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr()?;
    // Loopback is every user of this machine: a token all the same, made
    // for this user when none is given.
    let (token, made) = match given {
        Some(t) => (t, None),
        None => {
            let (t, path) = local_token(addr.port())?;
            (t, Some(path))
        }
    };
    let clusters = sources.specs.len();
    let (app, _fold) = router(sources, Some(token));
    let made = made
        .map(|p| format!("; bearer token in {}", p.display()))
        .unwrap_or_default();
    eprintln!(
        "vipdeck serve: {clusters} cluster(s) on http://{addr} (/metrics, /status, /watch){made}"
    );
    axum::serve(listener, app).await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }

    #[test]
    fn a_token_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("token");
        std::fs::write(&p, "s3cret\n").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = read_token(&p).expect_err("refused");
        assert!(e.to_string().contains("chmod 600"), "{e}");
        assert!(!e.to_string().contains("s3cret"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(read_token(&p).expect("read"), "s3cret");
    }
}
