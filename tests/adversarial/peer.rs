//! A hostile peer: a fake `ssh` first on PATH whose every answer starts
//! with OSC 52 (clipboard), CSI 2J (clear), a title, a bidi override, NULs
//! and a 1 MiB line, and peer files full of the same. Nothing of it may
//! reach the terminal raw; `--json` keeps it exact.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// What the hostile peer says before anything else.
pub(crate) const HOSTILE: &str =
    "\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2J\u{1b}]0;owned\u{7}\u{202e}evil\u{0}\u{0}";

/// Bytes that must never reach a terminal from a peer or the cloud.
pub(crate) fn raw_escapes(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| {
            (c.is_control() && !matches!(c, '\n'))
                || ('\u{202a}'..='\u{202e}').contains(c)
                || ('\u{2066}'..='\u{2069}').contains(c)
        })
        .collect()
}

/// A fake `ssh`: prints the hostile prefix and a 1 MiB line, then runs
/// the remote command here. `$CALLED` records that it was started.
pub(crate) fn fake_ssh(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let script = r#"#!/bin/sh
for a; do last=$a; done
echo called >> "$(dirname "$0")/called"
printf '\033]52;c;cHduZWQ=\007\033[2J\033]0;owned\007\342\200\256evil\000\000'
head -c 1048576 /dev/zero | tr '\000' A
echo
exec sh -c "$last"
"#;
    let ssh = bin.join("ssh");
    std::fs::write(&ssh, script).expect("ssh");
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&ssh)
        .status()
        .expect("chmod");
    bin
}

pub(crate) fn config(dir: &Path, peers: &str) -> PathBuf {
    let text = format!(
        "[cloud]\nregion = \"ap-guangzhou\"\nendpoint = \"http://127.0.0.1:9\"\n\n\
         [ssh]\nconnect_timeout_ms = 2000\ncommand_timeout_ms = 3000\n\n\
         [[clusters]]\nname = \"web\"\nmode = \"havip\"\nvip = \"192.0.2.10\"\nhavip_id = \"havip-web00001\"\n{peers}"
    );
    let path = dir.join("vipdeck.toml");
    std::fs::write(&path, text).expect("config");
    path
}

pub(crate) fn ssh_peer(name: &str, dir: &Path) -> String {
    let d = dir.display();
    format!(
        "[[clusters.peers]]\nname = \"{name}\"\nssh = \"evil@{name}\"\nnetwork_interface_id = \"eni-{name}\"\n\
         interface = \"vipdeck-none0\"\nstate_file = \"{d}/state\"\nlog_file = \"{d}/keepalived.log\"\n\
         keepalived_conf = \"{d}/keepalived.conf\"\npid_file = \"{d}/keepalived.pid\"\njson_dump = \"{d}/keepalived.json\"\n"
    )
}

pub(crate) fn run(args: &[&str], cfg: &Path, env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.args(args)
        .arg("--config")
        .arg(cfg)
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .env("HOME", cfg.parent().expect("dir"))
        .env("VIPDECK_DATA_DIR", cfg.parent().expect("dir").join("data"))
        .env("TENCENTCLOUD_METADATA_URL", "http://127.0.0.1:9/")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        if *k == "PATH" {
            let path = std::env::var("PATH").unwrap_or_default();
            c.env("PATH", format!("{}:{path}", v.display()));
        } else {
            c.env(k, v);
        }
    }
    let child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("vipdeck runs");
    let out = wait_with_timeout(child, Duration::from_secs(60));
    out.expect("vipdeck ended within 60 s")
}

fn wait_with_timeout(child: std::process::Child, limit: Duration) -> Option<Output> {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(r) => r.ok(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            None
        }
    }
}

fn hostile_files(dir: &Path) {
    std::fs::create_dir_all(dir).expect("peer dir");
    std::fs::write(dir.join("state"), format!("MASTER{HOSTILE}")).expect("state");
    std::fs::write(
        dir.join("keepalived.conf"),
        format!("global_defs {{\n router_id \"{HOSTILE}\"\n}}\nvrrp_instance VI_{HOSTILE} {{\n state BACKUP\n virtual_ipaddress {{\n 192.0.2.10\n }}\n}}\n"),
    )
    .expect("conf");
    std::fs::write(
        dir.join("keepalived.log"),
        format!("[2026-11-21 22:44:01]  notify_master {HOSTILE}\n"),
    )
    .expect("log");
}

/// Finding 3: peer output in a connection error reached the terminal raw.
#[test]
fn a_hostile_peer_cannot_put_escapes_on_the_terminal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bin = fake_ssh(tmp.path());
    let run_dir = tmp.path().join("run");
    std::fs::create_dir(&run_dir).expect("run dir");
    let peer_dir = tmp.path().join("peer");
    hostile_files(&peer_dir);
    let cfg = config(
        tmp.path(),
        &format!(
            "{}{}",
            ssh_peer("evil-a", &peer_dir),
            ssh_peer("evil-b", &peer_dir)
        ),
    );
    let env = [
        ("PATH", bin.as_path()),
        ("XDG_RUNTIME_DIR", run_dir.as_path()),
    ];
    for args in [&["status"][..], &["check"], &["logs"]] {
        let out = run(args, &cfg, &env);
        for (what, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let text = String::from_utf8_lossy(text);
            let bad = raw_escapes(&text);
            assert!(
                bad.is_empty(),
                "{args:?} {what}: raw {bad:?} in {:?}",
                &text[..text.len().min(400)]
            );
        }
        if args == ["status"] {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains("␛]52;c;"),
                "shown as placeholders: {}",
                &text[..text.len().min(800)]
            );
        }
    }
    assert!(bin.join("called").exists(), "the fake ssh was used");
    // JSON stays exact: the escapes are there, escaped.
    let out = run(&["status", "--json"], &cfg, &env);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let err = v["clusters"][0]["peers"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        err.contains("\u{1b}]52;c;cHduZWQ=\u{7}"),
        "exact in JSON: {:?}",
        &err[..err.len().min(200)]
    );
}

/// Finding 3, in the TUI: an OSC 52 from a peer wrote the operator's
/// clipboard and retitled the pane. The dashboard runs in a
/// pseudo-terminal (`script`) and everything it writes is checked.
#[test]
fn the_tui_draws_a_hostile_peer_without_its_escapes() {
    use std::io::{Read, Write};
    if Command::new("script").arg("--version").output().is_err() {
        panic!("`script` (util-linux) is needed for the pseudo-terminal check");
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let bin = fake_ssh(tmp.path());
    let run_dir = tmp.path().join("run");
    std::fs::create_dir(&run_dir).expect("run dir");
    let peer_dir = tmp.path().join("peer");
    hostile_files(&peer_dir);
    let cfg = config(
        tmp.path(),
        &format!(
            "{}{}",
            ssh_peer("evil-a", &peer_dir),
            ssh_peer("evil-b", &peer_dir)
        ),
    );
    let path = std::env::var("PATH").unwrap_or_default();
    let cmd = format!(
        "stty rows 50 cols 160; exec {} --config {}",
        env!("CARGO_BIN_EXE_vipdeck"),
        cfg.display()
    );
    let mut child = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env("PATH", format!("{}:{path}", bin.display()))
        .env("XDG_RUNTIME_DIR", &run_dir)
        .env("HOME", tmp.path())
        .env("VIPDECK_DATA_DIR", tmp.path().join("data"))
        .env("TERM", "xterm-256color")
        .env("COLUMNS", "160")
        .env("LINES", "50")
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("script runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = stdout.read_to_end(&mut all);
        all
    });
    // Long enough for both peers' errors to be drawn.
    std::thread::sleep(Duration::from_secs(6));
    let _ = stdin.write_all(b"q");
    let _ = stdin.flush();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(stdin);
    let raw = reader.join().expect("reader");
    let screen = String::from_utf8_lossy(&raw);
    assert!(
        screen.contains("evil-a"),
        "the dashboard was drawn: {} bytes",
        raw.len()
    );
    for bad in ["\u{1b}]52;", "\u{1b}]0;owned", "\u{202e}", "\u{0}"] {
        assert!(!screen.contains(bad), "{bad:?} reached the terminal");
    }
    // After `q`: no child of the dashboard is left (the fake ssh runs the
    // peer's commands here, so they would show in the process table).
    let marker = peer_dir.display().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let left = loop {
        let ps = Command::new("ps")
            .args(["-eo", "pid,args"])
            .output()
            .expect("ps");
        let left: Vec<String> = String::from_utf8_lossy(&ps.stdout)
            .lines()
            .filter(|l| l.contains(&marker))
            .map(str::to_string)
            .collect();
        if left.is_empty() || std::time::Instant::now() > deadline {
            break left;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(left.is_empty(), "left after q: {left:?}");
}
