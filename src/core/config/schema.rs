//! The config's types and their defaults: the typed [`Config`] that the
//! rest of vipdeck reads, and the raw structs serde fills before the
//! checks in [`super::validate`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::core::dataplane::ProbeSpec;
use crate::core::model::{ClusterSpec, Mode, PeerSpec};
use crate::core::verdict::Thresholds;

/// The VPC API's public endpoint.
pub(crate) const DEFAULT_ENDPOINT: &str = "https://vpc.tencentcloudapi.com";

// ---------------------------------------------------------------------------
// The typed config
// ---------------------------------------------------------------------------

/// The whole config file, validated and with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    pub cloud: CloudConfig,
    pub ssh: SshConfig,
    pub monitor: MonitorConfig,
    pub ui: UiConfig,
    pub failover: FailoverConfig,
    pub alertmanager: AlertmanagerConfig,
    pub clusters: Vec<ClusterConfig>,
    /// The file this config came from; `None` for a built-in default.
    pub path: Option<PathBuf>,
    /// Things worth telling the operator that do not stop vipdeck (a
    /// world-readable file that mentions a secret key, ignored keys).
    pub warnings: Vec<String>,
}

/// `[cloud]`: how to reach the Tencent Cloud VPC API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudConfig {
    /// Default region for clusters that do not name their own.
    pub region: String,
    /// VPC API endpoint; point it at `vipdeck cloudsim` in tests.
    pub endpoint: String,
    /// tccli profile name (`~/.tccli/<profile>.credential`).
    pub profile: Option<String>,
    pub poll_interval_ms: u64,
    /// Per-request timeout.
    pub timeout_ms: u64,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            region: "ap-guangzhou".to_string(),
            endpoint: DEFAULT_ENDPOINT.to_string(),
            profile: None,
            poll_interval_ms: 5000,
            timeout_ms: 5000,
        }
    }
}

impl CloudConfig {
    pub(crate) fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// `[ssh]`: how the system OpenSSH client is run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SshConfig {
    /// Passed to `ssh -F`.
    pub config_file: Option<PathBuf>,
    pub connect_timeout_ms: u64,
    pub command_timeout_ms: u64,
}

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            config_file: None,
            connect_timeout_ms: 5000,
            command_timeout_ms: 3000,
        }
    }
}

impl SshConfig {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub(crate) fn command_timeout(&self) -> Duration {
        Duration::from_millis(self.command_timeout_ms)
    }
}

/// `[monitor]`: how often peers are probed and when facts count as stale.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    pub poll_interval_ms: u64,
    pub peer_stale_after_ms: u64,
    pub cloud_stale_after_ms: u64,
    /// HAVIP mode: how long after the new master's gratuitous ARP the
    /// HAVIP may lag before it is `vip_drift`.
    pub havip_grace_ms: u64,
    /// ENI mode: how long after a transition the migration may take.
    pub eni_grace_ms: u64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            poll_interval_ms: 1000,
            peer_stale_after_ms: 10_000,
            cloud_stale_after_ms: 60_000,
            havip_grace_ms: 10_000,
            eni_grace_ms: 30_000,
        }
    }
}

impl MonitorConfig {
    pub(crate) fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// The verdict thresholds; flapping keeps the built-in defaults.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            peer_stale_after: Duration::from_millis(self.peer_stale_after_ms),
            cloud_stale_after: Duration::from_millis(self.cloud_stale_after_ms),
            havip_grace: Duration::from_millis(self.havip_grace_ms),
            eni_grace: Duration::from_millis(self.eni_grace_ms),
            ..Thresholds::default()
        }
    }
}

impl Config {
    /// The verdict thresholds with each cluster's own `converge_grace_ms`.
    pub(crate) fn thresholds(&self) -> Thresholds {
        let mut t = self.monitor.thresholds();
        for c in &self.clusters {
            if let Some(ms) = c.converge_grace_ms {
                t.grace_by_cluster
                    .insert(c.name.clone(), Duration::from_millis(ms));
            }
        }
        t
    }
}

/// `[ui]`: the TUI.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiConfig {
    /// Theme name (a file in `themes/` or the config dir).
    pub theme: Option<String>,
    /// Hide every action that changes a cluster.
    pub read_only: bool,
    /// How often ages are redrawn when nothing else changes.
    pub tick_ms: u64,
    /// Log lines kept per peer and source (script log, daemon log).
    pub log_lines: usize,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            theme: None,
            read_only: false,
            tick_ms: 1000,
            log_lines: crate::core::logs::DEFAULT_CAP,
        }
    }
}

impl UiConfig {
    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms)
    }
}

/// `[alertmanager]`: where `vipdeck maintenance` creates and expires the
/// silences of a cluster's alerts (Alertmanager's v2 API). Without `url`
/// a window silences nothing; the shipped rules still hold back on
/// `vipdeck_cluster_maintenance`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// e.g. `http://alertmanager:9093`.
    pub url: Option<String>,
    /// Per-request timeout: an Alertmanager that hangs never holds up a
    /// window.
    pub timeout_ms: u64,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        AlertmanagerConfig {
            url: None,
            timeout_ms: 5000,
        }
    }
}

/// `[failover]`: the guided failover's windows and step timeouts, in
/// seconds (`VIPDECK_FAILOVER_FLAP_WINDOW_S` and
/// `VIPDECK_FAILOVER_LOCK_STALE_S` override the first two).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FailoverConfig {
    /// A second failover of a cluster within this window needs
    /// `--override anti_flap` (0: no window).
    pub anti_flap_window_s: u64,
    /// A failover lock older than this is stale (`--override lock_stale`).
    pub lock_stale_after_s: u64,
    pub stop_timeout_s: u64,
    pub master_timeout_s: u64,
    pub eni_binding_timeout_s: u64,
    /// The VPC can take up to 1-2 min to rebind an HAVIP.
    pub havip_binding_timeout_s: u64,
    pub start_timeout_s: u64,
    /// `MigratePrivateIpAddress`'s task.
    pub task_timeout_s: u64,
    /// The failover lock's directory on the peers, created 0755 if missing
    /// (`VIPDECK_LOCK_DIR` overrides it).
    pub lock_dir: String,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            anti_flap_window_s: 600,
            lock_stale_after_s: 900,
            stop_timeout_s: 20,
            master_timeout_s: 20,
            eni_binding_timeout_s: 60,
            havip_binding_timeout_s: 150,
            start_timeout_s: 15,
            task_timeout_s: 60,
            lock_dir: "/run/lock".into(),
        }
    }
}

/// One `[[clusters]]` entry: a keepalived pair and its VIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub name: String,
    pub mode: Mode,
    pub vip: IpAddr,
    /// HAVIP id (havip mode); when absent it is looked up by VIP.
    pub havip_id: Option<String>,
    /// Overrides `[cloud] region` for this cluster.
    pub region: Option<String>,
    /// Overrides the mode's grace (`[monitor] havip_grace_ms` /
    /// `eni_grace_ms`) before a binding that has not followed the master is
    /// `vip_drift`.
    pub converge_grace_ms: Option<u64>,
    /// The data-plane witness: how the VIP is probed as a client reaches
    /// it; `None` when the cluster has no `probe`.
    pub probe: Option<ProbeSpec>,
    pub peers: [PeerConfig; 2],
}

impl ClusterConfig {
    /// The cluster as the core (snapshot, verdict, faces) sees it.
    pub fn spec(&self) -> ClusterSpec {
        ClusterSpec {
            name: self.name.clone(),
            mode: self.mode,
            vip: self.vip.to_string(),
            havip_id: self.havip_id.clone(),
            peers: [self.peers[0].spec(), self.peers[1].spec()],
        }
    }

    /// This cluster's region, falling back to `[cloud] region`.
    pub fn effective_region<'a>(&'a self, cloud: &'a CloudConfig) -> &'a str {
        self.region.as_deref().unwrap_or(&cloud.region)
    }

    /// The index of the peer with this name.
    pub fn peer_index(&self, name: &str) -> Option<usize> {
        self.peers.iter().position(|p| p.name == name)
    }
}

/// One `[[clusters.peers]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    pub name: String,
    pub target: PeerTarget,
    pub network_interface_id: Option<String>,
    pub instance_id: Option<String>,
    /// The NIC that carries the VIP.
    pub interface: String,
    /// Where the notify script writes the bare state word.
    pub state_file: PathBuf,
    /// The notify/vip script log.
    pub log_file: PathBuf,
    pub keepalived_conf: PathBuf,
    pub start_cmd: String,
    pub stop_cmd: String,
    /// keepalived's daemon log as a syslog file; `None` reads
    /// `journalctl -u keepalived`.
    pub daemon_log: Option<PathBuf>,
    /// keepalived's pid file: whether it runs, and where to send the JSON
    /// dump signal.
    pub(crate) pid_file: PathBuf,
    /// Where keepalived writes its JSON dump.
    pub(crate) json_dump: PathBuf,
    /// Where keepalived writes its text data dump (builds without JSON, 1.x).
    pub(crate) data_dump: PathBuf,
}

impl PeerConfig {
    pub fn spec(&self) -> PeerSpec {
        PeerSpec {
            name: self.name.clone(),
            address: self.target.address(),
            network_interface_id: self.network_interface_id.clone(),
            instance_id: self.instance_id.clone(),
        }
    }
}

/// How vipdeck reaches a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerTarget {
    /// Anything `ssh` accepts as a destination (`user@host`, an alias).
    Ssh(String),
    /// This machine is the peer.
    Local,
}

impl PeerTarget {
    /// The address shown to the operator: the ssh destination or `local`.
    pub fn address(&self) -> String {
        match self {
            PeerTarget::Ssh(dest) => dest.clone(),
            PeerTarget::Local => "local".to_string(),
        }
    }
}

impl Config {
    /// The cluster with this name.
    pub fn cluster(&self, name: &str) -> Option<&ClusterConfig> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// The specs of all clusters, in file order.
    pub fn specs(&self) -> Vec<ClusterSpec> {
        self.clusters.iter().map(ClusterConfig::spec).collect()
    }
}

// ---------------------------------------------------------------------------
// Raw structs: what serde reads, before semantic checks
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) cloud: CloudConfig,
    #[serde(default)]
    pub(super) ssh: SshConfig,
    #[serde(default)]
    pub(super) monitor: MonitorConfig,
    #[serde(default)]
    pub(super) ui: UiConfig,
    #[serde(default)]
    pub(super) failover: FailoverConfig,
    #[serde(default)]
    pub(super) alertmanager: AlertmanagerConfig,
    #[serde(default)]
    pub(super) clusters: Vec<RawCluster>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub(super) name: String,
    pub(super) mode: String,
    pub(super) vip: String,
    pub(super) havip_id: Option<String>,
    pub(super) region: Option<String>,
    pub(super) converge_grace_ms: Option<u64>,
    pub(super) probe: Option<String>,
    pub(super) probe_interval_ms: Option<u64>,
    pub(super) probe_timeout_ms: Option<u64>,
    /// `"header:X-Node"` or `"body"` (the body's first word).
    pub(super) probe_node: Option<String>,
    #[serde(default)]
    pub(super) peers: Vec<RawPeer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPeer {
    pub(super) name: String,
    pub(super) ssh: Option<String>,
    pub(super) local: Option<bool>,
    pub(super) network_interface_id: Option<String>,
    pub(super) instance_id: Option<String>,
    #[serde(default = "default_interface")]
    pub(super) interface: String,
    #[serde(default = "default_state_file")]
    pub(super) state_file: PathBuf,
    #[serde(default = "default_log_file")]
    pub(super) log_file: PathBuf,
    #[serde(default = "default_keepalived_conf")]
    pub(super) keepalived_conf: PathBuf,
    #[serde(default = "default_start_cmd")]
    pub(super) start_cmd: String,
    #[serde(default = "default_stop_cmd")]
    pub(super) stop_cmd: String,
    pub(super) daemon_log: Option<PathBuf>,
    #[serde(default = "default_pid_file")]
    pub(super) pid_file: PathBuf,
    #[serde(default = "default_json_dump")]
    pub(super) json_dump: PathBuf,
    #[serde(default = "default_data_dump")]
    pub(super) data_dump: PathBuf,
}

fn default_pid_file() -> PathBuf {
    PathBuf::from("/run/keepalived.pid")
}

fn default_json_dump() -> PathBuf {
    PathBuf::from("/tmp/keepalived.json")
}

fn default_data_dump() -> PathBuf {
    PathBuf::from("/tmp/keepalived.data")
}

fn default_interface() -> String {
    "eth0".to_string()
}
fn default_state_file() -> PathBuf {
    PathBuf::from("/var/keepalived/state")
}
fn default_log_file() -> PathBuf {
    PathBuf::from("/var/log/keepalived.log")
}
fn default_keepalived_conf() -> PathBuf {
    PathBuf::from("/etc/keepalived/keepalived.conf")
}
fn default_start_cmd() -> String {
    "systemctl start keepalived".to_string()
}
fn default_stop_cmd() -> String {
    "systemctl stop keepalived".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_the_monitor_section() {
        let m = MonitorConfig {
            peer_stale_after_ms: 2500,
            ..MonitorConfig::default()
        };
        let t = m.thresholds();
        assert_eq!(t.peer_stale_after, Duration::from_millis(2500));
        assert_eq!(t.cloud_stale_after, Duration::from_secs(60));
        assert_eq!(t.flap_count, Thresholds::default().flap_count);
        // The defaults match the verdict's own defaults.
        assert_eq!(MonitorConfig::default().thresholds(), Thresholds::default());
    }
}
