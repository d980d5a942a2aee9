//! The data-plane witness in the verdict: what the VIP's answers (or
//! their absence) add to what keepalived and the cloud say. Apart from
//! `core::dataplane` because the snapshot holds that one's types.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::core::dataplane::{Dataplane, ProbeOutcome};
use crate::core::model::{Alert, ClusterSnapshot, Severity, Verdict};

/// Adds the witness's alerts to `alerts` and returns the verdict: a
/// healthy cluster whose VIP does not answer (or answers from the BACKUP)
/// is degraded; results older than `fresh_for` say nothing of now. No probe: the verdict and the alerts as they were.
pub(crate) fn weigh(
    c: &ClusterSnapshot,
    verdict: Verdict,
    master: Option<usize>,
    bound_to_master: bool,
    now: DateTime<Utc>,
    fresh_for: Duration,
    alerts: &mut Vec<Alert>,
) -> Verdict {
    let Some(dp) = &c.dataplane else {
        return verdict;
    };
    let found = self::alerts(
        dp,
        &Context {
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

/// What the verdict knows when it weighs the data-plane witness.
struct Context<'a> {
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
            // Everything else healthy: the probe's own path (a firewall
            // between vipdeck and the VIP) is as likely as the clients'.
            let context = if cx.healthy {
                "while keepalived and the cloud look healthy \
                 (if clients are answered, only the path from vipdeck is blocked: \
                 a firewall or security group on the probe's port)"
                    .to_string()
            } else {
                format!("the verdict is already {}", cx.verdict_word)
            };
            vec![Alert::new(
                Severity::Critical,
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
                    let (severity, whom) = if node == cx.names[1 - m] {
                        (Severity::Critical, format!("{node}, the BACKUP"))
                    } else {
                        (
                            Severity::Warning,
                            format!("{node:?}, which names neither peer"),
                        )
                    };
                    out.push(Alert::new(
                        severity,
                        "vip_answered_by_other",
                        format!(
                            "{} is answered by {whom}, not by MASTER {}",
                            cx.vip, cx.names[m]
                        ),
                    ));
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
