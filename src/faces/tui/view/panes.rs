//! The panes under the peers: alerts, the timeline of transitions, and
//! the log lines of both peers.

use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::core::model::{ClusterSnapshot, LogKind};
use crate::core::verdict::Assessment;
use crate::faces::tui::app::App;
use crate::faces::tui::theme::severity_symbol;

use super::text::{fit, flow, mark_cut};

/// The alerts, wrapped; when they do not all fit, the last row says how
/// many more there are.
/// The title row also counts the cluster's lint findings, when it was linted.
pub(super) fn draw_alerts(
    frame: &mut Frame,
    app: &App,
    a: &Assessment,
    lint: Option<&[crate::core::lint::Finding]>,
    area: Rect,
) {
    let t = &app.theme;
    let width = area.width as usize;
    let body_room = (area.height as usize).saturating_sub(1);
    let mut title = vec![Span::styled(
        format!("ALERTS ({})", a.alerts.len()),
        t.title(),
    )];
    if let Some(findings) = lint {
        let worst = findings.iter().map(|f| f.severity).max();
        let style = worst.map_or(t.dim(), |s| {
            t.severity(crate::faces::tui::findings::shown_severity(s))
        });
        title.push(Span::styled(
            format!(" · lint: {} (f)", crate::core::lint::count_line(findings)),
            style,
        ));
    }
    let mut lines = vec![fit(Line::from(title), width)];
    if a.alerts.is_empty() {
        lines.push(Line::from(Span::styled("none", t.dim())));
    }
    let wrapped: Vec<Vec<Line>> = a
        .alerts
        .iter()
        .map(|alert| {
            let style = t.severity(alert.severity);
            let chunks: Vec<Vec<Span>> =
                std::iter::once(format!("{} ", severity_symbol(alert.severity)))
                    .chain(alert.message.split(' ').map(|w| format!("{w} ")))
                    .map(|w| vec![Span::styled(w, style)])
                    .collect();
            flow(chunks, width, usize::MAX)
        })
        .collect();
    let total: usize = wrapped.iter().map(Vec::len).sum();
    if total <= body_room {
        lines.extend(wrapped.into_iter().flatten());
    } else {
        let mut avail = body_room.saturating_sub(1);
        let mut shown = 0;
        for w in &wrapped {
            if w.len() > avail {
                break;
            }
            avail -= w.len();
            lines.extend(w.iter().cloned());
            shown += 1;
        }
        if shown == 0 {
            // Not even the first fits: as much of it as there is room for,
            // marked as cut.
            let room = if wrapped.len() == 1 { body_room } else { avail };
            let mut part: Vec<Line> = wrapped[0].iter().take(room).cloned().collect();
            if let Some(last) = part.last_mut() {
                *last = fit(mark_cut(last.clone()), width);
            }
            lines.extend(part);
            shown = 1;
        }
        let hidden = a.alerts.len() - shown;
        if hidden > 0 {
            let worst = a.alerts[shown..]
                .iter()
                .map(|a| a.severity)
                .max()
                .unwrap_or(crate::core::model::Severity::Info);
            lines.push(fit(
                Line::from(Span::styled(
                    format!("+{hidden} more · a shows every alert"),
                    t.severity(worst).add_modifier(Modifier::BOLD),
                )),
                width,
            ));
        }
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// The transitions, newest last like the logs: the latest that fit.
pub(super) fn draw_timeline(frame: &mut Frame, app: &App, c: &ClusterSnapshot, area: Rect) {
    let t = &app.theme;
    let width = area.width as usize;
    let flaps = crate::core::flaps::flap_stats(c, app.now);
    // The counts only when there is something to count: a quiet cluster
    // keeps the short title.
    let title = if flaps.last_day == 0 {
        "TIMELINE · newest last".to_string()
    } else {
        let at_least = if flaps.day_truncated { "≥" } else { "" };
        format!(
            "TIMELINE · MASTER changes: {} in 1h, {at_least}{} in 24h",
            flaps.last_hour, flaps.last_day
        )
    };
    let mut lines = vec![fit(Line::from(Span::styled(title, t.title())), width)];
    // The cause takes a row only where two transitions still fit above it.
    let cause = flaps
        .last_change
        .as_ref()
        .filter(|_| area.height >= 4)
        .map(|last| last_change_line(app, c, last));
    let room = (area.height.saturating_sub(1) as usize).saturating_sub(cause.iter().count());
    if c.timeline.is_empty() {
        lines.push(Line::from(Span::styled("no transitions seen yet", t.dim())));
    }
    let skip = c.timeline.len().saturating_sub(room);
    for tr in c.timeline.iter().skip(skip) {
        lines.push(fit(
            Line::from(vec![
                Span::styled(
                    tr.at
                        .with_timezone(&app.utc_offset)
                        .format("%H:%M:%S ")
                        .to_string(),
                    t.dim(),
                ),
                Span::styled(format!("{} ", c.spec.peers[tr.peer].name), t.peer(tr.peer)),
                // From a log line alone the state before is not known.
                match tr.from {
                    crate::core::model::VrrpState::Unknown => Span::styled("→ ", t.dim()),
                    from => Span::styled(format!("{from} → "), t.state(from)),
                },
                Span::styled(tr.to.as_str(), t.state(tr.to)),
            ]),
            width,
        ));
    }
    if let Some(cause) = cause {
        lines.push(fit(cause, width));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// "why: hk2 adverts from the master stopped arriving (advert timeout)":
/// the cause of the newest MASTER change as a log line named it, or that
/// none did — never a guess.
fn last_change_line<'a>(
    app: &'a App,
    c: &ClusterSnapshot,
    last: &crate::core::flaps::LastChange,
) -> Line<'a> {
    let t = &app.theme;
    // From a log line alone the state before is not known.
    let from = if last.from == "UNKNOWN" {
        ""
    } else {
        last.from
    };
    let what = format!(
        "{} {from}→{} {} ago: ",
        c.spec.peers[last.peer].name,
        last.to,
        crate::core::verdict::fmt_age(app.now, last.at)
    );
    let why = match &last.cause {
        Some(cause) => Span::raw(crate::core::sanitize::clean(cause)),
        None => Span::styled("no log line names the cause", t.dim()),
    };
    Line::from(vec![
        Span::styled("why ", t.title()),
        Span::styled(what, t.dim()),
        why,
    ])
}

pub(super) fn draw_logs(frame: &mut Frame, app: &App, c: &ClusterSnapshot, area: Rect) {
    let t = &app.theme;
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(t.border(false))
        .title(Span::styled(" LOGS · both peers · newest last ", t.title()));
    let room = area.height.saturating_sub(1) as usize;
    let name_w = c.spec.peers.iter().map(|p| p.name.len()).max().unwrap_or(4);
    let shown: Vec<_> = c
        .recent_logs
        .iter()
        .filter(|l| !crate::core::logs::is_dump_noise(&l.text))
        .collect();
    let width = area.width as usize;
    let lines: Vec<Line> = shown[shown.len().saturating_sub(room)..]
        .iter()
        .map(|l| {
            let style = t.log(l.kind);
            let line = Line::from(vec![
                Span::styled(
                    l.at.with_timezone(&app.utc_offset)
                        .format("%H:%M:%S ")
                        .to_string(),
                    t.dim(),
                ),
                Span::styled(
                    format!("{:<name_w$} ", c.spec.peers[l.peer].name),
                    t.peer(l.peer),
                ),
                Span::styled(
                    crate::core::logs::display_text(crate::core::logs::message_of(&l.text)),
                    if l.kind == LogKind::Transition {
                        style.add_modifier(Modifier::BOLD)
                    } else {
                        style
                    },
                ),
            ]);
            fit(line, width)
        })
        .collect();
    let body = if lines.is_empty() {
        Paragraph::new(Span::styled("no log lines yet", t.dim()))
    } else {
        Paragraph::new(lines)
    };
    frame.render_widget(body.block(block), area);
}
