//! Drawing the log screen: title, body (wrapped or cut, search hits
//! highlighted) and footer, from the [`LogView`]'s state.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use regex::Regex;

use super::*;
/// Draws the log screen over the whole frame.
/// Draws the log screen of cluster `spec`, whose verdict now is
/// `verdict` (the title keeps it in sight while reading).
pub fn draw(
    frame: &mut Frame,
    view: &LogView,
    store: &LogStore,
    spec: &ClusterSpec,
    verdict: Option<crate::core::model::Verdict>,
    theme: &Theme,
) {
    let offset = view.offset;
    let area = frame.area();
    let rows = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .split(area);
    draw_title(frame, view, spec, verdict, theme, rows[0]);
    draw_body(frame, view, store, spec, theme, offset, rows[1]);
    draw_footer(frame, view, theme, rows[2]);
}

fn draw_title(
    frame: &mut Frame,
    v: &LogView,
    spec: &ClusterSpec,
    verdict: Option<crate::core::model::Verdict>,
    t: &Theme,
    area: Rect,
) {
    let mut spans = vec![
        Span::styled(" LOGS ", t.title().add_modifier(Modifier::REVERSED)),
        Span::styled(format!(" {} ", spec.name), t.title()),
    ];
    // The verdict, as the dashboard's banner says it, before anything a
    // narrow terminal may cut.
    if let Some(verdict) = verdict {
        let word = verdict.as_str().to_ascii_uppercase().replace('_', " ");
        spans.push(Span::styled(
            format!(
                "{} {word}",
                crate::faces::tui::theme::verdict_symbol(verdict)
            ),
            t.verdict(verdict).add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(" "));
    }
    // Follow state first: it must survive a narrow terminal.
    if v.follow {
        spans.push(Span::styled("FOLLOW", t.key()));
    } else {
        spans.push(Span::styled(
            "PAUSED",
            t.severity(crate::core::model::Severity::Warning)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
    }
    spans.push(Span::raw(" "));
    for (i, p) in spec.peers.iter().enumerate().take(2) {
        let style = if v.filter.peers[i] {
            t.peer(i).add_modifier(Modifier::BOLD)
        } else {
            t.dim().add_modifier(Modifier::CROSSED_OUT)
        };
        spans.push(Span::styled(format!("{}:{}", i + 1, p.name), style));
        spans.push(Span::raw(" "));
    }
    let source = match v.filter.sources {
        [true, true] => "script+daemon",
        [false, true] => "daemon only",
        [true, false] => "script only",
        [false, false] => "no source",
    };
    let kinds = if v.filter.important_only {
        "transitions+errors"
    } else {
        "all kinds"
    };
    spans.push(Span::styled(
        format!("· {source} · {kinds} · {} lines", v.rows.len()),
        t.dim(),
    ));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Cuts a line into screen rows of `width` columns (by character, as
/// `less` wraps: log lines are not prose).
fn wrap_line(line: Line<'static>, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width.max(1));
    let mut rows = vec![Line::default()];
    let mut used = 0;
    for span in line.spans {
        let mut chunk = String::new();
        for ch in span.content.chars() {
            let w = Span::raw(ch.to_string()).width();
            if used + w > width && used > 0 {
                if !chunk.is_empty() {
                    let done = std::mem::take(&mut chunk);
                    if let Some(r) = rows.last_mut() {
                        r.spans.push(Span::styled(done, span.style));
                    }
                }
                rows.push(Line::default());
                used = 0;
            }
            chunk.push(ch);
            used += w;
        }
        if !chunk.is_empty() {
            if let Some(r) = rows.last_mut() {
                r.spans.push(Span::styled(chunk, span.style));
            }
        }
    }
    rows
}

#[allow(clippy::too_many_arguments)]
fn draw_body(
    frame: &mut Frame,
    v: &LogView,
    store: &LogStore,
    spec: &ClusterSpec,
    t: &Theme,
    offset: chrono::FixedOffset,
    area: Rect,
) {
    v.page.set(area.height.max(1));
    if v.rows.is_empty() {
        let why = if store.is_empty(v.cluster) {
            "no log lines yet (the peers' logs are being followed)"
        } else {
            "every line is filtered out (1 2 peers · d source · T kinds)"
        };
        frame.render_widget(Paragraph::new(Span::styled(why, t.dim())), area);
        v.drawn_top.set(Some(0));
        return;
    }
    let (names, name_w) = logs::peer_names(spec);
    let render = |row: usize| -> Vec<Line<'static>> {
        let Some(e) = v.entry(store, row) else {
            return Vec::new();
        };
        let line = line_of(v, e, row, &names, name_w, t, offset);
        if v.wrap {
            wrap_line(line, area.width)
        } else {
            vec![line]
        }
    };
    let height = usize::from(area.height);
    let mut screen: Vec<Line> = Vec::with_capacity(height);
    let top = if v.follow {
        // Fill from the bottom up so the newest line is last; a long line
        // at the top may show only its end.
        let mut top = v.rows.len();
        let mut stack: Vec<Vec<Line>> = Vec::new();
        let mut used = 0;
        while top > 0 && used < height {
            top -= 1;
            let rows = render(top);
            used += rows.len();
            stack.push(rows);
        }
        for rows in stack.into_iter().rev() {
            screen.extend(rows);
        }
        let extra = screen.len().saturating_sub(height);
        screen.drain(..extra);
        top
    } else {
        let top = v.top.min(v.rows.len() - 1);
        let mut row = top;
        while row < v.rows.len() && screen.len() < height {
            screen.extend(render(row));
            row += 1;
        }
        screen.truncate(height);
        top
    };
    v.drawn_top.set(Some(top));
    frame.render_widget(Paragraph::new(screen), area);
}

fn line_of<'a>(
    v: &LogView,
    e: &Entry,
    row: usize,
    names: &[String; 2],
    name_w: usize,
    t: &Theme,
    offset: chrono::FixedOffset,
) -> Line<'a> {
    let current = v.cursor == Some(row);
    let mut spans = Vec::new();
    let gutter = if current {
        "▶"
    } else if e.is_transition() {
        "»"
    } else if logs::mark(e) == '!' {
        "!"
    } else {
        " "
    };
    spans.push(Span::styled(
        gutter,
        if current { t.key() } else { t.log(e.kind) },
    ));
    if v.timestamps {
        spans.push(Span::styled(
            e.at.with_timezone(&offset).format("%H:%M:%S ").to_string(),
            t.dim(),
        ));
    }
    spans.push(Span::styled(
        format!("{:<name_w$} ", names[e.peer.min(1)]),
        t.peer(e.peer),
    ));
    let src = match e.source {
        LogSource::Script => "s ",
        LogSource::Daemon => "d ",
    };
    spans.push(Span::styled(src, t.dim()));
    let text = logs::display_text(logs::message_of(&e.text));
    let mut style = t.log(e.kind);
    if e.is_transition() {
        style = style.add_modifier(Modifier::BOLD);
    }
    if current {
        style = style.add_modifier(Modifier::UNDERLINED);
    }
    match &v.search.regex {
        Some(re) => spans.extend(highlighted(text, re, style, t.selection())),
        None => spans.push(Span::styled(text, style)),
    }
    Line::from(spans)
}

/// `text` split into spans with the matches of `re` in `hit` style.
fn highlighted(text: String, re: &Regex, base: Style, hit: Style) -> Vec<Span<'static>> {
    let mut out = Vec::new();
    let mut last = 0;
    for m in re.find_iter(&text) {
        if m.start() == m.end() {
            continue;
        }
        if m.start() > last {
            out.push(Span::styled(text[last..m.start()].to_string(), base));
        }
        out.push(Span::styled(text[m.start()..m.end()].to_string(), hit));
        last = m.end();
    }
    if last < text.len() {
        out.push(Span::styled(text[last..].to_string(), base));
    }
    out
}

fn draw_footer(frame: &mut Frame, v: &LogView, t: &Theme, area: Rect) {
    let mut spans = Vec::new();
    if v.search.editing || v.search.regex.is_some() {
        spans.push(Span::styled(format!("/{}", v.search.input), t.key()));
        if v.search.editing {
            spans.push(Span::styled("▏", t.key()));
        }
        if let Some(e) = &v.search.error {
            spans.push(Span::styled(
                format!(" {e}"),
                t.severity(crate::core::model::Severity::Warning),
            ));
        } else if let Some((cur, total)) = v.match_position() {
            let pos = if cur == 0 {
                format!(" {total} matches")
            } else {
                format!(" {cur}/{total}")
            };
            spans.push(Span::styled(pos, t.dim()));
        }
        spans.push(Span::raw("  "));
    }
    if let Some(note) = &v.note {
        spans.push(Span::styled(format!(" {note} "), t.selection()));
        spans.push(Span::raw(" "));
    }
    if !v.search.editing {
        for h in hints(LOG_KEYS) {
            spans.push(Span::styled(h.keys, t.key()));
            spans.push(Span::styled(format!(" {}  ", h.word), t.dim()));
        }
    } else {
        let keys: Vec<String> = hints(SEARCH_KEYS)
            .iter()
            .map(|h| format!("{} {}", h.keys, h.word))
            .collect();
        spans.push(Span::styled(keys.join(" · "), t.dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
