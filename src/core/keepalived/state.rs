//! The state file a notify script writes (`/var/keepalived/state`).

use crate::core::model::VrrpState;

/// How much of an unreadable state file is kept for display.
pub(crate) const RAW_KEEP_CHARS: usize = 64;

/// Reads a state file's bytes: a bare `MASTER`/`BACKUP`/`FAULT`/`STOP`
/// (surrounding whitespace and a trailing newline tolerated) gives that
/// state and no raw text; anything else (empty, lowercase, garbage,
/// binary) is `Unknown` with the raw text kept, lossily decoded and cut
/// to [`RAW_KEEP_CHARS`] characters.
pub fn parse_state(bytes: &[u8]) -> (VrrpState, Option<String>) {
    let text = String::from_utf8_lossy(bytes);
    match VrrpState::from_word(&text) {
        VrrpState::Unknown => (
            VrrpState::Unknown,
            Some(text.chars().take(RAW_KEEP_CHARS).collect()),
        ),
        known => (known, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_whitespace() {
        assert_eq!(parse_state(b"MASTER"), (VrrpState::Master, None));
        assert_eq!(parse_state(b"BACKUP\n"), (VrrpState::Backup, None));
        assert_eq!(parse_state(b"  FAULT \r\n"), (VrrpState::Fault, None));
        assert_eq!(parse_state(b"STOP"), (VrrpState::Stop, None));
    }

    #[test]
    fn anything_else_is_unknown_with_raw() {
        assert_eq!(parse_state(b""), (VrrpState::Unknown, Some(String::new())));
        assert_eq!(
            parse_state(b"master"),
            (VrrpState::Unknown, Some("master".into()))
        );
        let (s, raw) = parse_state(&[0xff, 0xfe, b'M']);
        assert_eq!(s, VrrpState::Unknown);
        assert_eq!(raw.as_deref(), Some("\u{fffd}\u{fffd}M"));
        let long = "x".repeat(1000);
        assert_eq!(parse_state(long.as_bytes()).1.map(|r| r.len()), Some(64));
    }
}
