//! `vipdeck maintenance start|end|list`: a planned maintenance window,
//! written as a marker file on both peers beside the failover lock (same
//! directory, same atomic create, same trust rules), over the same
//! transport as a failover. Every vipdeck and every collector polling the
//! peers sees it; `maintenance end` removes exactly the marker it read.
//! With `[alertmanager] url`, the window also silences the cluster's
//! alerts; Alertmanager failing is reported, never blocks the window.

use std::time::Duration;

use anyhow::bail;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::config::{ClusterConfig, Config};
use crate::core::lockfile::{lock_dir_from, maintenance_path_in};
use crate::core::marker::{
    parse_read, parse_until, parse_window_length, MaintenanceMarker, MarkerSeen, MAX_REASON,
};
use crate::core::sanitize::{clean, clip};
use crate::failover::lock::{who, TakeOver};
use crate::failover::scripts::{lock_acquire_at, lock_read_at, lock_release_at};
use crate::sources::monitor::target_of;
use crate::sources::transport::Shell;

#[derive(Debug, clap::Subcommand)]
pub enum MaintenanceAction {
    /// Open a window: a marker on both peers (who, why, until when), and an
    /// Alertmanager silence when `[alertmanager] url` is set.
    Start {
        #[arg(long, value_name = "NAME")]
        cluster: String,
        /// The peer being worked on (the window still covers the cluster).
        #[arg(long, value_name = "PEER")]
        peer: Option<String>,
        /// How long: 90m, 2h, 1h30m (1 minute to 7 days).
        #[arg(
            long = "for",
            value_name = "DURATION",
            allow_hyphen_values = true,
            required_unless_present = "until",
            conflicts_with = "until"
        )]
        length: Option<String>,
        /// Until when, RFC 3339 (2026-12-06T22:00:00Z); instead of --for.
        #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
        until: Option<String>,
        /// Why, in words: shown on every dashboard.
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// End a cluster's window (active or expired): removes the markers and
    /// expires its Alertmanager silence.
    End {
        #[arg(long, value_name = "NAME")]
        cluster: String,
    },
    /// The windows on every cluster's peers (or one cluster's).
    List {
        #[arg(long, value_name = "NAME")]
        cluster: Option<String>,
    },
}

/// How long one peer may take to answer a marker script.
const PEER_TIMEOUT: Duration = Duration::from_secs(15);

pub async fn run(config: &Config, action: &MaintenanceAction) -> anyhow::Result<u8> {
    match action {
        MaintenanceAction::Start {
            cluster,
            peer,
            length,
            until,
            reason,
        } => {
            let now = Utc::now();
            let until = match (length, until) {
                (Some(l), _) => {
                    now + chrono::TimeDelta::from_std(
                        parse_window_length(l).map_err(anyhow::Error::msg)?,
                    )?
                }
                (None, Some(u)) => parse_until(u, now).map_err(anyhow::Error::msg)?,
                (None, None) => bail!("say how long: --for DURATION or --until TIME"),
            };
            let cluster = find(config, cluster)?;
            if let Some(p) = peer {
                if !cluster.peers.iter().any(|c| &c.name == p) {
                    bail!("cluster `{}` has no peer named `{p}`", cluster.name);
                }
            }
            let reason = clip(&clean(reason.trim()), MAX_REASON);
            if reason.is_empty() {
                bail!("--reason: say why (it is shown on every dashboard)");
            }
            let marker = MaintenanceMarker {
                by: who(),
                reason,
                peer: peer.clone(),
                started: now,
                until,
                token: format!("{:016x}", rand::random::<u64>()),
                silence_id: None,
            };
            start(config, cluster, marker).await
        }
        MaintenanceAction::End { cluster } => end(config, find(config, cluster)?).await,
        MaintenanceAction::List { cluster } => {
            let clusters: Vec<&ClusterConfig> = match cluster {
                Some(c) => vec![find(config, c)?],
                None => config.clusters.iter().collect(),
            };
            list(config, &clusters).await
        }
    }
}

fn find<'a>(config: &'a Config, name: &str) -> anyhow::Result<&'a ClusterConfig> {
    config.cluster(name).ok_or_else(|| {
        let names: Vec<&str> = config.clusters.iter().map(|c| c.name.as_str()).collect();
        anyhow::anyhow!(
            "no cluster named `{name}` (clusters: {})",
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        )
    })
}

fn marker_path(config: &Config, cluster: &ClusterConfig) -> anyhow::Result<String> {
    let dir = lock_dir_from(&config.failover.lock_dir).map_err(anyhow::Error::msg)?;
    Ok(maintenance_path_in(&dir, &cluster.name))
}

/// Runs `script` on each peer of `cluster` in turn; each answer or
/// why there is none.
async fn on_peers(
    config: &Config,
    cluster: &ClusterConfig,
    script: impl Fn(usize) -> Option<String>,
) -> Vec<Option<Result<String, String>>> {
    // One peer after the other: two peers that share a directory (one
    // host reached twice, a shared mount) must not race for the marker.
    let mut answers = Vec::with_capacity(cluster.peers.len());
    for (i, p) in cluster.peers.iter().enumerate() {
        let Some(script) = script(i) else {
            answers.push(None);
            continue;
        };
        let mut sh = match Shell::spawn(&target_of(p, config)).await {
            Ok(sh) => sh,
            Err(e) => {
                answers.push(Some(Err(e.to_string())));
                continue;
            }
        };
        let r = sh
            .run(&script, config.ssh.connect_timeout() + PEER_TIMEOUT)
            .await
            .map(|(out, _)| out)
            .map_err(|e| e.to_string());
        sh.close().await;
        answers.push(Some(r));
    }
    answers
}

/// What each peer holds at the marker path.
async fn read_markers(
    config: &Config,
    cluster: &ClusterConfig,
    path: &str,
) -> Vec<Result<MarkerSeen, String>> {
    on_peers(config, cluster, |_| Some(lock_read_at(path)))
        .await
        .into_iter()
        .map(|r| match r {
            Some(Ok(out)) => parse_read(&out),
            Some(Err(e)) => Err(e),
            None => Err("not asked".into()),
        })
        .collect()
}

async fn start(
    config: &Config,
    cluster: &ClusterConfig,
    mut marker: MaintenanceMarker,
) -> anyhow::Result<u8> {
    let path = marker_path(config, cluster)?;
    let now = Utc::now();
    // An open window is never replaced; an expired one is, by its token;
    // a marker not believed is refused with what it is.
    let seen = read_markers(config, cluster, &path).await;
    let mut take_over: Vec<Option<TakeOver>> = vec![None; cluster.peers.len()];
    for (i, s) in seen.iter().enumerate() {
        let name = &cluster.peers[i].name;
        match s {
            Ok(MarkerSeen::Window(m)) if !m.expired(now) => bail!(
                "cluster `{}` is already in a maintenance window {} (on {name}); \
                 `vipdeck maintenance end --cluster {}` first",
                cluster.name,
                m.describe(now),
                cluster.name
            ),
            Ok(MarkerSeen::Window(m)) => take_over[i] = Some(TakeOver::Token(m.token.clone())),
            Ok(MarkerSeen::Suspect { why, says }) => bail!(
                "a file at {path} on {name} is not a maintenance marker to believe: {why}{}; \
                 remove it as root on {name} and start again",
                if says.is_empty() {
                    String::new()
                } else {
                    format!(" (it says: {says})")
                }
            ),
            Ok(MarkerSeen::None) | Err(_) => {}
        }
    }
    let silence = crate::faces::alertmanager::silence_for(config, cluster, &marker).await;
    if let Ok(Some(id)) = &silence {
        marker.silence_id = Some(id.clone());
    }
    let json = serde_json::to_string(&marker)?;
    let answers = on_peers(config, cluster, |i| {
        Some(lock_acquire_at(&path, &json, take_over[i].as_ref()))
    })
    .await;
    let mut written = Vec::new();
    let mut failed = Vec::new();
    for (i, a) in answers.into_iter().enumerate() {
        let name = cluster.peers[i].name.clone();
        match a {
            Some(Ok(out)) if out.lines().next().map(str::trim) == Some("ACQUIRED") => {
                written.push(name)
            }
            Some(Ok(out)) => match parse_read(out.trim_start()) {
                // Ours already: a retried write, or two peers that share
                // the lock directory.
                Ok(MarkerSeen::Window(m)) if m.token == marker.token => written.push(name),
                seen => failed.push(format!(
                    "{name}: {}",
                    match seen {
                        Err(e) => e,
                        Ok(MarkerSeen::Window(m)) => format!(
                            "another window was opened meanwhile: {}",
                            m.describe(Utc::now())
                        ),
                        Ok(other) => format!("{other:?}"),
                    }
                )),
            },
            Some(Err(e)) => failed.push(format!("{name}: {}", clean(&e))),
            None => {}
        }
    }
    let record = Record::new("start", cluster, &marker, &silence, &written, &failed);
    if written.is_empty() {
        // Nothing holds the window: the silence would hide alerts for
        // nothing, so it goes too.
        if let Some(id) = &marker.silence_id {
            let _ = crate::faces::alertmanager::expire(config, id).await;
        }
        audit(&record);
        bail!(
            "no peer took the maintenance marker ({})",
            failed.join("; ")
        );
    }
    audit(&record);
    println!(
        "maintenance window on {} {}",
        cluster.name,
        marker.describe(Utc::now())
    );
    println!("marker {path} on {}", written.join(", "));
    for f in &failed {
        println!("WARNING: not written on {f}");
    }
    say_silence(&silence, "created");
    Ok(u8::from(!failed.is_empty()))
}

async fn end(config: &Config, cluster: &ClusterConfig) -> anyhow::Result<u8> {
    let path = marker_path(config, cluster)?;
    let seen = read_markers(config, cluster, &path).await;
    let windows: Vec<Option<&MaintenanceMarker>> = seen
        .iter()
        .map(|s| match s {
            Ok(MarkerSeen::Window(m)) => Some(m.as_ref()),
            _ => None,
        })
        .collect();
    let Some(window) = windows.iter().flatten().max_by_key(|m| m.until).copied() else {
        let why: Vec<String> = seen
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Ok(MarkerSeen::Suspect { why, .. }) => Some(format!(
                    "{}: a marker not believed ({why}): remove it as root",
                    cluster.peers[i].name
                )),
                Err(e) => Some(format!("{}: {}", cluster.peers[i].name, clean(e))),
                _ => None,
            })
            .collect();
        bail!(
            "no maintenance window on cluster `{}`{}",
            cluster.name,
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join("; "))
            }
        );
    };
    let answers = on_peers(config, cluster, |i| {
        // Gone already counts as removed, before or while this peer
        // removes it (peers that share a directory race for the file).
        windows[i].map(|m| {
            let p = crate::sources::transport::quote(&path);
            let gone = format!("[ ! -e {p} ] && [ ! -L {p} ]");
            format!(
                "if {gone}; then echo RELEASED; else r=$({} 2>&1); \
                 if [ \"$r\" != RELEASED ] && {gone}; then echo RELEASED; else printf '%s\\n' \"$r\"; fi; fi",
                lock_release_at(&path, &m.token)
            )
        })
    })
    .await;
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    for (i, a) in answers.into_iter().enumerate() {
        let name = cluster.peers[i].name.clone();
        match a {
            Some(Ok(out)) if out.trim() == "RELEASED" => removed.push(name),
            Some(Ok(out)) => failed.push(format!("{name}: {}", clip(&clean(out.trim()), 80))),
            Some(Err(e)) => failed.push(format!("{name}: {}", clean(&e))),
            None => {}
        }
    }
    let silence = match &window.silence_id {
        Some(id) => crate::faces::alertmanager::expire(config, id)
            .await
            .map(|()| Some(id.clone())),
        None => Ok(None),
    };
    audit(&Record::new(
        "end", cluster, window, &silence, &removed, &failed,
    ));
    println!(
        "maintenance window on {} ended (was {})",
        cluster.name,
        window.describe(Utc::now())
    );
    for f in &failed {
        println!("WARNING: marker not removed on {f}");
    }
    say_silence(&silence, "expired");
    Ok(u8::from(!failed.is_empty()))
}

async fn list(config: &Config, clusters: &[&ClusterConfig]) -> anyhow::Result<u8> {
    let now = Utc::now();
    for cluster in clusters {
        let path = marker_path(config, cluster)?;
        let seen = read_markers(config, cluster, &path).await;
        let window = seen
            .iter()
            .filter_map(|s| match s {
                Ok(MarkerSeen::Window(m)) => Some(m.as_ref()),
                _ => None,
            })
            .max_by_key(|m| m.until);
        let head = match window {
            Some(m) if m.expired(now) => format!("EXPIRED {}", m.describe(now)),
            Some(m) => format!("ACTIVE {}", m.describe(now)),
            None => "none".into(),
        };
        println!("{}: {head}", clean(&cluster.name));
        for (i, s) in seen.iter().enumerate() {
            let name = &cluster.peers[i].name;
            match s {
                Ok(MarkerSeen::Suspect { why, says }) => {
                    println!("  {name}: marker NOT BELIEVED: {why} {says}")
                }
                Err(e) => println!("  {name}: cannot read: {}", clean(e)),
                Ok(MarkerSeen::None) if window.is_some() => {
                    println!("  {name}: no marker")
                }
                _ => {}
            }
        }
        if let Some(id) = window.and_then(|m| m.silence_id.as_deref()) {
            println!("  Alertmanager silence {}", clean(id));
        }
    }
    Ok(0)
}

fn say_silence(silence: &Result<Option<String>, String>, done: &str) {
    match silence {
        Ok(Some(id)) => println!("Alertmanager silence {} {done}", clean(id)),
        Ok(None) => {}
        Err(e) => println!("WARNING: Alertmanager: {}", clean(e)),
    }
}

/// One line of the maintenance audit trail (`maintenance.jsonl` beside
/// the failover audit): who opened or ended which window, the peers
/// that hold or lost its marker, and its Alertmanager silence.
#[derive(Debug, Serialize)]
struct Record {
    at: DateTime<Utc>,
    event: &'static str,
    cluster: String,
    by: String,
    window_by: String,
    reason: String,
    until: DateTime<Utc>,
    peers: Vec<String>,
    failed: Vec<String>,
    silence_id: Option<String>,
    alertmanager_error: Option<String>,
}

impl Record {
    fn new(
        event: &'static str,
        cluster: &ClusterConfig,
        m: &MaintenanceMarker,
        silence: &Result<Option<String>, String>,
        peers: &[String],
        failed: &[String],
    ) -> Record {
        Record {
            at: Utc::now(),
            event,
            cluster: cluster.name.clone(),
            by: who(),
            window_by: m.by.clone(),
            reason: m.reason.clone(),
            until: m.until,
            peers: peers.to_vec(),
            failed: failed.to_vec(),
            silence_id: silence.as_ref().ok().cloned().flatten(),
            alertmanager_error: silence.as_ref().err().cloned(),
        }
    }
}

fn audit(record: &Record) {
    let Some(dir) = crate::core::config::data_dir() else {
        eprintln!("vipdeck: warning: no data dir: the maintenance audit line is not written");
        return;
    };
    let path = dir.join("maintenance.jsonl");
    if let Err(e) = crate::failover::audit::append(&path, record) {
        eprintln!(
            "vipdeck: warning: cannot write {}: {}",
            path.display(),
            clean(&e.to_string())
        );
    }
}
