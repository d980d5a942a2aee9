//! A program in a tmux pane, driven the way a person drives it: keys sent
//! with `send-keys`, the screen read back with `capture-pane`. Every pane
//! has a tmux server of its own, so tests running at once never share, or
//! end, one another's. tmux is a test dependency
//! (scripts/install-lab-deps.sh installs it); without it a test fails
//! rather than skips.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a wait may take before the test fails: the product's own
/// budgets (a failover step's timeout, a first poll round) and then some,
/// on two shared cores.
const WAIT: Duration = Duration::from_secs(60);

/// How long the pane's program may take to go once its session is gone:
/// tmux hangs it up, and reaps it, a moment after.
const REAP: Duration = Duration::from_secs(5);

/// The command line that runs `vipdeck <args>` with `data` as its data dir.
pub(crate) fn vipdeck_cmd(data: &Path, args: &str) -> String {
    format!(
        "env VIPDECK_DATA_DIR={} {} {args}",
        data.display(),
        env!("CARGO_BIN_EXE_vipdeck")
    )
}

/// A tmux session on a server of its own; killed when dropped, however the
/// test ends, and the program it ran checked gone.
pub(crate) struct Pane {
    name: String,
    /// The program tmux ran in the pane.
    pid: u32,
    /// The server's socket, which tmux leaves behind when it exits.
    socket: std::path::PathBuf,
}

impl Pane {
    /// Runs `cmd` in a `width`×`height` pane. `tag` names the test in
    /// `tmux ls`; the pid and a counter keep the name unique.
    pub(crate) fn start(tag: &str, width: u16, height: u16, cmd: &str) -> Pane {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let name = format!("vipdeck-test-{tag}-{}-{n}", std::process::id());
        let ok = tmux(&name)
            .args(["new-session", "-d", "-s", &name])
            .args(["-x", &width.to_string(), "-y", &height.to_string(), cmd])
            .status()
            .expect("tmux is needed by this test (scripts/install-lab-deps.sh installs it)")
            .success();
        assert!(ok, "tmux new-session failed");
        let out = tmux(&name)
            .args(["display-message", "-p", "-t", &name])
            .arg("#{pane_pid} #{socket_path}")
            .output()
            .expect("tmux display-message");
        let shown = String::from_utf8_lossy(&out.stdout);
        let (pid, socket) = shown
            .trim()
            .split_once(' ')
            .unwrap_or_else(|| panic!("a pane pid and socket: {shown:?}"));
        Pane {
            pid: pid.parse().expect("a pane pid"),
            socket: socket.into(),
            name,
        }
    }

    /// Sends each key (tmux key names: `Enter`, `Escape`, `q`) on its own,
    /// a moment apart: keys that arrive in one read can be taken together
    /// (Esc then q as Alt-q).
    pub(crate) fn keys(&self, keys: &[&str]) {
        for key in keys {
            self.send(&[key]);
        }
    }

    /// Types `text` literally.
    pub(crate) fn type_text(&self, text: &str) {
        self.send(&["-l", text]);
    }

    fn send(&self, args: &[&str]) {
        let ok = tmux(&self.name)
            .args(["send-keys", "-t", &self.name])
            .args(args)
            .status()
            .expect("tmux send-keys")
            .success();
        assert!(ok, "send-keys {args:?}");
        std::thread::sleep(Duration::from_millis(150));
    }

    /// What the pane shows now.
    pub(crate) fn capture(&self) -> String {
        let out = tmux(&self.name)
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits for the pane to satisfy `what`; fails with `why` and the
    /// screen otherwise. Returns the screen that did.
    pub(crate) fn wait_for(&self, why: &str, what: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + WAIT;
        loop {
            let screen = self.capture();
            if what(&screen) {
                return screen;
            }
            assert!(Instant::now() < until, "{why}; the pane shows:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the pane to show `text`.
    pub(crate) fn wait_for_text(&self, text: &str) -> String {
        self.wait_for(&format!("waited for `{text}`"), |s| s.contains(text))
    }

    /// Whether the session is still there (its program has not ended).
    pub(crate) fn alive(&self) -> bool {
        tmux(&self.name)
            .args(["has-session", "-t", &self.name])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Waits for the program to end by itself (`q`), its session with it.
    pub(crate) fn wait_ended(&self, why: &str) {
        let until = Instant::now() + WAIT;
        while self.alive() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!self.alive(), "{why}; the pane shows:\n{}", self.capture());
        self.assert_program_gone();
    }

    /// Gone, or a zombie its parent has yet to reap.
    fn program_gone(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .map_or(true, |st| st.contains(") Z "))
    }

    fn assert_program_gone(&self) {
        let until = Instant::now() + REAP;
        while !self.program_gone() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            self.program_gone(),
            "the pane's program (pid {}) ended with its pane",
            self.pid
        );
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = tmux(&self.name)
            .arg("kill-server")
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(&self.socket);
        // A failing test is already unwinding: its own message is the one
        // to read, and a second panic would abort.
        if !std::thread::panicking() {
            self.assert_program_gone();
        }
    }
}

/// `tmux` on the pane's own server (`-L`).
fn tmux(server: &str) -> Command {
    let mut c = Command::new("tmux");
    c.args(["-L", server]);
    c
}

/// The helper's own promise: a program that outlives its pane (here one
/// that ignores the hangup tmux sends) fails the test that ran it.
#[test]
fn a_program_that_outlives_its_pane_fails_the_test() {
    let pane = Pane::start("outlives", 40, 5, "trap '' HUP; exec sleep 60");
    let pid = pane.pid;
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(pane)));
    // It is ours: end it before saying anything.
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    let message = dropped.expect_err("the pane's program outlived it unnoticed");
    let message = message.downcast_ref::<String>().map_or("", String::as_str);
    assert!(message.contains("ended with its pane"), "{message}");
}
