//! The failover lock as the executor handles it: taken on the peers before
//! the confirmation (peer 0 first), released whatever happened, and the
//! lock files that could not be removed said in the outcome.

use std::time::Instant;

use chrono::Utc;

use super::super::hands::PeerAction;
use super::super::lock::{self, who, LockInfo, LockView, TakeOver};
use super::super::plan::{Plan, Step, StepKind};
use super::{millis, Executor, LockHandle, RunState, StepError, Ui};

impl Executor {
    /// Takes the failover lock on the peers, peer 0 first (so two
    /// concurrent takers cannot each hold one peer and both proceed).
    /// Taken before the confirmation: nobody can start between this plan
    /// and the operator's answer. A stale lock is taken over only when the
    /// operator overrode it; one left by a vipdeck process that is gone from
    /// this host is taken over.
    pub(crate) async fn acquire_lock(
        &mut self,
        plan: &Plan,
        seen: &[LockView; 2],
    ) -> Result<LockHandle, String> {
        let by = who();
        let info = LockInfo::mine(by.clone());
        let mut handle = LockHandle {
            token: info.token.clone(),
            held: [false, false],
            by,
            since: info.started,
        };
        let overridden = plan.check("lock_stale").is_some_and(|c| c.overridden);
        for (i, view) in seen.iter().enumerate() {
            if plan.old_master_dead && i != plan.target {
                continue;
            }
            let take_over = match view {
                LockView::Abandoned(h) => Some(TakeOver::Token(h.token.clone())),
                LockView::Held(h) if overridden => Some(TakeOver::Token(h.token.clone())),
                LockView::Suspect(s) if overridden => Some(s.take_over.clone()),
                _ => None,
            };
            let json = serde_json::to_string(&info).unwrap_or_default();
            let act = PeerAction::LockAcquire {
                content: json,
                take_over,
            };
            let err = match self.run_on(i, act, self.cmd_timeout).await {
                Ok((out, _)) => match lock::parse_acquire(&out) {
                    Ok(()) => {
                        handle.held[i] = true;
                        continue;
                    }
                    // A retried acquire finds our own lock.
                    Err(LockView::Held(h)) if h.token == info.token => {
                        handle.held[i] = true;
                        continue;
                    }
                    Err(LockView::Held(h) | LockView::Abandoned(h)) => format!(
                        "another failover is in progress: {} (lock on {})",
                        h.describe(Utc::now()),
                        self.peer_name(i)
                    ),
                    Err(LockView::Denied(e)) => format!("lock on {}: {e}", self.peer_name(i)),
                    Err(LockView::Suspect(s)) => format!(
                        "a suspect failover lock on {}: {}{} (overriding lock_stale takes it \
                         over when this login may remove it)",
                        self.peer_name(i),
                        s.why,
                        if overridden {
                            "; it changed since it was read, or could not be removed"
                        } else {
                            ""
                        }
                    ),
                    Err(other) => format!("lock on {}: {other:?}", self.peer_name(i)),
                },
                Err(e) => format!("cannot take the lock: {e}"),
            };
            self.release_lock(&handle).await;
            return Err(err);
        }
        Ok(handle)
    }

    /// Releases what [`Executor::acquire_lock`] took; returns the peers
    /// where the lock could not be removed.
    pub(crate) async fn release_lock(&mut self, handle: &LockHandle) -> Vec<(usize, String)> {
        let release = PeerAction::LockRelease {
            token: handle.token.clone(),
        };
        let acts = [0, 1].map(|i| handle.held[i].then(|| release.clone()));
        let mut left = Vec::new();
        for (i, r) in self
            .run_both(acts, self.cmd_timeout)
            .await
            .into_iter()
            .enumerate()
        {
            if let Some(Err(e)) = r {
                left.push((i, e));
            }
        }
        left
    }

    /// Releases the lock, whatever happened (both peers at once), shown
    /// as the plan's last step; says which lock files are left.
    pub(super) async fn release_and_report(
        &mut self,
        plan: &Plan,
        lock: &LockHandle,
        run: &mut RunState,
        ui: &mut dyn Ui,
    ) -> Vec<String> {
        let total = plan.steps.len();
        let step = plan
            .steps
            .iter()
            .enumerate()
            .find(|(_, s)| matches!(s.kind, StepKind::ReleaseLock));
        let description = step
            .map(|(_, s)| s.description.clone())
            .unwrap_or_else(|| "release the failover lock".into());
        match step {
            Some((idx, s)) => ui.step_started(idx + 1, total, s),
            None => ui.step_started(
                0,
                0,
                &Step {
                    kind: StepKind::ReleaseLock,
                    description: description.clone(),
                    action: String::new(),
                    timeout_ms: millis(self.cmd_timeout),
                    verify: String::new(),
                },
            ),
        }
        let at = Utc::now();
        let s_clock = Instant::now();
        let failed = self.release_lock(lock).await;
        let mut left = Vec::new();
        for (i, _) in &failed {
            left.push(format!(
                "the failover lock {} on {} is left (it goes stale after {}; then overriding lock_stale takes it over)",
                crate::core::lockfile::lock_path_in(&self.hands.lock_dir(), &plan.cluster),
                self.peer_name(*i),
                crate::core::humanize::duration(self.settings.lock_stale_after)
            ));
        }
        let removed: Vec<String> = (0..2)
            .filter(|&i| lock.held[i] && !failed.iter().any(|(f, _)| *f == i))
            .map(|i| self.peer_name(i))
            .collect();
        let result = if failed.is_empty() {
            Ok(if removed.is_empty() {
                "no lock was held".to_string()
            } else {
                format!("lock removed on {}", removed.join(" and "))
            })
        } else {
            Err(StepError::Failed(
                failed
                    .iter()
                    .map(|(i, e)| {
                        format!("could not release the lock on {}: {e}", self.peer_name(*i))
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ))
        };
        run.record(ui, description, at, s_clock, &result);
        left
    }
}
