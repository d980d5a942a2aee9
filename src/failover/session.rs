//! One failover session, the same for every face: plan, ask the
//! preempt-trap question, refuse (recording the refusal), hold the lock,
//! confirm, execute, record the attempt. A face only says how to ask and
//! how to show ([`Prompt`]): the command line reads stdin and prints
//! (`faces::cli::failover`), the TUI wizard talks over a channel
//! ([`ChannelPrompt`], `faces::tui::failover`). So the questions, the
//! refusals and the records are the same whichever face the operator uses.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::audit::{self, Confirmation, Outcome};
use super::exec::{Executor, LockHandle, RunResult, Ui};
use super::lock;
use super::plan::{self, CheckStatus, Face, Fix, Plan, Request, Step};

/// The operator's side of a session: questions, confirmations, progress
/// (through [`Ui`]).
pub(crate) trait Prompt: Ui {
    /// Where the operator answered, as the records say it: `""` on the
    /// command line, `" in the TUI"`.
    fn place(&self) -> &'static str;
    /// Which face this is: plans and refusals name its flags and keys.
    fn face(&self) -> Face;
    /// Whether someone is there to answer.
    fn interactive(&self) -> bool;
    /// Shows the plan.
    fn show_plan(&mut self, text: &str);
    /// The plan on one screen, for a face short of room (after each
    /// [`Prompt::show_plan`]).
    fn show_summary(&mut self, lines: Vec<String>) {
        let _ = lines;
    }
    /// The plan is blocked only by checks that can be overridden: which
    /// of `offered` does the operator override? `None` or nothing chosen
    /// refuses. A face that takes overrides up front (flags) says `None`.
    async fn choose_overrides(&mut self, offered: &[(String, String)]) -> Option<Vec<String>> {
        let _ = offered;
        None
    }
    /// The old master cannot be reached: does the operator declare it
    /// dead? What was typed (the session compares it with
    /// [`DeadQuestion::phrase`]); `None` when declined, or when this face
    /// does not ask (the command line takes `--old-master-dead` up front).
    async fn declare_dead(&mut self, question: &DeadQuestion) -> Option<String> {
        let _ = question;
        None
    }
    /// A yes/no question (no when nobody answers).
    async fn ask(&mut self, question: &str) -> bool;
    /// Asks the operator to type the target peer's name: what was typed,
    /// `None` when cancelled.
    async fn type_target(&mut self, target: &str) -> Option<String>;
    /// The executor is about to run; setting `interrupt` stops the step
    /// being waited for and asks [`Ui::confirm_abandon`].
    fn running(&mut self, interrupt: Arc<AtomicBool>) {
        let _ = interrupt;
    }
    /// Something the operator must know that is beside the flow (a refusal
    /// or an attempt that could not be recorded).
    fn warn(&mut self, msg: &str);
}

/// The cluster's side of a session: the [`Executor`], or a fake in tests.
pub(crate) trait Cluster {
    /// Gathers, then plans.
    async fn plan(&mut self, request: &Request, audit_path: Option<&Path>) -> Plan;
    /// Takes the failover lock on the peers (reading it first).
    async fn lock(&mut self, plan: &Plan) -> Result<LockHandle, String>;
    async fn unlock(&mut self, lock: &LockHandle);
    fn interrupt_handle(&self) -> Arc<AtomicBool>;
    /// A change to it must be in the audit trail (a real cluster; the
    /// simulator's practice runs are recorded only where there is a
    /// data dir).
    fn audited(&self) -> bool;
    async fn execute(
        &mut self,
        plan: &Plan,
        confirmations: Vec<Confirmation>,
        confirmed_at: DateTime<Utc>,
        ui: &mut dyn Ui,
        lock: LockHandle,
    ) -> RunResult;
}

impl Cluster for Executor {
    async fn plan(&mut self, request: &Request, audit_path: Option<&Path>) -> Plan {
        Executor::plan(self, request, audit_path).await
    }
    async fn lock(&mut self, plan: &Plan) -> Result<LockHandle, String> {
        let seen = self.gather(None).await.locks;
        self.acquire_lock(plan, &seen).await
    }
    async fn unlock(&mut self, lock: &LockHandle) {
        self.release_lock(lock).await;
    }
    fn interrupt_handle(&self) -> Arc<AtomicBool> {
        Executor::interrupt_handle(self)
    }
    fn audited(&self) -> bool {
        Executor::real(self)
    }
    async fn execute(
        &mut self,
        plan: &Plan,
        confirmations: Vec<Confirmation>,
        confirmed_at: DateTime<Utc>,
        ui: &mut dyn Ui,
        lock: LockHandle,
    ) -> RunResult {
        Executor::execute(self, plan, confirmations, confirmed_at, ui, lock).await
    }
}

/// What the operator asked for, beyond the request.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) request: Request,
    /// Show the plan and change nothing.
    pub(crate) dry_run: bool,
    /// Do not ask for the confirmation.
    pub(crate) yes: bool,
    /// Where attempts and refusals are recorded (`None`: nowhere).
    pub(crate) audit_path: Option<PathBuf>,
}

/// How a session ended.
#[derive(Debug)]
pub(crate) enum End {
    /// The target already holds the VIP.
    NothingToDo,
    /// `--dry-run`: the plan was shown.
    DryRun { blocked: bool },
    /// Nothing was changed: blocked by a check, no one to confirm, the lock.
    Refused { why: String },
    /// The operator did not type the target's name.
    NotConfirmed,
    /// The plan ran.
    Ran(Box<RunResult>),
}

impl End {
    /// The exit code: 0 moved and verified (or nothing to do), 1 nothing
    /// changed, 2 not moved and a safe state restored, 3 unknown or moved
    /// somewhere else.
    pub fn code(&self) -> u8 {
        match self {
            End::NothingToDo => 0,
            End::DryRun { blocked } => u8::from(*blocked),
            End::Refused { .. } | End::NotConfirmed => 1,
            End::Ran(r) => match r.outcome {
                Outcome::MovedVerified => 0,
                Outcome::NotStarted => 1,
                // Not moved, and the cluster is safe where it was.
                Outcome::RolledBack | Outcome::NotMoved => 2,
                Outcome::MovedElsewhere | Outcome::Unknown => 3,
            },
        }
    }

    /// Whether it ended well (the VIP where it was asked to be).
    pub(crate) fn ok(&self) -> bool {
        match self {
            End::NothingToDo => true,
            End::Ran(r) => r.outcome == Outcome::MovedVerified,
            _ => false,
        }
    }

    /// Nothing was changed because the session said no.
    pub(crate) fn refused(&self) -> bool {
        matches!(self, End::Refused { .. } | End::NotConfirmed)
    }

    /// The end in words, the same in every face (empty when the plan
    /// already said it).
    pub fn text(&self) -> String {
        match self {
            End::NothingToDo => String::new(),
            End::DryRun { .. } => "--dry-run: nothing was changed.".into(),
            End::Refused { why } => format!("refused: {why}; nothing was changed"),
            End::NotConfirmed => "not confirmed; nothing was changed".into(),
            End::Ran(r) => {
                let took = r
                    .switchover
                    .map(|d| {
                        format!(
                            " Switchover time (confirm → verified): {:.2}s.",
                            d.as_secs_f64()
                        )
                    })
                    .unwrap_or_default();
                let ids = if r.record.request_ids.is_empty() {
                    String::new()
                } else {
                    format!("\nCloud RequestIds: {}", r.record.request_ids.join(", "))
                };
                // The clients' side beside the control plane's times; a VIP
                // that does not answer is a warning whatever the outcome.
                format!(
                    "Outcome: {}.{took}\n{}\n{}{ids}",
                    r.headline,
                    r.clients.line(),
                    r.state_left
                )
            }
        }
    }
}

/// The preempt-trap question, when the plan has the trap and someone can
/// answer before anything is done.
pub(crate) fn preempt_question(plan: &Plan, interactive: bool, dry_run: bool) -> Option<String> {
    (plan.check("preempt_trap").is_some() && interactive && !dry_run && !plan.blocked()).then(
        || {
            format!(
                "Start keepalived on {} again afterwards anyway (it will take the VIP back)?",
                plan.peer_names[1 - plan.target]
            )
        },
    )
}

/// The question a face asks before declaring the old master dead: its own
/// typed confirmation, distinct from the target's name, and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadQuestion {
    /// The peer that cannot be reached (the old master).
    pub peer: String,
    /// What the operator types to declare it.
    pub phrase: String,
    /// What declaring it dead means, line by line.
    pub meaning: Vec<String>,
}

/// The question to ask when the plan is blocked because the old master
/// cannot be reached (a failing check whose fix is declaring it dead).
pub(crate) fn dead_question(plan: &Plan) -> Option<DeadQuestion> {
    plan.checks.iter().find(|c| {
        c.status == CheckStatus::Fail && !c.overridden && c.fix == Some(Fix::OldMasterDead)
    })?;
    let peer = plan.peer_names[1 - plan.target].clone();
    let target = plan.target_name().to_string();
    Some(DeadQuestion {
        phrase: format!("{peer} is dead"),
        meaning: vec![
            format!(
                "{peer} cannot be reached: declare it dead only if you know it is down \
                 (console: the CVM stopped, no ping, no ssh)."
            ),
            format!(
                "vipdeck will not stop keepalived on {peer} (nor start it again) and the \
                 cloud binding moves to {target} regardless: if {peer} is alive after all, \
                 both may claim the VIP."
            ),
        ],
        peer,
    })
}

/// Why a blocked plan is refused, naming the failed checks and, for each,
/// the flag or key of `face` that clears it.
pub(crate) fn blocked_why(plan: &Plan, face: Face) -> String {
    let failed: Vec<String> = plan
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail && !c.overridden)
        .map(|c| match face.hint(c) {
            Some(h) => format!("{}: {} — {h}", c.id, c.reason),
            None => format!("{}: {}", c.id, c.reason),
        })
        .collect();
    format!("blocked by preflight checks ({})", failed.join("; "))
}

/// The failing checks of a plan blocked only by overridable ones, with
/// their reasons (empty when another check blocks it too).
pub(crate) fn overridable_failures(plan: &Plan) -> Vec<(String, String)> {
    let failing: Vec<_> = plan
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail && !c.overridden)
        .collect();
    if failing.iter().all(|c| c.overridable) {
        failing
            .into_iter()
            .map(|c| (c.id.clone(), c.reason.clone()))
            .collect()
    } else {
        Vec::new()
    }
}

fn confirmation(what: String, answer: String) -> Confirmation {
    Confirmation {
        what,
        answer,
        at: Utc::now(),
    }
}

/// Runs one failover session: everything between the operator's request
/// and the recorded end.
pub(crate) async fn run<C: Cluster, P: Prompt>(
    cluster: &mut C,
    prompt: &mut P,
    opts: Options,
) -> End {
    let audit_path = opts.audit_path.as_deref();
    let mut request = opts.request.clone();
    let mut plan = cluster.plan(&request, audit_path).await;
    let mut confirmations = Vec::new();

    // The preempt trap: ask when someone can answer; otherwise the plan
    // leaves the old master stopped (the safe choice).
    if let Some(q) = preempt_question(&plan, prompt.interactive(), opts.dry_run) {
        show(prompt, &plan);
        let yes = prompt.ask(&q).await;
        confirmations.push(confirmation(
            format!("restart the old master despite preempt{}", prompt.place()),
            if yes { "yes" } else { "no" }.into(),
        ));
        request.restart_old_master = Some(yes);
        plan = cluster.plan(&request, audit_path).await;
    }
    show(prompt, &plan);

    if plan.noop {
        return End::NothingToDo;
    }
    if opts.dry_run {
        return End::DryRun {
            blocked: plan.blocked(),
        };
    }
    // The old master cannot be reached: a face that asks lets the operator
    // declare it dead, typed as its own confirmation, and re-plans as the
    // command line's --old-master-dead does.
    if let Some(q) =
        dead_question(&plan).filter(|_| prompt.interactive() && !request.old_master_dead)
    {
        if let Some(typed) = prompt.declare_dead(&q).await {
            let typed = typed.trim().to_string();
            let declared = typed == q.phrase;
            confirmations.push(confirmation(
                format!("declare {} dead{}", q.peer, prompt.place()),
                typed,
            ));
            if declared {
                request.old_master_dead = true;
                plan = cluster.plan(&request, audit_path).await;
                show(prompt, &plan);
            }
        }
    }
    // Blocked only by overridable checks: a face with toggles offers them.
    let offered = overridable_failures(&plan);
    if plan.blocked() && !offered.is_empty() && prompt.interactive() {
        let chosen = prompt.choose_overrides(&offered).await.unwrap_or_default();
        if !chosen.is_empty() {
            for id in &chosen {
                confirmations.push(confirmation(
                    format!("override {id}{}", prompt.place()),
                    "yes".into(),
                ));
            }
            request.overrides.extend(chosen);
            plan = cluster.plan(&request, audit_path).await;
            show(prompt, &plan);
        }
    }
    if plan.blocked() {
        let why = blocked_why(&plan, prompt.face());
        return refuse(prompt, audit_path, &plan, why, confirmations);
    }
    // The audit trail fails closed (below): without a data dir at all
    // there is no trail to write, so a real cluster is not changed.
    if audit_path.is_none() && cluster.audited() {
        return End::Refused {
            why: "no data dir for the audit trail (no VIPDECK_DATA_DIR and no home \
                  directory): every failover is recorded before its first change; \
                  nothing was changed (set VIPDECK_DATA_DIR to a writable directory)"
                .into(),
        };
    }
    if !opts.yes && !prompt.interactive() {
        let why = "no terminal to confirm on: pass --yes to run without confirmation";
        return refuse(prompt, audit_path, &plan, why.into(), confirmations);
    }
    // Reserve the cluster before asking: nobody can start another failover
    // between this plan and the answer.
    let lock = match cluster.lock(&plan).await {
        Ok(l) => l,
        Err(e) => return refuse(prompt, audit_path, &plan, e, confirmations),
    };
    if opts.yes {
        confirmations.push(confirmation("--yes".into(), "yes".into()));
    } else {
        let typed = prompt.type_target(plan.target_name()).await;
        confirmations.push(confirmation(
            format!(
                "type the target's name ({}){}",
                plan.target_name(),
                prompt.place()
            ),
            typed.as_deref().map(str::trim).unwrap_or("").to_string(),
        ));
        if typed.as_deref().map(str::trim) != Some(plan.target_name()) {
            cluster.unlock(&lock).await;
            record(prompt, audit_path, &plan, "not confirmed", confirmations);
            return End::NotConfirmed;
        }
    }
    // The audit trail fails closed: the plan is on disk (fsynced) before
    // the first change, or nothing changes.
    if let Some(p) = audit_path {
        if let Err(e) = audit::begin(p, &plan, lock::who(), confirmations.clone()) {
            cluster.unlock(&lock).await;
            return End::Refused {
                why: format!(
                    "cannot write the audit trail {}: {e}; nothing was changed \
                     (make the data dir writable, or set VIPDECK_DATA_DIR)",
                    p.display()
                ),
            };
        }
    }
    let confirmed_at = Utc::now();
    prompt.running(cluster.interrupt_handle());
    let result = cluster
        .execute(&plan, confirmations, confirmed_at, prompt, lock)
        .await;
    if let Some(p) = audit_path {
        if let Err(e) = audit::append(p, &result.record) {
            prompt.warn(&format!(
                "cannot write the audit trail {}: {e}",
                p.display()
            ));
        }
    }
    End::Ran(Box::new(result))
}

/// Shows the plan, whole and in summary.
fn show<P: Prompt>(prompt: &mut P, plan: &Plan) {
    prompt.show_plan(&plan::render(plan, prompt.face()));
    prompt.show_summary(super::summary::summary(plan, "Tab"));
}

fn refuse<P: Prompt>(
    prompt: &mut P,
    audit_path: Option<&Path>,
    plan: &Plan,
    why: String,
    confirmations: Vec<Confirmation>,
) -> End {
    record(prompt, audit_path, plan, &why, confirmations);
    End::Refused { why }
}

/// Records a refusal; one that cannot be recorded is said, not dropped.
fn record<P: Prompt>(
    prompt: &mut P,
    audit_path: Option<&Path>,
    plan: &Plan,
    why: &str,
    confirmations: Vec<Confirmation>,
) {
    if let Err(e) = record_refusal(audit_path, plan, why, confirmations) {
        prompt.warn(&format!("{e} (this refusal is not recorded)"));
    }
}

/// Records an attempt that changed nothing (blocked, refused, not confirmed).
pub(crate) fn record_refusal(
    audit_path: Option<&Path>,
    plan: &Plan,
    why: &str,
    confirmations: Vec<Confirmation>,
) -> Result<(), String> {
    let now = Utc::now();
    let rec = audit::Record {
        id: format!("{:016x}", rand::random::<u64>()),
        cluster: plan.cluster.clone(),
        from: plan.source_name().map(str::to_string),
        to: plan.target_name().to_string(),
        method: plan.method.as_str().to_string(),
        by: lock::who(),
        started: now,
        ended: now,
        plan: plan.clone(),
        confirmations,
        steps: vec![],
        request_ids: vec![],
        outcome: Outcome::NotStarted,
        state_left: format!("{why}; nothing was changed"),
        switchover_ms: None,
        binding_ms: None,
        duration_ms: 0,
        clients: None,
    };
    match audit_path {
        Some(p) => audit::append(p, &rec)
            .map_err(|e| format!("cannot write the audit trail {}: {e}", p.display())),
        None => Ok(()),
    }
}

/// Progress as messages, for a face that runs the session in a task.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    StepStarted {
        index: usize,
        total: usize,
        description: String,
        /// The step's own bound: what the face counts down against.
        timeout: Duration,
    },
    Status {
        status: String,
        elapsed: Duration,
    },
    StepFinished {
        ok: bool,
        detail: String,
        elapsed: Duration,
    },
    Note(String),
}

/// What a session in a task says to its face ([`ChannelPrompt`]).
#[derive(Debug)]
pub enum Event {
    /// The plan to show.
    Plan {
        text: String,
    },
    /// The plan on one screen.
    Summary {
        lines: Vec<String>,
    },
    /// A yes/no question; the answer goes back on `reply`.
    Question {
        text: String,
        reply: oneshot::Sender<bool>,
    },
    /// The plan is blocked only by overridable checks (id, reason): the
    /// ones the operator overrides go back on `reply` (none: refused).
    Overrides {
        offered: Vec<(String, String)>,
        reply: oneshot::Sender<Vec<String>>,
    },
    /// The old master cannot be reached: declare it dead? What was typed
    /// goes back on `reply` (`None`: declined).
    DeclareDead {
        question: DeadQuestion,
        reply: oneshot::Sender<Option<String>>,
    },
    /// The lock is held: type the target's name (`None`: cancelled).
    Confirm {
        target: String,
        reply: oneshot::Sender<Option<String>>,
    },
    /// The executor runs; set `interrupt` to stop the step waited for.
    Running {
        interrupt: Arc<AtomicBool>,
    },
    Progress(Progress),
    /// Something the operator must know (a refusal that is not recorded).
    Warning(String),
    /// The end, in words (also when nothing was done).
    Done {
        text: String,
        ok: bool,
    },
}

/// A [`Prompt`] over a channel: questions go out as [`Event`]s with a
/// reply channel, progress as [`Event::Progress`]. `abandon` is set by the
/// face when the operator confirmed abandoning after an interrupt.
pub(crate) struct ChannelPrompt {
    pub(crate) tx: mpsc::UnboundedSender<Event>,
    pub(crate) abandon: Arc<AtomicBool>,
}

impl ChannelPrompt {
    fn send(&self, e: Event) {
        // A face that closed its end no longer shows anything.
        let _ = self.tx.send(e);
    }
}

impl Ui for ChannelPrompt {
    fn step_started(&mut self, index: usize, total: usize, step: &Step) {
        self.send(Event::Progress(Progress::StepStarted {
            index,
            total,
            description: step.description.clone(),
            timeout: step.timeout(),
        }));
    }
    fn progress(&mut self, status: &str, elapsed: Duration) {
        self.send(Event::Progress(Progress::Status {
            status: status.to_string(),
            elapsed,
        }));
    }
    fn step_finished(&mut self, ok: bool, detail: &str, elapsed: Duration) {
        self.send(Event::Progress(Progress::StepFinished {
            ok,
            detail: detail.to_string(),
            elapsed,
        }));
    }
    fn confirm_abandon(&mut self) -> bool {
        self.abandon.load(Ordering::SeqCst)
    }
}

impl Prompt for ChannelPrompt {
    fn place(&self) -> &'static str {
        " in the TUI"
    }
    fn face(&self) -> Face {
        Face::Tui
    }
    async fn choose_overrides(&mut self, offered: &[(String, String)]) -> Option<Vec<String>> {
        let (reply, answer) = oneshot::channel();
        self.send(Event::Overrides {
            offered: offered.to_vec(),
            reply,
        });
        answer.await.ok()
    }
    fn interactive(&self) -> bool {
        true
    }
    fn show_plan(&mut self, text: &str) {
        self.send(Event::Plan {
            text: text.to_string(),
        });
    }
    fn show_summary(&mut self, lines: Vec<String>) {
        self.send(Event::Summary { lines });
    }
    async fn ask(&mut self, question: &str) -> bool {
        let (reply, answer) = oneshot::channel();
        self.send(Event::Question {
            text: question.to_string(),
            reply,
        });
        answer.await.unwrap_or(false)
    }
    async fn declare_dead(&mut self, question: &DeadQuestion) -> Option<String> {
        let (reply, answer) = oneshot::channel();
        self.send(Event::DeclareDead {
            question: question.clone(),
            reply,
        });
        answer.await.ok().flatten()
    }
    async fn type_target(&mut self, target: &str) -> Option<String> {
        let (reply, answer) = oneshot::channel();
        self.send(Event::Confirm {
            target: target.to_string(),
            reply,
        });
        answer.await.ok().flatten()
    }
    fn running(&mut self, interrupt: Arc<AtomicBool>) {
        self.send(Event::Running { interrupt });
    }
    fn warn(&mut self, msg: &str) {
        self.send(Event::Warning(msg.to_string()));
    }
}

/// A cluster that answers from a script, for the session's and the
/// wizard's tests: no peers, no cloud.
#[cfg(test)]
pub(crate) mod fake {
    use super::*;
    use crate::core::model::Mode;
    use crate::failover::audit::Record;
    use crate::failover::plan::{Check, Method};

    /// What the fake plans and answers; what it was asked.
    #[derive(Debug, Default)]
    pub(crate) struct FakeCluster {
        /// The old master preempts: the plan warns `preempt_trap`.
        pub preempt: bool,
        /// A check that fails (the plan is blocked).
        pub failing: Option<&'static str>,
        /// The lock is refused with this.
        pub lock_refused: Option<String>,
        /// The outcome of a run.
        pub outcome: Option<Outcome>,
        pub requests: Vec<Request>,
        pub unlocked: usize,
        pub executed: Vec<Vec<Confirmation>>,
        /// A real cluster: its changes must be audited.
        pub audited: bool,
        /// The old master (n1) cannot be reached: blocked unless declared
        /// dead.
        pub master_unreachable: bool,
    }

    fn check(id: &str, status: CheckStatus, overridable: bool) -> Check {
        Check {
            id: id.into(),
            status,
            reason: format!("{id} reason"),
            overridable,
            overridden: false,
            fix: None,
        }
    }

    /// The plan the fake makes for `request` (n1 MASTER → n2).
    pub(crate) fn plan_for(c: &FakeCluster, request: &Request) -> Plan {
        let mut checks = vec![check("target_known", CheckStatus::Pass, false)];
        let mut leave_old_stopped = false;
        if c.preempt {
            checks.push(check("preempt_trap", CheckStatus::Warn, false));
            leave_old_stopped = request.restart_old_master != Some(true);
        }
        if c.master_unreachable && request.old_master_dead {
            checks.push(check("old_master_reachable", CheckStatus::Warn, false));
        } else if c.master_unreachable {
            let mut unreachable = check("old_master_reachable", CheckStatus::Fail, false);
            unreachable.fix = Some(Fix::OldMasterDead);
            checks.push(unreachable);
        }
        if let Some(id) = c.failing {
            let mut failing = check(id, CheckStatus::Fail, true);
            failing.overridden = request.overrides.iter().any(|o| o == id);
            checks.push(failing);
        }
        Plan {
            cluster: request.cluster.clone(),
            mode: Mode::Eni,
            vip: "192.0.2.10".into(),
            method: request.method,
            source: Some(0),
            bound_to: Some(0),
            target: usize::from(request.target == "n2"),
            peer_names: ["n1".into(), "n2".into()],
            checks,
            steps: vec![],
            leave_old_stopped,
            old_master_dead: request.old_master_dead,
            unknown_target: None,
            noop: false,
            planned_at: Utc::now(),
            notes: vec![],
        }
    }

    pub(crate) fn request() -> Request {
        Request {
            cluster: "web".into(),
            target: "n2".into(),
            method: Method::Graceful,
            overrides: vec![],
            old_master_dead: false,
            restart_old_master: None,
        }
    }

    pub(crate) fn options(audit_path: Option<PathBuf>) -> Options {
        Options {
            request: request(),
            dry_run: false,
            yes: false,
            audit_path,
        }
    }

    impl Cluster for FakeCluster {
        async fn plan(&mut self, request: &Request, _audit_path: Option<&Path>) -> Plan {
            self.requests.push(request.clone());
            plan_for(self, request)
        }
        async fn lock(&mut self, _plan: &Plan) -> Result<LockHandle, String> {
            match &self.lock_refused {
                Some(e) => Err(e.clone()),
                None => Ok(LockHandle {
                    token: "tok".into(),
                    held: [true, true],
                    by: "ops@desk".into(),
                    since: Utc::now(),
                }),
            }
        }
        async fn unlock(&mut self, _lock: &LockHandle) {
            self.unlocked += 1;
        }
        fn interrupt_handle(&self) -> Arc<AtomicBool> {
            Arc::new(AtomicBool::new(false))
        }
        fn audited(&self) -> bool {
            self.audited
        }
        async fn execute(
            &mut self,
            plan: &Plan,
            confirmations: Vec<Confirmation>,
            confirmed_at: DateTime<Utc>,
            ui: &mut dyn Ui,
            lock: LockHandle,
        ) -> RunResult {
            self.executed.push(confirmations.clone());
            let _ = ui;
            let outcome = self.outcome.unwrap_or(Outcome::MovedVerified);
            let record = Record {
                id: lock.token,
                cluster: plan.cluster.clone(),
                from: plan.source_name().map(str::to_string),
                to: plan.target_name().to_string(),
                method: plan.method.as_str().to_string(),
                by: lock.by,
                started: confirmed_at,
                ended: confirmed_at,
                plan: plan.clone(),
                confirmations,
                steps: vec![],
                request_ids: vec![],
                outcome,
                state_left: "n2 MASTER".into(),
                switchover_ms: None,
                binding_ms: None,
                duration_ms: 0,
                clients: None,
            };
            RunResult {
                outcome,
                headline: outcome.as_str().into(),
                state_left: "n2 MASTER".into(),
                switchover: None,
                clients: crate::core::interruption::Interruption::NoProbe,
                record,
            }
        }
    }
}

/// The flow, refusals and records, without a lab. The lab tests
/// (tests/failover_lab.rs) reach these ends of a session on real peers:
/// a dry run (plan shown, nothing changed, exit 0), refused without a
/// terminal and `--yes` ("pass --yes", exit 1), refused by the anti-flap
/// check (blocked, exit 1), refused by a lock another failover holds
/// (exit 1), and the exit codes of the outcomes (0 moved and verified,
/// 2 rolled back / not moved, 3 unknown). Beyond the lab: the preempt
/// question, not confirmed, a refusal that cannot be recorded.
#[cfg(test)]
mod tests {
    use super::fake::{options, FakeCluster};
    use super::*;

    /// Answers from a script and remembers what it was asked.
    #[derive(Default)]
    struct Script {
        interactive: bool,
        yes: bool,
        typed: Option<String>,
        asked: Vec<String>,
        warned: Vec<String>,
        plans: usize,
        /// What the operator types to the dead-master question (`None`:
        /// declines, or a face that does not ask).
        dead: Option<String>,
        dead_asked: Vec<DeadQuestion>,
    }

    impl Ui for Script {
        fn step_started(&mut self, _: usize, _: usize, _: &Step) {}
        fn progress(&mut self, _: &str, _: Duration) {}
        fn step_finished(&mut self, _: bool, _: &str, _: Duration) {}
        fn confirm_abandon(&mut self) -> bool {
            false
        }
    }

    impl Prompt for Script {
        fn place(&self) -> &'static str {
            ""
        }
        fn face(&self) -> Face {
            Face::Cli
        }
        fn interactive(&self) -> bool {
            self.interactive
        }
        fn show_plan(&mut self, _: &str) {
            self.plans += 1;
        }
        async fn ask(&mut self, question: &str) -> bool {
            self.asked.push(question.to_string());
            self.yes
        }
        async fn declare_dead(&mut self, question: &DeadQuestion) -> Option<String> {
            self.dead_asked.push(question.clone());
            self.dead.clone()
        }
        async fn type_target(&mut self, _: &str) -> Option<String> {
            self.typed.clone()
        }
        fn warn(&mut self, msg: &str) {
            self.warned.push(msg.to_string());
        }
    }

    fn operator(typed: &str) -> Script {
        Script {
            interactive: true,
            typed: Some(typed.into()),
            ..Default::default()
        }
    }

    fn audit_in(dir: &tempfile::TempDir) -> PathBuf {
        audit::path_in(dir.path())
    }

    fn records(p: &Path) -> Vec<audit::Record> {
        audit::read_all(p).expect("audit").0
    }

    #[tokio::test]
    async fn the_preempt_question_is_asked_and_its_answer_replans() {
        let mut c = FakeCluster {
            preempt: true,
            ..Default::default()
        };
        let mut p = operator("n2");
        let end = run(&mut c, &mut p, options(None)).await;
        assert_eq!(end.code(), 0, "{end:?}");
        assert_eq!(
            p.asked,
            vec!["Start keepalived on n1 again afterwards anyway (it will take the VIP back)?"]
        );
        assert_eq!(c.requests.len(), 2);
        assert_eq!(c.requests[1].restart_old_master, Some(false));
        let conf = &c.executed[0];
        assert_eq!(conf[0].what, "restart the old master despite preempt");
        assert_eq!(conf[0].answer, "no");
        assert_eq!(conf[1].what, "type the target's name (n2)");
        assert_eq!(conf[1].answer, "n2");
    }

    #[tokio::test]
    async fn no_preempt_question_without_an_operator_a_dry_run_or_when_blocked() {
        let ask = |interactive, dry_run, failing| async move {
            let mut c = FakeCluster {
                preempt: true,
                failing,
                ..Default::default()
            };
            let mut p = Script {
                interactive,
                ..Default::default()
            };
            let mut o = options(None);
            o.dry_run = dry_run;
            o.yes = true;
            run(&mut c, &mut p, o).await;
            p.asked.len()
        };
        assert_eq!(ask(true, false, None).await, 1);
        assert_eq!(ask(false, false, None).await, 0);
        assert_eq!(ask(true, true, None).await, 0);
        assert_eq!(ask(true, false, Some("anti_flap")).await, 0);
    }

    /// A directory vipdeck cannot write in, even as root (`/sys`).
    fn unwritable_audit_path() -> PathBuf {
        PathBuf::from("/sys/vipdeck-audit-test/audit.jsonl")
    }

    #[tokio::test]
    async fn an_audit_trail_that_cannot_be_written_refuses_the_failover() {
        // Three back-to-back attempts: none runs, each says why.
        for _ in 0..3 {
            let mut c = FakeCluster::default();
            let mut p = operator("n2");
            let end = run(&mut c, &mut p, options(Some(unwritable_audit_path()))).await;
            assert!(end.refused(), "{end:?}");
            assert!(
                end.text().contains("cannot write the audit trail"),
                "{}",
                end.text()
            );
            assert!(c.executed.is_empty(), "nothing ran");
        }
    }

    /// L6: without any data dir (no `HOME`, no `VIPDECK_DATA_DIR`) a
    /// failover of a real cluster ran unaudited; an unwritable one was
    /// already refused. Refused alike, before the lock, naming the fix; a
    /// dry run still shows the plan.
    #[tokio::test]
    async fn no_data_dir_refuses_the_failover_of_a_real_cluster() {
        let mut c = FakeCluster {
            audited: true,
            ..Default::default()
        };
        let end = run(&mut c, &mut operator("n2"), options(None)).await;
        assert!(end.refused(), "{end:?}");
        let text = end.text();
        assert!(text.contains("no data dir"), "{text}");
        assert!(text.contains("VIPDECK_DATA_DIR"), "{text}");
        assert!(c.executed.is_empty(), "nothing ran");
        assert_eq!(c.unlocked, 0, "no lock was taken");
        let mut o = options(None);
        o.dry_run = true;
        let end = run(&mut c, &mut operator("n2"), o).await;
        assert!(!end.refused(), "a dry run changes nothing: {end:?}");
    }

    #[tokio::test]
    async fn the_plan_is_recorded_before_the_first_change() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = audit_in(&dir);
        let mut c = FakeCluster::default();
        let mut p = operator("n2");
        let end = run(&mut c, &mut p, options(Some(path.clone()))).await;
        assert_eq!(end.code(), 0, "{end:?}");
        let recs = records(&path);
        assert_eq!(recs.len(), 1, "the result replaces the plan's record");
        let raw = std::fs::read_to_string(&path).expect("raw");
        assert_eq!(raw.lines().count(), 2, "the plan, then the result");
        assert!(raw
            .lines()
            .next()
            .is_some_and(|l| l.contains("starting: the plan")));
    }

    #[tokio::test]
    async fn a_fifo_at_the_audit_path_refuses_the_failover_without_hanging() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = audit_in(&dir);
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo");
        assert!(status.success());
        let mut c = FakeCluster::default();
        let mut p = operator("n2");
        let end = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            run(&mut c, &mut p, options(Some(path))),
        )
        .await
        .expect("no hang on a FIFO");
        assert!(end.refused(), "{end:?}");
        assert!(end.text().contains("not a regular file"), "{}", end.text());
        assert!(c.executed.is_empty());
    }

    #[tokio::test]
    async fn a_blocked_plan_is_refused_and_recorded() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = audit_in(&dir);
        let mut c = FakeCluster {
            failing: Some("anti_flap"),
            ..Default::default()
        };
        let mut p = operator("n2");
        let end = run(&mut c, &mut p, options(Some(path.clone()))).await;
        assert_eq!(end.code(), 1);
        assert!(end.refused() && !end.ok());
        assert!(
            end.text().starts_with(
                "refused: blocked by preflight checks (anti_flap: anti_flap reason — \
                 --override anti_flap overrides it)"
            ),
            "{}",
            end.text()
        );
        assert!(c.executed.is_empty());
        let recs = records(&path);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].outcome, Outcome::NotStarted);
        assert!(recs[0].state_left.contains("anti_flap"));
        assert!(p.warned.is_empty());
    }

    #[tokio::test]
    async fn no_terminal_without_yes_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = audit_in(&dir);
        let mut c = FakeCluster::default();
        let mut p = Script::default();
        let end = run(&mut c, &mut p, options(Some(path.clone()))).await;
        assert_eq!(end.code(), 1);
        assert!(end.text().contains("pass --yes"), "{}", end.text());
        assert_eq!(records(&path).len(), 1);
        // With --yes it runs, and says so in the record.
        let mut o = options(None);
        o.yes = true;
        let end = run(&mut c, &mut p, o).await;
        assert_eq!(end.code(), 0);
        assert_eq!(c.executed[0][0].what, "--yes");
    }

    #[tokio::test]
    async fn a_held_lock_refuses_and_a_wrong_name_releases_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = audit_in(&dir);
        let mut c = FakeCluster {
            lock_refused: Some("another failover is in progress: held by ops@other".into()),
            ..Default::default()
        };
        let end = run(&mut c, &mut operator("n2"), options(Some(path.clone()))).await;
        assert_eq!(end.code(), 1);
        assert!(end
            .text()
            .contains("another failover is in progress: held by"));
        let mut c = FakeCluster::default();
        let end = run(&mut c, &mut operator("n1"), options(Some(path.clone()))).await;
        assert!(matches!(end, End::NotConfirmed));
        assert_eq!(end.code(), 1);
        assert_eq!(c.unlocked, 1);
        assert!(c.executed.is_empty());
        let recs = records(&path);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].state_left, "not confirmed; nothing was changed");
        assert_eq!(recs[1].confirmations[0].answer, "n1");
    }

    #[tokio::test]
    async fn a_refusal_that_cannot_be_recorded_is_said() {
        let dir = tempfile::tempdir().expect("tmp");
        // The audit trail's folder is a file: nothing can be written.
        let file = dir.path().join("file");
        std::fs::write(&file, "").expect("file");
        let path = file.join("audit.jsonl");
        let mut c = FakeCluster {
            failing: Some("anti_flap"),
            ..Default::default()
        };
        let mut p = operator("n2");
        let end = run(&mut c, &mut p, options(Some(path))).await;
        assert_eq!(end.code(), 1);
        assert_eq!(p.warned.len(), 1, "{:?}", p.warned);
        assert!(
            p.warned[0].contains("cannot write the audit trail")
                && p.warned[0].contains("this refusal is not recorded"),
            "{:?}",
            p.warned
        );
    }

    #[tokio::test]
    async fn exit_codes_follow_the_outcome() {
        for (outcome, code) in [
            (Outcome::MovedVerified, 0),
            (Outcome::RolledBack, 2),
            (Outcome::NotMoved, 2),
            (Outcome::Unknown, 3),
            (Outcome::MovedElsewhere, 3),
            (Outcome::NotStarted, 1),
        ] {
            let mut c = FakeCluster {
                outcome: Some(outcome),
                ..Default::default()
            };
            let end = run(&mut c, &mut operator("n2"), options(None)).await;
            assert_eq!(end.code(), code, "{outcome:?}");
            assert_eq!(end.ok(), code == 0);
            assert!(end
                .text()
                .starts_with(&format!("Outcome: {}.", outcome.as_str())));
        }
        assert_eq!(End::DryRun { blocked: true }.code(), 1);
        assert_eq!(End::DryRun { blocked: false }.code(), 0);
        assert_eq!(End::NothingToDo.code(), 0);
    }

    /// The wizard once refused an unreachable master and sent the operator
    /// to the command line. Now the session asks (a face that asks) to
    /// declare it dead, typed as its own confirmation, and re-plans as
    /// `--old-master-dead` does: the same plan, the same record, plus the
    /// declaration.
    #[tokio::test]
    async fn an_unreachable_master_declared_dead_runs_the_plan_the_flag_runs() {
        let dir = tempfile::tempdir().expect("tmp");
        let unreachable = || FakeCluster {
            master_unreachable: true,
            ..Default::default()
        };
        // Asked, and declared.
        let path = dir.path().join("asked.jsonl");
        let mut c = unreachable();
        let mut p = operator("n2");
        p.dead = Some("n1 is dead".into());
        let end = run(&mut c, &mut p, options(Some(path.clone()))).await;
        assert_eq!(end.code(), 0, "{end:?}");
        let q = &p.dead_asked[0];
        assert_eq!((q.peer.as_str(), q.phrase.as_str()), ("n1", "n1 is dead"));
        let meaning = q.meaning.join(" ");
        assert!(
            meaning.contains("will not stop keepalived on n1")
                && meaning.contains("the cloud binding moves to n2 regardless"),
            "{meaning}"
        );
        assert_eq!(c.requests.len(), 2, "re-planned");
        assert!(c.requests[1].old_master_dead);
        let declared = records(&path);
        let conf = &declared[0].confirmations;
        assert_eq!(conf[0].what, "declare n1 dead");
        assert_eq!(conf[0].answer, "n1 is dead");
        assert_eq!(conf[1].what, "type the target's name (n2)");

        // The command line's flag: not asked, the same plan recorded.
        let path = dir.path().join("flag.jsonl");
        let mut c = unreachable();
        let mut p = operator("n2");
        let mut o = options(Some(path.clone()));
        o.request.old_master_dead = true;
        let end = run(&mut c, &mut p, o).await;
        assert_eq!(end.code(), 0, "{end:?}");
        assert!(p.dead_asked.is_empty());
        let flagged = records(&path);
        let same = |r: &audit::Record| {
            let mut plan = r.plan.clone();
            plan.planned_at = DateTime::<Utc>::UNIX_EPOCH;
            (
                plan,
                r.to.clone(),
                r.from.clone(),
                r.method.clone(),
                r.outcome,
            )
        };
        assert_eq!(same(&declared[0]), same(&flagged[0]));
        assert!(flagged[0].plan.old_master_dead);
        assert_eq!(flagged[0].confirmations.len(), 1);
    }

    /// Declined or mistyped: refused, recorded with what was typed, and
    /// the refusal names how to declare it; nobody to ask: not asked.
    #[tokio::test]
    async fn an_unreachable_master_not_declared_dead_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = audit_in(&dir);
        for typed in [None, Some("n1")] {
            let mut c = FakeCluster {
                master_unreachable: true,
                ..Default::default()
            };
            let mut p = operator("n2");
            p.dead = typed.map(str::to_string);
            let end = run(&mut c, &mut p, options(Some(path.clone()))).await;
            assert!(end.refused(), "{end:?}");
            assert!(
                end.text().contains(
                    "old_master_reachable: old_master_reachable reason — if it is down, say \
                     so with --old-master-dead"
                ),
                "{}",
                end.text()
            );
            assert_eq!(c.requests.len(), 1, "not re-planned");
            assert!(c.executed.is_empty());
        }
        let recs = records(&path);
        assert_eq!(recs.len(), 2);
        assert!(recs[0].confirmations.is_empty(), "declined: nothing typed");
        assert_eq!(recs[1].confirmations[0].answer, "n1");
        let mut c = FakeCluster {
            master_unreachable: true,
            ..Default::default()
        };
        let mut p = Script {
            dead: Some("n1 is dead".into()),
            ..Default::default()
        };
        let mut o = options(None);
        o.yes = true;
        assert!(run(&mut c, &mut p, o).await.refused());
        assert!(p.dead_asked.is_empty(), "nobody there to ask");
    }

    #[test]
    fn the_channel_prompt_forwards_progress() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let abandon = Arc::new(AtomicBool::new(false));
        let mut ui = ChannelPrompt {
            tx,
            abandon: abandon.clone(),
        };
        let step = Step {
            kind: plan::StepKind::Verify,
            description: "verify".into(),
            action: String::new(),
            timeout_ms: 1,
            verify: String::new(),
        };
        ui.step_started(1, 2, &step);
        ui.step_finished(false, "boom", Duration::from_millis(5));
        assert!(!ui.confirm_abandon());
        abandon.store(true, Ordering::SeqCst);
        assert!(ui.confirm_abandon());
        assert!(matches!(
            rx.try_recv(),
            Ok(Event::Progress(Progress::StepStarted { index: 1, total: 2, ref description, timeout })) if description == "verify" && timeout == Duration::from_millis(1)
        ));
        assert!(matches!(
            rx.try_recv(),
            Ok(Event::Progress(Progress::StepFinished { ok: false, .. }))
        ));
    }
}
