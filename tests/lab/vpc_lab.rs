//! The lab VPC (#27, docs/lab.md): a client namespace reaches the VIP only
//! through a router whose host route follows the emulated cloud's binding,
//! so a binding that does not follow keepalived is a real outage for the
//! lab's client — and vipdeck's data-plane probe, which takes the same
//! path from the host, must say so in the same round.

use crate::support as lab;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// `status --watch --json` with the probe config.
fn watch_probe() -> lab::Watch {
    lab::Watch::spawn(lab::vipdeck_probe(&["status", "--watch", "--json"]))
}

fn client_probe() -> String {
    let out = lab::run(&["client-probe"]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn answered_by(c: &Value, node: &str) -> bool {
    c["dataplane"]["reachable"] == true && c["dataplane"]["node"] == node
}

fn healthy_and_answered_by_master(c: &Value) -> bool {
    c["verdict"] == "healthy"
        && c["master"].as_str().is_some_and(|m| answered_by(c, m))
        && c["vip_bound_to"] == c["master"]
}

fn last_route() -> String {
    lab::vpc_routes()
        .last()
        .map(|(_, n)| n.clone())
        .unwrap_or_default()
}

/// Nothing of the lab VPC is left: namespaces, links, the host's route,
/// the watcher, the services, the client loop.
fn assert_vpc_gone() {
    let netns = Command::new("ip").args(["netns", "list"]).output();
    let netns = String::from_utf8_lossy(&netns.expect("ip netns").stdout).into_owned();
    assert!(!netns.contains("vdlab-"), "namespaces left: {netns}");
    let route = Command::new("ip")
        .args(["-4", "route", "show", lab::VIP])
        .output()
        .expect("ip route");
    assert!(
        route.stdout.is_empty(),
        "the host's route to the VIP is left: {}",
        String::from_utf8_lossy(&route.stdout)
    );
    let link = Command::new("ip")
        .args(["link", "show", "vdlab-rtr-h"])
        .output()
        .expect("ip link");
    assert!(!link.status.success(), "the router's link is left");
    let mut left = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let ours = [
            "tests/lab/vpc-route.sh",
            "tests/lab/client.py",
            "http-service.py",
        ];
        if ours.iter().any(|p| cmd.contains(p)) {
            left.push(cmd);
        }
    }
    assert!(left.is_empty(), "processes left: {left:?}");
}

fn the_vip_answers_through_the_lab_vpc(mode: &str) {
    lab::require_root();
    let l = lab::Lab::up(mode);
    let mut w = watch_probe();
    let (_, v) = w.until(
        "healthy, the VIP answered by the master",
        Duration::from_secs(45),
        healthy_and_answered_by_master,
    );
    let c = &v["clusters"][0];
    assert_eq!(c["master"], l.master.as_str(), "{c:#}");
    assert_eq!(client_probe(), format!("ok {}", l.master));
    assert_eq!(last_route(), l.master, "{:?}", lab::vpc_routes());

    // A one-shot status says the same.
    let out = lab::vipdeck_probe(&["status", "--json"])
        .output()
        .expect("status runs");
    let s: Value = serde_json::from_slice(&out.stdout).expect("status --json");
    let c = &s["clusters"][0];
    println!("{mode}: dataplane {:#}", c["dataplane"]);
    assert_eq!(c["verdict"], "healthy", "{c:#}");
    assert!(answered_by(c, &l.master), "{c:#}");

    // A graceful takeover: the route follows the binding, and the client
    // is answered by the new master.
    let routes_before = lab::vpc_routes().len();
    lab::verb(&["stop-keepalived", &l.master]);
    w.until(
        "the VIP answered by the new master",
        Duration::from_secs(40),
        |c| c["vip_bound_to"] == l.backup.as_str() && answered_by(c, &l.backup),
    );
    assert_eq!(client_probe(), format!("ok {}", l.backup));
    let routes = lab::vpc_routes();
    assert!(routes.len() > routes_before, "{routes:?}");
    assert_eq!(last_route(), l.backup, "{routes:?}");
    println!("{mode}: routes {routes:?}");

    drop(w);
    drop(l);
    assert_vpc_gone();
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn the_vip_answers_through_the_lab_vpc_eni() {
    the_vip_answers_through_the_lab_vpc("eni");
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn the_vip_answers_through_the_lab_vpc_havip() {
    the_vip_answers_through_the_lab_vpc("havip");
}

/// The new master's move of the binding is broken (eni: vip.py's key;
/// havip: its GARPs ignored) and the master stops: the VIP is on the new
/// master's NIC while the VPC still routes it to the old one, which drops it.
fn a_binding_that_does_not_follow_is_an_outage_for_the_client(mode: &str) {
    lab::require_root();
    let l = lab::Lab::up(mode);
    let (m, t) = (l.master.clone(), l.backup.clone());
    let mut w = watch_probe();
    w.until(
        "healthy, the VIP answered by the master",
        Duration::from_secs(45),
        healthy_and_answered_by_master,
    );
    let client = lab::ClientLoop::start();
    let before = lab::last_sent_ms(&client.wait_answers(3, Duration::from_secs(10)));

    lab::verb(&["break-notify", &t]);
    lab::verb(&["stop-keepalived", &m]);
    let (_, v) = w.until(
        "the probe says the VIP does not answer",
        Duration::from_secs(20),
        |c| c["dataplane"]["reachable"] == false && lab::has_alert(c, "vip_unreachable"),
    );
    let unreachable_since = lab::epoch_ms(&v["clusters"][0]["dataplane"]["since"])
        .expect("dataplane.since when unreachable");
    let (_, v) = w.until(
        "vip_drift with the data-plane alert",
        Duration::from_secs(40),
        |c| c["verdict"] == "vip_drift" && lab::has_alert(c, "vip_unreachable"),
    );
    let c = &v["clusters"][0];
    let codes: Vec<&str> = c["alerts"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["code"].as_str()).collect())
        .unwrap_or_default();
    println!("{mode}: {} {codes:?}", c["verdict"]);
    assert_eq!(c["master"], t.as_str(), "{c:#}");
    assert_eq!(c["vip_bound_to"], m.as_str(), "{c:#}");
    assert_eq!(last_route(), m, "the VPC still routes to the old master");

    // The client: answered by the old master, then failing from one
    // request on, and not answered since.
    let samples = lab::client_loop_samples();
    let after = lab::sent_after(&samples, before);
    let first_fail = after
        .iter()
        .find(|s| !s.ok)
        .expect("the client failed")
        .clone();
    assert!(
        after.iter().filter(|s| s.ms > first_fail.ms).all(|s| !s.ok),
        "the client was answered during the drift: {after:?}"
    );
    // vipdeck's probe saw the VIP stop answering in the same round as the
    // client: both times are when the failing request was sent.
    let gap = unreachable_since - first_fail.ms;
    println!(
        "{mode}: client's first failure {} ({}), probe's unreachable since {unreachable_since}: {gap:+} ms",
        first_fail.ms, first_fail.what
    );
    assert!(
        gap.abs() <= lab::PROBE_INTERVAL_MS + lab::CLIENT_PERIOD_MS,
        "probe and client {gap} ms apart (more than one probe interval)"
    );

    // The repair: the move fixed and forced; the client is answered by
    // the new master again.
    lab::verb(&["fix-notify", &t]);
    let out = lab::vipdeck(&[
        "failover",
        "--cluster",
        "lab",
        "--to",
        &t,
        "--force",
        "--yes",
    ])
    .output()
    .expect("failover runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        lab::text(&out),
        lab::diagnostics()
    );
    w.until(
        "the VIP answered by the new master",
        Duration::from_secs(30),
        |c| c["vip_bound_to"] == t.as_str() && answered_by(c, &t),
    );
    let samples = client.wait_answers(3, Duration::from_secs(10));
    assert!(samples.last().is_some_and(|s| s.what == t), "{samples:?}");
    assert_eq!(last_route(), t);
    let after = lab::sent_after(&samples, before);
    let run = lab::longest_failure_run(after).expect("an outage");
    println!(
        "{mode}: the client got no answer for {} ms ({} requests failed)",
        run.duration_ms(after),
        run.failures
    );
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn a_binding_that_does_not_follow_is_an_outage_for_the_client_eni() {
    a_binding_that_does_not_follow_is_an_outage_for_the_client("eni");
}

#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn a_binding_that_does_not_follow_is_an_outage_for_the_client_havip() {
    a_binding_that_does_not_follow_is_an_outage_for_the_client("havip");
}

/// The router drops only the host's (vipdeck's) traffic to the service:
/// the probe fails, the client is answered, the peers are fine. One mode:
/// the block is in the router, the binding plays no part.
#[test]
#[ignore = "needs root and network namespaces: scripts/test.sh runs it as root, CI always"]
fn a_blocked_probe_port_is_reported_as_such() {
    lab::require_root();
    let l = lab::Lab::up("eni");
    let mut w = watch_probe();
    w.until(
        "healthy, the VIP answered by the master",
        Duration::from_secs(45),
        healthy_and_answered_by_master,
    );
    let client = lab::ClientLoop::start();
    let before = lab::last_sent_ms(&client.wait_answers(3, Duration::from_secs(10)));

    lab::verb(&["block-probe"]);
    let (_, v) = w.until("the probe fails", Duration::from_secs(10), |c| {
        c["dataplane"]["reachable"] == false
    });
    // A few more probe rounds with the block in place.
    std::thread::sleep(Duration::from_millis(3 * lab::PROBE_INTERVAL_MS as u64));
    w.drain();
    let c = w
        .last
        .as_ref()
        .map(|v| v["clusters"][0].clone())
        .unwrap_or_else(|| v["clusters"][0].clone());
    let mut dp_shown = c["dataplane"].clone();
    if let Some(o) = dp_shown.as_object_mut() {
        o.remove("recent");
    }
    println!(
        "blocked probe: verdict {} master {} bound to {}\ndataplane {dp_shown}\nalerts {}",
        c["verdict"], c["master"], c["vip_bound_to"], c["alerts"]
    );
    let dp = &c["dataplane"];
    assert_eq!(dp["reachable"], false, "{c:#}");
    assert!(
        dp["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("timeout")),
        "a dropped probe times out: {dp:#}"
    );
    // The peers are not blamed: the master, the binding, both peers seen.
    assert_eq!(c["master"], l.master.as_str(), "{c:#}");
    assert_eq!(c["vip_bound_to"], l.master.as_str(), "{c:#}");
    for p in c["peers"].as_array().expect("peers") {
        assert_eq!(p["reachable"], true, "{p:#}");
        assert_eq!(p["keepalived_running"], true, "{p:#}");
    }
    let codes: Vec<&str> = c["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|a| a["code"].as_str())
        .collect();
    assert_eq!(codes, ["vip_unreachable"], "{c:#}");
    // Its message names the probe's own path as a cause, not only the VIP.
    let msg = c["alerts"][0]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("only the path from vipdeck is blocked"),
        "{msg}"
    );
    assert_eq!(c["verdict"], "degraded", "{c:#}");

    // Meanwhile the client was answered by the master throughout.
    let samples = lab::client_loop_samples();
    let during = lab::sent_after(&samples, before);
    assert!(
        during.iter().all(|s| s.ok && s.what == l.master),
        "the client was not answered: {during:?}"
    );

    lab::verb(&["unblock-probe"]);
    w.until("healthy again", Duration::from_secs(10), |c| {
        healthy_and_answered_by_master(c)
    });
}
