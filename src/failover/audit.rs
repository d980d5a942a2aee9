//! The audit trail: one JSON line per failover attempt, appended to
//! `<data dir>/audit.jsonl`, flushed and fsynced before vipdeck says it is
//! done. Nothing secret is ever written: plans, step results, cloud
//! RequestIds and error messages carry no credentials.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::plan::Plan;

pub(crate) const FILE_NAME: &str = "audit.jsonl";

/// How an attempt ended, said plainly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The VIP moved to the target and every witness agrees.
    MovedVerified,
    /// A step failed and vipdeck put the VIP back where it was.
    RolledBack,
    /// A step failed before anything moved; the cluster is as it was.
    NotMoved,
    /// The VIP ended on another peer (preempt, a third party).
    MovedElsewhere,
    /// Not known after the timeout; the record says what is known.
    Unknown,
    /// Nothing was changed (blocked by a check, refused, not confirmed).
    NotStarted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::MovedVerified => "moved and verified",
            Outcome::RolledBack => "not moved: rolled back to the old master",
            Outcome::NotMoved => "not moved: the cluster is as it was",
            Outcome::MovedElsewhere => "moved somewhere else",
            Outcome::Unknown => "unknown",
            Outcome::NotStarted => "not started",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Confirmation {
    pub(crate) what: String,
    pub(crate) answer: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StepRecord {
    pub(crate) description: String,
    pub(crate) started: DateTime<Utc>,
    pub(crate) ended: DateTime<Utc>,
    pub(crate) ok: bool,
    pub(crate) detail: String,
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) id: String,
    pub cluster: String,
    pub(crate) from: Option<String>,
    pub(crate) to: String,
    pub method: String,
    /// `user@host`.
    pub(crate) by: String,
    pub(crate) started: DateTime<Utc>,
    pub(crate) ended: DateTime<Utc>,
    pub(crate) plan: Plan,
    pub(crate) confirmations: Vec<Confirmation>,
    pub(crate) steps: Vec<StepRecord>,
    /// RequestIds of the cloud calls vipdeck made (to quote to support).
    pub(crate) request_ids: Vec<String>,
    pub(crate) outcome: Outcome,
    /// The state the cluster was left in, in words.
    pub(crate) state_left: String,
    /// Confirmation → verified, when verified.
    pub(crate) switchover_ms: Option<u64>,
    /// Confirmation → the cloud binding was seen on the target (the VIP
    /// serves there from then on).
    #[serde(default)]
    pub(crate) binding_ms: Option<u64>,
    pub(crate) duration_ms: u64,
    /// The interruption as the data-plane probe saw it over the run
    /// (`None` in records from before it was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) clients: Option<crate::core::interruption::Interruption>,
}

/// An operator's acknowledgement of a failed action
/// ([`crate::core::actions`]): a line of its own in the same trail, told
/// from a failover's record by `"kind": "acknowledge"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Acknowledgement {
    pub(crate) kind: AckKind,
    pub cluster: String,
    pub(crate) peer: String,
    /// The failed action's id: what makes it acknowledged after a restart.
    pub(crate) action_id: String,
    pub(crate) action: String,
    /// When the failure was logged, and the line.
    pub(crate) failed_at: DateTime<Utc>,
    pub(crate) line: String,
    /// `user@host`.
    pub(crate) by: String,
    pub(crate) at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AckKind {
    Acknowledge,
}

/// Appends an acknowledgement, fsynced like a failover's record.
pub(crate) fn acknowledge(path: &Path, ack: &Acknowledgement) -> std::io::Result<()> {
    append(path, ack)
}

/// Every acknowledgement in the trail (none when there is no trail yet).
pub(crate) fn read_acknowledgements(path: &Path) -> std::io::Result<Vec<Acknowledgement>> {
    let bytes = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(bytes
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice(line).ok())
        .collect())
}

/// Marks the failed actions acknowledged in the trail at `path` (the
/// default trail when `None`) on `snapshot`'s clusters, so an
/// acknowledged failure stays acknowledged when vipdeck starts again. An
/// unreadable trail acknowledges nothing: the failures show.
pub fn seed_acknowledgements(snapshot: &mut crate::core::model::Snapshot, path: Option<&Path>) {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => match default_path() {
            Some(p) => p,
            None => return,
        },
    };
    let Ok(acks) = read_acknowledgements(&path) else {
        return;
    };
    for ack in acks {
        for c in snapshot
            .clusters
            .iter_mut()
            .filter(|c| c.spec.name == ack.cluster)
        {
            c.acknowledged.insert(ack.action_id.clone());
        }
    }
}

pub(crate) fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The audit file in the data dir.
pub fn default_path() -> Option<PathBuf> {
    crate::core::config::data_dir().map(|d| path_in(&d))
}

/// Appends one record as one line, then flushes and fsyncs. A file whose
/// last line was cut (a full disk) gets its newline first, so the damage
/// stays on that one line and this record is whole. A special file (a
/// FIFO) at the path is refused, not opened.
pub(crate) fn append<T: serde::Serialize>(path: &Path, record: &T) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if let Ok(md) = std::fs::symlink_metadata(path) {
        if !md.is_file() {
            return Err(std::io::Error::other(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
    }
    let mut line = serde_json::to_string(record).map_err(std::io::Error::other)?;
    line.push('\n');
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true).read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let mut f = opts.open(path)?;
    let len = f.metadata()?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        f.seek(SeekFrom::Start(len - 1))?;
        f.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.insert(0, '\n');
        }
    }
    // One write of the whole line: appends from two processes do not interleave.
    f.write_all(line.as_bytes())?;
    f.flush()?;
    f.sync_all()
}

/// The id suffix of a record written by [`begin`].
const BEGIN_SUFFIX: &str = "-begin";

/// Writes the plan as confirmed before the first change, fsynced: the
/// failover runs only when this succeeds (the audit trail fails closed).
/// If vipdeck dies before the end, this record (outcome unknown) is what
/// the trail and anti-flap see.
pub(crate) fn begin(
    path: &Path,
    plan: &Plan,
    by: String,
    confirmations: Vec<Confirmation>,
) -> std::io::Result<()> {
    let now = Utc::now();
    let rec = Record {
        id: format!("{:016x}{BEGIN_SUFFIX}", rand::random::<u64>()),
        cluster: plan.cluster.clone(),
        from: plan.source_name().map(str::to_string),
        to: plan.target_name().to_string(),
        method: plan.method.as_str().to_string(),
        by,
        started: now,
        ended: now,
        plan: plan.clone(),
        confirmations,
        steps: vec![],
        request_ids: vec![],
        outcome: Outcome::Unknown,
        state_left: "starting: the plan as confirmed, written before the first change \
                     (the next record says how it ended; none means vipdeck stopped first)"
            .into(),
        switchover_ms: None,
        binding_ms: None,
        duration_ms: 0,
        clients: None,
    };
    append(path, &rec)
}

/// Every record in the file, oldest first; damaged lines (cut, not
/// UTF-8, not a record) are skipped and counted, never the whole trail.
pub(crate) fn read_all(path: &Path) -> std::io::Result<(Vec<Record>, usize)> {
    if let Ok(md) = std::fs::symlink_metadata(path) {
        if !md.is_file() {
            return Err(std::io::Error::other(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
    }
    let bytes = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let mut bad = 0;
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(line) {
            Ok(r) => out.push(r),
            // An acknowledgement is no failover and no damage.
            Err(_) if serde_json::from_slice::<Acknowledgement>(line).is_ok() => {}
            Err(_) => bad += 1,
        }
    }
    Ok((fold_begins(out), bad))
}

/// One record per attempt: a [`begin`] record is replaced by the end
/// record of its attempt (the next record of that cluster that ran). A
/// begin record without one stays: vipdeck stopped during that attempt.
fn fold_begins(records: Vec<Record>) -> Vec<Record> {
    let mut hidden = vec![false; records.len()];
    let mut pending: std::collections::HashMap<&str, usize> = Default::default();
    for (i, r) in records.iter().enumerate() {
        if r.id.ends_with(BEGIN_SUFFIX) {
            pending.insert(r.cluster.as_str(), i);
        } else if r.outcome != Outcome::NotStarted {
            if let Some(b) = pending.remove(r.cluster.as_str()) {
                hidden[b] = true;
            }
        }
    }
    records
        .into_iter()
        .zip(hidden)
        .filter(|(_, h)| !h)
        .map(|(r, _)| r)
        .collect()
}

/// What anti-flap should say about a trail it could not fully read.
pub(crate) fn damage_note(
    read: &std::io::Result<(Vec<Record>, usize)>,
    path: &Path,
) -> Option<String> {
    match read {
        Ok((_, 0)) => None,
        Ok((_, bad)) => Some(format!(
            "the audit trail {} has {bad} damaged line(s): judged from the readable records",
            path.display()
        )),
        Err(e) => Some(format!(
            "the audit trail {} cannot be read ({e}): no past failover is known",
            path.display()
        )),
    }
}

impl Record {
    /// The record with every text that came from a peer or the cloud
    /// (and the names it was given) passed through the sanitiser, for a
    /// terminal. `--json` prints the record itself.
    fn shown(&self) -> Record {
        use crate::core::sanitize::clean;
        let mut r = self.clone();
        r.cluster = clean(&r.cluster);
        r.from = r.from.as_deref().map(clean);
        r.to = clean(&r.to);
        r.method = clean(&r.method);
        r.by = clean(&r.by);
        r.state_left = clean(&r.state_left);
        r.request_ids = r.request_ids.iter().map(|s| clean(s)).collect();
        r
    }
}

/// When the last attempt that changed something on `cluster` started.
pub(crate) fn last_failover(records: &[Record], cluster: &str) -> Option<DateTime<Utc>> {
    records
        .iter()
        .filter(|r| r.cluster == cluster && r.outcome != Outcome::NotStarted)
        .map(|r| r.started)
        .max()
}

/// One line per record for `vipdeck audit`.
pub(crate) fn render_list(records: &[Record]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for r in records {
        let r = &r.shown();
        let took = r
            .switchover_ms
            .map(|m| format!(" in {:.1}s", m as f64 / 1000.0))
            .unwrap_or_default();
        // What the probe saw, when it measured anything (the line cleans
        // the node names a service gave).
        let clients = match &r.clients {
            None | Some(crate::core::interruption::Interruption::NoProbe) => String::new(),
            Some(c) => format!(" {}.", c.line()),
        };
        let _ = writeln!(
            s,
            "{}  {:<12} {} → {} ({}) by {}: {}{took}.{clients} {}{}",
            r.started.format("%Y-%m-%d %H:%M:%S UTC"),
            r.cluster,
            r.from.as_deref().unwrap_or("-"),
            r.to,
            r.method,
            r.by,
            r.outcome.as_str(),
            r.state_left,
            if r.request_ids.is_empty() {
                String::new()
            } else {
                format!(" RequestIds: {}", r.request_ids.join(", "))
            }
        );
    }
    s
}

/// The one line appended to each peer's keepalived.log; the peer's shell
/// fills in its own local time so the line sorts with the script lines.
pub(crate) fn peer_log_line(record: &Record) -> String {
    let took = record
        .switchover_ms
        .map(|m| format!(" in {:.1}s", m as f64 / 1000.0))
        .unwrap_or_default();
    format!(
        "vipdeck: failover {} {} -> {} ({}) by {}: {}{took} [audit {}]",
        record.cluster,
        record.from.as_deref().unwrap_or("-"),
        record.to,
        record.method,
        record.by,
        record.outcome.as_str(),
        record.id
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::Mode;
    use crate::failover::plan::{Method, Plan};

    fn record(cluster: &str, outcome: Outcome, started: DateTime<Utc>) -> Record {
        Record {
            id: "a1".into(),
            cluster: cluster.into(),
            from: Some("n1".into()),
            to: "n2".into(),
            method: "graceful".into(),
            by: "ops@desk".into(),
            started,
            ended: started,
            plan: Plan {
                cluster: cluster.into(),
                mode: Mode::Eni,
                vip: "192.0.2.10".into(),
                method: Method::Graceful,
                source: Some(0),
                bound_to: Some(0),
                target: 1,
                peer_names: ["n1".into(), "n2".into()],
                checks: vec![],
                steps: vec![],
                leave_old_stopped: false,
                old_master_dead: false,
                unknown_target: None,
                noop: false,
                planned_at: started,
                notes: vec![],
            },
            confirmations: vec![],
            steps: vec![],
            request_ids: vec!["req-1".into()],
            outcome,
            state_left: "n2 MASTER".into(),
            switchover_ms: Some(5400),
            binding_ms: Some(4000),
            duration_ms: 9000,
            clients: None,
        }
    }

    #[test]
    fn an_acknowledgement_is_kept_beside_the_failovers_and_read_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = path_in(dir.path());
        let t = Utc::now();
        append(&p, &record("web", Outcome::MovedVerified, t)).expect("append");
        let ack = Acknowledgement {
            kind: AckKind::Acknowledge,
            cluster: "web".into(),
            peer: "n2".into(),
            action_id: "0123456789ab".into(),
            action: "vip.py's VIP move".into(),
            failed_at: t,
            line: " set vip failed".into(),
            by: "ops@desk".into(),
            at: t,
        };
        acknowledge(&p, &ack).expect("ack");
        assert_eq!(read_acknowledgements(&p).expect("read"), vec![ack]);
        // The failovers' reader neither lists it nor calls it damage.
        let (records, bad) = read_all(&p).expect("read");
        assert_eq!((records.len(), bad), (1, 0));
    }

    #[test]
    fn a_begin_record_is_replaced_by_its_end_unless_vipdeck_stopped() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = path_in(dir.path());
        let t = Utc::now();
        let r = record("web", Outcome::MovedVerified, t);
        // Attempt 1 crashed after its begin; attempt 2 ran to its end.
        begin(&p, &r.plan, "ops@desk".into(), vec![]).expect("begin 1");
        append(&p, &record("web", Outcome::NotStarted, t)).expect("a refusal");
        begin(&p, &r.plan, "ops@desk".into(), vec![]).expect("begin 2");
        append(&p, &r).expect("end 2");
        let (recs, bad) = read_all(&p).expect("read");
        assert_eq!(bad, 0);
        let outcomes: Vec<Outcome> = recs.iter().map(|r| r.outcome).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Unknown,
                Outcome::NotStarted,
                Outcome::MovedVerified
            ]
        );
        assert!(recs[0].state_left.starts_with("starting"));
    }

    #[test]
    fn a_cut_line_damages_only_itself() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = path_in(dir.path());
        let r = sample_for_damage();
        append(&p, &r).expect("append");
        // A full disk cut the next record mid-line.
        let whole = serde_json::to_string(&r).expect("json");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .expect("open");
        f.write_all(&whole.as_bytes()[..40]).expect("write");
        f.write_all(b"\xff\xfe").expect("not utf-8 either");
        drop(f);
        append(&p, &r).expect("append after the damage");
        let (recs, bad) = read_all(&p).expect("read");
        assert_eq!(
            (recs.len(), bad),
            (2, 1),
            "both whole records read, the cut line counted"
        );
        let note = damage_note(&read_all(&p), &p).expect("a note");
        assert!(note.contains("1 damaged line"), "{note}");
    }

    fn sample_for_damage() -> Record {
        let mut r = record("web", Outcome::MovedVerified, Utc::now());
        r.request_ids = vec!["r\u{1b}]52;c;eA==\u{7}".into()];
        r.clients = Some(crate::core::interruption::Interruption::Interrupted {
            first_failed: r.started,
            first_good: r.started + chrono::Duration::milliseconds(3200),
            duration_ms: 3200,
            failed_probes: 7,
            gaps: 1,
            node_before: Some("a\u{1b}[2J".into()),
            node_after: Some("b".into()),
            down_at_start: false,
            probe_interval_ms: 500,
        });
        r
    }

    #[test]
    fn the_listing_shows_escapes_as_placeholders() {
        let shown = render_list(&[sample_for_damage()]);
        assert!(
            crate::core::sanitize::is_safe(shown.trim_end_matches('\n')),
            "{shown:?}"
        );
        assert!(shown.contains("r␛]52;c;eA==␇"), "{shown}");
        // The interruption the probe saw, beside the switchover time.
        assert!(
            shown.contains("in 5.4s. clients: interrupted 3.2 s (first failed"),
            "{shown}"
        );
    }

    #[test]
    fn append_then_read_back_and_find_the_last_failover() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = path_in(dir.path());
        let t0 = Utc::now() - chrono::Duration::minutes(30);
        let t1 = Utc::now() - chrono::Duration::minutes(5);
        append(&p, &record("web", Outcome::MovedVerified, t0)).expect("append");
        append(&p, &record("web", Outcome::NotStarted, Utc::now())).expect("append");
        append(&p, &record("web", Outcome::Unknown, t1)).expect("append");
        append(&p, &record("api", Outcome::MovedVerified, Utc::now())).expect("append");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .and_then(|mut f| f.write_all(b"not json\n"))
            .expect("garbage");
        let (recs, bad) = read_all(&p).expect("read");
        assert_eq!((recs.len(), bad), (4, 1));
        assert_eq!(last_failover(&recs, "web"), Some(t1));
        assert_eq!(last_failover(&recs, "nope"), None);
        let text = render_list(&recs);
        assert!(text.contains("web") && text.contains("moved and verified in 5.4s"));
        assert!(text.contains("RequestIds: req-1"));
        assert_eq!(read_all(&dir.path().join("none")).expect("ok").0.len(), 0);
    }
}
