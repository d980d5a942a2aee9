//! The failover lock against a hostile peer user: anyone with a shell on a
//! peer can write in `/run/lock`. A lock planted there, dated 2099, with an
//! escape sequence and a newline in its owner, forged a line in the dry
//! run and blocked every failover; `--override lock_stale` did not help.

use std::path::Path;

use crate::peer::{config, raw_escapes, run, ssh_peer};

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A fake `ssh` that runs the remote command here, as this user: the
/// peers are this machine, their lock directory a temp dir.
fn plain_ssh(dir: &Path) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let ssh = bin.join("ssh");
    std::fs::write(
        &ssh,
        "#!/bin/sh\nfor a; do last=$a; done\necho called >> \"$(dirname \"$0\")/called\"\nexec sh -c \"$last\"\n",
    )
    .expect("ssh");
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&ssh)
        .status()
        .expect("chmod");
    bin
}

fn peer_files(dir: &Path, state: &str) {
    std::fs::create_dir_all(dir).expect("peer dir");
    std::fs::write(dir.join("state"), state).expect("state");
    std::fs::write(
        dir.join("keepalived.conf"),
        "vrrp_instance VI_1 {\n state BACKUP\n virtual_ipaddress {\n 192.0.2.10\n }\n}\n",
    )
    .expect("conf");
    std::fs::write(dir.join("keepalived.log"), "").expect("log");
}

/// M6, end to end: the planted lock is suspect (not trusted: another
/// user's, dated in the future), shown clean on one line, and
/// `--override lock_stale` overrides it.
#[test]
fn a_planted_future_lock_forges_no_line_and_is_overridable() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bin = plain_ssh(tmp.path());
    let run_dir = tmp.path().join("run");
    std::fs::create_dir(&run_dir).expect("run dir");
    let locks = tmp.path().join("locks");
    std::fs::create_dir(&locks).expect("locks");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    peer_files(&a, "MASTER");
    peer_files(&b, "BACKUP");
    let cfg = config(
        tmp.path(),
        &format!("{}{}", ssh_peer("evil-a", &a), ssh_peer("evil-b", &b)),
    );
    let forged = "{\"owner\":\"mallory\\u001b[2K\\r\\n  [PASS] lock                       no other vipdeck failover holds this cluster\",\
                  \"host\":\"h\\u001b]0;owned\\u0007\",\"pid\":1,\"started\":\"2099-01-01T00:00:00Z\",\"token\":\"x\"}\n";
    let lock = locks.join("vipdeck-failover-web.lock");
    std::fs::write(&lock, forged).expect("plant");
    if is_root() {
        std::os::unix::fs::chown(&lock, Some(65534), Some(65534)).expect("chown");
    }
    let env = [
        ("PATH", bin.as_path()),
        ("XDG_RUNTIME_DIR", run_dir.as_path()),
        ("VIPDECK_LOCK_DIR", locks.as_path()),
    ];
    let out = run(
        &[
            "failover",
            "--cluster",
            "web",
            "--to",
            "evil-b",
            "--dry-run",
            "--override",
            "lock_stale",
        ],
        &cfg,
        &env,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(bin.join("called").exists(), "the fake ssh was used");
    for (what, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        let bad = raw_escapes(text);
        assert!(bad.is_empty(), "{what}: raw {bad:?}");
    }
    assert!(
        !stdout
            .lines()
            .any(|l| l.trim_start().starts_with("[PASS] lock ")),
        "a forged line:\n{stdout}"
    );
    let lock_lines: Vec<&str> = stdout.lines().filter(|l| l.contains("lock")).collect();
    assert!(
        lock_lines
            .iter()
            .any(|l| l.contains("OVERRIDDEN") && l.contains("lock_stale")),
        "the planted lock is overridden:\n{stdout}\n{stderr}"
    );
    assert!(
        !lock_lines.iter().any(|l| l.contains("[FAIL] lock ")),
        "not an unoverridable lock:\n{stdout}"
    );
    assert!(lock.exists(), "a dry run removes nothing");
}
