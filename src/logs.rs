//! Log lines for display: what to hide and how to show untrusted text.

/// Lines keepalived writes each time vipdeck asks it for a state dump;
/// hidden from log views so polling does not drown the story.
pub fn is_dump_noise(text: &str) -> bool {
    text.contains("Printing VRRP data for process")
        || text.contains("Printing VRRP as json for process")
        || text.contains("Printing json data for process")
}

/// The message of a log line without the timestamp and program prefix the
/// view already shows: `[2026-11-21 22:44:01]  notify_master` → `notify_master`,
/// `Nov 21 22:44:01 host Keepalived_vrrp[12]: (VI_1) …` → `(VI_1) …`.
pub fn message_of(text: &str) -> &str {
    if let Some(rest) = text.strip_prefix('[') {
        // Script lines: `[date time]` then an optional `[pidN]`.
        if let Some(end) = rest.find(']') {
            let mut msg = &rest[end + 1..];
            if let Some(r) = msg.strip_prefix("[pid") {
                if let Some(e) = r.find(']') {
                    msg = &r[e + 1..];
                }
            }
            return msg.trim_start();
        }
    }
    // Syslog and journal lines: the message follows the first "]: " or ": "
    // after the program name.
    if let Some(pos) = text.find("]: ") {
        return &text[pos + 3..];
    }
    text
}

/// The longest line shown; the whole line is kept for export.
pub const DISPLAY_MAX: usize = 512;

/// Text from a peer made safe for a terminal: control characters (escape
/// sequences included) shown as `�`, tabs as spaces, cut at [`DISPLAY_MAX`].
pub fn display_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(DISPLAY_MAX));
    for (n, ch) in text.chars().enumerate() {
        if n == DISPLAY_MAX {
            out.push('…');
            break;
        }
        out.push(match ch {
            '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_cannot_reach_the_terminal() {
        assert_eq!(display_text("a\u{1b}[2Jb\tc"), "a\u{fffd}[2Jb c");
    }

    #[test]
    fn long_lines_are_cut_for_display() {
        let long = "x".repeat(10_000);
        let shown = display_text(&long);
        assert_eq!(shown.chars().count(), DISPLAY_MAX + 1);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn message_drops_the_prefixes() {
        assert_eq!(
            message_of("[2026-11-21 22:44:01]  notify_master"),
            "notify_master"
        );
        assert_eq!(
            message_of("[2026-11-21 22:44:02][pid1234]  try set vip."),
            "try set vip."
        );
        assert_eq!(
            message_of("Nov 21 22:44:01 web-1 Keepalived_vrrp[12]: (VI_1) Entering MASTER STATE"),
            "(VI_1) Entering MASTER STATE"
        );
        assert_eq!(message_of("plain"), "plain");
        assert_eq!(message_of("[unterminated"), "[unterminated");
    }

    #[test]
    fn dump_noise_is_recognised() {
        assert!(is_dump_noise(
            "Keepalived_vrrp[12]: Printing VRRP data for process(12) on signal"
        ));
        assert!(!is_dump_noise("(VI_1) Entering MASTER STATE"));
    }
}
