//! The `vipdeck` command line: parses arguments and hands over to the
//! library. No logic lives here beyond choosing sources and faces.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use vipdeck::core::sanitize::clean_lines;

use anyhow::{bail, Context};
use chrono::Utc;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use vipdeck::core::model::Snapshot;
use vipdeck::faces::report;
use vipdeck::sources::monitor::{self, Sources};

#[derive(Debug, Parser)]
#[command(
    name = "vipdeck",
    version = env!("VIPDECK_VERSION"),
    disable_help_subcommand = true,
    about = "Terminal console for keepalived pairs in a Tencent Cloud VPC",
    long_about = "Shows which peer is VRRP MASTER, where the cloud binds the VIP, whether they \
                  agree, and what keepalived logged on both peers. Run `vipdeck demo` to try it \
                  on a simulated cluster pair."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Args)]
struct Global {
    /// Config file (default: the platform config dir, or $VIPDECK_CONFIG).
    #[arg(long, global = true, env = "VIPDECK_CONFIG")]
    config: Option<PathBuf>,
    /// Colour theme: default, light, monochrome, high-contrast, solarized, or a file in
    /// <config dir>/themes (`vipdeck themes` shows them).
    #[arg(long, global = true, env = "VIPDECK_THEME")]
    theme: Option<String>,
    /// Hide every action that changes anything.
    #[arg(long, global = true, env = "VIPDECK_READ_ONLY")]
    read_only: bool,
    /// Take the facts from a collector (`vipdeck serve`) at URL instead of
    /// watching the peers and the cloud: the dashboard, status, check, logs.
    #[arg(long, global = true, env = "VIPDECK_ATTACH", value_name = "URL")]
    attach: Option<String>,
    /// The bearer token `serve` requires and `--attach` sends: a file with
    /// one token, mode 600.
    #[arg(long, global = true, env = "VIPDECK_TOKEN_FILE", value_name = "PATH")]
    token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct Which {
    /// Use the embedded simulated clusters instead of the config.
    #[arg(long)]
    demo: bool,
    /// Only this cluster.
    #[arg(long, value_name = "NAME")]
    cluster: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The dashboard on embedded simulated clusters: no setup, no root, no network.
    Demo {
        /// How many simulated clusters (2: `web` and `pay`; more: web-1, pay-1, db-1, …).
        #[arg(long, value_name = "N", default_value_t = 2,
              value_parser = clap::value_parser!(u16).range(1..=500))]
        clusters: u16,
    },
    /// Print the state of every cluster once (or keep printing with --watch).
    Status {
        #[command(flatten)]
        which: Which,
        /// JSON instead of text (schema in docs/status-json.md).
        #[arg(long)]
        json: bool,
        /// Output format: `text`; `wide` adds each peer's priority, transition age and data
        /// age; `json`; `prometheus` writes the node-exporter textfile format.
        #[arg(
            long,
            short = 'o',
            visible_alias = "output",
            value_enum,
            conflicts_with = "json"
        )]
        format: Option<Format>,
        /// Keep running; print a line each time a verdict, master, binding or peer state
        /// changes: time, cluster, what changed, verdict (one JSON report per change with
        /// --json).
        #[arg(long)]
        watch: bool,
    },
    /// One status line and a monitoring-plugin exit code: 0 healthy, 1 degraded,
    /// 2 split_brain/no_master/vip_drift, 3 unknown.
    Check {
        #[command(flatten)]
        which: Which,
    },
    /// Both peers' keepalived logs, merged by time, with peer prefixes
    /// (`*` marks a VRRP transition, `!` an error).
    Logs {
        #[command(flatten)]
        which: Which,
        /// Keep printing new lines as they come.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only lines matching this regex (case-insensitive unless it has capitals).
        #[arg(long, value_name = "RE")]
        grep: Option<String>,
        /// Only lines from the last DURATION (90s, 15m, 2h, 1d, 1h30m).
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
    },
    /// List the colour themes with a preview of each.
    Themes {
        /// Only the names, one per line.
        #[arg(long)]
        names: bool,
    },
    /// A config to start from, made from keepalived.conf, vip.py and the cloud.
    Init(vipdeck::faces::init::InitArgs),
    /// Check a config file and print what it would watch.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Shell completions for bash, zsh or fish, on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The man page (roff), on stdout: `vipdeck man > vipdeck.1 && man ./vipdeck.1`.
    Man,
    /// Help on a command (`vipdeck help status`), or `vipdeck help keys`: every key
    /// of the dashboard, the prompts, the log screen and the help.
    Help {
        /// `keys`, or a command's name.
        #[arg(value_name = "TOPIC")]
        topic: Vec<String>,
    },
    /// The VPC API emulator.
    Cloudsim(vipdeck::cloudsim::CloudsimArgs),
    /// Move the VIP to a peer: checks, plan, confirmation, verified steps, audit.
    /// Exit 0 only when the move is verified.
    Failover(vipdeck::faces::cli::failover::FailoverArgs),
    /// List past failovers (the audit trail in the data dir).
    Audit(vipdeck::faces::cli::failover::AuditArgs),
    /// One cluster's incident record: VRRP transitions, cloud rebinding, operator actions
    /// and the log lines around each, with the measured durations (Markdown or JSON).
    Incident(vipdeck::faces::incident::IncidentArgs),
    /// Run the sources once and serve them: /metrics for Prometheus, /status, and /watch
    /// for `vipdeck --attach` (a shared collector for a team).
    Serve(vipdeck::faces::serve::ServeArgs),
    /// Run the planned failover on a simulated twin of a live cluster
    /// (changes nothing): the predicted steps and duration.
    Rehearse(vipdeck::faces::cli::failover::RehearseArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Wide,
    Json,
    Prometheus,
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Validate the file (--config PATH, PATH, or the default path).
    Check {
        /// The file to check (default: --config or the default path).
        path: Option<PathBuf>,
    },
}

/// Whether the command line asks for `check` (the monitoring plugin).
fn wants_check() -> bool {
    std::env::args().skip(1).any(|a| a == "check")
}

/// A monitoring plugin's "cannot tell": one line on stdout, exit 3.
fn plugin_unknown(why: &str) -> ExitCode {
    let first = why.lines().find(|l| !l.trim().is_empty()).unwrap_or(why);
    let first = first.trim().trim_start_matches("error: ");
    println!("VIPDECK UNKNOWN - {first}");
    ExitCode::from(3)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if wants_check() && e.use_stderr() => {
            eprint!("{e}");
            return plugin_unknown(&e.to_string());
        }
        Err(e) => e.exit(),
    };
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

async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        None if cli.global.attach.is_some() => {
            let sources = attached(&cli.global).await?;
            // Failover still runs from this machine, with its own config.
            let config = load_config(&cli.global).ok();
            let ui = config.as_ref().map(|c| c.ui.clone()).unwrap_or_default();
            let config = config.map(std::sync::Arc::new);
            dashboard(&cli.global, &ui, sources, false, config, None).await?;
            Ok(0)
        }
        None => {
            let config = load_config(&cli.global)?;
            let sources = monitor::start_config(&config);
            let global = Global {
                config: cli.global.config.clone(),
                theme: cli.global.theme.clone(),
                read_only: cli.global.read_only,
                attach: None,
                token_file: None,
            };
            // `R` and SIGHUP read the config again and restart the sources.
            let reload: vipdeck::faces::tui::Reload = Box::new(move || {
                let config = load_config(&global)?;
                let sources = monitor::start_config(&config);
                Ok((sources, Some(std::sync::Arc::new(config))))
            });
            let ui = config.ui.clone();
            let config = Some(std::sync::Arc::new(config));
            dashboard(&cli.global, &ui, sources, false, config, Some(reload)).await?;
            Ok(0)
        }
        Some(Command::Demo { clusters }) => {
            let sources = monitor::start_demo(clusters.into());
            let ui = vipdeck::core::config::UiConfig::default();
            dashboard(&cli.global, &ui, sources, true, None, None).await?;
            Ok(0)
        }
        Some(Command::Status {
            which,
            json,
            watch,
            format,
        }) => {
            let json = json || format == Some(Format::Json);
            if watch && matches!(format, Some(Format::Prometheus | Format::Wide)) {
                bail!("--watch prints text or, with --json, JSON; not -o wide or prometheus");
            }
            let sources = sources_for(&cli.global, &which).await?;
            if watch {
                watch_status(sources, which.cluster.as_deref(), json).await?;
                return Ok(0);
            }
            let thresholds = sources.thresholds.clone();
            let (snapshot, now) = first_snapshot(sources).await;
            let r = report::report(&snapshot, &thresholds, now, which.cluster.as_deref());
            check_cluster_found(&r, &snapshot, which.cluster.as_deref())?;
            if format == Some(Format::Prometheus) {
                emit(&vipdeck::faces::export::prometheus(&r, now))?;
            } else if format == Some(Format::Wide) {
                emit(&clean_lines(&report::render_wide(&r, now)))?;
            } else if json {
                emit(&format!("{}\n", serde_json::to_string_pretty(&r)?))?;
            } else {
                emit(&clean_lines(&report::render_text(&r)))?;
            }
            Ok(0)
        }
        Some(Command::Check { which }) => {
            let sources = sources_for(&cli.global, &which).await?;
            let thresholds = sources.thresholds.clone();
            let (snapshot, now) = first_snapshot(sources).await;
            let r = report::report(&snapshot, &thresholds, now, which.cluster.as_deref());
            check_cluster_found(&r, &snapshot, which.cluster.as_deref())?;
            let (line, code) = report::check_line(&r, &snapshot, now);
            println!("{}", vipdeck::core::sanitize::clean(&line));
            Ok(code as u8)
        }
        Some(Command::Logs {
            which,
            follow,
            grep,
            since,
        }) => {
            let grep = grep
                .map(|g| vipdeck::core::logs::search_regex(&g))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--grep: {e}"))?;
            let since = since
                .map(|s| vipdeck::core::logs::parse_duration(&s))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
            let mut sources = sources_for(&cli.global, &which).await?;
            let opts = vipdeck::faces::logs::CliOptions {
                cluster: which.cluster,
                follow,
                grep,
                since,
                offset: *chrono::Local::now().offset(),
                // Slow is not down: a peer's backlog may come as late as its
                // own connect + command timeouts.
                backlog_window: sources
                    .first_round
                    .max(vipdeck::faces::logs::CliOptions::default().backlog_window),
                ..Default::default()
            };
            let mut out = std::io::stdout();
            vipdeck::faces::logs::run_cli(&sources.specs, &mut sources.updates, &opts, &mut out)
                .await?;
            Ok(0)
        }
        Some(Command::Themes { names }) => {
            use std::io::IsTerminal;
            let ansi = std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            for (name, _) in vipdeck::faces::theme::BUILTIN {
                if names {
                    println!("{name}");
                    continue;
                }
                let spec = vipdeck::faces::theme::load(name, None).map_err(anyhow::Error::msg)?;
                let theme = vipdeck::faces::tui::theme::Theme::try_from(&spec)
                    .map_err(anyhow::Error::msg)?;
                emit(&format!(
                    "{}\n",
                    vipdeck::faces::onboard::theme_preview(&theme, ansi)
                ))?;
            }
            Ok(0)
        }
        Some(Command::Init(args)) => init(&cli.global, args).await,
        Some(Command::Config {
            action: ConfigAction::Check { path },
        }) => {
            let path = match path.or_else(|| cli.global.config.clone()) {
                Some(p) => p,
                None => vipdeck::core::config::default_path()
                    .ok_or_else(|| anyhow::anyhow!("no config directory; pass a PATH"))?,
            };
            let config =
                match vipdeck::core::config::load(&path).and_then(|c| c.validate().map(|_| c)) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("{e}");
                        return Ok(1);
                    }
                };
            let mut text = vipdeck::faces::onboard::describe_config(&config);
            for w in config
                .warnings
                .iter()
                .chain(&vipdeck::faces::onboard::config_lints(&config))
            {
                text.push_str(&format!("warning: {w}\n"));
            }
            emit(&text)?;
            Ok(0)
        }
        Some(Command::Completions { shell }) => {
            let mut cmd = Cli::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "vipdeck", &mut buf);
            emit(&String::from_utf8_lossy(&buf))?;
            Ok(0)
        }
        Some(Command::Man) => {
            emit(&man_page()?)?;
            Ok(0)
        }
        Some(Command::Help { topic }) => help(&topic),
        Some(Command::Cloudsim(args)) => {
            vipdeck::cloudsim::run(args).await?;
            Ok(0)
        }
        Some(Command::Failover(args)) if args.demo => {
            let config = vipdeck::core::config::Config::default();
            vipdeck::faces::cli::failover::failover(&config, &args).await
        }
        Some(Command::Failover(args)) => {
            let config = load_config(&cli.global)?;
            if cli.global.read_only || config.ui.read_only {
                bail!("read-only (--read-only or [ui] read_only): failover is disabled");
            }
            vipdeck::faces::cli::failover::failover(&config, &args).await
        }
        Some(Command::Audit(args)) => vipdeck::faces::cli::failover::list(&args),
        Some(Command::Serve(args)) => {
            let sources = if args.demo {
                monitor::start_demo(2)
            } else {
                monitor::start_config(&load_config(&cli.global)?)
            };
            vipdeck::faces::serve::run(sources, &args, cli.global.token_file.clone()).await
        }
        Some(Command::Incident(args)) => {
            let config = load_config(&cli.global)?;
            vipdeck::faces::incident::run(&config, &args).await
        }
        Some(Command::Rehearse(args)) => {
            let config = load_config(&cli.global)?;
            vipdeck::faces::cli::failover::rehearse(&config, &args).await
        }
    }
}

/// `vipdeck help [TOPIC…]`: the key tables, or a command's long help.
fn help(topic: &[String]) -> anyhow::Result<u8> {
    if topic.len() == 1 && topic[0] == "keys" {
        emit(&vipdeck::faces::tui::view::key_reference_text())?;
        return Ok(0);
    }
    let mut cmd = Cli::command();
    cmd.build();
    let mut at = &mut cmd;
    for t in topic {
        let names: Vec<String> = at
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        at = match at.find_subcommand_mut(t) {
            Some(c) => c,
            None => bail!("no help topic `{t}` (topics: keys, {})", names.join(", ")),
        };
    }
    emit(&format!("{}\n", at.render_long_help()))?;
    Ok(0)
}

/// Text for roff: backslashes escaped, and a line never starts a request.
fn roff(text: &str) -> String {
    text.replace('\\', "\\e")
        .lines()
        .map(|l| {
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An argument as the man page writes it: `\fB\-\-watch\fR`, `\fB\-o\fR, …`.
fn roff_arg(a: &clap::Arg) -> String {
    let value = a
        .get_value_names()
        .map(|v| {
            v.iter()
                .map(|n| format!(" \\fI{n}\\fR"))
                .collect::<String>()
        })
        .unwrap_or_default();
    let mut names = Vec::new();
    if let Some(s) = a.get_short() {
        names.push(format!("\\fB\\-{s}\\fR"));
    }
    if let Some(l) = a.get_long() {
        names.push(format!("\\fB\\-\\-{}\\fR", l.replace('-', "\\-")));
    }
    if names.is_empty() {
        return format!("\\fI{}\\fR", a.get_id().as_str().to_ascii_uppercase());
    }
    let takes = a.get_num_args().is_some_and(|n| n.takes_values()) && a.get_long().is_some();
    format!(
        "{}{}",
        names.join(", "),
        if takes { value } else { String::new() }
    )
}

/// Every command and its options, under `.SH COMMANDS` (one page, so no
/// reference to pages that are not there).
fn roff_commands(cmd: &clap::Command, prefix: &str, out: &mut String) {
    for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = format!("{prefix} {}", sub.get_name());
        let about = sub
            .get_long_about()
            .or(sub.get_about())
            .map(|a| a.to_string())
            .unwrap_or_default();
        out.push_str(&format!(".TP\n\\fB{name}\\fR\n{}\n", roff(&about)));
        let args: Vec<&clap::Arg> = sub
            .get_arguments()
            .filter(|a| !a.is_hide_set() && !a.is_global_set())
            .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
            .collect();
        if !args.is_empty() {
            out.push_str(".RS\n");
            for a in args {
                let help = a
                    .get_long_help()
                    .or(a.get_help())
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                let values: Vec<String> = a
                    .get_possible_values()
                    .iter()
                    .filter(|v| !v.is_hide_set())
                    .map(|v| v.get_name().to_string())
                    .collect();
                let values = if values.is_empty() || help.contains(&values.join(", ")) {
                    String::new()
                } else {
                    format!(" [one of: {}]", values.join(", "))
                };
                out.push_str(&format!(".TP\n{}\n{}{values}\n", roff_arg(a), roff(&help)));
            }
            out.push_str(".RE\n");
        }
        roff_commands(sub, &name, out);
    }
}

/// The man page: NAME, SYNOPSIS, DESCRIPTION and OPTIONS from the same
/// definitions as `--help` (clap_mangen), then every command with its
/// options, KEYS from the key tables, EXIT STATUS, FILES, ENVIRONMENT and
/// EXAMPLES.
fn man_page() -> anyhow::Result<String> {
    let mut cmd = Cli::command();
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone())
        .manual("vipdeck manual")
        .source(format!("vipdeck {}", env!("CARGO_PKG_VERSION")));
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    man.render_synopsis_section(&mut buf)?;
    man.render_description_section(&mut buf)?;
    man.render_options_section(&mut buf)?;
    let mut out = String::from_utf8(buf)?;
    out.push_str(".SH COMMANDS\nWithout a command, \\fBvipdeck\\fR opens the dashboard on the clusters of the config file.\n");
    roff_commands(&cmd, "vipdeck", &mut out);
    out.push_str(".SH KEYS\nThe dashboard's keys, drawn from the same tables that dispatch them, its footer and its help (\\fB?\\fR); \\fBvipdeck help keys\\fR prints them.\n");
    for (heading, rows) in vipdeck::faces::tui::view::key_reference() {
        out.push_str(&format!(".SS \"{}\"\n", roff(heading)));
        for (keys, what) in rows {
            out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", roff(keys), roff(what)));
        }
    }
    out.push_str(MAN_TAIL);
    man.render_version_section(&mut buf_into(&mut out))?;
    Ok(out)
}

/// A `Write` that appends UTF-8 to a string.
fn buf_into(s: &mut String) -> impl Write + '_ {
    struct W<'a>(&'a mut String);
    impl Write for W<'_> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.push_str(&String::from_utf8_lossy(b));
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    W(s)
}

const MAN_TAIL: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Success; for \fBcheck\fR, every cluster is healthy; for \fBfailover\fR, the move was verified.
.TP
\fB1\fR
\fBcheck\fR: the worst cluster is degraded; \fBconfig check\fR: the file is not valid.
.TP
\fB2\fR
\fBcheck\fR: the worst cluster is split_brain, no_master or vip_drift.
.TP
\fB3\fR
\fBcheck\fR: unknown (a cluster cannot be judged, or the command failed); any other command: it failed (the reason is on standard error).
.TP
\fB129\fR, \fB130\fR, \fB143\fR
\fBstatus\fR, \fBcheck\fR and \fBlogs\fR ended by SIGHUP, SIGINT or SIGTERM (128 + the signal), after their children on the peers ended.
.SH FILES
.TP
\fI~/.config/vipdeck/config.toml\fR
The config file (the platform config directory; \fB\-\-config\fR or \fBVIPDECK_CONFIG\fR choose another). \fBvipdeck init \-\-write\fR creates it, mode 0600.
.TP
\fI~/.config/vipdeck/themes/\fR
Colour themes of your own, by file name (\fBvipdeck themes\fR lists the built-in ones).
.TP
\fI~/.local/share/vipdeck/\fR
The data directory (\fBVIPDECK_DATA_DIR\fR chooses another): \fIvipdeck.log\fR (the dashboard's own log), the failover audit trail (\fBvipdeck audit\fR), and log views saved with \fBs\fR on the log screen.
.TP
\fI~/.tencentcloud/credentials\fR
Cloud credentials, as the Tencent Cloud CLI and SDKs read them, when the environment has none.
.SH ENVIRONMENT
.TP
\fBVIPDECK_CONFIG\fR
The config file (as \fB\-\-config\fR).
.TP
\fBVIPDECK_THEME\fR
The colour theme (as \fB\-\-theme\fR).
.TP
\fBVIPDECK_READ_ONLY\fR
Hide every action that changes anything (as \fB\-\-read\-only\fR).
.TP
\fBVIPDECK_DATA_DIR\fR
The data directory (logs, audit trail, saved log views).
.TP
\fBVIPDECK_LOG\fR
What the dashboard writes to its own log (a tracing filter, default \fBinfo\fR).
.TP
\fBNO_COLOR\fR
When set and not empty, the monochrome theme.
.TP
\fBTENCENTCLOUD_SECRET_ID\fR, \fBTENCENTCLOUD_SECRET_KEY\fR, \fBTENCENTCLOUD_TOKEN\fR
Cloud credentials (first in the credential chain); \fBTENCENTCLOUD_CREDENTIALS_FILE\fR and \fBTCCLI_PROFILE\fR choose a credentials file and profile.
.SH EXAMPLES
.TP
\fBvipdeck demo \-\-clusters 40\fR
The dashboard on 40 simulated clusters: \fB/pay\fR filters, \fB:web\-17\fR jumps, \fBK\fR kills a master.
.TP
\fBvipdeck init \-\-from /etc/keepalived/keepalived.conf \-\-write\fR
Write a config to start from, made from a peer's keepalived.conf.
.TP
\fBvipdeck status \-o wide\fR
Every cluster once, with priorities, transition and data ages.
.TP
\fBvipdeck status \-\-watch\fR
One line per change: time, cluster, what changed, verdict.
.TP
\fBvipdeck check \-\-cluster web\fR
One line and an exit code for a monitoring system.
.TP
\fBvipdeck logs \-f \-\-grep 'MASTER|BACKUP'\fR
Both peers' keepalived logs, merged, following.
.TP
\fBvipdeck failover \-\-cluster web \-\-to havip\-02\fR
Move the VIP, with checks, a typed confirmation and an audit record.
"#;

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// `vipdeck init`: print the draft config, or write it with --write.
async fn init(global: &Global, args: vipdeck::faces::init::InitArgs) -> anyhow::Result<u8> {
    let (_, text) = vipdeck::faces::init::run(&args, &mut |line| {
        eprintln!("vipdeck: {}", clean_lines(&line))
    })
    .await?;
    if !args.write {
        emit(&text)?;
        return Ok(0);
    }
    let path = match &global.config {
        Some(p) => p.clone(),
        None => vipdeck::core::config::default_path()
            .ok_or_else(|| anyhow::anyhow!("no config directory; pass --config PATH"))?,
    };
    if path.exists() && !args.force {
        bail!(
            "{} exists; pass --force to replace it (or print the config without --write)",
            path.display()
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // 0600 from the first byte: a config is the operator's own, and the
    // next `config check` must not have to warn about it.
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        // --force on an existing, looser file: tighten it too.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod 600 {}", path.display()))?;
        f.write_all(text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "vipdeck: wrote {}; check it with `vipdeck --config {} config check`",
        path.display(),
        path.display()
    );
    Ok(0)
}

async fn sources_for(global: &Global, which: &Which) -> anyhow::Result<Sources> {
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
async fn attached(global: &Global) -> anyhow::Result<Sources> {
    let url = global.attach.as_deref().unwrap_or_default();
    let token = global
        .token_file
        .as_deref()
        .map(vipdeck::faces::serve::read_token)
        .transpose()?;
    vipdeck::sources::attach::start(url, token).await
}

/// The config from `--config`, `$VIPDECK_CONFIG` or the platform path;
/// warnings (e.g. a secret others can read) go to stderr.
fn load_config(global: &Global) -> anyhow::Result<vipdeck::core::config::Config> {
    let path = match &global.config {
        Some(p) => p.clone(),
        None => vipdeck::core::config::default_path().ok_or_else(|| {
            anyhow::anyhow!("no config directory on this platform; pass --config PATH")
        })?,
    };
    if global.config.is_none() && !path.exists() {
        bail!(
            "no config file at {} (pass --config PATH, or try `vipdeck demo`)",
            path.display()
        );
    }
    let config = vipdeck::core::config::load(&path)?;
    config.validate()?;
    for w in &config.warnings {
        eprintln!("vipdeck: warning: {w}");
    }
    Ok(config)
}

fn check_cluster_found(
    r: &report::Report,
    snapshot: &Snapshot,
    only: Option<&str>,
) -> anyhow::Result<()> {
    match only {
        Some(name) if r.clusters.is_empty() => {
            let names: Vec<&str> = snapshot
                .clusters
                .iter()
                .map(|c| c.spec.name.as_str())
                .collect();
            bail!("no cluster named `{name}` (clusters: {})", names.join(", "))
        }
        _ => Ok(()),
    }
}

/// The first complete round of facts: every peer answered or its own
/// connect + command timeouts passed (then it is reported as given up on).
async fn first_snapshot(mut sources: Sources) -> (Snapshot, chrono::DateTime<Utc>) {
    let mut snapshot = Snapshot::new(sources.specs.clone());
    monitor::collect_first_round(&mut snapshot, &mut sources.updates, sources.first_round).await;
    (snapshot, Utc::now())
}

/// Debug builds only: `VIPDECK_DEBUG_PANIC_AFTER_MS` makes `status --watch`
/// panic that long after it starts, so the tests can show a panic leaves
/// no child behind.
#[cfg(debug_assertions)]
fn debug_panic_at() -> Option<std::time::Instant> {
    let ms: u64 = std::env::var("VIPDECK_DEBUG_PANIC_AFTER_MS")
        .ok()?
        .parse()
        .ok()?;
    Some(std::time::Instant::now() + Duration::from_millis(ms))
}

/// Debug builds only: `VIPDECK_DEBUG_DEMO_KILL_MASTER_AFTER_MS` kills
/// keepalived on the first demo cluster's MASTER that long after the first
/// round (the dashboard's `K`), so tests can watch a takeover.
#[cfg(debug_assertions)]
fn debug_demo_kill(sources: &Sources) {
    let Some(ms) = std::env::var("VIPDECK_DEBUG_DEMO_KILL_MASTER_AFTER_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    if let Some(tx) = sources.sim.clone() {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let _ = tx
                .send(vipdeck::sources::simulator::SimCommand::KillMaster { cluster: 0 })
                .await;
        });
    }
}

/// `status --watch`: a text line per change (time, cluster, what changed,
/// verdict), or with `json` one JSON report per change, with `at`.
async fn watch_status(mut sources: Sources, only: Option<&str>, json: bool) -> anyhow::Result<()> {
    let t = sources.thresholds.clone();
    let mut snapshot = Snapshot::new(sources.specs.clone());
    // No warm-up lines: the first line comes after the first complete round.
    monitor::collect_first_round(&mut snapshot, &mut sources.updates, sources.first_round).await;
    #[cfg(debug_assertions)]
    debug_demo_kill(&sources);
    let mut last = None;
    let mut last_report: Option<report::Report> = None;
    let offset = *chrono::Local::now().offset();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let stdout = std::io::stdout();
    #[cfg(debug_assertions)]
    let panic_at = debug_panic_at();
    loop {
        #[cfg(debug_assertions)]
        if panic_at.is_some_and(|at| std::time::Instant::now() >= at) {
            panic!("VIPDECK_DEBUG_PANIC_AFTER_MS: a panic on purpose (debug builds only)");
        }
        tokio::select! {
            u = sources.updates.recv() => match u {
                Some(u) => {
                    snapshot.apply(u);
                    while let Ok(u) = sources.updates.try_recv() {
                        snapshot.apply(u);
                    }
                }
                None => return Ok(()),
            },
            _ = tick.tick() => {}
        }
        let now = Utc::now();
        let mut r = report::report(&snapshot, &t, now, only);
        let key = report::watch_key(&r);
        if last.as_ref() != Some(&key) {
            last = Some(key);
            r.at = Some(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            let mut out = stdout.lock();
            if json {
                writeln!(out, "{}", serde_json::to_string(&r)?)?;
            } else {
                let clock = now.with_timezone(&offset).format("%H:%M:%S").to_string();
                for line in report::watch_lines(last_report.as_ref(), &r, &clock) {
                    writeln!(out, "{}", vipdeck::core::sanitize::clean(&line))?;
                }
                last_report = Some(r);
            }
            // A closed pipe (e.g. `| head`) ends the watch.
            if out.flush().is_err() {
                return Ok(());
            }
        }
    }
}

async fn dashboard(
    global: &Global,
    ui: &vipdeck::core::config::UiConfig,
    sources: Sources,
    demo: bool,
    config: Option<std::sync::Arc<vipdeck::core::config::Config>>,
    reload: Option<vipdeck::faces::tui::Reload>,
) -> anyhow::Result<()> {
    let log_path = init_tracing();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let theme_name =
        vipdeck::faces::theme::choose(global.theme.as_deref(), ui.theme.as_deref(), no_color);
    let user_themes =
        directories::ProjectDirs::from("", "", "vipdeck").map(|d| d.config_dir().join("themes"));
    let spec = vipdeck::faces::theme::load(&theme_name, user_themes.as_deref())
        .map_err(anyhow::Error::msg)?;
    let theme = vipdeck::faces::tui::theme::Theme::try_from(&spec).map_err(anyhow::Error::msg)?;
    let mut app = vipdeck::faces::tui::app::App::new(
        Snapshot::new(sources.specs.clone()),
        sources.thresholds.clone(),
        theme,
        Utc::now(),
    );
    app.demo = demo;
    app.config = config;
    app.read_only = global.read_only || ui.read_only;
    app.source_label = sources.label.clone();
    app.utc_offset = *chrono::Local::now().offset();
    app.log_path = log_path.as_ref().map(|p| p.display().to_string());
    app.logs = vipdeck::core::logs::LogStore::new(ui.log_lines);
    tracing::info!(clusters = sources.specs.len(), demo, "dashboard starting");
    vipdeck::faces::tui::run(app, sources, reload, ui.tick())
        .await
        .context("the dashboard failed")
}

/// Logs go to a file in the data dir, never to the terminal the UI owns.
fn init_tracing() -> Option<PathBuf> {
    let dir = vipdeck::core::config::data_dir()?;
    std::fs::create_dir_all(&dir).ok()?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("vipdeck.log"))
        .ok()?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIPDECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .ok()?;
    Some(dir.join("vipdeck.log"))
}
