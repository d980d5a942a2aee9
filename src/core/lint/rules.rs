//! The rules on the configs themselves: each peer's file, the pair, the
//! cloud's objects and the fleet.

use std::collections::BTreeMap;

use super::{name_of, Finding, PairInput, Parsed, PeerInput, Severity};
use crate::core::keepalived::conf::{instance_for_vip, KeepalivedConf, Node, VrrpInstance};
use crate::core::model::{Mode, VrrpState};
use crate::core::pair as pair_cmp;

/// Tencent Cloud binds at most this many HAVIPs to one ENI.
const MAX_HAVIPS_PER_ENI: usize = 5;

/// The top-level keywords keepalived knows; others are ignored by it.
const TOP_LEVEL: &[&str] = &[
    "global_defs",
    "include",
    "vrrp_script",
    "vrrp_instance",
    "vrrp_sync_group",
    "vrrp_track_process",
    "vrrp_track_file",
    "track_file",
    "track_process",
    "garp_group",
    "linkbeat_interfaces",
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "virtual_server",
    "virtual_server_group",
    "virtual_syncookies",
    "net_namespace",
    "net_namespace_ipvs",
    "instance",
    "use_pid_dir",
    "bfd_instance",
    "@include",
];

/// A finding with its place.
#[allow(clippy::too_many_arguments)]
pub(crate) fn finding(
    pair: &PairInput,
    code: &'static str,
    severity: Severity,
    peer: Option<&PeerInput>,
    line: Option<usize>,
    message: String,
    why: &str,
    fix: String,
) -> Finding {
    Finding {
        code,
        name: name_of(code),
        severity,
        cluster: pair.cluster.clone(),
        peer: peer.map(|p| p.name.clone()),
        file: peer.map(|p| p.conf_path.clone()),
        line,
        message,
        why: why.to_string(),
        fix,
    }
}

/// `peer:file:line` (the file once when the peer is the file, offline).
fn place_of(peer: &PeerInput, line: usize) -> String {
    if peer.name == peer.conf_path {
        format!("{}:{line}", peer.conf_path)
    } else {
        format!("{}:{}:{line}", peer.name, peer.conf_path)
    }
}

pub(crate) fn unreadable(pair: &PairInput, peer: &PeerInput, why: &str) -> Finding {
    finding(
        pair,
        "VD001",
        Severity::Warning,
        Some(peer),
        None,
        format!("could not read {}: {why}", peer.conf_path),
        "nothing in this file was checked: the findings below do not cover this peer",
        "check that the file exists and that vipdeck's user can read it (ssh as root, or \
         `keepalived_conf` in the cluster's config)"
            .into(),
    )
}

/// The statement that opens instance `name`, in the parsed tree.
fn instance_node<'a>(conf: &'a KeepalivedConf, name: &str) -> Option<&'a Node> {
    conf.tree
        .iter()
        .find(|n| n.keyword == "vrrp_instance" && n.args.first().map(String::as_str) == Some(name))
}

/// The line of `keyword` inside instance `inst`, else the instance's own line.
pub(crate) fn line_in(conf: &KeepalivedConf, inst: &VrrpInstance, keyword: &str) -> usize {
    instance_node(conf, &inst.name)
        .and_then(|n| n.block().iter().rev().find(|c| c.keyword == keyword))
        .map_or(inst.at.line, |c| c.at.line)
}

/// The instances of this peer to lint: the VIP's, or every one.
pub(crate) fn instances<'a>(pair: &PairInput, p: &'a Parsed<'_>) -> Vec<&'a VrrpInstance> {
    match &pair.vip {
        Some(vip) => instance_for_vip(&p.conf, vip).into_iter().collect(),
        None => p.conf.instances.iter().collect(),
    }
}

/// The rules on one file.
pub(crate) fn each_peer(pair: &PairInput, parsed: &[Parsed<'_>], out: &mut Vec<Finding>) {
    for p in parsed {
        let peer = Some(p.input);
        for e in &p.errors {
            out.push(finding(
                pair,
                "VD002",
                Severity::Warning,
                peer,
                Some(e.location().line),
                e.to_string(),
                "keepalived skips an extra '}' and ends an unclosed block at the end of the \
                 file: what it runs may not be what the file seems to say",
                "balance the braces; `keepalived -t -f FILE` (2.x) checks a file".into(),
            ));
        }
        for n in &p.conf.tree {
            if !TOP_LEVEL.contains(&n.keyword.as_str()) {
                let hint = TOP_LEVEL
                    .iter()
                    .find(|k| n.keyword.starts_with(**k) && n.keyword.len() > k.len())
                    .map(|k| format!("write `{k} {}`", &n.keyword[k.len()..]))
                    .unwrap_or_else(|| {
                        "move it into the block it belongs to (global_defs, an instance) or \
                         remove it"
                            .into()
                    });
                out.push(finding(
                    pair,
                    "VD004",
                    Severity::Warning,
                    peer,
                    Some(n.at.line),
                    format!(
                        "`{}` is not a top-level keyword keepalived knows",
                        n.keyword
                    ),
                    "keepalived logs it as unknown and ignores it and everything in its block",
                    hint,
                ));
            }
        }
        let mine = instances(pair, p);
        if mine.is_empty() {
            let what = match &pair.vip {
                Some(vip) => format!("no vrrp_instance carries the VIP {vip}"),
                None => "no vrrp_instance in the file".to_string(),
            };
            out.push(finding(
                pair,
                "VD003",
                Severity::Error,
                peer,
                None,
                what,
                "keepalived does not run VRRP for this VIP on this peer: it never takes it over",
                "add (or fix the spelling of) the vrrp_instance with the VIP in virtual_ipaddress"
                    .into(),
            ));
        }
        for inst in mine {
            instance_rules(pair, p, inst, out);
        }
    }
}

fn instance_rules(pair: &PairInput, p: &Parsed<'_>, inst: &VrrpInstance, out: &mut Vec<Finding>) {
    let peer = Some(p.input);
    let line = |k: &str| Some(line_in(&p.conf, inst, k));
    let name = &inst.name;
    if inst.state == Some(VrrpState::Master) && inst.nopreempt {
        out.push(finding(
            pair,
            "VD110",
            Severity::Warning,
            peer,
            line("state"),
            format!("({name}) `state MASTER` with `nopreempt`: keepalived clears nopreempt"),
            "keepalived logs \"nopreempt will not work with initial state MASTER - clearing\": \
             this peer takes the VIP back whenever it returns, a second failover",
            "write `state BACKUP` on both peers (Tencent's recommended double-BACKUP setup)".into(),
        ));
    } else if !inst.nopreempt {
        out.push(finding(
            pair,
            "VD112",
            Severity::Warning,
            peer,
            Some(inst.at.line),
            format!("({name}) preemptive: no `nopreempt`"),
            "a peer that returns with a higher priority (or the higher address at equal \
             priority) takes the VIP back: a second move, and in HAVIP mode a second rebind \
             the cloud may take a minute to follow",
            "set `state BACKUP`, equal priority and `nopreempt` on both peers".into(),
        ));
    }
    if inst.preempt_delay.is_some() && (inst.nopreempt || inst.state == Some(VrrpState::Master)) {
        out.push(finding(
            pair,
            "VD113",
            Severity::Info,
            peer,
            line("preempt_delay"),
            format!("({name}) preempt_delay has no effect here"),
            "keepalived resets preempt_delay with nopreempt or with initial state MASTER",
            "remove preempt_delay, or drop nopreempt if a delayed preemption is what you want"
                .into(),
        ));
    }
    if !inst.unicast_peer.is_empty() && inst.unicast_src_ip.is_none() {
        out.push(finding(
            pair,
            "VD106",
            Severity::Info,
            peer,
            line("unicast_peer"),
            format!("({name}) unicast_peer without unicast_src_ip"),
            "keepalived sends from the interface's first address; if that changes (a second \
             address, a new ENI) the other peer's unicast_peer no longer matches and both \
             become MASTER",
            "set `unicast_src_ip` to this peer's private address".into(),
        ));
    }
    if pair.mode == Some(Mode::Havip) && inst.garp_master_refresh.unwrap_or(0) == 0 {
        out.push(finding(
            pair,
            "VD120",
            Severity::Warning,
            peer,
            Some(inst.at.line),
            format!("({name}) HAVIP mode without garp_master_refresh"),
            "the cloud moves an HAVIP to whoever sent the last gratuitous ARP: after a brief \
             flap the binding stays with the peer that was MASTER for a moment, and without \
             a periodic GARP the real MASTER never claims it back",
            "add `garp_master_refresh 5` to the instance on both peers".into(),
        ));
    }
    let defined: Vec<&str> = p.conf.scripts.iter().map(|s| s.name.as_str()).collect();
    for t in &inst.track_script {
        if !defined.contains(&t.as_str()) {
            out.push(finding(
                pair,
                "VD146",
                Severity::Error,
                peer,
                line("track_script"),
                format!("({name}) track_script `{t}` names no vrrp_script"),
                "keepalived logs \"track script ... not found, ignoring\": the health check \
                 the operator believes in never runs",
                format!("define `vrrp_script {t} {{ script ... }}`, or fix the name"),
            ));
        }
    }
}

/// The rules between the two peers.
pub(crate) fn pair(pair: &PairInput, a: &Parsed<'_>, b: &Parsed<'_>, out: &mut Vec<Finding>) {
    for ia in instances(pair, a) {
        // The same instance on the other peer: by name, else the only one.
        let ib = instances(pair, b);
        let Some(ib) =
            ib.iter()
                .find(|i| i.name == ia.name)
                .or(if ib.len() == 1 { ib.first() } else { None })
        else {
            continue;
        };
        let ib: &VrrpInstance = ib;
        let (an, bn) = (a.input.name.as_str(), b.input.name.as_str());
        for m in pair_cmp::mismatches(&ia.summary(), an, &ib.summary(), bn) {
            let (code, keyword, why) = match m.field {
                "virtual_router_id" => (
                    "VD102",
                    "virtual_router_id",
                    "adverts with another VRID are ignored: each peer thinks the other is \
                     gone and both become MASTER",
                ),
                "auth_type" | "auth_pass" => (
                    "VD103",
                    "authentication",
                    "each peer rejects the other's adverts: both become MASTER",
                ),
                "virtual_ipaddress" => (
                    "VD104",
                    "virtual_ipaddress",
                    "a failover moves a different set of addresses than the one that was \
                     serving",
                ),
                "advert_int" => (
                    "VD105",
                    "advert_int",
                    "keepalived drops adverts with another interval (\"advertisement interval \
                     mismatch\"): both become MASTER",
                ),
                _ => (
                    "VD101",
                    "unicast_peer",
                    "each peer sends its adverts to an address the other does not send from \
                     (or not at all): the other never hears them, and both become MASTER",
                ),
            };
            // The peer the sentence is about (a unicast_peer list) holds
            // the line to change; the other is named in the fix.
            let about_b = m.sentence.starts_with(&format!("{bn}'s"));
            let ((here, hi), (there, ti)) = if about_b {
                ((b, ib), (a, ia))
            } else {
                ((a, ia), (b, ib))
            };
            out.push(finding(
                pair,
                code,
                Severity::Error,
                Some(here.input),
                Some(line_in(&here.conf, hi, keyword)),
                format!("({}) {}", ia.name, m.sentence),
                why,
                format!(
                    "make `{keyword}` agree on both peers ({})",
                    place_of(there.input, line_in(&there.conf, ti, keyword))
                ),
            ));
        }
        if let (Some(pa), Some(pb)) = (ia.priority, ib.priority) {
            if pa != pb {
                out.push(finding(
                    pair,
                    "VD111",
                    Severity::Warning,
                    Some(a.input),
                    Some(line_in(&a.conf, ia, "priority")),
                    format!("({}) priority {pa} on {an}, {pb} on {bn}", ia.name),
                    "Tencent's guidance is equal priority with nopreempt on both: unequal \
                     priorities make which peer serves depend on the start order and the \
                     state keyword",
                    format!(
                        "set the same priority on both ({})",
                        place_of(b.input, line_in(&b.conf, ib, "priority"))
                    ),
                ));
            }
        }
    }
}

/// The rules on the cloud's objects: HAVIPs per ENI.
pub(crate) fn cloud(pair: &PairInput, parsed: &[Parsed<'_>], out: &mut Vec<Finding>) {
    if let Some(why) = &pair.cloud.unasked {
        // Only worth saying when a peer was read: offline lint asks no cloud.
        if !parsed.is_empty() && parsed.iter().any(|p| p.input.scripts.is_some()) {
            out.push(finding(
                pair,
                "VD006",
                Severity::Info,
                None,
                None,
                format!("the cloud was not asked: {why}"),
                "the VRID-per-VPC and HAVIPs-per-ENI rules were not checked",
                "configure [cloud] credentials for vipdeck (docs/cloud.md)".into(),
            ));
        }
    }
    for (eni, havips) in &pair.cloud.havips_on_eni {
        if havips.len() > MAX_HAVIPS_PER_ENI {
            out.push(finding(
                pair,
                "VD130",
                Severity::Error,
                None,
                None,
                format!(
                    "{} HAVIPs are bound to {eni} ({}); the cloud allows {MAX_HAVIPS_PER_ENI}",
                    havips.len(),
                    havips.join(", ")
                ),
                "Tencent Cloud binds at most 5 HAVIPs to one ENI: the next failover that \
                 moves one more to this ENI fails to bind",
                "spread the HAVIPs over more ENIs (a second ENI on each CVM)".into(),
            ));
        }
    }
}

/// ENI mode: the vip.py each peer runs names the cluster's VIP, its own
/// ENI as `this` and the other peer's as `that` (the ENIs vipdeck's config
/// and the cloud know the peers by).
pub(crate) fn vip_scripts(pair: &PairInput, out: &mut Vec<Finding>) {
    if pair.mode != Some(Mode::Eni) {
        return;
    }
    for (i, peer) in pair.peers.iter().enumerate() {
        let Some((path, v)) = &peer.vip_script else {
            continue;
        };
        let mut at = |code, message: String, why: &str, fix: String| {
            let mut f = finding(
                pair,
                code,
                Severity::Error,
                Some(peer),
                None,
                message,
                why,
                fix,
            );
            f.file = Some(path.clone());
            out.push(f);
        };
        if let (Some(want), Some(got)) = (&pair.vip, &v.vip) {
            if got.parse::<std::net::IpAddr>().ok() != want.parse::<std::net::IpAddr>().ok() {
                at(
                    "VD150",
                    format!("{path} moves the VIP {got}, but the cluster's VIP is {want}"),
                    "on a failover the script migrates another address: the cluster's VIP \
                     stays on the old ENI (vip_drift)",
                    format!("set `vip` to {want} in {path} (or the JSON file it loads)"),
                );
            }
        }
        let other = pair.peers.get(1 - i.min(1));
        for (field, named, want) in [
            ("this_eni", &v.this_eni, &peer.eni),
            ("that_eni", &v.that_eni, &other.and_then(|o| o.eni.clone())),
        ] {
            if let (Some(named), Some(want)) = (named, want) {
                if named != want {
                    at(
                        "VD151",
                        format!(
                            "{path}'s {field} is {named}, but vipdeck knows this ENI as {want}"
                        ),
                        "MigratePrivateIpAddress is asked to move the VIP to (or from) the \
                         wrong ENI: the failover fails or moves it to a third machine",
                        format!("set {field} to {want} in {path} (or the JSON file it loads)"),
                    );
                }
            }
        }
    }
}

/// The fleet rule: no two clusters of one VPC share a VRID.
pub(crate) fn fleet(pairs: &[PairInput]) -> Vec<Finding> {
    let mut by_key: BTreeMap<(String, u8), Vec<(&PairInput, String)>> = BTreeMap::new();
    for p in pairs {
        let Some(vpc) = &p.cloud.vpc_id else {
            continue;
        };
        let Some(first) = p.peers.first() else {
            continue;
        };
        let super::ConfRead::Text(text) = &first.conf else {
            continue;
        };
        let (conf, _) = crate::core::keepalived::conf::parse_lenient(text, &|_| None);
        let inst = match &p.vip {
            Some(vip) => instance_for_vip(&conf, vip),
            None => conf.instances.first(),
        };
        if let Some(vrid) = inst.and_then(|i| i.virtual_router_id) {
            by_key
                .entry((vpc.clone(), vrid))
                .or_default()
                .push((p, first.name.clone()));
        }
    }
    let mut out = Vec::new();
    for ((vpc, vrid), users) in by_key {
        if users.len() < 2 {
            continue;
        }
        let names: Vec<&str> = users.iter().map(|(p, _)| p.cluster.as_str()).collect();
        for (p, _) in &users {
            out.push(finding(
                p,
                "VD160",
                Severity::Warning,
                None,
                None,
                format!(
                    "virtual_router_id {vrid} is used by {} clusters in {vpc}: {}",
                    users.len(),
                    names.join(", ")
                ),
                "Tencent's guidance: one VRID per VPC. Adverts of another pair with the same \
                 VRID (a unicast_peer typo, a cloned config) are taken as this pair's",
                "give each cluster in the VPC its own virtual_router_id".into(),
            ));
        }
    }
    out
}
