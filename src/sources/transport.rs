//! How vipdeck reaches a peer: the system OpenSSH client (so the user's
//! ssh config, agent, keys, ProxyJump and known_hosts work as in their
//! terminal) or this machine itself. Both give the same thing: a
//! long-lived shell fed commands, and followers that stream lines.
//!
//! A fresh `ssh host cmd` costs a handshake and a new session each time;
//! a long-lived remote `sh` reading commands from stdin answers in a few
//! milliseconds. Every value put into a command line is quoted with
//! [`quote`]; nothing from the config or a peer is spliced in raw.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;

/// Where a peer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// This machine: commands run under the local `sh`.
    Local,
    /// Through the system `ssh`.
    Ssh(SshTarget),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Anything `ssh` accepts: `root@192.0.2.11`, an alias from ssh_config.
    pub destination: String,
    /// Passed as `ssh -F`.
    pub config_file: Option<PathBuf>,
    /// Where the ControlMaster sockets live (one master per peer).
    pub control_dir: PathBuf,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("cannot start {0}")]
    Spawn(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("connection closed{0}")]
    Closed(String),
    #[error("{0}")]
    Io(String),
}

/// POSIX shell single-quoting: safe for any byte string except NUL.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:=@,+%".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Where this user's ControlMaster sockets live: `$XDG_RUNTIME_DIR/vipdeck`
/// (a per-user tmpfs only its owner can enter), else `ssh/` under the data
/// dir. Never a shared, guessable name under /tmp: whoever creates such a
/// directory first could listen on the socket path and answer in the
/// peer's name. [`ensure_private_dir`] checks it before every ssh start.
pub fn control_dir() -> PathBuf {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    match runtime {
        Some(r) => r.join("vipdeck"),
        None => match crate::core::config::data_dir() {
            Some(d) => d.join("ssh"),
            // No home and no runtime dir: a per-uid name, still verified.
            None => std::env::temp_dir().join(format!("vipdeck-ssh-{}", effective_uid())),
        },
    }
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Creates `dir` (mode 0700, never through a symbolic link) when missing,
/// then checks that it is a real directory owned by this user that no one
/// else can enter. Anything else is refused with what to do about it.
pub fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let fix = |what: String| {
        format!(
            "unsafe ssh control directory {}: {what}; vipdeck will not put its ssh \
             connections there. Remove it (`rm -r {}`) so vipdeck can create it \
             private, or set XDG_RUNTIME_DIR (or VIPDECK_DATA_DIR) to a directory of yours",
            dir.display(),
            quote(&dir.display().to_string())
        )
    };
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
    }
    check_parent(dir).map_err(fix)?;
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fix(format!("cannot create it: {e}"))),
    }
    // lstat: a symbolic link is refused, never followed.
    let md = std::fs::symlink_metadata(dir).map_err(|e| fix(format!("cannot read it: {e}")))?;
    if md.file_type().is_symlink() {
        return Err(fix("it is a symbolic link".into()));
    }
    if !md.is_dir() {
        return Err(fix("it is not a directory".into()));
    }
    let me = effective_uid();
    if md.uid() != me {
        return Err(fix(format!(
            "it belongs to uid {}, not to you (uid {me})",
            md.uid()
        )));
    }
    let mode = md.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(fix(format!(
            "its mode is {mode:04o}: other users can enter it (it must be 0700)"
        )));
    }
    Ok(())
}

/// Whoever can rename entries in the control directory's parent can swap
/// our private directory for theirs: the parent must belong to this user
/// or root, and be writable by no one else unless it is sticky (`/tmp`).
/// A `su` that kept the old user's `XDG_RUNTIME_DIR` fails here.
fn check_parent(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    let md = std::fs::metadata(parent)
        .map_err(|e| format!("cannot read its parent {}: {e}", parent.display()))?;
    let me = effective_uid();
    if md.uid() != me && md.uid() != 0 {
        return Err(format!(
            "its parent {} belongs to uid {}, who could replace it (uid {me} runs vipdeck: \
             was XDG_RUNTIME_DIR kept from another user?)",
            parent.display(),
            md.uid()
        ));
    }
    let mode = md.mode() & 0o7777;
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(format!(
            "its parent {} has mode {mode:04o}: other users can rename what is in it",
            parent.display()
        ));
    }
    Ok(())
}

impl Target {
    /// The local program and arguments that run `remote` (a shell command
    /// line) on the peer. For ssh, the control directory is checked first.
    pub(crate) fn command(&self, remote: &str) -> Result<Command, TransportError> {
        Ok(match self {
            Target::Local => {
                let mut c = Command::new("sh");
                // Its own process group: a Ctrl-C at the terminal is for
                // vipdeck to handle (and restore safety), not for children.
                c.process_group(0);
                c.arg("-c").arg(remote);
                c
            }
            Target::Ssh(t) => {
                let mut c = Command::new("ssh");
                c.process_group(0);
                if let Some(f) = &t.config_file {
                    c.arg("-F").arg(f);
                }
                let secs = t.connect_timeout.as_secs().max(1);
                c.args([
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    &format!("ConnectTimeout={secs}"),
                    "-o",
                    "ServerAliveInterval=5",
                    "-o",
                    "ServerAliveCountMax=2",
                    "-o",
                    "ControlMaster=auto",
                    "-o",
                    "ControlPersist=60",
                    "-o",
                ]);
                c.arg(format!("ControlPath={}/%C", t.control_dir.display()));
                // `--` ends options: a destination cannot smuggle one in.
                c.arg("--").arg(&t.destination).arg(remote);
                ensure_private_dir(&t.control_dir).map_err(TransportError::Spawn)?;
                c
            }
        })
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Target::Local => "local".into(),
            Target::Ssh(t) => format!("ssh {}", t.destination),
        }
    }
}

/// Kills a child's whole process group (every child runs in its own,
/// `process_group(0)`) when dropped: a `tail -F` or a remote loop under a
/// local `sh` dies with it, not just the `sh`.
struct Group(Option<u32>);

impl Group {
    fn of(child: &Child) -> Group {
        Group(child.id())
    }
    fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            if let Ok(pgid) = i32::try_from(pid) {
                // SAFETY: kill(2) with a negative pid signals that process
                // group; the group is the child's own (process_group(0)).
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Wraps a remote command so that it ends when its channel closes: a
/// watchdog waits for stdin (held open by vipdeck) to close and then ends
/// the whole process group; the command ending ends the watchdog. A remote
/// loop cannot outlive the vipdeck (or the ssh) that started it.
fn with_watchdog(remote: &str) -> String {
    format!(
        "exec 3<&0; {{ read -r _ <&3; kill -TERM 0; }} >/dev/null 2>&1 & w=$!; exec 3<&-; \
         {{ {remote}\n}} </dev/null; s=$?; kill $w 2>/dev/null; exit $s"
    )
}

/// A long-lived shell on the peer, fed one command at a time.
pub struct Shell {
    _group: Group,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Ends every answer; random so peer output cannot fake it.
    marker: String,
    target: String,
}

impl Shell {
    pub async fn spawn(target: &Target) -> Result<Shell, TransportError> {
        let mut cmd = target.command("exec sh")?;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| TransportError::Spawn(format!("{}: {e}", target.describe())))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| TransportError::Spawn("no stdin".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| TransportError::Spawn("no stdout".into()))?;
        Ok(Shell {
            _group: Group::of(&child),
            child,
            stdin,
            stdout: BufReader::new(stdout),
            marker: format!("__vipdeck_end_{:016x}", rand::random::<u64>()),
            target: target.describe(),
        })
    }

    /// Runs `script` and returns its output (stdout and stderr) and exit
    /// status. On a timeout the shell is unusable: drop it.
    pub async fn run(
        &mut self,
        script: &str,
        timeout: Duration,
    ) -> Result<(String, i32), TransportError> {
        let framed = format!(
            "{{\n{script}\n}} 2>&1 </dev/null; printf '\\n%s %d\\n' {} \"$?\"\n",
            self.marker
        );
        let exchange = async {
            self.stdin
                .write_all(framed.as_bytes())
                .await
                .map_err(|e| TransportError::Closed(format!(": {e}")))?;
            self.stdin
                .flush()
                .await
                .map_err(|e| TransportError::Closed(format!(": {e}")))?;
            let mut out = Vec::new();
            loop {
                let mut line = Vec::new();
                let n = (&mut self.stdout)
                    .take(1 << 20)
                    .read_until(b'\n', &mut line)
                    .await
                    .map_err(|e| TransportError::Io(e.to_string()))?;
                if n == 0 {
                    return Err(TransportError::Closed(format!(" ({})", self.target)));
                }
                if let Some(rest) = line.strip_prefix(self.marker.as_bytes()) {
                    let code = String::from_utf8_lossy(rest).trim().parse().unwrap_or(-1);
                    // Drop the newline the framing added before the marker.
                    if out.last() == Some(&b'\n') {
                        out.pop();
                    }
                    return Ok((String::from_utf8_lossy(&out).into_owned(), code));
                }
                if out.len() < (4 << 20) {
                    out.extend_from_slice(&line);
                }
            }
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::Timeout(timeout)),
        }
    }

    /// Ends the shell (and the ssh process) now.
    pub async fn close(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Runs `remote` on the peer and sends each output line (lossy UTF-8)
/// until the receiver goes away; restarts it with backoff when it ends.
pub fn follow(target: Target, remote: String) -> mpsc::Receiver<FollowEvent> {
    follow_with(target, remote, None)
}

/// Like [`follow`], but vipdeck writes a newline down the channel every
/// `tick`: a remote loop that waits with the `read` builtin on its stdin
/// wakes on each tick without forking a `sleep` (which is not a builtin
/// in dash, and whose fractions are not even POSIX). The loop ends when
/// its stdin ends, so no watchdog is wrapped around it. `remote` is sent
/// down stdin to an `sh -s` first, so it may be of any length.
pub(crate) fn follow_ticked(
    target: Target,
    remote: String,
    tick: Duration,
) -> mpsc::Receiver<FollowEvent> {
    follow_with(target, remote, Some(tick))
}

fn follow_with(
    target: Target,
    remote: String,
    tick: Option<Duration>,
) -> mpsc::Receiver<FollowEvent> {
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(250);
        // A ticked loop's script goes down its stdin (`sh -s`), ahead of
        // the ticks: a command line holds at most 128 KiB in one argument,
        // and a host with hundreds of files writes a longer one.
        let wrapped = match tick {
            Some(_) => "exec sh -s".to_string(),
            None => with_watchdog(&remote),
        };
        loop {
            let spawned = target.command(&wrapped).and_then(|mut cmd| {
                cmd.stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .kill_on_drop(true);
                cmd.spawn()
                    .map_err(|e| TransportError::Spawn(e.to_string()))
            });
            let began = tokio::time::Instant::now();
            match spawned {
                Ok(mut child) => {
                    let _group = Group::of(&child);
                    // Held open while the stream is wanted: its end is the
                    // remote watchdog's (or the ticked loop's) signal.
                    let mut stdin = child.stdin.take();
                    if tick.is_some() {
                        let sent = match stdin.as_mut() {
                            Some(w) => {
                                w.write_all(remote.as_bytes()).await.is_ok()
                                    && w.write_all(b"\n").await.is_ok()
                                    && w.flush().await.is_ok()
                            }
                            None => false,
                        };
                        if !sent {
                            stdin = None;
                        }
                    }
                    let mut ticks =
                        tokio::time::interval(tick.unwrap_or(Duration::from_secs(3600)));
                    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    if let Some(out) = child.stdout.take() {
                        let mut reader = BufReader::new(out);
                        let mut buf = Vec::new();
                        loop {
                            // (A tick cancels a read mid-line: the bytes
                            // read so far stay in `buf`, and the next read
                            // goes on from there.)
                            // A quiet stream (`journalctl -f` on an idle
                            // peer) still ends the moment nobody listens.
                            let read = tokio::select! {
                                r = read_line_capped(&mut reader, &mut buf) => r,
                                _ = tx.closed() => {
                                    let _ = child.start_kill();
                                    let _ = child.wait().await;
                                    return;
                                }
                                _ = ticks.tick(), if tick.is_some() => {
                                    let alive = match stdin.as_mut() {
                                        Some(w) => w.write_all(b"\n").await.is_ok() && w.flush().await.is_ok(),
                                        None => false,
                                    };
                                    if !alive {
                                        break;
                                    }
                                    continue;
                                }
                            };
                            match read {
                                Ok(0) | Err(_) => break,
                                Ok(_) => {
                                    if buf.last() == Some(&b'\n') {
                                        buf.pop();
                                    }
                                    if tx.send(FollowEvent::Line(buf.clone())).await.is_err() {
                                        let _ = child.start_kill();
                                        return;
                                    }
                                    buf.clear();
                                }
                            }
                        }
                    }
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                }
                Err(e) => {
                    if tx.send(FollowEvent::Down(e.to_string())).await.is_err() {
                        return;
                    }
                }
            }
            if tx
                .send(FollowEvent::Down("stream ended".into()))
                .await
                .is_err()
            {
                return;
            }
            // Only a stream that lived a while resets the backoff: one that
            // prints a line and dies (`journalctl -f` out of inotify
            // instances) is restarted ever more slowly, up to 10 s apart.
            if began.elapsed() >= STREAM_HEALTHY {
                backoff = Duration::from_millis(250);
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = tx.closed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    });
    rx
}

/// How long a followed stream must have run for its end to count as a
/// new failure rather than the same one again.
const STREAM_HEALTHY: Duration = Duration::from_secs(10);

/// The longest line a follower passes on; the rest of a longer line is
/// read and dropped (a peer's 512 MB line without a newline costs 64 KiB).
pub(crate) const MAX_LINE: usize = 64 << 10;

/// One line (with its newline, if any) of at most [`MAX_LINE`] bytes.
async fn read_line_capped<R>(r: &mut R, buf: &mut Vec<u8>) -> std::io::Result<usize>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    let n = (&mut *r)
        .take(MAX_LINE as u64)
        .read_until(b'\n', buf)
        .await?;
    if n == MAX_LINE && buf.last() != Some(&b'\n') {
        let mut rest = Vec::new();
        loop {
            rest.clear();
            let m = (&mut *r)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut rest)
                .await?;
            if m == 0 || rest.last() == Some(&b'\n') {
                break;
            }
        }
    }
    Ok(n)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowEvent {
    Line(Vec<u8>),
    /// The stream stopped; it is being restarted.
    Down(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_hostile_values() {
        assert_eq!(quote("/var/keepalived/state"), "/var/keepalived/state");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("a b;rm -rf /"), "'a b;rm -rf /'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$(reboot)"), "'$(reboot)'");
    }

    #[test]
    fn the_control_dir_is_created_private_and_checked() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("a/vipdeck");
        ensure_private_dir(&dir).expect("created");
        let mode = std::fs::metadata(&dir).expect("md").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        ensure_private_dir(&dir).expect("checked again");
        // Open to others: refused, and not silently repaired.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let err = ensure_private_dir(&dir).expect_err("0777");
        assert!(err.contains("0777") && err.contains("rm -r"), "{err}");
        // A symbolic link (to a directory of ours) is refused, not followed.
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(tmp.path().join("a"), &link).expect("symlink");
        let err = ensure_private_dir(&link).expect_err("symlink");
        assert!(err.contains("symbolic link"), "{err}");
        let mode = std::fs::metadata(tmp.path().join("a"))
            .expect("md")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "the link's target was not chmod-ed");
    }

    #[test]
    fn a_control_dir_whose_parent_another_user_can_change_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let parent = tmp.path().join("run-user");
        std::fs::create_dir(&parent).expect("parent");
        let dir = parent.join("vipdeck");
        // Writable by others without the sticky bit: anyone could rename
        // our private directory away and put theirs in its place.
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let err = ensure_private_dir(&dir).expect_err("0777 parent");
        assert!(err.contains("parent") && err.contains("0777"), "{err}");
        // Like /tmp (sticky): others cannot rename what is ours.
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        ensure_private_dir(&dir).expect("sticky parent");
        // Another user's directory (a `su` that kept XDG_RUNTIME_DIR): its
        // owner can replace ours, whatever its mode.
        if effective_uid() == 0 {
            std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o700))
                .expect("chmod");
            std::os::unix::fs::chown(&parent, Some(4242), Some(4242)).expect("chown");
            let err = ensure_private_dir(&dir).expect_err("another user's parent");
            assert!(
                err.contains("uid 4242") && err.contains("XDG_RUNTIME_DIR"),
                "{err}"
            );
        }
    }

    #[tokio::test]
    async fn a_local_shell_answers_many_commands_and_keeps_state() {
        let mut sh = Shell::spawn(&Target::Local).await.expect("spawn");
        let (out, code) = sh
            .run("printf 'a\\nb'", Duration::from_secs(5))
            .await
            .expect("run");
        assert_eq!((out.as_str(), code), ("a\nb", 0));
        let (out, code) = sh
            .run("echo x; false", Duration::from_secs(5))
            .await
            .expect("run");
        assert_eq!((out.as_str(), code), ("x\n", 1));
        // A quoted hostile value is data, not code.
        let evil = quote("$(echo pwned); echo pwned");
        let (out, _) = sh
            .run(&format!("printf '%s' {evil}"), Duration::from_secs(5))
            .await
            .expect("run");
        assert_eq!(out, "$(echo pwned); echo pwned");
        // Output that imitates a marker does not end the answer early.
        let (out, _) = sh
            .run(
                "echo __vipdeck_end_0000000000000000 0; echo after",
                Duration::from_secs(5),
            )
            .await
            .expect("run");
        assert!(out.ends_with("after\n"), "{out}");
        sh.close().await;
    }

    #[tokio::test]
    async fn a_followers_children_die_with_it() {
        // A loop that prints the pid of a grandchild, then waits.
        let mut rx = follow(
            Target::Local,
            "sleep 300 & echo $!; while :; do sleep 1; done".into(),
        );
        let pid = match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(FollowEvent::Line(l))) => String::from_utf8_lossy(&l).trim().to_string(),
            other => panic!("no pid: {other:?}"),
        };
        let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
        assert!(proc_dir.exists(), "the grandchild runs");
        drop(rx);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while proc_dir.exists() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !proc_dir.exists(),
            "`sleep 300` ({pid}) outlived the follower"
        );
    }

    #[test]
    fn a_remote_loop_ends_when_its_channel_closes() {
        use std::os::unix::process::CommandExt;
        // The watchdog as the peer runs it: stdin closes, the group ends.
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(with_watchdog("sleep 300 & echo $! >&2; wait"))
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("sh");
        let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
        let mut pid = String::new();
        std::io::BufRead::read_line(&mut err, &mut pid).expect("pid");
        let proc_dir = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
        assert!(proc_dir.exists());
        drop(child.stdin.take());
        let _ = child.wait();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while proc_dir.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!proc_dir.exists(), "the remote loop outlived its channel");
    }

    #[tokio::test]
    async fn a_follower_caps_a_huge_line() {
        // 4 MiB without a newline, then a normal line.
        let mut rx = follow(
            Target::Local,
            "head -c 4194304 /dev/zero | tr '\\0' x; echo; echo next".into(),
        );
        let mut got = Vec::new();
        while got.len() < 2 {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some(FollowEvent::Line(l))) => got.push(l),
                Ok(Some(FollowEvent::Down(_))) => {}
                other => panic!("stream stopped: {other:?}"),
            }
        }
        assert_eq!(got[0].len(), MAX_LINE);
        assert_eq!(got[1], b"next");
    }

    #[tokio::test]
    async fn a_hung_command_costs_one_timeout() {
        let mut sh = Shell::spawn(&Target::Local).await.expect("spawn");
        let started = std::time::Instant::now();
        let err = sh
            .run("sleep 5", Duration::from_millis(200))
            .await
            .expect_err("times out");
        assert_eq!(err, TransportError::Timeout(Duration::from_millis(200)));
        assert!(started.elapsed() < Duration::from_secs(2));
        sh.close().await;
    }

    #[tokio::test]
    async fn follow_streams_lines_and_restarts() {
        let mut rx = follow(Target::Local, "echo one; echo two".into());
        let mut got = Vec::new();
        while got.len() < 3 {
            match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                Ok(Some(FollowEvent::Line(l))) => {
                    got.push(String::from_utf8_lossy(&l).into_owned())
                }
                Ok(Some(FollowEvent::Down(_))) => {}
                other => panic!("stream stopped: {other:?}"),
            }
        }
        assert_eq!(got, vec!["one", "two", "one"], "restarted after it ended");
    }

    #[tokio::test]
    async fn a_stream_that_keeps_dying_is_restarted_ever_more_slowly() {
        // Prints a line and ends at once: its line must not reset the backoff.
        let mut rx = follow(Target::Local, "echo up".into());
        let mut at = Vec::new();
        while at.len() < 4 {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some(FollowEvent::Line(_))) => at.push(tokio::time::Instant::now()),
                Ok(Some(FollowEvent::Down(_))) => {}
                other => panic!("stream stopped: {other:?}"),
            }
        }
        // 250 ms, 500 ms, then 1 s between starts.
        let last = at[3] - at[2];
        assert!(last >= Duration::from_millis(900), "{last:?}");
    }

    #[tokio::test]
    async fn a_quiet_follower_ends_with_its_listener() {
        let mut rx = follow(Target::Local, "echo $$; exec sleep 60".into());
        let pid = match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(FollowEvent::Line(l))) => String::from_utf8_lossy(&l).trim().to_string(),
            other => panic!("no pid: {other:?}"),
        };
        let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
        assert!(proc_dir.exists(), "the follower runs");
        drop(rx);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while proc_dir.exists() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !proc_dir.exists(),
            "`sleep 60` ({pid}) outlived its listener"
        );
    }
}
