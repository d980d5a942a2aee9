//! Guided failover: check first, show the plan, confirm, execute step by
//! step with live progress, verify, roll back on failure, record it.
//!
//! - [`plan`]: the pure planner (preflight checks, steps, methods).
//! - [`exec`]: the executor, watching the cluster through the dashboard's
//!   own sources and acting on the peers over their shells.
//! - [`lock`]: the lock held on the peers during a failover.
//! - [`audit`]: the audit trail (`<data dir>/audit.jsonl`, peers' logs).
//!
//! The faces of a failover live in [`crate::faces`].

pub mod audit;
pub mod exec;
pub mod lock;
pub mod plan;

pub use audit::Outcome;
pub use plan::{plan, Method, Plan, Request, Settings};
