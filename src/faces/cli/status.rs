//! `vipdeck status` (once, wide, JSON, Prometheus, or `--watch`) and
//! `vipdeck check` (one line and a monitoring plugin's exit code): the
//! first complete round of facts, judged and printed.

use std::io::Write;
use std::time::Duration;

use anyhow::bail;
use chrono::Utc;

use super::args::{Format, Global, Which};
use super::out::{emit, emit_json};
use super::sources_for;
use crate::core::model::{CollectorLost, Snapshot};
use crate::core::sanitize::clean;
use crate::faces::report;
use crate::sources::attach::collector_changed;
use crate::sources::monitor::{self, Sources};

/// `vipdeck status`.
pub async fn status(
    global: &Global,
    which: &Which,
    json: bool,
    watch: bool,
    format: Option<Format>,
) -> anyhow::Result<u8> {
    let json = json || format == Some(Format::Json);
    if watch && matches!(format, Some(Format::Prometheus | Format::Wide)) {
        bail!("--watch prints text or, with --json, JSON; not -o wide or prometheus");
    }
    let sources = sources_for(global, which).await?;
    if watch {
        watch_status(sources, which.cluster.as_deref(), json).await?;
        return Ok(0);
    }
    let thresholds = sources.thresholds.clone();
    let (snapshot, now) = first_snapshot(sources).await;
    let r = report::report(&snapshot, &thresholds, now, which.cluster.as_deref());
    check_cluster_found(&r, &snapshot, which.cluster.as_deref())?;
    if format == Some(Format::Prometheus) {
        emit(&crate::faces::export::prometheus(&r, now))?;
    } else if format == Some(Format::Wide) {
        emit(&report::render_wide(&r, now))?;
    } else if json {
        emit_json(&format!("{}\n", serde_json::to_string_pretty(&r)?))?;
    } else {
        emit(&report::render_text(&r))?;
    }
    Ok(0)
}

/// `vipdeck check`: the line and its exit code.
pub async fn check(global: &Global, which: &Which) -> anyhow::Result<u8> {
    let sources = sources_for(global, which).await?;
    let thresholds = sources.thresholds.clone();
    let (snapshot, now) = first_snapshot(sources).await;
    let r = report::report(&snapshot, &thresholds, now, which.cluster.as_deref());
    check_cluster_found(&r, &snapshot, which.cluster.as_deref())?;
    let (line, code) = report::check_line(&r, &snapshot, now);
    println!("{}", clean(&line));
    Ok(code as u8)
}

pub(super) fn check_cluster_found(
    r: &report::Report,
    snapshot: &Snapshot,
    only: Option<&str>,
) -> anyhow::Result<()> {
    match only {
        Some(name) if r.clusters.is_empty() => {
            let names: Vec<&str> = snapshot
                .clusters
                .iter()
                .map(|c| c.spec.name.as_str())
                .collect();
            bail!("no cluster named `{name}` (clusters: {})", names.join(", "))
        }
        _ => Ok(()),
    }
}

/// The first complete round of facts: every peer answered or its own
/// connect + command timeouts passed (then it is reported as given up on).
pub(super) async fn first_snapshot(mut sources: Sources) -> (Snapshot, chrono::DateTime<Utc>) {
    let mut snapshot = Snapshot::new(sources.specs.clone());
    crate::failover::audit::seed_acknowledgements(&mut snapshot, None);
    monitor::collect_first_round(&mut snapshot, &mut sources.updates, sources.first_round).await;
    monitor::collect_first_probes(&mut snapshot, &mut sources.updates, &sources.first_probes).await;
    (snapshot, Utc::now())
}

/// Debug builds only: `VIPDECK_DEBUG_PANIC_AFTER_MS` makes `status --watch`
/// panic that long after it starts, so the tests can show a panic leaves
/// no child behind.
#[cfg(debug_assertions)]
fn debug_panic_at() -> Option<std::time::Instant> {
    let ms: u64 = std::env::var("VIPDECK_DEBUG_PANIC_AFTER_MS")
        .ok()?
        .parse()
        .ok()?;
    Some(std::time::Instant::now() + Duration::from_millis(ms))
}

/// Debug builds only: `VIPDECK_DEBUG_DEMO_KILL_MASTER_AFTER_MS` kills
/// keepalived on the first demo cluster's MASTER that long after the first
/// round (the dashboard's `K`), so tests can watch a takeover.
#[cfg(debug_assertions)]
fn debug_demo_kill(sources: &Sources) {
    let Some(ms) = std::env::var("VIPDECK_DEBUG_DEMO_KILL_MASTER_AFTER_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    if let Some(tx) = sources.sim.clone() {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let _ = tx
                .send(crate::sources::simulator::SimCommand::KillMaster { cluster: 0 })
                .await;
        });
    }
}

/// `status --watch`: a text line per change (time, cluster, what changed,
/// verdict), or with `json` one JSON report per change, with `at`.
async fn watch_status(mut sources: Sources, only: Option<&str>, json: bool) -> anyhow::Result<()> {
    let t = sources.thresholds.clone();
    let mut snapshot = Snapshot::new(sources.specs.clone());
    crate::failover::audit::seed_acknowledgements(&mut snapshot, None);
    // No warm-up lines: the first line comes after the first complete round.
    monitor::collect_first_round(&mut snapshot, &mut sources.updates, sources.first_round).await;
    #[cfg(debug_assertions)]
    debug_demo_kill(&sources);
    let mut last = None;
    let mut last_report: Option<report::Report> = None;
    let mut lost: Option<CollectorLost> = None;
    let offset = *chrono::Local::now().offset();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let stdout = std::io::stdout();
    #[cfg(debug_assertions)]
    let panic_at = debug_panic_at();
    loop {
        #[cfg(debug_assertions)]
        if panic_at.is_some_and(|at| std::time::Instant::now() >= at) {
            panic!("VIPDECK_DEBUG_PANIC_AFTER_MS: a panic on purpose (debug builds only)");
        }
        tokio::select! {
            u = sources.updates.recv() => match u {
                Some(u) => {
                    snapshot.apply(u);
                    while let Ok(u) = sources.updates.try_recv() {
                        snapshot.apply(u);
                    }
                }
                None => return Ok(()),
            },
            _ = tick.tick() => {}
            now_lost = collector_changed(&mut sources.collector) => {
                let clock = Utc::now().with_timezone(&offset).format("%H:%M:%S").to_string();
                let line = match &now_lost {
                    Some(l) => format!(
                        "{clock} collector unreachable since {}: {}; verdicts below are as of then",
                        l.since.with_timezone(&offset).format("%H:%M:%S"),
                        l.reason
                    ),
                    None => format!("{clock} collector back"),
                };
                if !json && lost.is_some() != now_lost.is_some() {
                    writeln!(stdout.lock(), "{}", crate::core::sanitize::clean(&line))?;
                }
                lost = now_lost;
            }
        }
        // A lost collector's facts are judged as of when it was last heard:
        // its silence is not news about the peers.
        let now = CollectorLost::judged_at(lost.as_ref(), Utc::now());
        let mut r = report::report(&snapshot, &t, now, only);
        let key = report::watch_key(&r);
        if last.as_ref() != Some(&key) {
            last = Some(key);
            r.at = Some(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            let mut out = stdout.lock();
            if json {
                writeln!(out, "{}", serde_json::to_string(&r)?)?;
            } else {
                let clock = now.with_timezone(&offset).format("%H:%M:%S").to_string();
                for line in report::watch_lines(last_report.as_ref(), &r, &clock) {
                    writeln!(out, "{}", crate::core::sanitize::clean(&line))?;
                }
                last_report = Some(r);
            }
            // A closed pipe (e.g. `| head`) ends the watch.
            if out.flush().is_err() {
                return Ok(());
            }
        }
    }
}
