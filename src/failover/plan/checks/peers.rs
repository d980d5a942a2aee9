//! The checks on the pair itself: both peers answer, the target can take
//! over, one MASTER, the same keepalived.conf on both.

use crate::core::model::{Verdict, VrrpState};
use crate::core::pair;

use super::super::{Fix, Method};
use super::{Checks, Ctx};

/// Both peers answer (the old master unless declared dead).
pub(super) fn check_reachability(ctx: &Ctx, checks: &mut Checks) {
    let (t, other) = (ctx.t, ctx.other);
    let (tname, oname) = (ctx.tname(), ctx.oname());
    if ctx.fresh(t) {
        checks.pass("target_reachable", format!("{tname} answers probes"));
    } else {
        checks.fail(
            "target_reachable",
            format!("{tname} cannot be reached: {}", ctx.unreachable_why(t)),
            false,
        );
    }
    let old_dead = ctx.request.old_master_dead;
    if ctx.fresh(other) {
        if old_dead {
            checks.fail(
                "old_master_reachable",
                format!("{oname} answers probes, but it was declared dead (--old-master-dead)"),
                false,
            );
        } else {
            checks.pass("old_master_reachable", format!("{oname} answers probes"));
        }
    } else if old_dead {
        checks.warn(
            "old_master_reachable",
            format!("{oname} cannot be reached; declared dead by the operator: it will not be stopped or started"),
        );
    } else {
        checks.fail_fix(
            "old_master_reachable",
            format!("{oname} cannot be reached ({})", ctx.unreachable_why(other)),
            Fix::OldMasterDead,
        );
    }
}

/// The target's keepalived and state.
pub(super) fn check_target(ctx: &Ctx, checks: &mut Checks) {
    let t = ctx.t;
    let tname = ctx.tname();
    let t_running = ctx.snap.peers[t]
        .keepalived_running
        .as_ref()
        .map(|f| f.value);
    match t_running {
        Some(true) => checks.pass(
            "target_keepalived_running",
            format!("keepalived runs on {tname}"),
        ),
        Some(false) => checks.fail(
            "target_keepalived_running",
            format!("keepalived is not running on {tname}: it cannot take over"),
            false,
        ),
        None => checks.fail(
            "target_keepalived_running",
            format!("whether keepalived runs on {tname} is not known"),
            false,
        ),
    }
    let t_state = ctx.assessment.peers[t].state;
    match (t_state, ctx.request.method) {
        (VrrpState::Backup, _) => {
            checks.pass("target_state", format!("{tname} is BACKUP"));
        }
        (VrrpState::Master, Method::Forced) => {
            checks.pass(
                "target_state",
                format!("{tname} is already VRRP MASTER: only the cloud binding moves"),
            );
        }
        (VrrpState::Master, Method::Graceful) => {
            let on = ctx
                .assessment
                .vip_bound_to
                .map(|b| ctx.names[b].clone())
                .unwrap_or_else(|| "unknown".into());
            checks.fail_fix(
                "target_state",
                format!("{tname} is already MASTER but the cloud binding is {on}"),
                Fix::Force,
            );
        }
        (VrrpState::Fault, _) => checks.fail(
            "target_state",
            format!("{tname} is FAULT (its interface or a tracked script is down)"),
            false,
        ),
        (s, _) => checks.fail("target_state", format!("{tname} is {s}, not BACKUP"), false),
    }
}

/// The source: exactly one master, the other peer (unless the target
/// already is, or the old master is declared dead).
pub(super) fn check_single_master(ctx: &Ctx, checks: &mut Checks) {
    let (tname, oname) = (ctx.tname(), ctx.oname());
    let a = ctx.assessment;
    match a.verdict {
        Verdict::SplitBrain => checks.fail(
            "single_master",
            "split brain: resolve it before moving the VIP".into(),
            false,
        ),
        _ if a.master == Some(ctx.other) => {
            checks.pass("single_master", format!("{oname} is the only MASTER"))
        }
        _ if a.master == Some(ctx.t) => {
            checks.pass("single_master", format!("{tname} is the only MASTER"))
        }
        _ if ctx.request.old_master_dead => checks.warn(
            "single_master",
            format!("no MASTER seen; {oname} is declared dead and {tname} should take over"),
        ),
        _ => checks.fail(
            "single_master",
            format!(
                "there is no single MASTER to move from ({oname} is {})",
                a.peers[ctx.other].state
            ),
            false,
        ),
    }
}

/// Configs compatible.
pub(super) fn check_configs(ctx: &Ctx, checks: &mut Checks) {
    match (ctx.conf(0), ctx.conf(1)) {
        (Some(a), Some(b)) => {
            let diffs = pair::mismatches(a, &ctx.names[0], b, &ctx.names[1]);
            if diffs.is_empty() {
                checks.pass(
                    "configs_compatible",
                    "keepalived.conf agrees on VRID, authentication, VIPs, advert_int, unicast \
                     peers"
                        .into(),
                );
            } else {
                let sentences: Vec<&str> = diffs.iter().map(|m| m.sentence.as_str()).collect();
                checks.fail(
                    "configs_compatible",
                    format!(
                        "keepalived.conf differs between the peers: {}",
                        sentences.join("; ")
                    ),
                    true,
                );
            }
        }
        _ => checks.warn(
            "configs_compatible",
            "keepalived.conf of both peers not read: not compared".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::core::model::{Fact, PeerObservation, Witness};
    use crate::core::verdict::{assess, Thresholds};
    use crate::failover::plan::testkit::*;
    use crate::failover::plan::*;

    #[test]
    fn an_unreachable_target_blocks_even_forced() {
        let (mut c, cfg) = healthy("eni");
        c.peers[1].apply(PeerObservation::unreachable(
            now(),
            "ssh: connection refused",
        ));
        let p = run(&c, &cfg, &forced("n2"), &allowed());
        let chk = p.check("target_reachable").expect("check");
        assert_eq!(chk.status, CheckStatus::Fail);
        assert!(!chk.overridable && !chk.overridden);
        assert!(chk.reason.contains("connection refused"));
        assert!(p.blocked());
    }

    #[test]
    fn stale_facts_count_as_unreachable() {
        let (mut c, cfg) = healthy("eni");
        let old = now() - chrono::Duration::seconds(30);
        if let Some(f) = c.peers[1].reachable.as_mut() {
            f.at = old;
        }
        let p = run(&c, &cfg, &request("n2"), &allowed());
        assert_eq!(status(&p, "target_reachable"), CheckStatus::Fail);
        assert!(p.blocked());
    }

    #[test]
    fn an_unreachable_master_blocks_unless_declared_dead() {
        let (mut c, cfg) = healthy("eni");
        c.peers[0].apply(PeerObservation::unreachable(now(), "no answer"));
        let p = run(&c, &cfg, &request("n2"), &allowed());
        assert_eq!(status(&p, "old_master_reachable"), CheckStatus::Fail);
        let chk = p.check("old_master_reachable").expect("check");
        assert_eq!(chk.fix, Some(Fix::OldMasterDead));
        assert_eq!(
            Face::Cli.hint(chk).as_deref(),
            Some("if it is down, say so with --old-master-dead")
        );
        assert!(Face::Tui
            .hint(chk)
            .is_some_and(|h| h.contains("declare it dead when the wizard asks")));
        assert!(p.blocked());

        let dead = Request {
            old_master_dead: true,
            ..request("n2")
        };
        let p = run(&c, &cfg, &dead, &allowed());
        assert_eq!(status(&p, "old_master_reachable"), CheckStatus::Warn);
        assert!(!p.blocked(), "{}", render(&p, Face::Cli));
        // The dead master is neither stopped nor started.
        assert_eq!(
            kinds(&p),
            ["lock", "wait_master", "wait_binding", "verify", "unlock"]
        );
        // Declaring a reachable master dead is refused.
        let (c, cfg) = healthy("eni");
        let p = run(&c, &cfg, &dead, &allowed());
        assert_eq!(status(&p, "old_master_reachable"), CheckStatus::Fail);
    }

    #[test]
    fn the_target_must_run_keepalived_and_be_backup() {
        let (c0, cfg) = healthy("eni");
        let mut c = c0.clone();
        seen(&mut c, 1, VrrpState::Stop, false);
        let p = run(&c, &cfg, &request("n2"), &allowed());
        assert_eq!(status(&p, "target_keepalived_running"), CheckStatus::Fail);
        assert_eq!(status(&p, "target_state"), CheckStatus::Fail);
        assert!(p.blocked());

        let mut c = c0.clone();
        seen(&mut c, 1, VrrpState::Fault, false);
        let p = run(&c, &cfg, &forced("n2"), &allowed());
        let chk = p.check("target_state").expect("check");
        assert!(chk.status == CheckStatus::Fail && chk.reason.contains("FAULT"));
        assert!(p.blocked(), "FAULT is not overridable");
    }

    #[test]
    fn split_brain_and_no_master_block() {
        let (mut c, cfg) = healthy("eni");
        seen(&mut c, 1, VrrpState::Master, true);
        let p = run(&c, &cfg, &forced("n2"), &allowed());
        assert_eq!(status(&p, "single_master"), CheckStatus::Fail);
        assert!(p.blocked());

        let (mut c, cfg) = healthy("eni");
        seen(&mut c, 0, VrrpState::Backup, false);
        let p = run(&c, &cfg, &request("n2"), &allowed());
        assert_eq!(status(&p, "single_master"), CheckStatus::Fail);
        assert!(p.blocked());
    }

    #[test]
    fn differing_configs_block_unless_overridden() {
        let (mut c, cfg) = healthy("eni");
        let mut other = conf(100, true);
        other.virtual_router_id = Some(52);
        other.auth_digest = Some("d2".into());
        c.peers[1].config = Some(Fact::new(other, now(), Witness::Conf));
        let p = run(&c, &cfg, &request("n2"), &allowed());
        let chk = p.check("configs_compatible").expect("check");
        assert_eq!(chk.status, CheckStatus::Fail);
        assert!(chk.reason.contains("virtual_router_id") && chk.reason.contains("auth_pass"));
        assert!(p.blocked());
        assert!(run(&c, &cfg, &forced("n2"), &allowed()).blocked());
        let p = run(
            &c,
            &cfg,
            &overriding("n2", &["configs_compatible"]),
            &allowed(),
        );
        assert!(!p.blocked());
        assert_eq!(p.overridden(), ["configs_compatible"]);
    }

    /// The dashboard's `config_mismatch` and the plan's
    /// `configs_compatible` come from one comparison: the same VIPs in
    /// another order are one config; `pass` is not `PASS` to keepalived.
    #[test]
    fn the_dashboard_and_the_plan_agree_on_the_pair() {
        let (mut c, cfg) = healthy("eni");
        let mut a = conf(100, true);
        a.virtual_ipaddresses = vec!["192.0.2.10/24".into(), "192.0.2.11/24".into()];
        let mut b = a.clone();
        b.virtual_ipaddresses.reverse();
        c.peers[0].config = Some(Fact::new(a, now(), Witness::Conf));
        c.peers[1].config = Some(Fact::new(b.clone(), now(), Witness::Conf));
        let judged = assess(&c, now(), &Thresholds::default());
        assert!(
            !judged.alerts.iter().any(|x| x.code == "config_mismatch"),
            "{:?}",
            judged.alerts
        );
        let p = run(&c, &cfg, &request("n2"), &allowed());
        assert_eq!(status(&p, "configs_compatible"), CheckStatus::Pass);

        b.auth_type = Some("pass".into());
        c.peers[1].config = Some(Fact::new(b, now(), Witness::Conf));
        let judged = assess(&c, now(), &Thresholds::default());
        let alert = judged.alerts.iter().find(|x| x.code == "config_mismatch");
        assert!(
            alert.is_some_and(|x| x.message.contains("auth_type")),
            "{alert:?}"
        );
        let p = run(&c, &cfg, &request("n2"), &allowed());
        let chk = p.check("configs_compatible").expect("check");
        assert_eq!(chk.status, CheckStatus::Fail);
        assert!(
            chk.reason.contains("not a type keepalived knows"),
            "{}",
            chk.reason
        );
    }
}
