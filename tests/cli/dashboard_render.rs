//! Whole-screen snapshots of the dashboard, one per verdict and at 80x24,
//! drawn from deterministic simulator states into ratatui's TestBackend.

use chrono::{DateTime, TimeZone, Utc};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use vipdeck::core::model::{ClusterSpec, LogLine, Snapshot, Update, Verdict};
use vipdeck::core::verdict::Thresholds;
use vipdeck::faces::tui::app::{Action, App};
use vipdeck::sources::simulator::world::{ClusterParams, SimCluster};
use vipdeck::sources::simulator::{observe_cloud, observe_peer, spec_of};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 22, 40, 0)
        .single()
        .expect("time")
}

fn pair(name: &str, mode: vipdeck::core::model::Mode) -> SimCluster {
    let base = if name == "web" {
        [192, 0, 2, 5]
    } else {
        [198, 51, 100, 11]
    };
    let other = [base[0], base[1], base[2], base[3] + 1];
    SimCluster::new(
        ClusterParams {
            name,
            mode,
            vip: if name == "web" {
                "192.0.2.12"
            } else {
                "198.51.100.100"
            },
            peer_names: if name == "web" {
                ["havip-01", "havip-02"]
            } else {
                ["pay-a", "pay-b"]
            },
            addresses: [base, other],
            priorities: [100, 100],
            cloud_delay: std::time::Duration::from_secs(2),
        },
        t0(),
    )
}

fn run(c: &mut SimCluster, from: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    let mut t = from;
    while t < from + chrono::Duration::seconds(secs) {
        t += chrono::Duration::milliseconds(100);
        c.step(t);
    }
    t
}

/// Observes `c` at `at` the way the simulator's sources do.
fn observe(snapshot: &mut Snapshot, ci: usize, c: &mut SimCluster, at: DateTime<Utc>) {
    for l in c.logs.drain(..) {
        snapshot.apply(Update::Log {
            cluster: ci,
            line: LogLine {
                peer: l.peer,
                source: l.source,
                at: l.at,
                kind: l.kind,
                announced: vipdeck::core::keepalived::logline::announced_in(&l.text),
                text: l.text,
            },
        });
    }
    for i in 0..2 {
        snapshot.apply(Update::Peer {
            cluster: ci,
            peer: i,
            observation: observe_peer(c, i, at),
        });
    }
    snapshot.apply(Update::Cloud {
        cluster: ci,
        at,
        result: observe_cloud(c),
        credential_source: Some("simulator".into()),
    });
}

/// `sims` after ten settled seconds each, observed as the simulator's
/// sources would: the snapshot and the time it was taken.
fn settled(sims: &mut [SimCluster]) -> (Snapshot, DateTime<Utc>) {
    let mut t = t0();
    for c in sims.iter_mut() {
        t = run(c, t0(), 10);
    }
    let mut snapshot = Snapshot::new(sims.iter().map(spec_of).collect());
    for (ci, c) in sims.iter_mut().enumerate() {
        observe(&mut snapshot, ci, c, t);
    }
    (snapshot, t)
}

/// A settled havip pair, then `fault` applied, observed every second for `secs`.
fn scenario(
    fault: impl FnOnce(&mut SimCluster, DateTime<Utc>),
    secs: i64,
) -> (Snapshot, DateTime<Utc>) {
    let mut c = pair("web", vipdeck::core::model::Mode::Havip);
    let mut t = run(&mut c, t0(), 10);
    let mut snapshot = Snapshot::new(vec![spec_of(&c)]);
    observe(&mut snapshot, 0, &mut c, t);
    fault(&mut c, t);
    for _ in 0..secs {
        t = run(&mut c, t, 1);
        observe(&mut snapshot, 0, &mut c, t);
    }
    (snapshot, t)
}

fn screen(snapshot: Snapshot, now: DateTime<Utc>, w: u16, h: u16) -> (String, Verdict) {
    let (text, a) = screen_with(snapshot, now, w, h);
    (text, a.verdict)
}

fn screen_with(
    snapshot: Snapshot,
    now: DateTime<Utc>,
    w: u16,
    h: u16,
) -> (String, vipdeck::core::verdict::Assessment) {
    let theme =
        vipdeck::faces::tui::theme::Theme::try_from(&vipdeck::faces::theme::default_theme())
            .expect("theme");
    let mut app = App::new(snapshot, Thresholds::default(), theme, now);
    app.demo = true;
    app.source_label = "DEMO · simulated clusters".into();
    let assessment = app.assessments[0].clone();
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    term.draw(|f| vipdeck::faces::tui::view::draw(f, &app))
        .expect("draw");
    (format!("{}", term.backend()), assessment)
}

#[test]
fn vip_drift_after_the_garp_is_ignored() {
    // The demo as it starts (web and pay), then web's master dies while
    // the VPC ignores the new master's GARP.
    let mut web = pair("web", vipdeck::core::model::Mode::Havip);
    let mut pay = pair("pay", vipdeck::core::model::Mode::Eni);
    let mut t = run(&mut web, t0(), 10);
    run(&mut pay, t0(), 10);
    let mut s = Snapshot::new(vec![spec_of(&web), spec_of(&pay)]);
    observe(&mut s, 0, &mut web, t);
    observe(&mut s, 1, &mut pay, t);
    web.cloud_faults.move_broken = true;
    let m = web.vrrp_master().expect("a master");
    web.stop_keepalived(m, t);
    // Past the HAVIP's 10 s grace after the GARP: drift, not a move.
    for _ in 0..16 {
        let from = t;
        t = run(&mut web, from, 1);
        run(&mut pay, from, 1);
        observe(&mut s, 0, &mut web, t);
        observe(&mut s, 1, &mut pay, t);
    }
    let now = t;
    let (text, a) = screen_with(s, now, 100, 30);
    assert_eq!(a.verdict, Verdict::VipDrift);
    assert!(
        a.alerts[0]
            .message
            .starts_with("cloud binds 192.0.2.12 to havip-02 but havip-01 is MASTER"),
        "{:?}",
        a.alerts
    );
    assert!(
        text.contains("cloud binds 192.0.2.12 to havip-02"),
        "{text}"
    );
    readme_shows(&text);
    insta::assert_snapshot!(text);
}

/// The README's screenshot is this screen, as drawn: a test fails when the
/// two differ (`VIPDECK_UPDATE_DOCS=1` rewrites the README's block).
fn readme_shows(screen: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let drawn: String = screen
        .lines()
        .map(|l| l.trim_matches('"').trim_end().to_string() + "\n")
        .collect();
    let start = readme
        .find("```text\n")
        .expect("README has a ```text block")
        + 8;
    let end = start + readme[start..].find("```").expect("the block ends");
    if std::env::var_os("VIPDECK_UPDATE_DOCS").is_some() {
        let updated = format!("{}{drawn}{}", &readme[..start], &readme[end..]);
        std::fs::write(path, updated).expect("write README.md");
        return;
    }
    assert_eq!(
        readme[start..end],
        drawn,
        "README.md's screenshot differs from the demo's vip_drift screen at 100x30; \
         VIPDECK_UPDATE_DOCS=1 cargo test --test cli vip_drift rewrites it"
    );
}

/// The demo in each verdict, with what its screen must show whatever
/// the size: the verdict word, the master's full name (or that there is
/// no single one) and the binding.
type Case = (
    &'static str,
    Verdict,
    Snapshot,
    DateTime<Utc>,
    &'static str,
    &'static str,
);

fn every_verdict() -> Vec<Case> {
    let drift = |c: &mut SimCluster, t| {
        c.cloud_faults.move_broken = true;
        let m = c.vrrp_master().expect("a master");
        c.stop_keepalived(m, t);
    };
    let both_stopped = |c: &mut SimCluster, t| {
        c.stop_keepalived(0, t);
        c.stop_keepalived(1, t);
    };
    let bound = "eni-web2 on havip-02";
    let mut out: Vec<Case> = Vec::new();
    let (s, now) = scenario(|_, _| {}, 2);
    out.push((
        "healthy",
        Verdict::Healthy,
        s,
        now,
        "MASTER havip-02",
        bound,
    ));
    let (s, now) = scenario(|c, _| c.peers[0].faults.unreachable = true, 2);
    out.push((
        "degraded",
        Verdict::Degraded,
        s,
        now,
        "MASTER havip-02",
        bound,
    ));
    // The master unseen, its peer a fresh BACKUP: MASTER by inference
    // (once cut at 100 columns as "MASTER by inferenc").
    let (s, now) = scenario(|c, _| c.peers[1].faults.unreachable = true, 2);
    let inferred = "MASTER havip-02 (inferred)";
    out.push(("inferred", Verdict::Degraded, s, now, inferred, bound));
    let (s, now) = scenario(drift, 16);
    out.push((
        "vip_drift",
        Verdict::VipDrift,
        s,
        now,
        "MASTER havip-01",
        bound,
    ));
    // Past the handover grace: the backup became MASTER ~3.6 s after the cut.
    let (s, now) = scenario(|c, _| c.peers[0].faults.link_cut = true, 8);
    let none = "no single MASTER";
    out.push(("split_brain", Verdict::SplitBrain, s, now, none, bound));
    let (s, now) = scenario(both_stopped, 2);
    out.push(("no_master", Verdict::NoMaster, s, now, none, bound));
    let c = pair("web", vipdeck::core::model::Mode::Havip);
    let s = Snapshot::new(vec![spec_of(&c)]);
    out.push(("unknown", Verdict::Unknown, s, t0(), none, "not read yet"));
    out
}

/// Every verdict at every size from a wall screen to 60x20: the verdict,
/// the master's full name and the binding are on screen, uncut.
#[test]
fn every_verdict_at_every_size() {
    for (label, verdict, snapshot, now, master, binding) in every_verdict() {
        for (w, h) in [
            (200, 60),
            (140, 45),
            (100, 40),
            (100, 30),
            (80, 24),
            (60, 20),
        ] {
            let (text, a) = screen_with(snapshot.clone(), now, w, h);
            assert_eq!(a.verdict, verdict);
            let word = verdict.as_str().to_ascii_uppercase().replace('_', " ");
            for must in [word.as_str(), master, binding] {
                assert!(
                    text.contains(must),
                    "{verdict:?} at {w}x{h}: {must:?} is not on screen:\n{text}"
                );
            }
            for line in text.lines() {
                assert!(
                    !line.contains("MASTER havip-0\"") && !line.contains("MASTER havip-0 "),
                    "{verdict:?} at {w}x{h}: a cut master name:\n{text}"
                );
            }
            if label == "inferred" {
                assert!(
                    !text.contains("inferenc\"") && !text.contains("inferenc "),
                    "{w}x{h}: the inference is cut:\n{text}"
                );
            }
            insta::assert_snapshot!(format!("{label}_{w}x{h}"), text);
        }
    }
}

#[test]
fn stale_data_is_shown_as_stale_with_its_age() {
    let (s, now) = scenario(|_, _| {}, 1);
    let later = now + chrono::Duration::seconds(45);
    let (text, _) = screen(s, later, 80, 24);
    assert!(text.contains("45s STALE"), "{text}");
}

#[test]
fn help_overlay_lists_demo_keys() {
    let (s, now) = scenario(|_, _| {}, 1);
    let theme =
        vipdeck::faces::tui::theme::Theme::try_from(&vipdeck::faces::theme::default_theme())
            .expect("theme");
    let mut app = App::new(s, Thresholds::default(), theme, now);
    app.demo = true;
    app.handle(Action::ToggleHelp);
    let mut term = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    term.draw(|f| vipdeck::faces::tui::view::draw(f, &app))
        .expect("draw");
    let text = format!("{}", term.backend());
    // The demo's keys are further down: the help scrolls.
    let whole = whole_help(&mut app, 80, 24);
    assert!(whole.contains("demo faults"), "{whole}");
    assert!(whole.contains("kill keepalived on the MASTER"), "{whole}");
    insta::assert_snapshot!(text);
}

/// Everything the help shows, scrolled from top to bottom.
fn whole_help(app: &mut App, w: u16, h: u16) -> String {
    use vipdeck::faces::tui::app::{HelpAction, Msg};
    let mut seen = String::new();
    let mut last = String::new();
    for _ in 0..60 {
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        term.draw(|f| vipdeck::faces::tui::view::draw(f, app))
            .expect("draw");
        let text = format!("{}", term.backend());
        if text == last {
            break;
        }
        seen.push_str(&text);
        last = text;
        app.update(Msg::Help(HelpAction::ScrollDown));
    }
    seen
}

/// Every key of every live table is in the help, whole, at every size:
/// the box wraps long descriptions and scrolls when it is taller than
/// the screen (60x20). The failover keys show with real clusters.
#[test]
fn the_help_shows_every_key_uncut_at_every_size() {
    use vipdeck::faces::tui::app::{DEMO_KEYS, FAILOVER_KEYS, HELP_KEYS, KEYS, PROMPT_KEYS};
    use vipdeck::faces::tui::keys::help_rows;
    let theme =
        || vipdeck::faces::tui::theme::Theme::try_from(&vipdeck::faces::theme::default_theme());
    for (demo, extra) in [(true, DEMO_KEYS), (false, FAILOVER_KEYS)] {
        for (w, h) in [(140, 45), (80, 24), (60, 20)] {
            let (s, now) = scenario(|_, _| {}, 1);
            let mut app = App::new(s, Thresholds::default(), theme().expect("theme"), now);
            app.demo = demo;
            if !demo {
                app.config = Some(std::sync::Arc::new(vipdeck::core::config::Config::default()));
            }
            app.handle(Action::ToggleHelp);
            let seen = whole_help(&mut app, w, h);
            let flat: String = seen.split_whitespace().collect::<Vec<_>>().join(" ");
            let rows = help_rows(KEYS)
                .into_iter()
                .chain(help_rows(extra))
                .chain(help_rows(PROMPT_KEYS))
                .chain(help_rows(HELP_KEYS));
            for (keys, what) in rows {
                assert!(
                    seen.contains(&format!(" {keys} ")),
                    "{w}x{h} demo={demo}: {keys:?} is not in the help:\n{seen}"
                );
                // The description's every word, in order, with nothing cut.
                for word in what.split(' ') {
                    assert!(
                        flat.contains(word),
                        "{w}x{h}: {word:?} of {what:?} is missing:\n{seen}"
                    );
                }
                let last = what.split(' ').next_back().unwrap_or("");
                assert!(!flat.contains(&format!("{}…", &last[..last.len().saturating_sub(1)])));
            }
        }
    }
}

#[test]
fn worst_cluster_sorts_first_and_clicks_select() {
    let mut web = pair("web", vipdeck::core::model::Mode::Havip);
    let mut pay = pair("pay", vipdeck::core::model::Mode::Eni);
    let t = run(&mut web, t0(), 10);
    run(&mut pay, t0(), 10);
    let specs: Vec<ClusterSpec> = vec![spec_of(&web), spec_of(&pay)];
    let mut snapshot = Snapshot::new(specs);
    observe(&mut snapshot, 0, &mut web, t);
    observe(&mut snapshot, 1, &mut pay, t);
    // Break web, which sorts last by name: no cloud answer at all for it.
    // Worst-first and by-name then disagree, so each order is really tested.
    snapshot.clusters[0].cloud = Default::default();
    let theme =
        vipdeck::faces::tui::theme::Theme::try_from(&vipdeck::faces::theme::default_theme())
            .expect("theme");
    let mut app = App::new(snapshot, Thresholds::default(), theme, t);
    assert_ne!(app.assessments[0].verdict, Verdict::Healthy);
    assert_eq!(app.assessments[1].verdict, Verdict::Healthy);
    assert_eq!(app.order, vec![0, 1], "broken web before healthy pay");
    let mut term = Terminal::new(TestBackend::new(100, 30)).expect("terminal");
    term.draw(|f| vipdeck::faces::tui::view::draw(f, &app))
        .expect("draw");
    // Row 2 of the screen is the second cluster in the list.
    app.handle(Action::ClickAt(3, 3));
    assert_eq!(app.selected_cluster(), Some(1));
    app.handle(Action::ToggleSort);
    assert_eq!(app.order, vec![1, 0], "by name: pay, web");
    assert_eq!(
        app.selected_cluster(),
        Some(1),
        "selection follows the cluster"
    );
    app.handle(Action::ToggleSort);
    assert_eq!(app.order, vec![0, 1], "worst first again");
    assert_eq!(app.selected_cluster(), Some(1));
}

#[test]
fn a_reloaded_config_replaces_the_clusters() {
    let (s, now) = scenario(|_, _| {}, 1);
    let theme =
        vipdeck::faces::tui::theme::Theme::try_from(&vipdeck::faces::theme::default_theme())
            .expect("theme");
    let mut app = App::new(s, Thresholds::default(), theme, now);
    app.handle(Action::Down);
    let pay = spec_of(&pair("pay", vipdeck::core::model::Mode::Eni));
    app.reset(vec![pay], "new.toml".into());
    assert_eq!(app.snapshot.clusters.len(), 1);
    assert_eq!(app.snapshot.clusters[0].spec.name, "pay");
    assert_eq!(app.selected_cluster(), Some(0));
    assert!(
        app.snapshot.clusters[0].peers[0].reachable.is_none(),
        "facts start over"
    );
    assert_eq!(app.source_label, "new.toml");
}

/// More clusters than the list has rows: grouped by verdict, worst first,
/// each group with its count, and "+N more" for what is below.
#[test]
fn a_long_list_groups_by_verdict_and_says_how_many_more() {
    let mut sims: Vec<SimCluster> = (0..30)
        .map(|i| {
            let name = format!("web-{}", i + 1);
            let base = [10, 0, i as u8, 5];
            SimCluster::new(
                ClusterParams {
                    name: &name,
                    mode: vipdeck::core::model::Mode::Havip,
                    vip: &format!("10.0.{i}.100"),
                    peer_names: [&format!("{name}-a"), &format!("{name}-b")],
                    addresses: [base, [10, 0, i as u8, 6]],
                    priorities: [100, 100],
                    cloud_delay: std::time::Duration::from_secs(2),
                },
                t0(),
            )
        })
        .collect();
    let (mut snapshot, t) = settled(&mut sims);
    // Three clusters lose their cloud answer.
    for ci in [4, 11, 23] {
        snapshot.clusters[ci].cloud = Default::default();
    }
    let theme =
        vipdeck::faces::tui::theme::Theme::try_from(&vipdeck::faces::theme::default_theme())
            .expect("theme");
    let mut app = App::new(snapshot, Thresholds::default(), theme, t);
    let draw = |app: &App| {
        let mut term = Terminal::new(TestBackend::new(140, 45)).expect("terminal");
        term.draw(|f| vipdeck::faces::tui::view::draw(f, app))
            .expect("draw");
        let text = format!("{}", term.backend());
        let list: Vec<String> = text
            .lines()
            .map(|l| {
                l.trim_matches('"')
                    .split('│')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        (text, list)
    };
    let worst = app.assessments[4].verdict;
    assert_ne!(worst, Verdict::Healthy);
    let (top, list) = draw(&app);
    let heading = |v: Verdict, n: usize| format!(" {} ({n})", v.as_str());
    assert!(list.iter().any(|l| l.contains(&heading(worst, 3))), "{top}");
    assert!(
        list.iter()
            .any(|l| l.contains(&heading(Verdict::Healthy, 27))),
        "{top}"
    );
    assert!(list.iter().any(|l| l.contains("↓ +")), "{top}");
    // The last cluster selected: in view, with what is above counted.
    app.handle(Action::Bottom);
    let (bottom, list) = draw(&app);
    assert!(list.iter().any(|l| l.contains("↑ +")), "{bottom}");
    let last = app.order[app.order.len() - 1];
    let name = app.snapshot.clusters[last].spec.name.clone();
    assert!(
        list.iter().any(|l| l.contains(&format!(" {name} "))),
        "{bottom}"
    );
    insta::assert_snapshot!(top);
}

/// Figures, not a timed test: the dashboard's frame (re-judging every
/// cluster, sorting, drawing) at 200×60 with 300 clusters, and a key press
/// (`j`) answered with a new frame. Run it in release:
/// `cargo test --release --test cli render_300 -- --ignored --nocapture`.
#[test]
#[ignore = "figures, not a timed test: run it in release with --ignored --nocapture"]
fn render_300_clusters_at_200x60() {
    let mut sims: Vec<SimCluster> = (0..300)
        .map(|i| {
            let name = format!("web-{}", i + 1);
            let (hi, lo) = ((i / 100) as u8, (i % 100) as u8 * 2);
            SimCluster::new(
                ClusterParams {
                    name: &name,
                    mode: if i % 2 == 0 {
                        vipdeck::core::model::Mode::Havip
                    } else {
                        vipdeck::core::model::Mode::Eni
                    },
                    vip: &format!("198.51.{hi}.{}", lo + 1),
                    peer_names: [&format!("{name}-a"), &format!("{name}-b")],
                    addresses: [[198, 51, hi, lo + 2], [198, 51, hi, lo + 3]],
                    priorities: [100, 100],
                    cloud_delay: std::time::Duration::from_secs(2),
                },
                t0(),
            )
        })
        .collect();
    let (snapshot, t) = settled(&mut sims);
    let theme =
        vipdeck::faces::tui::theme::Theme::try_from(&vipdeck::faces::theme::default_theme())
            .expect("theme");
    let mut app = App::new(snapshot, Thresholds::default(), theme, t);
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    let mut frame = |app: &mut App| {
        let started = std::time::Instant::now();
        app.refresh();
        term.draw(|f| vipdeck::faces::tui::view::draw(f, app))
            .expect("draw");
        started.elapsed()
    };
    let percentile = |v: &mut Vec<std::time::Duration>, p: f64| {
        v.sort();
        v[((v.len() as f64 - 1.0) * p).round() as usize]
    };
    for _ in 0..20 {
        frame(&mut app);
    }
    let mut frames: Vec<_> = (0..500).map(|_| frame(&mut app)).collect();
    let mut keys: Vec<_> = (0..500)
        .map(|_| {
            let started = std::time::Instant::now();
            app.handle(Action::Down);
            frame(&mut app);
            started.elapsed()
        })
        .collect();
    let (f50, f99) = (percentile(&mut frames, 0.5), percentile(&mut frames, 0.99));
    let (k50, k99) = (percentile(&mut keys, 0.5), percentile(&mut keys, 0.99));
    println!(
        "render 300 clusters at 200x60 ({} build): frame p50 {f50:?} p99 {f99:?}; \
         key j → new frame p50 {k50:?} p99 {k99:?}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    assert!(app.selected_cluster().is_some());
}

fn demo_app(snapshot: Snapshot, now: DateTime<Utc>) -> App {
    let theme =
        vipdeck::faces::tui::theme::Theme::try_from(&vipdeck::faces::theme::default_theme())
            .expect("theme");
    let mut app = App::new(snapshot, Thresholds::default(), theme, now);
    app.demo = true;
    app.source_label = "DEMO · simulated clusters".into();
    app
}

fn draw_app(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    term.draw(|f| vipdeck::faces::tui::view::draw(f, app))
        .expect("draw");
    format!("{}", term.backend())
}

fn press(app: &mut App, c: char) {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    app.update(vipdeck::faces::tui::app::Msg::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::NONE,
    )));
}

/// The rows of the dashboard's alerts pane, its heading left out.
fn alert_rows(screen: &str) -> Vec<String> {
    screen
        .lines()
        .map(|l| l.trim_matches('"').trim_end().to_string())
        .skip_while(|l| !l.starts_with("ALERTS ("))
        .skip(1)
        .take_while(|l| !l.starts_with("TIMELINE"))
        .collect()
}

/// Right after the master dies, with the move about to fail: the
/// countdown is what to watch, before who is down and why; at 80×24 it
/// is on screen whole, at 60×20 first; `a` shows every alert whole.
#[test]
fn the_countdown_leads_the_alerts_and_a_shows_them_all() {
    let (s, now) = scenario(
        |c, t| {
            c.cloud_faults.move_broken = true;
            let m = c.vrrp_master().expect("a master");
            c.stop_keepalived(m, t);
        },
        3,
    );
    for (w, h) in [(80, 24), (60, 20)] {
        let mut app = demo_app(s.clone(), now);
        assert_eq!(app.assessments[0].alerts.len(), 3);
        let text = draw_app(&app, w, h);
        let rows = alert_rows(&text);
        assert!(
            rows[0].starts_with("▲ cloud binds 192.0.2.12 to havip-02 but havip-01 is MASTER"),
            "{w}x{h}: the converging alert first:\n{text}"
        );
        if w == 80 {
            let pane = rows.join(" ");
            for whole in ["(8s left)", "keepalived is not running", "no standby"] {
                assert!(pane.contains(whole), "{w}x{h}: {whole:?}:\n{text}");
            }
        } else {
            assert!(
                rows.last()
                    .is_some_and(|l| l.contains("a shows every alert")),
                "{w}x{h}: the pane says how to see the rest:\n{text}"
            );
        }
        press(&mut app, 'a');
        let all = draw_app(&app, w, h);
        // The box's rows, between its borders, joined.
        let flat: String = all
            .lines()
            .filter_map(|l| {
                let (a, b) = (l.find('│')?, l.rfind('│')?);
                (a < b).then(|| l[a + '│'.len_utf8()..b].trim())
            })
            .collect::<Vec<_>>()
            .join(" ");
        for whole in [
            "waiting for the HAVIP to follow havip-01's gratuitous ARP for 1s so far, expected within 10s (8s left)",
            "havip-02: keepalived is not running",
            "havip-02 is STOP: no standby if havip-01 fails",
        ] {
            assert!(flat.contains(whole), "{w}x{h} after a: {whole:?}:\n{all}");
        }
        assert!(all.contains("alerts · web · ▲ DEGRADED · 3"), "{all}");
        // The footer names the box's keys, not the dashboard's.
        let footer = all.lines().last().unwrap_or("");
        assert!(
            footer.contains("Esc back") && !footer.contains("move VIP"),
            "{footer}"
        );
        press(&mut app, 'a');
        assert_eq!(draw_app(&app, w, h), text, "a again: back to the dashboard");
        if w == 60 {
            insta::assert_snapshot!("alerts_screen_60x20", all);
        }
    }
}

/// `? help`, `q quit` and the failover keys are in the footer at every
/// size, in the demo and with real clusters, with a message showing too.
#[test]
fn the_failover_keys_stay_in_the_footer_at_every_size() {
    let (s, now) = scenario(|_, _| {}, 2);
    for real in [false, true] {
        for (w, h) in [(200, 60), (100, 30), (80, 24), (60, 20)] {
            let mut app = demo_app(s.clone(), now);
            if real {
                app.demo = false;
                app.config = Some(std::sync::Arc::new(vipdeck::core::config::Config::default()));
            }
            for flash in [false, true] {
                if flash {
                    // `o` sorts; a long message stands in for any flash.
                    app.handle(Action::Refused(
                        "a message long enough to fill the whole footer of a narrow terminal",
                    ));
                }
                let text = draw_app(&app, w, h);
                let footer = text.lines().last().unwrap_or("").to_string();
                for hint in ["? help", "q quit", "m move VIP", "F force"] {
                    assert!(
                        footer.contains(hint),
                        "{w}x{h} real={real} flash={flash}: {hint:?} missing:\n{footer}"
                    );
                }
            }
        }
    }
}

/// A fault toggle says which way it went, and the title lists the
/// faults in force until they are toggled off or healed.
#[test]
fn fault_toggles_say_on_or_off_and_the_title_lists_what_is_on() {
    use vipdeck::faces::tui::app::Fault;
    let (s, now) = scenario(|_, _| {}, 2);
    let mut app = demo_app(s, now);
    let title_and_footer = |app: &App| {
        let text = draw_app(app, 80, 24);
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        (lines[0].clone(), lines[lines.len() - 1].clone())
    };
    app.handle(Action::Inject(Fault::ToggleMoveBroken));
    let (title, footer) = title_and_footer(&app);
    assert!(footer.contains("web: notify script fails on"), "{footer}");
    assert!(
        title.contains("faults on web: notify script fails"),
        "{title}"
    );
    app.handle(Action::NextPeer);
    app.handle(Action::Inject(Fault::ToggleUnreachable));
    let (title, footer) = title_and_footer(&app);
    assert!(
        footer.contains("web: SSH black hole on havip-02 on"),
        "{footer}"
    );
    assert!(title.contains("SSH black hole on havip-02"), "{title}");
    app.handle(Action::Inject(Fault::ToggleMoveBroken));
    let (title, footer) = title_and_footer(&app);
    assert!(footer.contains("web: notify script fails off"), "{footer}");
    assert!(!title.contains("notify"), "{title}");
    app.handle(Action::Inject(Fault::Heal));
    let (title, _) = title_and_footer(&app);
    assert!(!title.contains("faults on"), "healed: {title}");
}

/// `--read-only` in the demo: a fault key says why it does nothing.
#[test]
fn a_fault_key_in_a_read_only_demo_says_why() {
    let (s, now) = scenario(|_, _| {}, 2);
    let mut app = demo_app(s, now);
    app.read_only = true;
    press(&mut app, 'K');
    let text = draw_app(&app, 80, 24);
    let footer = text.lines().last().unwrap_or("");
    assert!(
        footer.contains("read-only: demo faults are disabled"),
        "{text}"
    );
}

/// The title counts the fleet by verdict at every size, so a broken
/// cluster off the narrow screen's strip is still counted.
#[test]
fn the_title_counts_the_fleet_by_verdict_at_every_size() {
    let mut sims: Vec<SimCluster> = (0..30)
        .map(|i| {
            let name = format!("web-{}", i + 1);
            SimCluster::new(
                ClusterParams {
                    name: &name,
                    mode: vipdeck::core::model::Mode::Havip,
                    vip: &format!("10.0.{i}.100"),
                    peer_names: [&format!("{name}-a"), &format!("{name}-b")],
                    addresses: [[10, 0, i as u8, 5], [10, 0, i as u8, 6]],
                    priorities: [100, 100],
                    cloud_delay: std::time::Duration::from_secs(2),
                },
                t0(),
            )
        })
        .collect();
    let (mut snapshot, t) = settled(&mut sims);
    for ci in [4, 11, 23] {
        snapshot.clusters[ci].cloud = Default::default();
    }
    let mut app = demo_app(snapshot, t);
    app.handle(Action::Bottom);
    let broken = app
        .assessments
        .iter()
        .filter(|a| a.verdict != Verdict::Healthy)
        .count();
    assert_eq!(broken, 3);
    for (w, h) in [(200, 60), (100, 30), (80, 24), (60, 20)] {
        let text = draw_app(&app, w, h);
        let title = text.lines().next().unwrap_or("");
        assert!(
            title.contains("30 clusters") && title.contains("✔ 27") && title.contains(" 3"),
            "{w}x{h}: {title}"
        );
    }
}

/// The log screen keeps the cluster's verdict in its title, at 80 and 60
/// columns: reading the logs of a drifted VIP, the drift stays in sight.
#[test]
fn the_log_screen_shows_the_verdict() {
    let (s, now) = scenario(
        |c, t| {
            c.cloud_faults.move_broken = true;
            let m = c.vrrp_master().expect("a master");
            c.stop_keepalived(m, t);
        },
        16,
    );
    let mut app = demo_app(s, now);
    assert_eq!(app.assessments[0].verdict, Verdict::VipDrift);
    press(&mut app, 'l');
    for (w, h) in [(80, 24), (60, 20)] {
        let text = draw_app(&app, w, h);
        let title = text.lines().next().unwrap_or("");
        assert!(title.contains("LOGS"), "{text}");
        assert!(title.contains("✖ VIP DRIFT"), "{w}x{h}: {title}");
    }
}

/// The cloud API failing for 90 s (the demo's `C`): the last answer is
/// stale, and it still names pay-b's ENI. Screen and `status` say what they
/// know — that ENI, on pay-b, read long ago — not that the ENI belongs to
/// no peer of the cluster.
#[test]
fn stale_cloud_data_names_the_peer_and_says_it_is_stale() {
    let mut c = pair("pay", vipdeck::core::model::Mode::Eni);
    let mut t = run(&mut c, t0(), 10);
    let mut snapshot = Snapshot::new(vec![spec_of(&c)]);
    observe(&mut snapshot, 0, &mut c, t);
    for _ in 0..90 {
        t = run(&mut c, t, 1);
        for i in 0..2 {
            snapshot.apply(Update::Peer {
                cluster: 0,
                peer: i,
                observation: observe_peer(&c, i, t),
            });
        }
        snapshot.apply(Update::Cloud {
            cluster: 0,
            at: t,
            result: Err("InternalError: An internal error has occurred.".into()),
            credential_source: Some("simulator".into()),
        });
    }
    let status = vipdeck::faces::report::render_text(&vipdeck::faces::report::report(
        &snapshot,
        &Thresholds::default(),
        t,
        None,
    ));
    let (text, verdict) = screen(snapshot, t, 120, 30);
    assert_eq!(verdict, Verdict::Degraded, "{text}");
    let cloud = text
        .lines()
        .find(|l| l.contains("cloud VIP"))
        .unwrap_or_else(|| panic!("a cloud line:\n{text}"));
    assert!(cloud.contains("eni-pay2 on pay-b"), "{text}");
    assert!(cloud.contains("stale: last read 1m30s ago"), "{text}");
    assert!(!text.contains("not a peer"), "{text}");
    let line = status
        .lines()
        .find(|l| l.contains("cloud: VIP"))
        .unwrap_or_else(|| panic!("a cloud line:\n{status}"));
    assert!(
        line.contains("eni-pay2 on pay-b, read 1m30s ago (stale)"),
        "{status}"
    );
    assert!(!status.contains("not a peer"), "{status}");
}

/// Issue #28: a planned window shows in the banner (who, until when, time
/// left, why) beside the verdict it does not change, and once past its
/// end it says EXPIRED instead of silently staying a window.
#[test]
fn the_banner_shows_a_maintenance_window_and_its_expiry() {
    use vipdeck::core::maintenance::{MaintenanceMarker, MarkerSeen};
    use vipdeck::core::model::PeerObservation;
    let mut c = pair("web", vipdeck::core::model::Mode::Havip);
    let (mut snapshot, t) = settled(std::slice::from_mut(&mut c));
    let marker = MaintenanceMarker {
        by: "ops@jump1".into(),
        reason: "kernel update".into(),
        peer: Some("havip-02".into()),
        started: t,
        until: t + chrono::Duration::minutes(90),
        token: "t".into(),
        silence_id: None,
    };
    for peer in 0..2 {
        snapshot.apply(Update::Peer {
            cluster: 0,
            peer,
            observation: {
                let mut o = PeerObservation::default();
                o.at = t;
                o.maintenance = Some(MarkerSeen::Window(Box::new(marker.clone())));
                o
            },
        });
    }
    let (during, verdict) = screen(snapshot.clone(), t, 80, 24);
    assert_eq!(verdict, Verdict::Healthy, "a window changes no verdict");
    let banner = during.lines().nth(2).unwrap_or_default();
    assert!(
        banner.contains("MAINTENANCE 1h30m left · ops@jump1 on havi") && !banner.contains("……"),
        "{during}"
    );
    let wide = screen(snapshot.clone(), t, 200, 60).0;
    assert!(
        wide.contains(
            "MAINTENANCE 1h30m left · ops@jump1 on havip-02 · until 00:10 UTC · kernel update"
        ),
        "{wide}"
    );
    let later = t + chrono::Duration::minutes(100);
    let (after, _) = screen(snapshot, later, 100, 30);
    assert!(
        after.contains("MAINTENANCE EXPIRED 10m00s ago · ops@jump1"),
        "{after}"
    );
}

/// #26: vip.py's failed move stays on the dashboard after the binding is
/// repaired and the verdict recovers, until `a` in the alerts screen
/// acknowledges it; the acknowledgement is in the audit trail and holds
/// when the dashboard opens again on the same logs.
#[test]
fn a_failed_action_stays_after_recovery_until_a_acknowledges_it() {
    use vipdeck::core::model::{CloudBinding, Mode};
    let mut c = pair("web", Mode::Eni);
    let mut t = run(&mut c, t0(), 10);
    let mut snapshot = Snapshot::new(vec![spec_of(&c)]);
    observe(&mut snapshot, 0, &mut c, t);
    c.cloud_faults.move_broken = true;
    let m = c.vrrp_master().expect("a master");
    c.stop_keepalived(m, t);
    for _ in 0..40 {
        t = run(&mut c, t, 1);
        observe(&mut snapshot, 0, &mut c, t);
    }
    let app = demo_app(snapshot.clone(), t);
    assert_eq!(app.assessments[0].verdict, Verdict::VipDrift);
    // The operator's forced move: the binding follows the master.
    let master = app.assessments[0].master.expect("a master");
    let eni = snapshot.clusters[0].spec.peers[master]
        .network_interface_id
        .clone();
    snapshot.apply(Update::Cloud {
        cluster: 0,
        at: t,
        result: Ok(CloudBinding {
            network_interface_id: eni,
            state: Some("AVAILABLE".into()),
            ..Default::default()
        }),
        credential_source: None,
    });
    let dir = tempfile::tempdir().expect("tmp");
    let audit = dir.path().join("audit.jsonl");
    let mut app = demo_app(snapshot.clone(), t);
    app.audit_override = Some(audit.clone());
    assert_ne!(app.assessments[0].verdict, Verdict::VipDrift);
    let failure = "vip.py's VIP move failed";
    let dash = draw_app(&app, 100, 40);
    assert!(dash.contains(failure), "stays after the repair:\n{dash}");

    press(&mut app, 'a');
    let alerts = draw_app(&app, 100, 40);
    assert!(
        alerts.contains(&format!("▶ {}", c.peers[master].name)),
        "the failed action is marked:\n{alerts}"
    );
    assert!(alerts.contains("x acknowledge"), "{alerts}");
    // `a`, which opened the box, only closes it: nothing acknowledged.
    press(&mut app, 'a');
    assert!(
        draw_app(&app, 100, 40).contains(failure),
        "a closes, never acknowledges"
    );
    assert!(!audit.exists(), "nothing written by a");
    press(&mut app, 'a');
    draw_app(&app, 100, 40);
    press(&mut app, 'x');
    let after = draw_app(&app, 100, 40);
    assert!(
        !after.contains("shown until it succeeds") && after.contains("DEGRADED · 2 · most urgent"),
        "acknowledged, gone:\n{after}"
    );
    assert!(
        after.contains("acknowledged: web havip-01: vip.py's VIP move failed at 22:40"),
        "said so:\n{after}"
    );
    let trail = std::fs::read_to_string(&audit).expect("the audit trail");
    assert!(
        trail.contains(r#""kind":"acknowledge""#) && trail.contains("InternalError"),
        "{trail}"
    );

    // The dashboard opened again on the same logs: still acknowledged.
    let mut reopened = snapshot.clone();
    vipdeck::failover::audit::seed_acknowledgements(&mut reopened, Some(&audit));
    let again = demo_app(reopened, t);
    assert!(!draw_app(&again, 100, 40).contains(failure));
    // Without the acknowledgement it would show.
    assert!(draw_app(&demo_app(snapshot, t), 100, 40).contains(failure));
}

/// The data-plane witness's line under the cloud line: the VIP answering
/// from its MASTER, then silent with its error, since-when and how long;
/// the node's name an answer gives is shown cleaned.
#[test]
fn the_vip_line_says_whether_clients_reach_the_vip() {
    use std::time::Duration;
    use vipdeck::core::dataplane::{NoAnswer, ProbeOutcome, ProbeResult};
    let probe = |snapshot: &mut Snapshot, at: DateTime<Utc>, outcome: ProbeOutcome| {
        snapshot.apply(Update::Dataplane {
            cluster: 0,
            result: ProbeResult { at, outcome },
            skipped_rounds: 0,
        });
    };
    let (mut snapshot, now) = scenario(|_, _| {}, 0);
    let (before, _) = screen(snapshot.clone(), now, 80, 24);
    assert!(
        !before.contains("VIP ✔") && !before.contains("VIP ✖"),
        "{before}"
    );

    let answered = |node: &str| ProbeOutcome::Answered {
        rtt: Duration::from_millis(3),
        node: Some(node.into()),
    };
    probe(
        &mut snapshot,
        now - chrono::Duration::seconds(20),
        answered("havip-02"),
    );
    probe(&mut snapshot, now, answered("havip-02"));
    for (w, h) in [(80, 24), (100, 30), (140, 40)] {
        let (text, verdict) = screen(snapshot.clone(), now, w, h);
        assert_eq!(verdict, Verdict::Healthy, "{text}");
        assert!(
            text.contains("VIP ✔ answers 3.0ms from havip-02 · since 22:39:50 UTC"),
            "{w}x{h}\n{text}"
        );
        // The cloud line is still there, above it.
        assert!(text.contains("cloud VIP 192.0.2.12"), "{w}x{h}\n{text}");
    }

    let silent = ProbeOutcome::NoAnswer(NoAnswer::Timeout(Duration::from_millis(800)));
    probe(
        &mut snapshot,
        now + chrono::Duration::seconds(1),
        silent.clone(),
    );
    let later = now + chrono::Duration::seconds(8);
    probe(&mut snapshot, later, silent);
    let (text, a) = screen_with(snapshot.clone(), later, 80, 24);
    assert!(
        text.contains("VIP ✖ no answer (timeout 800ms) since 22:40:11 UTC (7s)"),
        "{text}"
    );
    assert_eq!(a.verdict, Verdict::Degraded, "{text}");
    assert!(
        a.alerts[0]
            .message
            .starts_with("192.0.2.12 does not answer clients (timeout 800ms)"),
        "{:?}",
        a.alerts
    );
    assert!(text.contains("does not answer"), "{text}");
}
