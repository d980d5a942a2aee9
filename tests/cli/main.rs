//! Integration tests that need neither the lab nor the cloud emulator: the
//! CLI commands, config errors, onboarding, the keepalived parsers, the log
//! store, follower and screen, and the dashboard snapshots. One test binary,
//! one module per area (`cargo test --test cli`).

mod cli_demo;
mod config_errors;
mod dashboard_render;
mod dashboard_tmux;
mod dataplane_cli;
mod demo_takeovers;
mod explain_cli;
mod failover_interruption;
mod failover_rehearsal;
mod incident_cli;
mod keepalived_parsers;
mod lint_cli;
mod logs_cli;
mod logs_follow;
mod logs_store;
mod logs_view;
mod maintenance_cli;
mod man_page;
mod onboard_cli;
mod onboard_docs;
mod release_binary;
mod serve_cli;
mod tmux_pane;
