//! The log screen driven headless through the App's actions, and drawn into
//! ratatui's TestBackend: the real keepalived 2.2.7 failover capture
//! (tests/fixtures/keepalived/real) as the two peers of a cluster.

use std::path::Path;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use vipdeck::core::logs::parse_stream;
use vipdeck::core::model::{LogKind, LogLine, LogSource, Snapshot, Update, VrrpState};
use vipdeck::core::verdict::Thresholds;
use vipdeck::faces::tui::app::{key_action, Action, App, Effect, Msg};
use vipdeck::faces::tui::logview::{self, LogAction};
use vipdeck::sources::simulator::spec_of;
use vipdeck::sources::simulator::world::{ClusterParams, SimCluster};

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keepalived")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0)
        .single()
        .expect("time")
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("offset")
}

/// A cluster named `web` with peers havip-01/havip-02, and the capture's
/// logs of node a and node b as theirs, arriving in the order a follower
/// would deliver them (each file in order, the two nodes interleaved).
fn app() -> App {
    let c = SimCluster::new(
        ClusterParams {
            name: "web",
            mode: vipdeck::core::model::Mode::Havip,
            vip: "192.0.2.12",
            peer_names: ["havip-01", "havip-02"],
            addresses: [[192, 0, 2, 5], [192, 0, 2, 6]],
            priorities: [100, 100],
            cloud_delay: std::time::Duration::from_secs(2),
        },
        t0(),
    );
    let theme =
        vipdeck::faces::tui::theme::Theme::try_from(&vipdeck::faces::theme::default_theme())
            .expect("theme");
    let mut app = App::new(
        Snapshot::new(vec![spec_of(&c)]),
        Thresholds::default(),
        theme,
        t0(),
    );
    app.utc_offset = utc();
    let mut streams: Vec<Vec<LogLine>> = Vec::new();
    for (peer, node) in [(0, "a"), (1, "b")] {
        streams.push(parse_stream(
            &fixture(&format!("real/messages-{node}.log")),
            peer,
            LogSource::Daemon,
            utc(),
            t0(),
        ));
        streams.push(parse_stream(
            &fixture(&format!("real/notify-{node}.log")),
            peer,
            LogSource::Script,
            utc(),
            t0(),
        ));
    }
    let mut iters: Vec<_> = streams.into_iter().map(Vec::into_iter).collect();
    loop {
        let mut any = false;
        for it in &mut iters {
            if let Some(line) = it.next() {
                any = true;
                app.apply(Update::Log { cluster: 0, line }, t0());
            }
        }
        if !any {
            break;
        }
    }
    app.refresh();
    app
}

fn draw(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    term.draw(|f| vipdeck::faces::tui::view::draw(f, app))
        .expect("draw");
    format!("{}", term.backend())
}

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn open(app: &mut App) {
    app.handle(Action::OpenLogs);
    assert!(app.log_view().is_some());
}

fn log(app: &mut App, a: LogAction) -> Option<Effect> {
    let e = app.handle_log(a);
    app.refresh();
    e
}

fn typed(app: &mut App, s: &str) {
    log(app, LogAction::StartSearch);
    for c in s.chars() {
        log(app, LogAction::SearchChar(c));
    }
}

/// The entry under the cursor.
fn current(app: &App) -> vipdeck::core::logs::Entry {
    let v = app.log_view().expect("open");
    let r = v.rows[v.cursor.expect("a current row")];
    app.logs.get(v.cluster, r).expect("held").clone()
}

#[test]
fn l_and_enter_open_the_logs_and_the_arrows_switch_peers() {
    assert_eq!(
        key_action(key(KeyCode::Char('l')), false),
        Some(Action::OpenLogs)
    );
    assert_eq!(
        key_action(key(KeyCode::Enter), true),
        Some(Action::OpenLogs)
    );
    assert_eq!(key_action(key(KeyCode::Tab), false), Some(Action::NextPeer));
    assert_eq!(
        key_action(key(KeyCode::Right), false),
        Some(Action::NextPeer)
    );
    assert_eq!(
        key_action(key(KeyCode::Left), false),
        Some(Action::PrevPeer)
    );
    assert_eq!(key_action(key(KeyCode::Char('h')), false), None);
    let help: Vec<&str> = vipdeck::faces::tui::app::KEYS
        .iter()
        .map(|b| b.label)
        .collect();
    assert!(help.contains(&"l / Enter"), "{help:?}");
    assert!(!help.iter().any(|k| k.contains(" h")), "{help:?}");
}

#[test]
fn following_the_merged_failover() {
    let mut app = app();
    open(&mut app);
    let text = draw(&app, 100, 24);
    assert!(text.contains("FOLLOW"), "{text}");
    assert!(
        !text.contains("Printing VRRP"),
        "dump lines are hidden: {text}"
    );
    // The newest lines are at the bottom: both peers stopping at the end.
    let last_body = text.lines().nth(22).unwrap_or_default();
    assert!(last_body.contains("Stopped Keepalived v2.2.7"), "{text}");
    insta::assert_snapshot!("follow_100x24", text);
}

#[test]
fn incremental_search_jumps_and_highlights() {
    let mut app = app();
    open(&mut app);
    typed(&mut app, "entering f");
    let e = current(&app);
    assert_eq!(e.state, Some(VrrpState::Fault));
    let v = app.log_view().expect("open");
    assert!(!v.follow, "a jump pauses following");
    assert_eq!(v.match_position(), Some((1, 1)));
    let text = draw(&app, 100, 24);
    assert!(text.contains("/entering f▏ 1/1"), "{text}");
    insta::assert_snapshot!("search_fault_100x24", text);

    // Enter keeps the pattern; n/N walk the matches of a wider one.
    log(&mut app, LogAction::SearchSubmit);
    log(&mut app, LogAction::Top);
    typed(&mut app, "Entering MASTER");
    log(&mut app, LogAction::SearchSubmit);
    let first = current(&app);
    assert_eq!(first.state, Some(VrrpState::Master));
    let mut seen = vec![(first.peer, first.at)];
    for _ in 0..4 {
        log(&mut app, LogAction::NextMatch);
        let e = current(&app);
        seen.push((e.peer, e.at));
    }
    assert!(
        seen.windows(2).all(|w| w[0].1 <= w[1].1),
        "in time order: {seen:?}"
    );
    let peers: Vec<usize> = seen.iter().map(|s| s.0).collect();
    assert_eq!(peers, [0, 1, 0, 0, 1], "a, b takes over, a, a, b preempts");
    log(&mut app, LogAction::NextMatch);
    let note = app
        .log_view()
        .and_then(|v| v.note.clone())
        .unwrap_or_default();
    assert!(note.contains("wrapped"), "{note}");
    log(&mut app, LogAction::PrevMatch);
    assert_eq!(current(&app).at, seen[4].1, "N goes back");

    // A pattern that does not compile says so and keeps the last one.
    typed(&mut app, "(VI_1");
    let v = app.log_view().expect("open");
    assert!(v.search.error.is_some());
    log(&mut app, LogAction::SearchCancel);
    assert!(app.log_view().is_some_and(|v| v.search.regex.is_none()));
}

#[test]
fn transitions_and_errors_of_one_peer() {
    let mut app = app();
    open(&mut app);
    log(&mut app, LogAction::ToggleImportant);
    log(&mut app, LogAction::TogglePeer(1));
    let v = app.log_view().expect("open");
    let entries: Vec<_> = v.rows.iter().filter_map(|r| app.logs.get(0, *r)).collect();
    assert!(entries.iter().all(|e| e.peer == 0 && e.is_important()));
    assert!(entries.iter().any(|e| e.kind == LogKind::Error));
    let text = draw(&app, 100, 24);
    assert!(text.contains("transitions+errors"), "{text}");
    insta::assert_snapshot!("important_peer_a_100x24", text);

    // The source filter cycles: daemon only, script only, both.
    log(&mut app, LogAction::CycleSource);
    let only = |app: &App, s: LogSource| {
        let v = app.log_view().expect("open");
        v.rows
            .iter()
            .all(|r| app.logs.get(0, *r).is_some_and(|e| e.source == s))
    };
    assert!(only(&app, LogSource::Daemon));
    log(&mut app, LogAction::CycleSource);
    assert!(only(&app, LogSource::Script));
    // Both peers hidden: the screen says why it is empty.
    log(&mut app, LogAction::TogglePeer(0));
    let text = draw(&app, 100, 6);
    assert!(text.contains("every line is filtered out"), "{text}");
}

#[test]
fn brackets_walk_the_transitions_in_order() {
    let mut app = app();
    open(&mut app);
    log(&mut app, LogAction::Top);
    let mut story = Vec::new();
    for _ in 0..28 {
        log(&mut app, LogAction::NextTransition);
        let e = current(&app);
        if e.source == LogSource::Daemon {
            story.push((e.peer, e.state.expect("a transition")));
        }
    }
    use VrrpState::*;
    assert_eq!(
        story[..6],
        [
            (0, Backup),
            (0, Master),
            (1, Backup),
            (0, Fault),
            (1, Master),
            (0, Backup)
        ]
    );
    let before = current(&app).at;
    log(&mut app, LogAction::PrevTransition);
    assert!(current(&app).at <= before);
}

#[test]
fn scrolling_up_pauses_follow_and_new_lines_do_not_move_the_screen() {
    let mut app = app();
    open(&mut app);
    draw(&app, 100, 24);
    log(&mut app, LogAction::PageUp);
    let v = app.log_view().expect("open");
    assert!(!v.follow);
    assert!(v.note.as_deref().unwrap_or("").contains("follow paused"));
    let top = v.top;
    let top_line = v.rows[top];
    let text = draw(&app, 100, 24);
    assert!(text.contains("PAUSED"), "{text}");
    assert!(text.contains("follow paused · f or G resumes"), "{text}");

    // More lines arrive: the screen stays where the operator put it.
    for i in 0..5 {
        app.apply(
            Update::Log {
                cluster: 0,
                line: LogLine {
                    peer: 1,
                    source: LogSource::Daemon,
                    at: t0(),
                    kind: LogKind::Other,
                    announced: None,
                    text: format!("later line {i}"),
                },
            },
            t0(),
        );
    }
    app.refresh();
    let v = app.log_view().expect("open");
    assert_eq!(v.rows[v.top], top_line);
    // G goes to the end and follows again.
    log(&mut app, LogAction::Bottom);
    let text = draw(&app, 100, 24);
    assert!(
        text.contains("later line 4") && text.contains("FOLLOW"),
        "{text}"
    );
}

#[test]
fn save_writes_the_filtered_view_whole() {
    let mut app = app();
    open(&mut app);
    log(&mut app, LogAction::ToggleImportant);
    let rows = app.log_view().expect("open").rows.len();
    let Some(Effect::SaveLog {
        cluster_name,
        text,
        lines,
    }) = log(&mut app, LogAction::Save)
    else {
        panic!("s asks for a save");
    };
    assert_eq!((cluster_name.as_str(), lines), ("web", rows));
    assert_eq!(text.lines().count(), rows);
    assert!(
        text.lines().any(|l| l.ends_with(
            "havip-01 daemon * Nov 21 23:51:05 cvm-a Keepalived_vrrp[11511]: (VI_1) Entering FAULT STATE"
        )),
        "{text}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = vipdeck::faces::logs::save(dir.path(), &cluster_name, t0(), &text).expect("saved");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
    app.log_saved(Ok((path.clone(), lines)));
    let screen = draw(&app, 160, 10);
    assert!(
        screen.contains(&format!("saved {rows} lines to {}", path.display())),
        "{screen}"
    );
}

#[test]
fn toggles_wrap_timestamps_and_help() {
    let mut app = app();
    app.apply(
        Update::Log {
            cluster: 0,
            line: LogLine {
                peer: 0,
                source: LogSource::Script,
                at: t0(),
                kind: LogKind::Other,
                announced: None,
                text: format!("[2026-11-22 00:00:00]  long {}", "x".repeat(150)),
            },
        },
        t0(),
    );
    open(&mut app);
    log(&mut app, LogAction::ToggleWrap);
    log(&mut app, LogAction::ToggleTimestamps);
    let text = draw(&app, 80, 12);
    let xs: Vec<&str> = text.lines().filter(|l| l.contains("xxxxxxxxxx")).collect();
    assert!(xs.len() >= 2, "the long line wraps: {text}");
    assert!(!text.contains("23:51:36 "), "no timestamps: {text}");
    insta::assert_snapshot!("wrap_no_time_80x12", text);

    log(&mut app, LogAction::ToggleHelp);
    let text = draw(&app, 80, 24);
    for b in logview::LOG_KEYS {
        assert!(text.contains(b.label), "help lists {}: {text}", b.label);
    }
    insta::assert_snapshot!("help_80x24", text);
    // Esc closes the help first, then the log screen; q never quits the app.
    let esc = app.update(Msg::Key(key(KeyCode::Esc)));
    assert!(esc.is_none() && !app.showing_help() && app.log_view().is_some());
    let q = app.update(Msg::Key(key(KeyCode::Char('q'))));
    assert!(app.log_view().is_none());
    assert!(q.is_none(), "q is not quit: {q:?}");
}

#[test]
fn log_keys_while_searching_go_to_the_prompt() {
    use logview::key_action as k;
    assert_eq!(
        k(key(KeyCode::Char('q')), true),
        Some(LogAction::SearchChar('q'))
    );
    assert_eq!(k(key(KeyCode::Char('q')), false), Some(LogAction::Close));
    assert_eq!(k(key(KeyCode::Esc), true), Some(LogAction::SearchCancel));
    assert_eq!(
        k(key(KeyCode::Char('T')), false),
        Some(LogAction::ToggleImportant)
    );
    assert_eq!(
        k(key(KeyCode::Char('2')), false),
        Some(LogAction::TogglePeer(1))
    );
    assert_eq!(
        k(key(KeyCode::Char(']')), false),
        Some(LogAction::NextTransition)
    );
    assert_eq!(
        k(
            KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
            true
        ),
        Some(LogAction::Quit)
    );
}

#[test]
fn a_small_buffer_keeps_the_view_bounded_under_a_flood() {
    let mut app = app();
    app.logs = vipdeck::core::logs::LogStore::new(50);
    open(&mut app);
    for i in 0..1000 {
        app.apply(
            Update::Log {
                cluster: 0,
                line: LogLine {
                    peer: i % 2,
                    source: LogSource::Daemon,
                    at: t0() + chrono::Duration::milliseconds(i as i64),
                    kind: LogKind::Other,
                    announced: None,
                    text: format!("flood {i}"),
                },
            },
            t0(),
        );
        if i % 7 == 0 {
            app.refresh();
        }
    }
    app.refresh();
    let v = app.log_view().expect("open");
    assert_eq!(v.rows.len(), 100, "50 per stream, two streams");
    let texts: Vec<&str> = v
        .rows
        .iter()
        .filter_map(|r| app.logs.get(0, *r))
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(texts.first(), Some(&"flood 900"));
    assert_eq!(texts.last(), Some(&"flood 999"));
}

#[test]
fn one_peer_flooding_drops_only_its_own_oldest_rows() {
    let mut app = app();
    app.logs = vipdeck::core::logs::LogStore::new(100);
    // Peer b's few old lines stay at the front of the merged view...
    for i in 0..80 {
        app.apply(
            Update::Log {
                cluster: 0,
                line: LogLine {
                    peer: 1,
                    source: LogSource::Script,
                    at: t0() - chrono::Duration::hours(1) + chrono::Duration::seconds(i),
                    kind: LogKind::Other,
                    announced: None,
                    text: format!("old b {i}"),
                },
            },
            t0(),
        );
    }
    open(&mut app);
    // ...while peer a floods its daemon log past the cap.
    for i in 0..500 {
        app.apply(
            Update::Log {
                cluster: 0,
                line: LogLine {
                    peer: 0,
                    source: LogSource::Daemon,
                    at: t0() + chrono::Duration::milliseconds(i),
                    kind: LogKind::Other,
                    announced: None,
                    text: format!("flood a {i}"),
                },
            },
            t0(),
        );
        if i % 13 == 0 {
            app.refresh();
        }
    }
    app.refresh();
    let v = app.log_view().expect("open");
    assert_eq!(v.rows.len(), 180, "80 of b, the last 100 of a");
    assert!(
        v.rows.iter().all(|r| app.logs.get(0, *r).is_some()),
        "no row points at a dropped line"
    );
}

#[test]
fn match_counts_follow_new_and_dropped_lines() {
    let mut app = app();
    open(&mut app);
    typed(&mut app, "entering master");
    log(&mut app, LogAction::SearchSubmit);
    let count = |app: &App| app.log_view().and_then(|v| v.match_position());
    assert_eq!(count(&app).map(|c| c.1), Some(5));
    let push = |app: &mut App, i: i64, text: &str| {
        app.apply(
            Update::Log {
                cluster: 0,
                line: LogLine {
                    peer: 1,
                    source: LogSource::Daemon,
                    at: t0() + chrono::Duration::seconds(i),
                    kind: LogKind::Transition,
                    announced: vipdeck::core::keepalived::logline::announced_in(text),
                    text: text.to_string(),
                },
            },
            t0(),
        );
        app.refresh();
    };
    push(
        &mut app,
        1,
        "x Keepalived_vrrp[9]: (VI_1) Entering MASTER STATE",
    );
    push(
        &mut app,
        2,
        "x Keepalived_vrrp[9]: (VI_1) Entering BACKUP STATE",
    );
    assert_eq!(count(&app).map(|c| c.1), Some(6), "appended lines counted");

    // A small buffer: peer b's old matches are dropped as it floods.
    app.logs = vipdeck::core::logs::LogStore::new(3);
    log(&mut app, LogAction::Close);
    open(&mut app);
    typed(&mut app, "entering master");
    log(&mut app, LogAction::SearchSubmit);
    push(&mut app, 3, "(VI_1) Entering MASTER STATE");
    assert_eq!(count(&app).map(|c| c.1), Some(1));
    for i in 4..7 {
        push(&mut app, i, "noise");
    }
    assert_eq!(count(&app).map(|c| c.1), Some(0), "the match was dropped");
}
