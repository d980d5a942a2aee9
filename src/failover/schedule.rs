//! When a planned switchover starts (`failover --at HH:MM`) and what still
//! stands in its way (`--wait-healthy`): pure, given the time now.

use chrono::{DateTime, NaiveTime, TimeZone};

use super::plan::{CheckStatus, Plan};

/// The longest `--wait-healthy`: a condition that takes longer is not a
/// switchover to wait for at a terminal.
pub(crate) const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// `--at HH:MM`, in the operator's time zone: the next such time, today
/// or (once it has passed) tomorrow.
pub(crate) fn next_at<Tz: TimeZone>(hhmm: &str, now: DateTime<Tz>) -> Result<DateTime<Tz>, String> {
    let t = NaiveTime::parse_from_str(hhmm.trim(), "%H:%M").map_err(|_| {
        format!(
            "--at {}: not a time of day (HH:MM, e.g. 02:30)",
            hhmm.trim()
        )
    })?;
    let tz = now.timezone();
    let mut day = now.date_naive();
    for _ in 0..3 {
        // A time that a DST change skips has no instant: try the next day.
        if let Some(at) = tz.from_local_datetime(&day.and_time(t)).earliest() {
            if at > now {
                return Ok(at);
            }
        }
        day = day.succ_opt().ok_or("--at: the calendar ends here")?;
    }
    Err(format!(
        "--at {}: no such time in the next days",
        hhmm.trim()
    ))
}

/// `--wait-healthy 10m`: a positive duration up to [`MAX_WAIT`].
pub(crate) fn wait_length(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!("--wait-healthy {t}: cannot be negative"));
    }
    let d = crate::core::logs::parse_duration(t).map_err(|e| format!("--wait-healthy: {e}"))?;
    if d.is_zero() || d > MAX_WAIT {
        return Err(format!("--wait-healthy {t}: from 1s to 24h"));
    }
    Ok(d)
}

/// The first check that blocks `plan`, as `id: reason`.
pub(crate) fn first_blocker(plan: &Plan) -> Option<String> {
    plan.checks
        .iter()
        .find(|c| c.status == CheckStatus::Fail && !c.overridden)
        .map(|c| format!("{}: {}", c.id, c.reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, Utc};

    #[test]
    fn at_is_the_next_such_time_in_the_operators_zone() {
        let tz = FixedOffset::east_opt(8 * 3600).expect("tz");
        let now = tz
            .with_ymd_and_hms(2026, 12, 6, 22, 0, 0)
            .single()
            .expect("now");
        let later = next_at("23:30", now).expect("today");
        assert_eq!(
            later,
            tz.with_ymd_and_hms(2026, 12, 6, 23, 30, 0)
                .single()
                .expect("t")
        );
        let tomorrow = next_at("02:00", now).expect("tomorrow");
        assert_eq!(
            tomorrow,
            tz.with_ymd_and_hms(2026, 12, 7, 2, 0, 0)
                .single()
                .expect("t")
        );
        assert_eq!(
            next_at("22:00", now).expect("a minute ago is tomorrow"),
            tz.with_ymd_and_hms(2026, 12, 7, 22, 0, 0)
                .single()
                .expect("t")
        );
        for bad in ["25:00", "2pm", "", "12:60"] {
            assert!(next_at(bad, Utc::now()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_wait_is_positive_and_bounded() {
        assert_eq!(wait_length("10m"), Ok(std::time::Duration::from_secs(600)));
        for bad in ["-10m", "0", "25h", "x"] {
            assert!(wait_length(bad).is_err(), "{bad}");
        }
    }
}
