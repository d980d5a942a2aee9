//! The shell text vipdeck runs on the peers during a failover: the lock
//! file scripts, the gratuitous ARP, the line appended to each peer's log.
//! The planner shows these texts, the executor runs them, the lock module
//! parses their answers; all three take them from here. Every value is
//! quoted: nothing from a config or a record is ever run as code.

use crate::sources::transport::quote;

use super::lock::TakeOver;

/// The command that re-announces `vip` from `iface` (iputils `arping`,
/// Debian package `iputils-arping`).
pub(crate) fn garp_command(iface: &str, vip: &str) -> String {
    let (i, v) = (quote(iface), quote(vip));
    // One announcement waited for (arping's exit says it was sent), two more
    // in the background against loss: the VPC takes one claim per device
    // per 5 s anyway, so waiting for all three would only add seconds.
    format!(
        "command -v arping >/dev/null 2>&1 || {{ echo 'arping not found (install iputils-arping)'; exit 127; }}; \
         arping -U -c 1 -I {i} {v} && {{ arping -U -c 2 -I {i} {v} >/dev/null 2>&1 & }}"
    )
}

/// How much of a lock file is read: a holder is a few hundred bytes.
pub(crate) const READ_CAP: usize = 4096;

/// Shell that prints `ERROR ...` when the lock at `p` cannot be used by
/// this login: no directory (when `create`, one whose parent this login
/// can write in is made, 0755, and a read finds it free), directory not
/// writable, file not readable. The paths are `printf` arguments,
/// single-quoted: never inside double quotes, where a `$(…)` in them would
/// run. Ends in `el`, to go on with `if`.
fn lock_denied(p: &str, create: bool) -> String {
    let path = std::path::Path::new(p);
    let dir = path
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| "/".into());
    let parent = std::path::Path::new(&dir)
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| "/".into());
    let (d, up, p) = (quote(&dir), quote(&parent), quote(p));
    let can_make = format!("[ ! -d {d} ] && [ ! -L {d} ] && [ -d {up} ] && [ -w {up} ]");
    let missing = if create {
        format!("{can_make} && mkdir -m 0755 {d} 2>/dev/null; if [ ! -d {d} ]; then ")
    } else {
        format!("if {can_make}; then echo FREE; elif [ ! -d {d} ]; then ")
    };
    format!(
        "{missing}printf 'ERROR lock directory %s does not exist on %s (set [failover] lock_dir or VIPDECK_LOCK_DIR)\\n' {d} \"$(hostname)\"; \
         elif [ -f {p} ] && [ ! -L {p} ] && [ ! -r {p} ]; then printf 'ERROR lock file %s is not readable by %s on %s\\n' {p} \"$(id -un)\" \"$(hostname)\"; \
         elif [ ! -w {d} ] || [ ! -x {d} ]; then printf 'ERROR lock directory %s is not writable by %s on %s (set [failover] lock_dir or VIPDECK_LOCK_DIR)\\n' {d} \"$(id -un)\" \"$(hostname)\"; \
         el"
    )
}

/// What is at lock path `p`, which exists: `HELD kind=link` or
/// `HELD kind=special` (never followed nor opened), or `HELD uid=U me=M
/// sum=S` and the first [`READ_CAP`] bytes. The owner is read from the
/// very file read (its open descriptor), so a swap in between cannot lend
/// one file's owner to another's content.
fn lock_report(p: &str) -> String {
    let p = quote(p);
    format!(
        "if [ -L {p} ]; then echo 'HELD kind=link'; elif [ ! -f {p} ]; then echo 'HELD kind=special'; \
         else {{ u=$(stat -L -c %u /proc/self/fd/0 2>/dev/null || {{ set -- $(ls -lnL /proc/self/fd/0 2>/dev/null); echo \"$3\"; }}); \
         c=$(head -c {READ_CAP}); }} < {p}; \
         printf 'HELD uid=%s me=%s sum=%s\\n' \"$u\" \"$(id -u)\" \"$(printf '%s' \"$c\" | cksum)\"; printf '%s\\n' \"$c\"; fi"
    )
}

/// Reads the lock at `path`: prints `FREE`, or what is there
/// ([`lock_report`]), or `ERROR` and why this login could not take it.
pub(crate) fn lock_read_at(path: &str) -> String {
    let denied = lock_denied(path, false);
    let report = lock_report(path);
    let p = quote(path);
    format!("{denied}if [ -e {p} ] || [ -L {p} ]; then {report}; else echo FREE; fi")
}

/// Takes the lock at `path` atomically, writing `content` (the holder, as
/// JSON), making its directory if missing; with `take_over`, first removes
/// the lock that was read (a stale or suspect one the operator overrode):
/// only if its token, its checksum or its kind are still what was seen.
/// Prints `ACQUIRED`, or what holds it, or `ERROR` and why.
pub(crate) fn lock_acquire_at(path: &str, content: &str, take_over: Option<&TakeOver>) -> String {
    let denied = lock_denied(path, true);
    let report = lock_report(path);
    let p = quote(path);
    let content = quote(content);
    let take_over = match take_over {
        Some(TakeOver::Token(tok)) => format!(
            "if [ -f {p} ] && [ ! -L {p} ] && head -c {READ_CAP} {p} | grep -qF {t}; then rm -f {p}; fi; ",
            t = quote(&format!("\"token\":\"{tok}\""))
        ),
        Some(TakeOver::Sum(sum)) => format!(
            "if [ -f {p} ] && [ ! -L {p} ]; then c=$(head -c {READ_CAP} {p}); \
             if [ \"$(printf '%s' \"$c\" | cksum)\" = {sum} ]; then rm -f {p}; fi; fi; ",
            sum = quote(sum)
        ),
        Some(TakeOver::NotAFile) => {
            format!("if [ -L {p} ] || {{ [ -e {p} ] && [ ! -f {p} ]; }}; then rm -f {p}; fi; ")
        }
        None => String::new(),
    };
    // Errors are shown, never hidden: EACCES is not "held".
    format!(
        "{denied}if [ 1 ]; then {take_over}if err=$( ( set -C; printf '%s\\n' {content} > {p} ) 2>&1 ); \
         then echo ACQUIRED; elif [ -e {p} ] || [ -L {p} ]; then {report}; \
         else printf 'ERROR cannot create %s: %s\\n' {p} \"$err\"; fi; fi"
    )
}

/// Removes the lock at `path` only if it is ours.
pub(crate) fn lock_release_at(path: &str, token: &str) -> String {
    let p = quote(path);
    let t = quote(&format!("\"token\":\"{token}\""));
    format!(
        "if [ -f {p} ] && [ ! -L {p} ] && head -c {READ_CAP} {p} | grep -qF {t}; then rm -f {p} && echo RELEASED; else echo NOT_OURS; fi"
    )
}

/// Appends `line` to `log_file` with the peer's local time.
pub(crate) fn peer_log(log_file: &str, line: &str) -> String {
    format!(
        "printf '[%s] %s\\n' \"$(date '+%Y-%m-%d %H:%M:%S')\" {} >> {}",
        quote(line),
        quote(log_file)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_garp_command_quotes_its_values() {
        let c = garp_command("eth0; reboot", "192.0.2.10");
        assert!(c.contains("-I 'eth0; reboot' 192.0.2.10"), "{c}");
        assert!(c.contains("arping -U -c 1"));
        assert!(c.contains("iputils-arping"));
    }

    fn sh(script: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// L1: the lock directory (from `VIPDECK_LOCK_DIR` or the config) was
    /// put inside double quotes in the error messages, so a `$(…)` in it
    /// ran on the peer.
    #[test]
    fn a_lock_dir_with_shell_syntax_is_inert() {
        let tmp = tempfile::tempdir().expect("tmp");
        let marker = tmp.path().join("ran");
        let dir = format!(
            "{}/no-such-dir$(touch {})",
            tmp.path().display(),
            marker.display()
        );
        let path = crate::core::lockfile::lock_path_in(&dir, "c1");
        for script in [
            lock_read_at(&path),
            lock_acquire_at(&path, "{}", None),
            lock_acquire_at(&path, "{}", Some(&TakeOver::Token("tok".into()))),
        ] {
            let out = sh(&script);
            assert!(!marker.exists(), "ran: {script}");
            assert!(out.starts_with("ERROR lock directory"), "{out}");
            assert!(out.contains("no-such-dir$(touch "), "said as it is: {out}");
        }
    }

    /// The lock scripts on the shells peers have: dash (Debian), bash
    /// (CentOS 7) and busybox's ash, with their own `stat`, `ls`, `head`
    /// and `cksum`.
    #[test]
    fn the_lock_scripts_run_on_dash_bash_and_busybox() {
        use crate::failover::lock::{parse_acquire, parse_read, LockView};
        let shells: [&[&str]; 3] = [&["dash"], &["bash"], &["busybox", "sh"]];
        for shell in shells {
            let here = std::process::Command::new(shell[0])
                .arg("-c")
                .arg("true")
                .status();
            if !here.is_ok_and(|s| s.success()) {
                continue;
            }
            let run = |script: &str| {
                // busybox's applets, not the system's, when it is the shell.
                let path = if shell[0] == "busybox" {
                    let bin = tempfile::tempdir().expect("bin");
                    for applet in [
                        "stat", "ls", "head", "cksum", "mkdir", "rm", "grep", "id", "hostname",
                    ] {
                        let _ =
                            std::os::unix::fs::symlink("/usr/bin/busybox", bin.path().join(applet))
                                .or_else(|_| {
                                    std::os::unix::fs::symlink(
                                        "/bin/busybox",
                                        bin.path().join(applet),
                                    )
                                });
                    }
                    Some(bin)
                } else {
                    None
                };
                let mut c = std::process::Command::new(shell[0]);
                c.args(&shell[1..]).arg("-c").arg(script);
                if let Some(bin) = &path {
                    c.env(
                        "PATH",
                        format!(
                            "{}:{}",
                            bin.path().display(),
                            std::env::var("PATH").unwrap_or_default()
                        ),
                    );
                }
                let out = c.output().expect("shell");
                String::from_utf8_lossy(&out.stdout).into_owned()
            };
            let tmp = tempfile::tempdir().expect("tmp");
            let path = crate::core::lockfile::lock_path_in(
                &tmp.path().join("new").display().to_string(),
                "c1",
            );
            assert_eq!(
                parse_read(&run(&lock_read_at(&path))),
                LockView::Free,
                "{shell:?}"
            );
            let out = run(&lock_acquire_at(&path, "not a holder", None));
            assert_eq!(parse_acquire(&out), Ok(()), "{shell:?}: {out}");
            let out = run(&lock_read_at(&path));
            assert!(out.starts_with("HELD uid="), "{shell:?}: {out}");
            let LockView::Suspect(s) = parse_read(&out) else {
                panic!("{shell:?}: {out}")
            };
            assert!(s.why.contains("not a vipdeck lock"), "{shell:?}: {s:?}");
            let out = run(&lock_acquire_at(&path, "{}", Some(&s.take_over)));
            assert_eq!(parse_acquire(&out), Ok(()), "{shell:?}: taken over: {out}");
            assert_eq!(std::fs::read_to_string(&path).expect("ours"), "{}\n");
        }
    }

    #[test]
    fn the_peer_line_is_quoted_data() {
        let script = peer_log(
            "/var/log/keepalived.log",
            "vipdeck: failover web'; reboot; '",
        );
        assert!(script.contains("'vipdeck: failover web'\\''; reboot;"));
        assert!(script.ends_with(">> /var/log/keepalived.log"));
    }
}
