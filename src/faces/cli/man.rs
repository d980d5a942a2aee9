//! vipdeck's own documentation on stdout: `help` (a command's long help,
//! or the dashboard's keys), `man` (roff, from the same clap definitions
//! as `--help`) and `completions`.

use std::io::Write;

use anyhow::bail;
use clap::CommandFactory;

use super::args::Cli;
use super::out::emit_own;

/// `vipdeck completions SHELL`: `--cluster` completes the names of
/// `clusters` (the config's, when it reads; as they were when the script
/// was made).
pub fn completions(shell: clap_complete::Shell, clusters: &[String]) -> anyhow::Result<u8> {
    let mut cmd = Cli::command();
    offer_cluster_names(&mut cmd, clusters);
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "vipdeck", &mut buf);
    emit_own(&String::from_utf8_lossy(&buf))?;
    Ok(0)
}

/// Every `--cluster` of `cmd` and its subcommands offers `names`. Names a
/// shell would split or expand are left out (the config allows few).
fn offer_cluster_names(cmd: &mut clap::Command, names: &[String]) {
    let safe: Vec<&'static str> = names
        .iter()
        .filter(|n| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
        // clap keeps static strings; this command runs once and exits.
        .map(|n| &*Box::leak(n.clone().into_boxed_str()))
        .collect();
    if safe.is_empty() {
        return;
    }
    fn walk(cmd: &mut clap::Command, names: &[&'static str]) {
        *cmd = std::mem::take(cmd).mut_args(|a| {
            if a.get_id() == "cluster" && a.get_long() == Some("cluster") {
                a.value_parser(clap::builder::PossibleValuesParser::new(names.to_vec()))
            } else {
                a
            }
        });
        for sub in cmd.get_subcommands_mut() {
            walk(sub, names);
        }
    }
    walk(cmd, &safe);
}

/// `vipdeck man`.
pub fn man() -> anyhow::Result<u8> {
    emit_own(&man_page()?)?;
    Ok(0)
}

/// `vipdeck help [TOPIC…]`: the key tables, or a command's long help.
pub fn help(topic: &[String]) -> anyhow::Result<u8> {
    if topic.len() == 1 && topic[0] == "keys" {
        emit_own(&crate::faces::tui::view::key_reference_text())?;
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
    emit_own(&format!("{}\n", at.render_long_help()))?;
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
    for (heading, rows) in crate::faces::tui::view::key_reference() {
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
The data directory (\fBVIPDECK_DATA_DIR\fR chooses another): \fIvipdeck.log\fR (the dashboard's own log), the failover audit trail (\fBvipdeck audit\fR), the maintenance windows' trail (\fImaintenance.jsonl\fR), each demo run's own record of practised failovers (\fIdemo-runs/\fR, \fBvipdeck audit \-\-demo\fR), and log views saved with \fBs\fR on the log screen.
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
\fBVIPDECK_ATTACH_PROXY\fR
Set to 1 to let \fB\-\-attach\fR to a collector on another machine go through \fBhttps_proxy\fR/\fBhttp_proxy\fR (its bearer token then crosses the proxy); a collector on this machine never uses a proxy.
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
One line per change (state, master, binding, reachability, an alert raised
or cleared): time, cluster, what changed, verdict.
.TP
\fBvipdeck check \-\-cluster web\fR
One line and an exit code for a monitoring system.
.TP
\fBvipdeck logs \-f \-\-grep 'MASTER|BACKUP'\fR
Both peers' keepalived logs, merged, following.
.TP
\fBvipdeck failover \-\-cluster web \-\-to havip\-02\fR
Move the VIP, with checks, a typed confirmation and an audit record.
.TP
\fBvipdeck maintenance start \-\-cluster web \-\-peer havip\-02 \-\-for 2h \-\-reason 'kernel update'\fR
Open a planned maintenance window: every vipdeck shows it, alerting holds back, others' failovers are refused; \fBvipdeck maintenance end \-\-cluster web\fR closes it.
"#;
