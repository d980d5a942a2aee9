//! The pure core: facts and the snapshot fold, verdict rules, keepalived
//! parsers, the pair comparison, the VPC API's shapes and its TC3 signature,
//! the config. Nothing here talks to a network, a peer or a terminal.

pub mod action_line;
pub mod actions;
pub mod config;
pub mod dataplane;
pub mod dataplane_verdict;
pub mod explain;
pub mod flaps;
pub mod humanize;
pub mod incident;
pub mod interruption;
pub mod keepalived;
pub mod lint;
pub mod lockfile;
pub mod logs;
pub mod maintenance;
pub mod marker;
pub mod model;
pub mod pair;
pub mod sanitize;
pub mod verdict;
pub mod vpc;

#[cfg(test)]
mod testkit;
