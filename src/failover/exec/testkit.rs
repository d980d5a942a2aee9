//! What the executor's unit tests share: a cluster seen at a fixed time.

use chrono::{DateTime, TimeZone, Utc};

use crate::core::model::{
    CloudBinding, ClusterSnapshot, ClusterSpec, Fact, Mode, PeerObservation, PeerSpec, VrrpState,
    Witness,
};
use crate::core::verdict::{self, Assessment, Thresholds};

use super::Wait;

pub(super) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 22, 44, 0)
        .single()
        .expect("valid time")
}

pub(super) fn names() -> [String; 2] {
    ["n1".into(), "n2".into()]
}

pub(super) fn cluster(mode: Mode) -> ClusterSnapshot {
    let peer = |n: &str, eni: &str| PeerSpec {
        name: n.into(),
        address: "sim".into(),
        network_interface_id: Some(eni.into()),
        instance_id: None,
    };
    ClusterSnapshot::new(ClusterSpec {
        name: "web".into(),
        mode,
        vip: "192.0.2.10".into(),
        havip_id: None,
        peers: [peer("n1", "eni-1"), peer("n2", "eni-2")],
    })
}

pub(super) fn seen(c: &mut ClusterSnapshot, i: usize, state: VrrpState, vip: bool, running: bool) {
    c.peers[i].apply(PeerObservation {
        at: now(),
        reachable: Some(true),
        keepalived_running: Some(running),
        state_file: Some(state),
        vip_on_nic: Some(vip),
        ..Default::default()
    });
}

pub(super) fn bind(c: &mut ClusterSnapshot, eni: &str, flushed: Option<DateTime<Utc>>) {
    c.cloud.binding = Some(Fact::new(
        CloudBinding {
            network_interface_id: Some(eni.into()),
            state: Some("AVAILABLE".into()),
            flushed_time: flushed,
            ..Default::default()
        },
        now(),
        Witness::Cloud,
    ));
}

pub(super) fn judge(c: &ClusterSnapshot) -> Assessment {
    verdict::assess(c, now(), &Thresholds::default())
}

pub(super) fn done(w: Wait) -> Result<String, String> {
    match w {
        Wait::Done(s) => Ok(s),
        Wait::Pending(s) => Err(format!("pending: {s}")),
        Wait::Fail(s) => Err(format!("fail: {s}")),
    }
}
