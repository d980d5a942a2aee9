//! (Over 1,000 lines: the executor's constructors, lock handling, wait loop,
//! steps and outcome still share this file; the planned split is
//! `failover/exec/{hands,run,steps,outcome}.rs` with one constructor taking a
//! source of facts.)
//!
//! The executor: gathers what the planner needs, then runs a confirmed plan
//! step by step, watching the cluster through the same sources as the
//! dashboard (`monitor::start_config` → `Snapshot` → `verdict::assess`).
//! Every wait is bounded. On a failed or timed-out step it restores a safe
//! state — keepalived is never left stopped on both peers — and says
//! exactly what state it left. Every attempt ends in the audit trail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::core::config::{CloudConfig, ClusterConfig, Config};
use crate::core::model::{
    CloudBinding, ClusterSnapshot, ClusterSpec, Mode, Snapshot, Update, VrrpState,
};
use crate::core::verdict::{self, Assessment, Thresholds};
use crate::sources::cloud::{CloudError, VpcClient};
use crate::sources::monitor::{self, Sources};
use crate::sources::simulator::SimCommand;

use super::audit::{self, Confirmation, Outcome, Record, StepRecord};
use super::hands::{self, Hands, PeerAction};
use super::lock::{self, who, LockInfo, LockView};
use super::plan::{self, Gathered, OtherAfter, Plan, Request, Settings, Step, StepKind};

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
}

/// Hands an update about the executor's cluster (as cluster 0) back to
/// the face it runs on.
pub(crate) type Echo = Box<dyn Fn(Update) + Send + Sync>;

/// How often the cloud is asked while a step waits on it (the watch's poll
/// goes on beside): a few calls a second, far under the API's rate limits.
const CLOUD_FAST: Duration = Duration::from_millis(100);

/// How long the executor's own first probes and lock reads may take before
/// the watch is left to find the facts (a peer that does not answer).
const OWN_PROBE: Duration = Duration::from_millis(2500);
/// Once the facts the plan needs are in, how long the slower ones
/// (keepalived.conf) are waited for at most.
const SLOWER_FACTS: Duration = Duration::from_millis(300);

/// When the first facts came in, counted from [`first_facts`]' call.
#[derive(Debug, Clone, Default)]
pub(crate) struct FirstFacts {
    /// The first update of any kind.
    pub(crate) first: Option<Duration>,
    /// Every fact the plan needs.
    pub(crate) ready: Duration,
    /// When each part came in ("n1 answered", "n1 complete", "cloud"), in
    /// order, for `VIPDECK_TIMING`.
    pub(crate) parts: Vec<(Duration, String)>,
}

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

/// What the plan needs of `c`: each peer answered (or is known not to)
/// with keepalived's process, the state file and the NIC; the cloud answered.
/// `slower`: also keepalived.conf of each peer.
fn plan_ready(c: &ClusterSnapshot, slower: bool) -> bool {
    let peers = c
        .peers
        .iter()
        .all(|p| match p.reachable.as_ref().map(|f| f.value) {
            None => false,
            Some(false) => true,
            Some(true) => {
                p.keepalived_running.is_some()
                    && p.state_file.is_some()
                    && p.vip_on_nic.is_some()
                    && (!slower || p.config.is_some())
            }
        });
    peers && (c.cloud.binding.is_some() || c.cloud.error.is_some())
}

/// Folds updates into `snapshot` until the facts the plan needs are in (then
/// at most [`SLOWER_FACTS`] more for the slower ones), or `deadline` passes;
/// a peer that never answered is then marked unreachable with the reason.
/// Planning starts on fresh facts, not after a fixed round.
async fn first_facts(
    snapshot: &mut Snapshot,
    updates: &mut tokio::sync::mpsc::Receiver<Update>,
    deadline: Duration,
) -> FirstFacts {
    let t0 = tokio::time::Instant::now();
    let mut until = t0 + deadline;
    let mut timing = FirstFacts::default();
    let mut needed = false;
    loop {
        let c = &snapshot.clusters[0];
        if plan_ready(c, true) {
            break;
        }
        if !needed && plan_ready(c, false) {
            needed = true;
            timing.ready = t0.elapsed();
            until = until.min(tokio::time::Instant::now() + SLOWER_FACTS);
        }
        match tokio::time::timeout_at(until, updates.recv()).await {
            Ok(Some(u)) => {
                timing.first.get_or_insert_with(|| t0.elapsed());
                snapshot.apply(u);
                let c = &snapshot.clusters[0];
                let mut now_parts = Vec::new();
                for (i, p) in c.peers.iter().enumerate() {
                    let name = &c.spec.peers[i].name;
                    if p.reachable.is_some() {
                        now_parts.push(format!("{name} answered"));
                    }
                    if p.keepalived_running.is_some()
                        && p.state_file.is_some()
                        && p.vip_on_nic.is_some()
                    {
                        now_parts.push(format!("{name} running, state file, NIC"));
                    }
                    if p.config.is_some() {
                        now_parts.push(format!("{name} keepalived.conf"));
                    }
                    if p.keepalived_state.is_some() {
                        now_parts.push(format!("{name} keepalived's dump"));
                    }
                }
                if c.cloud.binding.is_some() || c.cloud.error.is_some() {
                    now_parts.push("cloud".into());
                }
                for part in now_parts {
                    if !timing.parts.iter().any(|(_, p)| *p == part) {
                        timing.parts.push((t0.elapsed(), part));
                    }
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    if !needed {
        timing.ready = t0.elapsed();
    }
    // Whatever else has already arrived (the logs' first lines).
    while let Ok(u) = updates.try_recv() {
        snapshot.apply(u);
    }
    let now = Utc::now();
    for p in &mut snapshot.clusters[0].peers {
        if p.reachable.is_none() {
            p.apply(crate::core::model::PeerObservation::unreachable(
                now,
                format!(
                    "gave up: no answer within {}",
                    crate::core::humanize::duration(deadline)
                ),
            ));
        }
    }
    timing
}

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

/// Both answers, when both peers gave one.
fn both<T>(r: [Option<T>; 2]) -> Option<[T; 2]> {
    match r {
        [Some(a), Some(b)] => Some([a, b]),
        _ => None,
    }
}

/// The real hands for `cluster` (its peers' ssh targets, no shell open
/// and no cloud client yet), its cloud region and the commands' timeout.
fn real_hands(cluster: &ClusterConfig, config: &Config) -> (Hands, String, Duration) {
    let targets = [
        monitor::target_of(&cluster.peers[0], config),
        monitor::target_of(&cluster.peers[1], config),
    ];
    let hands = Hands::Real(Box::new(hands::Real {
        cluster: cluster.clone(),
        targets,
        shells: [None, None],
        cloud: None,
        cloud_error: None,
    }));
    let region = cluster.effective_region(&config.cloud).to_string();
    let cmd_timeout = config.ssh.command_timeout().max(Duration::from_secs(5));
    (hands, region, cmd_timeout)
}

/// The cloud client (credentials, endpoint) and a first read of `spec`'s
/// binding, with when it was asked.
async fn cloud_first(
    cloud: &CloudConfig,
    region: &str,
    spec: &ClusterSpec,
) -> (
    Result<VpcClient, CloudError>,
    Option<(DateTime<Utc>, Result<CloudBinding, String>)>,
) {
    let client = crate::sources::cloud::connect(cloud, region).await;
    let read = match &client {
        Ok(c) => {
            let sent = Utc::now();
            crate::sources::cloud::poll_bindings(c, std::slice::from_ref(spec))
                .await
                .into_iter()
                .next()
                .map(|r| (sent, r))
        }
        Err(_) => None,
    };
    (client, read)
}

impl Executor {
    /// Starts watching `cluster_name` of `config` (probes every 500 ms, the
    /// cloud every second, for the time of the failover).
    pub async fn start(
        config: &Config,
        cluster_name: &str,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        let cluster = config
            .cluster(cluster_name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no cluster named `{cluster_name}`"))?;
        let mut sub = config.clone();
        sub.clusters = vec![cluster.clone()];
        // Watch closely for the few seconds a failover lasts.
        sub.monitor.poll_interval_ms = sub.monitor.poll_interval_ms.min(500);
        sub.cloud.poll_interval_ms = sub.cloud.poll_interval_ms.min(250);
        let t0 = tokio::time::Instant::now();
        let (mut hands, region, cmd_timeout) = real_hands(&cluster, &sub);
        let names = [cluster.peers[0].name.clone(), cluster.peers[1].name.clone()];
        // First, at once: the cloud client, its credentials and a first
        // read of the binding; the executor's own shells (the ones the steps
        // use) probing each peer, then reading the lock files — every fact
        // the plan needs, over two connections, before the watch opens its
        // own (which then follows the move).
        let spec = cluster.spec();
        let cloud_first = async {
            let (client, read) = cloud_first(&sub.cloud, &region, &spec).await;
            (client, read, t0.elapsed())
        };
        let own_first = async {
            let probes = hands
                .both(
                    &names,
                    [Some(PeerAction::Probe), Some(PeerAction::Probe)],
                    cmd_timeout,
                )
                .await;
            let probed = t0.elapsed();
            let locks = hands
                .both(
                    &names,
                    [Some(PeerAction::LockRead), Some(PeerAction::LockRead)],
                    cmd_timeout,
                )
                .await;
            (probes, locks, probed, t0.elapsed())
        };
        let ((cloud, read, cloud_read), own) =
            tokio::join!(cloud_first, tokio::time::timeout(OWN_PROBE, own_first));
        let probed = t0.elapsed();
        let mut sources = monitor::start_config(&sub);
        let mut snapshot = Snapshot::new(sources.specs.clone());
        if let Some((at, result)) = read {
            snapshot.apply(Update::Cloud {
                cluster: 0,
                at,
                result,
                credential_source: None,
            });
        }
        let mut parts = vec![(cloud_read, "cloud client and first read".to_string())];
        let reads = match own {
            Ok((probes, locks, p_at, l_at)) => {
                parts.push((p_at, "own probes".into()));
                parts.push((l_at, "lock reads".into()));
                for (i, a) in probes.into_iter().enumerate() {
                    if let Some(Ok((out, _))) = a {
                        snapshot.apply(own_probe(i, &out, &cluster.vip.to_string()));
                    }
                }
                Some(locks)
            }
            Err(_) => {
                hands.close_shells().await;
                None
            }
        };
        // The watch's first facts: at once when the executor's own were
        // enough, else as they come.
        let mut first =
            first_facts(&mut snapshot, &mut sources.updates, Duration::from_secs(10)).await;
        first.first = first.first.map(|f| f + probed);
        first.ready += probed;
        for p in &mut first.parts {
            p.0 += probed;
        }
        parts.push((probed, "own probes, lock reads, cloud read".into()));
        parts.append(&mut first.parts);
        first.parts = parts;
        let early_locks = reads.and_then(both);
        hands.set_cloud(cloud);
        Ok(Executor {
            cluster,
            settings,
            snapshot,
            sources,
            thresholds: sub.monitor.thresholds(),
            hands,
            cmd_timeout,
            interrupted: Arc::new(AtomicBool::new(false)),
            request_ids: Vec::new(),
            move_since: None,
            early_locks,
            timing: first,
            ask_cloud: false,
            echo: None,
        })
    }

    /// Runs on a dashboard's live sources: `snapshot` is what the dashboard
    /// knows of the cluster now and `updates` its updates from here on (as
    /// cluster 0). No watch of its own and no first round: only the lock
    /// files are read (over the executor's shells, channels of the
    /// dashboard's ssh connections) and the cloud's binding once more, at
    /// once, and the plan can be shown.
    pub(crate) async fn attach(
        config: &Config,
        snapshot: ClusterSnapshot,
        updates: tokio::sync::mpsc::Receiver<Update>,
        settings: Settings,
        thresholds: Thresholds,
        echo: Option<Echo>,
    ) -> anyhow::Result<Self> {
        let name = snapshot.spec.name.clone();
        let cluster = config
            .cluster(&name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no cluster named `{name}` in the config"))?;
        let t0 = tokio::time::Instant::now();
        let (mut hands, region, cmd_timeout) = real_hands(&cluster, config);
        let names = [cluster.peers[0].name.clone(), cluster.peers[1].name.clone()];
        let spec = snapshot.spec.clone();
        let cloud = async {
            let r = cloud_first(&config.cloud, &region, &spec).await;
            (r, t0.elapsed())
        };
        let locks = async {
            let acts = [Some(PeerAction::LockRead), Some(PeerAction::LockRead)];
            let r = tokio::time::timeout(OWN_PROBE, hands.both(&names, acts, cmd_timeout)).await;
            (r, t0.elapsed())
        };
        let (((client, read), cloud_at), (locks, locks_at)) = tokio::join!(cloud, locks);
        let mut view = Snapshot {
            clusters: vec![snapshot],
        };
        if let Some((at, result)) = read {
            let u = Update::Cloud {
                cluster: 0,
                at,
                result,
                credential_source: None,
            };
            if let Some(echo) = &echo {
                echo(u.clone());
            }
            view.apply(u);
        }
        let early_locks = match locks {
            Ok(read) => both(read),
            Err(_) => {
                hands.close_shells().await;
                None
            }
        };
        hands.set_cloud(client);
        let timing = FirstFacts {
            first: Some(Duration::ZERO),
            ready: cloud_at.max(locks_at),
            parts: vec![
                (Duration::ZERO, "the dashboard's facts".into()),
                (cloud_at, "cloud read".into()),
                (locks_at, "lock reads".into()),
            ],
        };
        let sources = Sources {
            specs: vec![spec],
            updates,
            sim: None,
            label: "dashboard".into(),
            thresholds: thresholds.clone(),
            first_round: Duration::from_secs(5),
            tasks: Default::default(),
        };
        Ok(Executor {
            cluster,
            settings,
            snapshot: view,
            sources,
            thresholds,
            hands,
            cmd_timeout,
            interrupted: Arc::new(AtomicBool::new(false)),
            request_ids: Vec::new(),
            move_since: None,
            early_locks,
            timing,
            ask_cloud: false,
            echo,
        })
    }

    /// Watches the simulated cluster `cluster_name` of the simulator behind
    /// `sim` and acts on it there: the same plan, steps and checks as on a
    /// real cluster (the demo's `m`/`F`, `failover --demo`, `rehearse`).
    pub(crate) async fn start_sim(
        sim: tokio::sync::mpsc::Sender<SimCommand>,
        cluster_name: &str,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let (reply, answer) = tokio::sync::oneshot::channel();
        sim.send(SimCommand::Watch {
            name: cluster_name.to_string(),
            updates: tx,
            reply,
        })
        .await
        .map_err(|_| anyhow::anyhow!("the simulator has stopped"))?;
        let spec = answer
            .await
            .ok()
            .flatten()
            .ok_or_else(|| anyhow::anyhow!("no simulated cluster named `{cluster_name}`"))?;
        let cluster = super::sim::cluster_config(&spec)?;
        let sources = Sources {
            specs: vec![spec],
            updates: rx,
            sim: None,
            label: "simulator".into(),
            thresholds: Thresholds::default(),
            first_round: Duration::from_secs(5),
            tasks: Default::default(),
        };
        let mut sources = sources;
        let mut snapshot = Snapshot::new(sources.specs.clone());
        let timing = first_facts(&mut snapshot, &mut sources.updates, Duration::from_secs(5)).await;
        Ok(Executor {
            cluster: cluster.clone(),
            settings,
            snapshot,
            sources,
            thresholds: Thresholds::default(),
            hands: Hands::Sim(hands::Sim {
                tx: sim,
                cluster: cluster.name.clone(),
            }),
            cmd_timeout: Duration::from_secs(5),
            interrupted: Arc::new(AtomicBool::new(false)),
            request_ids: Vec::new(),
            move_since: None,
            early_locks: None,
            timing,
            ask_cloud: false,
            echo: None,
        })
    }

    /// Set it to interrupt a running [`Executor::execute`] (the TUI's
    /// Ctrl-C); the [`Ui`] is then asked whether to abandon.
    pub(crate) fn interrupt_handle(&self) -> Arc<AtomicBool> {
        self.interrupted.clone()
    }

    pub fn snapshot(&self) -> &ClusterSnapshot {
        &self.snapshot.clusters[0]
    }

    pub(crate) fn assess(&self) -> (Assessment, DateTime<Utc>) {
        let now = Utc::now();
        (
            assess_moving(self.snapshot(), now, &self.thresholds, self.move_since),
            now,
        )
    }

    /// Waits for the next update (at most `d`), then folds in it and every
    /// one already queued: a wait ends the moment its fact changes.
    async fn pump_next(&mut self, d: Duration) {
        if let Ok(Some(u)) = tokio::time::timeout(d, self.sources.updates.recv()).await {
            self.snapshot.apply(u);
            while let Ok(u) = self.sources.updates.try_recv() {
                self.snapshot.apply(u);
            }
        }
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

    /// Folds in updates for `d`.
    async fn pump_for(&mut self, d: Duration) {
        let until = tokio::time::Instant::now() + d;
        while let Ok(Some(u)) = tokio::time::timeout_at(until, self.sources.updates.recv()).await {
            self.snapshot.apply(u);
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

    /// Reads what the planner needs beyond the snapshot.
    pub(crate) async fn gather(&mut self, audit_path: Option<&std::path::Path>) -> Gathered {
        let mut g = Gathered::default();
        let mut early = self.early_locks.take().map(|r| r.map(Some));
        for i in 0..2 {
            let read = match early.as_mut().and_then(|e| e[i].take()) {
                Some(r) => Some(r),
                None if self.fresh(i) => {
                    Some(self.run_on(i, PeerAction::LockRead, self.cmd_timeout).await)
                }
                None => None,
            };
            g.locks[i] = if self.fresh(i) {
                match read.unwrap_or_else(|| Err("not read".into())) {
                    Ok((out, _)) => match lock::parse_read(&out) {
                        LockView::Held(h) if h.holder_gone() => LockView::Abandoned(h),
                        v => v,
                    },
                    Err(e) => LockView::Unknown(e),
                }
            } else {
                LockView::Unknown("peer not reachable".into())
            };
        }
        if let Some(p) = audit_path {
            let read = audit::read_all(p);
            g.audit_damage = audit::damage_note(&read, p);
            if let Ok((recs, _)) = read {
                g.last_failover = audit::last_failover(&recs, &self.cluster.name);
            }
        }
        g.target_allowed = None;
        g
    }

    /// Asks the cloud whether `target` may hold the VIP.
    pub(crate) async fn target_allowed(&self, target: usize) -> Option<Result<(), String>> {
        if !self.hands.has_cloud() {
            return None;
        }
        let client = &self.hands;
        let c = &self.cluster;
        let tp = &c.peers[target];
        let binding = self
            .snapshot()
            .cloud
            .binding
            .as_ref()
            .map(|b| b.value.clone())?;
        match c.mode {
            Mode::Eni => {
                let t_eni = tp.network_interface_id.clone()?;
                let b_eni = binding.network_interface_id.clone()?;
                if t_eni == b_eni {
                    return Some(Ok(()));
                }
                let enis = client
                    .describe_enis(&[t_eni.clone(), b_eni.clone()])
                    .await
                    .ok()?;
                let subnet = |id: &str| {
                    enis.iter()
                        .find(|e| e.network_interface_id == id)
                        .map(|e| e.subnet_id.clone())
                };
                match (subnet(&t_eni), subnet(&b_eni)) {
                    (Some(a), Some(b)) if a == b => Some(Ok(())),
                    (Some(a), Some(b)) => Some(Err(format!(
                        "{}'s ENI {t_eni} is in {a}, the bound ENI {b_eni} in {b}: \
                         MigratePrivateIpAddress only moves an IP within a subnet",
                        tp.name
                    ))),
                    (None, _) => Some(Err(format!(
                        "the cloud does not know {}'s ENI {t_eni}",
                        tp.name
                    ))),
                    _ => None,
                }
            }
            Mode::Havip => {
                let id = c.havip_id.clone().or(binding.havip_id.clone())?;
                let havips = client
                    .describe_havips(std::slice::from_ref(&id))
                    .await
                    .ok()?;
                let h = havips.into_iter().find(|h| h.ha_vip_id == id)?;
                if !h.check_associate {
                    return Some(Ok(()));
                }
                let ins = tp.instance_id.clone()?;
                if h.ha_vip_association_set
                    .iter()
                    .any(|a| a.instance_id == ins)
                {
                    Some(Ok(()))
                } else {
                    Some(Err(format!(
                        "{} ({ins}) is outside the drift range of {id} (CheckAssociate)",
                        tp.name
                    )))
                }
            }
        }
    }

    /// Gathers, then plans.
    pub async fn plan(&mut self, request: &Request, audit_path: Option<&std::path::Path>) -> Plan {
        let mut g = self.gather(audit_path).await;
        if let Some(t) = self.cluster.peer_index(&request.target) {
            g.target_allowed = self.target_allowed(t).await;
        }
        let (a, now) = self.assess();
        let mut p = plan::plan(
            self.snapshot(),
            &a,
            &self.cluster,
            request,
            &g,
            &self.settings,
            now,
        );
        if let (Some(e), false) = (
            &self.hands.cloud_error(),
            p.check("cloud_reachable")
                .is_some_and(|c| c.status == plan::CheckStatus::Fail),
        ) {
            p.notes.push(format!("cloud client: {e}"));
        }
        p
    }

    /// Waits until `pred` says done or fail, or `timeout` passes. Ctrl-C asks
    /// the operator (through `ui`) whether to abandon.
    async fn wait<F>(
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

    /// Reads the cloud's binding now and folds it in (a failed read is
    /// left to the watch, which reports it).
    async fn read_cloud_now(&mut self) {
        let spec = self.cluster.spec();
        let sent = Utc::now();
        if let Ok(b) = self.hands.binding(&spec).await {
            self.learn(Update::Cloud {
                cluster: 0,
                at: sent,
                result: Ok(b),
                credential_source: None,
            });
        }
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
        let (a, now) = self.assess();
        let c = self.snapshot();
        let mut parts = Vec::new();
        for i in 0..2 {
            let v = &a.peers[i];
            let f = &c.peers[i];
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
            parts.push(format!("{} {}{vip}{run}{seen}", self.peer_name(i), v.state));
        }
        let bound = match (a.vip_bound_to, &c.cloud.binding) {
            (Some(b), _) => self.peer_name(b),
            (None, Some(_)) => "neither peer".into(),
            (None, None) => "unknown".into(),
        };
        let _ = now;
        format!(
            "{}; cloud binding {bound}; verdict {}",
            parts.join(", "),
            a.verdict
        )
    }

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
                LockView::Abandoned(h) => Some(h.token.clone()),
                LockView::Held(h) if overridden => Some(h.token.clone()),
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

    /// Re-checks at execute time that the plan still fits the cluster.
    async fn still_valid(&mut self, plan: &Plan) -> Result<(), String> {
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
            duration_ms: millis(clock.elapsed()),
        };
        self.log_on_peers(plan, &record).await;
        RunResult {
            outcome: ending.outcome,
            headline: ending.headline,
            state_left: ending.state_left,
            switchover,
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

    /// Runs one step of the plan.
    async fn run_step(
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

    /// Releases the lock, whatever happened (both peers at once), shown
    /// as the plan's last step; says which lock files are left.
    async fn release_and_report(
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
                crate::core::lockfile::lock_path(&plan.cluster),
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

    async fn start_keepalived(
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
    if a.peers[p].visible && a.peers[p].state != VrrpState::Master {
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

fn verify_check(
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
    use super::*;
    use crate::core::model::{CloudBinding, ClusterSpec, Fact, PeerObservation, PeerSpec, Witness};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 22, 44, 0)
            .single()
            .expect("valid time")
    }

    fn names() -> [String; 2] {
        ["n1".into(), "n2".into()]
    }

    fn cluster(mode: Mode) -> ClusterSnapshot {
        let peer = |n: &str, eni: &str| PeerSpec {
            name: n.into(),
            address: "sim".into(),
            network_interface_id: Some(eni.into()),
            instance_id: None,
        };
        ClusterSnapshot::new(ClusterSpec {
            name: "web".into(),
            mode,
            vip: "192.0.2.10".into(),
            havip_id: None,
            peers: [peer("n1", "eni-1"), peer("n2", "eni-2")],
        })
    }

    fn seen(c: &mut ClusterSnapshot, i: usize, state: VrrpState, vip: bool, running: bool) {
        c.peers[i].apply(PeerObservation {
            at: now(),
            reachable: Some(true),
            keepalived_running: Some(running),
            state_file: Some(state),
            vip_on_nic: Some(vip),
            ..Default::default()
        });
    }

    fn bind(c: &mut ClusterSnapshot, eni: &str, flushed: Option<DateTime<Utc>>) {
        c.cloud.binding = Some(Fact::new(
            CloudBinding {
                network_interface_id: Some(eni.into()),
                state: Some("AVAILABLE".into()),
                flushed_time: flushed,
                ..Default::default()
            },
            now(),
            Witness::Cloud,
        ));
    }

    fn judge(c: &ClusterSnapshot) -> Assessment {
        verdict::assess(c, now(), &Thresholds::default())
    }

    fn done(w: Wait) -> Result<String, String> {
        match w {
            Wait::Done(s) => Ok(s),
            Wait::Pending(s) => Err(format!("pending: {s}")),
            Wait::Fail(s) => Err(format!("fail: {s}")),
        }
    }

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
        use super::super::*;
        use super::now;

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
                ..failed(
                    "wait until n2 is MASTER: abandoned by the operator (last seen: n2 BACKUP)",
                )
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
            let f =
                "verify the whole cluster: timed out after 15s: waiting for: n1 BACKUP (is FAULT)";
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
}
