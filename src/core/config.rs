//! (Over 1,000 lines: schema, loading with positions and validation still
//! share this file; their split into `core/config/{schema,load,validate}.rs`
//! is planned work, held back while the file's `file:line:key` errors are
//! relied on by every command.)
//!
//! The config file (DESIGN.md, "Contracts"): parsing and validation.
//!
//! Parsing runs in three steps so every error can name the file, the line
//! and column, and the key path (`clusters[0].peers[1].ssh`):
//! 1. `toml_edit` parses the text into a document that keeps byte spans of
//!    every key and value (syntax errors come out here);
//! 2. serde fills plain "raw" structs (unknown keys, wrong types and
//!    missing keys come out here; their spans are mapped back to key paths
//!    through the document);
//! 3. the raw structs are checked and converted into [`Config`]; each
//!    semantic error names a key path, which the document turns into a span.
//!
//! Everything here is pure except [`load`], [`default_path`] and
//! [`data_dir`]. The config layer knows no UI types.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml_edit::{ImDocument, Item, TableLike, Value};

use crate::core::model::{ClusterSpec, Mode, PeerSpec};

/// The VPC API's public endpoint.
pub(crate) const DEFAULT_ENDPOINT: &str = "https://vpc.tencentcloudapi.com";
use crate::core::verdict::Thresholds;

/// Environment variable that overrides [`default_path`].
pub(crate) const CONFIG_ENV: &str = "VIPDECK_CONFIG";
/// Environment variable that overrides [`data_dir`].
pub(crate) const DATA_DIR_ENV: &str = "VIPDECK_DATA_DIR";

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
    /// Checks what parsing allows but running needs: at least one cluster.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.clusters.is_empty() {
            return Err(ConfigError {
                file: self
                    .path
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("<config>")),
                location: None,
                key: Some("clusters".to_string()),
                kind: ConfigErrorKind::NoClusters,
                message: "no clusters configured: add a [[clusters]] table with two \
                          [[clusters.peers]] (see docs/configuration.md)"
                    .to_string(),
            });
        }
        Ok(())
    }

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
// Errors
// ---------------------------------------------------------------------------

/// A 1-based line and column (in characters) in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The file could not be read.
    Read,
    /// Not valid TOML.
    Syntax,
    /// A key vipdeck does not know (often a typo).
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong type or out of range.
    InvalidValue,
    /// The file parses but names no cluster (see [`Config::validate`]).
    NoClusters,
}

/// A config problem, shown as
/// `FILE:LINE:COL: KEY: MESSAGE` (location and key when known).
/// Messages never echo string values that could be secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub location: Option<Location>,
    /// The key path, e.g. `clusters[0].peers[1].ssh`.
    pub key: Option<String>,
    pub kind: ConfigErrorKind,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(loc) = self.location {
            write!(f, ":{}:{}", loc.line, loc.column)?;
        }
        if let Some(key) = &self.key {
            if !key.is_empty() {
                write!(f, ": {key}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/// The config path: `$VIPDECK_CONFIG`, else `config.toml` in the platform
/// config dir (`~/.config/vipdeck/config.toml` on Linux).
pub fn default_path() -> Option<PathBuf> {
    env_override(std::env::var_os(CONFIG_ENV)).or_else(|| {
        directories::ProjectDirs::from("", "", "vipdeck")
            .map(|d| d.config_dir().join("config.toml"))
    })
}

/// Where logs and the audit trail go: `$VIPDECK_DATA_DIR`, else the
/// platform local data dir (`~/.local/share/vipdeck` on Linux).
pub fn data_dir() -> Option<PathBuf> {
    env_override(std::env::var_os(DATA_DIR_ENV)).or_else(|| {
        directories::ProjectDirs::from("", "", "vipdeck").map(|d| d.data_local_dir().to_path_buf())
    })
}

/// An environment override counts only when set and non-empty.
fn env_override(value: Option<OsString>) -> Option<PathBuf> {
    value.filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Reads and parses a config file; adds a warning when the file mentions a
/// secret key and others can read it.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let message = match e.kind() {
            std::io::ErrorKind::NotFound => {
                "config file not found (create it, see docs/configuration.md, or pass --config PATH)"
                    .to_string()
            }
            std::io::ErrorKind::InvalidData => "config file is not valid UTF-8".to_string(),
            _ => format!("cannot read config file: {e}"),
        };
        ConfigError {
            file: path.to_path_buf(),
            location: None,
            key: None,
            kind: ConfigErrorKind::Read,
            message,
        }
    })?;
    let warning = file_mode(path).and_then(|mode| secret_warning(&text, mode, path));
    match parse(&text, path) {
        Ok(mut config) => {
            config.warnings.extend(warning);
            Ok(config)
        }
        // A bad file that exposes a secret: say both.
        Err(mut e) => {
            if warning.is_some() {
                e.message.push_str(&format!(
                    " (also: this file mentions a secret key and is readable by \
                     group/others; run `chmod 600 {}`)",
                    path.display()
                ));
            }
            Err(e)
        }
    }
}

#[cfg(unix)]
fn file_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).ok().map(|m| m.permissions().mode())
}

#[cfg(not(unix))]
fn file_mode(_path: &Path) -> Option<u32> {
    None
}

/// A warning when `text` mentions a secret key (`secret_key`, `SecretKey`)
/// and `mode` lets group or others read the file. Names the line, never the
/// secret.
pub(crate) fn secret_warning(text: &str, mode: u32, path: &Path) -> Option<String> {
    if mode & 0o077 == 0 {
        return None;
    }
    let line = text.lines().position(|l| {
        let l = l.to_ascii_lowercase();
        l.contains("secret_key") || l.contains("secretkey")
    })?;
    Some(format!(
        "{}:{}: this file mentions a secret key and is readable by group/others \
         (mode {:o}); run `chmod 600 {}`. vipdeck takes credentials from \
         TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, ~/.tencentcloud/credentials, \
         a tccli profile or the CVM role, not from this file",
        path.display(),
        line + 1,
        mode & 0o777,
        path.display()
    ))
}

/// Parses config text; `path` is used in messages only.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let err = |kind, offset: Option<usize>, key: Option<String>, message: String| ConfigError {
        file: path.to_path_buf(),
        location: offset.map(|o| line_col(text, o)),
        key,
        kind,
        message,
    };

    let doc = match ImDocument::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let offset = e.span().map(|s| s.start);
            let key = offset.and_then(|o| syntax_context(text, o));
            return Err(err(
                ConfigErrorKind::Syntax,
                offset,
                key,
                format!("TOML syntax error: {}", syntax_hint(e.message())),
            ));
        }
    };

    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start);
        let key = offset
            .and_then(|o| path_at(doc.as_item(), o))
            .unwrap_or_default();
        let (kind, message, missing) = humanize_serde_error(e.message());
        // A missing key is named by its full path; the location stays on
        // the table that lacks it.
        let key = match missing {
            Some(name) => key.key(&name),
            None => key,
        };
        let key = (!key.0.is_empty()).then(|| key.to_string());
        err(kind, offset, key, message)
    })?;

    convert(raw)
        .map_err(|issue| {
            let span = locate(doc.as_item(), &issue.key, issue.target);
            err(
                issue.kind,
                span.map(|s| s.start),
                Some(issue.key.to_string()),
                issue.message,
            )
        })
        .map(|(mut config, warnings)| {
            config.path = Some(path.to_path_buf());
            config.warnings = warnings;
            config
        })
}

// ---------------------------------------------------------------------------
// Raw structs: what serde reads, before semantic checks
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    cloud: CloudConfig,
    #[serde(default)]
    ssh: SshConfig,
    #[serde(default)]
    monitor: MonitorConfig,
    #[serde(default)]
    ui: UiConfig,
    #[serde(default)]
    failover: FailoverConfig,
    #[serde(default)]
    clusters: Vec<RawCluster>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: String,
    mode: String,
    vip: String,
    havip_id: Option<String>,
    region: Option<String>,
    converge_grace_ms: Option<u64>,
    #[serde(default)]
    peers: Vec<RawPeer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    name: String,
    ssh: Option<String>,
    local: Option<bool>,
    network_interface_id: Option<String>,
    instance_id: Option<String>,
    #[serde(default = "default_interface")]
    interface: String,
    #[serde(default = "default_state_file")]
    state_file: PathBuf,
    #[serde(default = "default_log_file")]
    log_file: PathBuf,
    #[serde(default = "default_keepalived_conf")]
    keepalived_conf: PathBuf,
    #[serde(default = "default_start_cmd")]
    start_cmd: String,
    #[serde(default = "default_stop_cmd")]
    stop_cmd: String,
    daemon_log: Option<PathBuf>,
    #[serde(default = "default_pid_file")]
    pid_file: PathBuf,
    #[serde(default = "default_json_dump")]
    json_dump: PathBuf,
    #[serde(default = "default_data_dump")]
    data_dump: PathBuf,
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

// ---------------------------------------------------------------------------
// Semantic checks
// ---------------------------------------------------------------------------

/// One segment of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A key path such as `clusters[0].peers[1].ssh`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct KeyPath(Vec<Seg>);

impl KeyPath {
    fn key(&self, k: &str) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }

    fn index(&self, i: usize) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// What in the file an issue points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The key itself (`local` in `local = true`).
    Key,
    /// The value (`"vrrp"` in `mode = "vrrp"`), or the table for a table.
    Value,
}

#[derive(Debug)]
struct Issue {
    key: KeyPath,
    target: Target,
    kind: ConfigErrorKind,
    message: String,
}

impl Issue {
    fn value(key: KeyPath, message: impl Into<String>) -> Issue {
        Issue {
            key,
            target: Target::Value,
            kind: ConfigErrorKind::InvalidValue,
            message: message.into(),
        }
    }
}

/// Checks the raw config and builds the typed one, plus warnings.
fn convert(raw: RawConfig) -> Result<(Config, Vec<String>), Issue> {
    let root = KeyPath::default();
    let mut warnings = Vec::new();

    let positive = [
        ("cloud", "poll_interval_ms", raw.cloud.poll_interval_ms),
        ("cloud", "timeout_ms", raw.cloud.timeout_ms),
        ("ssh", "connect_timeout_ms", raw.ssh.connect_timeout_ms),
        ("ssh", "command_timeout_ms", raw.ssh.command_timeout_ms),
        ("monitor", "poll_interval_ms", raw.monitor.poll_interval_ms),
        (
            "monitor",
            "peer_stale_after_ms",
            raw.monitor.peer_stale_after_ms,
        ),
        (
            "monitor",
            "cloud_stale_after_ms",
            raw.monitor.cloud_stale_after_ms,
        ),
        ("ui", "tick_ms", raw.ui.tick_ms),
    ];
    for (section, key, value) in positive {
        if value == 0 {
            return Err(Issue::value(
                root.key(section).key(key),
                "must be greater than 0 (milliseconds)",
            ));
        }
    }
    let f = &raw.failover;
    for (key, value) in [
        ("lock_stale_after_s", f.lock_stale_after_s),
        ("stop_timeout_s", f.stop_timeout_s),
        ("master_timeout_s", f.master_timeout_s),
        ("eni_binding_timeout_s", f.eni_binding_timeout_s),
        ("havip_binding_timeout_s", f.havip_binding_timeout_s),
        ("start_timeout_s", f.start_timeout_s),
        ("task_timeout_s", f.task_timeout_s),
    ] {
        if value == 0 {
            return Err(Issue::value(
                root.key("failover").key(key),
                "must be greater than 0 (seconds)",
            ));
        }
    }
    if raw.ui.log_lines == 0 {
        return Err(Issue::value(
            root.key("ui").key("log_lines"),
            "must be greater than 0 (log lines kept per peer and log)",
        ));
    }
    let endpoint = &raw.cloud.endpoint;
    if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
        return Err(Issue::value(
            root.key("cloud").key("endpoint"),
            format!(
                "{endpoint:?} is not an http(s) URL (e.g. \"https://vpc.tencentcloudapi.com\")"
            ),
        ));
    }

    let mut clusters = Vec::with_capacity(raw.clusters.len());
    let mut cluster_names: HashMap<String, usize> = HashMap::new();
    for (ci, rc) in raw.clusters.into_iter().enumerate() {
        let cp = root.key("clusters").index(ci);
        if rc.name.trim().is_empty() {
            return Err(Issue::value(cp.key("name"), "cluster name is empty"));
        }
        if let Some(first) = cluster_names.insert(rc.name.clone(), ci) {
            return Err(Issue::value(
                cp.key("name"),
                format!(
                    "duplicate cluster name {:?} (already used by clusters[{first}])",
                    rc.name
                ),
            ));
        }
        let mode = match rc.mode.as_str() {
            "eni" => Mode::Eni,
            "havip" => Mode::Havip,
            other => {
                let hint = match other.to_ascii_lowercase().as_str() {
                    "eni" | "havip" => " (modes are lower case)",
                    _ => "",
                };
                return Err(Issue::value(
                    cp.key("mode"),
                    format!("unknown mode {other:?} (expected \"eni\" or \"havip\"){hint}"),
                ));
            }
        };
        let vip: IpAddr = rc.vip.trim().parse().map_err(|_| {
            let hint = if rc.vip.contains('/') {
                " (write the address without a prefix length)"
            } else {
                ""
            };
            Issue::value(
                cp.key("vip"),
                format!("{:?} is not an IP address{hint}", rc.vip),
            )
        })?;
        if mode == Mode::Eni && rc.havip_id.is_some() {
            warnings.push(format!(
                "clusters[{ci}].havip_id: ignored, cluster {:?} is in eni mode",
                rc.name
            ));
        }

        let pp = cp.key("peers");
        if rc.peers.len() != 2 {
            let n = rc.peers.len();
            let found = match n {
                0 => "it has none".to_string(),
                1 => "it has 1".to_string(),
                n => format!("it has {n}"),
            };
            // Point at the cluster when it has no peers at all.
            let key = if n == 0 { cp.clone() } else { pp.clone() };
            return Err(Issue {
                key,
                target: Target::Value,
                kind: ConfigErrorKind::InvalidValue,
                message: format!(
                    "cluster {:?} needs exactly two [[clusters.peers]], {found}",
                    rc.name
                ),
            });
        }
        let mut peers = Vec::with_capacity(2);
        for (pi, rp) in rc.peers.into_iter().enumerate() {
            peers.push(convert_peer(rp, &pp.index(pi))?);
        }
        let (Some(b), Some(a)) = (peers.pop(), peers.pop()) else {
            // Unreachable: the length was checked above.
            return Err(Issue::value(pp, "a cluster needs exactly two peers"));
        };
        if a.name == b.name {
            return Err(Issue::value(
                pp.index(1).key("name"),
                format!(
                    "duplicate peer name {:?} in cluster {:?} (already used by peers[0])",
                    b.name, rc.name
                ),
            ));
        }
        if mode == Mode::Havip {
            for (pi, p) in [&a, &b].into_iter().enumerate() {
                if p.network_interface_id.is_none() && p.instance_id.is_none() {
                    warnings.push(format!(
                        "clusters[{ci}].peers[{pi}]: {:?} names neither network_interface_id nor \
                         instance_id: the HAVIP binding cannot be matched to it, so the cluster \
                         shows vip_drift (`vipdeck init` fills them from the cloud)",
                        p.name
                    ));
                }
            }
        }
        if let (Some(x), Some(y)) = (&a.network_interface_id, &b.network_interface_id) {
            if x == y {
                return Err(Issue::value(
                    pp.index(1).key("network_interface_id"),
                    format!("both peers name the same ENI {x:?}; each peer has its own ENI"),
                ));
            }
        }
        clusters.push(ClusterConfig {
            name: rc.name,
            mode,
            vip,
            havip_id: rc.havip_id,
            region: rc.region,
            converge_grace_ms: rc.converge_grace_ms,
            peers: [a, b],
        });
    }

    Ok((
        Config {
            cloud: raw.cloud,
            ssh: raw.ssh,
            monitor: raw.monitor,
            ui: raw.ui,
            failover: raw.failover,
            clusters,
            path: None,
            warnings: Vec::new(),
        },
        warnings,
    ))
}

fn convert_peer(rp: RawPeer, at: &KeyPath) -> Result<PeerConfig, Issue> {
    if rp.name.trim().is_empty() {
        return Err(Issue::value(at.key("name"), "peer name is empty"));
    }
    let target = match (rp.ssh, rp.local) {
        (Some(_), Some(true)) => {
            return Err(Issue {
                key: at.key("local"),
                target: Target::Key,
                kind: ConfigErrorKind::InvalidValue,
                message: format!(
                    "peer {:?} sets both ssh and local = true; set exactly one",
                    rp.name
                ),
            })
        }
        (Some(dest), _) if dest.trim().is_empty() => {
            return Err(Issue::value(at.key("ssh"), "ssh destination is empty"))
        }
        (Some(dest), _) => PeerTarget::Ssh(dest),
        (None, Some(true)) => PeerTarget::Local,
        (None, _) => {
            return Err(Issue {
                key: at.clone(),
                target: Target::Value,
                kind: ConfigErrorKind::MissingKey,
                message: format!(
                    "peer {:?} has neither ssh = \"user@host\" nor local = true; set exactly one",
                    rp.name
                ),
            })
        }
    };
    Ok(PeerConfig {
        name: rp.name,
        target,
        network_interface_id: rp.network_interface_id,
        instance_id: rp.instance_id,
        interface: rp.interface,
        state_file: rp.state_file,
        log_file: rp.log_file,
        keepalived_conf: rp.keepalived_conf,
        start_cmd: rp.start_cmd,
        stop_cmd: rp.stop_cmd,
        daemon_log: rp.daemon_log,
        pid_file: rp.pid_file,
        json_dump: rp.json_dump,
        data_dump: rp.data_dump,
    })
}

// ---------------------------------------------------------------------------
// Serde error messages
// ---------------------------------------------------------------------------

/// The first line of a toml_edit syntax message, with a hint for the
/// common mistakes.
fn syntax_hint(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    let rest: Vec<&str> = lines.collect();
    let hint = match first {
        "invalid basic string" | "invalid literal string" => " (is a closing quote missing?)",
        "invalid table header" | "invalid array of tables header" => {
            " (headers look like [cloud] or [[clusters]])"
        }
        "invalid key" | "expected `.`, `=`" | "invalid key-value pair" => {
            " (lines look like key = value; strings need quotes)"
        }
        "invalid string" => " (strings need quotes)",
        _ => "",
    };
    // A duplicate header is not a malformed one.
    let hint = if rest.iter().any(|l| l.starts_with("duplicate")) {
        " (each [table] may appear once; use [[...]] for repeated entries)"
    } else {
        hint
    };
    if rest.is_empty() {
        format!("{first}{hint}")
    } else {
        format!("{first}, {}{hint}", rest.join(", "))
    }
}

/// Rewrites a serde/toml message for an operator: unknown keys get a
/// suggestion, and string values are never echoed (they could be secrets).
/// Also returns the name of a missing key.
fn humanize_serde_error(message: &str) -> (ConfigErrorKind, String, Option<String>) {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let names = backticked(rest);
        let Some((unknown, valid)) = names.split_first() else {
            return (ConfigErrorKind::UnknownKey, message.to_string(), None);
        };
        return (
            ConfigErrorKind::UnknownKey,
            unknown_key_message(unknown, valid),
            None,
        );
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let name = backticked(rest).into_iter().next().unwrap_or_default();
        return (
            ConfigErrorKind::MissingKey,
            format!("missing required key {name:?}"),
            Some(name),
        );
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        // "string \"…\", expected u64" → "expected a whole number, found a string"
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, "?"));
        let found_kind = found.split_whitespace().next().unwrap_or("value");
        return (
            ConfigErrorKind::InvalidValue,
            format!(
                "expected {}, found {}",
                describe_expected(expected),
                describe_found(found_kind)
            ),
            None,
        );
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, "?"));
        let found = if found.starts_with("string") {
            "a string"
        } else {
            found
        };
        return (
            ConfigErrorKind::InvalidValue,
            format!("expected {}, found {found}", describe_expected(expected)),
            None,
        );
    }
    (ConfigErrorKind::InvalidValue, message.to_string(), None)
}

fn describe_expected(expected: &str) -> String {
    match expected.trim() {
        "u64" | "u32" | "usize" => "a whole number (0 or more)".to_string(),
        "a boolean" => "true or false".to_string(),
        "a sequence" => "an array (one [[double-bracket]] table per entry, or [...])".to_string(),
        "a string" | "path string" => "a quoted string".to_string(),
        other if other.starts_with("struct ") => "a table".to_string(),
        other => other.to_string(),
    }
}

fn describe_found(kind: &str) -> &'static str {
    match kind {
        "string" => "a string",
        "integer" => "an integer",
        "floating" => "a floating point number",
        "boolean" => "a boolean",
        "sequence" => "an array",
        "map" => "a table",
        _ => "another type",
    }
}

/// The names between backticks, in order.
fn backticked(s: &str) -> Vec<String> {
    s.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, w)| w.to_string())
        .collect()
}

fn unknown_key_message(unknown: &str, valid: &[String]) -> String {
    let lower = unknown.to_ascii_lowercase();
    if lower.contains("secret") || lower.contains("token") || lower.contains("password") {
        return format!(
            "unknown key {unknown:?}: vipdeck never reads credentials from its config file; \
             use TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, ~/.tencentcloud/credentials, \
             a tccli profile ([cloud] profile) or the CVM role, and remove this key"
        );
    }
    match closest_key(unknown, valid) {
        Some(best) => format!("unknown key {unknown:?} (did you mean {best:?}?)"),
        None if valid.is_empty() => format!("unknown key {unknown:?}"),
        None => format!(
            "unknown key {unknown:?} (valid keys here: {})",
            valid.join(", ")
        ),
    }
}

/// The valid key an unknown key most likely meant: a small edit distance,
/// or a valid key the unknown one starts with (`ssh_host` → `ssh`).
fn closest_key<'a>(unknown: &str, valid: &'a [String]) -> Option<&'a str> {
    let u = unknown.to_ascii_lowercase().replace('-', "_");
    let by_distance = valid
        .iter()
        .map(|v| (levenshtein(&u, v), v))
        .filter(|(d, v)| *d <= (v.chars().count() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v.as_str());
    by_distance.or_else(|| {
        valid
            .iter()
            .filter(|v| u.starts_with(&format!("{v}_")) || v.starts_with(&format!("{u}_")))
            .max_by_key(|v| v.len())
            .map(String::as_str)
    })
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

// ---------------------------------------------------------------------------
// Spans, key paths and line:column
// ---------------------------------------------------------------------------

/// The 1-based line and column (in characters) of a byte offset; offsets
/// past the end point just after the last character.
pub(crate) fn line_col(text: &str, offset: usize) -> Location {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Location { line, column }
}

/// A node of the parsed document, whichever container it sits in.
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Value(&'a Value),
    Table(&'a toml_edit::Table),
}

impl<'a> Node<'a> {
    fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Value(v) => v.span(),
            Node::Table(t) => t.span(),
        }
    }

    fn table_like(self) -> Option<&'a dyn TableLike> {
        match self {
            Node::Item(i) => i.as_table_like(),
            Node::Value(v) => v.as_inline_table().map(|t| t as &dyn TableLike),
            Node::Table(t) => Some(t as &dyn TableLike),
        }
    }

    /// Children with their path segment and key span (none for elements).
    fn children(self) -> Vec<(Seg, Option<Range<usize>>, Node<'a>)> {
        if let Some(t) = self.table_like() {
            return t
                .iter()
                .filter_map(|(k, _)| t.get_key_value(k))
                .map(|(key, item)| {
                    (
                        Seg::Key(key.get().to_string()),
                        key.span(),
                        Node::Item(item),
                    )
                })
                .collect();
        }
        let array = match self {
            Node::Item(Item::ArrayOfTables(a)) => {
                return a
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (Seg::Index(i), None, Node::Table(t)))
                    .collect()
            }
            Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => a,
            _ => return Vec::new(),
        };
        array
            .iter()
            .enumerate()
            .map(|(i, v)| (Seg::Index(i), None, Node::Value(v)))
            .collect()
    }
}

fn contains(span: &Option<Range<usize>>, offset: usize) -> bool {
    span.as_ref()
        .is_some_and(|s| s.contains(&offset) || (s.is_empty() && s.start == offset))
}

/// The deepest key path whose key or value covers `offset`.
fn path_at(root: &Item, offset: usize) -> Option<KeyPath> {
    fn search(node: Node<'_>, offset: usize, path: &KeyPath) -> Option<KeyPath> {
        for (seg, key_span, child) in node.children() {
            let mut p = path.clone();
            p.0.push(seg);
            // Deeper first: a table's span may cover its whole body.
            if let Some(found) = search(child, offset, &p) {
                return Some(found);
            }
            if contains(&key_span, offset) || contains(&child.span(), offset) {
                return Some(p);
            }
        }
        None
    }
    search(Node::Item(root), offset, &KeyPath::default())
}

/// The span of a key path: the key or the value, falling back to the
/// deepest part of the path that exists.
fn locate(root: &Item, path: &KeyPath, target: Target) -> Option<Range<usize>> {
    let mut node = Node::Item(root);
    let mut best: Option<Range<usize>> = None;
    for (i, seg) in path.0.iter().enumerate() {
        let last = i + 1 == path.0.len();
        let Some((key_span, child)) = node
            .children()
            .into_iter()
            .find(|(s, _, _)| s == seg)
            .map(|(_, k, c)| (k, c))
        else {
            return best;
        };
        let value_span = child.span();
        if last {
            return match target {
                Target::Key => key_span.or(value_span).or(best),
                Target::Value => value_span.or(key_span).or(best),
            };
        }
        best = value_span.or(key_span).or(best);
        node = child;
    }
    best
}

/// For syntax errors (no document to walk): the key path of the enclosing
/// `[table]`/`[[array]]` header and the key on the error's line, from a
/// line scan. Best effort; quoted keys are taken literally.
fn syntax_context(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let error_line = line_col(text, offset).line;
    // Count [[array]] headers to know each array's current index.
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut header: Option<String> = None;
    let mut line_key: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line_no > error_line {
            break;
        }
        let t = line.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim_matches(|c: char| c == ']' || c.is_whitespace());
            let name = name.to_string();
            if line_no < error_line {
                counts.retain(|k, _| !k.starts_with(&format!("{name}.")));
                *counts.entry(name.clone()).or_insert(0) += 1;
            }
            header = Some(name);
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            header = Some(name.trim().to_string());
        } else if line_no == error_line {
            // The bare key at the start of the line, if any.
            let key: String = t
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "_-.".contains(*c))
                .collect();
            let after = t[key.len()..].trim_start();
            if !key.is_empty()
                && (after.is_empty() || after.starts_with('=') || after.starts_with('"'))
            {
                line_key = Some(key);
            }
        }
    }
    let mut path = String::new();
    if let Some(h) = header {
        let mut prefix = String::new();
        for part in h.split('.') {
            if !prefix.is_empty() {
                prefix.push('.');
                path.push('.');
            }
            prefix.push_str(part.trim());
            path.push_str(part.trim());
            if let Some(n) = counts.get(&prefix) {
                path.push_str(&format!("[{}]", n.saturating_sub(1)));
            }
        }
    }
    if let Some(k) = line_key {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&k);
    }
    (!path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[cloud]
region = "ap-shanghai"

[[clusters]]
name = "web"
mode = "havip"
vip = "172.16.16.12"
havip_id = "havip-abcd1234"
  [[clusters.peers]]
  name = "havip-01"
  ssh = "root@172.16.16.5"
  network_interface_id = "eni-aaaa0001"
  [[clusters.peers]]
  name = "havip-02"
  local = true
  interface = "eth1"
"#;

    fn at(line: usize, column: usize) -> Option<Location> {
        Some(Location { line, column })
    }

    fn p(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("/etc/vipdeck/config.toml"))
    }

    #[test]
    fn line_col_counts_lines_and_characters() {
        let text = "ab\ncd\n中文x\n";
        assert_eq!(line_col(text, 0), Location { line: 1, column: 1 });
        assert_eq!(line_col(text, 1), Location { line: 1, column: 2 });
        // The newline itself is the last column of its line.
        assert_eq!(line_col(text, 2), Location { line: 1, column: 3 });
        assert_eq!(line_col(text, 3), Location { line: 2, column: 1 });
        // "x" follows two 3-byte characters: byte 12, column 3.
        assert_eq!(line_col(text, 12), Location { line: 3, column: 3 });
        // Inside a multi-byte character: the character's own column.
        assert_eq!(line_col(text, 7), Location { line: 3, column: 1 });
        // Past the end: after the final newline.
        assert_eq!(line_col(text, 999), Location { line: 4, column: 1 });
        assert_eq!(line_col("", 5), Location { line: 1, column: 1 });
    }

    #[test]
    fn good_config_applies_defaults() {
        let c = p(GOOD).expect("parses");
        assert_eq!(c.cloud.region, "ap-shanghai");
        assert_eq!(c.cloud.endpoint, "https://vpc.tencentcloudapi.com");
        assert_eq!(c.monitor.poll_interval_ms, 1000);
        assert_eq!(c.ui.tick_ms, 1000);
        let web = &c.clusters[0];
        assert_eq!(web.mode, Mode::Havip);
        assert_eq!(
            web.peers[0].target,
            PeerTarget::Ssh("root@172.16.16.5".into())
        );
        assert_eq!(web.peers[1].target, PeerTarget::Local);
        assert_eq!(web.peers[0].interface, "eth0");
        assert_eq!(web.peers[1].interface, "eth1");
        assert_eq!(
            web.peers[1].state_file,
            PathBuf::from("/var/keepalived/state")
        );
        assert_eq!(web.effective_region(&c.cloud), "ap-shanghai");
        let spec = web.spec();
        assert_eq!(spec.vip, "172.16.16.12");
        assert_eq!(spec.peers[0].address, "root@172.16.16.5");
        assert_eq!(spec.peers[1].address, "local");
        assert_eq!(c.path, Some(PathBuf::from("/etc/vipdeck/config.toml")));
        // Its second peer names no id: the binding cannot be matched to it.
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("names neither"), "{:?}", c.warnings);
    }

    #[test]
    fn mode_error_points_at_the_value() {
        let text = GOOD.replace("mode = \"havip\"", "mode = \"vrrp\"");
        let e = p(&text).expect_err("bad mode");
        assert_eq!(
            e.to_string(),
            "/etc/vipdeck/config.toml:7:8: clusters[0].mode: unknown mode \"vrrp\" \
             (expected \"eni\" or \"havip\")"
        );
    }

    #[test]
    fn unknown_key_is_located_and_a_close_key_suggested() {
        let text = GOOD.replace("ssh = ", "ssh_host = ");
        let e = p(&text).expect_err("unknown key");
        assert_eq!(e.kind, ConfigErrorKind::UnknownKey);
        assert_eq!(e.key.as_deref(), Some("clusters[0].peers[0].ssh_host"));
        assert_eq!(
            e.location,
            Some(Location {
                line: 12,
                column: 3
            })
        );
        assert!(e.message.contains("did you mean \"ssh\""), "{}", e.message);
    }

    #[test]
    fn closest_key_prefers_small_edits_then_prefixes() {
        let valid: Vec<String> = ["name", "ssh", "local", "interface", "state_file"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest_key("nmae", &valid), Some("name"));
        assert_eq!(closest_key("ssh_host", &valid), Some("ssh"));
        assert_eq!(closest_key("statefile", &valid), Some("state_file"));
        assert_eq!(closest_key("Interface", &valid), Some("interface"));
        assert_eq!(closest_key("priority", &valid), None);
    }

    #[test]
    fn type_errors_never_echo_string_values() {
        let text = "[cloud]\ntimeout_ms = \"hunter2-secret\"\n";
        let e = p(text).expect_err("wrong type");
        let shown = e.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(e.key.as_deref(), Some("cloud.timeout_ms"));
        assert_eq!(e.location.map(|l| l.line), Some(2));
        assert!(shown.contains("expected a whole number"), "{shown}");
    }

    #[test]
    fn syntax_error_context_names_the_table_and_key() {
        let text = "[[clusters]]\nname = \"a\"\n[[clusters.peers]]\nname = \"x\"\n\
                    [[clusters.peers]]\nname = \"y\nssh = \"b\"\n";
        let e = p(text).expect_err("syntax");
        assert_eq!(e.kind, ConfigErrorKind::Syntax);
        assert_eq!(e.location.map(|l| l.line), Some(6));
        assert_eq!(e.key.as_deref(), Some("clusters[0].peers[1].name"));
    }

    #[test]
    fn syntax_context_counts_array_headers() {
        let text = "[[clusters]]\n[[clusters.peers]]\n[[clusters.peers]]\n[[clusters]]\n\
                    [[clusters.peers]]\nbad line\n";
        let offset = text.find("bad").unwrap_or_default();
        assert_eq!(
            syntax_context(text, offset).as_deref(),
            Some("clusters[1].peers[0]")
        );
        assert_eq!(
            syntax_context("[cloud]\nregion = \n", 17).as_deref(),
            Some("cloud.region")
        );
    }

    #[test]
    fn no_clusters_parses_but_does_not_validate() {
        let c = p("").expect("empty config parses");
        assert!(c.clusters.is_empty());
        let e = c.validate().expect_err("no clusters");
        assert_eq!(e.kind, ConfigErrorKind::NoClusters);
        assert!(e
            .to_string()
            .starts_with("/etc/vipdeck/config.toml: clusters: no clusters"));
        assert!(p(GOOD).expect("good").validate().is_ok());
    }

    #[test]
    fn secret_warning_needs_both_a_secret_and_loose_mode() {
        let path = Path::new("/x/config.toml");
        let text = "[cloud]\n# SecretKey = \"abc123\"\n";
        assert!(secret_warning(text, 0o600, path).is_none());
        assert!(secret_warning("[cloud]\n", 0o644, path).is_none());
        let w = secret_warning(text, 0o100644, path).expect("warning");
        assert!(w.starts_with("/x/config.toml:2:"), "{w}");
        assert!(w.contains("mode 644"), "{w}");
        assert!(!w.contains("abc123"), "{w}");
    }

    #[test]
    fn env_override_ignores_empty_values() {
        assert_eq!(env_override(None), None);
        assert_eq!(env_override(Some(OsString::new())), None);
        assert_eq!(
            env_override(Some(OsString::from("/tmp/v.toml"))),
            Some(PathBuf::from("/tmp/v.toml"))
        );
    }

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

    #[test]
    fn havip_peers_without_ids_warn() {
        let text = "[[clusters]]\nname = \"web\"\nmode = \"havip\"\nvip = \"192.0.2.10\"\n\
            [[clusters.peers]]\nname = \"a\"\nssh = \"a\"\ninstance_id = \"ins-1\"\n\
            [[clusters.peers]]\nname = \"b\"\nssh = \"b\"\n";
        let c = parse(text, Path::new("t.toml")).expect("parses");
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].starts_with("clusters[0].peers[1]: \"b\" names neither"));
    }

    #[test]
    fn a_cluster_can_set_its_own_grace() {
        let text = "[monitor]\nhavip_grace_ms = 15000\n\
            [[clusters]]\nname = \"web\"\nmode = \"havip\"\nvip = \"192.0.2.10\"\n\
            havip_id = \"havip-1\"\nconverge_grace_ms = 60000\n\
            [[clusters.peers]]\nname = \"a\"\nssh = \"a\"\nnetwork_interface_id = \"eni-1\"\n\
            [[clusters.peers]]\nname = \"b\"\nssh = \"b\"\nnetwork_interface_id = \"eni-2\"\n";
        let c = parse(text, Path::new("t.toml")).expect("parses");
        let t = c.thresholds();
        assert_eq!(t.havip_grace, Duration::from_secs(15));
        assert_eq!(
            t.grace_by_cluster.get("web"),
            Some(&Duration::from_secs(60))
        );
    }

    #[test]
    fn inline_tables_and_dotted_keys_are_located_too() {
        let text = "cloud.region = \"ap-beijing\"\n\
                    clusters = [{ name = \"a\", mode = \"eni\", vip = \"10.0.0.1\", peers = [\n\
                    { name = \"x\", ssh = \"h1\" },\n\
                    { name = \"y\", sssh = \"h2\" },\n\
                    ] }]\n";
        let e = p(text).expect_err("typo in an inline table");
        assert_eq!(e.key.as_deref(), Some("clusters[0].peers[1].sssh"));
        assert_eq!(e.location, at(4, 15));
        assert!(e.message.contains("did you mean \"ssh\""), "{}", e.message);

        let fixed = text.replace("sssh", "local = true, instance_id");
        let c = p(&fixed).expect("parses");
        assert_eq!(c.cloud.region, "ap-beijing");
        assert_eq!(c.clusters[0].peers[1].target, PeerTarget::Local);

        let bad_vip = fixed.replace("10.0.0.1", "10.0.0");
        let e = p(&bad_vip).expect_err("bad vip");
        assert_eq!(e.key.as_deref(), Some("clusters[0].vip"));
        assert_eq!(e.location, at(2, 47));
    }

    #[test]
    fn eni_mode_with_havip_id_warns() {
        let text = GOOD.replace("mode = \"havip\"", "mode = \"eni\"");
        let c = p(&text).expect("parses");
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].contains("clusters[0].havip_id"));
    }
}
