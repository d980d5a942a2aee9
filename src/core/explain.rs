//! Why each peer is in its VRRP state: base and effective priority and
//! what moved it (each tracker with its weight and last result),
//! wantstate, preemption, and for FAULT the tracker that caused it.
//!
//! Built from the facts already in the snapshot: keepalived's own dump
//! (JSON or text data dump: [`crate::core::keepalived::track`]), the
//! peer's keepalived.conf, and keepalived's log lines. Every fact says
//! which of these it came from, and what could not be seen is listed as
//! such: nothing is guessed and shown as fact. Pure: no I/O.

use serde::Serialize;

use crate::core::keepalived::track::{ConfTracker, DumpWhy, TrackKind, TrackStatus};
use crate::core::model::{ClusterSnapshot, Fact, LogLine, PeerFacts, VrrpState, Witness};

/// A value and the witness that gave it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Witness,
}

fn sourced<T>(value: T, source: Witness) -> Sourced<T> {
    Sourced { value, source }
}

/// One tracker of the instance, as far as vipdeck could see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackerWhy {
    pub kind: TrackKind,
    pub name: String,
    /// The weight keepalived applies; None: not seen.
    pub weight: Option<i32>,
    pub weight_source: Option<Witness>,
    pub reverse: bool,
    pub status: TrackStatus,
    /// Who said the status (None while unknown).
    pub status_source: Option<Witness>,
    /// What it does to the instance now, in words.
    pub effect: String,
}

/// Why one peer is in its state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerWhy {
    pub peer: String,
    pub instance: Option<String>,
    pub state: VrrpState,
    pub state_source: Option<Witness>,
    pub wantstate: Option<Sourced<VrrpState>>,
    pub base_priority: Option<Sourced<u8>>,
    pub effective_priority: Option<Sourced<u8>>,
    pub nopreempt: Option<Sourced<bool>>,
    /// As keepalived or the conf gives it (`5`, `5 secs`).
    pub preempt_delay: Option<Sourced<String>>,
    pub trackers: Vec<TrackerWhy>,
    /// For FAULT: the tracker(s) that caused it (`track_script chk_ok`).
    pub fault_cause: Vec<String>,
    /// The one-sentence answer.
    pub summary: String,
    /// What vipdeck could not see, and why.
    pub unseen: Vec<String>,
}

impl PeerWhy {
    /// Nothing known of `peer` yet.
    pub fn empty(peer: &str) -> Self {
        PeerWhy {
            peer: peer.to_string(),
            instance: None,
            state: VrrpState::Unknown,
            state_source: None,
            wantstate: None,
            base_priority: None,
            effective_priority: None,
            nopreempt: None,
            preempt_delay: None,
            trackers: Vec::new(),
            fault_cause: Vec::new(),
            summary: format!("nothing is known of {peer} yet"),
            unseen: Vec::new(),
        }
    }
}

/// keepalived's log lines about a tracker's result, newest last, for one
/// peer: `VRRP_Script(chk) failed|succeeded`, `Script `chk` now returning
/// N`, `Netlink reports eth0 down|up`, `Kernel is reporting: interface
/// eth0 DOWN|UP`, `(VI_1) interface eth0 is down`.
fn logged_status(logs: &[&LogLine], kind: TrackKind, name: &str) -> Option<TrackStatus> {
    logs.iter().rev().find_map(|l| {
        let t = l.text.as_str();
        match kind {
            TrackKind::Script => {
                if let Some(rest) = after(t, &format!("VRRP_Script({name})")) {
                    let rest = rest.trim_start();
                    if rest.starts_with("failed") {
                        return Some(TrackStatus::Bad);
                    }
                    if rest.starts_with("succeeded") {
                        return Some(TrackStatus::Good);
                    }
                }
                None
            }
            TrackKind::Interface => {
                for (pat, down) in [
                    (format!("Netlink reports {name} down"), true),
                    (format!("Netlink reports {name} up"), false),
                    (format!("Kernel is reporting: interface {name} DOWN"), true),
                    (format!("Kernel is reporting: interface {name} UP"), false),
                    (format!("interface {name} is down"), true),
                ] {
                    if t.contains(&pat) {
                        return Some(if down {
                            TrackStatus::Bad
                        } else {
                            TrackStatus::Good
                        });
                    }
                }
                None
            }
            _ => None,
        }
    })
}

fn after<'a>(text: &'a str, pat: &str) -> Option<&'a str> {
    text.find(pat).map(|i| &text[i + pat.len()..])
}

/// What a tracker does to the instance now.
fn effect(weight: Option<i32>, reverse: bool, status: TrackStatus) -> String {
    let Some(w) = weight else {
        return match status {
            TrackStatus::Unknown => "weight and result not seen".into(),
            _ => "weight not seen: its effect is not known".into(),
        };
    };
    // reverse: a success counts as a failure and the other way round.
    let failing = match (status, reverse) {
        (TrackStatus::Unknown, _) => {
            return if w == 0 {
                "result not seen; weight 0: a failure puts the instance in FAULT".into()
            } else {
                format!("result not seen; weight {w:+}")
            };
        }
        (TrackStatus::Bad, false) | (TrackStatus::Good, true) => true,
        _ => false,
    };
    match (w, failing) {
        (0, true) => "failing, weight 0: puts the instance in FAULT".into(),
        (0, false) => "passing (weight 0: a failure would mean FAULT)".into(),
        (w, true) if w < 0 => format!("failing: lowers the priority by {}", -w),
        (w, true) => format!("failing: adds nothing (would add {w} when passing)"),
        (w, false) if w > 0 => format!("passing: raises the priority by {w}"),
        (w, false) => format!("passing: no change (would lower it by {} when failing)", -w),
    }
}

/// The trackers of a peer's instance: the conf's list with its weights,
/// joined with the dump's list and results, results from keepalived's log
/// where the dump gives none.
fn trackers(facts: &PeerFacts, logs: &[&LogLine], unseen: &mut Vec<String>) -> Vec<TrackerWhy> {
    let conf: Vec<ConfTracker> = facts
        .config
        .as_ref()
        .map(|c| c.value.trackers.clone())
        .unwrap_or_default();
    let dump = current_dump(facts);
    let mut out: Vec<TrackerWhy> = Vec::new();
    for c in &conf {
        out.push(TrackerWhy {
            kind: c.kind,
            name: c.name.clone(),
            weight: c.weight,
            weight_source: c.weight.map(|_| Witness::Conf),
            reverse: c.reverse,
            status: TrackStatus::Unknown,
            status_source: None,
            effect: String::new(),
        });
    }
    if let Some(d) = dump {
        for t in &d.value.trackers {
            let known = out
                .iter_mut()
                .find(|o| o.kind == t.kind && o.name == t.name);
            // The JSON dump names a script by its command line, not its
            // name: the conf's entry already stands for it.
            let by_command = d.witness == Witness::KeepalivedDump
                && t.kind == TrackKind::Script
                && conf.iter().any(|c| c.kind == TrackKind::Script);
            let o = match known {
                Some(o) => o,
                None if by_command => continue,
                None => {
                    out.push(TrackerWhy {
                        kind: t.kind,
                        name: t.name.clone(),
                        weight: None,
                        weight_source: None,
                        reverse: t.reverse,
                        status: TrackStatus::Unknown,
                        status_source: None,
                        effect: String::new(),
                    });
                    let Some(o) = out.last_mut() else { break };
                    o
                }
            };
            // keepalived's own weight beats what the file says.
            if let Some(w) = t.weight {
                o.weight = Some(w);
                o.weight_source = Some(d.witness);
                o.reverse = t.reverse;
            }
            if t.status != TrackStatus::Unknown {
                o.status = t.status;
                o.status_source = Some(d.witness);
            }
        }
    }
    // An interface the dump does not list as tracked (2.x: the
    // instance's own) may still be in its `Interfaces` section.
    if let Some(d) = dump {
        for o in out
            .iter_mut()
            .filter(|o| o.kind == TrackKind::Interface && o.status == TrackStatus::Unknown)
        {
            if let Some((_, s)) = d.value.interfaces.iter().find(|(n, _)| *n == o.name) {
                o.status = *s;
                o.status_source = Some(d.witness);
            }
        }
    }
    let results_given = dump.is_some_and(|d| d.value.results_given);
    let mut from_log = 0;
    for o in &mut out {
        if o.status == TrackStatus::Unknown {
            if let Some(s) = logged_status(logs, o.kind, &o.name) {
                o.status = s;
                o.status_source = Some(Witness::KeepalivedLog);
                from_log += 1;
            }
        }
        o.effect = effect(o.weight, o.reverse, o.status);
    }
    let unknown: Vec<String> = out
        .iter()
        .filter(|o| o.status == TrackStatus::Unknown)
        .map(|o| format!("{} {}", o.kind.keyword(), o.name))
        .collect();
    if !unknown.is_empty() {
        let why = match dump {
            None => "no keepalived dump was read".to_string(),
            Some(d) if d.witness == Witness::KeepalivedDump => {
                "keepalived's JSON dump names trackers but gives no result".to_string()
            }
            Some(_) if !results_given => {
                "keepalived's data dump lacks the trackers' result sections".to_string()
            }
            Some(_) => "keepalived's data dump gives no result for them".to_string(),
        };
        let logs = if from_log > 0 || !logs.is_empty() {
            "nor did its recent log lines"
        } else {
            "and no keepalived log line was seen"
        };
        unseen.push(format!(
            "the result of {}: {why}, {logs}",
            unknown.join(", ")
        ));
    }
    out
}

/// The last dump's facts, when they are the running keepalived's: none
/// while keepalived is seen stopped, nor from before its restart.
fn current_dump(facts: &PeerFacts) -> Option<&Fact<DumpWhy>> {
    let d = facts.keepalived_why.as_ref()?;
    let running = facts.keepalived_running.as_ref().map(|r| r.value);
    let of_this_run = facts.keepalived_since.is_none_or(|s| d.at >= s);
    (running != Some(false) && of_this_run).then_some(d)
}

/// The peer's effective priority and where it came from.
fn effective(facts: &PeerFacts) -> Option<Sourced<u8>> {
    let d = current_dump(facts)?;
    d.value.effective_priority.map(|p| sourced(p, d.witness))
}

fn base(facts: &PeerFacts) -> Option<Sourced<u8>> {
    current_dump(facts)
        .and_then(|d| d.value.base_priority.map(|p| sourced(p, d.witness)))
        .or_else(|| {
            facts
                .config
                .as_ref()
                .and_then(|c| c.value.priority.map(|p| sourced(p, Witness::Conf)))
        })
}

/// The priority a peer competes with: effective, else base.
fn competing(facts: &PeerFacts) -> Option<u8> {
    effective(facts).or_else(|| base(facts)).map(|p| p.value)
}

/// Why peer `i` of `snap` is in its state.
pub fn explain_peer(snap: &ClusterSnapshot, i: usize) -> PeerWhy {
    let facts = &snap.peers[i];
    let other_i = 1 - i;
    let other = &snap.peers[other_i];
    let name = snap.spec.peers[i].name.clone();
    let other_name = snap.spec.peers[other_i].name.clone();
    let mut unseen = Vec::new();
    let reachable = facts.reachable.as_ref().map(|r| r.value);
    if reachable == Some(false) {
        unseen.push(format!(
            "{name} is not reachable now{}: what follows is its last word",
            facts
                .error
                .as_ref()
                .map(|e| format!(" ({})", crate::core::sanitize::clip(e, 160)))
                .unwrap_or_default()
        ));
    }
    let (state, state_source) = facts.reported_with_witness();
    if facts.config.is_none() {
        unseen.push(format!(
            "{name}'s keepalived.conf has not been read: no configured weights, priority or nopreempt"
        ));
    }
    if facts.keepalived_why.is_some() && current_dump(facts).is_none() {
        unseen.push(format!(
            "keepalived's own dump on {name}: the last one is from a keepalived that is no longer running"
        ));
    } else if facts.keepalived_why.is_none() {
        let why = facts
            .keepalived_dump_error
            .clone()
            .or_else(|| match facts.keepalived.as_ref().map(|k| &k.dump) {
                Some(crate::core::keepalived::version::DumpMethod::None { reason }) => {
                    Some(reason.clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| "no dump has been read yet".into());
        unseen.push(format!(
            "keepalived's own dump on {name}: {}",
            crate::core::sanitize::clip(&why, 200)
        ));
    }
    let logs: Vec<&LogLine> = snap.recent_logs.iter().filter(|l| l.peer == i).collect();
    let trackers = trackers(facts, &logs, &mut unseen);
    let dump = current_dump(facts);
    let wantstate = dump.and_then(|d| {
        d.value
            .wantstate
            .as_deref()
            .map(|w| sourced(VrrpState::from_word(w), d.witness))
    });
    let nopreempt = dump
        .and_then(|d| d.value.nopreempt.map(|n| sourced(n, d.witness)))
        .or_else(|| {
            facts
                .config
                .as_ref()
                .map(|c| sourced(c.value.nopreempt, Witness::Conf))
        });
    let preempt_delay = dump
        .and_then(|d| {
            d.value
                .preempt_delay
                .filter(|v| *v > 0.0)
                .map(|v| sourced(format!("{v} s"), d.witness))
        })
        .or_else(|| {
            facts
                .config
                .as_ref()
                .and_then(|c| c.value.preempt_delay.clone())
                .map(|v| sourced(format!("{v} s"), Witness::Conf))
        });
    let base_priority = base(facts);
    let effective_priority = effective(facts);
    if effective_priority.is_none() && dump.is_some() {
        unseen.push(
            "the effective priority: this keepalived's dump does not give it (1.x data dump)"
                .into(),
        );
    }
    let fault_cause: Vec<String> = trackers
        .iter()
        .filter(|t| t.weight == Some(0) && t.effect.starts_with("failing"))
        .map(|t| format!("{} {}", t.kind.keyword(), t.name))
        .collect();
    let mine = competing(facts);
    let theirs = competing(other);
    let (other_state, _) = other.reported_with_witness();
    let np = nopreempt.as_ref().map(|n| n.value);
    let summary = match state {
        VrrpState::Fault if !fault_cause.is_empty() => format!(
            "{name} is in FAULT because {} (weight 0) is failing; it returns to BACKUP when it passes again",
            fault_cause.join(" and ")
        ),
        VrrpState::Fault => {
            let count = dump
                .and_then(|d| d.value.fault_count)
                .filter(|n| *n > 0)
                .map(|n| format!(" keepalived counts {n} tracker fault(s), but"))
                .unwrap_or_default();
            format!(
                "{name} is in FAULT:{count} vipdeck could not see which tracker caused it"
            )
        }
        VrrpState::Backup => backup_sentence(&name, &other_name, other_state, mine, theirs, np),
        VrrpState::Master => match (mine, theirs, other_state) {
            (Some(m), Some(t), VrrpState::Backup) => format!(
                "{name} is MASTER with priority {m}; {other_name} is BACKUP with priority {t}"
            ),
            (Some(m), _, s) => format!("{name} is MASTER with priority {m}; {other_name} is {s}"),
            (None, _, s) => format!("{name} is MASTER; {other_name} is {s}; its priority was not seen"),
        },
        VrrpState::Stop => format!("{name}'s keepalived is not running"),
        VrrpState::Unknown => format!("{name}'s state is not known"),
    };
    PeerWhy {
        peer: name,
        instance: facts.config.as_ref().map(|c| c.value.instance.clone()),
        state,
        state_source,
        wantstate,
        base_priority,
        effective_priority,
        nopreempt,
        preempt_delay,
        trackers,
        fault_cause,
        summary,
        unseen,
    }
}

fn backup_sentence(
    name: &str,
    other: &str,
    other_state: VrrpState,
    mine: Option<u8>,
    theirs: Option<u8>,
    nopreempt: Option<bool>,
) -> String {
    let (Some(m), Some(t)) = (mine, theirs) else {
        return format!(
            "{name} is BACKUP; {other} is {other_state}; a priority was not seen, so vipdeck cannot say why"
        );
    };
    if other_state != VrrpState::Master {
        return format!(
            "{name} is BACKUP with priority {m} while {other} is {other_state}: nobody is MASTER, look at {other}"
        );
    }
    match (m > t, nopreempt) {
        (true, Some(true)) => format!(
            "{name} stays BACKUP: its priority {m} is above {other}'s {t} but nopreempt is set; it would take over if {other} stops"
        ),
        (true, _) => format!(
            "{name} is BACKUP although its priority {m} is above {other}'s {t} and it may preempt: it should take over soon (preempt_delay?)"
        ),
        (false, Some(true)) => format!(
            "{name} stays BACKUP: its priority {m} is not above {other}'s {t} and nopreempt is set; it would take over if {other} stops"
        ),
        (false, _) => format!(
            "{name} stays BACKUP: its priority {m} is not above {other}'s {t}; it would take over if {other} stops or drops below {m}"
        ),
    }
}

/// Both peers of a cluster.
pub fn explain_cluster(snap: &ClusterSnapshot) -> [PeerWhy; 2] {
    [explain_peer(snap, 0), explain_peer(snap, 1)]
}

/// A peer's explanation as lines of text, safe for a terminal (peer
/// names and tracker names are cleaned of control characters).
pub fn render_lines(w: &PeerWhy) -> Vec<String> {
    let src = |s: Witness| s.label();
    let mut out = vec![w.summary.clone()];
    let inst = w.instance.as_deref().unwrap_or("?");
    out.push(format!(
        "  {} {}: {}{}",
        w.peer,
        inst,
        w.state,
        w.state_source
            .map(|s| format!(" ({})", src(s)))
            .unwrap_or_default()
    ));
    if let Some(ws) = &w.wantstate {
        if ws.value != w.state {
            out.push(format!("  wants {} ({})", ws.value, src(ws.source)));
        }
    }
    let prio = |p: &Option<Sourced<u8>>| match p {
        Some(p) => format!("{} ({})", p.value, src(p.source)),
        None => "not seen".into(),
    };
    out.push(format!(
        "  priority: base {}, effective {}",
        prio(&w.base_priority),
        prio(&w.effective_priority)
    ));
    match &w.nopreempt {
        Some(n) => out.push(format!(
            "  {} ({}){}",
            if n.value { "nopreempt" } else { "preempt" },
            src(n.source),
            w.preempt_delay
                .as_ref()
                .map(|d| format!(", preempt_delay {} ({})", d.value, src(d.source)))
                .unwrap_or_default()
        )),
        None => out.push("  preemption: not seen".into()),
    }
    if w.trackers.is_empty() {
        out.push("  trackers: none configured or seen".into());
    }
    for t in &w.trackers {
        let weight = match (t.weight, t.weight_source) {
            (Some(v), Some(s)) => format!(
                "weight {v}{} ({})",
                if t.reverse { " reverse" } else { "" },
                src(s)
            ),
            _ => "weight ?".into(),
        };
        let status = match (t.status, t.status_source) {
            (TrackStatus::Good, Some(s)) => format!("good ({})", src(s)),
            (TrackStatus::Bad, Some(s)) => format!("FAILING ({})", src(s)),
            _ => "result ?".into(),
        };
        out.push(format!(
            "  {} {}: {weight}, {status}: {}",
            t.kind.keyword(),
            t.name,
            t.effect
        ));
    }
    for u in &w.unseen {
        out.push(format!("  not seen: {u}"));
    }
    out.into_iter()
        .map(|l| crate::core::sanitize::clean(&l))
        .collect()
}

#[cfg(test)]
mod tests {
    //! Each case from real keepalived output in tests/fixtures/keepalived:
    //! `real/` is Debian 12's keepalived 2.2.7, `versions/V/` the release V
    //! (see that folder's README for the capture).
    use super::*;
    use crate::core::keepalived::conf;
    use crate::core::keepalived::dump::{parse_data_dump, parse_json_dump};
    use crate::core::model::{ClusterSpec, LogKind, LogSource, Mode, PeerObservation, PeerSpec};
    use chrono::TimeZone;

    fn fixture(path: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/keepalived/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture")
    }

    fn at() -> chrono::DateTime<chrono::Utc> {
        chrono::Utc.with_ymd_and_hms(2026, 12, 6, 7, 30, 0).unwrap()
    }

    fn cluster() -> ClusterSnapshot {
        let peer = |n: &str| PeerSpec {
            name: n.into(),
            address: "sim".into(),
            network_interface_id: None,
            instance_id: None,
        };
        ClusterSnapshot::new(ClusterSpec {
            name: "web".into(),
            mode: Mode::Havip,
            vip: "198.51.100.100".into(),
            havip_id: None,
            peers: [peer("hk1"), peer("hk2")],
        })
    }

    /// A peer's facts from a conf's text and a data dump's text (either
    /// may be missing).
    fn observe(c: &mut ClusterSnapshot, i: usize, conf_text: Option<&str>, data: Option<&str>) {
        let mut obs = PeerObservation {
            at: at(),
            reachable: Some(true),
            keepalived_running: Some(true),
            ..Default::default()
        };
        if let Some(text) = conf_text {
            let k = conf::parse(text).expect("conf");
            obs.config = Some(k.instances[0].summary_in(&k));
        }
        if let Some(text) = data {
            let d = &parse_data_dump(text.as_bytes()).expect("dump")[0];
            obs.keepalived_state = Some(d.state);
            obs.keepalived_state_from = Some(Witness::KeepalivedData);
            obs.keepalived_why = Some(Box::new(d.why.clone()));
        }
        c.peers[i].apply(obs);
    }

    fn observe_json(c: &mut ClusterSnapshot, i: usize, conf_text: &str, json: &str) {
        let k = conf::parse(conf_text).expect("conf");
        let d = &parse_json_dump(json.as_bytes()).expect("json")[0];
        c.peers[i].apply(PeerObservation {
            at: at(),
            reachable: Some(true),
            keepalived_running: Some(true),
            config: Some(k.instances[0].summary_in(&k)),
            keepalived_state: Some(d.state),
            keepalived_state_from: Some(Witness::KeepalivedDump),
            keepalived_why: Some(Box::new(d.why.clone())),
            ..Default::default()
        });
    }

    fn script(w: &PeerWhy) -> &TrackerWhy {
        w.trackers
            .iter()
            .find(|t| t.kind == TrackKind::Script)
            .expect("a script")
    }

    fn log(c: &mut ClusterSnapshot, peer: usize, text: &str) {
        c.recent_logs.push_back(LogLine {
            peer,
            source: LogSource::Daemon,
            at: at(),
            kind: LogKind::Other,
            text: text.into(),
            announced: None,
        });
    }

    #[test]
    fn a_fault_names_the_failing_zero_weight_script_from_the_data_dump() {
        let mut c = cluster();
        observe(
            &mut c,
            0,
            Some(&fixture("real/capture-a.conf")),
            Some(&fixture("real/keepalived-fault.data")),
        );
        observe(
            &mut c,
            1,
            Some(&fixture("real/capture-b.conf")),
            Some(&fixture("real/keepalived-master-after-failover.data")),
        );
        let w = explain_peer(&c, 0);
        assert_eq!(w.state, VrrpState::Fault);
        assert_eq!(w.fault_cause, vec!["track_script chk_ok".to_string()]);
        assert!(
            w.summary
                .contains("hk1 is in FAULT because track_script chk_ok (weight 0) is failing"),
            "{}",
            w.summary
        );
        let chk = script(&w);
        assert_eq!(chk.status_source, Some(Witness::KeepalivedData));
        // The instance's own interface: not under `Tracked interfaces` in
        // 2.2.7, but up in its `Interfaces` section.
        let own = w
            .trackers
            .iter()
            .find(|t| t.kind == TrackKind::Interface)
            .expect("vdp-va");
        assert_eq!(
            (own.name.as_str(), own.status),
            ("vdp-va", TrackStatus::Good)
        );
        assert_eq!(own.status_source, Some(Witness::KeepalivedData));
        assert_eq!(
            w.wantstate.as_ref().map(|x| x.value),
            Some(VrrpState::Fault)
        );
        let text = render_lines(&w).join("\n");
        assert!(text.contains("FAILING (keepalived data dump)"), "{text}");
        // The master's own script passes.
        let m = explain_peer(&c, 1);
        assert_eq!(m.state, VrrpState::Master);
        assert_eq!(script(&m).status, TrackStatus::Good, "{m:?}");
    }

    #[test]
    fn an_equal_priority_backup_stays_because_of_nopreempt() {
        let mut c = cluster();
        observe(
            &mut c,
            0,
            Some(&fixture("versions/2.2.7/capture-a.conf")),
            Some(&fixture("versions/2.2.7/keepalived-master.data")),
        );
        observe(
            &mut c,
            1,
            Some(&fixture("versions/2.2.7/capture-b.conf")),
            Some(&fixture("versions/2.2.7/keepalived-backup.data")),
        );
        let w = explain_peer(&c, 1);
        assert_eq!(
            w.summary,
            "hk2 stays BACKUP: its priority 100 is not above hk1's 100 and nopreempt is set; it would take over if hk1 stops"
        );
        assert_eq!(
            w.nopreempt.as_ref().map(|n| n.source),
            Some(Witness::KeepalivedData)
        );
    }

    /// The real BACKUP dump with its script failing at weight -20 (the
    /// lines keepalived 2.2.7 writes for it, changed in place): the
    /// lowered effective priority and the script that lowered it.
    #[test]
    fn a_failing_weighted_script_keeps_a_node_backup() {
        let data = fixture("versions/2.2.7/keepalived-backup.data")
            .replace("chk_ok weight 0", "chk_ok weight -20")
            .replace("   Effective priority = 100", "   Effective priority = 80")
            .replace("Status = GOOD", "Status = BAD")
            .replace("VI_1, weight 0", "VI_1, weight -20");
        let conf_b =
            fixture("versions/2.2.7/capture-b.conf").replace("chk_ok\n", "chk_ok weight -20\n");
        let mut c = cluster();
        observe(
            &mut c,
            0,
            Some(&fixture("versions/2.2.7/capture-a.conf")),
            Some(&fixture("versions/2.2.7/keepalived-master.data")),
        );
        observe(&mut c, 1, Some(&conf_b), Some(&data));
        let w = explain_peer(&c, 1);
        assert_eq!(w.effective_priority.as_ref().map(|p| p.value), Some(80));
        assert_eq!(w.base_priority.as_ref().map(|p| p.value), Some(100));
        assert!(
            w.summary
                .starts_with("hk2 stays BACKUP: its priority 80 is not above hk1's 100"),
            "{}",
            w.summary
        );
        let chk = script(&w);
        assert_eq!(chk.weight, Some(-20));
        assert_eq!(chk.effect, "failing: lowers the priority by 20");
    }

    /// The JSON dump names the script by its command and gives no result:
    /// FAULT is explained only as far as the log says.
    #[test]
    fn a_json_dump_fault_is_explained_from_the_log_or_said_unseen() {
        let mut c = cluster();
        observe_json(
            &mut c,
            0,
            &fixture("real/capture-a.conf"),
            &fixture("real/keepalived-fault.json"),
        );
        let w = explain_peer(&c, 0);
        assert!(
            w.summary.contains("could not see which tracker caused it"),
            "{}",
            w.summary
        );
        assert!(
            w.unseen
                .iter()
                .any(|u| u.contains("JSON dump names trackers but gives no result")),
            "{:?}",
            w.unseen
        );
        // keepalived's own line, as versions/2.2.7/console-a.log has it.
        log(
            &mut c,
            0,
            "VRRP_Script(chk_ok) failed (exited with status 1)",
        );
        let w = explain_peer(&c, 0);
        assert_eq!(w.fault_cause, vec!["track_script chk_ok".to_string()]);
        assert_eq!(script(&w).status_source, Some(Witness::KeepalivedLog));
    }

    #[test]
    fn a_downed_tracked_interface_is_named_from_the_log() {
        let conf_text = fixture("real/capture-a.conf");
        let mut c = cluster();
        observe_json(
            &mut c,
            0,
            &conf_text,
            &fixture("real/keepalived-fault.json"),
        );
        log(&mut c, 0, "Netlink reports vdp-va down");
        let w = explain_peer(&c, 0);
        assert_eq!(w.fault_cause, vec!["track_interface vdp-va".to_string()]);
    }

    #[test]
    fn what_could_not_be_read_is_said_not_guessed() {
        let mut c = cluster();
        // No conf, no dump: the state file alone.
        c.peers[0].apply(PeerObservation {
            at: at(),
            reachable: Some(true),
            keepalived_running: Some(true),
            state_file: Some(VrrpState::Backup),
            keepalived_dump_error: Some("keepalived's data dump could not be read: x".into()),
            ..Default::default()
        });
        let w = explain_peer(&c, 0);
        assert!(
            w.unseen
                .iter()
                .any(|u| u.contains("keepalived.conf has not been read")),
            "{:?}",
            w.unseen
        );
        assert!(
            w.unseen.iter().any(|u| u.contains("could not be read: x")),
            "{:?}",
            w.unseen
        );
        assert!(w.summary.contains("cannot say why"), "{}", w.summary);
        // A dump cut before the trackers' sections.
        let full = fixture("real/keepalived-fault.data");
        let cut = &full[..full.find("------< VRRP Scripts").expect("section")];
        let mut c = cluster();
        observe(&mut c, 0, Some(&fixture("real/capture-a.conf")), Some(cut));
        let w = explain_peer(&c, 0);
        assert!(
            w.summary.contains("could not see which tracker"),
            "{}",
            w.summary
        );
        assert!(
            w.unseen
                .iter()
                .any(|u| u.contains("lacks the trackers' result sections")),
            "{:?}",
            w.unseen
        );
    }

    /// keepalived.conf's per-instance weights beat the tracked object's
    /// own; files and processes take theirs from `vrrp_track_file` /
    /// `vrrp_track_process`; an unknown weight stays unknown.
    #[test]
    fn the_conf_gives_each_tracker_the_weight_keepalived_applies() {
        let text = "vrrp_script chk_a {\n script \"/bin/true\"\n weight 5\n}\n\
            vrrp_script chk_b {\n script \"/bin/true\"\n weight -3 reverse\n}\n\
            vrrp_track_file flag {\n file /run/flag\n weight -7\n}\n\
            vrrp_track_process nginx {\n process nginx\n weight 9 reverse\n}\n\
            vrrp_instance VI_1 {\n interface eth0\n priority 100\n\
            track_script {\n chk_a weight -20\n chk_b\n }\n\
            track_interface {\n eth1 weight -30\n eth0\n }\n\
            track_file {\n flag\n other\n }\n\
            track_process {\n nginx\n }\n}\n";
        let k = conf::parse(text).expect("conf");
        let s = k.instances[0].summary_in(&k);
        let w = |kind, name: &str| {
            let t = s
                .trackers
                .iter()
                .find(|t| t.kind == kind && t.name == name)
                .unwrap_or_else(|| panic!("{name}: {:?}", s.trackers));
            (t.weight, t.reverse)
        };
        assert_eq!(w(TrackKind::Script, "chk_a"), (Some(-20), false));
        assert_eq!(w(TrackKind::Script, "chk_b"), (Some(-3), true));
        assert_eq!(w(TrackKind::Interface, "eth1"), (Some(-30), false));
        assert_eq!(w(TrackKind::Interface, "eth0"), (Some(0), false));
        assert_eq!(w(TrackKind::File, "flag"), (Some(-7), false));
        assert_eq!(w(TrackKind::File, "other"), (None, false));
        assert_eq!(w(TrackKind::Process, "nginx"), (Some(9), true));
    }

    /// The demo showed a stopped keepalived's last dump ("wants MASTER")
    /// as if it were current.
    #[test]
    fn a_stopped_keepalived_s_last_dump_is_not_shown_as_current() {
        let mut c = cluster();
        observe(
            &mut c,
            0,
            Some(&fixture("versions/2.2.7/capture-a.conf")),
            Some(&fixture("versions/2.2.7/keepalived-master.data")),
        );
        c.peers[0].apply(PeerObservation {
            at: at() + chrono::Duration::seconds(5),
            reachable: Some(true),
            keepalived_running: Some(false),
            ..Default::default()
        });
        let w = explain_peer(&c, 0);
        assert_eq!(w.state, VrrpState::Stop);
        assert_eq!(w.summary, "hk1's keepalived is not running");
        assert!(w.wantstate.is_none(), "{w:?}");
        assert_eq!(w.effective_priority, None);
        // The configured priority still stands, from the conf.
        assert_eq!(
            w.base_priority.as_ref().map(|p| p.source),
            Some(Witness::Conf)
        );
        assert!(
            w.unseen.iter().any(|u| u.contains("no longer running")),
            "{:?}",
            w.unseen
        );
    }

    #[test]
    fn untrusted_names_are_cleaned_for_the_terminal() {
        let mut w = PeerWhy::empty("hk\u{1b}[2J1");
        w.summary = "x\u{1b}]52;c;evil\u{7}".into();
        for l in render_lines(&w) {
            assert!(crate::core::sanitize::is_safe(&l), "{l:?}");
        }
    }
}
