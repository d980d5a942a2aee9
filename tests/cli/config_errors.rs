//! One fixture per bad config (tests/configs/bad/*.toml), each asserting
//! that the error names the file, the line and column, the key path and
//! says what is wrong; plus the good fixture and the documented example.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use vipdeck::core::config::{self, ConfigErrorKind, Location, PeerTarget};
use vipdeck::core::model::Mode;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs")
        .join(rel)
}

/// Loads a bad fixture and checks the whole `FILE:LINE:COL: KEY: ` prefix,
/// the kind and a phrase of the message.
fn assert_bad(
    name: &str,
    kind: ConfigErrorKind,
    (line, column): (usize, usize),
    key: &str,
    phrase: &str,
) -> String {
    let path = fixture(&format!("bad/{name}"));
    let err = match config::load(&path) {
        Ok(c) => panic!("{name} should not load, got {c:?}"),
        Err(e) => e,
    };
    let shown = err.to_string();
    assert_eq!(err.kind, kind, "{shown}");
    assert_eq!(err.file, path, "{shown}");
    assert_eq!(err.location, Some(Location { line, column }), "{shown}");
    assert_eq!(err.key.as_deref(), Some(key), "{shown}");
    let prefix = format!("{}:{line}:{column}: {key}: ", path.display());
    assert!(
        shown.starts_with(&prefix),
        "{shown}\n  should start with {prefix}"
    );
    assert!(
        shown.contains(phrase),
        "{shown}\n  should contain {phrase:?}"
    );
    shown
}

#[test]
fn syntax_error_names_line_and_enclosing_key() {
    assert_bad(
        "syntax_unterminated_string.toml",
        ConfigErrorKind::Syntax,
        (5, 20),
        "clusters[0].vip",
        "invalid basic string (is a closing quote missing?)",
    );
}

#[test]
fn unknown_mode() {
    let shown = assert_bad(
        "unknown_mode.toml",
        ConfigErrorKind::InvalidValue,
        (4, 8),
        "clusters[0].mode",
        r#"unknown mode "vrrp" (expected "eni" or "havip")"#,
    );
    assert!(shown.ends_with(r#"unknown mode "vrrp" (expected "eni" or "havip")"#));
}

#[test]
fn peer_without_ssh_or_local() {
    assert_bad(
        "peer_without_target.toml",
        ConfigErrorKind::MissingKey,
        (9, 3),
        "clusters[0].peers[1]",
        r#"peer "b" has neither ssh = "user@host" nor local = true"#,
    );
}

#[test]
fn peer_with_ssh_and_local() {
    assert_bad(
        "peer_with_both_targets.toml",
        ConfigErrorKind::InvalidValue,
        (9, 3),
        "clusters[0].peers[0].local",
        r#"peer "a" sets both ssh and local = true"#,
    );
}

#[test]
fn one_peer_says_how_many() {
    assert_bad(
        "one_peer.toml",
        ConfigErrorKind::InvalidValue,
        (6, 3),
        "clusters[0].peers",
        "needs exactly two [[clusters.peers]], it has 1",
    );
}

#[test]
fn three_peers_says_how_many() {
    assert_bad(
        "three_peers.toml",
        ConfigErrorKind::InvalidValue,
        (6, 3),
        "clusters[0].peers",
        "it has 3",
    );
}

#[test]
fn no_peers_points_at_the_cluster() {
    assert_bad(
        "no_peers.toml",
        ConfigErrorKind::InvalidValue,
        (5, 1),
        "clusters[0]",
        r#"cluster "web" needs exactly two [[clusters.peers]], it has none"#,
    );
}

#[test]
fn vip_not_an_address() {
    assert_bad(
        "bad_vip.toml",
        ConfigErrorKind::InvalidValue,
        (5, 7),
        "clusters[0].vip",
        r#""172.16.16.300" is not an IP address"#,
    );
}

#[test]
fn vip_with_prefix_length_gets_a_hint() {
    assert_bad(
        "vip_with_prefix.toml",
        ConfigErrorKind::InvalidValue,
        (5, 7),
        "clusters[0].vip",
        "without a prefix length",
    );
}

#[test]
fn duplicate_cluster_names() {
    assert_bad(
        "duplicate_cluster.toml",
        ConfigErrorKind::InvalidValue,
        (14, 8),
        "clusters[1].name",
        r#"duplicate cluster name "web" (already used by clusters[0])"#,
    );
}

#[test]
fn duplicate_peer_names() {
    assert_bad(
        "duplicate_peer.toml",
        ConfigErrorKind::InvalidValue,
        (9, 10),
        "clusters[0].peers[1].name",
        r#"duplicate peer name "node""#,
    );
}

#[test]
fn duplicate_eni() {
    assert_bad(
        "duplicate_eni.toml",
        ConfigErrorKind::InvalidValue,
        (12, 26),
        "clusters[0].peers[1].network_interface_id",
        r#"both peers name the same ENI "eni-db00000a""#,
    );
}

#[test]
fn typo_in_a_peer_key_is_named_with_a_suggestion() {
    assert_bad(
        "unknown_key_typo.toml",
        ConfigErrorKind::UnknownKey,
        (10, 3),
        "clusters[0].peers[1].ssh_host",
        r#"unknown key "ssh_host" (did you mean "ssh"?)"#,
    );
}

#[test]
fn typo_in_a_section_name() {
    assert_bad(
        "unknown_section.toml",
        ConfigErrorKind::UnknownKey,
        (2, 2),
        "clouds",
        r#"unknown key "clouds" (did you mean "cloud"?)"#,
    );
}

#[test]
fn missing_required_key() {
    assert_bad(
        "missing_vip.toml",
        ConfigErrorKind::MissingKey,
        (1, 1),
        "clusters[0].vip",
        r#"missing required key "vip""#,
    );
}

#[test]
fn wrong_type_says_what_was_expected() {
    let shown = assert_bad(
        "wrong_type.toml",
        ConfigErrorKind::InvalidValue,
        (3, 20),
        "monitor.poll_interval_ms",
        "expected a whole number (0 or more), found a string",
    );
    assert!(
        !shown.contains("1s"),
        "string values are not echoed: {shown}"
    );
}

#[test]
fn peers_written_as_a_single_table() {
    assert_bad(
        "peers_as_table.toml",
        ConfigErrorKind::InvalidValue,
        (6, 1),
        "clusters[0].peers",
        "expected an array (one [[double-bracket]] table per entry",
    );
}

#[test]
fn zero_interval() {
    assert_bad(
        "zero_interval.toml",
        ConfigErrorKind::InvalidValue,
        (3, 11),
        "ui.tick_ms",
        "must be greater than 0",
    );
}

#[test]
fn endpoint_without_scheme() {
    assert_bad(
        "bad_endpoint.toml",
        ConfigErrorKind::InvalidValue,
        (2, 12),
        "cloud.endpoint",
        "is not an http(s) URL",
    );
}

#[test]
fn alertmanager_url_without_scheme() {
    assert_bad(
        "bad_alertmanager_url.toml",
        ConfigErrorKind::InvalidValue,
        (2, 7),
        "alertmanager.url",
        "is not an http(s) URL",
    );
}

#[test]
fn credentials_in_the_config_are_refused_and_never_echoed() {
    let shown = assert_bad(
        "secret_key_in_config.toml",
        ConfigErrorKind::UnknownKey,
        (3, 1),
        "cloud.secret_id",
        "vipdeck never reads credentials from its config file",
    );
    assert!(!shown.contains("AKIDexample"), "{shown}");
    assert!(!shown.contains("do-not-echo"), "{shown}");
}

#[test]
fn every_bad_fixture_has_a_test() {
    let tested = std::fs::read_to_string(file!()).expect("read this test file");
    let dir = fixture("bad");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("list bad fixtures")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert!(names.len() >= 15, "{names:?}");
    for name in names {
        assert!(
            tested.contains(&format!("\"{name}\"")),
            "tests/configs/bad/{name} has no test"
        );
        assert!(config::load(&dir.join(&name)).is_err(), "{name} loads");
    }
}

#[test]
fn good_fixture_parses_with_defaults() {
    let c = config::load(&fixture("good.toml")).expect("good.toml loads");
    c.validate().expect("has clusters");
    assert_eq!(c.cloud.region, "ap-guangzhou");
    assert_eq!(c.cloud.endpoint, "https://vpc.tencentcloudapi.com");
    assert_eq!(c.cloud.profile.as_deref(), Some("ops"));
    assert_eq!(c.cloud.poll_interval_ms, 5000);
    assert_eq!(c.cloud.timeout_ms, 5000);
    assert_eq!(
        c.ssh.config_file.as_deref(),
        Some(Path::new("/etc/vipdeck/ssh_config"))
    );
    assert_eq!(c.ssh.connect_timeout_ms, 5000);
    assert_eq!(c.ssh.command_timeout_ms, 3000);
    assert_eq!(c.monitor.poll_interval_ms, 1000);
    assert_eq!(c.monitor.peer_stale_after_ms, 10_000);
    assert_eq!(c.monitor.cloud_stale_after_ms, 60_000);
    assert_eq!(c.ui.theme, None);
    assert!(!c.ui.read_only);
    assert_eq!(c.ui.tick_ms, 1000);
    assert_eq!(c.clusters.len(), 2);

    let web = c.cluster("web").expect("web");
    assert_eq!(web.mode, Mode::Havip);
    assert_eq!(web.vip, "172.16.16.12".parse::<IpAddr>().expect("ip"));
    assert_eq!(web.havip_id.as_deref(), Some("havip-abcd1234"));
    assert_eq!(web.effective_region(&c.cloud), "ap-guangzhou");
    let [a, b] = &web.peers;
    assert_eq!(a.target, PeerTarget::Ssh("root@172.16.16.5".into()));
    assert_eq!(b.target, PeerTarget::Ssh("web-b".into()));
    assert_eq!(a.interface, "eth0");
    assert_eq!(a.state_file, Path::new("/var/keepalived/state"));
    assert_eq!(a.log_file, Path::new("/var/log/keepalived.log"));
    assert_eq!(
        a.keepalived_conf,
        Path::new("/etc/keepalived/keepalived.conf")
    );
    assert_eq!(a.start_cmd, "systemctl start keepalived");
    assert_eq!(a.stop_cmd, "systemctl stop keepalived");
    assert_eq!(a.daemon_log, None);
    assert_eq!(
        b.daemon_log.as_deref(),
        Some(Path::new("/var/log/messages"))
    );

    let db = c.cluster("db").expect("db");
    assert_eq!(db.mode, Mode::Eni);
    assert_eq!(db.havip_id, None);
    assert_eq!(db.effective_region(&c.cloud), "ap-shanghai");
    assert_eq!(db.peers[0].target, PeerTarget::Local);
    assert_eq!(db.peers[0].interface, "eth1");
    assert_eq!(db.peers[1].state_file, Path::new("/run/keepalived/state"));
    assert_eq!(db.peers[1].start_cmd, "sudo systemctl start keepalived");
    assert_eq!(db.peer_index("db-b"), Some(1));

    let spec = db.spec();
    assert_eq!(spec.name, "db");
    assert_eq!(spec.vip, "172.16.32.100");
    assert_eq!(spec.peers[0].address, "local");
    assert_eq!(spec.peers[1].address, "ops@db-b.internal");
    assert_eq!(
        spec.peers[1].network_interface_id.as_deref(),
        Some("eni-db00000b")
    );
    assert_eq!(c.specs().len(), 2);
}

#[cfg(unix)]
#[test]
fn world_readable_file_mentioning_a_secret_warns_without_echoing_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    let text = "# old: SecretKey = \"zzTopSecretValue\"\n[ui]\nread_only = true\n";
    std::fs::write(&path, text).expect("write");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let c = config::load(&path).expect("loads");
    assert!(c.ui.read_only);
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    let w = &c.warnings[0];
    assert!(w.contains(&format!("{}:1:", path.display())), "{w}");
    assert!(w.contains("chmod 600"), "{w}");
    assert!(!w.contains("zzTopSecretValue"), "{w}");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let c = config::load(&path).expect("loads");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);

    // A file that fails to parse still gets the advice, in the error.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[cloud]\nsecret_key = \"zzTopSecretValue\"\n").expect("write");
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let shown = config::load(&bad).expect_err("unknown key").to_string();
    assert!(shown.contains("cloud.secret_key"), "{shown}");
    assert!(shown.contains("chmod 600"), "{shown}");
    assert!(!shown.contains("zzTopSecretValue"), "{shown}");
}

#[test]
fn missing_file_is_a_read_error_naming_the_file() {
    let path = fixture("does-not-exist.toml");
    let err = config::load(&path).expect_err("missing");
    assert_eq!(err.kind, ConfigErrorKind::Read);
    assert!(err.to_string().starts_with(&path.display().to_string()));
    assert!(err.to_string().contains("not found"), "{err}");
}

#[test]
fn empty_config_parses_but_reports_no_clusters() {
    let c = config::parse("", Path::new("empty.toml")).expect("parses");
    let err = c.validate().expect_err("no clusters");
    assert_eq!(err.kind, ConfigErrorKind::NoClusters);
    assert!(err
        .to_string()
        .starts_with("empty.toml: clusters: no clusters configured"));
}

/// The first ```toml block of docs/configuration.md must parse, so the
/// docs and the parser stay in step.
#[test]
fn documented_example_parses() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
    let doc = std::fs::read_to_string(&doc_path).expect("read docs/configuration.md");
    let start = doc.find("```toml\n").expect("a ```toml block") + "```toml\n".len();
    let len = doc[start..].find("\n```").expect("end of the block");
    let example = &doc[start..start + len + 1];
    let first_line = doc[..start].lines().count() + 1;
    let c = config::parse(example, &doc_path).unwrap_or_else(|e| {
        panic!("{e}\n(lines count from the ```toml block, which starts at line {first_line})")
    });
    c.validate().expect("the example has clusters");
    assert!(c.clusters.len() >= 2, "the example shows both modes");
    assert!(c.clusters.iter().any(|c| c.mode == Mode::Havip));
    assert!(c.clusters.iter().any(|c| c.mode == Mode::Eni));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn config_check_says_every_problem_with_file_line_and_key() {
    // The first problem is the error's own; the others follow it.
    assert_bad(
        "many_problems.toml",
        ConfigErrorKind::UnknownKey,
        (3, 1),
        "cloud.poll_intervl_ms",
        "did you mean",
    );
    let path = fixture("bad/many_problems.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .env_remove("VIPDECK_CONFIG")
        .args(["config", "check"])
        .arg(&path)
        .output()
        .expect("config check");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    // Each problem on its own line: FILE:LINE:COL: KEY: what is wrong.
    for (line, key, phrase) in [
        (
            "3:1",
            "cloud.poll_intervl_ms",
            r#"did you mean "poll_interval_ms"?"#,
        ),
        ("17:3", "clusters[0].peers[1].ssh_host", "unknown key"),
        ("6:20", "monitor.poll_interval_ms", "must be greater than 0"),
        (
            "2:10",
            "cloud.region",
            r#"unknown region "ap-bejing" (did you mean "ap-beijing"?)"#,
        ),
        ("10:8", "clusters[0].mode", r#"unknown mode "vrrp""#),
        ("11:7", "clusters[0].vip", "without a prefix length"),
    ] {
        let want = format!("{file}:{line}: {key}: ");
        assert!(
            said.lines()
                .any(|l| l.contains(&want) && l.contains(phrase)),
            "{want}…{phrase}\n  not in:\n{said}"
        );
    }
    // The misspelt ssh is said once, as the unknown key it is.
    assert!(!said.contains("neither ssh"), "{said}");
}

#[test]
fn probe_timeout_must_be_below_its_interval() {
    assert_bad(
        "probe_timeout_not_below_interval.toml",
        ConfigErrorKind::InvalidValue,
        (8, 20),
        "clusters[0].probe_timeout_ms",
        "less than probe_interval_ms (500)",
    );
}

#[test]
fn probe_of_an_unknown_kind_says_what_is_expected() {
    assert_bad(
        "probe_unknown_kind.toml",
        ConfigErrorKind::InvalidValue,
        (6, 9),
        "clusters[0].probe",
        r#"expected "tcp:PORT" or "http://HOST:PORT/PATH""#,
    );
}
