//! The command-line face of failover: prints the plan, asks for the
//! target's name, runs the executor printing each step live, prints the
//! outcome. Exit codes: 0 moved and verified (or nothing to do), 1 nothing
//! changed (blocked, refused, not confirmed), 2 not moved and a safe state
//! restored, 3 unknown or moved somewhere else.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::core::config::Config;

use crate::failover::audit::{self, Confirmation, Outcome};
use crate::failover::exec::{Executor, Ui};
use crate::failover::plan::{self, Method, Request, Settings, Step};

/// `vipdeck failover` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct FailoverArgs {
    /// The cluster to fail over.
    #[arg(long, value_name = "NAME")]
    pub cluster: String,
    /// The peer that should hold the VIP afterwards.
    #[arg(long, value_name = "PEER")]
    pub to: String,
    /// Move the cloud binding ourselves (ENI: MigratePrivateIpAddress;
    /// HAVIP: GARP from the target) and override the checks marked
    /// overridable. Also the repair for vip_drift (--to the VRRP master).
    #[arg(long)]
    pub force: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// The current master cannot be reached and is down: do not stop or start it.
    #[arg(long)]
    pub old_master_dead: bool,
}

/// `vipdeck audit` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// Only this cluster.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The raw JSON lines.
    #[arg(long)]
    pub json: bool,
}

struct CliUi {
    started: Instant,
    interactive: bool,
}

impl Ui for CliUi {
    fn step_started(&mut self, index: usize, total: usize, step: &Step) {
        let n = if total == 0 {
            "  *  ".to_string()
        } else {
            format!("[{index}/{total}]")
        };
        eprintln!("{} {n} {}", self.stamp(), step.description);
    }
    fn progress(&mut self, status: &str, elapsed: Duration) {
        eprintln!(
            "{}         … {status} ({:.1}s)",
            self.stamp(),
            elapsed.as_secs_f64()
        );
    }
    fn step_finished(&mut self, ok: bool, detail: &str, elapsed: Duration) {
        let mark = if ok { "ok" } else { "FAILED" };
        eprintln!(
            "{}         {mark} in {:.1}s: {detail}",
            self.stamp(),
            elapsed.as_secs_f64()
        );
    }
    fn note(&mut self, msg: &str) {
        eprintln!("{} {msg}", self.stamp());
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

impl CliUi {
    fn stamp(&self) -> String {
        format!("{:>6.1}s", self.started.elapsed().as_secs_f64())
    }
}

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
    let settings = Settings::from_env();
    let audit_path = audit::default_path();
    let interactive = std::io::stdin().is_terminal();
    let mut ui = CliUi {
        started: Instant::now(),
        interactive,
    };
    let mut request = Request {
        cluster: args.cluster.clone(),
        target: args.to.clone(),
        method: if args.force {
            Method::Forced
        } else {
            Method::Graceful
        },
        force: args.force,
        old_master_dead: args.old_master_dead,
        restart_old_master: None,
    };
    eprintln!("vipdeck: reading cluster {} …", args.cluster);
    let mut ex = Executor::start(config, &args.cluster, settings).await?;
    let mut plan = ex.plan(&request, audit_path.as_deref()).await;
    let mut confirmations = Vec::new();

    // The preempt trap: ask when someone can answer; otherwise the plan
    // leaves the old master stopped (the safe choice).
    if plan.check("preempt_trap").is_some() && interactive && !args.dry_run && !plan.blocked() {
        print!("{}", plan::render(&plan));
        print!(
            "\nStart keepalived on {} again afterwards anyway (it will take the VIP back)? [y/N] ",
            plan.peer_names[1 - plan.target]
        );
        let _ = std::io::stdout().flush();
        let answer = read_line();
        let yes = matches!(answer.trim(), "y" | "Y" | "yes");
        confirmations.push(Confirmation {
            what: "restart the old master despite preempt".into(),
            answer: if yes { "yes".into() } else { "no".into() },
            at: Utc::now(),
        });
        request.restart_old_master = Some(yes);
        plan = ex.plan(&request, audit_path.as_deref()).await;
    }
    print!("{}", plan::render(&plan));
    let _ = std::io::stdout().flush();

    if plan.noop {
        return Ok(0);
    }
    if args.dry_run {
        println!("\n--dry-run: nothing was changed.");
        return Ok(if plan.blocked() { 1 } else { 0 });
    }
    let record_refusal = |why: &str, confirmations: Vec<Confirmation>| {
        if let Err(e) = record_refusal(audit_path.as_deref(), &plan, why, confirmations) {
            eprintln!("vipdeck: {e}");
        }
    };
    if plan.blocked() {
        let failed: Vec<String> = plan
            .checks
            .iter()
            .filter(|c| c.status == plan::CheckStatus::Fail && !c.overridden)
            .map(|c| format!("{}: {}", c.id, c.reason))
            .collect();
        let why = format!("blocked by preflight checks ({})", failed.join("; "));
        record_refusal(&why, confirmations);
        eprintln!("vipdeck: refused: {why}; nothing was changed");
        return Ok(1);
    }
    if !args.yes && !interactive {
        let why = "no terminal to confirm on: pass --yes to run without confirmation";
        record_refusal(why, confirmations);
        eprintln!("vipdeck: refused: {why}; nothing was changed");
        return Ok(1);
    }
    // Reserve the cluster before asking: nobody can start another failover
    // between this plan and the answer.
    let seen = ex.gather(None).await.locks;
    let lock = match ex.acquire_lock(&plan, &seen).await {
        Ok(l) => l,
        Err(e) => {
            record_refusal(&e, confirmations);
            eprintln!("vipdeck: refused: {e}; nothing was changed");
            return Ok(1);
        }
    };
    if !args.yes {
        print!(
            "\nType the target peer's name ({}) to proceed: ",
            plan.target_name()
        );
        let _ = std::io::stdout().flush();
        let answer = read_line();
        confirmations.push(Confirmation {
            what: format!("type the target's name ({})", plan.target_name()),
            answer: answer.trim().to_string(),
            at: Utc::now(),
        });
        if answer.trim() != plan.target_name() {
            ex.release_lock(&lock).await;
            record_refusal("not confirmed", confirmations);
            eprintln!("vipdeck: not confirmed; nothing was changed");
            return Ok(1);
        }
    } else {
        confirmations.push(Confirmation {
            what: "--yes".into(),
            answer: "yes".into(),
            at: Utc::now(),
        });
    }
    let confirmed_at = Utc::now();
    let result = ex
        .execute(&plan, confirmations, confirmed_at, &mut ui, lock)
        .await;
    if let Some(p) = &audit_path {
        if let Err(e) = audit::append(p, &result.record) {
            eprintln!("vipdeck: cannot write the audit trail {}: {e}", p.display());
        }
    }
    let took = result
        .switchover
        .map(|d| {
            format!(
                " Switchover time (confirm → verified): {:.2}s.",
                d.as_secs_f64()
            )
        })
        .unwrap_or_default();
    println!(
        "\nOutcome: {}.{took}\n{}{}",
        result.outcome.as_str(),
        result.state_left,
        if result.record.request_ids.is_empty() {
            String::new()
        } else {
            format!(
                "\nCloud RequestIds: {}",
                result.record.request_ids.join(", ")
            )
        }
    );
    Ok(match result.outcome {
        Outcome::MovedVerified => 0,
        Outcome::NotStarted => 1,
        // Not moved, and the cluster is safe where it was.
        Outcome::RolledBack | Outcome::NotMoved => 2,
        Outcome::MovedElsewhere | Outcome::Unknown => 3,
    })
}

/// Records an attempt that changed nothing (blocked, refused, not confirmed).
pub fn record_refusal(
    audit_path: Option<&std::path::Path>,
    plan: &plan::Plan,
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
        by: crate::failover::exec::who(),
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
    };
    match audit_path {
        Some(p) => audit::append(p, &rec)
            .map_err(|e| format!("cannot write the audit trail {}: {e}", p.display())),
        None => Ok(()),
    }
}

/// `vipdeck audit`.
pub fn list(args: &AuditArgs) -> anyhow::Result<u8> {
    let Some(path) = audit::default_path() else {
        anyhow::bail!("no data directory on this platform (set VIPDECK_DATA_DIR)");
    };
    let (mut records, bad) = audit::read_all(&path)?;
    if let Some(c) = &args.cluster {
        records.retain(|r| &r.cluster == c);
    }
    if args.json {
        for r in &records {
            println!("{}", serde_json::to_string(r)?);
        }
    } else if records.is_empty() {
        println!("no failovers recorded in {}", path.display());
    } else {
        print!("{}", audit::render_list(&records));
    }
    if bad > 0 {
        eprintln!("vipdeck: {bad} unreadable line(s) in {}", path.display());
    }
    Ok(0)
}
