use super::*;

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keepalived/");

fn peer(name: &str, text: &str) -> PeerInput {
    PeerInput {
        name: name.into(),
        conf_path: "/etc/keepalived/keepalived.conf".into(),
        conf: ConfRead::Text(text.into()),
        scripts: None,
        users: None,
        files_error: None,
        eni: None,
        vip_script: None,
    }
}

fn fixture(file: &str) -> String {
    std::fs::read_to_string(format!("{FIX}{file}")).expect("fixture")
}

fn pair_of(peers: Vec<PeerInput>, mode: Option<Mode>, vip: Option<&str>) -> PairInput {
    PairInput {
        cluster: "web".into(),
        mode,
        vip: vip.map(str::to_string),
        peers,
        cloud: CloudFacts::default(),
    }
}

fn codes(f: &[Finding]) -> Vec<(&str, Option<usize>)> {
    f.iter().map(|f| (f.code, f.line)).collect()
}

#[test]
fn the_tencent_havip_pair_is_clean_but_for_script_security() {
    let p = pair_of(
        vec![
            peer("havip-01", &fixture("seed002_havip01.conf")),
            peer("havip-02", &fixture("seed002_havip02.conf")),
        ],
        Some(Mode::Havip),
        Some("172.16.16.12"),
    );
    let f = lint_pair(&p);
    assert_eq!(
        codes(&f),
        vec![("VD144", Some(2)), ("VD144", Some(2))],
        "{f:#?}"
    );
    assert_eq!(exit_code(&f), 0);
}

#[test]
fn state_master_with_nopreempt_is_named_at_its_line() {
    let p = pair_of(
        vec![peer("eni-01", &fixture("seed001_eni_master.conf"))],
        None,
        None,
    );
    let f = lint_pair(&p);
    let v = f.iter().find(|f| f.code == "VD110").expect("VD110");
    assert_eq!(v.line, Some(26));
    assert_eq!(v.place(), "eni-01:/etc/keepalived/keepalived.conf:26");
    assert!(v.message.contains("clears nopreempt"), "{}", v.message);
}

#[test]
fn a_typo_in_vrrp_instance_is_named_with_the_spelling_that_works() {
    let p = pair_of(
        vec![peer("a", &fixture("seed003_typo_instance.conf"))],
        None,
        None,
    );
    let f = lint_pair(&p);
    let typo = f.iter().find(|f| f.code == "VD004").expect("VD004");
    assert_eq!(typo.line, Some(10));
    assert_eq!(typo.fix, "write `vrrp_instance VI_1`");
    assert!(f.iter().any(|f| f.code == "VD003"), "{f:#?}");
    assert_eq!(exit_code(&f), 2);
}

#[test]
fn a_track_script_without_its_vrrp_script_is_an_error() {
    let p = pair_of(
        vec![peer("b", &fixture("seed004_havip_backup.conf"))],
        None,
        None,
    );
    let f = lint_pair(&p);
    let t = f.iter().find(|f| f.code == "VD146").expect("VD146");
    assert_eq!(t.line, Some(31));
    assert!(t.message.contains("checkhaproxy"));
}

#[test]
fn pair_mismatches_become_findings_with_both_lines() {
    let a = fixture("seed002_havip01.conf");
    let b = fixture("seed002_havip02.conf")
        .replace("virtual_router_id 51", "virtual_router_id 52")
        .replace("advert_int 5", "advert_int 1")
        .replace("172.16.16.5                #", "172.16.16.9 #")
        .replace("priority 100", "priority 90");
    let p = pair_of(
        vec![peer("h1", &a), peer("h2", &b)],
        Some(Mode::Havip),
        Some("172.16.16.12"),
    );
    let f = lint_pair(&p);
    let mut got: Vec<&str> = f.iter().map(|f| f.code).filter(|c| *c != "VD144").collect();
    got.sort();
    assert_eq!(got, vec!["VD101", "VD102", "VD105", "VD111"], "{f:#?}");
    let vrid = f.iter().find(|f| f.code == "VD102").expect("VD102");
    assert_eq!(vrid.line, Some(25));
    assert!(
        vrid.fix.contains("h2:/etc/keepalived/keepalived.conf:25"),
        "{}",
        vrid.fix
    );
}

#[test]
fn havip_mode_without_garp_refresh_is_warned() {
    let a = fixture("seed002_havip01.conf").replace("garp_master_refresh 5", "");
    let p = pair_of(
        vec![peer("h1", &a)],
        Some(Mode::Havip),
        Some("172.16.16.12"),
    );
    assert!(lint_pair(&p).iter().any(|f| f.code == "VD120"));
    // Not in ENI mode, and not when the mode is unknown.
    let p = pair_of(vec![peer("h1", &a)], None, Some("172.16.16.12"));
    assert!(!lint_pair(&p).iter().any(|f| f.code == "VD120"));
}

fn entry(path: &str, uid: u32, gid: u32, mode: u32, kind: PathKind) -> PathEntry {
    PathEntry {
        path: path.into(),
        uid,
        gid,
        mode,
        kind,
    }
}

fn safe_script(path: &str, digest: &str) -> ScriptFacts {
    let comps = scripts::components(path);
    let n = comps.len();
    ScriptFacts {
        chain: comps
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                if i + 1 == n {
                    entry(&p, 0, 0, 0o755, PathKind::File)
                } else {
                    entry(&p, 0, 0, 0o755, PathKind::Dir)
                }
            })
            .collect(),
        exists: true,
        real_chain: vec![],
        digest: Some(digest.into()),
    }
}

const SECURE: &str = "global_defs {\n enable_script_security\n script_user root\n}\nvrrp_instance VI_1 {\n state BACKUP\n nopreempt\n virtual_router_id 7\n priority 100\n unicast_src_ip 10.0.0.1\n unicast_peer {\n  10.0.0.2\n }\n virtual_ipaddress {\n  10.0.0.9\n }\n garp_master_refresh 5\n notify_master \"/etc/keepalived/notify.sh MASTER\"\n}\n";

fn secure_peer(name: &str, facts: ScriptFacts, users: Users) -> PeerInput {
    let text = if name == "n2" {
        SECURE
            .replace("unicast_src_ip 10.0.0.1", "unicast_src_ip 10.0.0.2")
            .replace("  10.0.0.2\n", "  10.0.0.1\n")
    } else {
        SECURE.to_string()
    };
    PeerInput {
        scripts: Some(BTreeMap::from([(
            "/etc/keepalived/notify.sh".to_string(),
            facts,
        )])),
        users: Some(users),
        ..peer(name, &text)
    }
}

#[test]
fn a_script_in_a_directory_others_can_write_is_disabled_under_script_security() {
    let users = Users {
        keepalived_script: true,
        script_user: None,
    };
    let good = safe_script("/etc/keepalived/notify.sh", "aa");
    let mut bad = good.clone();
    bad.chain[2].mode = 0o777; // /etc/keepalived
    let p = pair_of(
        vec![
            secure_peer("n1", good.clone(), users.clone()),
            secure_peer("n2", bad, users.clone()),
        ],
        Some(Mode::Havip),
        Some("10.0.0.9"),
    );
    let f = lint_pair(&p);
    assert_eq!(codes(&f), vec![("VD143", Some(18))], "{f:#?}");
    assert_eq!(f[0].peer.as_deref(), Some("n2"));
    assert_eq!(f[0].severity, Severity::Error);
    assert!(
        f[0].message.contains("/etc/keepalived is writable"),
        "{}",
        f[0].message
    );

    // A sticky world-writable directory (/tmp) is allowed; a non-root owner is not.
    let mut sticky = good.clone();
    sticky.chain[2].mode = 0o1777;
    let mut owned = good.clone();
    owned.chain[3].uid = 1000;
    let p = pair_of(
        vec![
            secure_peer("n1", sticky, users.clone()),
            secure_peer("n2", owned, users.clone()),
        ],
        Some(Mode::Havip),
        Some("10.0.0.9"),
    );
    let f = lint_pair(&p);
    assert_eq!(codes(&f), vec![("VD143", Some(18))], "{f:#?}");
    assert!(
        f[0].message.contains("not owned by root"),
        "{}",
        f[0].message
    );
}

#[test]
fn missing_different_and_unrunnable_scripts_are_found() {
    let users = Users {
        keepalived_script: false,
        script_user: None,
    };
    let a = safe_script("/etc/keepalived/notify.sh", "aa");
    let b = safe_script("/etc/keepalived/notify.sh", "bb");
    // No script_user, and no keepalived_script user to default to.
    let no_user = |mut p: PeerInput| {
        if let ConfRead::Text(t) = &p.conf {
            p.conf = ConfRead::Text(t.replace(" script_user root\n", ""));
        }
        p
    };
    let p = pair_of(
        vec![
            no_user(secure_peer("n1", a.clone(), users.clone())),
            no_user(secure_peer("n2", b, users)),
        ],
        Some(Mode::Havip),
        Some("10.0.0.9"),
    );
    let f = lint_pair(&p);
    let mut got: Vec<&str> = f.iter().map(|f| f.code).collect();
    got.sort();
    assert_eq!(got, vec!["VD142", "VD145", "VD145"], "{f:#?}");

    let users = Users {
        keepalived_script: true,
        script_user: None,
    };
    let missing = ScriptFacts {
        exists: false,
        chain: a.chain[..3].to_vec(),
        ..ScriptFacts::default()
    };
    let mut noexec = a.clone();
    noexec.chain[3].mode = 0o644;
    let p = pair_of(
        vec![
            secure_peer("n1", missing, users.clone()),
            secure_peer("n2", noexec, users),
        ],
        Some(Mode::Havip),
        Some("10.0.0.9"),
    );
    let f = lint_pair(&p);
    assert_eq!(
        codes(&f),
        vec![("VD140", Some(18)), ("VD141", Some(18))],
        "{f:#?}"
    );
}

#[test]
fn an_unreadable_peer_file_says_what_was_not_seen() {
    let mut b = peer("h2", "");
    b.conf = ConfRead::Unreadable("Permission denied".into());
    let p = pair_of(
        vec![peer("h1", &fixture("seed002_havip01.conf")), b],
        Some(Mode::Havip),
        Some("172.16.16.12"),
    );
    let f = lint_pair(&p);
    let u = f.iter().find(|f| f.code == "VD001").expect("VD001");
    assert_eq!(u.peer.as_deref(), Some("h2"));
    assert!(u.why.contains("nothing in this file was checked"));
    assert_eq!(exit_code(&f), 3);
}

#[test]
fn too_many_havips_and_a_shared_vrid_come_from_the_cloud() {
    let mut a = pair_of(
        vec![peer("h1", &fixture("seed002_havip01.conf"))],
        Some(Mode::Havip),
        Some("172.16.16.12"),
    );
    a.cloud.vpc_id = Some("vpc-1".into());
    a.cloud.havips_on_eni.insert(
        "eni-1".into(),
        (1..=6).map(|i| format!("havip-{i}")).collect(),
    );
    assert!(lint_pair(&a).iter().any(|f| f.code == "VD130"));
    let mut b = a.clone();
    b.cluster = "db".into();
    let mut c = a.clone();
    c.cluster = "other-vpc".into();
    c.cloud.vpc_id = Some("vpc-2".into());
    let f = lint_fleet(&[a, b, c]);
    let clusters: Vec<&str> = f.iter().map(|f| f.cluster.as_str()).collect();
    assert_eq!(clusters, vec!["db", "web"], "{f:#?}");
    assert!(
        f[0].message.contains("virtual_router_id 51"),
        "{}",
        f[0].message
    );
}

#[test]
fn every_code_is_documented_in_docs_lint_md() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/lint.md"))
        .expect("docs/lint.md");
    for (code, name) in CODES {
        let heading = format!("### {code} {name} (");
        assert!(doc.contains(&heading), "docs/lint.md lacks `{heading}`");
    }
    // And the code emits no code the table lacks.
    let sources = ["mod.rs", "rules.rs", "scripts.rs"]
        .map(|f| {
            std::fs::read_to_string(format!("{}/src/core/lint/{f}", env!("CARGO_MANIFEST_DIR")))
                .expect("source")
        })
        .join("\n")
        + &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/faces/cli/lint.rs"
        ))
        .expect("cli");
    let mut rest = sources.as_str();
    while let Some(i) = rest.find("\"VD") {
        let code = &rest[i + 1..i + 6];
        assert!(
            CODES.iter().any(|(c, _)| *c == code),
            "{code} is emitted but not in CODES"
        );
        rest = &rest[i + 6..];
    }
}

#[test]
fn keepalived_checks_the_resolved_path_and_only_scripts_run_as_root() {
    let users = Users {
        keepalived_script: true,
        script_user: Some(true),
    };
    // /bin -> usr/bin: the link's own mode 777 means nothing; the
    // resolved /usr/bin/true is what keepalived checks.
    let mut linked = safe_script("/etc/keepalived/notify.sh", "aa");
    linked.chain[1] = entry("/etc", 0, 0, 0o777, PathKind::Link);
    linked.real_chain = safe_script("/srv/notify.sh", "aa").chain;
    let p = pair_of(
        vec![secure_peer("n1", linked.clone(), users.clone())],
        Some(Mode::Havip),
        Some("10.0.0.9"),
    );
    assert_eq!(codes(&lint_pair(&p)), vec![], "{:#?}", lint_pair(&p));
    // An unsafe resolved directory is found.
    linked.real_chain[1].mode = 0o777;
    let p = pair_of(
        vec![secure_peer("n1", linked.clone(), users.clone())],
        Some(Mode::Havip),
        Some("10.0.0.9"),
    );
    assert_eq!(codes(&lint_pair(&p)), vec![("VD143", Some(18))]);
    // A script run as a non-root script_user is not path-checked by keepalived.
    let mut p = p;
    if let ConfRead::Text(t) = &p.peers[0].conf {
        p.peers[0].conf = ConfRead::Text(t.replace("script_user root", "script_user nobody"));
    }
    assert_eq!(codes(&lint_pair(&p)), vec![]);
}

#[test]
fn an_eni_vip_script_naming_another_vip_or_the_wrong_enis_is_an_error() {
    use crate::core::keepalived::vipscript::parse_vip_json;
    let settings = |vip: &str, this: &str, that: &str| {
        parse_vip_json(&format!(
            r#"{{"vip":"{vip}","this_eni":"{this}","that_eni":"{that}","secret_key":"x"}}"#
        ))
        .expect("json")
    };
    let with = |name: &str, eni: &str, v| PeerInput {
        eni: Some(eni.into()),
        vip_script: Some(("/etc/keepalived/vip.py".into(), v)),
        ..peer(name, &fixture("seed002_havip01.conf"))
    };
    let right = pair_of(
        vec![
            with("a", "eni-a", settings("172.16.16.12", "eni-a", "eni-b")),
            with("b", "eni-b", settings("172.16.16.12", "eni-b", "eni-a")),
        ],
        Some(Mode::Eni),
        Some("172.16.16.12"),
    );
    assert!(!lint_pair(&right).iter().any(|f| f.code.starts_with("VD15")));
    let wrong = pair_of(
        vec![
            with("a", "eni-a", settings("172.16.16.99", "eni-a", "eni-b")),
            with("b", "eni-b", settings("172.16.16.12", "eni-a", "eni-b")),
        ],
        Some(Mode::Eni),
        Some("172.16.16.12"),
    );
    let all = lint_pair(&wrong);
    let f: Vec<(&str, Option<&str>)> = all
        .iter()
        .filter(|f| f.code.starts_with("VD15"))
        .map(|f| (f.code, f.peer.as_deref()))
        .collect();
    assert_eq!(
        f,
        vec![
            ("VD150", Some("a")),
            ("VD151", Some("b")),
            ("VD151", Some("b"))
        ]
    );
    let vip = all.iter().find(|f| f.code == "VD150").expect("VD150");
    assert_eq!(vip.place(), "a:/etc/keepalived/vip.py");
    assert!(!format!("{all:?}").contains("secret"), "no secret is kept");
}
