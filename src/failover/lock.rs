//! The failover lock, held on the peers themselves so that two operators on
//! two machines cannot move the same cluster at once: a file created
//! atomically (`set -C`, O_EXCL) in `/run`, holding who, where, which
//! process and since when. A lock older than a bound is stale.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LockInfo {
    /// `user@host` of the vipdeck that took it.
    pub(crate) owner: String,
    pub host: String,
    pub pid: u32,
    pub(crate) started: DateTime<Utc>,
    /// Random: only the holder removes its own lock.
    pub(crate) token: String,
}

impl LockInfo {
    pub(crate) fn age(&self, now: DateTime<Utc>) -> std::time::Duration {
        (now - self.started).to_std().unwrap_or_default()
    }

    pub(crate) fn describe(&self, now: DateTime<Utc>) -> String {
        format!(
            "held by {} (pid {} on {}) since {} ({} ago)",
            self.owner,
            self.pid,
            self.host,
            self.started.format("%Y-%m-%d %H:%M:%S UTC"),
            crate::core::humanize::duration(self.age(now))
        )
    }
}

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
}

/// Parses the answer of [`crate::failover::scripts::lock_read`].
pub(crate) fn parse_read(out: &str) -> LockView {
    let mut lines = out.lines();
    match lines.next().map(str::trim) {
        Some("FREE") => LockView::Free,
        Some("HELD") => {
            let rest: String = lines.collect::<Vec<_>>().join("\n");
            match serde_json::from_str::<LockInfo>(rest.trim()) {
                Ok(info) => LockView::Held(info),
                Err(_) => LockView::Held(LockInfo {
                    owner: format!("unreadable lock content: {:.60}", rest.trim()),
                    host: "?".into(),
                    pid: 0,
                    // Unreadable: treat it as old so it shows as stale.
                    started: DateTime::<Utc>::UNIX_EPOCH,
                    token: String::new(),
                }),
            }
        }
        _ => LockView::Unknown(format!("unexpected answer: {:.80}", out.trim())),
    }
}

/// Whether the answer of [`crate::failover::scripts::lock_acquire`] says we hold it; otherwise the holder.
pub(crate) fn parse_acquire(out: &str) -> Result<(), LockView> {
    if out.lines().next().map(str::trim) == Some("ACQUIRED") {
        return Ok(());
    }
    let rest = out.trim_start().strip_prefix("HELD").unwrap_or(out);
    Err(parse_read(&format!("HELD\n{}", rest.trim())))
}

/// Whether a process of this host is alive (for locks left by a vipdeck
/// that was killed).
pub(crate) fn pid_alive(pid: u32) -> bool {
    pid != 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
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
        }
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
            script.replace("/run/", &format!("{}/", dir.path().display()))
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
