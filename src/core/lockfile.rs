//! The failover lock's file on a peer: where it is and what it says.
//! The failover takes and releases it (`failover::lock`, `failover::scripts`);
//! the host poll reads it with builtins so the dashboard can say that a
//! failover is in progress, by whom and since when.

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
    /// `/etc/machine-id` of the holder's machine (hostnames repeat).
    #[serde(default)]
    pub(crate) machine_id: String,
    /// The holder machine's boot id: another boot means the process is gone.
    #[serde(default)]
    pub(crate) boot_id: String,
    /// The holder process's start time (clock ticks after boot, from
    /// /proc/PID/stat): a reused pid is another process.
    #[serde(default)]
    pub(crate) proc_start: u64,
}

impl LockInfo {
    /// The holder from a lock file's content; content that is not a
    /// holder is shown as such, and as old, so it reads as stale.
    pub(crate) fn parse(content: &str) -> LockInfo {
        match serde_json::from_str::<LockInfo>(content.trim()) {
            Ok(info) => info,
            Err(_) => LockInfo {
                owner: format!(
                    "unreadable lock content: {}",
                    crate::core::sanitize::clip(content.trim(), 60)
                ),
                host: "?".into(),
                pid: 0,
                started: DateTime::<Utc>::UNIX_EPOCH,
                token: String::new(),
                machine_id: String::new(),
                boot_id: String::new(),
                proc_start: 0,
            },
        }
    }

    /// Who holds it, without what only the holder should know (its token).
    pub(crate) fn holder(&self) -> LockHolder {
        LockHolder {
            owner: crate::core::sanitize::clip(&self.owner, 120),
            host: crate::core::sanitize::clip(&self.host, 120),
            pid: self.pid,
            started: self.started,
        }
    }

    /// The lock as the dashboard sees it: held, by its holder.
    pub(crate) fn seen(&self) -> LockSeen {
        LockSeen::Held(Box::new(self.holder()))
    }

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

/// A cluster's failover lock file on a peer, as the host poll reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockSeen {
    Free,
    Held(Box<LockHolder>),
}

/// Who holds a cluster's failover lock on a peer, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub owner: String,
    pub host: String,
    pub pid: u32,
    pub started: DateTime<Utc>,
}

/// The directory of the lock files on the peers: `VIPDECK_LOCK_DIR`, else
/// `/run/lock` (a tmpfs, sticky and writable by every user on Debian and
/// RHEL-likes: a non-root ssh login takes the lock as root does).
pub(crate) fn lock_dir() -> String {
    std::env::var("VIPDECK_LOCK_DIR")
        .ok()
        .map(|d| d.trim_end_matches('/').to_string())
        .filter(|d| d.starts_with('/'))
        .unwrap_or_else(|| "/run/lock".into())
}

/// The lock file of a cluster; the name keeps only safe characters.
pub(crate) fn lock_path(cluster: &str) -> String {
    lock_path_in(&lock_dir(), cluster)
}

pub(crate) fn lock_path_in(dir: &str, cluster: &str) -> String {
    let safe = crate::core::sanitize::file_name_part(cluster);
    format!("{dir}/vipdeck-failover-{safe}.lock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_path_keeps_only_safe_characters() {
        assert_eq!(
            lock_path_in("/run/lock", "web"),
            "/run/lock/vipdeck-failover-web.lock"
        );
        assert_eq!(
            lock_path_in("/run/lock", "a/../b c"),
            "/run/lock/vipdeck-failover-a____b_c.lock"
        );
    }

    #[test]
    fn a_holder_is_read_without_its_token_and_garbage_reads_as_stale() {
        let info = LockInfo {
            owner: "ops@jump1".into(),
            host: "jump1".into(),
            pid: 4242,
            started: DateTime::<Utc>::UNIX_EPOCH + chrono::TimeDelta::seconds(1_800_000_000),
            token: "secret-token".into(),
            machine_id: "m".into(),
            boot_id: "b".into(),
            proc_start: 7,
        };
        let line = serde_json::to_string(&info).expect("json");
        let read = LockInfo::parse(&line);
        assert_eq!(read, info);
        let h = read.holder();
        assert_eq!((h.owner.as_str(), h.pid), ("ops@jump1", 4242));
        assert!(!serde_json::to_string(&h)
            .expect("json")
            .contains("secret-token"));
        let junk = LockInfo::parse("\u{1b}[2J not json");
        assert!(
            junk.owner.starts_with("unreadable lock content"),
            "{}",
            junk.owner
        );
        assert_eq!(junk.started, DateTime::<Utc>::UNIX_EPOCH);
    }
}
