//! Whose a log line is when one log file serves several VRRP instances on
//! one pair of hosts (an HAVIP `VI_1` and an ENI `VI_2`, say): by the
//! instance the line names, else by the program that wrote it and which
//! instance's config runs that program. Pure; used by the snapshot fold
//! (a cluster's timeline) and the incident record.

use chrono::{DateTime, Utc};

/// What the cluster's instance's config says (its `ConfigSummary`, on
/// the peer that logged the line).
pub(crate) struct Instances<'a> {
    pub instance: &'a str,
    /// The programs the instance's `notify*` lines run.
    pub notify_scripts: &'a [String],
    /// The file's other instances and the programs theirs run.
    pub others: &'a [(String, Vec<String>)],
}

/// What wrote a line (for one that names no instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writer {
    /// vip.py (the ENI migration, check_self.sh's checks).
    VipPy,
    /// A notify script announcing a state (`notify_master`).
    NotifyScript,
    Other,
}

/// Whose a log line is when one log file serves several VRRP instances
/// (an HAVIP `VI_1` and an ENI `VI_2` on one pair, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The cluster's own instance's (or there is no other to be).
    Ours,
    /// Another instance's.
    Theirs,
    /// A notify script's line that both could have written: the caller
    /// decides by the instances' own transition lines around it.
    Either,
}

/// The instance a keepalived line names: `(VI_2) …` (2.x) or
/// `VRRP_Instance(VI_2) …` (1.x), at the start of its message (after the
/// syslog, journal or console prefix's `: `).
pub(crate) fn instance_named(text: &str) -> Option<&str> {
    let rest = match text.find("VRRP_Instance(") {
        Some(i) => &text[i + "VRRP_Instance(".len()..],
        None => {
            let i = text
                .find(": (")
                .map(|i| i + 3)
                .or_else(|| text.strip_prefix('(').map(|_| 1))?;
            &text[i..]
        }
    };
    let name = &rest[..rest.find(')')?];
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
}

/// The file name of a program path (`/etc/keepalived/vip.py` → `vip.py`).
fn program_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whose line `text` is, for a cluster (`eni` or HAVIP) whose instance's
/// config (on the peer that logged it) is `ours`: by the instance the line
/// names; a line that names none by the program that writes it — vip.py's
/// lines belong to the instance whose notify script names vip.py, else to
/// an ENI instance (an HAVIP follows gratuitous ARP and never runs
/// vip.py); a notify script's `notify_master` to the only instance whose
/// config names a notify script. Without the config, or with one
/// instance, all is ours.
pub(crate) fn owner(text: &str, writer: Writer, eni: bool, ours: Option<Instances>) -> Owner {
    let Some(ours) = ours else {
        return Owner::Ours;
    };
    if let Some(name) = instance_named(text) {
        return if name == ours.instance {
            Owner::Ours
        } else {
            Owner::Theirs
        };
    }
    if ours.others.is_empty() {
        return Owner::Ours;
    }
    match writer {
        Writer::VipPy => {
            let runs_vip_py =
                |programs: &[String]| programs.iter().any(|p| program_name(p) == "vip.py");
            if runs_vip_py(ours.notify_scripts) {
                Owner::Ours
            } else if ours.others.iter().any(|(_, p)| runs_vip_py(p)) || !eni {
                Owner::Theirs
            } else {
                Owner::Ours
            }
        }
        Writer::NotifyScript => {
            let others_notify = ours.others.iter().any(|(_, p)| !p.is_empty());
            match (ours.notify_scripts.is_empty(), others_notify) {
                (true, true) => Owner::Theirs,
                (false, false) => Owner::Ours,
                _ => Owner::Either,
            }
        }
        Writer::Other => Owner::Ours,
    }
}

/// A notify script's line and keepalived's transition line of the same
/// state are this close when one caused the other.
pub(crate) const NOTIFY_SPAN: chrono::TimeDelta = chrono::TimeDelta::seconds(2);

/// Whose a notify script's line announcing `state` on `peer` at `at`
/// ([`Owner::Either`]) is, by keepalived's own lines around it: `Some(true)`
/// when the cluster's instance (`instance`) entered that state there
/// around then, `Some(false)` when only another instance did, `None` when
/// no instance's line says.
pub(crate) fn either_is_ours<'a, S: PartialEq>(
    peer: usize,
    state: S,
    at: DateTime<Utc>,
    nearby: impl Iterator<Item = (usize, &'a str, S, DateTime<Utc>)>,
    instance: &str,
) -> Option<bool> {
    let mut theirs = None;
    for (p, text, announced, t) in nearby {
        if p != peer || announced != state || (t - at).abs() > NOTIFY_SPAN {
            continue;
        }
        match instance_named(text) {
            Some(name) if name == instance => return Some(true),
            Some(_) => theirs = Some(false),
            None => {}
        }
    }
    theirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_a_line_names_in_each_form() {
        for (line, want) in [
            ("Nov 30 02:00:13 h Keepalived_vrrp[812]: (VI_2) Entering MASTER STATE", Some("VI_2")),
            ("Sat Nov 21 23:55:55 2026: (VI_1) Entering MASTER STATE", Some("VI_1")),
            ("Dec  6 07:01:02 h Keepalived_vrrp[12]: VRRP_Instance(VI_2) Transition to MASTER STATE", Some("VI_2")),
            ("[2026-11-30 02:00:13]  notify_master", None),
            ("[2026-11-30 02:00:21][pid4321]  set done", None),
            ("Nov 30 02:00:13 h Keepalived_vrrp[812]: VRRP_Script(chk) succeeded", None),
        ] {
            assert_eq!(instance_named(line), want, "{line}");
        }
    }
}
