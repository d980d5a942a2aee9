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
use crate::faces::tui::app::{App, Screen, Section, DEMO_KEYS, HELP_KEYS, KEYS};
use crate::faces::tui::keys::{help_rows, hints, Binding};
use crate::faces::tui::layout::{layout, Regions};
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
    let r = layout(frame.area(), selected.map_or(0, |(_, _, a)| a.alerts.len()));
    draw_title(frame, app, r.title);
    draw_cluster_list(frame, app, r.cluster_list);
    if let Some((_, c, a)) = selected {
        draw_detail(frame, app, c, a, &r);
        draw_logs(frame, app, c, r.logs);
    } else {
        let p = Paragraph::new(
            "No clusters configured. Add [[clusters]] to the config file, or try `vipdeck demo`.",
        )
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
    let left: Line = spans.into();
    let used = left.width() as u16;
    frame.render_widget(Paragraph::new(left), area);
    if area.width > used + clock.len() as u16 + 1 {
        frame.render_widget(
            Paragraph::new(Span::styled(clock, t.dim())).alignment(Alignment::Right),
            area,
        );
    }
}

fn draw_cluster_list(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let mut lines = vec![Line::from(Span::styled("CLUSTERS", t.title()))];
    // symbol, spaces, the longest verdict word and the border take 15 columns.
    let name_w = (area.width as usize).saturating_sub(15).max(4);
    for (row, &ci) in app.order.iter().enumerate() {
        let c = &app.snapshot.clusters[ci];
        let v = app.assessments[ci].verdict;
        let name = truncate(&c.spec.name, name_w);
        let text = format!("{} {:<name_w$} {}", verdict_symbol(v), name, v.as_str());
        let style = if row == app.selected {
            t.selection()
        } else {
            t.verdict(v)
        };
        lines.push(Line::from(Span::styled(
            format!("{:<w$}", text, w = area.width.saturating_sub(1) as usize),
            style,
        )));
    }
    let sort = match app.sort {
        crate::faces::tui::app::SortOrder::Worst => "worst first",
        crate::faces::tui::app::SortOrder::Name => "by name",
    };
    lines.push(Line::from(Span::styled(
        format!("sort: {sort} (o)"),
        t.dim(),
    )));
    let block = Block::default()
        .borders(Borders::RIGHT)
        .border_style(t.border(false));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// Draws the selected cluster into the regions [`layout`] gave it.
fn draw_detail(frame: &mut Frame, app: &App, c: &ClusterSnapshot, a: &Assessment, r: &Regions) {
    draw_banner(frame, app, c, a, r.banner);
    frame.render_widget(Paragraph::new(cloud_line(app, c, a)), r.cloud);
    for (i, area) in r.peers.iter().enumerate() {
        draw_peer(frame, app, c, a, i, *area);
    }
    draw_alerts(frame, app, a, r.alerts);
    draw_timeline(frame, app, c, r.timeline);
}

fn draw_banner(frame: &mut Frame, app: &App, c: &ClusterSnapshot, a: &Assessment, area: Rect) {
    let t = &app.theme;
    let v = a.verdict;
    let who = match a.master {
        Some(m) => format!("MASTER {}", c.spec.peers[m].name),
        None => "no single MASTER".to_string(),
    };
    let text = format!(
        " {} {} ",
        verdict_symbol(v),
        v.as_str().to_ascii_uppercase().replace('_', " ")
    );
    let line = Line::from(vec![
        Span::styled(text, t.banner(v)),
        Span::styled(format!(" {} ", c.spec.name), t.title()),
        Span::styled(
            format!("{} · VIP {} · {who}", c.spec.mode, c.spec.vip),
            t.text(),
        ),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

/// "cloud: VIP 192.0.2.12 → eni-… on havip-01, bound 12s ago · read 1s ago".
fn cloud_line<'a>(app: &App, c: &'a ClusterSnapshot, a: &Assessment) -> Line<'a> {
    let t = &app.theme;
    let now = app.now;
    let mut spans = vec![Span::styled("cloud ", t.dim())];
    match &c.cloud.binding {
        None => {
            let why = match &c.cloud.error {
                Some((e, at)) => format!("no answer yet: {e} ({} ago)", fmt_age(now, *at)),
                None => "not read yet".into(),
            };
            spans.push(Span::styled(
                why,
                t.severity(crate::core::model::Severity::Warning),
            ));
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
            spans.push(Span::styled(format!("VIP {} → ", c.spec.vip), t.text()));
            spans.push(Span::styled(target, target_style));
            if let Some(ft) = b.flushed_time {
                spans.push(Span::styled(
                    format!(", bound {} ago", fmt_age(now, ft)),
                    t.text(),
                ));
            }
            let age = format!(" · read {} ago", fmt_age(now, f.at));
            spans.push(Span::styled(age, if stale { t.stale() } else { t.dim() }));
            if let Some((e, _)) = &c.cloud.error {
                spans.push(Span::styled(
                    format!(" · last call failed: {e}"),
                    t.severity(crate::core::model::Severity::Warning),
                ));
            }
        }
    }
    if c.spec.mode == Mode::Havip {
        if let Some(id) = &c.spec.havip_id {
            spans.push(Span::styled(format!(" · {id}"), t.dim()));
        }
    }
    if let Some(src) = &c.cloud.credential_source {
        spans.push(Span::styled(format!(" · credentials: {src}"), t.dim()));
    }
    Line::from(spans)
}

fn draw_peer(
    frame: &mut Frame,
    app: &App,
    c: &ClusterSnapshot,
    a: &Assessment,
    i: usize,
    area: Rect,
) {
    let t = &app.theme;
    let now = app.now;
    let spec = &c.spec.peers[i];
    let facts = &c.peers[i];
    let view = a.peers[i];
    let focused = app.selected_peer == i;
    let title = Line::from(vec![
        Span::raw(" "),
        Span::styled(spec.name.clone(), t.peer(i).add_modifier(Modifier::BOLD)),
        Span::styled(
            if spec.address == spec.name {
                " ".to_string()
            } else {
                format!(" {} ", spec.address)
            },
            t.dim(),
        ),
    ]);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(focused))
        .title(title);
    let label = |s: &str| Span::styled(format!("{s:<11}"), t.dim());
    let mut lines = Vec::new();

    // State, and which witness said it.
    let state_style = if view.stale {
        t.stale()
    } else {
        t.state(view.state)
    };
    let mut state = vec![
        label("state"),
        Span::styled(view.state.as_str(), state_style),
    ];
    if let Some(w) = view.witness {
        state.push(Span::styled(format!(" via {}", w.short()), t.dim()));
    }
    if a.master_inferred && a.master == Some(i) {
        state.push(Span::styled(
            " MASTER by inference",
            t.state(VrrpState::Master),
        ));
    }
    lines.push(Line::from(state));
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
    let mut ka = vec![
        label("keepalived"),
        Span::styled(yes_no(running, "up", "DOWN"), current(ka_style)),
    ];
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
    lines.push(Line::from(ka));

    let vip = facts.vip_on_nic.as_ref().map(|f| f.value);
    let mut vip_line = vec![
        label("VIP on NIC"),
        Span::styled(yes_no(vip, "yes", "no"), current(t.text())),
    ];
    vip_line.extend(old(facts.vip_on_nic.as_ref().map(|f| f.at)));
    lines.push(Line::from(vip_line));

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
    lines.push(Line::from(vec![
        label("priority"),
        Span::styled(format!("{prio}{preempt}"), current(t.text())),
    ]));

    let tr = facts
        .last_transition
        .map(|at| format!("{} ago", fmt_age(now, at)))
        .unwrap_or_else(|| "?".into());
    lines.push(Line::from(vec![
        label("transition"),
        Span::styled(tr, current(t.text())),
    ]));

    let (age, style) = match &facts.reachable {
        None => ("waiting for first answer".to_string(), t.dim()),
        Some(r) if !r.value => (
            format!("UNREACHABLE · last ok {}", last_ok(facts, now)),
            t.severity(crate::core::model::Severity::Warning),
        ),
        Some(r) if view.stale => (format!("{} STALE", fmt_age(now, r.at)), t.stale()),
        Some(r) => (fmt_age(now, r.at), t.dim()),
    };
    lines.push(Line::from(vec![
        label("data age"),
        Span::styled(age, style),
    ]));

    frame.render_widget(Paragraph::new(lines).block(block), area);
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

fn draw_alerts(frame: &mut Frame, app: &App, a: &Assessment, area: Rect) {
    let t = &app.theme;
    let mut lines = vec![Line::from(Span::styled(
        format!("ALERTS ({})", a.alerts.len()),
        t.title(),
    ))];
    if a.alerts.is_empty() {
        lines.push(Line::from(Span::styled("none", t.dim())));
    }
    for alert in &a.alerts {
        lines.push(Line::from(vec![
            Span::styled(
                format!("{} ", severity_symbol(alert.severity)),
                t.severity(alert.severity),
            ),
            Span::styled(alert.message.clone(), t.severity(alert.severity)),
        ]));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

fn draw_timeline(frame: &mut Frame, app: &App, c: &ClusterSnapshot, area: Rect) {
    let t = &app.theme;
    let mut lines = vec![Line::from(Span::styled("TIMELINE", t.title()))];
    let room = area.height.saturating_sub(1) as usize;
    if c.timeline.is_empty() {
        lines.push(Line::from(Span::styled("no transitions seen yet", t.dim())));
    }
    for tr in c.timeline.iter().rev().take(room) {
        lines.push(Line::from(vec![
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
        ]));
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
    let lines: Vec<Line> = shown[shown.len().saturating_sub(room)..]
        .iter()
        .map(|l| {
            let style = t.log(l.kind);
            Line::from(vec![
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
            ])
        })
        .collect();
    let body = if lines.is_empty() {
        Paragraph::new(Span::styled("no log lines yet", t.dim()))
    } else {
        Paragraph::new(lines)
    };
    frame.render_widget(body.block(block), area);
}

fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let mut spans = Vec::new();
    if let Some((msg, _)) = &app.flash {
        spans.push(Span::styled(format!(" {msg} "), t.selection()));
        spans.push(Span::raw(" "));
    }
    for h in hints(KEYS) {
        spans.push(Span::styled(h.keys, t.key()));
        spans.push(Span::styled(format!(" {}  ", h.word), t.dim()));
    }
    if app.flash.is_none() && app.key_context().demo_faults() {
        let faults: Vec<&str> = DEMO_KEYS.iter().map(|b| b.label).collect();
        spans.push(Span::styled(faults.join(" "), t.key()));
        spans.push(Span::styled(" demo faults  ", t.dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The help overlay's title: what the help screen's own keys do.
fn help_title(what: &str) -> String {
    let keys: Vec<String> = hints(HELP_KEYS)
        .iter()
        .map(|h| format!("{} {}", h.keys, h.word))
        .collect();
    format!(" {what} · {} ", keys.join(" · "))
}

/// The rows of key tables, `key_width` columns for the keys.
fn key_lines<'a, A>(t: &Theme, table: &[Binding<A>], key_width: usize) -> Vec<Line<'a>> {
    help_rows(table)
        .into_iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<key_width$}"), t.key()),
                Span::styled(what, t.text()),
            ])
        })
        .collect()
}

/// A centred box of `width` × `height` (at most the screen) with `lines`.
fn popup(frame: &mut Frame, t: &Theme, title: String, lines: Vec<Line>, width: u16, height: u16) {
    let area = frame.area();
    let height = height.min(area.height);
    let width = width.min(area.width);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(true))
        .title(Span::styled(title, t.title()));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(block).style(Style::default()),
        popup,
    );
}

/// The dashboard's help: its live key tables, from the same tables that
/// dispatch the keys.
fn draw_help(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    // Keys, then the longest demo line, with a column to spare.
    const WIDTH: u16 = 64;
    let width = WIDTH.min(area.width);
    let mut lines = Vec::new();
    let mut rows = 0;
    for (section, table) in app.key_context().tables() {
        if section == Section::Demo {
            lines.push(Line::from(Span::styled(
                " demo faults (on the selected cluster):",
                t.title(),
            )));
            rows += 1;
        }
        lines.extend(key_lines(t, table, 14));
        rows += table.len();
    }
    if let Some(p) = &app.log_path {
        lines.push(Line::from(Span::styled(
            format!(" log: {}", truncate(p, (width as usize).saturating_sub(8))),
            t.dim(),
        )));
    }
    popup(frame, t, help_title("keys"), lines, WIDTH, rows as u16 + 4);
}

/// The log screen's help.
fn draw_log_help(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let lines = key_lines(t, LOG_KEYS, 16);
    let height = LOG_KEYS.len() as u16 + 2;
    popup(
        frame,
        t,
        help_title("log keys"),
        lines,
        74.min(area.width),
        height,
    );
}

fn plural(n: usize, what: &str) -> String {
    format!(" · {n} {what}{}", if n == 1 { "" } else { "s" })
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
