//! (Over 1,000 lines: reading what a peer has, guessing and writing TOML
//! still share this file; the planned split is
//! `faces/init/{discover,guess,emit}.rs`, with emit rebuilt on `toml_edit` so
//! no value is ever spliced into text.)
//!
//! `vipdeck init`: a config to start from, made from what a cluster already
//! has — keepalived.conf, the notify script, a seed-style `vip.py` — and,
//! when credentials are available, what the cloud says about the peers'
//! addresses and the VIP.
//!
//! The steps are pure functions over text ([`parse_notify_script`],
//! [`parse_vip_script`], [`draft`], [`apply_cloud`], [`render`]); [`run`]
//! does the reading (local files or a remote shell over ssh) and the cloud
//! calls. A `vip.py` holds a SecretId/SecretKey: nothing here ever reads
//! those lines, so they cannot end up in the config.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use regex::Regex;

use crate::core::keepalived::conf::{self, KeepalivedConf, Location, Node, VrrpInstance};
use crate::core::model::Mode;
use crate::core::vpc::types::{Filter, HaVip, NetworkInterface};
use crate::sources::transport::{quote, Shell, SshTarget, Target};

/// Where the seed scripts put things; written only when they differ.
const DEFAULT_STATE_FILE: &str = "/var/keepalived/state";
const DEFAULT_LOG_FILE: &str = "/var/log/keepalived.log";
const DEFAULT_CONF: &str = "/etc/keepalived/keepalived.conf";
const DEFAULT_REGION: &str = "ap-guangzhou";

/// `vipdeck init` arguments.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct InitArgs {
    /// keepalived.conf to read: a local file or directory, or ssh://[user@]host[:port][/path]
    /// (the path defaults to /etc/keepalived/keepalived.conf).
    #[arg(long, value_name = "PATH|ssh://HOST")]
    pub(crate) from: String,
    /// The seed-style vip.py (ENI ids, VPC, region); found through the
    /// notify script when not given. Its secretId/secretKey are never read.
    #[arg(long, value_name = "PATH")]
    pub(crate) vip_script: Option<String>,
    /// How vipdeck reaches the peers over ssh: this node first, then its
    /// unicast_peer (or ADDRESS=DESTINATION). Default: the addresses.
    #[arg(long, value_name = "DEST")]
    pub(crate) peer_ssh: Vec<String>,
    /// ssh config file (ssh -F), used to read --from ssh:// and written to [ssh].
    #[arg(long, value_name = "PATH")]
    pub(crate) ssh_config: Option<PathBuf>,
    /// VPC API endpoint to ask (and to write to [cloud]), e.g. an emulator.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Region (default: vip.py's Region, else ap-guangzhou).
    #[arg(long)]
    pub region: Option<String>,
    /// Cluster name (default: the vrrp_instance name).
    #[arg(long)]
    pub name: Option<String>,
    /// Only this vrrp_instance (default: every instance with a VIP).
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// This machine is the node whose keepalived.conf is read: watch it
    /// directly (`local = true`) instead of over ssh.
    #[arg(long)]
    pub(crate) local: bool,
    /// Do not ask the cloud, even when credentials are available.
    #[arg(long)]
    pub(crate) no_cloud: bool,
    /// Write the config file (--config PATH or the default path) instead of printing it.
    #[arg(long)]
    pub write: bool,
    /// With --write: replace an existing file.
    #[arg(long, requires = "write")]
    pub force: bool,
}

// ---------------------------------------------------------------------------
// The draft: every value with where it came from
// ---------------------------------------------------------------------------

/// A value and the sentence saying where it came from (a TOML comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub(crate) value: T,
    pub(crate) from: String,
}

fn sourced<T>(value: T, from: impl Into<String>) -> Sourced<T> {
    Sourced {
        value,
        from: from.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftPeer {
    pub name: String,
    /// The peer's VRRP address (unicast_src_ip / unicast_peer), if known.
    pub address: Option<String>,
    pub ssh: Sourced<String>,
    /// Read on this machine (`local = true`) instead of over ssh.
    pub(crate) local: bool,
    pub network_interface_id: Option<Sourced<String>>,
    pub instance_id: Option<Sourced<String>>,
    pub interface: Sourced<String>,
    pub state_file: Sourced<String>,
    pub log_file: Sourced<String>,
    pub keepalived_conf: Sourced<String>,
    /// keepalived's own log: a file, or `None` for the journal.
    pub daemon_log: Sourced<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftCluster {
    pub name: String,
    pub instance: String,
    pub mode: Sourced<Mode>,
    pub vip: Sourced<String>,
    pub havip_id: Option<Sourced<String>>,
    pub peers: [DraftPeer; 2],
    /// Things the operator should check, shown as comments.
    pub(crate) notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub source: String,
    pub region: Sourced<String>,
    pub endpoint: Option<String>,
    pub(crate) ssh_config: Option<PathBuf>,
    pub clusters: Vec<DraftCluster>,
    pub(crate) notes: Vec<String>,
}

// ---------------------------------------------------------------------------
// Parsing the scripts
// ---------------------------------------------------------------------------

/// What a seed-style notify_action.sh tells: where it writes the state
/// word and its log, and which script moves the VIP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyInfo {
    pub state_file: Option<String>,
    pub log_file: Option<String>,
    pub(crate) vip_script: Option<String>,
}

/// A compiled constant pattern (checked by the tests; a bad one matches nothing).
fn re(cell: &'static OnceLock<Option<Regex>>, pattern: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pattern).ok()).as_ref()
}

/// Reads a notify script: `> /var/keepalived/state` (or `state_file=`),
/// `log_file=...`, and the first `*.py` it runs.
pub(crate) fn parse_notify_script(text: &str) -> NotifyInfo {
    static STATE_REDIRECT: OnceLock<Option<Regex>> = OnceLock::new();
    static STATE_VAR: OnceLock<Option<Regex>> = OnceLock::new();
    static LOG_VAR: OnceLock<Option<Regex>> = OnceLock::new();
    static PY: OnceLock<Option<Regex>> = OnceLock::new();
    let mut info = NotifyInfo::default();
    for line in text.lines() {
        let code = line.split('#').next().unwrap_or("");
        if info.state_file.is_none() {
            let redirect = re(
                &STATE_REDIRECT,
                r#">\s*["']?(/[^\s"';|&>]*state)["']?(?:\s|$|;)"#,
            );
            let var = re(&STATE_VAR, r#"^\s*state_file=["']?(/[^\s"';]+)"#);
            info.state_file = redirect
                .and_then(|r| r.captures(code))
                .or_else(|| var.and_then(|r| r.captures(code)))
                .map(|c| c[1].to_string());
        }
        if info.log_file.is_none() {
            let var = re(&LOG_VAR, r#"^\s*log_file=["']?(/[^\s"';]+)"#);
            info.log_file = var.and_then(|r| r.captures(code)).map(|c| c[1].to_string());
        }
        if info.vip_script.is_none() {
            let py = re(&PY, r#"(/[^\s"';|&]+\.py)\b"#);
            info.vip_script = py.and_then(|r| r.captures(code)).map(|c| c[1].to_string());
        }
    }
    info
}

/// The settings of a seed-style vip.py (or of the JSON file it reads).
/// Deliberately without secretId/secretKey.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VipScript {
    pub vip: Option<String>,
    pub(crate) this_eni: Option<String>,
    pub(crate) that_eni: Option<String>,
    pub(crate) vpc_id: Option<String>,
    /// As written: `bj`, `ap-beijing`, ...
    pub region: Option<String>,
    /// `interface = {"eth0": "10.0.1.17"}`: this node's NIC and address.
    pub interface: Option<String>,
    pub(crate) primary_ip: Option<String>,
    /// A settings file the script loads (`CONF_FILE = ... "/etc/keepalived/vip.conf"`).
    pub(crate) conf_file: Option<String>,
}

/// Reads the assignments a seed vip.py is edited at; nothing else.
pub(crate) fn parse_vip_script(text: &str) -> VipScript {
    static ASSIGN: OnceLock<Option<Regex>> = OnceLock::new();
    static REGION: OnceLock<Option<Regex>> = OnceLock::new();
    static IFACE: OnceLock<Option<Regex>> = OnceLock::new();
    static CONF: OnceLock<Option<Regex>> = OnceLock::new();
    let assign = re(
        &ASSIGN,
        r#"^\s*(thisNetworkInterfaceId|thatNetworkInterfaceId|vpcId|vip)\s*=\s*['"]([^'"]*)['"]"#,
    );
    let region = re(&REGION, r#"['"]Region['"]\s*:\s*['"]([^'"]+)['"]"#);
    let iface = re(
        &IFACE,
        r#"^\s*interface\s*=\s*\{\s*['"]([^'"]+)['"]\s*:\s*['"]([^'"]+)['"]"#,
    );
    let conf = re(&CONF, r#"^\s*CONF_FILE\s*=.*?['"](/[^'"]+)['"]"#);
    let mut v = VipScript::default();
    for line in text.lines() {
        let caps = |r: Option<&Regex>| r.and_then(|r| r.captures(line));
        if let Some(c) = caps(assign) {
            let value = Some(c[2].to_string());
            match &c[1] {
                "thisNetworkInterfaceId" => v.this_eni = v.this_eni.take().or(value),
                "thatNetworkInterfaceId" => v.that_eni = v.that_eni.take().or(value),
                "vpcId" => v.vpc_id = v.vpc_id.take().or(value),
                _ => v.vip = v.vip.take().or(value),
            }
        } else if let Some(c) = caps(region) {
            v.region = v.region.take().or(Some(c[1].to_string()));
        } else if let Some(c) = caps(iface) {
            v.interface = Some(c[1].to_string());
            v.primary_ip = Some(c[2].to_string());
        } else if let Some(c) = caps(conf) {
            v.conf_file = Some(c[1].to_string());
        }
    }
    v
}

/// A JSON settings file next to vip.py (`vip`, `interface`, `primary_ip`,
/// `this_eni`, `that_eni`, `region`, `vpc_id`); secrets are not read.
pub(crate) fn parse_vip_json(text: &str) -> Option<VipScript> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let s = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .filter(|x| !x.is_empty())
            .map(str::to_string)
    };
    Some(VipScript {
        vip: s("vip"),
        this_eni: s("this_eni"),
        that_eni: s("that_eni"),
        vpc_id: s("vpc_id"),
        region: s("region"),
        interface: s("interface"),
        primary_ip: s("primary_ip"),
        conf_file: None,
    })
}

impl VipScript {
    /// Fields of `other` fill the gaps of `self`.
    fn or(self, other: VipScript) -> VipScript {
        VipScript {
            vip: self.vip.or(other.vip),
            this_eni: self.this_eni.or(other.this_eni),
            that_eni: self.that_eni.or(other.that_eni),
            vpc_id: self.vpc_id.or(other.vpc_id),
            region: self.region.or(other.region),
            interface: self.interface.or(other.interface),
            primary_ip: self.primary_ip.or(other.primary_ip),
            conf_file: self.conf_file.or(other.conf_file),
        }
    }
}

/// The old short region names of the QcloudApi SDK the seed vip.py uses.
pub(crate) fn region_name(short: &str) -> String {
    let long = match short {
        "bj" => "ap-beijing",
        "gz" => "ap-guangzhou",
        "sh" => "ap-shanghai",
        "hk" => "ap-hongkong",
        "cd" => "ap-chengdu",
        "cq" => "ap-chongqing",
        "sg" => "ap-singapore",
        "ca" => "na-toronto",
        "usw" => "na-siliconvalley",
        "use" => "na-ashburn",
        "de" => "eu-frankfurt",
        "kr" => "ap-seoul",
        "jp" => "ap-tokyo",
        "th" => "ap-bangkok",
        "in" => "ap-mumbai",
        "ru" => "eu-moscow",
        "shjr" => "ap-shanghai-fsi",
        "szjr" => "ap-shenzhen-fsi",
        other => other,
    };
    long.to_string()
}

fn id_like(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

// ---------------------------------------------------------------------------
// From the files to a draft
// ---------------------------------------------------------------------------

/// Everything read from the files.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    /// Shown in the header: the file or ssh source.
    pub source: String,
    /// The ssh destination the conf was read from (`--from ssh://...`).
    pub(crate) ssh_host: Option<String>,
    /// keepalived.conf's path on the node (written when not the default).
    pub(crate) conf_path_on_node: Option<String>,
    pub notify: NotifyInfo,
    /// Which script the notify info came from.
    pub(crate) notify_path: Option<String>,
    pub(crate) vip_script: Option<VipScript>,
    pub(crate) vip_script_path: Option<String>,
    /// A vip.py the notify scripts run, read or not: the VIP moves by API.
    pub(crate) vip_script_named: Option<String>,
    /// Every notify script keepalived.conf names for the chosen instances
    /// (to say why a value had to be guessed).
    pub(crate) notify_named: Vec<String>,
    /// `Host` aliases of the ssh config and the address each stands for.
    pub(crate) ssh_aliases: Vec<(String, String)>,
    /// Where keepalived's own lines were found on the node, when looked.
    pub(crate) daemon_log: Option<Sourced<Option<String>>>,
}

/// Where distributions put keepalived's own log, most specific first: an
/// rsyslog rule's own file, then the whole-system syslog files (CentOS and
/// TencentOS: /var/log/messages; Debian and Ubuntu: /var/log/syslog).
pub(crate) const DAEMON_LOG_CANDIDATES: [&str; 4] = [
    "/var/log/keepalived.log",
    "/var/log/keepalived/keepalived.log",
    "/var/log/messages",
    "/var/log/syslog",
];

/// Picks keepalived's log from what the node holds: `found` is each
/// candidate file (or `journal`) with its recent lines that mention
/// keepalived. The first with a state transition keepalived logged wins,
/// else the first with any line of keepalived's own; a file whose lines are
/// only the notify scripts' is not keepalived's log.
pub(crate) fn guess_daemon_log(found: &[(String, String)]) -> Sourced<Option<String>> {
    let offset = chrono::FixedOffset::east_opt(0).expect("UTC is an offset");
    let now = chrono::Utc::now();
    let score = |text: &str| -> (usize, usize) {
        let mut own = 0;
        let mut transitions = 0;
        for l in text.lines() {
            let p = crate::core::keepalived::logline::parse_line(l.as_bytes(), offset, now);
            if p.program.is_some() && p.may_be_keepalived() {
                own += 1;
                if p.transition.is_some() {
                    transitions += 1;
                }
            }
        }
        (transitions, own)
    };
    let scored: Vec<(&String, (usize, usize))> = found
        .iter()
        .map(|(name, text)| (name, score(text)))
        .collect();
    let pick = scored
        .iter()
        .find(|(_, (t, _))| *t > 0)
        .or_else(|| scored.iter().find(|(_, (_, own))| *own > 0));
    let looked = found
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    match pick {
        Some((name, (t, own))) if name.as_str() == "journal" => sourced(
            None,
            format!("keepalived's lines are in the journal ({own} seen, {t} transitions): journalctl -u keepalived"),
        ),
        Some((name, (t, own))) => sourced(
            Some(name.to_string()),
            format!("keepalived's own lines found there ({own} seen, {t} transitions)"),
        ),
        None if found.is_empty() => sourced(
            None,
            "not looked for (the conf was read from a file here): journalctl -u keepalived by default",
        ),
        None => sourced(
            None,
            format!("no line of keepalived's own found in {looked}: journalctl -u keepalived by default"),
        ),
    }
}

/// The node-side script that shows, for each candidate, the recent lines
/// that mention keepalived (`@@f PATH` before each), then the journal's.
fn daemon_log_probe() -> String {
    let mut s = String::new();
    for f in DAEMON_LOG_CANDIDATES {
        s.push_str(&format!(
            "if [ -f {f} ] && [ -r {f} ]; then echo '@@f {f}'; tail -n 20000 {f} 2>/dev/null | grep -i keepalived | tail -n 200; fi\n"
        ));
    }
    s.push_str("if command -v journalctl >/dev/null 2>&1; then echo '@@f journal'; journalctl -u keepalived -n 200 --no-pager -o short-iso 2>/dev/null; fi\n");
    s
}

/// The probe's output as (candidate, its lines).
fn split_daemon_log_probe(out: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    for l in out.lines() {
        if let Some(name) = l.strip_prefix("@@f ") {
            found.push((name.to_string(), String::new()));
        } else if let Some((_, text)) = found.last_mut() {
            text.push_str(l);
            text.push('\n');
        }
    }
    found
}

/// The scripts an instance runs on transitions (notify_* and its sync
/// group's), first words only, without duplicates.
pub(crate) fn notify_scripts(conf: &KeepalivedConf, inst: &VrrpInstance) -> Vec<String> {
    let mut cmds: Vec<String> = [
        &inst.notify_master,
        &inst.notify_backup,
        &inst.notify_fault,
        &inst.notify_stop,
        &inst.notify,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    for group in conf.tree.iter().filter(|n| n.keyword == "vrrp_sync_group") {
        let members = group
            .block()
            .iter()
            .filter(|n| n.keyword == "group")
            .flat_map(|n| n.block().iter().map(|m| m.keyword.clone()));
        if members.into_iter().any(|m| m == inst.name) {
            cmds.extend(
                group
                    .block()
                    .iter()
                    .filter(|n| n.keyword.starts_with("notify"))
                    .filter_map(|n| n.joined_args()),
            );
        }
    }
    let mut out: Vec<String> = Vec::new();
    for c in cmds {
        if let Some(first) = c.split_whitespace().next() {
            if !out.iter().any(|o| o == first) {
                out.push(first.to_string());
            }
        }
    }
    out
}

/// The instances to watch: `only`, or every instance with a VIP.
fn chosen<'a>(
    conf: &'a KeepalivedConf,
    only: Option<&str>,
) -> Result<Vec<&'a VrrpInstance>, String> {
    if let Some(name) = only {
        return conf
            .instance(name)
            .map(|i| vec![i])
            .ok_or_else(|| format!("no vrrp_instance `{name}` (found: {})", names(conf)));
    }
    let with_vip: Vec<_> = conf
        .instances
        .iter()
        .filter(|i| !i.virtual_ipaddress.is_empty())
        .collect();
    if with_vip.is_empty() {
        let typo = conf
            .tree
            .iter()
            .find(|n| n.keyword.starts_with("vrrp_instance") && n.keyword != "vrrp_instance");
        return Err(match (conf.instances.is_empty(), typo) {
            (true, Some(n)) => format!(
                "no vrrp_instance found; line {} says `{}`, which keepalived ignores too \
                 (a space is missing after vrrp_instance)",
                n.at.line, n.keyword
            ),
            (true, None) => "no vrrp_instance found".to_string(),
            (false, _) => format!(
                "no vrrp_instance has a virtual_ipaddress (found: {})",
                names(conf)
            ),
        });
    }
    Ok(with_vip)
}

fn names(conf: &KeepalivedConf) -> String {
    let n: Vec<&str> = conf.instances.iter().map(|i| i.name.as_str()).collect();
    if n.is_empty() {
        "none".into()
    } else {
        n.join(", ")
    }
}

/// `user@host` → `host`; `ssh://user@host:22` → `host`.
pub(crate) fn host_of(dest: &str) -> String {
    let d = dest.strip_prefix("ssh://").unwrap_or(dest);
    let d = d.rsplit('@').next().unwrap_or(d);
    let d = d.split('/').next().unwrap_or(d);
    match d.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6).to_string(),
        None if d.matches(':').count() == 1 => d.split(':').next().unwrap_or(d).to_string(),
        None => d.to_string(),
    }
}

/// The ssh destinations from `--peer-ssh`: positional (this node, then its
/// peer) or `ADDRESS=DEST`.
fn peer_ssh_for(peer_ssh: &[String], index: usize, address: Option<&str>) -> Option<String> {
    let mut positional = Vec::new();
    for p in peer_ssh {
        match p.split_once('=') {
            Some((addr, dest)) if addr.parse::<IpAddr>().is_ok() => {
                if address.is_some_and(|a| same_ip(a, addr)) {
                    return Some(dest.to_string());
                }
            }
            _ => positional.push(p.clone()),
        }
    }
    positional.get(index).cloned()
}

fn same_ip(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The draft config, from the parsed conf and what was read beside it.
pub(crate) fn draft(conf: &KeepalivedConf, g: &Gathered, args: &InitArgs) -> Result<Draft, String> {
    let instances = chosen(conf, args.instance.as_deref())?;
    let vs = g.vip_script.clone().unwrap_or_default();
    let vs_name = g
        .vip_script_path
        .clone()
        .unwrap_or_else(|| "vip.py".to_string());
    let mut notes = Vec::new();
    if !conf.unresolved_includes.is_empty() {
        notes.push(format!(
            "keepalived.conf includes files that could not be read: {}",
            conf.unresolved_includes.join(", ")
        ));
    }
    let region = match (&args.region, &vs.region) {
        (Some(r), _) => sourced(r.clone(), "from --region"),
        (None, Some(r)) if region_name(r) != *r => sourced(
            region_name(r),
            format!("from {vs_name} Region '{r}' (the old short name)"),
        ),
        (None, Some(r)) => sourced(r.clone(), format!("from {vs_name} Region")),
        (None, None) => sourced(
            DEFAULT_REGION.to_string(),
            "guessed: no --region and no Region in a vip.py; set your region",
        ),
    };

    let mut clusters = Vec::new();
    for (n, inst) in instances.iter().enumerate() {
        let mut cnotes = Vec::new();
        let Some(vip_entry) = inst.virtual_ipaddress.first() else {
            continue;
        };
        if inst.virtual_ipaddress.len() > 1 {
            cnotes.push(format!(
                "{} has {} virtual_ipaddress entries; vipdeck watches the first",
                inst.name,
                inst.virtual_ipaddress.len()
            ));
        }
        let vip = sourced(
            vip_entry.address.clone(),
            format!(
                "virtual_ipaddress of vrrp_instance {} ({})",
                inst.name,
                where_is(&vip_location(conf, inst))
            ),
        );
        // vip.py's ids belong to this cluster when its VIP matches (or it names none).
        let vs_here = vs.vip.as_deref().is_none_or(|v| same_ip(v, &vip.value));
        if vs.vip.is_some() && !vs_here {
            cnotes.push(format!(
                "{vs_name} moves {} but this instance's VIP is {}; its ids are not used here",
                vs.vip.as_deref().unwrap_or_default(),
                vip.value
            ));
        }
        if let (Some(src), Some(ip), true) = (&inst.unicast_src_ip, &vs.primary_ip, vs_here) {
            if !same_ip(src, ip) {
                cnotes.push(format!(
                    "unicast_src_ip is {src} but {vs_name} checks {ip} on this node's NIC"
                ));
            }
        }
        let self_addr = inst
            .unicast_src_ip
            .clone()
            .or_else(|| vs_here.then(|| vs.primary_ip.clone()).flatten());
        let peer_addr = inst.unicast_peer.first().cloned();
        if inst.unicast_peer.len() > 1 {
            cnotes.push(format!(
                "unicast_peer lists {} addresses; vipdeck watches pairs and took {}",
                inst.unicast_peer.len(),
                peer_addr.as_deref().unwrap_or_default()
            ));
        }
        if inst.unicast_peer.is_empty() {
            cnotes.push(
                "no unicast_peer: a VPC does not carry multicast VRRP; set the other peer's ssh below"
                    .to_string(),
            );
        }
        let iface = inst
            .interface
            .clone()
            .map(|i| sourced(i, format!("interface of {}", inst.name)))
            .unwrap_or_else(|| {
                sourced(
                    "eth0".to_string(),
                    format!("guessed: vrrp_instance {} names no interface", inst.name),
                )
            });
        // Why a notify script's file had to be guessed.
        let no_notify = match (&g.notify_path, g.notify_named.as_slice()) {
            (Some(p), _) => format!("{p} writes none"),
            (None, []) => "no notify script is named in keepalived.conf".to_string(),
            (None, named) => format!("the notify script {} could not be read", named.join(", ")),
        };
        let state_file = g
            .notify
            .state_file
            .clone()
            .map(|s| {
                sourced(
                    s,
                    format!(
                        "from {}",
                        g.notify_path.as_deref().unwrap_or("the notify script")
                    ),
                )
            })
            .unwrap_or_else(|| {
                sourced(
                    DEFAULT_STATE_FILE.to_string(),
                    format!("guessed (the seed scripts' path): {no_notify}"),
                )
            });
        let log_file = g
            .notify
            .log_file
            .clone()
            .map(|s| {
                sourced(
                    s,
                    format!(
                        "from {}",
                        g.notify_path.as_deref().unwrap_or("the notify script")
                    ),
                )
            })
            .unwrap_or_else(|| {
                sourced(
                    DEFAULT_LOG_FILE.to_string(),
                    format!("guessed (the seed scripts' path): {no_notify}"),
                )
            });
        let conf_path = g
            .conf_path_on_node
            .clone()
            .map(|p| sourced(p, "where it was read"))
            .unwrap_or_else(|| {
                sourced(
                    DEFAULT_CONF.to_string(),
                    "guessed: keepalived's default path (this copy was read locally)",
                )
            });

        let make_peer = |index: usize, addr: Option<String>, this: bool| -> DraftPeer {
            let explicit = peer_ssh_for(&args.peer_ssh, index, addr.as_deref());
            let (ssh, name) = match (&explicit, this, &g.ssh_host, &addr) {
                (Some(d), _, _, _) => (sourced(d.clone(), "from --peer-ssh"), host_of(d)),
                (None, true, Some(h), _) => (
                    sourced(h.clone(), "where keepalived.conf was read"),
                    host_of(h),
                ),
                (None, _, _, Some(a)) => {
                    let field = if this {
                        "unicast_src_ip"
                    } else {
                        "unicast_peer"
                    };
                    match alias_for(&g.ssh_aliases, a) {
                        // The ssh config's name for the address: a name people use.
                        Some(alias) => (
                            sourced(
                                alias.clone(),
                                format!("the ssh config's Host for {a} ({field})"),
                            ),
                            alias,
                        ),
                        None => match (this, &conf.global_defs.router_id) {
                            (true, Some(r)) if hostname_like(r) => {
                                (sourced(a.clone(), field), r.clone())
                            }
                            _ => (sourced(a.clone(), field), a.clone()),
                        },
                    }
                }
                (None, _, _, None) => (
                    sourced(String::new(), "unknown: set the ssh destination"),
                    format!("peer-{}", index + 1),
                ),
            };
            let eni = if !vs_here {
                None
            } else {
                let (id, field) = if this {
                    (&vs.this_eni, "thisNetworkInterfaceId")
                } else {
                    (&vs.that_eni, "thatNetworkInterfaceId")
                };
                id.as_ref()
                    .filter(|e| id_like(e, "eni-"))
                    .map(|e| sourced(e.clone(), format!("{vs_name} {field}")))
            };
            let same_as = if this {
                ""
            } else {
                " (assumed the same on both peers)"
            };
            DraftPeer {
                name,
                address: addr,
                ssh,
                local: this && args.local,
                network_interface_id: eni,
                instance_id: None,
                interface: if this || inst.interface.is_none() {
                    iface.clone()
                } else {
                    sourced(iface.value.clone(), format!("{}{same_as}", iface.from))
                },
                state_file: sourced(
                    state_file.value.clone(),
                    format!("{}{same_as}", state_file.from),
                ),
                log_file: sourced(
                    log_file.value.clone(),
                    format!("{}{same_as}", log_file.from),
                ),
                keepalived_conf: sourced(
                    conf_path.value.clone(),
                    format!("{}{same_as}", conf_path.from),
                ),
                daemon_log: {
                    let d = g
                        .daemon_log
                        .clone()
                        .unwrap_or_else(|| guess_daemon_log(&[]));
                    sourced(d.value, format!("{}{same_as}", d.from))
                },
            }
        };
        let peers = [
            make_peer(0, self_addr, true),
            make_peer(1, peer_addr, false),
        ];
        if peers[0].name == peers[1].name {
            return Err(format!(
                "both peers of {} would be named `{}`: pass --peer-ssh for each",
                inst.name, peers[0].name
            ));
        }
        for (field, id) in [
            ("thisNetworkInterfaceId", &vs.this_eni),
            ("thatNetworkInterfaceId", &vs.that_eni),
        ] {
            if let Some(id) = id.as_ref().filter(|e| vs_here && !id_like(e, "eni-")) {
                cnotes.push(format!(
                    "{vs_name} {field} `{id}` does not look like an ENI id; ignored"
                ));
            }
        }
        let mode = if g.vip_script.is_some() && vs_here {
            sourced(Mode::Eni, format!("{vs_name} moves the VIP between ENIs"))
        } else if let (None, Some(py)) = (&g.vip_script, &g.vip_script_named) {
            sourced(
                Mode::Eni,
                format!("guessed: the notify scripts run {py}, which moves the VIP by API"),
            )
        } else {
            sourced(
                Mode::Havip,
                "guessed: no vip.py found; keepalived's gratuitous ARP moves an HAVIP",
            )
        };
        let name = match (&args.name, instances.len()) {
            (Some(name), 1) => name.clone(),
            (Some(name), _) => format!("{name}-{}", n + 1),
            (None, _) => inst.name.clone(),
        };
        clusters.push(DraftCluster {
            name,
            instance: inst.name.clone(),
            mode,
            vip,
            havip_id: None,
            peers,
            notes: cnotes,
        });
    }
    if let Some(vpc) = vs.vpc_id.as_ref().filter(|v| id_like(v, "vpc-")) {
        notes.push(format!("{vs_name} names VPC {vpc}"));
    }
    Ok(Draft {
        source: g.source.clone(),
        region,
        endpoint: args.endpoint.clone(),
        ssh_config: args.ssh_config.clone(),
        clusters,
        notes,
    })
}

/// Where the instance's first `virtual_ipaddress` entry is (the instance
/// itself when the tree does not say).
fn vip_location(conf: &KeepalivedConf, inst: &VrrpInstance) -> Location {
    fn instance<'a>(nodes: &'a [Node], inst: &VrrpInstance) -> Option<&'a Node> {
        nodes.iter().find_map(|n| {
            if n.keyword == "vrrp_instance" && n.at == inst.at {
                Some(n)
            } else {
                instance(n.block(), inst)
            }
        })
    }
    instance(&conf.tree, inst)
        .and_then(|n| n.block().iter().find(|c| c.keyword == "virtual_ipaddress"))
        .and_then(|b| b.block().first())
        .map(|e| e.at.clone())
        .unwrap_or_else(|| inst.at.clone())
}

/// "line 12", or "keepalived.d/web.conf line 12" for an included file.
fn where_is(at: &Location) -> String {
    match &at.file {
        Some(f) => format!("{f} line {}", at.line),
        None => format!("line {}", at.line),
    }
}

/// A `router_id` that reads as a host name (not an address, a number or
/// the sample config's `LVS_DEVEL`, which has an underscore).
fn hostname_like(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_err()
        && s.chars().any(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// The ssh config's `Host` alias whose `HostName` is `addr`.
fn alias_for(aliases: &[(String, String)], addr: &str) -> Option<String> {
    aliases
        .iter()
        .find(|(_, host)| same_ip(host, addr) || host == addr)
        .map(|(alias, _)| alias.clone())
}

/// The ssh config the peers will be reached with: --ssh-config, else ~/.ssh/config.
fn ssh_config_path(args: &InitArgs) -> Option<PathBuf> {
    args.ssh_config
        .clone()
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ssh/config")))
}

/// `Host` aliases (without wildcards) and their `HostName`s in an ssh config.
pub(crate) fn parse_ssh_aliases(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let mut words = line.splitn(2, [' ', '\t', '=']);
        let key = words.next().unwrap_or("").to_ascii_lowercase();
        let value = words
            .next()
            .unwrap_or("")
            .trim()
            .trim_start_matches('=')
            .trim();
        match key.as_str() {
            "host" => {
                current = value
                    .split_whitespace()
                    .filter(|h| !h.contains(['*', '?', '!']))
                    .map(str::to_string)
                    .collect();
            }
            "match" => current.clear(),
            "hostname" => {
                for alias in current.drain(..) {
                    out.push((alias, value.to_string()));
                }
            }
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------
// What the cloud says
// ---------------------------------------------------------------------------

/// The cloud's answers for one cluster.
#[derive(Debug, Clone, Default)]
pub(crate) struct CloudAnswers {
    /// ENIs found by each peer's address (`address-ip`, exact match).
    pub(crate) peer_enis: [Vec<NetworkInterface>; 2],
    /// ENIs holding the VIP as a private IP.
    pub(crate) vip_enis: Vec<NetworkInterface>,
    /// HAVIPs whose `Vip` is the VIP.
    pub(crate) havips: Vec<HaVip>,
}

fn holding<'a>(enis: &'a [NetworkInterface], ip: &str) -> Option<&'a NetworkInterface> {
    let has = |e: &&NetworkInterface, primary: bool| {
        e.private_ip_address_set
            .iter()
            .any(|p| same_ip(&p.private_ip_address, ip) && (p.primary || !primary))
    };
    enis.iter()
        .find(|e| has(e, true))
        .or_else(|| enis.iter().find(|e| has(e, false)))
}

/// Fills ENI/instance ids and the mode from the cloud's answers; the
/// cloud wins over vip.py, with a note when they disagree.
pub(crate) fn apply_cloud(c: &mut DraftCluster, a: &CloudAnswers) {
    for (i, peer) in c.peers.iter_mut().enumerate() {
        let Some(addr) = peer.address.clone() else {
            continue;
        };
        match holding(&a.peer_enis[i], &addr) {
            Some(eni) => {
                let from = format!("the cloud: DescribeNetworkInterfaces address-ip {addr}");
                if let Some(old) = &peer.network_interface_id {
                    if old.value != eni.network_interface_id {
                        c.notes.push(format!(
                            "{} says {} for {}, the cloud says {}: the cloud's is used",
                            old.from, old.value, peer.name, eni.network_interface_id
                        ));
                    }
                }
                peer.network_interface_id = Some(sourced(eni.network_interface_id.clone(), from.clone()));
                if let Some(ins) = eni.attachment.as_ref().filter(|a| !a.instance_id.is_empty()) {
                    peer.instance_id = Some(sourced(ins.instance_id.clone(), from));
                }
            }
            None => c.notes.push(format!(
                "the cloud knows no ENI with the address {addr} ({}): check the region and the address",
                peer.name
            )),
        }
    }
    let vip = c.vip.value.clone();
    let havip = a.havips.iter().find(|h| same_ip(&h.vip, &vip));
    if let Some(h) = havip {
        if c.mode.value != Mode::Havip {
            c.notes.push(format!(
                "{} but the VIP is HAVIP {}: mode havip",
                c.mode.from, h.ha_vip_id
            ));
        }
        c.mode = sourced(
            Mode::Havip,
            format!("the cloud: DescribeHaVips vip {vip} is {}", h.ha_vip_id),
        );
        c.havip_id = Some(sourced(h.ha_vip_id.clone(), "the cloud: DescribeHaVips"));
    } else if let Some(holder) = holding(&a.vip_enis, &vip) {
        c.mode = sourced(
            Mode::Eni,
            format!(
                "the cloud: the VIP is a private IP of {}",
                holder.network_interface_id
            ),
        );
        let on_peer = c.peers.iter().any(|p| {
            p.network_interface_id
                .as_ref()
                .is_some_and(|e| e.value == holder.network_interface_id)
        });
        if !on_peer {
            c.notes.push(format!(
                "the VIP is on {}, which is neither peer's ENI",
                holder.network_interface_id
            ));
        }
    } else {
        c.notes.push(format!(
            "the cloud knows {vip} neither as an HAVIP nor as an ENI's private IP; mode left as {}",
            c.mode.value
        ));
    }
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

/// A TOML string literal.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn line(out: &mut String, indent: &str, key: &str, value: &str, from: &str) {
    out.push_str(&format!("{indent}{key} = {value}"));
    if !from.is_empty() {
        out.push_str(&format!("   # {from}"));
    }
    out.push('\n');
}

/// The commented config. Every value says where it came from.
pub(crate) fn render(d: &Draft) -> String {
    let mut out = String::new();
    out.push_str("# vipdeck config made by `vipdeck init`");
    out.push_str(&format!(" from {}\n", d.source));
    out.push_str(
        "# Check it with `vipdeck config check`, then run `vipdeck status` or `vipdeck`.\n\
         # Reference: docs/configuration.md. Cloud credentials are never written here:\n\
         # vipdeck reads them from the environment (TENCENTCLOUD_SECRET_ID and its key),\n\
         # ~/.tencentcloud/credentials, a tccli profile or the CVM role.\n\
         # Each value's comment says where it came from; `guessed:` marks a guess and why.\n",
    );
    for n in &d.notes {
        out.push_str(&format!("# NOTE: {n}\n"));
    }
    out.push_str("\n[cloud]\n");
    line(&mut out, "", "region", &q(&d.region.value), &d.region.from);
    match &d.endpoint {
        Some(e) if e != crate::core::config::DEFAULT_ENDPOINT => {
            line(&mut out, "", "endpoint", &q(e), "from --endpoint")
        }
        _ => out.push_str(&format!(
            "# endpoint = {}\n",
            q(crate::core::config::DEFAULT_ENDPOINT)
        )),
    }
    if let Some(p) = &d.ssh_config {
        out.push_str("\n[ssh]\n");
        line(
            &mut out,
            "",
            "config_file",
            &q(&p.display().to_string()),
            "from --ssh-config",
        );
    }
    for c in &d.clusters {
        out.push_str("\n[[clusters]]\n");
        for n in &c.notes {
            out.push_str(&format!("# NOTE: {n}\n"));
        }
        line(
            &mut out,
            "",
            "name",
            &q(&c.name),
            &format!("vrrp_instance {}", c.instance),
        );
        line(
            &mut out,
            "",
            "mode",
            &q(&c.mode.value.to_string()),
            &c.mode.from,
        );
        line(&mut out, "", "vip", &q(&c.vip.value), &c.vip.from);
        if let Some(h) = &c.havip_id {
            line(&mut out, "", "havip_id", &q(&h.value), &h.from);
        }
        for p in &c.peers {
            out.push_str("\n  [[clusters.peers]]\n");
            line(&mut out, "  ", "name", &q(&p.name), "");
            if p.local {
                out.push_str("  local = true   # from --local: this machine\n");
            } else if p.ssh.value.is_empty() {
                // Left commented: the file does not load until it is set.
                out.push_str(&format!(
                    "  # ssh = \"user@host\"   # {} (or local = true)\n",
                    p.ssh.from
                ));
            } else {
                line(&mut out, "  ", "ssh", &q(&p.ssh.value), &p.ssh.from);
            }
            match &p.network_interface_id {
                Some(e) => line(
                    &mut out,
                    "  ",
                    "network_interface_id",
                    &q(&e.value),
                    &e.from,
                ),
                None => out.push_str(
                    "  # network_interface_id = \"eni-...\"   # unknown: needed in eni mode; \
                     the cloud binding is matched to a peer by ENI, else by instance_id\n",
                ),
            }
            match (&p.instance_id, &p.network_interface_id) {
                (Some(i), _) => line(&mut out, "  ", "instance_id", &q(&i.value), &i.from),
                (None, Some(_)) => out.push_str("  # instance_id = \"ins-...\"\n"),
                (None, None) => out.push_str(
                    "  # instance_id = \"ins-...\"   # unknown: with neither id the binding \
                     matches no peer and the cluster shows vip_drift\n",
                ),
            }
            line(
                &mut out,
                "  ",
                "interface",
                &q(&p.interface.value),
                &p.interface.from,
            );
            line(
                &mut out,
                "  ",
                "state_file",
                &q(&p.state_file.value),
                &p.state_file.from,
            );
            line(
                &mut out,
                "  ",
                "log_file",
                &q(&p.log_file.value),
                &p.log_file.from,
            );
            line(
                &mut out,
                "  ",
                "keepalived_conf",
                &q(&p.keepalived_conf.value),
                &p.keepalived_conf.from,
            );
            match &p.daemon_log.value {
                Some(f) => line(&mut out, "  ", "daemon_log", &q(f), &p.daemon_log.from),
                None => out.push_str(&format!(
                    "  # daemon_log = \"/var/log/messages\"   # {}\n",
                    p.daemon_log.from
                )),
            }
            out.push_str("  # start_cmd = \"systemctl start keepalived\"\n");
            out.push_str("  # stop_cmd = \"systemctl stop keepalived\"\n");
        }
    }
    out
}

// ---------------------------------------------------------------------------
// I/O: reading the files, asking the cloud
// ---------------------------------------------------------------------------

/// Where the files are read from.
enum Reader {
    Local,
    Remote(Box<Shell>),
}

impl Reader {
    /// The file's text, `None` when it does not exist or cannot be read.
    async fn read(&mut self, path: &str) -> Result<Option<String>, String> {
        match self {
            Reader::Local => Ok(std::fs::read(path)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())),
            Reader::Remote(sh) => {
                let p = quote(path);
                let script =
                    format!("if [ -r {p} ] && [ -f {p} ]; then cat -- {p}; else exit 44; fi");
                match sh.run(&script, Duration::from_secs(10)).await {
                    Ok((text, 0)) => Ok(Some(text)),
                    Ok(_) => Ok(None),
                    Err(e) => Err(e.to_string()),
                }
            }
        }
    }

    /// A script's output on the node (this machine for `Local`).
    async fn run(&mut self, script: &str) -> Result<String, String> {
        match self {
            Reader::Local => {
                let mut sh = Shell::spawn(&Target::Local)
                    .await
                    .map_err(|e| e.to_string())?;
                let out = sh.run(script, Duration::from_secs(10)).await;
                sh.close().await;
                out.map(|(text, _)| text).map_err(|e| e.to_string())
            }
            Reader::Remote(sh) => sh
                .run(script, Duration::from_secs(10))
                .await
                .map(|(text, _)| text)
                .map_err(|e| e.to_string()),
        }
    }
}

/// `ssh://[user@]host[:port][/path]` → (destination, path).
pub(crate) fn split_ssh_source(from: &str) -> Option<(String, String)> {
    let rest = from.strip_prefix("ssh://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return None;
    }
    let path = if path.is_empty() || path == "/" {
        DEFAULT_CONF.to_string()
    } else {
        path.to_string()
    };
    // ssh takes ssh:// URIs itself; keep the plain form when there is no port.
    let dest = if host_port(authority) {
        format!("ssh://{authority}")
    } else {
        authority.to_string()
    };
    Some((dest, path))
}

fn host_port(authority: &str) -> bool {
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(v6) = host.strip_prefix('[') {
        return v6.contains("]:");
    }
    host.matches(':').count() == 1
}

/// Paths to try for a script the conf names: on a copy of /etc/keepalived
/// (a local path elsewhere) the same file name next to the conf first.
fn candidates(script: &str, conf_dir: Option<&Path>) -> Vec<String> {
    let p = Path::new(script);
    let mut out = Vec::new();
    if let (Some(dir), Some(file)) = (conf_dir, p.file_name()) {
        if p.parent() != Some(dir) {
            out.push(dir.join(file).display().to_string());
        }
    }
    out.push(script.to_string());
    out
}

async fn read_first(
    reader: &mut Reader,
    paths: &[String],
) -> Result<Option<(String, String)>, String> {
    for p in paths {
        if let Some(text) = reader.read(p).await? {
            return Ok(Some((p.clone(), text)));
        }
    }
    Ok(None)
}

/// Control sockets for the ssh reads, as the monitor keeps them.
fn control_dir() -> PathBuf {
    crate::sources::transport::control_dir()
}

/// Reads the files, asks the cloud unless told not to, and returns the
/// draft and its rendering. Progress and warnings go to `log`.
pub async fn run(args: &InitArgs, log: &mut dyn FnMut(String)) -> anyhow::Result<(Draft, String)> {
    let (mut reader, conf_path, ssh_host, source) = match split_ssh_source(&args.from) {
        Some(_) if args.local => {
            anyhow::bail!("--local means this machine is the node; it cannot go with --from ssh://")
        }
        Some((dest, path)) => {
            let target = Target::Ssh(SshTarget {
                destination: dest.clone(),
                config_file: args.ssh_config.clone(),
                control_dir: control_dir(),
                connect_timeout: Duration::from_secs(10),
            });
            let shell = Shell::spawn(&target)
                .await
                .map_err(|e| anyhow::anyhow!("ssh {dest}: {e}"))?;
            let source = format!("{path} on {dest}");
            (Reader::Remote(Box::new(shell)), path, Some(dest), source)
        }
        None if args.from.starts_with("ssh:") => {
            anyhow::bail!(
                "--from {}: expected ssh://[user@]host[:port][/path]",
                args.from
            )
        }
        // A directory means the keepalived.conf in it (a copy of /etc/keepalived).
        None if Path::new(&args.from).is_dir() => {
            let path = Path::new(&args.from).join("keepalived.conf");
            let shown = path.display().to_string();
            (Reader::Local, shown.clone(), None, shown)
        }
        None => (Reader::Local, args.from.clone(), None, args.from.clone()),
    };
    let conf_text = reader
        .read(&conf_path)
        .await
        .map_err(|e| anyhow::anyhow!("reading {source}: {e}"))?
        .ok_or_else(|| anyhow::anyhow!("cannot read {source}"))?;
    let conf_dir = if ssh_host.is_none() {
        Path::new(&conf_path).parent().map(Path::to_path_buf)
    } else {
        None
    };

    // Includes: read what the first pass names, then parse again.
    let (first, _) = conf::parse_lenient(&conf_text, &|_| None);
    let mut included: BTreeMap<String, String> = BTreeMap::new();
    for pattern in &first.unresolved_includes {
        let paths = candidates(pattern, conf_dir.as_deref());
        if let Some((_, text)) = read_first(&mut reader, &paths)
            .await
            .map_err(anyhow::Error::msg)?
        {
            included.insert(pattern.clone(), text);
        }
    }
    let (parsed, errors) = conf::parse_lenient(&conf_text, &|p| included.get(p).cloned());
    for e in &errors {
        log(format!("warning: {source}: {e}"));
    }
    for w in &parsed.warnings {
        log(format!("warning: {source}: {w}"));
    }

    let mut g = Gathered {
        source: source.clone(),
        ssh_host: ssh_host.clone(),
        conf_path_on_node: ssh_host
            .as_ref()
            .map(|_| conf_path.clone())
            .filter(|p| p != DEFAULT_CONF),
        ..Default::default()
    };
    // Notify scripts of the instances we will watch.
    let instances = chosen(&parsed, args.instance.as_deref()).map_err(anyhow::Error::msg)?;
    let mut scripts: Vec<String> = Vec::new();
    for inst in &instances {
        for s in notify_scripts(&parsed, inst) {
            if !scripts.contains(&s) {
                scripts.push(s);
            }
        }
    }
    g.notify_named = scripts.clone();
    g.ssh_aliases = ssh_config_path(args)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| parse_ssh_aliases(&t))
        .unwrap_or_default();
    let mut vip_script_path = args.vip_script.clone();
    for s in &scripts {
        if s.ends_with(".py") {
            vip_script_path.get_or_insert_with(|| s.clone());
            continue;
        }
        if let Some((path, text)) = read_first(&mut reader, &candidates(s, conf_dir.as_deref()))
            .await
            .map_err(anyhow::Error::msg)?
        {
            let info = parse_notify_script(&text);
            if g.notify_path.is_none()
                || (g.notify.state_file.is_none() && info.state_file.is_some())
            {
                if let Some(py) = &info.vip_script {
                    vip_script_path.get_or_insert_with(|| py.clone());
                }
                g.notify = info;
                g.notify_path = Some(path);
            }
        } else {
            log(format!(
                "note: cannot read the notify script {s}; using the seed defaults"
            ));
        }
    }
    g.vip_script_named = vip_script_path.clone();
    if let Some(py) = &vip_script_path {
        // An explicit --vip-script is read as given; one the scripts name may sit next to the conf.
        let paths = if args.vip_script.is_some() {
            vec![py.clone()]
        } else {
            candidates(py, conf_dir.as_deref())
        };
        match read_first(&mut reader, &paths)
            .await
            .map_err(anyhow::Error::msg)?
        {
            Some((path, text)) => {
                let mut vs = parse_vip_script(&text);
                if let Some(cf) = vs.conf_file.clone() {
                    let dir = Path::new(&path).parent().map(Path::to_path_buf);
                    let cpaths = candidates(&cf, dir.as_deref().or(conf_dir.as_deref()));
                    if let Some((_, json)) = read_first(&mut reader, &cpaths)
                        .await
                        .map_err(anyhow::Error::msg)?
                    {
                        if let Some(extra) = parse_vip_json(&json) {
                            vs = vs.or(extra);
                        }
                    }
                }
                g.vip_script = Some(vs);
                g.vip_script_path = Some(path);
            }
            None if args.vip_script.is_some() => anyhow::bail!("cannot read --vip-script {py}"),
            None => log(format!(
                "note: the notify script runs {py}, which cannot be read"
            )),
        }
    }
    // keepalived's own log, where the node keeps it (not looked for when
    // the conf is a copy read on this machine).
    if ssh_host.is_some() || args.local {
        match reader.run(&daemon_log_probe()).await {
            Ok(out) => g.daemon_log = Some(guess_daemon_log(&split_daemon_log_probe(&out))),
            Err(e) => log(format!("note: cannot look for keepalived's log: {e}")),
        }
    }
    if let Reader::Remote(sh) = reader {
        sh.close().await;
    }

    let mut d = draft(&parsed, &g, args).map_err(anyhow::Error::msg)?;
    if !args.no_cloud {
        ask_cloud(&mut d, args, log).await;
    }
    let text = render(&d);
    Ok((d, text))
}

/// Fills the draft from the cloud; any failure becomes a note, not an error.
async fn ask_cloud(d: &mut Draft, args: &InitArgs, log: &mut dyn FnMut(String)) {
    let cloud = crate::core::config::CloudConfig {
        region: d.region.value.clone(),
        endpoint: args
            .endpoint
            .clone()
            .unwrap_or_else(|| crate::core::config::DEFAULT_ENDPOINT.to_string()),
        ..Default::default()
    };
    let client = match crate::sources::cloud::connect(&cloud, &d.region.value).await {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("the cloud was not asked: {e}");
            log(format!("note: {msg}"));
            d.notes.push(msg);
            return;
        }
    };
    log(format!(
        "asking the VPC API at {} ({}) with credentials from {}",
        cloud.endpoint,
        d.region.value,
        client.credential_source()
    ));
    for c in &mut d.clusters {
        match answers(&client, c).await {
            Ok(a) => apply_cloud(c, &a),
            Err(e) => {
                let msg = format!("the cloud could not be asked: {e}");
                log(format!("warning: {}: {msg}", c.name));
                c.notes.push(msg);
            }
        }
    }
}

fn by_address(ip: &str) -> Vec<Filter> {
    vec![
        Filter::new("address-ip", vec![ip.to_string()]),
        Filter::new("ip-exact-match", vec!["true".to_string()]),
    ]
}

async fn answers(
    client: &crate::sources::cloud::VpcClient,
    c: &DraftCluster,
) -> Result<CloudAnswers, crate::sources::cloud::CloudError> {
    let mut a = CloudAnswers::default();
    for (i, p) in c.peers.iter().enumerate() {
        if let Some(addr) = &p.address {
            a.peer_enis[i] = client
                .describe_network_interfaces_all(&[], &by_address(addr))
                .await?;
        }
    }
    a.havips = client
        .describe_ha_vips_all(
            &[],
            &[Filter::new(
                crate::sources::cloud::batch::HAVIP_VIP_FILTER,
                vec![c.vip.value.clone()],
            )],
        )
        .await?;
    a.vip_enis = client
        .describe_network_interfaces_all(&[], &by_address(&c.vip.value))
        .await?;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> String {
        let p = format!(
            "{}/tests/fixtures/keepalived/{rel}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn keepalived_s_log_is_found_where_the_distribution_puts_it() {
        // CentOS 7: the seeds' notify log beside rsyslog's /var/log/messages
        // with 1.3.5's own lines; no journal.
        let found = vec![
            (
                "/var/log/keepalived.log".to_string(),
                fixture("versions/1.3.5/notify-a.log"),
            ),
            (
                "/var/log/messages".to_string(),
                fixture("versions/1.3.5/messages-a.log"),
            ),
        ];
        let g = guess_daemon_log(&found);
        assert_eq!(g.value.as_deref(), Some("/var/log/messages"), "{}", g.from);
        assert!(g.from.contains("transitions"), "{}", g.from);
        // Debian/Ubuntu with systemd: only the journal has them.
        let journal = vec![
            (
                "/var/log/syslog".to_string(),
                "Dec  6 07:01:03 a sshd[77]: keepalived? no\n".to_string(),
            ),
            ("journal".to_string(), fixture("real/messages-a.log")),
        ];
        let g = guess_daemon_log(&journal);
        assert_eq!(g.value, None, "{}", g.from);
        assert!(g.from.contains("journal"), "{}", g.from);
        // Nothing anywhere: the default, and the reason.
        let g = guess_daemon_log(&[("/var/log/messages".to_string(), String::new())]);
        assert_eq!(g.value, None);
        assert!(
            g.from
                .contains("no line of keepalived's own found in /var/log/messages"),
            "{}",
            g.from
        );
        // The probe's output splits by candidate.
        let split = split_daemon_log_probe("@@f /var/log/messages\na\nb\n@@f journal\n");
        assert_eq!(
            split,
            vec![
                ("/var/log/messages".into(), "a\nb\n".into()),
                ("journal".into(), String::new())
            ]
        );
    }

    const NOTIFY: &str = r#"#!/bin/bash
#/etc/keepalived/notify_action.sh
log_file=/var/log/keepalived.log
mkdir -p /var/keepalived/
if [ $1 == 'MASTER' ]; then
        echo -n "$1" > /var/keepalived/state
        /etc/keepalived/vip.py migrate &
fi
"#;

    #[test]
    fn notify_script_gives_state_log_and_vip_script() {
        let n = parse_notify_script(NOTIFY);
        assert_eq!(n.state_file.as_deref(), Some("/var/keepalived/state"));
        assert_eq!(n.log_file.as_deref(), Some("/var/log/keepalived.log"));
        assert_eq!(n.vip_script.as_deref(), Some("/etc/keepalived/vip.py"));
        // The vip_check_failed_count file is not the state file.
        let other =
            "echo -n 0 > /var/keepalived/vip_check_failed_count\necho -n \"$1\" > /srv/ka/state\n";
        assert_eq!(
            parse_notify_script(other).state_file.as_deref(),
            Some("/srv/ka/state")
        );
        // A commented-out line does not count.
        assert_eq!(
            parse_notify_script("# /opt/x.py migrate\n").vip_script,
            None
        );
    }

    #[test]
    fn vip_script_never_yields_secrets() {
        let text = "vip = \"10.0.1.100\"\nthisNetworkInterfaceId = 'eni-pvsvph0u'\n\
                    thatNetworkInterfaceId = 'eni-qnxioxyi'\nvpcId = 'vpc-1yxuk010'\n\
                    interface = {\"eth0\":\"10.0.1.17\"}\nconfig = {\n    'Region': 'bj',\n    \
                    'secretId': 'AKIDsecretid',\n    'secretKey': 'TOPSECRET',\n}\n";
        let v = parse_vip_script(text);
        assert_eq!(v.vip.as_deref(), Some("10.0.1.100"));
        assert_eq!(v.this_eni.as_deref(), Some("eni-pvsvph0u"));
        assert_eq!(v.that_eni.as_deref(), Some("eni-qnxioxyi"));
        assert_eq!(v.vpc_id.as_deref(), Some("vpc-1yxuk010"));
        assert_eq!(v.region.as_deref(), Some("bj"));
        assert_eq!(v.interface.as_deref(), Some("eth0"));
        assert_eq!(v.primary_ip.as_deref(), Some("10.0.1.17"));
        let shown = format!("{v:?}");
        assert!(
            !shown.contains("TOPSECRET") && !shown.contains("AKIDsecretid"),
            "{shown}"
        );
        assert_eq!(region_name("bj"), "ap-beijing");
        assert_eq!(region_name("ap-hongkong"), "ap-hongkong");
    }

    #[test]
    fn ssh_sources_split_into_destination_and_path() {
        assert_eq!(
            split_ssh_source("ssh://root@h1"),
            Some(("root@h1".into(), DEFAULT_CONF.into()))
        );
        assert_eq!(
            split_ssh_source("ssh://h1:2222/srv/ka.conf"),
            Some(("ssh://h1:2222".into(), "/srv/ka.conf".into()))
        );
        assert_eq!(split_ssh_source("/etc/keepalived/keepalived.conf"), None);
        assert_eq!(split_ssh_source("ssh:///x"), None);
        assert_eq!(host_of("root@vdlab-a"), "vdlab-a");
        assert_eq!(host_of("ssh://u@h1:2222"), "h1");
        assert_eq!(host_of("[2001:db8::1]"), "2001:db8::1");
    }

    #[test]
    fn cloud_answers_fill_ids_and_detect_havip() {
        let conf = conf::parse(
            "vrrp_instance VI_1 {\n interface eth0\n unicast_src_ip 198.51.100.11\n \
             unicast_peer {\n 198.51.100.12\n }\n virtual_ipaddress {\n 198.51.100.100/24\n }\n}\n",
        )
        .expect("parses");
        let args = InitArgs {
            from: "x".into(),
            ..Default::default()
        };
        let mut d = draft(&conf, &Gathered::default(), &args).expect("draft");
        assert_eq!(d.clusters[0].mode.value, Mode::Havip);
        let eni = |id: &str, ins: &str, ips: &[&str]| NetworkInterface {
            network_interface_id: id.into(),
            private_ip_address_set: ips
                .iter()
                .enumerate()
                .map(
                    |(i, ip)| crate::core::vpc::types::PrivateIpAddressSpecification {
                        private_ip_address: ip.to_string(),
                        primary: i == 0,
                    },
                )
                .collect(),
            attachment: Some(crate::core::vpc::types::NetworkInterfaceAttachment {
                instance_id: ins.into(),
            }),
            ..Default::default()
        };
        let a = CloudAnswers {
            peer_enis: [
                vec![eni("eni-a", "ins-a", &["198.51.100.11", "198.51.100.100"])],
                // A fuzzy match the exact check must drop.
                vec![
                    eni("eni-x", "ins-x", &["198.51.100.120"]),
                    eni("eni-b", "ins-b", &["198.51.100.12"]),
                ],
            ],
            vip_enis: vec![eni("eni-a", "ins-a", &["198.51.100.11", "198.51.100.100"])],
            havips: vec![],
        };
        apply_cloud(&mut d.clusters[0], &a);
        let c = &d.clusters[0];
        assert_eq!(c.mode.value, Mode::Eni, "{:?}", c.mode);
        assert_eq!(
            c.peers[0]
                .network_interface_id
                .as_ref()
                .map(|s| s.value.as_str()),
            Some("eni-a")
        );
        assert_eq!(
            c.peers[1].instance_id.as_ref().map(|s| s.value.as_str()),
            Some("ins-b")
        );
        assert!(c.notes.is_empty(), "{:?}", c.notes);

        let mut d2 = draft(&conf, &Gathered::default(), &args).expect("draft");
        let a2 = CloudAnswers {
            havips: vec![HaVip {
                ha_vip_id: "havip-1".into(),
                vip: "198.51.100.100".into(),
                ..Default::default()
            }],
            ..a
        };
        apply_cloud(&mut d2.clusters[0], &a2);
        assert_eq!(d2.clusters[0].mode.value, Mode::Havip);
        assert_eq!(
            d2.clusters[0].havip_id.as_ref().map(|s| s.value.as_str()),
            Some("havip-1")
        );
        let text = render(&d2);
        let parsed = crate::core::config::parse(&text, Path::new("init.toml"))
            .expect("renders valid config");
        assert_eq!(parsed.clusters[0].havip_id.as_deref(), Some("havip-1"));
    }
}
