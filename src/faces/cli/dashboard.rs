//! The dashboard, from the config, a collector (`--attach`) or the demo:
//! the sources, the theme and the TUI's own log file.

use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;

use super::args::Global;
use super::{attached, load_config};
use crate::core::config::{Config, UiConfig};
use crate::core::model::Snapshot;
use crate::sources::monitor::{self, Sources};

/// `vipdeck` with no command: the dashboard on the config's clusters, or
/// on a collector's with `--attach`.
pub async fn watch(global: &Global) -> anyhow::Result<u8> {
    if global.attach.is_some() {
        let sources = attached(global).await?;
        // Failover still runs from this machine, with its own config.
        let config = load_config(global).ok();
        let ui = config.as_ref().map(|c| c.ui.clone()).unwrap_or_default();
        let config = config.map(std::sync::Arc::new);
        dashboard(global, &ui, sources, false, config, None).await?;
        return Ok(0);
    }
    let config = load_config(global)?;
    let sources = monitor::start_config(&config);
    let reread = Global {
        config: global.config.clone(),
        theme: global.theme.clone(),
        read_only: global.read_only,
        attach: None,
        token_file: None,
    };
    // `R` and SIGHUP read the config again and restart the sources.
    let reload: crate::faces::tui::Reload = Box::new(move || {
        let config = load_config(&reread)?;
        let sources = monitor::start_config(&config);
        Ok((sources, Some(std::sync::Arc::new(config))))
    });
    let ui = config.ui.clone();
    let config = Some(std::sync::Arc::new(config));
    dashboard(global, &ui, sources, false, config, Some(reload)).await?;
    Ok(0)
}

/// `vipdeck demo`: the dashboard on simulated clusters.
pub async fn demo(global: &Global, clusters: u16) -> anyhow::Result<u8> {
    let sources = monitor::start_demo(clusters.into());
    let ui = UiConfig::default();
    dashboard(global, &ui, sources, true, None, None).await?;
    Ok(0)
}

async fn dashboard(
    global: &Global,
    ui: &UiConfig,
    sources: Sources,
    demo: bool,
    config: Option<std::sync::Arc<Config>>,
    reload: Option<crate::faces::tui::Reload>,
) -> anyhow::Result<()> {
    let log_path = init_tracing();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let theme_name =
        crate::faces::theme::choose(global.theme.as_deref(), ui.theme.as_deref(), no_color);
    let user_themes =
        directories::ProjectDirs::from("", "", "vipdeck").map(|d| d.config_dir().join("themes"));
    let spec = crate::faces::theme::load(&theme_name, user_themes.as_deref())
        .map_err(anyhow::Error::msg)?;
    let theme = crate::faces::tui::theme::Theme::try_from(&spec).map_err(anyhow::Error::msg)?;
    let mut app = crate::faces::tui::app::App::new(
        Snapshot::new(sources.specs.clone()),
        sources.thresholds.clone(),
        theme,
        Utc::now(),
    );
    app.demo = demo;
    // An acknowledged failure stays acknowledged when the dashboard opens again.
    let audit = app.audit_path();
    crate::failover::audit::seed_acknowledgements(&mut app.snapshot, audit.as_deref());
    app.config = config;
    app.read_only = global.read_only || ui.read_only;
    app.source_label = sources.label.clone();
    app.utc_offset = *chrono::Local::now().offset();
    app.log_path = log_path.as_ref().map(|p| p.display().to_string());
    app.logs = crate::core::logs::LogStore::new(ui.log_lines);
    tracing::info!(clusters = sources.specs.len(), demo, "dashboard starting");
    crate::faces::tui::run(app, sources, reload, ui.tick())
        .await
        .context("the dashboard failed")
}

/// Logs go to a file in the data dir, never to the terminal the UI owns.
fn init_tracing() -> Option<PathBuf> {
    let dir = crate::core::config::data_dir()?;
    let path = dir.join("vipdeck.log");
    let file = open_own_log(&path).ok()?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIPDECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .ok()?;
    Some(path)
}

/// The dashboard's own log, opened to append: its directory created 0700,
/// the file 0600 (an older, looser one narrowed), never through a symbolic
/// link, and only a regular file of this user's: the log names peers and
/// errors, and another user who planted the path must not read or redirect
/// it. When this fails the dashboard runs without its log.
fn open_own_log(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let md = file.metadata()?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if !md.is_file() || md.uid() != me {
        return Err(std::io::Error::other("not a regular file of this user's"));
    }
    if md.mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::open_own_log;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_dashboard_log_is_private_and_never_followed() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("data/vipdeck.log");
        drop(open_own_log(&path).expect("created"));
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).expect("md").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&tmp.path().join("data")), 0o700);
        // An older, looser log is narrowed.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        drop(open_own_log(&path).expect("reopened"));
        assert_eq!(mode(&path), 0o600);
        // A symbolic link planted at the path is refused, its target untouched.
        let target = tmp.path().join("elsewhere");
        std::fs::write(&target, "").expect("target");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let link = tmp.path().join("data/link.log");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert!(open_own_log(&link).is_err());
        assert_eq!(mode(&target), 0o644);
        // A FIFO is refused without hanging.
        let fifo = tmp.path().join("data/fifo.log");
        let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(open_own_log(&fifo).is_err());
    }
}
