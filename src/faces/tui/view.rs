//! (Over 1,000 lines: one `draw` for three densities and every panel; the
//! planned split is a file per panel (banner, peers, alerts, timeline,
//! logs).)
//!
//! Drawing the dashboard from an [`App`]: no I/O, no clock, no waiting.
//!
//! ```text
//! ┌ title bar: vipdeck · source · clusters · clock ─────────────────────┐
//! │ CLUSTERS        │ ██ VERDICT banner: cluster · mode · VIP             │
//! │ ✖ pay vip_drift │ cloud: VIP → eni on peer, bound 12s ago · read 1s   │
//! │ ✔ web healthy   │ ┌ peer A ─────────┐┌ peer B ─────────┐             │
//! │                 │ │ state, witness  ││                  │             │
//! │                 │ └─────────────────┘└──────────────────┘             │
//! │                 │ ALERTS …            TIMELINE …                       │
//! ├ LOGS both peers, newest last ───────────────────────────────────────┤
//! └ footer: keys ───────────────────────────────────────────────────────┘
//! ```

use chrono::{DateTime, Utc};
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::core::model::{ClusterSnapshot, LogKind, Mode, VrrpState};
use crate::core::verdict::{fmt_age, Assessment};
use crate::faces::tui::app::{App, PromptKind, Screen, Section, HELP_KEYS, PROMPT_KEYS};
use crate::faces::tui::keys::{help_rows, hints};
use crate::faces::tui::layout::{layout, Density, ListRow, Regions};
use crate::faces::tui::logview::LOG_KEYS;
use crate::faces::tui::theme::{severity_symbol, verdict_symbol, Theme};

/// Draws whatever screen the app is on.
pub fn draw(frame: &mut Frame, app: &App) {
    app.viewport.set(frame.area());
    draw_screen(frame, app, &app.screen);
}

fn draw_screen(frame: &mut Frame, app: &App, screen: &Screen) {
    match screen {
        Screen::Dashboard => draw_dashboard(frame, app),
        Screen::Logs(v) => match app.snapshot.clusters.get(v.cluster) {
            Some(c) => crate::faces::tui::logview::draw(frame, v, &app.logs, &c.spec, &app.theme),
            None => draw_dashboard(frame, app),
        },
        Screen::Wizard(w) => {
            draw_dashboard(frame, app);
            crate::faces::tui::failover::draw(frame, w);
        }
        Screen::History(h) => {
            draw_dashboard(frame, app);
            let area = frame.area();
            let inset = Rect {
                x: area.x + 1,
                y: area.y + 1,
                width: area.width.saturating_sub(2),
                height: area.height.saturating_sub(2),
            };
            crate::faces::tui::history::draw(frame, h, &app.theme, inset);
        }
        Screen::Help(under) => {
            draw_screen(frame, app, under);
            match under.as_ref() {
                Screen::Logs(_) => draw_log_help(frame, app, frame.area()),
                _ => draw_help(frame, app, frame.area()),
            }
        }
    }
}

fn draw_dashboard(frame: &mut Frame, app: &App) {
    let selected = app
        .selected_cluster()
        .and_then(|ci| Some((ci, app.snapshot.clusters.get(ci)?, app.assessments.get(ci)?)));
    let r = layout(frame.area(), app.layout_content());
    draw_title(frame, app, r.title);
    if r.density == Density::Narrow {
        draw_cluster_strip(frame, app, r.cluster_list);
    } else {
        draw_cluster_list(frame, app, r.cluster_list);
    }
    if let Some((_, c, a)) = selected {
        draw_detail(frame, app, c, a, &r);
        draw_logs(frame, app, c, r.logs);
    } else {
        let why = if app.snapshot.clusters.is_empty() {
            "No clusters configured. Add [[clusters]] to the config file, or try `vipdeck demo`."
                .to_string()
        } else {
            format!("No cluster matches /{} · Esc clears the filter", app.filter)
        };
        let p = Paragraph::new(why)
            .style(app.theme.dim())
            .wrap(Wrap { trim: true });
        frame.render_widget(p, r.main);
    }
    draw_footer(frame, app, r.footer);
}

fn draw_title(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let mut spans = vec![
        Span::styled(" vipdeck ", t.title().add_modifier(Modifier::REVERSED)),
        Span::raw(" "),
        Span::styled(app.source_label.clone(), t.text()),
        Span::styled(plural(app.snapshot.clusters.len(), "cluster"), t.dim()),
    ];
    if app.read_only {
        spans.push(Span::styled(" · READ-ONLY", t.title()));
    }
    let clock = app
        .now
        .with_timezone(&app.utc_offset)
        .format("%H:%M:%S")
        .to_string();
    let left = fit(Line::from(spans), area.width as usize);
    let used = left.width() as u16;
    frame.render_widget(Paragraph::new(left), area);
    if area.width > used + clock.len() as u16 + 1 {
        frame.render_widget(
            Paragraph::new(Span::styled(clock, t.dim())).alignment(Alignment::Right),
            area,
        );
    }
}

/// "CLUSTERS", or what the filter lets through.
fn list_heading(app: &App) -> String {
    let (shown, all) = app.filtered_counts();
    if app.filter.is_empty() {
        "CLUSTERS".into()
    } else {
        format!("CLUSTERS /{} {shown}/{all}", app.filter)
    }
}

fn draw_cluster_list(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let width = area.width.saturating_sub(1) as usize;
    let mut lines = vec![fit(
        Line::from(Span::styled(list_heading(app), t.title())),
        width,
    )];
    // symbol, spaces and the longest verdict word take 14 columns.
    let name_w = width.saturating_sub(14).max(4);
    for row in app.list_rows(area.height) {
        let line = match row {
            ListRow::Cluster(pos) => {
                let ci = app.order[pos];
                let c = &app.snapshot.clusters[ci];
                let v = app.assessments[ci].verdict;
                let name = middle_cut(&c.spec.name, name_w);
                let text = format!("{} {:<name_w$} {}", verdict_symbol(v), name, v.as_str());
                let style = if pos == app.selected {
                    t.selection()
                } else {
                    t.verdict(v)
                };
                Line::from(Span::styled(format!("{text:<width$}"), style))
            }
            ListRow::Group(v, n) => Line::from(Span::styled(
                format!("── {} {} ({n})", verdict_symbol(v), v.as_str()),
                t.verdict(v).add_modifier(Modifier::BOLD),
            )),
            ListRow::More { n: 0, .. } => Line::from(""),
            ListRow::More { above, n } => Line::from(Span::styled(
                format!("{} +{n} more", if above { "↑" } else { "↓" }),
                t.dim(),
            )),
        };
        lines.push(fit(line, width));
    }
    let sort = match app.sort {
        crate::faces::tui::app::SortOrder::Worst => "worst first",
        crate::faces::tui::app::SortOrder::Name => "by name",
    };
    let sort_line = Line::from(Span::styled(format!("sort: {sort} (o)"), t.dim()));
    let block = Block::default()
        .borders(Borders::RIGHT)
        .border_style(t.border(false));
    frame.render_widget(Paragraph::new(lines).block(block), area);
    if area.height >= 2 {
        let last = Rect {
            y: area.y + area.height - 1,
            height: 1,
            width: area.width.saturating_sub(1),
            ..area
        };
        frame.render_widget(Paragraph::new(fit(sort_line, width)), last);
    }
}

/// The narrow screen's cluster list: one line, the selected cluster
/// and its neighbours, and how many more there are each side.
fn draw_cluster_strip(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let width = area.width as usize;
    let heading = list_heading(app);
    let mut spans = vec![Span::styled(format!("{heading} "), t.title())];
    let mut used = heading.chars().count() + 1;
    let n = app.order.len();
    // Room for "‹N " before and " +N more" after.
    let reserve = 10;
    let item = |pos: usize| {
        let ci = app.order[pos];
        let v = app.assessments[ci].verdict;
        let name = middle_cut(&app.snapshot.clusters[ci].spec.name, 20);
        (format!(" {} {name} ", verdict_symbol(v)), v)
    };
    // Start at the selected cluster, then add neighbours after and before.
    let (mut lo, mut hi) = (app.selected.min(n), app.selected.min(n));
    let mut chosen: Vec<usize> = Vec::new();
    if n > 0 {
        chosen.push(app.selected);
        used += item(app.selected).0.chars().count();
        hi += 1;
        loop {
            let mut grew = false;
            if hi < n && used + item(hi).0.chars().count() + reserve <= width {
                used += item(hi).0.chars().count();
                chosen.push(hi);
                hi += 1;
                grew = true;
            }
            if lo > 0 && used + item(lo - 1).0.chars().count() + reserve <= width {
                lo -= 1;
                used += item(lo).0.chars().count();
                chosen.insert(0, lo);
                grew = true;
            }
            if !grew {
                break;
            }
        }
    }
    if lo > 0 {
        spans.push(Span::styled(format!("‹{lo} "), t.dim()));
    }
    for pos in chosen {
        let (text, v) = item(pos);
        let style = if pos == app.selected {
            t.selection()
        } else {
            t.verdict(v)
        };
        spans.push(Span::styled(text, style));
    }
    if hi < n {
        spans.push(Span::styled(format!(" +{} more", n - hi), t.dim()));
    }
    frame.render_widget(Paragraph::new(fit(Line::from(spans), width)), area);
}

/// Draws the selected cluster into the regions [`layout`] gave it.
fn draw_detail(frame: &mut Frame, app: &App, c: &ClusterSnapshot, a: &Assessment, r: &Regions) {
    draw_banner(frame, app, c, a, r.banner);
    let cloud = flow(
        cloud_chunks(app, c, a),
        r.cloud.width as usize,
        r.cloud.height as usize,
    );
    frame.render_widget(Paragraph::new(cloud), r.cloud);
    for (i, area) in r.peers.iter().enumerate() {
        match r.density {
            Density::Wide => draw_peer(frame, app, c, a, i, *area),
            Density::Medium => draw_peer_stacked(frame, app, c, a, i, *area),
            Density::Narrow => draw_peer_line(frame, app, c, a, i, *area),
        }
    }
    draw_alerts(frame, app, a, r.alerts);
    draw_timeline(frame, app, c, r.timeline);
}

/// The banner: the verdict, the cluster, and who is MASTER, in pieces
/// that wrap onto the banner's rows rather than being cut.
fn draw_banner(frame: &mut Frame, app: &App, c: &ClusterSnapshot, a: &Assessment, area: Rect) {
    let t = &app.theme;
    let v = a.verdict;
    let width = area.width as usize;
    let who = match a.master {
        Some(m) if a.master_inferred => {
            format!("MASTER {} (inferred)", c.spec.peers[m].name)
        }
        Some(m) => format!("MASTER {}", c.spec.peers[m].name),
        None => "no single MASTER".to_string(),
    };
    let text = format!(
        " {} {} ",
        verdict_symbol(v),
        v.as_str().to_ascii_uppercase().replace('_', " ")
    );
    let chunks = vec![
        vec![
            Span::styled(text, t.banner(v)),
            Span::styled(
                format!(" {} ", middle_cut(&c.spec.name, width / 2)),
                t.title(),
            ),
        ],
        vec![Span::styled(
            format!("· {} ", middle_cut(&who, width.saturating_sub(2))),
            t.text().add_modifier(Modifier::BOLD),
        )],
        vec![Span::styled(format!("· {} ", c.spec.mode), t.text())],
        vec![Span::styled(format!("· VIP {}", c.spec.vip), t.text())],
    ];
    frame.render_widget(
        Paragraph::new(flow(chunks, width, area.height as usize)),
        area,
    );
}

/// "cloud VIP 192.0.2.12 → eni-… on havip-01, bound 12s ago · read 1s ago",
/// in pieces, the binding first, for [`flow`].
fn cloud_chunks<'a>(app: &App, c: &'a ClusterSnapshot, a: &Assessment) -> Vec<Vec<Span<'a>>> {
    let t = &app.theme;
    let now = app.now;
    let mut chunks = Vec::new();
    match &c.cloud.binding {
        None => {
            let why = match &c.cloud.error {
                Some((e, at)) => format!("no answer yet: {e} ({} ago)", fmt_age(now, *at)),
                None => "not read yet".into(),
            };
            chunks.push(vec![
                Span::styled("cloud ", t.dim()),
                Span::styled(why, t.severity(crate::core::model::Severity::Warning)),
            ]);
        }
        Some(f) => {
            let b = &f.value;
            let stale = f.is_stale(now, app.thresholds.cloud_stale_after);
            let target = match (&b.network_interface_id, a.vip_bound_to) {
                (Some(eni), Some(p)) => format!("{eni} on {}", c.spec.peers[p].name),
                (Some(eni), None) => format!("{eni} (not a peer of this cluster)"),
                (None, _) => "nothing (unbound)".into(),
            };
            let target_style = match a.master {
                Some(m) if a.vip_bound_to == Some(m) => {
                    t.verdict(crate::core::model::Verdict::Healthy)
                }
                _ => t.verdict(crate::core::model::Verdict::VipDrift),
            };
            chunks.push(vec![
                Span::styled("cloud ", t.dim()),
                Span::styled(format!("VIP {} → ", c.spec.vip), t.text()),
                Span::styled(target, target_style),
            ]);
            if let Some(ft) = b.flushed_time {
                chunks.push(vec![Span::styled(
                    format!(", bound {} ago", fmt_age(now, ft)),
                    t.text(),
                )]);
            }
            let age = format!(" · read {} ago", fmt_age(now, f.at));
            chunks.push(vec![Span::styled(
                age,
                if stale { t.stale() } else { t.dim() },
            )]);
            if let Some((e, _)) = &c.cloud.error {
                chunks.push(vec![Span::styled(
                    format!(" · last call failed: {e}"),
                    t.severity(crate::core::model::Severity::Warning),
                )]);
            }
        }
    }
    if c.spec.mode == Mode::Havip {
        if let Some(id) = &c.spec.havip_id {
            chunks.push(vec![Span::styled(format!(" · {id}"), t.dim())]);
        }
    }
    if let Some(src) = &c.cloud.credential_source {
        chunks.push(vec![Span::styled(
            format!(" · credentials: {src}"),
            t.dim(),
        )]);
    }
    chunks
}

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
        Some(r) if view.stale => (format!("{} STALE", fmt_age(now, r.at)), t.stale()),
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
fn draw_peer(
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
fn draw_peer_stacked(
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
fn draw_peer_line(
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

/// The alerts, wrapped; when they do not all fit, the last row says how
/// many more there are.
fn draw_alerts(frame: &mut Frame, app: &App, a: &Assessment, area: Rect) {
    let t = &app.theme;
    let width = area.width as usize;
    let body_room = (area.height as usize).saturating_sub(1);
    let mut lines = vec![Line::from(Span::styled(
        format!("ALERTS ({})", a.alerts.len()),
        t.title(),
    ))];
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
                    format!("+{hidden} more (`vipdeck status` lists every alert)"),
                    t.severity(worst).add_modifier(Modifier::BOLD),
                )),
                width,
            ));
        }
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// The transitions, newest last like the logs: the latest that fit.
fn draw_timeline(frame: &mut Frame, app: &App, c: &ClusterSnapshot, area: Rect) {
    let t = &app.theme;
    let width = area.width as usize;
    let mut lines = vec![Line::from(Span::styled(
        "TIMELINE · newest last",
        t.title(),
    ))];
    let room = area.height.saturating_sub(1) as usize;
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
    frame.render_widget(Paragraph::new(lines), area);
}

fn draw_logs(frame: &mut Frame, app: &App, c: &ClusterSnapshot, area: Rect) {
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

/// The footer: a flash message or the open prompt, then the live key
/// tables' hints, as many as fit, `? help` first (it lists the rest).
fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let width = area.width as usize;
    if let Some(p) = &app.prompt {
        frame.render_widget(Paragraph::new(fit(prompt_line(app, p), width)), area);
        return;
    }
    let mut spans = Vec::new();
    if let Some((msg, _)) = &app.flash {
        spans.push(Span::styled(format!(" {msg} "), t.selection()));
        spans.push(Span::raw(" "));
    }
    let mut chunks: Vec<Vec<Span>> = Vec::new();
    let ctx = app.key_context();
    for (section, table) in ctx.tables() {
        if section == Section::Demo {
            if app.flash.is_none() {
                let faults: Vec<&str> = table.iter().map(|b| b.label).collect();
                chunks.push(vec![
                    Span::styled(faults.join(" "), t.key()),
                    Span::styled(" demo faults  ", t.dim()),
                ]);
            }
            continue;
        }
        for h in hints(table) {
            chunks.push(vec![
                Span::styled(h.keys, t.key()),
                Span::styled(format!(" {}  ", h.word), t.dim()),
            ]);
        }
    }
    if !app.filter.is_empty() {
        chunks.insert(
            1,
            vec![
                Span::styled("Esc", t.key()),
                Span::styled(" clear filter  ", t.dim()),
            ],
        );
    }
    let mut used: usize = spans.iter().map(|s| s.width()).sum();
    for c in chunks {
        let w: usize = c.iter().map(|s| s.width()).sum();
        // The last two spaces of a hint may fall off the edge.
        if used + w.saturating_sub(2) > width {
            continue;
        }
        used += w;
        spans.extend(c);
    }
    frame.render_widget(Paragraph::new(fit(Line::from(spans), width)), area);
}

/// The `/` or `:` prompt as typed, with what it matches.
fn prompt_line<'a>(app: &App, p: &crate::faces::tui::app::Prompt) -> Line<'a> {
    let t = &app.theme;
    let mut spans = Vec::new();
    match p.kind {
        PromptKind::Filter => {
            let (shown, all) = app.filtered_counts();
            spans.push(Span::styled(format!("/{}▏", p.text), t.key()));
            spans.push(Span::styled(format!("  {shown} of {all} match  "), t.dim()));
        }
        PromptKind::Jump => {
            spans.push(Span::styled(format!(":{}▏", p.text), t.key()));
            let names = app.completions(&p.text);
            let shown: Vec<&str> = names.iter().take(6).copied().collect();
            let more = if names.len() > shown.len() {
                format!(" +{} more", names.len() - shown.len())
            } else {
                String::new()
            };
            let list = if names.is_empty() {
                "  no cluster starts so  ".to_string()
            } else {
                format!("  {}{more}  ", shown.join(" "))
            };
            spans.push(Span::styled(list, t.dim()));
        }
    }
    for h in hints(PROMPT_KEYS) {
        spans.push(Span::styled(h.keys, t.key()));
        spans.push(Span::styled(format!(" {}  ", h.word), t.dim()));
    }
    Line::from(spans)
}

/// The help overlay's title: what the help screen's own keys do.
fn help_title(what: &str) -> String {
    let keys: Vec<String> = hints(HELP_KEYS)
        .iter()
        .map(|h| format!("{} {}", h.keys, h.word))
        .collect();
    format!(" {what} · {} ", keys.join(" · "))
}

/// One part of a help box: an optional heading and its (keys, what) rows.
type HelpSection<'s> = (Option<&'s str>, Vec<(&'s str, &'s str)>);

/// The help box's lines for `width` columns: each row's description wraps
/// under itself, so nothing is cut.
fn help_lines(t: &Theme, sections: &[HelpSection], width: usize) -> Vec<Line<'static>> {
    let key_width = sections
        .iter()
        .flat_map(|(_, rows)| rows.iter().map(|(k, _)| k.chars().count()))
        .max()
        .unwrap_or(4)
        + 2;
    let text_width = width.saturating_sub(key_width + 1).max(10);
    let mut lines = Vec::new();
    for (heading, rows) in sections {
        if let Some(h) = heading {
            lines.push(fit(
                Line::from(Span::styled(format!(" {h}"), t.title())),
                width,
            ));
        }
        for (k, what) in rows {
            let words: Vec<Vec<Span>> = what
                .split(' ')
                .map(|w| vec![Span::styled(format!("{w} "), t.text())])
                .collect();
            for (n, l) in flow(words, text_width, usize::MAX).into_iter().enumerate() {
                let key = if n == 0 { k } else { "" };
                let mut spans = vec![Span::styled(format!(" {key:<key_width$}"), t.key())];
                spans.extend(l.spans);
                lines.push(Line::from(spans));
            }
        }
    }
    lines
}

/// A centred help box of at most `max_width` columns and the screen's
/// height; taller help scrolls (`scroll` lines down), its title saying
/// which lines show.
fn help_box(frame: &mut Frame, app: &App, what: &str, sections: &[HelpSection], max_width: u16) {
    let t = &app.theme;
    let area = frame.area();
    let width = max_width.min(area.width);
    let lines = help_lines(t, sections, width.saturating_sub(2) as usize);
    let room = area.height.saturating_sub(2) as usize;
    let total = lines.len();
    let top = (app.help_scroll as usize).min(total.saturating_sub(room));
    let mut title = help_title(what);
    if total > room {
        title = format!(
            " {what} {}-{} of {total} · j/k scroll · Esc close ",
            top + 1,
            (top + room).min(total)
        );
    }
    let shown: Vec<Line> = lines.into_iter().skip(top).take(room).collect();
    let height = (shown.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(true))
        .title(fit(
            Line::from(Span::styled(title, t.title())),
            width.saturating_sub(2) as usize,
        ));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(shown).block(block).style(Style::default()),
        popup,
    );
}

/// Every key table, for `vipdeck help keys` and the man page's KEYS:
/// (where it applies, its rows of keys and what they do).
pub fn key_reference() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    use crate::faces::tui::app::{DEMO_KEYS, FAILOVER_KEYS, KEYS};
    vec![
        ("Dashboard", help_rows(KEYS)),
        (
            "Dashboard, with real clusters and without --read-only (failover)",
            help_rows(FAILOVER_KEYS),
        ),
        (
            "Dashboard, in the demo only (faults on the selected cluster)",
            help_rows(DEMO_KEYS),
        ),
        ("At the / filter and : jump prompts", help_rows(PROMPT_KEYS)),
        (
            "Log screen (l or Enter on the dashboard)",
            help_rows(LOG_KEYS),
        ),
        ("In a help box (?)", help_rows(HELP_KEYS)),
    ]
}

/// [`key_reference`] as plain text: a heading and aligned rows per table.
pub fn key_reference_text() -> String {
    let tables = key_reference();
    let width = tables
        .iter()
        .flat_map(|(_, rows)| rows.iter().map(|(k, _)| k.chars().count()))
        .max()
        .unwrap_or(4);
    let mut out = String::new();
    for (n, (heading, rows)) in tables.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        out.push_str(&format!("{heading}:\n"));
        for (k, what) in rows {
            let pad = width - k.chars().count();
            out.push_str(&format!("  {k}{}  {what}\n", " ".repeat(pad)));
        }
    }
    out
}

/// The dashboard's help: its live key tables and the prompts', from the
/// same tables that dispatch the keys.
fn draw_help(frame: &mut Frame, app: &App, _area: Rect) {
    let mut sections: Vec<HelpSection> = Vec::new();
    for (section, table) in app.key_context().tables() {
        let heading = match section {
            Section::Main => None,
            Section::Failover => Some("failover (on the selected cluster):"),
            Section::Demo => Some("demo faults (on the selected cluster):"),
        };
        sections.push((heading, help_rows(table)));
    }
    sections.push((Some("at the / and : prompts:"), help_rows(PROMPT_KEYS)));
    sections.push((Some("in this help:"), help_rows(HELP_KEYS)));
    if let Some(p) = &app.log_path {
        sections.push((Some("vipdeck's own log:"), vec![("", p.as_str())]));
    }
    help_box(frame, app, "keys", &sections, 76);
}

/// The log screen's help.
fn draw_log_help(frame: &mut Frame, app: &App, _area: Rect) {
    let sections: Vec<HelpSection> = vec![
        (None, help_rows(LOG_KEYS)),
        (Some("in this help:"), help_rows(HELP_KEYS)),
    ];
    help_box(frame, app, "log keys", &sections, 76);
}

fn plural(n: usize, what: &str) -> String {
    format!(" · {n} {what}{}", if n == 1 { "" } else { "s" })
}

/// `s` in at most `max` columns, cut in the middle with `…` so both ends
/// of a long name (`web-frontend-…-eu-02`) still show.
pub(crate) fn middle_cut(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    if max <= 1 {
        return "…".chars().take(max).collect();
    }
    let keep = max - 1;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

/// `line` in `width` columns: cut with `…` as its last column if longer.
pub(crate) fn fit(line: Line<'_>, width: usize) -> Line<'_> {
    if line.width() <= width {
        return line;
    }
    let mut out = Vec::new();
    let mut used = 0;
    let room = width.saturating_sub(1);
    for span in line.spans {
        let w = span.width();
        if used + w <= room {
            used += w;
            out.push(span);
            continue;
        }
        let mut text = String::new();
        for ch in span.content.chars() {
            let cw = Span::raw(ch.to_string()).width();
            if used + cw > room {
                break;
            }
            used += cw;
            text.push(ch);
        }
        out.push(Span::styled(text, span.style));
        if width > 0 {
            out.push(Span::styled("…", span.style));
        }
        break;
    }
    Line::from(out).style(line.style)
}

/// Marks `line` as cut: its last character becomes `…`.
fn mark_cut(line: Line<'_>) -> Line<'_> {
    let mut spans = line.spans;
    if let Some(last) = spans.last_mut() {
        let text = last.content.trim_end().to_string();
        let mut t: String = text
            .chars()
            .take(text.chars().count().saturating_sub(1))
            .collect();
        t.push('…');
        *last = Span::styled(t, last.style);
    }
    Line::from(spans)
}

/// Lays out `chunks` (each kept whole when it fits) on lines of `width`,
/// at most `max_rows` of them; a chunk wider than a line is cut in the
/// middle, and a last line that leaves chunks out ends in `…`.
pub(crate) fn flow<'a>(chunks: Vec<Vec<Span<'a>>>, width: usize, max_rows: usize) -> Vec<Line<'a>> {
    let mut lines: Vec<Vec<Span>> = vec![Vec::new()];
    let mut used = 0;
    let mut dropped = false;
    for chunk in chunks {
        let w: usize = chunk.iter().map(|s| s.width()).sum();
        // Leading separators/spaces may go at the start of a line.
        if used > 0 && used + w.min(width) > width {
            // A chunk's trailing space may hang over the edge.
            let trimmed = w - chunk
                .last()
                .map_or(0, |s| s.content.len() - s.content.trim_end().len());
            if used + trimmed <= width {
                used += w;
                if let Some(l) = lines.last_mut() {
                    l.extend(chunk);
                }
                continue;
            }
            if lines.len() >= max_rows {
                dropped = true;
                break;
            }
            lines.push(Vec::new());
            used = 0;
        }
        let chunk = if w > width {
            // Too long for any line: cut in the middle, span by span.
            let mut left = width;
            chunk
                .into_iter()
                .map(|s| {
                    let text = middle_cut(&s.content, left);
                    left = left.saturating_sub(text.chars().count());
                    Span::styled(text, s.style)
                })
                .collect()
        } else {
            chunk
        };
        used += chunk.iter().map(|s| s.width()).sum::<usize>();
        if let Some(l) = lines.last_mut() {
            l.extend(chunk);
        }
    }
    // A hanging trailing space is not part of the line.
    for l in &mut lines {
        while let Some(last) = l.last_mut() {
            let trimmed = last.content.trim_end().to_string();
            if trimmed.is_empty() {
                l.pop();
                continue;
            }
            if trimmed.len() != last.content.len() {
                *last = Span::styled(trimmed, last.style);
            }
            break;
        }
    }
    let mut out: Vec<Line> = lines.into_iter().map(Line::from).collect();
    if dropped {
        if let Some(last) = out.pop() {
            let marked = if last.width() < width {
                let mut spans = last.spans;
                spans.push(Span::raw("…"));
                Line::from(spans)
            } else {
                mark_cut(last)
            };
            out.push(fit(marked, width));
        }
    }
    out.into_iter().map(|l| fit(l, width)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(l: &Line) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn long_names_are_cut_in_the_middle_and_say_so() {
        assert_eq!(middle_cut("havip-01", 8), "havip-01");
        let cut = middle_cut("web-frontend-production-eu-02", 15);
        assert_eq!(cut.chars().count(), 15);
        assert!(cut.starts_with("web-fro") && cut.ends_with("eu-02") && cut.contains('…'));
        assert_eq!(middle_cut("abc", 1), "…");
    }

    #[test]
    fn a_cut_line_ends_in_an_ellipsis_and_fits() {
        let l = fit(
            Line::from(vec![Span::raw("state "), Span::raw("MASTER by inference")]),
            12,
        );
        assert_eq!(text(&l), "state MASTE…");
        assert_eq!(l.width(), 12);
        let whole = fit(Line::from("short"), 12);
        assert_eq!(text(&whole), "short");
    }

    #[test]
    fn flow_wraps_whole_chunks_and_marks_what_it_drops() {
        let chunks = |v: &[&'static str]| -> Vec<Vec<Span<'static>>> {
            v.iter().map(|s| vec![Span::raw(*s)]).collect()
        };
        let lines = flow(chunks(&["VIP DRIFT ", "web ", "· MASTER havip-01 "]), 20, 2);
        let shown: Vec<String> = lines.iter().map(text).collect();
        assert_eq!(shown, ["VIP DRIFT web", "· MASTER havip-01"]);
        let lines = flow(chunks(&["aaaa ", "bbbb ", "cccc "]), 10, 1);
        assert_eq!(text(&lines[0]), "aaaa bbbb…");
        assert!(lines.iter().all(|l| l.width() <= 10));
    }
}
