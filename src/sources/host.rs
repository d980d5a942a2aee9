//! (Over 1,000 lines: the host's scripts (watcher, poll, keepalived
//! detection), their parser and the two loops that run them share the one
//! `Items` index; the planned split puts the scripts and their parser in
//! `sources/host/script.rs` and the loops in `sources/host/run.rs`.)
//!
//! One connection per peer host, and a watcher that costs the host nothing.
//!
//! Every cluster that names the same host (the same `ssh` destination, or
//! this machine) shares one [`HostWatch`]: one long-lived shell that polls
//! every file of every cluster on that host in one script, one watcher
//! channel for all their state files, and (in the monitor) one tail per
//! log file. What it learns fans out to every (cluster, peer) that needs it.
//!
//! In steady state nothing on the peer forks:
//! - the **watcher** is one remote loop that waits with the `read` builtin
//!   for a newline vipdeck sends every [`TICK`] (a `sleep` is a process in
//!   dash, and its fractions are not POSIX), compares each state file and
//!   keepalived.conf with a reference file by `[ -nt ]`/`[ -ot ]` (builtins),
//!   and forks `stat`/`head`/`base64` only when one changed; beside it one
//!   long-lived `ip -o monitor address` reports address changes;
//! - the **poll** reads keepalived's pid file with `read` and checks it with
//!   `kill -0`; the state files, keepalived.conf and `ip addr` are read only
//!   when the watcher says they changed (or it is down), the peer's clock
//!   every [`CLOCK_EVERY`], and everything again every [`BACKSTOP`] in case
//!   two writes fell within one tick of the file system's clock;
//! - keepalived's JSON dump is asked for as sparingly as before: at start,
//!   after a state change, and every minute.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::{mpsc, watch, Notify};

use crate::core::keepalived::dump::{self, InstanceWord};
use crate::core::keepalived::version::{self, DumpMethod, KeepalivedInfo};
use crate::core::keepalived::{conf, instance_for_vip, parse_state};
use crate::core::lockfile::{LockInfo, LockSeen};
use crate::core::model::{ConfigSummary, PeerObservation, Update, VrrpState, Witness};
use crate::sources::probe::{b64, peer_clock_ms, vip_in_ip_addr, ProbePaths};
use crate::sources::transport::{self, quote, FollowEvent, Shell, Target};

/// How often vipdeck wakes the remote watcher loop.
pub(crate) const TICK: Duration = Duration::from_millis(50);
/// Every how many ticks the watcher checks keepalived.conf.
const CONF_TICKS: u32 = 20;
/// How often the peer's clock is read (a `date`).
const CLOCK_EVERY: Duration = Duration::from_secs(10);
/// How often everything is read again whatever the watcher says.
const BACKSTOP: Duration = Duration::from_secs(30);
/// How often keepalived is asked for its own JSON dump when nothing
/// changed (each ask writes a line to its log).
const DUMP_EVERY: Duration = Duration::from_secs(60);
/// Beyond the connect timeout, for ssh to report its own failure.
const CONNECT_MARGIN: Duration = Duration::from_millis(500);
/// The clock offset before the first poll measured it.
pub(crate) const CLOCK_UNKNOWN: i64 = i64::MIN;
/// Offsets smaller than this are measurement noise: times are not shifted.
const CLOCK_NOISE_MS: i64 = 1000;

/// `at` (the peer's clock) on our clock.
pub(crate) fn on_our_clock(at: DateTime<Utc>, offset_ms: i64) -> DateTime<Utc> {
    if offset_ms == CLOCK_UNKNOWN || offset_ms.abs() < CLOCK_NOISE_MS {
        at
    } else {
        at - chrono::TimeDelta::milliseconds(offset_ms)
    }
}

/// One (cluster, peer) that lives on a host.
#[derive(Debug, Clone)]
pub(crate) struct HostPeer {
    pub(crate) cluster: usize,
    pub(crate) peer: usize,
    pub(crate) paths: ProbePaths,
    pub(crate) vip: String,
    /// The cluster's failover lock file on the host.
    pub(crate) lock: String,
}

/// The distinct files and interfaces of a host's peers, and which of them
/// each peer uses (indices into the lists).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Items {
    pub(crate) states: Vec<String>,
    pub(crate) confs: Vec<String>,
    pub(crate) pids: Vec<String>,
    pub(crate) ifaces: Vec<String>,
    /// (pid file index, JSON dump path, data dump path).
    pub(crate) dumps: Vec<(usize, String, String)>,
    /// Per peer: (state, conf, pid, iface, dump).
    pub(crate) of_peer: Vec<[usize; 5]>,
    /// The failover lock files, and which one each peer's cluster uses.
    pub(crate) locks: Vec<String>,
    pub(crate) lock_of_peer: Vec<usize>,
}

fn index_of<T: PartialEq>(list: &mut Vec<T>, item: T) -> usize {
    match list.iter().position(|x| *x == item) {
        Some(i) => i,
        None => {
            list.push(item);
            list.len() - 1
        }
    }
}

impl Items {
    pub(crate) fn of(peers: &[HostPeer]) -> Items {
        let mut it = Items::default();
        for p in peers {
            let s = index_of(&mut it.states, p.paths.state_file.clone());
            let c = index_of(&mut it.confs, p.paths.keepalived_conf.clone());
            let pid = index_of(&mut it.pids, p.paths.pid_file.clone());
            let i = index_of(&mut it.ifaces, p.paths.interface.clone());
            let d = index_of(
                &mut it.dumps,
                (pid, p.paths.json_dump.clone(), p.paths.data_dump.clone()),
            );
            it.of_peer.push([s, c, pid, i, d]);
            let l = index_of(&mut it.locks, p.lock.clone());
            it.lock_of_peer.push(l);
        }
        it
    }
}

/// The remote watcher loop for a host's state files and confs. Prints
/// `@@kind`, `@@amon on|off`, one `@@s I MTIME B64` (or `@@s I missing` /
/// `@@s I special`) per state file, then `@@ready`; afterwards a `@@s`
/// line when a state file changes, `@@c I` when a conf changes, and
/// `ip -o monitor address` lines (anything not starting with `@@`).
pub(crate) fn watcher_script(items: &Items) -> String {
    let mut s = String::new();
    for (i, f) in items.states.iter().enumerate() {
        s.push_str(&format!("S{i}={}\n", quote(f)));
    }
    for (i, f) in items.confs.iter().enumerate() {
        s.push_str(&format!("C{i}={}\n", quote(f)));
    }
    s.push_str(concat!(
        "T=$(mktemp -d 2>/dev/null) || { echo '@@kind none'; exit 1; }\n",
        "a=\n",
        "trap 'rm -rf -- \"$T\"; [ -z \"$a\" ] || kill \"$a\" 2>/dev/null' EXIT\n",
        "trap 'exit 0' HUP INT TERM PIPE\n",
        // Changed: exists now and not before, or the other way round, or
        // its mtime differs from the reference's (nanoseconds, builtins).
        "c() { if [ -e \"$1\" ]; then [ ! -e \"$2\" ] || [ \"$1\" -nt \"$2\" ] || [ \"$1\" -ot \"$2\" ]; else [ -e \"$2\" ]; fi; }\n",
        // The reference takes the file's mtime before it is read: a write
        // after this is seen at the next tick.
        "r() { if [ -e \"$1\" ]; then touch -r \"$1\" -- \"$2\" 2>/dev/null || { mkdir -p -- \"${2%/*}\"; touch -r \"$1\" -- \"$2\"; }; else rm -f -- \"$2\"; fi; }\n",
        // A FIFO or device is reported, never read.
        "e() { r \"$2\" \"$3\"; m=$(stat -c %Y -- \"$2\" 2>/dev/null); ",
        "if [ -f \"$2\" ]; then printf '@@s %s %s %s\\n' \"$1\" \"${m:-0}\" \"$(head -c 256 -- \"$2\" 2>/dev/null | base64 -w0)\"; ",
        "elif [ -e \"$2\" ]; then echo \"@@s $1 special\"; else echo \"@@s $1 missing\"; fi; }\n",
        "echo '@@kind tick'\n",
        "if command -v ip >/dev/null 2>&1; then ip -o monitor address </dev/null 2>/dev/null & a=$!; echo '@@amon on'; else echo '@@amon off'; fi\n",
    ));
    // Each file's reference is its path under "$T/p". They are made in one
    // `cp --parents --attributes-only -p` (one process for every file);
    // what that missed (a missing file, a cp without those options) one
    // by one. The poll reads every file once more after `@@ready`: a
    // change before the references were taken is not lost.
    let all: Vec<String> = (0..items.states.len())
        .map(|i| format!("\"$S{i}\""))
        .chain((0..items.confs.len()).map(|i| format!("\"$C{i}\"")))
        .collect();
    if !all.is_empty() {
        s.push_str(&format!(
            "mkdir -p \"$T/p\" && cp --parents --attributes-only -p -- {} \"$T/p/\" 2>/dev/null\n",
            all.join(" ")
        ));
    }
    for f in &all {
        s.push_str(&format!(
            "[ -e {f} ] && [ ! -e \"$T/p\"{f} ] && r {f} \"$T/p\"{f}\n"
        ));
    }
    let mut checks = String::new();
    for i in 0..items.states.len() {
        checks.push_str(&format!(
            "c \"$S{i}\" \"$T/p$S{i}\" && e {i} \"$S{i}\" \"$T/p$S{i}\"\n"
        ));
    }
    // keepalived.conf changes rarely and is read by the (1 s) poll anyway:
    // checked every CONF_TICKS ticks.
    checks.push_str(&format!(
        "n=$((n+1)); if [ $n -ge {CONF_TICKS} ]; then n=0\n"
    ));
    for i in 0..items.confs.len() {
        checks.push_str(&format!(
            "c \"$C{i}\" \"$T/p$C{i}\" && {{ r \"$C{i}\" \"$T/p$C{i}\"; echo '@@c {i}'; }}\n"
        ));
    }
    checks.push_str("fi\n");
    s.push_str("n=0\necho '@@ready'\nwhile read -r _; do\n");
    s.push_str(&checks);
    s.push_str("[ -z \"$a\" ] || kill -0 \"$a\" 2>/dev/null || { a=; echo '@@amon off'; }\ndone\n");
    s
}

/// A path `head` prints unquoted in its `==> NAME <==` headers.
fn plain(path: &str) -> bool {
    !path.is_empty()
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%=".contains(&b))
}

/// Splits the output of `head -v -c CAP -- F1 F2 …` into each file's
/// bytes, given each file's name and size as `stat` saw them (in order).
/// A header not where the sizes put it (the file changed in between, or
/// its content imitates a header) ends the split: the rest is not trusted.
pub(crate) fn split_heads(
    blob: &[u8],
    files: &[(String, u64)],
    cap: u64,
) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    // A file's bytes count only once the next header (or the end) is
    // found right after them.
    let mut confirmed = true;
    for (k, (name, size)) in files.iter().enumerate() {
        let header = format!("{}==> {name} <==\n", if k == 0 { "" } else { "\n" });
        if !blob[pos.min(blob.len())..].starts_with(header.as_bytes()) {
            confirmed = false;
            break;
        }
        pos += header.len();
        let len = (*size).min(cap) as usize;
        if pos + len > blob.len() {
            break;
        }
        out.push((name.clone(), blob[pos..pos + len].to_vec()));
        pos += len;
    }
    if !confirmed || (out.len() == files.len() && pos != blob.len()) {
        out.pop();
    }
    out
}

/// What one host poll should read beyond the pid files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Wants {
    pub(crate) clock: bool,
    pub(crate) states: Vec<bool>,
    /// Per conf: `Some(known mtime)` to check it ("" when unknown).
    pub(crate) confs: Vec<Option<String>>,
    /// Per conf: send its content (its mtime differed, or first read).
    pub(crate) conf_read: Vec<bool>,
    pub(crate) ifaces: Vec<bool>,
    /// Per dump: ask keepalived for it, and how (its pid's detected method).
    pub(crate) dumps: Vec<Option<DumpMethod>>,
    /// Per pid file: ask its keepalived what it is (not known yet, or its
    /// pid changed: a restart may be an upgrade).
    pub(crate) detect: Vec<bool>,
}

/// The poll script for a host: builtins only, except for what `wants`
/// asks for. Every path is quoted.
pub(crate) fn poll_script(items: &Items, wants: &Wants) -> String {
    let mut s = String::new();
    if wants.clock {
        s.push_str("echo \"@@now $(date +%s%N)\"\n");
    }
    // A zombie passes `kill -0`: a keepalived killed but not yet reaped is
    // not running (its state field in /proc/PID/stat is Z; read with `read`).
    for (i, p) in items.pids.iter().enumerate() {
        s.push_str(&format!(
            "P={}; p{i}=; [ -f \"$P\" ] && [ -r \"$P\" ] && read -r p{i} < \"$P\"; case ${{p{i}}} in *[!0-9]*) p{i}=;; esac; \
             z=; [ -n \"$p{i}\" ] && {{ read -r _ _ z _ < /proc/$p{i}/stat; }} 2>/dev/null; \
             if [ -n \"$p{i}\" ] && [ \"$z\" != Z ] && kill -0 \"$p{i}\" 2>/dev/null; then echo \"@@pid {i} $p{i}\"; else echo '@@pid {i} none'; p{i}=; fi\n",
            quote(p)
        ));
        if wants.detect.get(i) == Some(&true) {
            s.push_str(&detect_script(i));
        }
    }
    // Each cluster's failover lock: someone's failover in progress. Read
    // with builtins (a line, at most 1 KiB of it reported).
    for (i, l) in items.locks.iter().enumerate() {
        s.push_str(&format!(
            "L={}; if [ -e \"$L\" ]; then l=; {{ IFS= read -r l; }} 2>/dev/null < \"$L\"; \
             [ ${{#l}} -gt 1024 ] && l=too-long; printf '@@lock {i} held %s\\n' \"$l\"; \
             else echo '@@lock {i} free'; fi\n",
            quote(l)
        ));
    }
    // The files to read go to one `stat` and one `head | base64` each
    // (three processes, whatever their number); a name `head` would quote
    // in its headers is read on its own.
    let bulk = |sel: &dyn Fn(usize) -> bool, files: &[String]| -> (Vec<usize>, Vec<usize>) {
        (0..files.len())
            .filter(|i| sel(*i))
            .partition(|i| plain(&files[*i]))
    };
    let (states, odd_states) = bulk(&|i| wants.states.get(i) == Some(&true), &items.states);
    if !states.is_empty() {
        s.push_str(
            "set --
",
        );
        for i in &states {
            s.push_str(&format!(
                "S={}; if [ -f \"$S\" ]; then set -- \"$@\" \"$S\"; elif [ -e \"$S\" ]; then echo '@@state {i} special'; else echo '@@state {i} missing'; fi\n",
                quote(&items.states[*i])
            ));
        }
        s.push_str(concat!(
            "if [ $# -gt 0 ]; then echo '@@sstat'; stat -c '%Y %s %n' -- \"$@\" 2>/dev/null; echo '@@end'; ",
            "printf '@@shead %s\\n' \"$(head -v -c 256 -- \"$@\" 2>/dev/null | base64 -w0)\"; fi\n"
        ));
    }
    for i in odd_states {
        s.push_str(&format!(
            "S={}; m=$(stat -c %Y -- \"$S\" 2>/dev/null); \
             if [ -f \"$S\" ]; then printf '@@state {i} %s %s\\n' \"${{m:-0}}\" \"$(head -c 256 -- \"$S\" | base64 -w0)\"; \
             elif [ -e \"$S\" ]; then echo '@@state {i} special'; else echo '@@state {i} missing'; fi\n",
            quote(&items.states[i])
        ));
    }
    let (checks, odd_confs) = bulk(
        &|i| matches!(wants.confs.get(i), Some(Some(_))),
        &items.confs,
    );
    if !checks.is_empty() {
        s.push_str(
            "set --
",
        );
        for i in &checks {
            s.push_str(&format!(
                "C={}; if [ -e \"$C\" ]; then set -- \"$@\" \"$C\"; else echo '@@conf {i} missing'; fi\n",
                quote(&items.confs[*i])
            ));
        }
        s.push_str("if [ $# -gt 0 ]; then echo '@@cstat'; stat -c '%Y %s %n' -- \"$@\" 2>/dev/null; echo '@@end'; fi\n");
    }
    let reads: Vec<usize> = (0..items.confs.len())
        .filter(|i| wants.conf_read.get(*i) == Some(&true) && plain(&items.confs[*i]))
        .collect();
    if !reads.is_empty() {
        s.push_str(
            "set --
",
        );
        for i in &reads {
            s.push_str(&format!(
                "C={}; [ -f \"$C\" ] && set -- \"$@\" \"$C\"\n",
                quote(&items.confs[*i])
            ));
        }
        s.push_str("if [ $# -gt 0 ]; then echo '@@cstat'; stat -c '%Y %s %n' -- \"$@\" 2>/dev/null; echo '@@end'; printf '@@chead %s\\n' \"$(head -v -c 262144 -- \"$@\" 2>/dev/null | base64 -w0)\"; fi\n");
    }
    for i in odd_confs {
        let known = wants.confs[i].clone().unwrap_or_default();
        s.push_str(&format!(
            "C={}; m=$(stat -c %Y -- \"$C\" 2>/dev/null); m=${{m:-missing}}; \
             if [ \"$m\" != {} ]; then printf '@@conf {i} %s %s\\n' \"$m\" \"$([ -f \"$C\" ] && head -c 262144 -- \"$C\" 2>/dev/null | base64 -w0)\"; \
             else echo \"@@confsame {i} $m\"; fi\n",
            quote(&items.confs[i]),
            quote(&known)
        ));
    }
    for (i, dev) in items.ifaces.iter().enumerate() {
        if wants.ifaces.get(i) == Some(&true) {
            s.push_str(&format!(
                "echo '@@ip {i}'; ip -o addr show dev {} 2>&1; echo '@@endip'\n",
                quote(dev)
            ));
        }
    }
    for (j, (pid, json, data)) in items.dumps.iter().enumerate() {
        let (kind, signal, path) = match wants.dumps.get(j) {
            Some(Some(DumpMethod::Json { signal })) => ("json", signal, json),
            Some(Some(DumpMethod::Data { signal })) => ("data", signal, data),
            _ => continue,
        };
        // The signal number was read from keepalived's own `--signum`
        // (or is 1.x's SIGUSR1) and checked to be 1..=64.
        s.push_str(&format!(
            "J={}; if [ -n \"$p{pid}\" ]; then \
             rm -f -- \"$J\"; kill -s {signal} \"$p{pid}\" 2>/dev/null; i=0; \
             while [ ! -s \"$J\" ] && [ $i -lt 40 ]; do sleep 0.025; i=$((i+1)); done; sleep 0.02; \
             printf '@@dump {j} {kind} %s\\n' \"$([ -f \"$J\" ] && head -c 1048576 -- \"$J\" 2>/dev/null | base64 -w0)\"; \
             else echo '@@dump {j} none'; fi\n",
            quote(path)
        ));
    }
    s
}

/// Asks the running keepalived behind pid file `i` what it is: its
/// `--version` and whether `--signum=JSON`/`DATA` answer, run from the
/// running binary itself (`/proc/PID/exe`) where the shell may read it,
/// else the `keepalived` on the PATH. Prints `@@ka I PID B64(version)
/// B64(json) B64(data)` (`-` for nothing); nothing when it does not run.
fn detect_script(i: usize) -> String {
    format!(
        "if [ -n \"$p{i}\" ]; then \
         k=/proc/$p{i}/exe; [ -x \"$k\" ] || k=keepalived; \
         v=$(\"$k\" --version 2>&1 </dev/null | head -c 512 | base64 -w0); \
         j=$(\"$k\" --signum=JSON 2>/dev/null </dev/null | head -c 16 | base64 -w0); \
         d=$(\"$k\" --signum=DATA 2>/dev/null </dev/null | head -c 16 | base64 -w0); \
         printf '@@ka {i} %s %s %s %s\\n' \"$p{i}\" \"${{v:--}}\" \"${{j:--}}\" \"${{d:--}}\"; fi\n"
    )
}

/// `@@ka` fields: base64 text, or `-` for nothing.
fn ka_field(f: Option<&str>) -> Option<String> {
    match f {
        None | Some("-") => None,
        Some(b) => b64(b).map(|v| String::from_utf8_lossy(&v).into_owned()),
    }
}

/// A detection line's rest (`PID B64V B64J B64D`): the pid it was asked
/// of, and what keepalived offers.
pub(crate) fn parse_detection(rest: &str) -> (String, KeepalivedInfo) {
    let mut w = rest.split(' ');
    let pid = w.next().unwrap_or_default().to_string();
    let version = ka_field(w.next()).unwrap_or_default();
    let json = ka_field(w.next());
    let data = ka_field(w.next());
    (
        pid,
        version::detect(&version, json.as_deref(), data.as_deref()),
    )
}

/// A dump answer's rest (`json|data B64`) as what it says of each instance.
pub(crate) fn parse_dump(rest: &str) -> Option<(Witness, Result<Vec<InstanceWord>, String>)> {
    let (kind, data) = rest.split_once(' ').unwrap_or((rest, ""));
    let bytes = b64(data).unwrap_or_default();
    let (witness, name) = match kind {
        "json" => (Witness::KeepalivedDump, "JSON dump"),
        "data" => (Witness::KeepalivedData, "data dump"),
        _ => return None,
    };
    if bytes.is_empty() {
        return Some((
            witness,
            Err(format!(
                "keepalived wrote no {name} within 1s of the signal (is its /tmp private?)"
            )),
        ));
    }
    let said = if witness == Witness::KeepalivedDump {
        dump::parse_json_dump(&bytes).map(|v| v.iter().map(InstanceWord::from).collect())
    } else {
        dump::parse_data_dump(&bytes).map(|v| v.iter().map(InstanceWord::from).collect())
    };
    Some((
        witness,
        said.map_err(|e| format!("keepalived's {name} could not be read: {e}")),
    ))
}

/// One state file as read: its mtime and parsed word.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StateRead {
    pub(crate) state: VrrpState,
    pub(crate) raw: Option<String>,
    pub(crate) mtime: Option<i64>,
}

/// `MTIME B64`, `missing` or `special`.
pub(crate) fn parse_state_rest(rest: &str) -> Option<StateRead> {
    match rest.trim() {
        "missing" => Some(StateRead {
            state: VrrpState::Unknown,
            raw: Some("(no state file)".into()),
            mtime: None,
        }),
        "special" => Some(StateRead {
            state: VrrpState::Unknown,
            raw: Some("(not a regular file: not read)".into()),
            mtime: None,
        }),
        r => {
            let (mtime, data) = r.split_once(' ').unwrap_or((r, ""));
            let mtime: i64 = mtime.parse().ok()?;
            let bytes = b64(data)?;
            let (state, raw) = parse_state(&bytes);
            Some(StateRead {
                state,
                raw,
                mtime: Some(mtime),
            })
        }
    }
}

/// A parsed host poll.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    pub(crate) now_ms: Option<i64>,
    pub(crate) pids: BTreeMap<usize, bool>,
    pub(crate) states: BTreeMap<usize, StateRead>,
    /// Conf index → (mtime, content when it changed).
    pub(crate) confs: BTreeMap<usize, (String, Option<String>)>,
    pub(crate) ips: BTreeMap<usize, String>,
    pub(crate) dumps: BTreeMap<usize, (Witness, Result<Vec<InstanceWord>, String>)>,
    pub(crate) locks: BTreeMap<usize, LockSeen>,
    /// Pid file index → the pid asked and what its keepalived offers
    /// (detected this poll).
    pub(crate) keepalived: BTreeMap<usize, (String, KeepalivedInfo)>,
    /// Pid file index → the running pid.
    pub(crate) pid_of: BTreeMap<usize, String>,
}

fn idx_rest(rest: &str) -> Option<(usize, &str)> {
    let (i, r) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((i.parse().ok()?, r))
}

/// One line of `stat -c '%Y %s %n'`: name, mtime, size.
type Stat = (String, i64, u64);

pub(crate) fn parse_answer(output: &str, items: &Items) -> Answer {
    let mut a = Answer::default();
    let mut in_ip: Option<usize> = None;
    // A `stat` block (of confs or not), in order.
    let mut in_stat: Option<(bool, Vec<Stat>)> = None;
    let mut last_stat: Vec<Stat> = Vec::new();
    let index = |list: &[String], name: &str| list.iter().position(|f| f == name);
    for line in output.lines() {
        if let Some(i) = in_ip {
            if line == "@@endip" {
                in_ip = None;
            } else {
                let e = a.ips.entry(i).or_default();
                e.push_str(line);
                e.push('\n');
            }
            continue;
        }
        if let Some((confs, block)) = in_stat.as_mut() {
            if line == "@@end" {
                if *confs {
                    for (name, m, _) in block.iter() {
                        if let Some(i) = index(&items.confs, name) {
                            a.confs.entry(i).or_insert((m.to_string(), None));
                        }
                    }
                }
                last_stat = std::mem::take(block);
                in_stat = None;
            } else {
                let mut w = line.splitn(3, ' ');
                if let (Some(m), Some(z), Some(n)) = (w.next(), w.next(), w.next()) {
                    if let (Ok(m), Ok(z)) = (m.parse(), z.parse()) {
                        block.push((n.to_string(), m, z));
                    }
                }
            }
            continue;
        }
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        match tag {
            "@@lock" => {
                if let Some((i, rest)) = idx_rest(rest) {
                    let seen = match rest.split_once(' ') {
                        Some(("held", content)) => LockInfo::parse(content).seen(),
                        _ if rest == "free" => LockSeen::Free,
                        _ => LockInfo::parse("").seen(),
                    };
                    a.locks.insert(i, seen);
                }
            }
            "@@sstat" | "@@cstat" => {
                in_stat = Some((tag == "@@cstat", Vec::new()));
                continue;
            }
            "@@shead" | "@@chead" => {
                let states = tag == "@@shead";
                let cap = if states { 256 } else { 262_144 };
                let files: Vec<(String, u64)> =
                    last_stat.iter().map(|(n, _, z)| (n.clone(), *z)).collect();
                let blob = b64(rest).unwrap_or_default();
                for (name, bytes) in split_heads(&blob, &files, cap) {
                    let mtime = last_stat.iter().find(|(n, _, _)| *n == name).map(|x| x.1);
                    if states {
                        if let Some(i) = index(&items.states, &name) {
                            let (state, raw) = parse_state(&bytes);
                            a.states.insert(i, StateRead { state, raw, mtime });
                        }
                    } else if let Some(i) = index(&items.confs, &name) {
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        let m = mtime.map(|m| m.to_string()).unwrap_or_default();
                        a.confs.insert(i, (m, Some(text)));
                    }
                }
                continue;
            }
            _ => {}
        }
        if tag == "@@end" {
            continue;
        }
        let Some((i, rest)) = (if tag == "@@now" {
            Some((0, rest))
        } else {
            idx_rest(rest)
        }) else {
            continue;
        };
        match tag {
            "@@now" => a.now_ms = peer_clock_ms(rest),
            "@@pid" => {
                let running = rest != "none" && !rest.is_empty();
                a.pids.insert(i, running);
                if running {
                    a.pid_of.insert(i, rest.to_string());
                }
            }
            "@@state" => {
                if let Some(s) = parse_state_rest(rest) {
                    a.states.insert(i, s);
                }
            }
            "@@conf" => {
                let (mtime, data) = rest.split_once(' ').unwrap_or((rest, ""));
                let text = (mtime != "missing")
                    .then(|| String::from_utf8_lossy(&b64(data).unwrap_or_default()).into_owned());
                a.confs.insert(i, (mtime.to_string(), text));
            }
            "@@confsame" => {
                a.confs.insert(i, (rest.to_string(), None));
            }
            "@@ip" => {
                in_ip = Some(i);
                a.ips.entry(i).or_default();
            }
            "@@dump" if rest == "none" => {}
            "@@dump" => {
                if let Some(d) = parse_dump(rest) {
                    a.dumps.insert(i, d);
                }
            }
            "@@ka" => {
                a.keepalived.insert(i, parse_detection(rest));
            }
            _ => {}
        }
    }
    a
}

/// What the watcher and the poll share about one host.
#[derive(Debug, Default)]
struct Cache {
    /// The watcher has sent its first pass and is still running.
    watcher_up: bool,
    kind: Option<String>,
    /// `ip monitor` runs: cached `ip addr` answers stay true until it
    /// reports a change.
    addr_monitor: bool,
    addr_dirty: bool,
    states: Vec<Option<StateRead>>,
    conf_dirty: Vec<bool>,
    dump_wanted: Vec<bool>,
}

impl Cache {
    fn watcher_kind(&self) -> String {
        match (&self.kind, self.watcher_up) {
            (Some(k), true) if self.addr_monitor => format!("{k} + ip monitor"),
            (Some(k), true) => format!("{k} + ip per poll"),
            _ => "none (poll reads every file)".into(),
        }
    }
}

/// Everything the tasks of one host share.
pub(crate) struct HostWatch {
    pub(crate) target: Target,
    pub(crate) peers: Vec<HostPeer>,
    items: Items,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    /// The peer's clock offset in ms, shared with its log followers.
    pub(crate) clock: Arc<AtomicI64>,
    cache: Mutex<Cache>,
    /// Rung by the watcher: poll now.
    wake: Notify,
    /// True once the first shell answered: the ssh ControlMaster exists,
    /// so every later channel to the host goes through it.
    ready: watch::Sender<bool>,
    tx: mpsc::Sender<Update>,
}

impl HostWatch {
    pub(crate) fn new(
        target: Target,
        peers: Vec<HostPeer>,
        interval: Duration,
        timeout: Duration,
        connect_timeout: Duration,
        tx: mpsc::Sender<Update>,
    ) -> Arc<HostWatch> {
        let items = Items::of(&peers);
        let cache = Cache {
            states: vec![None; items.states.len()],
            conf_dirty: vec![false; items.confs.len()],
            dump_wanted: vec![true; items.dumps.len()],
            ..Default::default()
        };
        Arc::new(HostWatch {
            target,
            peers,
            items,
            interval,
            timeout,
            connect_timeout,
            clock: Arc::new(AtomicI64::new(CLOCK_UNKNOWN)),
            cache: Mutex::new(cache),
            wake: Notify::new(),
            ready: watch::channel(false).0,
            tx,
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits (at most the connect timeout and its margin) until the first
    /// shell answered, so a follower's ssh joins its connection instead of
    /// racing it to open another.
    pub(crate) async fn until_ready(&self) {
        if matches!(self.target, Target::Local) {
            return;
        }
        let mut rx = self.ready.subscribe();
        let _ = tokio::time::timeout(
            self.connect_timeout + CONNECT_MARGIN * 2,
            rx.wait_for(|r| *r),
        )
        .await;
    }

    async fn send(&self, u: Update) -> bool {
        self.tx.send(u).await.is_ok()
    }

    async fn report_down(&self, error: String) -> bool {
        let now = Utc::now();
        for p in &self.peers {
            let u = Update::Peer {
                cluster: p.cluster,
                peer: p.peer,
                observation: PeerObservation::unreachable(now, error.clone()),
            };
            if !self.send(u).await {
                return false;
            }
        }
        true
    }
}

/// Polls every peer of a host forever over one long-lived shell.
pub(crate) async fn poll_host(h: Arc<HostWatch>) {
    let mut shell: Option<Shell> = None;
    let n = &h.items;
    let mut known_conf: Vec<String> = vec![String::new(); n.confs.len()];
    // Confs whose content is wanted: unknown yet, or their mtime changed.
    let mut conf_read: Vec<bool> = vec![true; n.confs.len()];
    let mut conf_text: Vec<Option<String>> = vec![None; n.confs.len()];
    let mut ips: Vec<Option<String>> = vec![None; n.ifaces.len()];
    let mut instance: Vec<Option<String>> = vec![None; h.peers.len()];
    // Per pid file: what its keepalived offers and the pid it was asked
    // of, detected once per shell and again when the pid changes; and the
    // pid the last poll saw.
    let mut keepalived: Vec<Option<KeepalivedInfo>> = vec![None; n.pids.len()];
    let mut detected_for: Vec<Option<String>> = vec![None; n.pids.len()];
    let mut live_pid: Vec<Option<String>> = vec![None; n.pids.len()];
    let mut last_dump = tokio::time::Instant::now();
    let mut last_clock: Option<tokio::time::Instant> = None;
    let mut last_backstop: Option<tokio::time::Instant> = None;
    let mut backoff = h.interval;
    loop {
        let started = tokio::time::Instant::now();
        if shell.is_none() {
            let connected = tokio::time::timeout(
                h.connect_timeout + CONNECT_MARGIN,
                connect(&h.target, h.connect_timeout),
            )
            .await;
            match connected {
                Ok(Ok(sh)) => {
                    shell = Some(sh);
                    // A new shell asks keepalived again.
                    keepalived.iter_mut().for_each(|k| *k = None);
                    detected_for.iter_mut().for_each(|k| *k = None);
                    h.ready.send_replace(true);
                    // A new shell: read everything once.
                    last_backstop = None;
                    last_clock = None;
                }
                Ok(Err(e)) => {
                    if !h.report_down(e).await {
                        return;
                    }
                }
                Err(_) => {
                    let e = format!("no answer within {:?}", h.connect_timeout);
                    if !h.report_down(e).await {
                        return;
                    }
                }
            }
        }
        let mut ok = false;
        if let Some(sh) = shell.as_mut() {
            let backstop = last_backstop.is_none_or(|t| t.elapsed() >= BACKSTOP);
            let wants = {
                let mut c = h.cache();
                let w = Wants {
                    clock: last_clock.is_none_or(|t| t.elapsed() >= CLOCK_EVERY),
                    states: c
                        .states
                        .iter()
                        .map(|s| backstop || !c.watcher_up || s.is_none())
                        .collect(),
                    confs: (0..n.confs.len())
                        .map(|i| {
                            (backstop || !c.watcher_up || c.conf_dirty[i] || conf_read[i])
                                .then(|| known_conf[i].clone())
                        })
                        .collect(),
                    conf_read: conf_read.clone(),
                    ifaces: (0..n.ifaces.len())
                        .map(|i| backstop || !c.addr_monitor || c.addr_dirty || ips[i].is_none())
                        .collect(),
                    // A dump is asked for only once its keepalived is known
                    // (the poll that detects it wakes the next one).
                    dumps: (0..n.dumps.len())
                        .map(|j| {
                            let method = keepalived[n.dumps[j].0].as_ref().map(|k| &k.dump);
                            let due = c.dump_wanted[j] || last_dump.elapsed() >= DUMP_EVERY;
                            match method {
                                Some(m @ (DumpMethod::Json { .. } | DumpMethod::Data { .. }))
                                    if due =>
                                {
                                    Some(m.clone())
                                }
                                _ => None,
                            }
                        })
                        .collect(),
                    detect: (0..n.pids.len())
                        .map(|i| keepalived[i].is_none() || live_pid[i] != detected_for[i])
                        .collect(),
                };
                c.conf_dirty.iter_mut().for_each(|d| *d = false);
                c.addr_dirty = false;
                for (j, asked) in w.dumps.iter().enumerate() {
                    if asked.is_some() {
                        c.dump_wanted[j] = false;
                    }
                }
                w
            };
            let script = poll_script(n, &wants);
            let sent = Utc::now();
            match sh.run(&script, h.timeout).await {
                Ok((out, _)) => {
                    let received = Utc::now();
                    let a = parse_answer(&out, n);
                    if backstop {
                        last_backstop = Some(tokio::time::Instant::now());
                    }
                    if wants.dumps.iter().any(Option::is_some) {
                        last_dump = tokio::time::Instant::now();
                    }
                    for (i, slot) in live_pid.iter_mut().enumerate() {
                        *slot = a.pid_of.get(&i).cloned();
                    }
                    if !a.keepalived.is_empty() {
                        let mut c = h.cache();
                        for (i, (pid, info)) in &a.keepalived {
                            if let Some(slot) = keepalived.get_mut(*i) {
                                *slot = Some(info.clone());
                                detected_for[*i] = Some(pid.clone());
                            }
                            for (j, d) in n.dumps.iter().enumerate() {
                                if d.0 == *i {
                                    c.dump_wanted[j] = true;
                                }
                            }
                        }
                        drop(c);
                        h.wake.notify_one();
                    }
                    if let Some(peer_ms) = a.now_ms {
                        last_clock = Some(tokio::time::Instant::now());
                        let mid = sent + (received - sent) / 2;
                        let offset_ms = peer_ms - mid.timestamp_millis();
                        h.clock.store(offset_ms, Ordering::Relaxed);
                        for p in &h.peers {
                            let u = Update::Clock {
                                cluster: p.cluster,
                                peer: p.peer,
                                at: received,
                                offset_ms,
                            };
                            if !h.send(u).await {
                                return;
                            }
                        }
                    } else if wants.clock {
                        // No usable `date`: the peer's times are taken as ours.
                        last_clock = Some(tokio::time::Instant::now());
                        let _ = h.clock.compare_exchange(
                            CLOCK_UNKNOWN,
                            0,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        );
                    }
                    let offset_ms = h.clock.load(Ordering::Relaxed);
                    for (i, ip) in &a.ips {
                        if let Some(slot) = ips.get_mut(*i) {
                            *slot = Some(ip.clone());
                        }
                    }
                    let mut fresh_conf = vec![false; n.confs.len()];
                    let mut reread = false;
                    for (i, (mtime, text)) in &a.confs {
                        let i = *i;
                        if i >= n.confs.len() {
                            continue;
                        }
                        match text {
                            Some(t) => {
                                conf_text[i] = Some(t.clone());
                                fresh_conf[i] = true;
                                known_conf[i] = mtime.clone();
                                conf_read[i] = false;
                            }
                            None if mtime == "missing" => {
                                known_conf[i] = mtime.clone();
                                conf_read[i] = false;
                            }
                            // Changed since it was read: its content next.
                            None if *mtime != known_conf[i] => {
                                conf_read[i] = true;
                                reread = true;
                            }
                            None => {}
                        }
                    }
                    if reread {
                        h.wake.notify_one();
                    }
                    let (states, kind) = {
                        let mut c = h.cache();
                        for (i, s) in &a.states {
                            // The poll's own read refreshes the cache only
                            // when the watcher is not keeping it.
                            if !c.watcher_up || c.states[*i].is_none() {
                                c.states[*i] = Some(s.clone());
                            }
                        }
                        (c.states.clone(), c.watcher_kind())
                    };
                    for (k, p) in h.peers.iter().enumerate() {
                        let [si, ci, pi, ii, di] = n.of_peer[k];
                        let mut obs = PeerObservation {
                            at: received,
                            reachable: Some(true),
                            watcher: Some(kind.clone()),
                            keepalived_running: a.pids.get(&pi).copied(),
                            failover_lock: a.locks.get(&n.lock_of_peer[k]).cloned(),
                            ..Default::default()
                        };
                        let state = a.states.get(&si).or(states[si].as_ref());
                        if let Some(s) = state {
                            obs.state_file = Some(s.state);
                            obs.state_file_raw = s.raw.clone();
                            obs.last_transition = s
                                .mtime
                                .and_then(|m| Utc.timestamp_opt(m, 0).single())
                                .map(|t| on_our_clock(t, offset_ms));
                        }
                        if let Some(ip) = &ips[ii] {
                            obs.vip_on_nic = Some(vip_in_ip_addr(ip, &p.vip));
                        }
                        if fresh_conf[ci] {
                            if let Some(text) = &conf_text[ci] {
                                let (parsed, errors) = conf::parse_lenient(text, &|_| None);
                                if let Some(e) = errors.first() {
                                    tracing::debug!(cluster = p.cluster, "keepalived.conf: {e}");
                                }
                                if let Some(inst) = instance_for_vip(&parsed, &p.vip) {
                                    obs.priority = inst.priority;
                                    instance[k] = Some(inst.name.clone());
                                    obs.config = Some::<ConfigSummary>(inst.summary());
                                }
                            }
                        }
                        // Sent when detected (connect, restart): the
                        // snapshot keeps it.
                        obs.keepalived = a.keepalived.get(&pi).map(|(_, k)| Box::new(k.clone()));
                        match a.dumps.get(&di) {
                            Some((witness, Ok(instances))) => {
                                let inst = instances
                                    .iter()
                                    .find(|i| Some(&i.iname) == instance[k].as_ref())
                                    .or_else(|| {
                                        instances.iter().find(|i| i.vip_addresses.contains(&p.vip))
                                    })
                                    .or(instances.first());
                                if let Some(i) = inst {
                                    obs.keepalived_state = Some(i.state);
                                    obs.keepalived_state_from = Some(*witness);
                                    if let Some(t) = i.last_transition {
                                        obs.last_transition = Some(on_our_clock(t, offset_ms));
                                    }
                                }
                            }
                            Some((_, Err(e))) => {
                                obs.keepalived_dump_error =
                                    Some(crate::core::sanitize::clip(e, 512));
                            }
                            None => {}
                        }
                        let u = Update::Peer {
                            cluster: p.cluster,
                            peer: p.peer,
                            observation: obs,
                        };
                        if !h.send(u).await {
                            return;
                        }
                    }
                    ok = true;
                    backoff = h.interval;
                }
                Err(e) => {
                    if !h.report_down(format!("{}: {e}", h.target.describe())).await {
                        return;
                    }
                    if let Some(sh) = shell.take() {
                        sh.close().await;
                    }
                }
            }
        }
        let pause = if ok {
            h.interval.saturating_sub(started.elapsed())
        } else {
            backoff = (backoff * 2).min(Duration::from_secs(10));
            backoff
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = h.wake.notified() => {}
        }
        if h.tx.is_closed() {
            return;
        }
    }
}

/// Opens the shell and checks it answers.
pub(crate) async fn connect(target: &Target, timeout: Duration) -> Result<Shell, String> {
    let mut sh = Shell::spawn(target).await.map_err(|e| e.to_string())?;
    match sh.run("echo ok", timeout).await {
        Ok((out, _)) if out.trim() == "ok" => Ok(sh),
        Ok((out, code)) => {
            sh.close().await;
            Err(format!(
                "{}: exit {code}: {}",
                target.describe(),
                crate::core::sanitize::clip(out.trim(), 512)
            ))
        }
        Err(e) => {
            sh.close().await;
            Err(format!("{}: {e}", target.describe()))
        }
    }
}

/// Runs the host's watcher channel forever: state changes go out at once
/// to every peer that reads the file, and wake the poll.
pub(crate) async fn watch_host(h: Arc<HostWatch>) {
    h.until_ready().await;
    let mut rx = transport::follow_ticked(h.target.clone(), watcher_script(&h.items), TICK);
    let mut first_pass = true;
    while let Some(ev) = rx.recv().await {
        let line = match ev {
            FollowEvent::Down(_) => {
                let mut c = h.cache();
                c.watcher_up = false;
                c.addr_monitor = false;
                first_pass = true;
                continue;
            }
            FollowEvent::Line(l) => String::from_utf8_lossy(&l).into_owned(),
        };
        let (tag, rest) = line.split_once(' ').unwrap_or((&line, ""));
        match tag {
            "@@kind" => h.cache().kind = Some(crate::core::sanitize::clip(rest.trim(), 32)),
            "@@amon" => {
                let mut c = h.cache();
                c.addr_monitor = rest == "on";
                // Read once more: the monitor may have started after the
                // last read.
                c.addr_dirty = true;
            }
            "@@ready" => {
                first_pass = false;
                let mut c = h.cache();
                c.watcher_up = true;
                // Read once more now the references exist (see the script).
                c.states.iter_mut().for_each(|s| *s = None);
                c.conf_dirty.iter_mut().for_each(|d| *d = true);
                drop(c);
                h.wake.notify_one();
            }
            "@@c" => {
                let hit = rest.trim().parse::<usize>().ok().is_some_and(|i| {
                    let mut c = h.cache();
                    c.conf_dirty.get_mut(i).map(|d| *d = true).is_some()
                });
                if hit {
                    h.wake.notify_one();
                }
            }
            "@@s" => {
                let Some((i, rest)) = idx_rest(rest) else {
                    continue;
                };
                let Some(read) = parse_state_rest(rest) else {
                    continue;
                };
                if i >= h.items.states.len() {
                    continue;
                }
                let at = Utc::now();
                let offset_ms = h.clock.load(Ordering::Relaxed);
                {
                    let mut c = h.cache();
                    c.states[i] = Some(read.clone());
                    if !first_pass {
                        // A transition: ask keepalived for its own view too.
                        for (k, idx) in h.items.of_peer.iter().enumerate() {
                            if idx[0] == i {
                                let d = h.items.of_peer[k][4];
                                c.dump_wanted[d] = true;
                            }
                        }
                    }
                }
                for (k, p) in h.peers.iter().enumerate() {
                    if h.items.of_peer[k][0] != i {
                        continue;
                    }
                    let observation = PeerObservation {
                        at,
                        state_file: Some(read.state),
                        state_file_raw: read.raw.clone(),
                        last_transition: read
                            .mtime
                            .and_then(|m| Utc.timestamp_opt(m, 0).single())
                            .map(|t| on_our_clock(t, offset_ms)),
                        ..Default::default()
                    };
                    let u = Update::Peer {
                        cluster: p.cluster,
                        peer: p.peer,
                        observation,
                    };
                    if !h.send(u).await {
                        return;
                    }
                }
                if !first_pass {
                    h.wake.notify_one();
                }
            }
            // `ip -o monitor address`: an address came or went.
            _ if !tag.starts_with("@@") => {
                h.cache().addr_dirty = true;
                h.wake.notify_one();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(cluster: usize, state: &str, iface: &str) -> HostPeer {
        HostPeer {
            cluster,
            peer: 0,
            paths: ProbePaths::new(state, "/etc/keepalived/keepalived.conf", iface),
            vip: "192.0.2.100".into(),
            lock: format!("/run/lock/vipdeck-failover-c{cluster}.lock"),
        }
    }

    #[test]
    fn shared_files_are_read_once() {
        let it = Items::of(&[
            peer(0, "/var/keepalived/state", "eth0"),
            peer(1, "/var/keepalived/state2", "eth0"),
            peer(2, "/var/keepalived/state", "eth0"),
        ]);
        assert_eq!(it.states.len(), 2);
        assert_eq!(it.confs.len(), 1);
        assert_eq!(it.ifaces.len(), 1);
        assert_eq!(it.dumps.len(), 1);
        assert_eq!(it.of_peer[2][0], 0);
        assert_eq!(it.of_peer[1][0], 1);
    }

    #[test]
    fn a_steady_poll_forks_nothing() {
        let it = Items::of(&[peer(0, "/s; rm -rf /", "eth0")]);
        let idle = Wants {
            states: vec![false],
            confs: vec![None],
            conf_read: vec![false],
            ifaces: vec![false],
            dumps: vec![None],
            detect: vec![false],
            ..Default::default()
        };
        let s = poll_script(&it, &idle);
        for forks in [
            "$(", "stat -c", "head", "base64", "ip ", "date", "sleep", "|",
        ] {
            assert!(!s.contains(forks), "{forks:?} in {s}");
        }
        let all = Wants {
            clock: true,
            states: vec![true],
            confs: vec![Some(String::new())],
            conf_read: vec![true],
            ifaces: vec![true],
            dumps: vec![Some(DumpMethod::Data { signal: 10 })],
            detect: vec![true],
        };
        let s = poll_script(&it, &all);
        assert!(s.contains("S='/s; rm -rf /'"), "{s}");
        assert!(
            s.contains("@@dump 0 data") && s.contains("kill -s 10"),
            "{s}"
        );
        assert!(s.contains("@@ka 0") && s.contains("@@ip 0") && s.contains("@@now"));
    }

    /// base64 as the peer's `base64 -w0` prints it.
    fn encode(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for k in 0..4 {
                if k <= chunk.len() {
                    out.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn detection_and_dump_answers_name_what_they_got() {
        let enc = |t: &str| encode(t.as_bytes());
        let it = Items::of(&[peer(0, "/s0", "eth0")]);
        // 1.x: a version, and `--signum` answering nothing.
        let out = format!(
            "@@pid 0 4242\n@@ka 0 4242 {} - -\n",
            enc("Keepalived v1.3.5 (03/19,2017)\n")
        );
        let a = parse_answer(&out, &it);
        let (pid, info) = &a.keepalived[&0];
        assert_eq!(pid, "4242");
        assert_eq!(info.version_label(), "1.3.5");
        assert_eq!(info.dump, DumpMethod::Data { signal: 10 });
        assert_eq!(a.pid_of[&0], "4242");
        // A real 2.2.7 data dump, a garbage one, and none at all.
        let data = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/keepalived/real/keepalived-master.data"
        ))
        .expect("fixture");
        let b64 = encode(&data);
        let (w, said) = parse_dump(&format!("data {b64}")).expect("a dump");
        assert_eq!(w, Witness::KeepalivedData);
        assert_eq!(said.expect("parses")[0].state, VrrpState::Master);
        let (_, bad) =
            parse_dump(&format!("data {}", enc("\u{1b}[2J not a dump"))).expect("a dump");
        assert!(bad.expect_err("garbage").contains("could not be read"));
        let (w, none) = parse_dump("json ").expect("a dump");
        assert_eq!(w, Witness::KeepalivedDump);
        assert!(none.expect_err("empty").contains("wrote no JSON dump"));
        assert!(parse_dump("xml AAAA").is_none());
    }

    #[test]
    fn a_busybox_date_without_nanoseconds_still_gives_the_clock() {
        assert_eq!(
            peer_clock_ms("1796540993123456789"),
            Some(1_796_540_993_123)
        );
        assert_eq!(peer_clock_ms("1796540993%N"), Some(1_796_540_993_500));
        assert_eq!(peer_clock_ms("1796540993N\n"), Some(1_796_540_993_500));
        for bad in ["", "%N", "12a4", "-5", &"9".repeat(40)] {
            assert_eq!(peer_clock_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn answers_parse_by_index() {
        let out = "@@now 1795299990123456789\n@@pid 0 4242\n@@pid 1 none\n@@state 1 1795299990 TUFTVEVS\n@@state 0 missing\n@@ip 0\n2: eth0 inet 192.0.2.100/24 scope global eth0\n@@endip\n@@confsame 0 1795000000\n";
        let it = Items::of(&[peer(0, "/s0", "eth0"), peer(1, "/s1", "eth0")]);
        let a = parse_answer(out, &it);
        assert_eq!(a.now_ms, Some(1_795_299_990_123));
        assert_eq!(a.pids.get(&0), Some(&true));
        assert_eq!(a.pids.get(&1), Some(&false));
        assert_eq!(a.states[&1].state, VrrpState::Master);
        assert_eq!(a.states[&1].mtime, Some(1_795_299_990));
        assert_eq!(a.states[&0].state, VrrpState::Unknown);
        assert!(vip_in_ip_addr(&a.ips[&0], "192.0.2.100"));
        assert_eq!(a.confs[&0], ("1795000000".to_string(), None));
    }

    #[test]
    fn bulk_reads_split_by_the_sizes_stat_saw() {
        let files = vec![("/a".to_string(), 6), ("/b".to_string(), 6)];
        let blob = b"==> /a <==\nMASTER\n==> /b <==\nBACKUP";
        let got = split_heads(blob, &files, 256);
        assert_eq!(got[0], ("/a".to_string(), b"MASTER".to_vec()));
        assert_eq!(got[1], ("/b".to_string(), b"BACKUP".to_vec()));
        // /a grew (or imitates /b's header) after stat: /b is not trusted.
        let blob = b"==> /a <==\nMASTER\n==> /b <==\nX\n==> /b <==\nBACKUP";
        let got = split_heads(blob, &files, 256);
        assert_eq!(got.len(), 1, "{got:?}");
        // Capped reads.
        let files = vec![("/a".to_string(), 1000)];
        let blob = [b"==> /a <==\n".as_slice(), &[b'x'; 256]].concat();
        assert_eq!(split_heads(&blob, &files, 256)[0].1.len(), 256);
    }

    #[tokio::test]
    async fn a_first_poll_reads_every_file_in_one_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        let conf = |vip: &str| {
            format!("vrrp_instance VI_1 {{\n interface lo\n virtual_router_id 7\n priority 90\n virtual_ipaddress {{\n {vip}/24\n }}\n}}\n")
        };
        let mut peers = Vec::new();
        for (k, name) in ["a", "b", "odd name"].iter().enumerate() {
            let state = format!("{d}/{name}.state");
            let c = format!("{d}/{name}.conf");
            std::fs::write(&state, ["MASTER", "BACKUP", "FAULT"][k]).expect("write");
            std::fs::write(&c, conf("192.0.2.100")).expect("write");
            let mut paths = ProbePaths::new(&state, &c, "lo");
            paths.pid_file = format!("{d}/none.pid");
            peers.push(HostPeer {
                cluster: k,
                peer: 0,
                paths,
                vip: "192.0.2.100".into(),
                lock: format!("{d}/{name}.lock"),
            });
        }
        // Cluster a: no failover; b: one in progress; the odd one: a file
        // that is no holder, on one line too long to send.
        let holder = crate::core::lockfile::LockInfo::parse(
            r#"{"owner":"ops@jump1","host":"jump1","pid":77,"started":"2026-11-30T10:42:00Z","token":"t0k3n"}"#,
        );
        std::fs::write(
            format!("{d}/b.lock"),
            serde_json::to_string(&holder).expect("json") + "\n",
        )
        .expect("write");
        std::fs::write(format!("{d}/odd name.lock"), "\u{1b}[2J".repeat(600)).expect("write");
        let it = Items::of(&peers);
        let wants = Wants {
            clock: false,
            states: vec![true; 3],
            confs: vec![Some(String::new()); 3],
            conf_read: vec![true; 3],
            ifaces: vec![false],
            dumps: vec![None],
            detect: vec![false],
        };
        let mut sh = Shell::spawn(&Target::Local).await.expect("sh");
        let (out, _) = sh
            .run(&poll_script(&it, &wants), Duration::from_secs(5))
            .await
            .expect("runs");
        let a = parse_answer(&out, &it);
        let words: Vec<VrrpState> = (0..3).map(|i| a.states[&i].state).collect();
        assert_eq!(
            words,
            vec![VrrpState::Master, VrrpState::Backup, VrrpState::Fault],
            "{out}"
        );
        assert!(a.states[&0].mtime.is_some());
        assert_eq!(a.locks[&0], LockSeen::Free, "{out}");
        assert_eq!(a.locks[&1], holder.seen(), "{out}");
        match &a.locks[&2] {
            LockSeen::Held(h) => assert_eq!(h.owner, "unreadable lock content: too-long"),
            other => panic!("{other:?}"),
        }
        for i in 0..3 {
            let (m, text) = &a.confs[&i];
            assert!(m.parse::<i64>().is_ok(), "{m}");
            assert!(
                text.as_deref().is_some_and(|t| t.contains("priority 90")),
                "{out}"
            );
        }
        // A check alone sends the mtime, not the content.
        let known: Vec<Option<String>> = (0..3).map(|i| Some(a.confs[&i].0.clone())).collect();
        let wants = Wants {
            confs: known,
            conf_read: vec![false; 3],
            ..wants
        };
        let (out, _) = sh
            .run(&poll_script(&it, &wants), Duration::from_secs(5))
            .await
            .expect("runs");
        let b = parse_answer(&out, &it);
        for i in 0..3 {
            assert_eq!(b.confs[&i].0, a.confs[&i].0);
            assert_eq!(b.confs[&i].1, None, "{out}");
        }
        sh.close().await;
    }

    /// A PATH of nothing but busybox's applets, as on a peer whose tools
    /// are busybox's.
    fn busybox_path(dir: &std::path::Path) -> String {
        let bb = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("busybox (scripts/install-lab-deps.sh installs busybox-static)");
        let list = std::process::Command::new(bb)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let _ = std::os::unix::fs::symlink(bb, dir.join(applet));
        }
        dir.display().to_string()
    }

    /// The watcher's first pass and a poll reading everything, under `sh`
    /// with `path`: what they tell.
    fn run_scripts(sh: &str, path: &str, d: &str, pid: u32) -> (String, Answer) {
        std::fs::write(format!("{d}/state"), "BACKUP").expect("write");
        std::fs::write(
            format!("{d}/conf"),
            "vrrp_instance VI_1 {\n interface lo\n virtual_router_id 7\n priority 90\n virtual_ipaddress {\n 192.0.2.100/24\n }\n}\n",
        )
        .expect("write");
        std::fs::write(format!("{d}/pid"), format!("{pid}\n")).expect("write");
        let mut paths = ProbePaths::new(&format!("{d}/state"), &format!("{d}/conf"), "lo");
        paths.pid_file = format!("{d}/pid");
        paths.data_dump = format!("{d}/data");
        let it = Items::of(&[HostPeer {
            cluster: 0,
            peer: 0,
            paths,
            vip: "192.0.2.100".into(),
            lock: format!("{d}/lock"),
        }]);
        let run = |script: &str, input: &[u8]| -> String {
            use std::io::Write;
            let mut c = std::process::Command::new(sh)
                .args(["-c", script])
                .env_clear()
                .env("PATH", path)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("sh");
            c.stdin
                .take()
                .expect("stdin")
                .write_all(input)
                .expect("ticks");
            String::from_utf8_lossy(&c.wait_with_output().expect("ends").stdout).into_owned()
        };
        // Two ticks, then the end of input ends the loop.
        let watcher = run(&watcher_script(&it), b"\n\n");
        let all = Wants {
            clock: true,
            states: vec![true],
            confs: vec![Some(String::new())],
            conf_read: vec![true],
            ifaces: vec![true],
            dumps: vec![None],
            detect: vec![true],
        };
        let out = run(&poll_script(&it, &all), b"");
        let a = parse_answer(&out, &it);
        (watcher, a)
    }

    #[test]
    fn the_scripts_tell_the_same_under_dash_and_busybox_applets_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("mkdir");
        let busybox = busybox_path(&bin);
        // keepalived stand-in: a running process whose pid file vipdeck reads.
        let mut standin = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let cases = [
            ("dash", "/usr/local/bin:/usr/bin:/bin".to_string()),
            (&*format!("{busybox}/sh"), busybox.clone()),
        ];
        for (sh, path) in cases {
            let (watcher, a) = run_scripts(sh, &path, &d, standin.id());
            assert!(watcher.contains("@@kind tick"), "{sh}: {watcher}");
            assert!(watcher.contains("@@ready"), "{sh}: {watcher}");
            assert_eq!(a.states[&0].state, VrrpState::Backup, "{sh}");
            assert!(a.states[&0].mtime.is_some(), "{sh}");
            assert_eq!(a.pids.get(&0), Some(&true), "{sh}");
            assert!(
                a.confs[&0]
                    .1
                    .as_deref()
                    .is_some_and(|t| t.contains("priority 90")),
                "{sh}: {:?}",
                a.confs
            );
            assert!(a.ips[&0].contains("127.0.0.1"), "{sh}: {:?}", a.ips);
            let now = chrono::Utc::now().timestamp_millis();
            let clock = a.now_ms.expect("the peer's clock");
            assert!((clock - now).abs() < 5_000, "{sh}: {clock} vs {now}");
            // The stand-in is not keepalived: no signal, and why.
            let (pid, info) = &a.keepalived[&0];
            assert_eq!(pid, &standin.id().to_string(), "{sh}");
            assert!(
                matches!(info.dump, DumpMethod::None { .. }),
                "{sh}: {info:?}"
            );
        }
        let _ = standin.kill();
        let _ = standin.wait();
    }

    #[tokio::test]
    async fn a_killed_keepalived_not_yet_reaped_is_not_running() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        // `sleep 0.1` dies a zombie: its parent (exec'd into `sleep 30`)
        // never reaps it.
        let mut parent = std::process::Command::new("sh")
            .args([
                "-c",
                &format!("sleep 0.1 & echo $! > '{d}/pid'; exec sleep 30"),
            ])
            .spawn()
            .expect("sh");
        let zombie = loop {
            if let Ok(p) = std::fs::read_to_string(format!("{d}/pid")) {
                let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.trim()));
                if stat.is_ok_and(|s| s.contains(") Z ")) {
                    break p;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let mut paths = ProbePaths::new(&format!("{d}/state"), &format!("{d}/conf"), "lo");
        paths.pid_file = format!("{d}/pid");
        let it = Items::of(&[HostPeer {
            cluster: 0,
            peer: 0,
            paths,
            vip: "192.0.2.100".into(),
            lock: format!("{d}/lock"),
        }]);
        let wants = Wants {
            states: vec![false],
            confs: vec![None],
            conf_read: vec![false],
            ifaces: vec![false],
            dumps: vec![None],
            detect: vec![false],
            ..Default::default()
        };
        let mut sh = Shell::spawn(&Target::Local).await.expect("sh");
        let (out, _) = sh
            .run(&poll_script(&it, &wants), Duration::from_secs(5))
            .await
            .expect("runs");
        sh.close().await;
        let _ = parent.kill();
        let _ = parent.wait();
        let a = parse_answer(&out, &it);
        assert_eq!(a.pids.get(&0), Some(&false), "zombie {zombie}: {out}");
    }

    #[test]
    fn the_watcher_loop_calls_only_builtins_until_a_file_changes() {
        let it = Items::of(&[peer(0, "/s", "eth0"), peer(1, "/t", "eth1")]);
        let s = watcher_script(&it);
        let body = s
            .split("while read -r _; do\n")
            .nth(1)
            .and_then(|b| b.split("\ndone").next())
            .expect("the loop");
        for line in body.lines() {
            // `c` is `[ -e ]`, `[ -nt ]`, `[ -ot ]`; `e` and `r` (which fork)
            // run only after `c` said the file changed.
            let checked = line.starts_with("c \"$S")
                || line.starts_with("c \"$C")
                || line.starts_with("n=$((n+1)); if [ $n -ge ")
                || line == "fi";
            let monitor =
                line == "[ -z \"$a\" ] || kill -0 \"$a\" 2>/dev/null || { a=; echo '@@amon off'; }";
            assert!(checked || monitor, "{line}");
        }
        let c = s.lines().find(|l| l.starts_with("c() {")).expect("c");
        // (`||` is a list, a lone `|` a pipeline.)
        let c = c.replace("||", "");
        for forks in ["$(", "stat", "head", "touch", "|"] {
            assert!(!c.contains(forks), "{forks} in {c}");
        }
    }

    #[tokio::test]
    async fn the_watcher_reports_changes_from_builtins_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let conf = dir.path().join("k.conf");
        std::fs::write(&state, "BACKUP").expect("write");
        std::fs::write(&conf, "x").expect("write");
        let mut paths = ProbePaths::new(
            &state.display().to_string(),
            &conf.display().to_string(),
            "lo",
        );
        paths.pid_file = dir.path().join("none.pid").display().to_string();
        let it = Items::of(&[HostPeer {
            cluster: 0,
            peer: 0,
            paths,
            vip: "192.0.2.100".into(),
            lock: dir.path().join("c.lock").display().to_string(),
        }]);
        let mut rx = transport::follow_ticked(Target::Local, watcher_script(&it), TICK);
        async fn next(rx: &mut mpsc::Receiver<FollowEvent>) -> String {
            loop {
                match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                    Ok(Some(FollowEvent::Line(l))) => {
                        let l = String::from_utf8_lossy(&l).into_owned();
                        // (Address events of this machine are not asked for here.)
                        if l.starts_with("@@") {
                            return l;
                        }
                    }
                    Ok(Some(FollowEvent::Down(e))) => panic!("watcher down: {e}"),
                    other => panic!("no line: {other:?}"),
                }
            }
        }
        let mut first = Vec::new();
        loop {
            let l = next(&mut rx).await;
            if l == "@@ready" {
                break;
            }
            first.push(l);
        }
        assert!(first.contains(&"@@kind tick".to_string()), "{first:?}");
        // The references are taken, nothing is read: the poll reads.
        assert!(!first.iter().any(|l| l.starts_with("@@s ")), "{first:?}");
        std::fs::write(&state, "MASTER").expect("write");
        let l = next(&mut rx).await;
        let r = parse_state_rest(l.strip_prefix("@@s 0 ").expect("state line")).expect("parses");
        assert_eq!(r.state, VrrpState::Master);
        std::fs::write(&conf, "y").expect("write");
        // Same second, same size: the mtime's nanoseconds still differ.
        assert_eq!(next(&mut rx).await, "@@c 0");
        std::fs::remove_file(&state).expect("rm");
        assert_eq!(next(&mut rx).await, "@@s 0 missing");
    }
}
