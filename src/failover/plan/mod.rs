//! The failover planner: a pure function from what is known about a cluster
//! (its snapshot, the verdict, its config, a few facts gathered for the
//! occasion) and the operator's request to a plan — preflight checks and
//! the steps, each with its command or API call, its timeout and how it is
//! verified. No I/O: the executor gathers, this decides, the executor acts.
//!
//! `checks`: the preflight checks (and the preempt trap's answer);
//! `steps`: the step list the checks allow.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::config::{ClusterConfig, FailoverConfig};
use crate::core::model::{ClusterSnapshot, Mode, VrrpState};
use crate::core::verdict::Assessment;

use super::lock::LockView;

mod checks;
mod steps;

use checks::{Checks, Ctx};

/// How the VIP is moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Stop keepalived on the master; keepalived and the notify scripts do
    /// the rest; start it again.
    Graceful,
    /// As graceful for VRRP, but vipdeck moves the cloud binding itself
    /// (ENI: `MigratePrivateIpAddress`; HAVIP: GARP from the target).
    Forced,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Graceful => "graceful",
            Method::Forced => "forced",
        }
    }
}

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub cluster: String,
    /// The peer that should hold the VIP afterwards.
    pub target: String,
    pub method: Method,
    /// The failing checks the operator overrides, by id (`--override
    /// anti_flap,lock_stale`, or the wizard's toggles); only the
    /// [`OVERRIDABLE`] ones can be.
    pub(crate) overrides: Vec<String>,
    /// `--old-master-dead`: the master cannot be reached and the operator
    /// says it is down; do not try to stop or start it.
    pub(crate) old_master_dead: bool,
    /// The operator's answer to the preempt trap: `Some(true)` start the old
    /// master again anyway, `Some(false)` leave it stopped, `None` not asked
    /// (then the plan leaves it stopped when starting it would pull the VIP
    /// back).
    pub(crate) restart_old_master: Option<bool>,
}

/// Facts the planner needs beyond the snapshot, gathered by the executor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Gathered {
    /// The failover lock on each peer.
    pub(crate) locks: [LockView; 2],
    /// When the last failover of this cluster (from the audit trail) started.
    pub(crate) last_failover: Option<DateTime<Utc>>,
    /// Set when the audit trail has damaged lines or cannot be read:
    /// anti-flap says so beside its verdict.
    pub(crate) audit_damage: Option<String>,
    /// Whether the cloud allows the target to hold the VIP (ENI: same
    /// subnet as the bound ENI; HAVIP: inside the `CheckAssociate` drift
    /// range). `None` when it could not be asked.
    pub(crate) target_allowed: Option<Result<(), String>>,
    /// The lock files' directory on the peers (`None`: the default).
    pub(crate) lock_dir: Option<String>,
    /// `user@host` of the operator planning: a maintenance window they
    /// opened themselves does not stand in their way.
    pub(crate) operator: String,
    /// The maintenance marker on each peer, read right before planning
    /// (the watch's first poll may not have said it yet).
    pub(crate) maintenance: [Option<crate::core::marker::MarkerSeen>; 2],
}

/// Bounds and windows; the defaults suit the clusters DESIGN.md describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// A second failover of a cluster within this window needs the
    /// `anti_flap` check overridden.
    pub(crate) flap_window: Duration,
    /// A lock older than this is stale.
    pub(crate) lock_stale_after: Duration,
    /// A VRRP transition this recent earns a warning.
    pub(crate) recent_transition: Duration,
    /// Facts older than this are not acted on.
    pub(crate) facts_fresh: Duration,
    pub(crate) stop_timeout: Duration,
    pub(crate) master_timeout: Duration,
    pub(crate) eni_binding_timeout: Duration,
    pub(crate) havip_binding_timeout: Duration,
    pub(crate) start_timeout: Duration,
    pub(crate) task_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            flap_window: Duration::from_secs(600),
            lock_stale_after: Duration::from_secs(900),
            recent_transition: Duration::from_secs(60),
            facts_fresh: Duration::from_secs(10),
            stop_timeout: Duration::from_secs(20),
            master_timeout: Duration::from_secs(20),
            eni_binding_timeout: Duration::from_secs(60),
            // The VPC can take up to 1-2 min to rebind an HAVIP.
            havip_binding_timeout: Duration::from_secs(150),
            start_timeout: Duration::from_secs(15),
            task_timeout: Duration::from_secs(60),
        }
    }
}

impl Settings {
    /// The config's `[failover]` table, with `VIPDECK_FAILOVER_FLAP_WINDOW_S`
    /// and `VIPDECK_FAILOVER_LOCK_STALE_S` applied when set to a number.
    pub(crate) fn from_config(f: &FailoverConfig) -> Settings {
        let mut s = Settings::from_table(f);
        s.apply_env(|name| std::env::var(name).ok());
        s
    }

    /// The `[failover]` table alone.
    pub(crate) fn from_table(f: &FailoverConfig) -> Settings {
        let d = Duration::from_secs;
        Settings {
            flap_window: d(f.anti_flap_window_s),
            lock_stale_after: d(f.lock_stale_after_s),
            stop_timeout: d(f.stop_timeout_s),
            master_timeout: d(f.master_timeout_s),
            eni_binding_timeout: d(f.eni_binding_timeout_s),
            havip_binding_timeout: d(f.havip_binding_timeout_s),
            start_timeout: d(f.start_timeout_s),
            task_timeout: d(f.task_timeout_s),
            ..Settings::default()
        }
    }

    /// The environment's overrides, read through `var`.
    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        let secs = |name: &str| {
            var(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
        };
        let s = self;
        if let Some(d) = secs("VIPDECK_FAILOVER_FLAP_WINDOW_S") {
            s.flap_window = d;
        }
        if let Some(d) = secs("VIPDECK_FAILOVER_LOCK_STALE_S") {
            s.lock_stale_after = d;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "FAIL",
        }
    }
}

/// One preflight check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Check {
    /// Stable id, e.g. `target_backup`.
    pub(crate) id: String,
    pub status: CheckStatus,
    pub(crate) reason: String,
    /// Whether the operator may override a failure (by its id).
    pub(crate) overridable: bool,
    /// A failure that the operator overrode.
    pub(crate) overridden: bool,
    /// What else clears a failure that cannot be overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fix: Option<Fix>,
}

/// The checks an operator may override, by id.
pub(crate) const OVERRIDABLE: [&str; 5] = [
    "anti_flap",
    "lock_stale",
    "configs_compatible",
    "cloud_reachable",
    "maintenance",
];

/// What clears a failing check that cannot be overridden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Fix {
    /// The forced move (the binding is moved by vipdeck).
    Force,
    /// The operator declares the unreachable master dead.
    OldMasterDead,
}

/// The face a plan or a refusal is shown in: each names its own flags and
/// keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Face {
    Cli,
    Tui,
}

impl Face {
    /// How to override the check `id` here.
    pub(crate) fn override_hint(self, id: &str) -> String {
        match self {
            Face::Cli => format!("--override {id} overrides it"),
            Face::Tui => {
                format!("Space on {id} in the wizard's overrides, then Enter, overrides it")
            }
        }
    }

    /// How to apply `fix` here.
    pub(crate) fn fix_hint(self, fix: Fix) -> &'static str {
        match (self, fix) {
            (Face::Cli, Fix::Force) => "move the binding with --force",
            (Face::Tui, Fix::Force) => "move the binding with F (forced move) on the dashboard",
            (Face::Cli, Fix::OldMasterDead) => "if it is down, say so with --old-master-dead",
            (Face::Tui, Fix::OldMasterDead) => {
                "if it is down, declare it dead when the wizard asks"
            }
        }
    }

    /// The hint a failing check gets here, if any.
    pub(crate) fn hint(self, c: &Check) -> Option<String> {
        if c.status != CheckStatus::Fail || c.overridden {
            return None;
        }
        if c.overridable {
            return Some(self.override_hint(&c.id));
        }
        c.fix.map(|f| self.fix_hint(f).to_string())
    }
}

/// What a step does; the executor dispatches on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub(crate) enum StepKind {
    /// Take the failover lock on the reachable peers.
    AcquireLock,
    /// Run `stop_cmd` on a peer; verified: keepalived not running.
    StopKeepalived {
        peer: usize,
    },
    /// Wait until the peer is MASTER (state file and keepalived's view)
    /// with the VIP on its NIC.
    WaitMaster {
        peer: usize,
    },
    /// Wait until the cloud binding is the peer (HAVIP: `FlushedTime`
    /// moved past the value seen when planning).
    WaitBinding {
        peer: usize,
        flushed_before: Option<DateTime<Utc>>,
    },
    /// `MigratePrivateIpAddress` + `DescribeVpcTaskResult`.
    MigrateIp {
        from_eni: String,
        to_eni: String,
    },
    /// Gratuitous ARP for the VIP from the peer's interface.
    Garp {
        peer: usize,
    },
    /// Run `start_cmd` on a peer.
    StartKeepalived {
        peer: usize,
    },
    /// Wait until the peer is BACKUP.
    WaitBackup {
        peer: usize,
    },
    /// The whole cluster as it should now be.
    Verify,
    ReleaseLock,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Step {
    pub kind: StepKind,
    pub(crate) description: String,
    /// The exact command (with the peer it runs on) or API call.
    pub(crate) action: String,
    pub timeout_ms: u64,
    /// How the step is known to have worked.
    pub(crate) verify: String,
}

impl Step {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// The plan shown to the operator and recorded in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub cluster: String,
    pub mode: Mode,
    pub vip: String,
    pub method: Method,
    /// The current VRRP master (the peer the VIP moves away from).
    pub source: Option<usize>,
    /// Where the cloud binds the VIP when planning.
    #[serde(default)]
    pub(crate) bound_to: Option<usize>,
    pub target: usize,
    pub peer_names: [String; 2],
    /// The target asked for when it is not a peer of the cluster (then
    /// `target` means nothing): the plan and its record name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) unknown_target: Option<String>,
    pub(crate) checks: Vec<Check>,
    pub(crate) steps: Vec<Step>,
    /// Keepalived on the old master stays stopped afterwards.
    pub(crate) leave_old_stopped: bool,
    pub(crate) old_master_dead: bool,
    /// Nothing to do: the target is MASTER and the cloud binding is it.
    pub(crate) noop: bool,
    pub(crate) planned_at: DateTime<Utc>,
    /// Notes for the operator (e.g. the preempt trap).
    pub(crate) notes: Vec<String>,
}

impl Plan {
    /// A failing check that was not overridden blocks the plan.
    pub(crate) fn blocked(&self) -> bool {
        self.checks
            .iter()
            .any(|c| c.status == CheckStatus::Fail && !c.overridden)
    }

    pub(crate) fn overridden(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| c.overridden)
            .map(|c| c.id.as_str())
            .collect()
    }

    pub(crate) fn target_name(&self) -> &str {
        match &self.unknown_target {
            Some(asked) => asked,
            None => &self.peer_names[self.target],
        }
    }

    pub(crate) fn source_name(&self) -> Option<&str> {
        self.source.map(|s| self.peer_names[s].as_str())
    }

    pub(crate) fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// What the move promises for the peer that does not take the VIP:
    /// no worse than it was.
    pub(crate) fn other_after(&self) -> OtherAfter {
        if self.old_master_dead {
            OtherAfter::NotChecked
        } else if self.check("other_stopped").is_some() {
            OtherAfter::StillStopped
        } else if self.leave_old_stopped {
            OtherAfter::LeftStopped
        } else {
            OtherAfter::Backup
        }
    }
}

/// How the peer that does not take the VIP should be after the move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OtherAfter {
    /// BACKUP without the VIP (it was running).
    Backup,
    /// keepalived was already stopped on it and nothing in the plan starts
    /// it: still stopped, as before.
    StillStopped,
    /// Stopped by the plan and left so (the preempt trap, or as asked).
    LeftStopped,
    /// Declared dead by the operator: not looked at.
    NotChecked,
}

impl OtherAfter {
    /// The VRRP state the verify step waits for on that peer (`None`: not
    /// looked at). A stopped peer that someone started meanwhile and that
    /// is BACKUP is no worse, and passes too.
    pub(crate) fn expect(self) -> Option<VrrpState> {
        match self {
            OtherAfter::Backup => Some(VrrpState::Backup),
            OtherAfter::StillStopped | OtherAfter::LeftStopped => Some(VrrpState::Stop),
            OtherAfter::NotChecked => None,
        }
    }

    /// The peer `name` as the verify step and the outcome say it.
    pub(crate) fn words(self, name: &str) -> String {
        match self {
            OtherAfter::Backup => format!("{name} BACKUP"),
            OtherAfter::StillStopped => format!("{name} still stopped, as before"),
            OtherAfter::LeftStopped => format!("{name} left stopped, as planned"),
            OtherAfter::NotChecked => format!("{name} not checked (declared dead)"),
        }
    }
}

/// Plans moving the VIP of `snap`'s cluster to `request.target`.
pub fn plan(
    snap: &ClusterSnapshot,
    assessment: &Assessment,
    cluster: &ClusterConfig,
    request: &Request,
    gathered: &Gathered,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Plan {
    let names = [cluster.peers[0].name.clone(), cluster.peers[1].name.clone()];
    let mut checks = Checks {
        list: Vec::new(),
        overrides: request.overrides.clone(),
    };
    let target = cluster.peer_index(&request.target);
    let mut plan = Plan {
        cluster: cluster.name.clone(),
        mode: cluster.mode,
        vip: cluster.vip.to_string(),
        method: request.method,
        source: None,
        bound_to: assessment.vip_bound_to,
        target: target.unwrap_or(0),
        peer_names: names.clone(),
        checks: Vec::new(),
        steps: Vec::new(),
        leave_old_stopped: false,
        old_master_dead: request.old_master_dead,
        unknown_target: None,
        noop: false,
        planned_at: now,
        notes: Vec::new(),
    };
    let Some(t) = target else {
        checks.fail(
            "target_known",
            format!(
                "`{}` is not a peer of cluster {} (peers: {}, {})",
                request.target, cluster.name, names[0], names[1]
            ),
            false,
        );
        plan.checks = checks.list;
        plan.unknown_target = Some(request.target.clone());
        plan.source = assessment.master;
        return plan;
    };
    let ctx = Ctx {
        snap,
        assessment,
        cluster,
        request,
        gathered,
        settings,
        now,
        names,
        t,
        other: 1 - t,
    };

    // Who is master now, and where the cloud says the VIP is.
    let target_is_master = assessment.master == Some(t);
    if assessment.master == Some(ctx.other) {
        plan.source = Some(ctx.other);
    }
    checks.pass(
        "target_known",
        format!("{} is a peer of {}", ctx.tname(), cluster.name),
    );

    // Nothing to do?
    if target_is_master && assessment.vip_bound_to == Some(t) {
        plan.noop = true;
        checks.pass(
            "already_there",
            format!(
                "{0} is already MASTER and the cloud binding is {0}",
                ctx.tname()
            ),
        );
        plan.checks = checks.list;
        return plan;
    }

    let stops_old = !target_is_master && !request.old_master_dead;
    let (leave_old_stopped, note) = checks::all(&ctx, &mut checks, target_is_master, stops_old);
    plan.leave_old_stopped = leave_old_stopped;

    plan.checks = checks.list;
    plan.notes = note.into_iter().collect();
    let lock_file = match &gathered.lock_dir {
        Some(dir) => crate::core::lockfile::lock_path_in(dir, &cluster.name),
        None => crate::core::lockfile::lock_path(&cluster.name),
    };
    plan.steps = steps::steps(
        &plan,
        &lock_file,
        target_is_master,
        cluster,
        (ctx.bound_eni(), ctx.target_eni()),
        snap,
        settings,
    );
    plan
}

/// The plan as text for the terminal.
pub(crate) fn render(plan: &Plan, face: Face) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let bound;
    let from = match (plan.source_name(), plan.bound_to) {
        (Some(s), _) => s,
        (None, Some(b)) => {
            bound = format!("cloud binding on {}", plan.peer_names[b]);
            bound.as_str()
        }
        (None, None) => "(no master)",
    };
    let _ = writeln!(
        s,
        "Failover plan: cluster {} ({} mode, VIP {}), {} → {}, method {}",
        plan.cluster,
        plan.mode,
        plan.vip,
        from,
        plan.target_name(),
        plan.method.as_str()
    );
    let _ = writeln!(s, "\nPreflight checks:");
    // Failing, then warning (and overridden), then passing checks.
    let rank = |c: &Check| match (c.status, c.overridden) {
        (CheckStatus::Fail, false) => 0,
        (CheckStatus::Fail, true) | (CheckStatus::Warn, _) => 1,
        (CheckStatus::Pass, _) => 2,
    };
    let mut checks: Vec<&Check> = plan.checks.iter().collect();
    checks.sort_by_key(|c| rank(c));
    for c in checks {
        let mark = match (c.status, c.overridden) {
            (CheckStatus::Fail, true) => "OVERRIDDEN",
            (st, _) => st.as_str(),
        };
        let ov = face.hint(c).map(|h| format!(" ({h})")).unwrap_or_default();
        let _ = writeln!(s, "  [{mark:>4}] {:<26} {}{ov}", c.id, c.reason);
    }
    if plan.noop {
        let _ = writeln!(s, "\nNothing to do.");
        return s;
    }
    if !plan.notes.is_empty() {
        let _ = writeln!(s, "\nNotes:");
        for n in &plan.notes {
            let _ = writeln!(s, "  - {n}");
        }
    }
    let _ = writeln!(s, "\nSteps:");
    for (i, st) in plan.steps.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {}. {} (timeout {})\n       do:     {}\n       verify: {}",
            i + 1,
            st.description,
            crate::core::humanize::duration(st.timeout()),
            st.action,
            st.verify
        );
    }
    let ov = plan.overridden();
    if !ov.is_empty() {
        let _ = writeln!(s, "\nOverridden: {}", ov.join(", "));
    }
    if plan.blocked() {
        let _ = writeln!(s, "\nBLOCKED: a check failed; nothing will be changed.");
    }
    s
}

#[cfg(test)]
mod testkit;

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;

    /// The `[failover]` table sets the windows and timeouts; the
    /// environment still wins for the two it names.
    #[test]
    fn settings_come_from_the_failover_table_then_the_environment() {
        let text = "[failover]\nanti_flap_window_s = 120\nlock_stale_after_s = 60\n\
                    havip_binding_timeout_s = 90\n";
        let c = crate::core::config::parse(text, std::path::Path::new("t.toml")).expect("config");
        let mut s = Settings::from_table(&c.failover);
        assert_eq!(s.flap_window, Duration::from_secs(120));
        assert_eq!(s.lock_stale_after, Duration::from_secs(60));
        assert_eq!(s.havip_binding_timeout, Duration::from_secs(90));
        assert_eq!(s.master_timeout, Settings::default().master_timeout);
        s.apply_env(|name| (name == "VIPDECK_FAILOVER_FLAP_WINDOW_S").then(|| "0".to_string()));
        assert_eq!(s.flap_window, Duration::ZERO);
        assert_eq!(s.lock_stale_after, Duration::from_secs(60));
        assert_eq!(
            Settings::from_table(&FailoverConfig::default()),
            Settings::default()
        );
        let bad = crate::core::config::parse(
            "[failover]\nstop_timeout_s = 0\n",
            std::path::Path::new("t.toml"),
        );
        assert!(bad.is_err_and(|e| e.to_string().contains("failover.stop_timeout_s")));
    }

    #[test]
    fn an_unknown_target_blocks_and_names_the_peers() {
        let (c, cfg) = healthy("eni");
        let p = run(&c, &cfg, &request("n3"), &allowed());
        assert!(p.blocked());
        let chk = p.check("target_known").expect("check");
        assert!(chk.reason.contains("n1, n2"), "{}", chk.reason);
        assert!(p.steps.is_empty());
        // The header names the target asked for, not a peer of the cluster.
        let text = render(&p, Face::Cli);
        let header = text.lines().next().unwrap_or_default();
        assert!(header.ends_with("n1 → n3, method graceful"), "{header}");
        assert_eq!(p.target_name(), "n3");
    }

    #[test]
    fn nothing_to_do_when_the_target_already_holds_everything() {
        let (c, cfg) = healthy("eni");
        let p = run(&c, &cfg, &request("n1"), &allowed());
        assert!(p.noop && !p.blocked() && p.steps.is_empty());
        assert!(render(&p, Face::Cli).contains("Nothing to do"));
    }

    #[test]
    fn plans_serialize_for_the_audit_trail() {
        let (c, cfg) = healthy("havip");
        let p = run(&c, &cfg, &forced("n2"), &allowed());
        let json = serde_json::to_string(&p).expect("json");
        let back: Plan = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, p);
        assert!(json.contains("\"kind\":\"garp\""));
    }
}
