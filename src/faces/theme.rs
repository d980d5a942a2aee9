//! Colour themes as data: `themes/*.toml` built into the binary, a user file
//! of the same name in `<config dir>/themes/` wins, and every theme is laid
//! over the default so a file may set only the keys it changes. Free of UI
//! types; `tui::theme` turns a [`ThemeSpec`] into styles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every style key, in the order the docs list them.
pub const KEYS: &[(&str, &str)] = &[
    ("text_fg", "ordinary text"),
    ("dim_fg", "secondary text: labels, ages"),
    ("border_fg", "pane borders"),
    ("focus_border_fg", "the border of the selected peer"),
    ("title_fg", "pane titles and the title bar"),
    ("selection_fg", "the selected row's text"),
    ("selection_bg", "the selected row's background"),
    ("healthy_fg", "verdict healthy"),
    ("degraded_fg", "verdict degraded"),
    ("unknown_fg", "verdict unknown"),
    ("critical_fg", "verdicts vip_drift, split_brain, no_master"),
    ("master_fg", "VRRP state MASTER"),
    ("backup_fg", "VRRP state BACKUP"),
    ("fault_fg", "VRRP state FAULT"),
    ("stop_fg", "VRRP state STOP and keepalived down"),
    ("stale_fg", "facts older than the stale threshold"),
    ("peer_a_fg", "the first peer's name and log lines"),
    ("peer_b_fg", "the second peer's name and log lines"),
    ("alert_critical_fg", "critical alerts"),
    ("alert_warning_fg", "warnings"),
    ("alert_info_fg", "informational alerts"),
    ("log_transition_fg", "VRRP transitions in logs"),
    ("log_error_fg", "errors in logs"),
    ("log_migration_fg", "vip.py migration lines"),
    ("log_garp_fg", "gratuitous ARP lines"),
    ("key_fg", "key names in the footer and help"),
];

/// The themes shipped in the binary.
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("monochrome", include_str!("../../themes/monochrome.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("solarized", include_str!("../../themes/solarized.toml")),
];

/// A resolved theme: every key of [`KEYS`] mapped to a colour string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThemeSpec {
    pub name: String,
    pub(crate) colors: BTreeMap<String, String>,
}

/// Parses one theme file's text and lays it over `base`.
pub(crate) fn overlay(
    base: &ThemeSpec,
    name: &str,
    text: &str,
    origin: &str,
) -> Result<ThemeSpec, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("{origin}: {}", e.message()))?;
    let mut spec = base.clone();
    spec.name = name.to_string();
    for (key, value) in table {
        if !KEYS.iter().any(|(k, _)| *k == key) {
            return Err(format!("{origin}: unknown theme key `{key}`"));
        }
        let Some(v) = value.as_str() else {
            return Err(format!(
                "{origin}: `{key}` must be a string such as \"red\" or \"#rrggbb\""
            ));
        };
        spec.colors.insert(key, v.to_string());
    }
    Ok(spec)
}

fn builtin_text(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The default theme, complete.
pub fn default_theme() -> ThemeSpec {
    let empty = ThemeSpec {
        name: "default".into(),
        colors: BTreeMap::new(),
    };
    // The built-in default is tested to parse and to set every key.
    overlay(
        &empty,
        "default",
        builtin_text("default").unwrap_or(""),
        "themes/default.toml",
    )
    .unwrap_or(empty)
}

/// Finds theme `name`: `<user_dir>/NAME.toml` first, then the built-ins.
pub fn load(name: &str, user_dir: Option<&Path>) -> Result<ThemeSpec, String> {
    let base = default_theme();
    if let Some(dir) = user_dir {
        let path: PathBuf = dir.join(format!("{name}.toml"));
        if let Ok(text) = std::fs::read_to_string(&path) {
            return overlay(&base, name, &text, &path.display().to_string());
        }
    }
    match builtin_text(name) {
        Some(text) => overlay(&base, name, text, &format!("themes/{name}.toml")),
        None => Err(format!(
            "no theme named `{name}` (built in: {}; user themes go in {})",
            BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
            user_dir
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "<config dir>/themes".into())
        )),
    }
}

/// Which theme to use: an explicit choice wins, then `NO_COLOR`, then the
/// config's, then the default.
pub fn choose(explicit: Option<&str>, configured: Option<&str>, no_color: bool) -> String {
    match (explicit, no_color, configured) {
        (Some(n), _, _) => n.to_string(),
        (None, true, _) => "monochrome".into(),
        (None, false, Some(n)) => n.to_string(),
        (None, false, None) => "default".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_sets_every_key_and_nothing_else() {
        for (name, text) in BUILTIN {
            let table: toml::Table = text.parse().expect("builtin parses");
            for (k, _) in KEYS {
                assert!(table.contains_key(*k), "{name} lacks {k}");
            }
            assert_eq!(table.len(), KEYS.len(), "{name} has extra keys");
            let spec = load(name, None).expect("loads");
            assert_eq!(spec.colors.len(), KEYS.len());
        }
    }

    #[test]
    fn user_theme_overrides_fields_over_the_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("mine.toml"), "critical_fg = \"#ff00ff\"\n").expect("write");
        let spec = load("mine", Some(dir.path())).expect("loads");
        assert_eq!(spec.colors["critical_fg"], "#ff00ff");
        assert_eq!(spec.colors["healthy_fg"], "green");
        // A user file with a built-in's name wins over the built-in.
        std::fs::write(dir.path().join("light.toml"), "healthy_fg = \"white\"\n").expect("write");
        assert_eq!(
            load("light", Some(dir.path())).expect("loads").colors["healthy_fg"],
            "white"
        );
    }

    #[test]
    fn bad_theme_files_name_the_file_and_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("bad.toml"), "helthy_fg = \"red\"\n").expect("write");
        let err = load("bad", Some(dir.path())).expect_err("unknown key");
        assert!(
            err.contains("bad.toml") && err.contains("helthy_fg"),
            "{err}"
        );
        let err = load("nope", None).expect_err("missing");
        assert!(
            err.contains("no theme named `nope`") && err.contains("monochrome"),
            "{err}"
        );
    }

    #[test]
    fn no_color_picks_monochrome_unless_a_theme_is_named() {
        assert_eq!(choose(None, Some("light"), true), "monochrome");
        assert_eq!(choose(Some("light"), None, true), "light");
        assert_eq!(choose(None, Some("light"), false), "light");
        assert_eq!(choose(None, None, false), "default");
    }
}

#[cfg(test)]
mod doc_tests {
    /// docs/themes.md lists every style key, and nothing that is not one.
    #[test]
    fn docs_list_every_key() {
        let doc = include_str!("../../docs/themes.md");
        for (k, _) in super::KEYS {
            assert!(
                doc.contains(&format!("| `{k}` |")),
                "docs/themes.md lacks {k}"
            );
        }
        let listed = doc.lines().filter(|l| l.starts_with("| `")).count();
        assert_eq!(listed, super::KEYS.len());
    }
}
