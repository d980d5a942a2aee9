//! Small faces for getting started: `vipdeck themes` (a preview of each
//! theme) and `vipdeck config check` (what a config file would watch).
//! Pure text builders; main.rs prints them.

use ratatui::style::{Color, Modifier, Style};

use crate::core::config::{Config, PeerTarget};
use crate::core::model::{LogKind, Mode, Severity, Verdict, VrrpState};
use crate::faces::tui::theme::Theme;

/// The SGR parameters for a ratatui colour, as foreground or background.
fn sgr_color(c: Color, bg: bool) -> Option<String> {
    let base = |n: u8| Some(format!("{}", if bg { n + 10 } else { n }));
    match c {
        Color::Reset => None,
        Color::Black => base(30),
        Color::Red => base(31),
        Color::Green => base(32),
        Color::Yellow => base(33),
        Color::Blue => base(34),
        Color::Magenta => base(35),
        Color::Cyan => base(36),
        Color::Gray => base(37),
        Color::DarkGray => base(90),
        Color::LightRed => base(91),
        Color::LightGreen => base(92),
        Color::LightYellow => base(93),
        Color::LightBlue => base(94),
        Color::LightMagenta => base(95),
        Color::LightCyan => base(96),
        Color::White => base(97),
        Color::Rgb(r, g, b) => Some(format!("{};2;{r};{g};{b}", if bg { 48 } else { 38 })),
        Color::Indexed(i) => Some(format!("{};5;{i}", if bg { 48 } else { 38 })),
    }
}

/// `text` in `style` as ANSI escapes (or plain when `ansi` is false).
pub(crate) fn paint(text: &str, style: Style, ansi: bool) -> String {
    if !ansi {
        return text.to_string();
    }
    let mut codes = Vec::new();
    if style.add_modifier.contains(Modifier::BOLD) {
        codes.push("1".to_string());
    }
    if style.add_modifier.contains(Modifier::REVERSED) {
        codes.push("7".to_string());
    }
    codes.extend(style.fg.and_then(|c| sgr_color(c, false)));
    codes.extend(style.bg.and_then(|c| sgr_color(c, true)));
    if codes.is_empty() {
        return text.to_string();
    }
    format!("\x1b[{}m{text}\x1b[0m", codes.join(";"))
}

/// A few lines in `theme`'s styles: verdicts, VRRP states, peers, alerts,
/// log kinds, the selection and keys.
pub fn theme_preview(theme: &Theme, ansi: bool) -> String {
    let p = |t: &str, s: Style| paint(t, s, ansi);
    let mut out = String::new();
    out.push_str(&p(&theme.name, theme.title()));
    out.push('\n');
    let verdicts: Vec<String> = [
        Verdict::Healthy,
        Verdict::Degraded,
        Verdict::VipDrift,
        Verdict::SplitBrain,
        Verdict::Unknown,
    ]
    .iter()
    .map(|v| p(v.as_str(), theme.verdict(*v)))
    .collect();
    out.push_str(&format!("  verdicts  {}\n", verdicts.join("  ")));
    let states: Vec<String> = [
        VrrpState::Master,
        VrrpState::Backup,
        VrrpState::Fault,
        VrrpState::Stop,
    ]
    .iter()
    .map(|s| p(s.as_str(), theme.state(*s)))
    .collect();
    out.push_str(&format!(
        "  states    {}  {}\n",
        states.join("  "),
        p("stale 42s", theme.stale())
    ));
    out.push_str(&format!(
        "  peers     {}  {}  {}\n",
        p("web-01", theme.peer(0)),
        p("web-02", theme.peer(1)),
        p(" selected row ", theme.selection())
    ));
    out.push_str(&format!(
        "  alerts    {}  {}  {}\n",
        p("critical", theme.severity(Severity::Critical)),
        p("warning", theme.severity(Severity::Warning)),
        p("info", theme.severity(Severity::Info))
    ));
    out.push_str(&format!(
        "  logs      {}  {}  {}\n",
        p(
            "(VI_1) Entering MASTER STATE",
            theme.log(LogKind::Transition)
        ),
        p("set done", theme.log(LogKind::VipMigration)),
        p("set vip failed", theme.log(LogKind::Error))
    ));
    out.push_str(&format!(
        "  keys      {} {}  {} {}  {}\n",
        p("?", theme.key()),
        p("help", theme.dim()),
        p("q", theme.key()),
        p("quit", theme.dim()),
        p("ordinary text", theme.text())
    ));
    out
}

/// What `config` would watch, for `vipdeck config check`.
pub fn describe_config(c: &Config) -> String {
    let mut out = String::new();
    let file = c
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "<config>".into());
    let n = c.clusters.len();
    push_line(
        &mut out,
        &format!("{file}: OK, {n} cluster{}", if n == 1 { "" } else { "s" }),
    );
    push_line(
        &mut out,
        &format!(
            "cloud: region {}, endpoint {}, every {} ms; credentials from the environment, \
         ~/.tencentcloud/credentials, {}or the CVM role",
            c.cloud.region,
            c.cloud.endpoint,
            c.cloud.poll_interval_ms,
            c.cloud
                .profile
                .as_ref()
                .map(|p| format!("tccli profile {p}, "))
                .unwrap_or_else(|| "tccli, ".into())
        ),
    );
    push_line(
        &mut out,
        &format!(
            "ssh: {}",
            c.ssh
                .config_file
                .as_ref()
                .map(|p| format!("ssh -F {}", p.display()))
                .unwrap_or_else(|| "your ~/.ssh/config".into())
        ),
    );
    push_line(
        &mut out,
        &format!(
            "peers probed every {} ms; stale after {} ms (cloud: {} ms){}",
            c.monitor.poll_interval_ms,
            c.monitor.peer_stale_after_ms,
            c.monitor.cloud_stale_after_ms,
            if c.ui.read_only { "; read-only" } else { "" }
        ),
    );
    for cl in &c.clusters {
        let region = cl.effective_region(&c.cloud);
        let how = match (cl.mode, &cl.havip_id) {
            (Mode::Havip, Some(id)) => format!("HAVIP {id}"),
            (Mode::Havip, None) => format!("the HAVIP found by VIP {}", cl.vip),
            (Mode::Eni, _) => "the ENI holding the VIP".to_string(),
        };
        push_line(
            &mut out,
            &format!(
                "\ncluster {} ({} mode, VIP {}, region {region}): cloud binding from {how}",
                cl.name, cl.mode, cl.vip
            ),
        );
        for p in &cl.peers {
            let target = match &p.target {
                PeerTarget::Ssh(d) => format!("ssh {d}"),
                PeerTarget::Local => "this machine".to_string(),
            };
            let ids: Vec<&str> = [&p.network_interface_id, &p.instance_id]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            push_line(
                &mut out,
                &format!(
                    "  {} via {target}{}",
                    p.name,
                    if ids.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", ids.join(", "))
                    }
                ),
            );
            push_line(
                &mut out,
                &format!(
                    "    state {}, log {}, conf {}, VIP on {}",
                    p.state_file.display(),
                    p.log_file.display(),
                    p.keepalived_conf.display(),
                    p.interface
                ),
            );
            push_line(
                &mut out,
                &format!(
                    "    keepalived pid {}, dumps {} / {}, daemon log {}",
                    p.pid_file.display(),
                    p.json_dump.display(),
                    p.data_dump.display(),
                    p.daemon_log
                        .as_ref()
                        .map(|d| d.display().to_string())
                        .unwrap_or_else(|| "journalctl -u keepalived".into())
                ),
            );
        }
    }
    out
}

/// One line of `config check`'s description, and a blank line before it
/// when `text` starts with `\n`: a value from the file (a region, a path,
/// a name) with a newline or an escape in it is a placeholder, never a
/// forged line or a terminal command.
fn push_line(out: &mut String, text: &str) {
    let (blank, text) = match text.strip_prefix('\n') {
        Some(rest) => ("\n", rest),
        None => ("", text),
    };
    out.push_str(blank);
    out.push_str(&crate::core::sanitize::clean(text));
    out.push('\n');
}

/// Problems a parsed config can still have for watching (not errors:
/// vipdeck runs, but shows less).
pub fn config_lints(c: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for cl in &c.clusters {
        if cl.mode == Mode::Eni
            && cl
                .peers
                .iter()
                .all(|p| p.network_interface_id.is_none() && p.instance_id.is_none())
        {
            out.push(format!(
                "cluster {}: eni mode without network_interface_id or instance_id on either \
                 peer: the cloud binding cannot be matched to a peer (`vipdeck init` asks the \
                 cloud for them)",
                cl.name
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_value_in_the_file_can_forge_a_line_of_config_check() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("vipdeck.toml");
        std::fs::write(
            &path,
            "[cloud]\nregion = \"ap-guangzhou\\ncluster evil (havip mode): OK\\u001b[2J\"\n\
             [[clusters]]\nname = \"web\"\nmode = \"havip\"\nvip = \"10.0.0.10\"\n\
             [[clusters.peers]]\nname = \"a\"\nlocal = true\n\
             [[clusters.peers]]\nname = \"b\"\nssh = \"root@10.0.0.2\"\n",
        )
        .expect("write");
        let config = crate::core::config::load(&path).expect("a valid file");
        let text = describe_config(&config);
        assert!(!text.contains('\u{1b}'), "{text}");
        let clusters = text.lines().filter(|l| l.starts_with("cluster ")).count();
        assert_eq!(clusters, 1, "{text}");
        assert!(text.contains("ap-guangzhou␊cluster evil"), "{text}");
    }

    #[test]
    fn paint_uses_sgr_codes_only_when_asked() {
        let s = Style::default()
            .fg(Color::Red)
            .bg(Color::Rgb(1, 2, 3))
            .add_modifier(Modifier::BOLD);
        assert_eq!(paint("x", s, false), "x");
        assert_eq!(paint("x", s, true), "\x1b[1;31;48;2;1;2;3mx\x1b[0m");
        assert_eq!(paint("x", Style::default(), true), "x");
        assert_eq!(
            paint("x", Style::default().fg(Color::Indexed(208)), true),
            "\x1b[38;5;208mx\x1b[0m"
        );
    }
}
