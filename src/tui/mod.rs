//! The terminal face: one `select!` over terminal events, source updates
//! and a clock tick; draws only when something changed.

pub mod app;
pub mod failover;
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
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    if let Some(a) = key_action(k, app.demo) {
                        if let (Some(cmd), Some(tx)) = (app.handle(a), &sim) {
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
        }
    }
    Ok(())
}
