//! Reads what `vipdeck lint` checks on a peer, over the same transport the
//! monitor uses: keepalived.conf, then (one more command on the same
//! shell) the scripts it names and the script users. Each command is
//! bounded by a timeout and the transport's output cap; every path is
//! passed through [`quote`], and every line that comes back is parsed
//! strictly as untrusted text. Asks the cloud for the VPC and the HAVIPs
//! bound per ENI.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::core::config::{ClusterConfig, Config, PeerConfig};
use crate::core::keepalived::conf;
use crate::core::lint::{
    self, scripts_of, CloudFacts, ConfRead, Finding, PairInput, PathEntry, PathKind, PeerInput,
    ScriptFacts, Users,
};
use crate::core::vpc::types::Filter;
use crate::sources::monitor::target_of;
use crate::sources::probe::b64;
use crate::sources::transport::{quote, Shell};

/// The largest keepalived.conf read (as the monitor's parser takes).
const MAX_CONF: usize = conf::MAX_CONF_BYTES;
/// Where the seeds put vip.py and its JSON settings.
const DEFAULT_VIP_PY: &str = "/etc/keepalived/vip.py";
const DEFAULT_VIP_CONF: &str = "/etc/keepalived/vip.conf";
/// The most of vip.py or vip.conf read.
const MAX_VIP_FILE: usize = 256 << 10;

/// What vip.py (`VP`) and its JSON file (`VC`) name; the script's own
/// assignments win. Secrets in the files are never kept.
fn vip_settings(out: &str) -> Option<crate::core::keepalived::vipscript::VipScript> {
    use crate::core::keepalived::vipscript::{parse_vip_json, parse_vip_script};
    let read = |tag: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(tag))
            .and_then(|d| b64(d.trim()))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    let py = read("VP ")?;
    let script = parse_vip_script(&py);
    Some(match read("VC ").as_deref().and_then(parse_vip_json) {
        Some(json) => script.or(json),
        None => script,
    })
}

/// The largest script hashed.
const MAX_SCRIPT: usize = 16 << 20;
/// The most scripts looked at on one peer.
const MAX_SCRIPTS: usize = 64;

/// Reads one peer's files for the cluster's VIP.
pub async fn read_peer(config: &Config, cluster: &ClusterConfig, peer: &PeerConfig) -> PeerInput {
    let conf_path = peer.keepalived_conf.display().to_string();
    let mut input = PeerInput {
        name: peer.name.clone(),
        conf_path: conf_path.clone(),
        conf: ConfRead::Unreadable("not read".into()),
        scripts: None,
        users: None,
        files_error: None,
        eni: peer.network_interface_id.clone(),
        vip_script: None,
    };
    let timeout = config.ssh.connect_timeout() + config.ssh.command_timeout();
    let mut shell = match Shell::spawn(&target_of(peer, config)).await {
        Ok(s) => s,
        Err(e) => {
            input.conf = ConfRead::Unreadable(e.to_string());
            return input;
        }
    };
    let text = match shell.run(&conf_command(&conf_path), timeout).await {
        Ok((out, _)) => parse_conf_answer(&out),
        Err(e) => Err(e.to_string()),
    };
    let text = match text {
        Ok(t) => t,
        Err(why) => {
            input.conf = ConfRead::Unreadable(why);
            shell.close().await;
            return input;
        }
    };
    let (parsed, _) = conf::parse_lenient(&text, &|_| None);
    let vip = cluster.vip.to_string();
    let mut paths: Vec<String> = scripts_of(&parsed, Some(&vip))
        .into_iter()
        .map(|p| p.path)
        .filter(|p| p.starts_with('/'))
        .collect();
    paths.truncate(MAX_SCRIPTS);
    // ENI mode moves the VIP with a vip.py: one the notify lines run, else
    // the seed's place (notify_action.sh runs it).
    let vip_py = (cluster.mode == crate::core::model::Mode::Eni).then(|| {
        paths
            .iter()
            .find(|p| p.ends_with(".py"))
            .cloned()
            .unwrap_or_else(|| DEFAULT_VIP_PY.to_string())
    });
    let script_user = parsed.global_defs.script_user.clone();
    input.conf = ConfRead::Text(text);
    match shell
        .run(
            &files_command(&paths, script_user.as_deref(), vip_py.as_deref()),
            timeout,
        )
        .await
    {
        Ok((out, _)) => {
            let (scripts, users) = parse_files_answer(&out, &paths, script_user.is_some());
            input.scripts = Some(scripts);
            input.users = Some(users);
            input.vip_script = vip_py.and_then(|p| vip_settings(&out).map(|v| (p, v)));
        }
        Err(e) => input.files_error = Some(e.to_string()),
    }
    shell.close().await;
    input
}

/// Prints `CONF` and the file in base64, or `NOCONF` and why not.
fn conf_command(path: &str) -> String {
    let q = quote(path);
    format!(
        "if [ -r {q} ] && [ -f {q} ]; then printf 'CONF '; head -c {MAX_CONF} -- {q} | base64 -w0; \
         echo; else printf 'NOCONF %s\\n' \"$( ( : < {q} ) 2>&1 | tail -n1 | head -c 300)\"; fi"
    )
}

fn parse_conf_answer(out: &str) -> Result<String, String> {
    for line in out.lines() {
        if let Some(data) = line.strip_prefix("CONF ") {
            let bytes = b64(data.trim()).ok_or("the file's content came back garbled")?;
            return Ok(String::from_utf8_lossy(&bytes).into_owned());
        }
        if let Some(why) = line.strip_prefix("NOCONF ") {
            let why = why.trim();
            return Err(if why.is_empty() {
                "not a readable file".to_string()
            } else {
                why.to_string()
            });
        }
    }
    Err("no answer from the peer".into())
}

/// For each script `i`: `L i` + lstat of each component of the path,
/// `P i` + lstat of each component of its resolved path, `D i` + digest;
/// then `U` lines for the script users. lstat: `uid gid perm rawmode`.
fn files_command(paths: &[String], script_user: Option<&str>, vip_py: Option<&str>) -> String {
    let mut s = String::new();
    if let Some(p) = vip_py {
        // `VP`/`VC`: vip.py and the seed's JSON settings beside it, base64.
        for (tag, file) in [("VP", p), ("VC", DEFAULT_VIP_CONF)] {
            let q = quote(file);
            s.push_str(&format!(
                "[ -f {q} ] && printf '{tag} %s\\n' \"$(head -c {MAX_VIP_FILE} -- {q} | base64 -w0)\"\n"
            ));
        }
    }
    s.push_str("st() { stat -c '%u %g %a %f' -- \"$2\" 2>/dev/null | sed \"s|^|$1 |\"; }\n");
    for (i, p) in paths.iter().enumerate() {
        for c in crate::core::lint::path_components(p) {
            s.push_str(&format!("st 'L {i}' {}\n", quote(&c)));
        }
        let q = quote(p);
        s.push_str(&format!(
            "r=$(readlink -f -- {q} 2>/dev/null); if [ -n \"$r\" ] && [ \"$r\" != {q} ]; then \
             d=$r; n=0; while [ $n -lt 64 ]; do st 'P {i}' \"$d\"; [ \"$d\" = / ] && break; \
             d=$(dirname -- \"$d\"); n=$((n+1)); done; fi\n\
             [ -f {q} ] && printf 'D {i} %s\\n' \"$(head -c {MAX_SCRIPT} -- {q} | sha256sum | cut -c1-64)\"\n"
        ));
    }
    s.push_str(
        "id -u keepalived_script >/dev/null 2>&1 && echo 'U default 1' || echo 'U default 0'\n",
    );
    if let Some(u) = script_user {
        s.push_str(&format!(
            "id -u -- {} >/dev/null 2>&1 && echo 'U named 1' || echo 'U named 0'\n",
            quote(u)
        ));
    }
    s
}

/// One `uid gid perm rawmode` answer.
fn parse_stat(words: &[&str], path: String) -> Option<PathEntry> {
    let [uid, gid, perm, raw] = words else {
        return None;
    };
    let raw = u32::from_str_radix(raw, 16).ok()?;
    let kind = match raw & 0o170000 {
        0o040000 => PathKind::Dir,
        0o100000 => PathKind::File,
        0o120000 => PathKind::Link,
        _ => PathKind::Other,
    };
    Some(PathEntry {
        path,
        uid: uid.parse().ok()?,
        gid: gid.parse().ok()?,
        mode: u32::from_str_radix(perm, 8).ok()?,
        kind,
    })
}

fn parse_files_answer(
    out: &str,
    paths: &[String],
    named_user: bool,
) -> (BTreeMap<String, ScriptFacts>, Users) {
    let mut facts: Vec<ScriptFacts> = vec![ScriptFacts::default(); paths.len()];
    let mut real: Vec<Vec<PathEntry>> = vec![Vec::new(); paths.len()];
    let mut users = Users {
        keepalived_script: false,
        script_user: named_user.then_some(false),
    };
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let index = |w: Option<&&str>| {
            w.and_then(|w| w.parse::<usize>().ok())
                .filter(|i| *i < paths.len())
        };
        match words.first().copied() {
            Some("L") => {
                if let Some(i) = index(words.get(1)) {
                    let comps = crate::core::lint::path_components(&paths[i]);
                    let at = facts[i].chain.len();
                    if let Some(e) = comps
                        .get(at)
                        .and_then(|c| parse_stat(&words[2..], c.clone()))
                    {
                        facts[i].chain.push(e);
                    }
                }
            }
            Some("P") => {
                if let Some(i) = index(words.get(1)) {
                    // The resolved path's name is not sent back; name the
                    // component by its depth from the file.
                    let name = format!("{} (resolved, {} up)", paths[i], real[i].len());
                    if let Some(e) = parse_stat(&words[2..], name) {
                        real[i].push(e);
                    }
                }
            }
            Some("D") => {
                if let (Some(i), Some(d)) = (index(words.get(1)), words.get(2)) {
                    if d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()) {
                        facts[i].digest = Some(d.to_string());
                    }
                }
            }
            Some("U") => match (words.get(1).copied(), words.get(2).copied()) {
                (Some("default"), Some(v)) => users.keepalived_script = v == "1",
                (Some("named"), Some(v)) => users.script_user = Some(v == "1"),
                _ => {}
            },
            _ => {}
        }
    }
    let mut map = BTreeMap::new();
    for (i, (mut f, mut r)) in facts.into_iter().zip(real).enumerate() {
        f.exists = f.chain.len() == crate::core::lint::path_components(&paths[i]).len();
        r.reverse();
        f.real_chain = r;
        map.insert(paths[i].clone(), f);
    }
    (map, users)
}

/// Reads every peer of `cluster` (both at once) and asks the cloud.
pub async fn read_cluster(config: &Config, cluster: &ClusterConfig) -> PairInput {
    let (a, b) = tokio::join!(
        read_peer(config, cluster, &cluster.peers[0]),
        read_peer(config, cluster, &cluster.peers[1])
    );
    PairInput {
        cluster: cluster.name.clone(),
        mode: Some(cluster.mode),
        vip: Some(cluster.vip.to_string()),
        peers: vec![a, b],
        cloud: CloudFacts::default(),
    }
}

/// Lints the config's clusters again and again beside a monitor of the
/// same config, sending each result to `done` (which says false to stop).
/// The first lint waits until the monitor's first connections have come
/// up or timed out: started together, the lint's ssh could win the race
/// for the ControlMaster socket, and the monitor's then holds a second
/// connection to the peer for as long as it runs.
pub async fn lint_beside_monitor(
    config: &Config,
    every: std::time::Duration,
    mut done: impl FnMut(Vec<Finding>) -> bool,
) {
    tokio::time::sleep(config.ssh.connect_timeout() + std::time::Duration::from_secs(1)).await;
    loop {
        if !done(lint_config(config, None).await) {
            return;
        }
        tokio::time::sleep(every).await;
    }
}

/// Lints the config's clusters: both peers of each read at once, the
/// cloud asked, the pair and fleet rules run; plus a VD005 for each peer
/// whose scripts could not be read. With `only`, every cluster is still
/// read (the fleet rule compares them all) but only its findings return.
pub async fn lint_config(config: &Config, only: Option<&str>) -> Vec<Finding> {
    let mut pairs =
        futures::future::join_all(config.clusters.iter().map(|c| read_cluster(config, c))).await;
    ask_cloud(config, &mut pairs).await;
    let mut out: Vec<Finding> = pairs.iter().flat_map(lint::lint_pair).collect();
    out.extend(lint::lint_fleet(&pairs));
    for p in &pairs {
        for peer in &p.peers {
            if let Some(why) = &peer.files_error {
                out.push(Finding {
                    code: "VD005",
                    name: lint::name_of("VD005"),
                    severity: lint::Severity::Warning,
                    cluster: p.cluster.clone(),
                    peer: Some(peer.name.clone()),
                    file: None,
                    line: None,
                    message: format!("could not read the scripts keepalived.conf names: {why}"),
                    why: "the script rules (VD140-VD145) were not checked on this peer".into(),
                    fix: "check the connection to the peer and run lint again".into(),
                });
            }
        }
    }
    out.retain(|f| only.is_none_or(|n| f.cluster == n));
    out
}

/// The VPC of each cluster (from its peers' ENIs) and the HAVIPs bound to
/// each of their ENIs, one region at a time.
pub async fn ask_cloud(config: &Config, pairs: &mut [PairInput]) {
    let mut regions: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, p) in pairs.iter().enumerate() {
        if let Some(c) = config.cluster(&p.cluster) {
            regions
                .entry(c.effective_region(&config.cloud).to_string())
                .or_default()
                .push(i);
        }
    }
    for (region, members) in regions {
        let names: Vec<String> = pairs.iter().map(|p| p.cluster.clone()).collect();
        let enis_of = |i: usize| -> Vec<String> {
            config
                .cluster(&names[i])
                .map(|c| {
                    c.peers
                        .iter()
                        .filter_map(|p| p.network_interface_id.clone())
                        .collect()
                })
                .unwrap_or_default()
        };
        let all_enis: Vec<String> = members.iter().flat_map(|i| enis_of(*i)).collect();
        if all_enis.is_empty() {
            for i in &members {
                pairs[*i].cloud.unasked =
                    Some("no peer has a network_interface_id in the config".into());
            }
            continue;
        }
        let answer = async {
            let client = crate::sources::cloud::client::connect(&config.cloud, &region).await?;
            let enis = client
                .describe_network_interfaces_all(&all_enis, &[])
                .await?;
            let havips = client.describe_ha_vips_all(&[], &[] as &[Filter]).await?;
            Ok::<_, crate::sources::cloud::client::CloudError>((enis, havips))
        };
        match tokio::time::timeout(Duration::from_secs(30), answer).await {
            Ok(Ok((enis, havips))) => {
                for i in &members {
                    let mine = enis_of(*i);
                    pairs[*i].cloud.vpc_id = enis
                        .iter()
                        .find(|e| mine.contains(&e.network_interface_id))
                        .map(|e| e.vpc_id.clone())
                        .filter(|v| !v.is_empty());
                    for eni in &mine {
                        let bound: Vec<String> = havips
                            .iter()
                            .filter(|h| &h.network_interface_id == eni)
                            .map(|h| h.ha_vip_id.clone())
                            .collect();
                        pairs[*i].cloud.havips_on_eni.insert(eni.clone(), bound);
                    }
                }
            }
            Ok(Err(e)) => {
                for i in &members {
                    pairs[*i].cloud.unasked = Some(e.to_string());
                }
            }
            Err(_) => {
                for i in &members {
                    pairs[*i].cloud.unasked = Some("no answer within 30 s".into());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_with_quotes_and_spaces_is_quoted_not_spliced() {
        let cmd = files_command(
            &["/etc/k/it's $(reboot).sh".into()],
            Some("x; reboot"),
            None,
        );
        assert!(cmd.contains("'/etc/k/it'\\''s $(reboot).sh'"), "{cmd}");
        assert!(cmd.contains("id -u -- 'x; reboot'"), "{cmd}");
    }

    #[tokio::test]
    async fn reads_a_local_script_chain_and_digest() {
        let dir = tempfile::tempdir().expect("tmp");
        let script = dir.path().join("notify.sh");
        std::fs::write(&script, "#!/bin/sh\n").expect("write");
        let path = script.display().to_string();
        let mut sh = Shell::spawn(&crate::sources::transport::Target::Local)
            .await
            .expect("sh");
        let (out, _) = sh
            .run(
                &files_command(std::slice::from_ref(&path), None, None),
                Duration::from_secs(10),
            )
            .await
            .expect("run");
        sh.close().await;
        let (facts, _) = parse_files_answer(&out, std::slice::from_ref(&path), false);
        let f = &facts[&path];
        assert!(f.exists, "{out}");
        assert_eq!(f.chain.last().map(|e| e.kind), Some(PathKind::File));
        assert_eq!(f.chain[0].path, "/");
        assert_eq!(f.digest.as_deref().map(str::len), Some(64));
        let missing = format!("{path}.gone");
        let mut sh = Shell::spawn(&crate::sources::transport::Target::Local)
            .await
            .expect("sh");
        let (out, _) = sh
            .run(
                &files_command(std::slice::from_ref(&missing), None, None),
                Duration::from_secs(10),
            )
            .await
            .expect("run");
        sh.close().await;
        let (facts, _) = parse_files_answer(&out, std::slice::from_ref(&missing), false);
        assert!(!facts[&missing].exists);
    }
}
