//! A shared jump host and an unlucky disk: a control directory someone
//! else created, a FIFO at the state-file path, a 40 000-brace
//! keepalived.conf on a peer.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::peer::{config, fake_ssh, run, ssh_peer};

pub(crate) fn local_peer(name: &str, dir: &Path) -> String {
    let d = dir.display();
    format!(
        "[[clusters.peers]]\nname = \"{name}\"\nlocal = true\nnetwork_interface_id = \"eni-{name}\"\n\
         interface = \"vipdeck-none0\"\nstate_file = \"{d}/state\"\nlog_file = \"{d}/keepalived.log\"\n\
         keepalived_conf = \"{d}/keepalived.conf\"\npid_file = \"{d}/keepalived.pid\"\njson_dump = \"{d}/keepalived.json\"\n"
    )
}

pub(crate) fn peer_dir(root: &Path, name: &str, conf: &str) -> std::path::PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(&d).expect("dir");
    std::fs::write(d.join("state"), "BACKUP").expect("state");
    std::fs::write(d.join("keepalived.conf"), conf).expect("conf");
    std::fs::write(
        d.join("keepalived.log"),
        "[2026-11-21 22:44:01]  notify_backup\n",
    )
    .expect("log");
    d
}

pub(crate) const CONF: &str =
    "vrrp_instance VI_1 {\n state BACKUP\n virtual_ipaddress {\n 192.0.2.10\n }\n}\n";

/// Finding 1: another local user who creates the control directory first
/// (mode 0777) receives every command vipdeck sends over ssh.
#[test]
fn a_control_dir_created_by_another_user_is_refused_with_a_fix() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bin = fake_ssh(tmp.path());
    let run_dir = tmp.path().join("run");
    std::fs::create_dir(&run_dir).expect("run");
    let hijack = run_dir.join("vipdeck");
    std::fs::create_dir(&hijack).expect("pre-created");
    std::fs::set_permissions(&hijack, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let root = nix_euid() == 0;
    if root {
        // As root (CI), make it another user's, as on a shared jump host.
        let st = std::process::Command::new("chown")
            .args(["65534:65534"])
            .arg(&hijack)
            .status()
            .expect("chown");
        assert!(st.success());
    }
    let (cfg, env) = ssh_pair_under(tmp.path(), &bin, &run_dir);
    let err = first_peer_error(&cfg, &env);
    assert!(err.contains("unsafe ssh control directory"), "{err}");
    assert!(err.contains("rm -r"), "says how to fix it: {err}");
    if root {
        assert!(err.contains("uid 65534"), "{err}");
    } else {
        assert!(err.contains("0777"), "{err}");
    }
    assert!(
        !bin.join("called").exists(),
        "ssh was never started with that directory"
    );
    // A symbolic link there is refused too, and its target not chmod-ed.
    std::fs::remove_dir(&hijack).expect("rm");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink(&elsewhere, &hijack).expect("symlink");
    let out = run(&["status", "--json"], &cfg, &env);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let err = v["clusters"][0]["peers"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(err.contains("symbolic link"), "{err}");
    let mode = std::fs::metadata(&elsewhere)
        .expect("md")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o755, "the link's target is untouched");
    // Removed, it is created private and ssh runs.
    std::fs::remove_file(&hijack).expect("rm link");
    let _ = run(&["status", "--json"], &cfg, &env);
    let mode = std::fs::metadata(&hijack)
        .expect("created")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
    assert!(bin.join("called").exists());
}

/// A config of two ssh peers (through the fake `ssh` in `bin`) and the
/// environment that puts their control directory under `run_dir`.
pub(crate) fn ssh_pair_under<'a>(
    root: &Path,
    bin: &'a Path,
    run_dir: &'a Path,
) -> (std::path::PathBuf, [(&'static str, &'a Path); 2]) {
    let pd = peer_dir(root, "p", CONF);
    let cfg = config(
        root,
        &format!("{}{}", ssh_peer("a", &pd), ssh_peer("b", &pd)),
    );
    (cfg, [("PATH", bin), ("XDG_RUNTIME_DIR", run_dir)])
}

/// `status --json`'s error for the first peer.
pub(crate) fn first_peer_error(cfg: &Path, env: &[(&str, &Path)]) -> String {
    let out = run(&["status", "--json"], cfg, env);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v["clusters"][0]["peers"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub(crate) fn nix_euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Finding 2: 40 000 nested `{` in a peer's keepalived.conf aborted every
/// command that read that peer.
#[test]
fn a_forty_thousand_brace_conf_on_a_peer_is_an_error_not_a_crash() {
    let tmp = tempfile::tempdir().expect("tmp");
    let deep = format!("vrrp_instance VI_1 {{\n{}\n}}\n", "{".repeat(40_000));
    let a = peer_dir(tmp.path(), "a", &deep);
    let b = peer_dir(tmp.path(), "b", CONF);
    let cfg = config(
        tmp.path(),
        &format!("{}{}", local_peer("a", &a), local_peer("b", &b)),
    );
    let out = run(&["status", "--json"], &cfg, &[]);
    assert!(
        out.status.success(),
        "status survived: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["clusters"][0]["peers"][0]["reachable"], true);
    assert_eq!(v["clusters"][0]["peers"][1]["state_file"], "BACKUP");
}

/// Finding 9: a FIFO at the state-file path hung every poll and leaked a
/// `head` each time.
#[test]
fn a_fifo_state_file_is_refused_as_such_and_leaks_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = peer_dir(tmp.path(), "a", CONF);
    let b = peer_dir(tmp.path(), "b", CONF);
    std::fs::remove_file(a.join("state")).expect("rm");
    let st = std::process::Command::new("mkfifo")
        .arg(a.join("state"))
        .status()
        .expect("mkfifo");
    assert!(st.success());
    let cfg = config(
        tmp.path(),
        &format!("{}{}", local_peer("a", &a), local_peer("b", &b)),
    );
    let started = Instant::now();
    let out = run(&["status", "--json"], &cfg, &[]);
    assert!(started.elapsed() < Duration::from_secs(20));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let p = &v["clusters"][0]["peers"][0];
    assert_eq!(p["reachable"], true, "the poll answered: {p}");
    assert_eq!(p["state_file"], "UNKNOWN", "{p}");
    // No `head` left blocked on the FIFO.
    std::thread::sleep(Duration::from_millis(300));
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .expect("ps");
    let fifo = a.join("state").display().to_string();
    let left: Vec<String> = String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| l.contains(&fifo))
        .map(str::to_string)
        .collect();
    assert!(left.is_empty(), "left running: {left:?}");
}

pub(crate) fn left_running(marker: &str) -> Vec<String> {
    let ps = std::process::Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .expect("ps");
    String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| l.contains(marker) && !l.contains(" ps -eo"))
        .map(str::to_string)
        .collect()
}

/// Finding 9: SIGTERM or SIGHUP to `status --watch` left follower loops
/// (`tail -F`, the state-file loop) running.
#[test]
fn a_signal_to_status_watch_leaves_no_child() {
    for sig in ["TERM", "HUP", "INT"] {
        let tmp = tempfile::tempdir().expect("tmp");
        let a = peer_dir(tmp.path(), "a", CONF);
        let b = peer_dir(tmp.path(), "b", CONF);
        let cfg = config(
            tmp.path(),
            &format!("{}{}", local_peer("a", &a), local_peer("b", &b)),
        );
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vipdeck"))
            .args(["status", "--watch", "--json", "--config"])
            .arg(&cfg)
            .env("VIPDECK_DATA_DIR", tmp.path().join("data"))
            .env("HOME", tmp.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("watch");
        let marker = tmp.path().display().to_string();
        let deadline = Instant::now() + Duration::from_secs(10);
        while left_running(&format!("{marker}/a/keepalived.log")).is_empty()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            !left_running(&format!("{marker}/a/keepalived.log")).is_empty(),
            "the log follower started"
        );
        let st = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(st.success());
        let status = child.wait().expect("ends");
        assert!(!status.success() || status.code().is_some(), "{status:?}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !left_running(&marker).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let left = left_running(&marker);
        assert!(left.is_empty(), "after SIG{sig}: {left:?}");
    }
}
