//! Both peers' keepalived logs as one story: bounded ring buffers per
//! (cluster, peer, source), a merged view ordered by time, filters, search,
//! export, and the `vipdeck logs` command.
//!
//! Each stream (one peer's script log or daemon log) keeps at most `cap`
//! lines and `cap` × 512 bytes of text, a line at most 8 KiB; the oldest
//! go first. A stream's lines keep the order they were
//! written in even when the peer's clock jumps back: each line's merge key
//! is its time, raised to the previous line's key when it would go
//! backwards. The merged view is a k-way merge of the streams by that key,
//! so the two peers' lines interleave by time while each peer's own order
//! is never changed, whatever the clock skew between them.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use regex::{Regex, RegexBuilder};

use crate::core::keepalived::logline;
use crate::core::model::{ClusterSpec, LogKind, LogLine, LogSource, Severity, VrrpState};

// ------------------------------------------------------------ line helpers

/// Lines keepalived writes each time vipdeck asks it for a state dump;
/// hidden from log views so polling does not drown the story. Same rule
/// as the parser's ([`logline::is_dump_noise_message`]), on a whole line.
pub fn is_dump_noise(text: &str) -> bool {
    logline::is_dump_noise_message(message_of(text).trim_end())
}

/// The message of a log line without the timestamp and program prefix the
/// view already shows: `[2026-11-21 22:44:01]  notify_master` → `notify_master`,
/// `Nov 21 22:44:01 host Keepalived_vrrp[12]: (VI_1) …` → `(VI_1) …`,
/// `Sat Nov 21 23:55:55 2026: (VI_1) …` (keepalived's console) → `(VI_1) …`.
pub(crate) fn message_of(text: &str) -> &str {
    if let Some(rest) = text.strip_prefix('[') {
        // Script lines: `[date time]` then an optional `[pidN]`.
        if let Some(end) = rest.find(']') {
            let mut msg = &rest[end + 1..];
            if let Some(r) = msg.strip_prefix("[pid") {
                if let Some(e) = r.find(']') {
                    msg = &r[e + 1..];
                }
            }
            return msg.trim_start();
        }
    }
    // Syslog and journal lines: the message follows the first "]: " after
    // the program name.
    if let Some(pos) = text.find("]: ") {
        return &text[pos + 3..];
    }
    // keepalived's console form: `Sat Nov 21 23:55:55 2026: msg`.
    let b = text.as_bytes();
    if b.len() >= 26
        && b[3] == b' '
        && b[24] == b':'
        && b[25] == b' '
        && b[20..24].iter().all(u8::is_ascii_digit)
        && text.is_char_boundary(26)
    {
        return &text[26..];
    }
    text
}

/// The longest line shown; the line as kept (up to [`LINE_KEEP_MAX`]
/// bytes) goes to export.
pub const DISPLAY_MAX: usize = 512;

/// Text from a peer made safe for a terminal by [`crate::core::sanitize`]
/// (escape sequences, controls and bidi controls shown as placeholders),
/// cut at [`DISPLAY_MAX`].
pub fn display_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(DISPLAY_MAX));
    for (n, ch) in text.chars().enumerate() {
        if n == DISPLAY_MAX {
            out.push('…');
            break;
        }
        out.push(crate::core::sanitize::clean_char(ch));
    }
    out
}

/// Like [`display_text`] but whole: for printing to a terminal that may
/// be a pipe (`vipdeck logs | less`).
pub(crate) fn safe_text(text: &str) -> String {
    crate::core::sanitize::clean(text)
}

/// Parses a stream's raw lines (a file's content, as `tail` would send
/// them) the way the followers do: blank lines dropped, lines without a
/// time inherit the previous line's (the first, `fallback`).
pub fn parse_stream(
    raw: &[u8],
    peer: usize,
    source: LogSource,
    offset: FixedOffset,
    fallback: DateTime<Utc>,
) -> Vec<LogLine> {
    let mut last = fallback;
    raw.split(|b| *b == b'\n')
        .filter_map(|bytes| {
            let p = logline::parse_line(bytes, offset, fallback);
            if p.line.trim().is_empty() {
                return None;
            }
            let l = p.to_log_line(peer, source, last);
            last = l.at;
            Some(l)
        })
        .collect()
}

// -------------------------------------------------------------- the store

/// One stored line. `text` is the whole line as received (lossily
/// decoded); views cut it, exports do not.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub peer: usize,
    pub source: LogSource,
    /// The time in the line (or the previous line's, or the receive time).
    pub at: DateTime<Utc>,
    /// Merge key in ms: `at`, never below the previous line's key in the
    /// same stream.
    pub key: i64,
    /// Arrival order across the whole store: breaks ties between streams.
    pub(crate) seq: u64,
    pub kind: LogKind,
    pub severity: Severity,
    /// The state a transition line announces (`Entering MASTER STATE`,
    /// `notify_master`).
    pub state: Option<VrrpState>,
    /// A line written because vipdeck asked keepalived for a dump.
    pub noise: bool,
    pub text: String,
}

impl Entry {
    /// Transitions and errors: what `T` keeps.
    pub fn is_important(&self) -> bool {
        self.state.is_some()
            || matches!(self.kind, LogKind::Transition | LogKind::Error)
            || self.severity >= Severity::Warning
    }

    /// The merged view's order: time, then within the same millisecond
    /// keepalived's own lines before the script lines (keepalived logs a
    /// transition, then runs the notify script; two ssh streams deliver
    /// them in no particular order), then arrival.
    pub fn order(&self) -> (i64, u8, u64) {
        let rank = match self.source {
            LogSource::Daemon => 0,
            LogSource::Script => 1,
        };
        (self.key, rank, self.seq)
    }

    /// A line that marks a VRRP state change (`[`/`]` jump between them).
    pub(crate) fn is_transition(&self) -> bool {
        self.state.is_some()
    }
}

/// The parser's severity for the message, at least Warning for an error
/// line and for FAULT/STOP.
fn severity_of(kind: LogKind, state: Option<VrrpState>, source: LogSource, text: &str) -> Severity {
    let worded = logline::severity_of_message(message_of(text).trim(), source == LogSource::Script);
    let floor = match (kind, state) {
        (_, Some(VrrpState::Fault | VrrpState::Stop)) | (LogKind::Error, _) => Severity::Warning,
        _ => Severity::Info,
    };
    worded.max(floor)
}

pub const DEFAULT_CAP: usize = 100_000;

/// Streams per cluster: peer 0/1 × script/daemon.
pub(crate) const STREAMS: usize = 4;

fn stream_index(peer: usize, source: LogSource) -> usize {
    peer * 2
        + match source {
            LogSource::Script => 0,
            LogSource::Daemon => 1,
        }
}

#[derive(Debug, Default)]
struct Stream {
    lines: VecDeque<Entry>,
    /// Absolute index of `lines[0]`: a [`LineRef`] stays valid (or clearly
    /// gone) when old lines are dropped.
    base: u64,
    last_key: Option<i64>,
    /// Bytes of text held: bounded by [`LogStore::byte_budget`] as well
    /// as the line cap, so long lines cannot grow the store without end.
    bytes: usize,
}

impl Stream {
    fn get(&self, abs: u64) -> Option<&Entry> {
        let i = abs.checked_sub(self.base)?;
        self.lines.get(usize::try_from(i).ok()?)
    }
}

#[derive(Debug, Default)]
struct ClusterLogs {
    streams: [Stream; STREAMS],
    /// Bumped on every push: views rebuild when it moved.
    generation: u64,
}

/// A line in the store: which stream, and its absolute index there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LineRef {
    pub stream: u8,
    pub abs: u64,
}

/// What a view shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Peer 0, peer 1.
    pub peers: [bool; 2],
    /// Script log, daemon log.
    pub sources: [bool; 2],
    /// Only transitions and errors.
    pub important_only: bool,
    /// Show keepalived's dump lines too (hidden by default).
    pub show_noise: bool,
    pub since: Option<DateTime<Utc>>,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            peers: [true, true],
            sources: [true, true],
            important_only: false,
            show_noise: false,
            since: None,
        }
    }
}

impl Filter {
    pub(crate) fn accepts(&self, e: &Entry) -> bool {
        self.peers.get(e.peer).copied().unwrap_or(false)
            && self.sources[stream_index(0, e.source)]
            && (self.show_noise || !e.noise)
            && (!self.important_only || e.is_important())
            && self.since.is_none_or(|s| e.at >= s)
    }
}

/// Every cluster's log lines, bounded.
#[derive(Debug)]
pub struct LogStore {
    cap: usize,
    clusters: Vec<ClusterLogs>,
    seq: u64,
}

impl Default for LogStore {
    fn default() -> Self {
        LogStore::new(DEFAULT_CAP)
    }
}

/// Cluster indices beyond this are a bug upstream, not a reason to
/// allocate: such lines are dropped.
const MAX_CLUSTERS: usize = 4096;

/// The longest line kept whole (keepalived's lines are under 300 bytes);
/// a longer one keeps its first bytes and says how many were cut.
pub const LINE_KEEP_MAX: usize = 8 * 1024;

/// Bytes a stream may hold, per line of its cap: a stream of 8 KiB lines
/// holds fewer lines than the cap, never more memory than cap × this.
const BYTES_PER_LINE: usize = 512;

/// `text` cut to [`LINE_KEEP_MAX`] bytes at a character boundary, saying
/// what was cut; its buffer no larger than its text.
fn kept_text(mut text: String) -> String {
    if text.len() > LINE_KEEP_MAX {
        let mut end = LINE_KEEP_MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let cut = text.len() - end;
        text.truncate(end);
        text.push_str(&format!("… [{cut} bytes not kept]"));
    }
    text.shrink_to_fit();
    text
}

impl LogStore {
    /// A store keeping at most `cap` lines per (cluster, peer, source);
    /// a cap of 0 is taken as 1.
    pub fn new(cap: usize) -> Self {
        LogStore {
            cap: cap.max(1),
            clusters: Vec::new(),
            seq: 0,
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// The most bytes of text one stream holds: the line cap at
    /// [`BYTES_PER_LINE`] each, at least one whole kept line.
    fn byte_budget(&self) -> usize {
        self.cap
            .saturating_mul(BYTES_PER_LINE)
            .max(LINE_KEEP_MAX * 2)
    }

    /// Adds a line and says where it went; None when it was dropped (a
    /// peer index other than 0/1, or an absurd cluster index).
    pub fn push(&mut self, cluster: usize, line: LogLine) -> Option<LineRef> {
        if line.peer > 1 || cluster >= MAX_CLUSTERS {
            return None;
        }
        let budget = self.byte_budget();
        if self.clusters.len() <= cluster {
            self.clusters.resize_with(cluster + 1, ClusterLogs::default);
        }
        let c = &mut self.clusters[cluster];
        let stream = stream_index(line.peer, line.source);
        let s = &mut c.streams[stream];
        let at_ms = line.at.timestamp_millis();
        let key = s.last_key.map_or(at_ms, |k| k.max(at_ms));
        s.last_key = Some(key);
        let state = line.announced;
        let text = kept_text(line.text);
        let entry = Entry {
            peer: line.peer,
            source: line.source,
            at: line.at,
            key,
            seq: self.seq,
            kind: line.kind,
            severity: severity_of(line.kind, state, line.source, &text),
            state,
            noise: is_dump_noise(&text),
            text,
        };
        self.seq += 1;
        while !s.lines.is_empty()
            && (s.lines.len() >= self.cap || s.bytes + entry.text.len() > budget)
        {
            if let Some(old) = s.lines.pop_front() {
                s.bytes -= old.text.len();
            }
            s.base += 1;
        }
        s.bytes += entry.text.len();
        s.lines.push_back(entry);
        c.generation += 1;
        Some(LineRef {
            stream: stream as u8,
            abs: s.base + s.lines.len() as u64 - 1,
        })
    }

    /// Changes whenever a line is added to `cluster`.
    pub(crate) fn generation(&self, cluster: usize) -> u64 {
        self.clusters.get(cluster).map_or(0, |c| c.generation)
    }

    /// Lines held for `cluster` (all streams).
    pub fn len(&self, cluster: usize) -> usize {
        self.clusters
            .get(cluster)
            .map_or(0, |c| c.streams.iter().map(|s| s.lines.len()).sum())
    }

    pub(crate) fn is_empty(&self, cluster: usize) -> bool {
        self.len(cluster) == 0
    }

    /// Lines held for one stream.
    pub fn stream_len(&self, cluster: usize, peer: usize, source: LogSource) -> usize {
        if peer > 1 {
            return 0;
        }
        self.clusters
            .get(cluster)
            .map_or(0, |c| c.streams[stream_index(peer, source)].lines.len())
    }

    pub fn get(&self, cluster: usize, r: LineRef) -> Option<&Entry> {
        self.clusters
            .get(cluster)?
            .streams
            .get(usize::from(r.stream))?
            .get(r.abs)
    }

    /// The lines of `cluster` that `filter` accepts, merged by time (ties:
    /// [`Entry::order`]), each stream in its own order.
    pub fn merged(&self, cluster: usize, filter: &Filter) -> Vec<LineRef> {
        self.merged_where(cluster, |e| filter.accepts(e))
    }

    /// [`LogStore::merged`] with any predicate.
    pub(crate) fn merged_where(
        &self,
        cluster: usize,
        keep: impl Fn(&Entry) -> bool,
    ) -> Vec<LineRef> {
        self.merged_since(cluster, [0; STREAMS], keep)
    }

    /// Per stream, the absolute index the next line will get: pass it to
    /// [`LogStore::merged_since`] later to get only what came since.
    pub(crate) fn heads(&self, cluster: usize) -> [u64; STREAMS] {
        let mut out = [0; STREAMS];
        if let Some(c) = self.clusters.get(cluster) {
            for (o, s) in out.iter_mut().zip(&c.streams) {
                *o = s.base + s.lines.len() as u64;
            }
        }
        out
    }

    /// Per stream, the absolute index of the oldest line still held.
    pub(crate) fn bases(&self, cluster: usize) -> [u64; STREAMS] {
        let mut out = [0; STREAMS];
        if let Some(c) = self.clusters.get(cluster) {
            for (o, s) in out.iter_mut().zip(&c.streams) {
                *o = s.base;
            }
        }
        out
    }

    /// The merge of each stream's lines from absolute index `from[i]` on.
    pub(crate) fn merged_since(
        &self,
        cluster: usize,
        from: [u64; STREAMS],
        keep: impl Fn(&Entry) -> bool,
    ) -> Vec<LineRef> {
        let Some(c) = self.clusters.get(cluster) else {
            return Vec::new();
        };
        let mut next = [0usize; STREAMS];
        for (n, (s, f)) in next.iter_mut().zip(c.streams.iter().zip(from)) {
            *n = usize::try_from(f.saturating_sub(s.base)).unwrap_or(usize::MAX);
        }
        let total: usize = c
            .streams
            .iter()
            .zip(next)
            .map(|(s, n)| s.lines.len().saturating_sub(n))
            .sum();
        let mut out = Vec::with_capacity(total);
        loop {
            // At most four heads: a linear pick beats a heap here.
            let mut best: Option<(usize, &Entry)> = None;
            for (i, s) in c.streams.iter().enumerate() {
                if let Some(e) = s.lines.get(next[i]) {
                    if best.is_none_or(|(_, b)| e.order() < b.order()) {
                        best = Some((i, e));
                    }
                }
            }
            let Some((i, e)) = best else { break };
            if keep(e) {
                out.push(LineRef {
                    stream: i as u8,
                    abs: c.streams[i].base + next[i] as u64,
                });
            }
            next[i] += 1;
        }
        out
    }

    /// How many of `cluster`'s lines match `re` (the whole buffer, noise
    /// included): what a search costs at worst.
    pub fn count_matches(&self, cluster: usize, re: &Regex) -> usize {
        self.clusters.get(cluster).map_or(0, |c| {
            c.streams
                .iter()
                .flat_map(|s| s.lines.iter())
                .filter(|e| re.is_match(&e.text))
                .count()
        })
    }
}

// ----------------------------------------------------------------- search

/// A search pattern as people type it: a regex, case-insensitive unless it
/// has an upper-case letter (vim/less "smart case"). An invalid regex is
/// an error the view shows, never a panic.
pub fn search_regex(query: &str) -> Result<Regex, String> {
    let smart_insensitive = !query.chars().any(char::is_uppercase);
    RegexBuilder::new(query)
        .case_insensitive(smart_insensitive)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| match e {
            regex::Error::Syntax(s) => s.lines().last().unwrap_or("bad pattern").to_string(),
            regex::Error::CompiledTooBig(_) => "pattern too big".to_string(),
            other => other.to_string(),
        })
}

/// The next row of `rows` after (or, backwards, before) `from` whose line
/// matches `pred`, wrapping around; `None` when none does. Returns the row
/// and whether the search wrapped.
pub fn find_row(
    rows: &[LineRef],
    from: Option<usize>,
    forward: bool,
    mut pred: impl FnMut(LineRef) -> bool,
) -> Option<(usize, bool)> {
    let n = rows.len();
    if n == 0 {
        return None;
    }
    // Without a current row, a forward search starts at the top and a
    // backward one at the bottom, both inclusive.
    let start = match (from, forward) {
        (Some(f), true) => f.min(n - 1) + 1,
        (Some(f), false) => f.min(n - 1) + n - 1,
        (None, true) => 0,
        (None, false) => n - 1,
    };
    for step in 0..n {
        let i = if forward {
            (start + step) % n
        } else {
            (start + n - step % n) % n
        };
        if pred(rows[i]) {
            let wrapped = match from {
                Some(f) => (forward && i <= f) || (!forward && i >= f),
                None => false,
            };
            return Some((i, wrapped));
        }
    }
    None
}

// ----------------------------------------------------------------- export

pub(crate) fn source_name(s: LogSource) -> &'static str {
    match s {
        LogSource::Script => "script",
        LogSource::Daemon => "daemon",
    }
}

/// `*` a transition, `!` an error or warning, space otherwise: greppable
/// and readable without colour.
pub fn mark(e: &Entry) -> char {
    if e.is_transition() {
        '*'
    } else if e.kind == LogKind::Error || e.severity >= Severity::Warning {
        '!'
    } else {
        ' '
    }
}

/// One line of the merged stream, for `vipdeck logs` and saved views:
/// `2026-11-21 22:44:01 havip-01 daemon * <the whole line>`. `prefix` is
/// the cluster name when several clusters are printed together.
pub(crate) fn format_line(
    e: &Entry,
    peer_name: &str,
    name_width: usize,
    offset: FixedOffset,
    prefix: Option<&str>,
) -> String {
    let time = e.at.with_timezone(&offset).format("%Y-%m-%d %H:%M:%S");
    let cluster = prefix.map(|p| format!("{p}/")).unwrap_or_default();
    format!(
        "{time} {cluster}{peer_name:<name_width$} {:<6} {} {}",
        source_name(e.source),
        mark(e),
        safe_text(&e.text)
    )
}

/// Peer names of a cluster, and the width that aligns them.
pub fn peer_names(spec: &ClusterSpec) -> ([String; 2], usize) {
    let name = |i: usize| {
        spec.peers
            .get(i)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| format!("peer{}", i + 1))
    };
    let names = [name(0), name(1)];
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    (names, width)
}

/// The text of a view, whole lines, one per row.
pub(crate) fn render_rows(
    store: &LogStore,
    cluster: usize,
    rows: &[LineRef],
    spec: &ClusterSpec,
    offset: FixedOffset,
) -> String {
    let (names, w) = peer_names(spec);
    let mut out = String::new();
    for e in rows.iter().filter_map(|r| store.get(cluster, *r)) {
        out.push_str(&format_line(e, &names[e.peer.min(1)], w, offset, None));
        out.push('\n');
    }
    out
}

/// Where a saved view goes: `<dir>/logs-<cluster>-<UTC time>.log`, with
/// anything odd in the cluster name replaced so it stays one file name.
pub(crate) fn save_path(dir: &Path, cluster_name: &str, now: DateTime<Utc>) -> PathBuf {
    let safe = crate::core::sanitize::file_name_part(cluster_name);
    dir.join(format!("logs-{safe}-{}.log", now.format("%Y%m%dT%H%M%SZ")))
}

// ------------------------------------------------------------------ --since

/// `90s`, `15m`, `2h`, `1d`, `1h30m` (and a bare number of seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("`{s}` is not a duration (try 90s, 15m, 2h, 1d or 1h30m)");
    if s.is_empty() {
        return Err(bad());
    }
    let too_long = || format!("`{s}` is longer than {MAX_DURATION_DAYS} days");
    let capped = |secs: u64| {
        if secs > MAX_DURATION_DAYS * 86_400 {
            Err(too_long())
        } else {
            Ok(Duration::from_secs(secs))
        }
    };
    if let Ok(n) = s.parse::<u64>() {
        return capped(n);
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            num.push(ch);
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(too_long)?;
        num.clear();
    }
    if !num.is_empty() {
        return Err(bad());
    }
    capped(total)
}

/// The longest duration [`parse_duration`] accepts: beyond it a time
/// "that long ago" is out of the calendar's range.
pub(crate) const MAX_DURATION_DAYS: u64 = 36_500;

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of text the store holds for `cluster`.
    fn held_bytes(store: &LogStore, cluster: usize) -> usize {
        store.clusters[cluster]
            .streams
            .iter()
            .flat_map(|s| s.lines.iter())
            .map(|e| e.text.capacity())
            .sum()
    }

    #[test]
    fn long_lines_cannot_grow_the_store_past_its_byte_budget() {
        // A peer's log of 3000 lines of 64 KiB each: 192 MiB as sent.
        let mut store = LogStore::new(3000);
        let at = Utc::now();
        for n in 0..3000 {
            store.push(
                0,
                LogLine {
                    peer: 0,
                    source: LogSource::Daemon,
                    at,
                    kind: LogKind::Other,
                    text: format!("{n} {}", "x".repeat(64 * 1024)),
                    announced: None,
                },
            );
        }
        let held = held_bytes(&store, 0);
        assert!(held <= 3000 * BYTES_PER_LINE, "{held} bytes held");
        let s = &store.clusters[0].streams[stream_index(0, LogSource::Daemon)];
        assert_eq!(s.bytes, s.lines.iter().map(|e| e.text.len()).sum::<usize>());
        // The newest line is there, cut, and says so.
        let last = s.lines.back().expect("a line");
        assert!(last.text.starts_with("2999 xxx"), "{}", &last.text[..20]);
        assert!(last.text.ends_with(" bytes not kept]"), "cut is named");
        assert!(last.text.len() < LINE_KEEP_MAX + 40);
        // Short lines are still kept up to the line cap.
        let mut store = LogStore::new(3000);
        for n in 0..4000 {
            store.push(
                0,
                LogLine {
                    peer: 1,
                    source: LogSource::Script,
                    at,
                    kind: LogKind::Other,
                    text: format!("Nov 21 22:44:0{} lb-1 Keepalived_vrrp[1]: line {n}", n % 10),
                    announced: None,
                },
            );
        }
        assert_eq!(store.len(0), 3000);
    }

    #[test]
    fn overflowing_durations_are_errors() {
        for s in [
            "99999999999999s",
            "99999999999999999999s",
            "18446744073709551615",
            "99999999d",
        ] {
            let e = parse_duration(s).expect_err(s);
            assert!(e.contains(s), "{e}");
        }
        assert_eq!(
            parse_duration("36500d"),
            Ok(Duration::from_secs(36_500 * 86_400))
        );
    }

    #[test]
    fn escape_sequences_cannot_reach_the_terminal() {
        assert_eq!(display_text("a\u{1b}[2Jb\tc"), "a␛[2Jb c");
        assert_eq!(safe_text("a\u{1b}[2Jb\u{202e}"), "a␛[2Jb\u{fffd}");
    }

    #[test]
    fn long_lines_are_cut_for_display() {
        let long = "x".repeat(10_000);
        let shown = display_text(&long);
        assert_eq!(shown.chars().count(), DISPLAY_MAX + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(safe_text(&long).len(), 10_000, "whole for export");
    }

    #[test]
    fn message_drops_the_prefixes() {
        assert_eq!(
            message_of("[2026-11-21 22:44:01]  notify_master"),
            "notify_master"
        );
        assert_eq!(
            message_of("[2026-11-21 22:44:02][pid1234]  try set vip."),
            "try set vip."
        );
        assert_eq!(
            message_of("Nov 21 22:44:01 web-1 Keepalived_vrrp[12]: (VI_1) Entering MASTER STATE"),
            "(VI_1) Entering MASTER STATE"
        );
        assert_eq!(
            message_of("Sat Nov 21 23:55:55 2026: (VI_1) Entering MASTER STATE"),
            "(VI_1) Entering MASTER STATE"
        );
        assert_eq!(message_of("plain"), "plain");
        assert_eq!(message_of("[unterminated"), "[unterminated");
    }

    #[test]
    fn dump_noise_is_recognised_in_every_form() {
        assert!(is_dump_noise(
            "Nov 21 22:44:01 h Keepalived_vrrp[12]: Printing VRRP data for process(12) on signal"
        ));
        assert!(is_dump_noise(
            "Sat Nov 21 23:51:02 2026: Printing VRRP as json for process(11511) on signal"
        ));
        assert!(!is_dump_noise("(VI_1) Entering MASTER STATE"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("42"), Ok(Duration::from_secs(42)));
        for bad in ["", "h", "5x", "1h30", "99999999999999999999d"] {
            let e = parse_duration(bad).expect_err(bad);
            assert!(e.contains("not a duration"), "{e}");
        }
    }

    #[test]
    fn smart_case() {
        let re = search_regex("entering master").expect("valid");
        assert!(re.is_match("(VI_1) Entering MASTER STATE"));
        let re = search_regex("MASTER").expect("valid");
        assert!(!re.is_match("master"));
        let e = search_regex("(unclosed").expect_err("invalid");
        assert!(e.contains("unclosed"), "{e}");
    }

    #[test]
    fn find_row_wraps_both_ways() {
        let rows: Vec<LineRef> = (0..5).map(|abs| LineRef { stream: 0, abs }).collect();
        let even = |r: LineRef| r.abs.is_multiple_of(2);
        assert_eq!(find_row(&rows, None, true, even), Some((0, false)));
        assert_eq!(find_row(&rows, Some(0), true, even), Some((2, false)));
        assert_eq!(find_row(&rows, Some(4), true, even), Some((0, true)));
        assert_eq!(find_row(&rows, Some(2), false, even), Some((0, false)));
        assert_eq!(find_row(&rows, Some(0), false, even), Some((4, true)));
        assert_eq!(find_row(&rows, None, false, even), Some((4, false)));
        assert_eq!(find_row(&rows, Some(1), true, |_| false), None);
        assert_eq!(find_row(&[], None, true, even), None);
    }

    #[test]
    fn save_path_is_one_safe_file_name() {
        let t = DateTime::parse_from_rfc3339("2026-11-21T22:44:01Z")
            .expect("time")
            .with_timezone(&Utc);
        let p = save_path(Path::new("/data"), "../we b", t);
        assert_eq!(p, Path::new("/data/logs-___we_b-20261121T224401Z.log"));
    }
}
