//! Reading the config: the file and its environment overrides, TOML with
//! byte positions, serde's messages rewritten for an operator (unknown
//! keys get a suggestion, string values are never echoed), and the map
//! from a key path to a line and column.

use std::collections::HashMap;
use std::ffi::OsString;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml_edit::{ImDocument, Item, TableLike, Value};

use super::schema::{Config, RawConfig};
use super::validate::{convert, levenshtein, KeyPath, Seg, Target};
use super::{ConfigError, ConfigErrorKind, Location, CONFIG_ENV, DATA_DIR_ENV};

/// The config path: `$VIPDECK_CONFIG`, else `config.toml` in the platform
/// config dir (`~/.config/vipdeck/config.toml` on Linux).
pub fn default_path() -> Option<PathBuf> {
    env_override(std::env::var_os(CONFIG_ENV)).or_else(|| {
        directories::ProjectDirs::from("", "", "vipdeck")
            .map(|d| d.config_dir().join("config.toml"))
    })
}

/// Where logs and the audit trail go: `$VIPDECK_DATA_DIR`, else the
/// platform local data dir (`~/.local/share/vipdeck` on Linux).
pub fn data_dir() -> Option<PathBuf> {
    env_override(std::env::var_os(DATA_DIR_ENV)).or_else(|| {
        directories::ProjectDirs::from("", "", "vipdeck").map(|d| d.data_local_dir().to_path_buf())
    })
}

/// An environment override counts only when set and non-empty.
fn env_override(value: Option<OsString>) -> Option<PathBuf> {
    value.filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Reads and parses a config file; adds a warning when the file mentions a
/// secret key and others can read it.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let message = match e.kind() {
            std::io::ErrorKind::NotFound => {
                "config file not found (create it, see docs/configuration.md, or pass --config PATH)"
                    .to_string()
            }
            std::io::ErrorKind::InvalidData => "config file is not valid UTF-8".to_string(),
            _ => format!("cannot read config file: {e}"),
        };
        ConfigError {
            file: path.to_path_buf(),
            location: None,
            key: None,
            kind: ConfigErrorKind::Read,
            message,
            also: Box::default(),
        }
    })?;
    let warning = file_mode(path).and_then(|mode| secret_warning(&text, mode, path));
    match parse(&text, path) {
        Ok(mut config) => {
            config.warnings.extend(warning);
            Ok(config)
        }
        // A bad file that exposes a secret: say both.
        Err(mut e) => {
            if warning.is_some() {
                e.message.push_str(&format!(
                    " (also: this file mentions a secret key and is readable by \
                     group/others; run `chmod 600 {}`)",
                    path.display()
                ));
            }
            Err(e)
        }
    }
}

#[cfg(unix)]
fn file_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).ok().map(|m| m.permissions().mode())
}

#[cfg(not(unix))]
fn file_mode(_path: &Path) -> Option<u32> {
    None
}

/// A warning when `text` mentions a secret key (`secret_key`, `SecretKey`)
/// and `mode` lets group or others read the file. Names the line, never the
/// secret.
pub(crate) fn secret_warning(text: &str, mode: u32, path: &Path) -> Option<String> {
    if mode & 0o077 == 0 {
        return None;
    }
    let line = text.lines().position(assigns_a_secret)?;
    Some(format!(
        "{}:{}: this file mentions a secret key and is readable by group/others \
         (mode {:o}); run `chmod 600 {}`. vipdeck takes credentials from \
         TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, ~/.tencentcloud/credentials, \
         a tccli profile or the CVM role, not from this file",
        path.display(),
        line + 1,
        mode & 0o777,
        path.display()
    ))
}

/// Whether a line gives a secret key a value: `secret_key = "…"`,
/// `SecretKey: …`, also commented out (a pasted secret is still there).
/// A line that only names one (`TENCENTCLOUD_SECRET_KEY, ~/.tencentcloud/…`,
/// as `vipdeck init`'s own comments do) holds none.
fn assigns_a_secret(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    ["secret_key", "secretkey"].iter().any(|name| {
        l.match_indices(name).any(|(i, _)| {
            let rest = l[i + name.len()..].trim_start_matches(['"', '\'']);
            let rest = rest.trim_start();
            rest.strip_prefix(['=', ':'])
                .is_some_and(|v| !v.trim().is_empty())
        })
    })
}

/// Parses config text; `path` is used in messages only.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let err = |kind, offset: Option<usize>, key: Option<String>, message: String| ConfigError {
        file: path.to_path_buf(),
        location: offset.map(|o| line_col(text, o)),
        key,
        kind,
        message,
        also: Box::default(),
    };

    let doc = match ImDocument::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let offset = e.span().map(|s| s.start);
            let key = offset.and_then(|o| syntax_context(text, o));
            return Err(err(
                ConfigErrorKind::Syntax,
                offset,
                key,
                format!("TOML syntax error: {}", syntax_hint(e.message())),
            ));
        }
    };

    // serde stops at the first problem: an unknown key is left out and
    // the rest read again, so every unknown key is said at once (a missing
    // key or a wrong type ends the reading).
    let mut errors = Vec::new();
    let mut current = text.to_string();
    let raw: Option<RawConfig> = loop {
        let e = match toml::from_str::<RawConfig>(&current) {
            Ok(raw) => break Some(raw),
            Err(e) => e,
        };
        let here = ImDocument::parse(current.as_str()).ok();
        let offset = e.span().map(|s| s.start);
        let key = here
            .as_ref()
            .zip(offset)
            .and_then(|(d, o)| path_at(d.as_item(), o))
            .unwrap_or_default();
        let (kind, message, missing) = humanize_serde_error(e.message());
        // A missing key is named by its full path; the location stays on
        // the table that lacks it.
        let key = match missing {
            Some(name) => key.key(&name),
            None => key,
        };
        // Where it is in the file as written (this text may lack keys).
        let at = if current == text {
            offset
        } else {
            locate(doc.as_item(), &key, Target::Key).map(|s| s.start)
        };
        // Only a key the path ends in, named as serde named it, is left out.
        let unknown = e
            .message()
            .strip_prefix("unknown field ")
            .and_then(|rest| backticked(rest).into_iter().next());
        let ends_in_it = matches!(key.0.last(), Some(Seg::Key(k)) if Some(k) == unknown.as_ref());
        let next = (kind == ConfigErrorKind::UnknownKey && ends_in_it && errors.len() < MAX_ERRORS)
            .then(|| without_key(&current, &key))
            .flatten();
        errors.push(err(
            kind,
            at,
            (!key.0.is_empty()).then(|| key.to_string()),
            message,
        ));
        match next {
            Some(text) => current = text,
            None => break None,
        }
    };

    let converted = raw.map(|raw| {
        convert(raw).map_err(|issues| {
            issues
                .into_iter()
                .map(|issue| {
                    let span = locate(doc.as_item(), &issue.key, issue.target);
                    err(
                        issue.kind,
                        span.map(|s| s.start),
                        Some(issue.key.to_string()),
                        issue.message,
                    )
                })
                .collect::<Vec<_>>()
        })
    });
    match converted {
        Some(Ok((mut config, warnings))) if errors.is_empty() => {
            config.path = Some(path.to_path_buf());
            config.warnings = warnings;
            Ok(config)
        }
        Some(Err(more)) => {
            errors.extend(more);
            Err(all_in_one(errors))
        }
        _ => Err(all_in_one(errors)),
    }
}

/// At most this many problems are said about one file.
const MAX_ERRORS: usize = 50;

/// The problems as one error, in the order found (what serde refused,
/// then the checks). A key missing from a table that has an unknown key is
/// most likely that key misspelt: it is not said twice.
fn all_in_one(errors: Vec<ConfigError>) -> ConfigError {
    let parent = |k: &str| k.rfind(['.', '[']).map(|i| k[..i].to_string());
    let typo_tables: Vec<String> = errors
        .iter()
        .filter(|e| e.kind == ConfigErrorKind::UnknownKey)
        .filter_map(|e| e.key.as_deref().and_then(parent))
        .collect();
    let mut errors = errors.into_iter().filter(|e| {
        let Some(key) = e.key.as_deref() else {
            return true;
        };
        e.kind != ConfigErrorKind::MissingKey
            || !typo_tables
                .iter()
                .any(|t| t == key || parent(key).as_deref() == Some(t))
    });
    let Some(mut first) = errors.next() else {
        return ConfigError {
            file: PathBuf::new(),
            location: None,
            key: None,
            kind: ConfigErrorKind::InvalidValue,
            message: "invalid config".into(),
            also: Box::default(),
        };
    };
    first.also = errors.collect();
    first
}

/// `text` without the key at `path` (to read on past an unknown key);
/// `None` when it cannot be found.
fn without_key(text: &str, path: &KeyPath) -> Option<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().ok()?;
    let (last, parents) = path.0.split_last()?;
    let Seg::Key(last) = last else {
        return None;
    };
    let mut item: &mut Item = doc.as_item_mut();
    for seg in parents {
        item = match seg {
            Seg::Key(k) => item.get_mut(k.as_str())?,
            Seg::Index(i) => item.get_mut(*i)?,
        };
    }
    let removed = match item {
        Item::Table(t) => t.remove(last),
        Item::Value(toml_edit::Value::InlineTable(t)) => t.remove(last).map(Item::Value),
        _ => None,
    };
    removed.map(|_| doc.to_string())
}

// ---------------------------------------------------------------------------
// Serde error messages
// ---------------------------------------------------------------------------

/// The first line of a toml_edit syntax message, with a hint for the
/// common mistakes.
fn syntax_hint(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    let rest: Vec<&str> = lines.collect();
    let hint = match first {
        "invalid basic string" | "invalid literal string" => " (is a closing quote missing?)",
        "invalid table header" | "invalid array of tables header" => {
            " (headers look like [cloud] or [[clusters]])"
        }
        "invalid key" | "expected `.`, `=`" | "invalid key-value pair" => {
            " (lines look like key = value; strings need quotes)"
        }
        "invalid string" => " (strings need quotes)",
        _ => "",
    };
    // A duplicate header is not a malformed one.
    let hint = if rest.iter().any(|l| l.starts_with("duplicate")) {
        " (each [table] may appear once; use [[...]] for repeated entries)"
    } else {
        hint
    };
    if rest.is_empty() {
        format!("{first}{hint}")
    } else {
        format!("{first}, {}{hint}", rest.join(", "))
    }
}

/// Rewrites a serde/toml message for an operator: unknown keys get a
/// suggestion, and string values are never echoed (they could be secrets).
/// Also returns the name of a missing key.
fn humanize_serde_error(message: &str) -> (ConfigErrorKind, String, Option<String>) {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let names = backticked(rest);
        let Some((unknown, valid)) = names.split_first() else {
            return (ConfigErrorKind::UnknownKey, message.to_string(), None);
        };
        return (
            ConfigErrorKind::UnknownKey,
            unknown_key_message(unknown, valid),
            None,
        );
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let name = backticked(rest).into_iter().next().unwrap_or_default();
        return (
            ConfigErrorKind::MissingKey,
            format!("missing required key {name:?}"),
            Some(name),
        );
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        // "string \"…\", expected u64" → "expected a whole number, found a string"
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, "?"));
        let found_kind = found.split_whitespace().next().unwrap_or("value");
        return (
            ConfigErrorKind::InvalidValue,
            format!(
                "expected {}, found {}",
                describe_expected(expected),
                describe_found(found_kind)
            ),
            None,
        );
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, "?"));
        let found = if found.starts_with("string") {
            "a string"
        } else {
            found
        };
        return (
            ConfigErrorKind::InvalidValue,
            format!("expected {}, found {found}", describe_expected(expected)),
            None,
        );
    }
    (ConfigErrorKind::InvalidValue, message.to_string(), None)
}

fn describe_expected(expected: &str) -> String {
    match expected.trim() {
        "u64" | "u32" | "usize" => "a whole number (0 or more)".to_string(),
        "a boolean" => "true or false".to_string(),
        "a sequence" => "an array (one [[double-bracket]] table per entry, or [...])".to_string(),
        "a string" | "path string" => "a quoted string".to_string(),
        other if other.starts_with("struct ") => "a table".to_string(),
        other => other.to_string(),
    }
}

fn describe_found(kind: &str) -> &'static str {
    match kind {
        "string" => "a string",
        "integer" => "an integer",
        "floating" => "a floating point number",
        "boolean" => "a boolean",
        "sequence" => "an array",
        "map" => "a table",
        _ => "another type",
    }
}

/// The names between backticks, in order.
fn backticked(s: &str) -> Vec<String> {
    s.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, w)| w.to_string())
        .collect()
}

fn unknown_key_message(unknown: &str, valid: &[String]) -> String {
    let lower = unknown.to_ascii_lowercase();
    if lower.contains("secret") || lower.contains("token") || lower.contains("password") {
        return format!(
            "unknown key {unknown:?}: vipdeck never reads credentials from its config file; \
             use TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, ~/.tencentcloud/credentials, \
             a tccli profile ([cloud] profile) or the CVM role, and remove this key"
        );
    }
    match closest_key(unknown, valid) {
        Some(best) => format!("unknown key {unknown:?} (did you mean {best:?}?)"),
        None if valid.is_empty() => format!("unknown key {unknown:?}"),
        None => format!(
            "unknown key {unknown:?} (valid keys here: {})",
            valid.join(", ")
        ),
    }
}

/// The valid key an unknown key most likely meant: a small edit distance,
/// or a valid key the unknown one starts with (`ssh_host` → `ssh`).
fn closest_key<'a>(unknown: &str, valid: &'a [String]) -> Option<&'a str> {
    let u = unknown.to_ascii_lowercase().replace('-', "_");
    let by_distance = valid
        .iter()
        .map(|v| (levenshtein(&u, v), v))
        .filter(|(d, v)| *d <= (v.chars().count() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v.as_str());
    by_distance.or_else(|| {
        valid
            .iter()
            .filter(|v| u.starts_with(&format!("{v}_")) || v.starts_with(&format!("{u}_")))
            .max_by_key(|v| v.len())
            .map(String::as_str)
    })
}

// ---------------------------------------------------------------------------
// Spans, key paths and line:column
// ---------------------------------------------------------------------------

/// The 1-based line and column (in characters) of a byte offset; offsets
/// past the end point just after the last character.
pub(crate) fn line_col(text: &str, offset: usize) -> Location {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Location { line, column }
}

/// A node of the parsed document, whichever container it sits in.
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Value(&'a Value),
    Table(&'a toml_edit::Table),
}

impl<'a> Node<'a> {
    fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Value(v) => v.span(),
            Node::Table(t) => t.span(),
        }
    }

    fn table_like(self) -> Option<&'a dyn TableLike> {
        match self {
            Node::Item(i) => i.as_table_like(),
            Node::Value(v) => v.as_inline_table().map(|t| t as &dyn TableLike),
            Node::Table(t) => Some(t as &dyn TableLike),
        }
    }

    /// Children with their path segment and key span (none for elements).
    fn children(self) -> Vec<(Seg, Option<Range<usize>>, Node<'a>)> {
        if let Some(t) = self.table_like() {
            return t
                .iter()
                .filter_map(|(k, _)| t.get_key_value(k))
                .map(|(key, item)| {
                    (
                        Seg::Key(key.get().to_string()),
                        key.span(),
                        Node::Item(item),
                    )
                })
                .collect();
        }
        let array = match self {
            Node::Item(Item::ArrayOfTables(a)) => {
                return a
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (Seg::Index(i), None, Node::Table(t)))
                    .collect()
            }
            Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => a,
            _ => return Vec::new(),
        };
        array
            .iter()
            .enumerate()
            .map(|(i, v)| (Seg::Index(i), None, Node::Value(v)))
            .collect()
    }
}

fn contains(span: &Option<Range<usize>>, offset: usize) -> bool {
    span.as_ref()
        .is_some_and(|s| s.contains(&offset) || (s.is_empty() && s.start == offset))
}

/// The deepest key path whose key or value covers `offset`.
fn path_at(root: &Item, offset: usize) -> Option<KeyPath> {
    fn search(node: Node<'_>, offset: usize, path: &KeyPath) -> Option<KeyPath> {
        for (seg, key_span, child) in node.children() {
            let mut p = path.clone();
            p.0.push(seg);
            // Deeper first: a table's span may cover its whole body.
            if let Some(found) = search(child, offset, &p) {
                return Some(found);
            }
            if contains(&key_span, offset) || contains(&child.span(), offset) {
                return Some(p);
            }
        }
        None
    }
    search(Node::Item(root), offset, &KeyPath::default())
}

/// The span of a key path: the key or the value, falling back to the
/// deepest part of the path that exists.
fn locate(root: &Item, path: &KeyPath, target: Target) -> Option<Range<usize>> {
    let mut node = Node::Item(root);
    let mut best: Option<Range<usize>> = None;
    for (i, seg) in path.0.iter().enumerate() {
        let last = i + 1 == path.0.len();
        let Some((key_span, child)) = node
            .children()
            .into_iter()
            .find(|(s, _, _)| s == seg)
            .map(|(_, k, c)| (k, c))
        else {
            return best;
        };
        let value_span = child.span();
        if last {
            return match target {
                Target::Key => key_span.or(value_span).or(best),
                Target::Value => value_span.or(key_span).or(best),
            };
        }
        best = value_span.or(key_span).or(best);
        node = child;
    }
    best
}

/// For syntax errors (no document to walk): the key path of the enclosing
/// `[table]`/`[[array]]` header and the key on the error's line, from a
/// line scan. Best effort; quoted keys are taken literally.
fn syntax_context(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let error_line = line_col(text, offset).line;
    // Count [[array]] headers to know each array's current index.
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut header: Option<String> = None;
    let mut line_key: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line_no > error_line {
            break;
        }
        let t = line.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim_matches(|c: char| c == ']' || c.is_whitespace());
            let name = name.to_string();
            if line_no < error_line {
                counts.retain(|k, _| !k.starts_with(&format!("{name}.")));
                *counts.entry(name.clone()).or_insert(0) += 1;
            }
            header = Some(name);
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            header = Some(name.trim().to_string());
        } else if line_no == error_line {
            // The bare key at the start of the line, if any.
            let key: String = t
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "_-.".contains(*c))
                .collect();
            let after = t[key.len()..].trim_start();
            if !key.is_empty()
                && (after.is_empty() || after.starts_with('=') || after.starts_with('"'))
            {
                line_key = Some(key);
            }
        }
    }
    let mut path = String::new();
    if let Some(h) = header {
        let mut prefix = String::new();
        for part in h.split('.') {
            if !prefix.is_empty() {
                prefix.push('.');
                path.push('.');
            }
            prefix.push_str(part.trim());
            path.push_str(part.trim());
            if let Some(n) = counts.get(&prefix) {
                path.push_str(&format!("[{}]", n.saturating_sub(1)));
            }
        }
    }
    if let Some(k) = line_key {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&k);
    }
    (!path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_characters() {
        let text = "ab\ncd\n中文x\n";
        assert_eq!(line_col(text, 0), Location { line: 1, column: 1 });
        assert_eq!(line_col(text, 1), Location { line: 1, column: 2 });
        // The newline itself is the last column of its line.
        assert_eq!(line_col(text, 2), Location { line: 1, column: 3 });
        assert_eq!(line_col(text, 3), Location { line: 2, column: 1 });
        // "x" follows two 3-byte characters: byte 12, column 3.
        assert_eq!(line_col(text, 12), Location { line: 3, column: 3 });
        // Inside a multi-byte character: the character's own column.
        assert_eq!(line_col(text, 7), Location { line: 3, column: 1 });
        // Past the end: after the final newline.
        assert_eq!(line_col(text, 999), Location { line: 4, column: 1 });
        assert_eq!(line_col("", 5), Location { line: 1, column: 1 });
    }

    #[test]
    fn closest_key_prefers_small_edits_then_prefixes() {
        let valid: Vec<String> = ["name", "ssh", "local", "interface", "state_file"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest_key("nmae", &valid), Some("name"));
        assert_eq!(closest_key("ssh_host", &valid), Some("ssh"));
        assert_eq!(closest_key("statefile", &valid), Some("state_file"));
        assert_eq!(closest_key("Interface", &valid), Some("interface"));
        assert_eq!(closest_key("priority", &valid), None);
    }

    #[test]
    fn syntax_context_counts_array_headers() {
        let text = "[[clusters]]\n[[clusters.peers]]\n[[clusters.peers]]\n[[clusters]]\n\
                    [[clusters.peers]]\nbad line\n";
        let offset = text.find("bad").unwrap_or_default();
        assert_eq!(
            syntax_context(text, offset).as_deref(),
            Some("clusters[1].peers[0]")
        );
        assert_eq!(
            syntax_context("[cloud]\nregion = \n", 17).as_deref(),
            Some("cloud.region")
        );
    }

    #[test]
    fn secret_warning_needs_both_a_secret_and_loose_mode() {
        let path = Path::new("/x/config.toml");
        let text = "[cloud]\n# SecretKey = \"abc123\"\n";
        assert!(secret_warning(text, 0o600, path).is_none());
        assert!(secret_warning("[cloud]\n", 0o644, path).is_none());
        let w = secret_warning(text, 0o100644, path).expect("warning");
        assert!(w.starts_with("/x/config.toml:2:"), "{w}");
        assert!(w.contains("mode 644"), "{w}");
        assert!(!w.contains("abc123"), "{w}");
        // Naming the variable is not holding a secret.
        let named = "# from TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, ~/.tencentcloud\n";
        assert!(secret_warning(named, 0o644, path).is_none());
        for held in [
            "secret_key = \"x\"",
            "\"SecretKey\": \"x\"",
            "TENCENTCLOUD_SECRET_KEY=x",
        ] {
            assert!(secret_warning(held, 0o644, path).is_some(), "{held}");
        }
    }

    #[test]
    fn env_override_ignores_empty_values() {
        assert_eq!(env_override(None), None);
        assert_eq!(env_override(Some(OsString::new())), None);
        assert_eq!(
            env_override(Some(OsString::from("/tmp/v.toml"))),
            Some(PathBuf::from("/tmp/v.toml"))
        );
    }
}
