//! The failover lock, held on the peers themselves so that two operators on
//! two machines cannot move the same cluster at once: a file created
//! atomically (`set -C`, O_EXCL) in the lock directory on the peer
//! (`/run/lock` by default: sticky and writable by every user, so an
//! `ops` login with sudo can take it as well as root; `VIPDECK_LOCK_DIR`
//! changes it), holding who, which machine (machine id and boot id),
//! which process (pid and start time) and since when. A lock older than a
//! bound is stale; a holder is "gone" only when it was on this very
//! machine and its process (same pid, same start) no longer runs.
//!
//! Anyone with a shell on a peer can write in `/run/lock`: a lock file is
//! believed only when root or this login owns it, is a regular file, says
//! who holds it and is not dated in the future. Otherwise it is
//! [`LockView::Suspect`]: shown (cleaned), never believed, and taken over
//! like a stale lock (`--override lock_stale`).

use std::time::Duration;

use chrono::{DateTime, Utc};

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
    /// A lock file not to be believed (another user's, not a holder, not a
    /// regular file): it blocks as a stale lock does, and overriding
    /// `lock_stale` takes it over.
    Suspect(Suspect),
}

/// A lock file that is not believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Suspect {
    /// Why, in words.
    pub(crate) why: String,
    /// What it says, cleaned and clipped: shown, never believed.
    pub(crate) says: String,
    /// How to remove exactly the file that was read.
    pub(crate) take_over: TakeOver,
}

/// How a lock is taken over: a holder believed by its token; anything
/// else by what was read of it (a checksum of its first bytes), or, when
/// it is not a regular file at all, as such.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TakeOver {
    Token(String),
    /// `cksum` of the bytes read (at most [`crate::failover::scripts::READ_CAP`]).
    Sum(String),
    NotAFile,
}

/// How far a lock's date may be ahead of our clock (the holder's clock may
/// be off) before the lock is suspect.
pub(crate) const CLOCK_SKEW: Duration = Duration::from_secs(60);

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

impl LockInfo {
    /// How far the lock's date is ahead of `now` beyond [`CLOCK_SKEW`]: a
    /// lock from the future is never stale by age, so it is suspect.
    pub(crate) fn dated_ahead(&self, now: DateTime<Utc>) -> Option<Duration> {
        let ahead = (self.started - now).to_std().ok()?;
        (ahead > CLOCK_SKEW).then_some(ahead)
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

/// Parses the answer of [`crate::failover::scripts::lock_read_at`]:
/// `FREE`; `ERROR …`; `HELD kind=link|special`; `HELD uid=U me=M sum=S`
/// and at most [`crate::failover::scripts::READ_CAP`] bytes of content; or
/// (the simulator, whose files no one else writes) `HELD` and the content.
pub(crate) fn parse_read(out: &str) -> LockView {
    let clean =
        |s: &str, n: usize| crate::core::sanitize::clip(&crate::core::sanitize::clean(s), n);
    let (head, rest) = out.split_once('\n').unwrap_or((out, ""));
    let head = head.trim();
    if let Some(e) = head.strip_prefix("ERROR ") {
        return LockView::Denied(clean(e, 300));
    }
    if head == "FREE" {
        return LockView::Free;
    }
    let Some(file) = head.strip_prefix("HELD") else {
        return LockView::Unknown(format!("unexpected answer: {}", clean(out.trim(), 80)));
    };
    let suspect = |why: String, says: &str, take_over: TakeOver| {
        LockView::Suspect(Suspect {
            why,
            says: clean(says.trim(), 120),
            take_over,
        })
    };
    let field = |k: &str| {
        file.split_whitespace()
            .find_map(|w| w.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
    };
    match field("kind") {
        Some("link") => {
            return suspect(
                "a symbolic link, not a lock file".into(),
                "",
                TakeOver::NotAFile,
            )
        }
        Some(_) => return suspect("not a regular file".into(), "", TakeOver::NotAFile),
        None => {}
    }
    let info = serde_json::from_str::<LockInfo>(rest.trim()).ok();
    let Some(sum) = file.split_once("sum=").map(|(_, s)| s.trim().to_string()) else {
        // The simulator's answer: no owner to check.
        return LockView::Held(LockInfo::parse(rest));
    };
    let take_over = TakeOver::Sum(sum);
    let uid = field("uid").and_then(|u| u.parse::<u32>().ok());
    let me = field("me").and_then(|u| u.parse::<u32>().ok());
    match (uid, me) {
        (Some(0), _) => {}
        (Some(u), Some(m)) if u == m => {}
        (Some(u), m) => {
            let login = m.map(|m| format!(" (uid {m})")).unwrap_or_default();
            return suspect(
                format!(
                    "owned by uid {u}, neither root nor this login{login}: any user can write \
                     in the lock directory"
                ),
                rest,
                take_over,
            );
        }
        (None, _) => return suspect("its owner could not be read".into(), rest, take_over),
    }
    match info {
        Some(info) => LockView::Held(info),
        None => suspect("not a vipdeck lock".into(), rest, take_over),
    }
}

/// Whether the answer of [`crate::failover::scripts::lock_acquire_at`] says we hold it; otherwise the holder.
// One call per failover and peer: the size does not matter.
#[allow(clippy::result_large_err)]
pub(crate) fn parse_acquire(out: &str) -> Result<(), LockView> {
    match out.lines().next().map(str::trim) {
        Some("ACQUIRED") => Ok(()),
        _ => Err(parse_read(out.trim_start())),
    }
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
    use crate::failover::scripts::{lock_acquire_at, lock_read_at, lock_release_at};
    use crate::sources::transport::{Shell, Target};

    fn acquire_script(path: &str, info: &LockInfo, take_over: Option<&TakeOver>) -> String {
        let json = serde_json::to_string(info).expect("json");
        lock_acquire_at(path, &json, take_over)
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
        // Missing, and not to be made: its parent is missing too.
        let missing = crate::core::lockfile::lock_path_in("/nonexistent-vipdeck/locks", "c1");
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

    fn is_root() -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    }

    /// M6: anyone on a peer can write in `/run/lock`. A lock planted there
    /// by another non-root user was believed, read whole with `cat`, and
    /// followed through a link. Now: read bounded, its owner said and not
    /// trusted, a link or a special file never read.
    #[tokio::test]
    async fn a_lock_planted_by_another_user_is_read_bounded_and_not_believed() {
        if !is_root() {
            return; // needs to plant a file as another user
        }
        let dir = tempfile::tempdir().expect("tmp");
        let path = crate::core::lockfile::lock_path_in(&dir.path().display().to_string(), "c1");
        let planted = LockInfo {
            owner: "root@jump1".into(),
            started: Utc::now(),
            ..info("planted")
        };
        let mut text = serde_json::to_string(&planted).expect("json");
        text.push_str(&"\u{1b}[2J".repeat(200_000));
        std::fs::write(&path, &text).expect("plant");
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).expect("chown");
        let mut sh = Shell::spawn(&Target::Local).await.expect("shell");
        let t = Duration::from_secs(5);
        let (out, _) = sh
            .run(&crate::failover::scripts::lock_read_at(&path), t)
            .await
            .expect("run");
        assert!(out.len() < 8192, "read bounded: {} bytes", out.len());
        let view = parse_read(&out);
        assert!(!matches!(view, LockView::Held(_)), "believed: {view:?}");
        assert!(format!("{view:?}").contains("65534"), "{view:?}");
        let LockView::Suspect(suspect) = view else {
            panic!("suspect")
        };
        assert!(!suspect.says.contains('\u{1b}'), "{:?}", suspect.says);
        // Taken over by what was read of it; not once it changed.
        let mine = info("mine");
        std::fs::write(&path, format!("changed{text}")).expect("change");
        let (out, _) = sh
            .run(&acquire_script(&path, &mine, Some(&suspect.take_over)), t)
            .await
            .expect("run");
        assert!(
            matches!(parse_acquire(&out), Err(LockView::Suspect(_))),
            "{out:.200}"
        );
        std::fs::write(&path, &text).expect("back");
        let (out, _) = sh
            .run(&acquire_script(&path, &mine, Some(&suspect.take_over)), t)
            .await
            .expect("run");
        assert_eq!(parse_acquire(&out), Ok(()), "{out:.200}");
        let (out, _) = sh.run(&lock_read_at(&path), t).await.expect("run");
        match parse_read(&out) {
            LockView::Held(h) => assert_eq!(h.token, "mine"),
            other => panic!("{other:?}"),
        }
        // A link is not followed, a FIFO not opened.
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "SECRET").expect("secret");
        std::fs::remove_file(&path).expect("rm");
        std::os::unix::fs::symlink(&secret, &path).expect("link");
        let (out, _) = sh
            .run(&crate::failover::scripts::lock_read_at(&path), t)
            .await
            .expect("run");
        assert!(!out.contains("SECRET"), "{out}");
        let view = parse_read(&out);
        assert!(
            !matches!(view, LockView::Held(_) | LockView::Free),
            "{view:?}"
        );
        let (out, _) = sh
            .run(
                &acquire_script(&path, &info("t"), Some(&TakeOver::NotAFile)),
                t,
            )
            .await
            .expect("run");
        assert_eq!(
            parse_acquire(&out),
            Ok(()),
            "a link is removed, not followed: {out}"
        );
        assert_eq!(std::fs::read_to_string(&secret).expect("secret"), "SECRET");
        std::fs::remove_file(&path).expect("rm");
        let mkfifo = std::process::Command::new("mkfifo").arg(&path).status();
        assert!(mkfifo.is_ok_and(|s| s.success()));
        let (out, _) = sh
            .run(&crate::failover::scripts::lock_read_at(&path), t)
            .await
            .expect("a FIFO is not opened");
        assert!(!matches!(
            parse_read(&out),
            LockView::Held(_) | LockView::Free
        ));
        sh.close().await;
    }

    /// `[failover] lock_dir` may name a directory that is not there yet
    /// (`/run` is a tmpfs): the lock creates it, 0755, and a read of it
    /// is free rather than denied.
    #[tokio::test]
    async fn a_missing_lock_directory_is_created_by_the_lock() {
        let dir = tempfile::tempdir().expect("tmp");
        let locks = dir.path().join("vipdeck");
        let path = crate::core::lockfile::lock_path_in(&locks.display().to_string(), "c1");
        let mut sh = Shell::spawn(&Target::Local).await.expect("shell");
        let t = Duration::from_secs(5);
        let (out, _) = sh
            .run(&crate::failover::scripts::lock_read_at(&path), t)
            .await
            .expect("run");
        assert_eq!(parse_read(&out), LockView::Free, "{out}");
        let json = serde_json::to_string(&info("t")).expect("json");
        let (out, _) = sh
            .run(
                &crate::failover::scripts::lock_acquire_at(&path, &json, None),
                t,
            )
            .await
            .expect("run");
        assert_eq!(parse_acquire(&out), Ok(()), "{out}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&locks)
            .expect("created")
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o755);
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
        let path = crate::core::lockfile::lock_path_in(&dir.path().display().to_string(), "c1");
        let run = |script: String| script;
        let t = Duration::from_secs(5);
        let a = info("tokA");
        let b = info("tokB");
        let (out, _) = sh
            .run(&run(acquire_script(&path, &a, None)), t)
            .await
            .expect("run");
        assert_eq!(parse_acquire(&out), Ok(()));
        let (out, _) = sh
            .run(&run(acquire_script(&path, &b, None)), t)
            .await
            .expect("run");
        match parse_acquire(&out) {
            Err(LockView::Held(h)) => assert_eq!(h.token, "tokA"),
            other => panic!("{other:?}"),
        }
        let (out, _) = sh
            .run(&run(lock_release_at(&path, "tokB")), t)
            .await
            .expect("run");
        assert_eq!(out.trim(), "NOT_OURS");
        let (out, _) = sh.run(&run(lock_read_at(&path)), t).await.expect("run");
        assert!(matches!(parse_read(&out), LockView::Held(_)));
        // Taking over a (stale) lock by its token.
        let (out, _) = sh
            .run(
                &run(acquire_script(
                    &path,
                    &b,
                    Some(&TakeOver::Token("tokA".into())),
                )),
                t,
            )
            .await
            .expect("run");
        assert_eq!(parse_acquire(&out), Ok(()));
        let (out, _) = sh
            .run(&run(lock_release_at(&path, "tokB")), t)
            .await
            .expect("run");
        assert_eq!(out.trim(), "RELEASED");
        let (out, _) = sh.run(&run(lock_read_at(&path)), t).await.expect("run");
        assert_eq!(parse_read(&out), LockView::Free);
        sh.close().await;
    }
}
