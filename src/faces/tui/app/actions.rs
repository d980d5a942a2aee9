//! The key tables of each screen and what a key means there: the
//! dashboard's ([`KEYS`], with the failover and demo keys that only some
//! consoles have), the prompt's, the help overlay's. The help screens and
//! the man page are drawn from these tables, so they cannot drift.

use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};

use crate::faces::tui::keys::{hint, lookup, Binding, Key};

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
    /// `a`: every alert of the selected cluster, whole and scrollable.
    OpenAlerts,
    /// `e`: why the selected peer is in its state.
    OpenExplain,
    /// `f`: the selected cluster's lint findings.
    OpenFindings,
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
        hint: hint(6, "j/k", "cluster"),
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
        hint: hint(7, "tab", "peer"),
    },
    Binding {
        keys: &[
            (ch('l'), Action::OpenLogs),
            (Key::Plain(KeyCode::Enter), Action::OpenLogs),
        ],
        label: "l / Enter",
        help: "logs of the selected cluster (both peers)",
        hint: hint(5, "l", "logs"),
    },
    Binding {
        // The cluster list itself says `sort: … (o)`.
        keys: &[(ch('o'), Action::ToggleSort)],
        label: "o",
        help: "sort: worst first / by name",
        hint: None,
    },
    Binding {
        keys: &[(ch('a'), Action::OpenAlerts)],
        label: "a",
        help: "all the selected cluster's alerts, whole, most urgent first",
        hint: hint(4, "a", "alerts"),
    },
    Binding {
        keys: &[(ch('e'), Action::OpenExplain)],
        label: "e",
        help: "why the selected peer is in its state, and who says so",
        hint: hint(10, "e", "why"),
    },
    Binding {
        keys: &[(ch('f'), Action::OpenFindings)],
        label: "f",
        help: "lint findings of the selected cluster: where, why, the fix",
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
        help: "filter clusters by name, VIP, mode, verdict or peer",
        hint: hint(8, "/", "filter"),
    },
    Binding {
        keys: &[(ch(':'), Action::Jump)],
        label: ":",
        help: "jump to a cluster by name or VIP (Tab completes)",
        hint: hint(9, ":", "jump"),
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
        help: "previous / next candidate (jump) or cluster in the list (filter)",
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
        help: "keep the filter / jump to the named or highlighted cluster",
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
        help: "type to narrow (filter) or name the cluster or its VIP (jump)",
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
    /// The highlighted candidate of the `:` prompt (↑/↓ move it, Enter
    /// takes it).
    pub(crate) pick: usize,
}

/// Live with a config or in the demo (which rehearses on its simulated
/// clusters), never with `--read-only`.
pub const FAILOVER_KEYS: &[Binding<Action>] = &[
    Binding {
        keys: &[(ch('m'), Action::Failover { forced: false })],
        label: "m",
        help: "move the VIP to the other peer (guided failover)",
        hint: hint(2, "m", "move VIP"),
    },
    Binding {
        keys: &[(ch('F'), Action::Failover { forced: true })],
        label: "F",
        help: "forced move; on vip_drift, the binding to the VRRP master",
        hint: hint(3, "F", "force"),
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

    /// Why the demo's fault keys do nothing here, if they are the demo's
    /// and do not (`--read-only` is a promise not to touch, even the
    /// simulator).
    pub(crate) fn fault_refusal(self) -> Option<&'static str> {
        (self.demo && self.read_only).then_some("read-only: demo faults are disabled")
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
    /// is off, and the demo's fault keys in a read-only demo, come back as
    /// [`Action::Refused`], so the operator learns why.
    pub(crate) fn dispatch(self, key: &KeyEvent) -> Option<Action> {
        if let Some(a) = self.tables().into_iter().find_map(|(_, t)| lookup(t, key)) {
            return Some(a);
        }
        if let Some(why) = self.fault_refusal() {
            if lookup(DEMO_KEYS, key).is_some() {
                return Some(Action::Refused(why));
            }
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
