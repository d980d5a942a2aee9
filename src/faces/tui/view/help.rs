//! The help overlays (the dashboard's and the log screen's), drawn from
//! the key tables themselves, and the key reference for `--help` and the
//! man page.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::faces::tui::app::{App, Section, HELP_KEYS, PROMPT_KEYS};
use crate::faces::tui::keys::{help_rows, hints};
use crate::faces::tui::logview::LOG_KEYS;
use crate::faces::tui::theme::Theme;

use super::text::{fit, flow};

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
            "Dashboard, without --read-only (failover; in the demo, on its simulated clusters)",
            help_rows(FAILOVER_KEYS),
        ),
        (
            "Dashboard, in the demo only (faults on the selected cluster)",
            help_rows(DEMO_KEYS),
        ),
        ("At the / filter and : jump prompts", help_rows(PROMPT_KEYS)),
        (
            "Alerts screen (a on the dashboard)",
            help_rows(crate::faces::tui::alerts::ALERTS_KEYS),
        ),
        (
            "Why box (e on the dashboard)",
            help_rows(crate::faces::tui::explain::EXPLAIN_KEYS),
        ),
        (
            "Lint findings (f on the dashboard)",
            help_rows(crate::faces::tui::findings::FINDINGS_KEYS),
        ),
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
pub(super) fn draw_help(frame: &mut Frame, app: &App, _area: Rect) {
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
pub(super) fn draw_log_help(frame: &mut Frame, app: &App, _area: Rect) {
    let sections: Vec<HelpSection> = vec![
        (None, help_rows(LOG_KEYS)),
        (Some("in this help:"), help_rows(HELP_KEYS)),
    ];
    help_box(frame, app, "log keys", &sections, 76);
}
