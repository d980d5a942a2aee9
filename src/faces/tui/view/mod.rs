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
//!
//! The files: this one lays the screen out (title, cluster list, footer,
//! prompt); `banner` draws the verdict banner and the cloud line,
//! `peers` the two peer panes, `panes` the alerts, timeline and log
//! panes, `help` the help overlays and the key reference, and `text`
//! cuts and wraps lines to fit.

mod banner;
mod help;
mod panes;
mod peers;
mod text;

pub use help::{key_reference, key_reference_text};

use ratatui::layout::{Alignment, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use crate::core::model::ClusterSnapshot;
use crate::core::verdict::{fmt_age, Assessment};
use crate::faces::tui::app::{App, PromptKind, Screen, Section, PROMPT_KEYS};
use crate::faces::tui::keys::hints;
use crate::faces::tui::layout::{layout, Density, ListRow, Regions};
use crate::faces::tui::theme::verdict_symbol;

use banner::{cloud_chunks, draw_banner};
use help::{draw_help, draw_log_help};
use panes::{draw_alerts, draw_logs, draw_timeline};
use peers::{draw_peer, draw_peer_line, draw_peer_stacked};
use text::{fit, flow, middle_cut, plural};

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
    ];
    // A lost collector is said first, before where the facts came from.
    if let Some(lost) = &app.collector_lost {
        let since = lost.since.with_timezone(&app.utc_offset).format("%H:%M:%S");
        spans.push(Span::styled(
            format!(
                "⚠ collector unreachable since {since} ({} ago) · last known",
                fmt_age(app.now, lost.since)
            ),
            t.severity(crate::core::model::Severity::Critical)
                .add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::styled(format!(" · {}", lost.reason), t.dim()));
    } else {
        spans.push(Span::styled(app.source_label.clone(), t.text()));
        spans.push(Span::styled(
            plural(app.snapshot.clusters.len(), "cluster"),
            t.dim(),
        ));
    }
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
