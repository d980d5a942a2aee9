//! The two peer panes: state and the witness that says it, data age,
//! keepalived, the VIP on the NIC, priority, and the last transition; in
//! three densities (boxes side by side, stacked, one line each).

use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::core::model::{ClusterSnapshot, VrrpState};
use crate::core::verdict::{fmt_age, Assessment};
use crate::faces::tui::app::App;

use super::text::{fit, flow, middle_cut};

/// What the dashboard says about one peer, row by row, whatever the density.
struct PeerParts {
    /// (label, value) in the order the wide card shows them: state,
    /// keepalived, VIP on NIC, priority, transition, data age.
    rows: Vec<(&'static str, Vec<Span<'static>>)>,
}

fn peer_parts(app: &App, c: &ClusterSnapshot, a: &Assessment, i: usize) -> PeerParts {
    let t = &app.theme;
    let now = app.now;
    let facts = &c.peers[i];
    let view = a.peers[i];
    let mut rows = Vec::new();

    // State, and which witness said it.
    let state_style = if view.stale {
        t.stale()
    } else {
        t.state(view.state)
    };
    let mut state = vec![Span::styled(view.state.as_str(), state_style)];
    if let Some(w) = view.witness {
        state.push(Span::styled(format!(" via {}", w.short()), t.dim()));
    }
    if a.master_inferred && a.master == Some(i) {
        state.push(Span::styled(
            " MASTER by inference",
            t.state(VrrpState::Master),
        ));
    }
    rows.push(("state", state));
    // An unseen peer's facts are its last known ones: dimmed, with their age.
    let old = |at: Option<DateTime<Utc>>| -> Option<Span<'static>> {
        match at {
            Some(at) if !view.visible => Some(Span::styled(
                format!(" · {} old", fmt_age(now, at)),
                t.stale(),
            )),
            _ => None,
        }
    };
    let current = |style: Style| if view.visible { style } else { t.stale() };

    let yes_no = |v: Option<bool>, yes: &str, no: &str| match v {
        Some(true) => yes.to_string(),
        Some(false) => no.to_string(),
        None => "?".to_string(),
    };
    let running = facts.keepalived_running.as_ref().map(|f| f.value);
    let ka_style = match running {
        Some(false) => t.state(VrrpState::Stop).add_modifier(Modifier::BOLD),
        _ => t.text(),
    };
    let mut ka = vec![Span::styled(
        yes_no(running, "up", "DOWN"),
        current(ka_style),
    )];
    ka.extend(old(facts.keepalived_running.as_ref().map(|f| f.at)));
    if let Some(f) = &facts.state_file {
        if running == Some(false)
            || facts
                .keepalived_state
                .as_ref()
                .is_some_and(|d| d.value != f.value)
        {
            ka.push(Span::styled(format!(" · file says {}", f.value), t.dim()));
        }
    }
    rows.push(("keepalived", ka));

    let vip = facts.vip_on_nic.as_ref().map(|f| f.value);
    let mut vip_line = vec![Span::styled(yes_no(vip, "yes", "no"), current(t.text()))];
    vip_line.extend(old(facts.vip_on_nic.as_ref().map(|f| f.at)));
    rows.push(("VIP on NIC", vip_line));

    let prio = facts
        .priority
        .as_ref()
        .map(|f| f.value.to_string())
        .unwrap_or_else(|| "?".into());
    let preempt = match facts.config.as_ref().map(|f| f.value.nopreempt) {
        Some(true) => " nopreempt",
        Some(false) => " preempt",
        None => "",
    };
    rows.push((
        "priority",
        vec![Span::styled(format!("{prio}{preempt}"), current(t.text()))],
    ));

    let tr = facts
        .last_transition
        .map(|at| format!("{} ago", fmt_age(now, at)))
        .unwrap_or_else(|| "?".into());
    rows.push(("transition", vec![Span::styled(tr, current(t.text()))]));

    let (age, style) = match &facts.reachable {
        None => ("waiting for first answer".to_string(), t.dim()),
        Some(r) if !r.value => (
            format!("UNREACHABLE · last ok {}", last_ok(facts, now)),
            t.severity(crate::core::model::Severity::Warning),
        ),
        Some(r) if view.stale || app.collector_lost.is_some() => {
            (format!("{} STALE", fmt_age(now, r.at)), t.stale())
        }
        Some(r) => (fmt_age(now, r.at), t.dim()),
    };
    rows.push(("data age", vec![Span::styled(age, style)]));
    PeerParts { rows }
}

/// The peer card's border and title: its name in full (cut in the
/// middle only when the card is narrower), then its address if it fits.
fn peer_block<'a>(app: &App, c: &ClusterSnapshot, i: usize, area: Rect) -> Block<'a> {
    let t = &app.theme;
    let spec = &c.spec.peers[i];
    let room = (area.width as usize).saturating_sub(4);
    let name = middle_cut(&spec.name, room);
    let mut title = vec![
        Span::raw(" "),
        Span::styled(name.clone(), t.peer(i).add_modifier(Modifier::BOLD)),
        Span::raw(" "),
    ];
    if spec.address != spec.name && name.chars().count() + spec.address.chars().count() + 1 < room {
        title.push(Span::styled(format!("{} ", spec.address), t.dim()));
    }
    Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(app.selected_peer == i))
        .title(Line::from(title))
}

/// Wide: a card of six labelled rows.
pub(super) fn draw_peer(
    frame: &mut Frame,
    app: &App,
    c: &ClusterSnapshot,
    a: &Assessment,
    i: usize,
    area: Rect,
) {
    let t = &app.theme;
    let inner = (area.width as usize).saturating_sub(2);
    let lines: Vec<Line> = peer_parts(app, c, a, i)
        .rows
        .into_iter()
        .map(|(label, mut value)| {
            value.insert(0, Span::styled(format!("{label:<11}"), t.dim()));
            fit(Line::from(value), inner)
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(peer_block(app, c, i, area)),
        area,
    );
}

/// Medium: a full-width card whose labelled facts flow over its rows.
pub(super) fn draw_peer_stacked(
    frame: &mut Frame,
    app: &App,
    c: &ClusterSnapshot,
    a: &Assessment,
    i: usize,
    area: Rect,
) {
    let t = &app.theme;
    let mut rows = peer_parts(app, c, a, i).rows;
    // Whether the peer answers matters more than its priority.
    let age = rows.remove(5);
    rows.insert(1, age);
    let chunks: Vec<Vec<Span>> = rows
        .into_iter()
        .enumerate()
        .map(|(n, (label, mut value))| {
            let sep = if n == 0 { "" } else { " · " };
            value.insert(0, Span::styled(format!("{sep}{label} "), t.dim()));
            value
        })
        .collect();
    let lines = flow(
        chunks,
        (area.width as usize).saturating_sub(2),
        area.height.saturating_sub(2) as usize,
    );
    frame.render_widget(
        Paragraph::new(lines).block(peer_block(app, c, i, area)),
        area,
    );
}

/// Narrow: one line: name, state, keepalived, VIP, age.
pub(super) fn draw_peer_line(
    frame: &mut Frame,
    app: &App,
    c: &ClusterSnapshot,
    a: &Assessment,
    i: usize,
    area: Rect,
) {
    let t = &app.theme;
    let width = area.width as usize;
    let name_w = c
        .spec
        .peers
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(4)
        .min(width / 3);
    let mark = if app.selected_peer == i { "▸" } else { " " };
    let name = middle_cut(&c.spec.peers[i].name, name_w);
    let mut rows = peer_parts(app, c, a, i).rows;
    let mut chunks = vec![vec![
        Span::styled(mark, t.key()),
        Span::styled(
            format!("{name:<name_w$} "),
            t.peer(i).add_modifier(Modifier::BOLD),
        ),
    ]];
    // state, keepalived, VIP, data age (the cards' other rows are for
    // wider screens).
    let order = [0usize, 1, 2, 5];
    let short = ["", "keepalived ", "VIP ", "", "", "age "];
    for (n, &k) in order.iter().enumerate() {
        let mut value = std::mem::take(&mut rows[k].1);
        // The state's witness is for the wide cards; here the state alone.
        if k == 0 {
            value.retain(|s| !s.content.starts_with(" via "));
        }
        if k == 1 {
            value.retain(|s| !s.content.starts_with(" · file says"));
        }
        if k == 5
            && value
                .first()
                .is_some_and(|s| s.content.starts_with("waiting"))
        {
            value = vec![Span::styled("waiting", t.dim())];
        }
        let sep = if n == 0 { "" } else { "  " };
        value.insert(0, Span::styled(format!("{sep}{}", short[k]), t.dim()));
        chunks.push(value);
    }
    frame.render_widget(Paragraph::new(flow(chunks, width, 1)), area);
}

fn last_ok(facts: &crate::core::model::PeerFacts, now: DateTime<Utc>) -> String {
    // Any fact other than reachability was last set by a good answer.
    let newest = [
        facts.keepalived_running.as_ref().map(|f| f.at),
        facts.state_file.as_ref().map(|f| f.at),
        facts.vip_on_nic.as_ref().map(|f| f.at),
    ]
    .into_iter()
    .flatten()
    .max();
    match newest {
        Some(at) => format!("{} ago", fmt_age(now, at)),
        None => "never".into(),
    }
}
