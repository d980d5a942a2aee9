//! Facts, snapshots and verdict types: the vocabulary every source, the pure
//! core and every face (TUI, CLI, simulator) share.
//!
//! Sources observe the world and send [`Update`]s; [`Snapshot::apply`] folds
//! them in; the verdict rules (in `verdict`) judge a cluster's facts.
//! Nothing here does I/O.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::keepalived::version::KeepalivedInfo;

/// How the VIP reaches the master (DESIGN.md, "the two VIP modes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Eni,
    Havip,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Eni => "eni",
            Mode::Havip => "havip",
        })
    }
}

/// A VRRP state as the notify scripts write it and keepalived reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum VrrpState {
    Master,
    Backup,
    Fault,
    Stop,
    Unknown,
}

impl VrrpState {
    pub fn as_str(self) -> &'static str {
        match self {
            VrrpState::Master => "MASTER",
            VrrpState::Backup => "BACKUP",
            VrrpState::Fault => "FAULT",
            VrrpState::Stop => "STOP",
            VrrpState::Unknown => "UNKNOWN",
        }
    }

    /// Parses the bare word a notify script writes; anything else is `Unknown`.
    pub(crate) fn from_word(word: &str) -> VrrpState {
        match word.trim() {
            "MASTER" => VrrpState::Master,
            "BACKUP" => VrrpState::Backup,
            "FAULT" => VrrpState::Fault,
            "STOP" => VrrpState::Stop,
            _ => VrrpState::Unknown,
        }
    }
}

impl fmt::Display for VrrpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a fact came from: shown next to it so the operator knows which
/// witness said what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Witness {
    /// The probe round trip itself (reachability).
    Probe,
    /// The state file a notify script writes.
    StateFile,
    /// keepalived's own JSON dump.
    KeepalivedDump,
    /// keepalived's own text data dump (`/tmp/keepalived.data`).
    KeepalivedData,
    /// The last VRRP transition keepalived itself logged for the instance.
    KeepalivedLog,
    /// The process table / pid file.
    Process,
    /// `ip -o addr`.
    IpAddr,
    /// keepalived.conf.
    Conf,
    /// The cloud API.
    Cloud,
}

impl Witness {
    /// A short form for narrow places.
    pub(crate) fn short(self) -> &'static str {
        match self {
            Witness::Probe => "probe",
            Witness::StateFile => "file",
            Witness::KeepalivedDump => "dump",
            Witness::KeepalivedData => "data",
            Witness::KeepalivedLog => "klog",
            Witness::Process => "ps",
            Witness::IpAddr => "ip",
            Witness::Conf => "conf",
            Witness::Cloud => "cloud",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Witness::Probe => "probe",
            Witness::StateFile => "state file",
            Witness::KeepalivedDump => "keepalived dump",
            Witness::KeepalivedData => "keepalived data dump",
            Witness::KeepalivedLog => "keepalived log",
            Witness::Process => "process",
            Witness::IpAddr => "ip addr",
            Witness::Conf => "keepalived.conf",
            Witness::Cloud => "cloud API",
        }
    }
}

/// One observed value with the time it was observed and who said it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact<T> {
    pub(crate) value: T,
    pub at: DateTime<Utc>,
    pub(crate) witness: Witness,
}

impl<T> Fact<T> {
    pub fn new(value: T, at: DateTime<Utc>, witness: Witness) -> Self {
        Fact { value, at, witness }
    }

    pub(crate) fn age(&self, now: DateTime<Utc>) -> Duration {
        (now - self.at).to_std().unwrap_or_default()
    }

    pub(crate) fn is_stale(&self, now: DateTime<Utc>, stale_after: Duration) -> bool {
        self.age(now) > stale_after
    }
}

/// What keepalived.conf says about the instance that carries the VIP; the
/// fields that must agree between the two peers of a pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigSummary {
    pub instance: String,
    pub interface: Option<String>,
    pub virtual_router_id: Option<u8>,
    pub priority: Option<u8>,
    pub advert_int: Option<String>,
    pub nopreempt: bool,
    pub auth_type: Option<String>,
    /// A tag of `auth_pass` that tells only whether two passwords are the
    /// same: keyed at random per process (see
    /// `keepalived::conf::Authentication::pass_digest`), never the
    /// password nor a digest that could be cracked offline. Served under
    /// this name by `status --json` and `vipdeck serve`.
    #[serde(rename = "auth_pass_tag")]
    pub auth_digest: Option<String>,
    pub unicast_src_ip: Option<String>,
    pub unicast_peers: Vec<String>,
    pub virtual_ipaddresses: Vec<String>,
    /// The programs this instance's `notify*` lines run: a script's log
    /// line names no instance, the program that wrote it tells whose.
    #[serde(default)]
    pub notify_scripts: Vec<String>,
    /// The same file's other VRRP instances (one log file is often
    /// shared) with the programs their `notify*` lines run.
    #[serde(default)]
    pub other_instances: Vec<(String, Vec<String>)>,
    /// `preempt_delay` as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preempt_delay: Option<String>,
    /// The instance's trackers with the weight keepalived applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trackers: Vec<crate::core::keepalived::track::ConfTracker>,
    /// `garp_master_refresh` in seconds (the instance's, else
    /// global_defs' `vrrp_garp_master_refresh`): a master that
    /// re-announces takes back an HAVIP a flap left on its peer.
    #[serde(default)]
    pub garp_master_refresh: Option<u32>,
}

impl ConfigSummary {
    /// What attributing a shared log's lines needs of the config.
    pub(crate) fn instances(&self) -> crate::core::keepalived::owner::Instances<'_> {
        crate::core::keepalived::owner::Instances {
            instance: &self.instance,
            notify_scripts: &self.notify_scripts,
            others: &self.other_instances,
        }
    }
}

/// What wrote a log line, for lines that name no instance: vip.py's
/// migration lines, a notify script's state word, or something else.
pub(crate) fn writer_of(
    kind: LogKind,
    announced: Option<VrrpState>,
    text: &str,
) -> crate::core::keepalived::owner::Writer {
    use crate::core::keepalived::owner::Writer;
    if kind == LogKind::VipMigration || text.to_ascii_lowercase().contains("vip.py") {
        Writer::VipPy
    } else if kind == LogKind::Script && announced.is_some() {
        Writer::NotifyScript
    } else {
        Writer::Other
    }
}

/// Everything known about one peer. Every field is `None` until first seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerFacts {
    /// Whether the last probe round trip succeeded.
    pub reachable: Option<Fact<bool>>,
    /// The last probe error, if the last round failed.
    pub error: Option<String>,
    pub keepalived_running: Option<Fact<bool>>,
    /// The bare word in the state file, as parsed.
    pub state_file: Option<Fact<VrrpState>>,
    /// When the state file last changed value, as far as we saw.
    pub(crate) state_file_since: Option<DateTime<Utc>>,
    /// The raw state file text when it was not a known word.
    pub(crate) state_file_raw: Option<String>,
    /// keepalived's own view, from its JSON or text data dump (the fact's
    /// witness says which).
    pub keepalived_state: Option<Fact<VrrpState>>,
    /// Which keepalived the peer runs and how it can be asked for a dump.
    #[serde(default)]
    pub keepalived: Option<KeepalivedInfo>,
    /// Why the last dump asked for could not be read; cleared by a good one.
    #[serde(default)]
    pub keepalived_dump_error: Option<String>,
    /// What the last dump said of priorities, preemption and trackers
    /// (its witness says which dump).
    #[serde(default)]
    pub keepalived_why: Option<Fact<crate::core::keepalived::track::DumpWhy>>,
    /// The last VRRP state keepalived itself logged, per instance name
    /// (`(VI_1) Entering MASTER STATE`), at the line's time.
    #[serde(default)]
    pub keepalived_log: BTreeMap<String, Fact<VrrpState>>,
    /// When keepalived was seen running again after it was seen stopped:
    /// what the state file, a dump or the log said before is the old
    /// process's word, not this one's.
    #[serde(default)]
    pub(crate) keepalived_since: Option<DateTime<Utc>>,
    pub vip_on_nic: Option<Fact<bool>>,
    pub priority: Option<Fact<u8>>,
    pub config: Option<Fact<ConfigSummary>>,
    pub last_transition: Option<DateTime<Utc>>,
    /// The peer's clock against ours in milliseconds (positive: ahead),
    /// measured at each poll and corrected by half the round trip.
    #[serde(default)]
    pub(crate) clock_offset_ms: Option<Fact<i64>>,
    /// How vipdeck watches this peer's files (chosen when it connects),
    /// e.g. `tick + ip monitor`.
    #[serde(default)]
    pub watcher: Option<String>,
    /// The cluster's failover lock file on this peer: someone's failover
    /// in progress (or one that died holding it).
    #[serde(default)]
    pub failover_lock: Option<Fact<crate::core::lockfile::LockSeen>>,
    /// The cluster's maintenance marker on this peer (`vipdeck maintenance`).
    #[serde(default)]
    pub maintenance: Option<Fact<crate::core::marker::MarkerSeen>>,
}

/// One observation of a peer: the fields that are `Some` replace what was
/// known. A failed probe sets `reachable: false` and leaves the rest alone,
/// so the old facts age and show as stale instead of vanishing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerObservation {
    pub at: DateTime<Utc>,
    pub reachable: Option<bool>,
    pub error: Option<String>,
    pub keepalived_running: Option<bool>,
    pub state_file: Option<VrrpState>,
    pub(crate) state_file_raw: Option<String>,
    pub keepalived_state: Option<VrrpState>,
    /// Which dump said `keepalived_state` (the JSON dump when not given).
    #[serde(default)]
    pub(crate) keepalived_state_from: Option<Witness>,
    /// Boxed: rarely sent (at connect and on restart), and `Update`s stay small.
    #[serde(default)]
    pub(crate) keepalived: Option<Box<KeepalivedInfo>>,
    #[serde(default)]
    pub(crate) keepalived_dump_error: Option<String>,
    /// Boxed like `keepalived`: sent with each dump read.
    #[serde(default)]
    pub(crate) keepalived_why: Option<Box<crate::core::keepalived::track::DumpWhy>>,
    pub vip_on_nic: Option<bool>,
    pub priority: Option<u8>,
    pub config: Option<ConfigSummary>,
    pub last_transition: Option<DateTime<Utc>>,
    /// How the peer's files are watched, when the source knows.
    pub(crate) watcher: Option<String>,
    #[serde(default)]
    pub(crate) failover_lock: Option<crate::core::lockfile::LockSeen>,
    #[serde(default)]
    pub maintenance: Option<crate::core::marker::MarkerSeen>,
}

impl PeerObservation {
    pub fn unreachable(at: DateTime<Utc>, error: impl Into<String>) -> Self {
        PeerObservation {
            at,
            reachable: Some(false),
            error: Some(error.into()),
            ..Default::default()
        }
    }
}

impl PeerFacts {
    /// What the peer itself reports, without judging reachability or age:
    /// keepalived not running beats everything (a state file says MASTER
    /// forever after keepalived dies); keepalived's own dump beats the state
    /// file.
    pub(crate) fn reported_state(&self) -> VrrpState {
        self.reported_with_witness().0
    }

    /// Whether keepalived's dump was taken after the state file last changed.
    pub(crate) fn dump_is_current(&self) -> bool {
        match (&self.keepalived_state, self.state_file_since) {
            (Some(d), Some(since)) => d.at >= since,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// [`Self::reported_state`] and the witness that said so.
    ///
    /// keepalived not running beats everything. keepalived's own dump beats
    /// the state file unless the file changed after it was taken (a new
    /// dump is asked for at once); a file that then claims MASTER against
    /// the dump waits for that dump, until polls have gone on for
    /// [`DUMP_CATCH_UP`] without one. Without a
    /// dump, keepalived's own log lines beat the state file. After a
    /// restart, only what the new process said counts: until it says
    /// anything, its state is unknown.
    pub(crate) fn reported_with_witness(&self) -> (VrrpState, Option<Witness>) {
        let running = self.keepalived_running.as_ref().map(|f| f.value);
        if running == Some(false) {
            return (VrrpState::Stop, Some(Witness::Process));
        }
        let since = self.keepalived_since;
        let of_this_run = |at: DateTime<Utc>| since.is_none_or(|s| at >= s);
        let dump = self.keepalived_state.as_ref().filter(|d| of_this_run(d.at));
        // A line's time is the peer's, earlier than when we saw the restart.
        let log = self
            .logged_state()
            .filter(|l| since.is_none_or(|s| l.at >= s - LOG_SLACK));
        let file = self
            .state_file
            .as_ref()
            .filter(|_| self.state_file_since.is_none_or(of_this_run));
        let said = |f: &Fact<VrrpState>| (f.value, Some(f.witness));
        // A state file that changed after the dump is believed at once,
        // except when it claims a MASTER keepalived did not: that claim
        // waits for the next dump (the false split brain of a stale file).
        let held = |d: &Fact<VrrpState>, f: Option<&Fact<VrrpState>>| match f {
            None => true,
            Some(f) => {
                self.dump_is_current()
                    || (f.value == VrrpState::Master
                        && d.value != VrrpState::Master
                        && !self.dump_outrun())
            }
        };
        match (dump, log, file) {
            (Some(d), _, f) if held(d, f) => said(d),
            (None, Some(l), _) => said(l),
            (_, _, Some(f)) => said(f),
            _ if since.is_some() => (VrrpState::Unknown, Some(Witness::Process)),
            _ => (VrrpState::Unknown, None),
        }
    }

    /// The state file changed after the last dump, and polls have gone on
    /// for [`DUMP_CATCH_UP`] since without a newer one: the dump no longer
    /// follows (it failed, or keepalived stopped writing it).
    fn dump_outrun(&self) -> bool {
        match (
            &self.keepalived_state,
            self.state_file_since,
            &self.reachable,
        ) {
            (Some(d), Some(since), Some(r)) => d.at < since && r.at - since > DUMP_CATCH_UP,
            _ => false,
        }
    }

    /// The last state keepalived logged for this peer's instance (from its
    /// keepalived.conf; the only instance seen when the conf is not read).
    pub(crate) fn logged_state(&self) -> Option<&Fact<VrrpState>> {
        match self.config.as_ref().map(|c| c.value.instance.as_str()) {
            Some(name) => self.keepalived_log.get(name),
            None if self.keepalived_log.len() == 1 => self.keepalived_log.values().next(),
            None => None,
        }
    }

    /// Whether keepalived's own word (a dump or its log) is at hand.
    pub(crate) fn has_keepalived_witness(&self) -> bool {
        self.keepalived_witness().is_some()
    }

    /// Which of keepalived's own witnesses vipdeck has for this peer: its
    /// JSON or data dump, else its log lines.
    pub fn keepalived_witness(&self) -> Option<Witness> {
        self.keepalived_state
            .as_ref()
            .map(|d| d.witness)
            .or_else(|| self.logged_state().map(|l| l.witness))
    }

    pub fn apply(&mut self, obs: PeerObservation) {
        let at = obs.at;
        if let Some(r) = obs.reachable {
            self.reachable = Some(Fact::new(r, at, Witness::Probe));
            self.error = if r { None } else { obs.error };
        } else if obs.error.is_some() {
            self.error = obs.error;
        }
        if let Some(v) = obs.keepalived_running {
            let was = self.keepalived_running.as_ref().map(|f| f.value);
            if v && was == Some(false) {
                self.keepalived_since = Some(at);
            }
            self.keepalived_running = Some(Fact::new(v, at, Witness::Process));
        }
        if let Some(v) = obs.state_file {
            if self.state_file.as_ref().map(|f| f.value) != Some(v) {
                self.state_file_since = Some(at);
            }
            self.state_file = Some(Fact::new(v, at, Witness::StateFile));
            self.state_file_raw = obs.state_file_raw;
        }
        if let Some(v) = obs.keepalived_state {
            let witness = obs.keepalived_state_from.unwrap_or(Witness::KeepalivedDump);
            self.keepalived_state = Some(Fact::new(v, at, witness));
            self.keepalived_dump_error = None;
            self.keepalived_why = obs.keepalived_why.map(|w| Fact::new(*w, at, witness));
        }
        if let Some(k) = obs.keepalived {
            self.keepalived = Some(*k);
        }
        if obs.keepalived_dump_error.is_some() {
            // The dump asked for did not come. A last dump taken before the
            // state file last changed no longer follows keepalived and must
            // not hold back the newer file; one taken since still stands
            // (dropping it would fall back to an older witness, a log that
            // lags, and flash the state it had before).
            if !self.dump_is_current() {
                self.keepalived_state = None;
                self.keepalived_why = None;
            }
            self.keepalived_dump_error = obs.keepalived_dump_error;
        }
        if let Some(v) = obs.vip_on_nic {
            self.vip_on_nic = Some(Fact::new(v, at, Witness::IpAddr));
        }
        if let Some(v) = obs.priority {
            self.priority = Some(Fact::new(v, at, Witness::Conf));
        }
        if let Some(v) = obs.config {
            self.config = Some(Fact::new(v, at, Witness::Conf));
        }
        if obs.last_transition.is_some() {
            self.last_transition = obs.last_transition;
        }
        if obs.watcher.is_some() {
            self.watcher = obs.watcher;
        }
        if let Some(v) = obs.failover_lock {
            self.failover_lock = Some(Fact::new(v, at, Witness::Probe));
        }
        if let Some(v) = obs.maintenance {
            self.maintenance = Some(Fact::new(v, at, Witness::Probe));
        }
    }
}

/// Where the cloud says the VIP is bound, in either mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudBinding {
    /// The ENI holding the VIP (ENI mode) or the HAVIP's bound ENI.
    pub network_interface_id: Option<String>,
    pub instance_id: Option<String>,
    /// HAVIP only: `AVAILABLE` (bound) or `UNBIND`.
    pub state: Option<String>,
    /// HAVIP id when the mode is havip.
    pub havip_id: Option<String>,
    /// HAVIP only: the last rebind (`FlushedTime`).
    pub flushed_time: Option<DateTime<Utc>>,
}

/// The cloud side of a cluster: the last good answer and the last error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CloudFacts {
    pub(crate) binding: Option<Fact<CloudBinding>>,
    /// The last error and when it happened; cleared by the next good answer.
    pub error: Option<(String, DateTime<Utc>)>,
    /// Where the credentials came from (never the credentials themselves).
    pub credential_source: Option<String>,
}

/// How vipdeck reaches a peer and how the cloud names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerSpec {
    pub name: String,
    /// `ssh destination`, `local`, or `sim` for display.
    pub address: String,
    pub network_interface_id: Option<String>,
    pub instance_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSpec {
    pub name: String,
    pub mode: Mode,
    pub vip: String,
    pub havip_id: Option<String>,
    pub peers: [PeerSpec; 2],
}

impl ClusterSpec {
    /// Which peer a cloud binding points at: by ENI id where both the peer
    /// and the binding name one, else by instance id (a config that names
    /// only `instance_id`s, as `init --no-cloud` may write).
    pub fn peer_of_binding(&self, binding: &CloudBinding) -> Option<usize> {
        let same = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        };
        let by_eni = self
            .peers
            .iter()
            .map(|p| same(&p.network_interface_id, &binding.network_interface_id))
            .collect::<Vec<_>>();
        if let Some(i) = by_eni.iter().position(|m| *m == Some(true)) {
            return Some(i);
        }
        self.peers.iter().enumerate().position(|(i, p)| {
            by_eni[i].is_none() && same(&p.instance_id, &binding.instance_id) == Some(true)
        })
    }
}

/// A VRRP state change seen on a peer, for the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Transition {
    pub at: DateTime<Utc>,
    pub peer: usize,
    pub(crate) from: VrrpState,
    pub(crate) to: VrrpState,
}

/// Which log a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogSource {
    /// The notify/vip script log (`/var/log/keepalived.log`).
    Script,
    /// keepalived's daemon log (journal / syslog).
    Daemon,
}

/// What a log line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    Transition,
    VipMigration,
    Script,
    Garp,
    Error,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub peer: usize,
    pub source: LogSource,
    /// The time in the line, or when it was received if it has none.
    pub at: DateTime<Utc>,
    pub kind: LogKind,
    pub text: String,
    /// The VRRP state the line announces (`(VI_1) Entering MASTER STATE`,
    /// `notify_master`), read once by the line parser.
    pub announced: Option<VrrpState>,
}

/// How bad things are, worst last so `max()` finds the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Healthy,
    Degraded,
    Unknown,
    VipDrift,
    NoMaster,
    SplitBrain,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Degraded => "degraded",
            Verdict::VipDrift => "vip_drift",
            Verdict::SplitBrain => "split_brain",
            Verdict::NoMaster => "no_master",
            Verdict::Unknown => "unknown",
        }
    }

    /// Monitoring-plugin exit code (DESIGN.md, `vipdeck check`).
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Healthy => 0,
            Verdict::Degraded => 1,
            Verdict::VipDrift | Verdict::NoMaster | Verdict::SplitBrain => 2,
            Verdict::Unknown => 3,
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Verdict::Healthy => Severity::Info,
            Verdict::Degraded | Verdict::Unknown => Severity::Warning,
            Verdict::VipDrift | Verdict::NoMaster | Verdict::SplitBrain => Severity::Critical,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub severity: Severity,
    /// Stable machine-readable code, e.g. `cloud_binding_mismatch`.
    pub(crate) code: String,
    /// A sentence an operator understands.
    pub message: String,
}

impl Alert {
    pub fn new(severity: Severity, code: &str, message: impl Into<String>) -> Self {
        Alert {
            severity,
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// Bounds on the per-cluster history kept in a snapshot.
pub(crate) const TIMELINE_CAP: usize = 200;
pub(crate) const RECENT_LOG_CAP: usize = 500;
pub(crate) const ACTION_LOG_CAP: usize = 200;

/// Everything known about one cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterSnapshot {
    pub spec: ClusterSpec,
    pub peers: [PeerFacts; 2],
    pub cloud: CloudFacts,
    pub(crate) timeline: VecDeque<Transition>,
    pub(crate) recent_logs: VecDeque<LogLine>,
    /// The lines that report an action's failure or success
    /// ([`crate::core::actions`]), kept apart from `recent_logs` so a busy
    /// log does not push a failure out before it is dealt with.
    #[serde(default)]
    pub(crate) action_log: VecDeque<LogLine>,
    /// Ids of failed actions an operator acknowledged (read back from the
    /// audit trail when vipdeck starts).
    #[serde(default)]
    pub acknowledged: BTreeSet<String>,
    /// The data-plane witness (the VIP as a client reaches it); `None`
    /// until a configured probe reports, and always for a cluster without.
    #[serde(default)]
    pub dataplane: Option<crate::core::dataplane::Dataplane>,
}

impl ClusterSnapshot {
    pub fn new(spec: ClusterSpec) -> Self {
        ClusterSnapshot {
            spec,
            peers: Default::default(),
            cloud: CloudFacts::default(),
            timeline: VecDeque::new(),
            recent_logs: VecDeque::new(),
            action_log: VecDeque::new(),
            acknowledged: BTreeSet::new(),
            dataplane: None,
        }
    }

    /// Keeps `line` when it reports an action (once, however often it is read).
    pub(crate) fn note_action(&mut self, line: LogLine) {
        if crate::core::action_line::classify(&line.text).is_none()
            || self
                .action_log
                .iter()
                .any(|l| l.peer == line.peer && l.at == line.at && l.text == line.text)
        {
            return;
        }
        fold::insert_by_time(&mut self.action_log, line, ACTION_LOG_CAP);
    }
}

/// An attached face's word that its collector (`vipdeck serve`) is gone:
/// since when nothing was heard from it, and why. The facts it sent are
/// then as old as `since`; they are judged as of then, so a lost
/// collector never reads as stale or missing peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorLost {
    pub since: DateTime<Utc>,
    pub reason: String,
}

impl CollectorLost {
    /// The time to judge the collector's facts at: when it was last heard
    /// (never later than `now`).
    pub fn judged_at(lost: Option<&CollectorLost>, now: DateTime<Utc>) -> DateTime<Utc> {
        lost.map_or(now, |l| l.since.min(now))
    }
}

mod fold;
pub use fold::{Snapshot, Update};
use fold::{DUMP_CATCH_UP, LOG_SLACK};

#[cfg(test)]
mod tests {
    use super::fold::{insert_by_time, record_transition};
    use super::*;
    use chrono::TimeZone;

    fn line(peer: usize, secs: i64, text: &str) -> LogLine {
        LogLine {
            peer,
            source: LogSource::Script,
            at: Utc
                .timestamp_opt(1_795_000_000 + secs, 0)
                .single()
                .expect("time"),
            kind: LogKind::Other,
            text: text.into(),
            announced: None,
        }
    }

    fn spec(ids: [(Option<&str>, Option<&str>); 2]) -> ClusterSpec {
        let peer = |i: usize| PeerSpec {
            name: format!("p{i}"),
            address: "sim".into(),
            network_interface_id: ids[i].0.map(str::to_string),
            instance_id: ids[i].1.map(str::to_string),
        };
        ClusterSpec {
            name: "c".into(),
            mode: Mode::Havip,
            vip: "192.0.2.1".into(),
            havip_id: None,
            peers: [peer(0), peer(1)],
        }
    }

    #[test]
    fn bindings_match_by_eni_else_instance() {
        let b = CloudBinding {
            network_interface_id: Some("eni-2".into()),
            instance_id: Some("ins-2".into()),
            ..Default::default()
        };
        let both = spec([
            (Some("eni-1"), Some("ins-1")),
            (Some("eni-2"), Some("ins-2")),
        ]);
        assert_eq!(both.peer_of_binding(&b), Some(1));
        let only_ins = spec([(None, Some("ins-1")), (None, Some("ins-2"))]);
        assert_eq!(only_ins.peer_of_binding(&b), Some(1), "instance ids only");
        // A peer whose ENI differs is not matched by its instance id.
        let wrong_eni = spec([(None, Some("ins-1")), (Some("eni-9"), Some("ins-2"))]);
        assert_eq!(wrong_eni.peer_of_binding(&b), None);
        let neither = spec([(None, None), (None, None)]);
        assert_eq!(neither.peer_of_binding(&b), None);
    }

    #[test]
    fn a_late_earlier_line_tells_the_next_transition_where_it_came_from() {
        let mut snap = Snapshot::new(vec![spec([(None, None), (None, None)])]);
        let t0 = Utc::now();
        let line = |s: i64, text: &str| Update::Log {
            cluster: 0,
            line: LogLine {
                peer: 1,
                source: LogSource::Daemon,
                at: t0 + chrono::Duration::seconds(s),
                kind: LogKind::Transition,
                text: text.into(),
                announced: crate::core::keepalived::logline::announced_in(text),
            },
        };
        // The script stream's MASTER arrives before the daemon's BACKUP.
        snap.apply(line(10, "(VI_1) Entering MASTER STATE"));
        snap.apply(line(0, "(VI_1) Entering BACKUP STATE"));
        let tl: Vec<_> = snap.clusters[0]
            .timeline
            .iter()
            .map(|t| (t.from, t.to))
            .collect();
        assert_eq!(
            tl,
            [
                (VrrpState::Unknown, VrrpState::Backup),
                (VrrpState::Backup, VrrpState::Master)
            ]
        );
    }

    #[test]
    fn log_lines_feed_the_timeline_once() {
        let mut tl = VecDeque::new();
        let at = |secs: i64| {
            Utc.timestamp_opt(1_795_000_000 + secs, 0)
                .single()
                .expect("time")
        };
        record_transition(&mut tl, 1, None, VrrpState::Backup, at(0));
        record_transition(&mut tl, 1, None, VrrpState::Master, at(10));
        // The notify script's line for the same move, a second later.
        record_transition(&mut tl, 1, None, VrrpState::Master, at(11));
        // The probe saw it too.
        record_transition(
            &mut tl,
            1,
            Some(VrrpState::Backup),
            VrrpState::Master,
            at(12),
        );
        // An older line from the other peer arrives late: goes in order.
        record_transition(&mut tl, 0, None, VrrpState::Stop, at(9));
        let got: Vec<_> = tl.iter().map(|t| (t.peer, t.from, t.to)).collect();
        assert_eq!(
            got,
            vec![
                (1, VrrpState::Unknown, VrrpState::Backup),
                (0, VrrpState::Unknown, VrrpState::Stop),
                (1, VrrpState::Backup, VrrpState::Master),
            ]
        );
    }

    #[test]
    fn recent_logs_are_merged_by_time_and_capped() {
        let mut q = VecDeque::new();
        insert_by_time(&mut q, line(0, 5, "a5"), 3);
        insert_by_time(&mut q, line(1, 3, "b3"), 3);
        insert_by_time(&mut q, line(0, 5, "a5bis"), 3);
        let texts: Vec<&str> = q.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["b3", "a5", "a5bis"]);
        insert_by_time(&mut q, line(1, 4, "b4"), 3);
        let texts: Vec<&str> = q.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["b4", "a5", "a5bis"]);
        insert_by_time(&mut q, line(1, 1, "b1"), 3);
        assert_eq!(q.len(), 3);
        assert_eq!(q[0].text, "b4", "older than everything kept: dropped");
    }
}
