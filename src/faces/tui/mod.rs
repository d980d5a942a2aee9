//! The terminal face: one `select!` over terminal events, source updates
//! and a clock tick; draws only when something changed.

pub mod app;
pub mod failover;
pub mod logview;
pub mod theme;
pub mod view;

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::core::model::Update;
use crate::sources::monitor::Sources;
use crate::sources::simulator::SimCommand;
use app::{key_action, mouse_action, App};

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
    while !app.should_quit {
        if dirty {
            app.refresh();
            terminal
                .draw(|f| view::draw(f, &app))
                .context("drawing failed")?;
            dirty = false;
        }
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release && app.wizard.is_some() => {
                    if let Some(w) = app.wizard.as_mut() {
                        if !w.key(k) {
                            app.wizard = None;
                        }
                    }
                    dirty = true;
                }
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release && app.log_view.is_some() => {
                    let editing = app.log_view.as_ref().is_some_and(|v| v.search.editing);
                    if let Some(a) = logview::key_action(k, editing) {
                        if let Some(effect) = app.handle_log(a) {
                            save_log_view(&mut app, effect);
                        }
                        dirty = true;
                    }
                }
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    if let Some(a) = key_action(k, app.demo) {
                        if a == app::Action::Reload {
                            do_reload(&mut app, reload.as_ref(), &mut updates, &mut sim);
                            sources_open = true;
                        } else if let (Some(cmd), Some(tx)) = (app.handle(a), &sim) {
                            // The simulator is in-process; a full queue only
                            // drops a key press.
                            let _ = tx.try_send(cmd);
                        }
                        if let (Some((cluster, target, forced)), Some(config)) =
                            (app.wants_failover.take(), app.config.clone())
                        {
                            app.wizard = Some(failover::Wizard::open(
                                config, cluster, target, forced, wiz_tx.clone(),
                            ));
                        }
                        dirty = true;
                    }
                }
                Some(Ok(Event::Mouse(m))) if app.log_view.is_some() => {
                    let a = match m.kind {
                        crossterm::event::MouseEventKind::ScrollUp => Some(logview::LogAction::Up),
                        crossterm::event::MouseEventKind::ScrollDown => Some(logview::LogAction::Down),
                        _ => None,
                    };
                    if let Some(a) = a {
                        app.handle_log(a);
                        dirty = true;
                    }
                }
                Some(Ok(Event::Mouse(m))) => {
                    if let Some(a) = mouse_action(m) {
                        app.handle(a);
                        dirty = true;
                    }
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e).context("reading the terminal failed"),
                None => break,
            },
            u = updates.recv(), if sources_open => match u {
                Some(u) => {
                    let now = Utc::now();
                    app.apply(u, now);
                    // Take everything already queued before drawing once.
                    while let Ok(u) = updates.try_recv() {
                        app.apply(u, now);
                    }
                    dirty = true;
                }
                None => sources_open = false,
            },
            Some(m) = wiz_rx.recv() => {
                if let Some(w) = app.wizard.as_mut() {
                    w.apply(m);
                }
                dirty = true;
            }
            _ = ticker.tick() => {
                app.tick(Utc::now());
                dirty = true;
            }
            _ = hangup.recv() => {
                do_reload(&mut app, reload.as_ref(), &mut updates, &mut sim);
                sources_open = true;
                dirty = true;
            }
        }
    }
    Ok(())
}

/// Swaps in sources for the config as it is now. A config that does not
/// load leaves everything as it was and says why. The old sources stop by
/// themselves once their channel is dropped.
fn do_reload(
    app: &mut App,
    reload: Option<&Reload>,
    updates: &mut mpsc::Receiver<Update>,
    sim: &mut Option<mpsc::Sender<SimCommand>>,
) {
    let now = Utc::now();
    let Some(reload) = reload else {
        app.flash = Some(("nothing to reload: not watching a config file".into(), now));
        return;
    };
    if app.wizard.is_some() {
        app.flash = Some((
            "finish or leave the failover first, then reload".into(),
            now,
        ));
        return;
    }
    match reload() {
        Ok((new, config)) => {
            let n = new.specs.len();
            app.thresholds = new.thresholds;
            app.reset(new.specs, new.label);
            app.config = config;
            *updates = new.updates;
            *sim = new.sim;
            let what = if n == 1 { "cluster" } else { "clusters" };
            app.flash = Some((format!("config reloaded: {n} {what}"), now));
            tracing::info!(clusters = n, "config reloaded");
        }
        Err(e) => {
            tracing::warn!("config reload failed: {e:#}");
            app.flash = Some((
                format!("reload failed, still watching the old config: {e:#}"),
                now,
            ));
        }
    }
}

/// Carries out the log screen's save (on the key press, never in a draw):
/// the filtered view goes to a file in the data dir, and the screen says where.
fn save_log_view(app: &mut App, effect: logview::LogEffect) {
    let logview::LogEffect::Save {
        cluster_name,
        text,
        lines,
    } = effect
    else {
        return;
    };
    let result = match crate::core::config::data_dir() {
        Some(dir) => crate::faces::logs::save(&dir, &cluster_name, Utc::now(), &text)
            .map(|p| (p, lines))
            .map_err(|e| format!("{}: {e}", dir.display())),
        None => Err("no data directory (set VIPDECK_DATA_DIR)".into()),
    };
    if let Some(v) = app.log_view.as_mut() {
        v.saved(result);
    }
}
