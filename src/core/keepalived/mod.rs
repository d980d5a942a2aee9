//! Parsers for what keepalived and the notify scripts write: keepalived.conf,
//! the state file, keepalived's JSON and data dumps, and log lines. All pure:
//! they take text or bytes and never do I/O.

pub mod conf;
pub mod dump;
pub mod logline;
pub mod owner;
pub mod state;
pub mod track;
pub mod transition;
pub mod version;
pub mod vipscript;

pub use conf::{instance_for_vip, KeepalivedConf, VrrpInstance};
pub use state::parse_state;
