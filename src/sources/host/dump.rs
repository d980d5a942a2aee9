//! keepalived's own word: asking the running keepalived what it is
//! (`--version`, `--signum`), and reading the dump it writes when
//! signalled.

use crate::core::keepalived::dump::{self, InstanceWord};
use crate::core::keepalived::version::{self, DumpMethod, KeepalivedInfo};
use crate::core::model::Witness;
use crate::sources::probe::{b64, dump_refusal, pid_refusal, DUMP_FN, TRUST_FN, UIDS_FN};
use crate::sources::transport::quote;

use super::Items;

/// The shell functions a poll needs before it asks keepalived anything:
/// `ka` (is this pid keepalived run by root?) and, when a dump is wanted,
/// `kd` (signal, then read the dump only if root wrote it since).
pub(super) fn functions(dump: bool) -> String {
    let mut s = TRUST_FN.to_string();
    s.push_str(UIDS_FN);
    if dump {
        s.push_str(DUMP_FN);
    }
    s
}

/// Sets `k{i}` to the pid of pid file `i` when that process is keepalived
/// run by root (see [`TRUST_FN`]); else prints why not, as `@@notka I PID
/// UIDS B64(NAME)`. Only `k{i}` is ever run or signalled.
pub(super) fn trust_script(i: usize) -> String {
    format!(
        "k{i}=; if [ -n \"$p{i}\" ]; then if ka \"$p{i}\"; then k{i}=$p{i}; \
         else printf '@@notka {i} %s %s %s\\n' \"$p{i}\" \"${{u:--}}\" \"$(printf %s \"$c\" | base64 -w0)\"; fi; fi\n"
    )
}

/// [`trust_script`] for each of `pids`; for many, their uids read first in
/// one go (`ku`, then forgotten: `kuo`).
pub(super) fn trust_all(pids: &[usize]) -> String {
    let mut s = String::new();
    let bulk = pids.len() >= PID_BULK_FROM;
    if bulk {
        let list: Vec<String> = pids.iter().map(|p| format!("$p{p}")).collect();
        // Unquoted: each is digits or empty.
        s.push_str(&format!("ku {}\n", list.join(" ")));
    }
    for &p in pids {
        s.push_str(&trust_script(p));
    }
    if bulk {
        s.push_str("kuo\n");
    }
    s
}

/// Asks keepalived (pid file `pid`, trusted by [`trust_script`]) for dump
/// `j` of `kind` (`json`/`data`) at `path` with `signal`: prints `@@dump J
/// KIND B64`, `@@dump J KIND refused WHY`, or `@@dump J none` when there
/// is no keepalived to ask. The signal number was read from keepalived's
/// own `--signum` (or is 1.x's SIGUSR1) and checked to be 1..=64.
pub(super) fn dump_script(j: usize, pid: usize, kind: &str, signal: u8, path: &str) -> String {
    format!(
        "J={}; if [ -n \"$k{pid}\" ]; then kd '@@dump {j} {kind}' \"$J\" {signal} \"$k{pid}\"; \
         else echo '@@dump {j} none'; fi\n",
        quote(path)
    )
}

/// A path `head` prints unquoted in its `==> NAME <==` headers.
pub(super) fn plain(path: &str) -> bool {
    !path.is_empty()
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%=".contains(&b))
}

/// Reads pid file `i` (at `path`) into `p{i}` with builtins: empty unless
/// its process runs. Prints nothing; [`say_pid`] does.
pub(super) fn pid_script(i: usize, path: &str) -> String {
    format!(
        "P={}; p{i}=; [ -f \"$P\" ] && [ -r \"$P\" ] && read -r p{i} < \"$P\"; case ${{p{i}}} in *[!0-9]*) p{i}=;; esac; \
         z=; [ -n \"$p{i}\" ] && {{ read -r _ _ z _ < /proc/$p{i}/stat; }} 2>/dev/null; \
         [ -n \"$p{i}\" ] && [ \"$z\" != Z ] && kill -0 \"$p{i}\" 2>/dev/null || p{i}=\n",
        quote(path)
    )
}

/// Prints `@@pid I PID` or `@@pid I none` unless this shell said so last
/// (in a poll: a dump batch reads pids but says nothing).
pub(super) fn say_pid(i: usize) -> String {
    format!(
        "x=${{p{i}:-none}}; [ \"$x\" = \"${{q{i}-}}\" ] || {{ echo \"@@pid {i} $x\"; q{i}=$x; }}\n"
    )
}

/// From this many pid files on, a process is checked by its `exe` link
/// alone, not by a `read` of its `/proc/PID/stat` (the builtin reads it a
/// byte at a time: a thousand of them cost a poll a third of a second).
pub(super) const PID_BULK_FROM: usize = 64;

/// The bulk form of [`pid_script`], in the poll's `vp` (whose errors go to
/// /dev/null): `p{i}` is the live process of pid file `i`, or empty. A
/// zombie passes `kill -0` but has no `/proc/PID/exe` (its memory is gone),
/// nor has a process another user may not look at: `[ -e ]` is one `stat`
/// and no fork. The pid file is read again only when its last process is
/// gone (a restart writes a new one) or `$RE` asks (every backstop): a
/// thousand pid files read a byte at a time each second cost more than all
/// the rest of a poll.
pub(super) fn pid_read_bulk(i: usize, path: &str) -> String {
    format!(
        "if [ -n \"$p{i}\" ] && [ -z \"$RE\" ] && [ -e \"/proc/$p{i}/exe\" ]; then :; \
         else P={}; p{i}=; [ -f \"$P\" ] && read -r p{i} < \"$P\"; case ${{p{i}}} in *[!0-9]*) p{i}=;; esac; \
         [ -n \"$p{i}\" ] && [ -e \"/proc/$p{i}/exe\" ] || p{i}=; fi\n",
        quote(path)
    )
}

/// Most dumps asked in one batch (the poll's budget starts here).
pub(crate) const DUMP_BATCH_MAX: usize = 2048;

/// Bytes read of one dump.
pub(crate) const DUMP_CAP: u64 = 1 << 20;

/// One dump asked in a batch: its index in `Items::dumps`, and how.
pub(crate) type Asked = (usize, DumpMethod);

/// The kind word, signal and path of dump `j` asked by `method`.
fn how(items: &Items, j: usize, method: &DumpMethod) -> Option<(&'static str, u8, String)> {
    let (_, json, data) = items.dumps.get(j)?;
    match method {
        DumpMethod::Json { signal } => Some(("json", *signal, json.clone())),
        DumpMethod::Data { signal } => Some(("data", *signal, data.clone())),
        DumpMethod::None { .. } => None,
    }
}

/// Asks for every dump of `batch` at once: the pid files involved are
/// read and trusted again (builtins), each keepalived process is
/// signalled once (however many dumps, pid files or clusters name it),
/// then one wait (at most 1 s) for all of them, and one `find`, `stat`
/// and `head | base64` for every dump that came (a dozen processes for
/// any number of dumps). A dump is read only when it is a regular file
/// root owns, written after a marker made before the signals, as `kd`
/// does for one. Prints `@@dump J none` (no keepalived to ask), `@@dump J
/// KIND ` (none came), `@@dump J KIND refused WHY`, or `@@dcand J KIND`
/// for a dump that came, then `@@dstat` (`stat -c '%Y %s %n'` of those
/// root owns) `@@end` and `@@dhead B64` (their bytes, split by those
/// sizes). A path `head` would quote in its headers is asked on its own
/// by `kd` afterwards.
pub(crate) fn batch_script(items: &Items, batch: &[Asked]) -> String {
    let asked: Vec<(usize, usize, &'static str, u8, String)> = batch
        .iter()
        .filter_map(|(j, m)| {
            let (kind, signal, path) = how(items, *j, m)?;
            Some((*j, items.dumps[*j].0, kind, signal, path))
        })
        .collect();
    let (bulk, odd): (Vec<_>, Vec<_>) = asked.iter().partition(|a| plain(&a.4));
    let mut s = functions(!odd.is_empty());
    let mut pids: Vec<usize> = asked.iter().map(|a| a.1).collect();
    pids.sort_unstable();
    pids.dedup();
    if pids.len() >= PID_BULK_FROM {
        // Read afresh (see `vp`).
        s.push_str("{ RE=1\n");
        for &p in &pids {
            s.push_str(&pid_read_bulk(p, &items.pids[p]));
        }
        s.push_str("} 2>/dev/null\n");
    } else {
        for &p in &pids {
            s.push_str(&pid_script(p, &items.pids[p]));
        }
    }
    s.push_str(&trust_all(&pids));
    if !bulk.is_empty() {
        s.push_str("M=$(mktemp 2>/dev/null) || M=\nif [ -z \"$M\" ]; then\n");
        for (j, _, kind, _, _) in &bulk {
            s.push_str(&format!("echo '@@dump {j} {kind} refused nomarker'\n"));
        }
        // The lists grow in a string (`set -- "$@" X` copies it each time);
        // the paths are plain: they split safely.
        s.push_str("else\nA=\n");
        for (j, p, _, _, path) in &bulk {
            s.push_str(&format!(
                "if [ -n \"$k{p}\" ]; then J={}; A=\"$A $J\"; else echo '@@dump {j} none'; fi\n",
                quote(path)
            ));
        }
        // Each process once, whatever the number of dumps naming it.
        s.push_str("set -f; set -- $A; set +f\n[ $# -gt 0 ] && rm -f -- \"$@\"\nS=' '\n");
        let mut signals: Vec<(usize, u8)> = bulk.iter().map(|a| (a.1, a.3)).collect();
        signals.sort_unstable();
        signals.dedup();
        for (p, sig) in signals {
            s.push_str(&format!(
                "if [ -n \"$k{p}\" ]; then case $S in *\" $k{p}:{sig} \"*) ;; *) kill -s {sig} \"$k{p}\" 2>/dev/null; S=\"$S$k{p}:{sig} \";; esac; fi\n"
            ));
        }
        s.push_str(concat!(
            "if [ $# -gt 0 ]; then i=0; while [ $i -lt 40 ]; do w=; for f in \"$@\"; do [ -s \"$f\" ] || { w=1; break; }; done; ",
            "[ -z \"$w\" ] && break; sleep 0.025; i=$((i+1)); done; sleep 0.02; fi\nA=\n",
        ));
        for (j, p, kind, _, path) in &bulk {
            s.push_str(&format!(
                "J={}; if [ -n \"$k{p}\" ]; then if [ ! -e \"$J\" ] && [ ! -L \"$J\" ]; then echo '@@dump {j} {kind} '; \
                 elif [ ! -f \"$J\" ] || [ -L \"$J\" ]; then echo '@@dump {j} {kind} refused owner'; \
                 elif [ \"$M\" -nt \"$J\" ]; then echo '@@dump {j} {kind} refused stale'; \
                 else A=\"$A $J\"; echo '@@dcand {j} {kind}'; fi; fi\n",
                quote(path)
            ));
        }
        // Paths are plain (no blank, no glob): find's lines split safely.
        s.push_str(concat!(
            "set -f; set -- $A; set +f\n",
            "[ $# -gt 0 ] && set -- $(find \"$@\" -maxdepth 0 -type f -user 0 2>/dev/null)\n",
            "echo '@@dstat'; [ $# -gt 0 ] && stat -c '%Y %s %n' -- \"$@\" 2>/dev/null; echo '@@end'\n",
            "[ $# -gt 0 ] && printf '@@dhead %s\\n' \"$(head -v -c 1048576 -- \"$@\" 2>/dev/null | base64 -w0)\"\n",
            "rm -f -- \"$M\"\nfi\n",
        ));
    }
    for (j, p, kind, sig, path) in odd {
        s.push_str(&dump_script(*j, *p, kind, *sig, path));
    }
    s
}

/// A refusal line's rest (`PID UIDS B64(NAME)`): the pid, and what
/// vipdeck knows of its keepalived: nothing it may ask, and why.
pub(crate) fn parse_refusal(rest: &str) -> (String, KeepalivedInfo) {
    let pid = rest.split(' ').next().unwrap_or_default().to_string();
    let info = KeepalivedInfo {
        release: None,
        version_line: String::new(),
        dump: DumpMethod::None {
            reason: pid_refusal(rest),
        },
    };
    (pid, info)
}

/// Asks the running keepalived behind pid file `i` (trusted by
/// [`trust_script`]) what it is: its `--version` and whether
/// `--signum=JSON`/`DATA` answer, run from the running binary itself
/// (`/proc/PID/exe`) where the shell may read it, else the `keepalived`
/// on the PATH. Prints `@@ka I PID B64(version) B64(json) B64(data)` (`-`
/// for nothing); nothing when it does not run or is not keepalived.
pub(super) fn detect_script(i: usize) -> String {
    format!(
        "if [ -n \"$k{i}\" ]; then \
         k=/proc/$k{i}/exe; [ -x \"$k\" ] || k=keepalived; \
         v=$(\"$k\" --version 2>&1 </dev/null | head -c 512 | base64 -w0); \
         j=$(\"$k\" --signum=JSON 2>/dev/null </dev/null | head -c 16 | base64 -w0); \
         d=$(\"$k\" --signum=DATA 2>/dev/null </dev/null | head -c 16 | base64 -w0); \
         printf '@@ka {i} %s %s %s %s\\n' \"$k{i}\" \"${{v:--}}\" \"${{j:--}}\" \"${{d:--}}\"; fi\n"
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

/// A dump answer's rest (`json|data B64`, or `json|data refused WHY`)
/// as what it says of each instance.
pub(crate) fn parse_dump(rest: &str) -> Option<(Witness, Result<Vec<InstanceWord>, String>)> {
    let (kind, data) = rest.split_once(' ').unwrap_or((rest, ""));
    let (witness, name) = match kind {
        "json" => (Witness::KeepalivedDump, "JSON dump"),
        "data" => (Witness::KeepalivedData, "data dump"),
        _ => return None,
    };
    if let Some(why) = dump_refusal(data, name) {
        return Some((witness, Err(why)));
    }
    Some(said(witness, &b64(data).unwrap_or_default()))
}

/// What a dump's bytes say (`kind` is `json` or `data`).
pub(crate) fn said_by(
    kind: &str,
    bytes: &[u8],
) -> Option<(Witness, Result<Vec<InstanceWord>, String>)> {
    let witness = match kind {
        "json" => Witness::KeepalivedDump,
        "data" => Witness::KeepalivedData,
        _ => return None,
    };
    Some(said(witness, bytes))
}

fn said(witness: Witness, bytes: &[u8]) -> (Witness, Result<Vec<InstanceWord>, String>) {
    let name = if witness == Witness::KeepalivedDump {
        "JSON dump"
    } else {
        "data dump"
    };
    if bytes.is_empty() {
        return (
            witness,
            Err(format!(
                "keepalived wrote no {name} within 1s of the signal (is its /tmp private?)"
            )),
        );
    }
    let said = if witness == Witness::KeepalivedDump {
        dump::parse_json_dump(bytes).map(|v| v.iter().map(InstanceWord::from).collect())
    } else {
        dump::parse_data_dump(bytes).map(|v| v.iter().map(InstanceWord::from).collect())
    };
    (
        witness,
        said.map_err(|e| format!("keepalived's {name} could not be read: {e}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keepalived::version::DumpMethod;
    use crate::core::model::VrrpState;
    use crate::sources::host::parse::parse_answer;
    use crate::sources::host::script::{poll_script, Wants};
    use crate::sources::host::tests::{asking_nothing, busybox_path, encode, lone_peer, peer};
    use crate::sources::host::{HostPeer, Items};

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

    /// Issue #24: peers that share a keepalived share its dump: one
    /// signal and one read for any number of clusters naming it; and one
    /// batch asks many dumps with a dozen processes, not a few per dump.
    #[test]
    fn a_shared_keepalived_is_signalled_once_per_batch() {
        let peers: Vec<HostPeer> = (0..5).map(|c| peer(c, "/s0", "eth0")).collect();
        let it = Items::of(&peers);
        assert_eq!(it.dumps.len(), 1);
        let s = batch_script(&it, &[(0, DumpMethod::Json { signal: 36 })]);
        assert_eq!(s.matches("kill -s").count(), 1, "{s}");
        // Two pid files naming one process: signalled once (by its pid).
        let mut a = peer(0, "/s0", "eth0");
        a.paths.pid_file = "/run/a.pid".into();
        let mut b = peer(1, "/s1", "eth0");
        b.paths.pid_file = "/run/b.pid".into();
        let it = Items::of(&[a, b]);
        let m = DumpMethod::Json { signal: 36 };
        let s = batch_script(&it, &[(0, m.clone()), (1, m)]);
        assert!(s.contains("case $S in *\" $k0:36 \"*) ;;"), "{s}");
        assert!(s.contains("case $S in *\" $k1:36 \"*) ;;"), "{s}");
        let batch = &s[s.find("M=$(mktemp").expect("one marker")..];
        for fork in ["find ", "stat -c", "head -v", "base64", "mktemp"] {
            assert_eq!(batch.matches(fork).count(), 1, "{fork} in {s}");
        }
    }

    #[test]
    fn refusals_say_why() {
        let (w, said) = parse_dump("json refused owner").expect("a dump answer");
        assert_eq!(w, Witness::KeepalivedDump);
        let e = said.expect_err("refused");
        assert!(e.contains("not a file owned by root"), "{e}");
        let (_, said) = parse_dump("data refused stale").expect("a dump answer");
        assert!(said.expect_err("refused").contains("older than the signal"));
        let it = Items::of(&[peer(0, "/s0", "eth0")]);
        let out = format!(
            "@@pid 0 4242\n@@notka 0 4242 1000:1000 {}\n@@dump 0 none\n",
            encode(b"sleep")
        );
        let a = parse_answer(&out, &it);
        let why = &a.refused[&0];
        assert!(
            why.contains("pid 4242") && why.contains("\"sleep\" run by uid 1000"),
            "{why}"
        );
        assert!(why.contains("not keepalived run by root"), "{why}");
        let (pid, info) = &a.keepalived[&0];
        assert_eq!(pid, "4242");
        assert!(matches!(&info.dump, DumpMethod::None { reason } if reason == why));
        assert!(a.dumps.is_empty());
        // A name full of escapes is quoted, a uid that is no number dropped.
        let why = pid_refusal(&format!("77 x;y {}", encode(b"\x1b[2Jevil")));
        assert!(why.contains("\"\\u{1b}[2Jevil\""), "{why}");
        assert!(why.contains("an unknown uid"), "{why}");
    }

    /// `(sh, PATH)`: dash with the system's tools, and busybox's `sh` with
    /// busybox's applets alone.
    fn shells(bin: &std::path::Path) -> Vec<(String, String)> {
        std::fs::create_dir_all(bin).expect("bin");
        let busybox = busybox_path(bin);
        vec![
            ("dash".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            (format!("{busybox}/sh"), busybox),
        ]
    }

    fn run_sh(sh: &str, path: &str, script: &str) -> String {
        let out = std::process::Command::new(sh)
            .args(["-c", script])
            .env_clear()
            .env("PATH", path)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .expect("sh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Finding M7: a pid file naming a `sleep` (keepalived died, its pid
    /// went to another program). The poll asked what it is and for its
    /// dump with the signal of the keepalived seen before: the `sleep`
    /// died of it. It is now asked nothing, and the answer says why.
    #[test]
    fn a_pid_file_naming_another_process_is_never_signalled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        let mut planted = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        std::fs::write(format!("{d}/pid"), format!("{}\n", planted.id())).expect("pid");
        let mut peer = lone_peer(&d);
        peer.paths.json_dump = format!("{d}/keepalived.json");
        let it = Items::of(&[peer]);
        let wants = Wants {
            dumps: vec![Some(DumpMethod::Json { signal: 10 })],
            detect: vec![true],
            ..asking_nothing()
        };
        let script = poll_script(&it, &wants);
        for (sh, path) in shells(&dir.path().join("bin")) {
            let out = run_sh(&sh, &path, &script);
            std::thread::sleep(std::time::Duration::from_millis(50));
            let alive = planted.try_wait().expect("try_wait").is_none();
            assert!(alive, "{sh}: the sleep was signalled: {out}");
            let a = parse_answer(&out, &it);
            assert_eq!(a.pids.get(&0), Some(&true), "{sh}: {out}");
            let why = a.refused.get(&0).expect("refused");
            assert!(why.contains("\"sleep\""), "{sh}: {why}");
            assert!(why.contains("not keepalived run by root"), "{sh}: {why}");
            assert!(
                matches!(a.keepalived[&0].1.dump, DumpMethod::None { .. }),
                "{sh}: {out}"
            );
            assert!(a.dumps.is_empty(), "{sh}: {out}");
        }
        let _ = planted.kill();
        let _ = planted.wait();
    }

    /// A keepalived stand-in named `keepalived`: on SIGUSR1 it writes
    /// `dump` to `file`, then runs `after` (as another user would, or an
    /// old file would look). Ready once `ready` exists.
    fn standin(dir: &std::path::Path, file: &str, after: &str) -> std::process::Child {
        let bin = dir.join("standin");
        std::fs::create_dir_all(&bin).expect("dir");
        let script = bin.join("keepalived");
        let dump = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/keepalived/real/keepalived-master.json"
        );
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nF='{file}'\ntrap 'cat \"{dump}\" > \"$F\"; {after}' USR1\n\
                 touch '{file}.ready'\nwhile :; do sleep 1 & wait $!; done\n"
            ),
        )
        .expect("write");
        let st = std::process::Command::new("chmod")
            .arg("755")
            .arg(&script)
            .status()
            .expect("chmod");
        assert!(st.success());
        let child = std::process::Command::new(&script)
            .spawn()
            .expect("standin");
        let ready = format!("{file}.ready");
        for _ in 0..200 {
            if std::path::Path::new(&ready).exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child
    }

    /// Finding M7: the dump was read whoever wrote it (another user can
    /// create `/tmp/keepalived.json`). It is read only when root owns it
    /// and it is not older than the signal; under dash and busybox alike.
    #[test]
    fn a_dump_is_read_only_when_root_wrote_it_after_the_signal() {
        let root = unsafe { libc::geteuid() } == 0;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("keepalived.json").display().to_string();
        let cases = [
            ("true", if root { "ok" } else { "owner" }),
            ("chown 65534 \"$F\"", "owner"),
            (
                "touch -d @1000000000 \"$F\"",
                if root { "stale" } else { "owner" },
            ),
        ];
        for (sh, path) in shells(&dir.path().join("bin")) {
            for (after, want) in cases {
                let mut ka = standin(dir.path(), &file, after);
                let script = format!(
                    "{}kd '@@dump 0 json' '{file}' 10 {}\n",
                    functions(true),
                    ka.id()
                );
                let out = run_sh(&sh, &path, &script);
                let _ = ka.kill();
                let _ = ka.wait();
                let _ = std::fs::remove_file(format!("{file}.ready"));
                let rest = out
                    .trim_end()
                    .strip_prefix("@@dump 0 ")
                    .expect("a dump line");
                let (_, said) = parse_dump(rest).expect("parses");
                match want {
                    "ok" => {
                        let said = said.expect("read");
                        assert_eq!(said[0].state, VrrpState::Master, "{sh} {after}");
                    }
                    "owner" => assert!(
                        said.expect_err("refused")
                            .contains("not a file owned by root"),
                        "{sh} {after}: {out}"
                    ),
                    _ => assert!(
                        said.expect_err("refused").contains("older than the signal"),
                        "{sh} {after}: {out}"
                    ),
                }
            }
        }
    }
}
