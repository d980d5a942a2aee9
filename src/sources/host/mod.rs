//! One connection per peer host, and a watcher that costs the host nothing.
//!
//! Every cluster that names the same host (the same `ssh` destination, or
//! this machine) shares one [`HostWatch`]: one long-lived shell that polls
//! every file of every cluster on that host in one script, one watcher
//! channel for all their state files, and (in the monitor) one tail per
//! log file. What it learns fans out to every (cluster, peer) that needs it.
//!
//! In steady state nothing on the peer forks:
//! - the **watcher** is one remote loop that waits with the `read` builtin
//!   for a newline vipdeck sends every [`TICK`] (a `sleep` is a process in
//!   dash, and its fractions are not POSIX), compares each state file and
//!   keepalived.conf with a reference file by `[ -nt ]`/`[ -ot ]` (builtins),
//!   and forks `stat`/`head`/`base64` only when one changed; beside it one
//!   long-lived `ip -o monitor address` reports address changes;
//! - the **poll** reads keepalived's pid file with `read` and checks it with
//!   `kill -0`; the state files, keepalived.conf and `ip addr` are read only
//!   when the watcher says they changed (or it is down), the peer's clock
//!   every [`CLOCK_EVERY`], and everything again every [`BACKSTOP`] in case
//!   two writes fell within one tick of the file system's clock (a slice
//!   of the files each poll, so that a host of thousands never has one
//!   slow poll);
//! - keepalived's JSON dump is asked for as sparingly as before: at start,
//!   after a state change, and every minute.
//!
//! The files: [`script`] writes the remote scripts (the watcher, the poll
//! and what it wants), [`parse`] reads the poll's answer, [`dump`] asks
//! keepalived what it is and for its own dump, and [`run`] holds the two
//! loops that run them.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::sources::probe::ProbePaths;

pub(crate) mod dump;
pub(crate) mod parse;
pub(crate) mod run;
pub(crate) mod script;

pub(crate) use run::{connect, poll_host, watch_host, HostWatch};

/// What a command may take beyond the configured command timeout for each
/// file or process it reads: the timeout is there to catch a hung host,
/// and a first poll of a host with a thousand peers reads six thousand
/// things (~60 µs each on an idle core; the allowance leaves room for a
/// host several times busier). A steady poll reads a few and gets ~nothing.
const PER_ITEM: Duration = Duration::from_micros(250);

/// The command timeout's allowance for a command reading `items` things.
pub(crate) fn allowance(items: usize) -> Duration {
    PER_ITEM * u32::try_from(items).unwrap_or(u32::MAX)
}

/// The allowance of a new shell's first poll on a host of `peers` peers
/// (pid file, owner, what keepalived is (twice), state file, conf, its
/// content) and its address.
pub(crate) fn first_poll_allowance(peers: usize) -> Duration {
    allowance(peers.saturating_mul(7).saturating_add(1))
}

/// How often vipdeck wakes the remote watcher loop.
pub(crate) const TICK: Duration = Duration::from_millis(50);
/// The watcher's tick on a host with `states` state files: [`TICK`], and
/// longer where a tick's `find` (a `stat` of each, ~5 µs) would take more
/// than a tenth of it: a host of thousands is watched a little slower
/// (2,000 state files: every 110 ms) rather than for most of a core.
pub(crate) fn tick_for(states: usize) -> Duration {
    TICK.max(Duration::from_micros(55 * states as u64))
}

/// Every how many ticks the watcher checks keepalived.conf.
const CONF_TICKS: u32 = 20;
/// How often the peer's clock is read (a `date`).
const CLOCK_EVERY: Duration = Duration::from_secs(10);
/// How often everything is read again whatever the watcher says.
const BACKSTOP: Duration = Duration::from_secs(30);
/// At most this many keepalived processes are asked what they are in one
/// poll (each costs reads of its `/proc/PID`), fewer after a poll that
/// timed out: a host with thousands is asked over a few polls rather than
/// in one that times out again and again.
const DETECT_BUDGET: usize = 2048;
/// A poll that asked a single keepalived what it is and timed out (its
/// `--version` hangs): it is not asked again for this many polls, while
/// the cheap facts keep flowing.
const DETECT_HOLD_POLLS: u32 = 10;
/// How often keepalived is asked for its own JSON dump when nothing
/// changed (each ask writes a line to its log).
const DUMP_EVERY: Duration = Duration::from_secs(60);
/// Beyond the connect timeout, for ssh to report its own failure.
const CONNECT_MARGIN: Duration = Duration::from_millis(500);
/// The clock offset before the first poll measured it.
pub(crate) const CLOCK_UNKNOWN: i64 = i64::MIN;
/// Offsets smaller than this are measurement noise: times are not shifted.
const CLOCK_NOISE_MS: i64 = 1000;

/// `at` (the peer's clock) on our clock.
pub(crate) fn on_our_clock(at: DateTime<Utc>, offset_ms: i64) -> DateTime<Utc> {
    if offset_ms == CLOCK_UNKNOWN || offset_ms.abs() < CLOCK_NOISE_MS {
        at
    } else {
        at - chrono::TimeDelta::milliseconds(offset_ms)
    }
}

/// One (cluster, peer) that lives on a host.
#[derive(Debug, Clone)]
pub(crate) struct HostPeer {
    pub(crate) cluster: usize,
    pub(crate) peer: usize,
    pub(crate) paths: ProbePaths,
    pub(crate) vip: String,
    /// The cluster's failover lock file on the host.
    pub(crate) lock: String,
}

/// The distinct files and interfaces of a host's peers, and which of them
/// each peer uses (indices into the lists).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Items {
    pub(crate) states: Vec<String>,
    pub(crate) confs: Vec<String>,
    pub(crate) pids: Vec<String>,
    pub(crate) ifaces: Vec<String>,
    /// (pid file index, JSON dump path, data dump path).
    pub(crate) dumps: Vec<(usize, String, String)>,
    /// Per peer: (state, conf, pid, iface, dump).
    pub(crate) of_peer: Vec<[usize; 5]>,
    /// The failover lock files, and which one each peer's cluster uses.
    pub(crate) locks: Vec<String>,
    pub(crate) lock_of_peer: Vec<usize>,
    /// The maintenance markers, beside the locks (one per lock).
    pub(crate) marks: Vec<String>,
}

fn index_of<T: PartialEq>(list: &mut Vec<T>, item: T) -> usize {
    match list.iter().position(|x| *x == item) {
        Some(i) => i,
        None => {
            list.push(item);
            list.len() - 1
        }
    }
}

impl Items {
    pub(crate) fn of(peers: &[HostPeer]) -> Items {
        let mut it = Items::default();
        for p in peers {
            let s = index_of(&mut it.states, p.paths.state_file.clone());
            let c = index_of(&mut it.confs, p.paths.keepalived_conf.clone());
            let pid = index_of(&mut it.pids, p.paths.pid_file.clone());
            let i = index_of(&mut it.ifaces, p.paths.interface.clone());
            let d = index_of(
                &mut it.dumps,
                (pid, p.paths.json_dump.clone(), p.paths.data_dump.clone()),
            );
            it.of_peer.push([s, c, pid, i, d]);
            let l = index_of(&mut it.locks, p.lock.clone());
            it.lock_of_peer.push(l);
        }
        it.marks = it
            .locks
            .iter()
            .map(|l| crate::core::lockfile::maintenance_beside(l))
            .collect();
        it
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn peer(cluster: usize, state: &str, iface: &str) -> HostPeer {
        HostPeer {
            cluster,
            peer: 0,
            paths: ProbePaths::new(state, "/etc/keepalived/keepalived.conf", iface),
            vip: "192.0.2.100".into(),
            lock: format!("/run/lock/vipdeck-failover-c{cluster}.lock"),
        }
    }

    /// One peer whose files (state, conf, pid, lock) live in directory `d`.
    pub(super) fn lone_peer(d: &str) -> HostPeer {
        let mut paths = ProbePaths::new(&format!("{d}/state"), &format!("{d}/conf"), "lo");
        paths.pid_file = format!("{d}/pid");
        HostPeer {
            cluster: 0,
            peer: 0,
            paths,
            vip: "192.0.2.100".into(),
            lock: format!("{d}/lock"),
        }
    }

    /// A poll of one peer that asks nothing but the cheap facts it always
    /// sends (pids, locks).
    pub(super) fn asking_nothing() -> super::script::Wants {
        super::script::Wants {
            states: vec![false],
            confs: vec![None],
            conf_read: vec![false],
            ifaces: vec![false],
            dumps: vec![None],
            detect: vec![false],
            ..Default::default()
        }
    }

    /// base64 as the peer's `base64 -w0` prints it.
    pub(super) fn encode(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for k in 0..4 {
                if k <= chunk.len() {
                    out.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn shared_files_are_read_once() {
        let it = Items::of(&[
            peer(0, "/var/keepalived/state", "eth0"),
            peer(1, "/var/keepalived/state2", "eth0"),
            peer(2, "/var/keepalived/state", "eth0"),
        ]);
        assert_eq!(it.states.len(), 2);
        assert_eq!(it.confs.len(), 1);
        assert_eq!(it.ifaces.len(), 1);
        assert_eq!(it.dumps.len(), 1);
        assert_eq!(it.of_peer[2][0], 0);
        assert_eq!(it.of_peer[1][0], 1);
    }

    /// A PATH of nothing but busybox's applets, as on a peer whose tools
    /// are busybox's.
    pub(super) fn busybox_path(dir: &std::path::Path) -> String {
        let bb = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("busybox (scripts/install-lab-deps.sh installs busybox-static)");
        let list = std::process::Command::new(bb)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let _ = std::os::unix::fs::symlink(bb, dir.join(applet));
        }
        dir.display().to_string()
    }
}
