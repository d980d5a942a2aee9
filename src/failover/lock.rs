//! The failover lock, held on the peers themselves so that two operators on
//! two machines cannot move the same cluster at once: a file created
//! atomically (`set -C`, O_EXCL) in the lock directory on the peer
//! (`/run/lock` by default: sticky and writable by every user, so an
//! `ops` login with sudo can take it as well as root; `VIPDECK_LOCK_DIR`
//! changes it), holding who, which machine (machine id and boot id),
//! which process (pid and start time) and since when. A lock older than a
//! bound is stale; a holder is "gone" only when it was on this very
//! machine and its process (same pid, same start) no longer runs.

use chrono::Utc;

pub(crate) use crate::core::lockfile::LockInfo;

/// The lock as read on one peer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum LockView {
    #[default]
    Free,
    Held(LockInfo),
    /// Held by a vipdeck process that no longer exists on this host (killed
    /// before it could release it): safe to take over.
    Abandoned(LockInfo),
    /// Could not be read (peer unreachable, unreadable content).
    Unknown(String),
    /// The lock cannot be read or taken by this login (no such directory,
    /// not writable, not readable): a failover would fail, so it is refused.
    Denied(String),
}

impl LockInfo {
    /// This process, taking a lock now for `owner`.
    pub(crate) fn mine(owner: String) -> LockInfo {
        let pid = std::process::id();
        LockInfo {
            owner,
            host: host(),
            pid,
            started: Utc::now(),
            token: format!("{:016x}", rand::random::<u64>()),
            machine_id: machine_id(),
            boot_id: boot_id(),
            proc_start: proc_start(pid).unwrap_or(0),
        }
    }

    /// Whether the holder is surely gone: it ran on this machine (same
    /// machine id, not just the same hostname) and either the machine
    /// booted since or its process (pid and start time) no longer runs.
    /// A lock without a machine id (an older vipdeck) is never "gone".
    pub(crate) fn holder_gone(&self) -> bool {
        let here = machine_id();
        if self.machine_id.is_empty() || here.is_empty() || self.machine_id != here {
            return false;
        }
        if !self.boot_id.is_empty() && self.boot_id != boot_id() {
            return true;
        }
        match proc_start(self.pid) {
            None => true,
            Some(start) => self.proc_start != 0 && start != self.proc_start,
        }
    }
}

fn first_line(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// This machine's id (systemd's /etc/machine-id, or D-Bus's copy).
pub(crate) fn machine_id() -> String {
    let id = first_line("/etc/machine-id");
    if id.is_empty() {
        first_line("/var/lib/dbus/machine-id")
    } else {
        id
    }
}

fn boot_id() -> String {
    first_line("/proc/sys/kernel/random/boot_id")
}

/// When process `pid` started (field 22 of /proc/PID/stat), if it runs.
pub(crate) fn proc_start(pid: u32) -> Option<u64> {
    if pid == 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count
    // from the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Parses the answer of [`crate::failover::scripts::lock_read`].
pub(crate) fn parse_read(out: &str) -> LockView {
    let mut lines = out.lines();
    match lines.next().map(str::trim) {
        Some(l) if l.starts_with("ERROR ") => {
            LockView::Denied(crate::core::sanitize::clip(&l["ERROR ".len()..], 300))
        }
        Some("FREE") => LockView::Free,
        Some("HELD") => {
            let rest: String = lines.collect::<Vec<_>>().join("\n");
            LockView::Held(LockInfo::parse(&rest))
        }
        _ => LockView::Unknown(format!("unexpected answer: {:.80}", out.trim())),
    }
}

/// Whether the answer of [`crate::failover::scripts::lock_acquire`] says we hold it; otherwise the holder.
// One call per failover and peer: the size does not matter.
#[allow(clippy::result_large_err)]
pub(crate) fn parse_acquire(out: &str) -> Result<(), LockView> {
    match out.lines().next().map(str::trim) {
        Some("ACQUIRED") => return Ok(()),
        Some(l) if l.starts_with("ERROR ") => return Err(parse_read(out)),
        _ => {}
    }
    let rest = out.trim_start().strip_prefix("HELD").unwrap_or(out);
    Err(parse_read(&format!("HELD\n{}", rest.trim())))
}

/// `user@host` of the operator: who holds a lock, who moved the VIP.
pub(crate) fn who() -> String {
    let env = |k: &str| std::env::var(k).ok().filter(|u| !u.is_empty());
    let user = env("SUDO_USER")
        .or_else(|| env("USER"))
        .or_else(|| env("LOGNAME"))
        .or_else(|| {
            std::process::Command::new("id")
                .arg("-un")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .filter(|u| !u.is_empty())
        })
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{}", host())
}

/// This host's name.
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::scripts::{lock_acquire, lock_read, lock_release};
    use crate::sources::transport::{Shell, Target};

    fn acquire_script(cluster: &str, info: &LockInfo, take_over: Option<&str>) -> String {
        let json = serde_json::to_string(info).expect("json");
        lock_acquire(cluster, &json, take_over)
    }
    use std::time::Duration;

    fn info(token: &str) -> LockInfo {
        LockInfo {
            owner: "ops@desk".into(),
            host: "desk".into(),
            pid: 42,
            started: Utc::now(),
            token: token.into(),
            machine_id: String::new(),
            boot_id: String::new(),
            proc_start: 0,
        }
    }

    /// Finding 6: a lock from another machine with the same hostname and a
    /// dead-looking pid was "left by a vipdeck that is gone" and taken over.
    #[test]
    fn only_a_holder_on_this_machine_whose_process_ended_is_gone() {
        let me = LockInfo::mine("ops@desk".into());
        assert!(!me.holder_gone(), "this process runs");
        if me.machine_id.is_empty() {
            return; // no machine id here: nothing is ever "gone"
        }
        let other_machine = LockInfo {
            machine_id: "0123456789abcdef0123456789abcdef".into(),
            pid: 999_999_999,
            ..me.clone()
        };
        assert!(
            !other_machine.holder_gone(),
            "same hostname, another machine"
        );
        let reused_pid = LockInfo {
            proc_start: me.proc_start + 1,
            ..me.clone()
        };
        assert!(
            reused_pid.holder_gone(),
            "the pid now names another process"
        );
        let dead = LockInfo {
            pid: 999_999_999,
            ..me.clone()
        };
        assert!(dead.holder_gone());
        let older = LockInfo {
            machine_id: String::new(),
            pid: 999_999_999,
            ..me
        };
        assert!(
            !older.holder_gone(),
            "no machine id: never taken over silently"
        );
    }

    #[tokio::test]
    async fn an_unwritable_lock_directory_is_an_error_that_says_so() {
        let mut sh = Shell::spawn(&Target::Local).await.expect("shell");
        let t = Duration::from_secs(5);
        let missing = crate::core::lockfile::lock_path_in("/nonexistent-vipdeck", "c1");
        let read = crate::failover::scripts::lock_read_at(&missing);
        let (out, _) = sh.run(&read, t).await.expect("run");
        match parse_read(&out) {
            LockView::Denied(e) => assert!(e.contains("/nonexistent-vipdeck"), "{e}"),
            other => panic!("{other:?}"),
        }
        // /sys: not writable even by root.
        let ro = crate::core::lockfile::lock_path_in("/sys", "c1");
        let json = serde_json::to_string(&info("t")).expect("json");
        let (out, _) = sh
            .run(
                &crate::failover::scripts::lock_acquire_at(&ro, &json, None),
                t,
            )
            .await
            .expect("run");
        match parse_acquire(&out) {
            Err(LockView::Denied(e)) => assert!(e.contains("/sys"), "{e}"),
            other => panic!("{other:?}"),
        }
        sh.close().await;
    }

    #[test]
    fn reads_parse() {
        assert_eq!(parse_read("FREE\n"), LockView::Free);
        let i = info("t1");
        let out = format!("HELD\n{}\n", serde_json::to_string(&i).expect("json"));
        assert_eq!(parse_read(&out), LockView::Held(i));
        match parse_read("HELD\ngarbage") {
            LockView::Held(h) => assert!(h.owner.contains("garbage")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_read(""), LockView::Unknown(_)));
    }

    /// The scripts, run by a real shell against a temp path: the second
    /// taker is refused and named, release only removes our own lock.
    #[tokio::test]
    async fn acquire_is_exclusive_and_release_only_ours() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut sh = Shell::spawn(&Target::Local).await.expect("shell");
        let run = |script: String| {
            // Point the scripts at the temp dir instead of /run.
            script.replace(
                &crate::core::lockfile::lock_dir(),
                &dir.path().display().to_string(),
            )
        };
        let t = Duration::from_secs(5);
        let a = info("tokA");
        let b = info("tokB");
        let (out, _) = sh
            .run(&run(acquire_script("c1", &a, None)), t)
            .await
            .expect("run");
        assert_eq!(parse_acquire(&out), Ok(()));
        let (out, _) = sh
            .run(&run(acquire_script("c1", &b, None)), t)
            .await
            .expect("run");
        match parse_acquire(&out) {
            Err(LockView::Held(h)) => assert_eq!(h.token, "tokA"),
            other => panic!("{other:?}"),
        }
        let (out, _) = sh
            .run(&run(lock_release("c1", "tokB")), t)
            .await
            .expect("run");
        assert_eq!(out.trim(), "NOT_OURS");
        let (out, _) = sh.run(&run(lock_read("c1")), t).await.expect("run");
        assert!(matches!(parse_read(&out), LockView::Held(_)));
        // Taking over a (stale) lock by its token.
        let (out, _) = sh
            .run(&run(acquire_script("c1", &b, Some("tokA"))), t)
            .await
            .expect("run");
        assert_eq!(parse_acquire(&out), Ok(()));
        let (out, _) = sh
            .run(&run(lock_release("c1", "tokB")), t)
            .await
            .expect("run");
        assert_eq!(out.trim(), "RELEASED");
        let (out, _) = sh.run(&run(lock_read("c1")), t).await.expect("run");
        assert_eq!(parse_read(&out), LockView::Free);
        sh.close().await;
    }
}
