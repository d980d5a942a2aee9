//! How often a cluster's MASTER changed and why the last change happened:
//! counted from the transitions the snapshot folded (logs, state files,
//! dumps), the cause read from the log line keepalived wrote for it.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::core::model::{ClusterSnapshot, LogLine, VrrpState, TIMELINE_CAP};

/// MASTER transitions of one cluster over the last hour and day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlapStats {
    /// Transitions into MASTER (either peer) in the last hour.
    pub last_hour: usize,
    /// ... and in the last day.
    pub last_day: usize,
    /// True when the kept history is full and its oldest entry is younger
    /// than a day: the day's count is then a lower bound.
    pub day_truncated: bool,
    pub last_change: Option<LastChange>,
}

/// The newest MASTER change (into or out of MASTER) and what caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastChange {
    pub at: DateTime<Utc>,
    /// Index of the peer whose state changed.
    #[serde(skip)]
    pub peer: usize,
    pub from: &'static str,
    pub to: &'static str,
    /// The cause in words, when a log line names it; null when none did
    /// (then nothing is guessed).
    pub cause: Option<String>,
    /// That log line as the peer wrote it (untrusted: clean before showing).
    pub cause_line: Option<String>,
    /// Which peer wrote that line.
    #[serde(skip)]
    pub cause_peer: Option<usize>,
}

const HOUR: TimeDelta = TimeDelta::hours(1);
const DAY: TimeDelta = TimeDelta::days(1);
/// A cause is logged just before (advert timeout, tracker) or at the
/// transition; log and poll clocks differ by a few seconds.
const CAUSE_BEFORE: TimeDelta = TimeDelta::seconds(15);
const CAUSE_AFTER: TimeDelta = TimeDelta::seconds(3);

pub fn flap_stats(c: &ClusterSnapshot, now: DateTime<Utc>) -> FlapStats {
    let into_master = c
        .timeline
        .iter()
        .filter(|t| t.to == VrrpState::Master && t.at <= now);
    let within = |d: TimeDelta| into_master.clone().filter(|t| now - t.at <= d).count();
    let oldest = c.timeline.front().map(|t| t.at);
    let last = c
        .timeline
        .iter()
        .rev()
        .find(|t| t.to == VrrpState::Master || t.from == VrrpState::Master);
    FlapStats {
        last_hour: within(HOUR),
        last_day: within(DAY),
        day_truncated: c.timeline.len() >= TIMELINE_CAP && oldest.is_some_and(|o| now - o < DAY),
        last_change: last.map(|t| {
            let cause = cause_of(c, t.at, t.peer, t.to);
            LastChange {
                at: t.at,
                peer: t.peer,
                from: t.from.as_str(),
                to: t.to.as_str(),
                cause: cause.map(|(_, why)| why.to_string()),
                cause_line: cause.map(|(l, _)| l.text.clone()),
                cause_peer: cause.map(|(l, _)| l.peer),
            }
        }),
    }
}

/// The log line that says why `peer` went to `to` at `at`, and the cause
/// in words: the nearest one before the transition, else just after.
fn cause_of(
    c: &ClusterSnapshot,
    at: DateTime<Utc>,
    peer: usize,
    to: VrrpState,
) -> Option<(&LogLine, &'static str)> {
    // Not before the peer's previous change: that line explained that one.
    let previous = c
        .timeline
        .iter()
        .filter(|t| t.peer == peer && t.at < at)
        .map(|t| t.at)
        .max();
    let from = previous.map_or(at - CAUSE_BEFORE, |p| p.max(at - CAUSE_BEFORE));
    let near: Vec<(&LogLine, &'static str)> = c
        .recent_logs
        .iter()
        .filter(|l| l.at >= from && l.at <= at + CAUSE_AFTER)
        .filter_map(|l| cause_in(&l.text, l.peer == peer, to).map(|why| (l, why)))
        .collect();
    near.iter()
        .rev()
        .find(|(l, _)| l.at <= at)
        .or_else(|| near.first())
        .copied()
}

/// What a keepalived (1.x or 2.x) or vipdeck line says caused a change,
/// seen from the peer that changed (`own`) or from its partner.
fn cause_in(text: &str, own: bool, to: VrrpState) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    if lower.contains("vipdeck: failover") {
        return Some("a vipdeck failover");
    }
    let to_master = to == VrrpState::Master;
    if to_master && (lower.contains("received priority 0") || lower.contains("sent 0 priority")) {
        return Some("the master left (priority 0 advert: keepalived stopped or shut down)");
    }
    if to_master && own && lower.contains("receive advertisement timeout") {
        return Some("adverts from the master stopped arriving (advert timeout)");
    }
    if !to_master && own && lower.contains("with higher priority") {
        return Some("a higher-priority advert from the other peer");
    }
    // keepalived 2.x: "… with same priority 100 but higher IP address than ours".
    if !to_master && own && lower.contains("higher ip address than ours") {
        return Some("an advert of equal priority from a higher address (keepalived's tie-break)");
    }
    if (lower.contains("kernel is reporting") || lower.contains("netlink reports"))
        && lower.contains("down")
        && own
    {
        return Some("a tracked interface went down (track_interface)");
    }
    if lower.contains("interface") && lower.contains("down") && lower.contains("fault") && own {
        return Some("a tracked interface went down (track_interface)");
    }
    if own
        && (lower.starts_with("vrrp_script(") || lower.contains("script `"))
        && (lower.contains(") failed")
            || lower.contains("timed out")
            || lower.contains("now returning"))
    {
        return Some("a track_script result changed");
    }
    if own && lower.contains("changing effective priority") {
        return Some("a tracker changed the effective priority");
    }
    if own && to == VrrpState::Stop && lower.contains("stopping") {
        return Some("keepalived was stopped");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{LogKind, LogSource, Mode, Transition};
    use crate::core::testkit::{cluster, line, now};

    fn transition(
        c: &mut ClusterSnapshot,
        peer: usize,
        secs_ago: i64,
        from: VrrpState,
        to: VrrpState,
    ) {
        c.timeline.push_back(Transition {
            at: now() - TimeDelta::seconds(secs_ago),
            peer,
            from,
            to,
        });
    }

    fn log(c: &mut ClusterSnapshot, peer: usize, secs_ago: i64, text: &str) {
        let l = line(peer, secs_ago, LogSource::Daemon, LogKind::Transition, text);
        c.recent_logs.push_back(l);
    }

    use VrrpState::*;

    #[test]
    fn counts_masters_in_the_last_hour_and_day() {
        let mut c = cluster(Mode::Havip);
        transition(&mut c, 0, 7200 * 13, Backup, Master); // a day and more ago
        transition(&mut c, 1, 7200, Backup, Master); // two hours ago
        transition(&mut c, 0, 7190, Master, Backup);
        transition(&mut c, 0, 600, Backup, Master);
        transition(&mut c, 1, 590, Master, Backup);
        let s = flap_stats(&c, now());
        assert_eq!((s.last_hour, s.last_day, s.day_truncated), (1, 2, false));
        let last = s.last_change.expect("a change");
        assert_eq!((last.peer, last.from, last.to), (1, "MASTER", "BACKUP"));
        assert_eq!(last.cause, None, "no line names a cause: none is guessed");
    }

    #[test]
    fn no_transitions_no_change() {
        let s = flap_stats(&cluster(Mode::Havip), now());
        assert_eq!((s.last_hour, s.last_day, s.last_change), (0, 0, None));
    }

    #[test]
    fn the_cause_is_the_line_keepalived_wrote_for_it() {
        // keepalived 2.x: the backup missed adverts and took over.
        let mut c = cluster(Mode::Havip);
        log(&mut c, 1, 31, "(VI_1) Receive advertisement timeout");
        log(&mut c, 1, 30, "(VI_1) Entering MASTER STATE");
        transition(&mut c, 1, 30, Backup, Master);
        let last = flap_stats(&c, now()).last_change.expect("a change");
        assert_eq!(
            last.cause.as_deref(),
            Some("adverts from the master stopped arriving (advert timeout)")
        );
        assert_eq!(
            last.cause_line.as_deref(),
            Some("(VI_1) Receive advertisement timeout")
        );
        assert_eq!(last.cause_peer, Some(1));

        // A graceful stop of the master: its partner's line says priority 0.
        let mut c = cluster(Mode::Havip);
        log(
            &mut c,
            1,
            11,
            "(VI_1) Backup received priority 0 advertisement",
        );
        transition(&mut c, 1, 10, Backup, Master);
        let last = flap_stats(&c, now()).last_change.expect("a change");
        assert!(last.cause.expect("a cause").contains("priority 0"));

        // keepalived 1.3.5: a failing track_script lowers the priority, the
        // other peer's higher advert makes the master BACKUP.
        let mut c = cluster(Mode::Havip);
        log(&mut c, 0, 8, "VRRP_Script(chk_nginx) failed");
        log(
            &mut c,
            0,
            7,
            "VRRP_Instance(VI_1) Received advert with higher priority 100, ours 80",
        );
        transition(&mut c, 0, 6, Master, Backup);
        let last = flap_stats(&c, now()).last_change.expect("a change");
        assert_eq!(
            last.cause.as_deref(),
            Some("a higher-priority advert from the other peer")
        );

        // An interface down: FAULT.
        let mut c = cluster(Mode::Havip);
        log(&mut c, 0, 5, "Kernel is reporting: interface eth0 DOWN");
        transition(&mut c, 0, 5, Master, Fault);
        let last = flap_stats(&c, now()).last_change.expect("a change");
        assert!(last.cause.expect("a cause").contains("track_interface"));
    }

    #[test]
    fn the_line_that_explained_the_change_before_does_not_explain_the_next() {
        // A flap: the advert timeout made hk2 MASTER; the tie-break made it
        // BACKUP again 7 s later.
        let mut c = cluster(Mode::Havip);
        log(&mut c, 1, 20, "(VI_1) Receive advertisement timeout");
        transition(&mut c, 1, 20, Backup, Master);
        transition(&mut c, 1, 13, Master, Backup);
        assert_eq!(
            flap_stats(&c, now()).last_change.expect("a change").cause,
            None
        );
        log(
            &mut c,
            1,
            13,
            "(VI_1) Master received advert from 10.0.0.12 with same priority 100 but higher IP address than ours",
        );
        let last = flap_stats(&c, now()).last_change.expect("a change");
        assert!(last.cause.expect("a cause").contains("tie-break"));
    }

    #[test]
    fn a_line_long_before_the_change_is_not_its_cause() {
        let mut c = cluster(Mode::Havip);
        log(&mut c, 1, 300, "(VI_1) Receive advertisement timeout");
        transition(&mut c, 1, 30, Backup, Master);
        assert_eq!(
            flap_stats(&c, now()).last_change.expect("a change").cause,
            None
        );
    }

    #[test]
    fn a_full_history_younger_than_a_day_is_a_lower_bound() {
        let mut c = cluster(Mode::Havip);
        for i in 0..TIMELINE_CAP as i64 {
            let to = if i % 2 == 0 { Master } else { Backup };
            transition(&mut c, (i % 2) as usize, 3600 * 3 - i * 10, Backup, to);
        }
        let s = flap_stats(&c, now());
        assert!(s.day_truncated);
        assert_eq!(s.last_day, TIMELINE_CAP / 2);
    }
}
