//! The command-line face of failover: the [`session`] with a stdin/stdout
//! [`Prompt`]: prints the plan, asks for the target's name, prints each
//! step live, prints the outcome. Exit codes: 0 moved and verified (or nothing to do), 1 nothing
//! changed (blocked, refused, not confirmed), 2 not moved and a safe state
//! restored, 3 unknown or moved somewhere else.

use crate::core::sanitize::{clean, clean_lines};
use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::core::config::Config;

use crate::failover::audit;
use crate::failover::exec::{Executor, Ui};
use crate::failover::plan::{Face, Method, Request, Settings, Step, OVERRIDABLE};
use crate::failover::schedule;
use crate::failover::session::{self, Prompt};

/// What to move where: the arguments `failover` and `rehearse` share.
#[derive(Debug, Clone, clap::Args)]
pub struct MoveArgs {
    /// The cluster to fail over.
    #[arg(long, value_name = "NAME")]
    pub cluster: String,
    /// The peer that should hold the VIP afterwards.
    #[arg(long, value_name = "PEER")]
    pub(crate) to: String,
    /// The forced move: vipdeck moves the cloud binding itself (ENI:
    /// MigratePrivateIpAddress; HAVIP: GARP from the target). Also the
    /// repair for vip_drift (--to the VRRP master). Overrides nothing.
    #[arg(long)]
    pub force: bool,
    /// Override these failing checks (anti_flap, lock_stale,
    /// configs_compatible, cloud_reachable, maintenance), comma-separated.
    #[arg(long = "override", value_name = "CHECK", value_delimiter = ',')]
    pub(crate) overrides: Vec<String>,
}

/// `vipdeck failover` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct FailoverArgs {
    #[command(flatten)]
    pub target: MoveArgs,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub(crate) yes: bool,
    /// The current master cannot be reached and is down: do not stop or start it.
    #[arg(long)]
    pub(crate) old_master_dead: bool,
    /// Wait up to DURATION (10m, 1h) for the plan's checks to pass,
    /// re-checking as the facts change; then go on (and confirm), or
    /// refuse with the check that still fails.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub(crate) wait_healthy: Option<String>,
    /// Start at HH:MM in this machine's time zone (the next such time),
    /// with a countdown; Ctrl-C cancels before anything is done. The plan is
    /// made, shown and confirmed on the facts of that moment.
    #[arg(long, value_name = "HH:MM", conflicts_with = "dry_run")]
    pub(crate) at: Option<String>,
    /// Practise on the demo's simulated clusters (`web`: HAVIP, `pay`:
    /// ENI) instead of the config: the same checks, steps, confirmation
    /// and outcome, recorded in this run's own
    /// `<data dir>/demo-runs/<run>/demo-audit.jsonl`.
    #[arg(long)]
    pub demo: bool,
}

/// `vipdeck rehearse` arguments: the move's, with the rehearsal's help.
/// (`mut_arg` puts the argument it changes last: all four are named, in
/// their order, so `--help`, the usage line and completions keep it.)
#[derive(Debug, Clone, clap::Args)]
#[command(
    mut_arg("cluster", |a| a.help("The live cluster to copy")),
    mut_arg("to", |a| a),
    mut_arg("force", |a| a.help("Rehearse the forced move").long_help(None)),
    mut_arg("overrides", |a| a
        .help("Override these failing checks on the twin")
        .long_help(None))
)]
pub struct RehearseArgs {
    #[command(flatten)]
    pub target: MoveArgs,
    /// Copy a cluster of the demo's simulator (`web`, `pay`) instead of a
    /// live one.
    #[arg(long)]
    pub demo: bool,
}

/// Where `vipdeck rehearse` reads the live cluster it copies.
pub enum LiveFrom<'a> {
    /// The peers and the cloud of this config.
    Config(&'a Config),
    /// The demo's simulator (a run of its own, with no failover behind it).
    Demo,
    /// A collector (`--attach URL`): its facts, and the commands a default
    /// config would have (the collector does not share its config).
    Collector(Box<crate::sources::monitor::Sources>),
}

/// What a rehearsal copies: the live cluster's facts and config, in one
/// sentence too, and the failovers recorded for its timings.
struct LiveRead {
    snap: crate::core::model::ClusterSnapshot,
    master: Option<usize>,
    bound: Option<usize>,
    cluster: crate::core::config::ClusterConfig,
    state: String,
    records: Vec<audit::Record>,
    /// What the copy could not take from the live cluster.
    note: Option<String>,
}

/// Reads the live cluster through an executor (changing nothing).
fn read_by_executor(ex: Executor, records: Vec<audit::Record>) -> LiveRead {
    let (a, _) = ex.assess();
    LiveRead {
        snap: ex.snapshot().clone(),
        master: a.master,
        bound: a.vip_bound_to,
        cluster: ex.cluster.clone(),
        state: ex.describe_state(),
        records,
        note: None,
    }
}

/// Reads the live cluster from `from`; a demo's simulator, if any, lives
/// as long as `tasks`.
async fn read_live(
    from: LiveFrom<'_>,
    name: &str,
    settings: Settings,
    tasks: &mut crate::sources::monitor::Tasks,
) -> anyhow::Result<LiveRead> {
    let trail = || {
        audit::default_path()
            .and_then(|p| audit::read_all(&p).ok())
            .map(|(r, _)| r)
            .unwrap_or_default()
    };
    match from {
        LiveFrom::Config(config) => Ok(read_by_executor(
            Executor::start(config, name, settings).await?,
            trail(),
        )),
        LiveFrom::Demo => {
            let timing = crate::sources::simulator::SimTiming::default();
            let world = crate::sources::simulator::demo_world(chrono::Utc::now(), &timing, 2);
            let sim = crate::failover::sim::spawn_headless(world, timing, tasks);
            Ok(read_by_executor(
                Executor::start_sim(sim, name, settings).await?,
                Vec::new(),
            ))
        }
        LiveFrom::Collector(mut sources) => {
            let mut snapshot = crate::core::model::Snapshot::new(sources.specs.clone());
            crate::sources::monitor::collect_first_round(
                &mut snapshot,
                &mut sources.updates,
                sources.first_round,
            )
            .await;
            let Some(snap) = snapshot.clusters.into_iter().find(|c| c.spec.name == name) else {
                let names: Vec<&str> = sources.specs.iter().map(|s| s.name.as_str()).collect();
                anyhow::bail!(
                    "the collector watches no cluster named `{name}` (clusters: {})",
                    names.join(", ")
                );
            };
            let a = crate::core::verdict::assess(&snap, chrono::Utc::now(), &sources.thresholds);
            let names = [0, 1].map(|i| snap.spec.peers[i].name.clone());
            Ok(LiveRead {
                state: crate::failover::exec::describe(&snap, &a, &names),
                cluster: crate::failover::sim::cluster_config(&snap.spec)?,
                master: a.master,
                bound: a.vip_bound_to,
                snap,
                records: trail(),
                note: Some(
                    "the collector does not share its config: the steps show the commands \
                     a default config has (systemctl stop/start keepalived)"
                        .into(),
                ),
            })
        }
    }
}

/// `vipdeck audit` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// Only this cluster.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The raw JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
    /// The failovers practised on the demo (the newest demo run's record)
    /// instead of the real audit trail.
    #[arg(long)]
    pub(crate) demo: bool,
}

/// The command line's [`Prompt`]: progress on stderr, the plan and the
/// end on stdout, answers from stdin.
struct CliPrompt {
    started: Instant,
    interactive: bool,
    /// `VIPDECK_TIMING=1`: where the time goes, in milliseconds since the
    /// command started, on stderr ("vipdeck timing: 1234 ms plan shown").
    timing: bool,
    plan_shown: bool,
}

impl Ui for CliPrompt {
    fn step_started(&mut self, index: usize, total: usize, step: &Step) {
        self.mark(&format!("step {index}/{total} started"));
        let n = if total == 0 {
            "  *  ".to_string()
        } else {
            format!("[{index}/{total}]")
        };
        eprintln!("{} {n} {}", self.stamp(), clean(&step.description));
    }
    fn progress(&mut self, status: &str, elapsed: Duration) {
        eprintln!(
            "{}         … {} ({:.1}s)",
            self.stamp(),
            clean_lines(status),
            elapsed.as_secs_f64()
        );
    }
    fn step_finished(&mut self, ok: bool, detail: &str, elapsed: Duration) {
        self.mark("step finished");
        let mark = if ok { "ok" } else { "FAILED" };
        eprintln!(
            "{}         {mark} in {:.1}s: {}",
            self.stamp(),
            elapsed.as_secs_f64(),
            clean_lines(detail)
        );
    }
    fn confirm_abandon(&mut self) -> bool {
        if !self.interactive {
            eprintln!("interrupted: abandoning; safety is restored first");
            return true;
        }
        eprint!("\nInterrupted. Abandon the failover (keepalived is restored on the old master if needed)? [y/N] ");
        let _ = std::io::stderr().flush();
        let answer = read_line();
        answer.trim().eq_ignore_ascii_case("y") || answer.trim().eq_ignore_ascii_case("yes")
    }
}

impl Prompt for CliPrompt {
    fn place(&self) -> &'static str {
        ""
    }
    fn face(&self) -> Face {
        Face::Cli
    }
    fn interactive(&self) -> bool {
        self.interactive
    }
    fn show_plan(&mut self, text: &str) {
        if !self.plan_shown {
            self.plan_shown = true;
            self.mark("plan shown");
        }
        print!("{}", clean_lines(text));
        let _ = std::io::stdout().flush();
    }
    async fn ask(&mut self, question: &str) -> bool {
        print!("\n{question} [y/N] ");
        let _ = std::io::stdout().flush();
        matches!(read_line().trim(), "y" | "Y" | "yes")
    }
    async fn type_target(&mut self, target: &str) -> Option<String> {
        // A slip is asked again, the plan and the lock kept (three tries,
        // as sudo gives); the end of input gives up.
        let mut typed = String::new();
        for attempt in 0..TYPE_TRIES {
            if attempt > 0 {
                print!(
                    "typed `{}`, not `{target}`: type it again ({} tries left)",
                    clean(&typed),
                    TYPE_TRIES - attempt
                );
            }
            print!("\nType the target peer's name ({target}) to proceed: ");
            let _ = std::io::stdout().flush();
            let line = read_line();
            if line.is_empty() {
                return None;
            }
            typed = line.trim().to_string();
            if typed == target {
                break;
            }
        }
        Some(typed)
    }
    fn warn(&mut self, msg: &str) {
        eprintln!("vipdeck: {}", clean_lines(msg));
    }
}

impl CliPrompt {
    fn new(interactive: bool) -> CliPrompt {
        CliPrompt {
            started: Instant::now(),
            interactive,
            timing: std::env::var("VIPDECK_TIMING").is_ok_and(|v| v == "1"),
            plan_shown: false,
        }
    }

    fn stamp(&self) -> String {
        format!("{:>6.1}s", self.started.elapsed().as_secs_f64())
    }

    /// With `VIPDECK_TIMING=1`: `what` happened now.
    fn mark(&self, what: &str) {
        self.mark_at(self.started.elapsed(), what);
    }

    fn mark_at(&self, at: Duration, what: &str) {
        if self.timing {
            eprintln!("vipdeck timing: {} ms {what}", at.as_millis());
        }
    }

    /// The executor's first facts, `at` after the command started.
    fn mark_facts(&self, before: Duration, f: &crate::failover::exec::FirstFacts) {
        if let Some(first) = f.first {
            self.mark_at(before + first, "first fact");
        }
        for (at, part) in &f.parts {
            self.mark_at(before + *at, &format!("fact: {part}"));
        }
        self.mark_at(before + f.ready, "facts the plan needs");
        self.mark("executor ready");
    }
}

/// How many times the target's name is asked before the failover is
/// not confirmed.
const TYPE_TRIES: usize = 3;

/// A line from stdin, its newline kept: empty at the end of input.
fn read_line() -> String {
    let read = || {
        let mut s = String::new();
        let _ = std::io::stdin().lock().read_line(&mut s);
        s
    };
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(read),
        _ => read(),
    }
}

/// `vipdeck failover`.
pub async fn failover(config: &Config, args: &FailoverArgs) -> anyhow::Result<u8> {
    let mut prompt = CliPrompt::new(std::io::stdin().is_terminal());
    let request = Request {
        cluster: args.target.cluster.clone(),
        target: args.target.to.clone(),
        method: if args.target.force {
            Method::Forced
        } else {
            Method::Graceful
        },
        overrides: args.target.overrides.clone(),
        old_master_dead: args.old_master_dead,
        restart_old_master: None,
    };
    if let Some(bad) = args
        .target
        .overrides
        .iter()
        .find(|o| !OVERRIDABLE.contains(&o.as_str()))
    {
        eprintln!(
            "vipdeck: --override {bad}: not a check that can be overridden (these can: {})",
            OVERRIDABLE.join(", ")
        );
        return Ok(1);
    }
    // Bad times are refused before anything connects.
    let wait = match args.wait_healthy.as_deref().map(schedule::wait_length) {
        Some(Err(e)) => {
            eprintln!("vipdeck: {e}");
            return Ok(1);
        }
        Some(Ok(d)) => Some(d),
        None => None,
    };
    let start_at = match args
        .at
        .as_deref()
        .map(|a| schedule::next_at(a, chrono::Local::now()))
    {
        Some(Err(e)) => {
            eprintln!("vipdeck: {e}");
            return Ok(1);
        }
        Some(Ok(t)) => Some(t),
        None => None,
    };
    eprintln!("vipdeck: reading cluster {} …", args.target.cluster);
    // The demo's simulator, when practising: it lives as long as this.
    let mut _sim_tasks = crate::sources::monitor::Tasks::default();
    let (mut ex, audit_path) = if args.demo {
        let timing = crate::sources::simulator::SimTiming::default();
        let world = crate::sources::simulator::demo_world(chrono::Utc::now(), &timing, 2);
        let sim = crate::failover::sim::spawn_headless(world, timing, &mut _sim_tasks);
        let settings = Settings::from_config(&config.failover);
        let before = prompt.started.elapsed();
        let ex = Executor::start_sim(sim, &args.target.cluster, settings).await?;
        prompt.mark_facts(before, &ex.timing);
        let path = crate::failover::sim::demo_audit_path();
        eprintln!(
            "vipdeck: practising on the demo's simulated clusters; recorded in {}",
            path.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "nowhere (no data dir)".into())
        );
        (ex, path)
    } else {
        let settings = Settings::from_config(&config.failover);
        let before = prompt.started.elapsed();
        let ex = Executor::start(config, &args.target.cluster, settings).await?;
        prompt.mark_facts(before, &ex.timing);
        (ex, audit::default_path())
    };
    // Waiting before the plan: nothing is taken or changed until the
    // session below plans, shows and confirms on the facts of then.
    if let Some(at) = start_at {
        if !count_down(&mut ex, at).await {
            eprintln!("vipdeck: cancelled before the start: nothing was done");
            return Ok(1);
        }
    }
    if let Some(wait) = wait {
        if let Err(why) = wait_healthy(&mut ex, &request, audit_path.as_deref(), wait).await {
            eprintln!("vipdeck: {why}; nothing was done");
            return Ok(1);
        }
    }
    let opts = session::Options {
        request,
        dry_run: args.dry_run,
        yes: args.yes,
        audit_path,
    };
    let end = session::run(&mut ex, &mut prompt, opts).await;
    prompt.mark("outcome known");
    let text = clean_lines(&end.text());
    if end.refused() {
        eprintln!("vipdeck: {text}");
    } else if !text.is_empty() {
        println!("\n{text}");
    }
    drop(ex);
    prompt.mark("done");
    Ok(end.code())
}

/// `--at`: counts down to `at` on stderr (each minute, each 10 s in the
/// last minute) while following the cluster; false when Ctrl-C cancels.
async fn count_down(ex: &mut Executor, at: chrono::DateTime<chrono::Local>) -> bool {
    // Listening before the first line says Ctrl-C cancels (`ctrl_c()`
    // would listen only from its first poll: a Ctrl-C between the two
    // would end the process instead of cancelling).
    let mut ctrl_c = interrupts();
    loop {
        let left = (at - chrono::Local::now()).to_std().unwrap_or_default();
        if left.is_zero() {
            return true;
        }
        eprintln!(
            "vipdeck: starting at {} (in {}); Ctrl-C cancels",
            at.format("%Y-%m-%d %H:%M %Z"),
            crate::core::humanize::duration(left)
        );
        let step = if left > Duration::from_secs(60) {
            left.saturating_sub(Duration::from_secs(60))
                .min(Duration::from_secs(60))
                .max(Duration::from_secs(1))
        } else {
            left.min(Duration::from_secs(10))
        };
        tokio::select! {
            _ = ex.follow_for(step) => {}
            _ = interrupted(&mut ctrl_c) => return false,
        }
    }
}

/// SIGINT, listened for from this call on.
fn interrupts() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok()
}

/// The next SIGINT; never, when it could not be listened for (Ctrl-C
/// then ends the process, as it would without vipdeck's handling).
async fn interrupted(int: &mut Option<tokio::signal::unix::Signal>) {
    match int {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// `--wait-healthy`: plans again as the facts change until no check
/// blocks, or `wait` passes (then the check that still fails).
async fn wait_healthy(
    ex: &mut Executor,
    request: &Request,
    audit_path: Option<&std::path::Path>,
    wait: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + wait;
    let mut ctrl_c = interrupts();
    let mut said = String::new();
    loop {
        let plan = ex.plan(request, audit_path).await;
        let Some(blocker) = schedule::first_blocker(&plan) else {
            if !said.is_empty() {
                eprintln!("vipdeck: --wait-healthy: the checks pass now");
            }
            return Ok(());
        };
        let blocker = clean(&blocker);
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "--wait-healthy: still blocked after {}: {blocker}",
                crate::core::humanize::duration(wait)
            ));
        }
        if blocker != said {
            eprintln!(
                "vipdeck: --wait-healthy: waiting ({} left): {blocker}",
                crate::core::humanize::duration(left)
            );
            said = blocker;
        }
        tokio::select! {
            _ = ex.follow_for(left.min(Duration::from_secs(2))) => {}
            _ = interrupted(&mut ctrl_c) => return Err("cancelled while waiting (Ctrl-C)".into()),
        }
    }
}

/// `vipdeck rehearse`: reads the live cluster (changing nothing), builds
/// its simulated twin, runs the planned failover on it with the same
/// session and executor, and prints the predicted steps and duration.
pub async fn rehearse(from: LiveFrom<'_>, args: &RehearseArgs) -> anyhow::Result<u8> {
    use crate::failover::rehearse::{self, Live};
    let settings = match &from {
        LiveFrom::Config(config) => Settings::from_config(&config.failover),
        _ => Settings::from_config(&Default::default()),
    };
    eprintln!("vipdeck: reading cluster {} …", args.target.cluster);
    let mut live_tasks = crate::sources::monitor::Tasks::default();
    let LiveRead {
        snap,
        master,
        bound,
        cluster,
        state,
        records,
        note,
    } = read_live(from, &args.target.cluster, settings, &mut live_tasks).await?;
    drop(live_tasks);
    let running = [0, 1].map(|i| {
        snap.peers[i]
            .keepalived_running
            .as_ref()
            .is_none_or(|f| f.value)
    });
    let live = Live {
        master,
        bound,
        running,
    };
    let method = if args.target.force {
        Method::Forced
    } else {
        Method::Graceful
    };
    let cal = rehearse::calibrate(&snap, &records, method);
    println!(
        "Rehearsal on a simulated twin of {} ({} mode): {}",
        cluster.name,
        cluster.mode,
        clean_lines(&state)
    );
    println!("Twin timing:");
    for l in cal.said.iter().chain(&note) {
        println!("  {}", clean_lines(l));
    }
    println!();
    let twin = rehearse::twin(&cluster, &snap, live, &cal, chrono::Utc::now());
    let mut tasks = crate::sources::monitor::Tasks::default();
    let sim = crate::failover::sim::spawn_headless(
        vec![twin],
        crate::sources::simulator::SimTiming::default(),
        &mut tasks,
    );
    let mut ex = Executor::start_sim(sim, &args.target.cluster, settings).await?;
    let mut prompt = CliPrompt::new(false);
    let request = Request {
        cluster: args.target.cluster.clone(),
        target: args.target.to.clone(),
        method: if args.target.force {
            Method::Forced
        } else {
            Method::Graceful
        },
        overrides: args.target.overrides.clone(),
        old_master_dead: false,
        restart_old_master: None,
    };
    let opts = session::Options {
        request,
        dry_run: false,
        yes: true,
        audit_path: None,
    };
    let end = session::run(&mut ex, &mut prompt, opts).await;
    drop(tasks);
    match &end {
        session::End::Ran(r) => {
            println!("\nPredicted steps (on the twin):");
            for (i, s) in r.record.steps.iter().enumerate() {
                let took = (s.ended - s.started).to_std().unwrap_or_default();
                println!(
                    "  {:>2}. {:>6.2}s  {}{}",
                    i + 1,
                    took.as_secs_f64(),
                    clean(&s.description),
                    if s.ok { "" } else { "  (FAILED)" }
                );
            }
            match r.switchover {
                Some(d) => println!(
                    "Predicted switchover (confirm → verified): {:.2}s",
                    d.as_secs_f64()
                ),
                None => println!("Predicted switchover: none (not verified on the twin)"),
            }
            for l in clients_prediction(&cluster, &r.record, &records) {
                println!("{}", clean_lines(&l));
            }
            println!(
                "Predicted outcome: {}\nNothing was changed on {}.",
                clean_lines(&r.headline),
                cluster.name
            );
        }
        other => {
            let text = clean_lines(&other.text());
            if !text.is_empty() {
                println!("\n{text}");
            }
            println!("Nothing was changed on {}.", cluster.name);
        }
    }
    Ok(end.code())
}

/// The clients' side of a rehearsal: the interruption the twin predicts
/// and what it rests on, beside what the probe measured in past failovers.
fn clients_prediction(
    cluster: &crate::core::config::ClusterConfig,
    twin_run: &crate::failover::audit::Record,
    records: &[crate::failover::audit::Record],
) -> Vec<String> {
    use crate::failover::rehearse;
    let mut out = vec![match rehearse::predicted_interruption(twin_run) {
        Some((d, rests)) => format!(
            "Predicted client interruption: about {:.1} s ({rests})",
            d.as_secs_f64()
        ),
        None => "Predicted client interruption: none predicted (the VIP did not move on the twin)"
            .into(),
    }];
    let past = rehearse::measured_interruptions(&cluster.name, records);
    if cluster.probe.is_none() {
        out.push("  Measured before: nothing (no probe configured for this cluster)".into());
    } else if past.is_empty() {
        out.push("  Measured before: no failover of this cluster measured by its probe yet".into());
    } else {
        out.push("  Measured before (the data-plane probe, audit trail):".into());
        for (at, seen) in past {
            out.push(format!(
                "    {} {}",
                at.format("%Y-%m-%d %H:%M:%S"),
                seen.line()
            ));
        }
    }
    out
}

/// `vipdeck audit`.
pub fn list(args: &AuditArgs) -> anyhow::Result<u8> {
    let path = if args.demo {
        match crate::failover::sim::latest_demo_audit() {
            Some((path, runs)) => {
                eprintln!(
                    "vipdeck: the newest of {runs} demo run(s) with a record: {}",
                    path.display()
                );
                path
            }
            None => {
                println!("no failovers practised on the demo yet");
                return Ok(0);
            }
        }
    } else {
        audit::default_path().ok_or_else(|| {
            anyhow::anyhow!("no data directory on this platform (set VIPDECK_DATA_DIR)")
        })?
    };
    let (mut records, bad) = audit::read_all(&path)?;
    if let Some(c) = &args.cluster {
        records.retain(|r| &r.cluster == c);
    }
    if args.json {
        for r in &records {
            println!("{}", serde_json::to_string(r)?);
        }
    } else if records.is_empty() && bad == 0 {
        println!("no failovers recorded in {}", path.display());
    } else if records.is_empty() {
        println!("no readable failover record in {}", path.display());
    } else {
        print!("{}", audit::render_list(&records));
    }
    if bad > 0 {
        eprintln!(
            "vipdeck: {bad} damaged line(s) in {} skipped (the readable records are listed)",
            path.display()
        );
    }
    Ok(0)
}
