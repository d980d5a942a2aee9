//! Getting set up: `vipdeck config check` (what a config would watch, and
//! what is wrong with it) and `vipdeck themes` (the built-in colour themes).

use std::path::PathBuf;

use super::out::{emit, emit_own, warn};

/// `vipdeck config check [PATH]`: 0 with the description and warnings, 1
/// with the reason the file is not valid.
pub fn config_check(path: Option<PathBuf>, global_config: Option<PathBuf>) -> anyhow::Result<u8> {
    let path = match path.or(global_config) {
        Some(p) => p,
        None => crate::core::config::default_path()
            .ok_or_else(|| anyhow::anyhow!("no config directory; pass a PATH"))?,
    };
    let config = match crate::core::config::load(&path).and_then(|c| c.validate().map(|_| c)) {
        Ok(c) => c,
        Err(e) => {
            warn(&e.to_string());
            return Ok(1);
        }
    };
    let mut text = crate::faces::onboard::describe_config(&config);
    for w in config
        .warnings
        .iter()
        .chain(&crate::faces::onboard::config_lints(&config))
    {
        text.push_str(&format!("warning: {w}\n"));
    }
    emit(&text)?;
    Ok(0)
}

/// `vipdeck themes [--names]`: each built-in theme's name, or a preview
/// (in its colours on a terminal).
pub fn themes(names: bool) -> anyhow::Result<u8> {
    use std::io::IsTerminal;
    let ansi = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    for (name, _) in crate::faces::theme::BUILTIN {
        if names {
            println!("{name}");
            continue;
        }
        let spec = crate::faces::theme::load(name, None).map_err(anyhow::Error::msg)?;
        let theme = crate::faces::tui::theme::Theme::try_from(&spec).map_err(anyhow::Error::msg)?;
        // A built-in theme's own colours: vipdeck's text, nothing quoted.
        emit_own(&format!(
            "{}\n",
            crate::faces::onboard::theme_preview(&theme, ansi)
        ))?;
    }
    Ok(0)
}
