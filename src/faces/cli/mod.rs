//! The command line: its grammar ([`args`]), where its text goes
//! ([`out`]) and each command's face. `main.rs` parses and calls [`main`];
//! [`run`] hands each command to its face.

pub mod args;
pub mod dashboard;
pub mod explain;
pub mod failover;
pub mod lint;
pub mod logs;
pub mod maintenance;
pub mod man;
pub mod out;
pub mod setup;
pub mod status;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;

use crate::core::sanitize::clean_lines;
use crate::sources::monitor::{self, Sources};
use args::{Cli, Command, ConfigAction, Global, Which};

/// Whether the command line asks for `check` (the monitoring plugin).
fn wants_check() -> bool {
    std::env::args().skip(1).any(|a| a == "check")
}

/// A monitoring plugin's "cannot tell": one line on stdout, exit 3.
fn plugin_unknown(why: &str) -> ExitCode {
    let first = why.lines().find(|l| !l.trim().is_empty()).unwrap_or(why);
    let first = first.trim().trim_start_matches("error: ");
    println!("VIPDECK UNKNOWN - {}", crate::core::sanitize::clean(first));
    ExitCode::from(3)
}

/// A command line clap could not read: its message and exit code, or for
/// `check` the monitoring plugin's UNKNOWN.
pub fn parse_failed(e: clap::Error) -> ExitCode {
    if wants_check() && e.use_stderr() {
        eprint!("{e}");
        return plugin_unknown(&e.to_string());
    }
    e.exit()
}

/// Runs a parsed command line to its exit code.
pub fn main(cli: Cli) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vipdeck: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let check = matches!(cli.command, Some(Command::Check { .. }));
    // The one-shot and watching commands end cleanly on SIGTERM, SIGHUP
    // and SIGINT: their sources are dropped, so every child (ssh, tail,
    // journalctl, in its own process group) and every remote loop ends
    // with vipdeck. The dashboard and a failover handle signals themselves.
    let ends_on_signal = matches!(
        cli.command,
        Some(
            Command::Status { .. }
                | Command::Check { .. }
                | Command::Explain { .. }
                | Command::Logs { .. }
                | Command::Serve(_)
        )
    );
    let result = if ends_on_signal {
        rt.block_on(async {
            tokio::select! {
                r = run(cli) => r,
                code = terminated() => Ok(code),
            }
        })
    } else {
        rt.block_on(run(cli))
    };
    // Sources may still be running; don't wait for them.
    rt.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if check => {
            let why = clean_lines(&format!("{e:#}"));
            eprintln!("vipdeck: {why}");
            plugin_unknown(&why)
        }
        Err(e) => {
            eprintln!("vipdeck: {}", clean_lines(&format!("{e:#}")));
            // 3 is "unknown" for monitoring plugins, and a plain failure otherwise.
            ExitCode::from(3)
        }
    }
}

/// Waits for SIGTERM, SIGHUP or SIGINT; the exit code says which (128+n).
async fn terminated() -> u8 {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => 143,
        _ = hup.recv() => 129,
        _ = int.recv() => 130,
    }
}

/// Hands each command to its face.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let global = &cli.global;
    match cli.command {
        None => dashboard::watch(global).await,
        Some(Command::Demo { clusters }) => dashboard::demo(global, clusters).await,
        Some(Command::Status {
            which,
            json,
            watch,
            format,
        }) => status::status(global, &which, json, watch, format).await,
        Some(Command::Check { which }) => status::check(global, &which).await,
        Some(Command::Explain { which, json }) => explain::explain(global, &which, json).await,
        Some(Command::Logs {
            which,
            follow,
            grep,
            since,
        }) => logs::logs(global, which, follow, grep, since).await,
        Some(Command::Lint(args)) => lint::lint(global, &args).await,
        Some(Command::Themes { names }) => setup::themes(names),
        Some(Command::Init(args)) => {
            crate::faces::init::command(global.config.as_deref(), args).await
        }
        Some(Command::Config {
            action: ConfigAction::Check { path },
        }) => setup::config_check(path, global.config.clone()),
        Some(Command::Completions { shell }) => {
            // Cluster names for `--cluster`, when the config reads.
            let names: Vec<String> = load_config(global)
                .map(|c| c.clusters.iter().map(|c| c.name.clone()).collect())
                .unwrap_or_default();
            man::completions(shell, &names)
        }
        Some(Command::Man) => man::man(),
        Some(Command::Help { topic }) => man::help(&topic),
        Some(Command::Cloudsim(args)) => {
            crate::cloudsim::run(args).await?;
            Ok(0)
        }
        Some(Command::Failover(args)) if args.demo => {
            let config = crate::core::config::Config::default();
            failover::failover(&config, &args).await
        }
        Some(Command::Failover(args)) => {
            // A collector shares facts, not the means to act on the peers.
            if global.attach.is_some() && global.config.is_none() {
                bail!(
                    "failover acts on the peers and the cloud itself: it needs their config \
                     (--config PATH), not a collector (--attach); `vipdeck --attach URL rehearse` \
                     rehearses it on a twin"
                );
            }
            let config = load_config(global)?;
            if global.read_only || config.ui.read_only {
                bail!("read-only (--read-only or [ui] read_only): failover is disabled");
            }
            failover::failover(&config, &args).await
        }
        Some(Command::Maintenance { action }) => {
            let config = load_config(global)?;
            let changes = !matches!(action, maintenance::MaintenanceAction::List { .. });
            if changes && (global.read_only || config.ui.read_only) {
                bail!(
                    "read-only (--read-only or [ui] read_only): maintenance start/end are disabled"
                );
            }
            maintenance::run(&config, &action).await
        }
        Some(Command::Audit(args)) => failover::list(&args),
        Some(Command::Serve(args)) => {
            let (sources, config) = if args.demo {
                (monitor::start_demo(2), None)
            } else {
                let config = load_config(global)?;
                (monitor::start_config(&config), Some(config))
            };
            crate::faces::serve::run(sources, &args, global.token_file.clone(), config).await
        }
        Some(Command::Incident(args)) => {
            use crate::faces::incident::{run, Source};
            if args.demo {
                run(Source::Demo, &args).await
            } else if global.attach.is_some() {
                run(Source::Collector(Box::new(attached(global).await?)), &args).await
            } else {
                run(Source::Config(&load_config(global)?), &args).await
            }
        }
        Some(Command::Rehearse(args)) => {
            use failover::{rehearse, LiveFrom};
            if args.demo {
                rehearse(LiveFrom::Demo, &args).await
            } else if global.attach.is_some() {
                rehearse(
                    LiveFrom::Collector(Box::new(attached(global).await?)),
                    &args,
                )
                .await
            } else {
                rehearse(LiveFrom::Config(&load_config(global)?), &args).await
            }
        }
    }
}

pub(crate) async fn sources_for(global: &Global, which: &Which) -> anyhow::Result<Sources> {
    if which.demo {
        return Ok(monitor::start_demo(2));
    }
    if global.attach.is_some() {
        return attached(global).await;
    }
    let config = load_config(global)?;
    if let Some(name) = &which.cluster {
        if config.cluster(name).is_none() {
            let names: Vec<&str> = config.clusters.iter().map(|c| c.name.as_str()).collect();
            bail!(
                "no cluster named `{name}` in {} (clusters: {})",
                config
                    .path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            );
        }
    }
    Ok(monitor::start_config(&config))
}

/// Sources fed by the collector named by `--attach`.
pub(crate) async fn attached(global: &Global) -> anyhow::Result<Sources> {
    let url = global.attach.as_deref().unwrap_or_default();
    let token = global
        .token_file
        .as_deref()
        .map(crate::faces::serve::read_token)
        .transpose()?;
    crate::sources::attach::start(url, token).await
}

/// The config from `--config`, `$VIPDECK_CONFIG` or the platform path;
/// warnings (e.g. a secret others can read) go to stderr.
pub(crate) fn load_config(global: &Global) -> anyhow::Result<crate::core::config::Config> {
    let path = match &global.config {
        Some(p) => p.clone(),
        None => crate::core::config::default_path().ok_or_else(|| {
            anyhow::anyhow!("no config directory on this platform; pass --config PATH")
        })?,
    };
    if global.config.is_none() && !path.exists() {
        bail!(
            "no config file at {} (pass --config PATH, or try `vipdeck demo`)",
            path.display()
        );
    }
    let config = crate::core::config::load(&path)?;
    config.validate()?;
    for w in &config.warnings {
        eprintln!("vipdeck: warning: {}", clean_lines(w));
    }
    Ok(config)
}
