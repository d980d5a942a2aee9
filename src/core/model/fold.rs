//! The fold: each [`Update`] a source sends, applied to the [`Snapshot`]
//! the faces read (peer facts, cloud facts, the timeline and recent log
//! lines, each line attributed to its instance).

use super::*;

/// The typed updates that sources send; the only way facts change. They
/// also travel from a collector (`vipdeck serve`) to attached faces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// Peer observations are most updates: boxing them would cost an
// allocation per poll to shrink the rarer variants.
#[allow(clippy::large_enum_variant)]
pub enum Update {
    Peer {
        cluster: usize,
        peer: usize,
        observation: PeerObservation,
    },
    Cloud {
        cluster: usize,
        at: DateTime<Utc>,
        result: Result<CloudBinding, String>,
        credential_source: Option<String>,
    },
    Log {
        cluster: usize,
        line: LogLine,
    },
    /// A peer's clock offset against ours (positive: the peer is ahead).
    Clock {
        cluster: usize,
        peer: usize,
        at: DateTime<Utc>,
        offset_ms: i64,
    },
    /// One probe of the cluster's VIP by the data-plane witness.
    Dataplane {
        cluster: usize,
        result: crate::core::dataplane::ProbeResult,
        /// Rounds skipped so far because a probe outlived its interval.
        skipped_rounds: u64,
    },
    /// Everything known about a cluster at once: a collector's state, sent
    /// to a face that attaches (or falls behind).
    Replace {
        cluster: usize,
        snapshot: Box<ClusterSnapshot>,
    },
}

impl Update {
    /// The cluster (an index into the snapshot) this update is about.
    pub fn cluster(&self) -> usize {
        match self {
            Update::Peer { cluster, .. }
            | Update::Cloud { cluster, .. }
            | Update::Log { cluster, .. }
            | Update::Clock { cluster, .. }
            | Update::Dataplane { cluster, .. }
            | Update::Replace { cluster, .. } => *cluster,
        }
    }

    /// The same update about cluster `to`: a one-cluster view (the failover
    /// wizard's executor) follows cluster `k` of the dashboard as its 0.
    pub(crate) fn readdressed(mut self, to: usize) -> Update {
        match &mut self {
            Update::Peer { cluster, .. }
            | Update::Cloud { cluster, .. }
            | Update::Log { cluster, .. }
            | Update::Clock { cluster, .. }
            | Update::Dataplane { cluster, .. }
            | Update::Replace { cluster, .. } => *cluster = to,
        }
        self
    }
}

/// The whole world as vipdeck knows it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub clusters: Vec<ClusterSnapshot>,
}

impl Snapshot {
    pub fn new(specs: Vec<ClusterSpec>) -> Self {
        Snapshot {
            clusters: specs.into_iter().map(ClusterSnapshot::new).collect(),
        }
    }

    /// Folds one update in. Updates for clusters or peers that do not exist
    /// (e.g. after a config reload) are ignored.
    pub fn apply(&mut self, update: Update) {
        match update {
            Update::Peer {
                cluster,
                peer,
                observation,
            } => {
                let Some(c) = self.clusters.get_mut(cluster) else {
                    return;
                };
                let Some(facts) = c.peers.get_mut(peer) else {
                    return;
                };
                let before = facts.reported_state();
                let at = observation.at;
                let reported_transition = observation.last_transition.is_some();
                facts.apply(observation);
                let after = facts.reported_state();
                // A peer's first report is not a transition; neither is a
                // report we cannot read.
                let known = |s: VrrpState| s != VrrpState::Unknown;
                if before != after && known(before) && known(after) {
                    if !reported_transition {
                        facts.last_transition = Some(at);
                    }
                    record_transition(&mut c.timeline, peer, Some(before), after, at);
                }
            }
            Update::Cloud {
                cluster,
                at,
                result,
                credential_source,
            } => {
                let Some(c) = self.clusters.get_mut(cluster) else {
                    return;
                };
                if credential_source.is_some() {
                    c.cloud.credential_source = credential_source;
                }
                match result {
                    Ok(binding) => {
                        c.cloud.binding = Some(Fact::new(binding, at, Witness::Cloud));
                        c.cloud.error = None;
                    }
                    Err(e) => c.cloud.error = Some((e, at)),
                }
            }
            Update::Clock {
                cluster,
                peer,
                at,
                offset_ms,
            } => {
                if let Some(p) = self
                    .clusters
                    .get_mut(cluster)
                    .and_then(|c| c.peers.get_mut(peer))
                {
                    p.clock_offset_ms = Some(Fact::new(offset_ms, at, Witness::Probe));
                }
            }
            Update::Dataplane {
                cluster,
                result,
                skipped_rounds,
            } => {
                if let Some(c) = self.clusters.get_mut(cluster) {
                    let dp = c.dataplane.get_or_insert_with(Default::default);
                    dp.record(result);
                    dp.skipped_rounds = skipped_rounds;
                }
            }
            Update::Replace { cluster, snapshot } => {
                // Only for the cluster this side knows by that number.
                if let Some(c) = self
                    .clusters
                    .get_mut(cluster)
                    .filter(|c| c.spec == snapshot.spec)
                {
                    *c = *snapshot;
                }
            }
            Update::Log { cluster, line } => {
                if let Some(c) = self.clusters.get_mut(cluster) {
                    // `(VI_1) Entering MASTER STATE`, `notify_master`: the
                    // peers' own history, also from before vipdeck started.
                    // Another instance's line (one log file, several
                    // instances) is not this cluster's history.
                    let theirs = || {
                        use crate::core::keepalived::owner::{either_is_ours, owner, Owner};
                        let conf = c.peers.get(line.peer).and_then(|p| p.config.as_ref());
                        let conf = conf.map(|f| &f.value);
                        let writer = writer_of(line.kind, line.announced, &line.text);
                        let eni = c.spec.mode == Mode::Eni;
                        match owner(&line.text, writer, eni, conf.map(ConfigSummary::instances)) {
                            Owner::Ours => false,
                            Owner::Theirs => true,
                            // By the instances' own lines seen so far; with
                            // none near, a peer whose keepalived log is read
                            // (it has named an instance) will say it itself.
                            Owner::Either => conf.is_some_and(|ours| {
                                let nearby = c
                                    .recent_logs
                                    .iter()
                                    .map(|k| (k.peer, k.text.as_str(), k.announced, k.at));
                                match either_is_ours(
                                    line.peer,
                                    line.announced,
                                    line.at,
                                    nearby,
                                    &ours.instance,
                                ) {
                                    Some(ours) => !ours,
                                    None => c.recent_logs.iter().any(|k| {
                                        k.peer == line.peer
                                            && crate::core::keepalived::owner::instance_named(
                                                &k.text,
                                            )
                                            .is_some()
                                    }),
                                }
                            }),
                        }
                    };
                    let announced = line.announced.filter(|_| line.peer < 2 && !theirs());
                    // A failed (or succeeded) action of this cluster's instance.
                    let action = line.peer < 2
                        && crate::core::action_line::classify(&line.text).is_some()
                        && !theirs();
                    if let Some(to) = announced {
                        record_transition(&mut c.timeline, line.peer, None, to, line.at);
                        if line.source == LogSource::Daemon {
                            note_logged_state(&mut c.peers[line.peer], &line, to);
                        }
                    }
                    if action {
                        c.note_action(line.clone());
                    }
                    insert_by_time(&mut c.recent_logs, line, RECENT_LOG_CAP);
                }
            }
        }
    }
}

/// How long polls may go on after the state file changed before a dump
/// taken before the change stops being believed over it (a new dump is
/// asked for at once and answers within a poll or two).
pub(super) const DUMP_CATCH_UP: chrono::TimeDelta = chrono::TimeDelta::seconds(3);

/// How much earlier than our seeing keepalived run again its own first log
/// line may be stamped (a poll interval and the way here).
pub(super) const LOG_SLACK: chrono::TimeDelta = chrono::TimeDelta::seconds(2);

/// The most instances whose logged state a peer keeps (a log file shared
/// by many instances, or garbage that names a new one per line).
const MAX_LOGGED_INSTANCES: usize = 32;

/// keepalived's own transition line (`(VI_1) Entering MASTER STATE`,
/// 1.x's `VRRP_Instance(VI_1) Transition to MASTER STATE`) becomes the
/// instance's logged state, unless a later line is already known.
fn note_logged_state(p: &mut PeerFacts, line: &LogLine, to: VrrpState) {
    let Some(instance) = crate::core::keepalived::transition::entering_instance(&line.text) else {
        return;
    };
    if let Some(known) = p.keepalived_log.get(&instance) {
        if known.at > line.at {
            return;
        }
    } else if p.keepalived_log.len() >= MAX_LOGGED_INSTANCES {
        return;
    }
    p.keepalived_log
        .insert(instance, Fact::new(to, line.at, Witness::KeepalivedLog));
}

/// Two witnesses of one transition (the probe and the logs, or keepalived's
/// log and the notify script's) less than this apart are one transition.
const SAME_TRANSITION: chrono::TimeDelta = chrono::TimeDelta::seconds(3);

/// Adds a transition to the timeline in time order, once: `from` is what
/// the probe saw before, or (from a log line) the peer's previous entry.
pub(super) fn record_transition(
    timeline: &mut VecDeque<Transition>,
    peer: usize,
    from: Option<VrrpState>,
    to: VrrpState,
    at: DateTime<Utc>,
) {
    let seen = timeline
        .iter()
        .any(|t| t.peer == peer && t.to == to && (t.at - at).abs() <= SAME_TRANSITION);
    if seen {
        return;
    }
    let pos = timeline
        .iter()
        .rposition(|t| t.at <= at)
        .map_or(0, |p| p + 1);
    let from = from.unwrap_or_else(|| {
        timeline
            .iter()
            .take(pos)
            .rev()
            .find(|t| t.peer == peer)
            .map_or(VrrpState::Unknown, |t| t.to)
    });
    if from == to {
        return;
    }
    timeline.insert(pos, Transition { at, peer, from, to });
    // Streams arrive in any order: a later entry of this peer that could
    // not tell where it came from now can.
    if let Some(next) = timeline
        .iter_mut()
        .skip(pos + 1)
        .find(|t| t.peer == peer)
        .filter(|t| t.from == VrrpState::Unknown)
    {
        next.from = to;
    }
    if timeline.len() > TIMELINE_CAP {
        timeline.pop_front();
    }
}

/// Keeps the two peers' lines in time order; a line goes after every line
/// not newer than it, so each peer's own order is kept.
pub(crate) fn insert_by_time(q: &mut VecDeque<LogLine>, line: LogLine, cap: usize) {
    let pos = q.iter().rposition(|l| l.at <= line.at).map_or(0, |p| p + 1);
    if q.len() == cap {
        if pos == 0 {
            return; // older than everything kept
        }
        q.pop_front();
        q.insert(pos - 1, line);
    } else {
        q.insert(pos, line);
    }
}
