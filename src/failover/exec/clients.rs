//! The interruption as the clients saw it, after a run: the data-plane
//! probe's history over the run (`core::interruption`), read once a probe
//! that started after the run's end has answered — or, when none does
//! within a bound, said as a VIP that still does not answer, never hidden.

use std::time::Duration;

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use crate::core::dataplane::{Dataplane, ProbeResult};
use crate::core::interruption::{self, Interruption};
use crate::core::model::Update;

use super::Executor;

/// Beyond a probe's interval and timeout, how long the last look waits
/// for its answer to arrive (a loaded host, two shared cores).
const ANSWER_SLACK: Duration = Duration::from_millis(500);

/// How long after a verified run the VIP is given to answer again: the
/// VPC routes by the binding a moment after the API shows it (the lab's
/// route follows within 150 ms; a real VPC within seconds). At least
/// three probe rounds.
const ROUTE_SETTLE: Duration = Duration::from_secs(5);

/// Probe results an executor keeps besides the snapshot's short history:
/// over an hour at the default interval, minutes at the shortest.
const PROBE_LOG_LEN: usize = 4096;

/// The history to measure a run on: the snapshot's (which reaches back
/// before the executor opened) up to where the executor's own log starts,
/// then that log (which reaches as far as the run lasted).
fn merged_history(kept: Option<&Dataplane>, logged: &VecDeque<ProbeResult>) -> Option<Dataplane> {
    let mut merged = kept.cloned().unwrap_or_default();
    if let Some(first) = logged.front() {
        merged.history.retain(|r| r.at < first.at);
        merged.history.extend(logged.iter().cloned());
    }
    (!merged.history.is_empty() || kept.is_some()).then_some(merged)
}

impl Executor {
    /// The interruption the probe saw from `started` to now; without a
    /// probe, [`Interruption::NoProbe`] at once.
    pub(super) async fn clients_seen(&mut self, started: DateTime<Utc>) -> Interruption {
        let Some(spec) = self.cluster.probe.clone() else {
            return Interruption::NoProbe;
        };
        let ended = Utc::now();
        // A probe begun after the run's end that answers: the interruption
        // is over. Bounded: the VPC's routing a moment behind the binding,
        // a round, its timeout and a slack.
        let settle = ROUTE_SETTLE.max(spec.interval * 3);
        let until =
            tokio::time::Instant::now() + settle + spec.interval + spec.timeout + ANSWER_SLACK;
        while !self.answered_since(ended) && tokio::time::Instant::now() < until {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            self.pump_next(left.min(Duration::from_millis(100))).await;
        }
        let history = merged_history(self.snapshot().dataplane.as_ref(), &self.probe_log);
        interruption::measure(history.as_ref(), spec.interval, started, Utc::now())
    }

    /// Folds in an update from the watch, keeping its probe result.
    pub(super) fn fold(&mut self, u: Update) {
        if let Update::Dataplane { result, .. } = &u {
            if self.probe_log.len() == PROBE_LOG_LEN {
                self.probe_log.pop_front();
            }
            self.probe_log.push_back(result.clone());
        }
        self.snapshot.apply(u);
    }

    fn answered_since(&self, at: DateTime<Utc>) -> bool {
        self.snapshot()
            .dataplane
            .as_ref()
            .and_then(|d| d.latest())
            .is_some_and(|r| r.at >= at && r.outcome.answered())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::dataplane::{NoAnswer, ProbeOutcome, HISTORY_LEN};

    fn result(at: DateTime<Utc>, ok: bool) -> ProbeResult {
        ProbeResult {
            at,
            outcome: if ok {
                ProbeOutcome::Answered {
                    rtt: Duration::from_millis(1),
                    node: None,
                }
            } else {
                ProbeOutcome::NoAnswer(NoAnswer::Refused)
            },
        }
    }

    /// A run of twice the snapshot's history, its outage at the start:
    /// the snapshot alone has lost it, the merged history measures it.
    #[test]
    fn a_run_longer_than_the_short_history_is_measured() {
        let t0: DateTime<Utc> = "2026-12-01T12:00:00Z".parse().expect("time");
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let mut kept = Dataplane::default();
        let mut logged = VecDeque::new();
        kept.record(result(at(-5), true));
        let n = 2 * HISTORY_LEN as i64;
        for s in 0..n {
            let r = result(at(s), !(2..5).contains(&s));
            kept.record(r.clone());
            logged.push_back(r);
        }
        let second = Duration::from_secs(1);
        let short = interruption::measure(Some(&kept), second, at(-1), at(n));
        assert!(
            matches!(short, Interruption::HistoryTooShort { .. }),
            "{short:?}"
        );
        let merged = merged_history(Some(&kept), &logged);
        let m = interruption::measure(merged.as_ref(), second, at(-1), at(n));
        assert_eq!(m.duration(), Some(Duration::from_secs(3)), "{m:?}");
        // Nothing logged: the snapshot's history as it is; no probe: none.
        let alone = merged_history(Some(&kept), &VecDeque::new());
        assert_eq!(alone.as_ref(), Some(&kept));
        assert_eq!(merged_history(None, &VecDeque::new()), None);
    }
}
