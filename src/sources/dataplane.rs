//! The data-plane witness, I/O part: probes each cluster's VIP the way a
//! client reaches it (a TCP connect or an HTTP GET) at the cluster's rate,
//! with jitter, each probe bounded by its own timeout and all clusters
//! together by a semaphore. Not to be confused with `sources::probe`, the
//! SSH probe of the peers.
//!
//! One task per cluster awaits its probe before it plans the next, so a
//! cluster never has two probes in flight; a probe that outlives its
//! interval (waiting for the semaphore) skips rounds and counts them.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

use crate::core::config::Config;
use crate::core::dataplane::{
    read_http_answer, NoAnswer, ProbeFault, ProbeOutcome, ProbeResult, ProbeSpec, ProbeTarget,
    MAX_ANSWER_BYTES,
};
use crate::core::model::Update;

/// The configured clusters that have a `probe`, by snapshot index.
pub fn probed_clusters(config: &Config) -> Vec<ProbedCluster> {
    config
        .clusters
        .iter()
        .enumerate()
        .filter_map(|(index, c)| {
            Some(ProbedCluster {
                index,
                name: c.name.clone(),
                vip: c.vip.to_string(),
                spec: c.probe.clone()?,
            })
        })
        .collect()
}

/// Probes in flight across all clusters at most.
pub const MAX_IN_FLIGHT: usize = 8;

/// A cluster to probe: its index in the snapshot, its name (for the
/// jitter), its VIP and its probe.
#[derive(Debug, Clone)]
pub struct ProbedCluster {
    pub index: usize,
    pub name: String,
    pub vip: String,
    pub spec: ProbeSpec,
}

/// Probes every cluster until the receiver is dropped.
pub async fn watch(clusters: Vec<ProbedCluster>, max_in_flight: usize, tx: mpsc::Sender<Update>) {
    let permits = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for cluster in clusters {
        tasks.spawn(watch_one(cluster, permits.clone(), tx.clone()));
    }
    while tasks.join_next().await.is_some() {}
}

/// The clusters a one-shot command waits for and how long at most: the
/// first probe starts within a quarter interval and ends within its
/// timeout.
pub fn first_answers(clusters: &[ProbedCluster]) -> (Vec<usize>, Duration) {
    let wait = clusters
        .iter()
        .map(|c| c.spec.interval / 4 + c.spec.timeout)
        .max()
        .unwrap_or_default();
    (
        clusters.iter().map(|c| c.index).collect(),
        wait + Duration::from_millis(200),
    )
}

async fn watch_one(cluster: ProbedCluster, permits: Arc<Semaphore>, tx: mpsc::Sender<Update>) {
    let interval = cluster.spec.interval;
    let mut skipped_rounds = 0;
    // Spread the clusters' first probes over a quarter interval: enough
    // to break lock step, short enough for a one-shot `status`.
    tokio::time::sleep(jitter(&cluster.name, interval / 4)).await;
    loop {
        let started = Instant::now();
        let at = chrono::Utc::now();
        let outcome = {
            let Ok(_permit) = permits.acquire().await else {
                return;
            };
            probe_once(&cluster.spec, &cluster.vip).await
        };
        let took = started.elapsed();
        // A round that would have started while this probe ran is skipped,
        // never queued.
        let rounds = took.as_millis() / interval.as_millis().max(1);
        skipped_rounds += u64::try_from(rounds).unwrap_or(u64::MAX);
        let update = Update::Dataplane {
            cluster: cluster.index,
            result: ProbeResult { at, outcome },
            skipped_rounds,
        };
        if tx.send(update).await.is_err() {
            return;
        }
        let next = interval
            .saturating_sub(Duration::from_nanos(
                (took.as_nanos() % interval.as_nanos().max(1)) as u64,
            ))
            .saturating_add(jitter(&cluster.name, interval / 10));
        tokio::time::sleep(next).await;
    }
}

/// A small delay below `span`, different for each cluster and each call,
/// so that clusters with the same rate do not probe in lock step.
fn jitter(name: &str, span: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let seed = name.bytes().fold(u64::from(nanos), |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    });
    let span_ms = span.as_millis().max(1) as u64;
    Duration::from_millis(seed % span_ms)
}

/// One probe of `vip` as `spec` says, never longer than its timeout.
pub async fn probe_once(spec: &ProbeSpec, vip: &str) -> ProbeOutcome {
    let started = Instant::now();
    match tokio::time::timeout(spec.timeout, ask(spec, vip, started)).await {
        Ok(outcome) => outcome,
        Err(_) => ProbeOutcome::NoAnswer(NoAnswer::Timeout(spec.timeout)),
    }
}

async fn ask(spec: &ProbeSpec, vip: &str, started: Instant) -> ProbeOutcome {
    let (host, port) = spec.target.address(vip);
    let addrs = match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(a) => a.collect::<Vec<_>>(),
        Err(e) => return ProbeOutcome::Fault(ProbeFault::Dns(format!("{host}: {e}"))),
    };
    let Some(addr) = addrs.first() else {
        return ProbeOutcome::Fault(ProbeFault::Dns(format!("{host}: no address")));
    };
    let mut stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return failed(&e),
    };
    match &spec.target {
        ProbeTarget::Tcp { .. } => ProbeOutcome::Answered {
            rtt: started.elapsed(),
            node: None,
        },
        ProbeTarget::Http { path, .. } => {
            let request = format!(
                "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: vipdeck\r\nConnection: close\r\n\r\n"
            );
            if let Err(e) = stream.write_all(request.as_bytes()).await {
                return failed(&e);
            }
            let raw = match read_bounded(&mut stream).await {
                Ok(raw) => raw,
                Err(e) => return failed(&e),
            };
            let rtt = started.elapsed();
            match read_http_answer(&raw, spec.node_from.as_ref()) {
                Ok((status, node)) if (200..400).contains(&status) => {
                    ProbeOutcome::Answered { rtt, node }
                }
                Ok((status, _)) => ProbeOutcome::NoAnswer(NoAnswer::HttpStatus(status)),
                Err(no) => ProbeOutcome::NoAnswer(no),
            }
        }
    }
}

/// Reads until the peer closes or [`MAX_ANSWER_BYTES`] arrived: an endless
/// answer costs no more than a small one.
async fn read_bounded(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut raw = vec![0; MAX_ANSWER_BYTES];
    let mut len = 0;
    while len < raw.len() {
        match stream.read(&mut raw[len..]).await {
            Ok(0) => break,
            Ok(n) => len += n,
            // A reset after some answer still leaves that answer to read.
            Err(e) if len > 0 && e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        }
    }
    raw.truncate(len);
    Ok(raw)
}

/// Names a socket error: the VIP's doing, or the probe's own problem.
fn failed(e: &io::Error) -> ProbeOutcome {
    let no = match e.kind() {
        io::ErrorKind::ConnectionRefused => NoAnswer::Refused,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => NoAnswer::Reset,
        // A firewall on this host that drops the probe (netfilter OUTPUT)
        // makes connect fail with EPERM: the probe's problem, not the VIP's.
        io::ErrorKind::PermissionDenied => {
            return ProbeOutcome::Fault(ProbeFault::NotPermitted(e.to_string()))
        }
        _ => match e.raw_os_error() {
            Some(libc::EHOSTUNREACH | libc::ENETUNREACH) => NoAnswer::Unreachable,
            Some(libc::EPERM | libc::EACCES) => {
                return ProbeOutcome::Fault(ProbeFault::NotPermitted(e.to_string()))
            }
            _ => NoAnswer::Other(e.to_string()),
        },
    };
    ProbeOutcome::NoAnswer(no)
}

#[cfg(test)]
mod tests {
    //! Real listeners on 127.0.0.1 only.

    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::net::TcpListener;

    use crate::core::dataplane::NodeFrom;
    use crate::core::sanitize;

    fn spec(target: &str, node_from: Option<NodeFrom>) -> ProbeSpec {
        ProbeSpec {
            target: ProbeTarget::parse(target).expect("target"),
            interval: Duration::from_millis(1000),
            timeout: Duration::from_millis(800),
            node_from,
        }
    }

    /// Serves `answer` to every connection after reading the request.
    async fn http_service(answer: Vec<u8>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut buf = [0; 1024];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(&answer).await;
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn a_healthy_service_answers_and_names_its_node() {
        let port =
            http_service(b"HTTP/1.1 200 OK\r\nX-Node: pay-a\r\n\r\npay-a ok\n".to_vec()).await;
        let s = spec(
            &format!("http://VIP:{port}/health"),
            Some(NodeFrom::Header("X-Node".into())),
        );
        match probe_once(&s, "127.0.0.1").await {
            ProbeOutcome::Answered { node, rtt } => {
                assert_eq!(node.as_deref(), Some("pay-a"));
                assert!(rtt < s.timeout);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_refused() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let s = spec(&format!("tcp:{port}"), None);
        assert_eq!(
            probe_once(&s, "127.0.0.1").await,
            ProbeOutcome::NoAnswer(NoAnswer::Refused)
        );
    }

    #[tokio::test]
    async fn a_port_that_resets_is_named_reset() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                // SO_LINGER 0: close sends RST instead of FIN (and, at
                // zero, never blocks the drop that tokio's warning is about).
                #[allow(deprecated)]
                let _ = s.set_linger(Some(Duration::ZERO));
                drop(s);
            }
        });
        let s = spec(&format!("http://127.0.0.1:{port}/"), None);
        assert_eq!(
            probe_once(&s, "ignored").await,
            ProbeOutcome::NoAnswer(NoAnswer::Reset)
        );
    }

    #[tokio::test]
    async fn garbage_and_oversized_answers_are_bounded_and_named() {
        let port = http_service(vec![b'\x1b'; 1 << 20]).await;
        let s = spec(
            &format!("http://VIP:{port}/"),
            Some(NodeFrom::BodyFirstWord),
        );
        assert_eq!(
            probe_once(&s, "127.0.0.1").await,
            ProbeOutcome::NoAnswer(NoAnswer::Garbage)
        );
        // An answer whose body names a node in escapes and runs on for a
        // megabyte: the node is read from the first 4 KiB, sanitised.
        let mut big = b"HTTP/1.1 200 OK\r\n\r\n\x1b]0;pwn\x07node-b ".to_vec();
        big.extend(std::iter::repeat_n(b'x', 1 << 20));
        let port = http_service(big).await;
        let s = spec(
            &format!("http://VIP:{port}/"),
            Some(NodeFrom::BodyFirstWord),
        );
        match probe_once(&s, "127.0.0.1").await {
            ProbeOutcome::Answered { node: Some(n), .. } => {
                assert!(sanitize::is_safe(&n), "{n:?}");
                assert!(n.chars().count() <= 64, "{n:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn an_error_status_is_no_answer() {
        let port = http_service(b"HTTP/1.1 503 Service Unavailable\r\n\r\n".to_vec()).await;
        let s = spec(&format!("http://VIP:{port}/"), None);
        assert_eq!(
            probe_once(&s, "127.0.0.1").await,
            ProbeOutcome::NoAnswer(NoAnswer::HttpStatus(503))
        );
    }

    #[tokio::test]
    async fn an_unresolvable_host_is_the_probes_own_fault() {
        let s = spec("http://no-such-host.invalid:80/", None);
        assert!(matches!(
            probe_once(&s, "127.0.0.1").await,
            ProbeOutcome::Fault(ProbeFault::Dns(_)) | ProbeOutcome::NoAnswer(NoAnswer::Timeout(_))
        ));
    }

    /// A service slower than the interval: the probe times out at its own
    /// timeout, never more than one probe of the cluster is in flight, and
    /// rounds that could not start are counted.
    #[tokio::test]
    async fn a_service_slower_than_the_interval_never_stacks_probes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (inf, mst) = (in_flight.clone(), most.clone());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let (inf, mst) = (inf.clone(), mst.clone());
                tokio::spawn(async move {
                    let now = inf.fetch_add(1, Ordering::SeqCst) + 1;
                    mst.fetch_max(now, Ordering::SeqCst);
                    let mut buf = [0; 1024];
                    let _ = s.read(&mut buf).await;
                    // Holds the connection until the prober gives up.
                    let _ = s.read(&mut buf).await;
                    inf.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        let mut s = spec(&format!("http://VIP:{port}/"), None);
        s.interval = Duration::from_millis(200);
        s.timeout = Duration::from_millis(150);
        let (tx, mut rx) = mpsc::channel(16);
        let watcher = tokio::spawn(watch(
            vec![ProbedCluster {
                index: 0,
                name: "pay".into(),
                vip: "127.0.0.1".into(),
                spec: s.clone(),
            }],
            MAX_IN_FLIGHT,
            tx,
        ));
        for _ in 0..4 {
            let u = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("an update within the product's bounds")
                .expect("watcher alive");
            let Update::Dataplane { result, .. } = u else {
                panic!("{u:?}");
            };
            assert_eq!(
                result.outcome,
                ProbeOutcome::NoAnswer(NoAnswer::Timeout(s.timeout))
            );
        }
        watcher.abort();
        assert_eq!(most.load(Ordering::SeqCst), 1, "probes stacked up");
    }

    /// The semaphore holds the clusters together: with one permit, a
    /// cluster waits behind the other's slow probe and counts the rounds
    /// it skipped instead of queueing them.
    #[tokio::test]
    async fn a_probe_held_up_past_its_interval_counts_skipped_rounds() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0; 1024];
                    let _ = s.read(&mut buf).await;
                    let _ = s.read(&mut buf).await;
                });
            }
        });
        let slow = ProbeSpec {
            interval: Duration::from_millis(1000),
            timeout: Duration::from_millis(900),
            ..spec(&format!("http://VIP:{port}/"), None)
        };
        let fast = ProbeSpec {
            interval: Duration::from_millis(100),
            timeout: Duration::from_millis(90),
            ..spec(&format!("http://VIP:{port}/"), None)
        };
        let (tx, mut rx) = mpsc::channel(64);
        let watcher = tokio::spawn(watch(
            vec![
                ProbedCluster {
                    index: 0,
                    name: "slow".into(),
                    vip: "127.0.0.1".into(),
                    spec: slow,
                },
                ProbedCluster {
                    index: 1,
                    name: "fast".into(),
                    vip: "127.0.0.1".into(),
                    spec: fast,
                },
            ],
            1,
            tx,
        ));
        let mut skipped = 0;
        for _ in 0..12 {
            let Ok(Some(u)) = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await else {
                break;
            };
            if let Update::Dataplane {
                cluster: 1,
                skipped_rounds,
                ..
            } = u
            {
                skipped = skipped.max(skipped_rounds);
            }
        }
        watcher.abort();
        assert!(
            skipped > 0,
            "the fast cluster never counted a skipped round"
        );
    }
}
