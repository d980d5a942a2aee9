//! The verdict rules of DESIGN.md: a pure function from one cluster's facts
//! (and the time now) to a verdict, the master, the binding and alerts.
//! The binding's judgement (where the cloud says the VIP is, the grace of
//! a move, drift, a flap's residue) is in [`binding`]; the order alerts
//! are listed in, in [`alerts`].

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::dataplane_verdict::weigh as weigh_probe;
use crate::core::model::{
    Alert, ClusterSnapshot, Mode, PeerFacts, Severity, Verdict, VrrpState, Witness,
};
use crate::core::pair;

mod alerts;
mod binding;

use alerts::alert_order;
pub use binding::Converging;
use binding::{cloud_view, converging_alert, flap_residue, moving, CloudView, Move, Residue};

/// When facts count as stale, what counts as flapping, and how long a
/// move may take before a master/binding mismatch is drift.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Thresholds {
    pub(crate) peer_stale_after: Duration,
    pub(crate) cloud_stale_after: Duration,
    /// This many transitions inside `flap_window` is flapping.
    pub(crate) flap_count: usize,
    pub(crate) flap_window: Duration,
    /// HAVIP mode: how long after the new master's gratuitous ARP the
    /// HAVIP may still point at the old one.
    pub(crate) havip_grace: Duration,
    /// ENI mode: how long after the transition the migration may run.
    pub(crate) eni_grace: Duration,
    /// Per-cluster grace (`converge_grace_ms` in a `[[clusters]]` entry),
    /// by cluster name; it replaces the mode's default.
    pub(crate) grace_by_cluster: BTreeMap<String, Duration>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            peer_stale_after: Duration::from_secs(10),
            cloud_stale_after: Duration::from_secs(60),
            flap_count: 4,
            flap_window: Duration::from_secs(300),
            havip_grace: Duration::from_secs(10),
            eni_grace: Duration::from_secs(30),
            grace_by_cluster: BTreeMap::new(),
        }
    }
}

impl Thresholds {
    /// How long a move of `c`'s VIP may take before a mismatch is drift.
    pub(crate) fn grace(&self, c: &ClusterSnapshot) -> Duration {
        self.grace_by_cluster
            .get(&c.spec.name)
            .copied()
            .unwrap_or(match c.spec.mode {
                Mode::Havip => self.havip_grace,
                Mode::Eni => self.eni_grace,
            })
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
    /// The master is not seen; its peer's fresh BACKUP says it is there.
    pub master_inferred: bool,
    /// A move in progress: the binding has not followed the master yet.
    pub converging: Option<Converging>,
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

/// Why keepalived's own word is missing for a peer, in words.
fn no_witness_reason(facts: &PeerFacts) -> String {
    use crate::core::keepalived::version::DumpMethod;
    let version = facts
        .keepalived
        .as_ref()
        .map(|k| format!("keepalived {}", k.version_label()))
        .unwrap_or_else(|| "keepalived".into());
    let dump = match (&facts.keepalived, &facts.keepalived_dump_error) {
        (_, Some(e)) => e.clone(),
        (Some(k), None) => match &k.dump {
            DumpMethod::None { reason } => reason.clone(),
            _ => format!("{version} has not answered a dump yet"),
        },
        (None, None) => format!("{version} was not asked for a dump"),
    };
    format!("{dump}; no transition of the instance in keepalived's own log")
}

/// A peer clock further than this from ours is an alert (`clock_skew`).
pub(crate) const CLOCK_SKEW_MS: u64 = 2000;

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
    alerts.extend(lock_alert(c, &views, now));
    alerts.extend(crate::core::maintenance::alert(c, now));

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
    let mut master = (masters.len() == 1).then(|| masters[0]);
    let mut master_inferred = false;
    let mut converging = None;

    let handover = handover(c, now);
    let verdict = if let (Some((new, since)), true) =
        (handover, masters.len() == 2 || vip_on.len() == 2)
    {
        // keepalived's old master releases the VIP and runs its notify a
        // moment after its backup takes over: a handover, not a split
        // brain, unless it lasts.
        let old = 1 - new;
        alerts.push(Alert::new(
            Severity::Warning,
            "handover",
            format!(
                "{} became MASTER {} ago and {} has not let go yet: a split brain if it lasts {}",
                names[new],
                fmt_age(now, since),
                names[old],
                crate::core::humanize::duration(HANDOVER_GRACE.to_std().unwrap_or_default())
            ),
        ));
        master = Some(new);
        Verdict::Degraded
    } else if masters.len() == 2 {
        // A MASTER only the notify script's state file vouches for is said
        // to be so: the page must not read as keepalived's own word.
        let file_only: Vec<String> = (0..2)
            .filter(|&i| views[i].witness == Some(Witness::StateFile))
            .map(|i| format!(" ({}'s MASTER is its state file's word alone)", names[i]))
            .collect();
        alerts.push(Alert::new(
            Severity::Critical,
            "two_masters",
            format!(
                "both {} and {} say they are MASTER{}",
                names[0],
                names[1],
                file_only.concat()
            ),
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
        let mismatch = match &binding_peer {
            &CloudView::Bound(p) if p == m => None,
            &CloudView::Bound(p) => Some(format!(
                "cloud binds {vip} to {} but {} is MASTER",
                names[p], names[m]
            )),
            CloudView::Elsewhere(what) => Some(format!(
                "cloud binds {vip} to {what}, not to MASTER {}",
                names[m]
            )),
            CloudView::Unbound => Some(format!(
                "cloud has {vip} bound to nothing but {} is MASTER",
                names[m]
            )),
            CloudView::NotKnown => {
                degraded = true;
                None
            }
        };
        let code = match binding_peer {
            CloudView::Unbound => "cloud_unbound",
            _ => "cloud_binding_mismatch",
        };
        let residue = match binding_peer {
            CloudView::Bound(p) if p != m => flap_residue(c, m, p, now, t),
            _ => None,
        };
        match (mismatch, residue) {
            (None, _) if degraded => Verdict::Degraded,
            (None, _) => Verdict::Healthy,
            (Some(_), Some(Residue::Returning(conv))) => {
                let lead = format!("cloud binds {vip} to {} after a flap: ", names[1 - m]);
                alerts.push(converging_alert(&lead, &conv, now));
                converging = Some(conv);
                Verdict::Degraded
            }
            (Some(_), Some(Residue::LeftBehind(why))) => {
                alerts.push(Alert::new(Severity::Critical, "binding_left_by_flap", why));
                Verdict::VipDrift
            }
            (Some(what), None) => match moving(c, m, now, t) {
                Move::Within(conv) => {
                    alerts.push(converging_alert(&format!("{what}: "), &conv, now));
                    converging = Some(conv);
                    Verdict::Degraded
                }
                Move::Failed(why) => {
                    alerts.push(Alert::new(
                        Severity::Critical,
                        code,
                        format!("{what}: {why}"),
                    ));
                    Verdict::VipDrift
                }
                Move::Over(elapsed, grace, waits_for) => {
                    alerts.push(Alert::new(
                        Severity::Critical,
                        code,
                        format!(
                            "{what}: waited {} for {waits_for} ({} since it became MASTER)",
                            crate::core::humanize::duration(grace),
                            crate::core::humanize::duration(elapsed),
                        ),
                    ));
                    Verdict::VipDrift
                }
                Move::NoTransition => {
                    alerts.push(Alert::new(Severity::Critical, code, what));
                    Verdict::VipDrift
                }
            },
        }
    } else if let Some((u, witness)) = inferred_master(c, &views) {
        master_inferred = true;
        master = Some(u);
        let (sev, verdict, cloud) = match &binding_peer {
            &CloudView::Bound(p) if p == u => (
                Severity::Warning,
                Verdict::Degraded,
                "; the cloud binds the VIP to it too".to_string(),
            ),
            CloudView::NotKnown => (Severity::Warning, Verdict::Degraded, String::new()),
            &CloudView::Bound(p) => (
                Severity::Critical,
                Verdict::VipDrift,
                format!("; but the cloud binds {vip} to {}", names[p]),
            ),
            CloudView::Elsewhere(what) => (
                Severity::Critical,
                Verdict::VipDrift,
                format!("; but the cloud binds {vip} to {what}"),
            ),
            CloudView::Unbound => (
                Severity::Critical,
                Verdict::VipDrift,
                format!("; but the cloud has {vip} bound to nothing"),
            ),
        };
        alerts.push(Alert::new(
            sev,
            "master_inferred",
            format!(
                "{} is MASTER by inference (not seen): {} stays BACKUP{cloud}",
                names[u], names[witness]
            ),
        ));
        verdict
    } else if let Some((b, conv)) = takeover_due(c, &views, now) {
        let lead = format!(
            "nobody is MASTER yet: {} is {}; ",
            names[1 - b],
            views[1 - b].state
        );
        alerts.push(converging_alert(&lead, &conv, now));
        converging = Some(conv);
        Verdict::Degraded
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
    alerts.extend(failed_action_alerts(c, now));
    // The VIP as a client reaches it, when a probe is configured.
    let fresh = t.peer_stale_after;
    let bound = matches!(binding_peer, CloudView::Bound(p) if Some(p) == master);
    let vip_moving = converging.is_some();
    let verdict = weigh_probe(
        c,
        verdict,
        master,
        bound,
        vip_moving,
        t.grace(c),
        now,
        fresh,
        &mut alerts,
    );
    alerts.sort_by_key(alert_order);

    Assessment {
        verdict,
        master,
        master_inferred,
        converging,
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
    } else if let (Some(f), Some(l)) = (file, facts.logged_state()) {
        if f != l.value {
            alerts.push(Alert::new(
                Severity::Warning,
                "witnesses_disagree",
                format!(
                    "{name}: state file says {f} but keepalived last logged {} ({} ago)",
                    l.value,
                    fmt_age(now, l.at)
                ),
            ));
        }
    }
    if running == Some(true) && file.is_some() && !facts.has_keepalived_witness() {
        alerts.push(Alert::new(
            Severity::Warning,
            "no_keepalived_witness",
            format!(
                "{name}: {} is the state file's word alone: {}",
                file.unwrap_or(VrrpState::Unknown),
                no_witness_reason(facts)
            ),
        ));
    }
    if let Some(off) = &facts.clock_offset_ms {
        if off.value.unsigned_abs() > CLOCK_SKEW_MS {
            let secs = off.value.unsigned_abs() as f64 / 1000.0;
            let way = if off.value > 0 { "ahead of" } else { "behind" };
            alerts.push(Alert::new(
                Severity::Warning,
                "clock_skew",
                format!(
                    "{name}'s clock is {secs:.1}s {way} ours: its log times are corrected for merging and flapping"
                ),
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

/// The failed actions still to be seen, one alert each in the order of
/// [`crate::core::actions::failed_actions`] (the alerts screen acknowledges
/// by that order). They stay when the verdict recovers.
fn failed_action_alerts(c: &ClusterSnapshot, now: DateTime<Utc>) -> Vec<Alert> {
    crate::core::actions::failed_actions(c, &c.acknowledged)
        .into_iter()
        .map(|f| {
            Alert::new(
                Severity::Warning,
                FAILED_ACTION,
                format!(
                    "{}: {} failed {} ago ({}): “{}”{}; shown until it succeeds or is acknowledged",
                    c.spec.peers[f.peer].name,
                    f.action.label(),
                    fmt_age(now, f.at),
                    f.at.format("%H:%M:%S UTC"),
                    crate::core::sanitize::clip(&crate::core::sanitize::clean(&f.line), 200),
                    match f.more {
                        0 => String::new(),
                        n => format!(" (and {n} more failure line(s) since)"),
                    },
                ),
            )
        })
        .collect()
}

/// The code of a failed action's alert.
pub(crate) const FAILED_ACTION: &str = "failed_action";

/// keepalived's master-down interval from a peer's config: 3 × advert_int
/// plus the skew (256 − priority) / 256 × advert_int.
pub(crate) fn master_down(facts: &PeerFacts) -> Duration {
    let conf = facts.config.as_ref().map(|c| &c.value);
    let advert = conf
        .and_then(|c| c.advert_int.as_deref())
        .and_then(|a| a.trim().parse::<f64>().ok())
        .filter(|a| a.is_finite() && *a > 0.0)
        .unwrap_or(1.0);
    let priority = conf
        .and_then(|c| c.priority)
        .or(facts.priority.as_ref().map(|p| p.value))
        .unwrap_or(100);
    let skew = f64::from(256 - u16::from(priority)) / 256.0 * advert;
    Duration::from_secs_f64(3.0 * advert + skew)
}

/// How long two MASTERs (or the VIP on both NICs) right after one peer
/// became MASTER are a handover rather than a split brain.
const HANDOVER_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(3);

/// The peer that became MASTER within [`HANDOVER_GRACE`], and when.
fn handover(c: &ClusterSnapshot, now: DateTime<Utc>) -> Option<(usize, DateTime<Utc>)> {
    let last = c
        .timeline
        .iter()
        .rev()
        .find(|t| t.to == VrrpState::Master && t.peer < 2)?;
    (now - last.at <= HANDOVER_GRACE && now >= last.at).then_some((last.peer, last.at))
}

/// Beyond the master-down interval, for the takeover to be seen (a poll).
const TAKEOVER_SLACK: chrono::TimeDelta = chrono::TimeDelta::seconds(2);

/// Right after the master stopped, its backup takes over once its
/// master-down timer fires: until then nobody is MASTER, and that is a move,
/// not `no_master`. Returns the backup and the wait.
fn takeover_due(
    c: &ClusterSnapshot,
    views: &[PeerView; 2],
    now: DateTime<Utc>,
) -> Option<(usize, Converging)> {
    if !views.iter().all(|v| v.visible) {
        return None;
    }
    let b = (0..2).find(|&i| views[i].state == VrrpState::Backup)?;
    let gone = 1 - b;
    if views[gone].state == VrrpState::Backup {
        return None;
    }
    // The stopped peer's last transition was out of MASTER; when we saw it
    // (a crash leaves the state file, and its mtime, behind).
    let last = c.timeline.iter().rev().find(|t| t.peer == gone)?;
    if last.from != VrrpState::Master {
        return None;
    }
    let since = last.at;
    let grace = chrono::TimeDelta::from_std(master_down(&c.peers[b])).ok()? + TAKEOVER_SLACK;
    (now - since <= grace).then(|| {
        (
            b,
            Converging {
                waits_for: format!(
                    "{} to take over (its master-down timer)",
                    c.spec.peers[b].name
                ),
                since,
                grace_ms: grace.num_milliseconds().max(0) as u64,
            },
        )
    })
}

/// A master seen through its backup: one peer unseen, the other fresh,
/// keepalived running, BACKUP for longer than the master-down interval —
/// which it could only stay while it hears the master's adverts. Returns
/// the unseen peer and the witness.
fn inferred_master(c: &ClusterSnapshot, views: &[PeerView; 2]) -> Option<(usize, usize)> {
    let w = (0..2).find(|&i| views[i].visible)?;
    let u = 1 - w;
    if views[u].visible || views[w].state != VrrpState::Backup {
        return None;
    }
    let facts = &c.peers[w];
    if facts.keepalived_running.as_ref().map(|f| f.value) != Some(true) {
        return None;
    }
    let seen_at = facts.reachable.as_ref()?.at;
    let since = facts.last_transition.or(facts.state_file_since)?;
    let backup_for = (seen_at - since).to_std().unwrap_or_default();
    (backup_for > master_down(facts)).then_some((u, w))
}

/// What differs between the peers' keepalived.conf ([`crate::core::pair`]).
fn config_mismatches(c: &ClusterSnapshot, names: &[&str; 2]) -> Vec<pair::Mismatch> {
    match (&c.peers[0].config, &c.peers[1].config) {
        (Some(a), Some(b)) => pair::mismatches(&a.value, names[0], &b.value, names[1]),
        _ => Vec::new(),
    }
}

fn flapping(c: &ClusterSnapshot, now: DateTime<Utc>, t: &Thresholds) -> Option<Alert> {
    // vipdeck's own failovers leave `vipdeck: failover …` in each peer's
    // log when they end: the transitions of the minute before are explained.
    let failovers: Vec<DateTime<Utc>> = c
        .recent_logs
        .iter()
        .filter(|l| l.text.contains("vipdeck: failover "))
        .map(|l| l.at)
        .collect();
    let explained = |at: DateTime<Utc>| {
        failovers
            .iter()
            .any(|&f| at >= f - AUDITED_FAILOVER_SPAN && at <= f + chrono::TimeDelta::seconds(5))
    };
    let recent = c
        .timeline
        .iter()
        .filter(|tr| tr.to == VrrpState::Master)
        .filter(|tr| (now - tr.at).to_std().unwrap_or_default() <= t.flap_window)
        .filter(|tr| !explained(tr.at))
        .count();
    (recent >= t.flap_count).then(|| {
        Alert::new(
            Severity::Warning,
            "flapping",
            format!(
                "{recent} MASTER transitions no vipdeck failover explains in the last {}",
                crate::core::humanize::duration(t.flap_window)
            ),
        )
    })
}

/// How long before its audit line a vipdeck failover's transitions happen.
const AUDITED_FAILOVER_SPAN: chrono::TimeDelta = chrono::TimeDelta::seconds(120);

/// A failover lock held on a peer we see: someone's failover in progress
/// (or one that died holding it). Information: it changes no verdict.
fn lock_alert(c: &ClusterSnapshot, views: &[PeerView; 2], now: DateTime<Utc>) -> Option<Alert> {
    let holder = (0..2).find_map(|i| match c.peers[i].failover_lock.as_ref() {
        Some(f) if views[i].visible => match &f.value {
            crate::core::lockfile::LockSeen::Held(h) => Some(h),
            crate::core::lockfile::LockSeen::Free => None,
        },
        _ => None,
    })?;
    // Who and how long first: a narrow alert line cuts the end.
    let (how_long, since) = if holder.started == DateTime::<Utc>::UNIX_EPOCH {
        (String::new(), "since an unknown time".to_string())
    } else {
        (
            format!(" for {}", fmt_age(now, holder.started)),
            format!("since {}", holder.started.format("%H:%M:%S UTC")),
        )
    };
    Some(Alert::new(
        Severity::Info,
        "failover_in_progress",
        format!(
            "failover in progress by {}{how_long} ({since}, pid {} on {})",
            holder.owner, holder.pid, holder.host
        ),
    ))
}

/// "12s", "3m05s", "2h10m": how long ago `at` was.
pub(crate) fn fmt_age(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    crate::core::humanize::duration((now - at).to_std().unwrap_or_default())
}

#[cfg(test)]
mod testkit;

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;
    use crate::core::model::{ConfigSummary, Fact, LogKind, Mode, PeerObservation, Transition};

    #[test]
    fn healthy_when_one_master_holds_vip_and_cloud_agrees() {
        let a = judge(&healthy_cluster());
        assert_eq!(a.verdict, Verdict::Healthy, "{:?}", a.alerts);
        assert_eq!(a.master, Some(0));
        assert_eq!(a.vip_bound_to, Some(0));
        assert!(a.alerts.iter().all(|a| a.severity == Severity::Info));
    }

    #[test]
    fn a_held_failover_lock_says_who_and_since_when_and_changes_no_verdict() {
        use crate::core::lockfile::{LockHolder, LockSeen};
        let mut c = healthy_cluster();
        let started = now() - chrono::Duration::seconds(35);
        let held = LockSeen::Held(Box::new(LockHolder {
            owner: "ops@jump1".into(),
            host: "jump1".into(),
            pid: 77,
            started,
        }));
        c.peers[1].failover_lock = Some(Fact::new(held, now(), Witness::Probe));
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::Healthy, "{:?}", a.alerts);
        let alert = a
            .alerts
            .iter()
            .find(|x| x.code == "failover_in_progress")
            .expect("the alert");
        assert_eq!(alert.severity, Severity::Info);
        assert!(
            alert
                .message
                .starts_with("failover in progress by ops@jump1 for 35s (since ")
                && alert.message.ends_with(" UTC, pid 77 on jump1)"),
            "{}",
            alert.message
        );
        c.peers[1].failover_lock = Some(Fact::new(LockSeen::Free, now(), Witness::Probe));
        assert!(judge(&c)
            .alerts
            .iter()
            .all(|x| x.code != "failover_in_progress"));
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
        // A peer whose keepalived gives no word of its own.
        c.peers[1].keepalived_state = None;
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
        // Two of them were a vipdeck failover, audited in the peers' log.
        log(
            &mut c,
            0,
            5,
            LogKind::Other,
            "vipdeck: failover web havip-01 -> havip-02 (stop keepalived) by op@host: verified [audit x]",
        );
        log(
            &mut c,
            0,
            1,
            LogKind::Other,
            "vipdeck: failover web havip-02 -> havip-01 (stop keepalived) by op@host: verified [audit y]",
        );
        let a = judge(&c);
        assert!(!codes(&a).contains(&"flapping"), "{:?}", a.alerts);
    }

    #[test]
    fn clock_skew_is_an_alert_on_the_peer() {
        let mut c = healthy_cluster();
        c.peers[1].clock_offset_ms = Some(Fact::new(30_100, now(), Witness::Probe));
        let a = judge(&c);
        let m = a
            .alerts
            .iter()
            .find(|x| x.code == "clock_skew")
            .expect("alert");
        assert!(
            m.message
                .starts_with("havip-02's clock is 30.1s ahead of ours"),
            "{}",
            m.message
        );
        c.peers[1].clock_offset_ms = Some(Fact::new(-800, now(), Witness::Probe));
        assert!(!codes(&judge(&c)).contains(&"clock_skew"));
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
    fn a_failed_move_stays_after_the_verdict_recovers_until_success_or_ack() {
        // ENI: havip-02 took over, its vip.py failed: drift.
        let mut c = moved(Mode::Eni, 40);
        let refused = r#" call ret {"Response": {"Error": {"Code": "InternalError"}}}"#;
        for (secs, text) in [(39, refused), (39, " set vip failed")] {
            log(&mut c, 1, secs, LogKind::VipMigration, text);
            let line = c.recent_logs.back().cloned().expect("a line");
            c.note_action(line);
        }
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::VipDrift);
        assert!(codes(&a).contains(&FAILED_ACTION), "{:?}", a.alerts);
        // An operator's forced move repaired the binding: the verdict
        // recovers, the failure stays.
        bind(&mut c, Some("eni-02"), now());
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::Healthy, "{:?}", a.alerts);
        let failed: Vec<&Alert> = a
            .alerts
            .iter()
            .filter(|x| x.code == FAILED_ACTION)
            .collect();
        assert_eq!(failed.len(), 1, "{:?}", a.alerts);
        assert!(
            failed[0].message.starts_with(
                "havip-02: vip.py's VIP move failed 39s ago (22:43:21 UTC): “call ret"
            ),
            "{}",
            failed[0].message
        );
        // Acknowledged: gone.
        let mut acked = c.clone();
        let id = crate::core::actions::failed_actions(&c, &c.acknowledged)[0]
            .id
            .clone();
        acked.acknowledged.insert(id);
        assert!(!codes(&judge(&acked)).contains(&FAILED_ACTION));
        // A later success of the same move on the same peer: gone too.
        log(&mut c, 1, 5, LogKind::VipMigration, " set done");
        let line = c.recent_logs.back().cloned().expect("a line");
        c.note_action(line);
        assert!(!codes(&judge(&c)).contains(&FAILED_ACTION));
    }

    fn with_conf(c: &mut ClusterSnapshot, i: usize) {
        c.peers[i].config = Some(Fact::new(
            ConfigSummary {
                advert_int: Some("1".into()),
                priority: Some(100),
                ..Default::default()
            },
            now(),
            Witness::Conf,
        ));
    }

    #[test]
    fn a_master_seen_through_its_backup() {
        let mut c = healthy_cluster();
        with_conf(&mut c, 1);
        c.peers[1].last_transition = Some(now() - chrono::Duration::seconds(600));
        c.peers[0].apply(PeerObservation::unreachable(now(), "ssh: timed out"));
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::Degraded, "{:?}", a.alerts);
        assert_eq!(a.master, Some(0));
        assert!(a.master_inferred);
        let m = a
            .alerts
            .iter()
            .find(|x| x.code == "master_inferred")
            .expect("alert");
        assert_eq!(
            m.message,
            "havip-01 is MASTER by inference (not seen): havip-02 stays BACKUP; the cloud binds the VIP to it too"
        );
        // A backup that became BACKUP within the master-down interval proves nothing.
        c.peers[1].last_transition = Some(now() - chrono::Duration::seconds(2));
        assert_eq!(judge(&c).verdict, Verdict::Unknown);
        // The backup taking over ends the inference.
        c.peers[1].last_transition = Some(now() - chrono::Duration::seconds(600));
        seen(&mut c, 1, VrrpState::Master, true, now());
        let a = judge(&c);
        assert!(!a.master_inferred);
        assert_eq!(a.master, Some(1));
    }

    #[test]
    fn master_down_follows_the_config() {
        let mut f = PeerFacts::default();
        assert_eq!(master_down(&f).as_millis(), 3609);
        f.config = Some(Fact::new(
            ConfigSummary {
                advert_int: Some("2".into()),
                priority: Some(200),
                ..Default::default()
            },
            now(),
            Witness::Conf,
        ));
        assert_eq!(master_down(&f).as_millis(), 6437);
    }

    #[test]
    fn a_takeover_in_progress_is_not_no_master() {
        let mut c = cluster();
        let t0 = now() - chrono::Duration::seconds(2);
        let mut snap = crate::core::model::Snapshot::new(vec![c.spec.clone()]);
        let obs = |state: VrrpState, at| PeerObservation {
            at,
            reachable: Some(true),
            keepalived_running: Some(state != VrrpState::Stop),
            state_file: Some(if state == VrrpState::Stop {
                VrrpState::Master
            } else {
                state
            }),
            vip_on_nic: Some(false),
            ..Default::default()
        };
        for (peer, state, at) in [
            (0, VrrpState::Master, t0 - chrono::Duration::seconds(60)),
            (1, VrrpState::Backup, t0 - chrono::Duration::seconds(60)),
            (0, VrrpState::Stop, t0),
            (1, VrrpState::Backup, now()),
            (0, VrrpState::Stop, now()),
        ] {
            snap.apply(crate::core::model::Update::Peer {
                cluster: 0,
                peer,
                observation: obs(state, at),
            });
        }
        c = snap.clusters.remove(0);
        bind(&mut c, Some("eni-01"), now());
        let a = judge(&c);
        assert_eq!(a.verdict, Verdict::Degraded, "{:?}", a.alerts);
        let m = a
            .alerts
            .iter()
            .find(|x| x.code == "converging")
            .expect("alert");
        assert!(
            m.message.contains("waiting for havip-02 to take over"),
            "{}",
            m.message
        );
        // Past the master-down interval (3.6 s) and the slack: no_master.
        let later = {
            let mut c = c.clone();
            for p in 0..2 {
                c.peers[p].reachable = Some(Fact::new(
                    true,
                    now() + chrono::Duration::seconds(5),
                    Witness::Probe,
                ));
            }
            assess(
                &c,
                now() + chrono::Duration::seconds(5),
                &Thresholds::default(),
            )
        };
        assert_eq!(later.verdict, Verdict::NoMaster, "{:?}", later.alerts);
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

    mod old_keepalived {
        //! Peers whose keepalived has no JSON dump (1.x, builds without JSON):
        //! its data dump or its own log lines are its word, never the state
        //! file alone; without either, the verdict says so.
        use super::*;
        use crate::core::model::{LogLine, LogSource, Update};

        fn without_dumps(c: &mut ClusterSnapshot) {
            for p in &mut c.peers {
                p.keepalived_state = None;
                let conf = ConfigSummary {
                    instance: "VI_1".into(),
                    ..Default::default()
                };
                p.config = Some(Fact::new(conf, now(), Witness::Conf));
            }
        }

        fn daemon_line(c: &mut ClusterSnapshot, peer: usize, secs_ago: i64, text: &str) {
            let mut s = crate::core::model::Snapshot {
                clusters: vec![c.clone()],
            };
            s.apply(Update::Log {
                cluster: 0,
                line: LogLine {
                    peer,
                    source: LogSource::Daemon,
                    at: now() - chrono::Duration::seconds(secs_ago),
                    kind: crate::core::model::LogKind::Transition,
                    text: text.into(),
                    announced: crate::core::keepalived::logline::announced_in(text),
                },
            });
            *c = s.clusters.remove(0);
        }

        /// The BACKUP's state file wrongly says MASTER.
        fn lying_state_file(c: &mut ClusterSnapshot) {
            c.peers[1].apply(PeerObservation {
                at: now(),
                state_file: Some(VrrpState::Master),
                ..Default::default()
            });
        }

        #[test]
        fn two_masters_right_after_a_takeover_are_a_handover_until_the_grace_ends() {
            let mut c = healthy_cluster();
            seen(&mut c, 1, VrrpState::Master, true, now());
            c.timeline.push_back(Transition {
                at: now() - chrono::Duration::seconds(1),
                peer: 1,
                from: VrrpState::Backup,
                to: VrrpState::Master,
            });
            let a = judge(&c);
            assert_eq!(a.verdict, Verdict::Degraded, "{:?}", a.alerts);
            assert_eq!(a.master, Some(1));
            assert!(codes(&a).contains(&"handover"));
            let later = assess(
                &c,
                now() + chrono::Duration::seconds(3),
                &Thresholds::default(),
            );
            assert_eq!(later.verdict, Verdict::SplitBrain, "{:?}", later.alerts);
        }

        #[test]
        fn a_state_file_ahead_of_the_dump_waits_for_the_next_dump() {
            let mut c = healthy_cluster();
            // The BACKUP's state file says MASTER after its last dump.
            c.peers[1].apply(PeerObservation {
                at: now() + chrono::Duration::milliseconds(300),
                state_file: Some(VrrpState::Master),
                ..Default::default()
            });
            assert_eq!(c.peers[1].reported_state(), VrrpState::Backup);
            assert_eq!(judge(&c).verdict, Verdict::Healthy, "no split brain flash");
            // Polls go on without a new dump: the dump no longer follows.
            c.peers[1].apply(PeerObservation {
                at: now() + chrono::Duration::seconds(4),
                reachable: Some(true),
                ..Default::default()
            });
            assert_eq!(c.peers[1].reported_state(), VrrpState::Master);
        }

        #[test]
        fn a_dump_that_does_not_come_keeps_a_current_one_but_not_an_outrun_one() {
            let mut c = healthy_cluster();
            let later = |ms: i64| now() + chrono::Duration::milliseconds(ms);
            // The takeover: the new master's state file, then its dump.
            c.peers[1].apply(PeerObservation {
                at: later(300),
                state_file: Some(VrrpState::Master),
                ..Default::default()
            });
            c.peers[1].apply(PeerObservation {
                at: later(600),
                reachable: Some(true),
                keepalived_state: Some(VrrpState::Master),
                ..Default::default()
            });
            assert_eq!(c.peers[1].reported_state(), VrrpState::Master);
            // The next dump is late (a loaded peer): the last one was taken
            // after the file changed and still stands; no BACKUP flash.
            c.peers[1].apply(PeerObservation {
                at: later(1800),
                reachable: Some(true),
                keepalived_dump_error: Some("keepalived wrote no JSON dump within 1s".into()),
                ..Default::default()
            });
            assert_eq!(
                c.peers[1].reported_with_witness(),
                (VrrpState::Master, Some(Witness::KeepalivedDump))
            );
            assert!(
                c.peers[1].keepalived_dump_error.is_some(),
                "the late dump is said"
            );
            // The file changes again and the dump asked for it does not
            // come: the old dump no longer follows and holds nothing back.
            c.peers[1].apply(PeerObservation {
                at: later(2500),
                state_file: Some(VrrpState::Backup),
                ..Default::default()
            });
            c.peers[1].apply(PeerObservation {
                at: later(3600),
                reachable: Some(true),
                keepalived_dump_error: Some("keepalived wrote no JSON dump within 1s".into()),
                ..Default::default()
            });
            assert_eq!(
                c.peers[1].reported_with_witness(),
                (VrrpState::Backup, Some(Witness::StateFile))
            );
        }

        #[test]
        fn after_a_restart_only_the_new_process_s_word_counts() {
            let mut c = healthy_cluster();
            let later = |s: i64| now() + chrono::Duration::seconds(s);
            // The MASTER is killed: its state file and its last dump say MASTER.
            c.peers[0].apply(PeerObservation {
                at: later(1),
                reachable: Some(true),
                keepalived_running: Some(false),
                ..Default::default()
            });
            assert_eq!(c.peers[0].reported_state(), VrrpState::Stop);
            // Started again: nothing it said yet.
            c.peers[0].apply(PeerObservation {
                at: later(5),
                reachable: Some(true),
                keepalived_running: Some(true),
                vip_on_nic: Some(false),
                ..Default::default()
            });
            assert_eq!(
                c.peers[0].reported_with_witness(),
                (VrrpState::Unknown, Some(Witness::Process))
            );
            seen(&mut c, 1, VrrpState::Master, true, later(5));
            let a = assess(&c, later(5), &Thresholds::default());
            assert_ne!(a.verdict, Verdict::SplitBrain, "{:?}", a.alerts);
            // Its notify script and its first dump.
            c.peers[0].apply(PeerObservation {
                at: later(6),
                state_file: Some(VrrpState::Backup),
                keepalived_state: Some(VrrpState::Backup),
                ..Default::default()
            });
            assert_eq!(c.peers[0].reported_state(), VrrpState::Backup);
        }

        #[test]
        fn a_dump_in_an_unknown_format_is_named_in_the_verdict_s_reason() {
            let mut c = healthy_cluster();
            without_dumps(&mut c);
            c.peers[1].keepalived = Some(crate::core::keepalived::version::detect(
                "Keepalived v9.9.9",
                None,
                Some("10"),
            ));
            c.peers[1].apply(PeerObservation {
                at: now(),
                keepalived_dump_error: Some(
                    "keepalived's data dump could not be read: keepalived data dump has no VRRP instance"
                        .into(),
                ),
                ..Default::default()
            });
            let a = judge(&c);
            assert_eq!(
                a.verdict,
                Verdict::Healthy,
                "the state file alone, said so: {:?}",
                a.alerts
            );
            let why = a
                .alerts
                .iter()
                .find(|x| x.code == "no_keepalived_witness" && x.message.starts_with("havip-02"))
                .map(|x| x.message.clone())
                .unwrap_or_default();
            assert!(
                why.contains("could not be read: keepalived data dump has no VRRP instance"),
                "{why}"
            );
        }

        #[test]
        fn a_data_dump_beats_a_lying_state_file() {
            let mut c = healthy_cluster();
            without_dumps(&mut c);
            lying_state_file(&mut c);
            c.peers[1].apply(PeerObservation {
                at: now(),
                keepalived_state: Some(VrrpState::Backup),
                keepalived_state_from: Some(Witness::KeepalivedData),
                ..Default::default()
            });
            let a = judge(&c);
            assert_eq!(a.verdict, Verdict::Healthy, "{:?}", a.alerts);
            assert_eq!(a.peers[1].witness, Some(Witness::KeepalivedData));
            assert!(codes(&a).contains(&"witnesses_disagree"));
        }

        #[test]
        fn keepalived_s_own_log_beats_a_lying_state_file() {
            let mut c = healthy_cluster();
            without_dumps(&mut c);
            daemon_line(
                &mut c,
                0,
                300,
                "Dec  6 07:01:02 a Keepalived_vrrp[9]: VRRP_Instance(VI_1) Entering MASTER STATE",
            );
            daemon_line(
                &mut c,
                1,
                290,
                "Dec  6 07:01:12 b Keepalived_vrrp[9]: VRRP_Instance(VI_1) Entering BACKUP STATE",
            );
            // Another instance on the same host says nothing about this one.
            daemon_line(
                &mut c,
                1,
                10,
                "Dec  6 07:06:00 b Keepalived_vrrp[9]: VRRP_Instance(VI_9) Entering MASTER STATE",
            );
            lying_state_file(&mut c);
            let a = judge(&c);
            assert_eq!(a.verdict, Verdict::Healthy, "{:?}", a.alerts);
            assert_eq!(a.peers[1].state, VrrpState::Backup);
            assert_eq!(a.peers[1].witness, Some(Witness::KeepalivedLog));
            let msg = a
                .alerts
                .iter()
                .find(|x| x.code == "witnesses_disagree")
                .map(|x| x.message.clone())
                .unwrap_or_default();
            assert!(msg.contains("keepalived last logged BACKUP"), "{msg}");
        }

        #[test]
        fn without_any_word_of_keepalived_the_verdict_says_so() {
            let mut c = healthy_cluster();
            without_dumps(&mut c);
            lying_state_file(&mut c);
            c.peers[1].keepalived = Some(crate::core::keepalived::version::detect(
                "Keepalived v2.2.7",
                Some("no"),
                None,
            ));
            let a = judge(&c);
            assert_eq!(a.verdict, Verdict::SplitBrain);
            let two = a
                .alerts
                .iter()
                .find(|x| x.code == "two_masters")
                .expect("two_masters");
            assert!(
                two.message.contains("state file's word alone"),
                "{}",
                two.message
            );
            let why = a
                .alerts
                .iter()
                .find(|x| x.code == "no_keepalived_witness" && x.message.starts_with("havip-02"))
                .map(|x| x.message.clone())
                .unwrap_or_default();
            assert!(
                why.contains("2.2.7") && why.contains("no dump asked"),
                "{why}"
            );
        }
    }
    mod dataplane {
        //! The data-plane witness in the verdict.
        use super::*;
        use crate::core::dataplane::{Dataplane, NoAnswer, ProbeFault, ProbeOutcome, ProbeResult};

        fn probed(c: &mut ClusterSnapshot, secs_ago: i64, outcome: ProbeOutcome) {
            c.dataplane
                .get_or_insert_with(Dataplane::default)
                .record(ProbeResult {
                    at: now() - chrono::Duration::seconds(secs_ago),
                    outcome,
                });
        }

        fn answered(node: Option<&str>) -> ProbeOutcome {
            ProbeOutcome::Answered {
                rtt: Duration::from_millis(3),
                node: node.map(str::to_string),
            }
        }

        #[test]
        fn no_probe_changes_nothing() {
            let a = judge(&healthy_cluster());
            assert_eq!(a.verdict, Verdict::Healthy);
            assert!(a.alerts.is_empty(), "{:?}", a.alerts);
        }

        #[test]
        fn a_vip_that_answers_from_the_master_is_healthy() {
            let mut c = healthy_cluster();
            probed(&mut c, 1, answered(Some("havip-01")));
            let a = judge(&c);
            assert_eq!(a.verdict, Verdict::Healthy);
            assert!(a.alerts.is_empty(), "{:?}", a.alerts);
        }

        #[test]
        fn a_silent_vip_in_a_healthy_cluster_is_critical_with_since_and_error() {
            let mut c = healthy_cluster();
            probed(&mut c, 14, answered(None));
            probed(
                &mut c,
                12,
                ProbeOutcome::NoAnswer(NoAnswer::Timeout(Duration::from_millis(800))),
            );
            probed(
                &mut c,
                1,
                ProbeOutcome::NoAnswer(NoAnswer::Timeout(Duration::from_millis(800))),
            );
            let a = judge(&c);
            assert_eq!(a.verdict, Verdict::Degraded);
            let alert = &a.alerts[0];
            assert_eq!(
                (alert.code.as_str(), alert.severity),
                ("vip_unreachable", Severity::Critical)
            );
            assert!(alert.message.contains("timeout 800ms"), "{}", alert.message);
            assert!(
                alert.message.contains("since 22:43:48 UTC (12s)"),
                "{}",
                alert.message
            );
            assert!(alert.message.contains("look healthy"), "{}", alert.message);
        }

        #[test]
        fn a_vip_answered_by_the_backup_is_an_alert() {
            let mut c = healthy_cluster();
            // Whether the BACKUP holds the VIP is not known: the answer
            // may well be its own (one seen without it: see
            // dataplane_verdict's tests).
            c.peers[1].vip_on_nic = None;
            probed(&mut c, 1, answered(Some("havip-02")));
            let a = judge(&c);
            assert_eq!(codes(&a), ["vip_answered_by_other"]);
            assert!(
                a.alerts[0].message.contains("havip-02, the BACKUP"),
                "{}",
                a.alerts[0].message
            );
            assert_eq!(a.verdict, Verdict::Degraded);
        }

        #[test]
        fn a_vip_that_answers_despite_a_wrong_binding_lowers_confidence() {
            let mut c = healthy_cluster();
            bind(&mut c, Some("eni-02"), now());
            probed(&mut c, 1, answered(None));
            let a = judge(&c);
            assert_eq!(a.verdict, Verdict::VipDrift);
            assert!(
                codes(&a).contains(&"vip_answers_despite_binding"),
                "{:?}",
                codes(&a)
            );
            let m = &a
                .alerts
                .iter()
                .find(|x| x.code == "vip_answers_despite_binding")
                .expect("alert")
                .message;
            assert!(m.contains("trust the binding read less"), "{m}");
        }

        #[test]
        fn a_probe_that_cannot_run_is_its_own_problem_not_an_outage() {
            let mut c = healthy_cluster();
            probed(
                &mut c,
                1,
                ProbeOutcome::Fault(ProbeFault::NotPermitted("EPERM".into())),
            );
            let a = judge(&c);
            assert_eq!(a.verdict, Verdict::Healthy);
            assert_eq!(codes(&a), ["probe_error"]);
            assert_eq!(a.alerts[0].severity, Severity::Warning);
        }

        #[test]
        fn an_old_result_is_not_taken_as_now() {
            let mut c = healthy_cluster();
            probed(&mut c, 60, ProbeOutcome::NoAnswer(NoAnswer::Refused));
            let a = judge(&c);
            assert_eq!(a.verdict, Verdict::Healthy);
            assert_eq!(codes(&a), ["probe_stale"]);
        }
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
        // Leaving MASTER, the newer state file is believed at once.
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
