//! (Over 1,000 lines: the console's one state machine (every screen's keys,
//! the update fold, the wizard's channel) is kept in one place so one
//! `App::update` decides; the planned split moves each screen's handling
//! beside its key table.)
//!
//! The console's state and how it changes: updates from the sources, the
//! clock tick, and the operator's keys and clicks. One [`Screen`] is shown
//! at a time; [`App::update`] lets that screen decide what an event means,
//! using its key table ([`KEYS`], [`crate::faces::tui::logview::LOG_KEYS`],
//! [`HELP_KEYS`]), and hands back at most one [`Effect`] for the event loop
//! to carry out. No terminal and no I/O here, so it can be driven headless
//! in tests.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use crate::core::logs::LogStore;
use crate::core::model::{Snapshot, Update};
use crate::core::verdict::{assess, Assessment, Thresholds};
use crate::faces::tui::failover::{Msg as WizardMsg, Wizard};
use crate::faces::tui::keys::{hint, lookup, Binding, Key};
use crate::faces::tui::layout::{banner_bound, layout, list_rows, Content, Density, ListRow};
use crate::faces::tui::logview::{self, LogAction, LogEffect, LogView};
use crate::faces::tui::theme::Theme;
use crate::sources::simulator::SimCommand;

/// How the cluster list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortOrder {
    /// Worst verdict first, then by name.
    Worst,
    /// By name, as the user configured them.
    Name,
}

/// Everything the operator can ask for on the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Up,
    Down,
    Top,
    Bottom,
    NextPeer,
    PrevPeer,
    /// The help overlay over the dashboard.
    ToggleHelp,
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
    /// A key whose feature is off here (failover in the demo or read-only):
    /// the footer says why.
    Refused(&'static str),
    /// `/`: filter the cluster list as you type.
    Filter,
    /// `:`: jump to a cluster by name, with completion.
    Jump,
    /// `Esc`: back (clears the filter); never quits.
    Back,
    /// `I`: write the selected cluster's incident record.
    WriteIncident,
    /// `A`: the failover history (the audit trail).
    OpenHistory,
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

const fn ch(c: char) -> Key {
    Key::Plain(KeyCode::Char(c))
}

/// The dashboard's keys: they dispatch, draw the help overlay and the
/// footer, and are the quick card's table (docs/quick-card.md).
pub const KEYS: &[Binding<Action>] = &[
    Binding {
        keys: &[
            (ch('j'), Action::Down),
            (Key::Plain(KeyCode::Down), Action::Down),
        ],
        label: "j / ↓",
        help: "next cluster",
        hint: hint(2, "j/k", "cluster"),
    },
    Binding {
        keys: &[(ch('k'), Action::Up), (Key::Plain(KeyCode::Up), Action::Up)],
        label: "k / ↑",
        help: "previous cluster",
        hint: None,
    },
    Binding {
        keys: &[
            (ch('g'), Action::Top),
            (ch('G'), Action::Bottom),
            (Key::Plain(KeyCode::Home), Action::Top),
            (Key::Plain(KeyCode::End), Action::Bottom),
        ],
        label: "g G Home End",
        help: "first / last cluster",
        hint: None,
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Tab), Action::NextPeer),
            (Key::Plain(KeyCode::BackTab), Action::PrevPeer),
            (Key::Plain(KeyCode::Left), Action::PrevPeer),
            (Key::Plain(KeyCode::Right), Action::NextPeer),
        ],
        label: "Tab ⇧Tab ← →",
        help: "select the other peer",
        hint: hint(3, "tab", "peer"),
    },
    Binding {
        keys: &[
            (ch('l'), Action::OpenLogs),
            (Key::Plain(KeyCode::Enter), Action::OpenLogs),
        ],
        label: "l / Enter",
        help: "logs of the selected cluster (both peers)",
        hint: hint(4, "l", "logs"),
    },
    Binding {
        // The cluster list itself says `sort: … (o)`.
        keys: &[(ch('o'), Action::ToggleSort)],
        label: "o",
        help: "sort: worst first / by name",
        hint: None,
    },
    Binding {
        keys: &[(ch('A'), Action::OpenHistory)],
        label: "A",
        help: "failover history: who moved which VIP when, how it ended",
        hint: None,
    },
    Binding {
        keys: &[(ch('I'), Action::WriteIncident)],
        label: "I",
        help: "write the selected cluster's incident record (last 30 min) to the data dir",
        hint: None,
    },
    Binding {
        keys: &[(ch('R'), Action::Reload)],
        label: "R",
        help: "reload the config file (also on SIGHUP)",
        hint: None,
    },
    Binding {
        keys: &[],
        label: "mouse",
        help: "click a cluster or a peer to select it",
        hint: None,
    },
    Binding {
        keys: &[(ch('?'), Action::ToggleHelp)],
        label: "?",
        help: "this help",
        hint: hint(0, "?", "help"),
    },
    Binding {
        keys: &[(ch('/'), Action::Filter)],
        label: "/",
        help: "filter clusters by name, mode, verdict or peer",
        hint: hint(5, "/", "filter"),
    },
    Binding {
        keys: &[(ch(':'), Action::Jump)],
        label: ":",
        help: "jump to a cluster by name (Tab completes)",
        hint: hint(6, ":", "jump"),
    },
    Binding {
        keys: &[(Key::Plain(KeyCode::Esc), Action::Back)],
        label: "Esc",
        help: "back: clear the filter",
        hint: None,
    },
    Binding {
        keys: &[(ch('q'), Action::Quit), (Key::Ctrl('c'), Action::Quit)],
        label: "q ^C",
        help: "quit (in this help, q and Esc close it)",
        hint: hint(1, "q", "quit"),
    },
];

/// What the `/` and `:` prompts answer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptAction {
    Type,
    Erase,
    Complete,
    Up,
    Down,
    Accept,
    Cancel,
    Quit,
}

/// The keys of the `/` filter and `:` jump prompts (typed text narrows
/// the list at once).
pub const PROMPT_KEYS: &[Binding<PromptAction>] = &[
    Binding {
        keys: &[(Key::Plain(KeyCode::Tab), PromptAction::Complete)],
        label: "Tab",
        help: "complete the cluster name (jump)",
        hint: hint(2, "Tab", "complete"),
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Up), PromptAction::Up),
            (Key::Plain(KeyCode::Down), PromptAction::Down),
        ],
        label: "↑ / ↓",
        help: "previous / next cluster in the list",
        hint: None,
    },
    Binding {
        keys: &[(Key::Plain(KeyCode::Backspace), PromptAction::Erase)],
        label: "Backspace",
        help: "erase a character",
        hint: None,
    },
    Binding {
        keys: &[(Key::Plain(KeyCode::Enter), PromptAction::Accept)],
        label: "Enter",
        help: "keep the filter / jump to the cluster",
        hint: hint(0, "Enter", "done"),
    },
    Binding {
        keys: &[(Key::Plain(KeyCode::Esc), PromptAction::Cancel)],
        label: "Esc",
        help: "clear the filter / leave the prompt",
        hint: hint(1, "Esc", "clear"),
    },
    Binding {
        keys: &[(Key::Ctrl('c'), PromptAction::Quit)],
        label: "^C",
        help: "quit",
        hint: None,
    },
    Binding {
        keys: &[(Key::Text, PromptAction::Type)],
        label: "text",
        help: "type to narrow (filter) or name the cluster (jump)",
        hint: None,
    },
];

/// Which prompt is open on the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PromptKind {
    Filter,
    Jump,
}

/// The `/` or `:` prompt being typed in the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prompt {
    pub(crate) kind: PromptKind,
    pub(crate) text: String,
}

/// Live only with real clusters and without `--read-only`.
pub const FAILOVER_KEYS: &[Binding<Action>] = &[
    Binding {
        keys: &[(ch('m'), Action::Failover { forced: false })],
        label: "m",
        help: "move the VIP to the other peer (guided failover)",
        hint: hint(7, "m", "move VIP"),
    },
    Binding {
        keys: &[(ch('F'), Action::Failover { forced: true })],
        label: "F",
        help: "forced move; on vip_drift, the binding to the VRRP master",
        hint: hint(8, "F", "force"),
    },
];

/// Live only in the demo, without `--read-only`.
pub const DEMO_KEYS: &[Binding<Action>] = &[
    Binding {
        keys: &[(ch('K'), Action::Inject(Fault::KillMaster))],
        label: "K",
        help: "kill keepalived on the MASTER (back in 10 s)",
        hint: None,
    },
    Binding {
        keys: &[(ch('S'), Action::Inject(Fault::StartStopped))],
        label: "S",
        help: "start keepalived where it is stopped",
        hint: None,
    },
    Binding {
        keys: &[(ch('U'), Action::Inject(Fault::ToggleUnreachable))],
        label: "U",
        help: "SSH black hole on the selected peer (toggle)",
        hint: None,
    },
    Binding {
        keys: &[(ch('N'), Action::Inject(Fault::ToggleMoveBroken))],
        label: "N",
        help: "notify script fails: VIP move breaks (toggle)",
        hint: None,
    },
    Binding {
        keys: &[(ch('X'), Action::Inject(Fault::ToggleLinkCut))],
        label: "X",
        help: "cut the VRRP link: split brain (toggle)",
        hint: None,
    },
    Binding {
        keys: &[(ch('L'), Action::Inject(Fault::ToggleCloudLag))],
        label: "L",
        help: "cloud lags 20 s (toggle)",
        hint: None,
    },
    Binding {
        keys: &[(ch('C'), Action::Inject(Fault::ToggleCloudFailing))],
        label: "C",
        help: "cloud API errors (toggle)",
        hint: None,
    },
    Binding {
        keys: &[(ch('H'), Action::Inject(Fault::Heal))],
        label: "H",
        help: "heal every fault",
        hint: None,
    },
];

/// What the help overlay answers to; its title shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelpAction {
    Close,
    Quit,
    /// Scroll the help when it is taller than the screen.
    ScrollDown,
    ScrollUp,
}

pub const HELP_KEYS: &[Binding<HelpAction>] = &[
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Esc), HelpAction::Close),
            (ch('?'), HelpAction::Close),
            (ch('q'), HelpAction::Close),
        ],
        label: "Esc ? q",
        help: "close this help",
        hint: hint(0, "Esc ? q", "close"),
    },
    Binding {
        keys: &[(Key::Ctrl('c'), HelpAction::Quit)],
        label: "^C",
        help: "quit",
        hint: hint(1, "^C", "quit"),
    },
    Binding {
        keys: &[
            (ch('j'), HelpAction::ScrollDown),
            (Key::Plain(KeyCode::Down), HelpAction::ScrollDown),
            (Key::Plain(KeyCode::PageDown), HelpAction::ScrollDown),
        ],
        label: "j ↓ PgDn",
        help: "scroll this help down (when it does not fit)",
        hint: hint(2, "j/k", "scroll"),
    },
    Binding {
        keys: &[
            (ch('k'), HelpAction::ScrollUp),
            (Key::Plain(KeyCode::Up), HelpAction::ScrollUp),
            (Key::Plain(KeyCode::PageUp), HelpAction::ScrollUp),
        ],
        label: "k ↑ PgUp",
        help: "scroll this help up",
        hint: None,
    },
];

/// The parts of the dashboard's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Main,
    Failover,
    Demo,
}

/// Which parts of the dashboard's key table are live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyContext {
    pub demo: bool,
    pub read_only: bool,
    /// A config to fail over against (not the demo).
    pub(crate) real: bool,
}

impl KeyContext {
    /// Why `m`/`F` do nothing here, if they do not.
    pub(crate) fn failover_refusal(self) -> Option<&'static str> {
        if self.read_only {
            Some("read-only: failover is disabled")
        } else if !self.real && !self.demo {
            Some("failover needs a config (or the demo's simulated clusters)")
        } else {
            None
        }
    }

    pub(crate) fn demo_faults(self) -> bool {
        self.demo && !self.read_only
    }

    /// The dashboard's live key tables, in the order the help shows them.
    pub(crate) fn tables(self) -> Vec<(Section, &'static [Binding<Action>])> {
        let mut t = vec![(Section::Main, KEYS)];
        if self.failover_refusal().is_none() {
            t.push((Section::Failover, FAILOVER_KEYS));
        }
        if self.demo_faults() {
            t.push((Section::Demo, DEMO_KEYS));
        }
        t
    }

    /// The dashboard's action for a key press. Failover keys where failover
    /// is off come back as [`Action::Refused`], so the operator learns why.
    pub(crate) fn dispatch(self, key: &KeyEvent) -> Option<Action> {
        if let Some(a) = self.tables().into_iter().find_map(|(_, t)| lookup(t, key)) {
            return Some(a);
        }
        let why = self.failover_refusal()?;
        lookup(FAILOVER_KEYS, key).map(|_| Action::Refused(why))
    }
}

/// The dashboard's action for a key, as in the demo (`demo`) or with a
/// read-write real config (`!demo`).
pub fn key_action(key: KeyEvent, demo: bool) -> Option<Action> {
    KeyContext {
        demo,
        read_only: false,
        real: !demo,
    }
    .dispatch(&key)
}

pub(crate) fn mouse_action(m: MouseEvent) -> Option<Action> {
    match m.kind {
        MouseEventKind::Down(MouseButton::Left) => Some(Action::ClickAt(m.column, m.row)),
        MouseEventKind::ScrollDown => Some(Action::Down),
        MouseEventKind::ScrollUp => Some(Action::Up),
        _ => None,
    }
}

/// What is on screen; each screen owns its state.
pub(crate) enum Screen {
    Dashboard,
    Logs(Box<LogView>),
    Wizard(Box<Wizard>),
    History(Box<super::history::History>),
    /// The help overlay over the screen it explains (the dashboard or the
    /// log screen).
    Help(Box<Screen>),
}

impl Screen {
    /// The log screen's state, also under its help.
    pub fn log_view(&self) -> Option<&LogView> {
        match self {
            Screen::Logs(v) => Some(v),
            Screen::Help(under) => under.log_view(),
            Screen::Dashboard | Screen::Wizard(_) | Screen::History(_) => None,
        }
    }

    fn log_view_mut(&mut self) -> Option<&mut LogView> {
        match self {
            Screen::Logs(v) => Some(v),
            Screen::Help(under) => under.log_view_mut(),
            Screen::Dashboard | Screen::Wizard(_) | Screen::History(_) => None,
        }
    }
}

/// Work for the event loop: the app itself does no I/O.
#[derive(Debug)]
pub enum Effect {
    /// A demo fault for the simulator.
    Sim(SimCommand),
    /// Write `text` (whole lines of the filtered log view) to a file named
    /// after `cluster_name` in the data dir, then call [`App::log_saved`].
    SaveLog {
        cluster_name: String,
        text: String,
        lines: usize,
    },
    /// Start the failover wizard's task and show it ([`App::open_wizard`]).
    OpenFailover {
        /// `None` in the demo: the wizard rehearses on the simulator.
        config: Option<std::sync::Arc<crate::core::config::Config>>,
        cluster: String,
        target: String,
        forced: bool,
    },
    /// Write the incident record of cluster `cluster` (an index into the
    /// snapshot) to the data dir, then say where.
    WriteIncident {
        cluster: usize,
    },
    /// Read the config again and start its sources.
    Reload,
    Quit,
}

/// What the app is told: a key or mouse event, a screen's action (tests
/// drive these), or word from the wizard's task.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Dashboard(Action),
    Logs(LogAction),
    Help(HelpAction),
    Wizard(WizardMsg),
}

pub struct App {
    pub snapshot: Snapshot,
    pub thresholds: Thresholds,
    /// The time used for every age on screen; moves only on tick/update.
    pub(crate) now: DateTime<Utc>,
    pub assessments: Vec<Assessment>,
    /// Cluster indices in display order.
    pub order: Vec<usize>,
    /// Position in `order`.
    pub(crate) selected: usize,
    pub(crate) selected_peer: usize,
    pub(crate) sort: SortOrder,
    pub demo: bool,
    pub read_only: bool,
    /// What the title bar says about where facts come from.
    pub source_label: String,
    pub(crate) flash: Option<(String, DateTime<Utc>)>,
    pub theme: Theme,
    /// The terminal's area at the last draw: the mouse hits what the
    /// [`crate::faces::tui::layout::layout`] of this area put there.
    pub(crate) viewport: std::cell::Cell<Rect>,
    pub log_path: Option<String>,
    /// The zone clock times are shown in, fixed at start so drawing never
    /// asks the system.
    pub utc_offset: chrono::FixedOffset,
    /// Every cluster's log lines, bounded; fed by every `Update::Log`.
    pub logs: LogStore,
    /// The config failovers run against (`None` in the demo).
    pub config: Option<std::sync::Arc<crate::core::config::Config>>,
    pub(crate) screen: Screen,
    /// The `/` filter in force ("" for none): `order` holds only matches.
    pub(crate) filter: String,
    /// The `/` or `:` prompt, while it is being typed.
    pub(crate) prompt: Option<Prompt>,
    /// How far the help overlay is scrolled (lines).
    pub(crate) help_scroll: u16,
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
            demo: false,
            read_only: false,
            source_label: String::new(),
            flash: None,
            theme,
            viewport: Default::default(),
            log_path: None,
            utc_offset: chrono::Offset::fix(&Utc),
            logs: LogStore::default(),
            config: None,
            screen: Screen::Dashboard,
            filter: String::new(),
            prompt: None,
            help_scroll: 0,
        };
        app.refresh();
        app
    }

    /// Which parts of the dashboard's key table are live.
    pub(crate) fn key_context(&self) -> KeyContext {
        KeyContext {
            demo: self.demo,
            read_only: self.read_only,
            real: self.config.is_some(),
        }
    }

    /// The log screen, when it is open (also under its help).
    pub fn log_view(&self) -> Option<&LogView> {
        self.screen.log_view()
    }

    /// Is the help overlay open?
    pub fn showing_help(&self) -> bool {
        matches!(self.screen, Screen::Help(_))
    }

    /// Is the failover wizard open?
    pub(crate) fn in_wizard(&self) -> bool {
        matches!(self.screen, Screen::Wizard(_))
    }

    /// Shows the wizard [`Effect::OpenFailover`] asked for, once the event
    /// loop has started it.
    pub(crate) fn open_wizard(&mut self, w: Wizard) {
        self.screen = Screen::Wizard(Box::new(w));
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
                    .then_with(|| natural_cmp(&name(a), &name(b)))
            }),
            SortOrder::Name => order.sort_by(|&a, &b| natural_cmp(&name(a), &name(b))),
        }
        order.retain(|&i| self.matches_filter(i));
        self.order = order;
        self.selected = current
            .and_then(|c| self.order.iter().position(|&i| i == c))
            .unwrap_or(0)
            .min(self.order.len().saturating_sub(1));
        if let Some(v) = self.screen.log_view_mut() {
            v.refresh(&self.logs);
        }
    }

    /// Does cluster `ci` match the `/` filter: its name, mode, verdict
    /// or a peer's name contains the text (case-insensitive)?
    fn matches_filter(&self, ci: usize) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        let needle = self.filter.to_lowercase();
        let c = &self.snapshot.clusters[ci];
        let verdict = self.assessments[ci].verdict.as_str();
        [
            c.spec.name.as_str(),
            &c.spec.mode.to_string(),
            verdict,
            &verdict.replace('_', " "),
            &c.spec.peers[0].name,
            &c.spec.peers[1].name,
        ]
        .iter()
        .any(|h| h.to_lowercase().contains(&needle))
    }

    /// The clusters whose names start with `prefix` (case-insensitive),
    /// by name: the `:` prompt's completions.
    pub(crate) fn completions(&self, prefix: &str) -> Vec<&str> {
        let p = prefix.to_lowercase();
        let mut names: Vec<&str> = self
            .snapshot
            .clusters
            .iter()
            .map(|c| c.spec.name.as_str())
            .filter(|n| n.to_lowercase().starts_with(&p))
            .collect();
        names.sort_unstable_by(|a, b| natural_cmp(a, b));
        names
    }

    /// How many clusters there are, and how many the filter lets through.
    pub(crate) fn filtered_counts(&self) -> (usize, usize) {
        (self.order.len(), self.snapshot.clusters.len())
    }

    /// A key typed at the `/` or `:` prompt.
    fn on_prompt(&mut self, action: PromptAction, ev: &KeyEvent) -> Option<Effect> {
        let prompt = self.prompt.as_mut()?;
        let kind = prompt.kind;
        match action {
            PromptAction::Quit => return Some(Effect::Quit),
            PromptAction::Type => {
                if let KeyCode::Char(c) = ev.code {
                    prompt.text.push(c);
                }
            }
            PromptAction::Erase => {
                prompt.text.pop();
            }
            PromptAction::Up => self.selected = self.selected.saturating_sub(1),
            PromptAction::Down => {
                self.selected = (self.selected + 1).min(self.order.len().saturating_sub(1))
            }
            PromptAction::Complete => {
                if kind == PromptKind::Jump {
                    let text = prompt.text.clone();
                    if let Some(done) = common_prefix(&self.completions(&text)) {
                        if done.len() >= text.len() {
                            if let Some(p) = self.prompt.as_mut() {
                                p.text = done;
                            }
                        }
                    }
                }
            }
            PromptAction::Accept => {
                let text = prompt.text.clone();
                self.prompt = None;
                if kind == PromptKind::Jump {
                    self.jump_to(&text);
                }
                return None;
            }
            PromptAction::Cancel => {
                self.prompt = None;
                if kind == PromptKind::Filter {
                    self.filter.clear();
                    self.refresh();
                }
                return None;
            }
        }
        if kind == PromptKind::Filter {
            self.filter = self
                .prompt
                .as_ref()
                .map(|p| p.text.clone())
                .unwrap_or_default();
            self.refresh();
        }
        None
    }

    /// Selects the cluster named `name` (or the one name it starts),
    /// clearing a filter that hides it.
    fn jump_to(&mut self, name: &str) {
        let want = name.trim();
        if want.is_empty() {
            return;
        }
        let exact = self
            .snapshot
            .clusters
            .iter()
            .position(|c| c.spec.name.eq_ignore_ascii_case(want));
        let found = exact.or_else(|| match self.completions(want).as_slice() {
            [one] => self
                .snapshot
                .clusters
                .iter()
                .position(|c| c.spec.name == *one),
            _ => None,
        });
        let Some(ci) = found else {
            let n = self.completions(want).len();
            self.say(if n > 1 {
                format!("{n} clusters start with {want:?}: Tab completes")
            } else {
                format!("no cluster named {want:?}")
            });
            return;
        };
        if !self.order.contains(&ci) {
            self.filter.clear();
            self.refresh();
        }
        if let Some(pos) = self.order.iter().position(|&i| i == ci) {
            self.selected = pos;
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
        if !self.in_wizard() {
            self.screen = Screen::Dashboard;
        }
        self.order.clear();
        self.selected = 0;
        self.selected_peer = 0;
        self.source_label = label;
        self.refresh();
    }

    pub(crate) fn tick(&mut self, now: DateTime<Utc>) {
        self.now = now;
        if let Some((_, at)) = &self.flash {
            if (now - *at).num_seconds() >= 5 {
                self.flash = None;
            }
        }
        self.refresh();
    }

    pub(crate) fn say(&mut self, msg: impl Into<String>) {
        self.flash = Some((msg.into(), self.now));
    }

    /// `m`/`F`: the target is the peer that is not the VRRP master; a
    /// forced move on vip_drift targets the master (the binding follows it).
    fn ask_failover(&mut self, forced: bool) -> Option<Effect> {
        if let Some(why) = self.key_context().failover_refusal() {
            self.say(why);
            return None;
        }
        let config = self.config.clone();
        let ci = self.selected_cluster()?;
        let (a, c) = (self.assessments.get(ci)?, self.snapshot.clusters.get(ci)?);
        let target = match (forced, a.master) {
            (true, Some(m)) if a.verdict == crate::core::model::Verdict::VipDrift => m,
            (_, Some(m)) => 1 - m,
            (_, None) => self.selected_peer,
        };
        Some(Effect::OpenFailover {
            config,
            cluster: c.spec.name.clone(),
            target: c.spec.peers[target].name.clone(),
            forced,
        })
    }

    pub fn selected_cluster(&self) -> Option<usize> {
        self.order.get(self.selected).copied()
    }

    /// The one way in: whatever happened, the screen it happened on decides
    /// what it means; anything the app cannot do itself comes back.
    pub fn update(&mut self, msg: Msg) -> Option<Effect> {
        match msg {
            Msg::Key(k) => self.key(k),
            Msg::Mouse(m) => self.mouse(m),
            Msg::Dashboard(a) => match self.screen {
                Screen::Dashboard => self.on_dashboard(a),
                _ => None,
            },
            Msg::Logs(a) => match self.screen {
                Screen::Logs(_) => self.on_logs(a),
                _ => None,
            },
            Msg::Help(a) => match self.screen {
                Screen::Help(_) => self.on_help(a),
                _ => None,
            },
            Msg::Wizard(m) => {
                if let Screen::Wizard(w) = &mut self.screen {
                    w.apply(m);
                }
                None
            }
        }
    }

    /// A dashboard action (tests call this directly).
    pub fn handle(&mut self, action: Action) -> Option<Effect> {
        self.update(Msg::Dashboard(action))
    }

    /// A log screen action (tests call this directly).
    pub fn handle_log(&mut self, action: LogAction) -> Option<Effect> {
        self.update(Msg::Logs(action))
    }

    fn key(&mut self, k: KeyEvent) -> Option<Effect> {
        match &mut self.screen {
            Screen::Wizard(w) => {
                if !w.key(k) {
                    self.screen = Screen::Dashboard;
                }
                None
            }
            Screen::Help(_) => lookup(HELP_KEYS, &k).and_then(|a| self.on_help(a)),
            Screen::History(h) => {
                use super::history::HistoryAction;
                match lookup(super::history::HISTORY_KEYS, &k)? {
                    HistoryAction::Close => self.screen = Screen::Dashboard,
                    HistoryAction::Quit => return Some(Effect::Quit),
                    a => h.scroll(a),
                }
                None
            }
            Screen::Logs(v) => {
                let a = logview::key_action(k, v.search.editing)?;
                self.on_logs(a)
            }
            Screen::Dashboard if self.prompt.is_some() => {
                let a = lookup(PROMPT_KEYS, &k)?;
                self.on_prompt(a, &k)
            }
            Screen::Dashboard => {
                let a = self.key_context().dispatch(&k)?;
                self.on_dashboard(a)
            }
        }
    }

    fn mouse(&mut self, m: MouseEvent) -> Option<Effect> {
        match &self.screen {
            Screen::Dashboard => mouse_action(m).and_then(|a| self.on_dashboard(a)),
            Screen::Logs(_) => match m.kind {
                MouseEventKind::ScrollUp => self.on_logs(LogAction::Up),
                MouseEventKind::ScrollDown => self.on_logs(LogAction::Down),
                _ => None,
            },
            // The wheel scrolls the wizard's plan (three lines a notch).
            Screen::Wizard(_) => {
                if let Screen::Wizard(w) = &mut self.screen {
                    match m.kind {
                        MouseEventKind::ScrollUp => w.wheel(-3),
                        MouseEventKind::ScrollDown => w.wheel(3),
                        _ => {}
                    }
                }
                None
            }
            Screen::History(_) => {
                if let Screen::History(h) = &mut self.screen {
                    match m.kind {
                        MouseEventKind::ScrollUp => h.scroll(super::history::HistoryAction::Up),
                        MouseEventKind::ScrollDown => h.scroll(super::history::HistoryAction::Down),
                        _ => {}
                    }
                }
                None
            }
            // The help covers the dashboard: the mouse does not reach under it.
            Screen::Help(_) => None,
        }
    }

    fn on_help(&mut self, action: HelpAction) -> Option<Effect> {
        match action {
            HelpAction::Quit => return Some(Effect::Quit),
            // The view stops at the help's last line.
            HelpAction::ScrollDown => self.help_scroll = (self.help_scroll + 1).min(200),
            HelpAction::ScrollUp => self.help_scroll = self.help_scroll.saturating_sub(1),
            HelpAction::Close => {
                self.help_scroll = 0;
                let screen = std::mem::replace(&mut self.screen, Screen::Dashboard);
                if let Screen::Help(under) = screen {
                    self.screen = *under;
                }
            }
        }
        None
    }

    fn on_dashboard(&mut self, action: Action) -> Option<Effect> {
        let n = self.order.len();
        match action {
            Action::Quit => return Some(Effect::Quit),
            Action::Down if n > 0 => self.selected = (self.selected + 1).min(n - 1),
            Action::Down => {}
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = n.saturating_sub(1),
            Action::NextPeer | Action::PrevPeer => self.selected_peer = 1 - self.selected_peer,
            Action::ToggleHelp => self.screen = Screen::Help(Box::new(Screen::Dashboard)),
            Action::ToggleSort => {
                self.sort = match self.sort {
                    SortOrder::Worst => SortOrder::Name,
                    SortOrder::Name => SortOrder::Worst,
                };
                self.refresh();
            }
            Action::Reload => return Some(Effect::Reload),
            Action::ClickAt(x, y) => self.click(x, y),
            Action::OpenLogs => {
                if let Some(c) = self.selected_cluster() {
                    self.screen =
                        Screen::Logs(Box::new(LogView::new(c, &self.logs, self.utc_offset)));
                }
            }
            Action::Failover { forced } => return self.ask_failover(forced),
            Action::OpenHistory => {
                let path = if self.demo {
                    crate::failover::sim::demo_audit_path()
                } else {
                    crate::failover::audit::default_path()
                };
                self.screen =
                    Screen::History(Box::new(super::history::History::load(path.as_deref())));
            }
            Action::WriteIncident => {
                return self
                    .selected_cluster()
                    .map(|cluster| Effect::WriteIncident { cluster })
            }
            Action::Refused(why) => self.say(why),
            Action::Inject(fault) => return self.inject(fault),
            Action::Filter => {
                self.prompt = Some(Prompt {
                    kind: PromptKind::Filter,
                    text: self.filter.clone(),
                })
            }
            Action::Jump => {
                self.prompt = Some(Prompt {
                    kind: PromptKind::Jump,
                    text: String::new(),
                })
            }
            Action::Back => {
                if !self.filter.is_empty() {
                    self.filter.clear();
                    self.refresh();
                }
            }
        }
        None
    }

    fn inject(&mut self, fault: Fault) -> Option<Effect> {
        if !self.demo || self.read_only {
            return None;
        }
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
        self.say(cmd.describe(&specs));
        Some(Effect::Sim(cmd))
    }

    /// An action on the log screen: closing it and its help are done
    /// here; quitting and a save come back for the event loop.
    fn on_logs(&mut self, action: LogAction) -> Option<Effect> {
        if action == LogAction::ToggleHelp {
            let screen = std::mem::replace(&mut self.screen, Screen::Dashboard);
            self.screen = Screen::Help(Box::new(screen));
            return None;
        }
        let Screen::Logs(v) = &mut self.screen else {
            return None;
        };
        let spec = &self.snapshot.clusters.get(v.cluster)?.spec;
        match v.handle(action, &self.logs, spec)? {
            LogEffect::Close => self.screen = Screen::Dashboard,
            LogEffect::Quit => return Some(Effect::Quit),
            LogEffect::Save {
                cluster_name,
                text,
                lines,
            } => {
                return Some(Effect::SaveLog {
                    cluster_name,
                    text,
                    lines,
                })
            }
        }
        None
    }

    /// What the event loop reports after carrying out [`Effect::SaveLog`].
    pub fn log_saved(&mut self, result: Result<(std::path::PathBuf, usize), String>) {
        if let Some(v) = self.screen.log_view_mut() {
            v.saved(result);
        }
    }

    fn click(&mut self, x: u16, y: u16) {
        let ci = self.selected_cluster();
        let regions = layout(self.viewport.get(), self.layout_content());
        let pos = Position::new(x, y);
        if regions.cluster_list.contains(pos) && regions.density != Density::Narrow {
            // The list's rows start below its title row.
            let row = y.saturating_sub(regions.cluster_list.y + 1) as usize;
            let rows = self.list_rows(regions.cluster_list.height);
            if let Some(ListRow::Cluster(p)) = rows.get(row) {
                self.selected = *p;
            }
        }
        if ci.is_some() {
            for (i, area) in regions.peers.iter().enumerate() {
                if area.contains(pos) {
                    self.selected_peer = i;
                }
            }
        }
    }

    /// What the layout needs of the selected cluster, for drawing and
    /// for the mouse alike.
    pub(crate) fn layout_content(&self) -> Content {
        let Some(ci) = self.selected_cluster() else {
            return Content::default();
        };
        let (Some(c), Some(a)) = (self.snapshot.clusters.get(ci), self.assessments.get(ci)) else {
            return Content::default();
        };
        Content {
            alerts: a.alerts.len(),
            banner: banner_bound(
                &c.spec.name,
                a.master.map(|m| c.spec.peers[m].name.as_str()),
                &c.spec.vip,
            ),
        }
    }

    /// The cluster list's rows in a list `height` rows tall (its title
    /// and sort line included), as drawn and as clicked.
    pub(crate) fn list_rows(&self, height: u16) -> Vec<ListRow> {
        let verdicts: Vec<_> = self
            .order
            .iter()
            .map(|&i| self.assessments[i].verdict)
            .collect();
        list_rows(
            &verdicts,
            self.selected,
            height.saturating_sub(2) as usize,
            self.sort == SortOrder::Worst,
        )
    }
}

/// Names in the order people count: `web-2` before `web-10`.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for ((da, xa), (db, xb)) in ca.iter().zip(&cb) {
        let o = if *da && *db {
            let (ta, tb) = (xa.trim_start_matches('0'), xb.trim_start_matches('0'));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb))
        } else {
            xa.cmp(xb)
        };
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

/// The longest prefix every name shares (None for no names).
fn common_prefix(names: &[&str]) -> Option<String> {
    let first = names.first()?;
    let mut len = first.len();
    for n in &names[1..] {
        len = first
            .char_indices()
            .zip(n.chars())
            .take_while(|((_, a), b)| a.eq_ignore_ascii_case(b))
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8())
            .min(len);
    }
    Some(first[..len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faces::tui::keys::check_table;
    use crossterm::event::KeyModifiers;

    fn every_context() -> Vec<KeyContext> {
        let mut out = Vec::new();
        for demo in [false, true] {
            for read_only in [false, true] {
                for real in [false, true] {
                    out.push(KeyContext {
                        demo,
                        read_only,
                        real,
                    });
                }
            }
        }
        out
    }

    #[test]
    fn the_dashboards_help_is_exactly_its_keys_in_every_context() {
        for ctx in every_context() {
            let live: Vec<Binding<Action>> = ctx
                .tables()
                .into_iter()
                .flat_map(|(_, t)| t.iter().copied())
                .collect();
            // A refusal explains a key the help does not list; it is not
            // the key's action.
            let dispatch =
                |k: &KeyEvent| ctx.dispatch(k).filter(|a| !matches!(a, Action::Refused(_)));
            check_table(&format!("dashboard {ctx:?}"), &live, dispatch);
            for ev in crate::faces::tui::keys::every_key() {
                if let Some(Action::Refused(_)) = ctx.dispatch(&ev) {
                    assert!(
                        ctx.failover_refusal().is_some() && lookup(FAILOVER_KEYS, &ev).is_some(),
                        "{ctx:?}: {ev:?} refused but not a failover key"
                    );
                }
            }
        }
    }

    #[test]
    fn the_help_screens_title_is_exactly_its_keys() {
        check_table("help", HELP_KEYS, |k| lookup(HELP_KEYS, k));
    }

    fn app() -> App {
        let theme = Theme::try_from(&crate::faces::theme::default_theme()).expect("theme");
        let spec =
            crate::sources::simulator::spec_of(&crate::sources::simulator::world::SimCluster::new(
                crate::sources::simulator::world::ClusterParams {
                    name: "web",
                    mode: crate::core::model::Mode::Havip,
                    vip: "192.0.2.12",
                    peer_names: ["havip-01", "havip-02"],
                    addresses: [[192, 0, 2, 5], [192, 0, 2, 6]],
                    priorities: [100, 100],
                    cloud_delay: std::time::Duration::from_secs(2),
                },
                Utc::now(),
            ));
        App::new(
            Snapshot::new(vec![spec]),
            Thresholds::default(),
            theme,
            Utc::now(),
        )
    }

    fn press(app: &mut App, code: KeyCode) -> Option<Effect> {
        app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    #[test]
    fn a_opens_the_history_and_esc_goes_back() {
        let mut app = app();
        press(&mut app, KeyCode::Char('A'));
        assert!(matches!(app.screen, Screen::History(_)));
        assert!(press(&mut app, KeyCode::Char('k')).is_none());
        assert!(
            press(&mut app, KeyCode::Esc).is_none(),
            "Esc is back, not quit"
        );
        assert!(matches!(app.screen, Screen::Dashboard));
    }

    #[test]
    fn help_is_a_screen_over_the_one_it_explains() {
        let mut app = app();
        assert!(press(&mut app, KeyCode::Char('?')).is_none());
        assert!(app.showing_help());
        // The help takes the keys: j does not move the list under it.
        assert!(press(&mut app, KeyCode::Char('j')).is_none());
        assert!(
            press(&mut app, KeyCode::Char('q')).is_none(),
            "q closes the help"
        );
        assert!(matches!(app.screen, Screen::Dashboard));

        press(&mut app, KeyCode::Char('l'));
        assert!(app.log_view().is_some());
        press(&mut app, KeyCode::Char('?'));
        assert!(app.showing_help() && app.log_view().is_some());
        press(&mut app, KeyCode::Esc);
        assert!(matches!(app.screen, Screen::Logs(_)), "back on the logs");
        let quit = app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('c'),
            KeyModifiers::CONTROL,
        )));
        assert!(matches!(quit, Some(Effect::Quit)));
        press(&mut app, KeyCode::Esc);
        assert!(matches!(app.screen, Screen::Dashboard));
        assert!(press(&mut app, KeyCode::Esc).is_none(), "Esc never quits");
        assert!(matches!(
            press(&mut app, KeyCode::Char('q')),
            Some(Effect::Quit)
        ));
    }

    #[test]
    fn the_prompts_help_is_exactly_its_keys() {
        check_table("prompt", PROMPT_KEYS, |k| lookup(PROMPT_KEYS, k));
    }

    fn type_text(app: &mut App, text: &str) {
        for c in text.chars() {
            press(app, KeyCode::Char(c));
        }
    }

    #[test]
    fn slash_filters_as_you_type_and_esc_clears() {
        let mut app = app();
        assert_eq!(app.order.len(), 1);
        press(&mut app, KeyCode::Char('/'));
        type_text(&mut app, "nomatch");
        assert!(app.order.is_empty(), "narrowed while typing");
        for _ in 0.."nomatch".len() {
            press(&mut app, KeyCode::Backspace);
        }
        type_text(&mut app, "HAVIP-02");
        assert_eq!(app.order.len(), 1, "a peer's name matches");
        press(&mut app, KeyCode::Enter);
        assert!(app.prompt.is_none() && app.filter == "HAVIP-02");
        // q at the prompt is text; on the dashboard it quits.
        press(&mut app, KeyCode::Char('/'));
        assert!(press(&mut app, KeyCode::Char('q')).is_none());
        press(&mut app, KeyCode::Esc);
        assert!(app.filter.is_empty() && app.prompt.is_none());
        press(&mut app, KeyCode::Char('/'));
        type_text(&mut app, "zzz");
        press(&mut app, KeyCode::Enter);
        assert!(app.order.is_empty());
        assert!(press(&mut app, KeyCode::Esc).is_none(), "Esc goes back");
        assert_eq!(app.order.len(), 1, "and clears the filter");
    }

    #[test]
    fn colon_completes_and_jumps() {
        let mut app = app();
        press(&mut app, KeyCode::Char(':'));
        type_text(&mut app, "w");
        press(&mut app, KeyCode::Tab);
        assert_eq!(app.prompt.as_ref().map(|p| p.text.as_str()), Some("web"));
        press(&mut app, KeyCode::Enter);
        assert!(app.prompt.is_none());
        assert_eq!(app.selected_cluster(), Some(0));
        assert_eq!(
            common_prefix(&["web-1", "web-17"]).as_deref(),
            Some("web-1")
        );
        assert_eq!(common_prefix(&["pay", "web"]).as_deref(), Some(""));
        let mut names = vec!["web-10", "web-2", "pay-1", "web-1", "web"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["pay-1", "web", "web-1", "web-2", "web-10"]);
    }

    #[test]
    fn effects_leave_the_app_one_way() {
        let mut app = app();
        assert!(matches!(
            press(&mut app, KeyCode::Char('R')),
            Some(Effect::Reload)
        ));
        // Failover in the demo: the wizard, rehearsing on the simulator.
        app.demo = true;
        assert!(matches!(
            press(&mut app, KeyCode::Char('m')),
            Some(Effect::OpenFailover { config: None, .. })
        ));
        // Neither a config nor the demo: refused with a reason, no wizard.
        app.demo = false;
        assert!(press(&mut app, KeyCode::Char('m')).is_none());
        let said = app.flash.as_ref().map(|(m, _)| m.as_str());
        assert_eq!(
            said,
            Some("failover needs a config (or the demo's simulated clusters)")
        );
        app.demo = true;
        assert!(matches!(
            press(&mut app, KeyCode::Char('H')),
            Some(Effect::Sim(SimCommand::Heal { cluster: 0 }))
        ));
        app.read_only = true;
        assert!(press(&mut app, KeyCode::Char('H')).is_none(), "read-only");
        // With a config, m asks the loop to open the wizard on the peer
        // that is not the master (no master yet: the selected one).
        app.demo = false;
        app.read_only = false;
        app.config = Some(std::sync::Arc::new(crate::core::config::Config::default()));
        match press(&mut app, KeyCode::Char('m')) {
            Some(Effect::OpenFailover {
                cluster,
                target,
                forced,
                ..
            }) => assert_eq!(
                (cluster.as_str(), target.as_str(), forced),
                ("web", "havip-01", false)
            ),
            other => panic!("m: {other:?}"),
        }
    }

    #[test]
    fn clicks_hit_the_regions_the_layout_draws() {
        let mut app = app();
        app.viewport.set(Rect::new(0, 0, 100, 30));
        let r = layout(app.viewport.get(), app.layout_content());
        let peer_b = r.peers[1];
        app.update(Msg::Dashboard(Action::ClickAt(peer_b.x + 1, peer_b.y + 1)));
        assert_eq!(app.selected_peer, 1);
        let peer_a = r.peers[0];
        app.update(Msg::Dashboard(Action::ClickAt(peer_a.x + 1, peer_a.y + 1)));
        assert_eq!(app.selected_peer, 0);
    }
}
