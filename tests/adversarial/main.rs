//! The adversarial suite: vipdeck against a hostile peer, a hostile cloud,
//! a shared jump host and an unlucky data dir. Each test is one finding of
//! the security review; it failed before the fix it names
//! (`cargo test --test adversarial`).

mod attach_stream;
mod cloud;
mod dump_trust;
mod failover_locks;
mod files;
mod hygiene;
mod init_inputs;
mod parsers;
mod peer;
mod round_two;
mod serve_limits;
