//! `vipdeck lint`: a pair's keepalived configs (and the files and cloud
//! objects around them) against keepalived's own semantics and Tencent
//! Cloud's guidance. Pure: it takes what was read and returns findings;
//! reading the peers' files and asking the cloud is `sources::peer_files`.
//!
//! Each rule has a stable code (`VD101`), a short name and a severity; the
//! table [`CODES`] is the list docs/lint.md documents (a test keeps them in
//! step). What could not be read is a finding of its own (`VD00x`): the
//! linter says what it could not see rather than guess.

mod rules;
mod scripts;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::core::keepalived::conf::{self, ConfError, KeepalivedConf};
use crate::core::model::Mode;

pub use scripts::{
    components as path_components, programs as scripts_of, PathEntry, PathKind, Program,
    ScriptFacts, Users,
};

/// How bad a finding is. The order is the exit code's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn word(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Every code the linter can report: code, name, default severity.
pub const CODES: &[(&str, &str)] = &[
    ("VD001", "conf-unreadable"),
    ("VD002", "conf-damaged"),
    ("VD003", "no-instance"),
    ("VD004", "unknown-keyword"),
    ("VD005", "files-unread"),
    ("VD006", "cloud-unasked"),
    ("VD101", "unicast-asymmetric"),
    ("VD102", "vrid-differs"),
    ("VD103", "auth-differs"),
    ("VD104", "vips-differ"),
    ("VD105", "advert-int-differs"),
    ("VD106", "no-unicast-src-ip"),
    ("VD110", "nopreempt-cleared-by-master"),
    ("VD111", "priorities-differ"),
    ("VD112", "preempt-trap"),
    ("VD113", "preempt-delay-ignored"),
    ("VD120", "no-garp-refresh"),
    ("VD130", "too-many-havips-on-eni"),
    ("VD140", "script-missing"),
    ("VD141", "script-not-executable"),
    ("VD142", "script-differs"),
    ("VD143", "script-unsafe"),
    ("VD144", "script-security-off"),
    ("VD145", "script-user-missing"),
    ("VD146", "track-script-undefined"),
    ("VD150", "vip-script-wrong-vip"),
    ("VD151", "vip-script-wrong-eni"),
    ("VD160", "vrid-shared-in-vpc"),
];

/// The name of `code`.
pub fn name_of(code: &str) -> &'static str {
    CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("unknown", |(_, n)| n)
}

/// One finding: what, where, why it matters and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub cluster: String,
    /// The peer whose file it is in; None for the pair or the fleet.
    pub peer: Option<String>,
    /// The file on that peer.
    pub file: Option<String>,
    pub line: Option<usize>,
    /// What is wrong, naming the values (peer text passed through
    /// `sanitize::clean` by the faces, never raw).
    pub message: String,
    pub why: String,
    pub fix: String,
}

impl Finding {
    /// `peer:file:line`, as much of it as is known.
    pub fn place(&self) -> String {
        let mut out = String::new();
        // Offline the "peer" is the file itself: not named twice.
        if let Some(p) = self
            .peer
            .as_ref()
            .filter(|p| Some(*p) != self.file.as_ref())
        {
            out.push_str(p);
        }
        if let Some(f) = &self.file {
            if !out.is_empty() {
                out.push(':');
            }
            out.push_str(f);
            if let Some(l) = self.line {
                out.push_str(&format!(":{l}"));
            }
        }
        if out.is_empty() {
            out.push_str(&self.cluster);
        }
        out
    }
}

/// What was read of keepalived.conf on one peer.
#[derive(Debug, Clone)]
pub enum ConfRead {
    /// The text (includes not followed: they are listed as unresolved).
    Text(String),
    /// Why it could not be read (untrusted text from the peer).
    Unreadable(String),
}

/// What was read on one peer.
#[derive(Debug, Clone)]
pub struct PeerInput {
    pub name: String,
    pub conf_path: String,
    pub conf: ConfRead,
    /// The scripts the conf names, by path as written; None when the
    /// peer's files were not read (offline lint of a file).
    pub scripts: Option<BTreeMap<String, ScriptFacts>>,
    /// Which script users exist on the peer; None when not asked.
    pub users: Option<Users>,
    /// Why the peer's files could not be read, if they could not.
    pub files_error: Option<String>,
    /// The peer's ENI in vipdeck's config (what the cloud is asked about).
    pub eni: Option<String>,
    /// The vip.py that moves the VIP by API, and what it (with its JSON
    /// settings file) names; None when not looked for or not found.
    pub(crate) vip_script: Option<(String, crate::core::keepalived::vipscript::VipScript)>,
}

/// What the cloud said about the cluster, if it was asked.
#[derive(Debug, Clone, Default)]
pub struct CloudFacts {
    /// The VPC of the peers' ENIs.
    pub vpc_id: Option<String>,
    /// HAVIPs bound per ENI of the peers (ENI id → HAVIP ids).
    pub havips_on_eni: BTreeMap<String, Vec<String>>,
    /// Why the cloud was not asked or did not answer.
    pub unasked: Option<String>,
}

/// One cluster's inputs.
#[derive(Debug, Clone)]
pub struct PairInput {
    pub cluster: String,
    /// None when linting files with no cluster config (then mode rules
    /// that need it are skipped, and say so).
    pub mode: Option<Mode>,
    /// The VIP whose instance is linted; None: every instance of the first file.
    pub vip: Option<String>,
    /// One or two peers.
    pub peers: Vec<PeerInput>,
    pub cloud: CloudFacts,
}

/// A peer's parsed conf and what is around it, for the rules.
pub(crate) struct Parsed<'a> {
    pub(crate) input: &'a PeerInput,
    pub(crate) conf: KeepalivedConf,
    pub(crate) errors: Vec<ConfError>,
}

/// All findings for one cluster, errors first, then by code.
pub fn lint_pair(pair: &PairInput) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut parsed = Vec::new();
    for peer in &pair.peers {
        match &peer.conf {
            ConfRead::Text(text) => {
                let (conf, errors) = conf::parse_lenient(text, &|_| None);
                parsed.push(Parsed {
                    input: peer,
                    conf,
                    errors,
                });
            }
            ConfRead::Unreadable(why) => out.push(rules::unreadable(pair, peer, why)),
        }
    }
    rules::each_peer(pair, &parsed, &mut out);
    if let [a, b] = parsed.as_slice() {
        rules::pair(pair, a, b, &mut out);
    }
    scripts::check(pair, &parsed, &mut out);
    rules::cloud(pair, &parsed, &mut out);
    rules::vip_scripts(pair, &mut out);
    sort(&mut out);
    out
}

/// The fleet rules across every cluster: a VRID used twice in one VPC.
pub fn lint_fleet(pairs: &[PairInput]) -> Vec<Finding> {
    let mut out = rules::fleet(pairs);
    sort(&mut out);
    out
}

fn sort(out: &mut [Finding]) {
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.code.cmp(b.code))
            .then(a.cluster.cmp(&b.cluster))
            .then(a.peer.cmp(&b.peer))
            .then(a.line.cmp(&b.line))
    });
}

/// `1 error, 0 warnings, 2 notes`: the count the CLI and the dashboard show.
pub fn count_line(findings: &[Finding]) -> String {
    let n = |s| findings.iter().filter(|f| f.severity == s).count();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{}, {}, {}",
        plural(n(Severity::Error), "error", "errors"),
        plural(n(Severity::Warning), "warning", "warnings"),
        plural(n(Severity::Info), "note", "notes")
    )
}

/// The codes that mean a peer's files could not be read.
const UNSEEN: &[&str] = &["VD001", "VD005"];

/// `vipdeck lint`'s exit code, as `vipdeck check` counts: 2 an error,
/// 3 something could not be read (and no error), 1 a warning, 0 clean.
pub fn exit_code(findings: &[Finding]) -> u8 {
    let worst = findings.iter().map(|f| f.severity).max();
    let unseen = findings.iter().any(|f| UNSEEN.contains(&f.code));
    match worst {
        Some(Severity::Error) => 2,
        _ if unseen => 3,
        Some(Severity::Warning) => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests;
