//! The dashboard driven the way a person drives it: `vipdeck demo
//! --clusters 40` in a real tmux pane, keys sent with `send-keys`, and what
//! the pane shows read back with `capture-pane`. tmux is a test dependency
//! (scripts/install-lab-deps.sh installs it); without it this test fails
//! rather than skips.

use crate::tmux_pane::{vipdeck_cmd, Pane};

/// The cluster list's column: the part of each row left of its border.
fn list_column(screen: &str) -> Vec<String> {
    screen
        .lines()
        .skip(1)
        .take_while(|l| l.contains('│'))
        .map(|l| l.split('│').next().unwrap_or("").trim().to_string())
        .collect()
}

#[test]
fn slash_pay_narrows_esc_clears_and_colon_jumps_to_web_17() {
    let data = tempfile::tempdir().expect("tempdir");
    let cmd = vipdeck_cmd(data.path(), "demo --clusters 40");
    let s = Pane::start("filter", 140, 45, &cmd);
    let first = s.wait_for("the demo's 40 clusters", |t| {
        t.contains("40 clusters") && t.contains("HEALTHY")
    });
    let before = list_column(&first);
    assert!(
        before
            .iter()
            .any(|r| !r.contains("pay-") && r.contains("healthy")),
        "{first}"
    );

    s.type_text("/pay");
    let filtered = s.wait_for("/pay narrows the list", |t| t.contains("/pay 5/40"));
    let rows: Vec<String> = list_column(&filtered)
        .into_iter()
        .filter(|r| r.ends_with("healthy") || r.contains(" vip_drift") || r.contains("degraded"))
        .collect();
    assert_eq!(rows.len(), 5, "five pay clusters:\n{filtered}");
    assert!(rows.iter().all(|r| r.contains("pay-")), "{filtered}");
    assert!(filtered.contains("5 of 40 match"), "{filtered}");

    s.keys(&["Escape"]);
    let cleared = s.wait_for("Esc clears the filter", |t| {
        !t.contains("/pay") && list_column(t).iter().any(|r| r.contains("web-"))
    });
    assert!(s.alive(), "Esc does not quit:\n{cleared}");

    s.type_text(":web-17");
    s.wait_for("the jump prompt", |t| t.contains(":web-17"));
    s.keys(&["Enter"]);
    let jumped = s.wait_for(":web-17 selects it", |t| {
        t.lines()
            .nth(1)
            .is_some_and(|l| l.contains("web-17 · MASTER web-17-"))
    });
    assert!(jumped.contains("web-17-a"), "{jumped}");

    s.keys(&["q"]);
    s.wait_ended("q quits the dashboard");
}

/// The inside of the wizard's box on a row of the pane (between its
/// borders), trimmed.
fn inside_box(row: &str) -> Option<&str> {
    let start = row.find('│')?;
    let end = row.rfind('│')?;
    (end > start).then(|| row[start + '│'.len_utf8()..end].trim())
}

/// `[2/5] waiting 7s, 13s left …`: the seconds waited and left.
fn countdown(screen: &str) -> Option<(u64, u64)> {
    let re = regex::Regex::new(r"waiting (\d+)s, (\d+)s left of its (\d+)s timeout").ok()?;
    let c = re.captures(screen)?;
    Some((c[1].parse().ok()?, c[2].parse().ok()?))
}

/// The 3 a.m. case at 80×24: the master stops answering (the demo's `U`),
/// `m` opens the wizard, which once refused and sent the operator to the
/// command line. Now it asks to declare the master dead, in words of its
/// own and typed as `pay-b is dead`; a mistyped target name is asked again
/// with the plan kept; the waiting step counts up and down against its
/// timeout with the abandon key beside; Esc, y abandons; the demo's record
/// says who declared what, as the command line's `--old-master-dead` does.
#[test]
fn the_wizard_declares_a_hung_master_dead_and_counts_down_each_wait() {
    let data = tempfile::tempdir().expect("tempdir");
    let cmd = vipdeck_cmd(data.path(), "demo");
    let s = Pane::start("dead-master", 80, 24, &cmd);
    s.wait_for("the demo's pay cluster, pay-b MASTER", |t| {
        t.contains("HEALTHY  pay · MASTER pay-b")
    });
    // Select pay-b, the master, and black-hole vipdeck's ssh to it.
    s.keys(&["Tab"]);
    s.wait_for("pay-b selected", |t| t.contains("▸pay-b"));
    s.keys(&["U"]);
    s.wait_for("pay-b unreachable", |t| t.contains("pay-b is unreachable"));

    s.keys(&["m"]);
    let asked = s.wait_for("the wizard asks to declare pay-b dead", |t| {
        t.contains("Type `pay-b is dead`") || t.contains("Enter or Esc: back")
    });
    assert!(asked.contains("Declare pay-b dead?"), "{asked}");
    assert!(
        asked.contains("will not stop keepalived on pay-b"),
        "{asked}"
    );
    assert!(!asked.contains("--old-master-dead"), "{asked}");
    // "↑ more (Home)" has a row of its own.
    let mark = asked
        .lines()
        .find(|l| l.contains("↑ more (Home)"))
        .unwrap_or_else(|| panic!("the plan scrolls at 80×24:\n{asked}"));
    assert_eq!(inside_box(mark), Some("↑ more (Home)"), "{asked}");

    s.type_text("pay-b is dead");
    s.keys(&["Enter"]);
    let replanned = s.wait_for("re-planned, then the target's name", |t| {
        t.contains("Type the target peer's name (pay-a)")
    });
    assert!(
        replanned.contains("declared pay-b dead: re-planning"),
        "{replanned}"
    );

    // A slip: asked again, the plan kept.
    s.type_text("pay-x");
    s.keys(&["Enter"]);
    let again = s.wait_for("the name asked again", |t| {
        t.contains("typed `pay-x`, not `pay-a`: type it again")
    });
    assert!(
        again.contains("Type the target peer's name (pay-a)"),
        "{again}"
    );

    s.type_text("pay-a");
    s.keys(&["Enter"]);
    // pay-b still sends adverts (only ssh is cut): pay-a waits for its
    // 20 s, counting, until the operator abandons.
    let first = s.wait_for("the wait counts against its timeout", |t| {
        countdown(t).is_some() && t.contains("Esc abandons")
    });
    let (waited, left) = countdown(&first).expect("countdown");
    let moved = s.wait_for("the countdown moves while the step waits", |t| {
        countdown(t).is_some_and(|(w, l)| w > waited && l < left)
    });
    assert!(moved.contains("left of its 20s timeout"), "{moved}");
    s.keys(&["Escape"]);
    s.wait_for("asked whether to abandon", |t| {
        t.contains("Abandon the failover")
    });
    s.keys(&["y"]);
    let done = s.wait_for("abandoned", |t| t.contains("Enter or Esc: back"));
    assert!(done.contains("abandoned by the operator"), "{done}");

    // The demo run's own record (one run: one directory).
    let records = crate::failover_rehearsal::records(data.path());
    let last = records.last().expect("a record");
    assert_eq!(last["plan"]["old_master_dead"], true, "{last}");
    assert_eq!(last["to"], "pay-a", "{last}");
    assert_eq!(
        last["confirmations"][0]["what"], "declare pay-b dead in the TUI",
        "{last}"
    );
    assert_eq!(last["confirmations"][0]["answer"], "pay-b is dead");
    assert_eq!(last["confirmations"][1]["answer"], "pay-a");
    s.keys(&["Enter"]);
    s.keys(&["q"]);
}

/// The row under the title: the cluster strip at 100x30 and below, the
/// list's heading and the banner above.
fn banner(screen: &str) -> String {
    screen.lines().nth(1).unwrap_or("").to_string()
}

#[test]
fn colon_arrows_pick_a_candidate_a_typo_gets_the_nearest_name_and_a_vip_jumps() {
    let data = tempfile::tempdir().expect("tempdir");
    let cmd = vipdeck_cmd(data.path(), "demo --clusters 40");
    let s = Pane::start("jump", 100, 30, &cmd);
    s.wait_for("the demo's 40 clusters", |t| {
        t.contains("40 clusters") && t.contains("HEALTHY")
    });

    // ↓ moves among the candidates, not the dashboard; Enter takes the
    // highlighted one (web-1, web-10, web-11: the third).
    s.type_text(":web-1");
    s.wait_for("the candidates", |t| t.contains("web-10 web-11"));
    s.keys(&["Down", "Down"]);
    s.keys(&["Enter"]);
    s.wait_for("Enter takes the third candidate", |t| {
        banner(t).contains("web-11 · MASTER web-11-")
    });

    // A typo: the nearest names are offered, and Enter takes the nearest.
    s.type_text(":wbe-17");
    let typo = s.wait_for("a suggestion", |t| t.contains("did you mean web-17"));
    assert!(!typo.contains("no cluster"), "{typo}");
    s.keys(&["Enter"]);
    let took = s.wait_for("the nearest name", |t| {
        banner(t).contains("web-17 · MASTER web-17-")
    });
    assert!(took.contains("web-17 is the nearest name"), "{took}");

    // A VIP: the page names it; : and / both find its cluster.
    s.type_text(":10.0.7.100");
    s.wait_for("the VIP's cluster offered", |t| {
        t.contains("mq-1 (10.0.7.100)")
    });
    s.keys(&["Enter"]);
    s.wait_for(":VIP jumps to its cluster", |t| {
        banner(t).contains("mq-1 · MASTER mq-1-") && banner(t).contains("VIP 10.0.7.100")
    });
    s.keys(&["g"]);
    s.type_text("/10.0.32.");
    s.wait_for("/VIP filters to its cluster", |t| {
        t.contains("/10.0.32. 1/40") && banner(t).contains("web-17 ·")
    });
    s.keys(&["Escape", "q"]);
}
