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

    /// Who holds it and since when, in words: its owner and host as the
    /// file says them, cleaned to one line (any user on a peer may have
    /// written it) and clipped.
    pub(crate) fn describe(&self, now: DateTime<Utc>) -> String {
        let said = |s: &str| crate::core::sanitize::clip(&crate::core::sanitize::clean(s), 120);
        format!(
            "held by {} (pid {} on {}) since {} ({} ago)",
            said(&self.owner),
            self.pid,
            said(&self.host),
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

/// The default directory of the lock files on the peers: `/run/lock` (a
/// tmpfs, sticky and writable by every user on Debian and RHEL-likes: a
/// non-root ssh login takes the lock as root does, and anyone can plant a
/// file there, which is why a lock is believed only from root or the
/// login itself).
pub(crate) const DEFAULT_LOCK_DIR: &str = "/run/lock";

/// `VIPDECK_LOCK_DIR` when set to an absolute path.
fn env_lock_dir() -> Option<String> {
    std::env::var("VIPDECK_LOCK_DIR")
        .ok()
        .map(|d| d.trim_end_matches('/').to_string())
        .filter(|d| d.starts_with('/'))
}

/// The directory of the lock files on the peers: `VIPDECK_LOCK_DIR`, else
/// [`DEFAULT_LOCK_DIR`] (the host poll, which has no config).
pub(crate) fn lock_dir() -> String {
    env_lock_dir().unwrap_or_else(|| DEFAULT_LOCK_DIR.into())
}

/// The directory of the lock files on the peers for a failover:
/// `VIPDECK_LOCK_DIR`, else `[failover] lock_dir` (`configured`), which
/// must be an absolute path.
pub(crate) fn lock_dir_from(configured: &str) -> Result<String, String> {
    if let Some(d) = env_lock_dir() {
        return Ok(d);
    }
    let d = configured.trim();
    if !d.starts_with('/') {
        return Err(format!(
            "[failover] lock_dir {:?} is not an absolute path",
            crate::core::sanitize::clip(d, 80)
        ));
    }
    match d.trim_end_matches('/') {
        "" => Ok("/".into()),
        d => Ok(d.to_string()),
    }
}

/// The lock file of a cluster; the name keeps only safe characters.
pub(crate) fn lock_path(cluster: &str) -> String {
    lock_path_in(&lock_dir(), cluster)
}

pub(crate) fn lock_path_in(dir: &str, cluster: &str) -> String {
    let safe = crate::core::sanitize::file_name_part(cluster);
    format!("{dir}/vipdeck-failover-{safe}.lock")
}

/// A cluster's maintenance marker (`vipdeck maintenance`): beside its
/// failover lock, under the same trust rules.
pub(crate) fn maintenance_path_in(dir: &str, cluster: &str) -> String {
    let safe = crate::core::sanitize::file_name_part(cluster);
    format!("{dir}/vipdeck-maintenance-{safe}.json")
}

/// The maintenance marker beside lock file `lock` (the host poll knows a
/// cluster's lock path, not its name).
pub(crate) fn maintenance_beside(lock: &str) -> String {
    let (dir, file) = lock.rsplit_once('/').unwrap_or((".", lock));
    match file
        .strip_prefix("vipdeck-failover-")
        .and_then(|f| f.strip_suffix(".lock"))
    {
        Some(safe) => format!("{dir}/vipdeck-maintenance-{safe}.json"),
        None => format!("{lock}.maintenance"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_maintenance_marker_lies_beside_the_lock() {
        let lock = lock_path_in("/run/lock", "a/../b c");
        assert_eq!(
            maintenance_beside(&lock),
            maintenance_path_in("/run/lock", "a/../b c")
        );
        assert_eq!(maintenance_beside("/tmp/x/lock"), "/tmp/x/lock.maintenance");
    }

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
