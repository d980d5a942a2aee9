//! Keys as data. Every screen has one table of [`Binding`]s; the same table
//! turns a key press into the screen's action, draws the help overlay and
//! gives the footer its hints, so what the help says is what the keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// One key a binding answers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A key pressed without Ctrl (Shift and Alt do not matter).
    Plain(KeyCode),
    /// Ctrl and a letter.
    Ctrl(char),
    /// Any character typed without Ctrl (the search prompt).
    Text,
}

impl Key {
    /// Does this key press count as `self`?
    pub(crate) fn matches(self, ev: &KeyEvent) -> bool {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        match self {
            Key::Plain(code) => !ctrl && ev.code == code,
            Key::Ctrl(c) => ctrl && ev.code == KeyCode::Char(c),
            Key::Text => !ctrl && matches!(ev.code, KeyCode::Char(_)),
        }
    }

    /// How the help writes the key (labels are written by hand; tests
    /// hold them to these names).
    #[cfg(test)]
    pub fn name(self) -> String {
        match self {
            Key::Plain(code) => match code {
                KeyCode::Char(' ') => "Space".into(),
                KeyCode::Char(c) => c.to_string(),
                KeyCode::Up => "↑".into(),
                KeyCode::Down => "↓".into(),
                KeyCode::Left => "←".into(),
                KeyCode::Right => "→".into(),
                KeyCode::Tab => "Tab".into(),
                KeyCode::BackTab => "⇧Tab".into(),
                KeyCode::PageUp => "PgUp".into(),
                KeyCode::PageDown => "PgDn".into(),
                other => format!("{other:?}"),
            },
            Key::Ctrl(c) => format!("^{}", c.to_ascii_uppercase()),
            Key::Text => "text".into(),
        }
    }

    /// A key press that matches `self` (for tests and docs).
    #[cfg(test)]
    pub(crate) fn event(self) -> KeyEvent {
        match self {
            Key::Plain(code) => KeyEvent::new(code, KeyModifiers::NONE),
            Key::Ctrl(c) => KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
            Key::Text => KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE),
        }
    }
}

/// A short hint in the footer: `keys` in the key style, then `word`;
/// hints are shown by `rank`, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hint {
    pub(crate) rank: u8,
    pub keys: &'static str,
    pub(crate) word: &'static str,
}

/// A footer hint, for the tables.
pub(crate) const fn hint(rank: u8, keys: &'static str, word: &'static str) -> Option<Hint> {
    Some(Hint { rank, keys, word })
}

/// One row of a screen's help: the keys, what each one does, and how the
/// help writes them.
#[derive(Debug, Clone, Copy)]
pub struct Binding<A: 'static> {
    /// Every key of the row and the action it dispatches to. Empty for a
    /// row that explains the mouse.
    pub keys: &'static [(Key, A)],
    /// The keys as the help shows them: the names of `keys`, separated by
    /// spaces or ` / ` (a test holds them to that).
    pub label: &'static str,
    pub(crate) help: &'static str,
    pub(crate) hint: Option<Hint>,
}

/// The action `ev` dispatches to in `table`: the first row that has it.
pub(crate) fn lookup<A: Copy>(table: &[Binding<A>], ev: &KeyEvent) -> Option<A> {
    table
        .iter()
        .flat_map(|b| b.keys)
        .find(|(k, _)| k.matches(ev))
        .map(|(_, a)| *a)
}

/// The rows of a table as (keys, what they do), for the help and docs.
pub fn help_rows<A>(table: &[Binding<A>]) -> Vec<(&'static str, &'static str)> {
    table.iter().map(|b| (b.label, b.help)).collect()
}

/// The footer hints of `table`, in the order of their rank.
pub(crate) fn hints<A>(table: &[Binding<A>]) -> Vec<Hint> {
    let mut h: Vec<Hint> = table.iter().filter_map(|b| b.hint).collect();
    h.sort_by_key(|h| h.rank);
    h
}

/// The key names a label shows: its words, with ` / ` between keys read
/// as "or" (the label `/` alone is the slash key).
#[cfg(test)]
pub(crate) fn label_keys(label: &str) -> std::collections::BTreeSet<String> {
    if label == "/" {
        return std::iter::once(label.to_string()).collect();
    }
    label
        .split(' ')
        .filter(|s| !s.is_empty() && *s != "/")
        .map(str::to_string)
        .collect()
}

/// Every key press worth trying against a table: each printable ASCII
/// character with and without Ctrl, and the named keys.
#[cfg(test)]
pub(crate) fn every_key() -> Vec<KeyEvent> {
    let mut out = Vec::new();
    for c in ' '..='~' {
        out.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        out.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
    }
    for code in [
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Backspace,
        KeyCode::Delete,
        KeyCode::Insert,
        KeyCode::F(1),
        KeyCode::F(5),
    ] {
        out.push(KeyEvent::new(code, KeyModifiers::NONE));
        out.push(KeyEvent::new(code, KeyModifiers::CONTROL));
    }
    out
}

/// Checks one table the way every screen's test does: each row's label
/// names exactly its keys, footer hints name only keys of the table, and
/// each key dispatches (through `dispatch`,
/// the screen's real entry point) to its own row's action; and every key
/// press that `dispatch` answers is a key of the table.
#[cfg(test)]
pub(crate) fn check_table<A: Copy + PartialEq + std::fmt::Debug>(
    what: &str,
    table: &[Binding<A>],
    dispatch: impl Fn(&KeyEvent) -> Option<A>,
) {
    for b in table {
        let named: std::collections::BTreeSet<String> =
            b.keys.iter().map(|(k, _)| k.name()).collect();
        if b.keys.is_empty() {
            assert_eq!(
                b.label, "mouse",
                "{what}: a row without keys explains the mouse"
            );
            continue;
        }
        assert_eq!(
            label_keys(b.label),
            named,
            "{what}: the help row {:?} must name exactly the keys it dispatches",
            b.label
        );
        for (k, a) in b.keys {
            if *k == Key::Text {
                assert!(dispatch(&k.event()).is_some(), "{what}: typed text");
                continue;
            }
            assert_eq!(
                dispatch(&k.event()),
                Some(*a),
                "{what}: {} is in the help ({:?}) but does not dispatch to {a:?}",
                k.name(),
                b.label
            );
        }
    }
    // A footer hint may abbreviate ("j/k", "tab") but names only keys
    // the table has.
    let names: Vec<String> = table
        .iter()
        .flat_map(|b| b.keys)
        .map(|(k, _)| k.name().to_lowercase())
        .collect();
    for h in table.iter().filter_map(|b| b.hint) {
        let shown: Vec<&str> = if h.keys == "/" {
            vec!["/"]
        } else {
            h.keys.split([' ', '/']).filter(|s| !s.is_empty()).collect()
        };
        for k in shown {
            assert!(
                names.contains(&k.to_lowercase()),
                "{what}: the footer shows {k:?}, which is not a key of the table"
            );
        }
    }
    for ev in every_key() {
        if dispatch(&ev).is_some() {
            assert!(
                table
                    .iter()
                    .flat_map(|b| b.keys)
                    .any(|(k, _)| k.matches(&ev)),
                "{what}: {ev:?} is dispatched but not in the help"
            );
        }
    }
}
