//! `vipdeck logs`: the merged stream with peer prefixes, from the binary
//! on the demo, and from the library on a scripted channel (backlog, then
//! live lines from two peers that arrive out of order).

use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::mpsc;

use vipdeck::core::model::{ClusterSpec, LogKind, LogLine, LogSource, Mode, PeerSpec, Update};
use vipdeck::faces::logs::{run_cli, CliOptions};

fn vipdeck(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .args(args)
        .env_remove("VIPDECK_CONFIG")
        .output()
        .expect("runs vipdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn demo_backlog_is_merged_and_prefixed() {
    let (code, out, err) = vipdeck(&["logs", "--demo", "--cluster", "web"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() >= 4, "{out}");
    for peer in ["havip-01", "havip-02"] {
        assert!(
            lines.iter().any(|l| l.contains(&format!(" {peer} "))),
            "{peer} prefix: {out}"
        );
    }
    assert!(
        !lines.iter().any(|l| l.contains("pay-a")),
        "only the chosen cluster: {out}"
    );
    // `*` marks the transitions; the time column never goes back.
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" * ") && l.contains("Entering MASTER STATE")),
        "{out}"
    );
    let times: Vec<&str> = lines.iter().map(|l| &l[..19]).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{out}");

    let (code, out, err) = vipdeck(&["logs", "--demo", "--grep", "entering master"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.is_empty());
    assert!(
        out.lines().all(|l| l.contains("Entering MASTER")),
        "grep is case-smart: {out}"
    );
    assert!(
        out.lines().any(|l| l.contains("web/")) && out.lines().any(|l| l.contains("pay/")),
        "several clusters: prefixed with the cluster: {out}"
    );
}

#[test]
fn bad_arguments_say_what_is_wrong() {
    let (code, _, err) = vipdeck(&["logs", "--demo", "--since", "5x"]);
    assert_ne!(code, 0);
    assert!(err.contains("--since: `5x` is not a duration"), "{err}");
    let (code, _, err) = vipdeck(&["logs", "--demo", "--grep", "(VI_1"]);
    assert_ne!(code, 0);
    assert!(err.contains("--grep"), "{err}");
    let (code, _, err) = vipdeck(&["logs", "--demo", "--cluster", "nope"]);
    assert_ne!(code, 0);
    assert!(err.contains("no cluster named `nope`"), "{err}");
}

fn spec() -> ClusterSpec {
    let peer = |name: &str, a: [u8; 4]| PeerSpec {
        name: name.into(),
        address: std::net::Ipv4Addr::from(a).to_string(),
        network_interface_id: None,
        instance_id: None,
    };
    ClusterSpec {
        name: "web".into(),
        mode: Mode::Havip,
        vip: "192.0.2.12".into(),
        havip_id: None,
        peers: [peer("web-a", [192, 0, 2, 5]), peer("web-b", [192, 0, 2, 6])],
    }
}

fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 22, 44, 0)
        .single()
        .expect("time")
        + chrono::Duration::seconds(s)
}

fn log(peer: usize, s: i64, text: &str) -> Update {
    Update::Log {
        cluster: 0,
        line: LogLine {
            peer,
            source: LogSource::Daemon,
            at: t(s),
            kind: LogKind::Other,
            announced: vipdeck::core::keepalived::logline::announced_in(text),
            text: text.into(),
        },
    }
}

#[tokio::test]
async fn backlog_then_follow_in_time_order() {
    let (tx, mut rx) = mpsc::channel(64);
    let opts = CliOptions {
        follow: true,
        backlog_window: Duration::from_secs(5),
        quiet_after: Duration::from_millis(300),
        reorder_hold: Duration::from_millis(400),
        ..CliOptions::default()
    };
    let feeder = tokio::spawn(async move {
        // Backlog: b's file is read before a's.
        for u in [
            log(1, 2, "b backlog 2"),
            log(1, 4, "b backlog 4"),
            log(0, 1, "a backlog 1"),
            log(0, 3, "(VI_1) Entering MASTER STATE"),
        ] {
            tx.send(u).await.expect("send");
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        // Live: a's line of second 10 arrives just after b's of second 11.
        tx.send(log(1, 11, "b live 11")).await.expect("send");
        tokio::time::sleep(Duration::from_millis(50)).await;
        tx.send(log(0, 10, "a live 10")).await.expect("send");
        tokio::time::sleep(Duration::from_millis(800)).await;
        // The sources end: the command ends too.
    });
    let mut out = Vec::new();
    run_cli(&[spec()], &mut rx, &opts, &mut out)
        .await
        .expect("runs");
    feeder.await.expect("feeder");
    let text = String::from_utf8(out).expect("utf-8");
    let order: Vec<&str> = text.lines().map(|l| &l[35..]).collect();
    assert_eq!(
        order,
        [
            "a backlog 1",
            "b backlog 2",
            "(VI_1) Entering MASTER STATE",
            "b backlog 4",
            "a live 10",
            "b live 11"
        ],
        "{text}"
    );
    let first = text.lines().next().unwrap_or_default();
    assert_eq!(first, "2026-11-21 22:44:01 web-a daemon   a backlog 1");
    assert!(
        text.contains("web-a daemon * (VI_1) Entering"),
        "transition marked: {text}"
    );
}
