//! `vipdeck lint` against real keepalived: a notify script in a directory
//! another user can write, on a node with `enable_script_security`, is
//! refused by keepalived itself (it logs "Unsafe permissions found for
//! script ..., disabling"); lint names it at its line of keepalived.conf,
//! and the dashboard's `f` list shows it once.

use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::support::{self as lab, Lab, LAB_ROOT};
use crate::tmux::{tmux, wait_pane, Tmux};

/// The node's daemon log (where keepalived's own lines go in this lab).
fn daemon_log() -> String {
    let env = std::fs::read_to_string(format!("{LAB_ROOT}/lab.env")).expect("lab.env");
    env.lines()
        .find_map(|l| l.strip_prefix("VDLAB_DAEMON_LOG="))
        .expect("VDLAB_DAEMON_LOG")
        .to_string()
}

fn node_sh(node: &str, script: &str) -> String {
    let out = lab::run(&["exec", node, "sh", "-c", script]);
    assert!(out.status.success(), "{script}: {}", lab::text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn a_notify_script_blocked_by_script_security_is_linted() {
    lab::require_root();
    let lab = Lab::up("havip");
    // The backup: the master keeps the VIP while its keepalived restarts.
    let node = lab.backup.clone();
    // A copy of the notify script in a directory anyone may write (root
    // owns it; mode 0777, no sticky bit), for notify_fault only, and
    // script security on.
    node_sh(
        &node,
        "set -e; mkdir -p /etc/keepalived/hooks; chmod 0777 /etc/keepalived/hooks; \
         cp /etc/keepalived/notify_action.sh /etc/keepalived/hooks/; \
         sed -i 's#notify_fault \"/etc/keepalived/notify_action.sh#notify_fault \"/etc/keepalived/hooks/notify_action.sh#; \
         s#^global_defs {#global_defs {\\n   enable_script_security#' /etc/keepalived/keepalived.conf",
    );
    let line: usize = node_sh(
        &node,
        "grep -n 'hooks/notify_action.sh' /etc/keepalived/keepalived.conf | cut -d: -f1",
    )
    .trim()
    .parse()
    .expect("the notify_fault line");
    let log = daemon_log();
    let before: usize = node_sh(
        &node,
        &format!("grep -c 'Unsafe permissions' {log} || true"),
    )
    .trim()
    .parse()
    .unwrap_or(0);
    lab::verb(&["stop-keepalived", &node]);
    lab::verb(&["start-keepalived", &node]);

    // keepalived itself refuses the script.
    let t0 = Instant::now();
    let refused = loop {
        let said = node_sh(&node, &format!("grep 'Unsafe permissions' {log} || true"));
        if said.lines().count() > before {
            break said;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "keepalived did not refuse the script:\n{}",
            lab::diagnostics()
        );
        sleep(Duration::from_millis(250));
    };
    assert!(
        refused.contains("/etc/keepalived/hooks/notify_action.sh") && refused.contains("disabling"),
        "{refused}"
    );

    // lint names it, once, at its line, as an error (exit 2).
    let out = lab::vipdeck(&["lint", "--cluster", "lab", "--json"])
        .output()
        .expect("vipdeck lint");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let unsafe_: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == "VD143")
        .collect();
    assert_eq!(unsafe_.len(), 1, "{v:#}");
    let f = unsafe_[0];
    assert_eq!(f["peer"], node.as_str(), "{f:#}");
    assert_eq!(f["file"], "/etc/keepalived/keepalived.conf", "{f:#}");
    assert_eq!(f["line"], line, "{f:#}");
    assert_eq!(f["severity"], "error", "{f:#}");
    assert!(
        f["message"]
            .as_str()
            .unwrap_or_default()
            .contains("/etc/keepalived/hooks is writable by a non-root user"),
        "{f:#}"
    );
    assert_eq!(out.status.code(), Some(2), "{v:#}");
    let text = lab::vipdeck(&["lint", "--cluster", "lab"])
        .output()
        .expect("vipdeck lint");
    let text = String::from_utf8_lossy(&text.stdout);
    println!("{text}");
    assert!(
        text.contains(&format!(
            "VD143 script-unsafe  {node}:/etc/keepalived/keepalived.conf:{line}"
        )),
        "{text}"
    );

    // The dashboard counts it and `f` lists it once.
    let session = "vipdeck-lint-test";
    let data = tempfile::tempdir().expect("data dir");
    let _tmux = Tmux::dashboard(session, data.path(), (160, 48));
    wait_pane(session, "lint: 1 error", Duration::from_secs(30));
    tmux(&["send-keys", "-t", session, "f"]);
    let pane = wait_pane(session, " lint · lab · ", Duration::from_secs(10));
    println!("{pane}");
    assert_eq!(pane.matches("VD143").count(), 1, "{pane}");
    assert!(
        pane.contains(&format!("{node}:/etc/keepalived/keepalived.conf:{line}")),
        "{pane}"
    );
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn the_lab_eni_pair_and_its_vip_py_lint_without_errors() {
    lab::require_root();
    let _lab = Lab::up("eni");
    let out = lab::vipdeck(&["lint", "--cluster", "lab", "--json"])
        .output()
        .expect("vipdeck lint");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    println!("{v:#}");
    let findings = v["findings"].as_array().expect("findings");
    // The lab is the recommended setup: both BACKUP, equal priority,
    // nopreempt, its vip.py naming the VIP and the right ENIs; only the
    // scripts running as root without script security is worth a note.
    let codes: Vec<&str> = findings.iter().filter_map(|f| f["code"].as_str()).collect();
    assert_eq!(codes, vec!["VD144", "VD144"], "{v:#}");
    assert_eq!(out.status.code(), Some(0), "{v:#}");

    // vip.py's settings copied from the other node unchanged: both ENIs swapped.
    let node = "vdlab-a";
    node_sh(
        node,
        "set -e; f=/etc/keepalived/vip.conf; sed -i 's/eni-laba0001/eni-TMP/; s/eni-labb0001/eni-laba0001/; s/eni-TMP/eni-labb0001/' $f",
    );
    let out = lab::vipdeck(&["lint", "--cluster", "lab", "--json"])
        .output()
        .expect("vipdeck lint");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let wrong: Vec<(&str, &str)> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == "VD151")
        .map(|f| {
            (
                f["peer"].as_str().unwrap_or(""),
                f["file"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        wrong,
        vec![
            (node, "/etc/keepalived/vip.py"),
            (node, "/etc/keepalived/vip.py")
        ],
        "{v:#}"
    );
    assert_eq!(out.status.code(), Some(2));
}
