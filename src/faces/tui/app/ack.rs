//! `a` in the alerts screen: an operator acknowledges a failed action
//! ([`crate::core::actions`]). The acknowledgement is written to the audit
//! trail (fsynced) before it counts, so it holds when vipdeck starts again;
//! one that cannot be written acknowledges nothing.

use chrono::Utc;

use super::App;
use crate::failover::audit::{self, AckKind, Acknowledgement};

impl App {
    /// The audit trail this dashboard writes and reads: the one given
    /// ([`App::audit_override`]), else the demo's own in the demo, else
    /// the data dir's.
    pub(crate) fn audit_path(&self) -> Option<std::path::PathBuf> {
        if let Some(p) = &self.audit_override {
            return Some(p.clone());
        }
        if self.demo {
            crate::failover::sim::demo_audit_path()
        } else {
            audit::default_path()
        }
    }

    /// Acknowledges failed action `id` of cluster `cluster` (an index into
    /// the snapshot) and says so, or says why not.
    pub(crate) fn acknowledge(&mut self, cluster: usize, id: &str) {
        match self.record_acknowledgement(cluster, id) {
            Ok(what) => {
                if let Some(c) = self.snapshot.clusters.get_mut(cluster) {
                    c.acknowledged.insert(id.to_string());
                }
                self.refresh();
                self.say(format!(
                    "acknowledged: {what} (recorded in the audit trail)"
                ));
            }
            Err(why) => self.say(format!("not acknowledged: {why}")),
        }
    }

    fn record_acknowledgement(&self, cluster: usize, id: &str) -> Result<String, String> {
        let c = self
            .snapshot
            .clusters
            .get(cluster)
            .ok_or("the cluster is gone")?;
        let failed = crate::core::actions::failed_actions(c, &c.acknowledged)
            .into_iter()
            .find(|f| f.id == id)
            .ok_or("it is no longer shown")?;
        let path = self
            .audit_path()
            .ok_or("no data directory for the audit trail")?;
        let peer = c.spec.peers[failed.peer].name.clone();
        let ack = Acknowledgement {
            kind: AckKind::Acknowledge,
            cluster: c.spec.name.clone(),
            peer: peer.clone(),
            action_id: failed.id.clone(),
            action: failed.action.label().to_string(),
            failed_at: failed.at,
            line: failed.line.clone(),
            by: crate::failover::lock::who(),
            at: Utc::now(),
        };
        audit::acknowledge(&path, &ack)
            .map_err(|e| format!("the audit trail {}: {e}", path.display()))?;
        Ok(format!(
            "{} {peer}: {} failed at {}",
            crate::core::sanitize::clean(&c.spec.name),
            failed.action.label(),
            failed.at.format("%H:%M:%S UTC")
        ))
    }
}
