//! The preflight checks: each looks at the plan's inputs with the target
//! known ([`Ctx`]) and passes, warns or fails (overridably or with a fix),
//! and the preempt trap decides whether the old master is left stopped.

use chrono::{DateTime, Utc};

use crate::core::config::ClusterConfig;
use crate::core::model::{ClusterSnapshot, ConfigSummary, Mode, Verdict, VrrpState};
use crate::core::pair;
use crate::core::verdict::Assessment;

use super::super::lock::LockView;
use super::{Check, CheckStatus, Fix, Gathered, Method, Request, Settings};

pub(super) struct Checks {
    pub(super) list: Vec<Check>,
    pub(super) overrides: Vec<String>,
}

impl Checks {
    pub(super) fn push(
        &mut self,
        id: &str,
        status: CheckStatus,
        reason: String,
        overridable: bool,
    ) {
        let overridden =
            status == CheckStatus::Fail && overridable && self.overrides.iter().any(|o| o == id);
        self.list.push(Check {
            id: id.to_string(),
            status,
            reason,
            overridable,
            overridden,
            fix: None,
        });
    }
    /// A failure that `fix` clears.
    pub(super) fn fail_fix(&mut self, id: &str, reason: String, fix: Fix) {
        self.push(id, CheckStatus::Fail, reason, false);
        if let Some(c) = self.list.last_mut() {
            c.fix = Some(fix);
        }
    }
    pub(super) fn pass(&mut self, id: &str, reason: String) {
        self.push(id, CheckStatus::Pass, reason, false);
    }
    pub(super) fn warn(&mut self, id: &str, reason: String) {
        self.push(id, CheckStatus::Warn, reason, false);
    }
    pub(super) fn fail(&mut self, id: &str, reason: String, overridable: bool) {
        self.push(id, CheckStatus::Fail, reason, overridable);
    }
}

fn ago(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    crate::core::humanize::duration((now - at).to_std().unwrap_or_default())
}

/// What the checks look at: the inputs of [`plan`], with the target known.
pub(super) struct Ctx<'a> {
    pub(super) snap: &'a ClusterSnapshot,
    pub(super) assessment: &'a Assessment,
    pub(super) cluster: &'a ClusterConfig,
    pub(super) request: &'a Request,
    pub(super) gathered: &'a Gathered,
    pub(super) settings: &'a Settings,
    pub(super) now: DateTime<Utc>,
    pub(super) names: [String; 2],
    /// The target and the other peer.
    pub(super) t: usize,
    pub(super) other: usize,
}

impl Ctx<'_> {
    pub(super) fn tname(&self) -> &str {
        &self.names[self.t]
    }
    pub(super) fn oname(&self) -> &str {
        &self.names[self.other]
    }
    /// Facts fresh enough to act on.
    fn fresh(&self, i: usize) -> bool {
        self.snap.peers[i]
            .reachable
            .as_ref()
            .is_some_and(|f| f.value && !f.is_stale(self.now, self.settings.facts_fresh))
    }
    fn conf(&self, i: usize) -> Option<&ConfigSummary> {
        self.snap.peers[i].config.as_ref().map(|f| &f.value)
    }
    fn unreachable_why(&self, i: usize) -> String {
        self.snap.peers[i]
            .error
            .clone()
            .unwrap_or_else(|| "no recent probe answer".into())
    }
    /// Forced ENI moves call the cloud API themselves.
    fn needs_api(&self) -> bool {
        self.request.method == Method::Forced && self.cluster.mode == Mode::Eni
    }
    pub(super) fn bound_eni(&self) -> Option<String> {
        self.snap
            .cloud
            .binding
            .as_ref()
            .and_then(|b| b.value.network_interface_id.clone())
    }
    pub(super) fn target_eni(&self) -> Option<String> {
        self.cluster.peers[self.t].network_interface_id.clone()
    }
}

/// Every check once the target is known, in the order they are shown;
/// then the preempt trap: whether the old master is left stopped, and
/// the note that says so.
pub(super) fn all(
    ctx: &Ctx,
    checks: &mut Checks,
    target_is_master: bool,
    stops_old: bool,
) -> (bool, Option<String>) {
    check_reachability(ctx, checks);
    check_target(ctx, checks);
    check_single_master(ctx, checks);
    check_configs(ctx, checks);
    check_cloud(ctx, checks);
    check_target_allowed(ctx, checks);
    check_lock(ctx, checks);
    check_maintenance(ctx, checks);
    check_flapping(ctx, checks, target_is_master);
    check_other_stopped(ctx, checks, target_is_master);
    preempt(ctx, checks, stops_old)
}

/// Both peers answer (the old master unless declared dead).
fn check_reachability(ctx: &Ctx, checks: &mut Checks) {
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
fn check_target(ctx: &Ctx, checks: &mut Checks) {
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
fn check_single_master(ctx: &Ctx, checks: &mut Checks) {
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
fn check_configs(ctx: &Ctx, checks: &mut Checks) {
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

/// The cloud: reachable with valid credentials.
fn check_cloud(ctx: &Ctx, checks: &mut Checks) {
    let needs_api = ctx.needs_api();
    match (&ctx.snap.cloud.error, &ctx.snap.cloud.binding) {
        (Some((e, _)), _) => {
            let creds = e.contains("AuthFailure") || e.contains("credential");
            let what = if creds {
                "the cloud refuses the credentials"
            } else {
                "the cloud API cannot be reached"
            };
            checks.fail(
                "cloud_reachable",
                format!(
                    "{what}: {e}{}",
                    if needs_api {
                        ""
                    } else {
                        "; the cloud binding could not be verified"
                    }
                ),
                !needs_api,
            );
        }
        (None, Some(b)) => checks.pass(
            "cloud_reachable",
            format!(
                "the cloud API answers (binding read {} ago)",
                ago(ctx.now, b.at)
            ),
        ),
        (None, None) => checks.fail(
            "cloud_reachable",
            "the cloud binding has not been read yet".into(),
            !needs_api,
        ),
    }
}

/// The target may hold the VIP; a forced ENI move knows both ENIs.
fn check_target_allowed(ctx: &Ctx, checks: &mut Checks) {
    let tname = ctx.tname();
    match &ctx.gathered.target_allowed {
        Some(Ok(())) => checks.pass(
            "target_allowed",
            match ctx.cluster.mode {
                Mode::Eni => format!("{tname}'s ENI is in the same subnet as the bound ENI"),
                Mode::Havip => format!("{tname} is inside the HAVIP's drift range"),
            },
        ),
        Some(Err(e)) => checks.fail("target_allowed", e.clone(), false),
        None => checks.warn(
            "target_allowed",
            "whether the cloud lets the target hold the VIP was not checked".into(),
        ),
    }
    if ctx.needs_api() {
        match (ctx.target_eni(), ctx.bound_eni()) {
            (Some(_), Some(_)) => {}
            (None, _) => checks.fail(
                "eni_known",
                format!("{tname} has no network_interface_id in the config"),
                false,
            ),
            (_, None) => checks.fail(
                "eni_known",
                "the cloud does not say which ENI holds the VIP".into(),
                false,
            ),
        }
    }
}

/// The failover lock on each peer.
/// Someone else's planned window on the cluster: the move is theirs to
/// make (`--override maintenance`); one's own window, or one past its
/// end, is said and does not block.
fn check_maintenance(ctx: &Ctx, checks: &mut Checks) {
    use crate::core::maintenance::{of_peers, ClusterMaintenance};
    // What was read right before planning, else what the watch said.
    let seen = [0, 1].map(|i| {
        ctx.gathered.maintenance[i]
            .as_ref()
            .or(ctx.snap.peers[i].maintenance.as_ref().map(|f| &f.value))
    });
    match of_peers(seen, ctx.now) {
        None => checks.pass("maintenance", "no maintenance window on the cluster".into()),
        Some(ClusterMaintenance::Window { marker, expired }) => {
            let what = marker.describe(ctx.now);
            if expired {
                checks.warn("maintenance", format!("a maintenance window {what}"));
            } else if !ctx.gathered.operator.is_empty() && marker.by == ctx.gathered.operator {
                checks.pass("maintenance", format!("your own maintenance window {what}"));
            } else {
                checks.fail(
                    "maintenance",
                    format!("inside someone else's maintenance window {what}"),
                    true,
                );
            }
        }
        Some(ClusterMaintenance::Suspect { peer, why, .. }) => checks.warn(
            "maintenance",
            format!(
                "a maintenance marker on {} is not believed ({why})",
                ctx.names[peer]
            ),
        ),
    }
}

fn check_lock(ctx: &Ctx, checks: &mut Checks) {
    let (names, now) = (&ctx.names, ctx.now);
    let mut lock_ok = true;
    for (i, l) in ctx.gathered.locks.iter().enumerate() {
        match l {
            LockView::Free => {}
            LockView::Held(info) if info.dated_ahead(now).is_some() => {
                lock_ok = false;
                let ahead = info.dated_ahead(now).unwrap_or_default();
                checks.fail(
                    "lock_stale",
                    format!(
                        "a suspect failover lock on {}: dated {} in the future, so never stale: {}",
                        names[i],
                        crate::core::humanize::duration(ahead),
                        info.describe(now)
                    ),
                    true,
                );
            }
            LockView::Suspect(s) => {
                lock_ok = false;
                let says = if s.says.is_empty() {
                    String::new()
                } else {
                    format!("; it says: {}", s.says)
                };
                checks.fail(
                    "lock_stale",
                    format!(
                        "a suspect failover lock on {}: {}{says} (not believed)",
                        names[i], s.why
                    ),
                    true,
                );
            }
            LockView::Held(info) => {
                lock_ok = false;
                let age = info.age(now);
                if age > ctx.settings.lock_stale_after {
                    checks.fail(
                        "lock_stale",
                        format!(
                            "a stale failover lock on {}: {} (older than {})",
                            names[i],
                            info.describe(now),
                            crate::core::humanize::duration(ctx.settings.lock_stale_after)
                        ),
                        true,
                    );
                } else {
                    checks.fail(
                        "lock",
                        format!(
                            "another failover is in progress: {} (lock on {})",
                            info.describe(now),
                            names[i]
                        ),
                        false,
                    );
                }
            }
            LockView::Abandoned(info) => {
                lock_ok = false;
                checks.warn(
                    "lock",
                    format!(
                        "a lock on {} left by a vipdeck that is gone ({}): it will be taken over",
                        names[i],
                        info.describe(now)
                    ),
                );
            }
            LockView::Unknown(e) => {
                lock_ok = false;
                checks.warn("lock", format!("lock on {} not read: {e}", names[i]));
            }
            LockView::Denied(e) => {
                lock_ok = false;
                checks.fail("lock", format!("lock on {}: {e}", names[i]), false);
            }
        }
    }
    if lock_ok {
        checks.pass(
            "lock",
            "no other vipdeck failover holds this cluster".into(),
        );
    }
}

/// Flapping (a very recent VRRP transition) and the anti-flap window (a
/// failover of this cluster not long ago). Binding the VIP to the peer that
/// is already MASTER (a drift repair) moves no VRRP role: not a flap.
fn check_flapping(ctx: &Ctx, checks: &mut Checks, target_is_master: bool) {
    let (now, settings) = (ctx.now, ctx.settings);
    let last_transition = ctx
        .snap
        .peers
        .iter()
        .filter_map(|f| f.last_transition)
        .max();
    match last_transition {
        Some(at) if (now - at).to_std().unwrap_or_default() < settings.recent_transition => checks
            .warn(
                "recent_transition",
                format!(
                    "the last VRRP transition was {} ago: the cluster may be flapping",
                    ago(now, at)
                ),
            ),
        _ => checks.pass("recent_transition", "no very recent VRRP transition".into()),
    }
    let damage = ctx
        .gathered
        .audit_damage
        .as_deref()
        .map(|d| format!("; {d}"))
        .unwrap_or_default();
    match ctx.gathered.last_failover {
        Some(at)
            if target_is_master
                && (now - at).to_std().unwrap_or_default() < settings.flap_window =>
        {
            checks.pass(
                "anti_flap",
                format!(
                    "{} is already MASTER: binding the VIP to it is no VRRP transition, \
                     not a flap (the last failover was {} ago){damage}",
                    ctx.tname(),
                    ago(now, at)
                ),
            )
        }
        Some(at) if (now - at).to_std().unwrap_or_default() < settings.flap_window => checks.fail(
            "anti_flap",
            format!(
                "this cluster was failed over {} ago (anti-flap window {}){damage}",
                ago(now, at),
                crate::core::humanize::duration(settings.flap_window)
            ),
            true,
        ),
        _ => checks.pass(
            "anti_flap",
            format!("no failover of this cluster within the anti-flap window{damage}"),
        ),
    }
}

/// The other peer's keepalived already stopped (the usual reason for a
/// drift the forced move repairs): nothing in the plan starts it, so the
/// move leaves it stopped, as it was, and verifies it so.
fn check_other_stopped(ctx: &Ctx, checks: &mut Checks, target_is_master: bool) {
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
fn preempt(ctx: &Ctx, checks: &mut Checks, stops_old: bool) -> (bool, Option<String>) {
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
    use super::super::testkit::*;
    use super::super::*;
    use crate::core::model::{Fact, PeerObservation, Witness};
    use crate::core::verdict::{assess, Thresholds};
    use crate::failover::lock::LockInfo;
    use chrono::TimeZone;

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

    #[test]
    fn a_target_outside_the_subnet_or_drift_range_blocks() {
        let (c, cfg) = healthy("eni");
        let g = Gathered {
            target_allowed: Some(Err("eni-2 is in subnet-b".into())),
            ..Default::default()
        };
        let p = run(&c, &cfg, &forced("n2"), &g);
        assert_eq!(status(&p, "target_allowed"), CheckStatus::Fail);
        assert!(p.blocked());
        let p = run(&c, &cfg, &request("n2"), &Gathered::default());
        assert_eq!(status(&p, "target_allowed"), CheckStatus::Warn);
        assert!(!p.blocked());
    }

    #[test]
    fn a_held_lock_refuses_and_names_the_holder_a_stale_one_is_overridable() {
        let (c, cfg) = healthy("eni");
        let holder = LockInfo {
            owner: "alice@bastion".into(),
            host: "bastion".into(),
            pid: 4242,
            started: now() - chrono::Duration::seconds(20),
            token: "t".into(),
            machine_id: String::new(),
            boot_id: String::new(),
            proc_start: 0,
        };
        let g = Gathered {
            locks: [LockView::Held(holder.clone()), LockView::Free],
            ..allowed()
        };
        let p = run(&c, &cfg, &forced("n2"), &g);
        let chk = p.check("lock").expect("check");
        assert!(
            chk.reason.contains("alice@bastion") && chk.reason.contains("4242"),
            "{}",
            chk.reason
        );
        assert!(!chk.overridable && p.blocked());

        let stale = LockInfo {
            started: now() - chrono::Duration::hours(2),
            ..holder
        };
        let g = Gathered {
            locks: [LockView::Free, LockView::Held(stale)],
            ..allowed()
        };
        let p = run(&c, &cfg, &request("n2"), &g);
        let chk = p.check("lock_stale").expect("check");
        assert!(chk.reason.contains("stale") && chk.overridable);
        assert!(p.blocked());
        assert!(render(&p, Face::Cli).contains("(--override lock_stale overrides it)"));
        // The forced move overrides nothing.
        assert!(run(&c, &cfg, &forced("n2"), &g).blocked());
        let p = run(&c, &cfg, &overriding("n2", &["lock_stale"]), &g);
        assert!(!p.blocked());
        assert_eq!(p.overridden(), ["lock_stale"]);
    }

    /// M6: a lock dated in the future was never stale, so it blocked
    /// every failover and `--override lock_stale` did not help; its text
    /// reached the plan raw, so an escape and a newline in it forged a
    /// line. A future date (beyond a small clock skew) is suspect and
    /// overridable as a stale lock; what the lock says is shown clean.
    #[test]
    fn a_lock_dated_in_the_future_is_suspect_overridable_and_shown_clean() {
        let (c, cfg) = healthy("eni");
        let forged = LockInfo {
            owner: "mallory\u{1b}[2K\r\n  [PASS] lock                       no lock".into(),
            host: "h\u{1b}]0;owned\u{7}".into(),
            pid: 1,
            started: chrono::Utc
                .with_ymd_and_hms(2099, 1, 1, 0, 0, 0)
                .single()
                .expect("time"),
            token: "t".into(),
            machine_id: String::new(),
            boot_id: String::new(),
            proc_start: 0,
        };
        let g = Gathered {
            locks: [LockView::Held(forged.clone()), LockView::Free],
            ..allowed()
        };
        let p = run(&c, &cfg, &request("n2"), &g);
        assert!(p.blocked());
        let chk = p.check("lock_stale").expect("a lock_stale check");
        assert!(chk.overridable, "{chk:?}");
        assert!(chk.reason.contains("future"), "{}", chk.reason);
        let text = render(&p, Face::Cli);
        assert!(
            !text
                .chars()
                .any(|ch| ch == '\u{1b}' || ch == '\r' || ch == '\u{7}'),
            "{text:?}"
        );
        assert!(
            !text
                .lines()
                .any(|l| l.trim_start().starts_with("[PASS] lock ")),
            "a forged line: {text}"
        );
        let p = run(&c, &cfg, &overriding("n2", &["lock_stale"]), &g);
        assert!(!p.blocked(), "{}", render(&p, Face::Cli));
        // A few seconds ahead is a clock, not a forgery.
        let skewed = LockInfo {
            started: now() + chrono::Duration::seconds(5),
            owner: "alice@bastion".into(),
            host: "bastion".into(),
            ..forged
        };
        let g = Gathered {
            locks: [LockView::Held(skewed), LockView::Free],
            ..allowed()
        };
        let p = run(&c, &cfg, &request("n2"), &g);
        assert!(p.check("lock_stale").is_none());
        assert!(!p.check("lock").expect("lock").overridable);
    }

    #[test]
    fn a_lock_left_by_a_dead_vipdeck_on_this_host_is_taken_over() {
        let (c, cfg) = healthy("eni");
        let gone = LockInfo {
            owner: "ops@desk".into(),
            host: "desk".into(),
            pid: 99,
            started: now() - chrono::Duration::minutes(1),
            token: "t".into(),
            machine_id: String::new(),
            boot_id: String::new(),
            proc_start: 0,
        };
        let g = Gathered {
            locks: [LockView::Abandoned(gone), LockView::Free],
            ..allowed()
        };
        let p = run(&c, &cfg, &request("n2"), &g);
        let chk = p.check("lock").expect("check");
        assert_eq!(chk.status, CheckStatus::Warn);
        assert!(chk.reason.contains("taken over"), "{}", chk.reason);
        assert!(!p.blocked());
    }

    #[test]
    fn a_recent_transition_warns() {
        let (mut c, cfg) = healthy("eni");
        c.peers[1].last_transition = Some(now() - chrono::Duration::seconds(12));
        let p = run(&c, &cfg, &request("n2"), &allowed());
        let chk = p.check("recent_transition").expect("check");
        assert!(
            chk.status == CheckStatus::Warn && chk.reason.contains("12s"),
            "{}",
            chk.reason
        );
        assert!(!p.blocked());
    }

    #[test]
    fn rebinding_the_vip_to_the_current_master_is_not_a_flap() {
        // A failover three minutes ago, then drift: n2 is MASTER, the cloud
        // still binds n1. Repairing the binding moves no VRRP role.
        let (mut c, cfg) = healthy("eni");
        seen(&mut c, 0, VrrpState::Backup, false);
        seen(&mut c, 1, VrrpState::Master, true);
        let g = Gathered {
            last_failover: Some(now() - chrono::Duration::minutes(3)),
            ..allowed()
        };
        let p = run(&c, &cfg, &forced("n2"), &g);
        let chk = p.check("anti_flap").expect("check");
        assert_eq!(chk.status, CheckStatus::Pass, "{}", render(&p, Face::Cli));
        assert!(chk.reason.contains("not a flap"), "{}", chk.reason);
        assert!(chk.reason.contains("3m00s"), "{}", chk.reason);
        assert!(!p.blocked(), "{}", render(&p, Face::Cli));
        // Moving the MASTER role back within the window still needs the
        // override.
        let p = run(&c, &cfg, &request("n1"), &g);
        assert_eq!(status(&p, "anti_flap"), CheckStatus::Fail);
    }

    #[test]
    fn a_second_failover_within_the_window_needs_the_override() {
        let (c, cfg) = healthy("eni");
        let g = Gathered {
            last_failover: Some(now() - chrono::Duration::minutes(3)),
            ..allowed()
        };
        let p = run(&c, &cfg, &request("n2"), &g);
        let chk = p.check("anti_flap").expect("check");
        assert!(chk.status == CheckStatus::Fail && chk.overridable && chk.reason.contains("3m00s"));
        assert!(p.blocked());
        assert!(render(&p, Face::Cli).contains("(--override anti_flap overrides it)"));
        // Failing checks come first, before the ones that pass.
        let text = render(&p, Face::Cli);
        let at = |id: &str| text.find(&format!("] {id} ")).unwrap_or(usize::MAX);
        assert!(at("anti_flap") < at("target_known"), "{text}");
        assert!(render(&p, Face::Tui).contains("(Space on anti_flap in the wizard's overrides"));
        // The forced move is a method, not an override.
        let p = run(&c, &cfg, &forced("n2"), &g);
        assert!(p.blocked() && p.overridden().is_empty());
        // A graceful move with the check overridden, nothing else.
        let p = run(
            &c,
            &cfg,
            &overriding("n2", &["anti_flap", "lock_stale"]),
            &g,
        );
        assert!(!p.blocked());
        assert_eq!(p.method, Method::Graceful);
        assert_eq!(p.overridden(), ["anti_flap"]);
        assert!(render(&p, Face::Cli).contains("Overridden: anti_flap"));
        let g = Gathered {
            last_failover: Some(now() - chrono::Duration::minutes(30)),
            ..allowed()
        };
        let p = run(&c, &cfg, &request("n2"), &g);
        assert_eq!(status(&p, "anti_flap"), CheckStatus::Pass);
    }

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

    /// Issue #28: a failover inside someone else's maintenance window is
    /// refused and says whose, unless `--override maintenance`; one's own
    /// window, or an expired one, does not block.
    #[test]
    fn someone_elses_maintenance_window_blocks_unless_overridden() {
        use crate::core::maintenance::{MaintenanceMarker, MarkerSeen};
        let (mut c, cfg) = healthy("eni");
        let marker = MaintenanceMarker {
            by: "alice@bastion".into(),
            reason: "kernel update".into(),
            peer: Some("n1".into()),
            started: now() - chrono::Duration::minutes(10),
            until: now() + chrono::Duration::minutes(50),
            token: "t".into(),
            silence_id: None,
        };
        let window = |m: &MaintenanceMarker| {
            Some(Fact::new(
                MarkerSeen::Window(Box::new(m.clone())),
                now(),
                Witness::Probe,
            ))
        };
        let p = run(&c, &cfg, &request("n2"), &allowed());
        assert_eq!(status(&p, "maintenance"), CheckStatus::Pass);
        c.peers[1].maintenance = window(&marker);
        let g = Gathered {
            operator: "bob@desk".into(),
            ..allowed()
        };
        let p = run(&c, &cfg, &request("n2"), &g);
        let chk = p.check("maintenance").expect("check");
        assert_eq!(chk.status, CheckStatus::Fail);
        assert!(chk.overridable && p.blocked(), "{chk:?}");
        assert!(
            chk.reason.contains("alice@bastion") && chk.reason.contains("kernel update"),
            "{}",
            chk.reason
        );
        let p = run(&c, &cfg, &overriding("n2", &["maintenance"]), &g);
        assert!(p.check("maintenance").is_some_and(|c| c.overridden));
        assert!(!p.blocked());
        let mine = Gathered {
            operator: "alice@bastion".into(),
            ..allowed()
        };
        let p = run(&c, &cfg, &request("n2"), &mine);
        assert_eq!(status(&p, "maintenance"), CheckStatus::Pass);
        let expired = MaintenanceMarker {
            until: now() - chrono::Duration::minutes(1),
            ..marker
        };
        c.peers[1].maintenance = window(&expired);
        let p = run(&c, &cfg, &request("n2"), &g);
        assert_eq!(status(&p, "maintenance"), CheckStatus::Warn);
        assert!(!p.blocked());
    }
}
