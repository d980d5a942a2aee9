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
pub(crate) mod text;

pub use help::{key_reference, key_reference_text};

use ratatui::layout::{Alignment, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
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
            Some(c) => crate::faces::tui::logview::draw(
                frame,
                v,
                &app.logs,
                &c.spec,
                app.assessments.get(v.cluster).map(|a| a.verdict),
                &app.theme,
            ),
            None => draw_dashboard(frame, app),
        },
        Screen::Wizard(w) => {
            draw_dashboard(frame, app);
            crate::faces::tui::failover::draw(frame, w);
        }
        Screen::Alerts(l) => {
            draw_dashboard(frame, app);
            if let (Some(c), Some(a)) = (
                app.snapshot.clusters.get(l.cluster),
                app.assessments.get(l.cluster),
            ) {
                crate::faces::tui::alerts::draw(frame, l, c, a, &app.theme, inset(frame.area()));
            }
            draw_overlay_footer(frame, app, &hints(crate::faces::tui::alerts::ALERTS_KEYS));
        }
        Screen::Explain(b) => {
            draw_dashboard(frame, app);
            if let Some(c) = app.snapshot.clusters.get(b.list.cluster) {
                let why = crate::core::explain::explain_peer(c, b.peer);
                crate::faces::tui::explain::draw(
                    frame,
                    b,
                    &c.spec.name,
                    &why,
                    &app.theme,
                    inset(frame.area()),
                );
            }
            draw_overlay_footer(frame, app, &hints(crate::faces::tui::explain::EXPLAIN_KEYS));
        }
        Screen::Findings(l) => {
            draw_dashboard(frame, app);
            if let Some(c) = app.snapshot.clusters.get(l.cluster) {
                crate::faces::tui::findings::draw(
                    frame,
                    l,
                    &c.spec.name,
                    app.lint.get(&c.spec.name).map(Vec::as_slice),
                    &app.lint_pending,
                    &app.theme,
                    inset(frame.area()),
                );
            }
            draw_overlay_footer(
                frame,
                app,
                &hints(crate::faces::tui::findings::FINDINGS_KEYS),
            );
        }
        Screen::History(h) => {
            draw_dashboard(frame, app);
            crate::faces::tui::history::draw(frame, h, &app.theme, inset(frame.area()));
            draw_overlay_footer(frame, app, &hints(crate::faces::tui::history::HISTORY_KEYS));
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

/// The footer under a box over the dashboard: the box's own keys, not
/// the dashboard's (which do nothing while it is open).
fn draw_overlay_footer(frame: &mut Frame, app: &App, keys: &[crate::faces::tui::keys::Hint]) {
    let t = &app.theme;
    let area = frame.area();
    let Some(y) = area.bottom().checked_sub(1) else {
        return;
    };
    let row = Rect {
        y,
        height: 1,
        ..area
    };
    let mut spans = Vec::new();
    for h in keys {
        spans.push(Span::styled(h.keys, t.key()));
        spans.push(Span::styled(format!(" {}  ", h.word), t.dim()));
    }
    // What a key in the box just did (an acknowledgement) is said here too.
    if let Some((msg, _)) = &app.flash {
        spans.push(Span::raw(msg.clone()));
    }
    frame.render_widget(Clear, row);
    frame.render_widget(
        Paragraph::new(fit(Line::from(spans), row.width as usize)),
        row,
    );
}

/// A box over the dashboard, a cell in from each edge.
fn inset(area: Rect) -> Rect {
    Rect {
        x: area.x + 1,
        y: area.y + 1,
        width: area.width.saturating_sub(2),
        height: area.height.saturating_sub(2),
    }
}

fn draw_dashboard(frame: &mut Frame, app: &App) {
    let selected = app
        .selected_cluster()
        .and_then(|ci| Some((ci, app.snapshot.clusters.get(ci)?, app.assessments.get(ci)?)));
    let r = layout(frame.area(), &app.layout_content());
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

/// The title bar: the badge, the fleet in one glance (how many clusters,
/// how many in each state, worst first), READ-ONLY, the demo's faults in
/// force, then where the facts come from, which gives way first when
/// the terminal is narrow; the clock on the right.
fn draw_title(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let clock = app
        .now
        .with_timezone(&app.utc_offset)
        .format("%H:%M:%S")
        .to_string();
    let mut tail: Vec<Span> = fleet_summary(app);
    if app.read_only {
        tail.push(Span::styled(" · READ-ONLY", t.title()));
    }
    let faults: Vec<String> = app
        .demo_faults
        .iter()
        .filter_map(|(&ci, f)| {
            let spec = &app.snapshot.clusters.get(ci)?.spec;
            let names = f.names([&spec.peers[0].name, &spec.peers[1].name]);
            Some(format!("{}: {}", spec.name, names.join(", ")))
        })
        .collect();
    if !faults.is_empty() {
        tail.push(Span::styled(
            format!(" · faults on {}", faults.join("; ")),
            t.severity(crate::core::model::Severity::Warning),
        ));
    }
    let badge = Span::styled(" vipdeck ", t.title().add_modifier(Modifier::REVERSED));
    let width = area.width as usize;
    let tail_w: usize = tail.iter().map(|s| s.width()).sum();
    let room = width.saturating_sub(badge.width() + 1 + tail_w + clock.len() + 2);
    let mut spans = vec![badge, Span::raw(" ")];
    // A lost collector is said first, in place of where the facts came
    // from, whatever the room.
    if let Some(lost) = &app.collector_lost {
        let since = lost.since.with_timezone(&app.utc_offset).format("%H:%M:%S");
        let label = Line::from(vec![
            Span::styled(
                format!(
                    "⚠ collector unreachable since {since} ({} ago) · last known",
                    fmt_age(app.now, lost.since)
                ),
                t.severity(crate::core::model::Severity::Critical)
                    .add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!(" · {}", lost.reason), t.dim()),
        ]);
        spans.extend(fit(label, room.max(48)).spans);
    // The source label is cut at its end (its start says what kind of
    // source it is), and left out when too little of it would show.
    } else if room >= 8 {
        let label = Line::from(Span::styled(app.source_label.clone(), t.text()));
        spans.extend(fit(label, room).spans);
    } else if let Some(first) = tail.first_mut() {
        // Nothing before the count to separate it from.
        *first = Span::styled(
            first.content.trim_start_matches(" · ").to_string(),
            first.style,
        );
    }
    spans.extend(tail);
    let left = fit(Line::from(spans), width);
    let used = left.width() as u16;
    frame.render_widget(Paragraph::new(left), area);
    if area.width > used + clock.len() as u16 + 1 {
        frame.render_widget(
            Paragraph::new(Span::styled(clock, t.dim())).alignment(Alignment::Right),
            area,
        );
    }
}

/// `· 40 clusters ✖ 2 ▲ 1 ✔ 37`: every cluster (the filter aside) by the
/// symbol of its verdict, worst first.
fn fleet_summary(app: &App) -> Vec<Span<'static>> {
    use crate::core::model::Verdict;
    let t = &app.theme;
    let mut spans = vec![Span::styled(
        plural(app.snapshot.clusters.len(), "cluster"),
        t.dim(),
    )];
    // One count per symbol: the three verdicts drawn ✖ count together.
    let groups: [(Verdict, &[Verdict]); 4] = [
        (
            Verdict::SplitBrain,
            &[Verdict::SplitBrain, Verdict::NoMaster, Verdict::VipDrift],
        ),
        (Verdict::Degraded, &[Verdict::Degraded]),
        (Verdict::Unknown, &[Verdict::Unknown]),
        (Verdict::Healthy, &[Verdict::Healthy]),
    ];
    for (shown_as, members) in groups {
        let n = app
            .assessments
            .iter()
            .filter(|a| members.contains(&a.verdict))
            .count();
        if n > 0 {
            spans.push(Span::styled(
                format!(" {} {n}", verdict_symbol(shown_as)),
                t.verdict(shown_as),
            ));
        }
    }
    spans
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
    // The VIP line sits right under the cloud's lines; the cloud keeps
    // every row but one for itself.
    let vip = vip_line(app, c, a, r.cloud);
    let cloud_rows = (r.cloud.height as usize).saturating_sub(usize::from(vip.is_some()));
    let cloud = flow(cloud_chunks(app, c, a), r.cloud.width as usize, cloud_rows);
    let used = u16::try_from(cloud.len().min(cloud_rows)).unwrap_or(0);
    frame.render_widget(
        Paragraph::new(cloud),
        Rect {
            height: used,
            ..r.cloud
        },
    );
    if let Some(vip) = vip {
        let row = Rect {
            y: r.cloud.y + used,
            height: 1,
            ..r.cloud
        };
        frame.render_widget(Paragraph::new(vip), row);
    }
    for (i, area) in r.peers.iter().enumerate() {
        match r.density {
            Density::Wide => draw_peer(frame, app, c, a, i, *area),
            Density::Medium => draw_peer_stacked(frame, app, c, a, i, *area),
            Density::Narrow => draw_peer_line(frame, app, c, a, i, *area),
        }
    }
    let lint = app.lint.get(&c.spec.name).map(Vec::as_slice);
    draw_alerts(frame, app, a, lint, r.alerts);
    draw_timeline(frame, app, c, r.timeline);
}

/// The data-plane witness's line, `VIP ✔ answers 3ms from pay-a · since
/// 10:02:01 UTC`, coloured by what it says; `None` without a probe.
fn vip_line<'a>(app: &App, c: &ClusterSnapshot, a: &Assessment, area: Rect) -> Option<Line<'a>> {
    use crate::core::dataplane::{summary_line, ProbeOutcome};
    use crate::core::model::Severity;
    let dp = c.dataplane.as_ref()?;
    let moving = crate::core::dataplane_verdict::moving(&a.alerts);
    let text = summary_line(dp, app.now, moving)?;
    let t = &app.theme;
    let style = match dp.latest().map(|r| &r.outcome) {
        Some(ProbeOutcome::Answered { .. }) => t.verdict(crate::core::model::Verdict::Healthy),
        Some(ProbeOutcome::NoAnswer(_)) if !moving => t.severity(Severity::Critical),
        _ => t.severity(Severity::Warning),
    };
    Some(fit(
        Line::from(Span::styled(text, style)),
        area.width as usize,
    ))
}

/// The footer: the open prompt, or a flash message and the live key
/// tables' hints by rank, as many as fit. `? help` (it lists the rest),
/// `q quit` and the failover keys come first and stay at every size: a
/// flash message is cut to leave them room.
fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let width = area.width as usize;
    if let Some(p) = &app.prompt {
        frame.render_widget(Paragraph::new(fit(prompt_line(app, p), width)), area);
        return;
    }
    let chunk = |keys: String, word: String| -> Vec<Span> {
        vec![
            Span::styled(keys, t.key()),
            Span::styled(format!(" {word}  "), t.dim()),
        ]
    };
    // (rank, hint): ranks are the tables' own; the filter's Esc follows `?`.
    let mut ranked: Vec<(u8, Vec<Span>)> = Vec::new();
    let ctx = app.key_context();
    for (section, table) in ctx.tables() {
        if section == Section::Demo {
            let faults: Vec<&str> = table.iter().map(|b| b.label).collect();
            ranked.push((u8::MAX, chunk(faults.join(" "), "demo faults".into())));
            continue;
        }
        for h in hints(table) {
            ranked.push((h.rank, chunk(h.keys.into(), h.word.into())));
        }
    }
    if !app.filter.is_empty() {
        ranked.push((0, chunk("Esc".into(), "clear filter".into())));
    }
    ranked.sort_by_key(|(rank, _)| *rank);
    let w = |c: &[Span]| -> usize { c.iter().map(|s| s.width()).sum() };
    // Help, quit and the failover keys (ranks 0 to 3, where they are
    // live) are kept whatever the flash says.
    let kept: usize = ranked
        .iter()
        .filter(|(rank, _)| *rank <= 3)
        .map(|(_, c)| w(c))
        .sum();
    let mut spans = Vec::new();
    if let Some((msg, _)) = &app.flash {
        let room = width.saturating_sub(kept + 1).max(12);
        let flash = fit(
            Line::from(Span::styled(format!(" {msg} "), t.selection())),
            room,
        );
        spans.extend(flash.spans);
        spans.push(Span::raw(" "));
    }
    let mut used: usize = spans.iter().map(|s| s.width()).sum();
    for (_, c) in ranked {
        // The last two spaces of a hint may fall off the edge.
        if used + w(&c).saturating_sub(2) > width {
            continue;
        }
        used += w(&c);
        spans.extend(c);
    }
    frame.render_widget(Paragraph::new(fit(Line::from(spans), width)), area);
}

/// What the `:` prompt offers: up to six candidates around the
/// highlighted one (Enter takes it), a VIP match with its VIP, a typo's
/// nearest names as a question.
fn jump_candidate_spans<'a>(app: &App, p: &crate::faces::tui::app::Prompt) -> Vec<Span<'a>> {
    let t = &app.theme;
    let found = app.jump_candidates(&p.text);
    let n = found.clusters.len();
    if n == 0 {
        return vec![Span::styled(
            "  no cluster name or VIP starts so  ".to_string(),
            t.dim(),
        )];
    }
    let mut spans = vec![Span::styled(
        if found.nearest {
            "  did you mean "
        } else {
            "  "
        },
        t.dim(),
    )];
    let pick = p.pick.min(n - 1);
    let start = pick.saturating_sub(5);
    let want = p.text.trim().to_lowercase();
    for (pos, &ci) in found.clusters.iter().enumerate().skip(start).take(6) {
        let spec = &app.snapshot.clusters[ci].spec;
        let name = crate::core::sanitize::clean(&spec.name);
        let label = if found.nearest || spec.name.to_lowercase().starts_with(&want) {
            name
        } else {
            format!("{name} ({})", crate::core::sanitize::clean(&spec.vip))
        };
        let style = if pos == pick { t.selection() } else { t.dim() };
        spans.push(Span::styled(label, style));
        spans.push(Span::raw(" "));
    }
    let hidden = n - (n - start).min(6);
    if hidden > 0 {
        spans.push(Span::styled(format!("+{hidden} more"), t.dim()));
    }
    spans.push(Span::raw(" "));
    spans
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
            spans.extend(jump_candidate_spans(app, p));
        }
    }
    for h in hints(PROMPT_KEYS) {
        spans.push(Span::styled(h.keys, t.key()));
        spans.push(Span::styled(format!(" {}  ", h.word), t.dim()));
    }
    Line::from(spans)
}
