//! The dashboard in tmux for the lab tests: a session started on the lab's
//! config, panes waited for, the session killed when the test ends.

use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::support::LAB_ROOT;

/// Runs tmux with `args` on the default server; returns what it printed.
pub(crate) fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until the tmux pane shows `what`; returns the pane.
pub(crate) fn wait_pane(session: &str, what: &str, within: Duration) -> String {
    let t0 = Instant::now();
    loop {
        let pane = tmux(&["capture-pane", "-p", "-t", session]);
        if pane.contains(what) {
            return pane;
        }
        assert!(t0.elapsed() < within, "no `{what}` on screen:\n{pane}");
        sleep(Duration::from_millis(100));
    }
}

/// Kills the tmux session when the test ends.
pub(crate) struct Tmux(pub(crate) &'static str);

impl Drop for Tmux {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", self.0]);
    }
}

impl Tmux {
    /// The dashboard on the lab's config (its credentials, its data in
    /// `data_dir`) in a new `cols`×`rows` session, after killing any
    /// session of that name a failed run left. The command sleeps after
    /// vipdeck exits so that its last screen can still be read.
    pub(crate) fn dashboard(
        session: &'static str,
        data_dir: &Path,
        (cols, rows): (u16, u16),
    ) -> Tmux {
        tmux(&["kill-session", "-t", session]);
        let cmd = format!(
            "TENCENTCLOUD_CREDENTIALS_FILE={LAB_ROOT}/credentials VIPDECK_DATA_DIR={} {} --config {LAB_ROOT}/vipdeck.toml; sleep 60",
            data_dir.display(),
            env!("CARGO_BIN_EXE_vipdeck")
        );
        let (cols, rows) = (cols.to_string(), rows.to_string());
        tmux(&[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            &cols,
            "-y",
            &rows,
            &cmd,
        ]);
        Tmux(session)
    }
}
