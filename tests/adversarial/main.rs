//! The adversarial suite: vipdeck against a hostile peer, a hostile cloud,
//! a shared jump host and an unlucky data dir. Each test is one finding of
//! the security review; it failed before the fix it names
//! (`cargo test --test adversarial`).

mod attach_stream;
mod cloud;
mod files;
mod hygiene;
mod parsers;
mod peer;
mod serve_limits;
