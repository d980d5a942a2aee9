//! Styles by meaning. Widgets ask `theme.verdict(v)` or `theme.state(s)`,
//! never for a colour; modifiers (bold, reverse) carry severity and
//! selection so they survive a monochrome theme.

use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};

use crate::core::model::{LogKind, Severity, Verdict, VrrpState};
use crate::faces::theme::ThemeSpec;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub name: String,
    c: std::collections::BTreeMap<String, Color>,
}

impl TryFrom<&ThemeSpec> for Theme {
    type Error = String;

    fn try_from(spec: &ThemeSpec) -> Result<Self, String> {
        let mut c = std::collections::BTreeMap::new();
        for (k, v) in &spec.colors {
            let color = Color::from_str(v)
                .map_err(|_| format!("theme `{}`: `{k}` = {v:?} is not a colour", spec.name))?;
            c.insert(k.clone(), color);
        }
        Ok(Theme {
            name: spec.name.clone(),
            c,
        })
    }
}

impl Theme {
    fn fg(&self, key: &str) -> Style {
        Style::default().fg(self.c.get(key).copied().unwrap_or(Color::Reset))
    }

    pub fn text(&self) -> Style {
        self.fg("text_fg")
    }

    pub(crate) fn dim(&self) -> Style {
        self.fg("dim_fg")
    }

    pub(crate) fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg("focus_border_fg").add_modifier(Modifier::BOLD)
        } else {
            self.fg("border_fg")
        }
    }

    pub(crate) fn title(&self) -> Style {
        self.fg("title_fg").add_modifier(Modifier::BOLD)
    }

    pub fn key(&self) -> Style {
        self.fg("key_fg").add_modifier(Modifier::BOLD)
    }

    /// The selected row: reverse video on top of the colours, so it shows
    /// without colour too.
    pub(crate) fn selection(&self) -> Style {
        let bg = self.c.get("selection_bg").copied().unwrap_or(Color::Reset);
        let fg = self.c.get("selection_fg").copied().unwrap_or(Color::Reset);
        if bg == Color::Reset {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::default().fg(fg).bg(bg).add_modifier(Modifier::BOLD)
        }
    }

    pub fn verdict(&self, v: Verdict) -> Style {
        let key = match v {
            Verdict::Healthy => "healthy_fg",
            Verdict::Degraded => "degraded_fg",
            Verdict::Unknown => "unknown_fg",
            Verdict::VipDrift | Verdict::NoMaster | Verdict::SplitBrain => "critical_fg",
        };
        let s = self.fg(key);
        if v == Verdict::Healthy {
            s
        } else {
            s.add_modifier(Modifier::BOLD)
        }
    }

    /// The verdict banner: reverse video in the verdict's colour.
    pub(crate) fn banner(&self, v: Verdict) -> Style {
        self.verdict(v)
            .add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    pub fn state(&self, s: VrrpState) -> Style {
        match s {
            VrrpState::Master => self.fg("master_fg").add_modifier(Modifier::BOLD),
            VrrpState::Backup => self.fg("backup_fg"),
            VrrpState::Fault => self.fg("fault_fg").add_modifier(Modifier::BOLD),
            VrrpState::Stop => self.fg("stop_fg"),
            VrrpState::Unknown => self.fg("unknown_fg"),
        }
    }

    pub fn stale(&self) -> Style {
        self.fg("stale_fg").add_modifier(Modifier::ITALIC)
    }

    pub fn peer(&self, i: usize) -> Style {
        self.fg(if i == 0 { "peer_a_fg" } else { "peer_b_fg" })
    }

    pub fn severity(&self, s: Severity) -> Style {
        match s {
            Severity::Critical => self.fg("alert_critical_fg").add_modifier(Modifier::BOLD),
            Severity::Warning => self.fg("alert_warning_fg"),
            Severity::Info => self.fg("alert_info_fg"),
        }
    }

    pub(crate) fn log(&self, kind: LogKind) -> Style {
        match kind {
            LogKind::Transition => self.fg("log_transition_fg").add_modifier(Modifier::BOLD),
            LogKind::Error => self.fg("log_error_fg"),
            LogKind::VipMigration => self.fg("log_migration_fg"),
            LogKind::Garp => self.fg("log_garp_fg"),
            LogKind::Script | LogKind::Other => self.text(),
        }
    }
}

/// A symbol per verdict, so severity reads without colour.
pub(crate) fn verdict_symbol(v: Verdict) -> &'static str {
    match v {
        Verdict::Healthy => "✔",
        Verdict::Degraded => "▲",
        Verdict::Unknown => "?",
        Verdict::VipDrift | Verdict::NoMaster | Verdict::SplitBrain => "✖",
    }
}

pub(crate) fn severity_symbol(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "✖",
        Severity::Warning => "▲",
        Severity::Info => "·",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_converts() {
        for (name, _) in crate::faces::theme::BUILTIN {
            let spec = crate::faces::theme::load(name, None).expect("loads");
            Theme::try_from(&spec).expect("valid colours");
        }
    }

    #[test]
    fn a_bad_colour_is_named() {
        let mut spec = crate::faces::theme::default_theme();
        spec.colors.insert("critical_fg".into(), "reddish".into());
        let err = Theme::try_from(&spec).expect_err("bad colour");
        assert!(
            err.contains("critical_fg") && err.contains("reddish"),
            "{err}"
        );
    }
}
