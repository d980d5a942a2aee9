//! The demo through normal takeovers, watched as a person watches it:
//! `vipdeck demo` in a tmux pane, `K` (keepalived killed on the MASTER) and
//! `S` (started again) sent with `send-keys`, the pane read every 50 ms.
//! The same transcript check as the lab's version matrix: a takeover that
//! goes as keepalived makes it go pages nobody — no critical verdict or
//! alert (`✖`) and no claim that the old master holds on.

use crate::tmux_pane::{vipdeck_cmd, Pane};
use std::time::{Duration, Instant};

/// What must never show through a normal takeover, and why (the screen
/// read in lower case: a verdict's header or an alert's words).
const FALSE_ALARMS: [(&str, &str); 3] = [
    ("✖", "a critical verdict or alert"),
    ("split brain", "a split brain, or one said to come"),
    ("has not let go", "the old master said to hold on"),
];

/// Every screen read while a takeover runs, and those that raised a false
/// alarm.
#[derive(Default)]
struct Transcript {
    headers: Vec<String>,
    false_alarms: Vec<String>,
}

impl Transcript {
    /// Reads the pane every 50 ms until `done` holds (within the product's
    /// own budgets and then some); each screen goes into the transcript.
    fn watch_until(&mut self, pane: &Pane, why: &str, done: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = pane.capture();
            let header = screen.lines().nth(1).unwrap_or("").to_string();
            if self.headers.last() != Some(&header) {
                self.headers.push(header);
            }
            let lower = screen.to_lowercase();
            for (needle, what) in FALSE_ALARMS {
                if lower.contains(needle) {
                    self.false_alarms.push(format!("{what}:\n{screen}"));
                }
            }
            // The killed master shown MASTER beside the one that took over.
            if peer_states(&screen)
                .iter()
                .filter(|w| *w == "MASTER")
                .count()
                == 2
            {
                self.false_alarms
                    .push(format!("both peers shown MASTER:\n{screen}"));
            }
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < until,
                "{why}; the pane shows:\n{screen}\nheaders so far:\n{}",
                self.headers.join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The selected cluster's name and MASTER, from the header
/// (`✔ HEALTHY  web · MASTER havip-01 · havip · VIP …`).
fn header_master(screen: &str) -> Option<(String, String)> {
    let header = screen.lines().nth(1)?;
    let mut parts = header.split(" · ");
    let cluster = parts.next()?.split_whitespace().last()?.to_string();
    let master = parts.next()?.strip_prefix("MASTER ")?.trim().to_string();
    Some((cluster, master))
}

/// The peers of the selected cluster, in the order the panes show them
/// (`┌ havip-01 sim:192.0.2.5 ───`).
fn peer_names(screen: &str) -> Vec<String> {
    screen
        .lines()
        .filter_map(|l| l.split("┌ ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The state a peer's pane shows (`│state BACKUP via dump · …`), by order.
fn peer_states(screen: &str) -> Vec<String> {
    screen
        .lines()
        .filter_map(|l| l.split("│state ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// One takeover on the selected cluster: `K` kills keepalived on the
/// MASTER, its BACKUP takes over and the cloud follows; `S` starts the old
/// master again, which comes back as BACKUP.
fn takeover(pane: &Pane, t: &mut Transcript) {
    let before = t.watch_until(pane, "a cluster with one MASTER", |s| {
        header_master(s).is_some() && peer_states(s).iter().filter(|w| *w == "BACKUP").count() == 1
    });
    let (cluster, old) = header_master(&before).expect("a MASTER");
    let peers = peer_names(&before);
    let new = peers
        .iter()
        .find(|p| **p != old)
        .unwrap_or_else(|| panic!("two peers:\n{before}"))
        .clone();
    pane.keys(&["K"]);
    t.watch_until(
        pane,
        &format!("{cluster}: {new} takes over and the cloud binds the VIP to it"),
        |s| {
            header_master(s) == Some((cluster.clone(), new.clone()))
                && s.lines()
                    .any(|l| l.contains("cloud VIP") && l.contains(&format!(" on {new}")))
        },
    );
    pane.keys(&["S"]);
    t.watch_until(pane, &format!("{cluster}: {old} back as BACKUP"), |s| {
        let names = peer_names(s);
        let states = peer_states(s);
        names
            .iter()
            .zip(&states)
            .any(|(n, st)| *n == old && st == "BACKUP")
            && header_master(s) == Some((cluster.clone(), new.clone()))
    });
}

#[test]
fn takeovers_in_the_demo_raise_no_false_alarm() {
    let data = tempfile::tempdir().expect("tempdir");
    let pane = Pane::start("takeover", 120, 40, &vipdeck_cmd(data.path(), "demo"));
    let mut t = Transcript::default();
    t.watch_until(&pane, "the demo's two clusters, healthy", |s| {
        s.contains("2 clusters") && s.lines().nth(1).is_some_and(|h| h.contains("HEALTHY"))
    });
    // Two takeovers on each cluster: the HAVIP one and the ENI one.
    for _ in 0..2 {
        takeover(&pane, &mut t);
    }
    // The other cluster, below or above in the list (sorted worst first).
    let first = header_master(&pane.capture()).map(|(c, _)| c);
    pane.keys(&["j"]);
    std::thread::sleep(Duration::from_millis(500));
    if header_master(&pane.capture()).map(|(c, _)| c) == first {
        pane.keys(&["k"]);
    }
    t.watch_until(&pane, "the other cluster selected", |s| {
        header_master(s).map(|(c, _)| c) != first
    });
    for _ in 0..2 {
        takeover(&pane, &mut t);
    }
    assert!(
        t.false_alarms.is_empty(),
        "{} screens raised a false alarm through normal takeovers; the first:\n{}\nheaders:\n{}",
        t.false_alarms.len(),
        t.false_alarms[0],
        t.headers.join("\n")
    );
}
