//! The interruption as the clients saw it, after a run: the data-plane
//! probe's history over the run (`core::interruption`), read once a probe
//! that started after the run's end has answered (or failed), so a VIP
//! that still does not answer after verification is said, never hidden.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::core::interruption::{self, Interruption};

use super::Executor;

/// Beyond a probe's interval and timeout, how long the last look waits
/// for its answer to arrive (a loaded host, two shared cores).
const ANSWER_SLACK: Duration = Duration::from_millis(500);

impl Executor {
    /// The interruption the probe saw from `started` to now; without a
    /// probe, [`Interruption::NoProbe`] at once.
    pub(super) async fn clients_seen(&mut self, started: DateTime<Utc>) -> Interruption {
        let Some(spec) = self.cluster.probe.clone() else {
            return Interruption::NoProbe;
        };
        let ended = Utc::now();
        // One probe that began after the run's end: whether the VIP
        // answers now. Bounded by the next round, its timeout and a slack.
        let until = tokio::time::Instant::now() + spec.interval + spec.timeout + ANSWER_SLACK;
        while !self.probed_since(ended) && tokio::time::Instant::now() < until {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            self.pump_next(left.min(Duration::from_millis(100))).await;
        }
        interruption::measure(
            self.snapshot().dataplane.as_ref(),
            spec.interval,
            started,
            Utc::now(),
        )
    }

    fn probed_since(&self, at: DateTime<Utc>) -> bool {
        self.snapshot()
            .dataplane
            .as_ref()
            .and_then(|d| d.latest())
            .is_some_and(|r| r.at >= at)
    }
}
