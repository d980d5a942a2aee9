//! The embedded simulator behind `vipdeck demo` and `status --demo`: two
//! clusters (one `havip`, one `eni`) stepped in real time, observed the way
//! the real sources observe peers, and reported as the same [`Update`]s
//! through the same channel.

pub mod world;

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::core::keepalived::logline;
use crate::core::model::{
    ClusterSpec, ConfigSummary, LogLine, Mode, PeerObservation, PeerSpec, Update, VrrpState,
};
use crate::core::vpc::types::{binding_from_enis, binding_from_havip};
use world::{ClusterParams, SimCluster};

/// A fault to inject, or to heal, from the demo keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The demo's two clusters, already settled with history from `now - 30 s`.
pub(crate) fn demo_world(now: DateTime<Utc>, timing: &SimTiming) -> Vec<SimCluster> {
    let start = now - chrono::Duration::seconds(30);
    let mut web = SimCluster::new(
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
    );
    // The seed's HAVIP setup has no notify_stop.
    for p in &mut web.peers {
        p.notify_stop = false;
    }
    let pay = SimCluster::new(
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
    );
    let mut clusters = vec![web, pay];
    let mut t = start;
    while t < now {
        t += chrono::Duration::milliseconds(100);
        for c in &mut clusters {
            c.step(t);
        }
    }
    clusters
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
        auth_digest: Some("5f4dcc3b".into()),
        unicast_src_ip: Some(p.ip()),
        unicast_peers: vec![c.peers[1 - i].ip()],
        virtual_ipaddresses: vec![c.vip.clone()],
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
        vip_on_nic: Some(p.vip_on_nic),
        priority: Some(p.priority),
        config: Some(config_summary(c, i)),
        last_transition: Some(p.last_transition),
        watcher: Some("simulated".into()),
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

fn apply_command(clusters: &mut [SimCluster], cmd: SimCommand, now: DateTime<Utc>) {
    match cmd {
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
    // The state-file word each follower last pushed.
    let mut followed: Vec<[Option<VrrpState>; 2]> = vec![[None, None]; n];
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            cmd = commands.recv() => match cmd {
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
                let p = &c.peers[i];
                if !p.faults.unreachable && *last != Some(p.state_file) {
                    *last = Some(p.state_file);
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
        }
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
        let mut world = demo_world(t0, &SimTiming::default());
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
}
