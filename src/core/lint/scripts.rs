//! The scripts keepalived runs (notify_* lines and the vrrp_scripts the
//! linted instances track): present, executable, the same on both peers,
//! and allowed by keepalived's script security.
//!
//! keepalived's rule (lib/notify.c `check_security`, 2.x): every component
//! of the script's path, from `/` down, and again of its symlink-resolved
//! path, must be owned by root, and no directory without the sticky bit
//! and not the file itself may be writable by the world or by a non-root
//! group. keepalived first replaces the path by its `realpath`, so the
//! resolved path is the one checked (`/bin` → `/usr/bin` is fine), and it
//! checks only scripts that run as root: `script_user root`, or no
//! script_user and no `keepalived_script` user. An unsafe script is
//! disabled under `enable_script_security` and run as root with a warning
//! without it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::rules::{finding, instances, line_in};
use super::{Finding, PairInput, Parsed, Severity};
use crate::core::keepalived::conf::KeepalivedConf;

/// What one path component is, as `lstat` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PathKind {
    Dir,
    File,
    Link,
    Other,
}

/// One component of a script's path, from `/` down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathEntry {
    pub path: String,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits with setuid/setgid/sticky (`stat -c %a`).
    pub mode: u32,
    pub kind: PathKind,
}

impl PathEntry {
    /// Writable by someone other than root, as keepalived judges it.
    /// A symbolic link's own mode means nothing; its owner still counts.
    fn unsafe_for_root(&self) -> bool {
        let mode_counts = match self.kind {
            PathKind::Dir => self.mode & 0o1000 == 0,
            PathKind::File => true,
            PathKind::Link | PathKind::Other => false,
        };
        let writable_by_others =
            (self.gid != 0 && self.mode & 0o020 != 0) || self.mode & 0o002 != 0;
        self.uid != 0 || (mode_counts && writable_by_others)
    }
}

/// What was read of one script on a peer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScriptFacts {
    /// The components of the path as written that exist, from `/` down;
    /// shorter than the path when one is missing.
    pub chain: Vec<PathEntry>,
    /// Whether the whole path exists.
    pub exists: bool,
    /// The components of the symlink-resolved path, when it differs.
    pub real_chain: Vec<PathEntry>,
    /// sha256 of the content, hex.
    pub digest: Option<String>,
}

/// Which script users exist on the peer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Users {
    /// keepalived's default script user.
    pub keepalived_script: bool,
    /// The `script_user` of global_defs exists (None when none is set).
    pub script_user: Option<bool>,
}

/// A program keepalived runs, where the conf names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub path: String,
    pub line: usize,
    /// `notify_master`, `vrrp_script chk`, …
    pub what: String,
}

/// The first word of a script line, quotes dropped.
fn program_of(cmd: &str) -> Option<String> {
    cmd.trim_matches(|c| c == '"' || c == '\'')
        .split_whitespace()
        .next()
        .map(str::to_string)
}

/// The programs the conf's instances (those carrying `vip`, or all) run:
/// each path once, at its first line.
pub fn programs(conf: &KeepalivedConf, vip: Option<&str>) -> Vec<Program> {
    let mut out: Vec<Program> = Vec::new();
    let chosen: Vec<_> = match vip {
        Some(v) => crate::core::keepalived::instance_for_vip(conf, v)
            .into_iter()
            .collect(),
        None => conf.instances.iter().collect(),
    };
    for inst in chosen {
        for (what, cmd) in [
            ("notify_master", &inst.notify_master),
            ("notify_backup", &inst.notify_backup),
            ("notify_fault", &inst.notify_fault),
            ("notify_stop", &inst.notify_stop),
            ("notify", &inst.notify),
        ] {
            if let Some(path) = cmd.as_deref().and_then(program_of) {
                out.push(Program {
                    path,
                    line: line_in(conf, inst, what),
                    what: what.to_string(),
                });
            }
        }
        for t in &inst.track_script {
            let Some(s) = conf.scripts.iter().find(|s| &s.name == t) else {
                continue;
            };
            if let Some(path) = s.script.as_deref().and_then(program_of) {
                let line = conf
                    .tree
                    .iter()
                    .find(|n| n.keyword == "vrrp_script" && n.args.first() == Some(t))
                    .and_then(|n| n.block().iter().find(|c| c.keyword == "script"))
                    .map_or(inst.at.line, |c| c.at.line);
                out.push(Program {
                    path,
                    line,
                    what: format!("vrrp_script {t}"),
                });
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|p| seen.insert(p.path.clone()));
    out
}

/// Every path `lstat` must see for `path`: `/`, each directory, the file.
pub fn components(path: &str) -> Vec<String> {
    let mut out = vec!["/".to_string()];
    let mut cur = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        cur.push('/');
        cur.push_str(part);
        out.push(cur.clone());
    }
    out
}

pub(crate) fn check(pair: &PairInput, parsed: &[Parsed<'_>], out: &mut Vec<Finding>) {
    let mut digests: BTreeMap<String, Vec<(String, String, usize)>> = BTreeMap::new();
    for p in parsed {
        let peer = Some(p.input);
        let g = &p.conf.global_defs;
        let progs = programs(&p.conf, pair.vip.as_deref());
        if progs.is_empty() || instances(pair, p).is_empty() {
            continue;
        }
        let global_line = p
            .conf
            .tree
            .iter()
            .find(|n| n.keyword == "global_defs")
            .map(|n| n.at.line);
        if !g.enable_script_security {
            out.push(finding(
                pair,
                "VD144",
                Severity::Info,
                peer,
                global_line,
                "enable_script_security is not set: the scripts run as root".into(),
                "keepalived (2.x) logs \"SECURITY VIOLATION - scripts are being executed but \
                 script_security not enabled\"; whoever can write a script or a directory on \
                 its path runs code as root on every state change",
                "set `enable_script_security` (and `script_user`) in global_defs once every \
                 script's path is owned by root and not writable by others"
                    .into(),
            ));
        }
        if let (true, Some(users)) = (g.enable_script_security, &p.input.users) {
            let missing = match (&g.script_user, users.script_user) {
                (Some(u), Some(false)) => Some(format!("script_user `{u}` does not exist")),
                (None, _) if !users.keepalived_script => Some(
                    "no script_user is set and there is no `keepalived_script` user".to_string(),
                ),
                _ => None,
            };
            if let Some(what) = missing {
                out.push(finding(
                    pair,
                    "VD145",
                    Severity::Error,
                    peer,
                    global_line,
                    what,
                    "with enable_script_security keepalived cannot choose a user to run the \
                     scripts as and does not run them: no notify, no track_script",
                    "set `script_user root` in global_defs (or create the user)".into(),
                ));
            }
        }
        let Some(facts) = &p.input.scripts else {
            continue;
        };
        // Whom keepalived runs the scripts as: script_user, else
        // keepalived_script when it exists, else root.
        let runs_as_root = match &g.script_user {
            Some(u) => u == "root" || u == "0",
            None => !p.input.users.as_ref().is_some_and(|u| u.keepalived_script),
        };
        for prog in &progs {
            let line = Some(prog.line);
            if !prog.path.starts_with('/') {
                continue;
            }
            let Some(f) = facts.get(&prog.path) else {
                continue;
            };
            if !f.exists {
                out.push(finding(
                    pair,
                    "VD140",
                    Severity::Error,
                    peer,
                    line,
                    format!("{} runs {}, which does not exist", prog.what, prog.path),
                    "keepalived logs it cannot find the script and never runs it: the state \
                     file, the VIP move or the health check it should do does not happen",
                    format!(
                        "install {} on this peer (the same file as on the other)",
                        prog.path
                    ),
                ));
                continue;
            }
            let file = f.real_chain.last().or(f.chain.last());
            if let Some(file) = file.filter(|e| e.kind == PathKind::File && e.mode & 0o111 == 0) {
                out.push(finding(
                    pair,
                    "VD141",
                    Severity::Error,
                    peer,
                    line,
                    format!(
                        "{} runs {}, which is not executable (mode {:o})",
                        prog.what, prog.path, file.mode
                    ),
                    "keepalived cannot run it: the notify or check does nothing",
                    format!("chmod 755 {}", prog.path),
                ));
            }
            // keepalived checks the path as realpath() resolves it.
            let checked = if f.real_chain.is_empty() {
                &f.chain
            } else {
                &f.real_chain
            };
            let wrong_type = checked
                .iter()
                .enumerate()
                .find(|(i, e)| {
                    let last = *i + 1 == checked.len();
                    (!last && e.kind != PathKind::Dir)
                        || (last && !matches!(e.kind, PathKind::File | PathKind::Link))
                })
                .map(|(_, e)| e.path.clone());
            let bad = checked.iter().find(|e| e.unsafe_for_root());
            let (bad, wrong_type) = if runs_as_root {
                (bad, wrong_type)
            } else {
                (None, None)
            };
            if let Some(bad) = bad {
                let (severity, why) = if g.enable_script_security {
                    (
                        Severity::Error,
                        "keepalived logs \"Unsafe permissions found for script ... - disabling\" \
                         and never runs it",
                    )
                } else {
                    (
                        Severity::Warning,
                        "keepalived runs it as root although someone other than root can \
                         change it (it logs \"Unsafe permissions found for script\")",
                    )
                };
                out.push(finding(
                    pair,
                    "VD143",
                    severity,
                    peer,
                    line,
                    format!(
                        "{} runs {}: {} is {} (owner uid {}, group gid {}, mode {:o})",
                        prog.what,
                        prog.path,
                        bad.path,
                        if bad.uid != 0 {
                            "not owned by root"
                        } else {
                            "writable by a non-root user"
                        },
                        bad.uid,
                        bad.gid,
                        bad.mode
                    ),
                    why,
                    format!(
                        "chown root:root {0} && chmod go-w {0} (and each directory above it)",
                        bad.path
                    ),
                ));
            } else if let Some(path) = wrong_type {
                out.push(finding(
                    pair,
                    "VD143",
                    if g.enable_script_security {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                    peer,
                    line,
                    format!(
                        "{} runs {}: {path} has the wrong file type",
                        prog.what, prog.path
                    ),
                    "keepalived logs \"Wrong file type found in script path\" and does not run it",
                    "make each directory on the path a real directory and the script a file".into(),
                ));
            }
            if let Some(d) = &f.digest {
                digests.entry(prog.path.clone()).or_default().push((
                    p.input.name.clone(),
                    d.clone(),
                    prog.line,
                ));
            }
        }
    }
    for (path, seen) in digests {
        if let [(an, ad, al), (bn, bd, _)] = seen.as_slice() {
            if ad != bd {
                let peer = parsed.iter().find(|p| &p.input.name == an).map(|p| p.input);
                out.push(finding(
                    pair,
                    "VD142",
                    Severity::Warning,
                    peer,
                    Some(*al),
                    format!(
                        "{path} differs between {an} (sha256 {}) and {bn} (sha256 {})",
                        &ad[..ad.len().min(12)],
                        &bd[..bd.len().min(12)]
                    ),
                    "the two peers act differently on the same state change: a fix made on \
                     one is missing when the other becomes MASTER",
                    format!("copy one version to both peers (diff {path} on {an} and {bn})"),
                ));
            }
        }
    }
}
