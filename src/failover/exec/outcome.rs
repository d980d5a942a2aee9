//! How a run ended: a pure function of what happened and what the
//! witnesses say at the last look, unit-tested for every ending the lab
//! reaches.

use super::super::audit::Outcome;
use super::super::plan::{OtherAfter, Plan};

/// What a run did, as [`outcome`] needs it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Happened<'a> {
    /// Why it stopped early, in words.
    pub(crate) failure: Option<&'a str>,
    /// Something was changed.
    pub(crate) started_any: bool,
    /// keepalived was (perhaps) stopped on the old master.
    pub(crate) old_stopped: bool,
    /// keepalived had to be started again on the old master after a failure.
    pub(crate) restored: bool,
    /// The verify step passed.
    pub(crate) verified: bool,
}

/// The cluster as last seen.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Seen<'a> {
    /// (VRRP master, cloud binding) before the first step.
    pub(crate) initial: (Option<usize>, Option<usize>),
    /// (VRRP master, cloud binding) at the last look.
    pub(crate) last: (Option<usize>, Option<usize>),
    /// At the last look every witness agrees the target holds the VIP
    /// (and the old master, unless declared dead, is BACKUP).
    pub(crate) target_verified: bool,
    /// The cluster in one sentence.
    pub state: &'a str,
    /// The dashboard's verdict at the last look, the move's own
    /// transitions not counted as flapping.
    pub(crate) verdict: &'a str,
}

/// How a run ended, in a word and in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ending {
    pub(crate) outcome: Outcome,
    /// The outcome in a few words ("moved and verified").
    pub(crate) headline: String,
    /// The state the cluster was left in; for a verified move, each part
    /// of the promise once ("Verified: n2 MASTER with … on its NIC; cloud
    /// binding n2; n1 BACKUP; verdict healthy").
    pub(crate) state_left: String,
}

/// How a run ended: a pure function of what happened and what is seen at
/// the end. `locks_left` says which lock files could not be removed.
pub(crate) fn outcome(
    plan: &Plan,
    happened: &Happened,
    seen: &Seen,
    locks_left: &[String],
) -> Ending {
    let t = plan.target;
    let o = 1 - t;
    let (master, bound) = seen.last;
    let h = happened;
    let outcome = match (h.failure, h.verified) {
        (None, true) => Outcome::MovedVerified,
        _ if !h.started_any => Outcome::NotStarted,
        _ if !h.old_stopped && seen.last == seen.initial => Outcome::NotMoved,
        _ if master == Some(o) && bound == Some(o) && h.restored => Outcome::RolledBack,
        _ if master == Some(o) && bound == Some(o) => Outcome::MovedElsewhere,
        // A step failed, yet the cluster may be where it should be: only
        // every witness agreeing counts as verified.
        _ if master == Some(t) && bound == Some(t) && seen.target_verified => {
            Outcome::MovedVerified
        }
        _ => Outcome::Unknown,
    };
    let other = plan.other_after();
    let oname = &plan.peer_names[o];
    let mut state_left = match h.failure {
        Some(f) => format!("{f}. State left: {}", seen.state),
        None => seen.state.to_string(),
    };
    let headline = outcome.as_str().to_string();
    if outcome == Outcome::MovedVerified {
        let tname = &plan.peer_names[t];
        // The three parts of the promise, each verified, said once: the
        // state sentence would say them again in other words.
        state_left = format!(
            "Verified: {tname} MASTER with {} on its NIC; cloud binding {tname}; {}; verdict {}",
            plan.vip,
            other.words(oname),
            seen.verdict
        );
        if let Some(f) = h.failure {
            state_left = format!("{state_left} (after: {f})");
        }
    }
    for l in locks_left {
        state_left.push_str(&format!(". {l}"));
    }
    if outcome == Outcome::MovedVerified {
        match other {
            OtherAfter::LeftStopped if plan.check("preempt_trap").is_some() => {
                state_left.push_str(&format!(
                    ". keepalived on {oname} left stopped (preempt): start it when the VIP \
                     should go back"
                ))
            }
            OtherAfter::StillStopped | OtherAfter::LeftStopped => state_left.push_str(&format!(
                ". Alert: keepalived is stopped on {oname}: the cluster has no standby until \
                 it is started"
            )),
            OtherAfter::Backup | OtherAfter::NotChecked => {}
        }
    }
    Ending {
        outcome,
        headline,
        state_left,
    }
}

#[cfg(test)]
/// The outcome function against every ending the lab tests
/// (tests/failover_lab.rs) reach on real peers, without a lab:
///
/// - moved and verified: graceful (ENI, HAVIP, the TUI wizard), forced
///   (HAVIP GARP, the vip_drift repair where only the binding moves);
/// - rolled back: the target's keepalived killed mid-failover, the old
///   master restored; the failure names the target's keepalived;
/// - unknown: SSH to the old master lost after it was stopped (its
///   restart failed, its lock left and named);
/// - not moved, the cluster as it was: the vip_drift repair whose cloud
///   migration FAILED;
/// - not started: refused at execute time or abandoned before anything
///   changed (the refusals before execution — blocked, no terminal,
///   the lock — are the session's, tested in `failover::session`).
///
/// And beyond the lab: abandoned by the operator after the old master
/// was stopped (rolled back), a verify that never agrees (unknown), a
/// failed step with every witness agreeing at the last look (moved and
/// verified), the old master back without a restore (moved elsewhere),
/// no master at the end (unknown), the preempt trap's wording.
mod outcomes {
    use super::super::super::plan::{self, Plan};
    use super::super::testkit::now;
    use super::super::{Failure, StepError};
    use super::*;
    use crate::core::model::{Mode, VrrpState};

    const N1: usize = 0;
    const N2: usize = 1;
    const STATE: &str = "n1 BACKUP, n2 MASTER with the VIP; cloud binding n2; verdict healthy";

    fn plan(leave_old_stopped: bool) -> Plan {
        let checks = if leave_old_stopped {
            vec![check("preempt_trap")]
        } else {
            vec![]
        };
        Plan {
            checks,
            cluster: "lab".into(),
            mode: Mode::Eni,
            vip: "192.0.2.10".into(),
            method: plan::Method::Graceful,
            source: Some(N1),
            bound_to: Some(N1),
            target: N2,
            peer_names: ["n1".into(), "n2".into()],
            steps: vec![],
            leave_old_stopped,
            old_master_dead: false,
            unknown_target: None,
            noop: false,
            planned_at: now(),
            notes: vec![],
        }
    }

    fn check(id: &str) -> plan::Check {
        plan::Check {
            id: id.into(),
            status: plan::CheckStatus::Warn,
            reason: String::new(),
            overridable: false,
            overridden: false,
            fix: None,
        }
    }

    const VERIFIED: &str = "Verified: n2 MASTER with 192.0.2.10 on its NIC; cloud binding n2; ";

    /// A graceful run that stopped the old master.
    fn graceful() -> Happened<'static> {
        Happened {
            failure: None,
            started_any: true,
            old_stopped: true,
            restored: false,
            verified: true,
        }
    }

    fn seen(last: (Option<usize>, Option<usize>), target_verified: bool) -> Seen<'static> {
        Seen {
            initial: (Some(N1), Some(N1)),
            last,
            target_verified,
            state: STATE,
            verdict: "healthy",
        }
    }

    fn failed(failure: &'static str) -> Happened<'static> {
        Happened {
            failure: Some(failure),
            verified: false,
            ..graceful()
        }
    }

    #[test]
    fn verified_graceful() {
        let e = outcome(
            &plan(false),
            &graceful(),
            &seen((Some(N2), Some(N2)), true),
            &[],
        );
        assert_eq!(e.outcome, Outcome::MovedVerified);
        assert_eq!(e.headline, "moved and verified");
        // Each part once: not again in the state sentence's words.
        assert_eq!(
            e.state_left,
            format!("{VERIFIED}n1 BACKUP; verdict healthy")
        );
        assert!(!e.state_left.contains(STATE));
    }

    /// The forced repair of a drift whose old master's keepalived was
    /// already stopped: only the binding moves, the old master stays
    /// stopped, and that is what was promised — verified, not unknown.
    #[test]
    fn verified_forced_repair_with_the_old_master_still_stopped() {
        let mut p = plan(false);
        p.method = plan::Method::Forced;
        p.source = None;
        p.checks.push(check("other_stopped"));
        assert_eq!(p.other_after(), plan::OtherAfter::StillStopped);
        assert_eq!(p.other_after().expect(), Some(VrrpState::Stop));
        let h = Happened {
            old_stopped: false,
            ..graceful()
        };
        let s = Seen {
            initial: (Some(N2), Some(N1)),
            ..seen((Some(N2), Some(N2)), true)
        };
        let e = outcome(&p, &h, &s, &[]);
        assert_eq!(e.outcome, Outcome::MovedVerified);
        assert_eq!(e.headline, "moved and verified");
        assert!(
            e.state_left.starts_with(&format!(
                "{VERIFIED}n1 still stopped, as before; verdict healthy. "
            )),
            "{}",
            e.state_left
        );
        assert!(
            e.state_left.ends_with(
                ". Alert: keepalived is stopped on n1: the cluster has no standby until it \
                 is started"
            ),
            "{}",
            e.state_left
        );
        // The verify step timing out on it is still said, but the last
        // look with every witness agreeing verifies it.
        let e = outcome(
            &p,
            &Happened {
                old_stopped: false,
                ..failed("verify the whole cluster: timed out after 15s")
            },
            &s,
            &[],
        );
        assert_eq!(e.outcome, Outcome::MovedVerified);
    }

    #[test]
    fn verified_forced_drift_repair_moves_only_the_binding() {
        let h = Happened {
            old_stopped: false,
            ..graceful()
        };
        let s = Seen {
            initial: (Some(N2), Some(N1)),
            ..seen((Some(N2), Some(N2)), true)
        };
        assert_eq!(
            outcome(&plan(false), &h, &s, &[]).outcome,
            Outcome::MovedVerified
        );
    }

    #[test]
    fn verified_with_the_preempting_old_master_left_stopped() {
        let e = outcome(
            &plan(true),
            &graceful(),
            &seen((Some(N2), Some(N2)), true),
            &[],
        );
        assert_eq!(e.outcome, Outcome::MovedVerified);
        assert!(
            e.state_left.ends_with(
                ". keepalived on n1 left stopped (preempt): start it when the VIP should go back"
            ),
            "{}",
            e.state_left
        );
    }

    #[test]
    fn rolled_back_when_the_targets_keepalived_dies() {
        let f = "wait until n2 is MASTER with 192.0.2.10 on its NIC: \
                 keepalived on n2 is not running: it cannot take over";
        let h = Happened {
            restored: true,
            ..failed(f)
        };
        let e = outcome(&plan(false), &h, &seen((Some(N1), Some(N1)), false), &[]);
        assert_eq!(e.outcome, Outcome::RolledBack);
        assert_eq!(e.state_left, format!("{f}. State left: {STATE}"));
        assert!(e.state_left.contains("keepalived on n2"));
    }

    #[test]
    fn rolled_back_when_abandoned_after_the_stop() {
        let h = Happened {
            restored: true,
            ..failed("wait until n2 is MASTER: abandoned by the operator (last seen: n2 BACKUP)")
        };
        let e = outcome(&plan(false), &h, &seen((Some(N1), Some(N1)), false), &[]);
        assert_eq!(e.outcome, Outcome::RolledBack);
        assert!(e
            .state_left
            .starts_with("wait until n2 is MASTER: abandoned"));
    }

    #[test]
    fn unknown_when_the_old_master_is_lost_after_its_stop() {
        let f = "start keepalived on n1 again: `systemctl start keepalived` failed: \
                 n1: no answer within 25s";
        let lock = "the failover lock /run/vipdeck-failover-lab.lock on n1 is left \
                    (it goes stale after 15m; then overriding lock_stale takes it over)";
        let e = outcome(
            &plan(false),
            &failed(f),
            &seen((Some(N2), Some(N2)), false),
            &[lock.to_string()],
        );
        assert_eq!(e.outcome, Outcome::Unknown);
        assert!(e.state_left.contains("start keepalived on n1"));
        assert!(
            e.state_left.ends_with(&format!(". {lock}")),
            "{}",
            e.state_left
        );
    }

    #[test]
    fn not_moved_when_the_migration_fails() {
        let h = Happened {
            old_stopped: false,
            ..failed(
                "move 192.0.2.10 from eni-1 to eni-2 in the cloud: MigratePrivateIpAddress \
                 eni-1 → eni-2: task FAILED (RequestId r-1)",
            )
        };
        // vip_drift: VRRP already on the target, the binding still on n1.
        let s = Seen {
            initial: (Some(N2), Some(N1)),
            ..seen((Some(N2), Some(N1)), false)
        };
        let e = outcome(&plan(false), &h, &s, &[]);
        assert_eq!(e.outcome, Outcome::NotMoved);
        assert!(e.state_left.contains("task FAILED (RequestId r-1)"));
    }

    #[test]
    fn not_started_when_nothing_changed() {
        for f in [
            "abandoned by the operator",
            "hold the failover lock on the peers, re-check the facts: refused at execute \
             time: n1 is no longer the master",
        ] {
            let h = Happened {
                started_any: false,
                old_stopped: false,
                ..failed(f)
            };
            let e = outcome(&plan(false), &h, &seen((Some(N1), Some(N1)), false), &[]);
            assert_eq!(e.outcome, Outcome::NotStarted, "{f}");
            assert!(e.state_left.starts_with(f));
        }
    }

    #[test]
    fn a_verify_that_never_agrees_is_unknown() {
        let f = "verify the whole cluster: timed out after 15s: waiting for: n1 BACKUP (is FAULT)";
        let e = outcome(
            &plan(false),
            &failed(f),
            &seen((Some(N2), Some(N2)), false),
            &[],
        );
        assert_eq!(e.outcome, Outcome::Unknown);
    }

    #[test]
    fn a_failed_step_with_every_witness_agreeing_is_verified() {
        let f = "wait until n1 is BACKUP: timed out after 15s: n1 is STOP";
        let e = outcome(
            &plan(false),
            &failed(f),
            &seen((Some(N2), Some(N2)), true),
            &[],
        );
        assert_eq!(e.outcome, Outcome::MovedVerified);
        assert!(e.state_left.contains(f), "the failure is still said");
    }

    #[test]
    fn the_old_master_back_without_a_restore_is_moved_elsewhere() {
        let f = "wait until n1 is BACKUP: n1 became MASTER again and took the VIP back from n2";
        let e = outcome(
            &plan(false),
            &failed(f),
            &seen((Some(N1), Some(N1)), false),
            &[],
        );
        assert_eq!(e.outcome, Outcome::MovedElsewhere);
    }

    #[test]
    fn no_master_at_the_end_is_unknown() {
        let e = outcome(
            &plan(false),
            &failed("wait until n2 is MASTER: timed out after 20s: n2 is BACKUP"),
            &seen((None, Some(N1)), false),
            &[],
        );
        assert_eq!(e.outcome, Outcome::Unknown);
    }

    #[test]
    fn step_errors_say_what_they_said_as_strings() {
        let e = Failure::Step {
            description: "stop keepalived on n1 (the current master)".into(),
            error: StepError::Exited {
                cmd: "systemctl stop keepalived".into(),
                code: 1,
                out: "denied".into(),
            },
        };
        assert_eq!(
            e.to_string(),
            "stop keepalived on n1 (the current master): `systemctl stop keepalived` exited 1: denied"
        );
        let t = StepError::TimedOut {
            after: "15s".into(),
            last: "n1 is STOP".into(),
        };
        assert_eq!(t.to_string(), "timed out after 15s: n1 is STOP");
        let a = StepError::Abandoned {
            last: "n2 BACKUP".into(),
        };
        assert_eq!(
            a.to_string(),
            "abandoned by the operator (last seen: n2 BACKUP)"
        );
        assert_eq!(Failure::Abandoned.to_string(), "abandoned by the operator");
        assert_eq!(
            StepError::Stale("n1 is no longer the master".into()).to_string(),
            "refused at execute time: n1 is no longer the master"
        );
        assert_eq!(
            StepError::ArpingNotRun("n2: closed".into()).to_string(),
            "arping failed: n2: closed"
        );
    }
}
