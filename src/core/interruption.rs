//! The interruption as clients saw it: read from the data-plane probe's
//! history (timed answers) over a window — a failover's run, an incident's
//! span — the first failed answer to the first good answer after it.
//! Pure: the faces say it, the audit record keeps it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::dataplane::{Dataplane, ProbeOutcome, ProbeResult, HISTORY_LEN};
use crate::core::sanitize;

/// What the probe saw of the VIP over a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "seen", rename_all = "snake_case")]
pub enum Interruption {
    /// The cluster has no `probe`: nothing measured the clients' side.
    NoProbe,
    /// The probe gave no result inside the window.
    NoAnswers,
    /// Every result in the window was the probe's own fault (DNS, not
    /// permitted): it says nothing of the VIP.
    ProbeCannotRun { why: String },
    /// The history (the newest [`HISTORY_LEN`] results) starts after the
    /// window does, by more than a probe interval: what came before is
    /// gone (or was never probed), so nothing is claimed.
    HistoryTooShort {
        kept_from: DateTime<Utc>,
        window_start: DateTime<Utc>,
    },
    /// Every answer in the window was good. A gap shorter than the probe's
    /// interval can fall between two probes unseen.
    NoneSeen {
        answers: usize,
        probe_interval_ms: u64,
    },
    /// The VIP stopped answering and answered again: from the first failed
    /// answer to the first good one after the last failure.
    Interrupted {
        first_failed: DateTime<Utc>,
        first_good: DateTime<Utc>,
        duration_ms: u64,
        /// Failed probes in the span, all gaps together.
        failed_probes: usize,
        /// Separate runs of failures (1 unless the answer flapped).
        gaps: usize,
        /// Which node answered last before and first after, when the
        /// service says (sanitised).
        node_before: Option<String>,
        node_after: Option<String>,
        /// The VIP was already failing when the window began.
        down_at_start: bool,
        probe_interval_ms: u64,
    },
    /// The VIP was not answering at the window's end.
    StillDown {
        since: DateTime<Utc>,
        failed_probes: usize,
        last_at: DateTime<Utc>,
        node_before: Option<String>,
        down_at_start: bool,
    },
    /// A kind this vipdeck does not know (written by a newer one): the
    /// audit record around it still reads.
    #[serde(other)]
    Unrecognised,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn span_ms(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    millis((to - from).to_std().unwrap_or_default())
}

/// Whether a result speaks of the VIP (a probe fault does not).
fn of_vip(r: &ProbeResult) -> bool {
    !matches!(r.outcome, ProbeOutcome::Fault(_))
}

fn node_of(r: &ProbeResult) -> Option<String> {
    match &r.outcome {
        ProbeOutcome::Answered { node, .. } => node.clone(),
        _ => None,
    }
}

/// The interruption `dp` (the probe's history; `None`: no probe) shows
/// between `start` and `end`, the probe running every `interval`.
pub fn measure(
    dp: Option<&Dataplane>,
    interval: Duration,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Interruption {
    let Some(dp) = dp else {
        return Interruption::NoProbe;
    };
    let history: Vec<&ProbeResult> = dp.history.iter().collect();
    // A history whose oldest result is well inside the window has lost
    // (or never had) the window's beginning. Within an interval of the
    // start, the first probe was simply not due yet.
    if let Some(oldest) = history.first() {
        let due = chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
        if oldest.at > start + due {
            return Interruption::HistoryTooShort {
                kept_from: oldest.at,
                window_start: start,
            };
        }
    }
    let inside: Vec<&ProbeResult> = history
        .iter()
        .copied()
        .filter(|r| r.at >= start && r.at <= end)
        .collect();
    if inside.is_empty() {
        return Interruption::NoAnswers;
    }
    let vip: Vec<&ProbeResult> = inside.iter().copied().filter(|r| of_vip(r)).collect();
    if vip.is_empty() {
        let why = match &inside[inside.len() - 1].outcome {
            ProbeOutcome::Fault(f) => f.to_string(),
            _ => String::new(),
        };
        return Interruption::ProbeCannotRun { why };
    }
    // The answer just before the window: was the VIP already down, and
    // who answered last?
    let before = history
        .iter()
        .rev()
        .find(|r| r.at < start && of_vip(r))
        .copied();
    let down_at_start = before.is_some_and(|r| !r.outcome.answered()) && !vip[0].outcome.answered();
    let Some(first_fail) = vip.iter().position(|r| !r.outcome.answered()) else {
        return Interruption::NoneSeen {
            answers: vip.len(),
            probe_interval_ms: millis(interval),
        };
    };
    // Who answered last before the failures, in the window or before it.
    let node_before = history
        .iter()
        .rev()
        .find(|r| r.at < vip[first_fail].at && r.outcome.answered())
        .and_then(|r| node_of(r));
    let tail = &vip[first_fail..];
    let failed_probes = tail.iter().filter(|r| !r.outcome.answered()).count();
    let last_fail = tail
        .iter()
        .rposition(|r| !r.outcome.answered())
        .unwrap_or(0);
    let gaps = tail
        .windows(2)
        .filter(|w| w[0].outcome.answered() && !w[1].outcome.answered())
        .count()
        + 1;
    let first_failed = tail[0].at;
    match tail.get(last_fail + 1) {
        Some(good) => Interruption::Interrupted {
            first_failed,
            first_good: good.at,
            duration_ms: span_ms(first_failed, good.at),
            failed_probes,
            gaps,
            node_before,
            node_after: node_of(good),
            down_at_start,
            probe_interval_ms: millis(interval),
        },
        None => Interruption::StillDown {
            since: first_failed,
            failed_probes,
            last_at: tail[last_fail].at,
            node_before,
            down_at_start,
        },
    }
}

/// The probe's interval as its history shows it (the median spacing of
/// its results): for a face that has the history but not the config.
pub fn typical_interval(dp: &Dataplane) -> Option<Duration> {
    let mut gaps: Vec<Duration> = dp
        .history
        .iter()
        .zip(dp.history.iter().skip(1))
        .filter_map(|(a, b)| (b.at - a.at).to_std().ok())
        .collect();
    gaps.sort();
    gaps.get(gaps.len() / 2).copied()
}

impl Interruption {
    /// Whether the operator must be warned: the VIP did not answer at the
    /// end, or the probe could not say.
    pub fn warns(&self) -> bool {
        matches!(
            self,
            Interruption::StillDown { .. } | Interruption::ProbeCannotRun { .. }
        )
    }

    /// The measured span, when there was one.
    pub fn duration(&self) -> Option<Duration> {
        match self {
            Interruption::Interrupted { duration_ms, .. } => {
                Some(Duration::from_millis(*duration_ms))
            }
            _ => None,
        }
    }

    /// One line, beside the control-plane durations:
    /// `clients: interrupted 3.2 s (first failed 12:00:01.200, first good
    /// 12:00:04.400, 7 probes failed)`.
    pub fn line(&self) -> String {
        let t = |at: &DateTime<Utc>| at.format("%H:%M:%S%.3f").to_string();
        let node = |n: &Option<String>| {
            n.as_deref()
                .map(|n| sanitize::clip(&sanitize::clean(n), 64))
        };
        let secs = |ms: u64| format!("{:.1} s", ms as f64 / 1000.0);
        match self {
            Interruption::NoProbe => "clients: no probe configured (not measured)".into(),
            Interruption::Unrecognised => {
                "clients: measured, in a form this vipdeck cannot read".into()
            }
            Interruption::NoAnswers => {
                "clients: not measured (the probe gave no answer during the failover)".into()
            }
            Interruption::ProbeCannotRun { why } => format!(
                "WARNING clients: not measured: the probe cannot run ({})",
                sanitize::clip(&sanitize::clean(why), 100)
            ),
            Interruption::HistoryTooShort {
                kept_from,
                window_start,
            } => format!(
                "clients: not measured: the probe's answers (the last {HISTORY_LEN} are kept) \
                 reach back only to {} UTC, after the start at {} UTC",
                t(kept_from),
                t(window_start)
            ),
            Interruption::NoneSeen {
                answers,
                probe_interval_ms,
            } => format!(
                "clients: no interruption seen ({answers} answers, all good; a gap shorter \
                 than the probe interval {} can go unseen)",
                secs(*probe_interval_ms)
            ),
            Interruption::Interrupted {
                first_failed,
                first_good,
                duration_ms,
                failed_probes,
                gaps,
                node_before,
                node_after,
                down_at_start,
                ..
            } => {
                let mut extra = String::new();
                if *gaps > 1 {
                    extra.push_str(&format!(", {gaps} separate gaps"));
                }
                match (node(node_before), node(node_after)) {
                    (Some(b), Some(a)) if a != b => {
                        extra.push_str(&format!(", answered by {b} before, {a} after"))
                    }
                    (Some(b), Some(_)) => extra.push_str(&format!(", answered by {b}")),
                    (None, Some(a)) => extra.push_str(&format!(", answered by {a} after")),
                    _ => {}
                }
                if *down_at_start {
                    extra.push_str(", already failing at the start");
                }
                let plural = if *failed_probes == 1 { "" } else { "s" };
                format!(
                    "clients: interrupted {} (first failed {}, first good {}, {failed_probes} \
                     probe{plural} failed{extra})",
                    secs(*duration_ms),
                    t(first_failed),
                    t(first_good)
                )
            }
            Interruption::StillDown {
                since,
                failed_probes,
                last_at,
                down_at_start,
                ..
            } => {
                let plural = if *failed_probes == 1 { "" } else { "s" };
                // Failing before the window too: its first failure in the
                // window is not when the outage began.
                let since = if *down_at_start {
                    format!("already failing at the start, {} UTC", t(since))
                } else {
                    format!("failing since {} UTC", t(since))
                };
                format!(
                    "WARNING clients: the VIP still does not answer ({since}, \
                     {failed_probes} probe{plural} failed, the last at {} UTC)",
                    t(last_at)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::dataplane::NoAnswer;

    fn t0() -> DateTime<Utc> {
        "2026-12-01T12:00:00Z".parse().expect("time")
    }

    fn at(ms: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::milliseconds(ms)
    }

    /// A history: each `(ms after t0, answered by node or failed)`.
    fn history(results: &[(i64, Option<&str>)]) -> Dataplane {
        let mut dp = Dataplane::default();
        for (ms, node) in results {
            let outcome = match node {
                Some(n) => ProbeOutcome::Answered {
                    rtt: Duration::from_millis(1),
                    node: (!n.is_empty()).then(|| n.to_string()),
                },
                None => ProbeOutcome::NoAnswer(NoAnswer::Refused),
            };
            dp.record(ProbeResult {
                at: at(*ms),
                outcome,
            });
        }
        dp
    }

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn no_probe_and_no_answers() {
        assert_eq!(measure(None, SEC, t0(), at(5000)), Interruption::NoProbe);
        let dp = history(&[(-3000, Some("a"))]);
        assert_eq!(
            measure(Some(&dp), SEC, t0(), at(5000)),
            Interruption::NoAnswers
        );
        assert!(Interruption::NoProbe.line().contains("no probe configured"));
    }

    #[test]
    fn all_good_says_what_may_go_unseen() {
        let dp = history(&[(0, Some("a")), (1000, Some("a")), (2000, Some("b"))]);
        let m = measure(Some(&dp), SEC, t0(), at(2500));
        assert_eq!(
            m,
            Interruption::NoneSeen {
                answers: 3,
                probe_interval_ms: 1000
            }
        );
        assert!(
            m.line().contains("shorter than the probe interval 1.0 s"),
            "{}",
            m.line()
        );
        assert!(!m.warns());
    }

    #[test]
    fn one_gap_with_the_node_changing() {
        let dp = history(&[
            (-1000, Some("a")),
            (0, Some("a")),
            (1200, None),
            (2200, None),
            (3200, None),
            (4400, Some("b")),
            (5400, Some("b")),
        ]);
        let m = measure(Some(&dp), SEC, t0(), at(6000));
        let Interruption::Interrupted {
            first_failed,
            first_good,
            duration_ms,
            failed_probes,
            gaps,
            ref node_before,
            ref node_after,
            down_at_start,
            ..
        } = m
        else {
            panic!("{m:?}");
        };
        assert_eq!((first_failed, first_good), (at(1200), at(4400)));
        assert_eq!((duration_ms, failed_probes, gaps), (3200, 3, 1));
        assert_eq!(node_before.as_deref(), Some("a"));
        assert_eq!(node_after.as_deref(), Some("b"));
        assert!(!down_at_start);
        assert_eq!(
            m.line(),
            "clients: interrupted 3.2 s (first failed 12:00:01.200, first good \
             12:00:04.400, 3 probes failed, answered by a before, b after)"
        );
        assert_eq!(m.duration(), Some(Duration::from_millis(3200)));
    }

    #[test]
    fn a_flapping_answer_gives_the_span_and_the_gaps() {
        let dp = history(&[
            (0, Some("a")),
            (1000, None),
            (2000, Some("a")),
            (3000, None),
            (4000, None),
            (5000, Some("b")),
        ]);
        let m = measure(Some(&dp), SEC, t0(), at(6000));
        let Interruption::Interrupted {
            first_failed,
            first_good,
            failed_probes,
            gaps,
            ..
        } = m
        else {
            panic!("{m:?}");
        };
        assert_eq!((first_failed, first_good), (at(1000), at(5000)));
        assert_eq!((failed_probes, gaps), (3, 2));
        assert!(m.line().contains("2 separate gaps"), "{}", m.line());
    }

    #[test]
    fn still_down_at_the_end_is_a_warning() {
        let dp = history(&[(0, Some("a")), (1000, None), (2000, None)]);
        let m = measure(Some(&dp), SEC, t0(), at(2500));
        assert_eq!(
            m,
            Interruption::StillDown {
                since: at(1000),
                failed_probes: 2,
                last_at: at(2000),
                node_before: Some("a".into()),
                down_at_start: false,
            }
        );
        assert!(m.warns());
        assert!(m
            .line()
            .starts_with("WARNING clients: the VIP still does not answer"));
        assert!(m.line().contains("since 12:00:01.000 UTC"), "{}", m.line());
        // Failing before the window began too: said, not dated from the
        // window's first probe.
        let dp = history(&[(-1000, None), (0, None), (1000, None)]);
        let m = measure(Some(&dp), SEC, at(-500), at(1500));
        assert!(
            m.line()
                .contains("already failing at the start, 12:00:00.000 UTC"),
            "{}",
            m.line()
        );
    }

    #[test]
    fn a_vip_already_down_is_said_and_results_outside_the_window_do_not_count() {
        let dp = history(&[
            (-2000, Some("a")),
            (-1000, None),
            (500, None),
            (1500, Some("b")),
            (9000, None),
        ]);
        let m = measure(Some(&dp), SEC, t0(), at(2000));
        let Interruption::Interrupted {
            first_failed,
            down_at_start,
            ref node_before,
            ..
        } = m
        else {
            panic!("{m:?}");
        };
        assert_eq!(first_failed, at(500));
        assert!(down_at_start);
        assert_eq!(node_before.as_deref(), Some("a"));
        assert!(
            m.line().contains("already failing at the start"),
            "{}",
            m.line()
        );
    }

    #[test]
    fn a_window_longer_than_the_history_is_not_guessed() {
        let results: Vec<(i64, Option<&str>)> = (0..HISTORY_LEN as i64 + 10)
            .map(|i| (i * 1000, Some("a")))
            .collect();
        let dp = history(&results);
        let m = measure(Some(&dp), SEC, t0(), at(80_000));
        assert_eq!(
            m,
            Interruption::HistoryTooShort {
                kept_from: at(10_000),
                window_start: t0()
            }
        );
        assert!(m.line().contains("the last 64 are kept"), "{}", m.line());
        // A window the history covers is measured.
        let m = measure(Some(&dp), SEC, at(20_000), at(30_000));
        assert!(
            matches!(m, Interruption::NoneSeen { answers: 11, .. }),
            "{m:?}"
        );
    }

    #[test]
    fn a_probe_that_began_after_the_window_began_claims_nothing() {
        // Two answers, the first a minute into a 30-minute window.
        let dp = history(&[(60_000, Some("a")), (61_000, Some("a"))]);
        let m = measure(Some(&dp), SEC, t0(), at(1_800_000));
        assert!(matches!(m, Interruption::HistoryTooShort { .. }), "{m:?}");
        // The first probe not yet due at the start is no gap.
        let dp = history(&[(800, Some("a")), (1800, Some("a"))]);
        let m = measure(Some(&dp), SEC, t0(), at(2000));
        assert!(
            matches!(m, Interruption::NoneSeen { answers: 2, .. }),
            "{m:?}"
        );
        assert_eq!(typical_interval(&dp), Some(SEC));
    }

    #[test]
    fn probe_faults_are_not_outages() {
        use crate::core::dataplane::ProbeFault;
        let mut dp = history(&[(0, Some("a"))]);
        dp.record(ProbeResult {
            at: at(1000),
            outcome: ProbeOutcome::Fault(ProbeFault::Dns("nowhere\x1b[2J".into())),
        });
        dp.record(ProbeResult {
            at: at(2000),
            outcome: ProbeOutcome::Answered {
                rtt: Duration::from_millis(1),
                node: None,
            },
        });
        let m = measure(Some(&dp), SEC, t0(), at(3000));
        assert!(
            matches!(m, Interruption::NoneSeen { answers: 2, .. }),
            "{m:?}"
        );
        let m = measure(Some(&dp), SEC, at(900), at(1100));
        assert!(matches!(m, Interruption::ProbeCannotRun { .. }), "{m:?}");
        assert!(!m.line().contains('\x1b'), "{}", m.line());
        assert!(m.warns());
    }

    #[test]
    fn a_kind_from_a_newer_vipdeck_still_reads() {
        let m: Interruption =
            serde_json::from_str(r#"{"seen":"something_new","x":1}"#).expect("reads");
        assert_eq!(m, Interruption::Unrecognised);
        let back: Interruption = serde_json::from_str(
            &serde_json::to_string(&Interruption::NoneSeen {
                answers: 3,
                probe_interval_ms: 1000,
            })
            .expect("writes"),
        )
        .expect("reads");
        assert!(matches!(back, Interruption::NoneSeen { answers: 3, .. }));
    }

    #[test]
    fn untrusted_node_names_are_cleaned() {
        let dp = history(&[(0, Some("a\x1b[31m")), (1000, None), (2000, Some("b"))]);
        let line = measure(Some(&dp), SEC, t0(), at(3000)).line();
        assert!(!line.contains('\x1b'), "{line}");
        assert!(line.contains("answered by a"), "{line}");
    }
}
