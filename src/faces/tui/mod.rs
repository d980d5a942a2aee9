//! The terminal face: one `select!` over terminal events, source updates
//! and a clock tick; draws only when something changed.

pub mod alerts;
pub mod app;
pub mod explain;
pub mod failover;
pub mod findings;
pub mod history;
pub mod keys;
pub mod layout;
pub mod logview;
pub mod theme;
pub mod view;

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use crossterm::event::{Event, EventStream, KeyEventKind, MouseEventKind};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::core::model::Update;
use crate::sources::monitor::{Sources, Tasks};
use crate::sources::simulator::SimCommand;
use app::{App, Effect, Msg};

/// Restores the terminal when dropped, so every exit path (errors
/// included) leaves a usable shell; panics are covered by ratatui's hook.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
        ratatui::restore();
    }
}

/// Runs the dashboard until the operator quits.
///
/// `updates` is the one channel every source reports through; `sim`, in
/// demo mode, takes the fault keys. `tick` moves the ages on screen.
/// Reads the config again and starts sources for it (`R`, SIGHUP); the
/// config also goes to the failover wizard.
pub type Reload = Box<
    dyn Fn() -> anyhow::Result<(Sources, Option<std::sync::Arc<crate::core::config::Config>>)>
        + Send,
>;

pub async fn run(
    mut app: App,
    sources: Sources,
    reload: Option<Reload>,
    tick: Duration,
) -> anyhow::Result<()> {
    let Sources {
        mut updates,
        mut sim,
        mut tasks,
        mut collector,
        ..
    } = sources;
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot watch for SIGHUP")?;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
        ratatui::restore();
        hook(info);
    }));
    let mut terminal = ratatui::try_init().context("cannot take over the terminal")?;
    let _guard = TerminalGuard;
    crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture)
        .context("cannot enable mouse reporting")?;

    let mut events = EventStream::new();
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = true;
    let mut sources_open = true;
    // The failover wizard's task reports here.
    let (wiz_tx, mut wiz_rx) = mpsc::unbounded_channel();
    // The wizard's executor follows its cluster through the dashboard's
    // own updates.
    let mut forward: Option<Forward> = None;
    // And what it reads itself comes back (its cloud reads, its probes).
    let (echo_tx, mut echo_rx) = mpsc::unbounded_channel::<Update>();
    // The lint of the config's clusters runs beside the sources, again
    // after a reload; its findings open with `f`.
    let (lint_tx, mut lint_rx) = mpsc::unbounded_channel();
    let mut lint = Linter::start(&mut app, &lint_tx);
    loop {
        if dirty {
            app.refresh();
            terminal
                .draw(|f| {
                    view::draw(f, &app);
                    sanitize_buffer(f.buffer_mut());
                })
                .context("drawing failed")?;
            dirty = false;
        }
        // Every arm ends in what the app asks the loop to do, if anything.
        let effect = tokio::select! {
            ev = events.next() => {
                match ev {
                    Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                        dirty = true;
                        app.update(Msg::Key(k))
                    }
                    // The pointer moving over the screen changes nothing.
                    Some(Ok(Event::Mouse(m))) if !matches!(m.kind, MouseEventKind::Moved) => {
                        dirty = true;
                        app.update(Msg::Mouse(m))
                    }
                    Some(Ok(Event::Resize(..))) => {
                        dirty = true;
                        None
                    }
                    Some(Ok(_)) => None,
                    Some(Err(e)) => return Err(e).context("reading the terminal failed"),
                    None => break,
                }
            }
            u = updates.recv(), if sources_open => {
                match u {
                    Some(u) => {
                        let now = Utc::now();
                        let mut next = Some(u);
                        // Take everything already queued before drawing once.
                        while let Some(u) = next {
                            let followed = forward.as_ref().is_some_and(|f| f.cluster == u.cluster());
                            let copy = followed.then(|| u.clone());
                            app.apply(u, now);
                            if let (Some(u), Some(f)) = (copy, forward.as_mut()) {
                                if !f.send(u, &app) {
                                    forward = None;
                                }
                            }
                            next = updates.try_recv().ok();
                        }
                        dirty = true;
                    }
                    None => sources_open = false,
                }
                None
            }
            Some(u) = echo_rx.recv() => {
                app.apply(u, Utc::now());
                dirty = true;
                None
            }
            Some(findings) = lint_rx.recv() => {
                app.lint_done(findings);
                dirty = true;
                None
            }
            Some(m) = wiz_rx.recv() => {
                dirty = true;
                let mut effect = app.update(Msg::Wizard(m));
                // Take every message already queued before drawing once: a
                // frame per message would put the screen behind the move.
                while effect.is_none() {
                    match wiz_rx.try_recv() {
                        Ok(m) => effect = app.update(Msg::Wizard(m)),
                        Err(_) => break,
                    }
                }
                effect
            }
            lost = crate::sources::attach::collector_changed(&mut collector) => {
                app.collector_lost = lost;
                app.tick(Utc::now());
                dirty = true;
                None
            }
            _ = ticker.tick() => {
                app.tick(Utc::now());
                dirty = true;
                None
            }
            _ = hangup.recv() => {
                dirty = true;
                Some(Effect::Reload)
            }
        };
        match effect {
            None => {}
            Some(Effect::Quit) => break,
            Some(Effect::Sim(cmd)) => {
                // The simulator is in-process; a full queue only drops a
                // key press.
                if let Some(tx) = &sim {
                    let _ = tx.try_send(cmd);
                }
            }
            Some(Effect::SaveLog {
                cluster_name,
                text,
                lines,
            }) => save_log_view(&mut app, &cluster_name, &text, lines),
            Some(Effect::WriteIncident { cluster }) => {
                write_incident(&mut app, cluster, sim.is_some())
            }
            Some(Effect::OpenFailover {
                config,
                cluster,
                target,
                forced,
            }) => {
                let on = match (config, &sim) {
                    (Some(c), _) => {
                        let Some(k) = app
                            .snapshot
                            .clusters
                            .iter()
                            .position(|c| c.spec.name == cluster)
                        else {
                            continue;
                        };
                        let (tx, rx) = mpsc::channel(FORWARD_QUEUE);
                        forward = Some(Forward {
                            cluster: k,
                            tx,
                            behind: false,
                        });
                        Some(failover::On::Config(
                            c,
                            Box::new(failover::Live {
                                snapshot: app.snapshot.clusters[k].clone(),
                                updates: rx,
                                thresholds: app.thresholds.clone(),
                                echo: {
                                    let tx = echo_tx.clone();
                                    Box::new(move |u: Update| {
                                        let _ = tx.send(u.readdressed(k));
                                    })
                                },
                            }),
                        ))
                    }
                    // The demo: rehearse on its simulator.
                    (None, Some(s)) => Some(failover::On::Sim(s.clone())),
                    (None, None) => None,
                };
                if let Some(on) = on {
                    let w = failover::Wizard::open(on, cluster, target, forced, wiz_tx.clone());
                    app.open_wizard(w);
                }
            }
            Some(Effect::Reload) => {
                // New sources, new channel: listen again.
                sources_open |= do_reload(
                    &mut app,
                    reload.as_ref(),
                    &mut updates,
                    &mut sim,
                    &mut tasks,
                );
                if !lint.runs_on(app.config.as_ref()) {
                    lint = Linter::start(&mut app, &lint_tx);
                }
            }
        }
    }
    Ok(())
}

/// How often the dashboard lints its clusters again: a config rarely
/// changes, and each lint reads every peer's scripts.
const LINT_EVERY: Duration = Duration::from_secs(300);

/// The background lint of one config; ended when dropped (a reload
/// starts another for the new config).
struct Linter {
    config: Option<std::sync::Arc<crate::core::config::Config>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Linter {
    fn start(app: &mut App, tx: &mpsc::UnboundedSender<Vec<crate::core::lint::Finding>>) -> Linter {
        let config = app.config.clone();
        let task = config.clone().map(|c| {
            app.lint_pending = "linting: reading both peers' files…".into();
            let tx = tx.clone();
            tokio::spawn(async move {
                crate::sources::peer_files::lint_beside_monitor(&c, LINT_EVERY, |findings| {
                    tx.send(findings).is_ok()
                })
                .await
            })
        });
        Linter { config, task }
    }

    fn runs_on(&self, config: Option<&std::sync::Arc<crate::core::config::Config>>) -> bool {
        match (&self.config, config) {
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Drop for Linter {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// How many updates may wait for the wizard's executor (it reads them
/// only while a step runs); past that it gets the cluster's whole state.
const FORWARD_QUEUE: usize = 4096;

/// The wizard's executor follows cluster `cluster` of the dashboard: each
/// update about it goes on, as cluster 0.
struct Forward {
    cluster: usize,
    tx: mpsc::Sender<Update>,
    /// An update was dropped on a full queue: send the whole state next.
    behind: bool,
}

impl Forward {
    /// Sends `u` (already applied to `app`) on; false once the executor is
    /// gone. A full queue drops it and the next send catches up with the
    /// cluster's whole state, which includes it.
    fn send(&mut self, u: Update, app: &App) -> bool {
        let u = if self.behind {
            match app.snapshot.clusters.get(self.cluster) {
                Some(c) => Update::Replace {
                    cluster: 0,
                    snapshot: Box::new(c.clone()),
                },
                None => return false,
            }
        } else {
            u.readdressed(0)
        };
        match self.tx.try_send(u) {
            Ok(()) => {
                self.behind = false;
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.behind = true;
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// Swaps in sources for the config as it is now. A config that does not
/// load leaves everything as it was and says why. The old sources end at
/// once, with their child processes, when their tasks are replaced.
fn do_reload(
    app: &mut App,
    reload: Option<&Reload>,
    updates: &mut mpsc::Receiver<Update>,
    sim: &mut Option<mpsc::Sender<SimCommand>>,
    tasks: &mut Tasks,
) -> bool {
    let now = Utc::now();
    let Some(reload) = reload else {
        app.flash = Some(("nothing to reload: not watching a config file".into(), now));
        return false;
    };
    if app.in_wizard() {
        app.flash = Some((
            "finish or leave the failover first, then reload".into(),
            now,
        ));
        return false;
    }
    match reload() {
        Ok((new, config)) => {
            let n = new.specs.len();
            app.thresholds = new.thresholds;
            app.reset(new.specs, new.label);
            app.config = config;
            *updates = new.updates;
            *sim = new.sim;
            *tasks = new.tasks;
            let what = if n == 1 { "cluster" } else { "clusters" };
            app.flash = Some((format!("config reloaded: {n} {what}"), now));
            tracing::info!(clusters = n, "config reloaded");
            true
        }
        Err(e) => {
            tracing::warn!("config reload failed: {e:#}");
            app.flash = Some((
                format!("reload failed, still watching the old config: {e:#}"),
                now,
            ));
            false
        }
    }
}

/// Carries out the log screen's save (on the key press, never in a draw):
/// the filtered view goes to a file in the data dir, and the screen says where.
fn save_log_view(app: &mut App, cluster_name: &str, text: &str, lines: usize) {
    let result = match crate::core::config::data_dir() {
        Some(dir) => crate::faces::logs::save(&dir, cluster_name, Utc::now(), text)
            .map(|p| (p, lines))
            .map_err(|e| format!("{}: {e}", dir.display())),
        None => Err("no data directory (set VIPDECK_DATA_DIR)".into()),
    };
    app.log_saved(result);
}

/// `I`: the selected cluster's incident record from what the dashboard
/// holds (its facts, its log store, the audit trail — the demo's own in
/// the demo), written 0600 to the data dir.
fn write_incident(app: &mut App, cluster: usize, demo: bool) {
    let audit_path = if demo {
        crate::failover::sim::demo_audit_path()
    } else {
        crate::failover::audit::default_path()
    };
    let dir = crate::core::config::data_dir();
    let said = write_incident_to(
        app,
        cluster,
        dir.as_deref(),
        audit_path.as_deref(),
        Utc::now(),
    );
    app.say(said);
}

fn write_incident_to(
    app: &App,
    cluster: usize,
    dir: Option<&std::path::Path>,
    audit_path: Option<&std::path::Path>,
    now: chrono::DateTime<Utc>,
) -> String {
    let since = now - chrono::Duration::minutes(30);
    let record = crate::faces::incident::record(
        &app.snapshot,
        cluster,
        &app.logs,
        app.verdicts_shown(cluster),
        audit_path,
        &app.thresholds,
        since,
        now,
    );
    let result = match (record, dir) {
        (None, _) => Err("no such cluster".to_string()),
        (_, None) => Err("no data directory (set VIPDECK_DATA_DIR)".to_string()),
        (Some(r), Some(dir)) => {
            let name = format!(
                "incident-{}-{}.md",
                crate::core::sanitize::file_name_part(&r.cluster),
                now.format("%Y%m%dT%H%M%SZ")
            );
            let path = dir.join(name);
            std::fs::create_dir_all(dir)
                .and_then(|_| {
                    crate::faces::incident::write_private(
                        &path,
                        &crate::core::incident::markdown(&r),
                    )
                })
                .map(|_| path)
                .map_err(|e| format!("{}: {e}", dir.display()))
        }
    };
    match result {
        Ok(p) => format!("incident record written to {}", p.display()),
        Err(e) => format!("incident record not written: {e}"),
    }
}

/// The last line of defence for the TUI: whatever a view drew, no cell
/// sends a control, an escape sequence or a bidi control to the terminal
/// (peer and cloud text is shown with visible placeholders instead).
pub(crate) fn sanitize_buffer(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        if !crate::core::sanitize::is_safe(cell.symbol()) {
            let clean = crate::core::sanitize::clean(cell.symbol());
            cell.set_symbol(&clean);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{ClusterSpec, LogLine, LogSource, Mode, PeerSpec, Snapshot, Update};

    fn spec(name: &str) -> ClusterSpec {
        let peer = |n: &str| PeerSpec {
            name: n.into(),
            address: "sim".into(),
            network_interface_id: None,
            instance_id: None,
        };
        ClusterSpec {
            name: name.into(),
            mode: Mode::Havip,
            vip: "192.0.2.12".into(),
            havip_id: None,
            peers: [peer("a"), peer("b")],
        }
    }

    fn app(specs: Vec<ClusterSpec>) -> App {
        let theme =
            crate::faces::tui::theme::Theme::try_from(&crate::faces::theme::default_theme())
                .expect("theme");
        App::new(
            Snapshot::new(specs),
            crate::core::verdict::Thresholds::default(),
            theme,
            Utc::now(),
        )
    }

    fn clock(cluster: usize, offset_ms: i64) -> Update {
        Update::Clock {
            cluster,
            peer: 1,
            at: Utc::now(),
            offset_ms,
        }
    }

    /// The wizard's executor sees its cluster as cluster 0, every update
    /// of it in order; a full queue is caught up with the whole state, and
    /// the forwarding ends with the executor.
    #[test]
    fn the_wizard_follows_its_cluster_through_the_dashboards_updates() {
        let mut app = app(vec![spec("web"), spec("pay")]);
        let (tx, mut rx) = mpsc::channel(2);
        let mut f = Forward {
            cluster: 1,
            tx,
            behind: false,
        };
        for (i, offset) in [10, 20, 30].into_iter().enumerate() {
            let u = clock(1, offset);
            assert_eq!(u.cluster(), 1);
            app.apply(u.clone(), Utc::now());
            assert!(f.send(u, &app), "update {i}");
        }
        // Two fit; the third was dropped and is owed.
        assert!(f.behind);
        for want in [10, 20] {
            match rx.try_recv() {
                Ok(Update::Clock {
                    cluster: 0,
                    offset_ms,
                    ..
                }) => assert_eq!(offset_ms, want),
                other => panic!("{other:?}"),
            }
        }
        let u = clock(1, 40);
        app.apply(u.clone(), Utc::now());
        assert!(f.send(u, &app));
        match rx.try_recv() {
            Ok(Update::Replace {
                cluster: 0,
                snapshot,
            }) => {
                assert_eq!(snapshot.spec.name, "pay");
                let offset = snapshot.peers[1].clock_offset_ms.as_ref().map(|f| f.value);
                assert_eq!(offset, Some(40), "the update it missed is in it");
            }
            other => panic!("the whole state, not {other:?}"),
        }
        assert!(!f.behind);
        drop(rx);
        assert!(!f.send(clock(1, 50), &app), "the executor has gone");
    }

    #[test]
    fn i_writes_the_selected_clusters_incident_record_privately() {
        use std::os::unix::fs::PermissionsExt;
        let peer = |n: &str| PeerSpec {
            name: n.into(),
            address: "sim".into(),
            network_interface_id: None,
            instance_id: None,
        };
        let spec = ClusterSpec {
            name: "web/../x".into(),
            mode: Mode::Havip,
            vip: "192.0.2.12".into(),
            havip_id: None,
            peers: [peer("havip-01"), peer("havip-02")],
        };
        let theme =
            crate::faces::tui::theme::Theme::try_from(&crate::faces::theme::default_theme())
                .expect("theme");
        let now = Utc::now();
        let mut app = App::new(
            Snapshot::new(vec![spec]),
            crate::core::verdict::Thresholds::default(),
            theme,
            now,
        );
        let line = LogLine {
            peer: 1,
            source: LogSource::Daemon,
            at: now - chrono::Duration::seconds(5),
            kind: crate::core::model::LogKind::Transition,
            text: "(VI_1) Entering MASTER STATE".into(),
            announced: Some(crate::core::model::VrrpState::Master),
        };
        app.logs.push(0, line.clone());
        app.snapshot.apply(Update::Log { cluster: 0, line });
        let dir = tempfile::tempdir().expect("tempdir");
        let said = write_incident_to(&app, 0, Some(dir.path()), None, now);
        let path = said
            .strip_prefix("incident record written to ")
            .unwrap_or_else(|| panic!("{said}"));
        let path = std::path::Path::new(path);
        assert_eq!(path.parent(), Some(dir.path()), "a safe file name: {said}");
        let md = std::fs::read_to_string(path).expect("the record");
        assert!(md.contains("havip-02 → MASTER"), "{md}");
        assert!(md.contains("Entering MASTER STATE"), "{md}");
        let mode = std::fs::metadata(path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let said = write_incident_to(&app, 0, None, None, now);
        assert!(said.contains("no data directory"), "{said}");
    }
}
