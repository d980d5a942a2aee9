//! `vipdeck rehearse`: a simulated twin of a live cluster, built from its
//! snapshot (mode, priorities, preempt/nopreempt, advert_int, who is MASTER,
//! where the cloud binds the VIP) and timed from what was measured before:
//! the steps of the cluster's last verified failovers in the audit trail
//! (how long keepalived took to stop and start, how long the cloud took to
//! follow) and, for an HAVIP, the timeline (the binding's `FlushedTime`
//! after the master's transition). Where nothing was measured, the
//! simulator's defaults. The planned failover then runs on the twin with
//! the same session and executor as the real one.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::core::config::ClusterConfig;
use crate::core::model::{ClusterSnapshot, Mode};
use crate::sources::simulator::world::{ClusterParams, SimCluster};

use super::audit::{Outcome, Record};
use super::plan::{Method, StepKind};

/// How long the garp_master_delay of the seed's keepalived.conf holds the
/// first GARP after a transition (the simulator's too).
const FIRST_GARP: Duration = Duration::from_secs(1);
/// Half a probe interval: on average, how late a change is seen.
const SEEN_LATE: Duration = Duration::from_millis(250);
/// How many of the newest verified failovers the timing is averaged over.
const RECENT: usize = 5;

/// The twin's timing, and where each figure came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Calibration {
    pub(crate) cloud_delay: Duration,
    pub(crate) stop_delay: Duration,
    pub(crate) start_delay: Duration,
    pub(crate) advert_int: Duration,
    /// One line per figure: what it is and what it was measured from.
    pub(crate) said: Vec<String>,
}

/// The record of a step of a failover, by the step's kind.
fn step_record<'a>(
    rec: &'a Record,
    want: &dyn Fn(&StepKind) -> bool,
) -> Option<&'a super::audit::StepRecord> {
    let step = rec.plan.steps.iter().find(|s| want(&s.kind))?;
    rec.steps
        .iter()
        .find(|s| s.ok && s.description == step.description)
}

/// How long a step of a record took, by the step's kind.
fn step_time(rec: &Record, want: impl Fn(&StepKind) -> bool) -> Option<Duration> {
    let done = step_record(rec, &want)?;
    (done.ended - done.started).to_std().ok()
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// Peer `i`'s VRRP priority: as keepalived reports it, else its config's,
/// else keepalived's default.
fn peer_priority(snap: &ClusterSnapshot, i: usize) -> u8 {
    snap.peers[i]
        .priority
        .as_ref()
        .map(|p| p.value)
        .or_else(|| snap.peers[i].config.as_ref()?.value.priority)
        .unwrap_or(100)
}

/// The twin's timing from the snapshot and the audit trail's `records`
/// (any order; the newest verified failovers of the cluster count).
pub(crate) fn calibrate(snap: &ClusterSnapshot, records: &[Record], method: Method) -> Calibration {
    let name = &snap.spec.name;
    let mut ok: Vec<&Record> = records
        .iter()
        .filter(|r| &r.cluster == name && r.outcome == Outcome::MovedVerified)
        .collect();
    ok.sort_by_key(|r| std::cmp::Reverse(r.started));
    let default = crate::sources::simulator::SimTiming::default().cloud_delay;
    let mut said = Vec::new();
    ok.truncate(RECENT);
    // The mean over the recent failovers that have the figure, and where
    // it came from.
    let mean = |f: &dyn Fn(&Record) -> Option<Duration>| -> Option<(Duration, String)> {
        let v: Vec<(Duration, &Record)> = ok.iter().filter_map(|r| Some((f(r)?, *r))).collect();
        let n = u32::try_from(v.len()).ok().filter(|n| *n > 0)?;
        let sum: Duration = v.iter().map(|(d, _)| *d).sum();
        let newest = v[0].1.started.format("%Y-%m-%d %H:%M:%S");
        let w = if n == 1 {
            format!("the failover of {newest} in the audit trail")
        } else {
            format!("the mean of {n} failovers in the audit trail, the newest {newest}")
        };
        Some((sum / n, w))
    };

    let stop = mean(&|r| step_time(r, |k| matches!(k, StepKind::StopKeepalived { .. })));
    let stop_delay = match stop {
        Some((d, w)) => {
            said.push(format!("keepalived stops in {} ({w})", secs(d)));
            d.saturating_sub(SEEN_LATE)
        }
        None => Duration::ZERO,
    };
    let start = mean(&|r| step_time(r, |k| matches!(k, StepKind::StartKeepalived { .. })));
    let start_delay = match start {
        Some((d, w)) => {
            said.push(format!("keepalived starts in {} ({w})", secs(d)));
            d.saturating_sub(SEEN_LATE)
        }
        None => Duration::ZERO,
    };

    // The cloud: from the stop of the old master (whose priority-0 advert
    // hands over at once) to the binding seen on the target, for a
    // graceful move; after our GARP or our migration for a forced one.
    let measured = mean(&|r: &Record| {
        if r.plan.method != method {
            return None;
        }
        let mode = r.plan.mode;
        let span = |from: &dyn Fn(&StepKind) -> bool, to: &dyn Fn(&StepKind) -> bool| {
            let a = step_record(r, from)?;
            let b = step_record(r, to)?;
            (b.ended - a.started).to_std().ok()
        };
        let is_stop = |k: &StepKind| matches!(k, StepKind::StopKeepalived { .. });
        let is_bind = |k: &StepKind| matches!(k, StepKind::WaitBinding { .. });
        let d = match (mode, method) {
            (Mode::Eni, Method::Forced) => {
                step_time(r, |k| matches!(k, StepKind::MigrateIp { .. }))?
            }
            (_, Method::Forced) => step_time(r, is_bind)?,
            (_, Method::Graceful) => span(&is_stop, &is_bind).or_else(|| step_time(r, is_bind))?,
        };
        Some(d)
    });
    let advert_int = snap
        .peers
        .iter()
        .filter_map(|p| p.config.as_ref()?.value.advert_int.clone())
        .find_map(|a| a.trim().parse::<f64>().ok())
        .filter(|a| *a > 0.0 && *a < 256.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(1));
    // A graceful stop's priority 0 cuts the backup's wait to its skew time
    // ((256 − priority) / 256 × advert_int, as in keepalived and the twin):
    // the span measured holds it, and the twin adds it again.
    let takeover = (0..2)
        .map(|i| advert_int.mul_f64((256.0 - f64::from(peer_priority(snap, i))) / 256.0))
        .min()
        .unwrap_or_default();
    // The cloud path's own delay: after keepalived's first GARP (HAVIP,
    // graceful) or the takeover (graceful), less how late a poll sees it.
    let measured = measured.map(|(d, w)| {
        let delay = match (snap.spec.mode, method) {
            (Mode::Havip, Method::Graceful) => d.saturating_sub(FIRST_GARP + takeover),
            (Mode::Eni, Method::Graceful) => d.saturating_sub(takeover),
            _ => d,
        };
        (delay.saturating_sub(SEEN_LATE / 2), d, w)
    });
    let timeline = || {
        // HAVIP: the binding's FlushedTime after the master's transition.
        let b = snap.cloud.binding.as_ref()?;
        let flushed = b.value.flushed_time?;
        let on = snap.spec.peer_of_binding(&b.value)?;
        let since = snap.peers[on].last_transition?;
        let d = (flushed - since).to_std().ok()?;
        (d < Duration::from_secs(60)).then(|| d.saturating_sub(FIRST_GARP))
    };
    // An HAVIP moved gracefully is timed best by its own FlushedTime after
    // the takeover: the audit trail's span ends only when the binding is
    // first looked at, after the stop step, often long after it moved.
    let havip_timeline = match (snap.spec.mode, method) {
        (Mode::Havip, Method::Graceful) => timeline(),
        _ => None,
    };
    let cloud_delay = match (measured, snap.spec.mode) {
        _ if havip_timeline.is_some() => {
            let d = havip_timeline.unwrap_or_default();
            said.push(format!(
                "the HAVIP rebinds {} after the first GARP (the timeline: FlushedTime after \
                 the master's transition)",
                secs(d)
            ));
            d
        }
        (Some((delay, d, w)), _) => {
            said.push(format!(
                "the cloud binds the target {} after the move began ({w})",
                secs(d)
            ));
            delay
        }
        (None, Mode::Havip) => match timeline() {
            Some(d) => {
                said.push(format!(
                    "the HAVIP rebinds {} after the first GARP (the timeline: FlushedTime after \
                     the master's transition)",
                    secs(d)
                ));
                d
            }
            None => {
                said.push(format!(
                    "the cloud follows in {} (the simulator's default)",
                    secs(default)
                ));
                default
            }
        },
        (None, Mode::Eni) => {
            said.push(format!(
                "the cloud follows in {} (the simulator's default)",
                secs(default)
            ));
            default
        }
    };
    said.push(format!("advert_int {} (keepalived.conf)", secs(advert_int)));
    Calibration {
        cloud_delay,
        stop_delay,
        start_delay,
        advert_int,
        said,
    }
}

/// The client-visible interruption the twin's run predicts: clients lose
/// the VIP when the old master lets it go (keepalived stopped, or the
/// forced move's first act) and get it back when the cloud binds the
/// target (which holds it by then: the plan waits for its MASTER first).
/// `None` when the run has no such span (not verified, nothing moved).
pub(crate) fn predicted_interruption(twin_run: &Record) -> Option<(Duration, String)> {
    let leaves = |k: &StepKind| {
        matches!(
            k,
            StepKind::StopKeepalived { .. } | StepKind::MigrateIp { .. } | StepKind::Garp { .. }
        )
    };
    let bound =
        |k: &StepKind| matches!(k, StepKind::WaitBinding { .. } | StepKind::MigrateIp { .. });
    // The first act that moves the VIP, and the last step that waits on
    // the cloud's binding (1-based, as the plan numbers them).
    let steps = &twin_run.plan.steps;
    let done = |i: usize| {
        twin_run
            .steps
            .iter()
            .find(|s| s.ok && s.description == steps[i].description)
    };
    let from = steps.iter().position(|s| leaves(&s.kind))?;
    let to = steps.iter().rposition(|s| bound(&s.kind))?;
    let d = (done(to)?.ended - done(from)?.started).to_std().ok()?;
    let rests = format!(
        "the twin's steps {}–{}: the old master letting the VIP go until the cloud binds \
         the target; timed as above; a probe sees it to within its interval",
        from + 1,
        to + 1
    );
    Some((d, rests))
}

/// What the data-plane probe measured in the cluster's past failovers (the
/// newest [`RECENT`], newest first): when each started and what was seen.
pub(crate) fn measured_interruptions(
    cluster: &str,
    records: &[Record],
) -> Vec<(DateTime<Utc>, crate::core::interruption::Interruption)> {
    use crate::core::interruption::Interruption;
    let mut seen: Vec<_> = records
        .iter()
        .filter(|r| r.cluster == cluster)
        .filter_map(|r| match &r.clients {
            Some(i @ (Interruption::Interrupted { .. } | Interruption::NoneSeen { .. })) => {
                Some((r.started, i.clone()))
            }
            _ => None,
        })
        .collect();
    seen.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    seen.truncate(RECENT);
    seen
}

/// What the twin starts from: who is MASTER, where the cloud binds the
/// VIP, where keepalived runs (as the dashboard's verdict sees them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Live {
    pub(crate) master: Option<usize>,
    pub(crate) bound: Option<usize>,
    pub(crate) running: [bool; 2],
}

fn address(snap: &ClusterSnapshot, i: usize) -> [u8; 4] {
    snap.peers[i]
        .config
        .as_ref()
        .and_then(|c| {
            c.value
                .unicast_src_ip
                .as_deref()?
                .parse::<std::net::Ipv4Addr>()
                .ok()
        })
        .map(|a| a.octets())
        .unwrap_or([10, 0, 0, 1 + u8::try_from(i).unwrap_or(0)])
}

/// The twin of a live cluster at `now`: its peers, priorities and
/// preemption, settled with `live`'s master and binding.
pub(crate) fn twin(
    cluster: &ClusterConfig,
    snap: &ClusterSnapshot,
    live: Live,
    cal: &Calibration,
    now: DateTime<Utc>,
) -> SimCluster {
    let priority = |i: usize| peer_priority(snap, i);
    let vip = cluster.vip.to_string();
    let start = now - chrono::Duration::seconds(60);
    let mut c = SimCluster::new(
        ClusterParams {
            name: &cluster.name,
            mode: cluster.mode,
            vip: &vip,
            peer_names: [&cluster.peers[0].name, &cluster.peers[1].name],
            addresses: [address(snap, 0), address(snap, 1)],
            priorities: [priority(0), priority(1)],
            cloud_delay: cal.cloud_delay,
        },
        start,
    );
    c.advert_int = cal.advert_int;
    for i in 0..2 {
        c.peers[i].nopreempt = snap.peers[i]
            .config
            .as_ref()
            .map(|f| f.value.nopreempt)
            .unwrap_or(true);
    }
    let run_to = |c: &mut SimCluster, mut t: DateTime<Utc>, until: DateTime<Utc>| {
        while t < until {
            t += chrono::Duration::milliseconds(100);
            c.step(t);
        }
        t
    };
    let mut t = run_to(&mut c, start, now - chrono::Duration::seconds(40));
    // The live master: if the twin elected the other, that one restarts
    // and comes back BACKUP (nopreempt) while the live master takes over.
    if let (Some(m), Some(e)) = (live.master, c.vrrp_master()) {
        if m != e {
            c.stop_keepalived(e, t);
            t = run_to(&mut c, t, t + chrono::Duration::seconds(2));
            c.start_keepalived(e, t);
        }
    }
    t = run_to(&mut c, t, now - chrono::Duration::seconds(10));
    if let Some(b) = live.bound {
        if c.cloud_holder() != Some(b) {
            c.bind_now(b, t);
        }
        // Bound away from the master: the notify path is broken there.
        if live.master.is_some_and(|m| m != b) {
            c.cloud_faults.move_broken = true;
        }
    }
    for i in 0..2 {
        if !live.running[i] {
            c.stop_keepalived(i, t);
        }
    }
    run_to(&mut c, t, now);
    c.logs.clear();
    c.stop_delay = cal.stop_delay;
    c.start_delay = cal.start_delay;
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{Snapshot, Update};
    use crate::sources::simulator::{demo_world, observe_cloud, observe_peer, spec_of, SimTiming};

    /// A live cluster as vipdeck would see it, from a simulated one.
    fn seen(c: &SimCluster, now: DateTime<Utc>) -> ClusterSnapshot {
        let mut s = Snapshot::new(vec![spec_of(c)]);
        for i in 0..2 {
            s.apply(Update::Peer {
                cluster: 0,
                peer: i,
                observation: observe_peer(c, i, now),
            });
        }
        s.apply(Update::Cloud {
            cluster: 0,
            at: now,
            result: observe_cloud(c),
            credential_source: None,
        });
        s.clusters.remove(0)
    }

    #[test]
    fn the_twin_takes_the_live_master_binding_and_settings() {
        let now = Utc::now();
        let world = demo_world(now, &SimTiming::default(), 2);
        for live_c in world {
            let mut live_c = live_c;
            live_c.peers[0].priority = 120;
            let snap = seen(&live_c, now);
            let config = crate::failover::sim::cluster_config(&snap.spec).expect("config");
            let cal = calibrate(&snap, &[], Method::Graceful);
            assert_eq!(cal.advert_int, Duration::from_secs(1));
            // No record: the HAVIP's timeline or the simulator's default.
            assert!(cal
                .said
                .iter()
                .any(|l| l.contains("timeline") || l.contains("the simulator's default")));
            let m = live_c.vrrp_master().expect("a master");
            // As if the other peer were MASTER and bound.
            let live = Live {
                master: Some(1 - m),
                bound: Some(1 - m),
                running: [true, true],
            };
            let copy = twin(&config, &snap, live, &cal, now);
            assert_eq!(copy.vrrp_master(), Some(1 - m), "{}", copy.name);
            assert_eq!(copy.cloud_holder(), Some(1 - m), "{}", copy.name);
            assert_eq!(copy.peers[0].priority, 120);
            assert_eq!(copy.peers[0].name, live_c.peers[0].name);
            assert!(copy.peers.iter().all(|p| p.nopreempt));
            // Bound away from the master: the twin's notify path is broken.
            let live = Live {
                master: Some(m),
                bound: Some(1 - m),
                running: [true, true],
            };
            let drift = twin(&config, &snap, live, &cal, now);
            assert_eq!(drift.vrrp_master(), Some(m));
            assert_eq!(drift.cloud_holder(), Some(1 - m));
            assert!(drift.cloud_faults.move_broken);
        }
    }

    /// A record of `kinds` run in order, each step `ms` long, started at
    /// `started`; with `clients` as measured.
    fn run_of(
        kinds: &[StepKind],
        ms: i64,
        started: DateTime<Utc>,
        clients: Option<crate::core::interruption::Interruption>,
    ) -> Record {
        use crate::failover::audit::StepRecord;
        use crate::failover::session::fake;
        let mut plan = fake::plan_for(&Default::default(), &fake::request());
        let mut steps = Vec::new();
        for (i, kind) in kinds.iter().enumerate() {
            let description = format!("step {}", i + 1);
            plan.steps.push(crate::failover::plan::Step {
                kind: kind.clone(),
                description: description.clone(),
                action: String::new(),
                timeout_ms: 1000,
                verify: String::new(),
            });
            let at = started + chrono::Duration::milliseconds(ms * i as i64);
            steps.push(StepRecord {
                description,
                started: at,
                ended: at + chrono::Duration::milliseconds(ms),
                ok: true,
                detail: String::new(),
            });
        }
        Record {
            id: "r".into(),
            cluster: "c".into(),
            from: Some("n1".into()),
            to: "n2".into(),
            method: "graceful".into(),
            by: "ops@desk".into(),
            started,
            ended: started,
            plan,
            confirmations: vec![],
            steps,
            request_ids: vec![],
            outcome: Outcome::MovedVerified,
            state_left: String::new(),
            switchover_ms: None,
            binding_ms: None,
            duration_ms: 0,
            clients,
        }
    }

    /// The prediction spans the old master's letting go to the binding
    /// seen, and says which of the twin's steps it rests on.
    #[test]
    fn the_twin_predicts_the_clients_interruption_from_its_steps() {
        let t0 = Utc::now();
        let graceful = [
            StepKind::AcquireLock,
            StepKind::StopKeepalived { peer: 0 },
            StepKind::WaitMaster { peer: 1 },
            StepKind::WaitBinding {
                peer: 1,
                flushed_before: None,
            },
            StepKind::Verify,
        ];
        let (d, rests) = predicted_interruption(&run_of(&graceful, 500, t0, None)).expect("a span");
        // Steps 2 to 4, each half a second.
        assert_eq!(d, Duration::from_millis(1500));
        assert!(rests.contains("steps 2–4"), "{rests}");
        // Nothing moved (only the lock and the verification): no prediction.
        let idle = [StepKind::AcquireLock, StepKind::Verify];
        assert_eq!(predicted_interruption(&run_of(&idle, 500, t0, None)), None);
    }

    /// Past measurements of the cluster, newest first; failovers that
    /// measured nothing are left out.
    #[test]
    fn past_interruptions_come_from_the_audit_trail_newest_first() {
        use crate::core::interruption::Interruption;
        let t0 = Utc::now();
        let seen = |ms: u64| Interruption::Interrupted {
            first_failed: t0,
            first_good: t0,
            duration_ms: ms,
            failed_probes: 2,
            gaps: 1,
            node_before: None,
            node_after: None,
            down_at_start: false,
            probe_interval_ms: 1000,
        };
        let records = vec![
            run_of(&[], 0, t0, Some(seen(3200))),
            run_of(&[], 0, t0 + chrono::Duration::minutes(5), Some(seen(2100))),
            run_of(
                &[],
                0,
                t0 + chrono::Duration::minutes(9),
                Some(Interruption::NoProbe),
            ),
            run_of(&[], 0, t0 + chrono::Duration::minutes(10), None),
        ];
        let past = measured_interruptions("c", &records);
        let ms: Vec<_> = past.iter().filter_map(|(_, i)| i.duration()).collect();
        assert_eq!(
            ms,
            [Duration::from_millis(2100), Duration::from_millis(3200)]
        );
        assert!(measured_interruptions("other", &records).is_empty());
    }
}
