//! The remote scripts of a host: the watcher loop that costs the host
//! nothing until a file changes, and the poll that reads what [`Wants`]
//! asks for.

use crate::core::keepalived::version::DumpMethod;
use crate::sources::transport::quote;

use super::dump::{detect_script, dump_script, functions, pid_script, plain, trust_script};
use super::{Items, CONF_TICKS};

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
    let asked = asked_pids(items, wants);
    if wants.detect.contains(&true) {
        s.push_str("R=\n");
    }
    if asked.contains(&true) {
        s.push_str(&functions(wants.dumps.iter().any(Option::is_some)));
    }
    // A zombie passes `kill -0`: a keepalived killed but not yet reaped is
    // not running (its state field in /proc/PID/stat is Z; read with `read`).
    for (i, p) in items.pids.iter().enumerate() {
        s.push_str(&pid_script(i, p));
        if asked[i] {
            s.push_str(&trust_script(i));
        }
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
    // Each cluster's failover lock: someone's failover in progress. Only
    // a regular file is read (a FIFO planted in a world-writable lock
    // directory would block the poll), and at most 1 KiB of it: its
    // first line is reported. Nothing forks while no lock is there.
    for (i, l) in items.locks.iter().enumerate() {
        s.push_str(&format!(
            "L={}; if [ -f \"$L\" ] && [ ! -L \"$L\" ]; then head -c 1024 -- \"$L\" 2>/dev/null | \
             {{ l=; IFS= read -r l || [ ${{#l}} -lt 1024 ] || l=too-long; printf '@@lock {i} held %s\\n' \"$l\"; }}; \
             elif [ -e \"$L\" ] || [ -L \"$L\" ]; then echo '@@lock {i} special'; \
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
        // The failover lock forks a `head` only when a lock file is there.
        assert!(s.contains("if [ -f \"$L\" ] && [ ! -L \"$L\" ]; then head -c 1024"));
        let s: String = s
            .lines()
            .filter(|l| !l.starts_with("L="))
            .collect::<Vec<_>>()
            .join("\n");
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
