//! The incident record: what happened to one cluster in a window, as one
//! timeline — VRRP transitions, cloud rebinding, operator actions, the
//! verdicts the dashboard showed, the verdict and alerts now — with the merged log lines around each event and
//! the measured durations (takeover, rebinding, total interruption), ready
//! to paste into a postmortem. Pure: the faces gather the inputs (the
//! snapshot, the log store, the audit trail) and write the result.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::interruption::{self, Interruption};
use crate::core::keepalived::owner::{either_is_ours, owner, Owner};
use crate::core::logs::{message_of, safe_text, source_name, Entry};
use crate::core::model::{
    writer_of, ClusterSnapshot, ConfigSummary, LogKind, Mode, Severity, Verdict, VrrpState,
};
use crate::core::verdict::Assessment;

/// Log lines shown around an event: this far either side...
const CONTEXT: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
/// ...and at most this many.
const CONTEXT_LINES: usize = 12;
/// A takeover's pieces (the old master leaving, the new one's MASTER, the
/// cloud following) belong together when this close.
const TAKEOVER_SPAN: chrono::TimeDelta = chrono::TimeDelta::seconds(120);
/// Whole-second log times: a line may carry a time up to this much before
/// the event it reports.
const LOG_RESOLUTION: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

/// A failover vipdeck ran, from the audit trail (the faces convert).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
    pub by: String,
    pub method: String,
    pub from: Option<String>,
    pub to: String,
    pub outcome: String,
    pub request_ids: Vec<String>,
    /// When vipdeck saw the cloud binding on the target, if it did.
    pub bound_at: Option<DateTime<Utc>>,
    /// The interruption the data-plane probe saw during the failover, as
    /// its audit record keeps it (`None`: not measured then).
    pub clients: Option<Interruption>,
}

/// Everything the record is made from.
pub struct Inputs<'a> {
    pub cluster: &'a ClusterSnapshot,
    pub assessment: &'a Assessment,
    /// The cluster's log lines in the merged order (each peer's own order
    /// kept).
    pub lines: Vec<&'a Entry>,
    pub actions: Vec<Action>,
    /// The verdicts the face showed, each when it changed, oldest first
    /// (none for a one-shot command, which saw only the verdict now).
    pub verdicts: Vec<VerdictChange>,
    pub since: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// The verdict a face showed from `at` on, and its first alert (why).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerdictChange {
    pub at: DateTime<Utc>,
    pub verdict: Verdict,
    pub why: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An operator started a failover.
    Operator,
    Transition,
    Rebinding,
    /// The verdict the dashboard showed changed.
    Verdict,
    /// How an operator's failover ended.
    Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContextLine {
    pub at: DateTime<Utc>,
    pub peer: String,
    pub source: &'static str,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    pub what: String,
    /// The merged log lines around the event, in order.
    pub lines: Vec<ContextLine>,
}

/// One takeover and its measured durations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Takeover {
    pub from: Option<String>,
    pub to: String,
    /// The old master left MASTER (stopped, faulted, went BACKUP).
    pub left_at: Option<DateTime<Utc>>,
    pub master_at: DateTime<Utc>,
    /// The cloud binding followed (HAVIP `FlushedTime`, the migration's
    /// `set done`, or vipdeck seeing it during a failover).
    pub bound_at: Option<DateTime<Utc>>,
    pub takeover_ms: Option<i64>,
    pub rebinding_ms: Option<i64>,
    /// The old master left → the service was back: the cloud bound to the
    /// new master, or later when the verdicts say it was still not (a
    /// drift, no MASTER, two) after that.
    pub interruption_ms: Option<i64>,
    /// The verdicts the dashboard showed from the takeover until healthy
    /// again (`degraded → vip_drift → healthy`), when it watched.
    pub verdicts: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub cluster: String,
    pub mode: &'static str,
    pub vip: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub verdict: &'static str,
    pub master: Option<String>,
    pub binding: Option<String>,
    pub alerts: Vec<String>,
    pub takeovers: Vec<Takeover>,
    pub events: Vec<Event>,
    /// The VIP as clients saw it: over the window from the probe's recent
    /// history, and during each failover from its record.
    pub clients: Clients,
}

/// The data-plane witness's part of the record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clients {
    /// Over the whole window, from the probe's history (the newest
    /// results only: a window longer than it is said, not guessed).
    pub window: Interruption,
    /// Each failover in the window that measured it.
    pub failovers: Vec<FailoverClients>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailoverClients {
    pub started: DateTime<Utc>,
    pub from: Option<String>,
    pub to: String,
    pub seen: Interruption,
}

/// Builds the record.
pub fn build(inputs: &Inputs) -> Incident {
    let c = inputs.cluster;
    let spec = &c.spec;
    let name = |p: usize| {
        spec.peers
            .get(p)
            .map_or("?".to_string(), |s| s.name.clone())
    };
    let in_window = |at: DateTime<Utc>| at >= inputs.since && at <= inputs.now;

    let mut events: Vec<Event> = Vec::new();
    // VRRP transitions: the watcher's and the logs' own, already merged.
    for t in c.timeline.iter().filter(|t| in_window(t.at)) {
        events.push(event(
            t.at,
            EventKind::Transition,
            match t.from {
                VrrpState::Unknown => format!("{} → {}", name(t.peer), t.to.as_str()),
                from => format!("{} {} → {}", name(t.peer), from.as_str(), t.to.as_str()),
            },
        ));
    }
    // Only this cluster's instance's lines: a shared log file also holds
    // the other instances'.
    let lines = own_lines(c, &inputs.lines);
    let rebinds = rebindings(inputs, &lines);
    for r in rebinds.iter().filter(|r| in_window(r.at)) {
        events.push(event(r.at, EventKind::Rebinding, r.what.clone()));
    }
    let mut shown: Option<Verdict> = None;
    for v in &inputs.verdicts {
        // Only changes: a face may hand the same verdict twice.
        if shown.replace(v.verdict) == Some(v.verdict) || !in_window(v.at) {
            continue;
        }
        let why = v.why.as_deref().map_or(String::new(), |w| format!(": {w}"));
        events.push(event(
            v.at,
            EventKind::Verdict,
            format!(
                "dashboard verdict {}{why}",
                v.verdict.as_str().to_ascii_uppercase()
            ),
        ));
    }
    for a in &inputs.actions {
        let from = a.from.as_deref().unwrap_or("?");
        events.push(event(
            a.started,
            EventKind::Operator,
            format!("{} started a {} failover {from} → {}", a.by, a.method, a.to),
        ));
        let ids = if a.request_ids.is_empty() {
            String::new()
        } else {
            format!(" (RequestId {})", a.request_ids.join(", "))
        };
        events.push(event(
            a.ended,
            EventKind::Outcome,
            format!("failover by {} ended: {}{ids}", a.by, a.outcome),
        ));
    }
    // Log times carry whole seconds, vipdeck's own milliseconds: within one
    // second go by cause — an operator's start, then VRRP, then the cloud
    // following, then the verdict it made, then the operator's end.
    events.sort_by_key(|e| (e.at.timestamp(), e.kind as u8, e.at));
    for e in &mut events {
        e.lines = context(&lines, e.at, &name);
    }

    let takeovers = takeovers(c, &rebinds, &inputs.verdicts, inputs.since, inputs.now);
    let a = inputs.assessment;
    let binding = c.cloud.binding.as_ref().map(|b| {
        let on = spec
            .peer_of_binding(&b.value)
            .map_or_else(|| "a peer outside this cluster".to_string(), name);
        let what = b
            .value
            .havip_id
            .clone()
            .or(b.value.network_interface_id.clone())
            .unwrap_or_default();
        safe_text(&format!("{what} on {on}"))
    });
    Incident {
        cluster: spec.name.clone(),
        mode: match spec.mode {
            Mode::Eni => "eni",
            Mode::Havip => "havip",
        },
        vip: spec.vip.clone(),
        since: inputs.since,
        until: inputs.now,
        verdict: a.verdict.as_str(),
        master: a.master.map(name),
        binding,
        alerts: a
            .alerts
            .iter()
            .map(|al| format!("{}: {}", al.severity.as_str(), safe_text(&al.message)))
            .collect(),
        takeovers,
        events,
        clients: clients_seen(inputs),
    }
}

/// What the probe saw over the window, and during each failover.
fn clients_seen(inputs: &Inputs) -> Clients {
    let dp = inputs.cluster.dataplane.as_ref();
    // The interval from the history itself: a face may hold the facts
    // without the config (attached to a collector).
    let interval = dp
        .and_then(interruption::typical_interval)
        .unwrap_or(std::time::Duration::from_secs(1));
    Clients {
        window: interruption::measure(dp, interval, inputs.since, inputs.now),
        failovers: inputs
            .actions
            .iter()
            .filter_map(|a| {
                Some(FailoverClients {
                    started: a.started,
                    from: a.from.clone(),
                    to: a.to.clone(),
                    seen: a.clients.clone()?,
                })
            })
            .collect(),
    }
}

fn event(at: DateTime<Utc>, kind: EventKind, what: String) -> Event {
    Event {
        at,
        kind,
        what: safe_text(&what),
        lines: Vec::new(),
    }
}

/// A time the cloud binding moved to a peer.
#[derive(Debug, Clone, PartialEq)]
struct Rebind {
    at: DateTime<Utc>,
    peer: Option<usize>,
    what: String,
}

/// Every sign that the cloud binding moved: the HAVIP's `FlushedTime`, a
/// migration's `set done` line (ENI mode only, written by the new master's
/// vip.py; an HAVIP follows gratuitous ARP, and a vip.py line on its hosts
/// is another instance's), and vipdeck's own failovers seeing the binding
/// arrive.
fn rebindings(inputs: &Inputs, lines: &[&Entry]) -> Vec<Rebind> {
    let c = inputs.cluster;
    let name = |p: usize| c.spec.peers[p].name.clone();
    let mut out = Vec::new();
    if let Some(b) = &c.cloud.binding {
        if let Some(at) = b.value.flushed_time {
            let peer = c.spec.peer_of_binding(&b.value);
            let on = peer.map_or_else(|| "a peer outside this cluster".into(), name);
            out.push(Rebind {
                at,
                peer,
                what: format!(
                    "cloud rebound HAVIP {} to {on} (FlushedTime)",
                    b.value.havip_id.as_deref().unwrap_or("?")
                ),
            });
        }
    }
    let migrations = lines.iter().filter(|e| {
        c.spec.mode == Mode::Eni
            && e.kind == LogKind::VipMigration
            && e.severity == Severity::Info
            && says_bound(&e.text)
    });
    for e in migrations {
        out.push(Rebind {
            at: e.at,
            peer: Some(e.peer),
            what: format!(
                "cloud binding moved to {} (its vip.py: set done)",
                name(e.peer)
            ),
        });
    }
    for a in &inputs.actions {
        if let Some(at) = a.bound_at {
            out.push(Rebind {
                at,
                peer: c.spec.peers.iter().position(|p| p.name == a.to),
                what: format!("vipdeck saw the cloud binding on {}", a.to),
            });
        }
    }
    out.sort_by_key(|r| r.at);
    out
}

/// The lines of the cluster's own instance ([`owner`]); a notify script's
/// line either instance could have written goes with the instance whose
/// keepalived entered that state on that peer around then.
fn own_lines<'a>(c: &ClusterSnapshot, lines: &[&'a Entry]) -> Vec<&'a Entry> {
    let conf = |peer: usize| {
        c.peers
            .get(peer)
            .and_then(|p| p.config.as_ref())
            .map(|f| &f.value)
    };
    let eni = c.spec.mode == Mode::Eni;
    lines
        .iter()
        .copied()
        .filter(|e| {
            let writer = writer_of(e.kind, e.state, &e.text);
            match owner(
                &e.text,
                writer,
                eni,
                conf(e.peer).map(ConfigSummary::instances),
            ) {
                Owner::Ours => true,
                Owner::Theirs => false,
                Owner::Either => conf(e.peer).is_none_or(|ours| {
                    let nearby = lines
                        .iter()
                        .map(|k| (k.peer, k.text.as_str(), k.state, k.at));
                    // Unclaimed by any instance's own line: kept.
                    either_is_ours(e.peer, e.state, e.at, nearby, &ours.instance).unwrap_or(true)
                }),
            }
        })
        .collect()
}

/// vip.py's line for a finished migration.
fn says_bound(text: &str) -> bool {
    text.to_ascii_lowercase().trim_end().ends_with("set done")
}

/// Each time a peer became MASTER: when the old master left, when the
/// cloud followed, and the durations between.
fn takeovers(
    c: &ClusterSnapshot,
    rebinds: &[Rebind],
    verdicts: &[VerdictChange],
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<Takeover> {
    let name = |p: usize| c.spec.peers[p].name.clone();
    let mut out = Vec::new();
    let tl: Vec<_> = c.timeline.iter().collect();
    for (i, t) in tl.iter().enumerate() {
        if t.to != VrrpState::Master || t.at < since || t.at > now {
            continue;
        }
        let other = 1 - t.peer.min(1);
        // The other peer's last exit from MASTER shortly before (or, at
        // whole-second resolution, just after) this MASTER.
        let left = tl
            .iter()
            .filter(|o| {
                o.peer == other
                    && o.from == VrrpState::Master
                    && o.at <= t.at + LOG_RESOLUTION
                    && o.at >= t.at - TAKEOVER_SPAN
            })
            .map(|o| o.at)
            .max();
        // Up to this peer's next exit from MASTER, whatever came first.
        let until = tl[i + 1..]
            .iter()
            .find(|o| o.peer == t.peer && o.from == VrrpState::Master)
            .map_or(t.at + TAKEOVER_SPAN, |o| o.at);
        let bound = rebinds
            .iter()
            .find(|r| r.peer == Some(t.peer) && r.at >= t.at - LOG_RESOLUTION && r.at <= until)
            .map(|r| r.at);
        let ms = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| match (a, b) {
            (Some(a), Some(b)) => Some((b - a).num_milliseconds().max(0)),
            _ => None,
        };
        let seen = verdicts_after(verdicts, left.unwrap_or(t.at), until);
        out.push(Takeover {
            from: left.map(|_| name(other)),
            to: name(t.peer),
            left_at: left,
            master_at: t.at,
            bound_at: bound,
            takeover_ms: ms(left, Some(t.at)),
            rebinding_ms: ms(Some(t.at), bound),
            interruption_ms: ms(left, service_back(&seen, bound)),
            verdicts: seen.iter().map(|v| v.verdict.as_str()).collect(),
        });
    }
    out
}

/// The verdicts shown from `from` (the one in force then first) up to
/// the first healthy one, none after `until`; none when the dashboard was
/// not watching yet at `from` (its start-up is not the takeover's).
fn verdicts_after(
    verdicts: &[VerdictChange],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<&VerdictChange> {
    let Some(first) = verdicts.iter().rposition(|v| v.at <= from) else {
        return Vec::new();
    };
    let mut out: Vec<&VerdictChange> = Vec::new();
    for v in verdicts.iter().skip(first).filter(|v| v.at <= until) {
        if out.last().is_some_and(|l| l.verdict == v.verdict) {
            continue;
        }
        out.push(v);
        if v.verdict == Verdict::Healthy && out.len() > 1 {
            break;
        }
    }
    // The healthy verdict before the takeover is not part of it.
    if out.first().is_some_and(|v| v.verdict == Verdict::Healthy) && out.len() > 1 {
        out.remove(0);
    }
    out
}

/// When the service was back after a takeover: the cloud bound to the new
/// master; unknown that, when the dashboard's verdict was healthy again
/// after it showed the cluster out of service (a drift, no MASTER, two).
fn service_back(seen: &[&VerdictChange], bound: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    if bound.is_some() {
        return bound;
    }
    let out_of_service = |v: Verdict| {
        matches!(
            v,
            Verdict::VipDrift | Verdict::NoMaster | Verdict::SplitBrain
        )
    };
    let last_out = seen.iter().rposition(|v| out_of_service(v.verdict))?;
    seen.get(last_out + 1).map(|v| v.at)
}

/// The merged lines within [`CONTEXT`] of `at`, in their merged order:
/// repeats of one message (a GARP burst) folded into one line, and when
/// still too many, the transitions and errors kept before the nearest of
/// the rest.
fn context(
    lines: &[&Entry],
    at: DateTime<Utc>,
    name: &dyn Fn(usize) -> String,
) -> Vec<ContextLine> {
    // (merged index, entry, repeats)
    let mut near: Vec<(usize, &Entry, usize)> = Vec::new();
    for (i, e) in lines.iter().enumerate() {
        if e.noise || (e.at - at).abs() > CONTEXT {
            continue;
        }
        let msg = message_of(&e.text);
        let repeat = near.iter_mut().rev().find(|(_, p, _)| p.peer == e.peer);
        match repeat {
            Some((_, p, n)) if message_of(&p.text) == msg => *n += 1,
            _ => near.push((i, e, 1)),
        }
    }
    if near.len() > CONTEXT_LINES {
        near.sort_by_key(|(i, e, _)| (!e.is_important(), (e.at - at).abs(), *i));
        near.truncate(CONTEXT_LINES);
        near.sort_by_key(|(i, _, _)| *i);
    }
    near.into_iter()
        .map(|(_, e, n)| {
            let msg = safe_text(message_of(&e.text));
            ContextLine {
                at: e.at,
                peer: name(e.peer),
                source: source_name(e.source),
                text: if n > 1 { format!("{msg} (×{n})") } else { msg },
            }
        })
        .collect()
}

// ------------------------------------------------------------------ text

fn hms(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

fn secs(ms: Option<i64>) -> String {
    ms.map_or("—".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0))
}

/// A code fence longer than any run of backticks in `body`.
fn fence(body: &[String]) -> String {
    let longest = body
        .iter()
        .map(|l| l.split(|ch| ch != '`').map(str::len).max().unwrap_or(0))
        .max()
        .unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// Markdown cells: no pipes or newlines from peer text.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The record as Markdown, for a postmortem.
pub fn markdown(i: &Incident) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "# Incident record: {} ({}, VIP {})\n\n",
        i.cluster, i.mode, i.vip
    ));
    s.push_str(&format!(
        "Window: {} – {} (UTC). Log times carry whole seconds.\n\n",
        i.since.format("%Y-%m-%d %H:%M:%S"),
        i.until.format("%Y-%m-%d %H:%M:%S")
    ));
    s.push_str(&format!(
        "Now: **{}** · MASTER {} · cloud binding {}\n\n",
        i.verdict,
        i.master.as_deref().unwrap_or("none known"),
        i.binding.as_deref().unwrap_or("not known")
    ));
    s.push_str("## Takeovers\n\n");
    if i.takeovers.is_empty() {
        s.push_str("No peer became MASTER in the window.\n\n");
    } else {
        s.push_str("| old master left | new master | MASTER at | cloud bound | takeover | rebinding | interruption | dashboard showed |\n");
        s.push_str("|---|---|---|---|---|---|---|---|\n");
        for t in &i.takeovers {
            let shown = if t.verdicts.is_empty() {
                "—".to_string()
            } else {
                t.verdicts.join(" → ")
            };
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {shown} |\n",
                t.left_at.map_or("—".into(), |a| {
                    format!("{} {}", t.from.as_deref().unwrap_or("?"), hms(a))
                }),
                cell(&t.to),
                hms(t.master_at),
                t.bound_at.map_or("not seen".into(), hms),
                secs(t.takeover_ms),
                secs(t.rebinding_ms),
                secs(t.interruption_ms),
            ));
        }
        s.push('\n');
    }
    clients_markdown(&mut s, &i.clients);
    s.push_str("## Timeline\n\n");
    if i.events.is_empty() {
        s.push_str("Nothing happened in the window.\n\n");
    } else {
        s.push_str("| time | kind | what |\n|---|---|---|\n");
        for e in &i.events {
            let kind = match e.kind {
                EventKind::Transition => "VRRP",
                EventKind::Rebinding => "cloud",
                EventKind::Verdict => "verdict",
                EventKind::Operator | EventKind::Outcome => "operator",
            };
            s.push_str(&format!("| {} | {kind} | {} |\n", hms(e.at), cell(&e.what)));
        }
        s.push('\n');
    }
    s.push_str("## Alerts now\n\n");
    if i.alerts.is_empty() {
        s.push_str("None.\n\n");
    } else {
        for a in &i.alerts {
            s.push_str(&format!("- {a}\n"));
        }
        s.push('\n');
    }
    if !i.events.is_empty() {
        s.push_str("## Log lines around each event\n\n");
    }
    for e in &i.events {
        s.push_str(&format!("### {} {}\n\n", hms(e.at), e.what));
        if e.lines.is_empty() {
            s.push_str("No log lines within 5 s.\n\n");
            continue;
        }
        let width = e.lines.iter().map(|l| l.peer.len()).max().unwrap_or(0);
        let body: Vec<String> = e
            .lines
            .iter()
            .map(|l| format!("{} {:width$} {:6} {}", hms(l.at), l.peer, l.source, l.text))
            .collect();
        let f = fence(&body);
        s.push_str(&format!("{f}text\n"));
        for l in &body {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str(&format!("{f}\n\n"));
    }
    s
}

/// The clients' section: the window, then each failover's measurement,
/// beside the control-plane durations of the takeovers above.
fn clients_markdown(s: &mut String, c: &Clients) {
    s.push_str("## Clients (the data-plane probe)\n\n");
    s.push_str(&format!("- Window: {}\n", cell(&c.window.line())));
    for f in &c.failovers {
        s.push_str(&format!(
            "- Failover {} → {} at {}: {}\n",
            cell(&safe_text(f.from.as_deref().unwrap_or("?"))),
            cell(&safe_text(&f.to)),
            hms(f.started),
            cell(&f.seen.line())
        ));
    }
    s.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::logs::LogStore;
    use crate::core::model::*;
    use crate::core::verdict::{assess, Thresholds};

    fn at(s: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-11-30T02:00:{s:02}Z"))
            .expect("a valid time")
            .with_timezone(&Utc)
    }

    fn spec(mode: Mode) -> ClusterSpec {
        let peer = |n: &str, eni: &str| PeerSpec {
            name: n.into(),
            address: "sim".into(),
            network_interface_id: Some(eni.into()),
            instance_id: None,
        };
        ClusterSpec {
            name: "web".into(),
            mode,
            vip: "198.51.100.100".into(),
            havip_id: (mode == Mode::Havip).then(|| "havip-1".into()),
            peers: [peer("node-a", "eni-a"), peer("node-b", "eni-b")],
        }
    }

    fn line(peer: usize, s: u32, source: LogSource, text: &str) -> Update {
        Update::Log {
            cluster: 0,
            line: crate::core::keepalived::logline::parse_line(
                text.as_bytes(),
                chrono::FixedOffset::east_opt(0).expect("UTC"),
                at(s),
            )
            .to_log_line(peer, source, at(s)),
        }
    }

    /// node-a stops at :10, node-b is MASTER at :13, the cloud follows at
    /// :15 — fed in an order that is not the time order.
    fn world(mode: Mode) -> (Snapshot, LogStore) {
        let mut snap = Snapshot::new(vec![spec(mode)]);
        let mut store = LogStore::new(1000);
        let mut updates = vec![
            line(1, 13, LogSource::Daemon, "(VI_1) Entering MASTER STATE"),
            line(0, 5, LogSource::Daemon, "(VI_1) Entering MASTER STATE"),
            line(0, 10, LogSource::Daemon, "Stopping"),
            line(
                0,
                10,
                LogSource::Script,
                "[2026-11-30 02:00:10]  notify_stop",
            ),
            line(1, 6, LogSource::Daemon, "(VI_1) Entering BACKUP STATE"),
            line(
                1,
                14,
                LogSource::Script,
                "[2026-11-30 02:00:14]  try set vip.",
            ),
        ];
        if mode == Mode::Eni {
            updates.push(line(
                1,
                15,
                LogSource::Script,
                "[2026-11-30 02:00:15]  set done",
            ));
        }
        for u in updates {
            if let Update::Log { line, .. } = &u {
                store.push(0, line.clone());
            }
            snap.apply(u);
        }
        snap.apply(Update::Cloud {
            cluster: 0,
            at: at(20),
            result: Ok(CloudBinding {
                network_interface_id: Some("eni-b".into()),
                havip_id: (mode == Mode::Havip).then(|| "havip-1".into()),
                flushed_time: (mode == Mode::Havip).then(|| at(15)),
                ..CloudBinding::default()
            }),
            credential_source: None,
        });
        (snap, store)
    }

    /// The record of `snap`'s cluster over :00–:21.
    fn record_of(snap: &Snapshot, store: &LogStore, actions: Vec<Action>) -> Incident {
        let c = &snap.clusters[0];
        let a = assess(c, at(21), &Thresholds::default());
        let refs = store.merged(0, &crate::core::logs::Filter::default());
        let lines = refs.iter().filter_map(|r| store.get(0, *r)).collect();
        build(&Inputs {
            cluster: c,
            assessment: &a,
            lines,
            actions,
            verdicts: Vec::new(),
            since: at(0),
            now: at(21),
        })
    }

    fn record(mode: Mode) -> Incident {
        let (snap, store) = world(mode);
        record_of(&snap, &store, Vec::new())
    }

    #[test]
    fn a_takeover_is_measured_in_both_modes() {
        for mode in [Mode::Havip, Mode::Eni] {
            let i = record(mode);
            let t = i.takeovers.last().expect("a takeover");
            assert_eq!(t.to, "node-b", "{mode:?}");
            assert_eq!(t.from.as_deref(), Some("node-a"), "{mode:?}");
            assert_eq!(t.takeover_ms, Some(3000), "{mode:?}");
            assert_eq!(t.rebinding_ms, Some(2000), "{mode:?}");
            assert_eq!(t.interruption_ms, Some(5000), "{mode:?}");
        }
    }

    #[test]
    fn events_are_in_time_order_with_their_lines() {
        let i = record(Mode::Havip);
        let times: Vec<_> = i.events.iter().map(|e| e.at).collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted);
        let whats: Vec<&str> = i.events.iter().map(|e| e.what.as_str()).collect();
        let stop = whats
            .iter()
            .position(|w| w.contains("node-a MASTER → STOP"));
        let master = whats
            .iter()
            .position(|w| w.contains("node-b BACKUP → MASTER"));
        let bound = whats.iter().position(|w| w.contains("FlushedTime"));
        assert!(stop < master && master < bound, "{whats:#?}");
        let takeover = &i.events[master.expect("the takeover")];
        let texts: Vec<&str> = takeover.lines.iter().map(|l| l.text.as_str()).collect();
        let a = texts.iter().position(|t| t.contains("notify_stop"));
        let b = texts.iter().position(|t| t.contains("Entering MASTER"));
        assert!(a.is_some() && a < b, "{texts:#?}");
    }

    #[test]
    fn an_operator_start_goes_before_what_it_caused_in_the_same_second() {
        let (snap, store) = world(Mode::Eni);
        let half = chrono::Duration::milliseconds(500);
        let i = record_of(
            &snap,
            &store,
            vec![Action {
                // Logged at :10.5, after node-a's stop line stamped :10.
                started: at(10) + half,
                ended: at(15) + half,
                by: "ops@jump1".into(),
                method: "graceful".into(),
                from: Some("node-a".into()),
                to: "node-b".into(),
                outcome: "moved and verified".into(),
                request_ids: vec!["req-1".into()],
                bound_at: Some(at(15)),
                clients: Some(Interruption::Interrupted {
                    first_failed: at(11),
                    first_good: at(14),
                    duration_ms: 3000,
                    failed_probes: 3,
                    gaps: 1,
                    node_before: Some("node-a".into()),
                    node_after: Some("node-b\x1b[2J".into()),
                    down_at_start: false,
                    probe_interval_ms: 1000,
                }),
            }],
        );
        let whats: Vec<&str> = i.events.iter().map(|e| e.what.as_str()).collect();
        let started = whats.iter().position(|w| w.contains("ops@jump1 started"));
        let stop = whats
            .iter()
            .position(|w| w.contains("node-a MASTER → STOP"));
        let bound = whats.iter().position(|w| w.contains("set done"));
        let ended = whats.iter().position(|w| w.contains("RequestId req-1"));
        assert!(started < stop && bound < ended, "{whats:#?}");
        // The failover's measured interruption (from its record) is in the
        // clients' section beside the takeovers, its node name cleaned; the
        // world has no probe, so the window says so.
        assert_eq!(i.clients.window, Interruption::NoProbe);
        let md = markdown(&i);
        let section = md
            .split("## Clients (the data-plane probe)")
            .nth(1)
            .expect("a clients section");
        assert!(
            section.contains("Window: clients: no probe configured"),
            "{md}"
        );
        assert!(
            section.contains(
                "Failover node-a → node-b at 02:00:10: clients: interrupted 3.0 s \
                 (first failed 02:00:11.000, first good 02:00:14.000, 3 probes failed"
            ),
            "{md}"
        );
        assert!(!md.contains('\x1b'), "{md}");
    }

    /// The probe's history over the window: an outage in it is measured
    /// for the record.
    #[test]
    fn the_window_has_the_interruption_the_probe_saw() {
        use crate::core::dataplane::{Dataplane, NoAnswer, ProbeOutcome, ProbeResult};
        let (mut snap, store) = world(Mode::Havip);
        let mut dp = Dataplane::default();
        for (sec, ok) in [
            (1, true),
            (2, true),
            (3, false),
            (4, false),
            (5, true),
            (6, true),
        ] {
            dp.record(ProbeResult {
                at: at(sec),
                outcome: if ok {
                    ProbeOutcome::Answered {
                        rtt: std::time::Duration::from_millis(1),
                        node: None,
                    }
                } else {
                    ProbeOutcome::NoAnswer(NoAnswer::Timeout(std::time::Duration::from_millis(800)))
                },
            });
        }
        snap.clusters[0].dataplane = Some(dp);
        let i = record_of(&snap, &store, Vec::new());
        assert_eq!(
            i.clients.window.duration(),
            Some(std::time::Duration::from_secs(2))
        );
        assert!(markdown(&i).contains("Window: clients: interrupted 2.0 s"));
    }

    #[test]
    fn markdown_keeps_peer_text_inside_its_block() {
        let (mut snap, mut store) = world(Mode::Havip);
        let evil = "```\n# injected\x1b[31m | cell";
        let u = line(1, 13, LogSource::Script, evil);
        if let Update::Log { line, .. } = &u {
            store.push(0, line.clone());
        }
        snap.apply(u);
        let md = markdown(&record_of(&snap, &store, Vec::new()));
        assert!(!md.contains('\x1b'));
        assert!(!md.lines().any(|l| l.starts_with("# injected")), "{md}");
        assert!(md.contains("````text"), "a longer fence: {md}");
    }

    /// One pair of hosts, two instances writing to one keepalived.log:
    /// the HAVIP `VI_1` (its notify script logs only) and the ENI `VI_2`
    /// (notify_action.sh runs vip.py). `ours` is the instance the
    /// cluster is about.
    fn two_instances(mode: Mode) -> (Snapshot, LogStore) {
        two_instances_in(mode, false)
    }

    /// `script_first`: each second's script lines reach vipdeck before
    /// keepalived's own (two followers, either may be first).
    fn two_instances_in(mode: Mode, script_first: bool) -> (Snapshot, LogStore) {
        let (ours, theirs) = match mode {
            Mode::Havip => ("VI_1", "VI_2"),
            Mode::Eni => ("VI_2", "VI_1"),
        };
        let script = |i: &str| {
            if i == "VI_1" {
                "/etc/keepalived/havip_notify.sh"
            } else {
                "/etc/keepalived/notify_action.sh"
            }
        };
        let mut snap = Snapshot::new(vec![spec(mode)]);
        for peer in 0..2 {
            snap.apply(Update::Peer {
                cluster: 0,
                peer,
                observation: PeerObservation {
                    at: at(0),
                    reachable: Some(true),
                    config: Some(ConfigSummary {
                        instance: ours.into(),
                        notify_scripts: vec![script(ours).into()],
                        other_instances: vec![(theirs.into(), vec![script(theirs).into()])],
                        ..ConfigSummary::default()
                    }),
                    ..PeerObservation::default()
                },
            });
        }
        let d = |s: u32, msg: &str| format!("Nov 30 02:00:{s:02} h Keepalived_vrrp[812]: {msg}");
        let sc = |s: u32, msg: &str| format!("[2026-11-30 02:00:{s:02}]  {msg}");
        let py = |s: u32, msg: &str| format!("[2026-11-30 02:00:{s:02}][pid4321]  {msg}");
        use LogSource::{Daemon, Script};
        let lines = [
            (0, 5, Daemon, d(5, "(VI_1) Entering MASTER STATE")),
            (0, 5, Daemon, d(5, "(VI_2) Entering MASTER STATE")),
            (1, 6, Daemon, d(6, "(VI_1) Entering BACKUP STATE")),
            (1, 6, Daemon, d(6, "(VI_2) Entering BACKUP STATE")),
            // VI_1's track script fails on node-a: node-b takes VI_1 over.
            (0, 10, Daemon, d(10, "(VI_1) Entering FAULT STATE")),
            (0, 10, Script, sc(10, "notify_fault")),
            (1, 13, Daemon, d(13, "(VI_1) Entering MASTER STATE")),
            (1, 13, Script, sc(13, "notify_master")),
            // Later VI_2 follows; its vip.py migrates the ENI address.
            (0, 20, Daemon, d(20, "(VI_2) Entering BACKUP STATE")),
            (0, 20, Script, sc(20, "notify_backup")),
            (1, 20, Daemon, d(20, "(VI_2) Entering MASTER STATE")),
            (1, 20, Script, sc(20, "notify_master")),
            (1, 20, Script, py(20, "try set vip.")),
            (
                1,
                20,
                Script,
                py(20, r#" call ret {"Response": {"RequestId": "req-vi2"}}"#),
            ),
            (1, 21, Script, py(21, "set done")),
        ];
        let mut lines = lines.to_vec();
        if script_first {
            lines.sort_by_key(|(_, s, source, _)| (*s, *source == Daemon));
        }
        let mut store = LogStore::new(1000);
        for (peer, s, source, text) in lines {
            let u = line(peer, s, source, &text);
            if let Update::Log { line, .. } = &u {
                store.push(0, line.clone());
            }
            snap.apply(u);
        }
        // The HAVIP followed node-b only at :30 (a forced re-announce).
        snap.apply(Update::Cloud {
            cluster: 0,
            at: at(31),
            result: Ok(CloudBinding {
                network_interface_id: Some("eni-b".into()),
                havip_id: (mode == Mode::Havip).then(|| "havip-1".into()),
                flushed_time: (mode == Mode::Havip).then(|| at(30)),
                ..CloudBinding::default()
            }),
            credential_source: None,
        });
        (snap, store)
    }

    /// What the dashboard showed through the HAVIP takeover.
    fn shown() -> Vec<VerdictChange> {
        let v = |s: u32, verdict: Verdict, why: Option<&str>| VerdictChange {
            at: at(s),
            verdict,
            why: why.map(str::to_string),
        };
        vec![
            v(1, Verdict::Healthy, None),
            v(
                11,
                Verdict::Degraded,
                Some("converging: the HAVIP has not followed yet"),
            ),
            v(
                24,
                Verdict::VipDrift,
                Some("cloud binding is on node-a, VRRP master is node-b"),
            ),
            v(26, Verdict::Degraded, Some("node-a is FAULT")),
            v(
                27,
                Verdict::VipDrift,
                Some("cloud binding is on node-a, VRRP master is node-b"),
            ),
            v(32, Verdict::Healthy, None),
        ]
    }

    fn two_instance_record(mode: Mode, verdicts: Vec<VerdictChange>) -> Incident {
        two_instance_record_in(mode, verdicts, false)
    }

    fn two_instance_record_in(
        mode: Mode,
        verdicts: Vec<VerdictChange>,
        script_first: bool,
    ) -> Incident {
        let (snap, store) = two_instances_in(mode, script_first);
        let c = &snap.clusters[0];
        let a = assess(c, at(40), &Thresholds::default());
        let refs = store.merged(0, &crate::core::logs::Filter::default());
        build(&Inputs {
            cluster: c,
            assessment: &a,
            lines: refs.iter().filter_map(|r| store.get(0, *r)).collect(),
            actions: Vec::new(),
            verdicts,
            since: at(0),
            now: at(40),
        })
    }

    #[test]
    fn an_havip_record_takes_its_rebinding_from_flushed_time_not_the_eni_instances_vip_py() {
        let i = two_instance_record(Mode::Havip, shown());
        let t = i.takeovers.last().expect("node-b's takeover");
        assert_eq!(
            (t.from.as_deref(), t.to.as_str()),
            (Some("node-a"), "node-b")
        );
        assert_eq!(t.bound_at, Some(at(30)), "FlushedTime, not VI_2's set done");
        assert_eq!(t.rebinding_ms, Some(17_000));
        assert_eq!(t.interruption_ms, Some(20_000));
        // None of VI_2's lines is quoted, as an event or around one.
        for e in &i.events {
            assert!(!e.what.contains("set done"), "{}", e.what);
            for l in &e.lines {
                for theirs in ["VI_2", "set vip", "set done", "call ret", "notify_backup"] {
                    assert!(
                        !l.text.contains(theirs),
                        "{theirs} in {}: {}",
                        e.what,
                        l.text
                    );
                }
            }
        }
        // VI_2's own transitions are not VI_1's history.
        assert!(
            !i.events.iter().any(|e| e.at == at(20)),
            "{:#?}",
            i.events
                .iter()
                .map(|e| (&e.at, &e.what))
                .collect::<Vec<_>>()
        );
        // VI_1's own notify lines are.
        let master = i
            .events
            .iter()
            .find(|e| e.what.contains("node-b BACKUP → MASTER"))
            .expect("VI_1's takeover");
        assert!(
            master.lines.iter().any(|l| l.text == "notify_master"),
            "{master:#?}"
        );
    }

    #[test]
    fn the_eni_instance_on_the_same_hosts_keeps_its_own_vip_py_lines() {
        for script_first in [false, true] {
            let i = two_instance_record_in(Mode::Eni, Vec::new(), script_first);
            let t = i.takeovers.last().expect("VI_2's takeover");
            assert_eq!(t.master_at, at(20), "script first: {script_first}");
            assert_eq!(t.bound_at, Some(at(21)), "its vip.py set done");
            assert_eq!(t.rebinding_ms, Some(1000));
            assert!(
                !i.events.iter().any(|e| e.at == at(13) || e.at == at(10)),
                "VI_1's transitions are not VI_2's (script first: {script_first}): {:#?}",
                i.events
                    .iter()
                    .map(|e| (&e.at, &e.what))
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn the_verdicts_the_dashboard_showed_are_on_the_timeline_and_agree_with_the_interruption() {
        let i = two_instance_record(Mode::Havip, shown());
        let verdicts: Vec<(DateTime<Utc>, &str)> = i
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Verdict)
            .map(|e| (e.at, e.what.as_str()))
            .collect();
        let words: Vec<&str> = verdicts
            .iter()
            .map(|(_, w)| {
                w.split_whitespace()
                    .nth(2)
                    .unwrap_or("")
                    .trim_end_matches(':')
            })
            .collect();
        assert_eq!(
            words,
            [
                "HEALTHY",
                "DEGRADED",
                "VIP_DRIFT",
                "DEGRADED",
                "VIP_DRIFT",
                "HEALTHY"
            ]
        );
        assert!(
            verdicts[2].1.contains("cloud binding is on node-a"),
            "{verdicts:?}"
        );
        let t = i.takeovers.last().expect("node-b's takeover");
        assert_eq!(
            t.verdicts,
            ["degraded", "vip_drift", "degraded", "vip_drift", "healthy"]
        );
        // The interruption ends when the cloud followed: within the time
        // the dashboard showed the cluster out of service, never before
        // its last drift began.
        let end = t.left_at.expect("left")
            + chrono::Duration::milliseconds(t.interruption_ms.expect("measured"));
        assert!(end >= at(27) && end <= at(32), "{end}");
        let md = markdown(&i);
        assert!(
            md.contains("| verdict | dashboard verdict VIP_DRIFT"),
            "{md}"
        );
        assert!(
            md.contains("degraded → vip_drift → degraded → vip_drift → healthy |"),
            "{md}"
        );
    }

    #[test]
    fn without_a_cloud_time_the_interruption_ends_when_the_dashboard_was_healthy_again() {
        let (mut snap, store) = two_instances(Mode::Havip);
        snap.clusters[0].cloud = CloudFacts::default();
        let c = &snap.clusters[0];
        let a = assess(c, at(40), &Thresholds::default());
        let refs = store.merged(0, &crate::core::logs::Filter::default());
        let i = build(&Inputs {
            cluster: c,
            assessment: &a,
            lines: refs.iter().filter_map(|r| store.get(0, *r)).collect(),
            actions: Vec::new(),
            verdicts: shown(),
            since: at(0),
            now: at(40),
        });
        let t = i.takeovers.last().expect("node-b's takeover");
        assert_eq!(t.bound_at, None);
        assert_eq!(
            t.interruption_ms,
            Some(22_000),
            "from :10 to the healthy :32"
        );
    }
}
