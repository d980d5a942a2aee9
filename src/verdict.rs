//! The verdict rules of DESIGN.md: a pure function from one cluster's facts
//! (and the time now) to a verdict, the master, the binding and alerts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{Alert, ClusterSnapshot, PeerFacts, Severity, Verdict, VrrpState, Witness};

/// When facts count as stale, and what counts as flapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub peer_stale_after: Duration,
    pub cloud_stale_after: Duration,
    /// This many transitions inside `flap_window` is flapping.
    pub flap_count: usize,
    pub flap_window: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            peer_stale_after: Duration::from_secs(10),
            cloud_stale_after: Duration::from_secs(60),
            flap_count: 4,
            flap_window: Duration::from_secs(300),
        }
    }
}

/// A peer's VRRP state as the verdict sees it, and which witness said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PeerView {
    pub state: VrrpState,
    pub witness: Option<Witness>,
    /// False when the peer cannot be seen now (unreachable, stale, never seen).
    pub visible: bool,
    pub stale: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub verdict: Verdict,
    pub master: Option<usize>,
    pub vip_bound_to: Option<usize>,
    pub peers: [PeerView; 2],
    pub alerts: Vec<Alert>,
}

/// What the peer itself reports, without judging reachability or age:
/// keepalived not running beats everything (a state file says MASTER forever
/// after keepalived dies); keepalived's own dump beats the state file.
pub fn reported_state(facts: &PeerFacts) -> VrrpState {
    reported_with_witness(facts).0
}

fn reported_with_witness(facts: &PeerFacts) -> (VrrpState, Option<Witness>) {
    if let Some(f) = &facts.keepalived_running {
        if !f.value {
            return (VrrpState::Stop, Some(Witness::Process));
        }
    }
    if let Some(f) = &facts.keepalived_state {
        return (f.value, Some(f.witness));
    }
    if let Some(f) = &facts.state_file {
        return (f.value, Some(f.witness));
    }
    (VrrpState::Unknown, None)
}

/// The peer as seen now: unknown when it cannot be seen or its facts are old.
pub fn peer_view(facts: &PeerFacts, now: DateTime<Utc>, t: &Thresholds) -> PeerView {
    let (state, witness) = reported_with_witness(facts);
    match &facts.reachable {
        None => PeerView {
            state: VrrpState::Unknown,
            witness: None,
            visible: false,
            stale: false,
        },
        Some(r) if !r.value => PeerView {
            state: VrrpState::Unknown,
            witness: None,
            visible: false,
            stale: false,
        },
        Some(r) if r.is_stale(now, t.peer_stale_after) => PeerView {
            state: VrrpState::Unknown,
            witness,
            visible: false,
            stale: true,
        },
        Some(_) => PeerView {
            state,
            witness,
            visible: true,
            stale: false,
        },
    }
}

/// Turns one cluster's facts into a verdict with alerts.
pub fn assess(c: &ClusterSnapshot, now: DateTime<Utc>, t: &Thresholds) -> Assessment {
    let names = [c.spec.peers[0].name.as_str(), c.spec.peers[1].name.as_str()];
    let vip = c.spec.vip.as_str();
    let views = [
        peer_view(&c.peers[0], now, t),
        peer_view(&c.peers[1], now, t),
    ];
    let mut alerts = Vec::new();

    for i in 0..2 {
        peer_alerts(&c.peers[i], &views[i], names[i], now, &mut alerts);
    }

    let masters: Vec<usize> = (0..2)
        .filter(|&i| views[i].state == VrrpState::Master)
        .collect();
    let vip_on: Vec<usize> = (0..2)
        .filter(|&i| views[i].visible && vip_on_nic(&c.peers[i]) == Some(true))
        .collect();

    let (binding_peer, binding_alert) = cloud_view(c, now, t, &names);
    let master = (masters.len() == 1).then(|| masters[0]);

    let verdict = if masters.len() == 2 {
        alerts.push(Alert::new(
            Severity::Critical,
            "two_masters",
            format!("both {} and {} say they are MASTER", names[0], names[1]),
        ));
        Verdict::SplitBrain
    } else if vip_on.len() == 2 {
        alerts.push(Alert::new(
            Severity::Critical,
            "vip_on_both",
            format!("{vip} is configured on the NICs of both {} and {}", names[0], names[1]),
        ));
        Verdict::SplitBrain
    } else if let Some(m) = master {
        let other = 1 - m;
        let mut degraded = false;
        if vip_on_nic(&c.peers[m]) == Some(false) {
            alerts.push(Alert::new(
                Severity::Critical,
                "vip_missing_on_master",
                format!("{} is MASTER but {vip} is not on its NIC", names[m]),
            ));
            degraded = true;
        }
        if !views[other].visible {
            degraded = true;
        } else if views[other].state != VrrpState::Backup {
            alerts.push(Alert::new(
                Severity::Warning,
                "backup_not_ready",
                format!(
                    "{} is {}: no standby if {} fails",
                    names[other], views[other].state, names[m]
                ),
            ));
            degraded = true;
        }
        if config_differs(c) {
            degraded = true;
        }
        if let Some(a) = flapping(c, now, t) {
            alerts.push(a);
            degraded = true;
        }
        match &binding_peer {
            &CloudView::Bound(p) if p == m => {
                if degraded {
                    Verdict::Degraded
                } else {
                    Verdict::Healthy
                }
            }
            &CloudView::Bound(p) => {
                let since = c.peers[m]
                    .last_transition
                    .map(|at| format!(" ({} since it became MASTER)", fmt_age(now, at)))
                    .unwrap_or_default();
                alerts.push(Alert::new(
                    Severity::Critical,
                    "cloud_binding_mismatch",
                    format!(
                        "cloud binds {vip} to {} but {} is MASTER{since}",
                        names[p], names[m]
                    ),
                ));
                Verdict::VipDrift
            }
            CloudView::Elsewhere(what) => {
                alerts.push(Alert::new(
                    Severity::Critical,
                    "cloud_binding_mismatch",
                    format!("cloud binds {vip} to {what}, not to MASTER {}", names[m]),
                ));
                Verdict::VipDrift
            }
            CloudView::Unbound => {
                alerts.push(Alert::new(
                    Severity::Critical,
                    "cloud_unbound",
                    format!("cloud has {vip} bound to nothing but {} is MASTER", names[m]),
                ));
                Verdict::VipDrift
            }
            CloudView::NotKnown => Verdict::Degraded,
        }
    } else if views.iter().all(|v| v.visible) {
        alerts.push(Alert::new(
            Severity::Critical,
            "no_master",
            format!(
                "nobody is MASTER: {} is {}, {} is {}",
                names[0], views[0].state, names[1], views[1].state
            ),
        ));
        Verdict::NoMaster
    } else {
        alerts.push(Alert::new(
            Severity::Warning,
            "not_enough_facts",
            "no visible MASTER and a peer cannot be seen: not enough facts for a verdict",
        ));
        Verdict::Unknown
    };

    if let Some(a) = binding_alert {
        alerts.push(a);
    }
    if config_differs(c) {
        alerts.push(Alert::new(
            Severity::Warning,
            "config_mismatch",
            format!(
                "keepalived.conf differs between {} and {} in fields a pair must share",
                names[0], names[1]
            ),
        ));
    }
    alerts.sort_by(|a, b| b.severity.cmp(&a.severity));

    Assessment {
        verdict,
        master,
        vip_bound_to: match binding_peer {
            CloudView::Bound(p) => Some(p),
            _ => None,
        },
        peers: views,
        alerts,
    }
}

fn vip_on_nic(facts: &PeerFacts) -> Option<bool> {
    facts.vip_on_nic.as_ref().map(|f| f.value)
}

fn peer_alerts(
    facts: &PeerFacts,
    view: &PeerView,
    name: &str,
    now: DateTime<Utc>,
    alerts: &mut Vec<Alert>,
) {
    match &facts.reachable {
        None => alerts.push(Alert::new(
            Severity::Warning,
            "peer_not_seen",
            format!("{name} has not answered yet"),
        )),
        Some(r) if !r.value => alerts.push(Alert::new(
            Severity::Warning,
            "peer_unreachable",
            format!(
                "{name} is unreachable: {}",
                facts.error.as_deref().unwrap_or("no answer")
            ),
        )),
        Some(r) if view.stale => alerts.push(Alert::new(
            Severity::Warning,
            "peer_stale",
            format!("{name}: last answer {} ago, data is stale", fmt_age(now, r.at)),
        )),
        Some(_) => {}
    }
    if !view.visible {
        return;
    }
    let running = facts.keepalived_running.as_ref().map(|f| f.value);
    let file = facts.state_file.as_ref().map(|f| f.value);
    let dump = facts.keepalived_state.as_ref().map(|f| f.value);
    if running == Some(false) {
        if file == Some(VrrpState::Master) {
            alerts.push(Alert::new(
                Severity::Warning,
                "stale_state_file",
                format!("{name}: state file says MASTER but keepalived is not running"),
            ));
        } else {
            alerts.push(Alert::new(
                Severity::Warning,
                "keepalived_down",
                format!("{name}: keepalived is not running"),
            ));
        }
    } else if let (Some(f), Some(d)) = (file, dump) {
        if f != d {
            alerts.push(Alert::new(
                Severity::Warning,
                "witnesses_disagree",
                format!("{name}: state file says {f} but keepalived says {d}"),
            ));
        }
    }
    if file == Some(VrrpState::Unknown) {
        let raw = facts.state_file_raw.as_deref().unwrap_or("");
        alerts.push(Alert::new(
            Severity::Warning,
            "state_file_garbage",
            format!("{name}: state file holds {raw:?}, not a VRRP state"),
        ));
    }
    if view.state == VrrpState::Fault {
        alerts.push(Alert::new(
            Severity::Warning,
            "peer_fault",
            format!("{name} is in FAULT state"),
        ));
    }
}

enum CloudView {
    Bound(usize),
    /// Bound to something that is neither peer (named).
    Elsewhere(String),
    Unbound,
    NotKnown,
}

fn cloud_view(
    c: &ClusterSnapshot,
    now: DateTime<Utc>,
    t: &Thresholds,
    names: &[&str; 2],
) -> (CloudView, Option<Alert>) {
    let _ = names;
    let Some(b) = &c.cloud.binding else {
        let alert = match &c.cloud.error {
            Some((e, _)) => Alert::new(
                Severity::Warning,
                "cloud_error",
                format!("cloud API: {e}; binding never read"),
            ),
            None => Alert::new(
                Severity::Info,
                "cloud_not_seen",
                "cloud binding not read yet",
            ),
        };
        return (CloudView::NotKnown, Some(alert));
    };
    if b.is_stale(now, t.cloud_stale_after) {
        let why = c
            .cloud
            .error
            .as_ref()
            .map(|(e, _)| format!(": {e}"))
            .unwrap_or_default();
        let alert = Alert::new(
            Severity::Warning,
            "cloud_stale",
            format!("cloud binding is {} old{why}", fmt_age(now, b.at)),
        );
        return (CloudView::NotKnown, Some(alert));
    }
    let alert = c.cloud.error.as_ref().map(|(e, at)| {
        Alert::new(
            Severity::Info,
            "cloud_error",
            format!(
                "cloud API failed {} ago: {e}; showing the answer from {} ago",
                fmt_age(now, *at),
                fmt_age(now, b.at)
            ),
        )
    });
    let binding = &b.value;
    if binding.state.as_deref() == Some("UNBIND") || binding.network_interface_id.is_none() {
        return (CloudView::Unbound, alert);
    }
    let view = match c.spec.peer_of_binding(binding) {
        Some(p) => CloudView::Bound(p),
        None => CloudView::Elsewhere(
            binding
                .network_interface_id
                .clone()
                .unwrap_or_else(|| "an unknown interface".into()),
        ),
    };
    (view, alert)
}

fn config_differs(c: &ClusterSnapshot) -> bool {
    let (Some(a), Some(b)) = (&c.peers[0].config, &c.peers[1].config) else {
        return false;
    };
    let (a, b) = (&a.value, &b.value);
    a.virtual_router_id != b.virtual_router_id
        || a.advert_int != b.advert_int
        || a.auth_type != b.auth_type
        || a.auth_digest != b.auth_digest
        || a.virtual_ipaddresses != b.virtual_ipaddresses
        || !unicast_points_at(a, b)
        || !unicast_points_at(b, a)
}

/// Whether `a` sends its adverts to `b`'s source address (when both are set).
fn unicast_points_at(a: &crate::model::ConfigSummary, b: &crate::model::ConfigSummary) -> bool {
    match &b.unicast_src_ip {
        Some(src) if !a.unicast_peers.is_empty() => a.unicast_peers.contains(src),
        _ => true,
    }
}

fn flapping(c: &ClusterSnapshot, now: DateTime<Utc>, t: &Thresholds) -> Option<Alert> {
    let recent = c
        .timeline
        .iter()
        .filter(|tr| tr.to == VrrpState::Master)
        .filter(|tr| (now - tr.at).to_std().unwrap_or_default() <= t.flap_window)
        .count();
    (recent >= t.flap_count).then(|| {
        Alert::new(
            Severity::Warning,
            "flapping",
            format!(
                "{recent} MASTER transitions in the last {}",
                crate::humanize::duration(t.flap_window)
            ),
        )
    })
}

/// "12s", "3m05s", "2h10m": how long ago `at` was.
pub fn fmt_age(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    crate::humanize::duration((now - at).to_std().unwrap_or_default())
}
