//! Guided failover: check first, show the plan, confirm, execute step by
//! step with live progress, verify, roll back on failure, record it.
//!
//! - [`plan`]: the pure planner (preflight checks, steps, methods).
//! - `scripts`: the shell text run on the peers (lock, GARP, peer log),
//!   shown by the planner and run by the executor.
//! - [`exec`]: the executor, watching the cluster through the dashboard's
//!   own sources and acting through its `hands`: the peers' shells and the
//!   cloud, or the simulator (`sim`: the demo, `failover --demo`,
//!   rehearsal); one constructor from a source of facts (`exec/start.rs`),
//!   the run loop (`run`), one function per step kind (`steps`), the lock
//!   (`locks`), the cloud reads (`cloud`); its `exec::outcome` is a pure
//!   function of what happened.
//! - [`session`]: the flow from request to record, once for every face,
//!   behind a `Prompt` seam (stdin for the CLI, a channel for the TUI).
//! - [`lock`]: the lock held on the peers during a failover.
//! - [`audit`]: the audit trail (`<data dir>/audit.jsonl`, peers' logs).
//!
//! Imports point one way: `session` → `exec` → `plan` → `lock`/`scripts`,
//! `exec` → `hands` → `scripts`, `exec` → `sim`,
//! `audit` → `plan`; no two of these modules import each other. The faces
//! of a failover live in [`crate::faces`].

pub mod audit;
pub mod exec;
pub(crate) mod hands;
pub mod lock;
pub mod plan;
pub(crate) mod rehearse;
pub(crate) mod schedule;
pub(crate) mod scripts;
pub mod session;
pub(crate) mod sim;
pub(crate) mod summary;

pub use audit::Outcome;
pub use plan::{plan, Method, Plan, Request, Settings};
