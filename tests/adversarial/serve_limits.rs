//! Clients that hold a collector's connections without finishing a
//! request: `vipdeck serve` caps its connections (the extras are refused
//! with a 503 and closed), closes a request head that has not arrived
//! within its header timeout however slowly it trickles, and so never
//! holds more descriptors than its cap allows, even under a low fd limit
//! (before: 400 trickling connections stayed open, and with a low limit
//! 130 idle ones made the cloud poll fail with "Too many open files").
//!
//! Timings are generous against the product's (10 s header timeout): the
//! test machine is loaded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The product's cap on a collector's connections under a roomy fd limit.
const CAP: usize = 64;
/// More than the cap, and more than the fd limit the second test gives it.
const CLIENTS: usize = 160;

struct Collector {
    child: Child,
    addr: String,
    token: String,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `vipdeck serve --demo` on loopback, with an fd limit when given.
fn collector(nofile: Option<u64>) -> Collector {
    let data = tempfile::tempdir().expect("tempdir").keep();
    let mut c = Command::new(env!("CARGO_BIN_EXE_vipdeck"));
    c.args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .env("VIPDECK_DATA_DIR", &data)
        .env_remove("VIPDECK_CONFIG")
        .env_remove("VIPDECK_TOKEN_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(n) = nofile {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs here.
        unsafe {
            c.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = c.spawn().expect("vipdeck serve");
    let mut first = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut first)
        .expect("serve's first line");
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    let token = first
        .split("token in ")
        .nth(1)
        .map(|p| std::fs::read_to_string(p.trim()).expect("token file"))
        .map(|t| t.trim().to_string())
        .unwrap_or_default();
    Collector { child, addr, token }
}

/// GET /status with the token; the status code, or 0 when the connection
/// failed or was closed without an answer.
fn status_code(c: &Collector) -> u16 {
    let Ok(mut s) = TcpStream::connect(&c.addr) else {
        return 0;
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let req = format!(
        "GET /status HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        c.addr, c.token
    );
    if s.write_all(req.as_bytes()).is_err() {
        return 0;
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Opens `n` connections that each send the start of a request head and
/// then trickle one header byte a second, never finishing it.
fn trickling(addr: &str, n: usize) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|_| {
            let mut s = TcpStream::connect(addr).ok()?;
            let _ = s.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            s.set_nonblocking(true).ok()?;
            Some(s)
        })
        .collect()
}

/// What became of each trickling connection so far.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Tally {
    refused_503: usize,
    closed_otherwise: usize,
    open: usize,
}

/// Reads what each connection got; trickles one byte to the open ones.
fn tally(conns: &mut [TcpStream], answers: &mut [Vec<u8>], closed: &mut [bool]) -> Tally {
    let mut t = Tally::default();
    for (i, s) in conns.iter_mut().enumerate() {
        if !closed[i] {
            let mut buf = [0u8; 1024];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        closed[i] = true;
                        break;
                    }
                    Ok(n) => answers[i].extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        let _ = s.write(b"a");
                        break;
                    }
                    Err(_) => {
                        closed[i] = true;
                        break;
                    }
                }
            }
        }
        if closed[i] {
            if answers[i].starts_with(b"HTTP/1.1 503") {
                t.refused_503 += 1;
            } else {
                t.closed_otherwise += 1;
            }
        } else {
            t.open += 1;
        }
    }
    t
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Trickles to `conns` until every one is closed (or `limit`); returns the
/// first tally (taken after `settle`), the collector's peak fd count and
/// how long the last one stayed open.
fn watch_them(
    c: &Collector,
    mut conns: Vec<TcpStream>,
    settle: Duration,
    limit: Duration,
) -> (Tally, usize, Duration) {
    let n = conns.len();
    let mut answers = vec![Vec::new(); n];
    let mut closed = vec![false; n];
    let t0 = Instant::now();
    let mut first = None;
    let mut peak_fds = 0;
    loop {
        let t = tally(&mut conns, &mut answers, &mut closed);
        peak_fds = peak_fds.max(open_fds(c.child.id()));
        if first.is_none() && t0.elapsed() >= settle {
            first = Some(t);
        }
        if t.open == 0 && first.is_some() {
            return (first.unwrap_or_default(), peak_fds, t0.elapsed());
        }
        assert!(
            t0.elapsed() < limit,
            "{} connections still open after {limit:?}: {t:?}",
            t.open
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn trickling_clients_are_capped_refused_and_timed_out() {
    let c = collector(None);
    assert_eq!(status_code(&c), 200, "the collector answers");
    let conns = trickling(&c.addr, CLIENTS);
    assert_eq!(conns.len(), CLIENTS, "every connect succeeds");
    let (first, peak_fds, all_closed) =
        watch_them(&c, conns, Duration::from_secs(3), Duration::from_secs(60));
    println!(
        "{CLIENTS} trickling connections: {} refused with 503, {} held (cap {CAP}), \
         all closed after {:.0}s; collector fds at most {peak_fds}",
        first.refused_503,
        first.open,
        all_closed.as_secs_f64()
    );
    assert!(
        first.open <= CAP,
        "at most {CAP} connections are held: {first:?}"
    );
    assert!(
        first.refused_503 >= CLIENTS - CAP,
        "the extras are refused with a 503: {first:?}"
    );
    // The held ones were closed by the header timeout (the wait above
    // ended), and the collector answers again.
    assert_eq!(
        status_code(&c),
        200,
        "the collector answers after the flood"
    );
}

#[test]
fn a_low_fd_limit_lowers_the_cap_and_the_collector_keeps_answering() {
    // 128 descriptors: the cap leaves half of them to the sources.
    let c = collector(Some(128));
    assert_eq!(status_code(&c), 200, "the collector answers");
    let conns = trickling(&c.addr, CLIENTS);
    let (first, peak_fds, _) =
        watch_them(&c, conns, Duration::from_secs(3), Duration::from_secs(60));
    println!(
        "fd limit 128: {} refused, {} held; collector fds at most {peak_fds}",
        first.refused_503, first.open
    );
    assert!(
        peak_fds <= 100,
        "the collector held {peak_fds} of its 128 descriptors"
    );
    assert!(first.refused_503 > 0, "{first:?}");
    assert_eq!(
        status_code(&c),
        200,
        "the collector answers after the flood"
    );
}
