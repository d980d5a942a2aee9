//! The command line's grammar: every command, option and help text, as
//! clap reads them. `main.rs` parses with [`Cli`] and hands the result to
//! [`super::run`]; nothing here does anything.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Config file (default: the platform config dir, or $VIPDECK_CONFIG).
    #[arg(long, global = true, env = "VIPDECK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Colour theme: default, light, monochrome, high-contrast, solarized, or a file in
    /// <config dir>/themes (`vipdeck themes` shows them).
    #[arg(long, global = true, env = "VIPDECK_THEME")]
    pub theme: Option<String>,
    /// Hide every action that changes anything.
    #[arg(long, global = true, env = "VIPDECK_READ_ONLY")]
    pub read_only: bool,
    /// Take the facts from a collector (`vipdeck serve`) at URL instead of
    /// watching the peers and the cloud: the dashboard, status, check, logs.
    #[arg(long, global = true, env = "VIPDECK_ATTACH", value_name = "URL")]
    pub attach: Option<String>,
    /// The bearer token `serve` requires and `--attach` sends: a file with
    /// one token, mode 600. Without it, `serve` on this machine makes one in
    /// the data dir (serve/serve-PORT.token) that the same user's
    /// `--attach` reads.
    #[arg(long, global = true, env = "VIPDECK_TOKEN_FILE", value_name = "PATH")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct Which {
    /// Use the embedded simulated clusters instead of the config.
    #[arg(long)]
    pub demo: bool,
    /// Only this cluster.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Why each peer is in its state: priorities and what moved them (each
    /// tracker's weight and result), preemption, the tracker behind a FAULT,
    /// each fact with its source, and what could not be seen.
    Explain {
        #[command(flatten)]
        which: Which,
        /// JSON instead of sentences (the same object as `explain` in status --json).
        #[arg(long)]
        json: bool,
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
    /// Lint both peers' keepalived.conf, scripts and cloud objects against keepalived's
    /// semantics and Tencent's guidance; exit codes like `check` (docs/lint.md).
    Lint(LintArgs),
    /// A config to start from, made from keepalived.conf, vip.py and the cloud.
    Init(crate::faces::init::InitArgs),
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
    Cloudsim(crate::cloudsim::CloudsimArgs),
    /// Move the VIP to a peer: checks, plan, confirmation, verified steps, audit.
    /// Exit 0 only when the move is verified.
    Failover(crate::faces::cli::failover::FailoverArgs),
    /// List past failovers (the audit trail in the data dir).
    Audit(crate::faces::cli::failover::AuditArgs),
    /// One cluster's incident record: VRRP transitions, cloud rebinding, operator actions
    /// and the log lines around each, with the measured durations (Markdown or JSON).
    Incident(crate::faces::incident::IncidentArgs),
    /// Run the sources once and serve them: /metrics for Prometheus, /status, and /watch
    /// for `vipdeck --attach` (a shared collector for a team).
    Serve(crate::faces::serve::ServeArgs),
    /// Planned maintenance windows: a marker on both peers that every vipdeck and
    /// collector shows, and an Alertmanager silence when `[alertmanager] url` is set.
    Maintenance {
        #[command(subcommand)]
        action: crate::faces::cli::maintenance::MaintenanceAction,
    },
    /// Run the planned failover on a simulated twin of a live cluster
    /// (changes nothing): the predicted steps and duration.
    Rehearse(crate::faces::cli::failover::RehearseArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Wide,
    Json,
    Prometheus,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate the file (--config PATH, PATH, or the default path).
    Check {
        /// The file to check (default: --config or the default path).
        path: Option<PathBuf>,
    },
}

/// `vipdeck lint`'s options (docs/lint.md).
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Only this cluster (the fleet rules still look at every cluster).
    #[arg(long, value_name = "NAME", conflicts_with = "conf")]
    pub cluster: Option<String>,
    /// Lint this keepalived.conf instead of the peers' (give it twice for a pair);
    /// offline: no ssh, no cloud, scripts not checked.
    #[arg(long, value_name = "FILE", num_args = 1, action = clap::ArgAction::Append)]
    pub conf: Vec<PathBuf>,
    /// With --conf: the cluster's mode, for the rules that depend on it.
    #[arg(long, value_enum, requires = "conf")]
    pub mode: Option<LintMode>,
    /// With --conf: lint only the instance carrying this VIP.
    #[arg(long, requires = "conf")]
    pub vip: Option<String>,
    /// JSON: {"findings":[{code,name,severity,cluster,peer,file,line,message,why,fix}]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LintMode {
    Eni,
    Havip,
}
