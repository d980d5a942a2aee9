//! What the operator sees: the TUI, the one-shot commands' text and JSON,
//! the exporters, onboarding. Faces read snapshots and the core's verdicts;
//! they do no probing of their own.

pub mod alertmanager;
pub mod cli;
pub mod export;
pub mod incident;
pub mod init;
pub mod logs;
pub mod onboard;
pub mod report;
pub mod serve;
pub mod theme;
pub mod tui;
