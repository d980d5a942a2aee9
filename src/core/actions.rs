//! Failed actions that stay visible (like crm_mon's "Failed Resource
//! Actions"): a vip.py call the cloud refused, a migration task that ended
//! FAILED, a notify script keepalived could not run. Each stays after the
//! verdict recovers, until a later success of the same action on the same
//! peer or an operator's acknowledgement.
//! Which lines count is [`crate::core::action_line`].

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub(crate) use crate::core::action_line::classify;
pub use crate::core::action_line::ActionKind;
use crate::core::model::ClusterSnapshot;

/// One failure still to be seen: the first failure of an action on a peer
/// since it last succeeded (or since the last acknowledged one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedAction {
    /// What acknowledges it: the newest failure line's id (an
    /// acknowledgement covers every failure up to that one). Stable across
    /// restarts of vipdeck while the log holds the line: from the peer,
    /// the line's time and its text.
    pub id: String,
    pub at: DateTime<Utc>,
    #[serde(skip)]
    pub peer: usize,
    pub action: ActionKind,
    /// The line as logged (untrusted: clean before showing).
    pub line: String,
    /// How many more failures of the same action on the same peer followed.
    pub more: usize,
}

/// Failure lines this close after an acknowledged one are the same
/// attempt (vip.py's `call ret {…Error…}` and its `set vip failed`, read
/// in either order).
const SAME_ATTEMPT: chrono::TimeDelta = chrono::TimeDelta::seconds(2);

/// The id of a failure: a short digest, the same every time the same line
/// of the same peer is read.
pub(crate) fn action_id(peer: &str, at: DateTime<Utc>, line: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(peer.as_bytes());
    h.update([0]);
    h.update(at.timestamp_millis().to_be_bytes());
    h.update(line.trim().as_bytes());
    hex::encode(&h.finalize()[..6])
}

/// Per peer and action, the failures not followed by a success of the same
/// action on the same peer and not acknowledged, oldest first.
pub fn failed_actions(c: &ClusterSnapshot, acknowledged: &BTreeSet<String>) -> Vec<FailedAction> {
    let events: Vec<_> = c
        .action_log
        .iter()
        .filter_map(|l| classify(&l.text).map(|(kind, ok)| (l, kind, ok)))
        .filter_map(|(l, kind, ok)| {
            let peer = c.spec.peers.get(l.peer)?;
            Some((l, kind, ok, action_id(&peer.name, l.at, &l.text)))
        })
        .collect();
    let mut keys: Vec<(usize, ActionKind)> = events
        .iter()
        .filter(|e| !e.2)
        .map(|(l, kind, _, _)| (l.peer, *kind))
        .collect();
    keys.sort();
    keys.dedup();
    let mut out: Vec<FailedAction> = keys
        .into_iter()
        .filter_map(|(peer, kind)| {
            let same = || {
                events
                    .iter()
                    .filter(move |e| e.0.peer == peer && e.1 == kind)
            };
            let succeeded = same().filter(|e| e.2).map(|e| e.0.at).max();
            let acked = same()
                .filter(|e| !e.2 && acknowledged.contains(&e.3))
                .map(|e| e.0.at + SAME_ATTEMPT)
                .max();
            let since = succeeded.max(acked);
            let fails: Vec<_> = same()
                .filter(|e| !e.2 && since.is_none_or(|s| e.0.at > s))
                .collect();
            let (l, _, _, _) = fails.first()?;
            let (_, _, _, newest) = fails.last()?;
            Some(FailedAction {
                id: newest.clone(),
                at: l.at,
                peer,
                action: kind,
                line: l.text.trim().to_string(),
                more: fails.len() - 1,
            })
        })
        .collect();
    out.sort_by_key(|f| f.at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{LogKind, LogSource, Mode, ACTION_LOG_CAP};
    use crate::core::testkit::{cluster, line};

    fn logged(c: &mut ClusterSnapshot, peer: usize, secs_ago: i64, text: &str) {
        c.note_action(line(
            peer,
            secs_ago,
            LogSource::Script,
            LogKind::VipMigration,
            text,
        ));
    }

    const REFUSED: &str = r#" call ret {"Response": {"Error": {"Code": "InternalError", "Message": "An internal error has occurred."}}, "RequestId": "r-1"}"#;

    #[test]
    fn each_kind_of_line_is_read() {
        assert_eq!(classify(REFUSED), Some((ActionKind::VipMove, false)));
        assert_eq!(
            classify(" set vip failed"),
            Some((ActionKind::VipMove, false))
        );
        assert_eq!(classify(" set done"), Some((ActionKind::VipMove, true)));
        assert_eq!(
            classify(r#" task ret {"Status": "FAILED"}"#),
            Some((ActionKind::MigrationTask, false))
        );
        assert_eq!(
            classify(r#" task ret {"Status": "SUCCESS"}"#),
            Some((ActionKind::MigrationTask, true))
        );
        assert_eq!(
            classify("Error exec-ing command '/etc/keepalived/notify_action.sh', error 13: Permission denied"),
            Some((ActionKind::NotifyScript, false))
        );
        assert_eq!(
            classify(" notify_master"),
            Some((ActionKind::NotifyScript, true))
        );
        // A successful answer is not a success of the move yet; noise is nothing.
        assert_eq!(
            classify(r#" call ret {"Response": {"RequestId": "r"}}"#),
            None
        );
        assert_eq!(classify("(VI_1) Entering MASTER STATE"), None);
    }

    #[test]
    fn a_failure_stays_until_the_same_action_succeeds_on_the_same_peer() {
        let mut c = cluster(Mode::Eni);
        logged(&mut c, 1, 600, " try set vip.");
        logged(&mut c, 1, 599, REFUSED);
        logged(&mut c, 1, 599, " set vip failed");
        let none = BTreeSet::new();
        let failed = failed_actions(&c, &none);
        assert_eq!(
            failed.len(),
            1,
            "one attempt, one failed action: {failed:?}"
        );
        assert_eq!((failed[0].peer, failed[0].action), (1, ActionKind::VipMove));
        assert_eq!(failed[0].line, REFUSED.trim(), "the line that says why");
        assert_eq!(failed[0].more, 1);
        // Other peers' successes and other actions do not clear it.
        logged(&mut c, 0, 300, " set done");
        logged(&mut c, 1, 200, " notify_backup");
        assert_eq!(failed_actions(&c, &none).len(), 1);
        // The same action succeeding later on the same peer does.
        logged(&mut c, 1, 100, " set done");
        assert!(failed_actions(&c, &none).is_empty());
        // A failure after that success is a new one.
        logged(&mut c, 1, 50, " set vip failed");
        assert_eq!(failed_actions(&c, &none).len(), 1);
    }

    #[test]
    fn an_acknowledged_failure_is_gone_and_its_id_is_stable() {
        let mut c = cluster(Mode::Eni);
        logged(&mut c, 0, 60, r#" task ret {"Status": "FAILED"}"#);
        let failed = failed_actions(&c, &BTreeSet::new());
        assert_eq!(failed.len(), 1);
        // Read again (a restart of vipdeck reading the same backlog): same id.
        let mut again = cluster(Mode::Eni);
        logged(&mut again, 0, 60, r#" task ret {"Status": "FAILED"}"#);
        assert_eq!(failed_actions(&again, &BTreeSet::new())[0].id, failed[0].id);
        let acked: BTreeSet<String> = [failed[0].id.clone()].into();
        assert!(failed_actions(&c, &acked).is_empty());
        // A failure after the acknowledged attempt shows again.
        logged(&mut c, 0, 5, r#" task ret {"Status": "FAILED"}"#);
        let again = failed_actions(&c, &acked);
        assert_eq!(again.len(), 1);
        assert_ne!(again[0].id, failed[0].id);
    }

    #[test]
    fn the_action_log_keeps_only_action_lines_and_is_bounded() {
        let mut c = cluster(Mode::Eni);
        logged(&mut c, 0, 10, "(VI_1) Entering MASTER STATE");
        assert!(c.action_log.is_empty());
        for i in 0..(ACTION_LOG_CAP as i64 + 10) {
            logged(&mut c, 0, 10_000 - i, " set done");
        }
        assert_eq!(c.action_log.len(), ACTION_LOG_CAP);
    }
}
