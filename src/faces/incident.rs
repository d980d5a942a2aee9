//! `vipdeck incident` and the dashboard's `I`: gathers a cluster's recent
//! history (its peers' log backlog, the live facts, the audit trail) and
//! writes the incident record ([`crate::core::incident`]) as Markdown or
//! JSON.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::core::config::Config;
use crate::core::incident::{self, Action, Incident, Inputs, VerdictChange};
use crate::core::logs::{Filter, LogStore, DEFAULT_CAP};
use crate::core::model::{Snapshot, Update};
use crate::core::verdict::{self, Thresholds};
use crate::failover::audit::{self, Record};
use crate::sources::monitor::{self, Sources};

/// `vipdeck incident` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct IncidentArgs {
    /// The cluster the record is about.
    #[arg(long, value_name = "NAME")]
    pub cluster: String,
    /// How far back: 90s, 15m, 2h, 1d.
    #[arg(long, value_name = "DURATION", default_value = "30m")]
    pub since: String,
    /// md (Markdown) or json.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// The format, as in `status` (`-o json`); a value that names no
    /// format is taken as a FILE, as before: use --file for that.
    #[arg(long, short = 'o', value_name = "FORMAT")]
    pub output: Option<String>,
    /// Write to FILE (created 0600) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The record of a cluster of the demo's simulator (`web`, `pay`).
    #[arg(long)]
    pub demo: bool,
}

/// Where `-o` points in `incident` and what to say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Destination {
    pub format: Format,
    pub file: Option<PathBuf>,
    /// Said on stderr: an old spelling still works but is going away.
    pub note: Option<String>,
}

impl IncidentArgs {
    /// The format and file from `--format`, `-o`/`--output` and `--file`:
    /// `-o` names the format as in `status`; `-o FILE` (its old meaning)
    /// still writes the file, with a note to use `--file`.
    pub(crate) fn destination(&self) -> anyhow::Result<Destination> {
        use clap::ValueEnum;
        let mut format = self.format;
        let mut file = self.file.clone();
        let mut note = None;
        if let Some(o) = &self.output {
            match Format::from_str(o, true) {
                Ok(f) if format.is_some_and(|g| g != f) => {
                    anyhow::bail!("-o {o} and --format disagree: give one")
                }
                Ok(f) => format = Some(f),
                Err(_) if file.is_some() => {
                    anyhow::bail!("-o names the format (md or json), not a file: use --file")
                }
                Err(_) => {
                    note = Some(format!(
                        "`-o FILE` is deprecated: `-o` names the format, as in `status` (-o md, \
                         -o json); write `--file {o}`"
                    ));
                    file = Some(PathBuf::from(o));
                }
            }
        }
        Ok(Destination {
            format: format.unwrap_or(Format::Md),
            file,
            note,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown, for a postmortem document.
    Md,
    /// One JSON object.
    Json,
}

/// The audit records of `cluster` that overlap the window, as actions.
fn actions(records: &[Record], cluster: &str, since: DateTime<Utc>) -> Vec<Action> {
    records
        .iter()
        .filter(|r| r.cluster == cluster && r.ended >= since)
        .map(|r| {
            let confirmed = r.confirmations.last().map_or(r.started, |c| c.at);
            Action {
                started: r.started,
                ended: r.ended,
                by: r.by.clone(),
                method: r.method.clone(),
                from: r.from.clone(),
                to: r.to.clone(),
                outcome: r.outcome.as_str().to_string(),
                request_ids: r.request_ids.clone(),
                bound_at: r
                    .binding_ms
                    .map(|ms| confirmed + chrono::Duration::milliseconds(ms as i64)),
                clients: r.clients.clone(),
            }
        })
        .collect()
}

/// The record from what a face already holds: its snapshot of the
/// cluster, its log store, the verdicts it showed, the audit file.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    snapshot: &Snapshot,
    cluster: usize,
    store: &LogStore,
    verdicts: &[VerdictChange],
    audit_path: Option<&Path>,
    thresholds: &Thresholds,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<Incident> {
    let c = snapshot.clusters.get(cluster)?;
    let assessment = verdict::assess(c, now, thresholds);
    let filter = Filter {
        since: Some(since),
        ..Filter::default()
    };
    let refs = store.merged(cluster, &filter);
    let lines = refs.iter().filter_map(|r| store.get(cluster, *r)).collect();
    let records = audit_path
        .and_then(|p| audit::read_all(p).ok())
        .map(|(r, _)| r)
        .unwrap_or_default();
    Some(incident::build(&Inputs {
        cluster: c,
        assessment: &assessment,
        lines,
        actions: actions(&records, &c.spec.name, since),
        verdicts: verdicts.to_vec(),
        since,
        now,
    }))
}

pub(crate) fn render(i: &Incident, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Md => incident::markdown(i),
        Format::Json => serde_json::to_string_pretty(i)? + "\n",
    })
}

/// Writes `text` to a file only its owner can read (the record quotes
/// log lines and names hosts): created 0600, and an existing file made
/// 0600 before a byte is written. A symbolic link at `path` is refused,
/// never followed: on a shared host it could point at another file.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "it is a symbolic link; name the file itself",
            ),
            _ => e,
        })?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Where `vipdeck incident` takes its facts from.
pub enum Source<'a> {
    /// The peers and the cloud of this config (only the named cluster is
    /// watched).
    Config(&'a Config),
    /// The demo's simulator: a run of its own, with no failover practised.
    Demo,
    /// A collector (`vipdeck --attach URL`); the operator's own audit trail.
    Collector(Box<Sources>),
}

fn no_such_cluster(name: &str, names: Vec<&str>) -> anyhow::Error {
    anyhow::anyhow!("no cluster named `{name}` (clusters: {})", names.join(", "))
}

/// `vipdeck incident`: watches the cluster long enough for its first
/// round and its peers' log backlog, then writes the record.
pub async fn run(from: Source<'_>, args: &IncidentArgs) -> anyhow::Result<u8> {
    let to = args.destination()?;
    if let Some(n) = &to.note {
        eprintln!("vipdeck: note: {}", crate::core::sanitize::clean_lines(n));
    }
    let window = crate::core::logs::parse_duration(&args.since)
        .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let (mut sources, audit_path) = match from {
        Source::Config(config) => {
            let cluster = config.cluster(&args.cluster).cloned().ok_or_else(|| {
                no_such_cluster(
                    &args.cluster,
                    config.clusters.iter().map(|c| c.name.as_str()).collect(),
                )
            })?;
            let mut sub = config.clone();
            sub.clusters = vec![cluster];
            (monitor::start_config(&sub), audit::default_path())
        }
        Source::Demo => (monitor::start_demo(2), None),
        Source::Collector(sources) => (*sources, audit::default_path()),
    };
    let index = sources
        .specs
        .iter()
        .position(|s| s.name == args.cluster)
        .ok_or_else(|| {
            no_such_cluster(
                &args.cluster,
                sources.specs.iter().map(|s| s.name.as_str()).collect(),
            )
        })?;
    let thresholds = sources.thresholds.clone();
    let mut snapshot = Snapshot::new(sources.specs.clone());
    let mut store = LogStore::new(DEFAULT_CAP);
    let deadline = sources.first_round.max(Duration::from_secs(6));
    monitor::collect_first_round_seeing(&mut snapshot, &mut sources.updates, deadline, &mut |u| {
        if let Update::Log { cluster, line } = u {
            store.push(*cluster, line.clone());
        }
    })
    .await;
    drop(sources);
    let now = Utc::now();
    let since = now - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    let record = record(
        &snapshot,
        index,
        &store,
        &[],
        audit_path.as_deref(),
        &thresholds,
        since,
        now,
    )
    .ok_or_else(|| anyhow::anyhow!("the cluster vanished"))?;
    let text = render(&record, to.format)?;
    match &to.file {
        Some(path) => {
            write_private(path, &text)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            eprintln!(
                "{}",
                crate::core::sanitize::clean_lines(&format!(
                    "incident record written to {}",
                    path.display()
                ))
            );
        }
        // The Markdown quotes peers' log lines: cleaned on the terminal
        // (the file keeps them exact); JSON is serde's, escaped exactly.
        None if to.format == Format::Md => crate::faces::cli::out::emit(&text)?,
        None => crate::faces::cli::out::emit_json(&text)?,
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// `vipdeck incident ARGS…` as the command line parses it.
    fn parsed(args: &[&str]) -> anyhow::Result<Destination> {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: IncidentArgs,
        }
        let mut argv = vec!["vipdeck-incident", "--cluster", "web"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)?.args.destination()
    }

    #[test]
    fn dash_o_names_the_format_as_in_status_and_a_file_still_works_with_a_note() {
        let to = parsed(&["-o", "json"]).expect("parses");
        assert_eq!((to.format, to.file, to.note), (Format::Json, None, None));
        let to = parsed(&["--output", "md"]).expect("parses");
        assert_eq!(to.format, Format::Md);
        let to = parsed(&["--format", "json", "--file", "r.json"]).expect("parses");
        assert_eq!(
            (to.format, to.file.as_deref()),
            (Format::Json, Some(Path::new("r.json")))
        );
        assert_eq!(to.note, None);
        // The old spelling: a file, still written, with a note.
        let to = parsed(&["--format", "json", "-o", "/tmp/incident.json"]).expect("parses");
        assert_eq!(to.format, Format::Json);
        assert_eq!(to.file.as_deref(), Some(Path::new("/tmp/incident.json")));
        assert!(to
            .note
            .is_some_and(|n| n.contains("--file /tmp/incident.json")));
        // Contradictions are said, not guessed.
        assert!(parsed(&["-o", "json", "--format", "md"]).is_err());
        assert!(parsed(&["-o", "x.md", "--file", "y.md"]).is_err());
    }

    #[test]
    fn the_record_is_written_0600_even_over_a_looser_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("incident.md");
        std::fs::write(&path, "an older, longer record\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        write_private(&path, "new\n").expect("written");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new\n");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }

    #[test]
    fn a_symlink_at_the_path_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let target = dir.path().join("someone-elses");
        std::fs::write(&target, "theirs\n").expect("write");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let link = dir.path().join("incident.md");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let err = write_private(&link, "record\n").expect_err("a symlink is refused");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "theirs\n");
        let mode = std::fs::metadata(&target)
            .expect("stat")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o644);
    }
}
