//! The binding's judgement: where the cloud says the VIP is bound, whether
//! a binding that has not followed the master is still a move within its
//! grace or already drift, and what a flap of the backup left behind.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::model::{Alert, ClusterSnapshot, LogKind, Mode, Severity, VrrpState};

use super::{fmt_age, Thresholds};

pub(super) enum CloudView {
    Bound(usize),
    /// Bound to something that is neither peer (named).
    Elsewhere(String),
    Unbound,
    NotKnown,
}

pub(super) fn cloud_view(
    c: &ClusterSnapshot,
    now: DateTime<Utc>,
    t: &Thresholds,
) -> (CloudView, Option<Alert>) {
    let Some(b) = &c.cloud.binding else {
        let alert = match &c.cloud.error {
            Some((e, _)) => Alert::new(
                Severity::Warning,
                "cloud_error",
                format!("cloud API: {e}; binding never read"),
            ),
            None => Alert::new(
                Severity::Info,
                "cloud_not_seen",
                "cloud binding not read yet",
            ),
        };
        return (CloudView::NotKnown, Some(alert));
    };
    if b.is_stale(now, t.cloud_stale_after) {
        let why = c
            .cloud
            .error
            .as_ref()
            .map(|(e, _)| format!(": {e}"))
            .unwrap_or_default();
        let alert = Alert::new(
            Severity::Warning,
            "cloud_stale",
            format!("cloud binding is {} old{why}", fmt_age(now, b.at)),
        );
        return (CloudView::NotKnown, Some(alert));
    }
    let alert = c.cloud.error.as_ref().map(|(e, at)| {
        Alert::new(
            Severity::Info,
            "cloud_error",
            format!(
                "cloud API failed {} ago: {e}; showing the answer from {} ago",
                fmt_age(now, *at),
                fmt_age(now, b.at)
            ),
        )
    });
    let binding = &b.value;
    if binding.state.as_deref() == Some("UNBIND") || binding.network_interface_id.is_none() {
        return (CloudView::Unbound, alert);
    }
    let view = match c.spec.peer_of_binding(binding) {
        Some(p) => CloudView::Bound(p),
        None => CloudView::Elsewhere(
            binding
                .network_interface_id
                .clone()
                .unwrap_or_else(|| "an unknown interface".into()),
        ),
    };
    (view, alert)
}

/// A move of the VIP in progress (DESIGN.md, *converging*).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Converging {
    /// What the binding waits for, in words.
    pub waits_for: String,
    /// When the wait started: the new master's first GARP (HAVIP) or its
    /// transition (ENI).
    pub since: DateTime<Utc>,
    /// How long it may take before it is drift.
    pub grace_ms: u64,
}

/// The `converging` alert: `lead` (with its own separator) says what is
/// not there yet; the rest how long the wait has run and may still run.
pub(super) fn converging_alert(lead: &str, conv: &Converging, now: DateTime<Utc>) -> Alert {
    let elapsed = (now - conv.since).to_std().unwrap_or_default();
    let grace = Duration::from_millis(conv.grace_ms);
    Alert::new(
        Severity::Warning,
        "converging",
        format!(
            "{lead}waiting for {} for {} so far, expected within {} ({} left)",
            conv.waits_for,
            crate::core::humanize::duration(elapsed),
            crate::core::humanize::duration(grace),
            crate::core::humanize::duration(grace.saturating_sub(elapsed)),
        ),
    )
}

pub(super) enum Move {
    Within(Converging),
    /// The notify script or the cloud said the move failed.
    Failed(String),
    /// The grace passed: elapsed since the transition, the grace, what was awaited.
    Over(Duration, Duration, String),
    /// No transition known to wait after.
    NoTransition,
}

/// A failure line of the notify script (vip.py) or of the migration task.
pub(crate) fn is_move_failure(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("set vip failed")
        || (lower.contains("call ret") && lower.contains("\"error\""))
        || (lower.contains("task ret") && text.contains("FAILED"))
}

/// Whether master `m`'s binding may still be on its way: within the
/// grace after its transition (ENI) or its first GARP (HAVIP), and no
/// failure line from its notify script since.
pub(super) fn moving(c: &ClusterSnapshot, m: usize, now: DateTime<Utc>, t: &Thresholds) -> Move {
    let Some(tr) = c.peers[m].last_transition else {
        return Move::NoTransition;
    };
    let slack = chrono::TimeDelta::seconds(2);
    let lines = || {
        c.recent_logs
            .iter()
            .filter(move |l| l.peer == m && l.at + slack >= tr)
    };
    if let Some(l) = lines().find(|l| is_move_failure(&l.text)) {
        // Quoted as logged: a JSON answer reads as JSON, not escaped
        // (`{\"Error\"…`); control characters from the peer are cleaned.
        return Move::Failed(format!(
            "{} logged “{}” {} ago",
            c.spec.peers[m].name,
            crate::core::sanitize::clip(&crate::core::sanitize::clean(l.text.trim()), 200),
            fmt_age(now, l.at)
        ));
    }
    let (since, waits_for) = match c.spec.mode {
        Mode::Eni => (tr, "the migration task (notify script)".to_string()),
        Mode::Havip => match lines().find(|l| l.kind == LogKind::Garp) {
            Some(g) => (
                g.at,
                format!(
                    "the HAVIP to follow {}'s gratuitous ARP",
                    c.spec.peers[m].name
                ),
            ),
            None => (
                tr,
                format!("{}'s gratuitous ARP and the HAVIP", c.spec.peers[m].name),
            ),
        },
    };
    let grace = t.grace(c);
    let elapsed = (now - since).to_std().unwrap_or_default();
    if elapsed > grace {
        return Move::Over((now - tr).to_std().unwrap_or_default(), grace, waits_for);
    }
    Move::Within(Converging {
        waits_for,
        since,
        grace_ms: grace.as_millis() as u64,
    })
}
/// An HAVIP a flap of the backup left behind: what to say instead of a
/// plain drift.
pub(super) enum Residue {
    /// The binding should still come back: the flap just ended, or the
    /// master re-announces (`garp_master_refresh`) and its next round is due.
    Returning(Converging),
    /// Nothing will bring it back: the sentence for the alert.
    LeftBehind(String),
}

/// The cloud binds the HAVIP to `p`, which was MASTER for a moment (its
/// GARP moved the binding) and is not any more, while `m` stayed MASTER
/// and has re-announced nothing since. keepalived's master sends GARPs
/// again only on `garp_master_refresh`, on an advert of lower priority
/// (`garp_lower_prio_repeat`, logged as "with lower priority") or when it
/// becomes MASTER anew; without one of these the HAVIP stays with `p`.
pub(super) fn flap_residue(
    c: &ClusterSnapshot,
    m: usize,
    p: usize,
    now: DateTime<Utc>,
    t: &Thresholds,
) -> Option<Residue> {
    if c.spec.mode != Mode::Havip {
        return None;
    }
    let slack = chrono::TimeDelta::seconds(2);
    let up = c
        .timeline
        .iter()
        .rev()
        .find(|tr| tr.peer == p && tr.to == VrrpState::Master)?;
    let down = c
        .timeline
        .iter()
        .find(|tr| tr.peer == p && tr.at >= up.at && tr.to != VrrpState::Master)?;
    // `m` held MASTER through it: a new MASTER state would have re-announced.
    if c.timeline
        .iter()
        .any(|tr| tr.peer == m && tr.to == VrrpState::Master && tr.at >= up.at)
    {
        return None;
    }
    // A binding older than the flap is not its residue (when the cloud says).
    let binding = &c.cloud.binding.as_ref()?.value;
    if binding.flushed_time.is_some_and(|f| f + slack < up.at) {
        return None;
    }
    let reannounced = c.recent_logs.iter().any(|l| {
        l.peer == m
            && l.at + slack >= up.at
            && (l.kind == LogKind::Garp
                || l.text.to_ascii_lowercase().contains("with lower priority"))
    });
    if reannounced {
        // Then the cloud, not the master, is behind: a plain drift.
        return None;
    }
    let names = [c.spec.peers[0].name.as_str(), c.spec.peers[1].name.as_str()];
    let grace = t.grace(c);
    let refresh = c.peers[m]
        .config
        .as_ref()
        .map(|f| f.value.garp_master_refresh);
    // The master's re-announcement (if any) plus the cloud's own grace.
    let wait = match refresh {
        Some(Some(secs)) => grace + Duration::from_secs(u64::from(secs)),
        _ => grace,
    };
    let since_down = (now - down.at).to_std().unwrap_or_default();
    if since_down <= wait {
        let waits_for = match refresh {
            Some(Some(secs)) => format!(
                "{}'s garp_master_refresh (every {secs} s) to take the HAVIP back from {}",
                names[m], names[p]
            ),
            _ => format!("the HAVIP to come back from {} to {}", names[p], names[m]),
        };
        return Some(Residue::Returning(Converging {
            waits_for,
            since: down.at,
            grace_ms: wait.as_millis() as u64,
        }));
    }
    if matches!(refresh, Some(Some(_))) {
        // It re-announces, yet the binding stayed: the cloud did not follow.
        return None;
    }
    let refresh_note = match refresh {
        Some(_) => "has no garp_master_refresh".to_string(),
        None => "its keepalived.conf is not read, so whether it re-announces (garp_master_refresh) is not known".to_string(),
    };
    Some(Residue::LeftBehind(format!(
        "binding left behind by a flap: the cloud binds {vip} to {p_name}, MASTER for {held} at {at} and {state} again since; \
         {m_name} stayed MASTER, has logged no gratuitous ARP since and {refresh_note}, so the HAVIP stays with {p_name}. \
         Fix now: F in the dashboard (or vipdeck failover --cluster {cluster} --to {m_name} --force): {m_name} re-announces; \
         for good: garp_master_refresh in keepalived.conf",
        cluster = c.spec.name,
        vip = c.spec.vip,
        p_name = names[p],
        m_name = names[m],
        held = crate::core::humanize::duration((down.at - up.at).to_std().unwrap_or_default()),
        at = up.at.format("%H:%M:%S UTC"),
        state = down.to,
    )))
}

#[cfg(test)]
mod tests {
    use super::super::assess;
    use super::super::testkit::*;
    use super::*;
    use crate::core::model::{ConfigSummary, Fact, Transition, Verdict, Witness};

    #[test]
    fn vip_drift_when_havip_unbound_or_bound_elsewhere() {
        let mut c = healthy_cluster();
        bind(&mut c, None, now());
        assert_eq!(judge(&c).verdict, Verdict::VipDrift);
        bind(&mut c, Some("eni-stranger"), now());
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::VipDrift);
        assert!(a.alerts[0].message.contains("eni-stranger"));
    }

    #[test]
    fn stale_cloud_binding_degrades_and_says_its_age() {
        let mut c = healthy_cluster();
        bind(
            &mut c,
            Some("eni-01"),
            now() - chrono::Duration::seconds(125),
        );
        c.cloud.error = Some(("InternalError: boom".into(), now()));
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::Degraded);
        assert!(a
            .alerts
            .iter()
            .any(|a| a.message == "cloud binding is 2m05s old: InternalError: boom"));
    }

    #[test]
    fn cloud_never_read_is_degraded_not_healthy() {
        let mut c = healthy_cluster();
        c.cloud.binding = None;
        assert_eq!(judge(&c).verdict, Verdict::Degraded);
    }

    #[test]
    fn a_fresh_move_is_converging_not_drift() {
        let c = moved(Mode::Eni, 4);
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::Degraded, "{:?}", a.alerts);
        assert_eq!(a.master, Some(1));
        assert_eq!(a.vip_bound_to, Some(0));
        let conv = a
            .alerts
            .iter()
            .find(|x| x.code == "converging")
            .expect("alert");
        assert!(
            conv.message.contains("waiting for the migration task"),
            "{}",
            conv.message
        );
        assert!(
            conv.message
                .contains("4s so far, expected within 30s (26s left)"),
            "{}",
            conv.message
        );
        assert_eq!(a.converging.as_ref().map(|c| c.grace_ms), Some(30_000));
        // Past the grace it is drift.
        let a = judge(&moved(Mode::Eni, 31));
        assert_eq!(a.verdict, Verdict::VipDrift);
        assert!(
            a.alerts[0]
                .message
                .contains("waited 30s for the migration task"),
            "{:?}",
            a.alerts
        );
    }

    #[test]
    fn a_failure_line_is_drift_at_once() {
        for text in [
            " set vip failed",
            " call ret {\"Response\": {\"Error\": {\"Code\": \"AuthFailure\"}}}",
            " task ret {\"Status\": \"FAILED\"}",
        ] {
            let mut c = moved(Mode::Eni, 3);
            log(&mut c, 1, 1, LogKind::VipMigration, text);
            let a = judge(&c);
            assert_eq!(a.verdict, Verdict::VipDrift, "{text}: {:?}", a.alerts);
            assert!(a.alerts[0].message.contains("logged"), "{:?}", a.alerts);
            // The line as logged, its JSON not escaped.
            assert!(
                a.alerts[0].message.contains(&format!("“{}”", text.trim())),
                "{:?}",
                a.alerts[0].message
            );
            assert!(
                !a.alerts[0].message.contains('\\'),
                "{:?}",
                a.alerts[0].message
            );
        }
        // A failure from before the transition, or from the other peer, is not evidence.
        let mut c = moved(Mode::Eni, 3);
        log(&mut c, 1, 60, LogKind::Error, " set vip failed");
        log(&mut c, 0, 1, LogKind::Error, " set vip failed");
        assert_eq!(judge(&c).verdict, Verdict::Degraded);
    }

    #[test]
    fn havip_grace_counts_from_the_first_garp() {
        let mut c = moved(Mode::Havip, 14);
        // No GARP seen: counted from the transition, 10 s: drift.
        assert_eq!(judge(&c).verdict, Verdict::VipDrift);
        log(
            &mut c,
            1,
            9,
            LogKind::Garp,
            "(VI_1) Sending/queueing gratuitous ARPs on eth0",
        );
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::Degraded, "{:?}", a.alerts);
        assert!(a
            .alerts
            .iter()
            .any(|x| x.message.contains("follow havip-02's gratuitous ARP")));
        // Per-cluster grace.
        let mut t = Thresholds::default();
        t.grace_by_cluster
            .insert("web".into(), Duration::from_secs(5));
        assert_eq!(assess(&c, now(), &t).verdict, Verdict::VipDrift);
    }

    /// havip-01 stayed MASTER; havip-02 was MASTER from `up` to `down`
    /// seconds ago and its GARP moved the HAVIP; it is BACKUP again.
    fn flapped(up: i64, down: i64, refresh: Option<Option<u32>>) -> ClusterSnapshot {
        let mut c = healthy_cluster();
        let ago = |s: i64| now() - chrono::Duration::seconds(s);
        c.peers[0].last_transition = Some(ago(3600));
        c.timeline.push_back(Transition {
            at: ago(3600),
            peer: 0,
            from: VrrpState::Backup,
            to: VrrpState::Master,
        });
        c.timeline.push_back(Transition {
            at: ago(up),
            peer: 1,
            from: VrrpState::Backup,
            to: VrrpState::Master,
        });
        c.timeline.push_back(Transition {
            at: ago(down),
            peer: 1,
            from: VrrpState::Master,
            to: VrrpState::Backup,
        });
        log(
            &mut c,
            1,
            up,
            LogKind::Garp,
            "(VI_1) Sending/queueing gratuitous ARPs on eth0 for 172.16.16.12",
        );
        bind(&mut c, Some("eni-02"), now());
        if let Some(b) = c.cloud.binding.as_mut() {
            b.value.flushed_time = Some(ago(up - 1));
        }
        if let Some(refresh) = refresh {
            for i in 0..2 {
                c.peers[i].config = Some(Fact::new(
                    ConfigSummary {
                        garp_master_refresh: refresh,
                        ..Default::default()
                    },
                    now(),
                    Witness::Conf,
                ));
            }
        }
        c
    }

    #[test]
    fn a_binding_left_behind_by_a_flap_is_named_with_both_fixes() {
        let a = judge(&flapped(120, 115, Some(None)));
        assert_eq!(a.verdict, Verdict::VipDrift);
        assert_eq!(codes(&a)[0], "binding_left_by_flap", "{:?}", a.alerts);
        let msg = &a.alerts[0].message;
        for part in [
            "havip-02, MASTER for 5s at 22:42:00 UTC and BACKUP again",
            "havip-01 stayed MASTER, has logged no gratuitous ARP since and has no garp_master_refresh",
            "F in the dashboard",
            "vipdeck failover --cluster web --to havip-01 --force",
            "garp_master_refresh in keepalived.conf",
        ] {
            assert!(msg.contains(part), "{part:?} not in {msg}");
        }
        assert!(!codes(&a).contains(&"cloud_binding_mismatch"));
    }

    #[test]
    fn right_after_the_flap_the_binding_may_still_come_back() {
        // keepalived 2.x answers the flapping peer's lower-priority advert
        // with GARPs (garp_lower_prio_repeat): within the grace it waits.
        let a = judge(&flapped(10, 5, Some(None)));
        assert_eq!(a.verdict, Verdict::Degraded, "{:?}", a.alerts);
        assert_eq!(codes(&a)[0], "converging");
        assert!(
            a.alerts[0].message.contains("after a flap"),
            "{:?}",
            a.alerts
        );
    }

    #[test]
    fn a_master_that_re_announces_is_not_accused() {
        // garp_master_refresh 60: its next round may still be due.
        let a = judge(&flapped(60, 55, Some(Some(60))));
        assert_eq!(a.verdict, Verdict::Degraded, "{:?}", a.alerts);
        assert!(a
            .converging
            .expect("converging")
            .waits_for
            .contains("garp_master_refresh (every 60 s)"));
        // Long past it: the cloud did not follow, a plain drift.
        let a = judge(&flapped(600, 595, Some(Some(60))));
        assert_eq!(a.verdict, Verdict::VipDrift);
        assert!(
            codes(&a).contains(&"cloud_binding_mismatch"),
            "{:?}",
            a.alerts
        );
        assert!(!codes(&a).contains(&"binding_left_by_flap"));
        // A GARP (or a lower-priority advert answered) logged by the
        // master since the flap: not residue either.
        let mut c = flapped(120, 115, Some(None));
        log(&mut c, 0, 114, LogKind::Transition, "(VI_1) Received advert from 172.16.16.6 with lower priority 100, ours 100, forcing new election");
        let a = judge(&c);
        assert!(
            !codes(&a).contains(&"binding_left_by_flap"),
            "{:?}",
            a.alerts
        );
    }

    #[test]
    fn a_binding_older_than_the_flap_or_a_new_master_is_no_residue() {
        let mut c = flapped(120, 115, Some(None));
        if let Some(b) = c.cloud.binding.as_mut() {
            b.value.flushed_time = Some(now() - chrono::Duration::seconds(900));
        }
        assert!(!codes(&judge(&c)).contains(&"binding_left_by_flap"));
        // ENI mode: no GARP moves anything.
        let mut c = flapped(120, 115, Some(None));
        c.spec.mode = Mode::Eni;
        assert!(!codes(&judge(&c)).contains(&"binding_left_by_flap"));
    }

    #[test]
    fn without_the_master_s_config_the_residue_says_what_is_not_known() {
        let a = judge(&flapped(120, 115, None));
        assert_eq!(codes(&a)[0], "binding_left_by_flap");
        assert!(
            a.alerts[0]
                .message
                .contains("whether it re-announces (garp_master_refresh) is not known"),
            "{}",
            a.alerts[0].message
        );
    }
}
