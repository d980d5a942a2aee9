//! keepalived's own VRRP transition lines: `(VI_1) Entering MASTER STATE`
//! (2.x), `VRRP_Instance(VI_1) Entering MASTER STATE` and its intent
//! `VRRP_Instance(VI_1) Transition to MASTER STATE` (1.x). One pattern for
//! the line parser and for the fold that keeps each instance's last
//! logged state; it depends on nothing else in the crate.

use std::sync::LazyLock;

use regex::Regex;

/// Captures: 1 the instance, 2 `Entering` or `Transition to`, 3 the state
/// word. Anchored: the message after the syslog/console prefix.
pub(crate) static ENTERING: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^(?:VRRP_Instance)?\(([^)]*)\) (Entering|Transition to) ([A-Z]+) STATE").ok()
});

/// The instance named by an `Entering … STATE` line anywhere in a whole
/// log line (prefix and all).
static ENTERING_ANYWHERE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?:^|[\s:])(?:VRRP_Instance)?\(([^)]*)\) Entering [A-Z]+ STATE").ok()
});

/// `VI_1` in `Sat Nov 21 23:55:55 2026: (VI_1) Entering MASTER STATE`.
pub fn entering_instance(line: &str) -> Option<String> {
    if !line.contains(" STATE") {
        return None;
    }
    ENTERING_ANYWHERE
        .as_ref()?
        .captures(line)
        .map(|c| c[1].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_of_each_versions_lines() {
        for (line, want) in [
            (
                "Sat Nov 21 23:55:55 2026: (VI_1) Entering MASTER STATE",
                Some("VI_1"),
            ),
            (
                "Dec  6 07:01:02 h Keepalived_vrrp[12]: VRRP_Instance(VI_2) Entering BACKUP STATE",
                Some("VI_2"),
            ),
            (
                "2026-11-21T22:44:01+0800 h Keepalived_vrrp[1]: (web) Entering FAULT STATE",
                Some("web"),
            ),
            // An intent, not a state: 1.x says Entering right after.
            (
                "Keepalived_vrrp[12]: VRRP_Instance(VI_1) Transition to MASTER STATE",
                None,
            ),
            ("[2026-11-21 22:44:01]  notify_master", None),
        ] {
            assert_eq!(entering_instance(line).as_deref(), want, "{line}");
        }
    }
}
