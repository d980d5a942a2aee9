//! The failover lock, held on the peers themselves so that two operators on
//! two machines cannot move the same cluster at once: a file created
//! atomically (`set -C`, O_EXCL) in `/run`, holding who, where, which
//! process and since when. A lock older than a bound is stale.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::sources::transport::quote;

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// `user@host` of the vipdeck that took it.
    pub owner: String,
    pub host: String,
    pub pid: u32,
    pub started: DateTime<Utc>,
    /// Random: only the holder removes its own lock.
    pub token: String,
}

impl LockInfo {
    pub fn age(&self, now: DateTime<Utc>) -> std::time::Duration {
        (now - self.started).to_std().unwrap_or_default()
    }

    pub fn describe(&self, now: DateTime<Utc>) -> String {
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
pub enum LockView {
    #[default]
    Free,
    Held(LockInfo),
    /// Held by a vipdeck process that no longer exists on this host (killed
    /// before it could release it): safe to take over.
    Abandoned(LockInfo),
    /// Could not be read (peer unreachable, unreadable content).
    Unknown(String),
}

/// The lock file of a cluster; the name keeps only safe characters.
pub fn path(cluster: &str) -> String {
    let safe: String = cluster
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("/run/vipdeck-failover-{safe}.lock")
}

/// Reads the lock: prints `FREE`, or `HELD` and the content.
pub fn read_script(cluster: &str) -> String {
    let p = quote(&path(cluster));
    format!("if [ -e {p} ]; then echo HELD; cat {p}; else echo FREE; fi")
}

/// Parses the answer of [`read_script`].
pub fn parse_read(out: &str) -> LockView {
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

/// Takes the lock atomically; with `take_over_stale_token` replaces a lock
/// whose token is exactly that (a stale lock the operator overrode). Prints
/// `ACQUIRED`, or `HELD` and the holder.
pub fn acquire_script(cluster: &str, info: &LockInfo, take_over_token: Option<&str>) -> String {
    let p = quote(&path(cluster));
    let json = serde_json::to_string(info).unwrap_or_default();
    let content = quote(&json);
    let take_over = match take_over_token {
        Some(tok) => format!(
            "if [ -e {p} ] && grep -qF {t} {p}; then rm -f {p}; fi; ",
            t = quote(&format!("\"token\":\"{tok}\""))
        ),
        None => String::new(),
    };
    format!(
        "{take_over}if ( set -C; printf '%s\\n' {content} > {p} ) 2>/dev/null; \
         then echo ACQUIRED; else echo HELD; cat {p} 2>/dev/null; fi"
    )
}

/// Removes the lock only if it is ours.
pub fn release_script(cluster: &str, token: &str) -> String {
    let p = quote(&path(cluster));
    let t = quote(&format!("\"token\":\"{token}\""));
    format!("if [ -e {p} ] && grep -qF {t} {p}; then rm -f {p} && echo RELEASED; else echo NOT_OURS; fi")
}

/// Whether the answer of [`acquire_script`] says we hold it; otherwise the holder.
pub fn parse_acquire(out: &str) -> Result<(), LockView> {
    if out.lines().next().map(str::trim) == Some("ACQUIRED") {
        return Ok(());
    }
    let rest = out.trim_start().strip_prefix("HELD").unwrap_or(out);
    Err(parse_read(&format!("HELD\n{}", rest.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::transport::{Shell, Target};
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
    fn path_keeps_only_safe_characters() {
        assert_eq!(path("web"), "/run/vipdeck-failover-web.lock");
        assert_eq!(path("a/../b c"), "/run/vipdeck-failover-a____b_c.lock");
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
            .run(&run(release_script("c1", "tokB")), t)
            .await
            .expect("run");
        assert_eq!(out.trim(), "NOT_OURS");
        let (out, _) = sh.run(&run(read_script("c1")), t).await.expect("run");
        assert!(matches!(parse_read(&out), LockView::Held(_)));
        // Taking over a (stale) lock by its token.
        let (out, _) = sh
            .run(&run(acquire_script("c1", &b, Some("tokA"))), t)
            .await
            .expect("run");
        assert_eq!(parse_acquire(&out), Ok(()));
        let (out, _) = sh
            .run(&run(release_script("c1", "tokB")), t)
            .await
            .expect("run");
        assert_eq!(out.trim(), "RELEASED");
        let (out, _) = sh.run(&run(read_script("c1")), t).await.expect("run");
        assert_eq!(parse_read(&out), LockView::Free);
        sh.close().await;
    }
}
