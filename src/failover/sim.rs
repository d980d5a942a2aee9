//! Failover against the embedded simulator: the config a simulated cluster
//! would have, the simulator run without a dashboard, and the demo's own
//! audit file. The executor acts on the simulator through its hands
//! (`super::hands::Hands::Sim`); the plan, steps, checks and session are
//! the ones every failover uses.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use crate::core::config::{ClusterConfig, PeerConfig, PeerTarget};
use crate::core::model::ClusterSpec;
use crate::sources::monitor::Tasks;
use crate::sources::simulator::{self, world::SimCluster, SimCommand, SimTiming};

/// The config vipdeck would have for a simulated cluster: the seed's
/// paths and systemd commands, the simulator's ENIs and instances.
pub(crate) fn cluster_config(spec: &ClusterSpec) -> anyhow::Result<ClusterConfig> {
    let peer = |i: usize| {
        let p = &spec.peers[i];
        PeerConfig {
            name: p.name.clone(),
            target: PeerTarget::Ssh(p.address.clone()),
            network_interface_id: p.network_interface_id.clone(),
            instance_id: p.instance_id.clone(),
            interface: "eth0".into(),
            state_file: "/var/run/keepalived.state".into(),
            log_file: "/var/log/keepalived-notify.log".into(),
            keepalived_conf: "/etc/keepalived/keepalived.conf".into(),
            start_cmd: "systemctl start keepalived".into(),
            stop_cmd: "systemctl stop keepalived".into(),
            daemon_log: None,
            pid_file: "/run/keepalived.pid".into(),
            json_dump: "/tmp/keepalived.json".into(),
            data_dump: "/tmp/keepalived.data".into(),
        }
    };
    Ok(ClusterConfig {
        name: spec.name.clone(),
        mode: spec.mode,
        vip: spec
            .vip
            .parse()
            .map_err(|e| anyhow::anyhow!("simulated VIP {}: {e}", spec.vip))?,
        havip_id: spec.havip_id.clone(),
        region: None,
        converge_grace_ms: None,
        probe: demo_probe(),
        peers: [peer(0), peer(1)],
    })
}

/// A practice failover reads the simulator's data plane for the demo's
/// probed clusters (the failover's start sets it); `VIPDECK_DEMO_PROBE=http://127.0.0.1:8080/`
/// (or `tcp:PORT`, probing 127.0.0.1) makes it probe a service the
/// operator runs, every `VIPDECK_DEMO_PROBE_INTERVAL_MS` (default 1000),
/// to try the clients' line of the failover summary on the demo.
pub(crate) fn demo_probe() -> Option<crate::core::dataplane::ProbeSpec> {
    use crate::core::dataplane::{NodeFrom, ProbeSpec, ProbeTarget};
    let text = std::env::var("VIPDECK_DEMO_PROBE").ok()?;
    // `tcp:PORT` probes the VIP, which is simulated: point it here.
    let text = match text.strip_prefix("tcp:") {
        Some(port) => format!("http://127.0.0.1:{port}/"),
        None => text,
    };
    let target = ProbeTarget::parse(&text).ok()?;
    let interval = std::env::var("VIPDECK_DEMO_PROBE_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| (50..=60_000).contains(ms))
        .unwrap_or(1000);
    let interval = std::time::Duration::from_millis(interval);
    Some(ProbeSpec {
        target,
        interval,
        timeout: interval * 4 / 5,
        node_from: Some(NodeFrom::Header("X-Node".into())),
    })
}

/// The directory under the data dir that holds one directory per demo run.
const DEMO_RUNS: &str = "demo-runs";
/// A demo run's record, in its run's directory.
const DEMO_AUDIT: &str = "demo-audit.jsonl";

/// Where failovers practised on the simulator are recorded: beside the
/// real audit trail, never in it, and one record per run (this process),
/// so a new demo has no failover behind it and two demos never share one:
/// `<data dir>/demo-runs/<run>/demo-audit.jsonl`. The run's directory is
/// made here, new (never one that already exists), 0700; `None` when it
/// cannot be (no data dir, or a `demo-runs` that is not ours alone).
pub(crate) fn demo_audit_path() -> Option<PathBuf> {
    static RUN: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        let runs = crate::core::config::data_dir()?.join(DEMO_RUNS);
        new_run_dir(&runs, chrono::Utc::now()).ok()
    })
    .as_ref()
    .map(|d| d.join(DEMO_AUDIT))
}

/// Makes a new directory for a run under `runs` (made 0700 if missing, and
/// refused unless it is ours and no one else can write to it): named by
/// the time, the pid and a random part, created with `mkdir`, which fails
/// rather than reuse a directory someone made first.
fn new_run_dir(runs: &Path, now: chrono::DateTime<chrono::Utc>) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(runs)?;
    let md = std::fs::symlink_metadata(runs)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if !md.is_dir() || md.uid() != me || md.mode() & 0o022 != 0 {
        return Err(std::io::Error::other(format!(
            "{} is not a directory only this user can write to",
            runs.display()
        )));
    }
    forget_old_runs(runs, std::time::SystemTime::now());
    let mut last = None;
    for _ in 0..8 {
        let name = format!(
            "{}-{}-{:08x}",
            now.format("%Y%m%dT%H%M%S"),
            std::process::id(),
            rand::random::<u32>()
        );
        let dir = runs.join(name);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no run directory")))
}

/// How long a demo run's record is kept after its last change.
const DEMO_RUN_KEPT: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Removes the run directories under `runs` (ours: made 0700 under a
/// directory only we can write to) whose record has not changed for
/// [`DEMO_RUN_KEPT`]: each demo run makes one, and practice is not history.
fn forget_old_runs(runs: &Path, now: std::time::SystemTime) {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return;
    };
    for e in entries.flatten() {
        // Directories only, never followed through a symbolic link.
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = e.path();
        let changed = [dir.clone(), dir.join(DEMO_AUDIT)]
            .iter()
            .filter_map(|p| std::fs::symlink_metadata(p).and_then(|m| m.modified()).ok())
            .max();
        let old = changed
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > DEMO_RUN_KEPT);
        if old {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// The newest demo run's record (by its directory's name, which starts
/// with the run's time), for `audit --demo` and `incident --demo`; and how
/// many runs there are.
pub(crate) fn latest_demo_audit() -> Option<(PathBuf, usize)> {
    let runs = crate::core::config::data_dir()?.join(DEMO_RUNS);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&runs)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|d| d.join(DEMO_AUDIT).is_file())
        .collect();
    dirs.sort();
    let n = dirs.len();
    dirs.pop().map(|d| (d.join(DEMO_AUDIT), n))
}

/// A simulator of `world` with no dashboard: its own reports are read and
/// dropped, so it never waits on them. Its tasks end with `tasks`.
pub(crate) fn spawn_headless(
    world: Vec<SimCluster>,
    timing: SimTiming,
    tasks: &mut Tasks,
) -> mpsc::Sender<SimCommand> {
    let (tx, mut rx) = mpsc::channel(1024);
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    tasks.spawn(simulator::run(world, timing, tx, cmd_rx));
    tasks.spawn(async move { while rx.recv().await.is_some() {} });
    cmd_tx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_gets_a_new_private_directory_and_week_old_runs_go() {
        use std::os::unix::fs::PermissionsExt;
        let data = tempfile::tempdir().expect("tmp");
        let runs = data.path().join(DEMO_RUNS);
        let now = chrono::Utc::now();
        let first = new_run_dir(&runs, now).expect("a run");
        let second = new_run_dir(&runs, now).expect("another run");
        assert_ne!(first, second, "each run its own");
        for d in [&runs, &first, &second] {
            let mode = std::fs::metadata(d).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}: {mode:o}", d.display());
        }
        std::fs::write(second.join(DEMO_AUDIT), "{}\n").expect("a record");
        // Eight days on, both are forgotten; a fresh one is kept.
        let later = std::time::SystemTime::now() + DEMO_RUN_KEPT + DEMO_RUN_KEPT / 7;
        forget_old_runs(&runs, later);
        assert!(!first.exists() && !second.exists());
        let third = new_run_dir(&runs, now).expect("a run");
        forget_old_runs(&runs, std::time::SystemTime::now());
        assert!(third.exists());
    }

    #[test]
    fn a_runs_directory_others_can_write_to_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let data = tempfile::tempdir().expect("tmp");
        let runs = data.path().join(DEMO_RUNS);
        std::fs::create_dir(&runs).expect("mkdir");
        std::fs::set_permissions(&runs, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let err = new_run_dir(&runs, chrono::Utc::now()).expect_err("refused");
        assert!(err.to_string().contains("only this user"), "{err}");
    }
}
