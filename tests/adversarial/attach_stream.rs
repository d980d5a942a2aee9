//! A hostile collector: `status --attach` against a tiny HTTP server on
//! 127.0.0.1 that streams a flood of newlines and an endless line. The
//! client's memory stays bounded (its peak RSS, from wait4, under
//! [`RSS_CAP`]) and it says what was wrong instead of aborting. The
//! attach stream parser is fuzzed like the peers' parsers. And the
//! client's bearer token never goes through a proxy from the
//! environment unless the user opts in.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use vipdeck::core::model::{ClusterSpec, Mode, PeerSpec};
use vipdeck::core::verdict::Thresholds;
use vipdeck::sources::attach::{Hello, Lines};

/// The most a `status --attach` may hold against a hostile collector
/// (before the fix: 5.8 GB in 5 s, then an abort). The stream buffer is
/// bounded by one line (8 MiB) and one read.
const RSS_CAP_MIB: u64 = 64;
const RSS_CAP: u64 = RSS_CAP_MIB << 20;

fn hello_line() -> Vec<u8> {
    let peer = |n: &str, a: &str| PeerSpec {
        name: n.into(),
        address: a.into(),
        network_interface_id: None,
        instance_id: None,
    };
    let hello = Hello {
        specs: vec![ClusterSpec {
            name: "web".into(),
            mode: Mode::Havip,
            vip: "192.0.2.10".into(),
            havip_id: Some("havip-web00001".into()),
            peers: [peer("a", "192.0.2.11"), peer("b", "192.0.2.12")],
        }],
        thresholds: Thresholds::default(),
        label: "hostile".into(),
    };
    let mut l = serde_json::to_vec(&hello).expect("hello");
    l.push(b'\n');
    l
}

/// Reads a request head; returns it (empty when the client went away).
fn read_head(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 << 10 {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// What the hostile collector sends on each connection after its headers.
#[derive(Clone, Copy)]
enum Script {
    /// A flood of newlines, then an endless line, before any hello.
    FloodThenEndless,
    /// A hello, then the same.
    HelloFloodThenEndless,
}

const FLOOD: usize = 64 << 20;
const ENDLESS: usize = 16 << 20;

fn hostile_collector(script: Script) -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let conns = Arc::new(AtomicUsize::new(0));
    let seen = conns.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let n = seen.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let _ = read_head(&mut s);
                // Chunked, in chunks as large as HTTP allows one to be:
                // the client's HTTP stack hands the body on in pieces as
                // large as its read buffer.
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n",
                );
                if n > 0 {
                    // Reconnections get nothing: the client gives up or waits.
                    std::thread::sleep(Duration::from_secs(30));
                    return;
                }
                if matches!(script, Script::HelloFloodThenEndless) {
                    let h = hello_line();
                    let _ = write!(s, "{:x}\r\n", h.len());
                    let _ = s.write_all(&h);
                    let _ = s.write_all(b"\r\n");
                }
                for (byte, total) in [(b'\n', FLOOD), (b'x', ENDLESS)] {
                    if write!(s, "{total:x}\r\n").is_err() {
                        return;
                    }
                    let piece = vec![byte; 1 << 20];
                    for _ in 0..total / piece.len() {
                        if s.write_all(&piece).is_err() {
                            return;
                        }
                    }
                    if s.write_all(b"\r\n").is_err() {
                        return;
                    }
                }
                std::thread::sleep(Duration::from_secs(30));
            });
        }
    });
    (addr, conns)
}

/// Runs `cmd` to its end (at most `limit`), killing it if its RSS passes
/// the cap; returns its exit status, its peak RSS in bytes (wait4's
/// ru_maxrss) and its stderr. The child is reaped with wait4 (for its
/// own rusage), not with `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run_capped(mut cmd: Command, limit: Duration) -> (ExitStatus, u64, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns vipdeck");
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let t0 = Instant::now();
    let mut killed_at = None;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: a zeroed rusage is a valid out-parameter.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our child; status and usage are valid pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            let err = err_reader.join().unwrap_or_default();
            let peak = usage.ru_maxrss as u64 * 1024;
            if let Some(rss) = killed_at {
                panic!(
                    "the client grew past {RSS_CAP_MIB} MiB (RSS {} MiB) and was killed; stderr: {err}",
                    rss >> 20
                );
            }
            return (ExitStatus::from_raw(status), peak, err);
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if killed_at.is_none() {
            let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("VmRSS:"))
                        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                })
                .unwrap_or(0)
                * 1024;
            if rss > RSS_CAP || t0.elapsed() > limit {
                let _ = child.kill();
                if rss > RSS_CAP {
                    killed_at = Some(rss);
                } else {
                    panic!("the client did not finish within {limit:?}");
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn status_attach(addr: &str) -> Command {
    let dir = std::env::temp_dir().join("vipdeck-adversarial-attach");
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.args(["status", "--attach", &format!("http://{addr}")])
        .env("VIPDECK_DATA_DIR", &dir)
        .env_remove("VIPDECK_CONFIG")
        .env_remove("VIPDECK_TOKEN_FILE")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY");
    c
}

#[test]
fn a_flood_of_newlines_and_an_endless_line_before_the_hello_are_bounded() {
    let (addr, _) = hostile_collector(Script::FloodThenEndless);
    let (status, peak, err) = run_capped(status_attach(&addr), Duration::from_secs(120));
    println!(
        "status --attach against a newline flood and an endless line: peak RSS {} MiB (cap {RSS_CAP_MIB} MiB)",
        peak >> 20
    );
    assert!(
        status.signal().is_none(),
        "killed by a signal: {status:?} {err}"
    );
    assert!(!status.success(), "a hostile stream is an error: {err}");
    assert!(err.contains("longer than 8 MiB"), "a clear error: {err}");
    assert!(peak < RSS_CAP, "peak RSS {} MiB", peak >> 20);
}

#[test]
fn a_flood_of_newlines_and_an_endless_line_after_the_hello_are_bounded() {
    let (addr, conns) = hostile_collector(Script::HelloFloodThenEndless);
    // The one-shot status waits for the cluster's state (up to 20 s) while
    // the stream breaks and is opened again.
    let (status, peak, err) = run_capped(status_attach(&addr), Duration::from_secs(120));
    println!(
        "status --attach after a hello: peak RSS {} MiB (cap {RSS_CAP_MIB} MiB), {} connection(s)",
        peak >> 20,
        conns.load(Ordering::SeqCst)
    );
    assert!(
        status.signal().is_none(),
        "killed by a signal: {status:?} {err}"
    );
    assert!(peak < RSS_CAP, "peak RSS {} MiB", peak >> 20);
    assert!(
        conns.load(Ordering::SeqCst) >= 2,
        "the endless line broke the stream and the client opened it again"
    );
}

/// A listener on loopback that records each request head it gets and
/// answers 502: a proxy from the environment, or a collector.
fn recorder() -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let head = read_head(&mut s);
            seen.lock().unwrap_or_else(|e| e.into_inner()).push(head);
            let _ = s.write_all(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (addr, heads)
}

fn heads(h: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    h.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// `status --attach URL` with a token, through an environment that names
/// `proxy` for every scheme.
fn attach_via_env_proxy(url: &str, proxy: &str, opt_in: bool) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let tf = dir.path().join("token");
    std::fs::write(&tf, "tok-proxy-7c1e\n").expect("token");
    std::fs::set_permissions(&tf, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.args(["status", "--attach", url])
        .arg("--token-file")
        .arg(&tf)
        .env("VIPDECK_DATA_DIR", dir.path())
        .env_remove("VIPDECK_CONFIG")
        .env_remove("VIPDECK_TOKEN_FILE")
        .env_remove("VIPDECK_ATTACH_PROXY")
        .env_remove("no_proxy")
        .env_remove("NO_PROXY");
    for var in ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"] {
        c.env(var, format!("http://{proxy}"));
    }
    if opt_in {
        c.env("VIPDECK_ATTACH_PROXY", "1");
    }
    c.output().expect("status --attach")
}

#[test]
fn the_token_never_goes_through_a_proxy_unless_asked() {
    let (proxy, proxied) = recorder();
    let (collector, direct) = recorder();

    // A collector on this machine: never through a proxy.
    let out = attach_via_env_proxy(&format!("http://{collector}"), &proxy, false);
    assert!(!out.status.success());
    assert!(
        heads(&proxied).is_empty(),
        "the proxy saw a loopback request: {:?}",
        heads(&proxied)
    );
    let d = heads(&direct);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].contains("Bearer tok-proxy-7c1e"), "{d:?}");

    // A remote collector (a documentation address, never routed): not
    // through the proxy with a token either...
    let remote = "http://203.0.113.7:9813";
    let out = attach_via_env_proxy(remote, &proxy, false);
    assert!(!out.status.success());
    assert!(
        heads(&proxied).is_empty(),
        "a token went to the proxy: {:?}",
        heads(&proxied)
    );
    // ...unless the user says so.
    let out = attach_via_env_proxy(remote, &proxy, true);
    assert!(!out.status.success());
    let p = heads(&proxied);
    assert_eq!(p.len(), 1, "VIPDECK_ATTACH_PROXY=1 uses the proxy: {p:?}");
    assert!(
        p[0].starts_with("GET http://203.0.113.7:9813/watch"),
        "{p:?}"
    );
}

/// Bytes that matter to a line parser.
const NASTY: &[u8] = b"\n\n\r{}\"x\x00\xff ";

#[test]
fn fuzz_attach_stream() {
    let hello = hello_line();
    // A stream: pieces of a hello and of nasty bytes, long runs of one
    // byte, cut into chunks of any size.
    let piece = prop_oneof![
        4 => prop::collection::vec(prop::sample::select(NASTY), 0..64),
        2 => (0..hello.len(), 0..hello.len()).prop_map({
            let h = hello.clone();
            move |(a, b)| h[a.min(b)..a.max(b)].to_vec()
        }),
        1 => (prop::sample::select(NASTY), 0usize..(3 << 20)).prop_map(|(b, n)| vec![b; n]),
    ];
    let strategy = (
        prop::collection::vec(piece, 0..16),
        prop::collection::vec(1usize..(1 << 20), 1..8),
    );
    crate::parsers::fuzz_for("attach stream", strategy, |(pieces, cuts)| {
        let stream: Vec<u8> = pieces.concat();
        let mut lines = Lines::new();
        let mut at = 0;
        let mut i = 0;
        let mut total = 0usize;
        while at < stream.len() {
            let n = cuts[i % cuts.len()].min(stream.len() - at);
            i += 1;
            if lines.feed(&stream[at..at + n]).is_err() {
                return;
            }
            at += n;
            loop {
                match lines.next_line() {
                    Ok(Some(l)) => {
                        assert!(!l.is_empty() && !l.contains(&b'\n'));
                        assert!(
                            l.capacity() <= l.len().max(8) * 2,
                            "a line keeps the buffer"
                        );
                        total += l.len();
                        let _ = serde_json::from_slice::<Hello>(&l);
                    }
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
            assert!(
                lines.buffered() <= (8 << 20) + (1 << 20),
                "the buffer is bounded"
            );
        }
        assert!(total <= stream.len());
    });
}
