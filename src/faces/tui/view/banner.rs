//! The verdict banner of the selected cluster, and its cloud line (where
//! the cloud says the VIP is bound, and how old that word is).

use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::Span;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::core::model::{ClusterSnapshot, Mode};
use crate::core::verdict::{fmt_age, Assessment};
use crate::faces::tui::app::App;
use crate::faces::tui::theme::verdict_symbol;

use super::text::{flow, middle_cut};

/// The banner: the verdict, the cluster, and who is MASTER, in pieces
/// that wrap onto the banner's rows rather than being cut.
pub(super) fn draw_banner(
    frame: &mut Frame,
    app: &App,
    c: &ClusterSnapshot,
    a: &Assessment,
    area: Rect,
) {
    let t = &app.theme;
    let v = a.verdict;
    let width = area.width as usize;
    let who = match a.master {
        Some(m) if a.master_inferred => {
            format!("MASTER {} (inferred)", c.spec.peers[m].name)
        }
        Some(m) => format!("MASTER {}", c.spec.peers[m].name),
        None => "no single MASTER".to_string(),
    };
    let text = format!(
        " {} {} ",
        verdict_symbol(v),
        v.as_str().to_ascii_uppercase().replace('_', " ")
    );
    let chunks = vec![
        vec![
            Span::styled(text, t.banner(v)),
            Span::styled(
                format!(" {} ", middle_cut(&c.spec.name, width / 2)),
                t.title(),
            ),
        ],
        vec![Span::styled(
            format!("· {} ", middle_cut(&who, width.saturating_sub(2))),
            t.text().add_modifier(Modifier::BOLD),
        )],
        vec![Span::styled(format!("· {} ", c.spec.mode), t.text())],
        vec![Span::styled(format!("· VIP {}", c.spec.vip), t.text())],
    ];
    // The verdict of a lost collector's facts is its last word, not news.
    let mut chunks = chunks;
    if let Some(lost) = &app.collector_lost {
        chunks.insert(
            1,
            vec![Span::styled(
                format!("LAST KNOWN, {} old ", fmt_age(app.now, lost.since)),
                t.stale(),
            )],
        );
    }
    // A planned window, beside the verdict it does not change: after who
    // is MASTER, the time left first; a one-row banner cuts it to what is
    // left of the row.
    if let Some(text) = maintenance_text(c, app.now) {
        let at = chunks
            .len()
            .min(2 + usize::from(app.collector_lost.is_some()));
        let used: usize = chunks[..at]
            .iter()
            .flat_map(|c| c.iter())
            .map(|s| s.width())
            .sum();
        let room = if area.height > 1 {
            width.saturating_sub(3)
        } else {
            width.saturating_sub(used + 3).max(24)
        };
        chunks.insert(
            at,
            vec![Span::styled(
                format!("· {}", end_cut(&text, room)),
                t.severity(crate::core::model::Severity::Warning)
                    .add_modifier(Modifier::BOLD),
            )],
        );
    }
    frame.render_widget(
        Paragraph::new(flow(chunks, width, area.height as usize)),
        area,
    );
}

/// "MAINTENANCE 1h12m left · ops@jump1 on havip-02 · until 22:40 UTC ·
/// kernel update", the expired form, or a marker not believed. The peer
/// files' words are cleaned to one line.
fn maintenance_text(c: &ClusterSnapshot, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
    use crate::core::maintenance::{of_cluster, ClusterMaintenance};
    use crate::core::sanitize::{clean, clip};
    let said = |s: &str| clip(&clean(s), 80);
    Some(match of_cluster(c, now)? {
        ClusterMaintenance::Window { marker: m, expired } => {
            let left = if expired {
                format!("EXPIRED {} ago", fmt_age(now, m.until))
            } else {
                format!("{} left", fmt_age(m.until, now))
            };
            let on = m
                .peer
                .as_deref()
                .map(|p| format!(" on {}", said(p)))
                .unwrap_or_default();
            format!(
                "MAINTENANCE {left} · {}{on} · until {} · {}",
                said(&m.by),
                m.until.format("%H:%M UTC"),
                said(&m.reason)
            )
        }
        ClusterMaintenance::Suspect { peer, .. } => format!(
            "maintenance marker on {} NOT BELIEVED",
            c.spec.peers[peer].name
        ),
    })
}

/// The first `n` characters of `s`: the banner's row then ends in `…`
/// (the mode and the VIP after it are dropped).
fn end_cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// "cloud VIP 192.0.2.12 → eni-… on havip-01, bound 12s ago · read 1s ago",
/// in pieces, the binding first, for [`flow`].
pub(super) fn cloud_chunks<'a>(
    app: &App,
    c: &'a ClusterSnapshot,
    a: &Assessment,
) -> Vec<Vec<Span<'a>>> {
    let t = &app.theme;
    let now = app.now;
    let mut chunks = Vec::new();
    match &c.cloud.binding {
        None => {
            let why = match &c.cloud.error {
                Some((e, at)) => format!("no answer yet: {e} ({} ago)", fmt_age(now, *at)),
                None => "not read yet".into(),
            };
            chunks.push(vec![
                Span::styled("cloud ", t.dim()),
                Span::styled(why, t.severity(crate::core::model::Severity::Warning)),
            ]);
        }
        Some(f) => {
            let b = &f.value;
            let stale = f.is_stale(now, app.thresholds.cloud_stale_after);
            // Whose interface the answer names is a fact of the answer, old
            // or not (the verdict sets a stale binding aside, and must not
            // turn a peer's ENI into a stranger's).
            let target = match (&b.network_interface_id, c.spec.peer_of_binding(b)) {
                _ if b.state.as_deref() == Some("UNBIND") => "nothing (unbound)".into(),
                (Some(eni), Some(p)) => format!("{eni} on {}", c.spec.peers[p].name),
                (Some(eni), None) => format!("{eni} (not a peer of this cluster)"),
                (None, _) => "nothing (unbound)".into(),
            };
            let target_style = match a.master {
                _ if stale => t.stale(),
                Some(m) if a.vip_bound_to == Some(m) => {
                    t.verdict(crate::core::model::Verdict::Healthy)
                }
                _ => t.verdict(crate::core::model::Verdict::VipDrift),
            };
            chunks.push(vec![
                Span::styled("cloud ", t.dim()),
                Span::styled(format!("VIP {} → ", c.spec.vip), t.text()),
                Span::styled(target, target_style),
            ]);
            if let Some(ft) = b.flushed_time {
                chunks.push(vec![Span::styled(
                    format!(", bound {} ago", fmt_age(now, ft)),
                    t.text(),
                )]);
            }
            let age = if stale {
                format!(" · stale: last read {} ago", fmt_age(now, f.at))
            } else {
                format!(" · read {} ago", fmt_age(now, f.at))
            };
            chunks.push(vec![Span::styled(
                age,
                if stale { t.stale() } else { t.dim() },
            )]);
            if let Some((e, _)) = &c.cloud.error {
                chunks.push(vec![Span::styled(
                    format!(" · last call failed: {e}"),
                    t.severity(crate::core::model::Severity::Warning),
                )]);
            }
        }
    }
    if c.spec.mode == Mode::Havip {
        if let Some(id) = &c.spec.havip_id {
            chunks.push(vec![Span::styled(format!(" · {id}"), t.dim())]);
        }
    }
    if let Some(src) = &c.cloud.credential_source {
        chunks.push(vec![Span::styled(
            format!(" · credentials: {src}"),
            t.dim(),
        )]);
    }
    chunks
}
