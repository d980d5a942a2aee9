//! Fitting text to cells: cut in the middle, cut at the end with an
//! ellipsis, and flow whole chunks over rows.

use ratatui::text::{Line, Span};

pub(super) fn plural(n: usize, what: &str) -> String {
    format!(" · {n} {what}{}", if n == 1 { "" } else { "s" })
}

/// `s` in at most `max` columns, cut in the middle with `…` so both ends
/// of a long name (`web-frontend-…-eu-02`) still show.
pub(crate) fn middle_cut(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    if max <= 1 {
        return "…".chars().take(max).collect();
    }
    let keep = max - 1;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

/// `line` in `width` columns: cut with `…` as its last column if longer.
pub(crate) fn fit(line: Line<'_>, width: usize) -> Line<'_> {
    if line.width() <= width {
        return line;
    }
    let mut out = Vec::new();
    let mut used = 0;
    let room = width.saturating_sub(1);
    for span in line.spans {
        let w = span.width();
        if used + w <= room {
            used += w;
            out.push(span);
            continue;
        }
        let mut text = String::new();
        for ch in span.content.chars() {
            let cw = Span::raw(ch.to_string()).width();
            if used + cw > room {
                break;
            }
            used += cw;
            text.push(ch);
        }
        out.push(Span::styled(text, span.style));
        if width > 0 {
            out.push(Span::styled("…", span.style));
        }
        break;
    }
    Line::from(out).style(line.style)
}

/// Marks `line` as cut: its last character becomes `…`.
pub(super) fn mark_cut(line: Line<'_>) -> Line<'_> {
    let mut spans = line.spans;
    if let Some(last) = spans.last_mut() {
        let text = last.content.trim_end().to_string();
        let mut t: String = text
            .chars()
            .take(text.chars().count().saturating_sub(1))
            .collect();
        t.push('…');
        *last = Span::styled(t, last.style);
    }
    Line::from(spans)
}

/// Lays out `chunks` (each kept whole when it fits) on lines of `width`,
/// at most `max_rows` of them; a chunk wider than a line is cut in the
/// middle, and a last line that leaves chunks out ends in `…`.
pub(crate) fn flow<'a>(chunks: Vec<Vec<Span<'a>>>, width: usize, max_rows: usize) -> Vec<Line<'a>> {
    let mut lines: Vec<Vec<Span>> = vec![Vec::new()];
    let mut used = 0;
    let mut dropped = false;
    for chunk in chunks {
        let w: usize = chunk.iter().map(|s| s.width()).sum();
        // Leading separators/spaces may go at the start of a line.
        if used > 0 && used + w.min(width) > width {
            // A chunk's trailing space may hang over the edge.
            let trimmed = w - chunk
                .last()
                .map_or(0, |s| s.content.len() - s.content.trim_end().len());
            if used + trimmed <= width {
                used += w;
                if let Some(l) = lines.last_mut() {
                    l.extend(chunk);
                }
                continue;
            }
            if lines.len() >= max_rows {
                dropped = true;
                break;
            }
            lines.push(Vec::new());
            used = 0;
        }
        let chunk = if w > width {
            // Too long for any line: cut in the middle, span by span.
            let mut left = width;
            chunk
                .into_iter()
                .map(|s| {
                    let text = middle_cut(&s.content, left);
                    left = left.saturating_sub(text.chars().count());
                    Span::styled(text, s.style)
                })
                .collect()
        } else {
            chunk
        };
        used += chunk.iter().map(|s| s.width()).sum::<usize>();
        if let Some(l) = lines.last_mut() {
            l.extend(chunk);
        }
    }
    // A hanging trailing space is not part of the line.
    for l in &mut lines {
        while let Some(last) = l.last_mut() {
            let trimmed = last.content.trim_end().to_string();
            if trimmed.is_empty() {
                l.pop();
                continue;
            }
            if trimmed.len() != last.content.len() {
                *last = Span::styled(trimmed, last.style);
            }
            break;
        }
    }
    let mut out: Vec<Line> = lines.into_iter().map(Line::from).collect();
    if dropped {
        if let Some(last) = out.pop() {
            let marked = if last.width() < width {
                let mut spans = last.spans;
                spans.push(Span::raw("…"));
                Line::from(spans)
            } else {
                mark_cut(last)
            };
            out.push(fit(marked, width));
        }
    }
    out.into_iter().map(|l| fit(l, width)).collect()
}

/// `text` wrapped at word boundaries into rows of at most `width`
/// columns; a word longer than a row is split, and only then.
pub(crate) fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut rows: Vec<String> = Vec::new();
    let mut row = String::new();
    let mut used = 0;
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        let sep = usize::from(used > 0);
        if used + sep + word.len() > width && used > 0 {
            rows.push(std::mem::take(&mut row));
            used = 0;
        } else if used > 0 {
            row.push(' ');
            used += 1;
        }
        while word.len() > width {
            let rest = word.split_off(width);
            rows.push(word.iter().collect());
            word = rest;
        }
        used += word.len();
        row.extend(word);
    }
    rows.push(row);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(l: &Line) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn long_names_are_cut_in_the_middle_and_say_so() {
        assert_eq!(middle_cut("havip-01", 8), "havip-01");
        let cut = middle_cut("web-frontend-production-eu-02", 15);
        assert_eq!(cut.chars().count(), 15);
        assert!(cut.starts_with("web-fro") && cut.ends_with("eu-02") && cut.contains('…'));
        assert_eq!(middle_cut("abc", 1), "…");
    }

    #[test]
    fn a_cut_line_ends_in_an_ellipsis_and_fits() {
        let l = fit(
            Line::from(vec![Span::raw("state "), Span::raw("MASTER by inference")]),
            12,
        );
        assert_eq!(text(&l), "state MASTE…");
        assert_eq!(l.width(), 12);
        let whole = fit(Line::from("short"), 12);
        assert_eq!(text(&whole), "short");
    }

    #[test]
    fn wrap_words_breaks_between_words_and_splits_only_a_word_too_long() {
        assert_eq!(
            wrap_words("failover web havip-01 -> havip-02 ok", 12),
            ["failover web", "havip-01 ->", "havip-02 ok"]
        );
        assert_eq!(
            wrap_words("req-0123456789abcdef", 8),
            ["req-0123", "456789ab", "cdef"]
        );
        assert_eq!(wrap_words("", 5), [""]);
    }

    #[test]
    fn flow_wraps_whole_chunks_and_marks_what_it_drops() {
        let chunks = |v: &[&'static str]| -> Vec<Vec<Span<'static>>> {
            v.iter().map(|s| vec![Span::raw(*s)]).collect()
        };
        let lines = flow(chunks(&["VIP DRIFT ", "web ", "· MASTER havip-01 "]), 20, 2);
        let shown: Vec<String> = lines.iter().map(text).collect();
        assert_eq!(shown, ["VIP DRIFT web", "· MASTER havip-01"]);
        let lines = flow(chunks(&["aaaa ", "bbbb ", "cccc "]), 10, 1);
        assert_eq!(text(&lines[0]), "aaaa bbbb…");
        assert!(lines.iter().all(|l| l.width() <= 10));
    }
}
