//! The lint findings screen (`f`): every finding of the selected cluster's
//! last `vipdeck lint` run (the dashboard lints its config's clusters in
//! the background), worst first, over the dashboard and scrollable like
//! the alerts box, whose list state and actions it shares.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::alerts::{AlertList, AlertsAction};
use super::keys::Binding;
use super::theme::{severity_symbol, Theme};
use super::view::text::wrap_words;
use crate::core::lint::{Finding, Severity as LintSeverity};
use crate::core::model::Severity;
use crate::core::sanitize::clean;

pub const FINDINGS_KEYS: &[Binding<AlertsAction>] =
    super::alerts::scroll_box_keys!('f', "Esc q f", "the worst");

/// A lint severity in the theme's terms (an error is shown as critical).
pub(crate) fn shown_severity(s: LintSeverity) -> Severity {
    match s {
        LintSeverity::Error => Severity::Critical,
        LintSeverity::Warning => Severity::Warning,
        LintSeverity::Info => Severity::Info,
    }
}

/// The box over the dashboard: each finding's code, place, message, why
/// and fix, wrapped under its severity symbol. `findings` is None before
/// the first lint of this cluster ends.
pub(crate) fn draw(
    frame: &mut Frame,
    list: &AlertList,
    cluster: &str,
    findings: Option<&[Finding]>,
    unavailable: &str,
    theme: &Theme,
    area: Rect,
) {
    frame.render_widget(Clear, area);
    let count = findings.map_or_else(|| "not linted".to_string(), crate::core::lint::count_line);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(
            " lint · {} · {count} · worst first ",
            clean(cluster)
        ))
        .title_bottom(" j/k scroll · Esc back · vipdeck lint --cluster N ")
        .border_style(theme.dim());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width.max(6));
    let mut rows: Vec<Line> = Vec::new();
    match findings {
        None => rows.push(Line::styled(unavailable.to_string(), theme.dim())),
        Some([]) => rows.push(Line::styled("no findings", theme.dim())),
        Some(_) => {}
    }
    for f in findings.unwrap_or_default() {
        let sev = shown_severity(f.severity);
        let style = theme.severity(sev);
        let head = clean(&format!(
            "{} {} {}  {}",
            f.code,
            f.severity.word(),
            f.name,
            f.place()
        ));
        for (i, row) in wrap_words(&head, width - 2).into_iter().enumerate() {
            let lead = if i == 0 {
                format!("{} ", severity_symbol(sev))
            } else {
                "  ".into()
            };
            rows.push(Line::from(vec![
                Span::styled(lead, style),
                Span::styled(row, style),
            ]));
        }
        for (label, text) in [("", &f.message), ("why: ", &f.why), ("fix: ", &f.fix)] {
            let text = clean(&format!("{label}{text}"));
            for row in wrap_words(&text, width - 4) {
                rows.push(Line::from(format!("    {row}")));
            }
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
    fn the_findings_table_dispatches_what_it_shows() {
        super::super::keys::check_table("findings", FINDINGS_KEYS, |k| {
            super::super::keys::lookup(FINDINGS_KEYS, k)
        });
    }
}
