//! The dashboard's geometry: a pure function from the terminal's size to
//! named regions. Drawing and mouse hit-testing both ask it, so a click
//! lands on what was drawn.

use ratatui::layout::{Constraint, Layout, Rect};

/// Where everything on the dashboard goes in a terminal of a given size.
/// Drawing and the mouse both ask this, so a click hits what was drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Regions {
    pub(crate) title: Rect,
    pub(crate) cluster_list: Rect,
    /// Right of the cluster list: the selected cluster's detail.
    pub(crate) main: Rect,
    pub(crate) banner: Rect,
    pub cloud: Rect,
    pub peers: [Rect; 2],
    pub alerts: Rect,
    pub(crate) timeline: Rect,
    pub logs: Rect,
    pub(crate) footer: Rect,
}

/// The dashboard's regions for a terminal of `area`, with `alerts` alerts
/// on the selected cluster (on a narrow screen they sit above the
/// timeline and take the rows they need).
pub(crate) fn layout(area: Rect, alerts: usize) -> Regions {
    let rows = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(10),
        Constraint::Length(log_height(area.height)),
        Constraint::Length(1),
    ])
    .split(area);
    let list_width = if area.width >= 120 { 30 } else { 22 };
    let cols =
        Layout::horizontal([Constraint::Length(list_width), Constraint::Min(30)]).split(rows[1]);
    // The detail keeps a column free after the list's border.
    let detail = Rect {
        x: cols[1].x + 1,
        width: cols[1].width.saturating_sub(1),
        ..cols[1]
    };
    let parts = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(8),
        Constraint::Min(3),
    ])
    .split(detail);
    let peers =
        Layout::horizontal([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)]).split(parts[2]);
    let bottom = parts[3];
    let split = if bottom.width >= 86 {
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).split(bottom)
    } else {
        let h = (alerts.max(1) as u16 + 1).min(bottom.height.saturating_sub(2).max(2));
        Layout::vertical([Constraint::Length(h), Constraint::Min(1)]).split(bottom)
    };
    Regions {
        title: rows[0],
        cluster_list: cols[0],
        main: cols[1],
        banner: parts[0],
        cloud: parts[1],
        peers: [peers[0], peers[1]],
        alerts: split[0],
        timeline: split[1],
        logs: rows[2],
        footer: rows[3],
    }
}

fn log_height(h: u16) -> u16 {
    // Keep the dashboard whole at 24 rows; give logs the rest on tall screens.
    (h.saturating_sub(18)).clamp(4, 40)
}
