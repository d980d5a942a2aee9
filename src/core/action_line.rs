//! Which log lines report an action (vip.py's move, the cloud's
//! migration task, a notify script) and whether it failed: text only, so
//! the snapshot's fold and [`crate::core::actions`] share one reading.
//!
//! keepalived logs no exit status for a notify script (1.2.24 to 2.3.4,
//! short of a build with script debugging): what it does log is a script
//! it could not run (`Error exec-ing command`, `Couldn't find command`,
//! `Couldn't execute command`); the rest is the scripts' own lines.

use serde::Serialize;

/// The action a line reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// vip.py setting the VIP (`try set vip.` … `set done` / `set vip failed`,
    /// or the cloud's answer `call ret {…"Error"…}`).
    VipMove,
    /// The migration task vip.py polls (`task ret … FAILED` / `SUCCESS`).
    MigrationTask,
    /// A notify script keepalived runs on a transition.
    NotifyScript,
}

impl ActionKind {
    pub fn label(self) -> &'static str {
        match self {
            ActionKind::VipMove => "vip.py's VIP move",
            ActionKind::MigrationTask => "the cloud's migration task",
            ActionKind::NotifyScript => "a notify script",
        }
    }
}

/// Whether `text` (one log line) reports an action, which, and whether it
/// succeeded.
pub(crate) fn classify(text: &str) -> Option<(ActionKind, bool)> {
    let lower = text.to_ascii_lowercase();
    let trimmed = lower.trim();
    if trimmed.contains("set vip failed")
        || (trimmed.contains("call ret") && trimmed.contains("\"error\""))
    {
        return Some((ActionKind::VipMove, false));
    }
    if trimmed == "set done" || trimmed.ends_with(" set done") || trimmed.ends_with("] set done") {
        return Some((ActionKind::VipMove, true));
    }
    if trimmed.contains("task ret") {
        if text.contains("FAILED") {
            return Some((ActionKind::MigrationTask, false));
        }
        if text.contains("SUCCESS") {
            return Some((ActionKind::MigrationTask, true));
        }
    }
    if trimmed.contains("error exec-ing command")
        || trimmed.contains("couldn't find command")
        || trimmed.contains("couldn't execute command")
        // bash's own complaint about the seed script (`…notify_action.sh: line 4: …`).
        || trimmed.contains("notify_action.sh: line ")
    {
        return Some((ActionKind::NotifyScript, false));
    }
    // notify_action.sh's ` notify_master`: the script ran.
    if let Some(word) = trimmed.strip_prefix("notify_") {
        if ["master", "backup", "fault", "stop"].contains(&word) {
            return Some((ActionKind::NotifyScript, true));
        }
    }
    None
}
