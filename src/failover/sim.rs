//! Failover against the embedded simulator: the config a simulated cluster
//! would have, the simulator run without a dashboard, and the demo's own
//! audit file. The executor acts on the simulator through its hands
//! (`super::hands::Hands::Sim`); the plan, steps, checks and session are
//! the ones every failover uses.

use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::core::config::{ClusterConfig, PeerConfig, PeerTarget};
use crate::core::model::ClusterSpec;
use crate::sources::monitor::Tasks;
use crate::sources::simulator::{self, world::SimCluster, SimCommand, SimTiming};

/// The config vipdeck would have for a simulated cluster: the seed's
/// paths and systemd commands, the simulator's ENIs and instances.
pub(crate) fn cluster_config(spec: &ClusterSpec) -> anyhow::Result<ClusterConfig> {
    let peer = |i: usize| {
        let p = &spec.peers[i];
        PeerConfig {
            name: p.name.clone(),
            target: PeerTarget::Ssh(p.address.clone()),
            network_interface_id: p.network_interface_id.clone(),
            instance_id: p.instance_id.clone(),
            interface: "eth0".into(),
            state_file: "/var/run/keepalived.state".into(),
            log_file: "/var/log/keepalived-notify.log".into(),
            keepalived_conf: "/etc/keepalived/keepalived.conf".into(),
            start_cmd: "systemctl start keepalived".into(),
            stop_cmd: "systemctl stop keepalived".into(),
            daemon_log: None,
            pid_file: "/run/keepalived.pid".into(),
            json_dump: "/tmp/keepalived.json".into(),
            data_dump: "/tmp/keepalived.data".into(),
        }
    };
    Ok(ClusterConfig {
        name: spec.name.clone(),
        mode: spec.mode,
        vip: spec
            .vip
            .parse()
            .map_err(|e| anyhow::anyhow!("simulated VIP {}: {e}", spec.vip))?,
        havip_id: spec.havip_id.clone(),
        region: None,
        converge_grace_ms: None,
        peers: [peer(0), peer(1)],
    })
}

/// Where failovers practised on the simulator are recorded: beside the
/// real audit trail, never in it (`<data dir>/demo-audit.jsonl`).
pub(crate) fn demo_audit_path() -> Option<PathBuf> {
    crate::core::config::data_dir().map(|d| d.join("demo-audit.jsonl"))
}

/// A simulator of `world` with no dashboard: its own reports are read and
/// dropped, so it never waits on them. Its tasks end with `tasks`.
pub(crate) fn spawn_headless(
    world: Vec<SimCluster>,
    timing: SimTiming,
    tasks: &mut Tasks,
) -> mpsc::Sender<SimCommand> {
    let (tx, mut rx) = mpsc::channel(1024);
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    tasks.spawn(simulator::run(world, timing, tx, cmd_rx));
    tasks.spawn(async move { while rx.recv().await.is_some() {} });
    cmd_tx
}
