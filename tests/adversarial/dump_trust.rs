//! A pid file that names the wrong process: keepalived died and its pid
//! went to someone else's program, or another user planted it. Asking
//! keepalived for its dump sends a signal to that pid; one `status` killed
//! a `sleep` that way. Only keepalived run by root is signalled, and the
//! verdict says why the others were not.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::files::{local_peer, peer_dir, CONF};
use crate::peer::{config, run};

/// Kills the planted process when the test ends, passed or not.
struct Planted(std::process::Child);

impl Drop for Planted {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `keepalived` first on PATH that says it is 2.2.7 and that its JSON
/// dump comes on signal 10 (SIGUSR1, which ends a `sleep`).
fn fake_keepalived(bin: &Path) {
    std::fs::create_dir_all(bin).expect("bin");
    let f = bin.join("keepalived");
    std::fs::write(
        &f,
        "#!/bin/sh\ncase \"$1\" in\n--version) echo 'Keepalived v2.2.7 (01/16,2022)';;\n\
         --signum=JSON) echo 10;;\n--signum=DATA) echo 12;;\nesac\n",
    )
    .expect("fake keepalived");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Finding M7: the pid file names a running `sleep` (a copy under another
/// name, its binary then made unreadable as a program, so vipdeck falls
/// back to the `keepalived` on PATH to learn the dump signal). `status`
/// must leave it running and say why keepalived gave no dump.
#[test]
fn a_pid_file_naming_another_process_is_never_signalled() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = peer_dir(tmp.path(), "a", CONF);
    let b = peer_dir(tmp.path(), "b", CONF);
    std::fs::write(a.join("state"), "MASTER").expect("state");
    let bin = tmp.path().join("bin");
    fake_keepalived(&bin);

    let sleep = ["/usr/bin/sleep", "/bin/sleep"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("sleep");
    let prog = tmp.path().join("not-keepalived");
    std::fs::copy(sleep, &prog).expect("copy sleep");
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let planted = Planted(Command::new(&prog).arg("600").spawn().expect("spawn"));
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::write(a.join("keepalived.pid"), format!("{}\n", planted.0.id())).expect("pid");

    let cfg = config(
        tmp.path(),
        &format!("{}{}", local_peer("a", &a), local_peer("b", &b)),
    );
    let out = run(&["status", "--json"], &cfg, &[("PATH", bin.as_path())]);
    let mut planted = planted;
    let alive = planted.0.try_wait().expect("try_wait").is_none();
    assert!(
        alive,
        "the process the pid file names was signalled: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let p = &v["clusters"][0]["peers"][0];
    assert_eq!(p["reachable"], true, "{p}");
    let note = p["witness_note"].as_str().unwrap_or_default();
    assert!(
        note.contains("not keepalived run by root") && note.contains("not-keepalived"),
        "the verdict says why no dump was asked: {p}"
    );
}
