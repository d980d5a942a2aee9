//! Facts from a collector (`vipdeck serve`) instead of from the peers and
//! the cloud: `vipdeck --attach URL` and `status --attach URL`. The
//! collector's `/watch` is a stream of JSON lines: a [`Hello`] (what it
//! watches), then every cluster's state as it is ([`Update::Replace`],
//! after its recent log lines), then each update as the collector folds
//! it in. Facts keep the collector's times, so their ages are the
//! collector's. A stream that breaks or goes quiet is opened again with
//! backoff; meanwhile the face is told the collector is lost, and since
//! when ([`Sources::collector`]), and judges its facts as of then.
//!
//! The collector is untrusted input like a peer: lines are bounded, JSON
//! nesting is bounded by serde_json's own limit, and text reaches the
//! terminal only through the faces' sanitising.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::core::model::{ClusterSnapshot, ClusterSpec, CollectorLost, Update};
use crate::core::verdict::Thresholds;
use crate::sources::monitor::{Sources, Tasks};

/// The first line of `/watch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub specs: Vec<ClusterSpec>,
    pub thresholds: Thresholds,
    /// Where the collector's facts come from (its title bar).
    pub label: String,
}

/// One line of `/watch` after the hello; a blank line is a keepalive.
pub(crate) type Line = Update;

/// The longest line accepted from a collector (a whole cluster's state
/// with its recent log lines is well under this).
const MAX_LINE: usize = 8 << 20;
/// The collector writes a keepalive line at least this often...
pub(crate) const KEEPALIVE: Duration = Duration::from_secs(5);
/// ...so a stream quiet for this long is dead.
const QUIET_LIMIT: Duration = Duration::from_secs(15);

/// How long an open stream may be quiet before the collector counts as
/// lost: before the facts it sent could go stale for its silence alone
/// (three quarters of the peers' stale threshold), never under two
/// keepalives' gap, never over [`QUIET_LIMIT`].
fn quiet_limit(t: &Thresholds) -> Duration {
    (t.peer_stale_after * 3 / 4).clamp(KEEPALIVE + Duration::from_secs(2), QUIET_LIMIT)
}
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The lines that bring a face up to date with `cluster`: its recent log
/// lines (so the face's log store has them), then its state at once.
pub(crate) fn replay(cluster: usize, c: &ClusterSnapshot) -> Vec<Update> {
    let mut out: Vec<Update> = c
        .recent_logs
        .iter()
        .map(|l| Update::Log {
            cluster,
            line: l.clone(),
        })
        .collect();
    out.push(Update::Replace {
        cluster,
        snapshot: Box::new(c.clone()),
    });
    out
}

/// Splits a collector's byte stream into lines, bounded: it holds at most
/// one line ([`MAX_LINE`]) and the chunk being read, however the stream
/// is cut; each line it hands out is a copy of its own length (a line
/// never keeps the buffer alive), and blank lines (keepalives) are
/// skipped without being handed out, so a flood of newlines costs
/// nothing. Public for the fuzz target in tests/adversarial.
#[derive(Debug, Default)]
pub struct Lines {
    buf: Vec<u8>,
    /// Where the line being read starts in `buf`.
    start: usize,
    /// `buf[start..scanned]` holds no newline.
    scanned: usize,
}

impl Lines {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a chunk of the stream; the caller then takes the lines with
    /// [`Lines::next_line`] until there is none.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), String> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        // A buffer that grew for one long line does not stay that large.
        if self.buf.capacity() > SHRINK_ABOVE && self.buf.len() < self.buf.capacity() / 4 {
            self.buf.shrink_to(self.buf.len().max(SHRINK_ABOVE));
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The next complete line that is not blank, without its newline; an
    /// error for a line longer than [`MAX_LINE`] (complete or not).
    pub fn next_line(&mut self) -> Result<Option<Vec<u8>>, String> {
        let too_long = || format!("a line longer than {} MiB", MAX_LINE >> 20);
        loop {
            let Some(nl) = self.buf[self.scanned..].iter().position(|b| *b == b'\n') else {
                self.scanned = self.buf.len();
                if self.scanned - self.start > MAX_LINE {
                    return Err(too_long());
                }
                return Ok(None);
            };
            let end = self.scanned + nl;
            let line = &self.buf[self.start..end];
            if line.len() > MAX_LINE {
                return Err(too_long());
            }
            let blank = line.iter().all(u8::is_ascii_whitespace);
            let out = (!blank).then(|| line.to_vec());
            self.start = end + 1;
            self.scanned = self.start;
            if out.is_some() {
                return Ok(out);
            }
        }
    }

    /// How many bytes are held (for the fuzz target's bound).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }
}

/// A read buffer above this is given back once its long line is read.
const SHRINK_ABOVE: usize = 64 << 10;

/// Reads a bearer token from `path`: one line, not readable by others
/// (it guards the cluster's facts), not empty.
pub fn read_token(path: &std::path::Path) -> anyhow::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(path)
        .map_err(|e| anyhow::anyhow!("token file {}: {e}", path.display()))?;
    if md.mode() & 0o077 != 0 {
        anyhow::bail!(
            "token file {} is readable by others (mode {:o}): chmod 600 it",
            path.display(),
            md.mode() & 0o777
        );
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("token file {}: {e}", path.display()))?;
    let token = text.trim().to_string();
    if token.is_empty() || token.contains(char::is_whitespace) {
        anyhow::bail!(
            "token file {}: one token without spaces expected",
            path.display()
        );
    }
    Ok(token)
}

/// Where a collector on loopback port `port` keeps the token it made for
/// its user when none was given: `serve/serve-PORT.token` in the data dir.
pub fn local_token_path(port: u16) -> Option<std::path::PathBuf> {
    crate::core::config::data_dir().map(|d| d.join("serve").join(format!("serve-{port}.token")))
}

/// The token for a collector at `url` when none is given: the one a
/// collector of this user made, for one on this machine.
fn local_token_for(url: &str) -> anyhow::Result<Option<String>> {
    let Ok(u) = reqwest::Url::parse(url) else {
        return Ok(None);
    };
    if !crate::sources::cloud::client::is_loopback(&u) {
        return Ok(None);
    }
    let Some(path) = u.port_or_known_default().and_then(local_token_path) else {
        return Ok(None);
    };
    if !path.exists() {
        return Ok(None);
    }
    read_token(&path).map(Some)
}

/// The `/watch` address of a collector URL (`http://host:port` or one
/// ending in `/watch`).
fn watch_url(base: &str) -> String {
    let b = base.trim_end_matches('/');
    if b.ends_with("/watch") {
        b.to_string()
    } else {
        format!("{b}/watch")
    }
}

/// The user's word that a token-bearing `/watch` may go through the proxy
/// the environment names (`http_proxy`, `all_proxy`, ...).
pub const PROXY_OPT_IN_ENV: &str = "VIPDECK_ATTACH_PROXY";

/// Whether `/watch` at `url` goes through the environment's proxy: never
/// to this machine (a proxy would see the request, and its token, for
/// nothing), and never with a token unless [`PROXY_OPT_IN_ENV`] is `1`:
/// a proxy sees the `Authorization` header of a plain-HTTP request.
fn use_env_proxy(url: &str, with_token: bool, opt_in: bool) -> bool {
    let loopback = reqwest::Url::parse(url)
        .map(|u| crate::sources::cloud::client::is_loopback(&u))
        .unwrap_or(false);
    !loopback && (!with_token || opt_in)
}

fn client(url: &str, with_token: bool) -> anyhow::Result<reqwest::Client> {
    let opt_in = std::env::var(PROXY_OPT_IN_ENV).is_ok_and(|v| v == "1");
    // No redirects: a collector never sends one, and following it would
    // carry the token elsewhere.
    let mut b = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if !use_env_proxy(url, with_token, opt_in) {
        b = b.no_proxy();
    }
    Ok(b.build()?)
}

type Body = std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// Opens `/watch` and reads up to the hello.
async fn open(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> anyhow::Result<(Hello, Body, Lines)> {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = tokio::time::timeout(QUIET_LIMIT, req.send())
        .await
        .map_err(|_| anyhow::anyhow!("{url}: no answer within {}s", QUIET_LIMIT.as_secs()))??;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        anyhow::bail!(
            "{url}: HTTP {status}: the collector wants its bearer token (--token-file PATH; a \
             collector on this machine keeps the one it made in {})",
            local_token_path(9813).map_or_else(
                || "the data directory".to_string(),
                |p| p.with_file_name("serve-PORT.token").display().to_string()
            )
        );
    }
    if !status.is_success() {
        anyhow::bail!("{url}: HTTP {status}");
    }
    let mut body: Body = Box::pin(resp.bytes_stream());
    let mut lines = Lines::new();
    loop {
        let chunk = tokio::time::timeout(QUIET_LIMIT, body.next())
            .await
            .map_err(|_| anyhow::anyhow!("{url}: no hello within {}s", QUIET_LIMIT.as_secs()))?
            .ok_or_else(|| anyhow::anyhow!("{url}: the stream ended before its hello"))??;
        lines
            .feed(&chunk)
            .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
        if let Some(first) = lines
            .next_line()
            .map_err(|e| anyhow::anyhow!("{url}: {e}"))?
        {
            let hello: Hello = serde_json::from_slice(&first)
                .map_err(|e| anyhow::anyhow!("{url}: not a vipdeck collector ({e})"))?;
            return Ok((hello, body, lines));
        }
    }
}

/// Forwards a stream's updates until it breaks (`Ok` when the face is
/// gone), keeping `heard` at the time the collector last sent anything,
/// keepalives included.
async fn forward(
    mut body: Body,
    mut lines: Lines,
    tx: &mpsc::Sender<Update>,
    heard: &mut DateTime<Utc>,
    quiet: Duration,
) -> Result<(), String> {
    loop {
        // What is buffered first (the lines after the hello), then more.
        while let Some(l) = lines.next_line()? {
            let u = serde_json::from_slice::<Line>(&l)
                .map_err(|e| format!("a line that is not an update ({e})"))?;
            if tx.send(u).await.is_err() {
                return Ok(());
            }
        }
        let chunk = match tokio::time::timeout(quiet, body.next()).await {
            Err(_) => return Err(format!("nothing heard for {}s", quiet.as_secs())),
            Ok(None) => return Err("the collector closed the stream".into()),
            Ok(Some(Err(e))) => return Err(format!("{:#}", anyhow::Error::from(e))),
            Ok(Some(Ok(c))) => c,
        };
        *heard = Utc::now();
        lines.feed(&chunk)?;
    }
}

/// Tells the face the collector is not followed now: the first break
/// keeps the time it was last heard, each failed reopen says why.
fn lost(
    to: &tokio::sync::watch::Sender<Option<CollectorLost>>,
    heard: DateTime<Utc>,
    reason: String,
) {
    to.send_modify(|l| match l {
        Some(l) => l.reason = reason,
        None => {
            *l = Some(CollectorLost {
                since: heard,
                reason,
            })
        }
    });
}

/// The collector's new state when it changes; never, for sources that
/// have no collector (or once its task is gone).
pub async fn collector_changed(
    rx: &mut Option<tokio::sync::watch::Receiver<Option<CollectorLost>>>,
) -> Option<CollectorLost> {
    if let Some(r) = rx.as_mut() {
        if r.changed().await.is_ok() {
            return r.borrow_and_update().clone();
        }
    }
    *rx = None;
    std::future::pending().await
}

/// Sources fed by the collector at `url`. Fails when the collector cannot
/// be reached or is not one; afterwards a broken stream is reopened.
/// Without a token, a collector on this machine is sent the one it made
/// for this user, if there is one.
pub async fn start(url: &str, token: Option<String>) -> anyhow::Result<Sources> {
    let url = watch_url(url);
    let token = match token {
        Some(t) => Some(t),
        None => local_token_for(&url)?,
    };
    let http = client(&url, token.is_some())?;
    let (hello, body, lines) = open(&http, &url, token.as_deref()).await?;
    let (tx, rx) = mpsc::channel(4096);
    // The face hears at once when the stream breaks, and when it is back.
    let (lost_tx, lost_rx) = tokio::sync::watch::channel(None::<CollectorLost>);
    let specs = hello.specs.clone();
    let quiet = quiet_limit(&hello.thresholds);
    let mut tasks = Tasks::default();
    let task_url = url.clone();
    tasks.spawn(async move {
        let mut stream = Some((body, lines));
        let mut heard = Utc::now();
        let mut backoff = Duration::from_millis(500);
        loop {
            if let Some((body, lines)) = stream.take() {
                match forward(body, lines, &tx, &mut heard, quiet).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!("attach {task_url}: {e}; reconnecting");
                        lost(&lost_tx, heard, e);
                    }
                }
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(backoff).await;
            match open(&http, &task_url, token.as_deref()).await {
                // The collector may have been restarted with other
                // clusters: only the same ones are followed.
                Ok((h, b, l)) if h.specs == specs => {
                    stream = Some((b, l));
                    heard = Utc::now();
                    backoff = Duration::from_millis(500);
                    lost_tx.send_replace(None);
                }
                Ok(_) => {
                    tracing::warn!("attach {task_url}: the collector now watches other clusters");
                    lost(
                        &lost_tx,
                        heard,
                        "the collector now watches other clusters".into(),
                    );
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
                Err(e) => {
                    tracing::warn!("attach: {e:#}");
                    lost(&lost_tx, heard, format!("{e:#}"));
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    });
    Ok(Sources {
        specs: hello.specs,
        updates: rx,
        sim: None,
        label: format!("attached to {url} · {}", hello.label),
        thresholds: hello.thresholds,
        first_round: CONNECT_TIMEOUT + QUIET_LIMIT,
        first_probes: Default::default(),
        collector: Some(lost_rx),
        tasks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(l: &mut Lines) -> Result<Vec<Vec<u8>>, String> {
        let mut out = Vec::new();
        while let Some(x) = l.next_line()? {
            out.push(x);
        }
        Ok(out)
    }

    #[test]
    fn lines_are_split_and_bounded() {
        let mut l = Lines::new();
        l.feed(b"ab").expect("feed");
        assert_eq!(all(&mut l), Ok(Vec::<Vec<u8>>::new()));
        l.feed(b"c\n\nd").expect("feed");
        // The blank line is a keepalive: skipped.
        assert_eq!(all(&mut l), Ok(vec![b"abc".to_vec()]));
        l.feed(b"\n").expect("feed");
        assert_eq!(all(&mut l), Ok(vec![b"d".to_vec()]));
        l.feed(&vec![b'x'; MAX_LINE + 1]).expect("feed");
        assert!(all(&mut l).is_err());
        // A complete line that is too long is refused too.
        let mut l = Lines::new();
        let mut long = vec![b'x'; MAX_LINE + 1];
        long.push(b'\n');
        l.feed(&long).expect("feed");
        assert!(all(&mut l).is_err());
    }

    #[test]
    fn a_chunk_of_many_lines_costs_its_own_size() {
        // Before: each line kept the capacity of what followed it, so a
        // chunk of n newlines cost n²/2 bytes.
        let mut l = Lines::new();
        let chunk: Vec<u8> = b"{}\n".repeat(100_000);
        l.feed(&chunk).expect("feed");
        let lines = all(&mut l).expect("lines");
        assert_eq!(lines.len(), 100_000);
        let held: usize = lines.iter().map(Vec::capacity).sum();
        assert!(
            held <= 100_000 * 8,
            "{held} bytes held by 100000 two-byte lines"
        );
        l.feed(&vec![b'\n'; 1 << 20]).expect("feed");
        assert_eq!(all(&mut l), Ok(Vec::new()));
        assert_eq!(l.buffered(), 0);
    }

    #[test]
    fn a_proxy_is_used_only_away_from_loopback_and_with_a_token_only_when_asked() {
        for lo in [
            "http://127.0.0.1:9813/watch",
            "http://[::1]:1/watch",
            "http://localhost:1",
        ] {
            for (token, opt_in) in [(false, false), (true, false), (true, true)] {
                assert!(!use_env_proxy(lo, token, opt_in), "{lo}");
            }
        }
        let far = "http://collector.example:9813/watch";
        assert!(use_env_proxy(far, false, false));
        assert!(!use_env_proxy(far, true, false));
        assert!(use_env_proxy(far, true, true));
    }

    #[test]
    fn the_watch_url_is_found_from_the_base() {
        assert_eq!(watch_url("http://h:1"), "http://h:1/watch");
        assert_eq!(watch_url("http://h:1/"), "http://h:1/watch");
        assert_eq!(watch_url("http://h:1/watch"), "http://h:1/watch");
    }
}
