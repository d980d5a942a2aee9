//! Fixtures the core's unit tests share: a fixed now, a two-peer cluster
//! and a line a peer logged some seconds before now.

use chrono::{DateTime, TimeDelta, Utc};

use crate::core::model::{
    ClusterSnapshot, ClusterSpec, LogKind, LogLine, LogSource, Mode, PeerSpec,
};

pub(super) fn now() -> DateTime<Utc> {
    "2026-12-06T12:00:00Z".parse().expect("a time")
}

/// Cluster `web` (VIP 10.0.0.100) of peers hk1 and hk2, nothing seen yet.
pub(super) fn cluster(mode: Mode) -> ClusterSnapshot {
    let peer = |n: &str| PeerSpec {
        name: n.into(),
        address: n.into(),
        network_interface_id: None,
        instance_id: None,
    };
    ClusterSnapshot::new(ClusterSpec {
        name: "web".into(),
        mode,
        vip: "10.0.0.100".into(),
        havip_id: None,
        peers: [peer("hk1"), peer("hk2")],
    })
}

/// The line `text` that `peer` logged `secs_ago` seconds before [`now`].
pub(super) fn line(
    peer: usize,
    secs_ago: i64,
    source: LogSource,
    kind: LogKind,
    text: &str,
) -> LogLine {
    LogLine {
        peer,
        source,
        at: now() - TimeDelta::seconds(secs_ago),
        kind,
        text: text.into(),
        announced: None,
    }
}
