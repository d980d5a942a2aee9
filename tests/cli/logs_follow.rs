//! Following a log file the way the monitor does (`tail -F` through the
//! transport's follower, here on this machine): lines survive logrotate's
//! rename-and-recreate, a truncation (`copytruncate`), and a file that does
//! not exist yet. Each line then goes through the parser into the store.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;

use vipdeck::core::logs::{parse_stream, Filter, LogStore};
use vipdeck::core::model::{LogSource, VrrpState};
use vipdeck::sources::transport::{follow, quote, FollowEvent, Target};

fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    writeln!(f, "{line}").expect("append");
}

fn tail(path: &Path) -> mpsc::Receiver<FollowEvent> {
    let cmd = format!(
        "exec tail -n 0 -F -- {} 2>/dev/null",
        quote(&path.display().to_string())
    );
    follow(Target::Local, cmd)
}

/// Waits for a line equal to `want`, returning every line seen on the way.
async fn until(rx: &mut mpsc::Receiver<FollowEvent>, want: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(FollowEvent::Line(l))) => {
                let l = String::from_utf8_lossy(&l).into_owned();
                let done = l == want;
                seen.push(l);
                if done {
                    return seen;
                }
            }
            Ok(Some(FollowEvent::Down(_))) => {}
            Ok(None) => panic!("the follower stopped; saw {seen:?}"),
            Err(_) => panic!("no `{want}` within 20 s; saw {seen:?}"),
        }
    }
}

/// tail needs a moment to open the file: write probes until one shows.
async fn started(rx: &mut mpsc::Receiver<FollowEvent>, path: &Path) {
    for i in 0..100 {
        append(path, &format!("probe {i}"));
        if let Ok(Some(FollowEvent::Line(_))) =
            tokio::time::timeout(Duration::from_millis(200), rx.recv()).await
        {
            return;
        }
    }
    panic!("tail never started on {}", path.display());
}

#[tokio::test]
async fn rotation_and_truncation_are_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("keepalived.log");
    append(
        &log,
        "[2026-11-21 22:40:00]  old line, before vipdeck looked",
    );
    let mut rx = tail(&log);
    started(&mut rx, &log).await;

    let mut got = Vec::new();
    append(&log, "[2026-11-21 22:44:01]  notify_backup");
    got.extend(until(&mut rx, "[2026-11-21 22:44:01]  notify_backup").await);

    // logrotate: rename, then a new file at the old name.
    std::fs::rename(&log, dir.path().join("keepalived.log.1")).expect("rotate");
    append(&log, "[2026-11-21 22:44:05]  notify_master");
    got.extend(until(&mut rx, "[2026-11-21 22:44:05]  notify_master").await);

    // copytruncate: the same file cut to nothing, then written again.
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .expect("truncate");
    // Give tail a look at the empty file, so the new line is past its size.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    append(&log, "[2026-11-21 22:44:09]  notify_fault");
    got.extend(until(&mut rx, "[2026-11-21 22:44:09]  notify_fault").await);

    let lines: Vec<&String> = got.iter().filter(|l| !l.starts_with("probe")).collect();
    assert_eq!(
        lines,
        [
            "[2026-11-21 22:44:01]  notify_backup",
            "[2026-11-21 22:44:05]  notify_master",
            "[2026-11-21 22:44:09]  notify_fault"
        ],
        "each line once, in order, none of the backlog (-n 0): {got:?}"
    );

    // Into the store, as the monitor would send them.
    let raw = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    let mut store = LogStore::default();
    let offset = chrono::FixedOffset::east_opt(0).expect("offset");
    for l in parse_stream(raw.as_bytes(), 0, LogSource::Script, offset, Utc::now()) {
        store.push(0, l);
    }
    let states: Vec<VrrpState> = store
        .merged(0, &Filter::default())
        .iter()
        .filter_map(|r| store.get(0, *r).and_then(|e| e.state))
        .collect();
    assert_eq!(
        states,
        [VrrpState::Backup, VrrpState::Master, VrrpState::Fault]
    );
}

#[tokio::test]
async fn a_file_that_does_not_exist_yet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("later.log");
    let mut rx = tail(&log);
    // tail -F waits for it; nothing arrives meanwhile.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), rx.recv())
            .await
            .is_err(),
        "no lines from a missing file"
    );
    std::fs::write(&log, "").expect("create");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    append(&log, "[2026-11-21 22:44:01]  notify_master");
    let seen = until(&mut rx, "[2026-11-21 22:44:01]  notify_master").await;
    assert_eq!(seen.len(), 1, "{seen:?}");
}
