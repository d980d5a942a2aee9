//! Starts the sources for a set of clusters and hands their one update
//! channel to a face. Sources never touch UI state.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::model::{ClusterSpec, Snapshot, Update};
use crate::sim::{self, SimCommand, SimTiming};

/// Running sources: what they watch and where they report.
pub struct Sources {
    pub specs: Vec<ClusterSpec>,
    pub updates: mpsc::Receiver<Update>,
    /// Demo only: where the fault keys go.
    pub sim: Option<mpsc::Sender<SimCommand>>,
    /// For the title bar: where the facts come from.
    pub label: String,
}

/// The embedded simulator with the demo's two clusters.
pub fn start_demo() -> Sources {
    let timing = SimTiming::default();
    let world = sim::demo_world(chrono::Utc::now(), &timing);
    let specs = world.iter().map(sim::spec_of).collect();
    let (tx, rx) = mpsc::channel(1024);
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    tokio::spawn(sim::run(world, timing, tx, cmd_rx));
    Sources {
        specs,
        updates: rx,
        sim: Some(cmd_tx),
        label: "DEMO · simulated clusters".into(),
    }
}

/// Whether every peer and every cloud binding has been heard from once.
pub fn first_round_complete(s: &Snapshot) -> bool {
    s.clusters.iter().all(|c| {
        c.peers.iter().all(|p| p.reachable.is_some())
            && (c.cloud.binding.is_some() || c.cloud.error.is_some())
    })
}

/// Folds updates into `snapshot` until the first round is complete or
/// `deadline` passes (then what is missing is reported as not seen).
pub async fn collect_first_round(
    snapshot: &mut Snapshot,
    updates: &mut mpsc::Receiver<Update>,
    deadline: Duration,
) {
    let until = tokio::time::Instant::now() + deadline;
    while !first_round_complete(snapshot) {
        match tokio::time::timeout_at(until, updates.recv()).await {
            Ok(Some(u)) => snapshot.apply(u),
            Ok(None) | Err(_) => break,
        }
    }
}
