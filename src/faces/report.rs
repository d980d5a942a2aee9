//! What `status`, `status --json`, `status --watch` and `check` print: pure
//! functions from a snapshot and its assessments to text or JSON.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::core::model::{Alert, ClusterSnapshot, PeerFacts, Snapshot, Verdict, Witness};
use crate::core::sanitize::{clean, clip};
use crate::core::verdict::{assess, Assessment, Thresholds};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Set by `--watch` only: when this snapshot was printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    pub clusters: Vec<ClusterReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterReport {
    pub name: String,
    pub mode: String,
    pub vip: String,
    pub verdict: Verdict,
    pub master: Option<String>,
    /// True when `master` is not seen but inferred from its peer staying BACKUP.
    pub master_inferred: bool,
    pub vip_bound_to: Option<String>,
    /// A move in progress: the binding has not followed the master yet.
    pub converging: Option<ConvergingReport>,
    pub cloud: CloudReport,
    pub peers: Vec<PeerReport>,
    pub alerts: Vec<Alert>,
    /// MASTER changes in the last hour and day, the last one and its cause.
    pub flaps: FlapReport,
    /// Failed actions not followed by a success of the same action on the
    /// same peer and not acknowledged, oldest first (also `failed_action`
    /// alerts).
    pub failed_actions: Vec<FailedActionReport>,
    /// A planned maintenance window on the cluster (`vipdeck maintenance`),
    /// active or expired; the verdict is computed as ever.
    pub maintenance: Option<MaintenanceReport>,
    /// The data-plane witness (the VIP as a client reaches it); absent for
    /// a cluster without a `probe`, null until its first probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataplane: Option<DataplaneReport>,
}

/// The newest probe of the VIP, since when it has been so, and the recent
/// answers with their times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataplaneReport {
    /// Null when the probe could not run (`probe_error`).
    pub reachable: Option<bool>,
    pub rtt_ms: Option<f64>,
    /// The node that answered, when the answer names one (sanitised).
    pub node: Option<String>,
    /// Why there was no answer: `refused`, `reset`, `timeout 800ms`,
    /// `HTTP 503`, …
    pub error: Option<String>,
    /// The probe's own problem (DNS, not permitted here), not the VIP's.
    pub probe_error: Option<String>,
    /// When the VIP started answering (or stopped).
    pub since: Option<String>,
    pub age_ms: u64,
    /// Rounds not started because a probe outlived its interval.
    pub skipped_rounds: u64,
    /// Recent probes, oldest first.
    pub recent: Vec<ProbeReport>,
    /// The one-line form `status` prints.
    #[serde(skip)]
    pub line: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    pub at: String,
    pub reachable: Option<bool>,
    pub rtt_ms: Option<f64>,
}

fn dataplane_report(
    c: &ClusterSnapshot,
    a: &Assessment,
    now: DateTime<Utc>,
) -> Option<DataplaneReport> {
    use crate::core::dataplane::ProbeOutcome;
    use crate::core::sanitize;
    let dp = c.dataplane.as_ref()?;
    let latest = dp.latest()?;
    let reachable = |o: &ProbeOutcome| match o {
        ProbeOutcome::Answered { .. } => Some(true),
        ProbeOutcome::NoAnswer(_) => Some(false),
        ProbeOutcome::Fault(_) => None,
    };
    let rtt_ms = |o: &ProbeOutcome| match o {
        ProbeOutcome::Answered { rtt, .. } => Some(rtt.as_secs_f64() * 1000.0),
        _ => None,
    };
    Some(DataplaneReport {
        line: crate::core::dataplane::summary_line(
            dp,
            now,
            crate::core::dataplane_verdict::moving(&a.alerts),
        )?,
        reachable: reachable(&latest.outcome),
        rtt_ms: rtt_ms(&latest.outcome),
        node: match &latest.outcome {
            ProbeOutcome::Answered { node, .. } => node.as_deref().map(sanitize::clean),
            _ => None,
        },
        error: match &latest.outcome {
            ProbeOutcome::NoAnswer(why) => Some(why.to_string()),
            _ => None,
        },
        probe_error: match &latest.outcome {
            ProbeOutcome::Fault(f) => Some(f.to_string()),
            _ => None,
        },
        since: dp.since.map(rfc3339),
        age_ms: age_ms(now, latest.at),
        skipped_rounds: dp.skipped_rounds,
        recent: dp
            .history
            .iter()
            .map(|r| ProbeReport {
                at: rfc3339(r.at),
                reachable: reachable(&r.outcome),
                rtt_ms: rtt_ms(&r.outcome),
            })
            .collect(),
    })
}

/// A cluster's maintenance window as `status --json` and the metrics say it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaintenanceReport {
    /// `active`, `expired`, or `suspect` (a marker not believed).
    pub state: &'static str,
    pub by: Option<String>,
    pub reason: Option<String>,
    pub peer: Option<String>,
    /// RFC 3339.
    pub started: Option<String>,
    pub until: Option<String>,
    /// Seconds left (0 once expired).
    pub remaining_s: Option<u64>,
    pub silence_id: Option<String>,
    /// Why a suspect marker is not believed.
    pub why: Option<String>,
}

fn maintenance_report(c: &ClusterSnapshot, now: DateTime<Utc>) -> Option<MaintenanceReport> {
    use crate::core::maintenance::{of_cluster, ClusterMaintenance};
    use crate::core::sanitize::{clean, clip};
    let said = |s: &str| clip(&clean(s), 200);
    Some(match of_cluster(c, now)? {
        ClusterMaintenance::Window { marker, expired } => MaintenanceReport {
            state: if expired { "expired" } else { "active" },
            by: Some(said(&marker.by)),
            reason: Some(said(&marker.reason)),
            peer: marker.peer.as_deref().map(said),
            started: Some(rfc3339(marker.started)),
            until: Some(rfc3339(marker.until)),
            remaining_s: Some((marker.until - now).num_seconds().max(0) as u64),
            silence_id: marker.silence_id.as_deref().map(said),
            why: None,
        },
        ClusterMaintenance::Suspect { why, .. } => MaintenanceReport {
            state: "suspect",
            by: None,
            reason: None,
            peer: None,
            started: None,
            until: None,
            remaining_s: None,
            silence_id: None,
            why: Some(why),
        },
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedActionReport {
    /// What acknowledges it: the newest failure line's id (stable while the
    /// peer's log holds the line); `at`, `line` are the first failure's.
    pub id: String,
    pub at: String,
    pub peer: String,
    /// `vip_move`, `migration_task` or `notify_script`.
    pub action: crate::core::actions::ActionKind,
    /// The line as logged: the first failure since the action last succeeded.
    pub line: String,
    /// How many more failure lines of the same action on that peer followed.
    pub more: usize,
}

/// `flaps` in `status --json`: what [`crate::core::flaps::FlapStats`]
/// counts, with the peers named.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlapReport {
    pub master_changes_1h: usize,
    pub master_changes_24h: usize,
    /// The 24h count is a lower bound (the kept history is full).
    pub truncated: bool,
    pub last_change: Option<LastChangeReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastChangeReport {
    pub at: String,
    pub peer: String,
    pub from: String,
    pub to: String,
    /// In words; null when no log line named it.
    pub cause: Option<String>,
    /// The log line that names it, as logged, and whose it is.
    pub cause_line: Option<String>,
    pub cause_peer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudReport {
    pub network_interface_id: Option<String>,
    pub instance_id: Option<String>,
    pub havip_id: Option<String>,
    pub state: Option<String>,
    /// Last rebind (HAVIP `FlushedTime`), RFC 3339.
    pub flushed_time: Option<String>,
    /// Age of the last good answer in milliseconds.
    pub age_ms: Option<u64>,
    /// The last good answer is older than `cloud_stale_after_ms`: the
    /// verdict sets it aside (`vip_bound_to` is then null).
    pub stale: bool,
    /// The peer whose ENI (else instance) the last good answer names,
    /// however old the answer.
    pub peer: Option<String>,
    pub error: Option<String>,
    pub credential_source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConvergingReport {
    /// What the binding waits for, in words.
    pub waits_for: String,
    pub elapsed_ms: u64,
    pub grace_ms: u64,
    pub left_ms: u64,
}

/// How old each of a peer's facts is, in milliseconds (null: never seen).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactAges {
    pub keepalived_running: Option<u64>,
    pub state_file: Option<u64>,
    pub keepalived_state: Option<u64>,
    pub vip_on_nic: Option<u64>,
    pub config: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerReport {
    pub name: String,
    pub reachable: Option<bool>,
    pub keepalived_running: Option<bool>,
    /// MASTER BACKUP FAULT STOP UNKNOWN, after the cross-checks.
    pub vrrp_state: String,
    /// Which witness the state came from.
    pub state_source: Option<String>,
    pub state_file: Option<String>,
    pub keepalived_state: Option<String>,
    pub vip_on_nic: Option<bool>,
    pub priority: Option<u8>,
    pub last_transition: Option<String>,
    pub data_age_ms: Option<u64>,
    /// The age of each fact: old facts of an unseen peer are shown, never current.
    pub facts_age_ms: FactAges,
    pub stale: bool,
    /// False when the peer cannot be seen now: its facts are its last known.
    pub visible: bool,
    pub error: Option<String>,
    /// How vipdeck watches the peer's state file and addresses (chosen at
    /// connect time: `tick + ip monitor`, `tick + ip per poll`, ...).
    pub watcher: Option<String>,
    /// The peer's keepalived release (`1.3.5`), from its `--version`.
    pub keepalived_version: Option<String>,
    /// keepalived's own witness vipdeck has for the peer: `json_dump`,
    /// `data_dump`, `log`, or `none` (the state file alone).
    pub witness: String,
    /// Why there is no dump (or none at all), in words; null when the
    /// dump answers.
    pub witness_note: Option<String>,
    /// Why the peer is in its state: priorities, trackers, preemption,
    /// each with its source, and what could not be seen (`vipdeck explain`).
    pub explain: crate::core::explain::PeerWhy,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn age_ms(now: DateTime<Utc>, at: DateTime<Utc>) -> u64 {
    (now - at).num_milliseconds().max(0) as u64
}

pub(crate) fn cluster_report(
    c: &ClusterSnapshot,
    a: &Assessment,
    now: DateTime<Utc>,
    t: &Thresholds,
) -> ClusterReport {
    let name = |i: usize| c.spec.peers[i].name.clone();
    let binding = c.cloud.binding.as_ref();
    ClusterReport {
        name: c.spec.name.clone(),
        mode: c.spec.mode.to_string(),
        vip: c.spec.vip.clone(),
        verdict: a.verdict,
        master: a.master.map(name),
        master_inferred: a.master_inferred,
        vip_bound_to: a.vip_bound_to.map(name),
        converging: a.converging.as_ref().map(|cv| {
            let elapsed_ms = age_ms(now, cv.since);
            ConvergingReport {
                waits_for: cv.waits_for.clone(),
                elapsed_ms,
                grace_ms: cv.grace_ms,
                left_ms: cv.grace_ms.saturating_sub(elapsed_ms),
            }
        }),
        cloud: CloudReport {
            network_interface_id: binding.and_then(|b| b.value.network_interface_id.clone()),
            instance_id: binding.and_then(|b| b.value.instance_id.clone()),
            havip_id: binding
                .and_then(|b| b.value.havip_id.clone())
                .or_else(|| c.spec.havip_id.clone()),
            state: binding.and_then(|b| b.value.state.clone()),
            flushed_time: binding.and_then(|b| b.value.flushed_time).map(rfc3339),
            age_ms: binding.map(|b| age_ms(now, b.at)),
            stale: binding.is_some_and(|b| b.is_stale(now, t.cloud_stale_after)),
            peer: binding
                .and_then(|b| c.spec.peer_of_binding(&b.value))
                .map(name),
            error: c.cloud.error.as_ref().map(|(e, _)| e.clone()),
            credential_source: c.cloud.credential_source.clone(),
        },
        peers: (0..2)
            .map(|i| {
                let f = &c.peers[i];
                let v = a.peers[i];
                PeerReport {
                    name: name(i),
                    reachable: f.reachable.as_ref().map(|r| r.value),
                    keepalived_running: f.keepalived_running.as_ref().map(|r| r.value),
                    vrrp_state: v.state.as_str().to_string(),
                    state_source: v.witness.map(|w| w.label().to_string()),
                    state_file: f.state_file.as_ref().map(|s| s.value.as_str().to_string()),
                    keepalived_state: f
                        .keepalived_state
                        .as_ref()
                        .map(|s| s.value.as_str().to_string()),
                    vip_on_nic: f.vip_on_nic.as_ref().map(|r| r.value),
                    priority: f.priority.as_ref().map(|r| r.value),
                    last_transition: f.last_transition.map(rfc3339),
                    data_age_ms: f.reachable.as_ref().map(|r| age_ms(now, r.at)),
                    facts_age_ms: FactAges {
                        keepalived_running: f
                            .keepalived_running
                            .as_ref()
                            .map(|x| age_ms(now, x.at)),
                        state_file: f.state_file.as_ref().map(|x| age_ms(now, x.at)),
                        keepalived_state: f.keepalived_state.as_ref().map(|x| age_ms(now, x.at)),
                        vip_on_nic: f.vip_on_nic.as_ref().map(|x| age_ms(now, x.at)),
                        config: f.config.as_ref().map(|x| age_ms(now, x.at)),
                    },
                    stale: v.stale,
                    visible: v.visible,
                    error: f.error.clone(),
                    watcher: f.watcher.clone(),
                    keepalived_version: f.keepalived.as_ref().map(|k| k.version_label()),
                    witness: witness_name(f.keepalived_witness()).into(),
                    witness_note: witness_note(f),
                    explain: crate::core::explain::explain_peer(c, i),
                }
            })
            .collect(),
        alerts: a.alerts.clone(),
        maintenance: maintenance_report(c, now),
        dataplane: dataplane_report(c, a, now),
        flaps: flap_report(c, now),
        failed_actions: crate::core::actions::failed_actions(c, &c.acknowledged)
            .into_iter()
            .map(|f| FailedActionReport {
                id: f.id,
                at: rfc3339(f.at),
                peer: name(f.peer),
                action: f.action,
                line: f.line,
                more: f.more,
            })
            .collect(),
    }
}

fn flap_report(c: &ClusterSnapshot, now: DateTime<Utc>) -> FlapReport {
    let s = crate::core::flaps::flap_stats(c, now);
    let name = |i: usize| c.spec.peers[i].name.clone();
    FlapReport {
        master_changes_1h: s.last_hour,
        master_changes_24h: s.last_day,
        truncated: s.day_truncated,
        last_change: s.last_change.map(|l| LastChangeReport {
            at: rfc3339(l.at),
            peer: name(l.peer),
            from: l.from.into(),
            to: l.to.into(),
            cause: l.cause,
            cause_line: l.cause_line,
            cause_peer: l.cause_peer.map(name),
        }),
    }
}

fn witness_name(w: Option<Witness>) -> &'static str {
    match w {
        Some(Witness::KeepalivedDump) => "json_dump",
        Some(Witness::KeepalivedData) => "data_dump",
        Some(Witness::KeepalivedLog) => "log",
        _ => "none",
    }
}

/// Why keepalived gives no dump here, when it does not.
fn witness_note(f: &PeerFacts) -> Option<String> {
    use crate::core::keepalived::version::DumpMethod;
    if let Some(e) = &f.keepalived_dump_error {
        return Some(e.clone());
    }
    match f.keepalived.as_ref().map(|k| &k.dump) {
        Some(DumpMethod::None { reason }) => Some(reason.clone()),
        _ => None,
    }
}

/// The report of the clusters selected by `only` (all when `None`).
pub fn report(
    snapshot: &Snapshot,
    t: &Thresholds,
    now: DateTime<Utc>,
    only: Option<&str>,
) -> Report {
    Report {
        at: None,
        clusters: snapshot
            .clusters
            .iter()
            .filter(|c| only.is_none_or(|n| c.spec.name == n))
            .map(|c| cluster_report(c, &assess(c, now, t), now, t))
            .collect(),
    }
}

/// What must change for `status --watch` to print a new line, per cluster:
/// verdict, master, binding, each peer's state, reachability and
/// keepalived's word, and the alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchKey(Vec<ClusterKey>);

/// Per peer: VRRP state, what its state file says, reachability, and why
/// keepalived's own word is missing (a dump asked that never came).
type PeerKey = (String, Option<String>, Option<bool>, Option<String>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct ClusterKey {
    verdict: Verdict,
    master: Option<String>,
    bound_to: Option<String>,
    peers: Vec<PeerKey>,
    /// The alerts' codes (not their messages: those count ages).
    alerts: Vec<String>,
    /// The data-plane witness: whether the VIP answers, who answered, and
    /// whether the probe itself failed (not its RTT: that moves every round).
    dataplane: Option<DataplaneKey>,
}

type DataplaneKey = (Option<bool>, Option<String>, Option<String>);

fn dataplane_key(c: &ClusterReport) -> Option<DataplaneKey> {
    let d = c.dataplane.as_ref()?;
    Some((
        d.reachable,
        d.node.clone(),
        d.error.clone().or(d.probe_error.clone()),
    ))
}

pub fn watch_key(r: &Report) -> WatchKey {
    WatchKey(r.clusters.iter().map(cluster_key).collect())
}

/// `status --watch` without `--json`: one line per cluster whose verdict,
/// master, binding, a peer's state, reachability or keepalived's word (a
/// dump that did not come), or its alerts changed since `prev`
/// (every cluster on the first call): time, cluster, what changed, verdict.
/// `clock` is the time as the line shows it.
pub fn watch_lines(prev: Option<&Report>, cur: &Report, clock: &str) -> Vec<String> {
    let mut out = Vec::new();
    for c in &cur.clusters {
        let before = prev.and_then(|r| r.clusters.iter().find(|p| p.name == c.name));
        if before.map(cluster_key).as_ref() == Some(&cluster_key(c)) {
            continue;
        }
        let none = |s: &Option<String>| s.clone().unwrap_or_else(|| "nobody".into());
        let mut what = Vec::new();
        match before {
            None => {
                let peers: Vec<String> = c
                    .peers
                    .iter()
                    .map(|p| format!("{} {}", p.name, p.vrrp_state))
                    .collect();
                what.push(format!(
                    "{}; master {}; VIP bound to {}",
                    peers.join(", "),
                    none(&c.master),
                    none(&c.vip_bound_to)
                ));
            }
            Some(b) => {
                for (was, now) in b.peers.iter().zip(&c.peers) {
                    if was.vrrp_state != now.vrrp_state {
                        what.push(format!(
                            "{} {} → {}",
                            now.name, was.vrrp_state, now.vrrp_state
                        ));
                    }
                    if was.reachable != now.reachable {
                        what.push(match now.reachable {
                            Some(false) => format!("{} unreachable", now.name),
                            _ => format!("{} answers", now.name),
                        });
                    }
                    if was.witness_note != now.witness_note {
                        what.push(match &now.witness_note {
                            Some(note) => format!("{} keepalived's word: {note}", now.name),
                            None => format!("{} keepalived's word back", now.name),
                        });
                    }
                    if was.state_file != now.state_file {
                        what.push(format!(
                            "{} state file {} → {}",
                            now.name,
                            was.state_file.as_deref().unwrap_or("?"),
                            now.state_file.as_deref().unwrap_or("?")
                        ));
                    }
                }
                if b.master != c.master {
                    what.push(format!("master {} → {}", none(&b.master), none(&c.master)));
                }
                if b.vip_bound_to != c.vip_bound_to {
                    what.push(format!(
                        "VIP bound {} → {}",
                        none(&b.vip_bound_to),
                        none(&c.vip_bound_to)
                    ));
                }
                if let Some(line) = dataplane_change(b.dataplane.as_ref(), c.dataplane.as_ref()) {
                    what.push(line);
                }
                if b.verdict != c.verdict {
                    what.push(format!("was {}", b.verdict.as_str().to_ascii_uppercase()));
                }
                let (was, now) = (alert_codes(b), alert_codes(c));
                for code in now.iter().filter(|x| !was.contains(x)) {
                    what.push(format!("alert {code}"));
                }
                for code in was.iter().filter(|x| !now.contains(x)) {
                    what.push(format!("{code} cleared"));
                }
            }
        }
        out.push(clean(&format!(
            "{clock} {} {} · {}",
            c.name,
            what.join("; "),
            c.verdict.as_str().to_ascii_uppercase()
        )));
    }
    out
}

/// What `status --watch` says when the VIP starts or stops answering, is
/// answered by another node, or the probe itself fails; None when nothing
/// of that changed.
fn dataplane_change(
    was: Option<&DataplaneReport>,
    now: Option<&DataplaneReport>,
) -> Option<String> {
    let now = now?;
    let key = |d: &DataplaneReport| {
        (
            d.reachable,
            d.node.clone(),
            d.error.clone(),
            d.probe_error.clone(),
        )
    };
    if was.map(key) == Some(key(now)) {
        return None;
    }
    let by = |d: &DataplaneReport| {
        d.node
            .as_ref()
            .map(|n| format!(" by {n}"))
            .unwrap_or_default()
    };
    Some(match (now.reachable, &now.probe_error) {
        (Some(true), _) if was.and_then(|w| w.reachable) == Some(true) => {
            format!("VIP now answered{}", by(now))
        }
        (Some(true), _) => format!("VIP answers{}", by(now)),
        (Some(false), _) => format!(
            "VIP does not answer: {}",
            now.error.as_deref().unwrap_or("no answer")
        ),
        (None, Some(fault)) => format!("VIP probe cannot run: {fault}"),
        (None, None) => "VIP probe: no answer yet".into(),
    })
}

fn cluster_key(c: &ClusterReport) -> ClusterKey {
    ClusterKey {
        verdict: c.verdict,
        master: c.master.clone(),
        bound_to: c.vip_bound_to.clone(),
        peers: c
            .peers
            .iter()
            .map(|p| {
                (
                    p.vrrp_state.clone(),
                    p.state_file.clone(),
                    p.reachable,
                    p.witness_note.clone(),
                )
            })
            .collect(),
        alerts: alert_codes(c),
        dataplane: dataplane_key(c),
    }
}

fn alert_codes(c: &ClusterReport) -> Vec<String> {
    let mut codes: Vec<String> = c.alerts.iter().map(|a| a.code.to_string()).collect();
    codes.sort();
    codes.dedup();
    codes
}

/// `status -o wide`: the text, and for each peer its priority, how long
/// since its last transition and how old its data is, and the cloud
/// answer's age.
pub fn render_wide(r: &Report, now: DateTime<Utc>) -> String {
    render(r, Some(now))
}

/// What `-o wide` adds to a peer's line.
fn wide_peer(p: &PeerReport, now: DateTime<Utc>) -> String {
    let human = |ms: u64| crate::core::humanize::duration(std::time::Duration::from_millis(ms));
    let prio = p.priority.map_or("?".into(), |v| v.to_string());
    let tr = p
        .last_transition
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or("?".into(), |t| {
            format!("{} ago", human(age_ms(now, t.with_timezone(&Utc))))
        });
    let data = p.data_age_ms.map_or("?".into(), human);
    let watcher = p.watcher.as_deref().unwrap_or("?");
    let version = p.keepalived_version.as_deref().unwrap_or("?");
    let witness = p.witness.replace('_', " ");
    format!(
        "  prio {prio}  transition {tr}  data age {data}  watcher {watcher}  keepalived {version} via {witness}"
    )
}

/// "  flaps: 2 MASTER changes in 1h, 3 in 24h; last hk2 MASTER→BACKUP at
/// …: why": only when the day had one.
fn flap_text(f: &FlapReport) -> Option<String> {
    if f.master_changes_24h == 0 {
        return None;
    }
    let at_least = if f.truncated { "at least " } else { "" };
    let last = f
        .last_change
        .as_ref()
        .map(|l| {
            let why = match (&l.cause, &l.cause_line) {
                (Some(c), Some(line)) => format!("{c} (“{}”)", clip(line.trim(), 120)),
                (Some(c), None) => c.clone(),
                _ => "no log line names the cause".into(),
            };
            // From a log line alone the state before is not known.
            let from = if l.from == "UNKNOWN" {
                ""
            } else {
                l.from.as_str()
            };
            format!("; last {} {from}→{} at {}: {why}", l.peer, l.to, l.at)
        })
        .unwrap_or_default();
    Some(format!(
        "  flaps: {} MASTER changes in 1h, {at_least}{} in 24h{last}",
        f.master_changes_1h, f.master_changes_24h
    ))
}

/// The human `status` text.
pub fn render_text(r: &Report) -> String {
    render(r, None)
}

/// The text, `wide` (with the time now) for `-o wide`.
fn render(r: &Report, wide: Option<DateTime<Utc>>) -> String {
    let mut out = String::new();
    for c in &r.clusters {
        push_line(
            &mut out,
            &format!(
                "{} ({}, VIP {}): {}",
                c.name,
                c.mode,
                c.vip,
                c.verdict.as_str().to_ascii_uppercase()
            ),
        );
        for p in &c.peers {
            let reach = match p.reachable {
                Some(true) => "",
                Some(false) => " UNREACHABLE",
                None => " not seen yet",
            };
            let ka = match p.keepalived_running {
                Some(true) => "keepalived up",
                Some(false) => "keepalived DOWN",
                None => "keepalived ?",
            };
            let vip = match p.vip_on_nic {
                Some(true) => "VIP on NIC",
                Some(false) => "no VIP",
                None => "VIP ?",
            };
            let src = p
                .state_source
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            let stale = if p.stale { " STALE" } else { "" };
            // An unseen peer's facts are its last known ones: say how old.
            let (ka, vip) = if p.visible {
                (ka.to_string(), vip.to_string())
            } else {
                let old = |what: &str, age: Option<u64>| match age {
                    Some(ms) => format!(
                        "[{what}, {} ago]",
                        crate::core::humanize::duration(std::time::Duration::from_millis(ms))
                    ),
                    None => format!("[{what}]"),
                };
                (
                    old(ka, p.facts_age_ms.keepalived_running),
                    old(vip, p.facts_age_ms.vip_on_nic),
                )
            };
            let inferred = if c.master_inferred && c.master.as_deref() == Some(p.name.as_str()) {
                " (MASTER by inference)"
            } else {
                ""
            };
            let more = wide.map(|now| wide_peer(p, now)).unwrap_or_default();
            push_line(
                &mut out,
                &format!(
                    "  {:<12} {:<7}{src}{inferred}  {ka}  {vip}{reach}{stale}{more}",
                    p.name, p.vrrp_state
                ),
            );
        }
        // Whose interface the answer names, old or not: a stale answer
        // says so below rather than turning a peer into a stranger.
        let bound = match (&c.cloud.network_interface_id, &c.cloud.peer) {
            _ if c.cloud.state.as_deref() == Some("UNBIND") => "nothing".into(),
            (Some(eni), Some(p)) => format!("{eni} on {p}"),
            (Some(eni), None) => format!("{eni} (not a peer)"),
            (None, _) if c.cloud.age_ms.is_some() => "nothing".into(),
            (None, _) => "unknown".into(),
        };
        let stale = if c.cloud.stale { " (stale)" } else { "" };
        let age = c
            .cloud
            .age_ms
            .map(|ms| {
                format!(
                    ", read {} ago",
                    crate::core::humanize::duration(std::time::Duration::from_millis(ms))
                )
            })
            .unwrap_or_else(|| {
                if wide.is_some() {
                    ", cloud age ?".into()
                } else {
                    String::new()
                }
            });
        let creds = c
            .cloud
            .credential_source
            .as_deref()
            .map(|s| format!(" (credentials: {s})"))
            .unwrap_or_default();
        let err = c
            .cloud
            .error
            .as_deref()
            .map(|e| format!("; last call failed: {e}"))
            .unwrap_or_default();
        push_line(
            &mut out,
            &format!("  cloud: VIP → {bound}{age}{stale}{creds}{err}"),
        );
        if let Some(dp) = &c.dataplane {
            push_line(&mut out, &format!("  {}", dp.line));
        }
        if let Some(flaps) = flap_text(&c.flaps) {
            push_line(&mut out, &flaps);
        }
        for a in &c.alerts {
            push_line(
                &mut out,
                &format!("  {}: {}", a.severity.as_str(), a.message),
            );
        }
    }
    out
}

/// One line for a monitoring system, with perfdata, and the exit code.
pub fn check_line(r: &Report, snapshot: &Snapshot, now: DateTime<Utc>) -> (String, i32) {
    let worst = r
        .clusters
        .iter()
        .map(|c| c.verdict)
        .max()
        .unwrap_or(Verdict::Unknown);
    let label = match worst.exit_code() {
        0 => "OK",
        1 => "WARNING",
        2 => "CRITICAL",
        _ => "UNKNOWN",
    };
    let parts: Vec<String> = r
        .clusters
        .iter()
        .map(|c| {
            let m = c.master.as_deref().unwrap_or("none");
            let first = c
                .alerts
                .iter()
                .find(|a| a.severity != crate::core::model::Severity::Info)
                .map(|a| format!(" ({})", a.message))
                .unwrap_or_default();
            // A window is said beside the verdict (which stays computed),
            // so an alerting rule can hold back on it.
            let window = match &c.maintenance {
                Some(w) if w.state == "active" => format!(
                    " [MAINTENANCE by {} until {}]",
                    w.by.as_deref().unwrap_or("?"),
                    w.until.as_deref().unwrap_or("?")
                ),
                Some(w) if w.state == "expired" => format!(
                    " [MAINTENANCE EXPIRED at {}]",
                    w.until.as_deref().unwrap_or("?")
                ),
                _ => String::new(),
            };
            format!(
                "{} {} master={m}{window}{first}",
                c.name,
                c.verdict.as_str()
            )
        })
        .collect();
    let mut perf = Vec::new();
    for c in &r.clusters {
        let age = c
            .peers
            .iter()
            .filter_map(|p| p.data_age_ms)
            .max()
            .unwrap_or(0);
        perf.push(format!("'{}_data_age'={:.1}s", c.name, age as f64 / 1000.0));
        if let Some(cs) = snapshot.clusters.iter().find(|s| s.spec.name == c.name) {
            if let Some(t) = cs.peers.iter().filter_map(|p| p.last_transition).max() {
                perf.push(format!(
                    "'{}_since_transition'={}s",
                    c.name,
                    (now - t).num_seconds().max(0)
                ));
            }
        }
        let in_window = c.maintenance.as_ref().is_some_and(|w| w.state == "active");
        perf.push(format!("'{}_maintenance'={}", c.name, u8::from(in_window)));
        if let Some(ms) = c.cloud.age_ms {
            perf.push(format!("'{}_cloud_age'={:.1}s", c.name, ms as f64 / 1000.0));
        }
    }
    let text = if parts.is_empty() {
        "VIPDECK UNKNOWN - no clusters".to_string()
    } else {
        format!(
            "VIPDECK {label} - {} | {}",
            parts.join("; "),
            perf.join(" ")
        )
    };
    (clean(&text), worst.exit_code())
}

/// One line of the text output: whatever a peer, the cloud or a collector
/// put in a field (a newline in an ENI id, an escape in an error) is shown
/// as a placeholder, so no field can forge a line of vipdeck's own.
fn push_line(out: &mut String, text: &str) {
    out.push_str(&clean(text));
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{ClusterSpec, Mode, PeerObservation, PeerSpec, VrrpState};
    use chrono::TimeZone;

    /// One HAVIP cluster `web` of peers `a` and `b`, nothing seen yet.
    fn web_snapshot() -> Snapshot {
        let peer = |n: &str| PeerSpec {
            name: n.into(),
            address: "sim".into(),
            network_interface_id: Some(format!("eni-{n}")),
            instance_id: None,
        };
        Snapshot::new(vec![ClusterSpec {
            name: "web".into(),
            mode: Mode::Havip,
            vip: "192.0.2.12".into(),
            havip_id: None,
            peers: [peer("a"), peer("b")],
        }])
    }

    #[test]
    fn flaps_and_failed_actions_are_in_the_text_and_the_json() {
        use crate::core::model::{LogKind, LogLine, LogSource, Update};
        let now = Utc
            .with_ymd_and_hms(2026, 11, 21, 22, 44, 0)
            .single()
            .expect("time");
        let mut s = web_snapshot();
        let line = |peer: usize, secs_ago: i64, text: &str, announced| Update::Log {
            cluster: 0,
            line: LogLine {
                peer,
                source: LogSource::Daemon,
                at: now - chrono::Duration::seconds(secs_ago),
                kind: LogKind::Other,
                text: text.into(),
                announced,
            },
        };
        for u in [
            line(1, 121, "(VI_1) Receive advertisement timeout", None),
            line(
                1,
                120,
                "(VI_1) Entering MASTER STATE",
                Some(VrrpState::Master),
            ),
            // A peer's line with an escape sequence in it.
            line(1, 119, " set vip failed \u{1b}[2J", None),
        ] {
            s.apply(u);
        }
        let r = report(&s, &Thresholds::default(), now, None);
        let text = render_text(&r);
        assert!(
            text.contains(
                "  flaps: 1 MASTER changes in 1h, 1 in 24h; last b →MASTER at 2026-11-21T22:42:00.000Z: \
                 adverts from the master stopped arriving (advert timeout) (“(VI_1) Receive advertisement timeout”)"
            ),
            "{text}"
        );
        assert!(
            text.contains("adverts from the master stopped arriving"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "peer text cleaned: {text:?}");
        let json = serde_json::to_value(&r).expect("json");
        let c = &json["clusters"][0];
        assert_eq!(c["flaps"]["master_changes_1h"], 1);
        assert_eq!(c["flaps"]["last_change"]["cause_peer"], "b");
        assert_eq!(c["failed_actions"][0]["peer"], "b");
        assert_eq!(c["failed_actions"][0]["action"], "vip_move");
        assert_eq!(c["failed_actions"][0]["line"], "set vip failed \u{1b}[2J");
        assert!(c["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .any(|a| a["code"] == "failed_action"));
    }

    #[test]
    fn an_unseen_peers_facts_are_shown_with_their_age() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 21, 22, 44, 0)
            .single()
            .expect("time");
        let mut s = web_snapshot();
        for (i, state) in [(0, VrrpState::Master), (1, VrrpState::Backup)] {
            s.clusters[0].peers[i].apply(PeerObservation {
                at: now - chrono::Duration::seconds(34),
                reachable: Some(true),
                keepalived_running: Some(true),
                state_file: Some(state),
                vip_on_nic: Some(i == 0),
                ..Default::default()
            });
        }
        s.clusters[0].peers[1].apply(PeerObservation {
            at: now,
            reachable: Some(true),
            ..Default::default()
        });
        s.clusters[0].peers[0].apply(PeerObservation::unreachable(now, "timed out"));
        let r = report(&s, &Thresholds::default(), now, None);
        let text = render_text(&r);
        assert!(
            text.contains("[keepalived up, 34s ago]  [VIP on NIC, 34s ago] UNREACHABLE"),
            "{text}"
        );
        let json = serde_json::to_value(&r).expect("json");
        let p = &json["clusters"][0]["peers"][0];
        assert_eq!(p["visible"], false);
        assert_eq!(p["facts_age_ms"]["vip_on_nic"], 34_000);
    }

    /// keepalived stopping on the backup changes no state, master or
    /// verdict word, but raises an alert: `status --watch` prints it, and
    /// prints it cleared.
    #[test]
    fn a_new_alert_is_a_watch_line() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 21, 22, 44, 0)
            .single()
            .expect("time");
        let mut s = web_snapshot();
        let seen = |s: &mut Snapshot, running: bool| {
            for (i, state) in [(0, VrrpState::Master), (1, VrrpState::Backup)] {
                s.clusters[0].peers[i].apply(PeerObservation {
                    at: now,
                    reachable: Some(true),
                    keepalived_running: Some(i == 0 || running),
                    state_file: Some(state),
                    vip_on_nic: Some(i == 0),
                    ..Default::default()
                });
            }
        };
        let t = Thresholds::default();
        seen(&mut s, true);
        let before = report(&s, &t, now, None);
        seen(&mut s, false);
        let after = report(&s, &t, now, None);
        let codes: Vec<String> = alert_codes(&after.clusters[0])
            .into_iter()
            .filter(|c| !alert_codes(&before.clusters[0]).contains(c))
            .collect();
        assert!(codes.contains(&"keepalived_down".to_string()), "{codes:?}");
        assert_ne!(watch_key(&before), watch_key(&after));
        let lines = watch_lines(Some(&before), &after, "22:44:00");
        assert_eq!(lines.len(), 1, "{lines:?}");
        for code in &codes {
            assert!(lines[0].contains(&format!("alert {code}")), "{lines:?}");
        }
        let back = watch_lines(Some(&after), &before, "22:44:01");
        assert!(
            back[0].contains(&format!("{} cleared", codes[0])),
            "{back:?}"
        );
        // A dump asked that never came (a hung keepalived) is a line too.
        seen(&mut s, true);
        s.clusters[0].peers[0].apply(PeerObservation {
            at: now,
            keepalived_dump_error: Some("wrote no JSON dump within 1s".into()),
            ..Default::default()
        });
        let hung = report(&s, &t, now, None);
        let lines = watch_lines(Some(&before), &hung, "22:44:02");
        assert!(
            lines[0].contains("a keepalived's word: wrote no JSON dump within 1s"),
            "{lines:?}"
        );
    }

    #[test]
    fn the_vip_stopping_and_starting_to_answer_is_a_watch_line() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 21, 22, 44, 0)
            .single()
            .expect("time");
        let s = web_snapshot();
        let t = Thresholds::default();
        let with = |reachable: Option<bool>, node: Option<&str>, error: Option<&str>, rtt: f64| {
            let mut r = report(&s, &t, now, None);
            r.clusters[0].dataplane = Some(DataplaneReport {
                reachable,
                rtt_ms: reachable.map(|_| rtt),
                node: node.map(String::from),
                error: error.map(String::from),
                probe_error: None,
                since: None,
                age_ms: 0,
                skipped_rounds: 0,
                recent: Vec::new(),
                line: String::new(),
            });
            r
        };
        let up = with(Some(true), Some("web-a"), None, 0.4);
        // A new round trip alone is not news.
        let up_slower = with(Some(true), Some("web-a"), None, 9.0);
        assert_eq!(watch_key(&up), watch_key(&up_slower));
        let down = with(Some(false), None, Some("timeout 800ms"), 0.0);
        assert_ne!(watch_key(&up), watch_key(&down));
        let lines = watch_lines(Some(&up), &down, "22:44:00");
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("VIP does not answer: timeout 800ms"),
            "{lines:?}"
        );
        let back = watch_lines(
            Some(&down),
            &with(Some(true), Some("web-b"), None, 0.5),
            "22:44:03",
        );
        assert!(back[0].contains("VIP answers by web-b"), "{back:?}");
        let moved = watch_lines(
            Some(&up),
            &with(Some(true), Some("web-b"), None, 0.5),
            "22:44:04",
        );
        assert!(moved[0].contains("VIP now answered by web-b"), "{moved:?}");
    }

    #[test]
    fn no_field_can_forge_a_line_of_the_text_output() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 21, 22, 44, 0)
            .single()
            .expect("time");
        let mut s = web_snapshot();
        s.clusters[0].cloud.error = Some((
            "refused\nweb (havip, VIP 192.0.2.12): OK\u{2028}forged".into(),
            now,
        ));
        s.clusters[0].cloud.credential_source = Some("env\r\nok: fine".into());
        let r = report(&s, &Thresholds::default(), now, None);
        for text in [render_text(&r), render_wide(&r, now)] {
            let lines: Vec<&str> = text.lines().collect();
            let cluster_lines = lines.iter().filter(|l| l.starts_with("web (")).count();
            assert_eq!(cluster_lines, 1, "{text}");
            assert!(text.contains("refused␊web (havip"), "{text}");
            assert!(text.contains("env␍␊ok: fine"), "{text}");
            assert!(!text.contains('\u{2028}') && !text.contains('\r'), "{text}");
        }
        let (line, _) = check_line(&r, &s, now);
        assert!(!line.contains('\n'), "{line}");
        for l in watch_lines(None, &r, "22:44:00") {
            assert!(!l.contains('\n'), "{l}");
        }
    }
}
