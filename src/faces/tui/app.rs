//! The dashboard's state and how it changes: updates from the sources, the
//! clock tick, and the operator's actions. No terminal and no I/O here, so
//! it can be driven headless in tests.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use crate::core::logs::LogStore;
use crate::core::model::{Snapshot, Update};
use crate::core::verdict::{assess, Assessment, Thresholds};
use crate::faces::tui::logview::{LogAction, LogEffect, LogView};
use crate::faces::tui::theme::Theme;
use crate::sources::simulator::SimCommand;

/// How the cluster list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    /// Worst verdict first, then by name.
    Worst,
    /// By name, as the user configured them.
    Name,
}

/// Everything the operator can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Up,
    Down,
    Top,
    Bottom,
    NextPeer,
    PrevPeer,
    ToggleHelp,
    CloseOverlay,
    ToggleSort,
    /// Read the config again (also on SIGHUP).
    Reload,
    /// The log screen of the selected cluster.
    OpenLogs,
    /// A demo-mode fault, filled in with the selected cluster/peer.
    Inject(Fault),
    ClickAt(u16, u16),
    /// Open the failover wizard on the selected cluster (`forced`: move the
    /// cloud binding ourselves / repair vip_drift).
    Failover {
        forced: bool,
    },
}

/// The demo's fault keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    KillMaster,
    StartStopped,
    ToggleUnreachable,
    ToggleLinkCut,
    ToggleMoveBroken,
    ToggleCloudLag,
    ToggleCloudFailing,
    Heal,
}

/// The keys, for the help overlay and the docs (one table, so they agree).
pub const KEYS: &[(&str, &str)] = &[
    ("j / ↓", "next cluster"),
    ("k / ↑", "previous cluster"),
    ("g / G", "first / last cluster"),
    ("Tab / ← / →", "select the other peer"),
    ("l / Enter", "logs of the selected cluster (both peers)"),
    ("o", "sort: worst first / by name"),
    ("R", "reload the config file (also on SIGHUP)"),
    ("mouse", "click a cluster or a peer to select it"),
    ("?", "this help"),
    ("q / Esc", "quit (Esc closes this help first)"),
];

/// Shown only with real clusters and without `--read-only`.
pub const FAILOVER_KEYS: &[(&str, &str)] = &[
    ("m", "move the VIP to the other peer (guided failover)"),
    (
        "F",
        "forced move; on vip_drift, the binding to the VRRP master",
    ),
];

pub const DEMO_KEYS: &[(&str, &str)] = &[
    ("K", "kill keepalived on the MASTER (back in 10 s)"),
    ("S", "start keepalived where it is stopped"),
    ("U", "SSH black hole on the selected peer (toggle)"),
    ("N", "notify script fails: VIP move breaks (toggle)"),
    ("X", "cut the VRRP link: split brain (toggle)"),
    ("L", "cloud lags 20 s (toggle)"),
    ("C", "cloud API errors (toggle)"),
    ("H", "heal every fault"),
];

pub fn key_action(key: KeyEvent, demo: bool) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return matches!(key.code, KeyCode::Char('c')).then_some(Action::Quit);
    }
    let a = match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Esc => Action::CloseOverlay,
        KeyCode::Char('j') | KeyCode::Down => Action::Down,
        KeyCode::Char('k') | KeyCode::Up => Action::Up,
        KeyCode::Char('g') | KeyCode::Home => Action::Top,
        KeyCode::Char('G') | KeyCode::End => Action::Bottom,
        KeyCode::Tab | KeyCode::Right => Action::NextPeer,
        KeyCode::BackTab | KeyCode::Left => Action::PrevPeer,
        KeyCode::Char('l') | KeyCode::Enter => Action::OpenLogs,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char('o') => Action::ToggleSort,
        KeyCode::Char('R') => Action::Reload,
        KeyCode::Char('m') => Action::Failover { forced: false },
        KeyCode::Char('F') => Action::Failover { forced: true },
        KeyCode::Char(c) if demo => Action::Inject(match c {
            'K' => Fault::KillMaster,
            'S' => Fault::StartStopped,
            'U' => Fault::ToggleUnreachable,
            'N' => Fault::ToggleMoveBroken,
            'X' => Fault::ToggleLinkCut,
            'L' => Fault::ToggleCloudLag,
            'C' => Fault::ToggleCloudFailing,
            'H' => Fault::Heal,
            _ => return None,
        }),
        _ => return None,
    };
    Some(a)
}

pub fn mouse_action(m: MouseEvent) -> Option<Action> {
    match m.kind {
        MouseEventKind::Down(MouseButton::Left) => Some(Action::ClickAt(m.column, m.row)),
        MouseEventKind::ScrollDown => Some(Action::Down),
        MouseEventKind::ScrollUp => Some(Action::Up),
        _ => None,
    }
}

/// Screen areas the last draw used, for mouse hits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HitAreas {
    pub cluster_list: Rect,
    pub peers: [Rect; 2],
}

pub struct App {
    pub snapshot: Snapshot,
    pub thresholds: Thresholds,
    /// The time used for every age on screen; moves only on tick/update.
    pub now: DateTime<Utc>,
    pub assessments: Vec<Assessment>,
    /// Cluster indices in display order.
    pub order: Vec<usize>,
    /// Position in `order`.
    pub selected: usize,
    pub selected_peer: usize,
    pub sort: SortOrder,
    pub show_help: bool,
    pub demo: bool,
    pub read_only: bool,
    /// What the title bar says about where facts come from.
    pub source_label: String,
    pub flash: Option<(String, DateTime<Utc>)>,
    pub theme: Theme,
    pub hit: std::cell::Cell<HitAreas>,
    pub should_quit: bool,
    pub log_path: Option<String>,
    /// The zone clock times are shown in, fixed at start so drawing never
    /// asks the system.
    pub utc_offset: chrono::FixedOffset,
    /// Every cluster's log lines, bounded; fed by every `Update::Log`.
    pub logs: LogStore,
    /// The log screen, when open.
    pub log_view: Option<LogView>,
    /// The config failovers run against (`None` in the demo).
    pub config: Option<std::sync::Arc<crate::core::config::Config>>,
    /// Asked for by `m`/`F`: (cluster, target peer, forced); the event loop
    /// opens the wizard.
    pub wants_failover: Option<(String, String, bool)>,
    pub wizard: Option<crate::faces::tui::failover::Wizard>,
}

impl App {
    pub fn new(
        snapshot: Snapshot,
        thresholds: Thresholds,
        theme: Theme,
        now: DateTime<Utc>,
    ) -> Self {
        let mut app = App {
            snapshot,
            thresholds,
            now,
            assessments: Vec::new(),
            order: Vec::new(),
            selected: 0,
            selected_peer: 0,
            sort: SortOrder::Worst,
            show_help: false,
            demo: false,
            read_only: false,
            source_label: String::new(),
            flash: None,
            theme,
            hit: Default::default(),
            should_quit: false,
            log_path: None,
            utc_offset: chrono::Offset::fix(&Utc),
            logs: LogStore::default(),
            log_view: None,
            config: None,
            wants_failover: None,
            wizard: None,
        };
        app.refresh();
        app
    }

    /// Re-judges every cluster at `self.now` and re-sorts, keeping the
    /// selected cluster selected.
    pub fn refresh(&mut self) {
        let current = self.order.get(self.selected).copied();
        self.assessments = self
            .snapshot
            .clusters
            .iter()
            .map(|c| assess(c, self.now, &self.thresholds))
            .collect();
        let mut order: Vec<usize> = (0..self.snapshot.clusters.len()).collect();
        let name = |i: usize| self.snapshot.clusters[i].spec.name.clone();
        match self.sort {
            SortOrder::Worst => order.sort_by(|&a, &b| {
                self.assessments[b]
                    .verdict
                    .cmp(&self.assessments[a].verdict)
                    .then_with(|| name(a).cmp(&name(b)))
            }),
            SortOrder::Name => order.sort_by_key(|&i| name(i)),
        }
        self.order = order;
        self.selected = current
            .and_then(|c| self.order.iter().position(|&i| i == c))
            .unwrap_or(0)
            .min(self.order.len().saturating_sub(1));
        if let Some(v) = &mut self.log_view {
            v.refresh(&self.logs);
        }
    }

    pub fn apply(&mut self, update: Update, now: DateTime<Utc>) {
        if let Update::Log { cluster, line } = &update {
            self.logs.push(*cluster, line.clone());
        }
        self.snapshot.apply(update);
        self.now = now;
    }

    /// Starts over on a new set of clusters (a reloaded config).
    pub fn reset(&mut self, specs: Vec<crate::core::model::ClusterSpec>, label: String) {
        self.snapshot = Snapshot::new(specs);
        self.logs = crate::core::logs::LogStore::new(self.logs.cap());
        self.log_view = None;
        self.order.clear();
        self.selected = 0;
        self.selected_peer = 0;
        self.source_label = label;
        self.refresh();
    }

    pub fn tick(&mut self, now: DateTime<Utc>) {
        self.now = now;
        if let Some((_, at)) = &self.flash {
            if (now - *at).num_seconds() >= 5 {
                self.flash = None;
            }
        }
        self.refresh();
    }

    /// The cluster index shown in the detail pane.
    /// `m`/`F`: the target is the peer that is not the VRRP master; a
    /// forced move on vip_drift targets the master (the binding follows it).
    fn ask_failover(&mut self, forced: bool) {
        let refuse = if self.read_only {
            Some("read-only: failover is disabled")
        } else if self.config.is_none() {
            Some("failover needs real clusters (not the demo)")
        } else {
            None
        };
        if let Some(msg) = refuse {
            self.flash = Some((msg.to_string(), self.now));
            return;
        }
        let Some(ci) = self.selected_cluster() else {
            return;
        };
        let (Some(a), Some(c)) = (self.assessments.get(ci), self.snapshot.clusters.get(ci)) else {
            return;
        };
        let target = match (forced, a.master) {
            (true, Some(m)) if a.verdict == crate::core::model::Verdict::VipDrift => m,
            (_, Some(m)) => 1 - m,
            (_, None) => self.selected_peer,
        };
        self.wants_failover = Some((
            c.spec.name.clone(),
            c.spec.peers[target].name.clone(),
            forced,
        ));
    }

    pub fn selected_cluster(&self) -> Option<usize> {
        self.order.get(self.selected).copied()
    }

    /// Applies an action; returns a simulator command when the action
    /// injects a fault.
    pub fn handle(&mut self, action: Action) -> Option<SimCommand> {
        let n = self.order.len();
        match action {
            Action::Quit => self.should_quit = true,
            Action::CloseOverlay => {
                if self.show_help {
                    self.show_help = false;
                } else {
                    self.should_quit = true;
                }
            }
            Action::Down if n > 0 => self.selected = (self.selected + 1).min(n - 1),
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = n.saturating_sub(1),
            Action::NextPeer | Action::PrevPeer => self.selected_peer = 1 - self.selected_peer,
            Action::ToggleHelp => self.show_help = !self.show_help,
            Action::ToggleSort => {
                self.sort = match self.sort {
                    SortOrder::Worst => SortOrder::Name,
                    SortOrder::Name => SortOrder::Worst,
                };
                self.refresh();
            }
            Action::ClickAt(x, y) => self.click(x, y),
            Action::OpenLogs => {
                if let Some(c) = self.selected_cluster() {
                    self.show_help = false;
                    self.log_view = Some(LogView::new(c, &self.logs, self.utc_offset));
                }
            }
            Action::Failover { forced } => self.ask_failover(forced),
            Action::Inject(fault) if self.demo && !self.read_only => {
                let cluster = self.selected_cluster()?;
                let peer = self.selected_peer;
                let cmd = match fault {
                    Fault::KillMaster => SimCommand::KillMaster { cluster },
                    Fault::StartStopped => SimCommand::StartStopped { cluster },
                    Fault::ToggleUnreachable => SimCommand::ToggleUnreachable { cluster, peer },
                    Fault::ToggleLinkCut => SimCommand::ToggleLinkCut { cluster },
                    Fault::ToggleMoveBroken => SimCommand::ToggleMoveBroken { cluster },
                    Fault::ToggleCloudLag => SimCommand::ToggleCloudLag { cluster },
                    Fault::ToggleCloudFailing => SimCommand::ToggleCloudFailing { cluster },
                    Fault::Heal => SimCommand::Heal { cluster },
                };
                let specs: Vec<_> = self
                    .snapshot
                    .clusters
                    .iter()
                    .map(|c| c.spec.clone())
                    .collect();
                self.flash = Some((cmd.describe(&specs), self.now));
                return Some(cmd);
            }
            _ => {}
        }
        None
    }

    /// An action on the log screen. Closing and quitting are done here;
    /// a save comes back for the event loop to carry out.
    pub fn handle_log(&mut self, action: LogAction) -> Option<LogEffect> {
        let v = self.log_view.as_mut()?;
        let spec = &self.snapshot.clusters.get(v.cluster)?.spec;
        match v.handle(action, &self.logs, spec)? {
            LogEffect::Close => self.log_view = None,
            LogEffect::Quit => self.should_quit = true,
            save => return Some(save),
        }
        None
    }

    fn click(&mut self, x: u16, y: u16) {
        let hit = self.hit.get();
        let pos = Position::new(x, y);
        if hit.cluster_list.contains(pos) {
            // One row per cluster below the list's title row.
            let row = y.saturating_sub(hit.cluster_list.y + 1) as usize;
            if row < self.order.len() {
                self.selected = row;
            }
        }
        for (i, area) in hit.peers.iter().enumerate() {
            if area.contains(pos) {
                self.selected_peer = i;
            }
        }
    }
}
