//! The preempt trap: a stopped old master that would take the VIP back
//! when it starts, and whether the plan leaves it stopped.

use super::{Checks, Ctx};

/// The other peer's keepalived already stopped (the usual reason for a
/// drift the forced move repairs): nothing in the plan starts it, so the
/// move leaves it stopped, as it was, and verifies it so.
pub(super) fn check_other_stopped(ctx: &Ctx, checks: &mut Checks, target_is_master: bool) {
    let o = ctx.other;
    let stopped = ctx.snap.peers[o]
        .keepalived_running
        .as_ref()
        .is_some_and(|f| !f.value);
    if target_is_master && stopped && ctx.fresh(o) && !ctx.request.old_master_dead {
        checks.warn(
            "other_stopped",
            format!(
                "keepalived is stopped on {0}: it stays stopped (no standby until it is \
                 started: {0}$ {1})",
                ctx.oname(),
                ctx.cluster.peers[o].start_cmd
            ),
        );
    }
}

/// The preempt trap: starting the old master again would take the VIP
/// back. Returns whether the old master is left stopped, and the note.
pub(super) fn preempt(ctx: &Ctx, checks: &mut Checks, stops_old: bool) -> (bool, Option<String>) {
    let (t, other) = (ctx.t, ctx.other);
    let oname = ctx.oname();
    let prio = |i: usize| {
        ctx.snap.peers[i]
            .priority
            .as_ref()
            .map(|f| f.value)
            .or_else(|| ctx.conf(i).and_then(|c| c.priority))
    };
    let old_preempts = ctx.conf(other).is_some_and(|c| !c.nopreempt);
    let trap = matches!((prio(other), prio(t)), (Some(a), Some(b)) if a > b) && old_preempts;
    let answer = ctx.request.restart_old_master;
    if trap && stops_old {
        let (a, b) = (prio(other).unwrap_or(0), prio(t).unwrap_or(0));
        let restart = answer == Some(true);
        checks.warn(
            "preempt_trap",
            format!(
                "{oname} preempts with priority {a} > {b}: starting keepalived on it again \
                 would pull the VIP back to it"
            ),
        );
        let note = if restart {
            format!("{oname} will be started again as asked: it will take the VIP back (preempt)")
        } else {
            format!(
                "keepalived on {oname} will be left stopped (preempt, priority {a} > {b}); \
                 start it when the VIP should go back"
            )
        };
        (!restart, Some(note))
    } else if answer == Some(false) && stops_old {
        (
            true,
            Some(format!(
                "keepalived on {oname} will be left stopped, as asked"
            )),
        )
    } else {
        (false, None)
    }
}

#[cfg(test)]
mod tests {
    use crate::core::model::{Fact, Witness};
    use crate::failover::plan::testkit::*;
    use crate::failover::plan::*;

    #[test]
    fn the_preempt_trap_leaves_the_old_master_stopped_unless_asked() {
        let (mut c, cfg) = healthy("eni");
        c.peers[0].config = Some(Fact::new(conf(150, false), now(), Witness::Conf));
        c.peers[0].priority = Some(Fact::new(150, now(), Witness::Conf));
        let p = run(&c, &cfg, &request("n2"), &allowed());
        let chk = p.check("preempt_trap").expect("check");
        assert!(
            chk.status == CheckStatus::Warn && chk.reason.contains("150 > 100"),
            "{}",
            chk.reason
        );
        assert!(p.leave_old_stopped);
        assert!(!kinds(&p).contains(&"start"));
        assert!(p.notes.iter().any(|n| n.contains("left stopped")));
        assert!(p
            .steps
            .iter()
            .any(|s| s.verify.contains("n1 left stopped, as planned")));
        assert_eq!(p.other_after(), OtherAfter::LeftStopped);

        let r = Request {
            restart_old_master: Some(true),
            ..request("n2")
        };
        let p = run(&c, &cfg, &r, &allowed());
        assert!(!p.leave_old_stopped);
        assert!(kinds(&p).contains(&"start"));
        assert!(p.notes.iter().any(|n| n.contains("take the VIP back")));

        // nopreempt, or a lower priority: no trap.
        c.peers[0].config = Some(Fact::new(conf(150, true), now(), Witness::Conf));
        let p = run(&c, &cfg, &request("n2"), &allowed());
        assert!(p.check("preempt_trap").is_none() && !p.leave_old_stopped);
    }
}
