//! `vipdeck logs` and the log screen's save: the faces of the log store
//! ([`crate::core::logs`]) that write to a terminal or a file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use regex::Regex;
use tokio::sync::mpsc;

use crate::core::logs::*;
use crate::core::model::{ClusterSpec, Update};

/// Writes a saved view (creating `dir`); returns the file's path.
pub fn save(
    dir: &Path,
    cluster_name: &str,
    now: DateTime<Utc>,
    text: &str,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = save_path(dir, cluster_name, now);
    std::fs::write(&path, text)?;
    Ok(path)
}

// ------------------------------------------------------------- vipdeck logs

/// `vipdeck logs` options.
#[derive(Debug, Clone)]
pub struct CliOptions {
    /// Only this cluster (all when None).
    pub cluster: Option<String>,
    pub follow: bool,
    pub grep: Option<Regex>,
    pub since: Option<Duration>,
    /// How long to gather the backlog at most...
    pub backlog_window: Duration,
    /// ...and how long a quiet stream counts as "the backlog is in".
    pub quiet_after: Duration,
    /// In --follow, how long a line waits so that a slightly earlier line
    /// from the other peer, arriving later, can still go before it.
    pub reorder_hold: Duration,
    /// The zone times are printed in.
    pub offset: FixedOffset,
    pub cap: usize,
}

impl Default for CliOptions {
    fn default() -> Self {
        CliOptions {
            cluster: None,
            follow: false,
            grep: None,
            since: None,
            backlog_window: Duration::from_secs(6),
            quiet_after: Duration::from_millis(1500),
            reorder_hold: Duration::from_millis(800),
            offset: chrono::Offset::fix(&Utc),
            cap: DEFAULT_CAP,
        }
    }
}

/// Prints the merged logs of the chosen clusters from `updates` to `out`:
/// the backlog (what arrives within the window) in time order, then, with
/// `follow`, new lines as they come. Ends when the sources end or `out`
/// is closed (`| head`).
pub async fn run_cli(
    specs: &[ClusterSpec],
    updates: &mut mpsc::Receiver<Update>,
    opts: &CliOptions,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let chosen: Vec<usize> = match &opts.cluster {
        Some(name) => {
            let i = specs
                .iter()
                .position(|s| &s.name == name)
                .ok_or_else(|| anyhow::anyhow!("no cluster named `{name}`"))?;
            vec![i]
        }
        None => (0..specs.len()).collect(),
    };
    if chosen.is_empty() {
        anyhow::bail!("no clusters configured");
    }
    let several = chosen.len() > 1;
    let mut store = LogStore::new(opts.cap);
    let since = opts
        .since
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .and_then(|d| Utc::now().checked_sub_signed(d));
    let filter = Filter {
        since,
        ..Filter::default()
    };
    let keep =
        |e: &Entry| filter.accepts(e) && opts.grep.as_ref().is_none_or(|re| re.is_match(&e.text));
    let line_of = |ci: usize, e: &Entry| {
        let (names, w) = peer_names(&specs[ci]);
        let prefix = several.then_some(specs[ci].name.as_str());
        format_line(e, &names[e.peer.min(1)], w, opts.offset, prefix)
    };

    // The backlog: until the streams go quiet (or the window closes).
    let started = tokio::time::Instant::now();
    let deadline = started + opts.backlog_window;
    let mut last_line: Option<tokio::time::Instant> = None;
    let mut open = true;
    loop {
        let quiet_end = last_line.map(|t| t + opts.quiet_after);
        let until = quiet_end.map_or(deadline, |q| q.min(deadline));
        match tokio::time::timeout_at(until, updates.recv()).await {
            Ok(Some(Update::Log { cluster, line })) if chosen.contains(&cluster) => {
                store.push(cluster, line);
                last_line = Some(tokio::time::Instant::now());
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                open = false;
                break;
            }
            Err(_) => break,
        }
    }
    // Across clusters: each cluster's merged lines, then by time.
    let mut backlog: Vec<((i64, u8, u64), String)> = Vec::new();
    for &ci in &chosen {
        for r in store.merged_where(ci, keep) {
            if let Some(e) = store.get(ci, r) {
                backlog.push((e.order(), line_of(ci, e)));
            }
        }
    }
    if several {
        backlog.sort_by_key(|(o, _)| *o);
    }
    for (_, l) in &backlog {
        if writeln!(out, "{l}").is_err() {
            return Ok(());
        }
    }
    if out.flush().is_err() || !opts.follow || !open {
        return Ok(());
    }

    // Live: hold each line briefly so the peers' lines come out in order.
    let mut pending: BTreeMap<(i64, u8, u64), (tokio::time::Instant, String)> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            u = updates.recv() => match u {
                Some(Update::Log { cluster, line }) if chosen.contains(&cluster) => {
                    let added = store.push(cluster, line).and_then(|r| store.get(cluster, r));
                    if let Some(e) = added.filter(|e| keep(e)) {
                        let at = tokio::time::Instant::now();
                        pending.insert(e.order(), (at, line_of(cluster, e)));
                    }
                }
                Some(_) => {}
                None => {
                    for (_, (_, l)) in std::mem::take(&mut pending) {
                        if writeln!(out, "{l}").is_err() {
                            return Ok(());
                        }
                    }
                    let _ = out.flush();
                    return Ok(());
                }
            },
            _ = tick.tick() => {
                let now = tokio::time::Instant::now();
                let mut wrote = false;
                while let Some(entry) = pending.first_entry() {
                    if entry.get().0 + opts.reorder_hold > now {
                        break;
                    }
                    let (_, l) = entry.remove();
                    if writeln!(out, "{l}").is_err() {
                        return Ok(());
                    }
                    wrote = true;
                }
                if wrote && out.flush().is_err() {
                    return Ok(());
                }
            }
        }
    }
}
