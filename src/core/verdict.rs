//! The verdict rules of DESIGN.md: a pure function from one cluster's facts
//! (and the time now) to a verdict, the master, the binding and alerts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::model::{
    Alert, ClusterSnapshot, PeerFacts, Severity, Verdict, VrrpState, Witness,
};
use crate::core::pair;

/// When facts count as stale, and what counts as flapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub(crate) peer_stale_after: Duration,
    pub(crate) cloud_stale_after: Duration,
    /// This many transitions inside `flap_window` is flapping.
    pub(crate) flap_count: usize,
    pub(crate) flap_window: Duration,
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
    pub(crate) witness: Option<Witness>,
    /// False when the peer cannot be seen now (unreachable, stale, never seen).
    pub(crate) visible: bool,
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

/// The peer as seen now: unknown when it cannot be seen or its facts are old.
pub(crate) fn peer_view(facts: &PeerFacts, now: DateTime<Utc>, t: &Thresholds) -> PeerView {
    let (state, witness) = facts.reported_with_witness();
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
pub(crate) fn assess(c: &ClusterSnapshot, now: DateTime<Utc>, t: &Thresholds) -> Assessment {
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
    // A VIP left on the NIC of a peer whose keepalived is down is a hazard,
    // not a second master: it gets its own alert below.
    let vip_on: Vec<usize> = (0..2)
        .filter(|&i| views[i].visible && vip_on_nic(&c.peers[i]) == Some(true))
        .filter(|&i| views[i].state != VrrpState::Stop)
        .collect();
    for i in 0..2 {
        if views[i].visible
            && views[i].state == VrrpState::Stop
            && vip_on_nic(&c.peers[i]) == Some(true)
        {
            alerts.push(Alert::new(
                Severity::Critical,
                "leftover_vip",
                format!(
                    "{vip} is still on the NIC of {} whose keepalived is not running",
                    names[i]
                ),
            ));
        }
    }

    let (binding_peer, binding_alert) = cloud_view(c, now, t);
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
            format!(
                "{vip} is configured on the NICs of both {} and {}",
                names[0], names[1]
            ),
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
        if !config_mismatches(c, &names).is_empty()
            || views[other].state == VrrpState::Stop && vip_on_nic(&c.peers[other]) == Some(true)
        {
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
                    format!(
                        "cloud has {vip} bound to nothing but {} is MASTER",
                        names[m]
                    ),
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
    let mismatches = config_mismatches(c, &names);
    if !mismatches.is_empty() {
        alerts.push(Alert::new(
            Severity::Warning,
            "config_mismatch",
            format!(
                "keepalived.conf differs between {} and {}: {}",
                names[0],
                names[1],
                pair::fields(&mismatches)
            ),
        ));
    }
    alerts.sort_by_key(|a| std::cmp::Reverse(a.severity));

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
            format!(
                "{name}: last answer {} ago, data is stale",
                fmt_age(now, r.at)
            ),
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
        // A dump taken before the state file last changed is only behind,
        // not in disagreement: the next dump will tell.
        if f != d && facts.dump_is_current() {
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
) -> (CloudView, Option<Alert>) {
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

/// What differs between the peers' keepalived.conf ([`crate::core::pair`]).
fn config_mismatches(c: &ClusterSnapshot, names: &[&str; 2]) -> Vec<pair::Mismatch> {
    match (&c.peers[0].config, &c.peers[1].config) {
        (Some(a), Some(b)) => pair::mismatches(&a.value, names[0], &b.value, names[1]),
        _ => Vec::new(),
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
                crate::core::humanize::duration(t.flap_window)
            ),
        )
    })
}

/// "12s", "3m05s", "2h10m": how long ago `at` was.
pub(crate) fn fmt_age(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    crate::core::humanize::duration((now - at).to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{
        CloudBinding, ClusterSpec, ConfigSummary, Fact, Mode, PeerObservation, PeerSpec, Transition,
    };
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 22, 44, 0)
            .single()
            .expect("valid time")
    }

    fn cluster() -> ClusterSnapshot {
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
    fn seen(c: &mut ClusterSnapshot, i: usize, state: VrrpState, vip: bool, at: DateTime<Utc>) {
        c.peers[i].apply(PeerObservation {
            at,
            reachable: Some(true),
            keepalived_running: Some(state != VrrpState::Stop),
            state_file: Some(state),
            vip_on_nic: Some(vip),
            ..Default::default()
        });
    }

    fn bind(c: &mut ClusterSnapshot, eni: Option<&str>, at: DateTime<Utc>) {
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

    fn healthy_cluster() -> ClusterSnapshot {
        let mut c = cluster();
        seen(&mut c, 0, VrrpState::Master, true, now());
        seen(&mut c, 1, VrrpState::Backup, false, now());
        bind(&mut c, Some("eni-01"), now());
        c
    }

    fn judge(c: &ClusterSnapshot) -> Assessment {
        assess(c, now(), &Thresholds::default())
    }

    fn codes(a: &Assessment) -> Vec<&str> {
        a.alerts.iter().map(|a| a.code.as_str()).collect()
    }

    #[test]
    fn healthy_when_one_master_holds_vip_and_cloud_agrees() {
        let a = judge(&healthy_cluster());
        assert_eq!(a.verdict, Verdict::Healthy, "{:?}", a.alerts);
        assert_eq!(a.master, Some(0));
        assert_eq!(a.vip_bound_to, Some(0));
        assert!(a.alerts.iter().all(|a| a.severity == Severity::Info));
    }

    #[test]
    fn vip_drift_names_both_peers() {
        let mut c = healthy_cluster();
        bind(&mut c, Some("eni-02"), now());
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::VipDrift);
        assert_eq!(a.vip_bound_to, Some(1));
        let msg = &a.alerts[0].message;
        assert!(
            msg.starts_with("cloud binds 172.16.16.12 to havip-02 but havip-01 is MASTER"),
            "{msg}"
        );
    }

    #[test]
    fn vip_drift_when_havip_unbound_or_bound_elsewhere() {
        let mut c = healthy_cluster();
        bind(&mut c, None, now());
        assert_eq!(judge(&c).verdict, Verdict::VipDrift);
        bind(&mut c, Some("eni-stranger"), now());
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::VipDrift);
        assert!(a.alerts[0].message.contains("eni-stranger"));
    }

    #[test]
    fn split_brain_on_two_masters() {
        let mut c = healthy_cluster();
        seen(&mut c, 1, VrrpState::Master, false, now());
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::SplitBrain);
        assert_eq!(a.master, None);
        assert!(codes(&a).contains(&"two_masters"));
    }

    #[test]
    fn split_brain_on_vip_on_both_nics() {
        let mut c = healthy_cluster();
        seen(&mut c, 1, VrrpState::Backup, true, now());
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::SplitBrain);
        assert!(codes(&a).contains(&"vip_on_both"));
    }

    #[test]
    fn no_master_when_both_seen_and_neither_is_master() {
        let mut c = healthy_cluster();
        seen(&mut c, 0, VrrpState::Backup, false, now());
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::NoMaster);
        assert!(a.alerts[0].message.contains("nobody is MASTER"));
        seen(&mut c, 0, VrrpState::Fault, false, now());
        seen(&mut c, 1, VrrpState::Stop, false, now());
        assert_eq!(judge(&c).verdict, Verdict::NoMaster);
    }

    #[test]
    fn unknown_without_facts() {
        let c = cluster();
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::Unknown);
        assert!(codes(&a).contains(&"peer_not_seen"));
    }

    #[test]
    fn unknown_when_the_only_visible_peer_is_backup() {
        let mut c = healthy_cluster();
        c.peers[0].apply(PeerObservation::unreachable(
            now(),
            "ssh: connection timed out",
        ));
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::Unknown);
        assert!(a
            .alerts
            .iter()
            .any(|a| a.message == "havip-01 is unreachable: ssh: connection timed out"));
    }

    #[test]
    fn degraded_when_backup_unreachable() {
        let mut c = healthy_cluster();
        c.peers[1].apply(PeerObservation::unreachable(now(), "timeout"));
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::Degraded);
        assert_eq!(a.master, Some(0));
        assert!(codes(&a).contains(&"peer_unreachable"));
    }

    #[test]
    fn degraded_when_backup_fault_or_stopped() {
        let mut c = healthy_cluster();
        seen(&mut c, 1, VrrpState::Fault, false, now());
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::Degraded);
        assert!(codes(&a).contains(&"peer_fault"));
        seen(&mut c, 1, VrrpState::Stop, false, now());
        assert_eq!(judge(&c).verdict, Verdict::Degraded);
    }

    #[test]
    fn stale_backup_facts_are_not_current() {
        let mut c = healthy_cluster();
        let old = now() - chrono::Duration::seconds(30);
        seen(&mut c, 1, VrrpState::Backup, false, old);
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::Degraded);
        assert!(!a.peers[1].visible);
        assert!(a.peers[1].stale);
        assert!(a
            .alerts
            .iter()
            .any(|a| a.message == "havip-02: last answer 30s ago, data is stale"));
    }

    #[test]
    fn stale_master_facts_give_no_master_claim() {
        let mut c = healthy_cluster();
        seen(
            &mut c,
            0,
            VrrpState::Master,
            true,
            now() - chrono::Duration::seconds(60),
        );
        let a = judge(&c);
        assert_eq!(a.master, None);
        assert_eq!(a.verdict, Verdict::Unknown);
    }

    #[test]
    fn stale_cloud_binding_degrades_and_says_its_age() {
        let mut c = healthy_cluster();
        bind(
            &mut c,
            Some("eni-01"),
            now() - chrono::Duration::seconds(125),
        );
        c.cloud.error = Some(("InternalError: boom".into(), now()));
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::Degraded);
        assert!(a
            .alerts
            .iter()
            .any(|a| a.message == "cloud binding is 2m05s old: InternalError: boom"));
    }

    #[test]
    fn cloud_never_read_is_degraded_not_healthy() {
        let mut c = healthy_cluster();
        c.cloud.binding = None;
        assert_eq!(judge(&c).verdict, Verdict::Degraded);
    }

    #[test]
    fn state_file_master_with_keepalived_dead_is_not_master() {
        let mut c = healthy_cluster();
        // keepalived died; the notify script's file still says MASTER.
        c.peers[0].apply(PeerObservation {
            at: now(),
            reachable: Some(true),
            keepalived_running: Some(false),
            vip_on_nic: Some(false),
            ..Default::default()
        });
        let a = judge(&c);
        assert_eq!(a.peers[0].state, VrrpState::Stop);
        assert_eq!(a.peers[0].witness, Some(Witness::Process));
        assert_eq!(a.verdict, Verdict::NoMaster);
        assert!(codes(&a).contains(&"stale_state_file"));
    }

    #[test]
    fn keepalived_dump_beats_state_file_and_disagreement_is_an_alert() {
        let mut c = healthy_cluster();
        c.peers[1].apply(PeerObservation {
            at: now(),
            keepalived_state: Some(VrrpState::Fault),
            ..Default::default()
        });
        let a = judge(&c);
        assert_eq!(a.peers[1].state, VrrpState::Fault);
        assert_eq!(a.peers[1].witness, Some(Witness::KeepalivedDump));
        assert!(codes(&a).contains(&"witnesses_disagree"));
        assert_eq!(a.verdict, Verdict::Degraded);
    }

    #[test]
    fn garbage_state_file_is_shown_as_such() {
        let mut c = healthy_cluster();
        c.peers[1].apply(PeerObservation {
            at: now(),
            state_file: Some(VrrpState::Unknown),
            state_file_raw: Some("\u{0}\u{1}garbage".into()),
            ..Default::default()
        });
        let a = judge(&c);
        assert!(codes(&a).contains(&"state_file_garbage"));
        assert_eq!(a.verdict, Verdict::Degraded);
    }

    #[test]
    fn master_without_vip_on_nic_is_degraded() {
        let mut c = healthy_cluster();
        seen(&mut c, 0, VrrpState::Master, false, now());
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::Degraded);
        assert!(codes(&a).contains(&"vip_missing_on_master"));
    }

    #[test]
    fn config_mismatch_degrades() {
        let mut c = healthy_cluster();
        let conf = |vrid: u8, src: &str, peer: &str| PeerObservation {
            at: now(),
            config: Some(ConfigSummary {
                virtual_router_id: Some(vrid),
                unicast_src_ip: Some(src.into()),
                unicast_peers: vec![peer.into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        c.peers[0].apply(conf(51, "10.0.0.1", "10.0.0.2"));
        c.peers[1].apply(conf(51, "10.0.0.2", "10.0.0.1"));
        assert_eq!(judge(&c).verdict, Verdict::Healthy);
        c.peers[1].apply(conf(52, "10.0.0.2", "10.0.0.1"));
        assert_eq!(judge(&c).verdict, Verdict::Degraded);
        c.peers[1].apply(conf(51, "10.0.0.2", "10.0.0.9"));
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::Degraded);
        assert!(codes(&a).contains(&"config_mismatch"));
        let alert = a.alerts.iter().find(|x| x.code == "config_mismatch");
        assert!(
            alert.is_some_and(|x| x.message.ends_with(": unicast_peer")),
            "{alert:?}"
        );
    }

    #[test]
    fn vips_in_another_order_are_no_mismatch_but_lower_case_pass_is() {
        let mut c = healthy_cluster();
        let conf = |vips: &[&str], auth: &str| PeerObservation {
            at: now(),
            config: Some(ConfigSummary {
                virtual_router_id: Some(51),
                auth_type: Some(auth.into()),
                virtual_ipaddresses: vips.iter().map(|v| v.to_string()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        c.peers[0].apply(conf(&["192.0.2.12", "192.0.2.13"], "PASS"));
        c.peers[1].apply(conf(&["192.0.2.13", "192.0.2.12"], "PASS"));
        let a = judge(&c);
        assert!(!codes(&a).contains(&"config_mismatch"), "{:?}", a.alerts);
        assert_eq!(a.verdict, Verdict::Healthy);
        c.peers[1].apply(conf(&["192.0.2.13", "192.0.2.12"], "pass"));
        let a = judge(&c);
        let alert = a.alerts.iter().find(|x| x.code == "config_mismatch");
        assert!(
            alert.is_some_and(|x| x.message.ends_with(": auth_type")),
            "{alert:?}"
        );
    }

    #[test]
    fn flapping_degrades() {
        let mut c = healthy_cluster();
        for s in 0..4 {
            c.timeline.push_back(Transition {
                at: now() - chrono::Duration::seconds(10 * s),
                peer: (s % 2) as usize,
                from: VrrpState::Backup,
                to: VrrpState::Master,
            });
        }
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::Degraded);
        assert!(codes(&a).contains(&"flapping"));
    }

    #[test]
    fn snapshot_records_transitions_but_not_first_sight() {
        let mut snap = crate::core::model::Snapshot::new(vec![cluster().spec]);
        let obs = |state, secs| crate::core::model::Update::Peer {
            cluster: 0,
            peer: 1,
            observation: PeerObservation {
                at: now() + chrono::Duration::seconds(secs),
                reachable: Some(true),
                keepalived_running: Some(true),
                state_file: Some(state),
                ..Default::default()
            },
        };
        snap.apply(obs(VrrpState::Backup, 0));
        assert!(snap.clusters[0].timeline.is_empty());
        snap.apply(obs(VrrpState::Master, 5));
        let tl = &snap.clusters[0].timeline;
        assert_eq!(tl.len(), 1);
        assert_eq!(
            (tl[0].from, tl[0].to),
            (VrrpState::Backup, VrrpState::Master)
        );
        assert_eq!(
            snap.clusters[0].peers[1].last_transition,
            Some(now() + chrono::Duration::seconds(5))
        );
    }

    #[test]
    fn exit_codes_follow_the_plugin_convention() {
        assert_eq!(Verdict::Healthy.exit_code(), 0);
        assert_eq!(Verdict::Degraded.exit_code(), 1);
        assert_eq!(Verdict::SplitBrain.exit_code(), 2);
        assert_eq!(Verdict::NoMaster.exit_code(), 2);
        assert_eq!(Verdict::VipDrift.exit_code(), 2);
        assert_eq!(Verdict::Unknown.exit_code(), 3);
    }
}

#[cfg(test)]
mod witness_tests {
    use super::*;
    use crate::core::model::{PeerObservation, VrrpState};
    use chrono::TimeZone;

    #[test]
    fn newer_state_file_beats_an_older_dump() {
        let t0 = Utc
            .with_ymd_and_hms(2026, 11, 21, 22, 0, 0)
            .single()
            .expect("time");
        let mut f = PeerFacts::default();
        f.apply(PeerObservation {
            at: t0,
            keepalived_state: Some(VrrpState::Master),
            state_file: Some(VrrpState::Master),
            ..Default::default()
        });
        assert_eq!(f.reported_state(), VrrpState::Master);
        f.apply(PeerObservation {
            at: t0 + chrono::Duration::seconds(3),
            state_file: Some(VrrpState::Backup),
            ..Default::default()
        });
        assert_eq!(f.reported_state(), VrrpState::Backup);
        let mut c = ClusterSnapshot::new(crate::core::model::ClusterSpec {
            name: "c".into(),
            mode: crate::core::model::Mode::Eni,
            vip: "192.0.2.1".into(),
            havip_id: None,
            peers: std::array::from_fn(|i| crate::core::model::PeerSpec {
                name: format!("p{i}"),
                address: "sim".into(),
                network_interface_id: None,
                instance_id: None,
            }),
        });
        c.peers[0] = f.clone();
        c.peers[0].reachable = Some(crate::core::model::Fact::new(
            true,
            t0 + chrono::Duration::seconds(3),
            Witness::Probe,
        ));
        let a = assess(
            &c,
            t0 + chrono::Duration::seconds(3),
            &Thresholds::default(),
        );
        assert!(
            !a.alerts.iter().any(|x| x.code == "witnesses_disagree"),
            "an older dump is behind, not disagreeing: {:?}",
            a.alerts
        );
        // A fresh dump wins again.
        f.apply(PeerObservation {
            at: t0 + chrono::Duration::seconds(4),
            keepalived_state: Some(VrrpState::Fault),
            ..Default::default()
        });
        assert_eq!(f.reported_state(), VrrpState::Fault);
    }
}
