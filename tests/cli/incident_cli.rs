//! The incident record as an operator makes it: `vipdeck demo`, a
//! takeover (`K`), then `I`; the record in the data dir read back.

use crate::tmux_pane::{vipdeck_cmd, Pane};

#[test]
fn the_dashboards_verdict_changes_are_on_the_incident_timeline() {
    let data = tempfile::tempdir().expect("tempdir");
    let pane = Pane::start(
        "incident-verdicts",
        80,
        24,
        &vipdeck_cmd(data.path(), "demo"),
    );
    pane.wait_for("the demo comes up healthy", |s| s.contains("HEALTHY"));
    // Kill the selected cluster's MASTER: its verdict leaves healthy...
    pane.keys(&["K"]);
    pane.wait_for("the takeover shows", |s| !s.contains("HEALTHY"));
    // ...and comes back once the backup has taken over and the cloud followed.
    pane.wait_for("healthy again after the takeover", |s| {
        s.contains("HEALTHY")
    });
    pane.keys(&["I"]);
    pane.wait_for("I says where the record is", |s| {
        s.contains("incident record written")
    });
    let record = std::fs::read_dir(data.path())
        .expect("the data dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("incident-"))
        })
        .expect("an incident record in the data dir");
    let md = std::fs::read_to_string(&record).expect("the record");

    let timeline: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(" | verdict | "))
        .collect();
    let shown = |w: &str| {
        timeline
            .iter()
            .any(|l| l.contains(&format!("dashboard verdict {w}")))
    };
    assert!(shown("HEALTHY"), "{md}");
    assert!(
        ["DEGRADED", "VIP_DRIFT", "NO_MASTER", "SPLIT_BRAIN"]
            .iter()
            .any(|w| shown(w)),
        "the takeover's verdicts are on the timeline:\n{md}"
    );
    // The takeover row names what the dashboard showed through it, ending
    // healthy, and its interruption is measured.
    let row = md
        .lines()
        .skip_while(|l| !l.starts_with("## Takeovers"))
        .find(|l| l.starts_with("| ") && l.trim_end().ends_with("→ healthy |"))
        .unwrap_or_else(|| panic!("no takeover row with the verdicts shown:\n{md}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert!(cells[7].ends_with(" s"), "interruption measured: {row}");
}
