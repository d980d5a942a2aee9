//! The executor: gathers what the planner needs, then runs a confirmed plan
//! step by step, watching the cluster through the same sources as the
//! dashboard (`monitor::start_config` → `Snapshot` → `verdict::assess`).
//! Every wait is bounded. On a failed or timed-out step it restores a safe
//! state — keepalived is never left stopped on both peers — and says
//! exactly what state it left. Every attempt ends in the audit trail.
//!
//! - `start`: the one constructor, from a source of facts ([`Facts`]: its
//!   own watch of real peers, a dashboard's sources, or the simulator),
//!   and the first facts;
//! - `cloud`: the cloud-first read, the fast reads while a step waits, and
//!   whether the target may hold the VIP;
//! - `gather`: what the planner needs beyond the snapshot, then the plan;
//! - `locks`: the failover lock taken, released and reported;
//! - `run`: the run loop (`execute`, the bounded wait, the re-check, the
//!   restore, the last look);
//! - `steps`: one function per step kind, and the pure checks they wait on;
//! - `outcome`: how a run ended, a pure function of what happened.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::core::config::ClusterConfig;
use crate::core::model::{ClusterSnapshot, Snapshot, Update};
use crate::core::verdict::Thresholds;
use crate::sources::monitor::Sources;

use super::audit::{Outcome, Record, StepRecord};
use super::hands::{Hands, PeerAction};
use super::plan::{Settings, Step};

mod clients;
mod cloud;
mod gather;
mod locks;
mod outcome;
mod run;
mod start;
mod steps;

pub(crate) use outcome::{outcome, Ending, Happened, Seen};
pub(crate) use start::FirstFacts;

/// Where progress goes: the CLI prints it, the TUI shows it.
pub(crate) trait Ui: Send {
    fn step_started(&mut self, index: usize, total: usize, step: &Step);
    /// A change in what is seen while a step waits.
    fn progress(&mut self, status: &str, elapsed: Duration);
    fn step_finished(&mut self, ok: bool, detail: &str, elapsed: Duration);
    /// Ctrl-C was pressed: abandon the failover (safety is still restored)?
    fn confirm_abandon(&mut self) -> bool;
}

/// The failover lock as taken on the peers.
#[derive(Debug, Clone)]
pub(crate) struct LockHandle {
    pub(crate) token: String,
    pub(crate) held: [bool; 2],
    pub(crate) by: String,
    pub since: DateTime<Utc>,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub(crate) struct RunResult {
    pub(crate) outcome: Outcome,
    /// The outcome in one line ([`Ending::headline`]).
    pub(crate) headline: String,
    pub(crate) state_left: String,
    pub(crate) switchover: Option<Duration>,
    /// The interruption as the data-plane probe saw it over the run.
    pub(crate) clients: crate::core::interruption::Interruption,
    pub(crate) record: Record,
}

/// Why a step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StepError {
    /// Re-checked under the lock, the cluster no longer fits the plan.
    #[error("refused at execute time: {0}")]
    Stale(String),
    /// A command ran and exited non-zero.
    #[error("`{cmd}` exited {code}: {out}")]
    Exited { cmd: String, code: i32, out: String },
    /// A command could not be run (the connection, a timeout).
    #[error("`{cmd}` failed: {error}")]
    NotRun { cmd: String, error: String },
    #[error("arping exited {code}: {out}")]
    Arping { code: i32, out: String },
    #[error("arping failed: {0}")]
    ArpingNotRun(String),
    /// What was watched went wrong (the target went FAULT, the old master
    /// took the VIP back).
    #[error("{0}")]
    Failed(String),
    #[error("timed out after {after}: {last}")]
    TimedOut { after: String, last: String },
    /// The operator abandoned the failover while a step waited.
    #[error("abandoned by the operator (last seen: {last})")]
    Abandoned { last: String },
    #[error("no cloud client: {0}")]
    NoCloud(String),
    /// The cloud refused or failed a call.
    #[error("{0}")]
    Cloud(String),
}

/// Why a run stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Failure {
    /// Between two steps, the operator abandoned the failover.
    #[error("abandoned by the operator")]
    Abandoned,
    #[error("{description}: {error}")]
    Step {
        description: String,
        error: StepError,
    },
}

/// What a run has done so far.
#[derive(Debug, Default)]
struct RunState {
    steps: Vec<StepRecord>,
    /// keepalived was (perhaps) stopped on the old master.
    old_stopped: bool,
    /// keepalived was started again on the old master by a step.
    old_restarted: bool,
    /// Something was changed (a stop, a cloud call, a GARP).
    started_any: bool,
    failure: Option<Failure>,
    verified_at: Option<Instant>,
    /// The cloud binding was seen on the target.
    bound_at: Option<Instant>,
    /// When the first act that moves the VIP was asked (the stop, the
    /// migration, the GARP): a cloud answer from after it is fresh evidence.
    moved_at: Option<DateTime<Utc>>,
}

impl RunState {
    /// Reports a finished step and keeps it for the record.
    fn record(
        &mut self,
        ui: &mut dyn Ui,
        description: String,
        started: DateTime<Utc>,
        clock: Instant,
        result: &Result<String, StepError>,
    ) {
        let (ok, detail) = match result {
            Ok(s) => (true, s.clone()),
            Err(e) => (false, e.to_string()),
        };
        ui.step_finished(ok, &detail, clock.elapsed());
        self.steps.push(StepRecord {
            description,
            started,
            ended: Utc::now(),
            ok,
            detail,
        });
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What a wait predicate says.
enum Wait {
    Done(String),
    Pending(String),
    Fail(String),
}

/// A live view of one cluster plus a shell per peer.
pub(crate) struct Executor {
    pub cluster: ClusterConfig,
    pub(crate) settings: Settings,
    snapshot: Snapshot,
    /// The watch on this cluster; its tasks end with the executor.
    sources: Sources,
    thresholds: Thresholds,
    /// What acts on the peers and the cloud: the real ones or the simulator.
    hands: Hands,
    cmd_timeout: Duration,
    interrupted: Arc<AtomicBool>,
    request_ids: Vec<String>,
    /// When the running move began: its own transitions are not flapping.
    move_since: Option<DateTime<Utc>>,
    /// The lock files as read while the first facts came in: the first
    /// plan uses them instead of reading again.
    early_locks: Option<[Result<(String, i32), String>; 2]>,
    /// How long the first facts took.
    pub(crate) timing: FirstFacts,
    /// A wait on the cloud's binding: it is asked every [`CLOUD_FAST`]
    /// besides the watch's own poll, for the seconds the step waits.
    ask_cloud: bool,
    /// Where the facts the executor reads itself (its probes, the cloud's
    /// binding) go too: the dashboard it runs on, which polls more slowly.
    echo: Option<Echo>,
    /// Every data-plane probe result folded in since it opened (bounded):
    /// a failover longer than the snapshot's short history is measured too.
    probe_log: std::collections::VecDeque<crate::core::dataplane::ProbeResult>,
}

/// Hands an update about the executor's cluster (as cluster 0) back to
/// the face it runs on.
pub(crate) type Echo = Box<dyn Fn(Update) + Send + Sync>;

/// How often the cloud is asked while a step waits on it (the watch's poll
/// goes on beside): a few calls a second, far under the API's rate limits.
const CLOUD_FAST: Duration = Duration::from_millis(100);

/// A probe's answer from the executor's own shell on peer `i`, as an update.
/// Its last transition is left to the monitor, which corrects it for the
/// peer's clock.
fn own_probe(i: usize, out: &str, vip: &str) -> Update {
    let mut observation = crate::sources::probe::parse(out, vip, Utc::now()).observation;
    observation.last_transition = None;
    Update::Peer {
        cluster: 0,
        peer: i,
        observation,
    }
}

impl Executor {
    /// Set it to interrupt a running [`Executor::execute`] (the TUI's
    /// Ctrl-C); the [`Ui`] is then asked whether to abandon.
    pub(crate) fn interrupt_handle(&self) -> Arc<AtomicBool> {
        self.interrupted.clone()
    }

    /// Whether it acts on a real cluster (not the simulator).
    pub(crate) fn real(&self) -> bool {
        matches!(self.hands, Hands::Real(_))
    }

    pub fn snapshot(&self) -> &ClusterSnapshot {
        &self.snapshot.clusters[0]
    }

    /// Probes `peers` over the executor's own shells and folds the answers
    /// in: a fact right after an act, not at the monitor's next poll (real
    /// peers; the simulator's facts come by themselves).
    async fn observe(&mut self, peers: [bool; 2]) {
        if !self.hands.can_probe() {
            return;
        }
        let acts = peers.map(|p| p.then_some(PeerAction::Probe));
        let vip = self.cluster.vip.to_string();
        let got = self.run_both(acts, self.cmd_timeout).await;
        for (i, r) in got.into_iter().enumerate() {
            if let Some(Ok((out, _))) = r {
                self.learn(own_probe(i, &out, &vip));
            }
        }
    }

    /// Does `act` on a peer (over its own long-lived shell, or in the
    /// simulator).
    async fn run_on(
        &mut self,
        peer: usize,
        act: PeerAction,
        timeout: Duration,
    ) -> Result<(String, i32), String> {
        let name = self.cluster.peers[peer].name.clone();
        self.hands.peer(peer, &name, act, timeout).await
    }

    /// Does one act on both peers at once (`None` skips a peer).
    async fn run_both(
        &mut self,
        acts: [Option<PeerAction>; 2],
        timeout: Duration,
    ) -> [Option<Result<(String, i32), String>>; 2] {
        let names = [self.peer_name(0), self.peer_name(1)];
        self.hands.both(&names, acts, timeout).await
    }

    fn fresh(&self, peer: usize) -> bool {
        self.snapshot().peers[peer]
            .reachable
            .as_ref()
            .is_some_and(|f| f.value && !f.is_stale(Utc::now(), self.settings.facts_fresh))
    }

    /// Folds in a fact the executor read itself, and hands it to the face
    /// it runs on.
    fn learn(&mut self, u: Update) {
        if let Some(echo) = &self.echo {
            echo(u.clone());
        }
        self.snapshot.apply(u);
    }

    fn peer_name(&self, i: usize) -> String {
        self.cluster.peers[i].name.clone()
    }

    /// The cluster in one sentence.
    pub(crate) fn describe_state(&self) -> String {
        let (a, _) = self.assess();
        let names = [0, 1].map(|i| self.peer_name(i));
        describe(self.snapshot(), &a, &names)
    }
}

/// A cluster in one sentence: each peer's state, the binding, the verdict.
pub(crate) fn describe(
    c: &ClusterSnapshot,
    a: &crate::core::verdict::Assessment,
    names: &[String; 2],
) -> String {
    let mut parts = Vec::new();
    for ((v, f), name) in a.peers.iter().zip(&c.peers).zip(names) {
        let vip = match f.vip_on_nic.as_ref().map(|x| x.value) {
            Some(true) => " with the VIP",
            _ => "",
        };
        let run = match f.keepalived_running.as_ref().map(|x| x.value) {
            Some(false) => " (keepalived stopped)",
            _ => "",
        };
        let seen = if v.visible {
            ""
        } else {
            " (not reachable: last known)"
        };
        parts.push(format!("{name} {}{vip}{run}{seen}", v.state));
    }
    let bound = match (a.vip_bound_to, &c.cloud.binding) {
        (Some(b), _) => names[b].clone(),
        (None, Some(_)) => "neither peer".into(),
        (None, None) => "unknown".into(),
    };
    format!(
        "{}; cloud binding {bound}; verdict {}",
        parts.join(", "),
        a.verdict
    )
}

#[cfg(test)]
mod testkit;
