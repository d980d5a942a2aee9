//! Which keepalived a peer runs, and how vipdeck can ask it for its own
//! word: the JSON dump where the build has it (`--signum=JSON`), else the
//! text data dump (`--signum=DATA` on 2.x; `SIGUSR1` on 1.x, which has no
//! `--signum`), else nothing (its log lines are then the last witness).
//!
//! The choice is made from what the peer's keepalived *does* when asked
//! (`--signum=…` printing a signal number), not from what its `--version`
//! claims: a build without JSON, or a version string that lies, cannot make
//! vipdeck send a signal keepalived does not handle. The one exception is
//! SIGUSR1 on 1.x, which has no `--signum` to ask: it is sent only when the
//! version line reads as a 1.x release, whose data dump handler is known.

use serde::{Deserialize, Serialize};

/// A release number read from `keepalived --version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Release {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl std::fmt::Display for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// How keepalived is asked for its own state on this peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DumpMethod {
    /// `kill -s SIGNAL` writes the JSON dump.
    Json { signal: u8 },
    /// `kill -s SIGNAL` writes the text data dump (2.x `--signum=DATA`,
    /// or SIGUSR1 on 1.x).
    Data { signal: u8 },
    /// No dump can be asked for; why, in words.
    None { reason: String },
}

impl DumpMethod {
    /// A short name for tables: `json`, `data`, `none`.
    pub fn short(&self) -> &'static str {
        match self {
            DumpMethod::Json { .. } => "json",
            DumpMethod::Data { .. } => "data",
            DumpMethod::None { .. } => "none",
        }
    }
}

/// What vipdeck learnt about a peer's keepalived when it connected (or
/// when keepalived restarted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepalivedInfo {
    /// The release, when the version line could be read.
    pub release: Option<Release>,
    /// The first line of `keepalived --version`, clipped; untrusted text
    /// (sanitised where it is printed).
    pub version_line: String,
    pub dump: DumpMethod,
}

impl KeepalivedInfo {
    /// `2.2.7`, or the clipped line when it did not read as a release.
    pub fn version_label(&self) -> String {
        match self.release {
            Some(r) => r.to_string(),
            None if self.version_line.is_empty() => "unknown".into(),
            None => format!("unrecognised ({})", self.version_line),
        }
    }
}

/// The longest version line kept.
const MAX_VERSION_LINE: usize = 120;

/// SIGUSR1 on Linux: 1.x's data dump signal.
const SIGUSR1: u8 = 10;

/// `Keepalived v2.2.7 (01/16,2022)`, `Keepalived v1.3.5 (03/19,2017), git
/// commit v1.3.5-6-g6fa32f2`: the first `vMAJOR.MINOR.PATCH` after the
/// word keepalived. Anything else is not a release.
pub fn parse_release(line: &str) -> Option<Release> {
    let lower = line.to_ascii_lowercase();
    let at = lower.find("keepalived v")?;
    let rest = &line[at + "keepalived v".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let mut parts = rest[..end].split('.');
    let mut num = || -> Option<u16> {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 4 {
            return None;
        }
        p.parse().ok()
    };
    let release = Release {
        major: num()?,
        minor: num()?,
        patch: num().unwrap_or(0),
    };
    // keepalived has had releases 1.x and 2.x; a 0.x or a 99.x is a
    // version string vipdeck has never seen.
    (1..=9).contains(&release.major).then_some(release)
}

/// A signal number as `keepalived --signum=X` prints it: one decimal line,
/// 1 to 64. Anything else (nothing, an error, a usage text) is no answer.
fn signal_number(out: &str) -> Option<u8> {
    let t = out.trim();
    if t.is_empty() || t.len() > 2 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse::<u8>().ok().filter(|n| (1..=64).contains(n))
}

/// Decides how to ask keepalived for its own word from what it answered:
/// `version` is the output of `keepalived --version` (1.x and 2.x print it
/// on stderr), `json`/`data` the stdout of `--signum=JSON`/`--signum=DATA`
/// (`None` when they could not be run).
pub fn detect(version: &str, json: Option<&str>, data: Option<&str>) -> KeepalivedInfo {
    let first = version
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let version_line: String = first.chars().take(MAX_VERSION_LINE).collect();
    let release = parse_release(first);
    let json_sig = json.and_then(signal_number);
    let data_sig = data.and_then(signal_number);
    let dump = match (json_sig, data_sig, release) {
        (Some(signal), _, _) => DumpMethod::Json { signal },
        (None, Some(signal), _) => DumpMethod::Data { signal },
        (None, None, Some(r)) if r.major == 1 => DumpMethod::Data { signal: SIGUSR1 },
        (None, None, Some(r)) => DumpMethod::None {
            reason: format!(
                "keepalived {r} answers neither --signum=JSON nor --signum=DATA: no dump asked"
            ),
        },
        (None, None, None) if first.is_empty() => DumpMethod::None {
            reason: "keepalived --version printed nothing: no dump asked".into(),
        },
        (None, None, None) => DumpMethod::None {
            reason: format!(
                "keepalived version not recognised ({version_line}) and no --signum: no dump asked"
            ),
        },
    };
    KeepalivedInfo {
        release,
        version_line,
        dump,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_are_read_from_the_version_lines_of_each_era() {
        let r = |s| parse_release(s).map(|r| r.to_string());
        assert_eq!(
            r("Keepalived v1.2.24 (08/06,2018)").as_deref(),
            Some("1.2.24")
        );
        assert_eq!(
            r("Keepalived v1.3.5 (03/19,2017), git commit v1.3.5-6-g6fa32f2").as_deref(),
            Some("1.3.5")
        );
        assert_eq!(
            r("Keepalived v2.2.7 (01/16,2022)").as_deref(),
            Some("2.2.7")
        );
        assert_eq!(r("keepalived v2.3").as_deref(), Some("2.3.0"));
        assert_eq!(r("bash: keepalived: command not found"), None);
        assert_eq!(r("Keepalived v0.9.1"), None, "never a release");
        assert_eq!(r("Keepalived v99999999.1.1"), None);
        assert_eq!(r("Keepalived v"), None);
    }

    #[test]
    fn the_dump_method_follows_what_keepalived_answers() {
        let j = detect(
            "Keepalived v2.2.7 (01/16,2022)\n\nCopyright",
            Some("36\n"),
            Some("10\n"),
        );
        assert_eq!(j.dump, DumpMethod::Json { signal: 36 });
        // A 2.x built without JSON: DATA.
        let d = detect("Keepalived v2.1.5 (07/13,2020)", Some(""), Some("10"));
        assert_eq!(d.dump, DumpMethod::Data { signal: 10 });
        // 1.x: no --signum (it exits 0 printing nothing): SIGUSR1.
        let old = detect("Keepalived v1.3.5 (03/19,2017)", Some(""), Some(""));
        assert_eq!(old.dump, DumpMethod::Data { signal: 10 });
        assert_eq!(old.version_label(), "1.3.5");
    }

    #[test]
    fn a_version_that_lies_or_was_never_seen_gets_no_signal_and_a_reason() {
        // Says 2.2.7 but --signum answers nothing: no guess at a signal.
        let liar = detect("Keepalived v2.2.7", Some("Unknown sigfunc"), None);
        match &liar.dump {
            DumpMethod::None { reason } => assert!(reason.contains("2.2.7"), "{reason}"),
            other => panic!("{other:?}"),
        }
        // Says 1.x but answers --signum=JSON: what it does wins.
        let odd = detect("Keepalived v1.3.5", Some("36"), None);
        assert_eq!(odd.dump, DumpMethod::Json { signal: 36 });
        // Never seen.
        let unknown = detect("KeepAlive-NG 7", None, None);
        assert_eq!(unknown.release, None);
        match &unknown.dump {
            DumpMethod::None { reason } => assert!(reason.contains("not recognised"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(unknown.version_label().starts_with("unrecognised"));
        let silent = detect("", None, None);
        assert!(matches!(silent.dump, DumpMethod::None { .. }));
        // Garbage signal numbers are no answer.
        for bad in ["0", "65", "999", "-1", "10 11", "1e1", "\u{1b}[2J"] {
            assert_eq!(signal_number(bad), None, "{bad:?}");
        }
        let long = "x".repeat(1000);
        assert!(detect(&long, None, None).version_line.len() <= MAX_VERSION_LINE);
    }
}
