//! `vipdeck lint --conf` on the keepalived.conf files of Tencent's guides
//! (tests/fixtures/keepalived/seed*.conf): the findings a reviewer expects,
//! at their lines, and the exit codes of `vipdeck check`.

use std::process::Command;

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keepalived/");

/// (exit code, [(code, line)]) of `vipdeck lint --json` on these files.
fn lint(files: &[&str], extra: &[&str]) -> (i32, Vec<(String, Option<u64>)>) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.arg("lint").arg("--json");
    for f in files {
        c.arg("--conf").arg(format!("{FIX}{f}"));
    }
    let out = c.args(extra).output().expect("run vipdeck");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let mut found: Vec<(String, Option<u64>)> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap_or("").to_string(),
                f["line"].as_u64(),
            )
        })
        .collect();
    found.sort();
    (out.status.code().unwrap_or(-1), found)
}

/// Files, extra arguments, exit code, expected (code, line)s.
type Case<'a> = (
    &'a [&'a str],
    &'a [&'a str],
    i32,
    Vec<(String, Option<u64>)>,
);

fn f(code: &str, line: Option<u64>) -> (String, Option<u64>) {
    (code.to_string(), line)
}

#[test]
fn the_seeds_get_the_findings_a_reviewer_expects() {
    let cases: &[Case] = &[
        (
            &["seed000_appendix_missing_global_defs.conf"],
            &[],
            1,
            vec![
                f("VD002", Some(6)),
                f("VD004", Some(2)),
                f("VD004", Some(3)),
                f("VD004", Some(4)),
                f("VD004", Some(5)),
                f("VD106", Some(23)),
            ],
        ),
        (&["seed000_sync_group.conf"], &[], 2, vec![f("VD003", None)]),
        (
            &["seed000_unicast_instance.conf"],
            &[],
            0,
            vec![f("VD106", Some(11))],
        ),
        (
            &["seed001_eni_master.conf"],
            &[],
            1,
            vec![f("VD110", Some(26)), f("VD144", Some(3))],
        ),
        (
            &["seed002_havip01.conf", "seed002_havip02.conf"],
            &["--mode", "havip", "--vip", "172.16.16.12"],
            0,
            vec![f("VD144", Some(2)), f("VD144", Some(2))],
        ),
        (
            &["seed003_typo_instance.conf"],
            &[],
            2,
            vec![f("VD003", None), f("VD004", Some(10))],
        ),
        (
            &["seed004_havip_backup.conf"],
            &[],
            2,
            vec![f("VD146", Some(31))],
        ),
    ];
    for (files, extra, code, want) in cases {
        let (got_code, got) = lint(files, extra);
        assert_eq!(&got, want, "{files:?}");
        assert_eq!(got_code, *code, "{files:?}");
    }
}

#[test]
fn a_pair_that_disagrees_is_named_at_both_files() {
    let (code, got) = lint(
        &["seed001_eni_master.conf", "seed004_havip_backup.conf"],
        &[],
    );
    assert_eq!(code, 2);
    for c in ["VD101", "VD104", "VD110", "VD111", "VD146"] {
        assert!(got.iter().any(|(g, _)| g == c), "{c} missing from {got:?}");
    }
}

#[test]
fn text_output_names_the_place_why_and_fix_and_an_unreadable_file_exits_3() {
    let out = Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .args(["lint", "--conf"])
        .arg(format!("{FIX}seed004_havip_backup.conf"))
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("error   VD146 track-script-undefined  ")
            && text.contains("seed004_havip_backup.conf:31\n"),
        "{text}"
    );
    assert!(
        text.contains("  why: ") && text.contains("  fix: "),
        "{text}"
    );
    assert!(text.contains("offline (--conf)"), "{text}");

    let out = Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .args(["lint", "--conf", "/nonexistent/keepalived.conf"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("VD001"));
}
