//! The terminal face: one `select!` over terminal events, source updates
//! and a clock tick; draws only when something changed.

pub mod app;
pub mod logview;
pub mod theme;
pub mod view;

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::model::Update;
use crate::sim::SimCommand;
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
pub async fn run(
    mut app: App,
    mut updates: mpsc::Receiver<Update>,
    sim: Option<mpsc::Sender<SimCommand>>,
    tick: Duration,
) -> anyhow::Result<()> {
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
                        if let (Some(cmd), Some(tx)) = (app.handle(a), &sim) {
                            // The simulator is in-process; a full queue only
                            // drops a key press.
                            let _ = tx.try_send(cmd);
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
            _ = ticker.tick() => {
                app.tick(Utc::now());
                dirty = true;
            }
        }
    }
    Ok(())
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
    let result = match crate::config::data_dir() {
        Some(dir) => crate::logs::save(&dir, &cluster_name, Utc::now(), &text)
            .map(|p| (p, lines))
            .map_err(|e| format!("{}: {e}", dir.display())),
        None => Err("no data directory (set VIPDECK_DATA_DIR)".into()),
    };
    if let Some(v) = app.log_view.as_mut() {
        v.saved(result);
    }
}
