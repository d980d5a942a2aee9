//! Planned maintenance windows on a cluster: what the peers' markers
//! ([`crate::core::marker`]) say of it — active, expired, or a marker not
//! to be believed — and the alert it adds.
//!
//! A window changes no verdict: the verdict is computed and shown as
//! ever, and `check`, the metrics and the dashboard say the window beside
//! it so that alerting can hold back. A window past its end is shown as
//! expired until someone ends it, never silently kept nor dropped.

use chrono::{DateTime, Utc};

use crate::core::model::{Alert, ClusterSnapshot, Severity};
use crate::core::sanitize::{clean, clip};

pub use crate::core::marker::{MaintenanceMarker, MarkerSeen};

/// A cluster's maintenance as its peers' markers say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClusterMaintenance {
    /// A window, believed from at least one peer's marker.
    Window {
        marker: MaintenanceMarker,
        expired: bool,
    },
    /// Only markers that are not believed.
    Suspect {
        peer: usize,
        why: String,
        says: String,
    },
}

/// The cluster's window: the marker of either peer (both hold the same
/// one; the one ending last wins if they differ), else a suspect marker.
pub(crate) fn of_cluster(c: &ClusterSnapshot, now: DateTime<Utc>) -> Option<ClusterMaintenance> {
    of_peers(
        [0, 1].map(|i| c.peers[i].maintenance.as_ref().map(|f| &f.value)),
        now,
    )
}

/// The window of a pair whose markers read `seen`.
pub(crate) fn of_peers(
    seen: [Option<&MarkerSeen>; 2],
    now: DateTime<Utc>,
) -> Option<ClusterMaintenance> {
    let seen = |i: usize| seen[i];
    let window = (0..2)
        .filter_map(|i| match seen(i) {
            Some(MarkerSeen::Window(m)) => Some(m.as_ref()),
            _ => None,
        })
        .max_by_key(|m| m.until);
    if let Some(m) = window {
        return Some(ClusterMaintenance::Window {
            marker: m.clone(),
            expired: m.expired(now),
        });
    }
    (0..2).find_map(|i| match seen(i) {
        Some(MarkerSeen::Suspect { why, says }) => Some(ClusterMaintenance::Suspect {
            peer: i,
            why: why.clone(),
            says: says.clone(),
        }),
        _ => None,
    })
}

/// The alert a window adds: information while it runs, a warning once it
/// expired (someone forgot to end it) or when a marker is not believed.
pub(crate) fn alert(c: &ClusterSnapshot, now: DateTime<Utc>) -> Option<Alert> {
    Some(match of_cluster(c, now)? {
        ClusterMaintenance::Window {
            marker,
            expired: false,
        } => Alert::new(
            Severity::Info,
            "maintenance",
            format!("maintenance {}", marker.describe(now)),
        ),
        ClusterMaintenance::Window {
            marker,
            expired: true,
        } => Alert::new(
            Severity::Warning,
            "maintenance_expired",
            format!(
                "maintenance window {} — end it: vipdeck maintenance end --cluster {}",
                marker.describe(now),
                clip(&clean(&c.spec.name), 60)
            ),
        ),
        ClusterMaintenance::Suspect { peer, why, says } => Alert::new(
            Severity::Warning,
            "maintenance_marker_suspect",
            format!(
                "a maintenance marker on {} is not believed: {why}{}",
                c.spec.peers[peer].name,
                if says.is_empty() {
                    String::new()
                } else {
                    format!(" (it says: {says})")
                }
            ),
        ),
    })
}
