//! The remote scripts of a host: the watcher loop that costs the host
//! nothing until a file changes, and the poll that reads what [`Wants`]
//! asks for.

use crate::core::keepalived::version::DumpMethod;
use crate::sources::transport::quote;

use super::dump::{
    detect_script, dump_script, functions, pid_read_bulk, pid_script, plain, say_pid, trust_all,
    PID_BULK_FROM,
};
use super::{Items, CONF_TICKS};

/// From this many state files on, the watcher asks one `find` a tick which
/// files changed instead of comparing each with builtins: a hundred cost
/// the loop less than a fork and a `stat` of each, a thousand most of a
/// core (measured: 200 state files ~7 % of a core either way).
pub(crate) const FIND_FROM: usize = 256;

/// The remote watcher loop for a host's state files and confs. Prints
/// `@@kind`, `@@amon on|off`, then `@@ready`; afterwards a `@@s I MTIME
/// B64` (or `@@s I missing` / `@@s I special`) line when a state file
/// changes, `@@c I` when a conf changes, and `ip -o monitor address`
/// lines (anything not starting with `@@`).
///
/// Each file is compared with a reference file (its mtime taken before it
/// is read) by `[ -nt ]`/`[ -ot ]`, builtins. With fewer than
/// [`FIND_FROM`] state files every one is compared each tick (nothing forks);
/// with more, one `find -cnewer` a tick names those whose status changed
/// since a marker made one to two seconds before (the markers swap every
/// [`CONF_TICKS`] ticks), and only those are compared. A file deleted
/// changes its directory: the directories are in that `find` too, with
/// the confs, every [`CONF_TICKS`] ticks. `@@kind` says which (`tick`, or
/// `find` where `find` has `-H`, `-maxdepth` and `-cnewer`).
pub(crate) fn watcher_script(items: &Items) -> String {
    let mut s = String::new();
    for (i, f) in items.states.iter().enumerate() {
        s.push_str(&format!("S{i}={}\n", quote(f)));
    }
    for (i, f) in items.confs.iter().enumerate() {
        s.push_str(&format!("C{i}={}\n", quote(f)));
    }
    s.push_str(concat!(
        "set -f\n",
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
        // State file I, conf I: compared, reported when changed (the index
        // is always a number this script wrote).
        "ks() { eval \"f=\\$S$1\"; c \"$f\" \"$T/p$f\" && e \"$1\" \"$f\" \"$T/p$f\"; }\n",
        "kc() { eval \"f=\\$C$1\"; c \"$f\" \"$T/p$f\" && { r \"$f\" \"$T/p$f\"; echo \"@@c $1\"; }; }\n",
        // Both markers exist before the references are taken: whatever
        // changes after a reference is newer than the older marker.
        "o=\"$T/ma\"; w=\"$T/mb\"; : > \"$o\"; : > \"$w\"\n",
        "F=\n",
    ));
    // The files `find` can be asked about: plain absolute paths (a name
    // starting with `-` would be an option to it); the rest are compared
    // every tick.
    let findable = |p: &String| p.starts_with('/') && plain(p);
    let many = items.states.len() >= FIND_FROM;
    let mut odd_states = Vec::new();
    let mut odd_confs = Vec::new();
    if many {
        s.push_str("find -H \"$T\" -maxdepth 0 -cnewer \"$o\" -print >/dev/null 2>&1 && F=1\n");
        // What a path `find` names stands for: state files, confs, or a
        // directory holding some.
        let mut arms: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        let mut state_paths = Vec::new();
        let mut slow_paths = Vec::new();
        let dir_of = |p: &str| match p.rfind('/') {
            Some(0) => "/".to_string(),
            Some(k) => p[..k].to_string(),
            None => ".".to_string(),
        };
        for (i, p) in items.states.iter().enumerate() {
            if findable(p) {
                arms.entry(p.clone()).or_default().push(format!("ks {i}"));
                arms.entry(dir_of(p)).or_default().push(format!("ks {i}"));
                state_paths.push(quote(p));
                slow_paths.push(quote(&dir_of(p)));
            } else {
                odd_states.push(i);
            }
        }
        for (i, p) in items.confs.iter().enumerate() {
            if findable(p) {
                arms.entry(p.clone()).or_default().push(format!("kc {i}"));
                arms.entry(dir_of(p)).or_default().push(format!("kc {i}"));
                slow_paths.push(quote(p));
                slow_paths.push(quote(&dir_of(p)));
            } else {
                odd_confs.push(i);
            }
        }
        slow_paths.sort();
        slow_paths.dedup();
        s.push_str("hit() { case \"$1\" in\n");
        for (path, acts) in &arms {
            let mut acts = acts.clone();
            acts.dedup();
            s.push_str(&format!("{}) {};;\n", quote(path), acts.join("; ")));
        }
        s.push_str("esac; }\n");
        // `find` prints one changed path a line; the names are plain.
        let finder = |name: &str, paths: &[String]| {
            format!(
                "{name}() {{ L=$(find -H {} -maxdepth 0 -cnewer \"$o\" -print 2>/dev/null); IFS='\n'; for x in $L; do hit \"$x\"; done; IFS=$D; }}\n",
                paths.join(" ")
            )
        };
        s.push_str("D=$IFS\n");
        s.push_str(&finder("fs", &state_paths));
        s.push_str(&finder("fc", &slow_paths));
    } else {
        odd_states = (0..items.states.len()).collect();
        odd_confs = (0..items.confs.len()).collect();
    }
    s.push_str("if [ -n \"$F\" ]; then echo '@@kind find'; else echo '@@kind tick'; fi\n");
    s.push_str("if command -v ip >/dev/null 2>&1; then ip -o monitor address </dev/null 2>/dev/null & a=$!; echo '@@amon on'; else echo '@@amon off'; fi\n");
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
    // Without `find`, every file is compared every tick.
    let every = |list: &[usize], f: &str| {
        list.iter()
            .map(|i| format!("{f} {i}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let (all_states, all_confs) = (
        every(&(0..items.states.len()).collect::<Vec<_>>(), "ks"),
        every(&(0..items.confs.len()).collect::<Vec<_>>(), "kc"),
    );
    let (odd_s, odd_c) = (every(&odd_states, "ks"), every(&odd_confs, "kc"));
    let or_true = |x: String| if x.is_empty() { ":".to_string() } else { x };
    s.push_str(&format!(
        "ts() {{ {}; }}\ntc() {{ {}; }}\n",
        or_true(all_states),
        or_true(all_confs)
    ));
    if many {
        s.push_str(&format!(
            "os() {{ {}; }}\noc() {{ {}; }}\n",
            or_true(odd_s),
            or_true(odd_c)
        ));
    }
    s.push_str("n=0\necho '@@ready'\nwhile read -r _; do\n");
    if many {
        // keepalived.conf changes rarely and is read by the (1 s) poll
        // anyway: checked every CONF_TICKS ticks, with the directories;
        // then the markers swap (the older one made anew).
        s.push_str(&format!(
            "n=$((n+1))\n\
             if [ -n \"$F\" ]; then fs; os; else ts; fi\n\
             if [ $n -ge {CONF_TICKS} ]; then n=0; if [ -n \"$F\" ]; then fc; oc; : > \"$o\"; x=$o; o=$w; w=$x; else tc; fi; fi\n"
        ));
    } else {
        s.push_str(&format!(
            "n=$((n+1))\nts\nif [ $n -ge {CONF_TICKS} ]; then n=0; tc; fi\n"
        ));
    }
    s.push_str("[ -z \"$a\" ] || kill -0 \"$a\" 2>/dev/null || { a=; echo '@@amon off'; }\ndone\n");
    s
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
    /// The shell already holds [`definitions`] (not its first poll): pid
    /// files and locks that did not change since it said them are not said.
    pub(crate) defined: bool,
    /// Read every pid file again, even those whose process still runs.
    pub(crate) reread_pids: bool,
}

impl Wants {
    /// How many files and processes the poll reads: every pid file is
    /// checked each poll, the rest only when wanted.
    pub(crate) fn items(&self, pids: usize) -> usize {
        let yes = |v: &[bool]| v.iter().filter(|x| **x).count();
        let owners_and_detection = if self.defined { 0 } else { 2 * pids };
        pids + owners_and_detection
            + yes(&self.states)
            + self.confs.iter().filter(|c| c.is_some()).count()
            + yes(&self.conf_read)
            + yes(&self.ifaces)
            + yes(&self.detect)
    }
}

/// The poll script for a host: builtins only, except for what `wants`
/// asks for. Every path is quoted.
pub(crate) fn poll_script(items: &Items, wants: &Wants) -> String {
    let mut s = String::new();
    if wants.clock {
        s.push_str("echo \"@@now $(date +%s%N)\"\n");
    }
    let asked = asked_pids(items, wants);
    if wants.detect.contains(&true) {
        s.push_str("R=\n");
    }
    if asked.contains(&true) {
        s.push_str(&functions(wants.dumps.iter().any(Option::is_some)));
    }
    if !wants.defined {
        s.push_str(&definitions(items));
    }
    // The pid files and the failover locks, by the functions the shell
    // holds: a line only for what changed since the shell last said it.
    s.push_str(if wants.reread_pids { "RE=1; " } else { "RE=; " });
    s.push_str("vp 2>/dev/null; vl\n");
    let trusted: Vec<usize> = (0..asked.len()).filter(|&i| asked[i]).collect();
    s.push_str(&trust_all(&trusted));
    for i in 0..items.pids.len() {
        if wants.detect.get(i) == Some(&true) {
            // Asked once per binary: a keepalived run from the same file
            // (`-ef`: same device and inode) as one asked in this poll is
            // that one's release.
            s.push_str(&format!(
                "sm=; if [ -n \"$k{i}\" ]; then for r in $R; do [ \"/proc/$k{i}/exe\" -ef \"/proc/$r/exe\" ] && {{ sm=$r; break; }}; done; \
                 if [ -n \"$sm\" ]; then echo \"@@kasame {i} $k{i} $sm\"; else R=\"$R $k{i}\"; fi; fi; \
                 if [ -z \"$sm\" ]; then {}; fi\n",
                detect_script(i).trim_end()
            ));
        }
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
        // The list grows in a string (`set -- "$@" X` copies it each time:
        // a thousand files cost dash half a second); plain paths split safely.
        s.push_str("A=\n");
        for i in &states {
            s.push_str(&format!(
                "S={}; if [ -f \"$S\" ]; then A=\"$A $S\"; elif [ -e \"$S\" ]; then echo '@@state {i} special'; else echo '@@state {i} missing'; fi\n",
                quote(&items.states[*i])
            ));
        }
        s.push_str(concat!(
            "set -f; set -- $A; set +f\n",
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
        s.push_str("A=\n");
        for i in &checks {
            s.push_str(&format!(
                "C={}; if [ -e \"$C\" ]; then A=\"$A $C\"; else echo '@@conf {i} missing'; fi\n",
                quote(&items.confs[*i])
            ));
        }
        s.push_str("set -f; set -- $A; set +f\nif [ $# -gt 0 ]; then echo '@@cstat'; stat -c '%Y %s %n' -- \"$@\" 2>/dev/null; echo '@@end'; fi\n");
    }
    let reads: Vec<usize> = (0..items.confs.len())
        .filter(|i| wants.conf_read.get(*i) == Some(&true) && plain(&items.confs[*i]))
        .collect();
    if !reads.is_empty() {
        s.push_str("A=\n");
        for i in &reads {
            s.push_str(&format!(
                "C={}; [ -f \"$C\" ] && A=\"$A $C\"\n",
                quote(&items.confs[*i])
            ));
        }
        s.push_str("set -f; set -- $A; set +f\nif [ $# -gt 0 ]; then echo '@@cstat'; stat -c '%Y %s %n' -- \"$@\" 2>/dev/null; echo '@@end'; printf '@@chead %s\\n' \"$(head -v -c 262144 -- \"$@\" 2>/dev/null | base64 -w0)\"; fi\n");
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
        match wants.dumps.get(j) {
            Some(Some(DumpMethod::Json { signal })) => {
                s.push_str(&dump_script(j, *pid, "json", *signal, json))
            }
            Some(Some(DumpMethod::Data { signal })) => {
                s.push_str(&dump_script(j, *pid, "data", *signal, data))
            }
            _ => {}
        }
    }
    s
}

/// What a host's poll shell defines once (the first poll of each shell):
/// `vp` reads every pid file into `p{i}` and prints `@@pid I PID|none`,
/// `vl` prints `@@lock I ...` for every failover lock, each only when it
/// differs from what this shell printed last (`q{i}`, `l{i}`). Parsed
/// once, not each second: on a host with a thousand pid files the script
/// is most of the poll's work.
fn definitions(items: &Items) -> String {
    let mut s = String::from("vp() {\n");
    // A zombie passes `kill -0`: a keepalived killed but not yet reaped is
    // not running.
    let bulk = items.pids.len() >= PID_BULK_FROM;
    for (i, p) in items.pids.iter().enumerate() {
        if bulk {
            s.push_str(&pid_read_bulk(i, p));
        } else {
            s.push_str(&pid_script(i, p));
        }
        s.push_str(&say_pid(i));
    }
    s.push_str(":\n}\nvl() {\n");
    // Each cluster's failover lock: someone's failover in progress. Only
    // a regular file is read (a FIFO planted in a world-writable lock
    // directory would block the poll), and at most 1 KiB of it: its
    // first line is reported. Nothing forks while no lock is there.
    for (i, l) in items.locks.iter().enumerate() {
        s.push_str(&format!(
            "L={}; if [ -f \"$L\" ] && [ ! -L \"$L\" ]; then x=$(head -c 1024 -- \"$L\" 2>/dev/null | \
             {{ l=; IFS= read -r l || [ ${{#l}} -lt 1024 ] || l=too-long; printf '@@lock {i} held %s' \"$l\"; }}); \
             elif [ -e \"$L\" ] || [ -L \"$L\" ]; then x='@@lock {i} special'; \
             else x='@@lock {i} free'; fi; [ \"$x\" = \"${{l{i}-}}\" ] || {{ printf '%s\\n' \"$x\"; l{i}=$x; }}\n",
            quote(l)
        ));
    }
    // Each cluster's maintenance marker, read as the lock is, with its
    // owner (`stat` of the very file read): anyone can plant one in the
    // lock directory, and only root's or this login's is believed. Nothing
    // forks while no marker is there (this login's uid is asked once).
    for (i, m) in items.marks.iter().enumerate() {
        s.push_str(&format!(
            "L={}; if [ -f \"$L\" ] && [ ! -L \"$L\" ]; then [ -n \"${{vdme-}}\" ] || vdme=$(id -u); x=$( {{ u=$(stat -L -c %u /proc/self/fd/0 2>/dev/null); \
             head -c 1024 | {{ l=; IFS= read -r l || [ ${{#l}} -lt 1024 ] || l=too-long; printf '@@mark {i} held %s %s %s' \"${{u:-?}}\" \"$vdme\" \"$l\"; }}; }} < \"$L\" 2>/dev/null); \
             elif [ -e \"$L\" ] || [ -L \"$L\" ]; then x='@@mark {i} special'; \
             else x='@@mark {i} free'; fi; [ \"$x\" = \"${{mk{i}-}}\" ] || {{ printf '%s\\n' \"$x\"; mk{i}=$x; }}\n",
            quote(m)
        ));
    }
    s.push_str(":\n}\n");
    s
}

/// The pid files whose process the poll asks something (what it is, or
/// a dump): each is checked to be keepalived run by root first.
fn asked_pids(items: &Items, wants: &Wants) -> Vec<bool> {
    let mut asked: Vec<bool> = (0..items.pids.len())
        .map(|i| wants.detect.get(i) == Some(&true))
        .collect();
    for (j, (pid, _, _)) in items.dumps.iter().enumerate() {
        if matches!(wants.dumps.get(j), Some(Some(_))) {
            if let Some(a) = asked.get_mut(*pid) {
                *a = true;
            }
        }
    }
    asked
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::*;
    use crate::core::lockfile::LockSeen;
    use crate::core::model::VrrpState;
    use crate::sources::host::parse::{parse_answer, parse_state_rest, Answer};
    use crate::sources::host::tests::{asking_nothing, busybox_path, lone_peer, peer};
    use crate::sources::host::{HostPeer, TICK};
    use crate::sources::probe::ProbePaths;
    use crate::sources::transport::{self, FollowEvent, Shell, Target};

    /// Issue #24: on a busy machine the first poll of a host of a thousand
    /// peers (six thousand files and processes) took longer than the 3 s
    /// command timeout, and every peer was "no answer within 3s" while the
    /// shell answered. A poll is given time for what it reads; a steady
    /// poll almost none, so a hung host is still found within the timeout.
    #[test]
    fn a_poll_is_given_time_for_what_it_reads() {
        let n = 2000;
        let first = Wants {
            clock: true,
            states: vec![true; n],
            confs: vec![Some(String::new()); n],
            conf_read: vec![true; n],
            ifaces: vec![true],
            dumps: vec![None; n],
            detect: vec![true; n],
            defined: false,
            reread_pids: true,
        };
        let steady = Wants {
            states: vec![false; n],
            confs: vec![None; n],
            conf_read: vec![false; n],
            ifaces: vec![false],
            dumps: vec![None; n],
            detect: vec![false; n],
            defined: true,
            ..Default::default()
        };
        let first_poll = super::super::allowance(first.items(n));
        assert!(first_poll >= Duration::from_secs(3), "{first_poll:?}");
        // The one-shot waits for the first poll of the largest host.
        assert!(super::super::first_poll_allowance(n) >= first_poll);
        let steady = super::super::allowance(steady.items(n));
        assert!(steady <= Duration::from_millis(500), "{steady:?}");
    }

    #[test]
    fn a_steady_poll_forks_nothing() {
        let it = Items::of(&[peer(0, "/s; rm -rf /", "eth0")]);
        let idle = asking_nothing();
        let s = poll_script(&it, &idle);
        // The failover lock forks a `head` only when a lock file is there.
        assert!(s.contains("if [ -f \"$L\" ] && [ ! -L \"$L\" ]; then x=$(head -c 1024"));
        let s: String = s
            .lines()
            .filter(|l| !l.starts_with("L="))
            .collect::<Vec<_>>()
            .join("\n")
            // (`||` is a list, a lone `|` a pipeline.)
            .replace("||", "");
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
            defined: false,
            reread_pids: true,
        };
        let s = poll_script(&it, &all);
        assert!(s.contains("S='/s; rm -rf /'"), "{s}");
        // The signal goes through `kd`, to `k0`: the pid `ka` found to be
        // keepalived run by root.
        assert!(
            s.contains("kd '@@dump 0 data' \"$J\" 10 \"$k0\"") && s.contains("if ka \"$p0\""),
            "{s}"
        );
        assert!(s.contains("@@ka 0") && s.contains("@@ip 0") && s.contains("@@now"));
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
            defined: false,
            reread_pids: true,
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

    /// Review finding: the lock was read with `read < "$L"` after only
    /// `[ -e ]`: a FIFO planted at a lock path (a world-writable
    /// /run/lock) blocked the host's poll for good. It is now reported,
    /// never opened; a link is not followed.
    #[tokio::test]
    async fn a_fifo_at_the_lock_path_does_not_block_the_poll() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        let mut peers = Vec::new();
        for k in 0..3 {
            peers.push(HostPeer {
                lock: format!("{d}/l{k}.lock"),
                ..peer(k, &format!("{d}/state"), "lo")
            });
        }
        let fifo = std::ffi::CString::new(format!("{d}/l0.lock")).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o666) }, 0);
        std::fs::write(format!("{d}/target"), "{}\n").expect("write");
        std::os::unix::fs::symlink(format!("{d}/target"), format!("{d}/l1.lock")).expect("link");
        let it = Items::of(&peers);
        let wants = asking_nothing();
        let mut sh = Shell::spawn(&Target::Local).await.expect("sh");
        let (out, _) = sh
            .run(&poll_script(&it, &wants), Duration::from_secs(3))
            .await
            .expect("the poll answers despite the FIFO");
        let a = parse_answer(&out, &it);
        for i in 0..2 {
            match &a.locks[&i] {
                LockSeen::Held(h) => assert!(h.owner.contains("not a regular file"), "{out}"),
                other => panic!("{other:?}: {out}"),
            }
        }
        assert_eq!(a.locks[&2], LockSeen::Free, "{out}");
        sh.close().await;
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
            defined: false,
            reread_pids: true,
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
        let it = Items::of(&[lone_peer(&d)]);
        let wants = asking_nothing();
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

    /// From [`PID_BULK_FROM`] pid files on, a process is checked by its
    /// `exe` link alone: the same answers as the builtin reads, a zombie
    /// included.
    #[tokio::test]
    async fn many_pid_files_tell_the_same_by_the_exe_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        let mut parent = std::process::Command::new("sh")
            .args([
                "-c",
                &format!("sleep 0.1 & echo $! > '{d}/zombie'; exec sleep 30"),
            ])
            .spawn()
            .expect("sh");
        let zombie = loop {
            if let Ok(p) = std::fs::read_to_string(format!("{d}/zombie")) {
                let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.trim()));
                if stat.is_ok_and(|s| s.contains(") Z ")) {
                    break p;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let n = PID_BULK_FROM + 2;
        let peers: Vec<HostPeer> = (0..n)
            .map(|i| {
                let p = format!("{d}/p{i}");
                std::fs::create_dir_all(&p).expect("mkdir");
                // 0: the zombie; 1: no pid file; 2: garbage; the rest: alive.
                match i {
                    0 => std::fs::write(format!("{p}/pid"), &zombie).expect("write"),
                    1 => {}
                    2 => std::fs::write(format!("{p}/pid"), "12x\n").expect("write"),
                    _ => std::fs::write(format!("{p}/pid"), format!("{}\n", parent.id()))
                        .expect("write"),
                }
                let mut lone = lone_peer(&p);
                lone.cluster = i;
                lone
            })
            .collect();
        let it = Items::of(&peers);
        assert_eq!(it.pids.len(), n);
        let idle = Wants {
            states: vec![false; n],
            confs: vec![None; it.confs.len()],
            conf_read: vec![false; it.confs.len()],
            ifaces: vec![false],
            dumps: vec![None; it.dumps.len()],
            detect: vec![false; n],
            ..Default::default()
        };
        let script = poll_script(&it, &idle);
        assert!(script.contains("[ -e \"/proc/$p0/exe\" ]"), "{script}");
        let mut sh = Shell::spawn(&Target::Local).await.expect("sh");
        let (out, _) = sh.run(&script, Duration::from_secs(5)).await.expect("runs");
        let a = parse_answer(&out, &it);
        for i in 0..n {
            assert_eq!(a.pids.get(&i), Some(&(i >= 3)), "pid file {i}: {out}");
        }
        // The same shell again: it says only what changed.
        let again = |w: &Wants| {
            let mut w = w.clone();
            w.defined = true;
            poll_script(&it, &w)
        };
        let steady = again(&idle);
        assert!(!steady.contains("grep"), "defined once: {steady}");
        let (out, _) = sh.run(&steady, Duration::from_secs(5)).await.expect("runs");
        assert!(!out.contains("@@pid") && !out.contains("@@lock"), "{out}");
        // A lock taken, a keepalived gone: said at the next poll.
        let mut gone = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        std::fs::write(format!("{d}/p5/pid"), format!("{}\n", gone.id())).expect("write");
        let reread = again(&Wants {
            reread_pids: true,
            ..idle.clone()
        });
        let (out, _) = sh.run(&reread, Duration::from_secs(5)).await.expect("runs");
        assert_eq!(
            parse_answer(&out, &it).pids.get(&5),
            Some(&true),
            "the backstop reads every pid file: {out}"
        );
        let _ = gone.kill();
        let _ = gone.wait();
        std::fs::write(format!("{d}/p4/lock"), "failover by someone\n").expect("write");
        let (out, _) = sh.run(&steady, Duration::from_secs(5)).await.expect("runs");
        let a = parse_answer(&out, &it);
        assert_eq!(a.pids.len(), 1, "{out}");
        assert_eq!(a.pids.get(&5), Some(&false), "{out}");
        assert_eq!(a.locks.len(), 1, "{out}");
        // A pid file rewritten while its old process still runs: read at
        // the next backstop.
        std::fs::write(format!("{d}/p3/pid"), &zombie).expect("write");
        let (out, _) = sh.run(&steady, Duration::from_secs(5)).await.expect("runs");
        assert!(!out.contains("@@pid"), "{out}");
        let (out, _) = sh.run(&reread, Duration::from_secs(5)).await.expect("runs");
        let a = parse_answer(&out, &it);
        assert_eq!(a.pids.get(&3), Some(&false), "{out}");
        sh.close().await;
        let _ = parent.kill();
        let _ = parent.wait();
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
            // `ts`/`tc` compare every state file / conf with `ks`/`kc`.
            let checked = line == "n=$((n+1))"
                || line == "ts"
                || line.starts_with("if [ $n -ge ") && line.ends_with("then n=0; tc; fi");
            let monitor =
                line == "[ -z \"$a\" ] || kill -0 \"$a\" 2>/dev/null || { a=; echo '@@amon off'; }";
            assert!(checked || monitor, "{line}");
        }
        let def = |name: &str| {
            s.lines()
                .find(|l| l.starts_with(&format!("{name}() {{")))
                .unwrap_or_else(|| panic!("{name} in {s}"))
                .replace("||", "")
                .replace("&&", "")
        };
        assert_eq!(def("ts"), "ts() { ks 0; ks 1; }");
        assert_eq!(def("tc"), "tc() { kc 0; }");
        // `c` is `[ -e ]`, `[ -nt ]`, `[ -ot ]`; `e` and `r` (which fork)
        // run only after `c` said the file changed. (`||` is a list, a lone
        // `|` a pipeline.)
        for f in ["c", "ks"] {
            for forks in ["$(", "stat", "head", "touch", "find", "|"] {
                assert!(!def(f).contains(forks), "{forks} in {}", def(f));
            }
        }
        assert!(!s.contains("find -H"), "{s}");
    }

    /// From [`FIND_FROM`] state files on, one `find` a tick names the changed
    /// files; it is the only process the loop starts while nothing changes.
    #[test]
    fn a_large_watcher_forks_one_find_a_tick() {
        let peers: Vec<HostPeer> = (0..FIND_FROM)
            .map(|i| peer(i, &format!("/v/k{i}/state"), "eth0"))
            .collect();
        let s = watcher_script(&Items::of(&peers));
        let body = s
            .split("while read -r _; do\n")
            .nth(1)
            .and_then(|b| b.split("\ndone").next())
            .expect("the loop");
        assert!(body.contains("then fs; os; else ts; fi"), "{body}");
        let fs = s.lines().find(|l| l.starts_with("fs() {")).expect("fs");
        assert!(fs.contains("find -H /v/k0/state /v/k1/state"), "{fs}");
        assert!(
            !fs.contains("/v/k0 "),
            "directories only every second: {fs}"
        );
        assert!(s.contains("\n/v/k3) ks 3;;\n"), "{s}");
    }

    /// What the watcher over `n` state files (and one conf) in `dir` says
    /// as files change, are deleted and come back, within 5 s each.
    async fn watch_changes(n: usize, kind: &str) {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("k.conf");
        std::fs::write(&conf, "x").expect("write");
        let state = |i: usize| dir.path().join(format!("p{i}/state"));
        let peers: Vec<HostPeer> = (0..n)
            .map(|i| {
                std::fs::create_dir_all(dir.path().join(format!("p{i}"))).expect("mkdir");
                std::fs::write(state(i), "BACKUP").expect("write");
                let mut paths = ProbePaths::new(
                    &state(i).display().to_string(),
                    &conf.display().to_string(),
                    "lo",
                );
                paths.pid_file = dir.path().join("none.pid").display().to_string();
                HostPeer {
                    cluster: i,
                    peer: 0,
                    paths,
                    vip: "192.0.2.100".into(),
                    lock: dir.path().join("c.lock").display().to_string(),
                }
            })
            .collect();
        let it = Items::of(&peers);
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
        assert!(first.contains(&format!("@@kind {kind}")), "{first:?}");
        // The references are taken, nothing is read: the poll reads.
        assert!(!first.iter().any(|l| l.starts_with("@@s ")), "{first:?}");
        let last = n - 1;
        for (i, word, want) in [
            (last, "MASTER", VrrpState::Master),
            (0, "FAULT", VrrpState::Fault),
            (last, "BACKUP", VrrpState::Backup),
        ] {
            std::fs::write(state(i), word).expect("write");
            let l = next(&mut rx).await;
            let rest = l
                .strip_prefix(&format!("@@s {i} "))
                .unwrap_or_else(|| panic!("{word}: {l}"));
            assert_eq!(parse_state_rest(rest).expect("parses").state, want);
        }
        std::fs::write(&conf, "y").expect("write");
        // Same second, same size: the mtime's nanoseconds still differ.
        assert_eq!(next(&mut rx).await, "@@c 0");
        std::fs::remove_file(state(last)).expect("rm");
        assert_eq!(next(&mut rx).await, format!("@@s {last} missing"));
        std::fs::write(state(last), "MASTER").expect("write");
        let l = next(&mut rx).await;
        assert!(l.starts_with(&format!("@@s {last} ")), "{l}");
        // A file put in place by a rename, with an old mtime (`mv`, `cp
        // -p`): its status changed, so it is seen.
        let old = dir.path().join("old");
        std::fs::write(&old, "FAULT").expect("write");
        let t = std::fs::metadata(state(0))
            .and_then(|m| m.modified())
            .expect("mtime");
        std::fs::File::options()
            .write(true)
            .open(&old)
            .and_then(|f| f.set_modified(t - Duration::from_secs(3600)))
            .expect("set mtime");
        std::fs::rename(&old, state(0)).expect("mv");
        let l = next(&mut rx).await;
        let rest = l.strip_prefix("@@s 0 ").unwrap_or_else(|| panic!("{l}"));
        assert_eq!(
            parse_state_rest(rest).expect("parses").state,
            VrrpState::Fault
        );
    }

    #[tokio::test]
    async fn the_watcher_reports_changes_from_builtins_alone() {
        watch_changes(1, "tick").await;
    }

    #[tokio::test]
    async fn a_large_watcher_reports_the_same_changes_through_find() {
        watch_changes(FIND_FROM + 8, "find").await;
    }
}
