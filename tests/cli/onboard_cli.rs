//! Getting started, through the real binary: `init` on the seed confs and
//! a seed-style vip.py (offline and against the emulator), `--write`,
//! `config check`, `status --format prometheus`, `completions`, `man`,
//! `themes`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const FAKE_SECRET_KEY: &str = "fakeSecretKeyMustNeverAppear";
const FAKE_SECRET_ID: &str = "AKIDfakeSecretIdDoNotCopy";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary with no config, no credentials and an empty home, so no
/// test reads the developer's files or asks a real cloud.
fn vipdeck(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.env("VIPDECK_DATA_DIR", home.join("data"))
        .env("HOME", home)
        .env_remove("VIPDECK_CONFIG")
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .env_remove("TENCENTCLOUD_CREDENTIALS_FILE")
        .env_remove("TCCLI_PROFILE")
        .env_remove("NO_COLOR");
    c
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn run(c: &mut Command) -> (i32, String, String) {
    let o = c.output().expect("runs vipdeck");
    let (out, err) = text(&o);
    (o.status.code().unwrap_or(-1), out, err)
}

fn parse(toml_text: &str) -> vipdeck::core::config::Config {
    vipdeck::core::config::parse(toml_text, Path::new("init-output.toml"))
        .unwrap_or_else(|e| panic!("init output does not parse: {e}\n{toml_text}"))
}

/// A file of the seed node `seed001` (tests/fixtures/onboard/seed001: its
/// keepalived.conf, notify_action.sh and a vip.py with fake secrets).
fn seed001(file: &str) -> PathBuf {
    root().join("tests/fixtures/onboard/seed001").join(file)
}

/// An onboarding set-up: an empty home for the binary (see [`vipdeck`]),
/// and `init` run in it.
struct Onboard {
    home: tempfile::TempDir,
}

impl Onboard {
    fn new() -> Onboard {
        Onboard {
            home: tempfile::tempdir().expect("tmp"),
        }
    }

    fn path(&self) -> &Path {
        self.home.path()
    }

    /// `init --from FROM ARGS…`: exit code, stdout, stderr.
    fn init(&self, from: impl AsRef<Path>, args: &[&str]) -> (i32, String, String) {
        run(vipdeck(self.path())
            .arg("init")
            .arg("--from")
            .arg(from.as_ref())
            .args(args))
    }

    /// `--config TARGET init --from FROM --no-cloud ARGS…`, for `--write`.
    fn init_into(&self, target: &Path, from: &Path, args: &[&str]) -> (i32, String, String) {
        run(vipdeck(self.path())
            .arg("--config")
            .arg(target)
            .arg("init")
            .arg("--from")
            .arg(from)
            .arg("--no-cloud")
            .args(args))
    }
}

// ---------------------------------------------------------------------------
// init, offline
// ---------------------------------------------------------------------------

#[test]
fn init_reads_conf_notify_script_and_vip_py_without_copying_secrets() {
    let home = Onboard::new();
    let conf = seed001("keepalived.conf");
    let (code, out, err) = home.init(&conf, &["--no-cloud"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(FAKE_SECRET_KEY) && !err.contains(FAKE_SECRET_KEY));
    assert!(!out.contains(FAKE_SECRET_ID) && !err.contains(FAKE_SECRET_ID));
    assert!(!out.to_ascii_lowercase().contains("secretkey ="), "{out}");
    let c = parse(&out);
    assert_eq!(c.cloud.region, "ap-beijing", "vip.py's 'bj' is mapped");
    let cl = &c.clusters[0];
    assert_eq!(cl.name, "VI_1");
    assert_eq!(cl.mode, vipdeck::core::model::Mode::Eni);
    assert_eq!(cl.vip.to_string(), "10.0.1.100");
    // This node (unicast_src_ip) gets thisNetworkInterfaceId, its peer the other.
    assert_eq!(cl.peers[0].name, "10.0.1.17");
    assert_eq!(
        cl.peers[0].network_interface_id.as_deref(),
        Some("eni-fake0001")
    );
    assert_eq!(cl.peers[1].name, "10.0.1.16");
    assert_eq!(
        cl.peers[1].network_interface_id.as_deref(),
        Some("eni-fake0002")
    );
    assert_eq!(
        cl.peers[1].target,
        vipdeck::core::config::PeerTarget::Ssh("10.0.1.16".into())
    );
    assert_eq!(
        cl.peers[0].state_file,
        PathBuf::from("/var/keepalived/state")
    );
    assert_eq!(cl.peers[0].interface, "eth0");
    // A directory (a copy of /etc/keepalived) reads the keepalived.conf in it.
    let (code, from_dir, err) = home.init(conf.parent().expect("dir"), &["--no-cloud"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(parse(&from_dir).clusters, c.clusters);
    // Every value says where it came from.
    assert!(out.contains("# unicast_src_ip"), "{out}");
    assert!(out.contains("vip.py thisNetworkInterfaceId"), "{out}");
    assert!(out.contains("notify_action.sh"), "{out}");
}

#[test]
fn init_names_peers_after_peer_ssh_and_explains_what_it_cannot_read() {
    let home = Onboard::new();
    let fixtures = root().join("tests/fixtures/keepalived");
    // HAVIP seed without scripts next to it: mode guessed, defaults used.
    let (code, out, err) = home.init(
        fixtures.join("seed002_havip01.conf"),
        &[
            "--no-cloud",
            "--peer-ssh",
            "root@havip-01",
            "--peer-ssh",
            "172.16.16.6=ops@havip-02",
            "--name",
            "web",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("cannot read the notify script"), "{err}");
    let c = parse(&out);
    let cl = &c.clusters[0];
    assert_eq!(cl.name, "web");
    assert_eq!(cl.mode, vipdeck::core::model::Mode::Havip);
    assert!(out.contains("guessed"), "{out}");
    assert_eq!(cl.peers[0].name, "havip-01");
    assert_eq!(
        cl.peers[0].target,
        vipdeck::core::config::PeerTarget::Ssh("root@havip-01".into())
    );
    assert_eq!(cl.peers[1].name, "havip-02");
    assert_eq!(
        cl.peers[1].target,
        vipdeck::core::config::PeerTarget::Ssh("ops@havip-02".into())
    );
}

#[test]
fn init_on_every_seed_conf_parses_back_or_says_why_not() {
    let home = Onboard::new();
    let dir = root().join("tests/fixtures/keepalived");
    let mut seen = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("conf") {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let (code, out, err) = home.init(
            &path,
            &["--no-cloud", "--peer-ssh", "node-a", "--peer-ssh", "node-b"],
        );
        seen.insert(name.clone(), code);
        match name.as_str() {
            // No vrrp_instance at all: a sync group only, or a typo keepalived ignores too.
            "seed000_sync_group.conf" => {
                assert_ne!(code, 0);
                assert!(err.contains("no vrrp_instance found"), "{err}");
            }
            "seed003_typo_instance.conf" => {
                assert_ne!(code, 0);
                assert!(err.contains("line 10 says `vrrp_instanceVI_1`"), "{err}");
            }
            _ => {
                assert_eq!(code, 0, "{name}: {err}");
                let c = parse(&out);
                assert_eq!(c.clusters.len(), 1, "{name}");
                assert_eq!(c.clusters[0].peers[0].name, "node-a", "{name}");
                let vip = c.clusters[0].vip.to_string();
                let conf = std::fs::read_to_string(&path).expect("read");
                assert!(conf.contains(&vip), "{name}: {vip}");
            }
        }
    }
    assert!(seen.len() >= 8, "{seen:?}");
    // The appendix conf's sync group runs vip.py: ENI mode, even unread.
    let (_, out, _) = home.init(
        dir.join("seed000_appendix_missing_global_defs.conf"),
        &["--no-cloud", "--peer-ssh", "a", "--peer-ssh", "b"],
    );
    assert_eq!(
        parse(&out).clusters[0].mode,
        vipdeck::core::model::Mode::Eni
    );
}

#[test]
fn init_takes_an_explicit_vip_script() {
    let home = Onboard::new();
    // The conf alone (its notify script is not next to it), plus --vip-script.
    let conf = root().join("tests/fixtures/keepalived/seed001_eni_master.conf");
    let vip_py = seed001("vip.py");
    let (code, out, err) = run(vipdeck(home.path())
        .arg("init")
        .arg("--from")
        .arg(&conf)
        .arg("--vip-script")
        .arg(&vip_py)
        .arg("--no-cloud"));
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(FAKE_SECRET_KEY) && !err.contains(FAKE_SECRET_KEY));
    let c = parse(&out);
    assert_eq!(c.clusters[0].mode, vipdeck::core::model::Mode::Eni);
    assert_eq!(
        c.clusters[0].peers[1].network_interface_id.as_deref(),
        Some("eni-fake0002")
    );
    // --region wins over vip.py's.
    let (_, out, _) = run(vipdeck(home.path())
        .arg("init")
        .arg("--from")
        .arg(&conf)
        .arg("--vip-script")
        .arg(&vip_py)
        .args(["--no-cloud", "--region", "ap-shanghai"]));
    assert_eq!(parse(&out).cloud.region, "ap-shanghai");
    // --local: this machine is the node whose conf was read.
    let (code, out, err) = home.init(&conf, &["--no-cloud", "--local"]);
    assert_eq!(code, 0, "{err}");
    let c = parse(&out);
    assert_eq!(
        c.clusters[0].peers[0].target,
        vipdeck::core::config::PeerTarget::Local
    );
    assert_eq!(
        c.clusters[0].peers[1].target,
        vipdeck::core::config::PeerTarget::Ssh("10.0.1.16".into())
    );
    let (code, _, err) = run(vipdeck(home.path()).args(["init", "--from", "ssh://h", "--local"]));
    assert_ne!(code, 0);
    assert!(err.contains("--local"), "{err}");
    // A --vip-script that cannot be read is an error, not a silent guess.
    let (code, _, err) = home.init(
        &conf,
        &["--vip-script", "/nonexistent/vip.py", "--no-cloud"],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("cannot read --vip-script /nonexistent/vip.py"),
        "{err}"
    );
    // So is a missing conf, and a malformed ssh source.
    let (code, _, err) =
        run(vipdeck(home.path()).args(["init", "--from", "/nonexistent.conf", "--no-cloud"]));
    assert_ne!(code, 0);
    assert!(err.contains("cannot read /nonexistent.conf"), "{err}");
    let (code, _, err) =
        run(vipdeck(home.path()).args(["init", "--from", "ssh:/host", "--no-cloud"]));
    assert_ne!(code, 0);
    assert!(err.contains("expected ssh://"), "{err}");
}

#[test]
fn init_without_an_address_leaves_ssh_for_the_operator() {
    let home = Onboard::new();
    let conf = root().join("tests/fixtures/keepalived/seed000_unicast_instance.conf");
    let (code, out, err) = home.init(&conf, &["--no-cloud"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("# ssh = \"user@host\""), "{out}");
    // Such a file names the missing key when loaded.
    let e = vipdeck::core::config::parse(&out, Path::new("x.toml")).expect_err("incomplete");
    assert!(e.to_string().contains("peers[0]"), "{e}");
}

#[test]
fn init_write_never_overwrites_without_force() {
    let home = Onboard::new();
    let conf = seed001("keepalived.conf");
    let target = home.path().join("cfg/vipdeck.toml");
    let init = |extra: &[&str]| home.init_into(&target, &conf, extra);
    let (code, out, err) = init(&["--write"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "{out}");
    let written = std::fs::read_to_string(&target).expect("written");
    parse(&written);
    std::fs::write(&target, "# mine\n").expect("write");
    let (code, _, err) = init(&["--write"]);
    assert_ne!(code, 0);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "# mine\n");
    let (code, _, err) = init(&["--write", "--force"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&target).expect("read"), written);
    // --force alone is refused by the parser.
    let (code, _, _) = init(&["--force"]);
    assert_ne!(code, 0);
}

// ---------------------------------------------------------------------------
// init against the emulator
// ---------------------------------------------------------------------------

struct Emulator(Child);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn emulator(home: &Path) -> (Emulator, String) {
    let mut child = vipdeck(home)
        .args(["cloudsim", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("piped");
    let em = Emulator(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("ready");
    let url = line
        .trim()
        .strip_prefix("cloudsim listening on ")
        .unwrap_or_else(|| panic!("unexpected {line:?}"))
        .to_string();
    (em, url)
}

/// A keepalived node directory: conf, the seed notify script, and
/// optionally a seed-style vip.py.
fn node_dir(dir: &Path, src: &str, peer: &str, vip: &str, vip_py: Option<(&str, &str)>) {
    std::fs::create_dir_all(dir).expect("dir");
    let conf = format!(
        "vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
         priority 100\n  nopreempt\n  unicast_src_ip {src}\n  unicast_peer {{\n    {peer}\n  }}\n  \
         virtual_ipaddress {{\n    {vip}/24\n  }}\n  \
         notify_master \"/etc/keepalived/notify_action.sh MASTER\"\n}}\n"
    );
    std::fs::write(dir.join("keepalived.conf"), conf).expect("conf");
    let notify = std::fs::read_to_string(seed001("notify_action.sh")).expect("notify");
    let notify = if vip_py.is_some() {
        notify
    } else {
        notify.replace("/etc/keepalived/vip.py migrate &", ":")
    };
    std::fs::write(dir.join("notify_action.sh"), notify).expect("notify");
    if let Some((this, that)) = vip_py {
        let py = std::fs::read_to_string(seed001("vip.py"))
            .expect("vip.py")
            .replace("eni-fake0001", this)
            .replace("eni-fake0002", that)
            .replace("10.0.1.100", vip)
            .replace("10.0.1.17", src)
            .replace("'bj'", "'gz'");
        std::fs::write(dir.join("vip.py"), py).expect("vip.py");
    }
}

fn with_example_key(c: &mut Command) -> &mut Command {
    c.env(
        "TENCENTCLOUD_SECRET_ID",
        "AKIDcloudsimEXAMPLEid000000000000001",
    )
    .env(
        "TENCENTCLOUD_SECRET_KEY",
        "cloudsimEXAMPLEkey00000000000001",
    )
}

#[test]
fn init_asks_the_cloud_for_ids_and_the_mode() {
    let home = Onboard::new();
    let (_em, url) = emulator(home.path());

    // The example world's "web" pair: an HAVIP, no vip.py.
    let web = home.path().join("web");
    node_dir(&web, "192.0.2.11", "192.0.2.12", "192.0.2.10", None);
    let (code, out, err) = run(with_example_key(
        vipdeck(home.path())
            .arg("init")
            .arg("--from")
            .arg(web.join("keepalived.conf"))
            .args(["--endpoint", &url, "--name", "web"]),
    ));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("credentials from env"), "{err}");
    assert!(!out.contains("cloudsimEXAMPLEkey"), "{out}");
    let c = parse(&out);
    assert_eq!(c.cloud.endpoint, url);
    assert_eq!(c.cloud.region, "ap-guangzhou");
    let cl = &c.clusters[0];
    assert_eq!(cl.mode, vipdeck::core::model::Mode::Havip, "{out}");
    assert_eq!(cl.havip_id.as_deref(), Some("havip-web00001"));
    assert_eq!(
        cl.peers[0].network_interface_id.as_deref(),
        Some("eni-web00001")
    );
    assert_eq!(cl.peers[0].instance_id.as_deref(), Some("ins-web00001"));
    assert_eq!(
        cl.peers[1].network_interface_id.as_deref(),
        Some("eni-web00002")
    );
    assert_eq!(cl.peers[1].instance_id.as_deref(), Some("ins-web00002"));
    assert!(out.contains("DescribeHaVips"), "{out}");

    // The "api" pair: ENI mode; vip.py has the peer's ENI wrong.
    let api = home.path().join("api");
    node_dir(
        &api,
        "192.0.2.21",
        "192.0.2.22",
        "192.0.2.20",
        Some(("eni-api00001", "eni-wrong001")),
    );
    let (code, out, err) = run(with_example_key(
        vipdeck(home.path())
            .arg("init")
            .arg("--from")
            .arg(api.join("keepalived.conf"))
            .args(["--endpoint", &url]),
    ));
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(FAKE_SECRET_KEY) && !err.contains(FAKE_SECRET_KEY));
    let c = parse(&out);
    let cl = &c.clusters[0];
    assert_eq!(cl.mode, vipdeck::core::model::Mode::Eni, "{out}");
    assert_eq!(cl.havip_id, None);
    assert_eq!(
        cl.peers[0].network_interface_id.as_deref(),
        Some("eni-api00001")
    );
    assert_eq!(
        cl.peers[1].network_interface_id.as_deref(),
        Some("eni-api00002")
    );
    assert_eq!(cl.peers[1].instance_id.as_deref(), Some("ins-api00002"));
    assert!(
        out.contains("eni-wrong001") && out.contains("the cloud's is used"),
        "the disagreement is noted: {out}"
    );

    // A wrong key: the config is still printed, with the reason.
    let (code, out, err) = run(vipdeck(home.path())
        .env("TENCENTCLOUD_SECRET_ID", "AKIDnotknown")
        .env("TENCENTCLOUD_SECRET_KEY", "nope")
        .arg("init")
        .arg("--from")
        .arg(api.join("keepalived.conf"))
        .args(["--endpoint", &url]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("NOTE: the cloud could not be asked"), "{out}");
    assert!(!out.contains("nope"), "{out}");
    parse(&out);
}

// ---------------------------------------------------------------------------
// config check
// ---------------------------------------------------------------------------

#[test]
fn config_check_does_not_take_inits_own_notes_for_a_secret() {
    use std::os::unix::fs::PermissionsExt;
    let home = Onboard::new();
    // A profile file without its key: init notes why the cloud was not
    // asked, naming `secret_key` (and holding none).
    let creds = home.path().join("credentials.ini");
    std::fs::write(&creds, "[default]\nsecret_id = AKIDonlyanid\n").expect("creds");
    let (code, out, err) = run(vipdeck(home.path())
        .env("TENCENTCLOUD_CREDENTIALS_FILE", &creds)
        .arg("init")
        .arg("--from")
        .arg(seed001("keepalived.conf"))
        // Nothing listens there: nothing is asked of a real cloud.
        .args(["--endpoint", "http://127.0.0.1:9"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("secret_key"), "the note names it: {out}");
    let config = home.path().join("config.toml");
    std::fs::write(&config, &out).expect("write");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, out, err) = run(vipdeck(home.path()).args(["config", "check"]).arg(&config));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !format!("{out}{err}").contains("mentions a secret key"),
        "{out}{err}"
    );
}

#[test]
fn config_check_describes_good_files_and_rejects_bad_ones() {
    let home = Onboard::new();
    let good = root().join("tests/configs/good.toml");
    let (code, out, err) = run(vipdeck(home.path()).args(["config", "check"]).arg(&good));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("OK, 2 clusters"), "{out}");
    assert!(
        out.contains("cluster web (havip mode, VIP 172.16.16.12"),
        "{out}"
    );
    assert!(out.contains("havip-01 via ssh root@172.16.16.5"), "{out}");
    assert!(out.contains("HAVIP havip-abcd1234"), "{out}");
    assert!(out.contains("ssh -F /etc/vipdeck/ssh_config"), "{out}");
    // --config works as well as the argument.
    let (code, out2, _) = run(vipdeck(home.path())
        .arg("--config")
        .arg(&good)
        .args(["config", "check"]));
    assert_eq!((code, out2), (0, out));

    let bad_dir = root().join("tests/configs/bad");
    let mut checked = 0;
    for entry in std::fs::read_dir(&bad_dir).expect("bad configs") {
        let path = entry.expect("entry").path();
        let (code, out, err) = run(vipdeck(home.path()).args(["config", "check"]).arg(&path));
        let name = path.display().to_string();
        // A secret in a readable file is a warning only when the file is otherwise good.
        if name.ends_with("secret_key_in_config.toml") && code == 0 {
            continue;
        }
        assert_eq!(code, 1, "{name}: {out}");
        assert!(err.contains(&name), "{name}: {err}");
        checked += 1;
    }
    assert!(checked >= 15, "{checked}");

    // An ENI cluster without ids parses but is flagged.
    let no_ids = home.path().join("no-ids.toml");
    std::fs::write(
        &no_ids,
        "[[clusters]]\nname = \"x\"\nmode = \"eni\"\nvip = \"10.0.0.9\"\n\
         [[clusters.peers]]\nname = \"a\"\nssh = \"a\"\n[[clusters.peers]]\nname = \"b\"\nssh = \"b\"\n",
    )
    .expect("write");
    let (code, out, _) = run(vipdeck(home.path()).args(["config", "check"]).arg(&no_ids));
    assert_eq!(code, 0);
    assert!(
        out.contains("warning: cluster x: eni mode without"),
        "{out}"
    );
}

// ---------------------------------------------------------------------------
// status --format prometheus
// ---------------------------------------------------------------------------

#[test]
fn prometheus_textfile_is_well_formed() {
    let home = Onboard::new();
    let (code, out, err) =
        run(vipdeck(home.path()).args(["status", "--demo", "--format", "prometheus"]));
    assert_eq!(code, 0, "{err}");
    let name_ok = |n: &str| {
        n.starts_with("vipdeck_")
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let mut helped = BTreeSet::new();
    let mut typed = BTreeSet::new();
    let mut finished = BTreeSet::new();
    let mut current: Option<String> = None;
    // verdict one-hot per cluster; peer_state one-hot per peer
    let mut verdict_sum: BTreeMap<String, f64> = BTreeMap::new();
    let mut state_sum: BTreeMap<String, f64> = BTreeMap::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("").to_string();
            assert!(name_ok(&name), "{line}");
            assert!(helped.insert(name.clone()), "HELP twice for {name}");
            if let Some(prev) = current.replace(name) {
                finished.insert(prev);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let name = it.next().unwrap_or("");
            assert_eq!(Some(name), current.as_deref(), "TYPE right after HELP");
            assert_eq!(it.next(), Some("gauge"), "{line}");
            typed.insert(name.to_string());
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
        let name = series.split('{').next().unwrap_or("");
        assert_eq!(
            Some(name),
            current.as_deref(),
            "samples grouped under their HELP: {line}"
        );
        assert!(typed.contains(name) && !finished.contains(name), "{line}");
        if let Some(labels) = series.strip_prefix(name).and_then(|l| l.strip_prefix('{')) {
            let labels = labels.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
            for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                let (k, v) = pair
                    .split_once("=\"")
                    .unwrap_or_else(|| panic!("label in {line}"));
                assert!(
                    k.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                    "{line}"
                );
                assert!(!v.trim_end_matches('"').contains('\n'), "{line}");
            }
            let cluster = labels.split(',').next().unwrap_or("").to_string();
            if name == "vipdeck_cluster_verdict" {
                *verdict_sum.entry(cluster).or_default() += value;
            } else if name == "vipdeck_peer_state" {
                let key = labels.split(",state=").next().unwrap_or("").to_string();
                *state_sum.entry(key).or_default() += value;
            }
        }
    }
    for family in [
        "vipdeck_cluster_verdict",
        "vipdeck_cluster_status",
        "vipdeck_peer_state",
        "vipdeck_cloud_binding_age_seconds",
        "vipdeck_cluster_last_transition_timestamp_seconds",
        "vipdeck_peer_last_transition_timestamp_seconds",
        "vipdeck_report_timestamp_seconds",
    ] {
        assert!(
            helped.contains(family) && typed.contains(family),
            "{family}:\n{out}"
        );
    }
    assert_eq!(verdict_sum.len(), 2, "the demo has two clusters");
    assert!(verdict_sum.values().all(|v| *v == 1.0), "{verdict_sum:?}");
    assert_eq!(state_sum.len(), 4, "{state_sum:?}");
    assert!(state_sum.values().all(|v| *v == 1.0), "{state_sum:?}");
    // The demo is healthy: status 0 and the healthy verdict set.
    assert!(
        out.contains("vipdeck_cluster_verdict{cluster=\"web\",verdict=\"healthy\"} 1"),
        "{out}"
    );
    assert!(
        out.contains("vipdeck_cluster_status{cluster=\"web\"} 0"),
        "{out}"
    );
}

#[test]
fn prometheus_escapes_label_values() {
    use vipdeck::faces::export::{escape_label, prometheus};
    let home = Onboard::new();
    let (_, json, _) = run(vipdeck(home.path()).args(["status", "--demo", "--json"]));
    let mut v: serde_json::Value = serde_json::from_str(&json).expect("json");
    v["clusters"][0]["name"] = serde_json::json!("we\"b\\1\nx");
    // Rebuild the report through the JSON the binary printed.
    let r = report_from_json(&v);
    let out = prometheus(&r, chrono::Utc::now());
    assert!(
        out.contains(&format!("cluster=\"{}\"", escape_label("we\"b\\1\nx"))),
        "{out}"
    );
    assert!(out.contains("cluster=\"we\\\"b\\\\1\\nx\""), "{out}");
    assert!(
        out.lines().all(|l| !l.starts_with('x')),
        "a raw newline split a line: {out}"
    );
}

/// The report type is Serialize only; build one from the JSON fields the
/// exporter reads.
fn report_from_json(v: &serde_json::Value) -> vipdeck::faces::report::Report {
    use vipdeck::core::model::Verdict;
    use vipdeck::faces::report::{CloudReport, ClusterReport, PeerReport, Report};
    let s = |x: &serde_json::Value| x.as_str().map(str::to_string);
    let clusters = v["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .map(|c| ClusterReport {
            name: s(&c["name"]).unwrap_or_default(),
            mode: s(&c["mode"]).unwrap_or_default(),
            vip: s(&c["vip"]).unwrap_or_default(),
            verdict: match c["verdict"].as_str() {
                Some("healthy") => Verdict::Healthy,
                Some("degraded") => Verdict::Degraded,
                _ => Verdict::Unknown,
            },
            master: s(&c["master"]),
            master_inferred: false,
            vip_bound_to: s(&c["vip_bound_to"]),
            converging: None,
            maintenance: None,
            dataplane: None,
            flaps: vipdeck::faces::report::FlapReport {
                master_changes_1h: c["flaps"]["master_changes_1h"].as_u64().unwrap_or(0) as usize,
                master_changes_24h: c["flaps"]["master_changes_24h"].as_u64().unwrap_or(0) as usize,
                truncated: false,
                last_change: None,
            },
            failed_actions: vec![],
            cloud: CloudReport {
                network_interface_id: None,
                instance_id: None,
                havip_id: None,
                state: None,
                flushed_time: None,
                age_ms: c["cloud"]["age_ms"].as_u64(),
                stale: false,
                peer: None,
                error: None,
                credential_source: None,
            },
            peers: c["peers"]
                .as_array()
                .expect("peers")
                .iter()
                .map(|p| PeerReport {
                    name: s(&p["name"]).unwrap_or_default(),
                    reachable: p["reachable"].as_bool(),
                    keepalived_running: p["keepalived_running"].as_bool(),
                    vrrp_state: s(&p["vrrp_state"]).unwrap_or_default(),
                    state_source: None,
                    state_file: None,
                    keepalived_state: None,
                    vip_on_nic: p["vip_on_nic"].as_bool(),
                    priority: None,
                    last_transition: s(&p["last_transition"]),
                    data_age_ms: p["data_age_ms"].as_u64(),
                    facts_age_ms: vipdeck::faces::report::FactAges {
                        keepalived_running: None,
                        state_file: None,
                        keepalived_state: None,
                        vip_on_nic: None,
                        config: None,
                    },
                    stale: p["stale"].as_bool().unwrap_or(false),
                    visible: true,
                    error: None,
                    watcher: None,
                    keepalived_version: s(&p["keepalived_version"]),
                    witness: s(&p["witness"]).unwrap_or_default(),
                    witness_note: s(&p["witness_note"]),
                    explain: vipdeck::core::explain::PeerWhy::empty(
                        &s(&p["name"]).unwrap_or_default(),
                    ),
                })
                .collect(),
            alerts: Vec::new(),
        })
        .collect();
    Report { at: None, clusters }
}

// ---------------------------------------------------------------------------
// completions, man page, themes
// ---------------------------------------------------------------------------

const SUBCOMMANDS: &[&str] = &[
    "demo",
    "status",
    "check",
    "init",
    "config",
    "themes",
    "completions",
    "man",
];

#[test]
fn completions_for_bash_zsh_and_fish_know_the_subcommands() {
    let home = Onboard::new();
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(vipdeck(home.path()).args(["completions", shell]));
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.len() > 1000, "{shell}: {} bytes", out.len());
        for sub in SUBCOMMANDS {
            assert!(out.contains(sub), "{shell} completion lacks {sub}");
        }
        assert!(
            out.contains("peer-ssh") && out.contains("read-only"),
            "{shell}"
        );
    }
    // What each shell expects to find.
    let (_, bash, _) = run(vipdeck(home.path()).args(["completions", "bash"]));
    assert!(bash.contains("complete -F _vipdeck"), "{bash}");
    let (_, zsh, _) = run(vipdeck(home.path()).args(["completions", "zsh"]));
    assert!(zsh.starts_with("#compdef vipdeck"), "{zsh}");
    let (_, fish, _) = run(vipdeck(home.path()).args(["completions", "fish"]));
    assert!(fish.contains("complete -c vipdeck"), "{fish}");
    let (code, _, _) = run(vipdeck(home.path()).args(["completions", "tcsh"]));
    assert_ne!(code, 0);
}

/// `--cluster` completes the config's cluster names: bash's completion
/// function, called as bash calls it on `vipdeck failover --cluster w<Tab>`,
/// offers `web`; zsh and fish get the names too. Without a config the
/// script is made all the same.
#[test]
fn completion_offers_the_configs_cluster_names() {
    let home = Onboard::new();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/configs/good.toml");
    let (code, script, err) =
        run(vipdeck(home.path()).args(["--config", config, "completions", "bash"]));
    assert_eq!(code, 0, "{err}");
    let file = home.path().join("vipdeck.bash");
    std::fs::write(&file, script).expect("write");
    let Ok(o) = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && COMP_WORDS=(vipdeck failover --cluster w) && COMP_CWORD=3 \
             && _vipdeck vipdeck w --cluster && echo \"${{COMPREPLY[@]}}\"",
            file.display()
        ))
        .output()
    else {
        eprintln!("no bash here; skipped");
        return;
    };
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out.trim(), "web", "{err}");
    for shell in ["zsh", "fish"] {
        let (_, script, _) =
            run(vipdeck(home.path()).args(["--config", config, "completions", shell]));
        assert!(
            script.contains("(web db)") || script.contains("-a \"web\\t"),
            "{shell}: {script}"
        );
    }
    let (code, _, err) = run(vipdeck(home.path()).args(["completions", "bash"]));
    assert_eq!(code, 0, "no config: {err}");
}

#[test]
fn bash_accepts_the_completion_script() {
    let home = Onboard::new();
    let (_, script, _) = run(vipdeck(home.path()).args(["completions", "bash"]));
    let file = home.path().join("vipdeck.bash");
    std::fs::write(&file, script).expect("write");
    let Ok(o) = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p vipdeck", file.display()))
        .output()
    else {
        eprintln!("no bash here; skipped");
        return;
    };
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("_vipdeck") && out.contains("vipdeck"), "{out}");
}

#[test]
fn man_page_is_roff_and_lists_the_subcommands() {
    let home = Onboard::new();
    let (code, out, err) = run(vipdeck(home.path()).arg("man"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(".TH vipdeck 1"), "{out}");
    assert!(
        out.contains(".SH NAME") && out.contains(".SH SYNOPSIS"),
        "{out}"
    );
    for sub in SUBCOMMANDS {
        assert!(
            out.contains(&format!("vipdeck\\-{sub}")) || out.contains(sub),
            "man lacks {sub}"
        );
    }
    assert!(out.contains("read\\-only"), "global flags documented");
}

#[test]
fn themes_preview_every_builtin_plainly_when_piped() {
    let home = Onboard::new();
    let (code, out, err) = run(vipdeck(home.path()).arg("themes"));
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains('\x1b'),
        "no escapes when stdout is not a terminal"
    );
    let names: Vec<&str> = vipdeck::faces::theme::BUILTIN
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert!(names.len() >= 5, "{names:?}");
    for n in &names {
        assert!(out.lines().any(|l| l == *n), "preview lacks {n}");
    }
    assert!(out.contains("vip_drift") && out.contains("MASTER"), "{out}");
    let (_, only, _) = run(vipdeck(home.path()).args(["themes", "--names"]));
    assert_eq!(only.lines().collect::<Vec<_>>(), names);
}

#[test]
fn theme_preview_paints_with_each_themes_colours() {
    use vipdeck::faces::tui::theme::Theme;
    let escapes = regex::Regex::new("\x1b\\[[0-9;]*m").expect("re");
    for (name, _) in vipdeck::faces::theme::BUILTIN {
        let spec = vipdeck::faces::theme::load(name, None).expect("loads");
        let theme = Theme::try_from(&spec).expect("valid colours");
        let ansi = vipdeck::faces::onboard::theme_preview(&theme, true);
        let plain = vipdeck::faces::onboard::theme_preview(&theme, false);
        assert!(ansi.contains("\x1b["), "{name}");
        assert!(!plain.contains('\x1b'), "{name}");
        // Stripping the escapes gives the plain text back.
        let stripped = escapes.replace_all(&ansi, "");
        assert_eq!(stripped, plain, "{name}");
    }
    // The solarized red is a 24-bit colour in the critical verdict.
    let spec = vipdeck::faces::theme::load("solarized", None).expect("loads");
    let theme = Theme::try_from(&spec).expect("valid");
    let ansi = vipdeck::faces::onboard::theme_preview(&theme, true);
    assert!(ansi.contains("38;2;220;50;47"), "{ansi:?}");
}

// ---------------------------------------------------------------------------
// init papercuts: file mode, guesses, line numbers, names
// ---------------------------------------------------------------------------

/// seed001's keepalived.conf without its notify scripts and interface, in
/// a directory of its own.
fn conf_without_notify(dir: &Path) -> (PathBuf, String) {
    let seed = std::fs::read_to_string(seed001("keepalived.conf")).expect("seed conf");
    let text: String = seed
        .lines()
        .filter(|l| {
            !l.trim_start().starts_with("notify_") && !l.trim_start().starts_with("interface")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let path = dir.join("keepalived.conf");
    std::fs::write(&path, &text).expect("write conf");
    (path, text)
}

#[test]
fn init_writes_0600_and_its_header_never_trips_the_secret_check() {
    use std::os::unix::fs::PermissionsExt;
    let home = Onboard::new();
    let conf = seed001("keepalived.conf");
    let target = home.path().join("cfg/vipdeck.toml");
    let init = |extra: &[&str]| home.init_into(&target, &conf, extra);
    let (code, _, err) = init(&["--write"]);
    assert_eq!(code, 0, "{err}");
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&target), 0o600, "written 0600");
    // --force over a looser file leaves it 0600 too.
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, _, err) = init(&["--write", "--force"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(mode(&target), 0o600, "--force tightens the mode");
    let written = std::fs::read_to_string(&target).expect("read");
    // Even readable by others, the generated text does not mention a secret
    // key: `config check` has nothing to warn about.
    let loose = home.path().join("loose.toml");
    std::fs::write(&loose, &written).expect("write");
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    for p in [&target, &loose] {
        let (code, out, err) = run(vipdeck(home.path()).arg("config").arg("check").arg(p));
        assert_eq!(code, 0, "{err}");
        assert!(
            !out.contains("secret") && !err.contains("secret"),
            "{}: {out}{err}",
            p.display()
        );
    }
}

#[test]
fn init_says_what_it_guessed_and_why_and_points_at_the_vip_line() {
    let home = Onboard::new();
    let (conf, text) = conf_without_notify(home.path());
    let (code, out, err) = home.init(&conf, &["--no-cloud"]);
    assert_eq!(code, 0, "{err}");
    let value_line = |key: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(&format!("{key} =")))
            .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
            .to_string()
    };
    let state = value_line("state_file");
    assert!(
        state.contains("guessed") && state.contains("no notify script is named in keepalived.conf"),
        "{state}"
    );
    assert!(value_line("log_file").contains("guessed"), "{out}");
    let iface = value_line("interface");
    assert!(
        iface.contains("guessed") && iface.contains("names no interface"),
        "{iface}"
    );
    assert!(value_line("region").contains("guessed"), "{out}");
    // The VIP's comment names the line the VIP is on, not vrrp_instance's.
    let vip_line = text
        .lines()
        .position(|l| l.trim_start().starts_with("10.0.1.100"))
        .expect("the VIP in the conf")
        + 1;
    let instance_line = text
        .lines()
        .position(|l| l.starts_with("vrrp_instance"))
        .expect("instance")
        + 1;
    assert_ne!(vip_line, instance_line);
    let vip = value_line("vip");
    assert!(vip.contains(&format!("(line {vip_line})")), "{vip}");
    // Every uncommented value says where it came from.
    for l in out
        .lines()
        .filter(|l| l.contains(" = ") && !l.trim_start().starts_with('#'))
    {
        let key = l.split('=').next().unwrap_or("").trim();
        if key != "name" {
            assert!(l.contains("   # "), "{l}");
        }
    }
}

#[test]
fn init_names_peers_after_their_ssh_aliases() {
    let home = Onboard::new();
    std::fs::create_dir_all(home.path().join(".ssh")).expect("mkdir");
    std::fs::write(
        home.path().join(".ssh/config"),
        "Host bastion *.internal\n  User ops\n\nHost pay-a\n  HostName 10.0.1.17\n\
         Host pay-b pay-b.example\n  HostName 10.0.1.16\n  User root\n",
    )
    .expect("ssh config");
    let conf = seed001("keepalived.conf");
    let (code, out, err) = home.init(&conf, &["--no-cloud"]);
    assert_eq!(code, 0, "{err}");
    let c = parse(&out);
    let names: Vec<&str> = c.clusters[0]
        .peers
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["pay-a", "pay-b"], "{out}");
    assert_eq!(
        c.clusters[0].peers[1].target,
        vipdeck::core::config::PeerTarget::Ssh("pay-b".into())
    );
    assert!(out.contains("the ssh config's Host for 10.0.1.16"), "{out}");
    // Without the ssh config, the addresses (LVS_DEVEL is no host name).
    let bare = Onboard::new();
    let (_, out, _) = bare.init(&conf, &["--no-cloud"]);
    let c = parse(&out);
    assert_eq!(c.clusters[0].peers[0].name, "10.0.1.17");
}
