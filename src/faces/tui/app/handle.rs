//! How each screen handles what the operator does: a key or a click
//! becomes the screen's action (`actions`), the action changes
//! the [`App`] and hands back at most one [`Effect`] for the event loop.

use crossterm::event::{KeyCode, KeyEvent, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use crate::faces::tui::keys::lookup;
use crate::faces::tui::layout::{layout, Density, ListRow};
use crate::faces::tui::logview::{self, LogAction, LogEffect, LogView};
use crate::sources::simulator::SimCommand;

use super::actions::{
    mouse_action, Action, Fault, HelpAction, Prompt, PromptAction, PromptKind, SortOrder,
    HELP_KEYS, PROMPT_KEYS,
};
use super::{common_prefix, App, Effect, Msg, Screen};

impl App {
    /// A key typed at the `/` or `:` prompt.
    pub(super) fn on_prompt(&mut self, action: PromptAction, ev: &KeyEvent) -> Option<Effect> {
        let mut prompt = self.prompt.take()?;
        let kind = prompt.kind;
        match action {
            PromptAction::Quit => return Some(Effect::Quit),
            PromptAction::Type => {
                if let KeyCode::Char(c) = ev.code {
                    prompt.text.push(c);
                    prompt.pick = 0;
                }
            }
            PromptAction::Erase => {
                prompt.text.pop();
                prompt.pick = 0;
            }
            // At `:` the arrows move among the candidates the prompt
            // shows; at `/` the filtered list is the candidates.
            PromptAction::Up if kind == PromptKind::Jump => {
                prompt.pick = prompt.pick.saturating_sub(1)
            }
            PromptAction::Down if kind == PromptKind::Jump => {
                let n = self.jump_candidates(&prompt.text).clusters.len();
                prompt.pick = (prompt.pick + 1).min(n.saturating_sub(1));
            }
            PromptAction::Up => self.selected = self.selected.saturating_sub(1),
            PromptAction::Down => {
                self.selected = (self.selected + 1).min(self.order.len().saturating_sub(1))
            }
            PromptAction::Complete => {
                if kind == PromptKind::Jump {
                    prompt.text = self.completed(&prompt.text, prompt.pick);
                    prompt.pick = 0;
                }
            }
            PromptAction::Accept => {
                if kind == PromptKind::Jump {
                    self.jump_to(&prompt.text, prompt.pick);
                }
                return None;
            }
            PromptAction::Cancel => {
                if kind == PromptKind::Filter {
                    self.filter.clear();
                    self.refresh();
                }
                return None;
            }
        }
        if kind == PromptKind::Filter {
            self.filter = prompt.text.clone();
            self.refresh();
        }
        self.prompt = Some(prompt);
        None
    }

    /// What Tab makes of the `:` prompt's `text`: the longest start the
    /// matching names share; the highlighted cluster's name when one was
    /// picked with ↑/↓ or there is no longer start (one match, a VIP, or
    /// a typo's nearest name).
    fn completed(&self, text: &str, pick: usize) -> String {
        let found = self.jump_candidates(text);
        let names: Vec<&str> = found
            .clusters
            .iter()
            .map(|&i| self.snapshot.clusters[i].spec.name.as_str())
            .collect();
        let all_by_name = !found.nearest
            && names
                .iter()
                .all(|n| n.to_lowercase().starts_with(&text.trim().to_lowercase()));
        match common_prefix(&names) {
            Some(done) if pick == 0 && all_by_name && done.len() > text.trim().len() => done,
            _ if pick > 0 || names.len() == 1 || found.nearest || !all_by_name => names
                .get(pick.min(names.len().saturating_sub(1)))
                .map_or_else(|| text.to_string(), |n| n.to_string()),
            _ => text.to_string(),
        }
    }

    /// Selects the cluster named `name` or, failing that, the `pick`th
    /// candidate the prompt offered for it (a name or VIP it starts, or
    /// the nearest name to a typo, which the footer then says); clears a
    /// filter that hides it.
    pub(super) fn jump_to(&mut self, name: &str, pick: usize) {
        let want = name.trim();
        if want.is_empty() {
            return;
        }
        let exact = self
            .snapshot
            .clusters
            .iter()
            .position(|c| c.spec.name.eq_ignore_ascii_case(want));
        let found = self.jump_candidates(want);
        let picked = found
            .clusters
            .get(pick.min(found.clusters.len().saturating_sub(1)))
            .copied();
        // A highlight moved with ↑/↓ wins over the name typed so far.
        let Some(ci) = (if pick > 0 { picked } else { exact.or(picked) }) else {
            self.say(format!("no cluster named {want:?} or with that VIP"));
            return;
        };
        if Some(ci) != exact && found.nearest {
            let took = crate::core::sanitize::clean(&self.snapshot.clusters[ci].spec.name);
            self.say(format!(
                "no cluster named {want:?}: {took} is the nearest name"
            ));
        }
        if !self.order.contains(&ci) {
            self.filter.clear();
            self.refresh();
        }
        if let Some(pos) = self.order.iter().position(|&i| i == ci) {
            self.selected = pos;
        }
    }

    /// `m`/`F`: the target is the peer that is not the VRRP master; a
    /// forced move on vip_drift targets the master (the binding follows it).
    pub(super) fn ask_failover(&mut self, forced: bool) -> Option<Effect> {
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

    pub(super) fn key(&mut self, k: KeyEvent) -> Option<Effect> {
        match &mut self.screen {
            Screen::Wizard(w) => {
                if !w.key(k) {
                    self.screen = Screen::Dashboard;
                }
                None
            }
            Screen::Help(_) => lookup(HELP_KEYS, &k).and_then(|a| self.on_help(a)),
            Screen::Alerts(l) => {
                use crate::faces::tui::alerts::{AlertsAction, ALERTS_KEYS};
                match lookup(ALERTS_KEYS, &k)? {
                    AlertsAction::Close => self.screen = Screen::Dashboard,
                    AlertsAction::Quit => return Some(Effect::Quit),
                    // The marked failed action (a key of its own: `a`, which
                    // opened the box, closes it and must never acknowledge).
                    AlertsAction::Acknowledge => match (l.marked(), l.cluster) {
                        (Some(_), _) if self.read_only => {
                            self.say("read-only: acknowledging is off")
                        }
                        (Some(id), cluster) => self.acknowledge(cluster, &id),
                        (None, _) => self.say("no failed action to acknowledge"),
                    },
                    a => l.scroll(a),
                }
                None
            }
            Screen::Explain(b) => {
                use crate::faces::tui::alerts::AlertsAction;
                match lookup(crate::faces::tui::explain::EXPLAIN_KEYS, &k)? {
                    AlertsAction::Close => self.screen = Screen::Dashboard,
                    AlertsAction::Quit => return Some(Effect::Quit),
                    a => b.list.scroll(a),
                }
                None
            }
            Screen::Findings(l) => {
                use crate::faces::tui::alerts::AlertsAction;
                match lookup(crate::faces::tui::findings::FINDINGS_KEYS, &k)? {
                    AlertsAction::Close => self.screen = Screen::Dashboard,
                    AlertsAction::Quit => return Some(Effect::Quit),
                    a => l.scroll(a),
                }
                None
            }
            Screen::History(h) => {
                use crate::faces::tui::history::HistoryAction;
                match lookup(crate::faces::tui::history::HISTORY_KEYS, &k)? {
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

    pub(super) fn mouse(&mut self, m: MouseEvent) -> Option<Effect> {
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
                        MouseEventKind::ScrollUp => {
                            h.scroll(crate::faces::tui::history::HistoryAction::Up)
                        }
                        MouseEventKind::ScrollDown => {
                            h.scroll(crate::faces::tui::history::HistoryAction::Down)
                        }
                        _ => {}
                    }
                }
                None
            }
            Screen::Alerts(_) | Screen::Explain(_) | Screen::Findings(_) => {
                let l = match &mut self.screen {
                    Screen::Alerts(l) | Screen::Findings(l) => l,
                    Screen::Explain(b) => &mut b.list,
                    _ => return None,
                };
                use crate::faces::tui::alerts::AlertsAction;
                match m.kind {
                    MouseEventKind::ScrollUp => l.scroll(AlertsAction::Up),
                    MouseEventKind::ScrollDown => l.scroll(AlertsAction::Down),
                    _ => {}
                }
                None
            }
            // The help covers the dashboard: the mouse does not reach under it.
            Screen::Help(_) => None,
        }
    }

    pub(super) fn on_help(&mut self, action: HelpAction) -> Option<Effect> {
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

    pub(super) fn on_dashboard(&mut self, action: Action) -> Option<Effect> {
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
                self.screen = Screen::History(Box::new(crate::faces::tui::history::History::load(
                    path.as_deref(),
                )));
            }
            Action::OpenAlerts => {
                if let Some(c) = self.selected_cluster() {
                    self.screen = Screen::Alerts(crate::faces::tui::alerts::AlertList::new(c));
                }
            }
            Action::OpenExplain => {
                if let Some(c) = self.selected_cluster() {
                    self.screen = Screen::Explain(crate::faces::tui::explain::ExplainBox::new(
                        c,
                        self.selected_peer,
                    ));
                }
            }
            Action::OpenFindings => {
                if let Some(c) = self.selected_cluster() {
                    self.screen = Screen::Findings(crate::faces::tui::alerts::AlertList::new(c));
                }
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
                    pick: 0,
                })
            }
            Action::Jump => {
                self.prompt = Some(Prompt {
                    kind: PromptKind::Jump,
                    text: String::new(),
                    pick: 0,
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

    pub(super) fn inject(&mut self, fault: Fault) -> Option<Effect> {
        if !self.demo || self.read_only {
            return None;
        }
        let cluster = self.selected_cluster()?;
        let peer = self.selected_peer;
        // A toggle says which way it went; the title lists what is on.
        let state = self.demo_faults.entry(cluster).or_default();
        let flip = |b: &mut bool| {
            *b = !*b;
            if *b {
                "on"
            } else {
                "off"
            }
        };
        let toggled = match fault {
            Fault::ToggleUnreachable => Some((
                "SSH black hole on the peer",
                flip(&mut state.unreachable[peer]),
            )),
            Fault::ToggleLinkCut => Some(("VRRP link cut", flip(&mut state.link_cut))),
            Fault::ToggleMoveBroken => Some(("notify script fails", flip(&mut state.move_broken))),
            Fault::ToggleCloudLag => Some(("cloud lag (+20s)", flip(&mut state.cloud_lag))),
            Fault::ToggleCloudFailing => Some(("cloud API errors", flip(&mut state.cloud_failing))),
            Fault::Heal => {
                *state = Default::default();
                None
            }
            Fault::KillMaster | Fault::StartStopped => None,
        };
        if *state == Default::default() {
            self.demo_faults.remove(&cluster);
        }
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
        let said = match toggled {
            Some((what, way)) => {
                let spec = &specs[cluster];
                let what = what.replace("the peer", &spec.peers[peer].name);
                format!("{}: {what} {way}", spec.name)
            }
            None => cmd.describe(&specs),
        };
        self.say(said);
        Some(Effect::Sim(cmd))
    }

    /// An action on the log screen: closing it and its help are done
    /// here; quitting and a save come back for the event loop.
    pub(super) fn on_logs(&mut self, action: LogAction) -> Option<Effect> {
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

    pub(super) fn click(&mut self, x: u16, y: u16) {
        let ci = self.selected_cluster();
        let regions = layout(self.viewport.get(), &self.layout_content());
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
}
