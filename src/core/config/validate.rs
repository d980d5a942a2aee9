//! The semantic checks: what serde accepts but vipdeck cannot run with
//! (zero timeouts, unknown modes, a cluster without two peers, duplicate
//! names). Each problem names a key path, which [`mod@super::load`] turns
//! into a line and column.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::schema::{
    ClusterConfig, Config, PeerConfig, PeerTarget, RawCluster, RawConfig, RawPeer,
};
use super::{ConfigError, ConfigErrorKind};
use crate::core::dataplane::{NodeFrom, ProbeSpec, ProbeTarget};
use crate::core::model::Mode;

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
                also: Box::default(),
            });
        }
        Ok(())
    }
}

/// One segment of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// A key path such as `clusters[0].peers[1].ssh`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct KeyPath(pub(super) Vec<Seg>);

impl KeyPath {
    pub(super) fn key(&self, k: &str) -> KeyPath {
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
pub(super) enum Target {
    /// The key itself (`local` in `local = true`).
    Key,
    /// The value (`"vrrp"` in `mode = "vrrp"`), or the table for a table.
    Value,
}

#[derive(Debug)]
pub(super) struct Issue {
    pub(super) key: KeyPath,
    pub(super) target: Target,
    pub(super) kind: ConfigErrorKind,
    pub(super) message: String,
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

/// Checks the raw config and builds the typed one, plus warnings; or
/// every problem found (not only the first: an operator fixes them in one
/// go).
pub(super) fn convert(raw: RawConfig) -> Result<(Config, Vec<String>), Vec<Issue>> {
    let root = KeyPath::default();
    let mut warnings = Vec::new();
    let mut issues = Vec::new();

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
        ("alertmanager", "timeout_ms", raw.alertmanager.timeout_ms),
    ];
    for (section, key, value) in positive {
        if value == 0 {
            issues.push(Issue::value(
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
            issues.push(Issue::value(
                root.key("failover").key(key),
                "must be greater than 0 (seconds)",
            ));
        }
    }
    if raw.ui.log_lines == 0 {
        issues.push(Issue::value(
            root.key("ui").key("log_lines"),
            "must be greater than 0 (log lines kept per peer and log)",
        ));
    }
    if let Some(url) = &raw.alertmanager.url {
        let parsed = reqwest::Url::parse(url);
        if !(url.starts_with("https://") || url.starts_with("http://")) || parsed.is_err() {
            issues.push(Issue::value(
                root.key("alertmanager").key("url"),
                format!("{url:?} is not an http(s) URL (e.g. \"http://alertmanager:9093\")"),
            ));
        }
    }
    let endpoint = &raw.cloud.endpoint;
    if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
        issues.push(Issue::value(
            root.key("cloud").key("endpoint"),
            format!(
                "{endpoint:?} is not an http(s) URL (e.g. \"https://vpc.tencentcloudapi.com\")"
            ),
        ));
    }
    check_region(
        &raw.cloud.region,
        root.key("cloud").key("region"),
        &mut issues,
        &mut warnings,
    );

    let mut clusters = Vec::with_capacity(raw.clusters.len());
    let mut cluster_names: HashMap<String, usize> = HashMap::new();
    for (ci, rc) in raw.clusters.into_iter().enumerate() {
        let cp = root.key("clusters").index(ci);
        // Every problem of this cluster is said; a cluster with one is
        // not built.
        let before = issues.len();
        if rc.name.trim().is_empty() {
            issues.push(Issue::value(cp.key("name"), "cluster name is empty"));
        } else if let Some(why) = unprintable(&rc.name) {
            issues.push(Issue::value(cp.key("name"), format!("cluster name {why}")));
        } else if let Some(first) = cluster_names.insert(rc.name.clone(), ci) {
            issues.push(Issue::value(
                cp.key("name"),
                format!(
                    "duplicate cluster name {:?} (already used by clusters[{first}])",
                    rc.name
                ),
            ));
        }
        let mode = match rc.mode.as_str() {
            "eni" => Some(Mode::Eni),
            "havip" => Some(Mode::Havip),
            other => {
                let hint = match other.to_ascii_lowercase().as_str() {
                    "eni" | "havip" => " (modes are lower case)",
                    _ => "",
                };
                issues.push(Issue::value(
                    cp.key("mode"),
                    format!("unknown mode {other:?} (expected \"eni\" or \"havip\"){hint}"),
                ));
                None
            }
        };
        let vip: Option<IpAddr> = match rc.vip.trim().parse() {
            Ok(v) => Some(v),
            Err(_) => {
                let hint = if rc.vip.contains('/') {
                    " (write the address without a prefix length)"
                } else {
                    ""
                };
                issues.push(Issue::value(
                    cp.key("vip"),
                    format!("{:?} is not an IP address{hint}", rc.vip),
                ));
                None
            }
        };
        if let Some(region) = &rc.region {
            check_region(region, cp.key("region"), &mut issues, &mut warnings);
        }
        if mode == Some(Mode::Eni) && rc.havip_id.is_some() {
            warnings.push(format!(
                "clusters[{ci}].havip_id: ignored, cluster {:?} is in eni mode",
                rc.name
            ));
        }

        let probe = convert_probe(&rc, &cp, &mut issues);

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
            issues.push(Issue {
                key,
                target: Target::Value,
                kind: ConfigErrorKind::InvalidValue,
                message: format!(
                    "cluster {:?} needs exactly two [[clusters.peers]], {found}",
                    rc.name
                ),
            });
            continue;
        }
        let mut peers = Vec::with_capacity(2);
        for (pi, rp) in rc.peers.into_iter().enumerate() {
            match convert_peer(rp, &pp.index(pi)) {
                Ok(p) => peers.push(p),
                Err(i) => issues.push(i),
            }
        }
        let (Some(b), Some(a), None) = (peers.pop(), peers.pop(), peers.pop()) else {
            continue;
        };
        if a.name == b.name {
            issues.push(Issue::value(
                pp.index(1).key("name"),
                format!(
                    "duplicate peer name {:?} in cluster {:?} (already used by peers[0])",
                    b.name, rc.name
                ),
            ));
        }
        if mode == Some(Mode::Havip) {
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
                issues.push(Issue::value(
                    pp.index(1).key("network_interface_id"),
                    format!("both peers name the same ENI {x:?}; each peer has its own ENI"),
                ));
            }
        }
        let (Some(mode), Some(vip)) = (mode, vip) else {
            continue;
        };
        if issues.len() > before {
            continue;
        }
        clusters.push(ClusterConfig {
            name: rc.name,
            mode,
            vip,
            havip_id: rc.havip_id,
            region: rc.region,
            converge_grace_ms: rc.converge_grace_ms,
            probe,
            peers: [a, b],
        });
    }
    if !issues.is_empty() {
        return Err(issues);
    }

    Ok((
        Config {
            cloud: raw.cloud,
            ssh: raw.ssh,
            monitor: raw.monitor,
            ui: raw.ui,
            failover: raw.failover,
            alertmanager: raw.alertmanager,
            clusters,
            path: None,
            warnings: Vec::new(),
        },
        warnings,
    ))
}

/// The Tencent Cloud regions vipdeck knows (the VPC API's `Region`).
pub(crate) const KNOWN_REGIONS: &[&str] = &[
    "ap-guangzhou",
    "ap-shanghai",
    "ap-nanjing",
    "ap-beijing",
    "ap-chengdu",
    "ap-chongqing",
    "ap-hongkong",
    "ap-singapore",
    "ap-jakarta",
    "ap-seoul",
    "ap-tokyo",
    "ap-bangkok",
    "ap-mumbai",
    "ap-shanghai-fsi",
    "ap-shenzhen-fsi",
    "ap-beijing-fsi",
    "na-siliconvalley",
    "na-ashburn",
    "na-toronto",
    "eu-frankfurt",
    "eu-moscow",
    "sa-saopaulo",
    "ap-taipei",
    "ap-tianjin",
    "ap-shenzhen",
    "ap-qingyuan",
    "ap-guangzhou-open",
    "ap-hangzhou-ec",
    "ap-wuhan-ec",
    "ap-jinan-ec",
    "ap-fuzhou-ec",
    "ap-changsha-ec",
    "ap-xian-ec",
    "ap-zhengzhou-ec",
    "ap-shijiazhuang-ec",
];

/// A region one small typo away from a known one (`ap-bejing`) is an
/// error naming the one it most likely means; one vipdeck does not know
/// at all only a warning (regions are added; the cloud has the last word).
fn check_region(region: &str, at: KeyPath, issues: &mut Vec<Issue>, warnings: &mut Vec<String>) {
    if KNOWN_REGIONS.contains(&region) {
        return;
    }
    let lower = region.trim().to_ascii_lowercase();
    let nearest = KNOWN_REGIONS
        .iter()
        .map(|r| (levenshtein(&lower, r), *r))
        .min_by_key(|(d, _)| *d);
    match nearest {
        Some((d, best)) if d <= 2 => issues.push(Issue::value(
            at,
            format!("unknown region {region:?} (did you mean {best:?}?)"),
        )),
        _ => warnings.push(format!(
            "{at}: {region:?} is not a region vipdeck knows ({}); the cloud will refuse it if it \
             is wrong",
            KNOWN_REGIONS.join(", ")
        )),
    }
}

/// Names are printed on every screen and line: one that holds a control
/// character, an escape or an invisible mark would print differently from
/// what the file says (or forge a line), so it is refused here.
/// Default time between two probes of a VIP.
const DEFAULT_PROBE_INTERVAL_MS: u64 = 1000;
/// Default time a probe waits for the VIP's answer.
const DEFAULT_PROBE_TIMEOUT_MS: u64 = 800;

/// A cluster's `probe` and its companions; `None` when there is no probe
/// (the companions alone are an error: they would silently do nothing).
fn convert_probe(rc: &RawCluster, cp: &KeyPath, issues: &mut Vec<Issue>) -> Option<ProbeSpec> {
    let Some(text) = &rc.probe else {
        for (key, set) in [
            ("probe_interval_ms", rc.probe_interval_ms.is_some()),
            ("probe_timeout_ms", rc.probe_timeout_ms.is_some()),
            ("probe_node", rc.probe_node.is_some()),
        ] {
            if set {
                issues.push(Issue {
                    key: cp.key(key),
                    target: Target::Key,
                    kind: ConfigErrorKind::InvalidValue,
                    message: format!(
                        "{key} without probe: set probe = \"tcp:PORT\" or \"http://VIP:PORT/PATH\""
                    ),
                });
            }
        }
        return None;
    };
    let before = issues.len();
    let target = match ProbeTarget::parse(text) {
        Ok(t) => Some(t),
        Err(e) => {
            issues.push(Issue::value(cp.key("probe"), e.0));
            None
        }
    };
    let interval = rc.probe_interval_ms.unwrap_or(DEFAULT_PROBE_INTERVAL_MS);
    let timeout = rc.probe_timeout_ms.unwrap_or(DEFAULT_PROBE_TIMEOUT_MS);
    if interval == 0 {
        issues.push(Issue::value(
            cp.key("probe_interval_ms"),
            "must be greater than 0 (milliseconds)",
        ));
    }
    if timeout == 0 || timeout >= interval {
        issues.push(Issue::value(
            cp.key("probe_timeout_ms"),
            format!("must be greater than 0 and less than probe_interval_ms ({interval})"),
        ));
    }
    let node_from = match rc.probe_node.as_deref() {
        None => None,
        Some("body") => Some(NodeFrom::BodyFirstWord),
        Some(other) => match other.strip_prefix("header:") {
            Some(h)
                if !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
            {
                Some(NodeFrom::Header(h.to_string()))
            }
            _ => {
                issues.push(Issue::value(
                    cp.key("probe_node"),
                    format!(
                        "{other:?}: expected \"body\" (the body's first word) or \"header:NAME\""
                    ),
                ));
                None
            }
        },
    };
    if node_from.is_some() && matches!(target, Some(ProbeTarget::Tcp { .. })) {
        issues.push(Issue::value(
            cp.key("probe_node"),
            "only an http probe can read which node answered",
        ));
    }
    if issues.len() > before {
        return None;
    }
    Some(ProbeSpec {
        target: target?,
        interval: Duration::from_millis(interval),
        timeout: Duration::from_millis(timeout),
        node_from,
    })
}

fn unprintable(name: &str) -> Option<String> {
    let bad = name
        .chars()
        .find(|&c| !crate::core::sanitize::is_safe(&c.to_string()))?;
    Some(format!(
        "holds the character U+{:04X}, which cannot be shown as it is; use letters, digits, `-`, `_` or `.`",
        bad as u32
    ))
}

fn convert_peer(rp: RawPeer, at: &KeyPath) -> Result<PeerConfig, Issue> {
    if rp.name.trim().is_empty() {
        return Err(Issue::value(at.key("name"), "peer name is empty"));
    }
    if let Some(why) = unprintable(&rp.name) {
        return Err(Issue::value(at.key("name"), format!("peer name {why}")));
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

/// How many one-character edits turn `a` into `b`.
pub(super) fn levenshtein(a: &str, b: &str) -> usize {
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
