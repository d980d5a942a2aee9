//! The maintenance marker file (`vipdeck maintenance`): what it holds,
//! how long a window may be, and how a reading of it is judged (believed
//! only from root or the login that reads it). Pure; the cluster-level
//! view of a window is [`crate::core::maintenance`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::sanitize::{clean, clip};

/// The shortest and the longest window `maintenance start --for` accepts:
/// under a minute is a typo, over a week is a change nobody watches.
pub(crate) const MIN_WINDOW: Duration = Duration::from_secs(60);
pub(crate) const MAX_WINDOW: Duration = Duration::from_secs(7 * 86_400);

/// The longest reason kept in a marker (the poll reads 1 KiB of it).
pub(crate) const MAX_REASON: usize = 200;

/// What a maintenance marker file holds (one line of JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceMarker {
    /// `user@host` of the vipdeck that started it.
    pub by: String,
    pub reason: String,
    /// The peer under maintenance, when only one is.
    #[serde(default)]
    pub peer: Option<String>,
    pub started: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Random: `maintenance end` removes exactly the marker it read.
    pub token: String,
    /// The Alertmanager silence created for it, if any.
    #[serde(default)]
    pub silence_id: Option<String>,
}

/// A cluster's maintenance marker on one peer, as the host poll reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MarkerSeen {
    None,
    Window(Box<MaintenanceMarker>),
    /// A file at the marker's path that is not believed (another user's,
    /// not a marker, not a regular file): shown, cleaned, never obeyed.
    Suspect {
        why: String,
        says: String,
    },
}

/// `--for 2h`: a duration within [`MIN_WINDOW`]..=[`MAX_WINDOW`].
pub(crate) fn parse_window_length(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!("--for {t}: a window cannot be negative"));
    }
    let d = crate::core::logs::parse_duration(t).map_err(|e| format!("--for: {e}"))?;
    if d < MIN_WINDOW {
        return Err(format!(
            "--for {t}: a window is at least {}",
            crate::core::humanize::duration(MIN_WINDOW)
        ));
    }
    if d > MAX_WINDOW {
        return Err(format!(
            "--for {t}: a window is at most 7 days (end it and start another if the work goes on)"
        ));
    }
    Ok(d)
}

/// `--until TIME` (RFC 3339): it must be in the future and within
/// [`MAX_WINDOW`]; a time already past is refused, never made a window
/// that has already expired.
pub(crate) fn parse_until(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = s.trim();
    let at = DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| format!("--until {t}: not a time (use RFC 3339: 2026-12-06T22:00:00Z)"))?;
    if at <= now {
        return Err(format!(
            "--until {t}: that time is in the past (now {})",
            now.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    let len = (at - now).to_std().unwrap_or_default();
    if len > MAX_WINDOW {
        return Err(format!("--until {t}: a window is at most 7 days"));
    }
    Ok(at)
}

impl MaintenanceMarker {
    pub(crate) fn expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.until
    }

    /// "ops@jump1 until 22:40 UTC (1h12m left): kernel update", its
    /// text from a peer file, cleaned to one line and clipped.
    pub(crate) fn describe(&self, now: DateTime<Utc>) -> String {
        let said = |s: &str, n: usize| clip(&clean(s), n);
        let left = if self.expired(now) {
            format!(
                "EXPIRED {} ago",
                crate::core::humanize::duration((now - self.until).to_std().unwrap_or_default())
            )
        } else {
            format!(
                "{} left",
                crate::core::humanize::duration((self.until - now).to_std().unwrap_or_default())
            )
        };
        let peer = self
            .peer
            .as_deref()
            .map(|p| format!(" on {}", said(p, 60)))
            .unwrap_or_default();
        format!(
            "by {}{peer} until {} ({left}): {}",
            said(&self.by, 80),
            self.until.format("%Y-%m-%d %H:%M UTC"),
            said(&self.reason, MAX_REASON)
        )
    }
}

/// Parses the host poll's `@@mark I ...` answer (after the index):
/// `free`, `special`, or `held UID ME CONTENT`. A marker is believed only
/// when root or the login that reads it owns it: anyone can write in the
/// lock directory.
pub(crate) fn parse_poll(rest: &str) -> MarkerSeen {
    let suspect = |why: String, says: &str| MarkerSeen::Suspect {
        why,
        says: clip(&clean(says.trim()), 120),
    };
    if rest == "free" {
        return MarkerSeen::None;
    }
    if rest == "special" {
        return suspect("not a regular file".into(), "");
    }
    let Some(held) = rest.strip_prefix("held ") else {
        return suspect("unreadable".into(), rest);
    };
    let mut w = held.splitn(3, ' ');
    let (uid, me, content) = (w.next(), w.next(), w.next().unwrap_or(""));
    let uid = uid.and_then(|u| u.parse::<u32>().ok());
    let me = me.and_then(|u| u.parse::<u32>().ok());
    match (uid, me) {
        (Some(0), _) => {}
        (Some(u), Some(m)) if u == m => {}
        (Some(u), _) => {
            return suspect(
                format!(
                    "owned by uid {u}, neither root nor this login: any user can write in the \
                     lock directory"
                ),
                content,
            )
        }
        (None, _) => return suspect("its owner could not be read".into(), content),
    }
    match serde_json::from_str::<MaintenanceMarker>(content.trim()) {
        Ok(m) => MarkerSeen::Window(Box::new(m)),
        Err(_) if content.trim() == "too-long" => suspect("longer than a marker can be".into(), ""),
        Err(_) => suspect("not a vipdeck maintenance marker".into(), content),
    }
}

/// What `maintenance start|end|list` read at a marker's path (the answer
/// of the failover lock's read script, [`crate::failover::scripts::lock_read_at`]):
/// the marker as the poll would judge it, or why this login cannot use
/// the lock directory.
pub(crate) fn parse_read(out: &str) -> Result<MarkerSeen, String> {
    let (head, rest) = out.split_once('\n').unwrap_or((out, ""));
    let head = head.trim();
    if let Some(e) = head.strip_prefix("ERROR ") {
        return Err(clip(&clean(e), 300));
    }
    if head == "FREE" {
        return Ok(MarkerSeen::None);
    }
    let Some(file) = head.strip_prefix("HELD") else {
        return Err(format!(
            "unexpected answer: {}",
            clip(&clean(out.trim()), 80)
        ));
    };
    let field = |k: &str| {
        file.split_whitespace()
            .find_map(|w| w.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
    };
    if field("kind").is_some() {
        return Ok(parse_poll("special"));
    }
    let first = rest.lines().next().unwrap_or("");
    Ok(parse_poll(&format!(
        "held {} {} {first}",
        field("uid").unwrap_or("?"),
        field("me").unwrap_or("?")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn marker() -> MaintenanceMarker {
        MaintenanceMarker {
            by: "ops@jump1".into(),
            reason: "kernel update".into(),
            peer: None,
            started: at("2026-12-06T20:00:00Z"),
            until: at("2026-12-06T22:00:00Z"),
            token: "t".into(),
            silence_id: None,
        }
    }

    #[test]
    fn window_lengths_outside_a_minute_to_a_week_are_refused() {
        assert_eq!(parse_window_length("2h"), Ok(Duration::from_secs(7200)));
        for bad in ["-2h", "0", "30s", "8d", "99999999d", "2x", ""] {
            assert!(parse_window_length(bad).is_err(), "{bad}");
        }
        assert!(parse_window_length("-2h")
            .expect_err("refused")
            .contains("negative"));
        assert!(parse_window_length("8d")
            .expect_err("refused")
            .contains("at most 7 days"));
    }

    #[test]
    fn an_end_in_the_past_is_refused() {
        let now = at("2026-12-06T20:00:00Z");
        assert!(parse_until("2026-12-06T19:00:00Z", now)
            .expect_err("refused")
            .contains("in the past"));
        assert!(parse_until("2026-12-30T19:00:00Z", now).is_err());
        assert_eq!(
            parse_until("2026-12-06T21:00:00Z", now),
            Ok(at("2026-12-06T21:00:00Z"))
        );
    }

    #[test]
    fn a_marker_is_believed_only_from_root_or_this_login() {
        let json = serde_json::to_string(&marker()).expect("json");
        assert!(matches!(
            parse_poll(&format!("held 0 1000 {json}")),
            MarkerSeen::Window(_)
        ));
        assert!(matches!(
            parse_poll(&format!("held 1000 1000 {json}")),
            MarkerSeen::Window(_)
        ));
        match parse_poll(&format!("held 65534 0 {json}")) {
            MarkerSeen::Suspect { why, .. } => assert!(why.contains("uid 65534"), "{why}"),
            other => panic!("{other:?}"),
        }
        match parse_poll("held 0 0 \u{1b}[2J junk") {
            MarkerSeen::Suspect { says, .. } => assert!(!says.contains('\u{1b}'), "{says}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_poll("free"), MarkerSeen::None);
        assert!(matches!(parse_poll("special"), MarkerSeen::Suspect { .. }));
    }

    #[test]
    fn a_window_past_its_end_says_expired() {
        let m = marker();
        let during = m.describe(at("2026-12-06T21:00:00Z"));
        assert!(during.contains("1h00m left"), "{during}");
        assert!(during.contains("ops@jump1") && during.contains("kernel update"));
        let after = m.describe(at("2026-12-06T22:05:00Z"));
        assert!(after.contains("EXPIRED 5m00s ago"), "{after}");
    }
}
