//! The dashboard's geometry: a pure function from the terminal's size to
//! named regions. Drawing and mouse hit-testing both ask it, so a click
//! lands on what was drawn.
//!
//! Three densities, chosen by the terminal's size:
//! - **wide** (≥ 130 columns and ≥ 30 rows): the cluster list on the left,
//!   the two peers side by side;
//! - **medium** (≥ 90 columns and ≥ 30 rows): the list on the left, the
//!   peers stacked, full names;
//! - **narrow** (anything smaller, down to 60×20): the clusters on one
//!   line at the top, one line per peer.
//!
//! In every density the banner (verdict, master) and the cloud line (the
//! binding) get rows of their own and wrap rather than cut; a cluster with
//! a data-plane probe has one more row there, the VIP as clients see it.

use ratatui::layout::{Constraint, Layout, Rect};

use crate::core::model::Verdict;

/// How much room the dashboard has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Density {
    #[default]
    Wide,
    Medium,
    Narrow,
}

impl Density {
    pub(crate) fn of(area: Rect) -> Density {
        if area.width >= 130 && area.height >= 30 {
            Density::Wide
        } else if area.width >= 90 && area.height >= 30 {
            Density::Medium
        } else {
            Density::Narrow
        }
    }
}

/// Where everything on the dashboard goes in a terminal of a given size.
/// Drawing and the mouse both ask this, so a click hits what was drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Regions {
    pub(crate) density: Density,
    pub(crate) title: Rect,
    /// The cluster list (wide, medium) or the one-line cluster strip (narrow).
    pub(crate) cluster_list: Rect,
    /// Right of (or under) the cluster list: the selected cluster's detail.
    pub(crate) main: Rect,
    pub(crate) banner: Rect,
    pub cloud: Rect,
    pub peers: [Rect; 2],
    pub alerts: Rect,
    pub(crate) timeline: Rect,
    pub logs: Rect,
    pub(crate) footer: Rect,
}

/// What the layout needs to know of the selected cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Content {
    /// Its alerts' messages, in the order they are listed.
    pub(crate) alerts: Vec<String>,
    /// At most how wide its banner is (see [`banner_bound`]).
    pub(crate) banner: usize,
    /// It has a data-plane line (`VIP ✔ answers …`) under the cloud line.
    pub(crate) vip_line: bool,
}

/// An upper bound on the banner's width: the verdict (at most "SPLIT
/// BRAIN" and its symbol), the cluster, "MASTER" and the master's name
/// with "(inferred)", the mode and the VIP, with their separators.
pub(crate) fn banner_bound(cluster: &str, master: Option<&str>, vip: &str) -> usize {
    let name = |s: &str| s.chars().count();
    16 + name(cluster) + 2 + 9 + master.map_or(16, name) + 11 + 8 + 6 + name(vip)
}

/// The dashboard's regions for a terminal of `area`, for the selected
/// cluster's `content`: where alerts sit above the timeline they take the
/// rows they need wrapped, leaving the timeline at least two (the alerts
/// matter more; the whole timeline is on the log screen); the banner
/// takes a second row only when it may need one.
pub(crate) fn layout(area: Rect, content: &Content) -> Regions {
    let density = Density::of(area);
    let rows = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(8),
        Constraint::Length(log_height(area.height, density)),
        Constraint::Length(1),
    ])
    .split(area);
    let (cluster_list, main, detail) = match density {
        Density::Narrow => {
            let parts =
                Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).split(rows[1]);
            (parts[0], parts[1], parts[1])
        }
        _ => {
            let list_width = if density == Density::Wide { 30 } else { 24 };
            let cols = Layout::horizontal([Constraint::Length(list_width), Constraint::Min(30)])
                .split(rows[1]);
            // The detail keeps a column free after the list's border.
            let detail = Rect {
                x: cols[1].x + 1,
                width: cols[1].width.saturating_sub(1),
                ..cols[1]
            };
            (cols[0], cols[1], detail)
        }
    };
    let (banner_h, cloud_h, peers_h) = match density {
        Density::Wide => (1, 1, 8),
        Density::Medium => (2, 2, 10),
        Density::Narrow => (2, 2, 2),
    };
    // The data-plane witness's line, the last row of the cloud's region.
    let cloud_h = cloud_h + u16::from(content.vip_line);
    let banner_h = if content.banner <= detail.width as usize {
        1
    } else {
        banner_h
    };
    let parts = Layout::vertical([
        Constraint::Length(banner_h),
        Constraint::Length(cloud_h),
        Constraint::Length(peers_h),
        Constraint::Min(3),
    ])
    .split(detail);
    let peers = match density {
        Density::Wide => {
            Layout::horizontal([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)]).split(parts[2])
        }
        _ => Layout::vertical([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)]).split(parts[2]),
    };
    let bottom = parts[3];
    let split = if bottom.width >= 86 {
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).split(bottom)
    } else {
        let rows: usize = content
            .alerts
            .iter()
            .map(|m| alert_rows(m, bottom.width as usize))
            .sum();
        let h = (rows.max(1) as u16 + 1).min(bottom.height.saturating_sub(2).max(2));
        Layout::vertical([Constraint::Length(h), Constraint::Min(1)]).split(bottom)
    };
    Regions {
        density,
        title: rows[0],
        cluster_list,
        main,
        banner: parts[0],
        cloud: parts[1],
        peers: [peers[0], peers[1]],
        alerts: split[0],
        timeline: split[1],
        logs: rows[2],
        footer: rows[3],
    }
}

/// How many rows an alert's message takes wrapped at `width` the way the
/// alerts pane wraps it: a severity symbol, then whole words (a word's
/// trailing space may hang over the edge).
pub(crate) fn alert_rows(message: &str, width: usize) -> usize {
    let width = width.max(1);
    let mut rows = 1;
    let mut used = 2;
    for word in message.split(' ') {
        let w = word.chars().count() + 1;
        if used > 0 && used + w.min(width) > width {
            if used + w - 1 <= width {
                used += w;
                continue;
            }
            rows += 1;
            used = 0;
        }
        used += w.min(width);
    }
    rows
}

fn log_height(h: u16, density: Density) -> u16 {
    // Keep the dashboard whole on small screens; give logs the rest on tall ones.
    let keep = match density {
        Density::Wide => 18,
        Density::Medium => 22,
        Density::Narrow => 16,
    };
    (h.saturating_sub(keep)).clamp(3, 40)
}

/// One row of the cluster list (wide and medium).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListRow {
    /// A verdict's group and how many clusters it has (shown when the
    /// clusters do not all fit).
    Group(Verdict, usize),
    /// The cluster at this position of the display order.
    Cluster(usize),
    /// This many clusters above or below are not shown.
    More { above: bool, n: usize },
}

/// The cluster list's rows for `verdicts` (in display order) in `room`
/// rows, keeping position `selected` in view. When they do not all fit
/// and `group` (worst-first order), each verdict gets a heading with its
/// count; anything left out says how many.
pub(crate) fn list_rows(
    verdicts: &[Verdict],
    selected: usize,
    room: usize,
    group: bool,
) -> Vec<ListRow> {
    let all_fit = verdicts.len() <= room;
    let mut rows = Vec::new();
    for (i, v) in verdicts.iter().enumerate() {
        if group && !all_fit && (i == 0 || verdicts[i - 1] != *v) {
            let n = verdicts[i..].iter().take_while(|w| *w == v).count();
            rows.push(ListRow::Group(*v, n));
        }
        rows.push(ListRow::Cluster(i));
    }
    if rows.len() <= room || room == 0 {
        rows.truncate(room);
        return rows;
    }
    // A window of `room` rows around the selected cluster, the first and
    // last rows saying what is above and below.
    let at = rows
        .iter()
        .position(|r| *r == ListRow::Cluster(selected))
        .unwrap_or(0);
    let inner = room.saturating_sub(2).max(1);
    let mut start = at.saturating_sub(inner / 2);
    // Keep the selected cluster's heading in view when it is just above.
    if start > 0 && matches!(rows[start - 1], ListRow::Group(..)) && at - start < inner - 1 {
        start -= 1;
    }
    let start = start.min(rows.len().saturating_sub(inner));
    let end = (start + inner).min(rows.len());
    let count = |r: &[ListRow]| {
        r.iter()
            .filter(|r| matches!(r, ListRow::Cluster(_)))
            .count()
    };
    let mut out = Vec::new();
    let above = count(&rows[..start]);
    if room >= 3 {
        out.push(ListRow::More {
            above: true,
            n: above,
        });
    }
    out.extend_from_slice(&rows[start..end]);
    if room >= 3 {
        out.push(ListRow::More {
            above: false,
            n: count(&rows[end..]),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn densities_follow_the_terminal() {
        let d = |w, h| Density::of(Rect::new(0, 0, w, h));
        assert_eq!(d(200, 60), Density::Wide);
        assert_eq!(d(140, 45), Density::Wide);
        assert_eq!(d(100, 40), Density::Medium);
        assert_eq!(d(140, 24), Density::Narrow);
        assert_eq!(d(80, 24), Density::Narrow);
        assert_eq!(d(60, 20), Density::Narrow);
    }

    #[test]
    fn a_long_list_is_grouped_and_keeps_the_selection_in_view() {
        let mut v = vec![Verdict::VipDrift; 2];
        v.extend(vec![Verdict::Healthy; 38]);
        let rows = list_rows(&v, 30, 12, true);
        assert_eq!(rows.len(), 12);
        assert!(rows.contains(&ListRow::Cluster(30)));
        let shown = rows
            .iter()
            .filter(|r| matches!(r, ListRow::Cluster(_)))
            .count();
        let hidden: usize = rows
            .iter()
            .map(|r| match r {
                ListRow::More { n, .. } => *n,
                _ => 0,
            })
            .sum();
        assert_eq!(shown + hidden, 40, "{rows:?}");
        // Everything fits: no headings, no "more".
        let rows = list_rows(&v[..5], 0, 12, true);
        assert_eq!(rows.len(), 5);
        assert!(rows.iter().all(|r| matches!(r, ListRow::Cluster(_))));
        // The top of a grouped list starts with its first heading.
        let rows = list_rows(&v, 0, 12, true);
        assert_eq!(rows[0], ListRow::More { above: true, n: 0 });
        assert_eq!(rows[1], ListRow::Group(Verdict::VipDrift, 2));
    }
}
