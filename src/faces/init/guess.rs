//! From what was read to a draft: which value each key gets and the
//! sentence saying where it came from (or why it is a guess), then what the
//! cloud's answers change. Pure functions over the parsed files.

use std::net::IpAddr;

use super::discover::{chosen, Gathered};
use super::{
    sourced, Draft, DraftCluster, DraftPeer, InitArgs, Sourced, DEFAULT_CONF, DEFAULT_LOG_FILE,
    DEFAULT_REGION, DEFAULT_STATE_FILE,
};
use crate::core::keepalived::conf::{KeepalivedConf, Location, Node, VrrpInstance};
use crate::core::model::Mode;
use crate::core::vpc::types::{HaVip, NetworkInterface};

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
                    let d = guess_daemon_log(g.daemon_log_found.as_deref().unwrap_or_default());
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
