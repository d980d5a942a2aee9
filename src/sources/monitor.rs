//! Starts the sources for a set of clusters and hands their one update
//! channel to a face. Sources never touch UI state.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::core::model::{ClusterSpec, CollectorLost, Snapshot, Update};
use crate::sources::simulator::{self, SimCommand, SimTiming};

/// Running sources: what they watch and where they report.
pub struct Sources {
    pub specs: Vec<ClusterSpec>,
    pub updates: mpsc::Receiver<Update>,
    /// Demo only: where the fault keys go (`status --watch --demo` in
    /// debug builds too).
    pub sim: Option<mpsc::Sender<SimCommand>>,
    /// For the title bar: where the facts come from.
    pub label: String,
    /// When facts count as stale, from the config's `[monitor]`.
    pub thresholds: crate::core::verdict::Thresholds,
    /// How long one-shot commands wait for the first round: each peer's
    /// connect + command timeouts (or the cloud's timeout), plus a margin.
    pub first_round: Duration,
    /// Attached faces only: whether the collector is heard from
    /// (`Some` while it is not), changed the moment a stream breaks.
    pub collector: Option<tokio::sync::watch::Receiver<Option<CollectorLost>>>,
    /// Clusters with a data-plane probe and how long a one-shot command
    /// waits for their first answer (interval's jitter + timeout).
    pub first_probes: (Vec<usize>, Duration),
    /// The tasks behind `updates`: they end when this is dropped.
    pub(crate) tasks: Tasks,
}

/// Every task a set of sources runs, owned in one place: dropping it (on
/// reload or exit) or calling [`Tasks::shutdown`] ends them all at once,
/// and with them their child processes (`ssh`, `tail`, `journalctl`: each
/// is spawned `kill_on_drop`).
#[derive(Default)]
pub(crate) struct Tasks {
    token: CancellationToken,
    set: JoinSet<()>,
}

impl Tasks {
    /// Runs `task` until it ends or the set is ended.
    pub(crate) fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        let token = self.token.clone();
        self.set.spawn(async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = task => {}
            }
        });
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.token.cancel();
        self.set.abort_all();
    }
}

/// The embedded simulator with the demo's two clusters.
/// The demo's simulated clusters (`count` of them; 2 is `web` and `pay`).
pub fn start_demo(count: usize) -> Sources {
    let timing = SimTiming::default();
    let world = simulator::demo_world(chrono::Utc::now(), &timing, count);
    let specs = world.iter().map(simulator::spec_of).collect();
    let (tx, rx) = mpsc::channel(1024);
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let mut tasks = Tasks::default();
    tasks.spawn(simulator::run(world, timing, tx, cmd_rx));
    Sources {
        specs,
        updates: rx,
        sim: Some(cmd_tx),
        label: "DEMO · simulated clusters".into(),
        thresholds: crate::core::verdict::Thresholds::default(),
        first_round: Duration::from_secs(8),
        first_probes: Default::default(),
        collector: None,
        tasks,
    }
}

/// Folds updates in until every cluster in `probed.0` has a data-plane
/// answer or `probed.1` passes: a one-shot verdict then weighs the VIP as
/// clients see it too.
pub async fn collect_first_probes(
    snapshot: &mut Snapshot,
    updates: &mut mpsc::Receiver<Update>,
    (probed, wait): &(Vec<usize>, Duration),
) {
    let until = tokio::time::Instant::now() + *wait;
    let answered = |s: &Snapshot| {
        probed
            .iter()
            .all(|&i| s.clusters.get(i).is_none_or(|c| c.dataplane.is_some()))
    };
    while !answered(snapshot) {
        match tokio::time::timeout_at(until, updates.recv()).await {
            Ok(Some(u)) => snapshot.apply(u),
            _ => break,
        }
    }
}

/// Whether every peer and every cloud binding has been heard from once,
/// and every running keepalived whose dump can be asked for has answered
/// (or failed to): the state file alone must not make a one-shot verdict.
pub(crate) fn first_round_complete(s: &Snapshot) -> bool {
    s.clusters.iter().all(|c| {
        c.peers
            .iter()
            .all(|p| p.reachable.is_some() && own_word_settled(p))
            && (c.cloud.binding.is_some() || c.cloud.error.is_some())
    })
}

fn own_word_settled(p: &crate::core::model::PeerFacts) -> bool {
    use crate::core::keepalived::version::DumpMethod;
    let running = p.keepalived_running.as_ref().is_some_and(|r| r.value);
    let reachable = p.reachable.as_ref().is_some_and(|r| r.value);
    match &p.keepalived {
        Some(k) if running && reachable => {
            matches!(k.dump, DumpMethod::None { .. })
                || p.keepalived_state.is_some()
                || p.keepalived_dump_error.is_some()
        }
        _ => true,
    }
}

/// After the first answers, how long a quiet spell ends the logs' backlog,
/// and the most it is waited for.
const BACKLOG_QUIET: Duration = Duration::from_millis(400);
const BACKLOG_MAX: Duration = Duration::from_millis(2500);
/// Beyond the connect and command timeouts, for the report to arrive.
const FIRST_ROUND_MARGIN: Duration = Duration::from_secs(2);

/// Folds updates into `snapshot` until the first round is complete or
/// `deadline` passes; then each peer that never answered is marked
/// unreachable with the reason, so the report says whom it gave up on.
pub async fn collect_first_round(
    snapshot: &mut Snapshot,
    updates: &mut mpsc::Receiver<Update>,
    deadline: Duration,
) {
    collect_first_round_seeing(snapshot, updates, deadline, &mut |_| {}).await
}

/// [`collect_first_round`], showing `see` every update before it is folded
/// in (the incident record keeps the log lines in a store of its own).
pub(crate) async fn collect_first_round_seeing(
    snapshot: &mut Snapshot,
    updates: &mut mpsc::Receiver<Update>,
    deadline: Duration,
    see: &mut (dyn FnMut(&Update) + Send),
) {
    let until = tokio::time::Instant::now() + deadline;
    while !first_round_complete(snapshot) {
        match tokio::time::timeout_at(until, updates.recv()).await {
            Ok(Some(u)) => {
                see(&u);
                snapshot.apply(u)
            }
            Ok(None) | Err(_) => break,
        }
    }
    // The logs' backlog (a notify script's failure line is evidence) comes
    // right after the first answers: take it until the updates go quiet.
    let started = tokio::time::Instant::now();
    let backlog_until = (started + BACKLOG_MAX).min(until.max(started));
    let mut quiet_from = started;
    loop {
        let quiet = (quiet_from + BACKLOG_QUIET).min(backlog_until);
        match tokio::time::timeout_at(quiet, updates.recv()).await {
            Ok(Some(u)) => {
                if matches!(u, Update::Log { .. }) {
                    quiet_from = tokio::time::Instant::now();
                }
                see(&u);
                snapshot.apply(u);
            }
            Ok(None) | Err(_) => break,
        }
    }
    let now = chrono::Utc::now();
    for c in &mut snapshot.clusters {
        for p in &mut c.peers {
            if p.reachable.is_none() {
                p.apply(PeerObservation::unreachable(
                    now,
                    format!(
                        "gave up: no answer within {} (connect + command timeouts)",
                        crate::core::humanize::duration(deadline)
                    ),
                ));
            }
        }
    }
}

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::Notify;

use crate::core::config::{Config, PeerConfig, PeerTarget};
use crate::core::keepalived::logline;
use crate::core::lockfile;
use crate::core::model::{LogSource, PeerObservation};
use crate::sources::host::{self, connect, on_our_clock, HostPeer, HostWatch, CLOCK_UNKNOWN};
use crate::sources::probe::{self, ProbePaths, ProbeWants};
use crate::sources::transport::{self, FollowEvent, Shell, SshTarget, Target};

/// How often keepalived is asked for its own JSON dump when nothing
/// changed (each ask writes a line to its log).
const DUMP_EVERY: Duration = Duration::from_secs(60);
/// Beyond the connect timeout, for ssh to report its own failure.
const CONNECT_MARGIN: Duration = Duration::from_millis(500);
/// How many old log lines to show when a follower starts.
const LOG_BACKLOG: usize = 200;

/// Where ControlMaster sockets go: short, private, per user.
/// The private ControlMaster directory; checked (owner, mode, not a
/// link) before every ssh start by the transport.
fn control_dir() -> std::path::PathBuf {
    crate::sources::transport::control_dir()
}

pub(crate) fn target_of(peer: &PeerConfig, config: &Config) -> Target {
    match &peer.target {
        PeerTarget::Local => Target::Local,
        PeerTarget::Ssh(dest) => Target::Ssh(SshTarget {
            destination: dest.clone(),
            config_file: config.ssh.config_file.clone(),
            control_dir: control_dir(),
            connect_timeout: config.ssh.connect_timeout(),
        }),
    }
}

/// Lifts the soft limit on open files to the hard one: each peer host
/// costs about 6–8 descriptors (docs/performance.md), and a fleet of
/// distinct hosts outgrows the usual soft 1024 long before the hard limit.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Which watcher runs: `VIPDECK_WATCHER=legacy` keeps the one of earlier
/// versions (per peer: its own shell, a state loop forking `stat`, `head`,
/// `base64` and `sleep` every 100 ms, its own tails), for comparison.
fn legacy_watcher() -> bool {
    std::env::var("VIPDECK_WATCHER").as_deref() == Ok("legacy")
}

/// Probes, state-file followers and log followers for every peer of
/// `config`, plus the cloud poller.
pub fn start_config(config: &Config) -> Sources {
    raise_fd_limit();
    let (tx, rx) = mpsc::channel(4096);
    let mut tasks = Tasks::default();
    // The cloud first: its own task, whatever the peers cost to start.
    tasks.spawn(poll_cloud(config, tx.clone()));
    // The data-plane witness: its own tasks, only for clusters with a probe.
    let probed = crate::sources::dataplane::probed_clusters(config);
    let first_probes = crate::sources::dataplane::first_answers(&probed);
    if !probed.is_empty() {
        tasks.spawn(crate::sources::dataplane::watch(
            probed,
            crate::sources::dataplane::MAX_IN_FLIGHT,
            tx.clone(),
        ));
    }
    if legacy_watcher() {
        start_legacy(config, &tx, &mut tasks);
    } else {
        start_hosts(config, &tx, &mut tasks);
    }
    Sources {
        specs: config.specs(),
        updates: rx,
        sim: None,
        label: config
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "config".into()),
        thresholds: config.thresholds(),
        first_round: (config.ssh.connect_timeout()
            + config.ssh.command_timeout()
            + host::first_poll_allowance(largest_host(config)))
        .max(config.cloud.timeout())
            + FIRST_ROUND_MARGIN,
        first_probes,
        collector: None,
        tasks,
    }
}

fn paths_of(peer: &PeerConfig) -> ProbePaths {
    ProbePaths {
        state_file: peer.state_file.display().to_string(),
        keepalived_conf: peer.keepalived_conf.display().to_string(),
        interface: peer.interface.clone(),
        pid_file: peer.pid_file.display().to_string(),
        json_dump: peer.json_dump.display().to_string(),
        data_dump: peer.data_dump.display().to_string(),
    }
}

fn log_commands(peer: &PeerConfig) -> [(LogSource, String); 2] {
    let script_log = format!(
        "date +%z; exec tail -n {LOG_BACKLOG} -F -- {} 2>/dev/null",
        transport::quote(&peer.log_file.display().to_string())
    );
    let daemon_log = match &peer.daemon_log {
        Some(f) => format!(
            "date +%z; exec tail -n {LOG_BACKLOG} -F -- {} 2>/dev/null",
            transport::quote(&f.display().to_string())
        ),
        None => format!(
            "date +%z; exec journalctl -u keepalived -o short-iso-precise -n {LOG_BACKLOG} -f 2>/dev/null"
        ),
    };
    [
        (LogSource::Script, script_log),
        (LogSource::Daemon, daemon_log),
    ]
}

/// One connection per host: clusters that name the same host share its
/// shell, its watcher channel and one tail per log file.
/// The most peers one host serves (its first poll is the longest).
fn largest_host(config: &Config) -> usize {
    let mut targets: Vec<(Target, usize)> = Vec::new();
    for peer in config.clusters.iter().flat_map(|c| &c.peers) {
        let target = target_of(peer, config);
        match targets.iter_mut().find(|(t, _)| *t == target) {
            Some((_, n)) => *n += 1,
            None => targets.push((target, 1)),
        }
    }
    targets.into_iter().map(|(_, n)| n).max().unwrap_or(0)
}

fn start_hosts(config: &Config, tx: &mpsc::Sender<Update>, tasks: &mut Tasks) {
    let mut hosts: Vec<(Target, Vec<HostPeer>, Vec<PeerConfig>)> = Vec::new();
    for (ci, cluster) in config.clusters.iter().enumerate() {
        for (pi, peer) in cluster.peers.iter().enumerate() {
            let target = target_of(peer, config);
            let hp = HostPeer {
                cluster: ci,
                peer: pi,
                paths: paths_of(peer),
                vip: cluster.vip.to_string(),
                lock: lockfile::lock_path_in(
                    &lockfile::lock_dir_from(&config.failover.lock_dir)
                        .unwrap_or_else(|_| lockfile::lock_dir()),
                    &cluster.name,
                ),
            };
            match hosts.iter_mut().find(|(t, _, _)| *t == target) {
                Some((_, ps, cs)) => {
                    ps.push(hp);
                    cs.push(peer.clone());
                }
                None => hosts.push((target, vec![hp], vec![peer.clone()])),
            }
        }
    }
    for (target, peers, confs) in hosts {
        let h = HostWatch::new(
            target.clone(),
            peers.clone(),
            config.monitor.poll_interval(),
            config.ssh.command_timeout(),
            config.ssh.connect_timeout(),
            tx.clone(),
        );
        tasks.spawn(host::poll_host(h.clone()));
        tasks.spawn(host::watch_host(h.clone()));
        // One `tail -F` for every log file of the host (one process, one
        // inotify instance), one `journalctl -f` per distinct command.
        let mut tails: Routes = Vec::new();
        let mut journals: Vec<(String, Vec<Reader>)> = Vec::new();
        for (p, pc) in peers.iter().zip(&confs) {
            let mut files = vec![(LogSource::Script, Some(&pc.log_file))];
            files.push((LogSource::Daemon, pc.daemon_log.as_ref()));
            for (source, file) in files {
                let reader = (p.cluster, p.peer, source);
                match file {
                    Some(f) => {
                        let f = Some(f.display().to_string());
                        match tails.iter_mut().find(|(x, _)| *x == f) {
                            Some((_, r)) => r.push(reader),
                            None => tails.push((f, vec![reader])),
                        }
                    }
                    None => {
                        let cmd = log_commands(pc)[1].1.clone();
                        match journals.iter_mut().find(|(c, _)| *c == cmd) {
                            Some((_, r)) => r.push(reader),
                            None => journals.push((cmd, vec![reader])),
                        }
                    }
                }
            }
        }
        let mut streams: Vec<(String, Routes)> = journals
            .into_iter()
            .map(|(cmd, r)| (cmd, vec![(None, r)]))
            .collect();
        streams.extend(tail_commands(tails));
        for (cmd, files) in streams {
            let h = h.clone();
            let tx = tx.clone();
            let target = target.clone();
            tasks.spawn(async move {
                h.until_ready().await;
                let f = LogFollow {
                    files,
                    clock: h.clock.clone(),
                };
                follow_log(f, target, cmd, tx).await
            });
        }
    }
}

/// The watcher of earlier versions, kept selectable to measure against.
fn start_legacy(config: &Config, tx: &mpsc::Sender<Update>, tasks: &mut Tasks) {
    for (ci, cluster) in config.clusters.iter().enumerate() {
        let vip = cluster.vip.to_string();
        for (pi, peer) in cluster.peers.iter().enumerate() {
            let target = target_of(peer, config);
            let wake = Arc::new(Notify::new());
            let clock = Arc::new(AtomicI64::new(CLOCK_UNKNOWN));
            tasks.spawn(poll_peer(PeerJob {
                cluster: ci,
                peer: pi,
                target: target.clone(),
                paths: paths_of(peer),
                vip: vip.clone(),
                interval: config.monitor.poll_interval(),
                timeout: config.ssh.command_timeout(),
                connect_timeout: config.ssh.connect_timeout(),
                wake: wake.clone(),
                clock: clock.clone(),
                tx: tx.clone(),
            }));
            tasks.spawn(follow_state(
                ci,
                pi,
                target.clone(),
                peer.state_file.display().to_string(),
                wake,
                tx.clone(),
            ));
            for (source, cmd) in log_commands(peer) {
                tasks.spawn(follow_log(
                    LogFollow {
                        files: vec![(None, vec![(ci, pi, source)])],
                        clock: clock.clone(),
                    },
                    target.clone(),
                    cmd,
                    tx.clone(),
                ));
            }
        }
    }
}

struct PeerJob {
    cluster: usize,
    peer: usize,
    target: Target,
    paths: ProbePaths,
    vip: String,
    interval: Duration,
    timeout: Duration,
    connect_timeout: Duration,
    /// Rung by the state-file follower: poll now.
    wake: Arc<Notify>,
    /// The peer's clock offset in ms, shared with its log followers.
    clock: Arc<AtomicI64>,
    tx: mpsc::Sender<Update>,
}

/// How long a log follower holds its first lines for the first measurement.
const CLOCK_WAIT: Duration = Duration::from_secs(10);

/// Polls one peer forever over one long-lived shell. A failed or hung
/// round costs one timeout; the shell is then replaced, with backoff.
async fn poll_peer(job: PeerJob) {
    let mut shell: Option<Shell> = None;
    let mut wants = ProbeWants {
        dump: true,
        known_conf_mtime: None,
    };
    let mut last_dump = tokio::time::Instant::now();
    let mut last_state_mtime = None;
    let mut backoff = job.interval;
    loop {
        let started = tokio::time::Instant::now();
        if shell.is_none() {
            match tokio::time::timeout(
                job.connect_timeout + CONNECT_MARGIN,
                // Slow is not down: the login (an LDAP lookup, a heavy shell
                // rc) is part of connecting, so the first command gets the
                // connect timeout, not the command timeout.
                connect(&job.target, job.connect_timeout),
            )
            .await
            {
                Ok(Ok(sh)) => shell = Some(sh),
                Ok(Err(e)) => report_down(&job, e).await,
                Err(_) => {
                    report_down(&job, format!("no answer within {:?}", job.connect_timeout)).await
                }
            }
        }
        let mut ok = false;
        if let Some(sh) = shell.as_mut() {
            let script = probe::script(&job.paths, &wants);
            let sent = Utc::now();
            match sh.run(&script, job.timeout).await {
                Ok((out, _)) => {
                    let received = Utc::now();
                    let mut r = probe::parse(&out, &job.vip, received);
                    if let Some(peer_ms) = r.peer_now_ms {
                        // The peer's time against ours at the middle of the
                        // round trip.
                        let mid = sent + (received - sent) / 2;
                        let offset_ms = peer_ms - mid.timestamp_millis();
                        job.clock.store(offset_ms, Ordering::Relaxed);
                        let u = Update::Clock {
                            cluster: job.cluster,
                            peer: job.peer,
                            at: received,
                            offset_ms,
                        };
                        if job.tx.send(u).await.is_err() {
                            return;
                        }
                    }
                    if r.peer_now_ms.is_none() {
                        // No usable `date` on the peer: its times are taken as ours.
                        let _ = job.clock.compare_exchange(
                            CLOCK_UNKNOWN,
                            0,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        );
                    }
                    let offset_ms = job.clock.load(Ordering::Relaxed);
                    r.observation.last_transition = r
                        .observation
                        .last_transition
                        .map(|t| on_our_clock(t, offset_ms));
                    for n in &r.notes {
                        tracing::debug!(cluster = job.cluster, peer = job.peer, "{n}");
                    }
                    if wants.dump {
                        last_dump = tokio::time::Instant::now();
                    }
                    let changed = last_state_mtime.is_some() && r.state_mtime != last_state_mtime;
                    last_state_mtime = r.state_mtime;
                    wants.known_conf_mtime = r.conf_mtime.clone();
                    wants.dump = changed || last_dump.elapsed() >= DUMP_EVERY;
                    let update = Update::Peer {
                        cluster: job.cluster,
                        peer: job.peer,
                        observation: r.observation,
                    };
                    if job.tx.send(update).await.is_err() {
                        return;
                    }
                    ok = true;
                    backoff = job.interval;
                }
                Err(e) => {
                    report_down(&job, e.to_string()).await;
                    if let Some(sh) = shell.take() {
                        sh.close().await;
                    }
                }
            }
        }
        let pause = if ok {
            job.interval.saturating_sub(started.elapsed())
        } else {
            backoff = (backoff * 2).min(Duration::from_secs(10));
            backoff
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = job.wake.notified() => {
                // A transition: ask keepalived for its own view too.
                wants.dump = true;
            }
        }
        if job.tx.is_closed() {
            return;
        }
    }
}

async fn report_down(job: &PeerJob, error: impl Into<String>) {
    let _ = job
        .tx
        .send(Update::Peer {
            cluster: job.cluster,
            peer: job.peer,
            observation: PeerObservation::unreachable(Utc::now(), error),
        })
        .await;
}

async fn follow_state(
    cluster: usize,
    peer: usize,
    target: Target,
    state_file: String,
    wake: Arc<Notify>,
    tx: mpsc::Sender<Update>,
) {
    let mut rx = transport::follow(target, probe::state_follow_script(&state_file));
    let mut first = true;
    while let Some(ev) = rx.recv().await {
        if let FollowEvent::Line(line) = ev {
            let line = String::from_utf8_lossy(&line);
            if let Some(observation) = probe::parse_state_follow(&line, Utc::now()) {
                if tx
                    .send(Update::Peer {
                        cluster,
                        peer,
                        observation,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
                if !first {
                    wake.notify_one();
                }
                first = false;
            }
        }
    }
}

/// Who reads a log line: (cluster, peer, which log).
type Reader = (usize, usize, LogSource);
/// The files a log stream carries, and who reads each.
type Routes = Vec<(Option<String>, Vec<Reader>)>;

/// Most bytes of file names one `tail` is given: its command line is one
/// argument of `sh -c` (or of ssh, then of the peer's `sh -c`), and Linux
/// refuses one over 128 KiB. A host with thousands of log files gets a
/// `tail` per this many bytes of names (each one process, one inotify
/// instance).
const TAIL_ARGS_MAX: usize = 64 * 1024;

/// One `tail -v -F` command for the log files of `tails`, or several when
/// their names would not fit one command line; each with its routes.
fn tail_commands(tails: Routes) -> Vec<(String, Routes)> {
    let command = |files: &Routes| {
        let list: Vec<String> = files
            .iter()
            .filter_map(|(f, _)| f.as_deref().map(transport::quote))
            .collect();
        format!(
            "date +%z; exec tail -n {LOG_BACKLOG} -v -F -- {} 2>/dev/null",
            list.join(" ")
        )
    };
    let mut out = Vec::new();
    let mut chunk: Routes = Vec::new();
    let mut size = 0;
    for route in tails {
        let len = route
            .0
            .as_deref()
            .map_or(0, |f| transport::quote(f).len() + 1);
        if !chunk.is_empty() && size + len > TAIL_ARGS_MAX {
            out.push((command(&chunk), std::mem::take(&mut chunk)));
            size = 0;
        }
        size += len;
        chunk.push(route);
    }
    if !chunk.is_empty() {
        out.push((command(&chunk), chunk));
    }
    out
}

/// Which logs a follower reads, and the peer's clock offset.
struct LogFollow {
    /// The files its stream carries and who reads each: one entry with no
    /// path for a single log (`tail -F FILE`, `journalctl -f`); several
    /// for one `tail -v -F F1 F2 …`, whose `==> F <==` headers say which
    /// file the next lines are from.
    files: Routes,
    clock: Arc<AtomicI64>,
}

async fn follow_log(f: LogFollow, target: Target, remote: String, tx: mpsc::Sender<Update>) {
    let LogFollow { files, clock } = f;
    let mut rx = transport::follow(target, remote);
    let mut offset = *Utc::now().fixed_offset().offset();
    let mut expect_offset = true;
    let mut last_at = vec![Utc::now(); files.len()];
    let single = files.len() == 1 && files[0].0.is_none();
    let mut current: Option<usize> = single.then_some(0);
    let headers: Vec<Option<Vec<u8>>> = files
        .iter()
        .map(|(p, _)| p.as_ref().map(|p| format!("==> {p} <==").into_bytes()))
        .collect();
    let mut clock_known = false;
    while let Some(ev) = rx.recv().await {
        if !clock_known {
            // The backlog's times go on our clock too: wait (bounded) for
            // the first poll to measure the peer's offset.
            let until = tokio::time::Instant::now() + CLOCK_WAIT;
            while clock.load(Ordering::Relaxed) == CLOCK_UNKNOWN
                && tokio::time::Instant::now() < until
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            clock_known = true;
        }
        match ev {
            FollowEvent::Down(_) => {
                expect_offset = true;
                if !single {
                    current = None;
                }
            }
            FollowEvent::Line(bytes) => {
                if expect_offset {
                    expect_offset = false;
                    if let Some(o) = parse_offset(&String::from_utf8_lossy(&bytes)) {
                        offset = o;
                        continue;
                    }
                }
                if !single {
                    if let Some(i) = headers
                        .iter()
                        .position(|h| h.as_deref() == Some(&bytes[..]))
                    {
                        current = Some(i);
                        continue;
                    }
                }
                let Some(fi) = current else {
                    continue;
                };
                let now = Utc::now();
                let mut parsed = logline::parse_line(&bytes, offset, now);
                if parsed.line.trim().is_empty() {
                    continue;
                }
                // The peer's times on our clock, for merging and flapping.
                parsed.at = parsed
                    .at
                    .map(|at| on_our_clock(at, clock.load(Ordering::Relaxed)));
                // Lines without a time inherit the previous line's.
                let readers = &files[fi].1;
                for (k, &(cluster, peer, source)) in readers.iter().enumerate() {
                    // keepalived's log may be a whole syslog file
                    // (/var/log/messages): other programs' lines are not its.
                    if source == LogSource::Daemon && !parsed.may_be_keepalived() {
                        continue;
                    }
                    let line = parsed.to_log_line(peer, source, last_at[fi]);
                    if k + 1 == readers.len() {
                        last_at[fi] = line.at;
                    }
                    if tx.send(Update::Log { cluster, line }).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// `+0800` → UTC+8.
fn parse_offset(s: &str) -> Option<chrono::FixedOffset> {
    let s = s.trim();
    if s.len() != 5 {
        return None;
    }
    let sign = match &s[..1] {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    let h: i32 = s[1..3].parse().ok()?;
    let m: i32 = s[3..5].parse().ok()?;
    chrono::FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Polls the cloud binding of every cluster: one batched round per region
/// per cycle. A failing cloud reports its error; the last good answer
/// stays in the snapshot with its age.
fn poll_cloud(config: &Config, tx: mpsc::Sender<Update>) -> impl Future<Output = ()> {
    use crate::sources::cloud::poll_bindings;
    use std::collections::BTreeMap;

    let mut by_region: BTreeMap<String, Vec<(usize, ClusterSpec)>> = BTreeMap::new();
    for (i, c) in config.clusters.iter().enumerate() {
        by_region
            .entry(c.effective_region(&config.cloud).to_string())
            .or_default()
            .push((i, c.spec()));
    }
    let cloud = config.cloud.clone();
    let interval = config.cloud.poll_interval();
    async move {
        let report_all = |error: String| {
            let tx = tx.clone();
            let ids: Vec<usize> = by_region.values().flatten().map(|(i, _)| *i).collect();
            async move {
                for cluster in ids {
                    let u = Update::Cloud {
                        cluster,
                        at: Utc::now(),
                        result: Err(error.clone()),
                        credential_source: None,
                    };
                    if tx.send(u).await.is_err() {
                        return false;
                    }
                }
                true
            }
        };
        let mut clients = Vec::new();
        for (region, clusters) in &by_region {
            // No credentials, a bad endpoint: say so on every cycle, and
            // try again, so a fixed environment is picked up.
            let client = loop {
                match crate::sources::cloud::connect(&cloud, region).await {
                    Ok(c) => break c,
                    Err(e) => {
                        if !report_all(format!("cloud: {e}")).await {
                            return;
                        }
                        tokio::time::sleep(interval.max(Duration::from_secs(10))).await;
                    }
                }
            };
            let specs: Vec<ClusterSpec> = clusters.iter().map(|(_, s)| s.clone()).collect();
            let rounds = crate::sources::cloud::batch::rounds(&specs);
            clients.push((client, clusters.clone(), rounds));
        }
        let source = clients
            .first()
            .map(|(c, _, _)| c.credential_source())
            .unwrap_or_default();
        let mut cycle: usize = 0;
        loop {
            let started = tokio::time::Instant::now();
            let rounds = clients.iter().map(|(client, clusters, rounds)| async move {
                // A large fleet is read a round per cycle (at most two
                // calls per API each); the first pass reads every round,
                // so a one-shot has every answer at once.
                let now: Vec<&Vec<usize>> = if cycle == 0 {
                    rounds.iter().collect()
                } else {
                    rounds
                        .get(cycle % rounds.len().max(1))
                        .into_iter()
                        .collect()
                };
                let mut out = Vec::new();
                for round in now {
                    let specs: Vec<ClusterSpec> =
                        round.iter().map(|&k| clusters[k].1.clone()).collect();
                    let results = poll_bindings(client, &specs).await;
                    out.extend(round.iter().map(|&k| clusters[k].0).zip(results));
                }
                out
            });
            for (cluster, result) in futures::future::join_all(rounds)
                .await
                .into_iter()
                .flatten()
            {
                let u = Update::Cloud {
                    cluster,
                    at: Utc::now(),
                    result,
                    credential_source: Some(source.clone()),
                };
                if tx.send(u).await.is_err() {
                    return;
                }
            }
            cycle += 1;
            tokio::time::sleep(interval.saturating_sub(started.elapsed())).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #24: a host of 4,000 log files got one `tail` whose command
    /// line Linux refused (over 128 KiB in one argument): no log was
    /// followed, silently. Now each `tail` gets at most 64 KiB of names,
    /// and a line written to the last file arrives.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn thousands_of_log_files_are_all_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = 4000;
        let mut routes: Routes = Vec::new();
        for i in 0..n {
            let f = dir
                .path()
                .join(format!("cluster-with-a-long-name-{i:05}-notify.log"));
            std::fs::write(&f, "").expect("log");
            routes.push((
                Some(f.display().to_string()),
                vec![(i, 0, LogSource::Script)],
            ));
        }
        let commands = tail_commands(routes);
        assert!(commands.len() >= 3, "{} commands", commands.len());
        let files: usize = commands.iter().map(|(_, r)| r.len()).sum();
        assert_eq!(files, n, "every file in exactly one tail");
        for (cmd, _) in &commands {
            assert!(cmd.len() < 100 * 1024, "{} bytes", cmd.len());
        }
        let (tx, mut rx) = mpsc::channel(64);
        let mut tasks = Vec::new();
        for (cmd, files) in commands {
            let f = LogFollow {
                files,
                clock: Arc::new(AtomicI64::new(0)),
            };
            tasks.push(tokio::spawn(follow_log(f, Target::Local, cmd, tx.clone())));
        }
        let last = dir
            .path()
            .join(format!("cluster-with-a-long-name-{:05}-notify.log", n - 1));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut seen = None;
        while seen.is_none() && tokio::time::Instant::now() < deadline {
            // (Written until the tail that reads it has started.)
            std::fs::write(&last, "vip.py: set done\n").expect("write");
            if let Ok(Some(Update::Log { cluster, .. })) =
                tokio::time::timeout(Duration::from_millis(500), rx.recv()).await
            {
                seen = Some(cluster);
            }
        }
        for t in tasks {
            t.abort();
        }
        assert_eq!(seen, Some(n - 1), "the last file's line arrives");
    }

    #[test]
    fn offsets_parse() {
        assert_eq!(
            parse_offset("+0800"),
            chrono::FixedOffset::east_opt(8 * 3600)
        );
        assert_eq!(
            parse_offset("-0130\n"),
            chrono::FixedOffset::east_opt(-5400)
        );
        assert_eq!(parse_offset("[2026-11-21"), None);
    }

    /// Processes whose command line names `marker`.
    fn processes_naming(marker: &str) -> Vec<String> {
        let mut found = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(marker) {
                found.push(format!("{}: {text}", e.file_name().to_string_lossy()));
            }
        }
        found
    }

    #[tokio::test]
    async fn dropping_the_sources_ends_every_task_and_child() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        for f in [
            "state-a", "state-b", "log-a", "log-b", "daemon-a", "daemon-b",
        ] {
            std::fs::write(dir.path().join(f), "BACKUP").expect("write");
        }
        let peer = |p: &str| {
            format!(
                "[[clusters.peers]]\nname = \"{p}\"\nlocal = true\n\
                 state_file = \"{d}/state-{p}\"\nlog_file = \"{d}/log-{p}\"\n\
                 daemon_log = \"{d}/daemon-{p}\"\nkeepalived_conf = \"{d}/k-{p}.conf\"\n"
            )
        };
        let text = format!(
            "[cloud]\nregion = \"ap-guangzhou\"\nendpoint = \"http://127.0.0.1:9\"\n\
             [[clusters]]\nname = \"t\"\nmode = \"havip\"\nvip = \"192.0.2.12\"\n\
             havip_id = \"havip-1\"\n{}{}",
            peer("a"),
            peer("b")
        );
        let config =
            crate::core::config::parse(&text, std::path::Path::new("t.toml")).expect("config");
        let mut sources = start_config(&config);
        // Both peers are local: one host, so one watcher loop and one
        // `tail` for the four logs.
        let is_tail = |p: &String| {
            p.split_once(": ")
                .is_some_and(|(_, c)| c.starts_with("tail "))
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !processes_naming(&d).iter().any(is_tail) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let running = processes_naming(&d);
        let tails: Vec<&String> = running.iter().filter(|p| is_tail(p)).collect();
        assert_eq!(tails.len(), 1, "one tail: {running:#?}");
        for f in ["log-a", "log-b", "daemon-a", "daemon-b"] {
            assert!(tails[0].contains(f), "{f} in {}", tails[0]);
        }
        // cloud, host poll, host watcher, the tail.
        assert_eq!(sources.tasks.set.len(), 4);
        // A line in one log reaches that peer and log only.
        tokio::time::sleep(Duration::from_millis(500)).await;
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(dir.path().join("daemon-b"))
                .expect("open");
            writeln!(f, "\nKeepalived_vrrp[1]: marker-line-b").expect("append");
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut seen = None;
        while seen.is_none() && tokio::time::Instant::now() < deadline {
            if let Ok(Some(Update::Log { cluster, line })) =
                tokio::time::timeout(Duration::from_millis(200), sources.updates.recv()).await
            {
                if line.text.contains("marker-line-b") {
                    seen = Some((cluster, line.peer, line.source));
                }
            }
        }
        assert_eq!(seen, Some((0, 1, LogSource::Daemon)));
        drop(sources);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !processes_naming(&d).is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(processes_naming(&d), Vec::<String>::new(), "left running");
    }
}
