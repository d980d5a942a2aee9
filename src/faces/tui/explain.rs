//! The "why" box (`e`): why the selected peer is in its state, over the
//! dashboard and scrollable; the same facts as `vipdeck explain`, read
//! live from the snapshot so they stay current.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::alerts::{AlertList, AlertsAction};
use super::keys::Binding;
use super::theme::Theme;
use super::view::text::wrap_words;
use crate::core::explain::{render_lines, PeerWhy};

pub const EXPLAIN_KEYS: &[Binding<AlertsAction>] =
    super::alerts::scroll_box_keys!('e', "Esc q e", "the top");

/// Which peer is explained, and the scroll (an alert list's, reused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainBox {
    pub(crate) list: AlertList,
    pub(crate) peer: usize,
}

impl ExplainBox {
    pub(crate) fn new(cluster: usize, peer: usize) -> ExplainBox {
        ExplainBox {
            list: AlertList::new(cluster),
            peer,
        }
    }
}

/// The box: the answer first, then each fact with its source, then what
/// could not be seen; every line wrapped at word boundaries.
pub(crate) fn draw(
    frame: &mut Frame,
    b: &ExplainBox,
    cluster: &str,
    why: &PeerWhy,
    theme: &Theme,
    area: Rect,
) {
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(
            " why · {} · {} {} ",
            crate::core::sanitize::clean(cluster),
            crate::core::sanitize::clean(&why.peer),
            why.state
        ))
        .title_bottom(" j/k scroll · Esc back ")
        .border_style(theme.dim());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width.max(3));
    let mut rows: Vec<Line> = Vec::new();
    // render_lines has cleaned every line already.
    for (n, line) in render_lines(why).into_iter().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let style = if n == 0 {
            theme.text().add_modifier(ratatui::style::Modifier::BOLD)
        } else if line.trim_start().starts_with("not seen:") {
            theme.dim()
        } else {
            theme.text()
        };
        for (i, row) in wrap_words(line.trim_start(), width.saturating_sub(indent + 2).max(8))
            .into_iter()
            .enumerate()
        {
            let lead = " ".repeat(indent + if i == 0 { 0 } else { 2 });
            rows.push(Line::styled(format!("{lead}{row}"), style));
        }
    }
    let page = usize::from(inner.height);
    b.list.page.set((page, rows.len()));
    let top = b.list.top.min(rows.len().saturating_sub(page));
    let shown: Vec<Line> = rows.into_iter().skip(top).take(page).collect();
    frame.render_widget(Paragraph::new(shown), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_explain_table_dispatches_what_it_shows() {
        super::super::keys::check_table("explain", EXPLAIN_KEYS, |k| {
            super::super::keys::lookup(EXPLAIN_KEYS, k)
        });
    }
}
