//! The step list: what the checks allow, in order — the lock, the VRRP
//! move, the cloud's binding (forced or followed), the old master's
//! restart, the verification and the release — each with the command or
//! API call it runs, its timeout and how it is verified.

use std::time::Duration;

use crate::core::config::ClusterConfig;
use crate::core::model::{ClusterSnapshot, Mode};

use super::super::scripts;
use super::{Method, Plan, Settings, Step, StepKind};

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The steps of `plan`; `enis`: the bound ENI and the target's.
pub(super) fn steps(
    plan: &Plan,
    lock_file: &str,
    target_is_master: bool,
    cluster: &ClusterConfig,
    enis: (Option<String>, Option<String>),
    snap: &ClusterSnapshot,
    s: &Settings,
) -> Vec<Step> {
    let (bound_eni, t_eni) = enis;
    let stop_old = !target_is_master && !plan.old_master_dead;
    let mut out = vec![acquire_lock_step(lock_file)];
    out.extend(vrrp_steps(plan, stop_old, target_is_master, cluster, s));
    out.extend(cloud_steps(plan, cluster, bound_eni, t_eni, snap, s));
    if stop_old && !plan.leave_old_stopped {
        out.extend(restart_old_steps(plan, cluster, s));
    }
    out.push(verify_step(plan));
    out.push(Step {
        kind: StepKind::ReleaseLock,
        description: "release the failover lock".into(),
        action: format!("on each peer: rm {lock_file} if it holds our token"),
        timeout_ms: 10_000,
        verify: "lock file gone".into(),
    });
    out
}

fn acquire_lock_step(lock_file: &str) -> Step {
    Step {
        kind: StepKind::AcquireLock,
        description: "hold the failover lock on the peers, re-check the facts".into(),
        action: format!(
            "before the confirmation, on each reachable peer: set -C; write \
             owner/host/pid/start to {lock_file}"
        ),
        timeout_ms: 10_000,
        verify: "the lock file holds our token; the master and the target are as planned, \
                 on facts under a second old"
            .into(),
    }
}

/// Stop the old master, wait for the target to take over.
fn vrrp_steps(
    plan: &Plan,
    stop_old: bool,
    target_is_master: bool,
    cluster: &ClusterConfig,
    s: &Settings,
) -> Vec<Step> {
    let t = plan.target;
    let o = 1 - t;
    let (tn, on) = (&plan.peer_names[t], &plan.peer_names[o]);
    let vip = &plan.vip;
    let mut out = Vec::new();
    if stop_old {
        out.push(Step {
            kind: StepKind::StopKeepalived { peer: o },
            description: format!("stop keepalived on {on} (the current master)"),
            action: format!("{on}$ {}", cluster.peers[o].stop_cmd),
            timeout_ms: ms(s.stop_timeout),
            verify: format!("keepalived not running on {on}"),
        });
    }
    if !target_is_master {
        out.push(Step {
            kind: StepKind::WaitMaster { peer: t },
            description: format!("wait until {tn} is MASTER with {vip} on its NIC"),
            action: "watch the probes (state file, keepalived's JSON dump, ip -o addr)".into(),
            timeout_ms: ms(s.master_timeout),
            verify: format!(
                "{tn}: keepalived running, state file MASTER, keepalived's view MASTER, {vip} on {}",
                cluster.peers[t].interface
            ),
        });
    }
    out
}

/// The forced move of the binding, if any, then the wait for it.
fn cloud_steps(
    plan: &Plan,
    cluster: &ClusterConfig,
    bound_eni: Option<String>,
    t_eni: Option<String>,
    snap: &ClusterSnapshot,
    s: &Settings,
) -> Vec<Step> {
    let t = plan.target;
    let tn = &plan.peer_names[t];
    let vip = &plan.vip;
    let mut out = Vec::new();
    let flushed_before = snap
        .cloud
        .binding
        .as_ref()
        .and_then(|b| b.value.flushed_time);
    let binding_timeout = match cluster.mode {
        Mode::Eni => s.eni_binding_timeout,
        Mode::Havip => s.havip_binding_timeout,
    };
    match (plan.method, cluster.mode) {
        (Method::Forced, Mode::Eni) => {
            let from = bound_eni.unwrap_or_else(|| "?".into());
            let to = t_eni.unwrap_or_else(|| "?".into());
            out.push(Step {
                description: format!("move {vip} from {from} to {to} in the cloud"),
                action: format!(
                    "MigratePrivateIpAddress SourceNetworkInterfaceId={from} \
                     DestinationNetworkInterfaceId={to} PrivateIpAddress={vip}; \
                     poll DescribeVpcTaskResult"
                ),
                kind: StepKind::MigrateIp {
                    from_eni: from,
                    to_eni: to,
                },
                timeout_ms: ms(s.task_timeout),
                verify: "task SUCCESS (skipped when the binding already moved)".into(),
            });
        }
        (Method::Forced, Mode::Havip) => {
            let iface = &cluster.peers[t].interface;
            out.push(Step {
                kind: StepKind::Garp { peer: t },
                description: format!("announce {vip} from {tn} (gratuitous ARP)"),
                action: format!("{tn}$ {}", scripts::garp_command(iface, vip)),
                timeout_ms: 10_000,
                verify: "arping exits 0".into(),
            });
        }
        _ => {}
    }
    let how = match (plan.method, cluster.mode) {
        (Method::Graceful, Mode::Eni) => "the notify script's MigratePrivateIpAddress",
        (Method::Graceful, Mode::Havip) => "the VPC following keepalived's GARP",
        (Method::Forced, Mode::Eni) => "our migration",
        (Method::Forced, Mode::Havip) => "the VPC following our GARP",
    };
    out.push(Step {
        kind: StepKind::WaitBinding {
            peer: t,
            flushed_before: if cluster.mode == Mode::Havip {
                flushed_before
            } else {
                None
            },
        },
        description: format!("wait until the cloud binds {vip} to {tn} ({how})"),
        action: match cluster.mode {
            Mode::Eni => "poll DescribeNetworkInterfaces".into(),
            Mode::Havip => "poll DescribeHaVips".into(),
        },
        timeout_ms: ms(binding_timeout),
        verify: match cluster.mode {
            Mode::Eni => format!("{vip} is a private IP of {tn}'s ENI"),
            Mode::Havip => format!("the HAVIP is bound to {tn}'s ENI and FlushedTime moved"),
        },
    });
    out
}

/// Start the old master again and wait for it to be BACKUP.
fn restart_old_steps(plan: &Plan, cluster: &ClusterConfig, s: &Settings) -> Vec<Step> {
    let o = 1 - plan.target;
    let on = &plan.peer_names[o];
    let vip = &plan.vip;
    vec![
        Step {
            kind: StepKind::StartKeepalived { peer: o },
            description: format!("start keepalived on {on} again"),
            action: format!("{on}$ {}", cluster.peers[o].start_cmd),
            timeout_ms: ms(s.start_timeout),
            verify: format!("keepalived running on {on}"),
        },
        Step {
            kind: StepKind::WaitBackup { peer: o },
            description: format!("wait until {on} is BACKUP"),
            action: "watch the probes".into(),
            timeout_ms: ms(s.start_timeout),
            verify: format!("{on} is BACKUP without {vip} on its NIC"),
        },
    ]
}

fn verify_step(plan: &Plan) -> Step {
    let t = plan.target;
    let (tn, on) = (&plan.peer_names[t], &plan.peer_names[1 - t]);
    let vip = &plan.vip;
    Step {
        kind: StepKind::Verify,
        description: "verify the whole cluster".into(),
        action: "the dashboard's verdict on fresh facts".into(),
        timeout_ms: 15_000,
        verify: format!(
            "{tn} MASTER with {vip} on its NIC, cloud binding {tn}, {}",
            plan.other_after().words(on)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::*;

    #[test]
    fn graceful_on_a_healthy_cluster_runs_every_step_in_order() {
        let (c, cfg) = healthy("eni");
        let p = run(&c, &cfg, &request("n2"), &allowed());
        assert!(!p.blocked(), "{}", render(&p, Face::Cli));
        assert_eq!(p.source, Some(0));
        assert_eq!(p.target, 1);
        assert_eq!(
            kinds(&p),
            [
                "lock",
                "stop",
                "wait_master",
                "wait_binding",
                "start",
                "wait_backup",
                "verify",
                "unlock"
            ]
        );
        let stop = &p.steps[1];
        assert_eq!(stop.kind, StepKind::StopKeepalived { peer: 0 });
        assert_eq!(stop.action, "n1$ systemctl stop keepalived");
        assert!(p
            .steps
            .iter()
            .all(|s| s.timeout_ms > 0 && !s.verify.is_empty()));
        for id in [
            "target_reachable",
            "old_master_reachable",
            "target_keepalived_running",
            "target_state",
            "single_master",
            "configs_compatible",
            "cloud_reachable",
            "target_allowed",
            "lock",
            "recent_transition",
            "anti_flap",
        ] {
            assert_eq!(
                status(&p, id),
                CheckStatus::Pass,
                "{id}: {}",
                render(&p, Face::Cli)
            );
        }
        assert!(p.check("preempt_trap").is_none());
        let text = render(&p, Face::Cli);
        assert!(text.contains("n1 → n2, method graceful"), "{text}");
        assert!(!text.contains("BLOCKED"));
    }

    #[test]
    fn vip_drift_needs_force_and_then_only_the_binding_moves() {
        // n2 is VRRP master, the cloud still binds n1 (the notify script failed).
        let (mut c, cfg) = healthy("eni");
        seen(&mut c, 0, VrrpState::Backup, false);
        seen(&mut c, 1, VrrpState::Master, true);
        let p = run(&c, &cfg, &request("n2"), &allowed());
        let chk = p.check("target_state").expect("check");
        assert_eq!(chk.status, CheckStatus::Fail);
        // Each face names its own way to the forced move.
        assert!(render(&p, Face::Cli).contains("(move the binding with --force)"));
        assert!(render(&p, Face::Tui)
            .contains("(move the binding with F (forced move) on the dashboard)"));
        assert!(
            !render(&p, Face::Tui).contains("--"),
            "{}",
            render(&p, Face::Tui)
        );

        let p = run(&c, &cfg, &forced("n2"), &allowed());
        assert!(!p.blocked(), "{}", render(&p, Face::Cli));
        assert_eq!(p.source, None);
        assert_eq!(
            kinds(&p),
            ["lock", "migrate", "wait_binding", "verify", "unlock"]
        );
        match &p.steps[1].kind {
            StepKind::MigrateIp { from_eni, to_eni } => {
                assert_eq!((from_eni.as_str(), to_eni.as_str()), ("eni-1", "eni-2"))
            }
            other => panic!("{other:?}"),
        }
        assert!(p.steps[1].action.contains("MigratePrivateIpAddress"));
        assert!(
            render(&p, Face::Cli).contains("cloud binding on n1 → n2, method forced"),
            "{}",
            render(&p, Face::Cli)
        );
    }

    /// The usual drift: the old master's keepalived stopped, the new
    /// master's notify script failed. The forced repair moves only the
    /// binding, starts nothing, and verifies the old master still stopped.
    #[test]
    fn the_drift_repair_with_the_old_master_stopped_promises_it_stays_stopped() {
        let (mut c, cfg) = healthy("eni");
        seen(&mut c, 0, VrrpState::Stop, false);
        seen(&mut c, 1, VrrpState::Master, true);
        let p = run(&c, &cfg, &forced("n2"), &allowed());
        assert!(!p.blocked(), "{}", render(&p, Face::Cli));
        assert_eq!(
            kinds(&p),
            ["lock", "migrate", "wait_binding", "verify", "unlock"]
        );
        let chk = p.check("other_stopped").expect("check");
        assert_eq!(chk.status, CheckStatus::Warn);
        assert!(
            chk.reason
                .contains("n1: it stays stopped (no standby until it is started: n1$ systemctl start keepalived)"),
            "{}",
            chk.reason
        );
        assert_eq!(p.other_after(), OtherAfter::StillStopped);
        let verify = &p.steps[3].verify;
        assert_eq!(
            verify,
            "n2 MASTER with 192.0.2.10 on its NIC, cloud binding n2, n1 still stopped, as before"
        );
        // A running old master is promised BACKUP.
        seen(&mut c, 0, VrrpState::Backup, false);
        let p = run(&c, &cfg, &forced("n2"), &allowed());
        assert!(p.check("other_stopped").is_none());
        assert_eq!(p.other_after(), OtherAfter::Backup);
        assert!(p.steps[3].verify.ends_with("n1 BACKUP"));
    }

    #[test]
    fn forced_havip_announces_from_the_target_and_waits_for_flushed_time() {
        let flushed = now() - chrono::Duration::hours(1);
        let (mut c, cfg) = healthy("havip");
        bind(&mut c, "eni-1", Some(flushed));
        let p = run(&c, &cfg, &forced("n2"), &allowed());
        assert!(!p.blocked(), "{}", render(&p, Face::Cli));
        assert_eq!(
            kinds(&p),
            [
                "lock",
                "stop",
                "wait_master",
                "garp",
                "wait_binding",
                "start",
                "wait_backup",
                "verify",
                "unlock"
            ]
        );
        assert!(
            p.steps[3]
                .action
                .contains("arping -U -c 1 -I eth0 192.0.2.10"),
            "{}",
            p.steps[3].action
        );
        assert_eq!(
            p.steps[4].kind,
            StepKind::WaitBinding {
                peer: 1,
                flushed_before: Some(flushed)
            }
        );
        // Graceful HAVIP: no GARP of ours, still waits for FlushedTime.
        let p = run(&c, &cfg, &request("n2"), &allowed());
        assert!(!kinds(&p).contains(&"garp"));
        assert!(p.steps.iter().any(|s| s.verify.contains("FlushedTime")));
    }

    #[test]
    fn forced_eni_needs_the_api_and_both_enis() {
        let (mut c, mut cfg) = healthy("eni");
        c.cloud.error = Some(("AuthFailure.SecretIdNotFound".into(), now()));
        let p = run(&c, &cfg, &forced("n2"), &allowed());
        let chk = p.check("cloud_reachable").expect("check");
        assert!(chk.reason.contains("credentials"), "{}", chk.reason);
        assert!(!chk.overridable && p.blocked());
        // Graceful can go without the cloud when forced past it.
        let p = run(&c, &cfg, &request("n2"), &allowed());
        assert!(p.check("cloud_reachable").is_some_and(|c| c.overridable));
        assert!(p.blocked());
        let p = run(
            &c,
            &cfg,
            &overriding("n2", &["cloud_reachable"]),
            &allowed(),
        );
        assert!(!p.blocked());
        assert_eq!(p.overridden(), ["cloud_reachable"]);
        assert!(render(&p, Face::Cli).contains("OVERRIDDEN"));

        let (c, _) = healthy("eni");
        cfg.peers[1].network_interface_id = None;
        let p = run(&c, &cfg, &forced("n2"), &allowed());
        assert_eq!(status(&p, "eni_known"), CheckStatus::Fail);
    }
}
