//! The embedded simulator behind `vipdeck demo` and `status --demo`: two
//! clusters (one `havip`, one `eni`) stepped in real time, observed the way
//! the real sources observe peers, and reported as the same [`Update`]s
//! through the same channel.

pub mod world;

use crate::core::lockfile::{LockInfo, LockSeen};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use crate::core::dataplane::{NoAnswer, ProbeOutcome, ProbeResult};
use crate::core::keepalived::logline;
use crate::core::keepalived::track::{ConfTracker, DumpWhy, TrackKind, TrackStatus, Tracker};
use crate::core::model::CloudBinding;
use crate::core::model::{
    ClusterSpec, ConfigSummary, LogLine, Mode, PeerObservation, PeerSpec, Update, VrrpState,
};
use crate::core::vpc::types::{binding_from_enis, binding_from_havip, HaVip, NetworkInterface};
use world::{ClusterParams, SimCluster, SimPeer};

/// What a failover does to a simulated peer, as its shell would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAct {
    /// Prints `FREE`, or `HELD` and the lock's content.
    LockRead,
    /// Prints `ACQUIRED`, or `HELD` and the holder; `take_over` first
    /// removes a lock with exactly that token.
    LockAcquire {
        content: String,
        take_over: Option<String>,
    },
    /// Removes the lock if it holds `token`.
    LockRelease { token: String },
    /// `systemctl stop keepalived` (no supervisor restarts it).
    Stop,
    /// `systemctl start keepalived`.
    Start,
    /// `arping -U` of the VIP from this peer.
    Garp,
    /// A line appended to the peer's log.
    Log { line: String },
}

/// What a failover asks of the simulated cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudAct {
    /// The cluster's binding, as a poll reads it.
    Binding,
    /// DescribeNetworkInterfaces of the cluster's ENIs.
    Enis,
    /// DescribeHaVips of the cluster's HAVIP.
    HaVips,
    /// MigratePrivateIpAddress of the VIP to this ENI: a RequestId.
    Migrate { to_eni: String },
}

/// The simulated cloud's answer to a [`CloudAct`].
#[derive(Debug, Clone)]
pub enum CloudAnswer {
    Binding(CloudBinding),
    Enis(Vec<NetworkInterface>),
    HaVips(Vec<HaVip>),
    RequestId(String),
}

/// Why a simulated cloud call failed: the API's error code and words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudRefusal {
    pub code: String,
    pub message: String,
    pub request_id: String,
}

/// A reply from a simulated peer's shell: (output, exit code) or why it
/// could not run.
pub type PeerReply = oneshot::Sender<Result<(String, i32), String>>;
/// A reply from the simulated cloud.
pub type CloudReply = oneshot::Sender<Result<CloudAnswer, CloudRefusal>>;

/// A fault to inject, or to heal, from the demo keys; or what a failover
/// run against the simulator does (watch one cluster, act on a peer or the
/// cloud).
#[derive(Debug)]
pub enum SimCommand {
    /// keepalived exits on the current MASTER.
    KillMaster { cluster: usize },
    /// Start keepalived wherever it is stopped.
    StartStopped { cluster: usize },
    /// vipdeck's SSH to this peer times out (toggle).
    ToggleUnreachable { cluster: usize, peer: usize },
    /// Cut the VRRP link between the peers (toggle): both become MASTER.
    ToggleLinkCut { cluster: usize },
    /// The notify path breaks: vip.py fails / the GARP is ignored (toggle).
    ToggleMoveBroken { cluster: usize },
    /// The cloud applies moves 20 s late (toggle).
    ToggleCloudLag { cluster: usize },
    /// The cloud API answers errors (toggle).
    ToggleCloudFailing { cluster: usize },
    /// Clear every fault and start keepalived everywhere.
    Heal { cluster: usize },
    /// Report the cluster named `name` also to `updates`, as cluster 0,
    /// watched closely (peers every 500 ms, the cloud every 250 ms, as the
    /// executor watches a real cluster). Replies with its spec (`None`: no
    /// such cluster).
    Watch {
        name: String,
        updates: mpsc::Sender<Update>,
        /// Also send the simulated probe of the VIP (for a cluster the
        /// demo probes); off when the failover probes a real service.
        dataplane: bool,
        /// The spec, and whether the demo probes the cluster's VIP.
        reply: oneshot::Sender<Option<(ClusterSpec, bool)>>,
    },
    /// Acts on a peer of the cluster named `cluster`.
    Peer {
        cluster: String,
        peer: usize,
        act: PeerAct,
        reply: PeerReply,
    },
    /// Asks the cloud around the cluster named `cluster`.
    Cloud {
        cluster: String,
        act: CloudAct,
        reply: CloudReply,
    },
}

impl SimCommand {
    /// What the command does, for the status line.
    pub(crate) fn describe(&self, clusters: &[ClusterSpec]) -> String {
        let name = |c: &usize| clusters.get(*c).map(|s| s.name.as_str()).unwrap_or("?");
        match self {
            SimCommand::KillMaster { cluster } => {
                format!(
                    "{}: killed keepalived on the MASTER (systemd restarts it in {KEEPALIVED_RESTART_SECS}s)",
                    name(cluster)
                )
            }
            SimCommand::StartStopped { cluster } => {
                format!("{}: started keepalived where it was stopped", name(cluster))
            }
            SimCommand::ToggleUnreachable { cluster, peer } => {
                let p = clusters
                    .get(*cluster)
                    .and_then(|c| c.peers.get(*peer))
                    .map(|p| p.name.as_str())
                    .unwrap_or("?");
                format!("{}: toggled SSH black hole on {p}", name(cluster))
            }
            SimCommand::ToggleLinkCut { cluster } => {
                format!("{}: toggled the VRRP link cut", name(cluster))
            }
            SimCommand::ToggleMoveBroken { cluster } => {
                format!("{}: toggled notify script failure", name(cluster))
            }
            SimCommand::ToggleCloudLag { cluster } => {
                format!("{}: toggled cloud lag (+20s)", name(cluster))
            }
            SimCommand::ToggleCloudFailing { cluster } => {
                format!("{}: toggled cloud API errors", name(cluster))
            }
            SimCommand::Heal { cluster } => format!("{}: healed all faults", name(cluster)),
            SimCommand::Watch { name, .. } => format!("{name}: watched by a failover"),
            SimCommand::Peer { cluster, act, .. } => format!("{cluster}: {act:?}"),
            SimCommand::Cloud { cluster, act, .. } => format!("{cluster}: {act:?}"),
        }
    }
}

/// How long the simulated supervisor waits before restarting a killed
/// keepalived.
pub(crate) const KEEPALIVED_RESTART_SECS: i64 = 10;

/// How often the simulated sources look, as the real ones would.
#[derive(Debug, Clone, Copy)]
pub struct SimTiming {
    pub(crate) step: Duration,
    pub(crate) peer_poll: Duration,
    pub(crate) cloud_poll: Duration,
    pub cloud_delay: Duration,
}

impl Default for SimTiming {
    fn default() -> Self {
        SimTiming {
            step: Duration::from_millis(100),
            peer_poll: Duration::from_secs(1),
            cloud_poll: Duration::from_secs(2),
            cloud_delay: Duration::from_secs(2),
        }
    }
}

/// Which peer of a demo pair boots first (and becomes MASTER: havip-02,
/// pay-b), and how long after it the other one boots.
const FIRST_BOOT: usize = 1;
const SECOND_BOOT: Duration = Duration::from_secs(1);

/// The demo's clusters, already settled with history from `now - 30 s`:
/// `web` and `pay` (the first `count` of them), or for a larger `count` a
/// fleet named web-1, pay-1, web-2, db-1, … (see [`fleet_name`]).
pub(crate) fn demo_world(now: DateTime<Utc>, timing: &SimTiming, count: usize) -> Vec<SimCluster> {
    let start = now - chrono::Duration::seconds(30);
    if count > 2 {
        let mut clusters: Vec<SimCluster> = (0..count)
            .map(|i| fleet_cluster(i, start, timing))
            .collect();
        settle(&mut clusters, start, now);
        return clusters;
    }
    let mut web = SimCluster::booted_apart(
        ClusterParams {
            name: "web",
            mode: Mode::Havip,
            vip: "192.0.2.12",
            peer_names: ["havip-01", "havip-02"],
            addresses: [[192, 0, 2, 5], [192, 0, 2, 6]],
            priorities: [100, 100],
            cloud_delay: timing.cloud_delay,
        },
        start,
        FIRST_BOOT,
        SECOND_BOOT,
    );
    // The seed's HAVIP setup has no notify_stop.
    for p in &mut web.peers {
        p.notify_stop = false;
    }
    let mut pay = SimCluster::booted_apart(
        ClusterParams {
            name: "pay",
            mode: Mode::Eni,
            vip: "198.51.100.100",
            peer_names: ["pay-a", "pay-b"],
            addresses: [[198, 51, 100, 11], [198, 51, 100, 12]],
            priorities: [100, 100],
            cloud_delay: timing.cloud_delay,
        },
        start,
        FIRST_BOOT,
        SECOND_BOOT,
    );
    web.probed = true;
    pay.probed = true;
    let mut clusters = vec![web, pay];
    clusters.truncate(count.max(1));
    settle(&mut clusters, start, now);
    clusters
}

fn settle(clusters: &mut [SimCluster], start: DateTime<Utc>, now: DateTime<Utc>) {
    let mut t = start;
    while t < now {
        t += chrono::Duration::milliseconds(100);
        for c in clusters.iter_mut() {
            c.step(t);
        }
    }
}

/// The `i`th cluster of a large demo: every other one is `web-N`, the
/// rest `pay-N`, `db-N`, `cache-N`, `mq-N` in turn.
pub(crate) fn fleet_name(i: usize) -> String {
    if i.is_multiple_of(2) {
        return format!("web-{}", i / 2 + 1);
    }
    let k = i / 2;
    let kind = ["pay", "db", "cache", "mq"][k % 4];
    format!("{kind}-{}", k / 4 + 1)
}

fn fleet_cluster(i: usize, start: DateTime<Utc>, timing: &SimTiming) -> SimCluster {
    let name = fleet_name(i);
    let (a, b) = ((i / 250) as u8, (i % 250) as u8);
    let vip = format!("10.{a}.{b}.100");
    let peers = [format!("{name}-a"), format!("{name}-b")];
    let mode = if i.is_multiple_of(2) {
        Mode::Havip
    } else {
        Mode::Eni
    };
    let mut c = SimCluster::booted_apart(
        ClusterParams {
            name: &name,
            mode,
            vip: &vip,
            peer_names: [&peers[0], &peers[1]],
            addresses: [[10, a, b, 5], [10, a, b, 6]],
            priorities: [100, 100],
            cloud_delay: timing.cloud_delay,
        },
        start,
        FIRST_BOOT,
        SECOND_BOOT,
    );
    if mode == Mode::Havip {
        for p in &mut c.peers {
            p.notify_stop = false;
        }
    }
    c
}

/// The cluster spec vipdeck would have in its config for a simulated one.
pub fn spec_of(c: &SimCluster) -> ClusterSpec {
    let peer = |i: usize| {
        let p = &c.peers[i];
        PeerSpec {
            name: p.name.clone(),
            address: format!("sim:{}", p.ip()),
            network_interface_id: Some(p.eni.clone()),
            instance_id: Some(p.instance.clone()),
        }
    };
    ClusterSpec {
        name: c.name.clone(),
        mode: c.mode,
        vip: c.vip.clone(),
        havip_id: c.havip.as_ref().map(|h| h.ha_vip_id.clone()),
        peers: [peer(0), peer(1)],
    }
}

fn config_summary(c: &SimCluster, i: usize) -> ConfigSummary {
    let p = &c.peers[i];
    ConfigSummary {
        instance: c.instance.clone(),
        interface: Some("eth0".into()),
        virtual_router_id: Some(51),
        priority: Some(p.priority),
        advert_int: Some(c.advert_int.as_secs().to_string()),
        nopreempt: p.nopreempt,
        auth_type: Some("PASS".into()),
        // Both peers share the demo's password: the same tag.
        auth_digest: crate::core::keepalived::conf::Authentication::new(
            Some("PASS".into()),
            Some("vipdeck".into()),
        )
        .pass_digest(),
        unicast_src_ip: Some(p.ip()),
        unicast_peers: vec![c.peers[1 - i].ip()],
        virtual_ipaddresses: vec![c.vip.clone()],
        notify_scripts: vec!["/etc/keepalived/notify_action.sh".into()],
        other_instances: Vec::new(),
        garp_master_refresh: None,
        preempt_delay: None,
        // The seeds' pair: `check_self.sh` tracked with weight 0, and the
        // instance's own interface.
        trackers: vec![
            ConfTracker {
                kind: TrackKind::Script,
                name: "chk_self".into(),
                weight: Some(0),
                reverse: false,
            },
            ConfTracker {
                kind: TrackKind::Interface,
                name: "eth0".into(),
                weight: Some(0),
                reverse: false,
            },
        ],
    }
}

/// What the simulated keepalived's JSON dump says of priorities and
/// trackers: names only, as the real one (no tracker's result).
fn dump_why(p: &SimPeer) -> DumpWhy {
    let named = |kind, name: &str| Tracker {
        kind,
        name: name.into(),
        weight: None,
        reverse: false,
        status: TrackStatus::Unknown,
        said: None,
    };
    DumpWhy {
        base_priority: Some(p.priority),
        effective_priority: Some(p.priority),
        wantstate: Some(p.state.as_str().to_string()),
        nopreempt: Some(p.nopreempt),
        preempt_delay: Some(0.0),
        fault_count: None,
        trackers: vec![
            named(TrackKind::Interface, "eth0"),
            named(TrackKind::Script, "'/etc/keepalived/check_self.sh'"),
        ],
        interfaces: Vec::new(),
        results_given: false,
    }
}

/// One probe round of a peer, as the SSH probe would report it.
pub fn observe_peer(c: &SimCluster, i: usize, at: DateTime<Utc>) -> PeerObservation {
    let p = &c.peers[i];
    if p.faults.unreachable {
        return PeerObservation::unreachable(
            at,
            format!(
                "ssh: connect to host {} port 22: Connection timed out",
                p.ip()
            ),
        );
    }
    PeerObservation {
        at,
        reachable: Some(true),
        error: None,
        keepalived_running: Some(p.running),
        state_file: Some(p.state_file),
        state_file_raw: None,
        keepalived_state: p.running.then_some(p.state),
        keepalived_why: p.running.then(|| Box::new(dump_why(p))),
        // The simulator plays Debian 12's keepalived, which has the JSON dump.
        keepalived: Some(Box::new(crate::core::keepalived::version::detect(
            "Keepalived v2.2.7 (simulated)",
            Some("36"),
            Some("10"),
        ))),
        vip_on_nic: Some(p.vip_on_nic),
        priority: Some(p.priority),
        config: Some(config_summary(c, i)),
        last_transition: Some(p.last_transition),
        watcher: Some("simulated".into()),
        failover_lock: Some(match &p.lock {
            Some(content) => LockInfo::parse(content).seen(),
            None => LockSeen::Free,
        }),
        ..Default::default()
    }
}

/// One cloud poll of a cluster, through the same typed cloud model the
/// real client returns.
pub fn observe_cloud(c: &SimCluster) -> Result<crate::core::model::CloudBinding, String> {
    if c.cloud_faults.failing {
        return Err("InternalError: An internal error has occurred. (RequestId sim-error)".into());
    }
    Ok(match (&c.mode, &c.havip) {
        (Mode::Havip, Some(h)) => binding_from_havip(h),
        _ => binding_from_enis(&c.vip, &c.enis),
    })
}

/// What a client probing the VIP would see: an answer from the peer the
/// VPC sends it to (the ENI the binding names) when that peer holds the VIP
/// on its NIC, else nothing within the demo probe's timeout — a binding
/// that has not followed the master is an outage here as in a VPC.
pub fn observe_dataplane(c: &SimCluster, at: DateTime<Utc>) -> ProbeResult {
    let binding = match (&c.mode, &c.havip) {
        (Mode::Havip, Some(h)) => binding_from_havip(h),
        _ => binding_from_enis(&c.vip, &c.enis),
    };
    let serving = c
        .peers
        .iter()
        .find(|p| p.vip_on_nic && binding.network_interface_id.as_deref() == Some(p.eni.as_str()));
    let outcome = match serving {
        Some(p) => ProbeOutcome::Answered {
            // Sub-millisecond, varying a little as a LAN does.
            rtt: Duration::from_micros(300 + u64::from(at.timestamp_subsec_millis() % 200)),
            node: Some(p.name.clone()),
        },
        None => ProbeOutcome::NoAnswer(NoAnswer::Timeout(DEMO_PROBE_TIMEOUT)),
    };
    ProbeResult { at, outcome }
}

/// What a simulated peer's shell answers to `act`.
fn peer_act(
    c: &mut SimCluster,
    i: usize,
    act: PeerAct,
    now: DateTime<Utc>,
) -> Result<(String, i32), String> {
    let Some(p) = c.peers.get(i) else {
        return Err(format!("no peer {i}"));
    };
    if p.faults.unreachable {
        return Err(format!(
            "{}: ssh: connect to host {} port 22: Connection timed out",
            p.name,
            p.ip()
        ));
    }
    let out = match act {
        PeerAct::LockRead => match &c.peers[i].lock {
            Some(l) => format!("HELD\n{l}"),
            None => "FREE".into(),
        },
        PeerAct::LockAcquire { content, take_over } => {
            let lock = &mut c.peers[i].lock;
            if let (Some(tok), Some(l)) = (&take_over, lock.as_ref()) {
                if l.contains(&format!("\"token\":\"{tok}\"")) {
                    *lock = None;
                }
            }
            match lock {
                Some(l) => format!("HELD\n{l}"),
                None => {
                    *lock = Some(content);
                    "ACQUIRED".into()
                }
            }
        }
        PeerAct::LockRelease { token } => {
            let lock = &mut c.peers[i].lock;
            if lock
                .as_ref()
                .is_some_and(|l| l.contains(&format!("\"token\":\"{token}\"")))
            {
                *lock = None;
            }
            String::new()
        }
        PeerAct::Stop => {
            c.ask_stop(i, now);
            String::new()
        }
        PeerAct::Start => {
            c.ask_start(i, now);
            String::new()
        }
        PeerAct::Garp => {
            c.arping(i, now);
            format!(
                "ARPING {} from {} eth0\nSent 1 probes (1 broadcast(s))\nReceived 0 response(s)",
                c.vip, c.vip
            )
        }
        PeerAct::Log { line } => {
            c.peer_log_line(i, now, &line);
            String::new()
        }
    };
    Ok((out, 0))
}

/// What the simulated cloud answers to `act`.
fn cloud_act(
    c: &mut SimCluster,
    act: CloudAct,
    now: DateTime<Utc>,
) -> Result<CloudAnswer, CloudRefusal> {
    let request_id = format!("sim-{}-{}", c.name, now.timestamp_millis());
    if c.cloud_faults.failing {
        return Err(CloudRefusal {
            code: "InternalError".into(),
            message: "An internal error has occurred.".into(),
            request_id,
        });
    }
    Ok(match act {
        CloudAct::Binding => {
            CloudAnswer::Binding(observe_cloud(c).map_err(|message| CloudRefusal {
                code: "InternalError".into(),
                message,
                request_id: request_id.clone(),
            })?)
        }
        CloudAct::Enis => CloudAnswer::Enis(c.enis.clone()),
        CloudAct::HaVips => CloudAnswer::HaVips(c.havip.iter().cloned().collect()),
        CloudAct::Migrate { to_eni } => {
            let Some(to) = c.peers.iter().position(|p| p.eni == to_eni) else {
                return Err(CloudRefusal {
                    code: "InvalidParameterValue".into(),
                    message: format!("the network interface {to_eni} does not exist"),
                    request_id,
                });
            };
            if !c.api_migrate(to, now) {
                return Err(CloudRefusal {
                    code: "UnsupportedOperation.MutexOperationTaskRunning".into(),
                    message: "another migration of this address is running".into(),
                    request_id,
                });
            }
            CloudAnswer::RequestId(request_id)
        }
    })
}

fn apply_command(clusters: &mut [SimCluster], cmd: SimCommand, now: DateTime<Utc>) {
    match cmd {
        // Handled by the loop, which owns the watchers.
        SimCommand::Watch { reply, .. } => {
            let _ = reply.send(None);
        }
        SimCommand::Peer {
            cluster,
            peer,
            act,
            reply,
        } => {
            let r = match clusters.iter_mut().find(|c| c.name == cluster) {
                Some(c) => peer_act(c, peer, act, now),
                None => Err(format!("no simulated cluster `{cluster}`")),
            };
            let _ = reply.send(r);
        }
        SimCommand::Cloud {
            cluster,
            act,
            reply,
        } => {
            let r = match clusters.iter_mut().find(|c| c.name == cluster) {
                Some(c) => cloud_act(c, act, now),
                None => Err(CloudRefusal {
                    code: "ResourceNotFound".into(),
                    message: format!("no simulated cluster `{cluster}`"),
                    request_id: String::new(),
                }),
            };
            let _ = reply.send(r);
        }
        SimCommand::KillMaster { cluster } => {
            if let Some(c) = clusters.get_mut(cluster) {
                if let Some(m) = c.vrrp_master() {
                    c.stop_keepalived(m, now);
                    // As systemd's Restart=on-failure would, a little later.
                    c.peers[m].restart_at =
                        Some(now + chrono::Duration::seconds(KEEPALIVED_RESTART_SECS));
                }
            }
        }
        SimCommand::StartStopped { cluster } => {
            if let Some(c) = clusters.get_mut(cluster) {
                for i in 0..2 {
                    c.start_keepalived(i, now);
                }
            }
        }
        SimCommand::ToggleUnreachable { cluster, peer } => {
            if let Some(p) = clusters
                .get_mut(cluster)
                .and_then(|c| c.peers.get_mut(peer))
            {
                p.faults.unreachable = !p.faults.unreachable;
            }
        }
        SimCommand::ToggleLinkCut { cluster } => {
            if let Some(c) = clusters.get_mut(cluster) {
                c.peers[0].faults.link_cut = !c.peers[0].faults.link_cut;
            }
        }
        SimCommand::ToggleMoveBroken { cluster } => {
            if let Some(c) = clusters.get_mut(cluster) {
                c.cloud_faults.move_broken = !c.cloud_faults.move_broken;
            }
        }
        SimCommand::ToggleCloudLag { cluster } => {
            if let Some(c) = clusters.get_mut(cluster) {
                c.cloud_faults.lag = if c.cloud_faults.lag.is_zero() {
                    Duration::from_secs(20)
                } else {
                    Duration::ZERO
                };
            }
        }
        SimCommand::ToggleCloudFailing { cluster } => {
            if let Some(c) = clusters.get_mut(cluster) {
                c.cloud_faults.failing = !c.cloud_faults.failing;
            }
        }
        SimCommand::Heal { cluster } => {
            if let Some(c) = clusters.get_mut(cluster) {
                c.cloud_faults = Default::default();
                for i in 0..2 {
                    c.peers[i].faults = Default::default();
                    c.start_keepalived(i, now);
                }
            }
        }
    }
}

/// What a host's watcher notices at once on a peer, as the real one does:
/// the state file (its `[ -nt ]` loop) and the addresses on the NIC (`ip
/// monitor address`). A change of either brings a poll, which reads
/// everything else too: a keepalived that exits and drops the VIP is seen
/// gone at once, not a second later with its last dump still standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Watched {
    state_file: VrrpState,
    vip_on_nic: bool,
}

impl Watched {
    fn of(p: &world::SimPeer) -> Watched {
        Watched {
            state_file: p.state_file,
            vip_on_nic: p.vip_on_nic,
        }
    }
}

/// Whether the watcher of peer `p` has news since `last` (and remembers it).
fn watcher_news(last: &mut Option<Watched>, p: &world::SimPeer) -> bool {
    let now = Watched::of(p);
    if p.faults.unreachable || *last == Some(now) {
        return false;
    }
    *last = Some(now);
    true
}

/// A failover watching one simulated cluster ([`SimCommand::Watch`]).
struct Watcher {
    cluster: usize,
    tx: mpsc::Sender<Update>,
    dataplane: bool,
    next_peer_poll: DateTime<Utc>,
    next_cloud_poll: DateTime<Utc>,
    followed: [Option<Watched>; 2],
}

/// How closely a failover watches a simulated cluster.
/// How often, and with what timeout, the demo probes a VIP.
const DEMO_PROBE_INTERVAL: chrono::Duration = chrono::Duration::seconds(1);
const DEMO_PROBE_TIMEOUT: Duration = Duration::from_millis(800);

/// The probe the demo's simulated data plane stands for, as a failover
/// practised on it reads its answers (interval and timeout).
pub(crate) fn demo_probe_spec() -> crate::core::dataplane::ProbeSpec {
    use crate::core::dataplane::{ProbeSpec, ProbeTarget};
    ProbeSpec {
        target: ProbeTarget::Tcp { port: 80 },
        interval: Duration::from_secs(1),
        timeout: DEMO_PROBE_TIMEOUT,
        node_from: None,
    }
}
const WATCH_PEER_POLL: chrono::Duration = chrono::Duration::milliseconds(500);
const WATCH_CLOUD_POLL: chrono::Duration = chrono::Duration::milliseconds(250);

/// Runs the simulator until `updates` is closed: steps the world, follows
/// state files and logs as streams, polls peers and the cloud on their
/// intervals, and applies `commands` as they come.
pub async fn run(
    mut clusters: Vec<SimCluster>,
    timing: SimTiming,
    updates: mpsc::Sender<Update>,
    mut commands: mpsc::Receiver<SimCommand>,
) {
    let mut tick = tokio::time::interval(timing.step);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let never = DateTime::<Utc>::MIN_UTC;
    let n = clusters.len();
    let mut next_peer_poll = vec![never; n];
    let mut next_cloud_poll = vec![never; n];
    let mut next_probe = vec![never; n];
    // What each peer's watcher last reported.
    let mut followed: Vec<[Option<Watched>; 2]> = vec![[None, None]; n];
    let mut watchers: Vec<Watcher> = Vec::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            cmd = commands.recv() => match cmd {
                Some(SimCommand::Watch { name, updates, dataplane, reply }) => {
                    let found = clusters.iter().position(|c| c.name == name);
                    if let Some(ci) = found {
                        watchers.push(Watcher {
                            cluster: ci,
                            tx: updates,
                            dataplane: dataplane && clusters[ci].probed,
                            next_peer_poll: never,
                            next_cloud_poll: never,
                            followed: [None, None],
                        });
                    }
                    let _ = reply.send(found.map(|ci| (spec_of(&clusters[ci]), clusters[ci].probed)));
                }
                Some(cmd) => apply_command(&mut clusters, cmd, Utc::now()),
                None => {
                    // No one can inject faults any more; keep simulating.
                    commands = mpsc::channel(1).1;
                }
            },
        }
        let now = Utc::now();
        let mut batch = Vec::new();
        for (ci, c) in clusters.iter_mut().enumerate() {
            c.step(now);
            for l in c.logs.drain(..) {
                if !c.peers[l.peer].faults.unreachable {
                    batch.push(Update::Log {
                        cluster: ci,
                        line: LogLine {
                            peer: l.peer,
                            source: l.source,
                            at: l.at,
                            kind: l.kind,
                            announced: logline::announced_in(&l.text),
                            text: l.text,
                        },
                    });
                }
            }
            for (i, last) in followed[ci].iter_mut().enumerate() {
                if watcher_news(last, &c.peers[i]) {
                    batch.push(Update::Peer {
                        cluster: ci,
                        peer: i,
                        observation: observe_peer(c, i, now),
                    });
                }
            }
            if now >= next_peer_poll[ci] {
                next_peer_poll[ci] =
                    now + chrono::Duration::from_std(timing.peer_poll).unwrap_or_default();
                for i in 0..2 {
                    batch.push(Update::Peer {
                        cluster: ci,
                        peer: i,
                        observation: observe_peer(c, i, now),
                    });
                }
            }
            if now >= next_cloud_poll[ci] {
                next_cloud_poll[ci] =
                    now + chrono::Duration::from_std(timing.cloud_poll).unwrap_or_default();
                batch.push(Update::Cloud {
                    cluster: ci,
                    at: now,
                    result: observe_cloud(c),
                    credential_source: Some("simulator".into()),
                });
            }
            if c.probed && now >= next_probe[ci] {
                next_probe[ci] = now + DEMO_PROBE_INTERVAL;
                batch.push(Update::Dataplane {
                    cluster: ci,
                    result: observe_dataplane(c, now),
                    skipped_rounds: 0,
                });
            }
        }
        // A watching failover sees its cluster's logs and closer polls, as
        // cluster 0 of its own snapshot; one that went away is forgotten.
        watchers.retain_mut(|w| {
            let c = &clusters[w.cluster];
            let mut out: Vec<Update> = batch
                .iter()
                .filter_map(|u| match u {
                    Update::Log { cluster, line } if *cluster == w.cluster => Some(Update::Log {
                        cluster: 0,
                        line: line.clone(),
                    }),
                    Update::Dataplane {
                        cluster,
                        result,
                        skipped_rounds,
                    } if *cluster == w.cluster && w.dataplane => Some(Update::Dataplane {
                        cluster: 0,
                        result: result.clone(),
                        skipped_rounds: *skipped_rounds,
                    }),
                    _ => None,
                })
                .collect();
            let mut poll = now >= w.next_peer_poll;
            for (i, last) in w.followed.iter_mut().enumerate() {
                poll |= watcher_news(last, &c.peers[i]);
            }
            if poll {
                w.next_peer_poll = now + WATCH_PEER_POLL;
                for i in 0..2 {
                    out.push(Update::Peer {
                        cluster: 0,
                        peer: i,
                        observation: observe_peer(c, i, now),
                    });
                }
            }
            if now >= w.next_cloud_poll {
                w.next_cloud_poll = now + WATCH_CLOUD_POLL;
                out.push(Update::Cloud {
                    cluster: 0,
                    at: now,
                    result: observe_cloud(c),
                    credential_source: Some("simulator".into()),
                });
            }
            out.into_iter()
                .all(|u| !matches!(w.tx.try_send(u), Err(mpsc::error::TrySendError::Closed(_))))
        });
        for u in batch {
            if updates.send(u).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_master_is_restarted_by_the_supervisor_and_the_pair_heals() {
        let t0 = chrono::Utc::now();
        let mut world = demo_world(t0, &SimTiming::default(), 2);
        let m = world[1].vrrp_master().expect("a master");
        apply_command(&mut world, SimCommand::KillMaster { cluster: 1 }, t0);
        assert!(!world[1].peers[m].running);
        let mut t = t0;
        for _ in 0..(KEEPALIVED_RESTART_SECS * 10 + 50) {
            t += chrono::Duration::milliseconds(100);
            world[1].step(t);
        }
        assert!(world[1].peers[m].running, "restarted");
        assert_eq!(world[1].peers[m].state, VrrpState::Backup);
        assert_eq!(world[1].vrrp_master(), Some(1 - m));
        assert_eq!(world[1].cloud_holder(), Some(1 - m), "the binding followed");
    }

    #[test]
    fn the_demo_elects_once_at_start_up_not_twice() {
        // Both peers timing out together made two MASTER transitions (and
        // a yield) that counted towards flapping before anyone pressed a key.
        for c in demo_world(chrono::Utc::now(), &SimTiming::default(), 2) {
            let masters: Vec<&str> = c
                .logs
                .iter()
                .filter(|l| l.text.contains("Entering MASTER STATE"))
                .map(|l| l.text.as_str())
                .collect();
            assert_eq!(masters.len(), 1, "{}: {masters:?}", c.name);
            assert_eq!(c.vrrp_master(), Some(FIRST_BOOT), "{}", c.name);
        }
    }

    #[test]
    fn a_killed_master_is_seen_gone_before_its_backup_takes_over() {
        let t0 = chrono::Utc::now();
        let mut world = demo_world(t0, &SimTiming::default(), 1);
        let web = &mut world[0];
        let m = web.vrrp_master().expect("a master");
        let mut watched = [None, None];
        for (i, w) in watched.iter_mut().enumerate() {
            watcher_news(w, &web.peers[i]);
        }
        apply_command(&mut world, SimCommand::KillMaster { cluster: 0 }, t0);
        let web = &mut world[0];
        // keepalived dropped the VIP as it left: the watcher says so at
        // once, and the poll it brings finds keepalived gone.
        assert!(watcher_news(&mut watched[m], &web.peers[m]));
        let seen = observe_peer(web, m, t0);
        assert_eq!(seen.keepalived_running, Some(false));
        assert_eq!(seen.vip_on_nic, Some(false));
        // The BACKUP takes over after the skew time (priority 0), not in
        // the same instant.
        web.step(t0 + chrono::Duration::milliseconds(100));
        assert_eq!(web.vrrp_master(), None);
        web.step(t0 + chrono::Duration::milliseconds(700));
        assert_eq!(web.vrrp_master(), Some(1 - m));
    }

    #[test]
    fn a_large_demo_has_varied_unique_names() {
        let names: Vec<String> = (0..40).map(fleet_name).collect();
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), 40);
        assert!(names.contains(&"web-17".to_string()));
        let pay = names.iter().filter(|n| n.starts_with("pay")).count();
        assert!(pay > 1 && pay < 10, "{pay}");
        assert_eq!(
            demo_world(chrono::Utc::now(), &SimTiming::default(), 1).len(),
            1
        );
    }
}
