//! The run loop: a confirmed plan's steps in order, each bounded wait on
//! the watched cluster, the re-check under the lock, the restore after a
//! failure, the lock's release, the last look and the record.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::core::model::{ClusterSnapshot, VrrpState};
use crate::core::verdict::{self, Assessment, Thresholds};

use super::super::audit::{self, Confirmation, Outcome, Record};
use super::super::hands::PeerAction;
use super::super::plan::{Plan, Step, StepKind};
use super::steps::verify_check;
use super::{
    millis, outcome, Ending, Executor, Failure, Happened, LockHandle, RunResult, RunState, Seen,
    StepError, Ui, Wait, CLOUD_FAST,
};

/// The dashboard's judgement of `c`, except that the MASTER transitions
/// since `move_since` (a move in progress, or just done) do not count as
/// flapping: they are the move's own. Flapping before the move still counts.
pub(crate) fn assess_moving(
    c: &ClusterSnapshot,
    now: DateTime<Utc>,
    t: &Thresholds,
    move_since: Option<DateTime<Utc>>,
) -> Assessment {
    let a = verdict::assess(c, now, t);
    let Some(since) = move_since else {
        return a;
    };
    if !a.alerts.iter().any(|x| x.code == "flapping") {
        return a;
    }
    let mut before = c.clone();
    before
        .timeline
        .retain(|tr| !(tr.to == VrrpState::Master && tr.at >= since));
    verdict::assess(&before, now, t)
}

impl Executor {
    pub(crate) fn assess(&self) -> (Assessment, DateTime<Utc>) {
        let now = Utc::now();
        (
            assess_moving(self.snapshot(), now, &self.thresholds, self.move_since),
            now,
        )
    }

    /// Waits for the next update (at most `d`), then folds in it and every
    /// one already queued: a wait ends the moment its fact changes.
    pub(super) async fn pump_next(&mut self, d: Duration) {
        if let Ok(Some(u)) = tokio::time::timeout(d, self.sources.updates.recv()).await {
            self.fold(u);
            while let Ok(u) = self.sources.updates.try_recv() {
                self.fold(u);
            }
        }
    }

    /// Folds in the watch's updates for `d` (a face waiting before a
    /// plan: `failover --at`, `--wait-healthy`).
    pub(crate) async fn follow_for(&mut self, d: Duration) {
        self.pump_for(d).await
    }

    /// Folds in updates for `d`.
    async fn pump_for(&mut self, d: Duration) {
        let until = tokio::time::Instant::now() + d;
        while let Ok(Some(u)) = tokio::time::timeout_at(until, self.sources.updates.recv()).await {
            self.fold(u);
        }
    }

    /// Waits until `pred` says done or fail, or `timeout` passes. Ctrl-C asks
    /// the operator (through `ui`) whether to abandon.
    pub(super) async fn wait<F>(
        &mut self,
        timeout: Duration,
        ui: &mut dyn Ui,
        mut pred: F,
    ) -> Result<String, StepError>
    where
        F: FnMut(&ClusterSnapshot, &Assessment, DateTime<Utc>) -> Wait,
    {
        let started = Instant::now();
        let mut last = String::new();
        let mut asked: Option<Instant> = None;
        loop {
            if self.ask_cloud && asked.is_none_or(|t| t.elapsed() >= CLOUD_FAST) {
                asked = Some(Instant::now());
                self.read_cloud_now().await;
            }
            let (a, now) = self.assess();
            match pred(self.snapshot(), &a, now) {
                Wait::Done(s) => return Ok(s),
                Wait::Fail(s) => return Err(StepError::Failed(s)),
                Wait::Pending(s) => {
                    if s != last {
                        ui.progress(&s, started.elapsed());
                        last = s;
                    }
                }
            }
            if self.interrupted.swap(false, Ordering::SeqCst) && ui.confirm_abandon() {
                return Err(StepError::Abandoned { last });
            }
            if started.elapsed() >= timeout {
                return Err(StepError::TimedOut {
                    after: crate::core::humanize::duration(timeout),
                    last,
                });
            }
            let tick = match asked {
                Some(t) if self.ask_cloud => CLOUD_FAST.saturating_sub(t.elapsed()),
                _ => Duration::from_millis(200),
            };
            self.pump_next(tick).await;
        }
    }

    /// Re-checks at execute time that the plan still fits the cluster.
    pub(super) async fn still_valid(&mut self, plan: &Plan) -> Result<(), String> {
        // Facts at most a second old (the executor probes every 500 ms, and
        // at once on a state change); otherwise wait for a new round.
        let asked = Utc::now() - chrono::Duration::milliseconds(1000);
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            let fresh = (0..2).all(|i| {
                (plan.old_master_dead && Some(i) != Some(plan.target))
                    || self.snapshot().peers[i]
                        .reachable
                        .as_ref()
                        .is_some_and(|f| f.at >= asked && f.value)
            });
            if fresh {
                break;
            }
            self.pump_next(Duration::from_millis(100)).await;
        }
        let (a, now) = self.assess();
        for i in 0..2 {
            if plan.old_master_dead && i != plan.target {
                continue;
            }
            let ok = self.snapshot().peers[i]
                .reachable
                .as_ref()
                .is_some_and(|f| f.value && f.age(now) < self.settings.facts_fresh);
            if !ok {
                return Err(format!("no fresh facts from {}", self.peer_name(i)));
            }
        }
        if let Some(s) = plan.source {
            if a.master != Some(s) {
                return Err(format!(
                    "{} is no longer the master ({}) — the cluster changed since the plan",
                    self.peer_name(s),
                    self.describe_state()
                ));
            }
        }
        let t = plan.target;
        let ts = a.peers[t].state;
        let expected = if plan.source.is_some() || plan.old_master_dead {
            ts == VrrpState::Backup || (plan.old_master_dead && ts == VrrpState::Master)
        } else {
            ts == VrrpState::Master
        };
        if !expected {
            return Err(format!(
                "{} is {ts} now — the cluster changed since the plan",
                self.peer_name(t)
            ));
        }
        Ok(())
    }

    /// Runs a confirmed plan. `confirmed_at` starts the switchover clock.
    pub(crate) async fn execute(
        &mut self,
        plan: &Plan,
        confirmations: Vec<Confirmation>,
        confirmed_at: DateTime<Utc>,
        ui: &mut dyn Ui,
        lock: LockHandle,
    ) -> RunResult {
        let started = Utc::now();
        let clock = Instant::now();
        self.move_since = Some(started);
        // Ctrl-C is ours from here on: it asks, then restores safety.
        let flag = self.interrupted.clone();
        let ctrlc = tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, Ordering::SeqCst);
            }
        });
        let initial = {
            let (a, _) = self.assess();
            (a.master, a.vip_bound_to)
        };
        let mut run = RunState::default();
        let total = plan.steps.len();
        for (idx, step) in plan.steps.iter().enumerate() {
            if matches!(step.kind, StepKind::ReleaseLock) {
                continue; // done below, whatever happened
            }
            if self.interrupted.swap(false, Ordering::SeqCst) && ui.confirm_abandon() {
                run.failure = Some(Failure::Abandoned);
                break;
            }
            ui.step_started(idx + 1, total, step);
            let at = Utc::now();
            let s_clock = Instant::now();
            let result = self.run_step(plan, &lock, step, at, &mut run, ui).await;
            run.record(ui, step.description.clone(), at, s_clock, &result);
            if let Err(error) = result {
                run.failure = Some(Failure::Step {
                    description: step.description.clone(),
                    error,
                });
                break;
            }
        }
        let restored = self.restore_safety(plan, &mut run, ui).await;
        let locks_left = self.release_and_report(plan, &lock, &mut run, ui).await;
        ctrlc.abort();

        let ending = self
            .last_look(plan, &mut run, initial, restored, &locks_left)
            .await;
        // The wait for a last probe is not the run's: `duration_ms` ends
        // before it (the switchover and binding times are instants).
        let ended = Instant::now();
        let clients = self.clients_seen(started).await;
        let since_confirm = (Utc::now() - confirmed_at).to_std().unwrap_or_default();
        let switchover = run
            .verified_at
            .map(|v| since_confirm.saturating_sub(v.elapsed()));
        let binding = run
            .bound_at
            .map(|b| since_confirm.saturating_sub(b.elapsed()));
        let o = 1 - plan.target;
        let record = Record {
            id: lock.token.clone(),
            cluster: plan.cluster.clone(),
            from: plan
                .source_name()
                .map(str::to_string)
                .or_else(|| Some(self.peer_name(o))),
            to: plan.target_name().to_string(),
            method: plan.method.as_str().to_string(),
            by: lock.by.clone(),
            started,
            ended: Utc::now(),
            plan: plan.clone(),
            confirmations,
            steps: run.steps,
            request_ids: self.request_ids.clone(),
            outcome: ending.outcome,
            state_left: ending.state_left.clone(),
            switchover_ms: switchover.map(millis),
            binding_ms: binding.map(millis),
            duration_ms: millis(clock.elapsed().saturating_sub(ended.elapsed())),
            clients: Some(clients.clone()),
        };
        self.log_on_peers(plan, &record).await;
        RunResult {
            outcome: ending.outcome,
            headline: ending.headline,
            state_left: ending.state_left,
            switchover,
            clients,
            record,
        }
    }

    /// A last look so the state reported is current, then the outcome.
    async fn last_look(
        &mut self,
        plan: &Plan,
        run: &mut RunState,
        initial: (Option<usize>, Option<usize>),
        restored: bool,
        locks_left: &[String],
    ) -> Ending {
        if run.failure.is_some() && run.started_any {
            self.pump_for(Duration::from_millis(1500)).await;
        }
        let (a, now) = self.assess();
        let names = [self.peer_name(0), self.peer_name(1)];
        let t = plan.target;
        let other = plan.other_after().expect();
        let target_verified = matches!(
            verify_check(self.snapshot(), &a, now, t, other, &names),
            Wait::Done(_)
        );
        let failure = run.failure.as_ref().map(|f| f.to_string());
        let state = self.describe_state();
        let verdict = a.verdict.to_string();
        let ending = outcome(
            plan,
            &Happened {
                failure: failure.as_deref(),
                started_any: run.started_any,
                old_stopped: run.old_stopped,
                restored,
                verified: run.verified_at.is_some(),
            },
            &Seen {
                initial,
                last: (a.master, a.vip_bound_to),
                target_verified,
                state: &state,
                verdict: &verdict,
            },
            locks_left,
        );
        if ending.outcome == Outcome::MovedVerified && run.verified_at.is_none() {
            // Verified on the last look although a step failed.
            run.verified_at = Some(Instant::now());
        }
        ending
    }

    /// After a failure: never leave keepalived stopped on the old master
    /// (started again, then VRRP let settle so the state reported is the
    /// real one). Returns whether it had to be restored.
    async fn restore_safety(&mut self, plan: &Plan, run: &mut RunState, ui: &mut dyn Ui) -> bool {
        if !(run.failure.is_some() && run.old_stopped && !run.old_restarted) {
            return false;
        }
        let o = 1 - plan.target;
        let at = Utc::now();
        let s_clock = Instant::now();
        let desc = format!("restore: start keepalived on {} again", self.peer_name(o));
        ui.step_started(
            0,
            0,
            &Step {
                kind: StepKind::StartKeepalived { peer: o },
                description: desc.clone(),
                action: self.cluster.peers[o].start_cmd.clone(),
                timeout_ms: 25_000,
                verify: "keepalived running".into(),
            },
        );
        let r = self
            .start_keepalived(o, self.settings.start_timeout, ui)
            .await;
        if r.is_ok() {
            let names = [self.peer_name(0), self.peer_name(1)];
            let _ = self
                .wait(Duration::from_secs(20), ui, |_, a, _| {
                    match (a.master, a.vip_bound_to) {
                        (Some(m), Some(b)) if m == b => Wait::Done(format!(
                            "{} is MASTER and holds the cloud binding",
                            names[m]
                        )),
                        (Some(m), _) => Wait::Pending(format!(
                            "{} is MASTER; waiting for the cloud binding",
                            names[m]
                        )),
                        (None, _) => Wait::Pending("no MASTER yet".into()),
                    }
                })
                .await;
        }
        run.record(ui, desc, at, s_clock, &r);
        true
    }

    /// Each peer's own log says who moved the VIP.
    async fn log_on_peers(&mut self, plan: &Plan, record: &Record) {
        if record.outcome == Outcome::NotStarted {
            return;
        }
        let line = audit::peer_log_line(record);
        let acts = [0, 1].map(|i| {
            (!plan.old_master_dead || i == plan.target)
                .then(|| PeerAction::Log { line: line.clone() })
        });
        let _ = self.run_both(acts, Duration::from_secs(3)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{bind, cluster, now, seen};
    use super::*;
    use crate::core::model::Mode;

    /// A clean move's own MASTER transitions (a flap-count's worth, as a
    /// there-and-back or a retry makes) do not make the verdict after it
    /// "degraded: flapping"; flapping before the move still does.
    #[test]
    fn the_moves_own_transitions_are_not_flapping() {
        use crate::core::model::Transition;
        let mut c = cluster(Mode::Eni);
        seen(&mut c, 0, VrrpState::Backup, false, true);
        seen(&mut c, 1, VrrpState::Master, true, true);
        bind(&mut c, "eni-2", None);
        let t = Thresholds::default();
        let quiet = verdict::assess(&c, now(), &t);
        let flaps = |a: &Assessment| a.alerts.iter().any(|x| x.code == "flapping");
        assert!(!flaps(&quiet), "{:?}", quiet.alerts);
        let move_since = now() - chrono::Duration::seconds(30);
        let push = |c: &mut ClusterSnapshot, at: DateTime<Utc>, peer: usize| {
            c.timeline.push_back(Transition {
                at,
                peer,
                from: VrrpState::Backup,
                to: VrrpState::Master,
            })
        };
        let mut moved = c.clone();
        for k in 0..t.flap_count {
            let at = move_since + chrono::Duration::seconds(5 * k as i64 + 1);
            push(&mut moved, at, k % 2);
        }
        // The dashboard alone counts them; the move's judge does not.
        assert!(flaps(&verdict::assess(&moved, now(), &t)));
        let a = assess_moving(&moved, now(), &t, Some(move_since));
        assert!(!flaps(&a), "{:?}", a.alerts);
        assert_eq!(a.verdict, quiet.verdict);
        // Without a move, nothing is excluded.
        assert!(flaps(&assess_moving(&moved, now(), &t, None)));
        // The same transitions before the move are flapping.
        let mut before = c.clone();
        for k in 0..t.flap_count {
            let at = move_since - chrono::Duration::seconds(60 - 5 * k as i64);
            push(&mut before, at, k % 2);
        }
        let a = assess_moving(&before, now(), &t, Some(move_since));
        assert!(flaps(&a), "{:?}", a.alerts);
    }
}
