//! What the planner's unit tests share: a healthy pair seen at a fixed
//! time, requests, and a plan's checks and steps in a word.

use chrono::TimeZone;

use crate::core::model::{CloudBinding, ConfigSummary, Fact, PeerObservation, Witness};
use crate::core::verdict::{assess, Thresholds};

use super::*;

pub(super) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 22, 44, 0)
        .single()
        .expect("valid time")
}

pub(super) fn config(mode: &str) -> ClusterConfig {
    let havip = if mode == "havip" {
        "havip_id = \"havip-0001\"\n"
    } else {
        ""
    };
    let text = format!(
        r#"
[[clusters]]
name = "web"
mode = "{mode}"
vip = "192.0.2.10"
{havip}
  [[clusters.peers]]
  name = "n1"
  ssh = "root@192.0.2.11"
  network_interface_id = "eni-1"
  instance_id = "ins-1"
  stop_cmd = "systemctl stop keepalived"
  start_cmd = "systemctl start keepalived"
  [[clusters.peers]]
  name = "n2"
  ssh = "root@192.0.2.12"
  network_interface_id = "eni-2"
  instance_id = "ins-2"
"#
    );
    let c = crate::core::config::parse(&text, std::path::Path::new("t.toml")).expect("config");
    c.clusters[0].clone()
}

pub(super) fn conf(priority: u8, nopreempt: bool) -> ConfigSummary {
    ConfigSummary {
        instance: "VI_1".into(),
        interface: Some("eth0".into()),
        virtual_router_id: Some(51),
        priority: Some(priority),
        advert_int: Some("1".into()),
        nopreempt,
        auth_type: Some("PASS".into()),
        auth_digest: Some("d1".into()),
        unicast_src_ip: None,
        unicast_peers: vec![],
        virtual_ipaddresses: vec!["192.0.2.10/24".into()],
        ..ConfigSummary::default()
    }
}

pub(super) fn seen(c: &mut ClusterSnapshot, i: usize, state: VrrpState, vip: bool) {
    c.peers[i].apply(PeerObservation {
        at: now(),
        reachable: Some(true),
        keepalived_running: Some(state != VrrpState::Stop),
        state_file: Some(state),
        vip_on_nic: Some(vip),
        config: Some(conf(100, true)),
        ..Default::default()
    });
}

pub(super) fn bind(c: &mut ClusterSnapshot, eni: &str, flushed: Option<DateTime<Utc>>) {
    let ins = if eni == "eni-1" { "ins-1" } else { "ins-2" };
    c.cloud.binding = Some(Fact::new(
        CloudBinding {
            network_interface_id: Some(eni.into()),
            instance_id: Some(ins.into()),
            state: Some("AVAILABLE".into()),
            havip_id: None,
            flushed_time: flushed,
        },
        now(),
        Witness::Cloud,
    ));
}

/// n1 MASTER with the VIP and the binding, n2 BACKUP.
pub(super) fn healthy(mode: &str) -> (ClusterSnapshot, ClusterConfig) {
    let cfg = config(mode);
    let mut c = ClusterSnapshot::new(cfg.spec());
    seen(&mut c, 0, VrrpState::Master, true);
    seen(&mut c, 1, VrrpState::Backup, false);
    bind(&mut c, "eni-1", None);
    (c, cfg)
}

pub(super) fn request(target: &str) -> Request {
    Request {
        cluster: "web".into(),
        target: target.into(),
        method: Method::Graceful,
        overrides: vec![],
        old_master_dead: false,
        restart_old_master: None,
    }
}

pub(super) fn overriding(target: &str, ids: &[&str]) -> Request {
    Request {
        overrides: ids.iter().map(|s| s.to_string()).collect(),
        ..request(target)
    }
}

pub(super) fn forced(target: &str) -> Request {
    Request {
        method: Method::Forced,
        ..request(target)
    }
}

pub(super) fn run(c: &ClusterSnapshot, cfg: &ClusterConfig, r: &Request, g: &Gathered) -> Plan {
    let a = assess(c, now(), &Thresholds::default());
    plan(c, &a, cfg, r, g, &Settings::default(), now())
}

pub(super) fn allowed() -> Gathered {
    Gathered {
        target_allowed: Some(Ok(())),
        ..Default::default()
    }
}

pub(super) fn status(p: &Plan, id: &str) -> CheckStatus {
    p.check(id)
        .unwrap_or_else(|| panic!("no check {id} in {:#?}", p.checks))
        .status
}

pub(super) fn kinds(p: &Plan) -> Vec<&'static str> {
    p.steps
        .iter()
        .map(|s| match s.kind {
            StepKind::AcquireLock => "lock",
            StepKind::StopKeepalived { .. } => "stop",
            StepKind::WaitMaster { .. } => "wait_master",
            StepKind::WaitBinding { .. } => "wait_binding",
            StepKind::MigrateIp { .. } => "migrate",
            StepKind::Garp { .. } => "garp",
            StepKind::StartKeepalived { .. } => "start",
            StepKind::WaitBackup { .. } => "wait_backup",
            StepKind::Verify => "verify",
            StepKind::ReleaseLock => "unlock",
        })
        .collect()
}
