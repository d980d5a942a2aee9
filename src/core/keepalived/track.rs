//! What moves an instance's priority and what puts it in FAULT, as
//! keepalived's dumps tell it: the trackers (`track_script`,
//! `track_interface`, `track_file`, `track_process`) with their weights
//! and last results, base and effective priority, wantstate and preemption.
//!
//! Where each release writes them (tests/fixtures/keepalived/versions/):
//! - the text data dump, 2.x: per instance `Tracked scripts :` (2.1+) or
//!   `Tracked scripts = N` (2.0) lists `NAME weight W [reverse]`; the
//!   sections `VRRP Scripts` (`Status = GOOD|BAD`), `Track file = NAME`
//!   (`Status = N`), `VRRP Track process = NAME` (`Have quorum = ...`) and
//!   `Interfaces` (`State = [not ]UP, [not ]RUNNING`) give each one's result.
//! - the text data dump, 1.x: `Tracked interfaces = N` followed by a
//!   `------< NIC >------` block per interface (` is UP`, ` is DOWN`), and
//!   `Tracked scripts = N` by ` VRRP Script = NAME` blocks carrying their
//!   own `Status` and `Interface weight W` (the per-instance weight).
//! - the JSON dump (2.x): `track_ifp` and `track_process` names and the
//!   `track_script` commands, never a result nor a weight.
//!
//! Parsing is bounded (at most [`MAX_TRACKERS`] per instance) and never
//! fails: what a dump does not say stays `None` / `Unknown`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most trackers kept per instance (a hostile dump cannot grow the model).
pub const MAX_TRACKERS: usize = 64;
/// Longest tracker name kept.
const MAX_NAME: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    Script,
    Interface,
    File,
    Process,
}

impl TrackKind {
    /// The keepalived.conf keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            TrackKind::Script => "track_script",
            TrackKind::Interface => "track_interface",
            TrackKind::File => "track_file",
            TrackKind::Process => "track_process",
        }
    }
}

/// A tracker as keepalived.conf names it for an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfTracker {
    pub kind: TrackKind,
    pub name: String,
    /// The weight written (in the instance's list, else on the tracked
    /// object); None when the file does not say.
    pub weight: Option<i32>,
    #[serde(default)]
    pub reverse: bool,
}

/// A tracker's last result as keepalived judged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackStatus {
    /// Script GOOD, interface up and running, file status 0, process quorum.
    Good,
    /// Script BAD, interface down, file status non-zero, no quorum.
    Bad,
    /// The dump did not say (or said something unknown).
    Unknown,
}

/// One tracker of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracker {
    pub kind: TrackKind,
    pub name: String,
    /// The weight keepalived applies to this instance (the per-instance
    /// override, else the tracker's own); 0 means "failure is FAULT".
    pub weight: Option<i32>,
    /// `weight ... reverse`: a success lowers, a failure raises.
    #[serde(default)]
    pub reverse: bool,
    pub status: TrackStatus,
    /// keepalived's own words for the result (`Status = BAD`,
    /// `State = not UP, not RUNNING`, `Status = 1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub said: Option<String>,
}

/// Why an instance is where it is, as one dump says it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DumpWhy {
    pub base_priority: Option<u8>,
    pub effective_priority: Option<u8>,
    /// The state keepalived is heading for, as its word (`FAULT`).
    pub wantstate: Option<String>,
    pub nopreempt: Option<bool>,
    /// Seconds.
    pub preempt_delay: Option<f64>,
    /// `Number of interface and track script faults` (2.3: `Number of
    /// tracker faults`): non-zero keeps the instance in FAULT.
    pub fault_count: Option<u32>,
    /// The trackers this dump lists for the instance.
    pub trackers: Vec<Tracker>,
    /// Every interface's state the data dump's `Interfaces` section gives
    /// (2.x lists an instance's own interface there, not under
    /// `Tracked interfaces`, though keepalived tracks it all the same).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<(String, TrackStatus)>,
    /// Whether the dump gives trackers' results at all (the JSON dump
    /// names them only; a truncated data dump may lack the sections).
    pub results_given: bool,
}

fn clip_name(s: &str) -> String {
    crate::core::sanitize::clip(s.trim(), MAX_NAME)
}

/// `NAME weight W [reverse]` or `NAME, weight W [reverse]` (2.x lists).
fn weighted_item(t: &str) -> Option<(String, Option<i32>, bool)> {
    let (name, rest) = t.split_once(" weight ")?;
    let name = name.trim().trim_end_matches([',', ':']);
    if name.is_empty() {
        return None;
    }
    let mut words = rest.split_whitespace();
    let weight = words.next().and_then(|w| w.parse().ok());
    let reverse = words.any(|w| w == "reverse");
    Some((clip_name(name), weight, reverse))
}

/// A tracker's global result, by kind and name.
type Results = BTreeMap<(TrackKind, String), (TrackStatus, String)>;

/// Reads the trackers and priority facts of every instance from a text
/// data dump (any release from 1.2.24 to 2.3.x), keyed by instance name.
pub fn data_dump_why(text: &str) -> BTreeMap<String, DumpWhy> {
    let mut out: BTreeMap<String, DumpWhy> = BTreeMap::new();
    let mut results: Results = BTreeMap::new();
    let mut section = String::new();
    let mut inst: Option<String> = None;
    // The instance's tracker list we are in and its header's indent.
    let mut list: Option<(TrackKind, usize)> = None;
    // The global object whose result lines follow (`VRRP Script = x`).
    let mut object: Option<(TrackKind, String)> = None;
    // 1.x: the NIC / script block printed inside the instance.
    let mut legacy: Option<(TrackKind, String)> = None;
    let mut any_result = false;
    for line in text.lines().take(200_000) {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if let Some(h) = t.strip_prefix("------<") {
            let name = h.trim_end_matches('-').trim_end_matches('>').trim();
            list = None;
            object = None;
            if name == "NIC" && inst.is_some() {
                // 1.x: a tracked interface's block, inside the instance.
                legacy = Some((TrackKind::Interface, String::new()));
                continue;
            }
            legacy = None;
            section = name.to_string();
            if section != "VRRP Topology" {
                inst = None;
            }
            continue;
        }
        if section == "VRRP Topology" {
            if let Some(name) = t.strip_prefix("VRRP Instance = ") {
                let name = clip_name(name);
                out.entry(name.clone()).or_default();
                inst = Some(name);
                list = None;
                legacy = None;
                continue;
            }
            let Some(cur_name) = inst.clone() else {
                continue;
            };
            let Some(cur) = out.get_mut(&cur_name) else {
                continue;
            };
            // 1.x blocks inside the instance.
            if let Some((kind, name)) = legacy.as_mut() {
                if *kind == TrackKind::Interface {
                    if let Some(n) = t.strip_prefix("Name = ") {
                        *name = clip_name(n);
                        push_tracker(cur, TrackKind::Interface, name.clone(), Some(0), false);
                        continue;
                    }
                    if !name.is_empty() {
                        let said = match t {
                            "is UP" | "is RUNNING" => Some(TrackStatus::Good),
                            "is DOWN" => Some(TrackStatus::Bad),
                            _ => None,
                        };
                        if let Some(s) = said {
                            set_status(cur, *kind, name, s, t);
                            any_result = true;
                            continue;
                        }
                        if let Some(w) = t.strip_prefix("weight = ") {
                            set_weight(cur, *kind, name, w.parse().ok());
                            continue;
                        }
                        if indent <= 1 {
                            continue;
                        }
                    }
                } else {
                    if let Some(s) = t.strip_prefix("Status = ") {
                        let st = script_status(s);
                        set_status(cur, *kind, name, st, t);
                        any_result = true;
                        continue;
                    }
                    if let Some(w) = t.strip_prefix("Interface weight ") {
                        set_weight(cur, *kind, name, w.trim().parse().ok());
                        continue;
                    }
                    if let Some(w) = t.strip_prefix("Weight = ") {
                        // The script's own weight, until the instance's.
                        set_weight(
                            cur,
                            *kind,
                            name,
                            w.split_whitespace().next().and_then(|w| w.parse().ok()),
                        );
                        continue;
                    }
                    if matches!(
                        t.split_once(" = ").map(|x| x.0),
                        Some("Command" | "Interval" | "Rise" | "Full" | "Fall" | "Insecure")
                    ) {
                        continue;
                    }
                }
                legacy = None;
            }
            if let Some(n) = t.strip_prefix("VRRP Script = ") {
                // 1.x: a tracked script's block right after `Tracked scripts = N`.
                let name = clip_name(n);
                push_tracker(cur, TrackKind::Script, name.clone(), None, false);
                legacy = Some((TrackKind::Script, name));
                list = None;
                continue;
            }
            if let Some((kind, at)) = list {
                if indent > at && !t.is_empty() {
                    if let Some((name, weight, reverse)) = weighted_item(t) {
                        push_tracker(cur, kind, name, weight, reverse);
                        continue;
                    }
                }
                list = None;
            }
            let header = |name: &str| {
                t.strip_prefix(name)
                    .is_some_and(|r| r.trim() == ":" || r.starts_with(" = "))
            };
            let kinds = [
                ("Tracked interfaces", TrackKind::Interface),
                ("Tracked scripts", TrackKind::Script),
                ("Tracked files", TrackKind::File),
                ("Tracked processes", TrackKind::Process),
                ("Tracked process", TrackKind::Process),
            ];
            if let Some((_, kind)) = kinds.iter().find(|(h, _)| header(h)) {
                list = Some((*kind, indent));
                continue;
            }
            let Some((key, value)) = t.split_once(" = ") else {
                continue;
            };
            let value = value.trim();
            match key {
                "Wantstate" => cur.wantstate = Some(clip_name(value)),
                "Priority" => cur.base_priority = value.parse().ok(),
                "Effective priority" => cur.effective_priority = value.parse().ok(),
                "Preempt" => cur.nopreempt = Some(value == "disabled"),
                "Preempt delay" => {
                    cur.preempt_delay = value
                        .split_whitespace()
                        .next()
                        .and_then(|v| v.parse().ok())
                        .filter(|v: &f64| v.is_finite())
                }
                // 2.3 renamed it.
                "Number of interface and track script faults" | "Number of tracker faults" => {
                    cur.fault_count = value.parse().ok()
                }
                _ => {}
            }
            continue;
        }
        // The global sections of 2.x: each tracker's result.
        if let Some(n) = t.strip_prefix("VRRP Script = ") {
            object = Some((TrackKind::Script, clip_name(n)));
            continue;
        }
        if let Some(n) = t.strip_prefix("Track file = ") {
            object = Some((TrackKind::File, clip_name(n)));
            continue;
        }
        if let Some(n) = t.strip_prefix("VRRP Track process = ") {
            object = Some((TrackKind::Process, clip_name(n)));
            continue;
        }
        if section == "Interfaces" && indent == 1 {
            if let Some(n) = t.strip_prefix("Name = ") {
                object = Some((TrackKind::Interface, clip_name(n)));
                continue;
            }
        }
        let Some((kind, name)) = object.as_ref() else {
            continue;
        };
        let said = |s: TrackStatus| Some((s, crate::core::sanitize::clip(t, MAX_NAME)));
        let status = match (kind, t.split_once(" = ")) {
            (TrackKind::Script, Some(("Status", v))) => said(script_status(v)),
            (TrackKind::File, Some(("Status", v))) => said(match v.trim().parse::<i64>() {
                Ok(0) => TrackStatus::Good,
                Ok(_) => TrackStatus::Bad,
                Err(_) => TrackStatus::Unknown,
            }),
            (TrackKind::Process, Some(("Have quorum", v))) => said(match v.trim() {
                "true" => TrackStatus::Good,
                "false" => TrackStatus::Bad,
                _ => TrackStatus::Unknown,
            }),
            (TrackKind::Interface, Some(("State", v))) => {
                let v = v.trim();
                said(if v.starts_with("UP, RUNNING") {
                    TrackStatus::Good
                } else {
                    TrackStatus::Bad
                })
            }
            _ => None,
        };
        if let Some(s) = status {
            results.insert((*kind, name.clone()), s);
        }
    }
    for why in out.values_mut() {
        for tr in &mut why.trackers {
            if let Some((status, said)) = results.get(&(tr.kind, tr.name.clone())) {
                tr.status = *status;
                tr.said = Some(said.clone());
                any_result = true;
            }
        }
    }
    let interfaces: Vec<(String, TrackStatus)> = results
        .iter()
        .filter(|((kind, _), _)| *kind == TrackKind::Interface)
        .take(MAX_TRACKERS)
        .map(|((_, name), (status, _))| (name.clone(), *status))
        .collect();
    for why in out.values_mut() {
        why.results_given = any_result;
        why.interfaces = interfaces.clone();
    }
    out
}

fn script_status(v: &str) -> TrackStatus {
    match v.trim() {
        "GOOD" | "INIT/GOOD" => TrackStatus::Good,
        "BAD" | "INIT/FAILED" => TrackStatus::Bad,
        _ => TrackStatus::Unknown,
    }
}

fn push_tracker(
    why: &mut DumpWhy,
    kind: TrackKind,
    name: String,
    weight: Option<i32>,
    reverse: bool,
) {
    if why.trackers.len() >= MAX_TRACKERS || name.is_empty() {
        return;
    }
    why.trackers.push(Tracker {
        kind,
        name,
        weight,
        reverse,
        status: TrackStatus::Unknown,
        said: None,
    });
}

fn find<'a>(why: &'a mut DumpWhy, kind: TrackKind, name: &str) -> Option<&'a mut Tracker> {
    why.trackers
        .iter_mut()
        .rev()
        .find(|t| t.kind == kind && t.name == name)
}

fn set_status(why: &mut DumpWhy, kind: TrackKind, name: &str, status: TrackStatus, said: &str) {
    if let Some(t) = find(why, kind, name) {
        // 1.x prints ` is UP` and ` is RUNNING` on two lines: a DOWN wins.
        if t.status != TrackStatus::Bad {
            t.status = status;
            t.said = Some(crate::core::sanitize::clip(said, MAX_NAME));
        }
    }
}

fn set_weight(why: &mut DumpWhy, kind: TrackKind, name: &str, weight: Option<i32>) {
    if let (Some(t), Some(w)) = (find(why, kind, name), weight) {
        t.weight = Some(w);
    }
}

/// The JSON dump's part of an instance's why (`data` object): priorities,
/// wantstate, preemption, and the trackers' names without results.
pub(crate) fn json_why(data: &serde_json::Value, wantstate: Option<&str>) -> DumpWhy {
    use serde_json::Value;
    let u8f = |k: &str| {
        data.get(k)
            .and_then(Value::as_u64)
            .and_then(|v| u8::try_from(v).ok())
    };
    let names = |k: &str| -> Vec<String> {
        data.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .take(MAX_TRACKERS)
                    .map(clip_name)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut why = DumpWhy {
        base_priority: u8f("base_priority"),
        effective_priority: u8f("effective_priority"),
        wantstate: wantstate.map(str::to_string),
        nopreempt: match data.get("nopreempt") {
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::Number(n)) => n.as_i64().map(|v| v != 0),
            _ => None,
        },
        preempt_delay: data
            .get("preempt_delay")
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite()),
        fault_count: None,
        trackers: Vec::new(),
        interfaces: Vec::new(),
        results_given: false,
    };
    for (key, kind) in [
        ("track_ifp", TrackKind::Interface),
        // The script's command line: keepalived writes no name here.
        ("track_script", TrackKind::Script),
        ("track_process", TrackKind::Process),
    ] {
        for name in names(key) {
            push_tracker(&mut why, kind, name, None, false);
        }
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/keepalived/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture")
    }

    /// Every release of the matrix, in FAULT because `chk_ok` (weight 0)
    /// failed: the dump names the script, its weight and its BAD result.
    #[test]
    fn every_release_names_the_failing_script_of_a_fault() {
        for v in [
            "1.2.24", "1.3.5", "2.0.19", "2.1.5", "2.2.4", "2.2.7", "2.2.8", "2.3.4",
        ] {
            let why = data_dump_why(&fixture(&format!("versions/{v}/keepalived-fault.data")));
            let vi = why.get("VI_1").unwrap_or_else(|| panic!("{v}: no VI_1"));
            let script = vi
                .trackers
                .iter()
                .find(|t| t.kind == TrackKind::Script)
                .unwrap_or_else(|| panic!("{v}: no script in {vi:?}"));
            assert_eq!(script.name, "chk_ok", "{v}");
            assert_eq!(script.weight, Some(0), "{v}");
            assert_eq!(script.status, TrackStatus::Bad, "{v}: {vi:?}");
            assert!(vi.results_given, "{v}");
            assert_eq!(vi.base_priority, Some(100), "{v}");
            assert_eq!(vi.nopreempt, Some(true), "{v}");
            if !v.starts_with('1') {
                assert_eq!(vi.wantstate.as_deref(), Some("FAULT"), "{v}");
                assert_eq!(vi.fault_count, Some(1), "{v}");
                assert_eq!(vi.effective_priority, Some(100), "{v}");
            }
        }
    }

    /// 1.x prints the tracked interface as a NIC block inside the
    /// instance; its state is read from ` is UP`.
    #[test]
    fn old_releases_give_tracked_interfaces_with_their_state() {
        let why = data_dump_why(&fixture("versions/1.3.5/keepalived-fault.data"));
        let eth0 = why["VI_1"]
            .trackers
            .iter()
            .find(|t| t.kind == TrackKind::Interface)
            .expect("eth0 tracked");
        assert_eq!(eth0.name, "eth0");
        assert_eq!(eth0.status, TrackStatus::Good);
    }

    #[test]
    fn a_good_script_reads_good_and_a_master_has_no_fault() {
        let why = data_dump_why(&fixture("real/keepalived-master.data"));
        let vi = &why["VI_1"];
        assert_eq!(vi.trackers[0].status, TrackStatus::Good, "{vi:?}");
        assert_eq!(vi.fault_count, Some(0));
    }

    /// A dump cut before its `VRRP Scripts` section names the trackers but
    /// gives no result: nothing is guessed.
    #[test]
    fn a_dump_without_the_tracker_section_gives_no_result() {
        let full = fixture("real/keepalived-fault.data");
        let cut = &full[..full.find("------< VRRP Scripts").expect("section")];
        let why = data_dump_why(cut);
        let vi = &why["VI_1"];
        assert_eq!(vi.trackers.len(), 1);
        assert_eq!(vi.trackers[0].status, TrackStatus::Unknown);
        assert!(!vi.results_given);
    }

    #[test]
    fn interface_tracking_and_files_and_processes_in_2x_lists() {
        let text = "------< VRRP Topology >------\n VRRP Instance = VI_1\n   State = FAULT\n   Wantstate = FAULT\n   Number of interface and track script faults = 1\n   Priority = 100\n   Effective priority = 90\n   Preempt = enabled\n   Preempt delay = 5 secs\n   Tracked interfaces :\n     eth1 weight 0\n   Tracked files :\n     flag, weight -10\n   Tracked processes :\n     nginx, weight 20 reverse\n------< VRRP Scripts >------\n------< Interfaces >------\n Name = eth1\n   index = 3\n   State = not UP, not RUNNING\n Track file = flag\n   File = /tmp/flag\n   Status = 1\n VRRP Track process = nginx\n   Have quorum = true\n";
        let why = data_dump_why(text);
        let vi = &why["VI_1"];
        assert_eq!(vi.effective_priority, Some(90));
        assert_eq!(vi.nopreempt, Some(false));
        assert_eq!(vi.preempt_delay, Some(5.0));
        let by = |k| vi.trackers.iter().find(|t| t.kind == k).expect("tracker");
        assert_eq!(by(TrackKind::Interface).status, TrackStatus::Bad);
        assert_eq!(by(TrackKind::File).weight, Some(-10));
        assert_eq!(by(TrackKind::File).status, TrackStatus::Bad);
        assert!(by(TrackKind::Process).reverse);
        assert_eq!(by(TrackKind::Process).status, TrackStatus::Good);
    }

    #[test]
    fn garbage_never_panics_and_stays_bounded() {
        let mut text = String::from(
            "------< VRRP Topology >------\n VRRP Instance = X\n   Tracked scripts :\n",
        );
        for i in 0..1000 {
            text.push_str(&format!("     s{i} weight {}\n", i * 7));
        }
        text.push_str("\u{1b}[2J = = weight\n------<\n VRRP Script = \n   Status = ");
        let why = data_dump_why(&text);
        assert_eq!(why["X"].trackers.len(), MAX_TRACKERS);
        for junk in ["", "------<", " VRRP Instance = ", "weight weight weight"] {
            let _ = data_dump_why(junk);
        }
    }
}
