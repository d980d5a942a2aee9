//! The shell text vipdeck runs on the peers during a failover: the lock
//! file scripts, the gratuitous ARP, the line appended to each peer's log.
//! The planner shows these texts, the executor runs them, the lock module
//! parses their answers; all three take them from here. Every value is
//! quoted: nothing from a config or a record is ever run as code.

use crate::core::lockfile::lock_path;
use crate::sources::transport::quote;

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

/// Shell that prints `ERROR ...` when the lock at `p` cannot be used by
/// this login: no directory, directory not writable, file not readable.
/// The paths are `printf` arguments, single-quoted: never inside double
/// quotes, where a `$(…)` in them would run.
fn lock_denied(p: &str) -> String {
    let dir = std::path::Path::new(p)
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| "/".into());
    let (d, p) = (quote(&dir), quote(p));
    format!(
        "if [ ! -d {d} ]; then printf 'ERROR lock directory %s does not exist on %s (set VIPDECK_LOCK_DIR)\\n' {d} \"$(hostname)\"; \
         elif [ -e {p} ] && [ ! -r {p} ]; then printf 'ERROR lock file %s is not readable by %s on %s\\n' {p} \"$(id -un)\" \"$(hostname)\"; \
         elif [ ! -w {d} ] || [ ! -x {d} ]; then printf 'ERROR lock directory %s is not writable by %s on %s (set VIPDECK_LOCK_DIR)\\n' {d} \"$(id -un)\" \"$(hostname)\"; \
         el"
    )
}

/// Reads the lock: prints `FREE`, or `HELD` and the content, or `ERROR`
/// and why this login could not take it.
pub(crate) fn lock_read(cluster: &str) -> String {
    lock_read_at(&lock_path(cluster))
}

pub(crate) fn lock_read_at(path: &str) -> String {
    let denied = lock_denied(path);
    let p = quote(path);
    format!("{denied}if [ -e {p} ]; then echo HELD; cat {p}; else echo FREE; fi")
}

/// Takes the lock atomically, writing `content` (the holder, as JSON);
/// with `take_over_token` first removes a lock whose token is exactly that
/// (a stale lock the operator overrode). Prints `ACQUIRED`, or `HELD` and
/// the holder.
pub(crate) fn lock_acquire(cluster: &str, content: &str, take_over_token: Option<&str>) -> String {
    lock_acquire_at(&lock_path(cluster), content, take_over_token)
}

pub(crate) fn lock_acquire_at(path: &str, content: &str, take_over_token: Option<&str>) -> String {
    let denied = lock_denied(path);
    let p = quote(path);
    let content = quote(content);
    let take_over = match take_over_token {
        Some(tok) => format!(
            "if [ -e {p} ] && grep -qF {t} {p}; then rm -f {p}; fi; ",
            t = quote(&format!("\"token\":\"{tok}\""))
        ),
        None => String::new(),
    };
    // Errors are shown, never hidden: EACCES is not "held".
    format!(
        "{denied}if [ 1 ]; then {take_over}if err=$( ( set -C; printf '%s\\n' {content} > {p} ) 2>&1 ); \
         then echo ACQUIRED; elif [ -e {p} ]; then echo HELD; cat {p}; \
         else printf 'ERROR cannot create %s: %s\\n' {p} \"$err\"; fi; fi"
    )
}

/// Removes the lock only if it is ours.
pub(crate) fn lock_release(cluster: &str, token: &str) -> String {
    let p = quote(&lock_path(cluster));
    let t = quote(&format!("\"token\":\"{token}\""));
    format!("if [ -e {p} ] && grep -qF {t} {p}; then rm -f {p} && echo RELEASED; else echo NOT_OURS; fi")
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
            lock_acquire_at(&path, "{}", Some("tok")),
        ] {
            let out = sh(&script);
            assert!(!marker.exists(), "ran: {script}");
            assert!(out.starts_with("ERROR lock directory"), "{out}");
            assert!(out.contains("no-such-dir$(touch "), "said as it is: {out}");
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
