//! Reading what a peer has: keepalived.conf (and its includes), the
//! notify scripts, a seed-style `vip.py` and the JSON file it loads, the
//! ssh config's aliases and where keepalived logs, from local files or a
//! remote shell over ssh. The parsers take text and return what they
//! found; nothing here decides a value of the config.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use regex::Regex;

use super::{InitArgs, DEFAULT_CONF};
use crate::core::keepalived::conf::{self, KeepalivedConf, VrrpInstance};
use crate::sources::transport::{quote, Shell, SshTarget, Target};

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

pub(crate) use crate::core::keepalived::vipscript::{parse_vip_json, parse_vip_script, VipScript};

// ---------------------------------------------------------------------------
// What was read
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
    /// Each place keepalived's own log may be on the node, with its recent
    /// lines that mention keepalived (`None`: not looked).
    pub(crate) daemon_log_found: Option<Vec<(String, String)>>,
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
pub(crate) fn split_daemon_log_probe(out: &str) -> Vec<(String, String)> {
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
pub(crate) fn chosen<'a>(
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
// I/O: reading the files
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

/// Reads keepalived.conf (with its includes) and what it names: the parsed
/// conf and what was read beside it. Progress and warnings go to `log`.
pub(crate) async fn gather(
    args: &InitArgs,
    log: &mut dyn FnMut(String),
) -> anyhow::Result<(KeepalivedConf, Gathered)> {
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
            Ok(out) => g.daemon_log_found = Some(split_daemon_log_probe(&out)),
            Err(e) => log(format!("note: cannot look for keepalived's log: {e}")),
        }
    }
    if let Reader::Remote(sh) = reader {
        sh.close().await;
    }

    Ok((parsed, g))
}
