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

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, Semaphore};

use crate::core::model::{Snapshot, Update};
use crate::faces::{export, report};
use crate::sources::attach::{self, Hello};
use crate::sources::monitor::Sources;

/// At most this many connections are served at once (fewer under a low
/// fd limit, see [`connection_cap`]); the next ones are refused with a 503.
pub const MAX_CONNECTIONS: usize = 64;
/// A request head must have arrived in full this soon after the connection
/// opened, however slowly it trickles; then the connection is closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest request head read.
const MAX_HEAD: usize = 16 << 10;
/// A write that a client leaves unread this long (it stopped reading the
/// stream) ends its connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Refused connections kept a moment for their client to read the 503;
/// beyond, one is closed as soon as it is answered.
const MAX_REFUSALS: usize = 16;
/// Descriptors kept for the sources (ssh sessions, the cloud client, log
/// files) whatever the clients do.
const FDS_FOR_SOURCES: u64 = 64;

/// `vipdeck serve` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Where to listen. Anything but a loopback address needs --token-file; on
    /// loopback without it, serve makes a token for its user (serve/serve-PORT.token
    /// in the data dir) that the user's --attach faces read.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9813")]
    pub listen: SocketAddr,
    /// Serve the embedded simulated clusters (to try it, and for tests).
    #[arg(long)]
    pub demo: bool,
}

/// How often the collector lints its clusters again.
const LINT_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// What every request handler shares.
struct Shared {
    snapshot: Mutex<Snapshot>,
    updates: broadcast::Sender<Arc<Update>>,
    hello: Hello,
    token: Option<String>,
    /// The last lint of the config's clusters (none in the demo, or
    /// before the first one ends).
    lint: Mutex<Option<Vec<crate::core::lint::Finding>>>,
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

fn authorised(shared: &Shared, authorization: Option<&str>) -> bool {
    let Some(token) = &shared.token else {
        return true;
    };
    authorization
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same_secret(given.trim().as_bytes(), token.as_bytes()))
}

fn current_report(shared: &Shared) -> (report::Report, chrono::DateTime<Utc>) {
    let now = Utc::now();
    let snap = shared.snapshot.lock().unwrap_or_else(|e| e.into_inner());
    (
        report::report(&snap, &shared.hello.thresholds, now, None),
        now,
    )
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

/// The state the collector serves from, and the task that folds the
/// sources' updates in (it ends when the sources end).
fn shared_state(
    mut sources: Sources,
    token: Option<String>,
) -> (Arc<Shared>, tokio::task::JoinHandle<Sources>) {
    let (tx, _) = broadcast::channel(4096);
    let shared = Arc::new(Shared {
        snapshot: Mutex::new({
            let mut s = Snapshot::new(sources.specs.clone());
            crate::failover::audit::seed_acknowledgements(&mut s, None);
            s
        }),
        updates: tx,
        hello: Hello {
            specs: sources.specs.clone(),
            thresholds: sources.thresholds.clone(),
            label: sources.label.clone(),
        },
        token,
        lint: Mutex::new(None),
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
    (shared, fold)
}

/// How many connections to serve at once: [`MAX_CONNECTIONS`], or fewer
/// when the fd limit is low, so that clients (and the refusals being
/// written) never take the descriptors the sources need.
fn connection_cap() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        1024
    };
    let spare = soft.saturating_sub(FDS_FOR_SOURCES + MAX_REFUSALS as u64) / 2;
    (spare.min(MAX_CONNECTIONS as u64) as usize).max(1)
}

/// The request line and the one header the collector reads.
#[derive(Debug, PartialEq)]
struct Request {
    method: String,
    path: String,
    http10: bool,
    authorization: Option<String>,
}

#[derive(Debug, PartialEq)]
enum HeadError {
    /// The client closed or the read failed: nothing to answer.
    Gone,
    TooLarge,
    Malformed,
}

/// Reads a request head (up to the blank line), at most [`MAX_HEAD`].
async fn read_head(sock: &mut TcpStream) -> Result<Request, HeadError> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    loop {
        let n = sock.read(&mut buf).await.map_err(|_| HeadError::Gone)?;
        if n == 0 {
            return Err(HeadError::Gone);
        }
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = find_blank_line(&head[from..]) {
            head.truncate(from + end);
            return parse_head(&head);
        }
        if head.len() > MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
    }
}

/// Where the head ends (`\r\n\r\n` or `\n\n`) in `b`.
fn find_blank_line(b: &[u8]) -> Option<usize> {
    (0..b.len()).find(|&i| b[i..].starts_with(b"\r\n\r\n") || b[i..].starts_with(b"\n\n"))
}

fn parse_head(head: &[u8]) -> Result<Request, HeadError> {
    let text = std::str::from_utf8(head).map_err(|_| HeadError::Malformed)?;
    let mut lines = text.lines();
    let mut first = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (first.next(), first.next(), first.next(), first.next())
    else {
        return Err(HeadError::Malformed);
    };
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
        return Err(HeadError::Malformed);
    }
    let mut authorization = None;
    for l in lines {
        if let Some((name, value)) = l.split_once(':') {
            if name.trim().eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_string());
            }
        }
    }
    Ok(Request {
        method: method.to_string(),
        path: target.split('?').next().unwrap_or_default().to_string(),
        http10: version == "HTTP/1.0",
        authorization,
    })
}

/// What a request is answered with.
enum Reply {
    Full {
        status: &'static str,
        content_type: &'static str,
        extra: &'static str,
        body: Bytes,
    },
    Watch,
}

fn full(status: &'static str, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    Reply::Full {
        status,
        content_type,
        extra: "",
        body: body.into(),
    }
}

fn route(shared: &Shared, req: &Request) -> Reply {
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return full("405 Method Not Allowed", "text/plain", "GET only\n");
    }
    if !authorised(shared, req.authorization.as_deref()) {
        return Reply::Full {
            status: "401 Unauthorized",
            content_type: "text/plain",
            extra: "WWW-Authenticate: Bearer\r\n",
            body: Bytes::from_static(b"a bearer token is required\n"),
        };
    }
    match req.path.as_str() {
        "/" => full(
            "200 OK",
            "text/plain",
            "vipdeck collector: /metrics (Prometheus), /status (JSON), /watch (vipdeck --attach)\n",
        ),
        "/metrics" => {
            let (r, now) = current_report(shared);
            let mut body = export::prometheus(&r, now);
            let lint = shared.lint.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(findings) = lint.as_deref() {
                body.push_str(&export::lint_metrics(findings));
            }
            full("200 OK", "text/plain; version=0.0.4", body)
        }
        "/status" => {
            let (mut r, now) = current_report(shared);
            r.at = Some(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            match serde_json::to_string_pretty(&r) {
                Ok(json) => full("200 OK", "application/json", json + "\n"),
                Err(e) => full("500 Internal Server Error", "text/plain", e.to_string()),
            }
        }
        "/watch" => Reply::Watch,
        _ => full("404 Not Found", "text/plain", "not found\n"),
    }
}

/// Writes all of `b`, or fails when the client leaves it unread for
/// [`WRITE_TIMEOUT`].
async fn write(sock: &mut TcpStream, b: &[u8]) -> std::io::Result<()> {
    match tokio::time::timeout(WRITE_TIMEOUT, sock.write_all(b)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// A short answer before closing: a 400-class refusal or a 503. Never
/// waits: what does not fit the socket's buffer at once is dropped.
fn answer_now(sock: &TcpStream, status: &str, why: &str) {
    let msg = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{why}",
        why.len()
    );
    let _ = sock.try_write(msg.as_bytes());
}

/// One connection: one request, then closed.
async fn serve_conn(mut sock: TcpStream, shared: Arc<Shared>) {
    let req = match tokio::time::timeout(HEADER_TIMEOUT, read_head(&mut sock)).await {
        Err(_) => {
            answer_now(
                &sock,
                "408 Request Timeout",
                "the request head took too long\n",
            );
            return;
        }
        Ok(Err(HeadError::Gone)) => return,
        Ok(Err(HeadError::TooLarge)) => {
            answer_now(&sock, "431 Request Header Fields Too Large", "too long\n");
            return;
        }
        Ok(Err(HeadError::Malformed)) => {
            answer_now(&sock, "400 Bad Request", "not an HTTP/1 request\n");
            return;
        }
        Ok(Ok(r)) => r,
    };
    let head_only = req.method == "HEAD";
    match route(&shared, &req) {
        Reply::Full {
            status,
            content_type,
            extra,
            body,
        } => {
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
                 {extra}Connection: close\r\n\r\n",
                body.len()
            );
            if write(&mut sock, head.as_bytes()).await.is_ok() && !head_only {
                let _ = write(&mut sock, &body).await;
            }
            let _ = sock.shutdown().await;
        }
        Reply::Watch => {
            // HTTP/1.1: chunked; HTTP/1.0: the body runs to the close.
            let chunked = !req.http10;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n{}\
                 Connection: close\r\n\r\n",
                if chunked {
                    "Transfer-Encoding: chunked\r\n"
                } else {
                    ""
                }
            );
            if write(&mut sock, head.as_bytes()).await.is_err() || head_only {
                return;
            }
            let _ = watch(&mut sock, &shared, chunked).await;
        }
    }
}

/// `/watch`: the hello, each cluster's state, then every update, with a
/// keepalive line when there is none for [`attach::KEEPALIVE`].
async fn watch(sock: &mut TcpStream, shared: &Shared, chunked: bool) -> std::io::Result<()> {
    let send = |b: Bytes| {
        let mut out = Vec::with_capacity(b.len() + 16);
        if chunked {
            out.extend_from_slice(format!("{:x}\r\n", b.len()).as_bytes());
        }
        out.extend_from_slice(&b);
        if chunked {
            out.extend_from_slice(b"\r\n");
        }
        out
    };
    let (mut rx, replay) = subscribe(shared);
    let mut queued: std::collections::VecDeque<Bytes> =
        std::iter::once(line(&shared.hello)).collect();
    queued.extend(replay.iter().map(line));
    loop {
        while let Some(b) = queued.pop_front() {
            write(sock, &send(b)).await?;
        }
        let next = tokio::time::timeout(attach::KEEPALIVE, rx.recv()).await;
        let bytes = match next {
            Err(_) => Bytes::from_static(b"\n"),
            Ok(Ok(u)) => line(&*u),
            // Fell behind: start again from the state as it is now.
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                let (r, replay) = subscribe(shared);
                rx = r;
                queued = replay.iter().map(line).collect();
                Bytes::from_static(b"\n")
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => {
                if chunked {
                    write(sock, b"0\r\n\r\n").await?;
                }
                return Ok(());
            }
        };
        write(sock, &send(bytes)).await?;
    }
}

/// Accepts connections for ever: up to `cap` served at once, each with its
/// header timeout; the ones beyond are answered 503 and closed at once.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, cap: usize) {
    let slots = Arc::new(Semaphore::new(cap));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    loop {
        let sock = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors (or a connection reset before it was
                // taken): wait for some to be given back.
                tracing::warn!("serve: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    serve_conn(sock, shared).await;
                    drop(permit);
                });
            }
            Err(_) => {
                // Answered at once, whatever was sent so far read first
                // (closing on unread bytes is a reset that can lose the
                // answer); then, while there are few, each waits a moment
                // for the client to close first.
                let mut buf = [0u8; 4096];
                let _ = sock.try_read(&mut buf);
                answer_now(
                    &sock,
                    "503 Service Unavailable",
                    "too many connections to this collector; try again later\n",
                );
                if let Ok(permit) = refusals.clone().try_acquire_owned() {
                    tokio::spawn(async move {
                        linger(sock).await;
                        drop(permit);
                    });
                }
            }
        }
    }
}

/// A refused connection: closed for writing, then given a moment for the
/// client to read the answer and close, its bytes read meanwhile.
async fn linger(mut sock: TcpStream) {
    let _ = sock.shutdown().await;
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// `vipdeck serve`: serves until a signal ends it.
pub async fn run(
    sources: Sources,
    args: &ServeArgs,
    token_file: Option<PathBuf>,
    lint_config: Option<crate::core::config::Config>,
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
    let (shared, _fold) = shared_state(sources, Some(token));
    // The lint's findings, again every LINT_EVERY (each lint reads every
    // peer's scripts); the task ends with the process.
    if let Some(config) = lint_config {
        let shared = shared.clone();
        tokio::spawn(async move {
            crate::sources::peer_files::lint_beside_monitor(&config, LINT_EVERY, |findings| {
                *shared.lint.lock().unwrap_or_else(|e| e.into_inner()) = Some(findings);
                true
            })
            .await
        });
    }
    let cap = connection_cap();
    let made = made
        .map(|p| format!("; bearer token in {}", p.display()))
        .unwrap_or_default();
    eprintln!(
        "vipdeck serve: {clusters} cluster(s) on http://{addr} (/metrics, /status, /watch), \
         at most {cap} connections{made}"
    );
    accept_loop(listener, shared, cap).await;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_heads_are_read_strictly() {
        let r = parse_head(b"GET /status?x=1 HTTP/1.1\r\nHost: h\r\nauthorization:  Bearer t \r\n")
            .expect("parses");
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/status");
        assert!(!r.http10);
        assert_eq!(r.authorization.as_deref(), Some("Bearer t"));
        for bad in [
            &b"GET /status\r\n"[..],
            b"GET / HTTP/2\r\n",
            b"GET  / HTTP/1.1\r\n",
            b"\xff / HTTP/1.1\r\n",
        ] {
            assert_eq!(parse_head(bad), Err(HeadError::Malformed), "{bad:?}");
        }
        assert_eq!(find_blank_line(b"a\r\nb\r\n\r\nbody"), Some(4));
        assert_eq!(find_blank_line(b"a\nb\n\n"), Some(3));
        assert_eq!(find_blank_line(b"a\r\nb\r\n"), None);
    }

    #[test]
    fn the_connection_cap_leaves_descriptors_to_the_sources() {
        let cap = connection_cap();
        assert!((1..=MAX_CONNECTIONS).contains(&cap));
    }

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
