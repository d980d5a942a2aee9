//! The failover wizard: from the cluster view, `m` (graceful move) or `F`
//! (forced move / vip_drift repair) opens it. The failover session
//! ([`crate::failover::session`], the same as the command line's) runs in
//! its own task and talks to the wizard over a channel ([`Msg`]): it shows
//! the plan, asks the preempt-trap question when it applies (y/n), offers
//! to declare an unreachable old master dead (typed: `<peer> is dead`),
//! asks the operator to type the target peer's name (a mistyped name is
//! asked again, the plan kept), then shows each step live: its elapsed
//! and remaining time against the step's timeout, and the abandon key.
//! This module only holds what to draw and turns keys into answers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;
use tokio::sync::{mpsc, oneshot};

use crate::core::config::Config;
use crate::core::humanize;
use crate::faces::tui::keys::{hints, lookup, Binding, Hint, Key};
use crate::failover::audit;
use crate::failover::exec::Executor;
use crate::failover::plan::{Method, Request, Settings};
use crate::failover::session::{self, ChannelPrompt, Cluster, DeadQuestion};
pub use crate::failover::session::{Event as Msg, Progress};
use crate::sources::simulator::SimCommand;

/// What the wizard's view keys do (the plan and the progress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WizardAction {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// The one-screen summary ↔ the full plan.
    ToggleFull,
}

/// The wizard's keys in every stage (none of them types a character).
pub(crate) const WIZARD_KEYS: &[Binding<WizardAction>] = &[
    Binding {
        keys: &[(Key::Plain(KeyCode::Tab), WizardAction::ToggleFull)],
        label: "Tab",
        help: "the one-screen summary or the full plan",
        hint: Some(Hint {
            rank: 0,
            keys: "Tab",
            word: "summary/full plan",
        }),
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Up), WizardAction::Up),
            (Key::Plain(KeyCode::Down), WizardAction::Down),
        ],
        label: "↑ / ↓",
        help: "scroll a line",
        hint: Some(Hint {
            rank: 1,
            keys: "↑/↓",
            word: "scroll",
        }),
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::PageUp), WizardAction::PageUp),
            (Key::Plain(KeyCode::PageDown), WizardAction::PageDown),
        ],
        label: "PgUp / PgDn",
        help: "scroll a page",
        hint: None,
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Home), WizardAction::Top),
            (Key::Plain(KeyCode::End), WizardAction::Bottom),
        ],
        label: "Home / End",
        help: "the first line (the first check) / the newest lines",
        hint: Some(Hint {
            rank: 2,
            keys: "Home/End",
            word: "first/last",
        }),
    },
];

/// The wizard's letter keys, live where nothing is typed or selected.
pub(crate) const WIZARD_LETTER_KEYS: &[Binding<WizardAction>] = &[Binding {
    keys: &[
        (Key::Plain(KeyCode::Char('k')), WizardAction::Up),
        (Key::Plain(KeyCode::Char('j')), WizardAction::Down),
    ],
    label: "k / j",
    help: "scroll a line (not while typing the name)",
    hint: None,
}];

/// The wizard's view action for a key: `letters` when j/k are live.
pub(crate) fn wizard_action(key: &KeyEvent, letters: bool) -> Option<WizardAction> {
    lookup(WIZARD_KEYS, key).or_else(|| letters.then(|| lookup(WIZARD_LETTER_KEYS, key)).flatten())
}

/// What a wizard's failover acts on.
pub enum On {
    /// A cluster of a config: real peers, the real cloud, the audit trail —
    /// on the dashboard's live sources ([`Live`]).
    Config(Arc<Config>, Box<Live>),
    /// The demo's simulator: the same session, plan and executor, recorded
    /// in the demo's own audit file.
    Sim(mpsc::Sender<SimCommand>),
}

/// What the dashboard hands the wizard's executor: the cluster as it knows
/// it now and its updates from here on (re-addressed as cluster 0), so the
/// move runs on the dashboard's connections and facts, with no gather.
pub struct Live {
    pub(crate) snapshot: crate::core::model::ClusterSnapshot,
    pub(crate) updates: mpsc::Receiver<crate::core::model::Update>,
    pub(crate) thresholds: crate::core::verdict::Thresholds,
    /// The facts the executor reads itself go back to the dashboard.
    pub(crate) echo: crate::failover::exec::Echo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Reading, planning, taking the lock.
    Starting,
    /// A yes/no question (the preempt trap).
    Ask,
    /// Blocked only by overridable checks: a toggle per check.
    Overrides,
    /// The old master cannot be reached: type `<peer> is dead` to declare
    /// it dead.
    DeclareDead,
    /// Type the target's name.
    Confirm,
    Running,
    Done,
}

/// A step the executor is waiting on: since when, against which bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Waiting {
    /// `[3/8]`, or `*` for a step outside the plan (restoring safety).
    pub(crate) label: String,
    pub(crate) since: DateTime<Utc>,
    pub(crate) timeout: Duration,
}

impl Waiting {
    /// `[3/8] waiting 12s, 8s left of its 20s timeout`: whole seconds, so
    /// the line changes once a second while the step waits.
    fn words(&self, now: DateTime<Utc>) -> String {
        let elapsed = (now - self.since).to_std().unwrap_or_default();
        let whole = |d: Duration| humanize::duration(Duration::from_secs(d.as_secs()));
        let left = self.timeout.saturating_sub(elapsed);
        let left = if left.is_zero() {
            "its timeout is reached".to_string()
        } else {
            format!("{} left", whole(left + Duration::from_millis(999)))
        };
        format!(
            "{} waiting {}, {left} of its {} timeout",
            self.label,
            whole(elapsed),
            humanize::duration(self.timeout)
        )
    }
}

/// The wizard's state, drawn as an overlay over the dashboard.
pub struct Wizard {
    pub cluster: String,
    pub target: String,
    pub(crate) forced: bool,
    /// A rehearsal on the demo's simulator.
    pub(crate) rehearsal: bool,
    pub(crate) stage: Stage,
    pub(crate) plan: String,
    /// The plan on one screen (method, what moves, checks not passing,
    /// steps, expected time).
    pub(crate) summary: Vec<String>,
    /// Tab: the full plan even where the summary is shown.
    pub(crate) full: bool,
    /// The last draw showed the summary (the plan did not fit).
    compact: std::cell::Cell<bool>,
    pub(crate) typed: String,
    pub(crate) lines: Vec<String>,
    /// [`Stage::DeclareDead`]: what declaring the old master dead means
    /// and the phrase to type.
    pub(crate) dead: Option<DeadQuestion>,
    /// The step being waited for: what counts down.
    pub(crate) waiting: Option<Waiting>,
    /// The time the countdown is drawn at (the dashboard's tick).
    pub(crate) now: DateTime<Utc>,
    pub(crate) asking_abandon: bool,
    pub(crate) ok: bool,
    /// The question asked in [`Stage::Ask`].
    pub(crate) question: String,
    /// [`Stage::Overrides`]: (check id, reason, overridden) and the one
    /// selected.
    pub(crate) offered: Vec<(String, String, bool)>,
    pub(crate) offered_at: usize,
    overrides: Option<oneshot::Sender<Vec<String>>>,
    /// The first line of the plan and progress in view; `None` follows the
    /// newest lines.
    pub(crate) scroll: Option<usize>,
    /// The rows the last draw had for the plan (a page for PgUp/PgDn).
    page: std::cell::Cell<usize>,
    answer: Option<oneshot::Sender<bool>>,
    confirm: Option<oneshot::Sender<Option<String>>>,
    declare: Option<oneshot::Sender<Option<String>>>,
    interrupt: Option<Arc<AtomicBool>>,
    abandon: Arc<AtomicBool>,
}

impl Wizard {
    /// Opens the wizard and starts its task.
    pub(crate) fn open(
        on: On,
        cluster: String,
        target: String,
        forced: bool,
        tx: mpsc::UnboundedSender<Msg>,
    ) -> Wizard {
        let mut w = Wizard::new(cluster.clone(), target.clone(), forced);
        w.rehearsal = matches!(on, On::Sim(_));
        tokio::spawn(run(on, cluster, target, forced, tx, w.abandon.clone()));
        w
    }

    /// The wizard before its session says anything.
    fn new(cluster: String, target: String, forced: bool) -> Wizard {
        Wizard {
            cluster,
            target,
            forced,
            rehearsal: false,
            stage: Stage::Starting,
            plan: String::new(),
            summary: Vec::new(),
            full: false,
            compact: std::cell::Cell::new(false),
            typed: String::new(),
            lines: Vec::new(),
            dead: None,
            waiting: None,
            now: Utc::now(),
            asking_abandon: false,
            ok: false,
            question: String::new(),
            offered: Vec::new(),
            offered_at: 0,
            overrides: None,
            scroll: None,
            page: std::cell::Cell::new(10),
            answer: None,
            confirm: None,
            declare: None,
            interrupt: None,
            abandon: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn apply(&mut self, msg: Msg) {
        match msg {
            Msg::Plan { text } => self.plan = text,
            Msg::Summary { lines } => self.summary = lines,
            Msg::Question { text, reply } => {
                self.question = text;
                self.answer = Some(reply);
                self.stage = Stage::Ask;
            }
            Msg::Overrides { offered, reply } => {
                self.offered = offered.into_iter().map(|(id, r)| (id, r, false)).collect();
                self.offered_at = 0;
                self.overrides = Some(reply);
                self.stage = Stage::Overrides;
            }
            Msg::DeclareDead { question, reply } => {
                self.dead = Some(question);
                self.typed.clear();
                self.declare = Some(reply);
                self.stage = Stage::DeclareDead;
            }
            Msg::Confirm { target, reply } => {
                self.target = target;
                self.typed.clear();
                self.confirm = Some(reply);
                self.stage = Stage::Confirm;
            }
            Msg::Running { interrupt } => {
                self.interrupt = Some(interrupt);
                self.stage = Stage::Running;
                // Confirmed: follow the steps as they run.
                self.scroll = None;
            }
            Msg::Progress(p) => {
                let line = match p {
                    Progress::StepStarted {
                        index,
                        total,
                        description,
                        timeout,
                    } => {
                        let label = if total > 0 {
                            format!("[{index}/{total}]")
                        } else {
                            "  *  ".to_string()
                        };
                        let now = Utc::now();
                        self.now = now;
                        self.waiting = Some(Waiting {
                            label: label.trim().to_string(),
                            since: now,
                            timeout,
                        });
                        format!("{label} {description}")
                    }
                    // When in the step the status changed: the live
                    // countdown is below, in the prompt.
                    Progress::Status { status, elapsed } => {
                        format!("        … {status} (at {})", secs(elapsed))
                    }
                    Progress::StepFinished {
                        ok,
                        detail,
                        elapsed,
                    } => {
                        self.waiting = None;
                        format!(
                            "        {} in {}: {detail}",
                            if ok { "ok" } else { "FAILED" },
                            secs(elapsed)
                        )
                    }
                    Progress::Note(n) => n,
                };
                self.lines.push(line);
            }
            Msg::Warning(w) => self.lines.push(format!("warning: {w}")),
            Msg::Done { text, ok } => {
                self.waiting = None;
                self.lines.push(String::new());
                self.lines.extend(text.lines().map(str::to_string));
                self.ok = ok;
                self.stage = Stage::Done;
            }
        }
    }

    /// The dashboard's clock tick: the countdown moves on.
    pub(crate) fn tick(&mut self, now: DateTime<Utc>) {
        self.now = now;
    }

    /// Scrolls the plan and progress: Up/Down, PgUp/PgDn, Home/End, and
    /// j/k where they are not typed or used to select. Whether it did.
    fn scroll_key(&mut self, k: &KeyEvent) -> bool {
        let letters = !matches!(
            self.stage,
            Stage::Confirm | Stage::DeclareDead | Stage::Overrides
        );
        let Some(action) = wizard_action(k, letters) else {
            return false;
        };
        if action == WizardAction::ToggleFull {
            // From the summary to the whole plan, from its first line.
            self.full = !self.full;
            self.compact.set(false);
            self.scroll = if self.full { Some(0) } else { None };
            return true;
        }
        let len = self.scrolled().len();
        let page = self.page.get().max(1);
        let top = self.scroll.unwrap_or(len.saturating_sub(page));
        let to = match action {
            WizardAction::Up => top.saturating_sub(1),
            WizardAction::Down => top + 1,
            WizardAction::PageUp => top.saturating_sub(page),
            WizardAction::PageDown => top + page,
            WizardAction::Top => 0,
            WizardAction::Bottom => len,
            WizardAction::ToggleFull => top,
        };
        self.scroll_to(to as isize);
        true
    }

    /// The mouse wheel: `by` lines down (negative: up).
    pub(crate) fn wheel(&mut self, by: isize) {
        let len = self.scrolled().len();
        let top = self
            .scroll
            .unwrap_or(len.saturating_sub(self.page.get().max(1)));
        self.scroll_to(isize::try_from(top).unwrap_or(0) + by);
    }

    /// Scrolls to line `to`; at the end, follows the newest lines again.
    pub(crate) fn scroll_to(&mut self, to: isize) {
        let len = self.scrolled().len();
        let last = len.saturating_sub(self.page.get().max(1));
        let to = usize::try_from(to.max(0)).unwrap_or(0);
        self.scroll = (to < last).then_some(to);
    }

    /// Handles a key; returns false when the wizard should close.
    pub fn key(&mut self, k: KeyEvent) -> bool {
        let ctrl_c = k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c');
        if self.scroll_key(&k) {
            return true;
        }
        match self.stage {
            Stage::Starting => !(k.code == KeyCode::Esc || ctrl_c),
            Stage::Ask => {
                let yes = match k.code {
                    KeyCode::Char('y') | KeyCode::Char('Y') => Some(true),
                    KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Enter => {
                        Some(false)
                    }
                    _ if ctrl_c => Some(false),
                    _ => None,
                };
                if let Some(yes) = yes {
                    if let Some(tx) = self.answer.take() {
                        let _ = tx.send(yes);
                    }
                    self.lines.push(format!(
                        "{} {}",
                        self.question,
                        if yes { "yes" } else { "no" }
                    ));
                    self.stage = Stage::Starting;
                }
                true
            }
            Stage::Overrides => {
                let n = self.offered.len();
                match k.code {
                    KeyCode::Char('j') | KeyCode::Down if n > 0 => {
                        self.offered_at = (self.offered_at + 1).min(n - 1)
                    }
                    KeyCode::Char('k') | KeyCode::Up => {
                        self.offered_at = self.offered_at.saturating_sub(1)
                    }
                    KeyCode::Char(' ') => {
                        if let Some(o) = self.offered.get_mut(self.offered_at) {
                            o.2 = !o.2;
                        }
                    }
                    KeyCode::Enter => {
                        let chosen: Vec<String> = self
                            .offered
                            .iter()
                            .filter(|o| o.2)
                            .map(|o| o.0.clone())
                            .collect();
                        self.send_overrides(chosen);
                    }
                    KeyCode::Esc => self.send_overrides(Vec::new()),
                    _ if ctrl_c => self.send_overrides(Vec::new()),
                    _ => {}
                }
                true
            }
            Stage::Confirm => match k.code {
                KeyCode::Esc => {
                    self.answer(None);
                    true
                }
                _ if ctrl_c => {
                    self.answer(None);
                    true
                }
                // A slip of the fingers keeps the plan and the lock: the
                // name is asked again, and only Esc gives up.
                KeyCode::Enter if self.typed.trim() != self.target => {
                    self.lines.push(format!(
                        "typed `{}`, not `{}`: type it again (Esc cancels)",
                        self.typed, self.target
                    ));
                    self.typed.clear();
                    true
                }
                KeyCode::Enter => {
                    let typed = self.typed.trim().to_string();
                    self.answer(Some(typed));
                    true
                }
                _ => self.edit(&k),
            },
            Stage::DeclareDead => {
                let phrase = self.dead.as_ref().map(|q| q.phrase.clone());
                match k.code {
                    KeyCode::Esc => self.declare(None),
                    _ if ctrl_c => self.declare(None),
                    KeyCode::Enter if Some(self.typed.trim()) == phrase.as_deref() => {
                        let typed = self.typed.trim().to_string();
                        self.declare(Some(typed));
                    }
                    KeyCode::Enter => {
                        self.lines.push(format!(
                            "typed `{}`, not `{}`: type it again (Esc refuses)",
                            self.typed,
                            phrase.unwrap_or_default()
                        ));
                        self.typed.clear();
                    }
                    _ => {
                        self.edit(&k);
                    }
                }
                true
            }
            Stage::Running => {
                if self.asking_abandon {
                    match k.code {
                        KeyCode::Char('y') | KeyCode::Char('Y') => {
                            self.abandon.store(true, Ordering::SeqCst);
                            if let Some(i) = &self.interrupt {
                                i.store(true, Ordering::SeqCst);
                            }
                            self.lines
                                .push("abandoning: safety is restored first".into());
                            self.asking_abandon = false;
                        }
                        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                            self.asking_abandon = false
                        }
                        _ => {}
                    }
                } else if k.code == KeyCode::Esc || ctrl_c {
                    self.asking_abandon = true;
                }
                true
            }
            Stage::Done => {
                !matches!(k.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q')) && !ctrl_c
            }
        }
    }

    /// Edits the typed text: Backspace, or a character (up to 64).
    fn edit(&mut self, k: &KeyEvent) -> bool {
        match k.code {
            KeyCode::Backspace => {
                self.typed.pop();
            }
            KeyCode::Char(c) if self.typed.chars().count() < 64 => self.typed.push(c),
            _ => {}
        }
        true
    }

    /// Sends the declaration (`None`: declined) to the session.
    fn declare(&mut self, typed: Option<String>) {
        let peer = self
            .dead
            .as_ref()
            .map(|q| q.peer.clone())
            .unwrap_or_default();
        self.lines.push(match &typed {
            Some(_) => format!("declared {peer} dead: re-planning without stopping it"),
            None => format!("{peer} not declared dead"),
        });
        if let Some(tx) = self.declare.take() {
            let _ = tx.send(typed);
        }
        self.typed.clear();
        self.stage = Stage::Starting;
    }

    /// Sends the overridden checks (none: refused) to the session.
    fn send_overrides(&mut self, chosen: Vec<String>) {
        if chosen.is_empty() {
            self.lines.push("nothing overridden".into());
        } else {
            self.lines
                .push(format!("overridden: {}", chosen.join(", ")));
        }
        if let Some(tx) = self.overrides.take() {
            let _ = tx.send(chosen);
        }
        self.stage = Stage::Starting;
    }

    /// Sends what was typed (`None`: cancelled) to the session.
    fn answer(&mut self, typed: Option<String>) {
        let yes = typed.as_deref() == Some(self.target.as_str());
        if let Some(tx) = self.confirm.take() {
            let _ = tx.send(typed);
        }
        if !yes {
            self.stage = Stage::Starting;
            self.lines.push("not confirmed: releasing the lock".into());
        }
    }

    /// The text of the overlay, line by line: what scrolls, then what
    /// stays in view.
    #[cfg(test)]
    pub(crate) fn body(&self) -> Vec<String> {
        let mut out = self.scrolled();
        out.extend(self.pinned());
        out
    }

    /// The plan and the progress: these scroll.
    pub(crate) fn scrolled(&self) -> Vec<String> {
        self.scrolled_as(self.compact.get())
    }

    /// The plan (or its summary, `compact`) and the progress.
    fn scrolled_as(&self, compact: bool) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        match self.stage {
            Stage::Starting if self.plan.is_empty() && self.lines.is_empty() => {
                out.push(format!("reading cluster {} …", self.cluster));
            }
            _ => {}
        }
        if compact {
            out.extend(self.summary.iter().cloned());
        } else {
            out.extend(self.plan.lines().map(str::to_string));
        }
        if !self.lines.is_empty() {
            out.push(String::new());
            out.extend(self.lines.iter().cloned());
        }
        out
    }

    /// The prompt: always in view, below the plan.
    pub(crate) fn pinned(&self) -> Vec<String> {
        let mut out: Vec<String> = vec![hints(WIZARD_KEYS)
            .iter()
            .map(|h| format!("{} {}", h.keys, h.word))
            .collect::<Vec<_>>()
            .join(" · ")];
        if self.stage == Stage::Ask {
            out.push(String::new());
            out.push(format!("{} y/n", self.question));
        }
        if self.stage == Stage::Overrides {
            out.push(String::new());
            out.push(
                "Blocked by checks you may override: j/k select, Space toggles, Enter re-plans \
                 with the ticked ones overridden, Esc refuses"
                    .into(),
            );
            for (i, (id, reason, on)) in self.offered.iter().enumerate() {
                let cur = if i == self.offered_at { '>' } else { ' ' };
                let mark = if *on { 'x' } else { ' ' };
                out.push(format!("{cur} [{mark}] {id}: {reason}"));
            }
        }
        if let (Stage::DeclareDead, Some(q)) = (self.stage, &self.dead) {
            out.push(String::new());
            out.push(format!("Declare {} dead? {}", q.peer, q.meaning.join(" ")));
            out.push(format!(
                "Type `{}` and Enter to declare it dead, Esc to refuse: {}█",
                q.phrase, self.typed
            ));
        }
        if self.stage == Stage::Confirm {
            out.push(String::new());
            out.push(format!(
                "Type the target peer's name ({}) and Enter to proceed, Esc to cancel: {}█",
                self.target, self.typed
            ));
        }
        if self.stage == Stage::Running {
            // The step goes on waiting while the abandon question is asked.
            let abandon =
                (!self.asking_abandon).then_some("Esc abandons (asks first; safety is restored)");
            let line = match (&self.waiting, abandon) {
                (Some(w), Some(a)) => Some(format!("{} · {a}", w.words(self.now))),
                (Some(w), None) => Some(w.words(self.now)),
                (None, a) => a.map(str::to_string),
            };
            if let Some(line) = line {
                out.push(String::new());
                out.push(line);
            }
        }
        if self.asking_abandon {
            out.push(String::new());
            out.push(
                "Abandon the failover (keepalived is restored on the old master if needed)? y/n"
                    .into(),
            );
        }
        if self.stage == Stage::Done {
            out.push(String::new());
            out.push("Enter or Esc: back to the dashboard".into());
        }
        out
    }
}

/// Below this many rows inside the wizard, a plan that does not fit is
/// summarised (80×24 has 20).
const SUMMARY_BELOW_ROWS: u16 = 30;

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Draws the wizard over the dashboard; the newest lines stay in view.
pub fn draw(frame: &mut Frame, w: &Wizard) {
    let area = frame.area();
    let popup = Rect {
        x: area.x + area.width / 20,
        y: area.y + 1,
        width: area.width - area.width / 10,
        height: area.height.saturating_sub(2),
    };
    frame.render_widget(Clear, popup);
    let title = format!(
        " {} failover{}: {} → {} ",
        if w.forced { "Forced" } else { "Guided" },
        if w.rehearsal { " (rehearsal)" } else { "" },
        w.cluster,
        w.target
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .title_style(Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let inner_w = inner.width.max(1) as usize;
    // Wrapped here, between words, and drawn as wrapped: the rows counted
    // are the rows drawn (the newest line is never cut off).
    let wrap = |l: &str| {
        // An indented line's rows keep its indent.
        let body = l.trim_start_matches(' ');
        let indent = &l[..l.len() - body.len()];
        let width = inner_w.saturating_sub(indent.len()).max(8);
        crate::faces::tui::view::text::wrap_words(body, width)
            .into_iter()
            .map(|row| format!("{indent}{row}"))
            .collect::<Vec<_>>()
    };
    let rows_of = |l: &str| wrap(l).len().max(1);
    // The prompt stays in view (at most half the height), below the plan.
    let pinned = w.pinned();
    let pinned_rows: usize = pinned.iter().map(|l| rows_of(l)).sum();
    let pinned_h = pinned_rows.min(inner.height as usize / 2) as u16;
    let plan_area = Rect {
        height: inner.height - pinned_h,
        ..inner
    };
    let prompt_area = Rect {
        y: inner.y + plan_area.height,
        height: pinned_h,
        ..inner
    };
    let avail = plan_area.height as usize;
    w.page.set(avail.max(1));
    // A small terminal (80×24) short of room for the whole plan: the
    // summary, the plan a key away. Larger ones scroll the plan itself.
    let fits = |body: &[String]| body.iter().map(|l| rows_of(l)).sum::<usize>() <= avail;
    let compact = !w.full
        && !w.summary.is_empty()
        && inner.height < SUMMARY_BELOW_ROWS
        && !fits(&w.scrolled_as(false));
    w.compact.set(compact);
    let body = w.scrolled();
    // Follow the newest lines: count wrapped rows from the end.
    let newest = |rows_free: usize| {
        let mut rows = 0;
        let mut keep = 0;
        for l in body.iter().rev() {
            let r = rows_of(l);
            if rows + r > rows_free {
                break;
            }
            rows += r;
            keep += 1;
        }
        body.len() - keep
    };
    let mut first = match w.scroll {
        Some(top) => top.min(body.len().saturating_sub(1)),
        None => newest(avail),
    };
    // "↑ more (Home)" has a row of its own: it never covers plan text.
    let more_above = first > 0 && plan_area.height > 1;
    let text_area = if more_above {
        if w.scroll.is_none() {
            first = newest(avail - 1);
        }
        Rect {
            y: plan_area.y + 1,
            height: plan_area.height - 1,
            ..plan_area
        }
    } else {
        plan_area
    };
    let lines: Vec<Line> = body
        .iter()
        .skip(first)
        .flat_map(|l| wrap(l))
        .map(Line::from)
        .collect();
    frame.render_widget(Paragraph::new(lines), text_area);
    if more_above {
        let mark = Rect {
            height: 1,
            ..plan_area
        };
        frame.render_widget(Paragraph::new("↑ more (Home)").right_aligned(), mark);
    }
    // Short of room, the prompt's last rows (what is typed) stay in view.
    let cut = u16::try_from(pinned_rows.saturating_sub(pinned_h as usize)).unwrap_or(0);
    let prompt: Vec<Line> = pinned
        .iter()
        .flat_map(|l| wrap(l))
        .map(Line::from)
        .collect();
    frame.render_widget(Paragraph::new(prompt).scroll((cut, 0)), prompt_area);
}

/// The wizard's task: the failover session, talking to the wizard over
/// the channel. Every path ends with `Msg::Done`.
async fn run(
    on: On,
    cluster: String,
    target: String,
    forced: bool,
    tx: mpsc::UnboundedSender<Msg>,
    abandon: Arc<AtomicBool>,
) {
    let (started, audit_path) = match on {
        On::Config(config, live) => {
            let _ = tx.send(Msg::Progress(Progress::Note(format!(
                "To practise this move first on a simulated twin (changes nothing): \
                 vipdeck rehearse --cluster {cluster} --to {target}{}",
                if forced { " --force" } else { "" }
            ))));
            let settings = Settings::from_config(&config.failover);
            (
                Executor::attach(
                    &config,
                    live.snapshot,
                    live.updates,
                    settings,
                    live.thresholds,
                    Some(live.echo),
                )
                .await,
                audit::default_path(),
            )
        }
        On::Sim(sim) => {
            let path = crate::failover::sim::demo_audit_path();
            let _ = tx.send(Msg::Progress(Progress::Note(format!(
                "Rehearsal on the demo's simulator: the real checks, steps and outcome; \
                 recorded in {}",
                path.as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "nowhere (no data dir)".into())
            ))));
            let settings = Settings::from_config(&Default::default());
            (Executor::start_sim(sim, &cluster, settings).await, path)
        }
    };
    let mut ex = match started {
        Ok(ex) => ex,
        Err(e) => {
            let _ = tx.send(Msg::Done {
                text: format!("cannot start: {e:#}"),
                ok: false,
            });
            return;
        }
    };
    converse(
        &mut ex,
        request(cluster, target, forced),
        audit_path,
        tx,
        abandon,
    )
    .await;
}

/// The failover session over the wizard's channel; ends with `Msg::Done`.
async fn converse<C: Cluster>(
    cluster: &mut C,
    request: Request,
    audit_path: Option<PathBuf>,
    tx: mpsc::UnboundedSender<Msg>,
    abandon: Arc<AtomicBool>,
) {
    let opts = session::Options {
        request,
        dry_run: false,
        yes: false,
        audit_path,
    };
    let mut prompt = ChannelPrompt {
        tx: tx.clone(),
        abandon,
    };
    let end = session::run(cluster, &mut prompt, opts).await;
    let _ = tx.send(Msg::Done {
        text: end.text(),
        ok: end.ok(),
    });
}

/// What `m` (graceful) or `F` (forced) asks for.
fn request(cluster: String, target: String, forced: bool) -> Request {
    Request {
        cluster,
        target,
        method: if forced {
            Method::Forced
        } else {
            Method::Graceful
        },
        overrides: vec![],
        old_master_dead: false,
        restart_old_master: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::session::fake::{self, FakeCluster};

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn wizard() -> (Wizard, oneshot::Receiver<Option<String>>) {
        let (reply, rx) = oneshot::channel();
        let mut w = Wizard::new("web".into(), "n2".into(), false);
        w.apply(Msg::Plan {
            text: "Failover plan: …".into(),
        });
        w.apply(Msg::Confirm {
            target: "n2".into(),
            reply,
        });
        (w, rx)
    }

    /// The wizard's key tables: every key in the help dispatches to its
    /// row's action, and nothing else does.
    #[test]
    fn the_wizard_key_tables_dispatch_what_they_say() {
        crate::faces::tui::keys::check_table("wizard", WIZARD_KEYS, |k| wizard_action(k, false));
        let both: Vec<Binding<WizardAction>> = WIZARD_KEYS
            .iter()
            .chain(WIZARD_LETTER_KEYS)
            .copied()
            .collect();
        crate::faces::tui::keys::check_table("wizard letters", &both, |k| wizard_action(k, true));
        // Drawn: the pinned hint line names the table's hints.
        let (w, _rx) = wizard();
        let hint = &w.pinned()[0];
        for h in hints(WIZARD_KEYS) {
            assert!(hint.contains(h.keys) && hint.contains(h.word), "{hint}");
        }
    }

    /// Short of room, the summary; Tab shows the whole plan from its first
    /// line, Tab again the summary; the prompt stays in view throughout.
    #[test]
    fn short_of_room_the_summary_then_tab_for_the_full_plan() {
        let (mut w, _rx) = wizard();
        let mut plan = vec![
            "Failover plan: cluster web".to_string(),
            "  [warn] recent_transition first".into(),
        ];
        plan.extend((0..40).map(|i| format!("  {i}. step")));
        w.plan = plan.join("\n");
        w.apply(Msg::Summary {
            lines: vec![
                "Failover summary: cluster web".into(),
                "  Steps:        40 (Tab: the full plan)".into(),
            ],
        });
        let screen = |w: &Wizard| {
            let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24))
                .expect("terminal");
            term.draw(|f| draw(f, w)).expect("draw");
            format!("{}", term.backend())
        };
        let s = screen(&w);
        assert!(s.contains("Failover summary: cluster web"), "{s}");
        assert!(!s.contains("39. step"), "{s}");
        assert!(s.contains("Type the target peer's name (n2)"), "{s}");
        assert!(w.key(key(KeyCode::Tab)));
        let s = screen(&w);
        assert!(s.contains("Failover plan: cluster web"), "{s}");
        assert!(s.contains("recent_transition first"), "{s}");
        assert!(s.contains("Type the target peer's name (n2)"), "{s}");
        w.key(key(KeyCode::End));
        assert!(screen(&w).contains("39. step"));
        w.key(key(KeyCode::Tab));
        assert!(screen(&w).contains("Failover summary"));
        assert!(w.typed.is_empty(), "Tab typed nothing");
        // Room enough: the whole plan, no summary.
        let mut term =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 80)).expect("terminal");
        term.draw(|f| draw(f, &w)).expect("draw");
        let s = format!("{}", term.backend());
        assert!(s.contains("Failover plan: cluster web") && s.contains("39. step"));
        assert!(!s.contains("Failover summary"));
    }

    #[test]
    fn typing_the_target_name_confirms() {
        let (mut w, mut rx) = wizard();
        for c in "n2".chars() {
            assert!(w.key(key(KeyCode::Char(c))));
        }
        assert!(w.body().iter().any(|l| l.contains("Esc to cancel: n2")));
        assert!(w.key(key(KeyCode::Enter)));
        assert_eq!(rx.try_recv(), Ok(Some("n2".into())));
    }

    /// A mistyped name once sent the operator back to the dashboard,
    /// plan and lock gone; now it is asked again, the plan kept, and only
    /// Esc declines.
    #[test]
    fn a_mistyped_name_is_asked_again_and_esc_declines() {
        let (mut w, mut rx) = wizard();
        for c in "n1".chars() {
            w.key(key(KeyCode::Char(c)));
        }
        assert!(w.key(key(KeyCode::Enter)), "the wizard stays open");
        assert!(rx.try_recv().is_err(), "nothing sent to the session yet");
        assert_eq!(w.stage, Stage::Confirm);
        assert!(w.typed.is_empty());
        assert!(w
            .lines
            .iter()
            .any(|l| l == "typed `n1`, not `n2`: type it again (Esc cancels)"));
        assert!(w.body().iter().any(|l| l.starts_with("Failover plan:")));
        assert!(w
            .body()
            .iter()
            .any(|l| l.starts_with("Type the target peer's name (n2)")));
        for c in "n2".chars() {
            w.key(key(KeyCode::Char(c)));
        }
        w.key(key(KeyCode::Enter));
        assert_eq!(rx.try_recv(), Ok(Some("n2".into())));
        let (mut w, mut rx) = wizard();
        w.key(key(KeyCode::Char('n')));
        w.key(key(KeyCode::Esc));
        assert_eq!(rx.try_recv(), Ok(None));
    }

    fn screen_of(w: &Wizard, width: u16, height: u16) -> String {
        let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height))
            .expect("terminal");
        term.draw(|f| draw(f, w)).expect("draw");
        format!("{}", term.backend())
    }

    /// A long wait once read `… (0.0s)` for 20 s with no word of the
    /// timeout or of Esc. The step now counts up and down against its own
    /// timeout, moved by the dashboard's tick, with the abandon key beside.
    #[test]
    fn a_waiting_step_counts_against_its_timeout_and_names_the_abandon_key() {
        let (mut w, _rx) = wizard();
        w.apply(Msg::Running {
            interrupt: Arc::new(AtomicBool::new(false)),
        });
        w.apply(Msg::Progress(Progress::StepStarted {
            index: 3,
            total: 8,
            description: "wait until n2 is MASTER".into(),
            timeout: Duration::from_secs(20),
        }));
        w.apply(Msg::Progress(Progress::Status {
            status: "n2 is BACKUP".into(),
            elapsed: Duration::ZERO,
        }));
        let since = w.waiting.as_ref().map(|x| x.since).expect("waiting");
        let at = |s| since + chrono::Duration::seconds(s);
        w.tick(at(12));
        let s = screen_of(&w, 80, 24);
        assert!(
            s.contains("[3/8] waiting 12s, 8s left of its 20s timeout · Esc abandons"),
            "{s}"
        );
        assert!(s.contains("… n2 is BACKUP (at 0.0s)"), "{s}");
        w.tick(at(13));
        let s = screen_of(&w, 80, 24);
        assert!(
            s.contains("[3/8] waiting 13s, 7s left of its 20s timeout"),
            "{s}"
        );
        w.tick(at(25));
        assert!(screen_of(&w, 80, 24).contains("waiting 25s, its timeout is reached"));
        // Finished: no countdown; Esc still abandons between steps.
        w.apply(Msg::Progress(Progress::StepFinished {
            ok: true,
            detail: "n2 MASTER".into(),
            elapsed: Duration::from_secs(13),
        }));
        let s = screen_of(&w, 80, 24);
        assert!(!s.contains("waiting"), "{s}");
        assert!(
            s.contains("Esc abandons (asks first; safety is restored)"),
            "{s}"
        );
        // Asked whether to abandon, the step still counts (it still waits).
        w.apply(Msg::Progress(Progress::StepStarted {
            index: 4,
            total: 8,
            description: "wait until the cloud binds the VIP to n2".into(),
            timeout: Duration::from_secs(60),
        }));
        let since = w.waiting.as_ref().map(|x| x.since).expect("waiting");
        w.tick(since + chrono::Duration::seconds(2));
        w.key(key(KeyCode::Esc));
        let s = screen_of(&w, 80, 24);
        assert!(s.contains("Abandon the failover"), "{s}");
        assert!(!s.contains("Esc abandons"), "{s}");
        assert!(
            s.contains("[4/8] waiting 2s, 58s left of its 1m00s timeout"),
            "{s}"
        );
    }

    /// "↑ more (Home)" once covered the end of a plan line at 80×24; it
    /// has a row of its own.
    #[test]
    fn the_more_mark_covers_no_plan_text() {
        let (mut w, _rx) = wizard();
        // Lines exactly as wide as the wizard's inside at 80 columns.
        w.plan = (0..40)
            .map(|i| format!("{i:02} {}end", "x".repeat(64)))
            .collect::<Vec<_>>()
            .join("\n");
        for scroll in [None, Some(5)] {
            w.scroll = scroll;
            let s = screen_of(&w, 80, 24);
            let rows: Vec<&str> = s.lines().collect();
            let mark = rows
                .iter()
                .find(|r| r.contains("↑ more (Home)"))
                .unwrap_or_else(|| panic!("{s}"));
            let inside = mark
                .trim_matches(|c| c == '"' || c == ' ')
                .trim_matches('│');
            assert_eq!(inside.trim(), "↑ more (Home)", "{s}");
            let shown: Vec<&&str> = rows.iter().filter(|r| r.contains(" xxx")).collect();
            assert!(shown.len() > 5, "{s}");
            assert!(shown.iter().all(|r| r.contains("xxend")), "{s}");
        }
        let s = screen_of(&w, 80, 24);
        assert!(
            s.contains("05 xxx"),
            "scrolled to line 5 shows it first: {s}"
        );
        w.scroll = None;
        assert!(
            screen_of(&w, 80, 24).contains("39 xxx"),
            "following: the last line"
        );
    }

    #[test]
    fn esc_while_running_asks_then_interrupts() {
        let (mut w, _rx) = wizard();
        let interrupt = Arc::new(AtomicBool::new(false));
        w.apply(Msg::Running {
            interrupt: interrupt.clone(),
        });
        w.apply(Msg::Progress(Progress::StepStarted {
            index: 2,
            total: 8,
            description: "stop keepalived on n1".into(),
            timeout: Duration::from_secs(20),
        }));
        assert!(w.key(key(KeyCode::Esc)));
        assert!(w.asking_abandon);
        assert!(w.body().iter().any(|l| l.contains("Abandon the failover")));
        w.key(key(KeyCode::Char('n')));
        assert!(!interrupt.load(Ordering::SeqCst));
        w.key(key(KeyCode::Esc));
        w.key(key(KeyCode::Char('y')));
        assert!(interrupt.load(Ordering::SeqCst));
        assert!(w.abandon.load(Ordering::SeqCst));
        w.apply(Msg::Done {
            text: "Outcome: unknown.".into(),
            ok: false,
        });
        assert_eq!(w.stage, Stage::Done);
        assert!(w.lines.iter().any(|l| l == "[2/8] stop keepalived on n1"));
        assert!(
            !w.key(key(KeyCode::Enter)),
            "Enter closes a finished wizard"
        );
    }

    #[test]
    fn the_prompt_stays_in_view_under_a_long_wrapped_plan() {
        let (mut w, _rx) = wizard();
        w.plan = (0..40)
            .map(|i| format!("  {i}. a step whose description is long enough to wrap on a narrow terminal, twice over at 80 columns"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut term =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).expect("terminal");
        term.draw(|f| draw(f, &w)).expect("draw");
        let screen = format!("{}", term.backend());
        assert!(
            screen.contains("Type the target peer's name (n2)"),
            "{screen}"
        );
    }

    /// At 80×24 the plan scrolls to its first line and back while the
    /// prompt stays in view.
    #[test]
    fn the_plan_scrolls_to_its_first_check_and_back_with_the_prompt_in_view() {
        let (mut w, _rx) = wizard();
        let mut plan = vec![
            "Failover plan: cluster web".to_string(),
            "  [FAIL] anti_flap first".into(),
        ];
        plan.extend((0..40).map(|i| format!("  {i}. step")));
        w.plan = plan.join("\n");
        let screen = |w: &Wizard| {
            let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24))
                .expect("terminal");
            term.draw(|f| draw(f, w)).expect("draw");
            format!("{}", term.backend())
        };
        let end = screen(&w);
        assert!(
            end.contains("39. step") && !end.contains("anti_flap first"),
            "{end}"
        );
        assert!(end.contains("Type the target peer's name (n2)"), "{end}");
        // Typing keys are not scroll keys while confirming; Home is.
        assert!(w.key(key(KeyCode::Home)));
        let top = screen(&w);
        assert!(
            top.contains("Failover plan: cluster web") && top.contains("anti_flap first"),
            "{top}"
        );
        assert!(top.contains("Type the target peer's name (n2)"), "{top}");
        assert!(!top.contains("39. step"), "{top}");
        w.key(key(KeyCode::PageDown));
        assert!(!screen(&w).contains("Failover plan: cluster web"));
        w.key(key(KeyCode::End));
        assert_eq!(w.scroll, None);
        assert!(screen(&w).contains("39. step"));
        assert!(w.typed.is_empty(), "scroll keys typed nothing");
        // Outside the confirmation, j/k scroll too.
        w.stage = Stage::Done;
        w.key(key(KeyCode::Home));
        w.key(key(KeyCode::Char('j')));
        assert_eq!(w.scroll, Some(1));
        w.key(key(KeyCode::Char('k')));
        assert_eq!(w.scroll, Some(0));
        // The mouse wheel, three lines a notch.
        w.wheel(3);
        assert_eq!(w.scroll, Some(3));
        w.wheel(-3);
        assert_eq!(w.scroll, Some(0));
    }

    /// Runs a session with `cluster` over the wizard's channel, answering
    /// as an operator would: `answer` to a question, the target's name to
    /// the confirmation. Returns the wizard at the end, the question's
    /// screen if one was asked, and the cluster.
    async fn drive(
        cluster: FakeCluster,
        audit_path: Option<std::path::PathBuf>,
        answer: char,
    ) -> (Wizard, Option<Vec<String>>, FakeCluster) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut w = Wizard::new("web".into(), "n2".into(), false);
        let abandon = w.abandon.clone();
        let task = tokio::spawn(async move {
            let mut c = cluster;
            converse(&mut c, fake::request(), audit_path, tx, abandon).await;
            c
        });
        let mut asked = None;
        while let Some(m) = rx.recv().await {
            w.apply(m);
            if w.stage == Stage::Ask && w.answer.is_some() {
                asked = Some(w.body());
                w.key(key(KeyCode::Char(answer)));
            }
            if w.stage == Stage::Overrides && w.overrides.is_some() {
                asked = Some(w.body());
                if answer == 'o' {
                    w.key(key(KeyCode::Char(' ')));
                    w.key(key(KeyCode::Enter));
                } else {
                    w.key(key(KeyCode::Esc));
                }
            }
            if w.stage == Stage::DeclareDead && w.declare.is_some() {
                asked = Some(w.body());
                if answer == 'd' {
                    // A slip first: asked again.
                    for typed in ["n1", "n1 is dead"] {
                        for c in typed.chars() {
                            w.key(key(KeyCode::Char(c)));
                        }
                        w.key(key(KeyCode::Enter));
                    }
                } else {
                    w.key(key(KeyCode::Esc));
                }
            }
            if w.stage == Stage::Confirm && w.confirm.is_some() {
                for c in "n2".chars() {
                    w.key(key(KeyCode::Char(c)));
                }
                w.key(key(KeyCode::Enter));
            }
        }
        let c = task.await.expect("session task");
        (w, asked, c)
    }

    /// The TUI once skipped this question and always left a preempting old
    /// master stopped; now the session asks it in the wizard too.
    #[tokio::test]
    async fn the_wizard_asks_the_preempt_question() {
        let trap = || FakeCluster {
            preempt: true,
            ..Default::default()
        };
        let (w, asked, c) = drive(trap(), None, 'n').await;
        let asked = asked.expect("the wizard asked the preempt question");
        assert!(
            asked.iter().any(|l| {
                l
                == "Start keepalived on n1 again afterwards anyway (it will take the VIP back)? y/n"
            }),
            "{asked:?}"
        );
        assert!(asked.iter().any(|l| l.starts_with("Failover plan:")));
        assert_eq!(c.requests.len(), 2, "re-planned with the answer");
        assert_eq!(c.requests[1].restart_old_master, Some(false));
        let conf = &c.executed[0];
        assert_eq!(
            conf[0].what,
            "restart the old master despite preempt in the TUI"
        );
        assert_eq!(conf[0].answer, "no");
        assert_eq!(conf[1].what, "type the target's name (n2) in the TUI");
        assert_eq!(conf[1].answer, "n2");
        assert_eq!(w.stage, Stage::Done);
        assert!(w.ok);
        assert!(w
            .lines
            .iter()
            .any(|l| l.ends_with("(it will take the VIP back)? no")));
        assert!(w.lines.iter().any(|l| l == "Outcome: moved and verified."));

        let (_, _, c) = drive(trap(), None, 'y').await;
        assert_eq!(c.requests[1].restart_old_master, Some(true));
        assert_eq!(c.executed[0][0].answer, "yes");
    }

    /// The TUI once dropped a refusal it could not record without a word.
    #[tokio::test]
    async fn the_wizard_shows_a_refusal_that_cannot_be_recorded() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("file");
        std::fs::write(&file, "").expect("file");
        let blocked = FakeCluster {
            failing: Some("anti_flap"),
            ..Default::default()
        };
        let (w, asked, c) = drive(blocked, Some(file.join("audit.jsonl")), 'n').await;
        let asked = asked.expect("the wizard offered the override");
        assert!(
            asked
                .iter()
                .any(|l| l == "> [ ] anti_flap: anti_flap reason"),
            "{asked:?}"
        );
        assert!(c.executed.is_empty());
        assert_eq!(w.stage, Stage::Done);
        assert!(!w.ok);
        assert!(
            w.lines
                .iter()
                .any(|l| l.starts_with("warning: cannot write the audit trail")
                    && l.ends_with("(this refusal is not recorded)")),
            "{:?}",
            w.lines
        );
        // The refusal names the wizard's key, not a command-line flag.
        assert!(
            w.lines.iter().any(|l| l.starts_with(
                "refused: blocked by preflight checks (anti_flap: anti_flap reason — Space on \
                 anti_flap in the wizard's overrides"
            )),
            "{:?}",
            w.lines
        );
        assert!(!w.lines.iter().any(|l| l.contains("--override")));
    }

    /// Overriding a check is a toggle in the wizard: the session re-plans
    /// with it overridden, records who overrode what, and moves graceful.
    #[tokio::test]
    async fn the_wizard_overrides_a_check_with_a_toggle() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("audit.jsonl");
        let blocked = FakeCluster {
            failing: Some("anti_flap"),
            ..Default::default()
        };
        let (w, asked, c) = drive(blocked, Some(path.clone()), 'o').await;
        assert!(asked.is_some());
        assert_eq!(c.requests.len(), 2, "re-planned with the override");
        assert_eq!(c.requests[1].overrides, ["anti_flap"]);
        assert_eq!(c.requests[1].method, Method::Graceful);
        let conf = &c.executed[0];
        assert_eq!(conf[0].what, "override anti_flap in the TUI");
        assert_eq!(conf[0].answer, "yes");
        assert!(w.ok, "{:?}", w.lines);
        assert!(w.lines.iter().any(|l| l == "overridden: anti_flap"));
    }

    /// The wizard once refused an unreachable master and sent the
    /// operator to the command line (`--old-master-dead`). It asks instead:
    /// what declaring it dead means, typed as `n1 is dead` (a slip is asked
    /// again), then the usual confirmation; the record says who declared.
    #[tokio::test]
    async fn the_wizard_declares_an_unreachable_master_dead() {
        let unreachable = || FakeCluster {
            master_unreachable: true,
            ..Default::default()
        };
        let (w, asked, c) = drive(unreachable(), None, 'd').await;
        let asked = asked.expect("the wizard asked");
        let asked = asked.join("\n");
        assert!(asked.contains("Declare n1 dead?"), "{asked}");
        assert!(
            asked.contains("vipdeck will not stop keepalived on n1")
                && asked.contains("the cloud binding moves to n2 regardless"),
            "{asked}"
        );
        assert!(
            asked.contains("Type `n1 is dead` and Enter to declare it dead, Esc to refuse"),
            "{asked}"
        );
        assert!(!asked.contains("--old-master-dead"), "{asked}");
        assert!(w
            .lines
            .iter()
            .any(|l| l == "typed `n1`, not `n1 is dead`: type it again (Esc refuses)"));
        assert_eq!(c.requests.len(), 2, "re-planned declared dead");
        assert!(c.requests[1].old_master_dead);
        let conf = &c.executed[0];
        assert_eq!(conf[0].what, "declare n1 dead in the TUI");
        assert_eq!(conf[0].answer, "n1 is dead");
        assert_eq!(conf[1].what, "type the target's name (n2) in the TUI");
        assert!(w.ok, "{:?}", w.lines);

        // Esc refuses, naming the wizard's way, not a flag.
        let (w, _, c) = drive(unreachable(), None, 'n').await;
        assert!(c.executed.is_empty());
        assert!(!w.ok);
        assert!(
            w.lines
                .iter()
                .any(|l| l.starts_with("refused:")
                    && l.contains("declare it dead when the wizard asks")),
            "{:?}",
            w.lines
        );
        assert!(!w.lines.iter().any(|l| l.contains("--old-master-dead")));
    }
}
