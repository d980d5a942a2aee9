//! The data-plane witness in the verdict: what the VIP's answers (or
//! their absence) add to what keepalived and the cloud say. Apart from
//! `core::dataplane` because the snapshot holds that one's types.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::core::dataplane::{Dataplane, ProbeOutcome};
use crate::core::model::{Alert, ClusterSnapshot, Severity, Verdict};

/// Adds the witness's alerts to `alerts` and returns the verdict: a
/// healthy cluster whose VIP does not answer (or answers from the BACKUP)
/// is degraded; results older than `fresh_for` say nothing of now. While
/// the VIP moves the same findings are warnings: a takeover's interruption
/// is expected. It moves while `converging`, while the newest probe is
/// older than the master's transition, and while a silence that began
/// around the takeover (at most `grace` before it, a round and
/// [`TAKEOVER_SETTLE`] after it) is younger than `grace` after it — the
/// time the binding itself is given before it is drift.
/// No probe: the verdict and the alerts as they were.
#[allow(clippy::too_many_arguments)]
pub(crate) fn weigh(
    c: &ClusterSnapshot,
    verdict: Verdict,
    master: Option<usize>,
    bound_to_master: bool,
    converging: bool,
    grace: Duration,
    now: DateTime<Utc>,
    fresh_for: Duration,
    alerts: &mut Vec<Alert>,
) -> Verdict {
    let Some(dp) = &c.dataplane else {
        return verdict;
    };
    let master_since = master.and_then(|m| c.peers[m].last_transition);
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    // A takeover's silence begins before the new master's transition (a
    // crash, the old master letting go) or just after it (the old master
    // releasing the VIP a moment later), seen by the probe within a round.
    let settle = TAKEOVER_SETTLE
        + crate::core::interruption::typical_interval(dp)
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .unwrap_or_default();
    let before_takeover = match (dp.latest(), master_since, master) {
        (Some(r), Some(since), Some(m)) => {
            let silence_from_takeover = !r.outcome.answered()
                && dp.since.is_some_and(|s| {
                    s >= since - grace
                        && s <= since + settle
                        && !answered_by_master(dp, c.spec.peers[m].name.as_str(), since, s)
                })
                && now - since < grace;
            r.at < since || silence_from_takeover
        }
        _ => false,
    };
    let found = self::alerts(
        dp,
        &Context {
            moving: converging || before_takeover,
            holds_no_vip: std::array::from_fn(|i| {
                c.peers[i].vip_on_nic.as_ref().map(|f| f.value) == Some(false)
            }),
            vip: &c.spec.vip,
            names: [&c.spec.peers[0].name, &c.spec.peers[1].name],
            master,
            healthy: verdict == Verdict::Healthy,
            binding_looks_wrong: master.is_some() && !bound_to_master,
            verdict_word: verdict.as_str(),
            now,
            fresh_for,
        },
    );
    let critical = found.iter().any(|a| a.severity == Severity::Critical);
    alerts.extend(found);
    if verdict == Verdict::Healthy && critical {
        Verdict::Degraded
    } else {
        verdict
    }
}

/// Whether the VIP answered between the master's transition and the
/// silence — from the master, or from a node it cannot tell: then the VIP
/// had already moved, and the silence is no part of the takeover.
fn answered_by_master(
    dp: &Dataplane,
    master: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> bool {
    dp.history.iter().any(|r| {
        r.at >= from
            && r.at < to
            && matches!(&r.outcome, ProbeOutcome::Answered { node, .. }
                if node.as_deref().is_none_or(|n| n == master))
    })
}

/// How long after a new master's transition the old master may still
/// answer on the VIP before letting go of it (keepalived's handover).
const TAKEOVER_SETTLE: chrono::Duration = chrono::Duration::seconds(2);

/// Whether the assessment took the VIP's silence for a takeover's
/// interruption (a warning) rather than an outage: how faces mark it.
pub fn moving(alerts: &[Alert]) -> bool {
    alerts
        .iter()
        .any(|a| a.code == "vip_unreachable" && a.severity == Severity::Warning)
}

/// What the verdict knows when it weighs the data-plane witness.
struct Context<'a> {
    /// The VIP is moving to a new MASTER: a takeover's interruption.
    moving: bool,
    /// Each peer seen without the VIP on its NIC: an answer naming it
    /// cannot have come from it.
    holds_no_vip: [bool; 2],
    vip: &'a str,
    names: [&'a str; 2],
    master: Option<usize>,
    /// Everything but the probe says healthy.
    healthy: bool,
    /// The cloud binding is not the master (drift, unbound, elsewhere).
    binding_looks_wrong: bool,
    verdict_word: &'a str,
    now: DateTime<Utc>,
    /// Older results say nothing about now.
    fresh_for: Duration,
}

/// The alerts of the data-plane witness: the VIP that does not answer
/// (`vip_unreachable`), answers from a node other than the MASTER
/// (`vip_answered_by_other`), answers although the binding looks wrong
/// (`vip_answers_despite_binding`: doubt the binding read), or a probe
/// that cannot run (`probe_error`: the probe's problem, not the peers').
fn alerts(dp: &Dataplane, cx: &Context<'_>) -> Vec<Alert> {
    let Some(latest) = dp.latest() else {
        return Vec::new();
    };
    let age = (cx.now - latest.at).to_std().unwrap_or_default();
    if age > cx.fresh_for {
        return vec![Alert::new(
            Severity::Warning,
            "probe_stale",
            format!(
                "the data-plane probe of {} has not reported for {}",
                cx.vip,
                crate::core::humanize::duration(age)
            ),
        )];
    }
    let since = |dp: &Dataplane| match dp.since {
        Some(s) => format!(
            " since {} ({})",
            s.format("%H:%M:%S UTC"),
            crate::core::humanize::duration((cx.now - s).to_std().unwrap_or_default())
        ),
        None => String::new(),
    };
    match &latest.outcome {
        ProbeOutcome::Fault(f) => vec![Alert::new(
            Severity::Warning,
            "probe_error",
            format!(
                "the data-plane probe of {} cannot run ({f}): the probe's problem, not the peers'",
                cx.vip
            ),
        )],
        ProbeOutcome::NoAnswer(why) => {
            let (severity, context) = if cx.moving {
                (
                    Severity::Warning,
                    "while the VIP moves to the new MASTER (a takeover's interruption)".to_string(),
                )
            } else if cx.healthy {
                // Everything else healthy: the probe's own path (a firewall
                // between vipdeck and the VIP) is as likely as the clients'.
                (
                    Severity::Critical,
                    "while keepalived, the peers and the cloud binding look healthy: \
                     the service behind the VIP, or, if clients are answered, only the \
                     path from vipdeck is blocked (a firewall or security group on the \
                     probe's port)"
                        .to_string(),
                )
            } else {
                (
                    Severity::Critical,
                    format!("the verdict is already {}", cx.verdict_word),
                )
            };
            vec![Alert::new(
                severity,
                "vip_unreachable",
                format!(
                    "{} does not answer clients ({why}){}: {context}",
                    cx.vip,
                    since(dp)
                ),
            )]
        }
        ProbeOutcome::Answered { node, .. } => {
            let mut out = Vec::new();
            if let (Some(node), Some(m)) = (node, cx.master) {
                if node != cx.names[m] {
                    let other = 1 - m;
                    let (vip, master) = (cx.vip, cx.names[m]);
                    let (severity, message) = if node != cx.names[other] {
                        (
                            Severity::Warning,
                            format!("{vip} is answered by {node:?}, which names neither peer, not by MASTER {master}"),
                        )
                    } else if cx.moving {
                        (
                            Severity::Warning,
                            format!("{vip} is answered by {node}, the old MASTER, while the VIP moves to MASTER {master}"),
                        )
                    } else if cx.holds_no_vip[other] && !cx.binding_looks_wrong {
                        // The VPC sends the VIP to the MASTER and the
                        // BACKUP does not hold it: the answer cannot be
                        // the BACKUP's, the service misnames itself.
                        (
                            Severity::Warning,
                            format!(
                                "{vip} answers naming {node}, which holds no VIP while the binding \
                                 names MASTER {master}: the service's node name is not believed"
                            ),
                        )
                    } else {
                        (
                            Severity::Critical,
                            format!(
                                "{vip} is answered by {node}, the BACKUP, not by MASTER {master}"
                            ),
                        )
                    };
                    out.push(Alert::new(severity, "vip_answered_by_other", message));
                }
            }
            if cx.binding_looks_wrong {
                let from = node
                    .as_ref()
                    .map(|n| format!(" from {n}"))
                    .unwrap_or_default();
                out.push(Alert::new(
                    Severity::Warning,
                    "vip_answers_despite_binding",
                    format!(
                        "{} answers clients{from} although the binding looks wrong: \
                         trust the binding read less (stale, or another path serves the VIP)",
                        cx.vip
                    ),
                ));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::dataplane::{NoAnswer, ProbeResult};
    use crate::core::model::{ClusterSpec, Mode, PeerSpec};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 0, 10, 40)
            .single()
            .expect("time")
    }

    fn cluster() -> ClusterSnapshot {
        ClusterSnapshot::new(ClusterSpec {
            name: "pay".into(),
            mode: Mode::Eni,
            vip: "198.51.100.100".into(),
            havip_id: None,
            peers: std::array::from_fn(|i| PeerSpec {
                name: ["pay-a", "pay-b"][i].into(),
                address: "sim".into(),
                network_interface_id: None,
                instance_id: None,
            }),
        })
    }

    fn probed(c: &mut ClusterSnapshot, ms_ago: i64, outcome: ProbeOutcome) {
        c.dataplane
            .get_or_insert_with(Dataplane::default)
            .record(ProbeResult {
                at: now() - chrono::Duration::milliseconds(ms_ago),
                outcome,
            });
    }

    fn weighed(c: &ClusterSnapshot, converging: bool) -> (Verdict, Vec<(String, Severity)>) {
        let mut alerts = Vec::new();
        let v = weigh(
            c,
            Verdict::Healthy,
            Some(0),
            !converging,
            converging,
            Duration::from_secs(10),
            now(),
            Duration::from_secs(10),
            &mut alerts,
        );
        (
            v,
            alerts
                .into_iter()
                .map(|a| (a.code.to_string(), a.severity))
                .collect(),
        )
    }

    #[test]
    fn a_takeover_in_progress_is_a_warning_not_a_page() {
        // pay-a became MASTER 1 s ago; the newest probe, from before that,
        // was answered by pay-b: it describes the world before the takeover.
        let mut c = cluster();
        c.peers[0].last_transition = Some(now() - chrono::Duration::seconds(1));
        let by_b = ProbeOutcome::Answered {
            rtt: Duration::from_micros(400),
            node: Some("pay-b".into()),
        };
        probed(&mut c, 1500, by_b.clone());
        assert_eq!(
            weighed(&c, false),
            (
                Verdict::Healthy,
                vec![("vip_answered_by_other".into(), Severity::Warning)]
            )
        );
        // After the takeover, while the binding moves (converging): the VIP
        // does not answer, a warning.
        probed(
            &mut c,
            200,
            ProbeOutcome::NoAnswer(NoAnswer::Timeout(Duration::from_millis(800))),
        );
        assert_eq!(
            weighed(&c, true),
            (
                Verdict::Healthy,
                vec![("vip_unreachable".into(), Severity::Warning)]
            )
        );
        // The binding has followed; the silence that began with the
        // takeover is still within the grace: a warning still.
        assert_eq!(
            weighed(&c, false),
            (
                Verdict::Healthy,
                vec![("vip_unreachable".into(), Severity::Warning)]
            )
        );
        // A silence soon after the master's transition, once the master has
        // answered on the VIP (a blocked probe 2 s after an election), is no
        // part of a takeover either.
        let mut answered = cluster();
        answered.peers[0].last_transition = Some(now() - chrono::Duration::seconds(2));
        probed(
            &mut answered,
            1500,
            ProbeOutcome::Answered {
                rtt: Duration::from_micros(400),
                node: Some("pay-a".into()),
            },
        );
        probed(
            &mut answered,
            200,
            ProbeOutcome::NoAnswer(NoAnswer::Timeout(Duration::from_millis(800))),
        );
        assert_eq!(
            weighed(&answered, false),
            (
                Verdict::Degraded,
                vec![("vip_unreachable".into(), Severity::Critical)]
            )
        );
        // A silence that begins well after the takeover is no part of it.
        let mut later = cluster();
        later.peers[0].last_transition = Some(now() - chrono::Duration::seconds(8));
        probed(
            &mut later,
            1500,
            ProbeOutcome::Answered {
                rtt: Duration::from_micros(400),
                node: Some("pay-a".into()),
            },
        );
        probed(
            &mut later,
            200,
            ProbeOutcome::NoAnswer(NoAnswer::Timeout(Duration::from_millis(800))),
        );
        assert_eq!(
            weighed(&later, false),
            (
                Verdict::Degraded,
                vec![("vip_unreachable".into(), Severity::Critical)]
            )
        );
        // The same silence 11 s after the takeover (grace 10 s) pages.
        c.peers[0].last_transition = Some(now() - chrono::Duration::seconds(11));
        assert_eq!(
            weighed(&c, false),
            (
                Verdict::Degraded,
                vec![("vip_unreachable".into(), Severity::Critical)]
            )
        );
        // And the old master answering after the takeover, outside a move, too.
        probed(&mut c, 100, by_b);
        assert_eq!(
            weighed(&c, false),
            (
                Verdict::Degraded,
                vec![("vip_answered_by_other".into(), Severity::Critical)]
            )
        );
    }

    #[test]
    fn a_service_that_misnames_its_node_is_not_believed_over_the_peers() {
        // pay-a is MASTER and bound; pay-b is seen without the VIP. An
        // answer naming pay-b cannot be pay-b's: the service lies.
        let mut c = cluster();
        c.peers[0].last_transition = Some(now() - chrono::Duration::seconds(60));
        c.peers[1].vip_on_nic = Some(crate::core::model::Fact::new(
            false,
            now(),
            crate::core::model::Witness::Probe,
        ));
        probed(
            &mut c,
            100,
            ProbeOutcome::Answered {
                rtt: Duration::from_micros(400),
                node: Some("pay-b".into()),
            },
        );
        let mut alerts = Vec::new();
        let v = weigh(
            &c,
            Verdict::Healthy,
            Some(0),
            true,
            false,
            Duration::from_secs(10),
            now(),
            Duration::from_secs(10),
            &mut alerts,
        );
        assert_eq!(v, Verdict::Healthy, "{alerts:?}");
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].severity, Severity::Warning);
        assert!(
            alerts[0]
                .message
                .contains("the service's node name is not believed"),
            "{}",
            alerts[0].message
        );
    }
}
