//! Facts from a collector (`vipdeck serve`) instead of from the peers and
//! the cloud: `vipdeck --attach URL` and `status --attach URL`. The
//! collector's `/watch` is a stream of JSON lines: a [`Hello`] (what it
//! watches), then every cluster's state as it is ([`Update::Replace`],
//! after its recent log lines), then each update as the collector folds
//! it in. Facts keep the collector's times, so their ages are the
//! collector's. A stream that breaks or goes quiet is opened again with
//! backoff; meanwhile the facts age and show as stale.
//!
//! The collector is untrusted input like a peer: lines are bounded, JSON
//! nesting is bounded by serde_json's own limit, and text reaches the
//! terminal only through the faces' sanitising.

use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::core::model::{ClusterSnapshot, ClusterSpec, Update};
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

/// Reads JSON lines from a byte stream, bounded.
struct Lines {
    buf: Vec<u8>,
}

impl Lines {
    fn new() -> Self {
        Lines { buf: Vec::new() }
    }

    /// Adds bytes; returns the complete lines, or an error for a line
    /// longer than [`MAX_LINE`].
    fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let rest = self.buf.split_off(pos + 1);
            let mut line = std::mem::replace(&mut self.buf, rest);
            line.pop();
            out.push(line);
        }
        if self.buf.len() > MAX_LINE {
            return Err(format!("a line longer than {} MiB", MAX_LINE >> 20));
        }
        Ok(out)
    }
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

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()?)
}

type Body = std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// Opens `/watch` and reads up to the hello.
async fn open(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> anyhow::Result<(Hello, Body, Lines, Vec<Vec<u8>>)> {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = tokio::time::timeout(QUIET_LIMIT, req.send())
        .await
        .map_err(|_| anyhow::anyhow!("{url}: no answer within {}s", QUIET_LIMIT.as_secs()))??;
    let status = resp.status();
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
        let mut got = lines
            .push(&chunk)
            .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
        if let Some(first) = got.iter().position(|l| !l.is_empty()) {
            let hello: Hello = serde_json::from_slice(&got[first])
                .map_err(|e| anyhow::anyhow!("{url}: not a vipdeck collector ({e})"))?;
            let rest = got.split_off(first + 1);
            return Ok((hello, body, lines, rest));
        }
    }
}

/// Forwards a stream's updates until it breaks; false when the face is gone.
async fn forward(
    mut body: Body,
    mut lines: Lines,
    pending: Vec<Vec<u8>>,
    tx: &mpsc::Sender<Update>,
) -> Result<(), String> {
    let send = |l: Vec<u8>| async move {
        if l.is_empty() {
            return Ok(true);
        }
        match serde_json::from_slice::<Line>(&l) {
            Ok(u) => Ok(tx.send(u).await.is_ok()),
            Err(e) => Err(format!("a line that is not an update ({e})")),
        }
    };
    for l in pending {
        if !send(l).await? {
            return Ok(());
        }
    }
    loop {
        let chunk = match tokio::time::timeout(QUIET_LIMIT, body.next()).await {
            Err(_) => return Err(format!("quiet for {}s", QUIET_LIMIT.as_secs())),
            Ok(None) => return Err("the collector closed the stream".into()),
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(Some(Ok(c))) => c,
        };
        for l in lines.push(&chunk)? {
            if !send(l).await? {
                return Ok(());
            }
        }
    }
}

/// Sources fed by the collector at `url`. Fails when the collector cannot
/// be reached or is not one; afterwards a broken stream is reopened.
pub async fn start(url: &str, token: Option<String>) -> anyhow::Result<Sources> {
    let http = client()?;
    let url = watch_url(url);
    let (hello, body, lines, pending) = open(&http, &url, token.as_deref()).await?;
    let (tx, rx) = mpsc::channel(4096);
    let specs = hello.specs.clone();
    let mut tasks = Tasks::default();
    let task_url = url.clone();
    tasks.spawn(async move {
        let mut stream = Some((body, lines, pending));
        let mut backoff = Duration::from_millis(500);
        loop {
            if let Some((body, lines, pending)) = stream.take() {
                match forward(body, lines, pending, &tx).await {
                    Ok(()) => return,
                    Err(e) => tracing::warn!("attach {task_url}: {e}; reconnecting"),
                }
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(backoff).await;
            match open(&http, &task_url, token.as_deref()).await {
                // The collector may have been restarted with other
                // clusters: only the same ones are followed.
                Ok((h, b, l, p)) if h.specs == specs => {
                    stream = Some((b, l, p));
                    backoff = Duration::from_millis(500);
                }
                Ok(_) => {
                    tracing::warn!("attach {task_url}: the collector now watches other clusters");
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
                Err(e) => {
                    tracing::warn!("attach: {e}");
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
        tasks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_and_bounded() {
        let mut l = Lines::new();
        assert_eq!(l.push(b"ab").unwrap_or_default(), Vec::<Vec<u8>>::new());
        assert_eq!(
            l.push(b"c\n\nd").unwrap_or_default(),
            vec![b"abc".to_vec(), Vec::new()]
        );
        assert!(l.push(&vec![b'x'; MAX_LINE + 1]).is_err());
    }

    #[test]
    fn the_watch_url_is_found_from_the_base() {
        assert_eq!(watch_url("http://h:1"), "http://h:1/watch");
        assert_eq!(watch_url("http://h:1/"), "http://h:1/watch");
        assert_eq!(watch_url("http://h:1/watch"), "http://h:1/watch");
    }
}
