//! `vipdeck lint`: the findings of `core::lint` on the clusters of the
//! config (both peers' files read over ssh, the cloud asked), or on files
//! given with `--conf` (offline: no peer, no cloud).

use super::args::{Global, LintArgs, LintMode};
use super::out::{emit, emit_json};
use crate::core::lint::{self, ConfRead, Finding, PairInput, PeerInput};
use crate::core::model::Mode;
use crate::sources::peer_files;
use anyhow::bail;

pub async fn lint(global: &Global, args: &LintArgs) -> anyhow::Result<u8> {
    let findings = if args.conf.is_empty() {
        online(global, args).await?
    } else {
        lint::lint_pair(&offline(args)?)
    };
    if args.json {
        let body = serde_json::json!({ "findings": findings });
        emit_json(&format!("{}\n", serde_json::to_string_pretty(&body)?))?;
    } else {
        emit(&render(&findings, !args.conf.is_empty()))?;
    }
    Ok(lint::exit_code(&findings))
}

/// The pair of files given on the command line.
fn offline(args: &LintArgs) -> anyhow::Result<PairInput> {
    if args.conf.len() > 2 {
        bail!("--conf takes one file, or two for a pair");
    }
    let peers = args
        .conf
        .iter()
        .map(|path| {
            let shown = path.display().to_string();
            let conf = match std::fs::read(path) {
                Ok(bytes) => ConfRead::Text(String::from_utf8_lossy(&bytes).into_owned()),
                Err(e) => ConfRead::Unreadable(e.to_string()),
            };
            PeerInput {
                name: shown.clone(),
                conf_path: shown,
                conf,
                scripts: None,
                users: None,
                files_error: None,
                eni: None,
                vip_script: None,
            }
        })
        .collect();
    Ok(PairInput {
        cluster: "files".into(),
        mode: args.mode.map(|m| match m {
            LintMode::Eni => Mode::Eni,
            LintMode::Havip => Mode::Havip,
        }),
        vip: args.vip.clone(),
        peers,
        cloud: lint::CloudFacts::default(),
    })
}

async fn online(global: &Global, args: &LintArgs) -> anyhow::Result<Vec<Finding>> {
    if global.attach.is_some() && global.config.is_none() {
        bail!("lint reads the peers' files itself: it needs their config (--config PATH)");
    }
    let config = super::load_config(global)?;
    if let Some(name) = &args.cluster {
        if config.cluster(name).is_none() {
            let names: Vec<&str> = config.clusters.iter().map(|c| c.name.as_str()).collect();
            bail!("no cluster named `{name}` (clusters: {})", names.join(", "));
        }
    }
    Ok(peer_files::lint_config(&config, args.cluster.as_deref()).await)
}

/// One block per finding: `severity code name  peer:file:line`, the
/// message, why, fix; then a count.
pub fn render(findings: &[Finding], offline: bool) -> String {
    let mut out = String::new();
    for f in findings {
        out.push_str(&format!(
            "{:<7} {} {}  {}\n  {}\n  why: {}\n  fix: {}\n\n",
            f.severity.word(),
            f.code,
            f.name,
            f.place(),
            f.message,
            f.why,
            f.fix
        ));
    }
    out.push_str(&crate::core::lint::count_line(findings));
    out.push('\n');
    if offline {
        out.push_str(
            "offline (--conf): scripts, script users and the cloud were not checked (nor the \
             HAVIP rules without --mode havip)\n",
        );
    }
    out
}
