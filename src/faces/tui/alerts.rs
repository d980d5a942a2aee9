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
use crate::core::model::ClusterSnapshot;
use crate::core::verdict::{Assessment, FAILED_ACTION};

/// The key table of a box over the dashboard that scrolls like this one:
/// Esc, q and the key that opened it close it; `$extra` bindings (the
/// alerts box's acknowledgement) come after the close row.
macro_rules! scroll_box_keys {
    ($open:literal, $close_label:literal, $top_help:literal $(, $extra:expr)* $(,)?) => {
        &[
            $crate::faces::tui::keys::Binding {
                keys: &[
                    ($crate::faces::tui::keys::Key::Plain(crossterm::event::KeyCode::Esc), AlertsAction::Close),
                    ($crate::faces::tui::keys::Key::Plain(crossterm::event::KeyCode::Char('q')), AlertsAction::Close),
                    ($crate::faces::tui::keys::Key::Plain(crossterm::event::KeyCode::Char($open)), AlertsAction::Close),
                ],
                label: $close_label,
                help: "back to the dashboard",
                hint: $crate::faces::tui::keys::hint(0, "Esc", "back"),
            },
            $($extra,)*
            $crate::faces::tui::keys::Binding {
                keys: &[($crate::faces::tui::keys::Key::Ctrl('c'), AlertsAction::Quit)],
                label: "^C",
                help: "quit",
                hint: None,
            },
            $crate::faces::tui::keys::Binding {
                keys: &[
                    ($crate::faces::tui::keys::Key::Plain(crossterm::event::KeyCode::Char('j')), AlertsAction::Down),
                    ($crate::faces::tui::keys::Key::Plain(crossterm::event::KeyCode::Down), AlertsAction::Down),
                ],
                label: "j ↓",
                help: "scroll down",
                hint: $crate::faces::tui::keys::hint(1, "j/k", "scroll"),
            },
            $crate::faces::tui::keys::Binding {
                keys: &[
                    ($crate::faces::tui::keys::Key::Plain(crossterm::event::KeyCode::Char('k')), AlertsAction::Up),
                    ($crate::faces::tui::keys::Key::Plain(crossterm::event::KeyCode::Up), AlertsAction::Up),
                ],
                label: "k ↑",
                help: "scroll up",
                hint: None,
            },
            $crate::faces::tui::keys::Binding {
                keys: &[
                    ($crate::faces::tui::keys::Key::Plain(crossterm::event::KeyCode::PageDown), AlertsAction::PageDown),
                    ($crate::faces::tui::keys::Key::Plain(crossterm::event::KeyCode::Char(' ')), AlertsAction::PageDown),
                ],
                label: "PgDn Space",
                help: "a page down",
                hint: None,
            },
            $crate::faces::tui::keys::Binding {
                keys: &[($crate::faces::tui::keys::Key::Plain(crossterm::event::KeyCode::PageUp), AlertsAction::PageUp)],
                label: "PgUp",
                help: "a page up",
                hint: None,
            },
            $crate::faces::tui::keys::Binding {
                keys: &[
                    ($crate::faces::tui::keys::Key::Plain(crossterm::event::KeyCode::Char('g')), AlertsAction::Top),
                    ($crate::faces::tui::keys::Key::Plain(crossterm::event::KeyCode::Home), AlertsAction::Top),
                ],
                label: "g Home",
                help: $top_help,
                hint: None,
            },
            $crate::faces::tui::keys::Binding {
                keys: &[
                    ($crate::faces::tui::keys::Key::Plain(crossterm::event::KeyCode::Char('G')), AlertsAction::Bottom),
                    ($crate::faces::tui::keys::Key::Plain(crossterm::event::KeyCode::End), AlertsAction::Bottom),
                ],
                label: "G End",
                help: "the last",
                hint: None,
            },
        ]
    };
}
pub(crate) use scroll_box_keys;

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
    /// Acknowledge the marked failed action.
    Acknowledge,
}

pub const ALERTS_KEYS: &[Binding<AlertsAction>] = scroll_box_keys!(
    'a',
    "Esc q a",
    "the most urgent",
    Binding {
        keys: &[(Key::Plain(KeyCode::Char('x')), AlertsAction::Acknowledge)],
        label: "x",
        help: "acknowledge the marked failed action (▶), recorded in the audit trail",
        hint: hint(1, "x", "acknowledge"),
    },
);

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
    /// The failed action `x` acknowledges: the first one from the top of
    /// the view down, set while drawing.
    marked: std::cell::RefCell<Option<String>>,
}

impl AlertList {
    pub(crate) fn new(cluster: usize) -> AlertList {
        AlertList {
            cluster,
            top: 0,
            page: std::cell::Cell::new((1, 0)),
            marked: std::cell::RefCell::new(None),
        }
    }

    /// Records a draw of `rows` rows in a box `page` rows high; returns
    /// the page and the first row to show.
    pub(crate) fn place(&self, page: usize, rows: usize) -> (usize, usize) {
        self.page.set((page, rows));
        (page, self.top.min(rows.saturating_sub(page)))
    }

    /// The id of the failed action `x` acknowledges, if one is marked.
    pub(crate) fn marked(&self) -> Option<String> {
        self.marked.borrow().clone()
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
            AlertsAction::Close | AlertsAction::Quit | AlertsAction::Acknowledge => self.top,
        }
        .min(last);
    }
}

/// The box over the dashboard: the verdict and the alerts, each wrapped
/// at word boundaries under its severity symbol.
pub(crate) fn draw(
    frame: &mut Frame,
    list: &AlertList,
    c: &ClusterSnapshot,
    a: &Assessment,
    theme: &Theme,
    area: Rect,
) {
    let cluster = c.spec.name.as_str();
    // The failed actions in the order their alerts come (one alert each).
    let failed = crate::core::actions::failed_actions(c, &c.acknowledged);
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
        .title_bottom(if failed.is_empty() {
            " j/k scroll · Esc back "
        } else {
            " j/k scroll · x acknowledge ▶ · Esc back "
        })
        .border_style(theme.dim());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width.max(3));
    let mut rows: Vec<Line> = Vec::new();
    if a.alerts.is_empty() {
        rows.push(Line::styled("none", theme.dim()));
    }
    // Where each failed action's alert starts, to mark the first in view.
    let mut failed_rows: Vec<(usize, &str)> = Vec::new();
    let mut next_failed = failed.iter();
    for alert in &a.alerts {
        let style = theme.severity(alert.severity);
        let text = crate::core::sanitize::clean(&alert.message);
        let id = (alert.code == FAILED_ACTION)
            .then(|| next_failed.next().map(|f| f.id.as_str()))
            .flatten();
        if let Some(id) = id {
            failed_rows.push((rows.len(), id));
        }
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
    let marked = failed_rows
        .iter()
        .find(|(row, _)| *row >= top)
        .or(failed_rows.last());
    if let Some((row, _)) = marked {
        if let Some(first) = rows[*row].spans.first_mut() {
            *first = Span::styled("▶ ", theme.key());
        }
    }
    *list.marked.borrow_mut() = marked.map(|(_, id)| id.to_string());
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
