//! How vipdeck reaches a peer: the system OpenSSH client (so the user's
//! ssh config, agent, keys, ProxyJump and known_hosts work as in their
//! terminal) or this machine itself. Both give the same thing: a
//! long-lived shell fed commands, and followers that stream lines.
//!
//! A fresh `ssh host cmd` costs a handshake and a new session each time;
//! a long-lived remote `sh` reading commands from stdin answers in a few
//! milliseconds. Every value put into a command line is quoted with
//! [`quote`]; nothing from the config or a peer is spliced in raw.

use std::path::PathBuf;
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

impl Target {
    /// The local program and arguments that run `remote` (a shell command
    /// line) on the peer.
    pub(crate) fn command(&self, remote: &str) -> Command {
        match self {
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
                c
            }
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Target::Local => "local".into(),
            Target::Ssh(t) => format!("ssh {}", t.destination),
        }
    }
}

/// A long-lived shell on the peer, fed one command at a time.
pub struct Shell {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Ends every answer; random so peer output cannot fake it.
    marker: String,
    target: String,
}

impl Shell {
    pub async fn spawn(target: &Target) -> Result<Shell, TransportError> {
        let mut cmd = target.command("exec sh");
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
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(250);
        loop {
            let mut cmd = target.command(&remote);
            cmd.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true);
            match cmd.spawn() {
                Ok(mut child) => {
                    if let Some(out) = child.stdout.take() {
                        let mut reader = BufReader::new(out);
                        let mut buf = Vec::new();
                        loop {
                            buf.clear();
                            // A quiet stream (`journalctl -f` on an idle
                            // peer) still ends the moment nobody listens.
                            let read = tokio::select! {
                                r = reader.read_until(b'\n', &mut buf) => r,
                                _ = tx.closed() => {
                                    let _ = child.start_kill();
                                    let _ = child.wait().await;
                                    return;
                                }
                            };
                            match read {
                                Ok(0) | Err(_) => break,
                                Ok(_) => {
                                    backoff = Duration::from_millis(250);
                                    if buf.last() == Some(&b'\n') {
                                        buf.pop();
                                    }
                                    if tx.send(FollowEvent::Line(buf.clone())).await.is_err() {
                                        let _ = child.start_kill();
                                        return;
                                    }
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
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = tx.closed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    });
    rx
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
