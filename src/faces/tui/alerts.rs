//! The alerts screen (`a`): every alert of the selected cluster, whole,
//! most urgent first (the one order `status` and `check` use too), over
//! the dashboard and scrollable. The dashboard's pane shows what fits;
//! this shows the rest at any size.

use crossterm::event::KeyCode;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::keys::{hint, Binding, Key};
use super::theme::{severity_symbol, verdict_symbol, Theme};
use super::view::text::wrap_words;
use crate::core::verdict::Assessment;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertsAction {
    Close,
    Quit,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
}

pub const ALERTS_KEYS: &[Binding<AlertsAction>] = &[
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Esc), AlertsAction::Close),
            (Key::Plain(KeyCode::Char('q')), AlertsAction::Close),
            (Key::Plain(KeyCode::Char('a')), AlertsAction::Close),
        ],
        label: "Esc q a",
        help: "back to the dashboard",
        hint: hint(0, "Esc", "back"),
    },
    Binding {
        keys: &[(Key::Ctrl('c'), AlertsAction::Quit)],
        label: "^C",
        help: "quit",
        hint: None,
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Char('j')), AlertsAction::Down),
            (Key::Plain(KeyCode::Down), AlertsAction::Down),
        ],
        label: "j ↓",
        help: "scroll down",
        hint: hint(1, "j/k", "scroll"),
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Char('k')), AlertsAction::Up),
            (Key::Plain(KeyCode::Up), AlertsAction::Up),
        ],
        label: "k ↑",
        help: "scroll up",
        hint: None,
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::PageDown), AlertsAction::PageDown),
            (Key::Plain(KeyCode::Char(' ')), AlertsAction::PageDown),
        ],
        label: "PgDn Space",
        help: "a page down",
        hint: None,
    },
    Binding {
        keys: &[(Key::Plain(KeyCode::PageUp), AlertsAction::PageUp)],
        label: "PgUp",
        help: "a page up",
        hint: None,
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Char('g')), AlertsAction::Top),
            (Key::Plain(KeyCode::Home), AlertsAction::Top),
        ],
        label: "g Home",
        help: "the most urgent",
        hint: None,
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Char('G')), AlertsAction::Bottom),
            (Key::Plain(KeyCode::End), AlertsAction::Bottom),
        ],
        label: "G End",
        help: "the last",
        hint: None,
    },
];

/// Which cluster's alerts are shown and how far they are scrolled; the
/// alerts themselves are read live from the app, so they stay current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertList {
    pub(crate) cluster: usize,
    /// The first row shown.
    pub(crate) top: usize,
    /// How many rows the box showed and had at the last draw (a page, and
    /// the bottom), set while drawing.
    pub(crate) page: std::cell::Cell<(usize, usize)>,
}

impl AlertList {
    pub(crate) fn new(cluster: usize) -> AlertList {
        AlertList {
            cluster,
            top: 0,
            page: std::cell::Cell::new((1, 0)),
        }
    }

    /// Records a draw of `rows` rows in a box `page` rows high; returns
    /// the page and the first row to show.
    pub(crate) fn place(&self, page: usize, rows: usize) -> (usize, usize) {
        self.page.set((page, rows));
        (page, self.top.min(rows.saturating_sub(page)))
    }

    /// Applies a scroll; `Close`/`Quit` are the app's.
    pub(crate) fn scroll(&mut self, a: AlertsAction) {
        let (page, rows) = self.page.get();
        let last = rows.saturating_sub(page);
        self.top = match a {
            AlertsAction::Up => self.top.saturating_sub(1),
            AlertsAction::Down => self.top + 1,
            AlertsAction::PageUp => self.top.saturating_sub(page.max(1)),
            AlertsAction::PageDown => self.top + page.max(1),
            AlertsAction::Top => 0,
            AlertsAction::Bottom => last,
            AlertsAction::Close | AlertsAction::Quit => self.top,
        }
        .min(last);
    }
}

/// The box over the dashboard: the verdict and the alerts, each wrapped
/// at word boundaries under its severity symbol.
pub(crate) fn draw(
    frame: &mut Frame,
    list: &AlertList,
    cluster: &str,
    a: &Assessment,
    theme: &Theme,
    area: Rect,
) {
    frame.render_widget(Clear, area);
    let verdict = a.verdict.as_str().to_ascii_uppercase().replace('_', " ");
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(
            " alerts · {} · {} {verdict} · {} · most urgent first ",
            crate::core::sanitize::clean(cluster),
            verdict_symbol(a.verdict),
            a.alerts.len()
        ))
        .title_bottom(" j/k scroll · Esc back ")
        .border_style(theme.dim());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width.max(3));
    let mut rows: Vec<Line> = Vec::new();
    if a.alerts.is_empty() {
        rows.push(Line::styled("none", theme.dim()));
    }
    for alert in &a.alerts {
        let style = theme.severity(alert.severity);
        let text = crate::core::sanitize::clean(&alert.message);
        for (i, row) in wrap_words(&text, width - 2).into_iter().enumerate() {
            let lead = if i == 0 {
                format!("{} ", severity_symbol(alert.severity))
            } else {
                "  ".into()
            };
            rows.push(Line::from(vec![
                Span::styled(lead, style),
                Span::styled(row, style),
            ]));
        }
    }
    let (page, top) = list.place(usize::from(inner.height), rows.len());
    let shown: Vec<Line> = rows.into_iter().skip(top).take(page).collect();
    frame.render_widget(Paragraph::new(shown), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alerts_table_dispatches_what_it_shows() {
        super::super::keys::check_table("alerts", ALERTS_KEYS, |k| {
            super::super::keys::lookup(ALERTS_KEYS, k)
        });
    }

    #[test]
    fn scrolling_stays_within_the_rows() {
        let mut l = AlertList::new(0);
        l.page.set((4, 10));
        l.scroll(AlertsAction::Bottom);
        assert_eq!(l.top, 6);
        l.scroll(AlertsAction::Down);
        assert_eq!(l.top, 6, "not past the last page");
        l.scroll(AlertsAction::PageUp);
        assert_eq!(l.top, 2);
        l.scroll(AlertsAction::Top);
        l.scroll(AlertsAction::Up);
        assert_eq!(l.top, 0);
    }
}
