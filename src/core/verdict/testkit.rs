//! The clusters and helpers the verdict's tests share.

use chrono::{DateTime, TimeZone, Utc};

use crate::core::model::{
    CloudBinding, ClusterSnapshot, ClusterSpec, Fact, LogKind, Mode, PeerObservation, PeerSpec,
    VrrpState, Witness,
};

use super::{assess, Assessment, Thresholds};

pub(super) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 22, 44, 0)
        .single()
        .expect("valid time")
}

pub(super) fn cluster() -> ClusterSnapshot {
    let peer = |n: &str, eni: &str| PeerSpec {
        name: n.into(),
        address: "sim".into(),
        network_interface_id: Some(eni.into()),
        instance_id: None,
    };
    ClusterSnapshot::new(ClusterSpec {
        name: "web".into(),
        mode: Mode::Havip,
        vip: "172.16.16.12".into(),
        havip_id: Some("havip-abcd1234".into()),
        peers: [peer("havip-01", "eni-01"), peer("havip-02", "eni-02")],
    })
}

/// A fresh, reachable peer in `state` with or without the VIP.
pub(super) fn seen(
    c: &mut ClusterSnapshot,
    i: usize,
    state: VrrpState,
    vip: bool,
    at: DateTime<Utc>,
) {
    c.peers[i].apply(PeerObservation {
        at,
        reachable: Some(true),
        keepalived_running: Some(state != VrrpState::Stop),
        state_file: Some(state),
        // keepalived's own word, as a peer with a dump gives it.
        keepalived_state: (state != VrrpState::Stop).then_some(state),
        vip_on_nic: Some(vip),
        ..Default::default()
    });
}

pub(super) fn bind(c: &mut ClusterSnapshot, eni: Option<&str>, at: DateTime<Utc>) {
    c.cloud.binding = Some(Fact::new(
        CloudBinding {
            network_interface_id: eni.map(str::to_string),
            state: Some(if eni.is_some() { "AVAILABLE" } else { "UNBIND" }.into()),
            ..Default::default()
        },
        at,
        Witness::Cloud,
    ));
}

pub(super) fn healthy_cluster() -> ClusterSnapshot {
    let mut c = cluster();
    seen(&mut c, 0, VrrpState::Master, true, now());
    seen(&mut c, 1, VrrpState::Backup, false, now());
    bind(&mut c, Some("eni-01"), now());
    c
}

pub(super) fn judge(c: &ClusterSnapshot) -> Assessment {
    assess(c, now(), &Thresholds::default())
}

pub(super) fn codes(a: &Assessment) -> Vec<&str> {
    a.alerts.iter().map(|a| a.code.as_str()).collect()
}

pub(super) fn log(c: &mut ClusterSnapshot, peer: usize, secs_ago: i64, kind: LogKind, text: &str) {
    c.recent_logs.push_back(crate::core::model::LogLine {
        peer,
        source: crate::core::model::LogSource::Script,
        at: now() - chrono::Duration::seconds(secs_ago),
        kind,
        text: text.into(),
        announced: None,
    });
}

/// havip-02 became MASTER `secs_ago`; the cloud still binds havip-01.
pub(super) fn moved(mode: Mode, secs_ago: i64) -> ClusterSnapshot {
    let mut c = healthy_cluster();
    c.spec.mode = mode;
    seen(&mut c, 0, VrrpState::Backup, false, now());
    seen(&mut c, 1, VrrpState::Master, true, now());
    c.peers[1].last_transition = Some(now() - chrono::Duration::seconds(secs_ago));
    c
}
