//! vipdeck against the real lab (real keepalived, real sshd, the emulator
//! over real HTTP), through the real binary: `status --json` names the
//! master and the binding in both modes; a killed master shows the new
//! master within 3 s and `healthy` once the binding followed and the old
//! master is back; a failed notify script shows `vip_drift`; a black-holed
//! peer shows `degraded` within the timeout while the other keeps updating.

use crate::support as lab;

use std::time::{Duration, Instant};

use serde_json::Value;

fn status() -> Value {
    let out = lab::vipdeck(&["status", "--json"])
        .output()
        .expect("status runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v["clusters"][0].clone()
}

/// Kill the master: new master seen within 3 s, binding follows, the old
/// master restarts as BACKUP: healthy again.
fn crash_and_recover(l: &lab::Lab, mode: &str) {
    let mut w = lab::Watch::start();
    // Right after `up` the cloud may still be following the first election.
    w.until("healthy before the crash", Duration::from_secs(45), |c| {
        c["verdict"] == "healthy"
    });
    let c = w.last.clone().unwrap_or_default()["clusters"][0].clone();
    assert_eq!(c["master"], l.master.as_str(), "{mode}: {c:#}");
    assert_eq!(c["vip_bound_to"], l.master.as_str());
    assert_eq!(c["mode"], mode);

    let t0 = Instant::now();
    lab::verb(&["kill-keepalived", &l.master]);
    let (seen, _) = w.until("the new master", Duration::from_secs(8), |c| {
        c["master"] == l.backup.as_str()
    });
    let seen_wall =
        chrono::Utc::now() - chrono::Duration::from_std(seen.elapsed()).unwrap_or_default();
    println!(
        "{mode}: new master {} seen {:?} after kill",
        l.backup,
        seen - t0
    );
    let (bound, _) = w.until(
        "the binding on the new master",
        Duration::from_secs(45),
        |c| c["vip_bound_to"] == l.backup.as_str(),
    );
    println!("{mode}: binding followed {:?} after kill", bound - t0);
    // When did keepalived itself take over? Its own dump says, to the µs.
    let c = status();
    let took_over = lab::peer(&c, &l.backup)["last_transition"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .expect("the new master's last transition");
    let latency = (seen_wall - took_over.with_timezone(&chrono::Utc)).num_milliseconds();
    println!("{mode}: takeover on the node → shown by `status --watch`: {latency} ms");
    assert!(
        latency < 3000,
        "{mode}: the new master showed {latency} ms after the takeover"
    );
    // The crashed master: keepalived down, its state file still MASTER, the
    // VIP left on its NIC. vipdeck says so; it is not healthy yet.
    assert_eq!(lab::peer(&c, &l.master)["vrrp_state"], "STOP", "{c:#}");
    assert_eq!(lab::peer(&c, &l.master)["state_file"], "MASTER", "{c:#}");
    assert_ne!(c["verdict"], "healthy");
    lab::verb(&["start-keepalived", &l.master]);
    w.until(
        "healthy after the old master came back",
        Duration::from_secs(15),
        |c| c["verdict"] == "healthy" && c["master"] == l.backup.as_str(),
    );
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn lab_havip_status_crash_and_blackhole() {
    lab::require_root();
    let l = lab::Lab::up("havip");
    let c = status();
    assert_eq!(c["cloud"]["havip_id"], "havip-lab00001", "{c:#}");
    assert_eq!(
        c["cloud"]["credential_source"],
        "profile file /tmp/vdlab/credentials"
    );
    crash_and_recover(&l, "havip");

    // Black-hole SSH to the backup (now the old master): degraded within
    // the command timeout, while the master keeps answering.
    let mut w = lab::Watch::start();
    w.until("healthy", Duration::from_secs(10), |c| {
        c["verdict"] == "healthy"
    });
    let t0 = Instant::now();
    lab::verb(&["blackhole-ssh", &l.master]);
    let (seen, _) = w.until(
        "degraded with the peer unreachable",
        Duration::from_secs(12),
        |c| c["verdict"] == "degraded" && lab::peer(c, &l.master)["reachable"] == false,
    );
    println!(
        "havip: black-holed peer seen unreachable {:?} after the cut",
        seen - t0
    );
    // The other peer is still fresh: its data age stays near the poll interval.
    std::thread::sleep(Duration::from_secs(3));
    let c = status();
    assert_eq!(c["master"], l.backup.as_str(), "{c:#}");
    assert!(
        lab::peer(&c, &l.backup)["data_age_ms"]
            .as_u64()
            .unwrap_or(u64::MAX)
            < 3000,
        "{c:#}"
    );
    assert!(lab::has_alert(&c, "peer_unreachable"), "{c:#}");
    lab::verb(&["restore-ssh", &l.master]);
    w.until("healthy after restore", Duration::from_secs(30), |c| {
        c["verdict"] == "healthy"
    });
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn lab_eni_status_crash_and_failed_notify() {
    lab::require_root();
    let l = lab::Lab::up("eni");
    crash_and_recover(&l, "eni");
    // Now l.backup is master. Break the notify script on the other node and
    // crash the master: the new master's vip.py fails, the cloud stays.
    let (master, next) = (l.backup.clone(), l.master.clone());
    let mut w = lab::Watch::start();
    lab::verb(&["break-notify", &next]);
    lab::verb(&["kill-keepalived", &master]);
    w.until(
        "vip_drift after the failed notify",
        Duration::from_secs(15),
        |c| {
            c["verdict"] == "vip_drift"
                && c["master"] == next.as_str()
                && c["vip_bound_to"] == master.as_str()
        },
    );
    let c = w.last.clone().unwrap_or_default()["clusters"][0].clone();
    let msg = c["alerts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["code"] == "cloud_binding_mismatch"))
        .map(|x| x["message"].as_str().unwrap_or("").to_string())
        .unwrap_or_default();
    assert!(
        msg.starts_with(&format!(
            "cloud binds {} to {master} but {next} is MASTER",
            lab::VIP
        )),
        "{msg}"
    );
}
