//! `vipdeck logs`: both peers' keepalived logs, merged by time
//! ([`crate::faces::logs::run_cli`] prints them, cleaned).

use super::args::{Global, Which};
use super::sources_for;

/// `vipdeck logs [-f] [--grep RE] [--since DURATION]`.
pub async fn logs(
    global: &Global,
    which: Which,
    follow: bool,
    grep: Option<String>,
    since: Option<String>,
) -> anyhow::Result<u8> {
    let grep = grep
        .map(|g| crate::core::logs::search_regex(&g))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--grep: {e}"))?;
    let since = since
        .map(|s| crate::core::logs::parse_duration(&s))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let mut sources = sources_for(global, &which).await?;
    let opts = crate::faces::logs::CliOptions {
        cluster: which.cluster,
        follow,
        grep,
        since,
        offset: *chrono::Local::now().offset(),
        // Slow is not down: a peer's backlog may come as late as its
        // own connect + command timeouts.
        backlog_window: sources
            .first_round
            .max(crate::faces::logs::CliOptions::default().backlog_window),
        ..Default::default()
    };
    let mut out = std::io::stdout();
    crate::faces::logs::run_cli(&sources.specs, &mut sources.updates, &opts, &mut out).await?;
    Ok(0)
}
