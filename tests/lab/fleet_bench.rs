//! A fleet on this machine: N clusters of local peers (files in a temp
//! dir) and the VPC emulator with N generated pairs, watched by one
//! `vipdeck status --watch --json`. For 1, 10, 100 and 300 clusters it
//! prints: CPU of vipdeck and
//! every child, RSS, children, open descriptors, processes started per
//! second under vipdeck, cloud calls per poll cycle by action, one-shot
//! `status --json` wall time and detection p50/p99 (a state file changes
//! → the `--watch` line). Asserts only what the design bounds: at most two
//! cloud calls per API per cycle and that every answer came.
//!
//! CI runs the smoke size: 1 and 10 clusters, 10 s windows, 5 state-file
//! changes, with the same assertions. The full benchmark, whose figures
//! docs/performance.md quotes, runs with `VIPDECK_BENCH=full`. Needs root
//! for the kernel's process events (the netlink proc connector):
//! `sudo -E bash scripts/bench.sh fleet` (release build).

use crate::lab_bench::{sized, smoke_label};
use crate::peer_cost_bench::ForkCounter;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The fleets measured: the full benchmark's, or the smoke run's;
/// `VIPDECK_FLEET_SIZES=100,300,1000` picks some.
fn sizes() -> Vec<usize> {
    if let Ok(list) = std::env::var("VIPDECK_FLEET_SIZES") {
        let v: Vec<usize> = list
            .split(',')
            .filter_map(|x| x.trim().parse().ok())
            .collect();
        if !v.is_empty() {
            return v;
        }
    }
    sized(&[1, 10, 100, 300, 1000][..], &[1, 10][..]).to_vec()
}
/// The most pairs the emulator generates in one world.
const GENERATED_MAX: usize = 504;
/// When a stand-in writes its dump after the signal (a loaded keepalived).
const DUMP_DELAY_MS: u64 = 50;
/// The measurement window: at least two cloud cycles.
fn window() -> Duration {
    sized(Duration::from_secs(20), Duration::from_secs(10))
}
const CLOUD_POLL_MS: u64 = 5000;
/// State-file changes timed per fleet.
fn samples() -> usize {
    sized(10, 5)
}

pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// utime + stime (+ cutime + cstime when `children`) of `pid`, in ticks.
fn cpu_ticks(pid: u32, children: bool) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // Fields 14..17 of stat are 11..14 after the comm.
    if f.len() < 15 {
        return 0;
    }
    f[11] + f[12] + if children { f[13] + f[14] } else { 0 }
}

pub(crate) fn descendants(root: u32) -> Vec<u32> {
    let mut parent = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0);
        parent.push((pid, ppid));
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parent.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out.remove(0);
    out
}

/// CPU ticks of vipdeck (with its reaped children) and of its live
/// descendants, by pid.
pub(crate) fn tree_cpu(root: u32) -> (u64, Vec<(u32, u64)>) {
    (
        cpu_ticks(root, true),
        descendants(root)
            .into_iter()
            .map(|p| (p, cpu_ticks(p, true)))
            .collect(),
    )
}

pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The generated pair `i`'s VIP (docs/cloudsim.md).
fn vip_of(i: usize) -> String {
    let ranges = ["192.0.2", "198.51.100", "203.0.113"];
    let (v, slot) = (i / 84, i % 84);
    // The three ranges again in further VPCs from pair 252 on.
    format!("{}.{}", ranges[v % ranges.len()], 1 + slot * 3)
}

/// The emulator's world for `n` pairs: its generated world, and beyond
/// its 504 pairs a second one whose names and VPCs are shifted past the
/// first's (pair `i`'s VIP stays `vip_of(i)`).
fn world_file(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let first = n.min(GENERATED_MAX);
    let mut w = serde_json::to_value(vipdeck::cloudsim::generated_world(first).expect("world"))
        .expect("json");
    if n > first {
        let mut more =
            serde_json::to_value(vipdeck::cloudsim::generated_world(n - first).expect("world"))
                .expect("json");
        shift_names(&mut more, first, first / 84);
        for key in [
            "Vpcs",
            "Subnets",
            "Instances",
            "NetworkInterfaces",
            "HaVips",
        ] {
            let extra = more[key].as_array().cloned().unwrap_or_default();
            w[key].as_array_mut().expect("a list").extend(extra);
        }
    }
    // The keys as the example world has them (a world prints them hidden).
    let example: serde_json::Value =
        serde_json::from_str(vipdeck::cloudsim::EXAMPLE_WORLD).expect("example world");
    w["Keys"] = example["Keys"].clone();
    let path = dir.join("world.json");
    std::fs::write(&path, w.to_string()).expect("world file");
    path
}

/// Adds `by` to every generated pair number (`-g` and 5 or 7 digits) and
/// `vpcs` to every generated VPC number (`-gen` and 5 digits) in `v`, and
/// moves its MACs to another prefix.
fn shift_names(v: &mut serde_json::Value, by: usize, vpcs: usize) {
    fn shift(s: &str, marker: &str, by: usize) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(at) = rest.find(marker) {
            let (head, tail) = rest.split_at(at + marker.len());
            out.push_str(head);
            let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
            if digits >= 5 {
                let n: usize = tail[..digits].parse().unwrap_or(0);
                out.push_str(&format!("{:0width$}", n + by, width = digits));
                rest = &tail[digits..];
            } else {
                rest = tail;
            }
        }
        out.push_str(rest);
        out
    }
    match v {
        // MACs too (`52:54:01:HI:LO:0N`): the second world's are `52:54:02:…`.
        serde_json::Value::String(s) if s.starts_with("52:54:01:") => {
            *s = s.replacen("52:54:01:", "52:54:02:", 1)
        }
        serde_json::Value::String(s) => *s = shift(&shift(s, "-gen", vpcs), "-g", by),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| shift_names(x, by, vpcs)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| shift_names(x, by, vpcs)),
        _ => {}
    }
}

/// keepalived stand-ins (src/sources/host/standin.c), one per peer: on
/// the dump signal each writes its JSON dump `DUMP_DELAY_MS` later, as a
/// loaded keepalived does. Named `keepalived` and run by root, they pass
/// the host poll's checks before it signals anything.
pub(crate) struct Standins {
    bin: std::path::PathBuf,
    dir: std::path::PathBuf,
    /// Peer `2 * cluster + side` (side a 0, b 1).
    kids: Vec<Killed>,
}

impl Standins {
    fn spawn(&self, i: usize, side: &str) -> Killed {
        let word = if side == "a" { "master" } else { "backup" };
        let p = self.dir.join(format!("c{i}{side}"));
        Killed(
            Command::new(&self.bin)
                .arg(p.join("keepalived.json"))
                .arg(format!(
                    "{}/tests/fixtures/keepalived/real/keepalived-{word}.json",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .arg(self.dir.join("dump-delay"))
                .arg(p.join("keepalived.pid"))
                .stdin(Stdio::null())
                .spawn()
                .expect("stand-in"),
        )
    }

    /// Waits until the stand-in of cluster `i`'s `side` wrote its pid file.
    fn wait_pid_file(&self, i: usize, side: &str, pid: u32) {
        let file = self.dir.join(format!("c{i}{side}/keepalived.pid"));
        let t = Instant::now();
        while std::fs::read_to_string(&file).map_or(true, |p| p != format!("{pid}\n")) {
            assert!(t.elapsed() < Duration::from_secs(30), "stand-in {i}{side}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn slot(i: usize, side: &str) -> usize {
        2 * i + usize::from(side == "b")
    }

    /// The pid of cluster `i`'s keepalived on `side`.
    pub(crate) fn pid(&self, i: usize, side: &str) -> u32 {
        self.kids[Self::slot(i, side)].0.id()
    }

    /// Stops cluster `i`'s keepalived on `side` (it is reaped).
    pub(crate) fn kill(&mut self, i: usize, side: &str) {
        let k = &mut self.kids[Self::slot(i, side)].0;
        let _ = k.kill();
        let _ = k.wait();
    }

    /// Starts it again: a new process writes its pid file.
    pub(crate) fn restart(&mut self, i: usize, side: &str) {
        self.kill(i, side);
        let kid = self.spawn(i, side);
        let pid = kid.0.id();
        self.kids[Self::slot(i, side)] = kid;
        self.wait_pid_file(i, side, pid);
    }
}

fn build_standin(dir: &std::path::Path) -> std::path::PathBuf {
    let bin = dir.join("keepalived");
    let st = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&bin)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/sources/host/standin.c"
        ))
        .status()
        .expect("cc");
    assert!(st.success(), "the keepalived stand-in builds");
    bin
}

pub(crate) fn start_standins(dir: &std::path::Path, n: usize) -> Standins {
    let bin = build_standin(dir);
    std::fs::write(dir.join("dump-delay"), DUMP_DELAY_MS.to_string()).expect("delay");
    let mut s = Standins {
        bin,
        dir: dir.to_path_buf(),
        kids: Vec::new(),
    };
    for i in 0..n {
        for side in ["a", "b"] {
            let kid = s.spawn(i, side);
            s.kids.push(kid);
        }
    }
    for i in 0..n {
        for side in ["a", "b"] {
            s.wait_pid_file(i, side, s.pid(i, side));
        }
    }
    s
}

/// The verdict every generated pair should get: side a MASTER by its state
/// file and its keepalived, side b BACKUP, the cloud bound to side a, the
/// VIP on no NIC (the peers are this machine's `lo`).
pub(crate) const RIGHT: &str = "degraded";

pub(crate) fn verdicts_right(v: &serde_json::Value) -> usize {
    v["clusters"].as_array().map_or(0, |cs| {
        cs.iter()
            .filter(|c| {
                c["verdict"] == RIGHT && c["master"].as_str().is_some_and(|m| m.ends_with("-a"))
            })
            .count()
    })
}

/// Peers whose keepalived witness is its JSON dump.
pub(crate) fn dump_witnesses(v: &serde_json::Value) -> usize {
    v["clusters"].as_array().map_or(0, |cs| {
        cs.iter()
            .flat_map(|c| c["peers"].as_array().cloned().unwrap_or_default())
            .filter(|p| p["witness"] == "json_dump")
            .count()
    })
}

pub(crate) fn write_fleet(dir: &std::path::Path, n: usize, endpoint: &str) -> std::path::PathBuf {
    let d = dir.display();
    let mut toml = format!(
        "[cloud]\nregion = \"ap-guangzhou\"\nendpoint = \"{endpoint}\"\npoll_interval_ms = {CLOUD_POLL_MS}\n\n\
         [monitor]\npoll_interval_ms = 1000\n"
    );
    for i in 0..n {
        let vip = vip_of(i);
        let havip = i % 2 == 0;
        toml.push_str(&format!(
            "\n[[clusters]]\nname = \"c{i}\"\nmode = \"{}\"\nvip = \"{vip}\"\n",
            if havip { "havip" } else { "eni" }
        ));
        if havip {
            toml.push_str(&format!("havip_id = \"havip-g{i:07}\"\n"));
        }
        for side in ["a", "b"] {
            let p = format!("{d}/c{i}{side}");
            std::fs::create_dir_all(&p).expect("peer dir");
            let word = if side == "a" { "MASTER" } else { "BACKUP" };
            std::fs::write(format!("{p}/state"), word).expect("state");
            std::fs::write(format!("{p}/notify.log"), "").expect("log");
            std::fs::write(format!("{p}/daemon.log"), "").expect("log");
            std::fs::write(
                format!("{p}/keepalived.conf"),
                format!(
                    "vrrp_instance VI_{i} {{\n state BACKUP\n interface lo\n virtual_router_id {}\n \
                     priority 100\n virtual_ipaddress {{\n {vip}/24\n }}\n}}\n",
                    1 + i % 255
                ),
            )
            .expect("conf");
            toml.push_str(&format!(
                "\n  [[clusters.peers]]\n  name = \"c{i}-{side}\"\n  local = true\n  \
                 network_interface_id = \"eni-g{i:05}{side}\"\n  instance_id = \"ins-g{i:05}{side}\"\n  \
                 interface = \"lo\"\n  state_file = \"{p}/state\"\n  log_file = \"{p}/notify.log\"\n  \
                 daemon_log = \"{p}/daemon.log\"\n  keepalived_conf = \"{p}/keepalived.conf\"\n  \
                 pid_file = \"{p}/keepalived.pid\"\n  json_dump = \"{p}/keepalived.json\"\n"
            ));
        }
    }
    let path = dir.join("fleet.toml");
    std::fs::write(&path, toml).expect("config");
    path
}

pub(crate) fn vipdeck(config: &std::path::Path, dir: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.args(args)
        .arg("--config")
        .arg(config)
        .env(
            "TENCENTCLOUD_CREDENTIALS_FILE",
            dir.join("credentials").display().to_string(),
        )
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .env_remove("VIPDECK_WATCHER")
        .env("VIPDECK_DATA_DIR", dir.join("data").display().to_string());
    c
}

struct Row {
    n: usize,
    one_shot: f64,
    right_one_shot: usize,
    right_watch: usize,
    dumps_one_shot: usize,
    dumps_watch: usize,
    cpu: f64,
    rss_mib: f64,
    children: usize,
    fds: usize,
    forks: f64,
    calls: String,
    max_calls: f64,
    p50: f64,
    p99: f64,
}

/// The first few peers of a `status --json` that did not answer, with why.
fn unanswered(v: &serde_json::Value) -> Vec<String> {
    v["clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["peers"].as_array().cloned().unwrap_or_default())
        .filter(|p| p["reachable"].as_bool() != Some(true))
        .map(|p| format!("{}: {}", p["name"], p["error"]))
        .take(5)
        .collect()
}

fn measure(n: usize, endpoint: &str) -> Row {
    let fleet = Fleet::new(n, endpoint);
    let (dir, config) = (fleet.dir(), &fleet.config);
    // For a look from outside: the fleet stands this long first.
    if let Some(secs) = std::env::var("VIPDECK_FLEET_HOLD")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        eprintln!(
            "fleet of {n} held {secs} s: TENCENTCLOUD_CREDENTIALS_FILE={}/credentials VIPDECK_DATA_DIR={}/data vipdeck --config {}",
            dir.display(),
            dir.display(),
            config.display()
        );
        std::thread::sleep(Duration::from_secs(secs));
    }

    // One-shot status for the whole fleet.
    let t = Instant::now();
    let out = vipdeck(config, dir, &["status", "--json"])
        .output()
        .expect("status");
    let one_shot = t.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let answered = v["clusters"].as_array().map_or(0, |cs| {
        cs.iter()
            .filter(|c| {
                c["peers"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().all(|p| p["reachable"].as_bool() == Some(true)))
            })
            .count()
    });
    assert_eq!(
        answered,
        n,
        "one-shot ({one_shot:.2} s): every peer answered: {:?}",
        unanswered(&v)
    );
    let right_one_shot = verdicts_right(&v);
    let dumps_one_shot = dump_witnesses(&v);

    let mut watch = Killed(
        vipdeck(config, dir, &["status", "--watch", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("watch"),
    );
    let pid = watch.0.id();
    let stdout = watch.0.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                return;
            }
        }
    });
    let seen_all = |line: &str| {
        serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| {
            v["clusters"].as_array().is_some_and(|cs| {
                cs.len() == n
                    && cs.iter().all(|c| {
                        c["peers"].as_array().is_some_and(|ps| {
                            ps.iter().all(|p| p["reachable"].as_bool() == Some(true))
                        })
                    })
            })
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ok = false;
    let last = std::cell::RefCell::new(String::new());
    while !ok && Instant::now() < deadline {
        if let Ok((_, l)) = rx.recv_timeout(Duration::from_millis(500)) {
            ok = seen_all(&l);
            *last.borrow_mut() = l;
        }
    }
    let last_line = |rx: &std::sync::mpsc::Receiver<(Instant, String)>,
                     last: &std::cell::RefCell<String>| {
        while let Ok((_, l)) = rx.try_recv() {
            *last.borrow_mut() = l;
        }
        last.borrow().clone()
    };
    let errors = unanswered(&serde_json::from_str(&last.borrow()).unwrap_or_default());
    assert!(
        ok,
        "{n} clusters: not every peer answered the watch: {errors:?}"
    );
    std::thread::sleep(Duration::from_secs(3));

    curl(&["-X", "DELETE", &format!("{endpoint}/admin/requests")]);
    let counter = ForkCounter::start(|| {
        let mut tree = descendants(pid);
        tree.push(pid);
        vec![tree]
    });
    let (cpu0, kids0) = tree_cpu(pid);
    let t0 = Instant::now();
    // Keep the watch's lines flowing while measuring.
    while t0.elapsed() < window() {
        if let Ok((_, l)) = rx.recv_timeout(Duration::from_millis(100)) {
            *last.borrow_mut() = l;
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let (cpu1, kids1) = tree_cpu(pid);
    let forks = counter.read()[0] as f64 / elapsed;
    drop(counter);
    let mut ticks = cpu1.saturating_sub(cpu0);
    for (p, t1) in &kids1 {
        let t0 = kids0.iter().find(|(q, _)| q == p).map_or(0, |(_, t)| *t);
        ticks += t1.saturating_sub(t0);
    }
    let cpu = ticks as f64 / ticks_per_sec() / elapsed * 100.0;
    let watched: serde_json::Value =
        serde_json::from_str(&last_line(&rx, &last)).unwrap_or_default();
    let (right_watch, dumps_watch) = (verdicts_right(&watched), dump_witnesses(&watched));
    let requests: serde_json::Value =
        serde_json::from_str(&curl(&[&format!("{endpoint}/admin/requests")])).unwrap_or_default();
    let cycles = (elapsed * 1000.0 / CLOUD_POLL_MS as f64).max(1.0);
    let mut by_action: std::collections::BTreeMap<String, usize> = Default::default();
    for r in requests.as_array().into_iter().flatten() {
        *by_action
            .entry(r["action"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    let calls = by_action
        .iter()
        .map(|(a, c)| format!("{a} {:.1}", *c as f64 / cycles))
        .collect::<Vec<_>>()
        .join(", ");
    let max_calls = by_action.values().copied().max().unwrap_or(0) as f64 / cycles;
    let rss_mib = rss_kib(pid) as f64 / 1024.0;
    let children = descendants(pid).len();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());

    // Detection on the middle cluster's peer a.
    let k = n / 2;
    let state = dir.join(format!("c{k}a/state"));
    let name = format!("c{k}-a");
    let shows = |line: &str, word: &str| {
        serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| {
            v["clusters"][k]["peers"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == name.as_str()))
                .is_some_and(|p| p["state_file"] == word)
        })
    };
    let wait_for = |word: &str| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok((at, l)) = rx.recv_timeout(Duration::from_millis(200)) {
                if shows(&l, word) {
                    return Some(at);
                }
            }
        }
        None
    };
    let mut lat = Vec::new();
    for i in 0..samples() {
        std::fs::write(&state, "BACKUP").expect("write");
        // The watch prints a line only when something changes: before the
        // first change it shows BACKUP already (the file was written so).
        if i > 0 {
            wait_for("BACKUP");
        }
        std::thread::sleep(Duration::from_millis(300));
        while rx.try_recv().is_ok() {}
        let wrote = Instant::now();
        std::fs::write(&state, "FAULT").expect("write");
        let at = wait_for("FAULT").unwrap_or_else(|| panic!("{n}: FAULT never shown"));
        lat.push(at.saturating_duration_since(wrote).as_secs_f64() * 1e3);
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    drop(watch);
    drop(fleet);
    Row {
        n,
        one_shot,
        right_one_shot,
        right_watch,
        dumps_one_shot,
        dumps_watch,
        cpu,
        rss_mib,
        children,
        fds,
        forks,
        calls,
        max_calls,
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
    }
}

/// The VPC emulator with a world of `n` generated pairs, on loopback.
pub(crate) struct Emulator {
    pub(crate) endpoint: String,
    _sim: Killed,
    _world: tempfile::TempDir,
}

impl Emulator {
    pub(crate) fn start(n: usize) -> Emulator {
        let world_dir = tempfile::tempdir().expect("tempdir");
        let mut sim = Killed(
            Command::new(env!("CARGO_BIN_EXE_vipdeck"))
                .args([
                    "cloudsim",
                    "--listen",
                    "127.0.0.1:0",
                    "--state",
                    &world_file(world_dir.path(), n).display().to_string(),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("cloudsim"),
        );
        // Its request log is not read; the first lines tell why it did not start.
        let mut stderr = sim.0.stderr.take().expect("stderr");
        let why = std::thread::spawn(move || {
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut stderr, &mut buf) {
                if n == 0 {
                    break;
                }
                if head.len() < 4096 {
                    head.extend_from_slice(&buf[..n]);
                }
            }
            String::from_utf8_lossy(&head).into_owned()
        });
        let mut first = String::new();
        BufReader::new(sim.0.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("cloudsim prints its address");
        let endpoint = first
            .trim()
            .strip_prefix("cloudsim listening on ")
            .unwrap_or_else(|| {
                let _ = sim.0.kill();
                panic!("cloudsim did not start: {}", why.join().unwrap_or_default())
            })
            .to_string();
        Emulator {
            endpoint,
            _sim: sim,
            _world: world_dir,
        }
    }
}

/// A fleet of `n` clusters of local peers in a temp dir: its config, the
/// credentials the emulator accepts, and a running keepalived stand-in for
/// every peer.
pub(crate) struct Fleet {
    pub(crate) config: std::path::PathBuf,
    pub(crate) standins: Standins,
    pub(crate) tmp: tempfile::TempDir,
}

impl Fleet {
    pub(crate) fn new(n: usize, endpoint: &str) -> Fleet {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        let config = write_fleet(dir, n, endpoint);
        let standins = start_standins(dir, n);
        std::fs::write(
            dir.join("credentials"),
            "[default]\nsecret_id = AKIDcloudsimEXAMPLEid000000000000001\nsecret_key = cloudsimEXAMPLEkey00000000000001\n",
        )
        .expect("credentials");
        Fleet {
            config,
            standins,
            tmp,
        }
    }

    pub(crate) fn dir(&self) -> &std::path::Path {
        self.tmp.path()
    }

    pub(crate) fn vipdeck(&self, args: &[&str]) -> Command {
        vipdeck(&self.config, self.dir(), args)
    }
}

#[test]
#[ignore = "needs root (the kernel's process events): scripts/test.sh runs its smoke size as root, CI always"]
fn fleet_of_local_peers_and_the_emulator() {
    crate::support::require_root();
    let sizes = sizes();
    smoke_label(&format!(
        "{sizes:?} clusters, {} s windows, {} state-file changes",
        window().as_secs(),
        samples()
    ));
    // Not the lab, but a benchmark: it runs while no lab test does (they
    // take turns on this lock), so neither disturbs the other's figures.
    let lock = std::fs::File::create(crate::support::TEST_LOCK).expect("the lab test lock");
    lock.lock().expect("lock the lab test lock");
    let emulator = Emulator::start(sizes.iter().max().copied().unwrap_or(1));
    let endpoint = emulator.endpoint.clone();
    let rows: Vec<Row> = sizes.iter().map(|&n| measure(n, &endpoint)).collect();
    println!();
    smoke_label(&format!("{sizes:?} clusters"));
    println!(
        "fleet of local peers + the emulator, `status --watch --json`, {}s windows, cloud poll every {} s, {} state-file changes:",
        window().as_secs(),
        CLOUD_POLL_MS / 1000,
        samples()
    );
    println!("| clusters | one-shot `status --json` | verdicts right (one-shot / watch) | dump witnesses (one-shot / watch) | CPU (vipdeck + children, % of one core) | RSS | children | fds | processes/s | cloud calls per cycle | detection p50 / p99 |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.2} s | {}/{} / {}/{} | {}/{} / {}/{} | {:.1} % | {:.0} MiB | {} | {} | {:.2} | {} | {:.0} / {:.0} ms |",
            r.n, r.one_shot, r.right_one_shot, r.n, r.right_watch, r.n, r.dumps_one_shot, 2 * r.n, r.dumps_watch, 2 * r.n, r.cpu, r.rss_mib, r.children, r.fds, r.forks, r.calls, r.p50, r.p99
        );
    }
    // At most 2 calls per API per cycle whatever the fleet: a larger fleet
    // is read in rounds (up to 100 objects a call, the API's page).
    for r in &rows {
        assert!(
            r.max_calls <= 2.0 + 0.5,
            "{} clusters: {} calls per cycle",
            r.n,
            r.calls
        );
    }
}
