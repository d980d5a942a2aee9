//! keepalived.conf: a generic block tree first, then a typed view of the
//! parts vipdeck reads (global_defs, vrrp_script, vrrp_instance).
//!
//! The parser is forgiving the way operators need it to be: unknown
//! keywords are kept in the tree, bad numbers become warnings, and only
//! unbalanced braces are errors. `include` is resolved through a closure
//! so the parser never touches the file system itself.

use std::net::IpAddr;

use sha2::Sha256;

use super::track::{ConfTracker, TrackKind};
use crate::core::model::{ConfigSummary, VrrpState};

/// How deep `include` may nest before we stop (keepalived's own limit is
/// similar; it also stops include loops).
const MAX_INCLUDE_DEPTH: usize = 8;

/// How many bytes all included files may add up to: a glob that matches
/// its own file would otherwise grow exponentially with the depth.
const MAX_INCLUDED_BYTES: usize = 16 << 20;

/// How deep blocks may nest. Real files nest three or four levels; the
/// tree is walked (and dropped) recursively, so a peer file with 40 000
/// nested `{` must not become 40 000 stack frames.
pub(crate) const MAX_NESTING: usize = 32;

/// The largest main file vipdeck parses (a real one is a few KiB).
pub(crate) const MAX_CONF_BYTES: usize = 4 << 20;

/// The most tokens read from a file and its includes: a real file has a
/// few thousand, a large LVS one tens of thousands. Each token costs ~64
/// bytes, so a 4 MiB file of `{` must stop here, not cost 115× its size.
pub(crate) const MAX_TOKENS: usize = 256 * 1024;

/// Brace errors past this many are not listed one by one: a file of `}`
/// is one problem, not four million.
const MAX_BRACE_ERRORS: usize = 100;

/// Where a node or an error is: the file (None for the main file) and the
/// 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub file: Option<String>,
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{file}:{}", self.line),
            None => write!(f, "line {}", self.line),
        }
    }
}

/// One statement: `keyword arg arg { children }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub keyword: String,
    pub args: Vec<String>,
    /// `Some` when the statement opens a block (even an empty one).
    pub(crate) children: Option<Vec<Node>>,
    pub at: Location,
}

impl Node {
    /// The children, or nothing for a plain statement.
    pub fn block(&self) -> &[Node] {
        self.children.as_deref().unwrap_or(&[])
    }

    /// The first argument, if any.
    pub(crate) fn arg(&self) -> Option<&str> {
        self.args.first().map(String::as_str)
    }

    /// Arguments joined by a space, as keepalived reads a script line.
    pub(crate) fn joined_args(&self) -> Option<String> {
        (!self.args.is_empty()).then(|| self.args.join(" "))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfError {
    #[error("{at}: '}}' without a matching '{{'")]
    UnexpectedClose { at: Location },
    #[error("{at}: block '{keyword}' is never closed (missing '}}')")]
    Unclosed { keyword: String, at: Location },
    #[error("{at}: blocks nest deeper than {MAX_NESTING} levels; the deeper ones are ignored")]
    TooDeep { at: Location },
    #[error("{at}: the file is larger than {MAX_CONF_BYTES} bytes; the rest is ignored")]
    TooLarge { at: Location },
    #[error("{at}: more than {MAX_TOKENS} words and braces; the rest is ignored")]
    TooManyTokens { at: Location },
    #[error("{at}: more than {MAX_BRACE_ERRORS} brace errors; the others are not listed")]
    TooManyErrors { at: Location },
}

impl ConfError {
    pub fn location(&self) -> &Location {
        match self {
            ConfError::UnexpectedClose { at }
            | ConfError::Unclosed { at, .. }
            | ConfError::TooDeep { at }
            | ConfError::TooLarge { at }
            | ConfError::TooManyTokens { at }
            | ConfError::TooManyErrors { at } => at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
    /// End of a physical line: a statement ends here.
    Eol,
}

/// Splits one file into tokens. `#` or `!` anywhere outside quotes begins
/// a comment to the end of the line, as keepalived 2.2.7 reads it
/// (`auth_pass xy#z` is the password `xy`: tests/fixtures/keepalived/real/
/// comments-probe.*); quotes group words; `{`/`}` are tokens even when
/// glued to a word (`unicast_peer{`).
fn tokenize(text: &str, file: Option<&str>, budget: &mut Budget) -> Vec<(Tok, Location)> {
    let mut out = Vec::new();
    'lines: for (i, raw_line) in text.split('\n').enumerate() {
        let at = Location {
            file: file.map(str::to_string),
            line: i + 1,
        };

        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let mut chars = line.chars().peekable();
        while let Some(&c) = chars.peek() {
            if out.len() >= budget.tokens {
                budget.cut.get_or_insert(at);
                break 'lines;
            }
            if c.is_whitespace() {
                chars.next();
            } else if c == '#' || c == '!' {
                break;
            } else if c == '{' || c == '}' {
                chars.next();
                out.push((if c == '{' { Tok::Open } else { Tok::Close }, at.clone()));
            } else if c == '"' {
                chars.next();
                let mut word = String::new();
                // An unterminated quote runs to the end of the line.
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    word.push(c);
                }
                out.push((Tok::Word(word), at.clone()));
            } else {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '{' | '}' | '"' | '#' | '!') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push((Tok::Word(word), at.clone()));
            }
        }
        if out.len() >= budget.tokens {
            budget.cut.get_or_insert(at);
            break;
        }
        out.push((Tok::Eol, at));
    }
    budget.tokens = budget.tokens.saturating_sub(out.len());
    out
}

/// What the rest of a parse may still read: included bytes, tokens, and
/// where the token budget ran out.
struct Budget {
    included_bytes: usize,
    tokens: usize,
    cut: Option<Location>,
}

/// Tokens of a file with its `include` lines expanded in place. The
/// `include` statement itself stays in the stream so the tree shows it.
fn expand(
    text: &str,
    file: Option<&str>,
    resolve: &dyn Fn(&str) -> Option<String>,
    depth: usize,
    budget: &mut Budget,
    unresolved: &mut Vec<String>,
) -> Vec<(Tok, Location)> {
    let toks = tokenize(text, file, budget);
    let mut out = Vec::with_capacity(toks.len());
    // Tokens are moved, never copied: the stream is the parse's largest
    // buffer.
    let mut toks = toks.into_iter().peekable();
    let mut starts_line = true;
    while let Some((tok, at)) = toks.next() {
        let include = starts_line && matches!(&tok, Tok::Word(w) if w == "include");
        let pattern = match toks.peek() {
            Some((Tok::Word(p), _)) if include => Some(p.clone()),
            _ => None,
        };
        starts_line = matches!(tok, Tok::Eol);
        out.push((tok, at));
        let Some(pattern) = pattern else {
            continue;
        };
        // Copy the include line, then splice the included file.
        for (tok, at) in toks.by_ref() {
            let eol = matches!(tok, Tok::Eol);
            out.push((tok, at));
            if eol {
                break;
            }
        }
        starts_line = true;
        let sub = (depth < MAX_INCLUDE_DEPTH)
            .then(|| resolve(&pattern))
            .flatten()
            .filter(|sub| sub.len() <= budget.included_bytes);
        match sub {
            Some(sub) => {
                budget.included_bytes -= sub.len();
                let at = Some(pattern.as_str());
                out.extend(expand(&sub, at, resolve, depth + 1, budget, unresolved))
            }
            None => unresolved.push(pattern),
        }
    }
    out
}

/// Builds the block tree from tokens.
/// Builds the block tree from tokens, recovering the way keepalived does:
/// an extra `}` is skipped, blocks still open at the end are closed. The
/// brace errors are returned beside the tree.
fn build(toks: Vec<(Tok, Location)>) -> (Vec<Node>, Vec<ConfError>) {
    let mut errors = Vec::new();
    // Stack of open blocks: the nodes collected so far at each level, and
    // the node that opened the level (None for the top level).
    let mut stack: Vec<(Vec<Node>, Option<Node>)> = vec![(Vec::new(), None)];
    // Whether the last node at the current level may still take a `{` on a
    // later line (brace on the next line).
    let mut open_pending = false;
    let mut in_statement = false;
    // Braces opened past MAX_NESTING: counted, their content dropped.
    let mut too_deep = 0usize;
    for (tok, at) in toks {
        if too_deep > 0 {
            match tok {
                Tok::Open => too_deep += 1,
                Tok::Close => too_deep -= 1,
                _ => {}
            }
            continue;
        }
        match tok {
            Tok::Eol => in_statement = false,
            Tok::Word(w) => {
                let Some((level, _)) = stack.last_mut() else {
                    continue;
                };
                match (in_statement, level.last_mut()) {
                    (true, Some(node)) => node.args.push(w),
                    _ => {
                        level.push(Node {
                            keyword: w,
                            args: Vec::new(),
                            children: None,
                            at,
                        });
                        in_statement = true;
                        open_pending = true;
                    }
                }
            }
            Tok::Open if stack.len() > MAX_NESTING => {
                errors.push(ConfError::TooDeep { at });
                too_deep = 1;
                in_statement = false;
                open_pending = false;
            }
            Tok::Open => {
                let Some((level, _)) = stack.last_mut() else {
                    continue;
                };
                let owner = match level.pop() {
                    Some(node) if open_pending && node.children.is_none() => node,
                    other => {
                        level.extend(other);
                        // A bare `{`: keep it as an anonymous block.
                        Node {
                            keyword: String::new(),
                            args: Vec::new(),
                            children: None,
                            at,
                        }
                    }
                };
                stack.push((Vec::new(), Some(owner)));
                in_statement = false;
                open_pending = false;
            }
            Tok::Close => {
                if stack.len() < 2 {
                    match errors.len() {
                        n if n < MAX_BRACE_ERRORS => errors.push(ConfError::UnexpectedClose { at }),
                        n if n == MAX_BRACE_ERRORS => errors.push(ConfError::TooManyErrors { at }),
                        _ => {}
                    }
                    in_statement = false;
                    open_pending = false;
                    continue;
                }
                if let Some((children, Some(mut owner))) = stack.pop() {
                    owner.children = Some(children);
                    if let Some((level, _)) = stack.last_mut() {
                        level.push(owner);
                    }
                }
                in_statement = false;
                open_pending = false;
            }
        }
    }
    while stack.len() > 1 {
        if let Some((children, Some(mut owner))) = stack.pop() {
            errors.push(ConfError::Unclosed {
                keyword: owner.keyword.clone(),
                at: owner.at.clone(),
            });
            owner.children = Some(children);
            if let Some((level, _)) = stack.last_mut() {
                level.push(owner);
            }
        }
    }
    // Errors are in file order; unclosed blocks innermost first (that is
    // usually the block missing its `}`).
    let tree = stack.pop().map(|(nodes, _)| nodes).unwrap_or_default();
    (tree, errors)
}

/// Parses text into the generic block tree. `resolve` returns the text of
/// an included file (a glob pattern is passed as written; return the
/// matching files concatenated), or None when it cannot be read.
/// The tree, the include patterns that could not be read, and the brace
/// errors (the tree is recovered as keepalived would despite them).
pub(crate) fn parse_tree(
    text: &str,
    resolve: &dyn Fn(&str) -> Option<String>,
) -> (Vec<Node>, Vec<String>, Vec<ConfError>) {
    let mut unresolved = Vec::new();
    let mut budget = Budget {
        included_bytes: MAX_INCLUDED_BYTES,
        tokens: MAX_TOKENS,
        cut: None,
    };
    let too_large = text.len() > MAX_CONF_BYTES;
    let text = if too_large {
        let mut end = MAX_CONF_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        &text[..end]
    } else {
        text
    };
    let toks = expand(text, None, resolve, 0, &mut budget, &mut unresolved);
    let (tree, mut errors) = build(toks);
    if let Some(at) = budget.cut {
        errors.push(ConfError::TooManyTokens { at });
    }
    if too_large {
        errors.push(ConfError::TooLarge {
            at: Location {
                file: None,
                line: text.lines().count(),
            },
        });
    }
    (tree, unresolved, errors)
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalDefs {
    pub router_id: Option<String>,
    pub vrrp_garp_interval: Option<String>,
    pub vrrp_gna_interval: Option<String>,
    pub(crate) vrrp_garp_master_repeat: Option<u32>,
    pub(crate) vrrp_garp_master_refresh: Option<u32>,
    pub vrrp_skip_check_adv_addr: bool,
    pub(crate) vrrp_strict: bool,
    pub(crate) enable_script_security: bool,
    pub(crate) script_user: Option<String>,
    pub notification_email: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VrrpScript {
    pub name: String,
    pub script: Option<String>,
    pub interval: Option<u32>,
    pub timeout: Option<u32>,
    pub(crate) weight: Option<i32>,
    /// `weight W reverse`.
    pub(crate) weight_reverse: bool,
    pub(crate) fall: Option<u32>,
    pub(crate) rise: Option<u32>,
}

/// One `virtual_ipaddress` entry, e.g. `10.0.1.100/24 dev eth0 label eth0:1`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VirtualIp {
    /// The address without its prefix length.
    pub address: String,
    pub prefix: Option<u8>,
    pub dev: Option<String>,
    pub label: Option<String>,
    /// The entry as written.
    pub raw: String,
}

impl VirtualIp {
    fn from_node(node: &Node) -> VirtualIp {
        let mut words =
            std::iter::once(node.keyword.as_str()).chain(node.args.iter().map(String::as_str));
        let first = words.next().unwrap_or_default();
        let (address, prefix) = match first.split_once('/') {
            Some((a, p)) => (a.to_string(), p.parse().ok()),
            None => (first.to_string(), None),
        };
        let mut vip = VirtualIp {
            address,
            prefix,
            raw: std::iter::once(node.keyword.clone())
                .chain(node.args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" "),
            ..Default::default()
        };
        while let Some(w) = words.next() {
            match w {
                "dev" => vip.dev = words.next().map(str::to_string),
                "label" => vip.label = words.next().map(str::to_string),
                _ => {}
            }
        }
        vip
    }
}

/// The `authentication` block. The password is kept because a pair check
/// needs it, but [`Authentication`]'s Debug output never shows it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Authentication {
    pub auth_type: Option<String>,
    auth_pass: Option<String>,
}

impl Authentication {
    pub fn new(auth_type: Option<String>, auth_pass: Option<String>) -> Self {
        Authentication {
            auth_type,
            auth_pass,
        }
    }

    pub fn has_pass(&self) -> bool {
        self.auth_pass.is_some()
    }

    /// A tag of the password as keepalived uses it (PASS authentication
    /// sends at most 8 bytes, so longer passwords that share their first
    /// 8 bytes interoperate and tag the same). HMAC-SHA-256 under a key
    /// made at random in this process and never written anywhere: two
    /// tags are equal exactly when the passwords are, and say nothing
    /// else: an unsalted digest of at most 8 bytes would be cracked
    /// offline by whoever reads `status --json` or a collector's stream.
    pub fn pass_digest(&self) -> Option<String> {
        use hmac::{Hmac, Mac};
        let pass = self.auth_pass.as_deref()?;
        let used = &pass.as_bytes()[..pass.len().min(8)];
        let mut mac = match Hmac::<Sha256>::new_from_slice(tag_key()) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
        };
        mac.update(used);
        Some(hex::encode(&mac.finalize().into_bytes()[..6]))
    }
}

/// The key of [`Authentication::pass_digest`]'s tags, for this process.
fn tag_key() -> &'static [u8; 32] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    KEY.get_or_init(rand::random)
}

impl std::fmt::Debug for Authentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authentication")
            .field("auth_type", &self.auth_type)
            .field("auth_pass_digest", &self.pass_digest())
            .finish()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VrrpInstance {
    pub name: String,
    /// The initial state as configured (`state MASTER|BACKUP`).
    pub state: Option<VrrpState>,
    pub interface: Option<String>,
    pub virtual_router_id: Option<u8>,
    pub priority: Option<u8>,
    /// As written (keepalived accepts fractions such as `0.5`).
    pub advert_int: Option<String>,
    pub nopreempt: bool,
    pub preempt_delay: Option<String>,
    pub unicast_src_ip: Option<String>,
    pub unicast_peer: Vec<String>,
    pub virtual_ipaddress: Vec<VirtualIp>,
    pub(crate) virtual_ipaddress_excluded: Vec<VirtualIp>,
    pub authentication: Option<Authentication>,
    pub track_script: Vec<String>,
    pub track_interface: Vec<String>,
    /// Every `track_script`, `track_interface`, `track_file` and
    /// `track_process` entry with its per-instance `weight` override.
    pub(crate) trackers: Vec<ConfTracker>,
    pub notify_master: Option<String>,
    pub notify_backup: Option<String>,
    pub notify_fault: Option<String>,
    pub notify_stop: Option<String>,
    pub notify: Option<String>,
    pub garp_master_delay: Option<u32>,
    pub garp_master_refresh: Option<u32>,
    pub at: Location,
}

/// A parsed keepalived.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeepalivedConf {
    /// Every statement, known or not.
    pub tree: Vec<Node>,
    pub global_defs: GlobalDefs,
    pub scripts: Vec<VrrpScript>,
    pub instances: Vec<VrrpInstance>,
    /// `vrrp_track_file` and `vrrp_track_process` objects with their own
    /// weight (what an instance's entry without `weight` gets).
    pub(crate) track_objects: Vec<ConfTracker>,
    /// Include patterns the resolver could not read.
    pub unresolved_includes: Vec<String>,
    /// Values that could not be read (bad numbers, missing names), with
    /// where they are; never fatal.
    pub warnings: Vec<String>,
}

impl KeepalivedConf {
    pub fn instance(&self, name: &str) -> Option<&VrrpInstance> {
        self.instances.iter().find(|i| i.name == name)
    }
}

/// Parses keepalived.conf without includes (an `include` is kept in the
/// tree and listed as unresolved).
pub fn parse(text: &str) -> Result<KeepalivedConf, ConfError> {
    parse_with_includes(text, &|_| None)
}

/// Parses keepalived.conf, reading included files through `resolve`.
/// Unbalanced braces are an error (the first one, with its line).
pub fn parse_with_includes(
    text: &str,
    resolve: &dyn Fn(&str) -> Option<String>,
) -> Result<KeepalivedConf, ConfError> {
    let (conf, mut errors) = parse_lenient(text, resolve);
    if errors.is_empty() {
        Ok(conf)
    } else {
        Err(errors.swap_remove(0))
    }
}

/// Parses keepalived.conf the way keepalived itself loads a damaged file:
/// an extra `}` is skipped and unclosed blocks end at the end of the
/// file. Returns the conf and every brace error, so a console can show
/// what the peer runs with and what is wrong with its file.
pub fn parse_lenient(
    text: &str,
    resolve: &dyn Fn(&str) -> Option<String>,
) -> (KeepalivedConf, Vec<ConfError>) {
    let (tree, unresolved_includes, errors) = parse_tree(text, resolve);
    let mut conf = KeepalivedConf {
        unresolved_includes,
        ..Default::default()
    };
    for node in &tree {
        match node.keyword.as_str() {
            "global_defs" => read_global_defs(node, &mut conf),
            "vrrp_script" => {
                let s = read_script(node, &mut conf.warnings);
                conf.scripts.push(s);
            }
            "vrrp_instance" => {
                let i = read_instance(node, &mut conf.warnings);
                conf.instances.push(i);
            }
            "vrrp_track_file" | "vrrp_track_process" => {
                let kind = if node.keyword == "vrrp_track_file" {
                    TrackKind::File
                } else {
                    TrackKind::Process
                };
                let weight = node.block().iter().find(|n| n.keyword == "weight");
                conf.track_objects.push(ConfTracker {
                    kind,
                    name: node.arg().unwrap_or_default().to_string(),
                    weight: weight.and_then(|w| w.arg()?.parse().ok()),
                    reverse: weight.is_some_and(|w| w.args.iter().any(|a| a == "reverse")),
                });
            }
            _ => {}
        }
    }
    conf.tree = tree;
    (conf, errors)
}

fn number<T: std::str::FromStr>(node: &Node, warnings: &mut Vec<String>) -> Option<T> {
    let arg = node.arg();
    match arg.map(str::parse::<T>) {
        Some(Ok(v)) => Some(v),
        _ => {
            warnings.push(format!(
                "{}: {} '{}' is not a valid number",
                node.at,
                node.keyword,
                arg.unwrap_or("")
            ));
            None
        }
    }
}

fn read_global_defs(node: &Node, conf: &mut KeepalivedConf) {
    let g = &mut conf.global_defs;
    let w = &mut conf.warnings;
    for n in node.block() {
        match n.keyword.as_str() {
            "router_id" => g.router_id = n.arg().map(str::to_string),
            "vrrp_garp_interval" => g.vrrp_garp_interval = n.arg().map(str::to_string),
            "vrrp_gna_interval" => g.vrrp_gna_interval = n.arg().map(str::to_string),
            "vrrp_garp_master_repeat" => g.vrrp_garp_master_repeat = number(n, w),
            "vrrp_garp_master_refresh" => g.vrrp_garp_master_refresh = number(n, w),
            "vrrp_skip_check_adv_addr" => g.vrrp_skip_check_adv_addr = true,
            "vrrp_strict" => g.vrrp_strict = true,
            "enable_script_security" => g.enable_script_security = true,
            "script_user" => g.script_user = n.arg().map(str::to_string),
            "notification_email" => {
                g.notification_email = n.block().iter().map(|e| e.keyword.clone()).collect()
            }
            _ => {}
        }
    }
}

fn read_script(node: &Node, warnings: &mut Vec<String>) -> VrrpScript {
    let mut s = VrrpScript {
        name: node.arg().unwrap_or_default().to_string(),
        ..Default::default()
    };
    if s.name.is_empty() {
        warnings.push(format!("{}: vrrp_script without a name", node.at));
    }
    for n in node.block() {
        match n.keyword.as_str() {
            "script" => s.script = n.joined_args(),
            "interval" => s.interval = number(n, warnings),
            "timeout" => s.timeout = number(n, warnings),
            "weight" => {
                s.weight = number(n, warnings);
                s.weight_reverse = n.args.iter().any(|a| a == "reverse");
            }
            "fall" => s.fall = number(n, warnings),
            "rise" => s.rise = number(n, warnings),
            _ => {}
        }
    }
    s
}

/// The entries of a list block (`unicast_peer { a  b }`): each statement's
/// first word; entries may also share a line.
fn list_words(node: &Node) -> Vec<String> {
    node.block().iter().map(|n| n.keyword.clone()).collect()
}

/// unicast_peer entries: the addresses, also when several share a line;
/// per-peer options (`min_ttl 0 max_ttl 255`) are skipped.
fn peer_words(node: &Node) -> Vec<String> {
    node.block()
        .iter()
        .flat_map(|n| std::iter::once(&n.keyword).chain(&n.args))
        .filter(|w| w.parse::<IpAddr>().is_ok())
        .cloned()
        .collect()
}

/// A tracker list's entries: `NAME [weight W [reverse]]`, one a line.
fn tracker_entries(node: &Node, kind: TrackKind) -> Vec<ConfTracker> {
    node.block()
        .iter()
        .map(|n| {
            let at = n.args.iter().position(|a| a == "weight");
            ConfTracker {
                kind,
                name: n.keyword.clone(),
                weight: at.and_then(|p| n.args.get(p + 1)?.parse().ok()),
                reverse: n.args.iter().any(|a| a == "reverse"),
            }
        })
        .collect()
}

fn read_instance(node: &Node, warnings: &mut Vec<String>) -> VrrpInstance {
    let mut i = VrrpInstance {
        name: node.arg().unwrap_or_default().to_string(),
        at: node.at.clone(),
        ..Default::default()
    };
    if i.name.is_empty() {
        warnings.push(format!("{}: vrrp_instance without a name", node.at));
    }
    for n in node.block() {
        match n.keyword.as_str() {
            "state" => {
                i.state = n
                    .arg()
                    .map(|s| VrrpState::from_word(&s.to_ascii_uppercase()));
            }
            "interface" => i.interface = n.arg().map(str::to_string),
            "virtual_router_id" => i.virtual_router_id = number(n, warnings),
            "priority" => i.priority = number(n, warnings),
            "advert_int" => i.advert_int = n.arg().map(str::to_string),
            "nopreempt" => i.nopreempt = true,
            "preempt" => i.nopreempt = false,
            "preempt_delay" => i.preempt_delay = n.arg().map(str::to_string),
            "unicast_src_ip" => i.unicast_src_ip = n.arg().map(str::to_string),
            "unicast_peer" => i.unicast_peer.extend(peer_words(n)),
            "virtual_ipaddress" => i
                .virtual_ipaddress
                .extend(n.block().iter().map(VirtualIp::from_node)),
            "virtual_ipaddress_excluded" => i
                .virtual_ipaddress_excluded
                .extend(n.block().iter().map(VirtualIp::from_node)),
            "authentication" => {
                let mut auth_type = None;
                let mut auth_pass = None;
                for a in n.block() {
                    match a.keyword.as_str() {
                        "auth_type" => auth_type = a.arg().map(str::to_string),
                        "auth_pass" => auth_pass = a.arg().map(str::to_string),
                        _ => {}
                    }
                }
                i.authentication = Some(Authentication::new(auth_type, auth_pass));
            }
            "track_script" => {
                i.track_script.extend(list_words(n));
                i.trackers.extend(tracker_entries(n, TrackKind::Script));
            }
            "track_interface" => {
                i.track_interface.extend(list_words(n));
                i.trackers.extend(tracker_entries(n, TrackKind::Interface));
            }
            "track_file" => i.trackers.extend(tracker_entries(n, TrackKind::File)),
            "track_process" => i.trackers.extend(tracker_entries(n, TrackKind::Process)),
            "notify_master" => i.notify_master = n.joined_args(),
            "notify_backup" => i.notify_backup = n.joined_args(),
            "notify_fault" => i.notify_fault = n.joined_args(),
            "notify_stop" => i.notify_stop = n.joined_args(),
            "notify" => i.notify = n.joined_args(),
            "garp_master_delay" => i.garp_master_delay = number(n, warnings),
            "garp_master_refresh" => i.garp_master_refresh = number(n, warnings),
            _ => {}
        }
    }
    i
}

/// Two spellings of one address compare equal (`10.0.0.1` vs `10.0.0.01`
/// do not parse the same, but `::1` vs `0::1` do).
fn same_addr(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

impl VrrpInstance {
    /// The fields that must agree between the two peers; the password only
    /// as a digest.
    pub fn summary(&self) -> ConfigSummary {
        ConfigSummary {
            instance: self.name.clone(),
            interface: self.interface.clone(),
            virtual_router_id: self.virtual_router_id,
            priority: self.priority,
            advert_int: self.advert_int.clone(),
            nopreempt: self.nopreempt,
            auth_type: self
                .authentication
                .as_ref()
                .and_then(|a| a.auth_type.clone()),
            auth_digest: self
                .authentication
                .as_ref()
                .and_then(Authentication::pass_digest),
            unicast_src_ip: self.unicast_src_ip.clone(),
            unicast_peers: self.unicast_peer.clone(),
            virtual_ipaddresses: self
                .virtual_ipaddress
                .iter()
                .map(|v| v.address.clone())
                .collect(),
            notify_scripts: self.notify_programs(),
            other_instances: Vec::new(),
            preempt_delay: self.preempt_delay.clone(),
            trackers: self.trackers.clone(),
            garp_master_refresh: self.garp_master_refresh.filter(|&s| s > 0),
        }
    }

    /// [`VrrpInstance::summary`] with the other instances of `conf`, and
    /// each tracker's weight as keepalived applies it: the instance's
    /// override, else the script's (or file's, process's) own.
    pub fn summary_in(&self, conf: &KeepalivedConf) -> ConfigSummary {
        let trackers = self
            .trackers
            .iter()
            .map(|t| {
                if t.weight.is_some() {
                    return t.clone();
                }
                let own = match t.kind {
                    TrackKind::Script => conf
                        .scripts
                        .iter()
                        .find(|s| s.name == t.name)
                        .map(|s| (s.weight.unwrap_or(0), s.weight_reverse)),
                    // keepalived's default for an interface.
                    TrackKind::Interface => Some((0, false)),
                    _ => conf
                        .track_objects
                        .iter()
                        .find(|o| o.kind == t.kind && o.name == t.name)
                        .and_then(|o| Some((o.weight?, o.reverse))),
                };
                ConfTracker {
                    weight: own.map(|o| o.0),
                    reverse: own.is_some_and(|o| o.1),
                    ..t.clone()
                }
            })
            .collect();
        ConfigSummary {
            trackers,
            other_instances: conf
                .instances
                .iter()
                .filter(|i| i.name != self.name)
                .map(|i| (i.name.clone(), i.notify_programs()))
                .collect(),
            // 0 is keepalived's "off".
            garp_master_refresh: self
                .garp_master_refresh
                .or(conf.global_defs.vrrp_garp_master_refresh)
                .filter(|&s| s > 0),
            ..self.summary()
        }
    }

    /// The programs (first word, quotes dropped) the `notify*` lines run.
    fn notify_programs(&self) -> Vec<String> {
        let mut out: Vec<String> = [
            &self.notify_master,
            &self.notify_backup,
            &self.notify_fault,
            &self.notify_stop,
            &self.notify,
        ]
        .into_iter()
        .flatten()
        .filter_map(|cmd| {
            cmd.trim_matches(|c| c == '"' || c == '\'')
                .split_whitespace()
                .next()
                .map(str::to_string)
        })
        .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether this instance carries `vip` (prefix and spelling ignored).
    pub(crate) fn has_vip(&self, vip: &str) -> bool {
        let vip = vip.split('/').next().unwrap_or(vip);
        self.virtual_ipaddress
            .iter()
            .chain(&self.virtual_ipaddress_excluded)
            .any(|v| same_addr(&v.address, vip))
    }
}

/// The instance that carries `vip`, if any.
pub fn instance_for_vip<'a>(conf: &'a KeepalivedConf, vip: &str) -> Option<&'a VrrpInstance> {
    conf.instances.iter().find(|i| i.has_vip(vip))
}

#[cfg(test)]
mod limits {
    use super::*;

    #[test]
    fn forty_thousand_nested_braces_are_an_error_not_a_stack_overflow() {
        let text = format!(
            "vrrp_instance VI_1 {{\n{}\n state BACKUP\n}}\n",
            "{".repeat(40_000)
        );
        let err = parse(&text).expect_err("too deep");
        assert!(matches!(err, ConfError::TooDeep { .. }), "{err}");
        let (conf, errors) = parse_lenient(&text, &|_| None);
        assert_eq!(conf.instances.len(), 1);
        assert!(errors
            .iter()
            .any(|e| matches!(e, ConfError::TooDeep { .. })));
    }

    #[test]
    fn floods_are_named_once_not_line_by_line() {
        let (_, errors) = parse_lenient(&"}".repeat(10_000), &|_| None);
        assert_eq!(errors.len(), MAX_BRACE_ERRORS + 1);
        assert!(matches!(
            errors.last(),
            Some(ConfError::TooManyErrors { .. })
        ));
        let text = format!("vrrp_instance VI_1 {{\n}}\n{}", "{}\n".repeat(MAX_TOKENS));
        let (conf, errors) = parse_lenient(&text, &|_| None);
        assert_eq!(conf.instances.len(), 1, "what came before the cut is read");
        let cut = errors
            .iter()
            .find(|e| matches!(e, ConfError::TooManyTokens { .. }))
            .expect("the cut is an error");
        assert!(cut.location().line > 80_000, "{cut}");
    }

    /// The peak memory (VmHWM, KiB) of parsing `make()`'s text, measured
    /// in a child process (this test binary re-run on `name` alone) so
    /// other tests cannot pollute the figure.
    fn peak_kib_of(name: &str, flood: &str) -> u64 {
        let out = std::process::Command::new(std::env::current_exe().expect("exe"))
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env("VIPDECK_CONF_FLOOD", flood)
            .output()
            .expect("child");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.split("peak_kib=").nth(1))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no figure from the child: {text}"))
    }

    fn flood_text(kind: &str) -> String {
        let n = MAX_CONF_BYTES;
        match kind {
            "open" => "{".repeat(n),
            "close" => "}".repeat(n),
            "pairs" => "{}".repeat(n / 2),
            "newlines" => "\n".repeat(n),
            _ => "{}\n".repeat(n / 3),
        }
    }

    #[test]
    fn brace_floods_cost_a_bounded_multiple_of_the_file() {
        const NAME: &str =
            "core::keepalived::conf::limits::brace_floods_cost_a_bounded_multiple_of_the_file";
        if let Ok(kind) = std::env::var("VIPDECK_CONF_FLOOD") {
            let text = flood_text(&kind);
            let parsed = parse_lenient(&text, &|_| None);
            assert!(parsed.0.instances.is_empty());
            let status = std::fs::read_to_string("/proc/self/status").expect("status");
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .expect("VmHWM");
            println!("peak_kib={hwm}");
            return;
        }
        let file_kib = (MAX_CONF_BYTES / 1024) as u64;
        for kind in ["open", "close", "pairs", "lines", "newlines"] {
            let peak = peak_kib_of(NAME, kind);
            println!(
                "brace flood {kind}: {file_kib} KiB file, peak {peak} KiB ({:.1}x)",
                peak as f64 / file_kib as f64
            );
            // The text itself is held twice (the test's copy and the
            // parser's input); everything else must stay small beside it.
            assert!(
                peak < 16 * file_kib,
                "{kind}: peak {peak} KiB for a {file_kib} KiB file"
            );
        }
    }

    #[test]
    fn a_huge_file_is_cut_with_an_error() {
        let text = format!(
            "# {}\nvrrp_instance VI_1 {{\n}}\n",
            "é".repeat(MAX_CONF_BYTES)
        );
        let (_, errors) = parse_lenient(&text, &|_| None);
        assert!(errors
            .iter()
            .any(|e| matches!(e, ConfError::TooLarge { .. })));
    }
}

#[cfg(test)]
mod password {
    use super::*;
    use sha2::Digest;

    fn summary_with(pass: &str) -> ConfigSummary {
        let text = format!(
            "vrrp_instance VI_1 {{\n  state BACKUP\n  virtual_router_id 51\n  \
             authentication {{\n    auth_type PASS\n    auth_pass {pass}\n  }}\n  \
             virtual_ipaddress {{\n    192.0.2.10\n  }}\n}}\n"
        );
        parse(&text).expect("parses").instances[0].summary()
    }

    #[test]
    fn what_is_served_of_the_password_says_only_same_or_different() {
        // An unsalted digest of an 8-byte password is cracked offline: no
        // part of one may leave the process (the summary is served by
        // `vipdeck serve` and printed by `status --json`).
        let json = serde_json::to_string(&summary_with("s3cr3tpw")).expect("json");
        let unsalted = hex::encode(Sha256::digest(b"s3cr3tpw"));
        for n in [6usize, 8, 12] {
            assert!(
                !json.contains(&unsalted[..n]),
                "an unsalted digest of the password is served: {json}"
            );
        }
        assert!(!json.contains("auth_digest"), "{json}");
        // Equal exactly when keepalived would find them equal (its first 8 bytes).
        assert_eq!(
            summary_with("s3cr3tpw").auth_digest,
            summary_with("s3cr3tpwXX").auth_digest
        );
        assert_ne!(
            summary_with("s3cr3tpw").auth_digest,
            summary_with("s3cr3tpX").auth_digest
        );
        // What an attached face receives still tells a mismatch.
        let back: ConfigSummary = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, summary_with("s3cr3tpw"));
    }
}
