//! vipdeck: a terminal operations console for two-node keepalived clusters
//! in a Tencent Cloud VPC.
//!
//! The folders follow the data flow (DESIGN.md, docs/architecture.md):
//! [`sources`] (probes, log followers, the cloud poller, or the simulator)
//! send [`core::model::Update`]s over a channel; [`core`] folds them into a
//! [`core::model::Snapshot`] and judges each cluster; [`failover`] plans
//! (pure) and executes a move over the same sources; [`faces`] (TUI, CLI
//! commands, exporters) only read snapshots. [`cloudsim`] is the VPC API
//! emulator. Arrows point from faces and sources to core, never back.

#![deny(dead_code)]

pub mod cloudsim;
pub mod core;
pub mod faces;
pub mod failover;
pub mod sources;

#[cfg(test)]
mod layout_check;
