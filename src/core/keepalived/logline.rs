//! One log line from a peer: the notify/vip script log
//! (`[2026-11-21 22:44:01]  notify_master`), keepalived's daemon log in
//! syslog, journal (`-o short-iso`) or console (`-l`) form, or anything
//! else. Never fails: a line it cannot read is kind `Other` with no time.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use regex::Regex;

use crate::core::model::{LogKind, LogLine, LogSource, Severity, VrrpState};

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedLine {
    /// The time in the line, in UTC; None when the line has none (the
    /// caller inherits the previous line's time).
    pub at: Option<DateTime<Utc>>,
    pub pid: Option<u32>,
    /// The syslog program (`Keepalived_vrrp`), when the line names one.
    pub program: Option<String>,
    /// The host a syslog/journal line names.
    pub host: Option<String>,
    pub kind: LogKind,
    pub severity: Severity,
    /// The message without its timestamp/host/program prefix.
    pub message: String,
    /// The whole line, lossily decoded, without its line ending.
    pub line: String,
    /// `(VI_1) Entering MASTER STATE` → `("VI_1", Master)`.
    pub transition: Option<(String, VrrpState)>,
    /// The state a notify script logged (`notify_master` → Master).
    pub notified: Option<VrrpState>,
    /// keepalived's "Printing VRRP ... on signal" lines, written each time
    /// vipdeck asks for a dump; the log view hides them.
    pub is_dump_noise: bool,
}

impl ParsedLine {
    /// A [`LogLine`] for the snapshot; `fallback_at` is used when the line
    /// has no time (the previous line's, or when it was received).
    pub fn to_log_line(
        &self,
        peer: usize,
        source: LogSource,
        fallback_at: DateTime<Utc>,
    ) -> LogLine {
        LogLine {
            peer,
            source,
            at: self.at.unwrap_or(fallback_at),
            kind: self.kind,
            text: self.line.clone(),
            announced: self.announced(),
        }
    }

    /// Whether keepalived may have written the line: a syslog or journal
    /// line names its program (`Keepalived_vrrp`, `Keepalived`); a console
    /// line names none. Other programs' lines in a shared /var/log/messages
    /// are not keepalived's log.
    pub fn may_be_keepalived(&self) -> bool {
        self.program
            .as_deref()
            .is_none_or(|p| p.to_ascii_lowercase().starts_with("keepalived"))
    }

    /// The VRRP state the line announces: keepalived's `(VI_1) Entering
    /// MASTER STATE` or a notify script's `notify_master`.
    pub fn announced(&self) -> Option<VrrpState> {
        self.transition
            .as_ref()
            .map(|(_, s)| *s)
            .filter(|s| *s != VrrpState::Unknown)
            .or(self.notified)
    }
}

/// The VRRP state a whole line announces, for lines made without a parse
/// (the simulator's); the time in the line does not matter here.
pub fn announced_in(text: &str) -> Option<VrrpState> {
    parse_line(
        text.as_bytes(),
        FixedOffset::east_opt(0)?,
        DateTime::UNIX_EPOCH,
    )
    .announced()
}

fn re(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

// `[2026-11-21 22:44:02][pid1234]  try set vip.`
static SCRIPT: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\](?:\[pid(\d+)\])?(.*)$"));
// `2026-11-21T22:44:01+0800 host Keepalived_vrrp[1234]: msg` (journal
// short-iso; also rsyslog's RFC 3339 form with fractions and `+08:00`).
static ISO: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})) ([^\s\[\]:]+) ([^\s\[:]+)(?:\[(\d+)\])?: ?(.*)$",
    )
});
// `Nov 21 22:44:01 host Keepalived_vrrp[1234]: msg`, also a raw syslog
// datagram `<30>Nov 21 22:44:01 Keepalived_vrrp[1234]: msg` (no host).
static SYSLOG: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r"^(?:<\d{1,3}>)?([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}:\d{2}:\d{2}) (?:([^\s\[\]:]+) )?([^\s\[:]+)(?:\[(\d+)\])?: ?(.*)$",
    )
});
// keepalived -l console: `Sat Nov 21 23:50:03 2026: msg`.
static CONSOLE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(r"^[A-Z][a-z]{2} ([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}:\d{2}:\d{2}) (\d{4}): ?(.*)$")
});
use crate::core::keepalived::transition::ENTERING;

/// `Sat Nov 21 ...` (console) rather than `Nov 21 ...` (syslog): a cheap
/// check that saves a regex per line.
fn console_like(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 8 && b[3] == b' ' && b[4].is_ascii_uppercase()
}

fn month(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS.iter().position(|m| *m == name).map(|i| i as u32 + 1)
}

fn local(naive: NaiveDateTime, offset: FixedOffset) -> Option<DateTime<Utc>> {
    offset
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// A syslog time has no year: take the reference's year, or the year
/// before when that would put the line more than two days in the future
/// (a December line read in January).
fn syslog_time(
    mon: &str,
    day: &str,
    hms: &str,
    offset: FixedOffset,
    reference: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let m = month(mon)?;
    let d: u32 = day.parse().ok()?;
    let time = chrono::NaiveTime::parse_from_str(hms, "%H:%M:%S").ok()?;
    let ref_year = reference.with_timezone(&offset).year();
    let at_year = |y: i32| {
        NaiveDate::from_ymd_opt(y, m, d).and_then(|date| local(date.and_time(time), offset))
    };
    match at_year(ref_year) {
        Some(t) if t <= reference + chrono::Duration::days(2) => Some(t),
        _ => at_year(ref_year - 1),
    }
}

fn iso_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses one line. `offset` is the peer's UTC offset, for the formats
/// that carry local time without a zone (script log, syslog, console);
/// `reference` (usually now) supplies the year syslog lines lack.
pub fn parse_line(bytes: &[u8], offset: FixedOffset, reference: DateTime<Utc>) -> ParsedLine {
    let text = String::from_utf8_lossy(bytes);
    let line = text.trim_end_matches(['\n', '\r']).to_string();
    let mut at = None;
    let mut pid = None;
    let mut program = None;
    let mut host = None;
    let mut message = line.trim().to_string();
    let mut from_script = false;

    if let Some(c) = line
        .starts_with('[')
        .then(|| SCRIPT.as_ref()?.captures(&line))
        .flatten()
    {
        at = NaiveDateTime::parse_from_str(&c[1], "%Y-%m-%d %H:%M:%S")
            .ok()
            .and_then(|n| local(n, offset));
        pid = c.get(2).and_then(|p| p.as_str().parse().ok());
        message = c[3].trim().to_string();
        from_script = true;
    } else if let Some(c) = line
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_digit)
        .then(|| ISO.as_ref()?.captures(&line))
        .flatten()
    {
        at = iso_time(&c[1]);
        host = Some(c[2].to_string());
        program = Some(c[3].to_string());
        pid = c.get(4).and_then(|p| p.as_str().parse().ok());
        message = c[5].trim().to_string();
    } else if let Some(c) = console_like(&line)
        .then(|| CONSOLE.as_ref()?.captures(&line))
        .flatten()
    {
        at = month(&c[1]).and_then(|m| {
            let date = NaiveDate::from_ymd_opt(c[4].parse().ok()?, m, c[2].parse().ok()?)?;
            let time = chrono::NaiveTime::parse_from_str(&c[3], "%H:%M:%S").ok()?;
            local(date.and_time(time), offset)
        });
        message = c[5].trim().to_string();
    } else if let Some(c) = SYSLOG.as_ref().and_then(|r| r.captures(&line)) {
        at = syslog_time(&c[1], &c[2], &c[3], offset, reference);
        host = c.get(4).map(|h| h.as_str().to_string());
        program = Some(c[5].to_string());
        pid = c.get(6).and_then(|p| p.as_str().parse().ok());
        message = c[7].trim().to_string();
    }

    let class = classify(&message, from_script);
    ParsedLine {
        at,
        pid,
        program,
        host,
        kind: class.kind,
        severity: class.severity,
        message,
        line,
        transition: class.transition,
        notified: class.notified,
        is_dump_noise: class.dump_noise,
    }
}

struct Class {
    kind: LogKind,
    severity: Severity,
    transition: Option<(String, VrrpState)>,
    notified: Option<VrrpState>,
    dump_noise: bool,
}

impl Class {
    fn new(kind: LogKind, severity: Severity) -> Class {
        Class {
            kind,
            severity,
            transition: None,
            notified: None,
            dump_noise: false,
        }
    }
}

/// How bad a message is by keepalived's and the seed scripts' wording (the
/// message without its prefix; `from_script` for the notify/vip log).
pub(crate) fn severity_of_message(msg: &str, from_script: bool) -> Severity {
    classify(msg, from_script).severity
}

/// keepalived's "Printing VRRP data for process(12) on signal" (and the
/// json/stats variants): one per dump vipdeck asks for. `msg` is the
/// message without its timestamp/program prefix.
pub(crate) fn is_dump_noise_message(msg: &str) -> bool {
    msg.starts_with("Printing ") && msg.ends_with(" on signal")
}

fn state_severity(s: VrrpState) -> Severity {
    match s {
        VrrpState::Master | VrrpState::Backup => Severity::Info,
        _ => Severity::Warning,
    }
}

/// What a message is about, from keepalived's and the seed scripts' wording.
fn classify(msg: &str, from_script: bool) -> Class {
    use LogKind::*;
    use Severity::*;
    let lower = msg.to_ascii_lowercase();

    if let Some(c) = msg
        .contains(" STATE")
        .then(|| ENTERING.as_ref()?.captures(msg))
        .flatten()
    {
        let state = VrrpState::from_word(&c[3]);
        let mut class = Class::new(Transition, state_severity(state));
        if &c[2] == "Entering" {
            class.transition = Some((c[1].to_string(), state));
        }
        return class;
    }
    if is_dump_noise_message(msg) {
        let mut class = Class::new(Other, Info);
        class.dump_noise = true;
        return class;
    }
    if lower.contains("with higher priority") {
        return Class::new(Transition, Warning);
    }
    if lower.contains("receive advertisement timeout")
        || lower.contains("received priority 0 advertisement")
        || lower.contains("sent 0 priority")
    {
        return Class::new(Transition, Info);
    }
    if msg.starts_with("VRRP_Script(") || msg.starts_with("Script `") {
        return if lower.contains(") failed") || lower.contains("timed out") {
            Class::new(Error, Warning)
        } else {
            Class::new(Script, Info)
        };
    }
    if lower.contains("gratuitous arp")
        || lower.contains("gratuitous na")
        || lower.contains("unsolicited na")
    {
        return Class::new(Garp, Info);
    }
    // notify_action.sh: ` notify_master` etc.
    if let Some(word) = lower.strip_prefix("notify_") {
        let state = VrrpState::from_word(&word.trim().to_ascii_uppercase());
        if state != VrrpState::Unknown {
            let mut class = Class::new(Script, state_severity(state));
            class.notified = Some(state);
            return class;
        }
    }
    if lower.contains("notify_action.sh") {
        return Class::new(Error, Warning);
    }
    // vip.py (migration) and check_self.sh (the VIP on the NIC).
    if lower.contains("set vip failed") {
        return Class::new(Error, Critical);
    }
    if lower.starts_with("vip.py checks vip") {
        return if lower.trim_end().ends_with("true") {
            Class::new(VipMigration, Info)
        } else {
            Class::new(VipMigration, Warning)
        };
    }
    let vip_words = [
        "try set vip",
        "now set vip",
        "set done",
        "get_ip=",
        "generateurl ret",
        "call ret",
        "vip not in master",
        "attempt query vip",
        "vip_check",
        "no vip on nic",
        "detect vip in non-master",
        "vip.py",
    ];
    if vip_words.iter().any(|w| lower.contains(w)) {
        let bad = lower.contains("failed")
            || lower.contains("exception")
            || lower.contains("not in master")
            || lower.contains("\"error\"")
            || lower.contains("no vip on nic")
            || lower.contains("detect vip in non-master");
        return Class::new(VipMigration, if bad { Warning } else { Info });
    }
    if from_script && lower == "migrate" {
        return Class::new(VipMigration, Info);
    }
    if lower.contains("exception")
        || lower.contains("error")
        || lower.contains("failed")
        || lower.contains("fail ")
        || lower.contains("is invalid")
        || lower.contains("security violation")
    {
        return Class::new(Error, Warning);
    }
    if lower.starts_with("stopping") || lower.starts_with("stopped") {
        return Class::new(Other, Warning);
    }
    if lower.starts_with("warning") || lower.contains(" warning ") || lower.contains(") warning") {
        return Class::new(Other, Warning);
    }
    Class::new(Other, Info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keepalived_s_lines_of_a_shared_syslog_file() {
        let p = |l: &str| {
            parse_line(
                l.as_bytes(),
                FixedOffset::east_opt(0).expect("utc"),
                Utc::now(),
            )
            .may_be_keepalived()
        };
        assert!(p(
            "Dec  6 07:01:02 a Keepalived_vrrp[9]: VRRP_Instance(VI_1) Entering MASTER STATE"
        ));
        assert!(p(
            "Dec  6 07:01:02 a Keepalived[8]: Starting Keepalived v1.3.5"
        ));
        assert!(p("Sat Nov 21 23:55:55 2026: (VI_1) Entering MASTER STATE"));
        assert!(!p(
            "Dec  6 07:01:03 a sshd[77]: Accepted publickey for root"
        ));
        assert!(!p(
            "Dec  6 07:01:03 a systemd[1]: Started Session 4 of user root."
        ));
    }

    #[test]
    fn states_are_announced_by_keepalived_and_the_notify_script() {
        assert_eq!(
            announced_in("Sat Nov 21 23:55:55 2026: (VI_1) Entering MASTER STATE"),
            Some(VrrpState::Master)
        );
        assert_eq!(
            announced_in("[2026-11-21 22:44:01]  notify_backup"),
            Some(VrrpState::Backup)
        );
        assert_eq!(announced_in("[2026-11-21 22:44:01]  notify_whatever"), None);
        assert_eq!(announced_in("(VI_1) Entering nonsense"), None);
        assert_eq!(announced_in("(VI_1) Entering MASTER"), None);
        assert_eq!(
            announced_in("Sun Nov 22 00:44:23 2026: (VI_1) Entering BACKUP STATE (init)"),
            Some(VrrpState::Backup)
        );
        assert_eq!(
            announced_in("Nov 21 22:44:01 h Keepalived_vrrp[12]: (VI_1) Entering FAULT STATE"),
            Some(VrrpState::Fault)
        );
    }
}
