//! The one sanitiser for text that came from a peer or the cloud, applied
//! where it is shown on a terminal (TUI, text output, errors, the audit
//! listing). Nothing a peer or the cloud says can move the cursor, clear
//! the screen, set the window title, write the clipboard (OSC 52) or
//! reorder what the operator reads (bidi overrides): every C0 and C1
//! control, DEL and every bidi control becomes a visible placeholder, so
//! the operator sees that something was there. JSON output is never
//! passed through here: serde escapes it exactly.

/// A C0 control as its Unicode "control picture" (`␛` for ESC, `␀` for
/// NUL), DEL as `␡`, a C1 control or a bidi/invisible-direction control
/// as `�`, a line/paragraph separator or an invisible (zero-width) mark
/// as `�`, a tab as a space; anything else as it is.
pub(crate) fn clean_char(ch: char) -> char {
    match ch {
        '\t' => ' ',
        c @ '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
        '\u{7f}' => '\u{2421}',
        '\u{80}'..='\u{9f}' => '\u{fffd}',
        // LRM, RLM, ALM, the embeddings/overrides and the isolates.
        '\u{200e}' | '\u{200f}' | '\u{061c}' => '\u{fffd}',
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => '\u{fffd}',
        // Line and paragraph separators end a line in some terminals and
        // viewers; zero-width spaces/joiners, the word joiner and the BOM
        // hide what is there (`VI_1` and `VI\u{200b}_1` look the same).
        '\u{2028}' | '\u{2029}' => '\u{fffd}',
        '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' => '\u{fffd}',
        c => c,
    }
}

fn is_clean(ch: char) -> bool {
    clean_char(ch) == ch
}

/// One line of untrusted text made safe to print: newlines too become
/// placeholders, so a peer cannot forge a line of vipdeck's own output.
pub fn clean(text: &str) -> String {
    text.chars().map(clean_char).collect()
}

/// Several lines of untrusted text (a command's output): like [`clean`]
/// but newlines are kept (a `\r` is dropped before one).
pub fn clean_lines(text: &str) -> String {
    if text.chars().all(|c| c == '\n' || is_clean(c)) {
        return text.to_string();
    }
    text.split('\n')
        .map(|l| clean(l.strip_suffix('\r').unwrap_or(l)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// At most `max` characters of `text` (whole characters), with `…` when
/// cut: what a peer says in an error is a hint, not a 1 MiB line.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Whether `text` would be printed as it is.
pub fn is_safe(text: &str) -> bool {
    text.chars().all(is_clean)
}

/// A name made safe to be one part of a file name: anything but ASCII
/// letters, digits, `-` and `_` becomes `_`.
pub(crate) fn file_name_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_become_visible_placeholders() {
        // OSC 52 (clipboard), CSI 2J (clear), a title, NUL, C1 CSI.
        let hostile = "a\u{1b}]52;c;cHduZWQ=\u{7}b\u{1b}[2Jc\u{0}d\u{9b}31m";
        let shown = clean(hostile);
        assert!(is_safe(&shown));
        assert_eq!(shown, "a␛]52;c;cHduZWQ=␇b␛[2Jc␀d\u{fffd}31m");
    }

    #[test]
    fn bidi_controls_are_replaced() {
        for c in ['\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}'] {
            assert_eq!(clean(&format!("x{c}y")), "x\u{fffd}y");
        }
        for c in ['\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{200f}'] {
            assert_eq!(clean(&format!("x{c}y")), "x\u{fffd}y");
        }
    }

    #[test]
    fn separators_and_invisible_marks_are_replaced() {
        for c in [
            '\u{2028}', '\u{2029}', '\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{feff}',
        ] {
            assert_eq!(clean(&format!("x{c}y")), "x\u{fffd}y", "{:?}", c);
            assert!(!is_safe(&format!("x{c}y")));
            assert_eq!(clean_lines(&format!("a\nx{c}y")), "a\nx\u{fffd}y");
        }
    }

    #[test]
    fn lines_keep_their_newlines_only() {
        assert_eq!(clean_lines("a\r\nb\u{1b}c\n"), "a\nb␛c\n");
        assert_eq!(clean("a\nb"), "a␊b");
        assert_eq!(clean_lines("plain\ntext"), "plain\ntext");
        assert_eq!(clean("中文 ok\t1"), "中文 ok 1");
        assert_eq!(clip("中文abc", 3), "中文a…");
        assert_eq!(clip("ab", 3), "ab");
    }
}
