//! `vipdeck lint --conf` on the keepalived.conf files of Tencent's guides
//! (tests/fixtures/keepalived/seed*.conf): the findings a reviewer expects,
//! at their lines, and the exit codes of `vipdeck check`.

use std::process::Command;

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keepalived/");

/// (exit code, [(code, line)]) of `vipdeck lint --json` on these files.
fn lint(files: &[&str], extra: &[&str]) -> (i32, Vec<(String, Option<u64>)>) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.arg("lint").arg("--json");
    for f in files {
        c.arg("--conf").arg(format!("{FIX}{f}"));
    }
    let out = c.args(extra).output().expect("run vipdeck");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let mut found: Vec<(String, Option<u64>)> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap_or("").to_string(),
                f["line"].as_u64(),
            )
        })
        .collect();
    found.sort();
    (out.status.code().unwrap_or(-1), found)
}

/// Files, extra arguments, exit code, expected (code, line)s.
type Case<'a> = (
    &'a [&'a str],
    &'a [&'a str],
    i32,
    Vec<(String, Option<u64>)>,
);

fn f(code: &str, line: Option<u64>) -> (String, Option<u64>) {
    (code.to_string(), line)
}

#[test]
fn the_seeds_get_the_findings_a_reviewer_expects() {
    let cases: &[Case] = &[
        (
            &["seed000_appendix_missing_global_defs.conf"],
            &[],
            1,
            vec![
                f("VD002", Some(6)),
                f("VD004", Some(2)),
                f("VD004", Some(3)),
                f("VD004", Some(4)),
                f("VD004", Some(5)),
                f("VD106", Some(23)),
            ],
        ),
        (&["seed000_sync_group.conf"], &[], 2, vec![f("VD003", None)]),
        (
            &["seed000_unicast_instance.conf"],
            &[],
            0,
            vec![f("VD106", Some(11))],
        ),
        (
            &["seed001_eni_master.conf"],
            &[],
            1,
            vec![f("VD110", Some(26)), f("VD144", Some(3))],
        ),
        (
            &["seed002_havip01.conf", "seed002_havip02.conf"],
            &["--mode", "havip", "--vip", "172.16.16.12"],
            0,
            vec![f("VD144", Some(2)), f("VD144", Some(2))],
        ),
        (
            &["seed003_typo_instance.conf"],
            &[],
            2,
            vec![f("VD003", None), f("VD004", Some(10))],
        ),
        (
            &["seed004_havip_backup.conf"],
            &[],
            2,
            vec![f("VD146", Some(31))],
        ),
    ];
    for (files, extra, code, want) in cases {
        let (got_code, got) = lint(files, extra);
        assert_eq!(&got, want, "{files:?}");
        assert_eq!(got_code, *code, "{files:?}");
    }
}

#[test]
fn a_pair_that_disagrees_is_named_at_both_files() {
    let (code, got) = lint(
        &["seed001_eni_master.conf", "seed004_havip_backup.conf"],
        &[],
    );
    assert_eq!(code, 2);
    for c in ["VD101", "VD104", "VD110", "VD111", "VD146"] {
        assert!(got.iter().any(|(g, _)| g == c), "{c} missing from {got:?}");
    }
}

#[test]
fn text_output_names_the_place_why_and_fix_and_an_unreadable_file_exits_3() {
    let out = Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .args(["lint", "--conf"])
        .arg(format!("{FIX}seed004_havip_backup.conf"))
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("error   VD146 track-script-undefined  ")
            && text.contains("seed004_havip_backup.conf:31\n"),
        "{text}"
    );
    assert!(
        text.contains("  why: ") && text.contains("  fix: "),
        "{text}"
    );
    assert!(text.contains("offline (--conf)"), "{text}");

    let out = Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .args(["lint", "--conf", "/nonexistent/keepalived.conf"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("VD001"));
}

/// A config of one cluster `t` whose two peers are this machine, each
/// with its own keepalived.conf under `dir`: script security on, and
/// notify_master in a directory anyone may write.
fn local_pair(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let hooks = dir.join("hooks");
    std::fs::create_dir(&hooks).expect("mkdir");
    std::fs::set_permissions(&hooks, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let script = hooks.join("notify.sh");
    std::fs::write(&script, "#!/bin/sh\n").expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for (name, me, other) in [("a", "10.0.0.1", "10.0.0.2"), ("b", "10.0.0.2", "10.0.0.1")] {
        std::fs::write(
            dir.join(format!("{name}.conf")),
            format!(
                "global_defs {{\n enable_script_security\n script_user root\n}}\n\
                 vrrp_instance VI_1 {{\n state BACKUP\n nopreempt\n virtual_router_id 7\n \
                 priority 100\n unicast_src_ip {me}\n unicast_peer {{\n  {other}\n }}\n \
                 virtual_ipaddress {{\n  10.0.0.9\n }}\n garp_master_refresh 5\n \
                 notify_master \"{} MASTER\"\n}}\n",
                script.display()
            ),
        )
        .expect("conf");
    }
    let mut toml = String::from(
        "[cloud]\nregion = \"ap-guangzhou\"\nendpoint = \"http://127.0.0.1:9\"\n\
         [[clusters]]\nname = \"t\"\nmode = \"havip\"\nvip = \"10.0.0.9\"\n",
    );
    for name in ["a", "b"] {
        toml.push_str(&format!(
            "  [[clusters.peers]]\n  name = \"{name}\"\n  local = true\n  \
             network_interface_id = \"eni-{name}0000001\"\n  instance_id = \"ins-{name}0000001\"\n  \
             keepalived_conf = \"{d}/{name}.conf\"\n  state_file = \"{d}/state-{name}\"\n  \
             log_file = \"{d}/log-{name}\"\n",
            d = dir.display()
        ));
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, toml).expect("config");
    path
}

#[test]
fn lint_reads_the_peers_scripts_and_the_collector_exports_the_findings() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = local_pair(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .arg("--config")
        .arg(&config)
        .args(["lint", "--cluster", "t", "--json"])
        .env("VIPDECK_DATA_DIR", dir.path().join("data"))
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let unsafe_: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == "VD143")
        .collect();
    assert_eq!(unsafe_.len(), 2, "one per peer: {v:#}");
    assert_eq!(unsafe_[0]["line"], 18, "the notify_master line: {v:#}");
    assert_eq!(out.status.code(), Some(2));

    // The collector lints in the background and exports the count.
    let mut child = Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .arg("--config")
        .arg(&config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("VIPDECK_DATA_DIR", dir.path().join("data"))
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("serve");
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    use std::io::{BufRead, Read, Write};
    let stderr = child.stderr.take().expect("stderr");
    let child = Reap(child);
    let mut first = String::new();
    let mut lines = std::io::BufReader::new(stderr);
    while !first.contains("http://") {
        first.clear();
        assert!(
            lines.read_line(&mut first).expect("stderr") > 0,
            "serve ended"
        );
    }
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("address")
        .to_string();
    let token = first
        .split("token in ")
        .nth(1)
        .map(|p| std::fs::read_to_string(p.trim()).expect("token"))
        .expect("a token file")
        .trim()
        .to_string();
    let want = "vipdeck_lint_findings{cluster=\"t\",code=\"VD143\",severity=\"error\"} 2";
    let t0 = std::time::Instant::now();
    loop {
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut body = String::new();
        s.read_to_string(&mut body).expect("read");
        if body.contains(want) {
            assert!(
                body.contains("# TYPE vipdeck_lint_findings gauge"),
                "{body}"
            );
            break;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "no `{want}` in /metrics:\n{body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    drop(child);
}

#[test]
fn the_dashboard_counts_the_findings_and_f_lists_them() {
    use crate::tmux_pane::{vipdeck_cmd, Pane};
    let dir = tempfile::tempdir().expect("tmp");
    let config = local_pair(dir.path());
    let pane = Pane::start(
        "lint-f",
        120,
        40,
        &vipdeck_cmd(
            &dir.path().join("data"),
            &format!("--config {}", config.display()),
        ),
    );
    pane.wait_for_text("lint: 2 errors");
    pane.keys(&["f"]);
    let screen = pane.wait_for_text(" lint · t · ");
    assert_eq!(screen.matches("VD143").count(), 2, "{screen}");
    assert!(screen.contains("a:"), "{screen}");
    assert!(screen.contains("/a.conf:18"), "{screen}");
    assert!(screen.contains("why: keepalived logs"), "{screen}");
    pane.keys(&["Escape"]);
    let screen = pane.wait_for("the box closed", |s| !s.contains(" lint · t · "));
    assert!(screen.contains("ALERTS"), "{screen}");
}
