//! `vipdeck explain`: why each peer of a cluster is in its state, in
//! sentences (or the same facts as JSON), from the first complete round of
//! facts.

use serde::Serialize;

use super::args::{Global, Which};
use super::out::{emit, emit_json};
use super::sources_for;
use super::status::{check_cluster_found, first_snapshot};
use crate::core::explain::{explain_cluster, render_lines, PeerWhy};
use crate::core::model::Verdict;
use crate::core::verdict::assess;
use crate::faces::report;

#[derive(Serialize)]
struct ClusterWhy {
    name: String,
    verdict: Verdict,
    peers: [PeerWhy; 2],
}

#[derive(Serialize)]
struct Explained {
    clusters: Vec<ClusterWhy>,
}

/// `vipdeck explain [--cluster N] [--json]`.
pub async fn explain(global: &Global, which: &Which, json: bool) -> anyhow::Result<u8> {
    let sources = sources_for(global, which).await?;
    let thresholds = sources.thresholds.clone();
    let (snapshot, now) = first_snapshot(sources).await;
    let only = which.cluster.as_deref();
    let r = report::report(&snapshot, &thresholds, now, only);
    check_cluster_found(&r, &snapshot, only)?;
    let clusters: Vec<ClusterWhy> = snapshot
        .clusters
        .iter()
        .filter(|c| only.is_none_or(|n| c.spec.name == n))
        .map(|c| ClusterWhy {
            name: c.spec.name.clone(),
            verdict: assess(c, now, &thresholds).verdict,
            peers: explain_cluster(c),
        })
        .collect();
    if json {
        emit_json(&format!(
            "{}\n",
            serde_json::to_string_pretty(&Explained { clusters })?
        ))?;
        return Ok(0);
    }
    let mut text = String::new();
    for c in &clusters {
        text.push_str(&format!("{} ({}):\n", c.name, c.verdict.as_str()));
        for p in &c.peers {
            for line in render_lines(p) {
                text.push_str("  ");
                text.push_str(&line);
                text.push('\n');
            }
        }
    }
    emit(&text)?;
    Ok(0)
}
