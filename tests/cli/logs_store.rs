//! The log store on real input: keepalived 2.2.7's syslog lines from a
//! two-node failover (tests/fixtures/keepalived/real), the seed scripts'
//! notify/vip.py lines, clock skew between peers, search and filters, and
//! a flood of a million lines against the cap.

use std::path::Path;

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};

use vipdeck::core::logs::{
    self, find_row, parse_stream, search_regex, Filter, LineRef, LogStore, DEFAULT_CAP,
};
use vipdeck::core::model::{LogKind, LogLine, LogSource, Severity, VrrpState};

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keepalived")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("offset")
}

fn reference() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0)
        .single()
        .expect("time")
}

/// The capture's two nodes: daemon (syslog) and notify-script logs.
fn capture_store() -> LogStore {
    let mut store = LogStore::default();
    for (peer, node) in [(0, "a"), (1, "b")] {
        for l in parse_stream(
            &fixture(&format!("real/messages-{node}.log")),
            peer,
            LogSource::Daemon,
            utc(),
            reference(),
        ) {
            store.push(0, l).expect("stored");
        }
        for l in parse_stream(
            &fixture(&format!("real/notify-{node}.log")),
            peer,
            LogSource::Script,
            utc(),
            reference(),
        ) {
            store.push(0, l).expect("stored");
        }
    }
    store
}

fn entries(store: &LogStore, rows: &[LineRef]) -> Vec<logs::Entry> {
    rows.iter()
        .map(|r| store.get(0, *r).expect("valid ref").clone())
        .collect()
}

#[test]
fn real_2_2_7_failover_reads_as_one_story() {
    let store = capture_store();
    let rows = store.merged(0, &Filter::default());
    let lines = entries(&store, &rows);
    // Dump lines (12 on a, some on b) are hidden by default.
    let all = store.merged(
        0,
        &Filter {
            show_noise: true,
            ..Filter::default()
        },
    );
    let noise = all.len() - rows.len();
    assert!(noise >= 12, "{noise}");
    assert!(lines.iter().all(|e| !e.noise));

    // Time never goes back in the merged view.
    assert!(lines.windows(2).all(|w| w[0].key <= w[1].key));

    // keepalived's own transitions, across both peers, in time order.
    let story: Vec<(usize, VrrpState)> = lines
        .iter()
        .filter(|e| e.source == LogSource::Daemon)
        .filter_map(|e| e.state.map(|s| (e.peer, s)))
        .collect();
    use VrrpState::*;
    let expect_until_the_last_second = vec![
        (0, Backup), // 23:50:51
        (0, Master), // 23:50:55
        (1, Backup), // 23:50:57
        (0, Fault),  // 23:51:05 a's track script fails...
        (1, Master), // 23:51:06 ...and b takes over
        (0, Backup), // 23:51:11
        (0, Master), // 23:51:16 b was stopped at 23:51:15
        (0, Backup), // 23:51:24 both restarted
        (0, Master), // 23:51:28
        (1, Backup), // 23:51:29
    ];
    assert_eq!(story[..10], expect_until_the_last_second[..]);
    // 23:51:33: b (priority 110) preempts; both lines carry the same
    // second, so arrival order decides (a's file was read first).
    assert_eq!(story[10..], [(0, Backup), (1, Master)]);

    // The failure that caused the first takeover comes just before it.
    let fault = lines
        .iter()
        .position(|e| e.state == Some(Fault))
        .expect("a FAULT");
    assert!(lines[fault - 1].text.contains("VRRP_Script(chk_ok) failed"));
    assert_eq!(lines[fault - 1].kind, LogKind::Error);
    assert_eq!(lines[fault].severity, Severity::Warning);
    // Notify-script lines sit next to the transitions they report.
    let notify_fault = lines
        .iter()
        .position(|e| e.source == LogSource::Script && e.state == Some(Fault))
        .expect("notify_fault");
    assert_eq!(lines[notify_fault].peer, 0);
    assert_eq!(lines[notify_fault].at, lines[fault].at);
}

#[test]
fn seed_script_lines_are_classified() {
    // The seed's notify_action.sh and vip.py wording, and a line that
    // continues the previous one without a time of its own.
    let raw = "[2026-11-21 22:44:01]  notify_master\n\
               [2026-11-21 22:44:02][pid1234]  try set vip.\n\
               [2026-11-21 22:44:02][pid1234]  call ret {\"Response\": {\"RequestId\": \"r-1\"}}\n\
               Traceback (most recent call last):\n\
               [2026-11-21 22:44:03][pid1234]  set vip failed\n\
               [2026-11-21 22:44:04] vip.py checks vip: is this cvm holding the vip? false\n\
               [2026-11-21 22:44:09]  notify_fault\n";
    let lines = parse_stream(
        raw.as_bytes(),
        1,
        LogSource::Script,
        FixedOffset::east_opt(8 * 3600).expect("offset"),
        reference(),
    );
    assert_eq!(lines.len(), 7);
    let mut store = LogStore::default();
    for l in lines {
        store.push(0, l);
    }
    let e = entries(&store, &store.merged(0, &Filter::default()));
    assert_eq!(e[0].state, Some(VrrpState::Master));
    assert_eq!(
        e[0].at,
        Utc.with_ymd_and_hms(2026, 11, 21, 14, 44, 1)
            .single()
            .expect("time"),
        "script times are the peer's local time"
    );
    assert_eq!(e[1].kind, LogKind::VipMigration);
    assert_eq!(e[3].at, e[2].at, "a line without a time inherits one");
    assert_eq!(e[4].kind, LogKind::Error);
    assert_eq!(e[4].severity, Severity::Critical);
    assert_eq!(logs::mark(&e[4]), '!');
    assert_eq!(e[6].state, Some(VrrpState::Fault));
    assert_eq!(logs::mark(&e[6]), '*');
    let important: Vec<usize> = store
        .merged(
            0,
            &Filter {
                important_only: true,
                ..Filter::default()
            },
        )
        .iter()
        .map(|r| r.abs as usize)
        .collect();
    assert_eq!(important, vec![0, 4, 5, 6]);
}

#[test]
fn invalid_utf8_is_shown_and_huge_lines_are_cut_saying_so() {
    let mut raw = b"[2026-11-21 22:44:01]  bad \xff\xfe bytes\n".to_vec();
    raw.extend_from_slice(b"[2026-11-21 22:44:02]  ");
    raw.extend(std::iter::repeat_n(b'x', 200_000));
    raw.push(b'\n');
    let mut store = LogStore::default();
    for l in parse_stream(&raw, 0, LogSource::Script, utc(), reference()) {
        store.push(0, l);
    }
    let e = entries(&store, &store.merged(0, &Filter::default()));
    assert!(e[0].text.contains("bad \u{fffd}\u{fffd} bytes"));
    // Kept up to 8 KiB (for export), the cut named: a peer's 200 kB line
    // must not cost the store 200 kB.
    assert!(e[1].text.starts_with("[2026-11-21 22:44:02]  xxx"));
    assert!(
        e[1].text.ends_with(&format!(
            "… [{} bytes not kept]",
            23 + 200_000 - logs::LINE_KEEP_MAX
        )),
        "{}",
        &e[1].text[e[1].text.len() - 40..]
    );
    assert!(logs::display_text(&e[1].text).chars().count() <= logs::DISPLAY_MAX + 1);
}

fn line(peer: usize, source: LogSource, at: DateTime<Utc>, text: &str) -> LogLine {
    LogLine {
        peer,
        source,
        at,
        kind: LogKind::Other,
        announced: vipdeck::core::keepalived::logline::announced_in(text),
        text: text.to_string(),
    }
}

fn t(s: i64) -> DateTime<Utc> {
    reference() + Duration::seconds(s)
}

#[test]
fn clock_skew_never_reorders_a_peer() {
    let mut store = LogStore::default();
    // Peer a's clock is right. Peer b's runs 3 s behind, and then an NTP
    // step throws it back another 10 s in the middle of the story.
    let a = [(10, "a1"), (12, "a2"), (14, "a3"), (16, "a4")];
    let b = [(8, "b1"), (10, "b2"), (1, "b3"), (2, "b4"), (12, "b5")];
    // They arrive interleaved, as two ssh streams would deliver them.
    let mut ai = a.iter();
    let mut bi = b.iter();
    loop {
        let (x, y) = (ai.next(), bi.next());
        if x.is_none() && y.is_none() {
            break;
        }
        if let Some((s, txt)) = x {
            store.push(0, line(0, LogSource::Daemon, t(*s), txt));
        }
        if let Some((s, txt)) = y {
            store.push(0, line(1, LogSource::Daemon, t(*s), txt));
        }
    }
    let order: Vec<String> = entries(&store, &store.merged(0, &Filter::default()))
        .into_iter()
        .map(|e| e.text)
        .collect();
    let of = |p: char| -> Vec<&str> {
        order
            .iter()
            .filter(|x| x.starts_with(p))
            .map(String::as_str)
            .collect()
    };
    assert_eq!(of('a'), ["a1", "a2", "a3", "a4"], "{order:?}");
    assert_eq!(of('b'), ["b1", "b2", "b3", "b4", "b5"], "{order:?}");
    // Between peers, the stated times decide: b's jumped-back lines stay
    // after b2 (they were written after it), at b2's time.
    assert_eq!(
        order,
        ["b1", "a1", "b2", "b3", "b4", "a2", "b5", "a3", "a4"],
        "{order:?}"
    );
}

#[test]
fn filters_by_peer_source_kind_and_time() {
    let store = capture_store();
    let count = |f: Filter| store.merged(0, &f).len();
    let all = count(Filter::default());
    let a = count(Filter {
        peers: [true, false],
        ..Filter::default()
    });
    let b = count(Filter {
        peers: [false, true],
        ..Filter::default()
    });
    assert!(a > 0 && b > 0);
    assert_eq!(a + b, all);
    let script = count(Filter {
        sources: [true, false],
        ..Filter::default()
    });
    assert_eq!(script, 16, "10 notify lines on a, 6 on b");
    let important = entries(
        &store,
        &store.merged(
            0,
            &Filter {
                important_only: true,
                ..Filter::default()
            },
        ),
    );
    assert!(important.iter().all(|e| e.is_important()));
    assert!(important
        .iter()
        .any(|e| e.text.contains("VRRP_Script(chk_ok) failed")));
    assert_eq!(
        important.iter().filter(|e| e.state.is_some()).count(),
        12 + 16,
        "every Entering and every notify line"
    );
    let since = count(Filter {
        since: Some(
            Utc.with_ymd_and_hms(2026, 11, 21, 23, 51, 30)
                .single()
                .expect("time"),
        ),
        ..Filter::default()
    });
    assert!(since > 0 && since < all / 3, "{since} of {all}");
}

#[test]
fn search_is_smart_case_and_wraps() {
    let store = capture_store();
    let rows = store.merged(0, &Filter::default());
    let matches = |q: &str| {
        let re = search_regex(q).expect("valid");
        rows.iter()
            .filter(|r| store.get(0, **r).is_some_and(|e| re.is_match(&e.text)))
            .count()
    };
    // a became MASTER three times, b twice.
    assert_eq!(matches("entering master"), 5);
    assert_eq!(matches("Entering MASTER"), 5);
    assert_eq!(matches("entering MASTER"), 0, "capitals make it exact");
    assert_eq!(matches("(?i)entering MASTER"), 5, "unless asked otherwise");
    assert_eq!(matches(r"higher priority \d+"), 1);
    assert!(search_regex("(VI_1").is_err());

    let re = search_regex("entering fault").expect("valid");
    let hit = |r: LineRef| store.get(0, r).is_some_and(|e| re.is_match(&e.text));
    let (first, wrapped) = find_row(&rows, None, true, hit).expect("found");
    assert!(!wrapped);
    let (again, wrapped) = find_row(&rows, Some(first), true, hit).expect("found");
    assert_eq!(
        (again, wrapped),
        (first, true),
        "the only match: wraps to itself"
    );
}

#[test]
fn the_cap_holds_under_a_flood_of_a_million_lines() {
    let mut store = LogStore::default();
    assert_eq!(store.cap(), DEFAULT_CAP);
    store.push(0, line(1, LogSource::Script, t(0), "[x] notify_master"));
    let n = 1_000_000;
    for i in 0..n {
        store.push(
            0,
            line(
                0,
                LogSource::Daemon,
                t(i / 1000),
                &format!("flood line {i}"),
            ),
        );
    }
    assert_eq!(store.stream_len(0, 0, LogSource::Daemon), DEFAULT_CAP);
    assert_eq!(
        store.stream_len(0, 1, LogSource::Script),
        1,
        "others untouched"
    );
    assert_eq!(store.len(0), DEFAULT_CAP + 1);
    let rows = store.merged(0, &Filter::default());
    assert_eq!(rows.len(), DEFAULT_CAP + 1);
    let first_flood = *rows
        .iter()
        .find(|r| store.get(0, **r).is_some_and(|e| e.peer == 0))
        .expect("flood lines");
    assert_eq!(
        store.get(0, first_flood).map(|e| e.text.as_str()),
        Some(format!("flood line {}", n - DEFAULT_CAP as i64).as_str())
    );
    assert_eq!(first_flood.abs, (n as u64) - DEFAULT_CAP as u64);
    // A reference to a dropped line is gone, not some other line.
    let dropped = LineRef {
        abs: first_flood.abs - 1,
        ..first_flood
    };
    assert!(store.get(0, dropped).is_none());
    // Peer indices other than 0/1 are refused, not stored.
    assert!(store
        .push(0, line(2, LogSource::Daemon, t(0), "x"))
        .is_none());
}

#[test]
fn a_small_cap_per_stream() {
    let mut store = LogStore::new(3);
    for i in 0..10 {
        store.push(
            0,
            line(i % 2, LogSource::Daemon, t(i as i64), &format!("{i}")),
        );
    }
    let texts: Vec<String> = entries(&store, &store.merged(0, &Filter::default()))
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert_eq!(texts, ["4", "5", "6", "7", "8", "9"]);
}

/// Figures, not a timed test: `scripts/bench-logs.sh` (release build).
#[test]
#[ignore = "figures, not a timed test: scripts/bench-logs.sh runs it in release"]
fn bench_ingest_and_search() {
    let mut raw: Vec<LogLine> = Vec::new();
    for (peer, node) in [(0, "a"), (1, "b")] {
        raw.extend(parse_stream(
            &fixture(&format!("real/messages-{node}.log")),
            peer,
            LogSource::Daemon,
            utc(),
            reference(),
        ));
        raw.extend(parse_stream(
            &fixture(&format!("real/notify-{node}.log")),
            peer,
            LogSource::Script,
            utc(),
            reference(),
        ));
    }
    let n = 1_000_000;
    // Build the input first: the figure is the store's, not the allocator's
    // making test data.
    // Every stream gets a quarter of the flood, so all four fill to the cap.
    let input: Vec<LogLine> = (0..n)
        .map(|i| {
            let mut l = raw[i % raw.len()].clone();
            l.peer = i % 2;
            l.source = if (i / 2) % 2 == 0 {
                LogSource::Daemon
            } else {
                LogSource::Script
            };
            l.at = reference() + Duration::milliseconds(i as i64);
            l
        })
        .collect();
    let mut store = LogStore::default();
    let start = std::time::Instant::now();
    for l in input {
        store.push(0, l);
    }
    let ingest = start.elapsed().as_secs_f64();
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
        })
        .unwrap_or_else(|| "?".into());
    println!("memory: VmRSS {rss} kB after the flood (input already consumed)");
    println!(
        "ingest: {n} lines in {ingest:.3} s = {:.0} lines/s; kept {} (cap {} per stream)",
        n as f64 / ingest,
        store.len(0),
        store.cap()
    );

    let start = std::time::Instant::now();
    let rows = store.merged(0, &Filter::default());
    let first = start.elapsed().as_secs_f64() * 1000.0;
    println!("merged view, first build (cold caches): {first:.1} ms");
    let start = std::time::Instant::now();
    let rows2 = store.merged(0, &Filter::default());
    assert_eq!(rows, rows2);
    println!(
        "merged view of the full buffer, rebuilt: {} rows in {:.1} ms",
        rows.len(),
        start.elapsed().as_secs_f64() * 1000.0
    );
    for q in [
        "entering master",
        r"higher priority \d+",
        "no such text anywhere",
    ] {
        let re = search_regex(q).expect("valid");
        let start = std::time::Instant::now();
        let hits = store.count_matches(0, &re);
        println!(
            "search /{q}/ over {} lines: {hits} matches in {:.1} ms",
            store.len(0),
            start.elapsed().as_secs_f64() * 1000.0
        );
    }
    // The log screen on the full buffer: open it, take 100 new lines,
    // type a search.
    use vipdeck::faces::tui::logview::{LogAction, LogView};
    let start = std::time::Instant::now();
    let mut view = LogView::new(0, &store, utc());
    let opened = start.elapsed().as_secs_f64() * 1000.0;
    for i in 0..100 {
        let mut l = raw[i % raw.len()].clone();
        l.at = reference() + Duration::milliseconds((n + i) as i64);
        store.push(0, l);
    }
    let start = std::time::Instant::now();
    view.refresh(&store);
    let refreshed = start.elapsed().as_secs_f64() * 1000.0;
    let spec = vipdeck::core::model::ClusterSpec {
        name: "bench".into(),
        mode: vipdeck::core::model::Mode::Havip,
        vip: "192.0.2.12".into(),
        havip_id: None,
        peers: std::array::from_fn(|i| vipdeck::core::model::PeerSpec {
            name: format!("peer-{i}"),
            address: "sim".into(),
            network_interface_id: None,
            instance_id: None,
        }),
    };
    view.handle(LogAction::StartSearch, &store, &spec);
    let start = std::time::Instant::now();
    for c in "fault".chars() {
        view.handle(LogAction::SearchChar(c), &store, &spec);
    }
    let typed = start.elapsed().as_secs_f64() * 1000.0 / 5.0;
    println!(
        "log screen: open {opened:.1} ms; 100 new lines taken in {refreshed:.2} ms; \
         each key of an incremental search {typed:.1} ms ({} rows)",
        view.rows.len()
    );

    // `n` at its worst: no match anywhere, so every row is tried.
    let re = search_regex("no such text anywhere").expect("valid");
    let start = std::time::Instant::now();
    let hit = find_row(&rows, Some(rows.len() / 2), true, |r| {
        store.get(0, r).is_some_and(|e| re.is_match(&e.text))
    });
    assert!(hit.is_none());
    println!(
        "n with no match (every row of the view tried): {:.1} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
}

#[test]
fn the_cap_comes_from_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "[ui]\nlog_lines = 5000\n").expect("write");
    let c = vipdeck::core::config::load(&path).expect("valid");
    assert_eq!(c.ui.log_lines, 5000);
    std::fs::write(&path, "[ui]\ntick_ms = 500\n").expect("write");
    let c = vipdeck::core::config::load(&path).expect("valid");
    assert_eq!(c.ui.log_lines, DEFAULT_CAP);
    std::fs::write(&path, "[ui]\nlog_lines = 0\n").expect("write");
    let e = vipdeck::core::config::load(&path).expect_err("zero lines");
    let msg = e.to_string();
    assert!(
        msg.contains("log_lines") && msg.contains("greater than 0"),
        "{msg}"
    );
}
