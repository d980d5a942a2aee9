//! Command-line faces of actions: the failover command and the audit list.

pub mod failover;
