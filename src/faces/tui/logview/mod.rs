//! The log screen: one cluster's merged peer logs, with less/k9s keys.
//! State and actions here are pure (no terminal, no I/O): saving returns a
//! [`LogEffect`] the event loop carries out. Drawing reads the state only.
//!
//! ```text
//! ┌ LOGS web · havip-01 havip-02 · script+daemon · all · 1,204 lines · FOLLOW ┐
//! │ 22:44:01 havip-01 d » (VI_1) Entering MASTER STATE                        │
//! │ 22:44:01 havip-01 s » notify_master                                       │
//! │ 22:44:02 havip-02 d   (VI_1) Master received advert … higher priority     │
//! └ /regex  3/17 · f follow  w wrap  t time  1 2 peer  d source  T important ┘
//! ```

use std::cell::Cell;

use crossterm::event::{KeyCode, KeyEvent};
use regex::Regex;

use crate::core::logs::{self, Entry, Filter, LineRef, LogStore};
use crate::core::model::{ClusterSpec, LogSource};
use crate::faces::tui::keys::{hint, hints, lookup, Binding, Key};
use crate::faces::tui::theme::Theme;

/// What the operator can do on the log screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogAction {
    Close,
    Quit,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    ToggleFollow,
    ToggleWrap,
    ToggleTimestamps,
    TogglePeer(usize),
    CycleSource,
    ToggleImportant,
    PrevTransition,
    NextTransition,
    StartSearch,
    SearchChar(char),
    SearchBackspace,
    SearchSubmit,
    SearchCancel,
    NextMatch,
    PrevMatch,
    Save,
    ToggleHelp,
}

/// Work for the event loop: the view cannot do I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEffect {
    Close,
    Quit,
    /// Write `text` (whole lines of the filtered view) to a file named
    /// after `cluster_name` in the data dir, then call
    /// [`LogView::saved`].
    Save {
        cluster_name: String,
        text: String,
        lines: usize,
    },
}

const fn ch(c: char) -> Key {
    Key::Plain(KeyCode::Char(c))
}

const fn plain(code: KeyCode) -> Key {
    Key::Plain(code)
}

/// The keys of the log screen: they dispatch, draw its help overlay and
/// its footer (docs/logs.md describes them).
pub const LOG_KEYS: &[Binding<LogAction>] = &[
    Binding {
        keys: &[
            (ch('j'), LogAction::Down),
            (ch('k'), LogAction::Up),
            (plain(KeyCode::Up), LogAction::Up),
            (plain(KeyCode::Down), LogAction::Down),
        ],
        label: "j k ↑ ↓",
        help: "scroll one line (up pauses follow)",
        hint: None,
    },
    Binding {
        keys: &[
            (plain(KeyCode::PageUp), LogAction::PageUp),
            (ch('b'), LogAction::PageUp),
            (Key::Ctrl('b'), LogAction::PageUp),
        ],
        label: "PgUp b ^B",
        help: "scroll one page up",
        hint: None,
    },
    Binding {
        keys: &[
            (plain(KeyCode::PageDown), LogAction::PageDown),
            (ch(' '), LogAction::PageDown),
            (Key::Ctrl('f'), LogAction::PageDown),
        ],
        label: "PgDn Space ^F",
        help: "scroll one page down",
        hint: None,
    },
    Binding {
        keys: &[
            (ch('g'), LogAction::Top),
            (ch('G'), LogAction::Bottom),
            (plain(KeyCode::Home), LogAction::Top),
            (plain(KeyCode::End), LogAction::Bottom),
        ],
        label: "g G Home End",
        help: "first line / last line and follow",
        hint: None,
    },
    Binding {
        keys: &[(ch('f'), LogAction::ToggleFollow)],
        label: "f",
        help: "follow new lines on/off",
        hint: hint(3, "f", "follow"),
    },
    Binding {
        keys: &[(ch('/'), LogAction::StartSearch)],
        label: "/",
        help: "search: regex, case-insensitive unless it has capitals",
        hint: hint(2, "/", "search"),
    },
    Binding {
        keys: &[
            (ch('n'), LogAction::NextMatch),
            (ch('N'), LogAction::PrevMatch),
        ],
        label: "n / N",
        help: "next / previous match",
        hint: None,
    },
    Binding {
        keys: &[
            (ch('['), LogAction::PrevTransition),
            (ch(']'), LogAction::NextTransition),
        ],
        label: "[ / ]",
        help: "previous / next VRRP transition",
        hint: hint(4, "[ ]", "transition"),
    },
    Binding {
        keys: &[
            (ch('1'), LogAction::TogglePeer(0)),
            (ch('2'), LogAction::TogglePeer(1)),
        ],
        label: "1 / 2",
        help: "show or hide the first / second peer",
        hint: hint(5, "1 2", "peer"),
    },
    Binding {
        keys: &[(ch('d'), LogAction::CycleSource)],
        label: "d",
        help: "source: script+daemon → daemon → script",
        hint: hint(6, "d", "source"),
    },
    Binding {
        keys: &[(ch('T'), LogAction::ToggleImportant)],
        label: "T",
        help: "only transitions and errors",
        hint: hint(7, "T", "important"),
    },
    Binding {
        keys: &[(ch('w'), LogAction::ToggleWrap)],
        label: "w",
        help: "wrap long lines",
        hint: hint(8, "w", "wrap"),
    },
    Binding {
        keys: &[(ch('t'), LogAction::ToggleTimestamps)],
        label: "t",
        help: "timestamps on/off",
        hint: hint(9, "t", "time"),
    },
    Binding {
        keys: &[(ch('s'), LogAction::Save)],
        label: "s",
        help: "save the filtered view to a file (data dir)",
        hint: hint(10, "s", "save"),
    },
    Binding {
        keys: &[(ch('?'), LogAction::ToggleHelp)],
        label: "?",
        help: "this help",
        hint: hint(0, "?", "help"),
    },
    Binding {
        keys: &[
            (ch('q'), LogAction::Close),
            (plain(KeyCode::Esc), LogAction::Close),
        ],
        label: "q / Esc",
        help: "back to the dashboard",
        hint: hint(1, "q", "back"),
    },
    Binding {
        keys: &[(Key::Ctrl('c'), LogAction::Quit)],
        label: "^C",
        help: "quit vipdeck",
        hint: None,
    },
];

/// The keys while the search prompt is open; the footer shows the hints.
pub(crate) const SEARCH_KEYS: &[Binding<LogAction>] = &[
    Binding {
        keys: &[(plain(KeyCode::Enter), LogAction::SearchSubmit)],
        label: "Enter",
        help: "keep the search",
        hint: hint(0, "Enter", "keep"),
    },
    Binding {
        keys: &[(plain(KeyCode::Esc), LogAction::SearchCancel)],
        label: "Esc",
        help: "cancel the search and go back",
        hint: hint(1, "Esc", "cancel"),
    },
    Binding {
        keys: &[(plain(KeyCode::Backspace), LogAction::SearchBackspace)],
        label: "Backspace",
        help: "delete the last character",
        hint: None,
    },
    Binding {
        keys: &[(Key::Ctrl('c'), LogAction::Quit)],
        label: "^C",
        help: "quit vipdeck",
        hint: None,
    },
    Binding {
        // The character typed replaces this one.
        keys: &[(Key::Text, LogAction::SearchChar(' '))],
        label: "text",
        help: "typed into the pattern",
        hint: None,
    },
];

/// The log screen's action for a key; `editing`: the search prompt is open.
pub fn key_action(key: KeyEvent, editing: bool) -> Option<LogAction> {
    if !editing {
        return lookup(LOG_KEYS, &key);
    }
    match lookup(SEARCH_KEYS, &key)? {
        LogAction::SearchChar(_) => match key.code {
            KeyCode::Char(c) => Some(LogAction::SearchChar(c)),
            _ => None,
        },
        a => Some(a),
    }
}

/// The search prompt and its compiled pattern.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub(crate) input: String,
    /// The prompt is open and takes the keys.
    pub(crate) editing: bool,
    pub regex: Option<Regex>,
    pub error: Option<String>,
    /// Where the cursor was when the prompt opened: Esc goes back there.
    origin: Option<(Option<usize>, usize, bool)>,
}

/// Rows assumed per page before the first draw (headless use).
const DEFAULT_PAGE: u16 = 20;

#[derive(Debug, Clone)]
pub struct LogView {
    pub cluster: usize,
    pub(crate) filter: Filter,
    pub follow: bool,
    pub(crate) wrap: bool,
    pub(crate) timestamps: bool,
    /// First row shown when not following.
    pub top: usize,
    /// The current row (a search match, a transition jumped to).
    pub cursor: Option<usize>,
    pub search: Search,
    /// The filtered, merged lines.
    pub rows: Vec<LineRef>,
    /// The zone times are shown and saved in.
    pub offset: chrono::FixedOffset,
    /// One message for the footer ("saved to …", "search wrapped").
    pub note: Option<String>,
    seen: Option<u64>,
    /// Where each stream stood at the last refresh: its next line, and
    /// its oldest line still held.
    heads: [u64; logs::STREAMS],
    bases: [u64; logs::STREAMS],
    /// Per row: does it match the search (empty without one).
    hits: Vec<bool>,
    /// "3/17": the cursor's match and the number of matches.
    matches: Option<(usize, usize)>,
    /// Set by the last draw: body height and the first row it showed.
    page: Cell<u16>,
    drawn_top: Cell<Option<usize>>,
}

impl LogView {
    pub fn new(cluster: usize, store: &LogStore, offset: chrono::FixedOffset) -> Self {
        let mut v = LogView {
            cluster,
            filter: Filter::default(),
            follow: true,
            wrap: false,
            timestamps: true,
            top: 0,
            cursor: None,
            search: Search::default(),
            rows: Vec::new(),
            offset,
            note: None,
            seen: None,
            heads: [0; logs::STREAMS],
            bases: [0; logs::STREAMS],
            hits: Vec::new(),
            matches: None,
            page: Cell::new(DEFAULT_PAGE),
            drawn_top: Cell::new(None),
        };
        v.refresh(store);
        v
    }

    /// Takes in new lines (cheap when nothing changed). Keeps the top row
    /// and the cursor on the same lines when old lines were dropped.
    pub fn refresh(&mut self, store: &LogStore) {
        let generation = store.generation(self.cluster);
        if self.seen == Some(generation) {
            return;
        }
        self.seen = Some(generation);
        // Usually new lines go after the last row: append them, and drop
        // rows whose lines the store let go. Otherwise merge again.
        let c = self.cluster;
        let new = store.merged_since(c, self.heads, |e| self.filter.accepts(e));
        let order = |r: Option<&LineRef>| r.and_then(|r| store.get(c, *r)).map(Entry::order);
        let appends =
            new.is_empty() || self.rows.is_empty() || order(new.first()) >= order(self.rows.last());
        if !appends {
            self.rebuild(store);
            return;
        }
        self.heads = store.heads(c);
        let bases = store.bases(c);
        let gone = |r: &LineRef| r.abs < bases[usize::from(r.stream)];
        let new_hits: Vec<bool> = match &self.search.regex {
            Some(re) => new
                .iter()
                .map(|r| store.get(c, *r).is_some_and(|e| re.is_match(&e.text)))
                .collect(),
            None => Vec::new(),
        };
        // The store dropped old lines of some stream: drop their rows.
        if std::mem::replace(&mut self.bases, bases) != bases {
            let top_ref = self.rows.get(self.top).copied();
            let cursor_ref = self.cursor.and_then(|i| self.rows.get(i).copied());
            if !self.hits.is_empty() {
                let rows = &self.rows;
                let mut i = 0;
                self.hits.retain(|_| {
                    let keep = rows.get(i).is_some_and(|r| !gone(r));
                    i += 1;
                    keep
                });
            }
            self.rows.retain(|r| !gone(r));
            self.rows.extend(new);
            self.hits.extend(new_hits);
            self.reanchor(store, top_ref, cursor_ref);
        } else {
            self.rows.extend(new);
            self.hits.extend(new_hits);
        }
        if self.follow {
            self.drawn_top.set(None);
        }
        self.update_matches();
    }

    fn rebuild(&mut self, store: &LogStore) {
        let top_ref = self.rows.get(self.top).copied();
        let cursor_ref = self.cursor.and_then(|c| self.rows.get(c).copied());
        self.heads = store.heads(self.cluster);
        self.bases = store.bases(self.cluster);
        self.rows = store.merged(self.cluster, &self.filter);
        self.reanchor(store, top_ref, cursor_ref);
        self.rematch(store);
    }

    /// Puts the top row and the cursor back on the lines they were on.
    fn reanchor(
        &mut self,
        store: &LogStore,
        top_ref: Option<LineRef>,
        cursor_ref: Option<LineRef>,
    ) {
        // Rows are in merge order, so an old row is found by key.
        let find = |r: LineRef, rows: &[LineRef]| -> Option<usize> {
            let e = store.get(self.cluster, r)?;
            let i = rows.partition_point(|x| {
                store
                    .get(self.cluster, *x)
                    .is_some_and(|o| o.order() < e.order())
            });
            (rows.get(i) == Some(&r)).then_some(i)
        };
        self.top = top_ref
            .and_then(|r| find(r, &self.rows))
            .unwrap_or(0)
            .min(self.max_top());
        self.cursor = cursor_ref.and_then(|r| find(r, &self.rows));
        if self.follow {
            // The next draw places the bottom; until then, compute it.
            self.drawn_top.set(None);
        }
    }

    fn page(&self) -> usize {
        usize::from(self.page.get().max(1))
    }

    fn max_top(&self) -> usize {
        self.rows.len().saturating_sub(self.page())
    }

    /// The first row on screen (as last drawn, else as computed).
    pub(crate) fn visible_top(&self) -> usize {
        if self.follow {
            self.drawn_top.get().unwrap_or_else(|| self.max_top())
        } else {
            self.top.min(self.rows.len().saturating_sub(1))
        }
    }

    fn pause(&mut self) {
        if self.follow {
            self.top = self.visible_top();
            self.follow = false;
            self.note = Some("follow paused · f or G resumes".into());
        }
    }

    fn scroll_to(&mut self, top: usize) {
        self.pause();
        self.top = top.min(self.max_top());
    }

    /// Puts `row` on screen (a third from the top) and makes it current.
    fn jump(&mut self, row: usize) {
        self.pause();
        self.cursor = Some(row);
        let top = self.top;
        if row < top || row >= top + self.page() {
            self.top = row.saturating_sub(self.page() / 3).min(self.max_top());
        }
    }

    fn entry<'a>(&self, store: &'a LogStore, row: usize) -> Option<&'a Entry> {
        store.get(self.cluster, *self.rows.get(row)?)
    }

    /// Next/previous row (from the cursor, else the screen) matching `pred`.
    fn find(&mut self, store: &LogStore, forward: bool, what: &str, pred: impl Fn(&Entry) -> bool) {
        let from = self.cursor.or_else(|| {
            let top = self.visible_top();
            Some(if forward {
                top.saturating_sub(1)
            } else {
                top + self.page()
            })
        });
        let hit = logs::find_row(&self.rows, from, forward, |r| {
            store.get(self.cluster, r).is_some_and(&pred)
        });
        match hit {
            Some((row, wrapped)) => {
                self.jump(row);
                if wrapped {
                    self.note = Some(format!(
                        "{what}: wrapped to the {}",
                        if forward { "top" } else { "bottom" }
                    ));
                }
            }
            None => self.note = Some(format!("{what}: none in this view")),
        }
    }

    fn set_filter(&mut self, store: &LogStore, f: impl FnOnce(&mut Filter)) {
        f(&mut self.filter);
        self.rebuild(store);
    }

    /// Incremental search: the first match at or after where the prompt
    /// was opened.
    fn search_typed(&mut self, store: &LogStore) {
        if self.search.input.is_empty() {
            self.search.regex = None;
            self.search.error = None;
            self.hits.clear();
            return;
        }
        match logs::search_regex(&self.search.input) {
            Ok(re) => {
                self.search.error = None;
                // Inclusive of the row the prompt opened on.
                let start = self
                    .search
                    .origin
                    .map(|(cursor, top, _)| cursor.unwrap_or(top))
                    .and_then(|s| s.checked_sub(1));
                let hit = logs::find_row(&self.rows, start, true, |r| {
                    store
                        .get(self.cluster, r)
                        .is_some_and(|e| re.is_match(&e.text))
                });
                self.search.regex = Some(re);
                self.rematch(store);
                if let Some((row, _)) = hit {
                    self.jump(row);
                }
            }
            // Mid-typing (`(unclosed`): keep the last good pattern.
            Err(e) => self.search.error = Some(e),
        }
    }

    /// Which match the cursor is on and how many rows match the search
    /// ("3/17" in the footer); None without a search.
    pub fn match_position(&self) -> Option<(usize, usize)> {
        self.matches
    }

    /// Tests every row against the search (a new pattern, a new view).
    fn rematch(&mut self, store: &LogStore) {
        self.hits = match &self.search.regex {
            Some(re) => self
                .rows
                .iter()
                .map(|r| {
                    store
                        .get(self.cluster, *r)
                        .is_some_and(|e| re.is_match(&e.text))
                })
                .collect(),
            None => Vec::new(),
        };
        self.update_matches();
    }

    /// "3/17" from the rows' marks: on a key or new lines, never while
    /// drawing, and without running the regex again.
    fn update_matches(&mut self) {
        if self.search.regex.is_none() {
            self.matches = None;
            return;
        }
        let total = self.hits.iter().filter(|h| **h).count();
        let current = self
            .cursor
            .filter(|c| self.hits.get(*c).copied().unwrap_or(false))
            .map_or(0, |c| self.hits[..c].iter().filter(|h| **h).count() + 1);
        self.matches = Some((current, total));
    }

    pub fn handle(
        &mut self,
        action: LogAction,
        store: &LogStore,
        spec: &ClusterSpec,
    ) -> Option<LogEffect> {
        use LogAction::*;
        if !matches!(action, SearchChar(_) | SearchBackspace) {
            self.note = None;
        }
        match action {
            Close => return Some(LogEffect::Close),
            Quit => return Some(LogEffect::Quit),
            // The help overlay is a screen of its own: the app opens it.
            ToggleHelp => {}
            Up => {
                let top = self.visible_top();
                self.scroll_to(top.saturating_sub(1));
            }
            Down => {
                let top = self.visible_top();
                if !self.follow {
                    self.top = (top + 1).min(self.max_top());
                }
            }
            PageUp => {
                let top = self.visible_top();
                self.scroll_to(top.saturating_sub(self.page()));
            }
            PageDown => {
                let top = self.visible_top();
                if !self.follow {
                    self.top = (top + self.page()).min(self.max_top());
                }
            }
            Top => {
                self.scroll_to(0);
                self.cursor = None;
            }
            Bottom => {
                self.follow = true;
                self.cursor = None;
            }
            ToggleFollow => {
                if self.follow {
                    self.pause();
                    self.note = Some("follow off · f or G resumes".into());
                } else {
                    self.follow = true;
                    self.cursor = None;
                }
            }
            ToggleWrap => self.wrap = !self.wrap,
            ToggleTimestamps => self.timestamps = !self.timestamps,
            TogglePeer(i) if i < 2 => {
                self.set_filter(store, |f| f.peers[i] = !f.peers[i]);
                if !self.filter.peers.iter().any(|p| *p) {
                    self.note = Some("both peers hidden · 1 or 2 shows one".into());
                }
            }
            TogglePeer(_) => {}
            CycleSource => self.set_filter(store, |f| {
                f.sources = match f.sources {
                    [true, true] => [false, true],
                    [false, true] => [true, false],
                    _ => [true, true],
                }
            }),
            ToggleImportant => self.set_filter(store, |f| f.important_only = !f.important_only),
            PrevTransition => self.find(store, false, "transition", Entry::is_transition),
            NextTransition => self.find(store, true, "transition", Entry::is_transition),
            StartSearch => {
                self.search.origin = Some((self.cursor, self.visible_top(), self.follow));
                self.search.editing = true;
                self.search.input.clear();
                self.search.error = None;
            }
            SearchChar(c) => {
                self.search.input.push(c);
                self.search_typed(store);
            }
            SearchBackspace => {
                self.search.input.pop();
                self.search_typed(store);
            }
            SearchSubmit => {
                self.search.editing = false;
                if self.search.regex.is_some() && self.cursor.is_none() {
                    self.note = Some(format!("/{}: no match", self.search.input));
                }
            }
            SearchCancel => {
                self.search.editing = false;
                self.search.regex = None;
                self.search.error = None;
                self.hits.clear();
                if let Some((cursor, top, follow)) = self.search.origin.take() {
                    self.cursor = cursor;
                    self.top = top;
                    self.follow = follow;
                }
            }
            NextMatch | PrevMatch => match self.search.regex.clone() {
                Some(re) => self.find(store, action == NextMatch, "search", |e| {
                    re.is_match(&e.text)
                }),
                None => self.note = Some("no search yet · / starts one".into()),
            },
            Save => {
                let text = logs::render_rows(store, self.cluster, &self.rows, spec, self.offset);
                return Some(LogEffect::Save {
                    cluster_name: spec.name.clone(),
                    text,
                    lines: self.rows.len(),
                });
            }
        }
        // The cursor may have moved: "3/17" follows it.
        self.update_matches();
        None
    }

    /// What the event loop reports after carrying out a save.
    pub(crate) fn saved(&mut self, result: Result<(std::path::PathBuf, usize), String>) {
        self.note = Some(match result {
            Ok((path, n)) => format!("saved {n} lines to {}", path.display()),
            Err(e) => format!("save failed: {e}"),
        });
    }
}

// ------------------------------------------------------------------ drawing

mod draw;
pub use draw::draw;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faces::tui::keys::check_table;

    #[test]
    fn the_log_help_is_exactly_its_keys() {
        check_table("logs", LOG_KEYS, |k| key_action(*k, false));
    }

    #[test]
    fn the_search_prompt_footer_is_exactly_its_keys() {
        check_table("search prompt", SEARCH_KEYS, |k| key_action(*k, true));
        let typed = key_action(KeyEvent::from(KeyCode::Char('q')), true);
        assert_eq!(typed, Some(LogAction::SearchChar('q')));
    }
}
