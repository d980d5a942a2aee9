//! The adversarial suite: vipdeck against a hostile peer, a hostile cloud,
//! a shared jump host and an unlucky data dir. Each test is one finding of
//! the security review; it failed before the fix it names
//! (`cargo test --test adversarial`).

mod cloud;
mod failover_locks;
mod files;
mod hygiene;
mod parsers;
mod peer;
