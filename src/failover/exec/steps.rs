//! The steps: one function per step kind ([`StepKind`]), each acting
//! through the hands and waiting, bounded, on the watched cluster; and the
//! pure checks those waits ask (`master_check`, `binding_check`,
//! `verify_check`).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::core::model::{ClusterSnapshot, Mode, VrrpState};
use crate::core::verdict::Assessment;

use super::super::hands::PeerAction;
use super::super::plan::{Plan, Step, StepKind};
use super::{Executor, LockHandle, RunState, StepError, Ui, Wait};

impl Executor {
    /// Runs one step of the plan.
    pub(super) async fn run_step(
        &mut self,
        plan: &Plan,
        lock: &LockHandle,
        step: &Step,
        at: DateTime<Utc>,
        run: &mut RunState,
        ui: &mut dyn Ui,
    ) -> Result<String, StepError> {
        match &step.kind {
            StepKind::AcquireLock => self.step_recheck(plan, lock).await,
            StepKind::StopKeepalived { peer } => {
                run.started_any = true;
                run.moved_at.get_or_insert(at);
                // Counted as stopped from here: even a timed-out stop may have worked.
                run.old_stopped = true;
                self.step_stop(*peer, step.timeout(), at, ui).await
            }
            StepKind::WaitMaster { peer } => {
                self.step_wait_master(*peer, plan.old_master_dead, step.timeout(), ui)
                    .await
            }
            StepKind::MigrateIp { to_eni, .. } => {
                run.started_any = true;
                run.moved_at.get_or_insert(at);
                self.step_migrate(plan, to_eni, step.timeout()).await
            }
            StepKind::Garp { peer } => {
                run.started_any = true;
                run.moved_at.get_or_insert(at);
                self.step_garp(*peer, &plan.vip, step.timeout()).await
            }
            StepKind::WaitBinding {
                peer,
                flushed_before,
            } => {
                // An answer from after the move began counts: the cloud
                // may have followed while keepalived was stopping.
                let since = run.moved_at.unwrap_or(at);
                let r = self
                    .step_wait_binding(*peer, since, *flushed_before, step.timeout(), ui)
                    .await;
                if r.is_ok() {
                    run.bound_at = Some(Instant::now());
                }
                r
            }
            StepKind::StartKeepalived { peer } => {
                run.old_restarted = true;
                self.start_keepalived(*peer, step.timeout(), ui).await
            }
            StepKind::WaitBackup { peer } => self.step_wait_backup(*peer, step.timeout(), ui).await,
            StepKind::Verify => {
                let expect_other = plan.other_after().expect();
                let r = self
                    .step_verify(plan.target, expect_other, step.timeout(), ui)
                    .await;
                if r.is_ok() {
                    run.verified_at = Some(Instant::now());
                }
                r
            }
            StepKind::ReleaseLock => Ok(String::new()),
        }
    }

    /// The lock is held: re-check under it, so nothing stale is acted on.
    async fn step_recheck(&mut self, plan: &Plan, lock: &LockHandle) -> Result<String, StepError> {
        let on: Vec<String> = (0..2)
            .filter(|&i| lock.held[i])
            .map(|i| self.peer_name(i))
            .collect();
        self.still_valid(plan).await.map_err(StepError::Stale)?;
        Ok(format!(
            "lock held on {} since {}; the plan still fits fresh facts",
            on.join(" and "),
            lock.since.format("%H:%M:%S")
        ))
    }

    /// Stops keepalived on `p` and waits until it is seen stopped.
    async fn step_stop(
        &mut self,
        p: usize,
        timeout: Duration,
        asked: DateTime<Utc>,
        ui: &mut dyn Ui,
    ) -> Result<String, StepError> {
        let cmd = self.cluster.peers[p].stop_cmd.clone();
        let out = self.run_command(p, PeerAction::Stop, &cmd, timeout).await?;
        // Both: the target's takeover is the next step's fact.
        self.observe([true, true]).await;
        let name = self.peer_name(p);
        self.wait(Duration::from_secs(10), ui, |c, a, _| {
            let f = &c.peers[p];
            // The process table, or the notify script's STOP written after we asked.
            let stopped = f.keepalived_running.as_ref().is_some_and(|x| !x.value)
                || (a.peers[p].state == VrrpState::Stop
                    && f.state_file_since.is_some_and(|t| t >= asked));
            if stopped {
                Wait::Done(with_output(format!("keepalived stopped on {name}"), &out))
            } else {
                Wait::Pending(format!("{name}: keepalived still running"))
            }
        })
        .await
    }

    async fn step_wait_master(
        &mut self,
        p: usize,
        old_dead: bool,
        timeout: Duration,
        ui: &mut dyn Ui,
    ) -> Result<String, StepError> {
        let names = [self.peer_name(0), self.peer_name(1)];
        self.wait(timeout, ui, |c, a, now| {
            master_check(c, a, now, p, &names, old_dead)
        })
        .await
    }

    /// Re-announces the VIP from `p` (forced HAVIP move).
    async fn step_garp(
        &mut self,
        p: usize,
        vip: &str,
        timeout: Duration,
    ) -> Result<String, StepError> {
        let act = PeerAction::Garp {
            vip: vip.to_string(),
        };
        match self.run_on(p, act, timeout).await {
            Ok((out, 0)) => Ok(format!("GARP sent: {}", last_line(&out))),
            Ok((out, code)) => Err(StepError::Arping {
                code,
                out: last_line(&out),
            }),
            Err(e) => Err(StepError::ArpingNotRun(e)),
        }
    }

    async fn step_wait_binding(
        &mut self,
        p: usize,
        since: DateTime<Utc>,
        flushed_before: Option<DateTime<Utc>>,
        timeout: Duration,
        ui: &mut dyn Ui,
    ) -> Result<String, StepError> {
        let mode = self.cluster.mode;
        let names = [self.peer_name(0), self.peer_name(1)];
        self.ask_cloud = self.hands.has_cloud();
        let r = self
            .wait(timeout, ui, |c, a, _| {
                binding_check(c, a, p, since, flushed_before, mode, &names)
            })
            .await;
        self.ask_cloud = false;
        r
    }

    async fn step_wait_backup(
        &mut self,
        p: usize,
        timeout: Duration,
        ui: &mut dyn Ui,
    ) -> Result<String, StepError> {
        let name = self.peer_name(p);
        let other = self.peer_name(1 - p);
        self.wait(timeout, ui, |c, a, _| {
            let v = a.peers[p];
            let vip = c.peers[p].vip_on_nic.as_ref().map(|f| f.value);
            match v.state {
                VrrpState::Backup if vip == Some(false) && v.visible => {
                    Wait::Done(format!("{name} is BACKUP"))
                }
                VrrpState::Master if v.visible => Wait::Fail(format!(
                    "{name} became MASTER again and took the VIP back from {other}"
                )),
                s => Wait::Pending(format!("{name} is {s}")),
            }
        })
        .await
    }

    async fn step_verify(
        &mut self,
        t: usize,
        expect_other: Option<VrrpState>,
        timeout: Duration,
        ui: &mut dyn Ui,
    ) -> Result<String, StepError> {
        let names = [self.peer_name(0), self.peer_name(1)];
        self.wait(timeout, ui, |c, a, now| {
            verify_check(c, a, now, t, expect_other, &names)
        })
        .await
    }

    /// Runs a command (`cmd`, as the plan shows it) that must exit 0;
    /// its output.
    async fn run_command(
        &mut self,
        p: usize,
        act: PeerAction,
        cmd: &str,
        timeout: Duration,
    ) -> Result<String, StepError> {
        match self.run_on(p, act, timeout).await {
            Ok((out, 0)) => Ok(out),
            Ok((out, code)) => Err(StepError::Exited {
                cmd: cmd.to_string(),
                code,
                out: out.trim().to_string(),
            }),
            Err(error) => Err(StepError::NotRun {
                cmd: cmd.to_string(),
                error,
            }),
        }
    }

    pub(super) async fn start_keepalived(
        &mut self,
        p: usize,
        timeout: Duration,
        ui: &mut dyn Ui,
    ) -> Result<String, StepError> {
        let cmd = self.cluster.peers[p].start_cmd.clone();
        let out = self
            .run_command(p, PeerAction::Start, &cmd, timeout)
            .await?;
        let name = self.peer_name(p);
        let asked = Utc::now();
        self.observe([p == 0, p == 1]).await;
        self.wait(Duration::from_secs(10), ui, |c, _, _| {
            match c.peers[p].keepalived_running.as_ref() {
                Some(f) if f.value && f.at >= asked => {
                    Wait::Done(with_output(format!("keepalived running on {name}"), &out))
                }
                _ => Wait::Pending(format!("{name}: waiting for keepalived to run")),
            }
        })
        .await
    }

    /// Forced ENI move: skipped when the binding already is the target
    /// (the notify script was faster); a concurrent migration is waited out.
    async fn step_migrate(
        &mut self,
        plan: &Plan,
        to_eni: &str,
        timeout: Duration,
    ) -> Result<String, StepError> {
        if let Some(e) = self.hands.cloud_error() {
            return Err(StepError::NoCloud(e));
        }
        let client = &self.hands;
        let spec = self.cluster.spec();
        let fresh = client
            .binding(&spec)
            .await
            .map_err(|e| StepError::Cloud(e.text))?;
        let from = match fresh.network_interface_id.as_deref() {
            Some(id) if id == to_eni => {
                return Ok(format!(
                    "{} is already on {to_eni}: nothing to migrate",
                    plan.vip
                ))
            }
            Some(id) => id.to_string(),
            None => {
                return Err(StepError::Cloud(format!(
                    "the cloud does not say which ENI holds {}",
                    plan.vip
                )))
            }
        };
        let request_id = match client.migrate(&from, to_eni, &plan.vip).await {
            Ok(id) => id,
            Err(e)
                if e.code.as_deref() == Some("UnsupportedOperation.MutexOperationTaskRunning") =>
            {
                if let Some(id) = e.request_id {
                    self.request_ids.push(id);
                }
                return Ok(format!("another migration of {} is running (the notify script): waiting for the binding", plan.vip));
            }
            Err(e) => {
                if let Some(id) = e.request_id {
                    self.request_ids.push(id);
                }
                return Err(StepError::Cloud(format!(
                    "MigratePrivateIpAddress {from} → {to_eni}: {}",
                    e.text
                )));
            }
        };
        self.request_ids.push(request_id.clone());
        match self
            .hands
            .wait_task(&request_id, &spec, to_eni, timeout)
            .await
        {
            Ok((true, _)) => Ok(format!(
                "MigratePrivateIpAddress {from} → {to_eni}: SUCCESS (RequestId {request_id})"
            )),
            Ok((false, output)) => Err(StepError::Cloud(format!(
                "MigratePrivateIpAddress {from} → {to_eni}: task FAILED (RequestId {request_id}){}",
                output.map(|o| format!(": {o}")).unwrap_or_default()
            ))),
            Err(e) => Err(StepError::Cloud(format!(
                "MigratePrivateIpAddress (RequestId {request_id}): {}",
                e.text
            ))),
        }
    }
}

fn master_check(
    c: &ClusterSnapshot,
    a: &Assessment,
    _now: DateTime<Utc>,
    p: usize,
    names: &[String; 2],
    old_dead: bool,
) -> Wait {
    let f = &c.peers[p];
    let name = &names[p];
    let running = f.keepalived_running.as_ref().map(|x| x.value);
    if running == Some(false) {
        return Wait::Fail(format!(
            "keepalived on {name} is not running: it cannot take over"
        ));
    }
    if a.peers[p].state == VrrpState::Fault {
        return Wait::Fail(format!("{name} went FAULT"));
    }
    let o = 1 - p;
    if !old_dead
        && a.peers[o].visible
        && a.peers[o].state == VrrpState::Master
        && c.peers[o]
            .keepalived_running
            .as_ref()
            .is_some_and(|x| x.value)
    {
        return Wait::Pending(format!("{} is still MASTER", names[o]));
    }
    let file = f.state_file.as_ref().map(|x| x.value);
    // keepalived's own view, when it has given one since the state changed.
    let dump_ok = match (&f.keepalived_state, f.state_file_since) {
        (None, _) => true,
        (Some(d), Some(since)) => d.at >= since && d.value == VrrpState::Master,
        (Some(d), None) => d.value == VrrpState::Master,
    };
    let vip = f.vip_on_nic.as_ref().map(|x| x.value);
    match (file, dump_ok, vip, a.peers[p].visible) {
        (Some(VrrpState::Master), true, Some(true), true) => Wait::Done(format!(
            "{name} is MASTER (state file and keepalived) with the VIP on its NIC"
        )),
        _ => Wait::Pending(format!(
            "{name}: state file {}, keepalived {}, VIP on NIC {}",
            file.map(|s| s.as_str()).unwrap_or("?"),
            f.keepalived_state
                .as_ref()
                .map(|d| d.value.as_str())
                .unwrap_or("?"),
            match vip {
                Some(true) => "yes",
                Some(false) => "no",
                None => "?",
            }
        )),
    }
}

fn binding_check(
    c: &ClusterSnapshot,
    a: &Assessment,
    p: usize,
    since: DateTime<Utc>,
    flushed_before: Option<DateTime<Utc>>,
    mode: Mode,
    names: &[String; 2],
) -> Wait {
    let name = &names[p];
    // The target must stay MASTER while the cloud catches up.
    if c.peers[p]
        .keepalived_running
        .as_ref()
        .is_some_and(|f| !f.value)
    {
        return Wait::Fail(format!(
            "keepalived on {name} stopped while waiting for the cloud"
        ));
    }
    // A witness lagging behind the takeover (a dump asked before it, read
    // after) is not the target going back: while its own notify script's
    // state file still says MASTER, the wait goes on (the verification
    // step judges the whole cluster after).
    let file_says_master = c.peers[p]
        .state_file
        .as_ref()
        .is_some_and(|f| f.value == VrrpState::Master);
    if a.peers[p].visible && a.peers[p].state != VrrpState::Master && !file_says_master {
        return Wait::Fail(format!(
            "{name} is {} again while waiting for the cloud",
            a.peers[p].state
        ));
    }
    let Some(b) = &c.cloud.binding else {
        return Wait::Pending("no cloud binding read yet".into());
    };
    if b.at < since {
        return Wait::Pending("waiting for a fresh cloud answer".into());
    }
    let on = c.spec.peer_of_binding(&b.value);
    let on_name = on.map(|i| names[i].as_str()).unwrap_or("neither peer");
    if on != Some(p) {
        return Wait::Pending(format!("the cloud binds the VIP to {on_name}"));
    }
    if mode == Mode::Havip {
        if b.value.state.as_deref() != Some("AVAILABLE") {
            return Wait::Pending(format!(
                "HAVIP state {}",
                b.value.state.as_deref().unwrap_or("?")
            ));
        }
        match (flushed_before, b.value.flushed_time) {
            (Some(before), Some(now)) if now <= before => {
                return Wait::Pending("FlushedTime has not moved yet".into())
            }
            (_, None) => return Wait::Pending("no FlushedTime yet".into()),
            _ => {}
        }
        return Wait::Done(format!(
            "HAVIP bound to {name} (FlushedTime {})",
            b.value
                .flushed_time
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        ));
    }
    Wait::Done(format!("the cloud binds the VIP to {name}"))
}

pub(super) fn verify_check(
    c: &ClusterSnapshot,
    a: &Assessment,
    now: DateTime<Utc>,
    t: usize,
    expect_other: Option<VrrpState>,
    names: &[String; 2],
) -> Wait {
    let o = 1 - t;
    let fresh = |i: usize| {
        c.peers[i]
            .reachable
            .as_ref()
            .is_some_and(|f| f.value && f.age(now) < Duration::from_secs(3))
    };
    if a.master == Some(o) {
        return Wait::Fail(format!("{} is MASTER, not {}", names[o], names[t]));
    }
    let mut missing = Vec::new();
    if !fresh(t) {
        missing.push(format!("fresh facts from {}", names[t]));
    }
    if a.master != Some(t) {
        missing.push(format!("{} MASTER", names[t]));
    }
    if c.peers[t].vip_on_nic.as_ref().map(|f| f.value) != Some(true) {
        missing.push(format!("VIP on {}'s NIC", names[t]));
    }
    if a.vip_bound_to != Some(t) {
        missing.push(format!("cloud binding {}", names[t]));
    }
    if let Some(want) = expect_other {
        if !fresh(o) {
            missing.push(format!("fresh facts from {}", names[o]));
        } else if a.peers[o].state != want
            // A stopped peer started meanwhile is no worse as BACKUP.
            && !(want == VrrpState::Stop && a.peers[o].state == VrrpState::Backup)
        {
            missing.push(format!("{} {want} (is {})", names[o], a.peers[o].state));
        }
        if c.peers[o].vip_on_nic.as_ref().map(|f| f.value) == Some(true) {
            missing.push(format!("VIP gone from {}'s NIC", names[o]));
        }
    }
    if missing.is_empty() {
        Wait::Done("every witness agrees, on facts under 3s old".to_string())
    } else {
        Wait::Pending(format!("waiting for: {}", missing.join(", ")))
    }
}

/// `what`, and what the command printed after a colon when it printed
/// something.
fn with_output(what: String, out: &str) -> String {
    match out.trim() {
        "" => what,
        o => format!("{what}: {o}"),
    }
}

fn last_line(s: &str) -> String {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{bind, cluster, done, judge, names, now, seen};
    use super::*;
    use crate::core::model::Fact;
    use crate::core::model::Witness;

    #[test]
    fn master_needs_the_state_file_keepalived_and_the_vip() {
        let mut c = cluster(Mode::Eni);
        seen(&mut c, 0, VrrpState::Stop, false, false);
        seen(&mut c, 1, VrrpState::Master, false, true);
        let w = master_check(&c, &judge(&c), now(), 1, &names(), false);
        assert!(matches!(w, Wait::Pending(ref s) if s.contains("VIP on NIC no")));
        seen(&mut c, 1, VrrpState::Master, true, true);
        // keepalived's dump taken before the state changed does not count.
        c.peers[1].keepalived_state = Some(Fact::new(
            VrrpState::Backup,
            now() - chrono::Duration::seconds(5),
            Witness::KeepalivedDump,
        ));
        assert!(done(master_check(&c, &judge(&c), now(), 1, &names(), false)).is_err());
        c.peers[1].keepalived_state =
            Some(Fact::new(VrrpState::Master, now(), Witness::KeepalivedDump));
        let s = done(master_check(&c, &judge(&c), now(), 1, &names(), false)).expect("done");
        assert!(s.contains("n2 is MASTER"));
        // The target's keepalived dying fails the wait at once.
        seen(&mut c, 1, VrrpState::Master, true, false);
        let w = master_check(&c, &judge(&c), now(), 1, &names(), false);
        assert!(matches!(w, Wait::Fail(ref s) if s.contains("not running")));
    }

    #[test]
    fn binding_waits_for_a_fresh_answer_and_havip_for_flushed_time() {
        let mut c = cluster(Mode::Havip);
        seen(&mut c, 0, VrrpState::Backup, false, true);
        seen(&mut c, 1, VrrpState::Master, true, true);
        let before = now() - chrono::Duration::minutes(10);
        bind(&mut c, "eni-2", Some(before));
        // An answer older than the step start is not evidence.
        let later = now() + chrono::Duration::seconds(1);
        let w = binding_check(
            &c,
            &judge(&c),
            1,
            later,
            Some(before),
            Mode::Havip,
            &names(),
        );
        assert!(matches!(w, Wait::Pending(ref s) if s.contains("fresh")));
        // Bound to the target but FlushedTime did not move.
        let w = binding_check(
            &c,
            &judge(&c),
            1,
            now(),
            Some(before),
            Mode::Havip,
            &names(),
        );
        assert!(matches!(w, Wait::Pending(ref s) if s.contains("FlushedTime")));
        bind(&mut c, "eni-2", Some(now()));
        assert!(done(binding_check(
            &c,
            &judge(&c),
            1,
            now(),
            Some(before),
            Mode::Havip,
            &names()
        ))
        .is_ok());
        // Still on the old peer.
        bind(&mut c, "eni-1", Some(now()));
        let w = binding_check(&c, &judge(&c), 1, now(), None, Mode::Eni, &names());
        assert!(matches!(w, Wait::Pending(ref s) if s.contains("to n1")));
        // The target lost MASTER while waiting: fail, so safety is restored.
        seen(&mut c, 1, VrrpState::Backup, false, true);
        let w = binding_check(&c, &judge(&c), 1, now(), None, Mode::Eni, &names());
        assert!(matches!(w, Wait::Fail(ref s) if s.contains("BACKUP again")));
    }

    #[test]
    fn verify_needs_every_witness() {
        let mut c = cluster(Mode::Eni);
        seen(&mut c, 0, VrrpState::Backup, false, true);
        seen(&mut c, 1, VrrpState::Master, true, true);
        bind(&mut c, "eni-1", None);
        let w = verify_check(&c, &judge(&c), now(), 1, Some(VrrpState::Backup), &names());
        assert!(matches!(w, Wait::Pending(ref s) if s.contains("cloud binding n2")));
        bind(&mut c, "eni-2", None);
        assert!(done(verify_check(
            &c,
            &judge(&c),
            now(),
            1,
            Some(VrrpState::Backup),
            &names()
        ))
        .is_ok());
        // A peer expected stopped (left so, or stopped before) that is
        // BACKUP is no worse: it passes; FAULT is worse.
        assert!(done(verify_check(
            &c,
            &judge(&c),
            now(),
            1,
            Some(VrrpState::Stop),
            &names()
        ))
        .is_ok());
        seen(&mut c, 0, VrrpState::Fault, false, true);
        let w = verify_check(&c, &judge(&c), now(), 1, Some(VrrpState::Stop), &names());
        assert!(matches!(w, Wait::Pending(ref s) if s.contains("n1 STOP (is FAULT)")));
        seen(&mut c, 0, VrrpState::Stop, false, false);
        assert!(done(verify_check(
            &c,
            &judge(&c),
            now(),
            1,
            Some(VrrpState::Stop),
            &names()
        ))
        .is_ok());
        seen(&mut c, 0, VrrpState::Backup, false, false);
        // Old facts do not verify anything.
        let w = verify_check(
            &c,
            &judge(&c),
            now() + chrono::Duration::seconds(5),
            1,
            None,
            &names(),
        );
        assert!(matches!(w, Wait::Pending(ref s) if s.contains("fresh facts from n2")));
        // The old master took it back.
        seen(&mut c, 0, VrrpState::Master, true, true);
        seen(&mut c, 1, VrrpState::Backup, false, true);
        let w = verify_check(&c, &judge(&c), now(), 1, None, &names());
        assert!(matches!(w, Wait::Fail(ref s) if s.contains("n1 is MASTER")));
    }
}
