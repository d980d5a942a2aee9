//! Integration tests against the real-keepalived lab (lab.sh beside this
//! file, docs/lab.md): two network-namespace nodes with real keepalived and
//! sshd, and the emulator over real HTTP. One test binary, one module per
//! area (`cargo test --test lab`).
//!
//! Every lab test is `#[ignore]`d with its reason, so without root a plain
//! `cargo test` counts them as ignored instead of passing them silently.
//! scripts/test.sh runs them as root with `-- --ignored`, and refuses to run
//! at all when `CI=true` without root: CI never skips them. Asked for
//! without root, each fails. One lab at a time: every test holds
//! /tmp/vdlab-tests.lock.

mod support;
mod tmux;

mod busybox_lab;
mod explain_lab;
mod failed_action_lab;
mod failover_lab;
mod failover_speed_bench;
mod flap_lab;
mod fleet_bench;
mod fleet_soak;
mod hygiene_lab;
mod incident_lab;
mod interruption_bench;
mod interruption_lab;
mod lab_bench;
mod lab_smoke;
mod lab_watch;
mod lint_lab;
mod logs_lab;
mod maintenance_lab;
mod onboard_lab;
mod peer_cost_bench;
mod rehearse_lab;
mod serve_lab;
mod truth_lab;
mod version_matrix;
mod vpc_lab;

/// Not a lab test: in CI (`CI=true`) the lab tests must run, so CI must be
/// root. Fails a CI run that could only have ignored them.
#[test]
fn ci_can_run_the_lab() {
    if std::env::var("CI").as_deref() == Ok("true") {
        support::require_root();
    }
}
