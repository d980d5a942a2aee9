//! The console's state and how it changes: updates from the sources, the
//! clock tick, and the operator's keys and clicks. One [`Screen`] is shown
//! at a time; [`App::update`] lets that screen decide what an event means,
//! using its key table ([`KEYS`], [`crate::faces::tui::logview::LOG_KEYS`],
//! [`HELP_KEYS`]), and hands back at most one [`Effect`] for the event loop
//! to carry out. No terminal and no I/O here, so it can be driven headless
//! in tests.
//!
//! The files: this one holds the state ([`App`]) and what changes it from
//! outside (updates, the tick, a reload); `actions` the key tables of
//! each screen and what a key means there; `handle` how each screen
//! handles its actions, keys and clicks.

mod ack;
mod actions;
mod handle;

pub use actions::{
    key_action, Action, Fault, HelpAction, PromptAction, DEMO_KEYS, FAILOVER_KEYS, HELP_KEYS, KEYS,
    PROMPT_KEYS,
};
pub(crate) use actions::{KeyContext, Prompt, PromptKind, Section, SortOrder};

use chrono::{DateTime, Utc};
use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::layout::Rect;

use crate::core::incident::VerdictChange;
use crate::core::logs::LogStore;
use crate::core::model::{CollectorLost, Snapshot, Update};
use crate::core::verdict::{assess, Assessment, Thresholds};
use crate::faces::tui::failover::{Msg as WizardMsg, Wizard};
use crate::faces::tui::layout::{banner_bound, list_rows, Content, ListRow};
use crate::faces::tui::logview::{LogAction, LogView};
use crate::faces::tui::theme::Theme;
use crate::sources::simulator::SimCommand;

/// What is on screen; each screen owns its state.
pub(crate) enum Screen {
    Dashboard,
    Logs(Box<LogView>),
    Wizard(Box<Wizard>),
    History(Box<crate::faces::tui::history::History>),
    /// Every alert of a cluster, over the dashboard (`a`).
    Alerts(crate::faces::tui::alerts::AlertList),
    /// Why the selected peer is in its state, over the dashboard (`e`).
    Explain(crate::faces::tui::explain::ExplainBox),
    /// The lint findings of a cluster, over the dashboard (`f`).
    Findings(crate::faces::tui::alerts::AlertList),
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
            Screen::Dashboard
            | Screen::Wizard(_)
            | Screen::History(_)
            | Screen::Alerts(_)
            | Screen::Explain(_)
            | Screen::Findings(_) => None,
        }
    }

    fn log_view_mut(&mut self) -> Option<&mut LogView> {
        match self {
            Screen::Logs(v) => Some(v),
            Screen::Help(under) => under.log_view_mut(),
            Screen::Dashboard
            | Screen::Wizard(_)
            | Screen::History(_)
            | Screen::Alerts(_)
            | Screen::Explain(_)
            | Screen::Findings(_) => None,
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
    /// The audit trail acknowledgements go to, instead of the data dir's
    /// (tests).
    pub audit_override: Option<std::path::PathBuf>,
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
    /// The demo's toggled faults in force, by cluster index: the fault
    /// keys are their only switch, so the app keeps count of them.
    pub(crate) demo_faults: std::collections::BTreeMap<usize, DemoFaults>,
    /// Attached to a collector that is not heard from now: its facts are
    /// judged as of when it was last heard, under a banner saying so.
    pub collector_lost: Option<CollectorLost>,
    /// Per cluster, each verdict shown and when it changed, oldest first
    /// (bounded): the incident record's verdict timeline.
    verdicts_shown: Vec<Vec<VerdictChange>>,
    /// The last lint's findings, by cluster name (the event loop lints the
    /// config's clusters in the background; none in the demo).
    pub(crate) lint: std::collections::BTreeMap<String, Vec<crate::core::lint::Finding>>,
    /// What the findings screen says before a cluster's first lint.
    pub(crate) lint_pending: String,
}

/// The toggles of the demo's faults on one cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DemoFaults {
    /// SSH black hole, per peer.
    pub(crate) unreachable: [bool; 2],
    pub(crate) link_cut: bool,
    pub(crate) move_broken: bool,
    pub(crate) cloud_lag: bool,
    pub(crate) cloud_failing: bool,
}

impl DemoFaults {
    /// The faults in force, in words (peer names from `peers`).
    pub(crate) fn names(&self, peers: [&str; 2]) -> Vec<String> {
        let mut out: Vec<String> = (0..2)
            .filter(|&i| self.unreachable[i])
            .map(|i| format!("SSH black hole on {}", peers[i]))
            .collect();
        for (on, what) in [
            (self.link_cut, "VRRP link cut"),
            (self.move_broken, "notify script fails"),
            (self.cloud_lag, "cloud lag"),
            (self.cloud_failing, "cloud API errors"),
        ] {
            if on {
                out.push(what.to_string());
            }
        }
        out
    }
}

/// How many verdict changes the dashboard keeps per cluster.
const VERDICTS_KEPT: usize = 256;

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
            audit_override: None,
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
            demo_faults: Default::default(),
            collector_lost: None,
            verdicts_shown: Vec::new(),
            lint: Default::default(),
            lint_pending: "not linted: the demo has no peer files (run `vipdeck lint` on a \
                           config)"
                .into(),
        };
        app.refresh();
        app
    }

    /// A lint of the config's clusters ended: its findings replace the
    /// last ones of each cluster it covered.
    pub(crate) fn lint_done(&mut self, findings: Vec<crate::core::lint::Finding>) {
        let covered: Vec<String> = self
            .snapshot
            .clusters
            .iter()
            .map(|c| c.spec.name.clone())
            .collect();
        for name in covered {
            self.lint.insert(name, Vec::new());
        }
        for f in findings {
            self.lint.entry(f.cluster.clone()).or_default().push(f);
        }
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

    /// Re-judges every cluster at `self.now` (or, while the collector is
    /// lost, when it was last heard: its silence says nothing about the
    /// peers) and re-sorts, keeping the selected cluster selected.
    pub fn refresh(&mut self) {
        let current = self.order.get(self.selected).copied();
        let at = CollectorLost::judged_at(self.collector_lost.as_ref(), self.now);
        self.assessments = self
            .snapshot
            .clusters
            .iter()
            .map(|c| assess(c, at, &self.thresholds))
            .collect();
        self.note_verdicts(at);
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

    /// Keeps each cluster's verdict when it is not the one last shown.
    fn note_verdicts(&mut self, at: DateTime<Utc>) {
        self.verdicts_shown
            .resize_with(self.assessments.len(), Default::default);
        for (shown, a) in self.verdicts_shown.iter_mut().zip(&self.assessments) {
            if shown.last().is_some_and(|v| v.verdict == a.verdict) {
                continue;
            }
            if shown.len() == VERDICTS_KEPT {
                shown.remove(0);
            }
            shown.push(VerdictChange {
                at,
                verdict: a.verdict,
                why: a.alerts.first().map(|al| al.message.clone()),
            });
        }
    }

    /// The verdicts cluster `ci` was shown with, oldest first.
    pub(crate) fn verdicts_shown(&self, ci: usize) -> &[VerdictChange] {
        self.verdicts_shown.get(ci).map_or(&[], Vec::as_slice)
    }

    /// Does cluster `ci` match the `/` filter: its name, VIP, mode,
    /// verdict or a peer's name contains the text (case-insensitive)?
    fn matches_filter(&self, ci: usize) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        let needle = self.filter.to_lowercase();
        let c = &self.snapshot.clusters[ci];
        let verdict = self.assessments[ci].verdict.as_str();
        [
            c.spec.name.as_str(),
            c.spec.vip.as_str(),
            &c.spec.mode.to_string(),
            verdict,
            &verdict.replace('_', " "),
            &c.spec.peers[0].name,
            &c.spec.peers[1].name,
        ]
        .iter()
        .any(|h| h.to_lowercase().contains(&needle))
    }

    /// What the `:` prompt offers for `text`: the clusters whose name or
    /// VIP starts with it (names first), or, when none does, the names
    /// nearest to it (a typo).
    pub(crate) fn jump_candidates(&self, text: &str) -> Candidates {
        let clusters = &self.snapshot.clusters;
        let want = text.trim().to_lowercase();
        let by_name =
            |a: &usize, b: &usize| natural_cmp(&clusters[*a].spec.name, &clusters[*b].spec.name);
        let mut named: Vec<usize> = (0..clusters.len())
            .filter(|&i| clusters[i].spec.name.to_lowercase().starts_with(&want))
            .collect();
        named.sort_by(by_name);
        let mut by_vip: Vec<usize> = (0..clusters.len())
            .filter(|i| !named.contains(i) && !want.is_empty())
            .filter(|&i| clusters[i].spec.vip.starts_with(&want))
            .collect();
        by_vip.sort_by(|a, b| natural_cmp(&clusters[*a].spec.vip, &clusters[*b].spec.vip));
        named.extend(by_vip);
        if !named.is_empty() || want.is_empty() {
            return Candidates {
                clusters: named,
                nearest: false,
            };
        }
        Candidates {
            clusters: nearest_names(clusters.iter().map(|c| c.spec.name.as_str()), &want),
            nearest: true,
        }
    }

    /// How many clusters there are, and how many the filter lets through.
    pub(crate) fn filtered_counts(&self) -> (usize, usize) {
        (self.order.len(), self.snapshot.clusters.len())
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
        let audit = self.audit_path();
        crate::failover::audit::seed_acknowledgements(&mut self.snapshot, audit.as_deref());
        self.verdicts_shown.clear();
        self.logs = crate::core::logs::LogStore::new(self.logs.cap());
        if !self.in_wizard() {
            self.screen = Screen::Dashboard;
        }
        self.order.clear();
        self.selected = 0;
        self.selected_peer = 0;
        self.demo_faults.clear();
        self.source_label = label;
        self.refresh();
    }

    pub(crate) fn tick(&mut self, now: DateTime<Utc>) {
        self.now = now;
        // A failover step's countdown moves on with the clock.
        if let Screen::Wizard(w) = &mut self.screen {
            w.tick(now);
        }
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

    pub fn selected_cluster(&self) -> Option<usize> {
        self.order.get(self.selected).copied()
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
            alerts: a.alerts.iter().map(|x| x.message.clone()).collect(),
            banner: banner_bound(
                &c.spec.name,
                a.master.map(|m| c.spec.peers[m].name.as_str()),
                &c.spec.vip,
            ),
            vip_line: c.dataplane.is_some(),
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

/// The clusters the `:` prompt offers (indices into the snapshot).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Candidates {
    pub(crate) clusters: Vec<usize>,
    /// Nothing starts with the text: these are the nearest names.
    pub(crate) nearest: bool,
}

/// The names within a typo or two of `want` (lowercase), nearest first, at
/// most five: an edit distance of at most a third of the longer word, and
/// at least one edit allowed.
fn nearest_names<'a>(names: impl Iterator<Item = &'a str>, want: &str) -> Vec<usize> {
    let mut scored: Vec<(usize, usize, &str)> = names
        .enumerate()
        .filter_map(|(i, n)| {
            let lower = n.to_lowercase();
            // A typo in the start of a longer name (`wbe-1` for `web-17`)
            // is as near as the same typo in the whole name.
            let head: String = lower.chars().take(want.chars().count()).collect();
            let d = edit_distance(&lower, want).min(edit_distance(&head, want) + 1);
            let allowed = (want.chars().count().max(lower.chars().count()) / 3).max(1);
            (d <= allowed).then_some((d, i, n))
        })
        .collect();
    scored.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| natural_cmp(a.2, b.2)));
    scored.into_iter().take(5).map(|(_, i, _)| i).collect()
}

/// Edits (insert, delete, replace, swap two neighbours) from `a` to `b`,
/// by characters: `wbe` is one edit from `web`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
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
    use crossterm::event::{KeyCode, KeyModifiers};

    use super::*;
    use crate::faces::tui::keys::{check_table, lookup, Binding};
    use crate::faces::tui::layout::layout;

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
                        ctx.failover_refusal().is_some() && lookup(FAILOVER_KEYS, &ev).is_some()
                            || ctx.fault_refusal().is_some() && lookup(DEMO_KEYS, &ev).is_some(),
                        "{ctx:?}: {ev:?} refused but not a failover or demo fault key"
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

    fn fleet() -> App {
        let theme = Theme::try_from(&crate::faces::theme::default_theme()).expect("theme");
        let specs = ["web-1", "web-10", "web-11", "web-17", "pay", "db-1"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let vip = format!("10.0.{i}.100");
                let peers = [format!("{name}-a"), format!("{name}-b")];
                crate::sources::simulator::spec_of(
                    &crate::sources::simulator::world::SimCluster::new(
                        crate::sources::simulator::world::ClusterParams {
                            name,
                            mode: crate::core::model::Mode::Eni,
                            vip: &vip,
                            peer_names: [&peers[0], &peers[1]],
                            addresses: [[10, 0, i as u8, 5], [10, 0, i as u8, 6]],
                            priorities: [100, 100],
                            cloud_delay: std::time::Duration::from_secs(2),
                        },
                        Utc::now(),
                    ),
                )
            })
            .collect();
        App::new(
            Snapshot::new(specs),
            Thresholds::default(),
            theme,
            Utc::now(),
        )
    }

    fn selected_name(app: &App) -> String {
        let ci = app.selected_cluster().expect("a selection");
        app.snapshot.clusters[ci].spec.name.clone()
    }

    #[test]
    fn colon_arrows_move_the_highlight_and_enter_takes_it() {
        let mut app = fleet();
        let before = app.selected;
        press(&mut app, KeyCode::Char(':'));
        type_text(&mut app, "web-1");
        press(&mut app, KeyCode::Down);
        press(&mut app, KeyCode::Down);
        assert_eq!(app.selected, before, "the list under the prompt stays");
        assert_eq!(app.prompt.as_ref().map(|p| p.pick), Some(2));
        press(&mut app, KeyCode::Enter);
        assert_eq!(selected_name(&app), "web-11");
        // Tab completes to the highlighted name once one is picked.
        press(&mut app, KeyCode::Char(':'));
        type_text(&mut app, "web-1");
        press(&mut app, KeyCode::Down);
        press(&mut app, KeyCode::Tab);
        assert_eq!(app.prompt.as_ref().map(|p| p.text.as_str()), Some("web-10"));
        press(&mut app, KeyCode::Esc);
        // An ambiguous start: Enter takes the highlighted (first) one.
        press(&mut app, KeyCode::Char(':'));
        type_text(&mut app, "web-1");
        press(&mut app, KeyCode::Backspace);
        press(&mut app, KeyCode::Enter);
        assert_eq!(selected_name(&app), "web-1");
    }

    #[test]
    fn colon_offers_the_nearest_names_to_a_typo_and_matches_a_vip() {
        let mut app = fleet();
        let found = app.jump_candidates("wbe-17");
        assert!(found.nearest);
        assert_eq!(
            app.snapshot.clusters[found.clusters[0]].spec.name, "web-17",
            "{found:?}"
        );
        assert!(app.jump_candidates("zzzzzz").clusters.is_empty());
        press(&mut app, KeyCode::Char(':'));
        type_text(&mut app, "pya");
        press(&mut app, KeyCode::Enter);
        assert_eq!(selected_name(&app), "pay");
        let said = app
            .flash
            .as_ref()
            .map(|(m, _)| m.clone())
            .unwrap_or_default();
        assert!(said.contains("pay is the nearest name"), "{said}");
        // A VIP, whole or its start; the filter finds it too.
        press(&mut app, KeyCode::Char(':'));
        type_text(&mut app, "10.0.5.100");
        press(&mut app, KeyCode::Enter);
        assert_eq!(selected_name(&app), "db-1");
        press(&mut app, KeyCode::Char('/'));
        type_text(&mut app, "10.0.4.");
        assert_eq!(app.order.len(), 1);
        assert_eq!(selected_name(&app), "pay");
        assert_eq!(edit_distance("wbe", "web"), 1);
        assert_eq!(edit_distance("web-71", "web-17"), 1);
        assert_eq!(edit_distance("", "pay"), 3);
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
        let said = app.flash.as_ref().map(|(m, _)| m.as_str());
        assert_eq!(
            said,
            Some("read-only: demo faults are disabled"),
            "says why"
        );
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
        let r = layout(app.viewport.get(), &app.layout_content());
        let peer_b = r.peers[1];
        app.update(Msg::Dashboard(Action::ClickAt(peer_b.x + 1, peer_b.y + 1)));
        assert_eq!(app.selected_peer, 1);
        let peer_a = r.peers[0];
        app.update(Msg::Dashboard(Action::ClickAt(peer_a.x + 1, peer_a.y + 1)));
        assert_eq!(app.selected_peer, 0);
    }
}
