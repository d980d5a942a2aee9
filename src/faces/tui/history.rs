//! The history screen (`A`): past failovers from the audit trail — when,
//! who from where, method, outcome, duration, the state left and the
//! cloud's RequestIds — newest last like the logs, scrollable.

use crossterm::event::KeyCode;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::keys::{hint, Binding, Key};
use super::theme::Theme;
use super::view::text::wrap_words;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryAction {
    Close,
    Quit,
    Up,
    Down,
    Top,
    Bottom,
}

pub const HISTORY_KEYS: &[Binding<HistoryAction>] = &[
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Esc), HistoryAction::Close),
            (Key::Plain(KeyCode::Char('q')), HistoryAction::Close),
            (Key::Plain(KeyCode::Char('A')), HistoryAction::Close),
        ],
        label: "Esc q A",
        help: "back to the dashboard",
        hint: hint(0, "Esc", "back"),
    },
    Binding {
        keys: &[(Key::Ctrl('c'), HistoryAction::Quit)],
        label: "^C",
        help: "quit",
        hint: None,
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Char('k')), HistoryAction::Up),
            (Key::Plain(KeyCode::Up), HistoryAction::Up),
            (Key::Plain(KeyCode::PageUp), HistoryAction::Up),
        ],
        label: "k ↑ PgUp",
        help: "scroll up (older)",
        hint: hint(1, "j/k", "scroll"),
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Char('j')), HistoryAction::Down),
            (Key::Plain(KeyCode::Down), HistoryAction::Down),
            (Key::Plain(KeyCode::PageDown), HistoryAction::Down),
        ],
        label: "j ↓ PgDn",
        help: "scroll down (newer)",
        hint: None,
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Char('g')), HistoryAction::Top),
            (Key::Plain(KeyCode::Home), HistoryAction::Top),
        ],
        label: "g Home",
        help: "the oldest",
        hint: None,
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Char('G')), HistoryAction::Bottom),
            (Key::Plain(KeyCode::End), HistoryAction::Bottom),
        ],
        label: "G End",
        help: "the newest",
        hint: None,
    },
];

/// What the screen shows: the audit trail's lines, or why there are none.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// Where the records came from.
    pub(crate) source: String,
    pub(crate) lines: Vec<String>,
    /// Lines scrolled up from the newest; 0 shows the newest at the bottom.
    pub(crate) back: usize,
}

impl History {
    /// Reads `path` (the audit trail): every record, oldest first.
    pub(crate) fn load(path: Option<&std::path::Path>) -> History {
        let Some(path) = path else {
            return History {
                source: "no data directory (set VIPDECK_DATA_DIR)".into(),
                lines: Vec::new(),
                back: 0,
            };
        };
        let source = path.display().to_string();
        let lines = match crate::failover::audit::read_all(path) {
            Ok((records, bad)) => {
                let mut lines: Vec<String> = crate::failover::audit::render_list(&records)
                    .lines()
                    .map(crate::core::sanitize::clean)
                    .collect();
                if records.is_empty() {
                    lines.push("no failovers recorded".into());
                }
                if bad > 0 {
                    lines.push(format!("{bad} damaged line(s) skipped"));
                }
                lines
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                vec!["no failovers recorded".into()]
            }
            Err(e) => vec![format!("cannot read the audit trail: {e}")],
        };
        History {
            source,
            lines,
            back: 0,
        }
    }

    /// Applies a scroll; `Close`/`Quit` are the app's.
    pub(crate) fn scroll(&mut self, a: HistoryAction) {
        let most = self.lines.len().saturating_sub(1);
        self.back = match a {
            HistoryAction::Up => (self.back + 1).min(most),
            HistoryAction::Down => self.back.saturating_sub(1),
            HistoryAction::Top => most,
            HistoryAction::Bottom => 0,
            HistoryAction::Close | HistoryAction::Quit => self.back,
        };
    }
}

pub(crate) fn draw(frame: &mut Frame, h: &History, theme: &Theme, area: Rect) {
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(
            " failover history · {} · newest last · j/k scroll · Esc back ",
            h.source
        ))
        .border_style(theme.dim());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // Newest at the bottom: the lines that end `back` from the end,
    // wrapped between words into rows of the box's width (a wrapped row
    // indented under its record), as many rows as fit.
    let width = usize::from(inner.width.max(3));
    let end = h.lines.len().saturating_sub(h.back);
    let mut rows: Vec<Line> = Vec::new();
    for l in &h.lines[..end] {
        let indent = l.chars().take_while(|c| *c == ' ').count().min(width / 2) + 2;
        let mut parts = wrap_words(l, width).into_iter();
        if let Some(first) = parts.next() {
            let rest: String = parts.collect::<Vec<_>>().join(" ");
            rows.push(Line::raw(first));
            if !rest.is_empty() {
                for part in wrap_words(&rest, width - indent) {
                    let row = format!("{}{part}", " ".repeat(indent));
                    rows.push(Line::styled(row, theme.dim()));
                }
            }
        }
    }
    let skip = rows.len().saturating_sub(usize::from(inner.height));
    frame.render_widget(Paragraph::new(rows.split_off(skip)), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_table_dispatches_what_it_shows() {
        super::super::keys::check_table("history", HISTORY_KEYS, |k| {
            super::super::keys::lookup(HISTORY_KEYS, k)
        });
    }

    #[test]
    fn long_records_wrap_between_words() {
        let h = History {
            source: "audit.jsonl".into(),
            lines: vec![
                "2026-11-21 22:44:01 web havip-01 -> havip-02 graceful ok 12.3s by ops@jump1 request-ids sim-web-1796576950244 sim-web-1796576950245".into(),
            ],
            back: 0,
        };
        let theme = Theme::try_from(&crate::faces::theme::default_theme()).expect("theme");
        let mut term =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(50, 10)).expect("term");
        term.draw(|f| draw(f, &h, &theme, f.area())).expect("draw");
        let buf = term.backend().buffer().clone();
        let rows: Vec<String> = (1..9)
            .map(|y| {
                (1..49)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
                    .trim()
                    .to_string()
            })
            .filter(|r| !r.is_empty())
            .collect();
        let words: Vec<&str> = h.lines[0].split(' ').collect();
        for r in &rows {
            for w in r.split(' ') {
                assert!(words.contains(&w), "{w:?} is a word cut in two: {rows:?}");
            }
        }
        assert!(rows.len() >= 3, "{rows:?}");
    }

    #[test]
    fn a_missing_trail_says_so_and_scrolling_stays_in_bounds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut h = History::load(Some(&dir.path().join("audit.jsonl")));
        assert_eq!(h.lines, ["no failovers recorded"]);
        h.scroll(HistoryAction::Up);
        h.scroll(HistoryAction::Top);
        assert_eq!(h.back, 0);
        h.lines = (0..5).map(|i| i.to_string()).collect();
        h.scroll(HistoryAction::Top);
        assert_eq!(h.back, 4);
        h.scroll(HistoryAction::Down);
        assert_eq!(h.back, 3);
        h.scroll(HistoryAction::Bottom);
        assert_eq!(h.back, 0);
    }
}
