//! vipdeck: a terminal operations console for two-node keepalived clusters
//! in a Tencent Cloud VPC.
//!
//! Data flow (DESIGN.md): sources (probes, log followers, the cloud poller,
//! or the simulator) send [`model::Update`]s over a channel; the
//! [`model::Snapshot`] folds them in; [`verdict::assess`] judges each
//! cluster; the faces (TUI, `status`, `check`) only read snapshots.

pub mod cloud;
pub mod cloudsim;
pub mod config;
pub mod export;
pub mod failover;
pub mod humanize;
pub mod init;
pub mod keepalived;
pub mod logs;
pub mod model;
pub mod monitor;
pub mod onboard;
pub mod probe;
pub mod report;
pub mod sim;
pub mod theme;
pub mod transport;
pub mod tui;
pub mod verdict;
