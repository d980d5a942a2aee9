//! The two loops of a host: the poll (one long-lived shell, one script a
//! round) and the watcher channel that wakes it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use tokio::sync::{mpsc, watch, Notify};

use crate::core::keepalived::version::{DumpMethod, KeepalivedInfo};
use crate::core::keepalived::{conf, instance_for_vip};
use crate::core::model::{ConfigSummary, PeerObservation, Update};
use crate::sources::probe::vip_in_ip_addr;
use crate::sources::transport::{self, FollowEvent, Shell, Target};

use super::parse::{idx_rest, parse_answer, parse_state_rest, StateRead};
use super::script::{poll_script, watcher_script, Wants};
use super::{
    on_our_clock, HostPeer, Items, BACKSTOP, CLOCK_EVERY, CLOCK_UNKNOWN, CONNECT_MARGIN,
    DUMP_EVERY, TICK,
};

/// What the watcher and the poll share about one host.
#[derive(Debug, Default)]
struct Cache {
    /// The watcher has sent its first pass and is still running.
    watcher_up: bool,
    kind: Option<String>,
    /// `ip monitor` runs: cached `ip addr` answers stay true until it
    /// reports a change.
    addr_monitor: bool,
    addr_dirty: bool,
    states: Vec<Option<StateRead>>,
    conf_dirty: Vec<bool>,
    dump_wanted: Vec<bool>,
}

impl Cache {
    fn watcher_kind(&self) -> String {
        match (&self.kind, self.watcher_up) {
            (Some(k), true) if self.addr_monitor => format!("{k} + ip monitor"),
            (Some(k), true) => format!("{k} + ip per poll"),
            _ => "none (poll reads every file)".into(),
        }
    }
}

/// Everything the tasks of one host share.
pub(crate) struct HostWatch {
    pub(crate) target: Target,
    pub(crate) peers: Vec<HostPeer>,
    items: Items,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    /// The peer's clock offset in ms, shared with its log followers.
    pub(crate) clock: Arc<AtomicI64>,
    cache: Mutex<Cache>,
    /// Rung by the watcher: poll now.
    wake: Notify,
    /// True once the first shell answered: the ssh ControlMaster exists,
    /// so every later channel to the host goes through it.
    ready: watch::Sender<bool>,
    tx: mpsc::Sender<Update>,
}

impl HostWatch {
    pub(crate) fn new(
        target: Target,
        peers: Vec<HostPeer>,
        interval: Duration,
        timeout: Duration,
        connect_timeout: Duration,
        tx: mpsc::Sender<Update>,
    ) -> Arc<HostWatch> {
        let items = Items::of(&peers);
        let cache = Cache {
            states: vec![None; items.states.len()],
            conf_dirty: vec![false; items.confs.len()],
            dump_wanted: vec![true; items.dumps.len()],
            ..Default::default()
        };
        Arc::new(HostWatch {
            target,
            peers,
            items,
            interval,
            timeout,
            connect_timeout,
            clock: Arc::new(AtomicI64::new(CLOCK_UNKNOWN)),
            cache: Mutex::new(cache),
            wake: Notify::new(),
            ready: watch::channel(false).0,
            tx,
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits (at most the connect timeout and its margin) until the first
    /// shell answered, so a follower's ssh joins its connection instead of
    /// racing it to open another.
    pub(crate) async fn until_ready(&self) {
        if matches!(self.target, Target::Local) {
            return;
        }
        let mut rx = self.ready.subscribe();
        let _ = tokio::time::timeout(
            self.connect_timeout + CONNECT_MARGIN * 2,
            rx.wait_for(|r| *r),
        )
        .await;
    }

    async fn send(&self, u: Update) -> bool {
        self.tx.send(u).await.is_ok()
    }

    async fn report_down(&self, error: String) -> bool {
        let now = Utc::now();
        for p in &self.peers {
            let u = Update::Peer {
                cluster: p.cluster,
                peer: p.peer,
                observation: PeerObservation::unreachable(now, error.clone()),
            };
            if !self.send(u).await {
                return false;
            }
        }
        true
    }
}

/// Polls every peer of a host forever over one long-lived shell.
pub(crate) async fn poll_host(h: Arc<HostWatch>) {
    let mut shell: Option<Shell> = None;
    let n = &h.items;
    let mut known_conf: Vec<String> = vec![String::new(); n.confs.len()];
    // Confs whose content is wanted: unknown yet, or their mtime changed.
    let mut conf_read: Vec<bool> = vec![true; n.confs.len()];
    let mut conf_text: Vec<Option<String>> = vec![None; n.confs.len()];
    let mut ips: Vec<Option<String>> = vec![None; n.ifaces.len()];
    let mut instance: Vec<Option<String>> = vec![None; h.peers.len()];
    // Per pid file: what its keepalived offers and the pid it was asked
    // of, detected once per shell and again when the pid changes; and the
    // pid the last poll saw.
    let mut keepalived: Vec<Option<KeepalivedInfo>> = vec![None; n.pids.len()];
    let mut detected_for: Vec<Option<String>> = vec![None; n.pids.len()];
    let mut live_pid: Vec<Option<String>> = vec![None; n.pids.len()];
    let mut last_dump = tokio::time::Instant::now();
    let mut last_clock: Option<tokio::time::Instant> = None;
    let mut last_backstop: Option<tokio::time::Instant> = None;
    let mut backoff = h.interval;
    loop {
        let started = tokio::time::Instant::now();
        if shell.is_none() {
            let connected = tokio::time::timeout(
                h.connect_timeout + CONNECT_MARGIN,
                connect(&h.target, h.connect_timeout),
            )
            .await;
            match connected {
                Ok(Ok(sh)) => {
                    shell = Some(sh);
                    // A new shell asks keepalived again.
                    keepalived.iter_mut().for_each(|k| *k = None);
                    detected_for.iter_mut().for_each(|k| *k = None);
                    h.ready.send_replace(true);
                    // A new shell: read everything once.
                    last_backstop = None;
                    last_clock = None;
                }
                Ok(Err(e)) => {
                    if !h.report_down(e).await {
                        return;
                    }
                }
                Err(_) => {
                    let e = format!("no answer within {:?}", h.connect_timeout);
                    if !h.report_down(e).await {
                        return;
                    }
                }
            }
        }
        let mut ok = false;
        if let Some(sh) = shell.as_mut() {
            let backstop = last_backstop.is_none_or(|t| t.elapsed() >= BACKSTOP);
            let wants = {
                let mut c = h.cache();
                let w = Wants {
                    clock: last_clock.is_none_or(|t| t.elapsed() >= CLOCK_EVERY),
                    states: c
                        .states
                        .iter()
                        .map(|s| backstop || !c.watcher_up || s.is_none())
                        .collect(),
                    confs: (0..n.confs.len())
                        .map(|i| {
                            (backstop || !c.watcher_up || c.conf_dirty[i] || conf_read[i])
                                .then(|| known_conf[i].clone())
                        })
                        .collect(),
                    conf_read: conf_read.clone(),
                    ifaces: (0..n.ifaces.len())
                        .map(|i| backstop || !c.addr_monitor || c.addr_dirty || ips[i].is_none())
                        .collect(),
                    // A dump is asked for only once its keepalived is known
                    // (the poll that detects it wakes the next one).
                    dumps: (0..n.dumps.len())
                        .map(|j| {
                            let method = keepalived[n.dumps[j].0].as_ref().map(|k| &k.dump);
                            let due = c.dump_wanted[j] || last_dump.elapsed() >= DUMP_EVERY;
                            match method {
                                Some(m @ (DumpMethod::Json { .. } | DumpMethod::Data { .. }))
                                    if due =>
                                {
                                    Some(m.clone())
                                }
                                _ => None,
                            }
                        })
                        .collect(),
                    detect: (0..n.pids.len())
                        .map(|i| keepalived[i].is_none() || live_pid[i] != detected_for[i])
                        .collect(),
                };
                c.conf_dirty.iter_mut().for_each(|d| *d = false);
                c.addr_dirty = false;
                for (j, asked) in w.dumps.iter().enumerate() {
                    if asked.is_some() {
                        c.dump_wanted[j] = false;
                    }
                }
                w
            };
            let script = poll_script(n, &wants);
            let sent = Utc::now();
            match sh.run(&script, h.timeout).await {
                Ok((out, _)) => {
                    let received = Utc::now();
                    let a = parse_answer(&out, n);
                    if backstop {
                        last_backstop = Some(tokio::time::Instant::now());
                    }
                    if wants.dumps.iter().any(Option::is_some) {
                        last_dump = tokio::time::Instant::now();
                    }
                    for (i, slot) in live_pid.iter_mut().enumerate() {
                        *slot = a.pid_of.get(&i).cloned();
                    }
                    if !a.keepalived.is_empty() {
                        let mut c = h.cache();
                        for (i, (pid, info)) in &a.keepalived {
                            if let Some(slot) = keepalived.get_mut(*i) {
                                *slot = Some(info.clone());
                                detected_for[*i] = Some(pid.clone());
                            }
                            for (j, d) in n.dumps.iter().enumerate() {
                                if d.0 == *i {
                                    c.dump_wanted[j] = true;
                                }
                            }
                        }
                        drop(c);
                        h.wake.notify_one();
                    }
                    if let Some(peer_ms) = a.now_ms {
                        last_clock = Some(tokio::time::Instant::now());
                        let mid = sent + (received - sent) / 2;
                        let offset_ms = peer_ms - mid.timestamp_millis();
                        h.clock.store(offset_ms, Ordering::Relaxed);
                        for p in &h.peers {
                            let u = Update::Clock {
                                cluster: p.cluster,
                                peer: p.peer,
                                at: received,
                                offset_ms,
                            };
                            if !h.send(u).await {
                                return;
                            }
                        }
                    } else if wants.clock {
                        // No usable `date`: the peer's times are taken as ours.
                        last_clock = Some(tokio::time::Instant::now());
                        let _ = h.clock.compare_exchange(
                            CLOCK_UNKNOWN,
                            0,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        );
                    }
                    let offset_ms = h.clock.load(Ordering::Relaxed);
                    for (i, ip) in &a.ips {
                        if let Some(slot) = ips.get_mut(*i) {
                            *slot = Some(ip.clone());
                        }
                    }
                    let mut fresh_conf = vec![false; n.confs.len()];
                    let mut reread = false;
                    for (i, (mtime, text)) in &a.confs {
                        let i = *i;
                        if i >= n.confs.len() {
                            continue;
                        }
                        match text {
                            Some(t) => {
                                conf_text[i] = Some(t.clone());
                                fresh_conf[i] = true;
                                known_conf[i] = mtime.clone();
                                conf_read[i] = false;
                            }
                            None if mtime == "missing" => {
                                known_conf[i] = mtime.clone();
                                conf_read[i] = false;
                            }
                            // Changed since it was read: its content next.
                            None if *mtime != known_conf[i] => {
                                conf_read[i] = true;
                                reread = true;
                            }
                            None => {}
                        }
                    }
                    if reread {
                        h.wake.notify_one();
                    }
                    let (states, kind) = {
                        let mut c = h.cache();
                        for (i, s) in &a.states {
                            // The poll's own read refreshes the cache only
                            // when the watcher is not keeping it.
                            if !c.watcher_up || c.states[*i].is_none() {
                                c.states[*i] = Some(s.clone());
                            }
                        }
                        (c.states.clone(), c.watcher_kind())
                    };
                    for (k, p) in h.peers.iter().enumerate() {
                        let [si, ci, pi, ii, di] = n.of_peer[k];
                        let mut obs = PeerObservation {
                            at: received,
                            reachable: Some(true),
                            watcher: Some(kind.clone()),
                            keepalived_running: a.pids.get(&pi).copied(),
                            failover_lock: a.locks.get(&n.lock_of_peer[k]).cloned(),
                            ..Default::default()
                        };
                        let state = a.states.get(&si).or(states[si].as_ref());
                        if let Some(s) = state {
                            obs.state_file = Some(s.state);
                            obs.state_file_raw = s.raw.clone();
                            obs.last_transition = s
                                .mtime
                                .and_then(|m| Utc.timestamp_opt(m, 0).single())
                                .map(|t| on_our_clock(t, offset_ms));
                        }
                        if let Some(ip) = &ips[ii] {
                            obs.vip_on_nic = Some(vip_in_ip_addr(ip, &p.vip));
                        }
                        if fresh_conf[ci] {
                            if let Some(text) = &conf_text[ci] {
                                let (parsed, errors) = conf::parse_lenient(text, &|_| None);
                                if let Some(e) = errors.first() {
                                    tracing::debug!(cluster = p.cluster, "keepalived.conf: {e}");
                                }
                                if let Some(inst) = instance_for_vip(&parsed, &p.vip) {
                                    obs.priority = inst.priority;
                                    instance[k] = Some(inst.name.clone());
                                    obs.config = Some::<ConfigSummary>(inst.summary());
                                }
                            }
                        }
                        // Sent when detected (connect, restart): the
                        // snapshot keeps it.
                        obs.keepalived = a.keepalived.get(&pi).map(|(_, k)| Box::new(k.clone()));
                        if let Some(why) = a.refused.get(&pi) {
                            obs.keepalived_dump_error = Some(crate::core::sanitize::clip(why, 512));
                        }
                        match a.dumps.get(&di) {
                            Some((witness, Ok(instances))) => {
                                let inst = instances
                                    .iter()
                                    .find(|i| Some(&i.iname) == instance[k].as_ref())
                                    .or_else(|| {
                                        instances.iter().find(|i| i.vip_addresses.contains(&p.vip))
                                    })
                                    .or(instances.first());
                                if let Some(i) = inst {
                                    obs.keepalived_state = Some(i.state);
                                    obs.keepalived_state_from = Some(*witness);
                                    if let Some(t) = i.last_transition {
                                        obs.last_transition = Some(on_our_clock(t, offset_ms));
                                    }
                                }
                            }
                            Some((_, Err(e))) => {
                                obs.keepalived_dump_error =
                                    Some(crate::core::sanitize::clip(e, 512));
                            }
                            None => {}
                        }
                        let u = Update::Peer {
                            cluster: p.cluster,
                            peer: p.peer,
                            observation: obs,
                        };
                        if !h.send(u).await {
                            return;
                        }
                    }
                    ok = true;
                    backoff = h.interval;
                }
                Err(e) => {
                    if !h.report_down(format!("{}: {e}", h.target.describe())).await {
                        return;
                    }
                    if let Some(sh) = shell.take() {
                        sh.close().await;
                    }
                }
            }
        }
        let pause = if ok {
            h.interval.saturating_sub(started.elapsed())
        } else {
            backoff = (backoff * 2).min(Duration::from_secs(10));
            backoff
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = h.wake.notified() => {}
        }
        if h.tx.is_closed() {
            return;
        }
    }
}

/// Opens the shell and checks it answers.
pub(crate) async fn connect(target: &Target, timeout: Duration) -> Result<Shell, String> {
    let mut sh = Shell::spawn(target).await.map_err(|e| e.to_string())?;
    match sh.run("echo ok", timeout).await {
        Ok((out, _)) if out.trim() == "ok" => Ok(sh),
        Ok((out, code)) => {
            sh.close().await;
            Err(format!(
                "{}: exit {code}: {}",
                target.describe(),
                crate::core::sanitize::clip(out.trim(), 512)
            ))
        }
        Err(e) => {
            sh.close().await;
            Err(format!("{}: {e}", target.describe()))
        }
    }
}

/// Runs the host's watcher channel forever: state changes go out at once
/// to every peer that reads the file, and wake the poll.
pub(crate) async fn watch_host(h: Arc<HostWatch>) {
    h.until_ready().await;
    let mut rx = transport::follow_ticked(h.target.clone(), watcher_script(&h.items), TICK);
    let mut first_pass = true;
    while let Some(ev) = rx.recv().await {
        let line = match ev {
            FollowEvent::Down(_) => {
                let mut c = h.cache();
                c.watcher_up = false;
                c.addr_monitor = false;
                first_pass = true;
                continue;
            }
            FollowEvent::Line(l) => String::from_utf8_lossy(&l).into_owned(),
        };
        let (tag, rest) = line.split_once(' ').unwrap_or((&line, ""));
        match tag {
            "@@kind" => h.cache().kind = Some(crate::core::sanitize::clip(rest.trim(), 32)),
            "@@amon" => {
                let mut c = h.cache();
                c.addr_monitor = rest == "on";
                // Read once more: the monitor may have started after the
                // last read.
                c.addr_dirty = true;
            }
            "@@ready" => {
                first_pass = false;
                let mut c = h.cache();
                c.watcher_up = true;
                // Read once more now the references exist (see the script).
                c.states.iter_mut().for_each(|s| *s = None);
                c.conf_dirty.iter_mut().for_each(|d| *d = true);
                drop(c);
                h.wake.notify_one();
            }
            "@@c" => {
                let hit = rest.trim().parse::<usize>().ok().is_some_and(|i| {
                    let mut c = h.cache();
                    c.conf_dirty.get_mut(i).map(|d| *d = true).is_some()
                });
                if hit {
                    h.wake.notify_one();
                }
            }
            "@@s" => {
                let Some((i, rest)) = idx_rest(rest) else {
                    continue;
                };
                let Some(read) = parse_state_rest(rest) else {
                    continue;
                };
                if i >= h.items.states.len() {
                    continue;
                }
                let at = Utc::now();
                let offset_ms = h.clock.load(Ordering::Relaxed);
                {
                    let mut c = h.cache();
                    c.states[i] = Some(read.clone());
                    if !first_pass {
                        // A transition: ask keepalived for its own view too.
                        for (k, idx) in h.items.of_peer.iter().enumerate() {
                            if idx[0] == i {
                                let d = h.items.of_peer[k][4];
                                c.dump_wanted[d] = true;
                            }
                        }
                    }
                }
                for (k, p) in h.peers.iter().enumerate() {
                    if h.items.of_peer[k][0] != i {
                        continue;
                    }
                    let observation = PeerObservation {
                        at,
                        state_file: Some(read.state),
                        state_file_raw: read.raw.clone(),
                        last_transition: read
                            .mtime
                            .and_then(|m| Utc.timestamp_opt(m, 0).single())
                            .map(|t| on_our_clock(t, offset_ms)),
                        ..Default::default()
                    };
                    let u = Update::Peer {
                        cluster: p.cluster,
                        peer: p.peer,
                        observation,
                    };
                    if !h.send(u).await {
                        return;
                    }
                }
                if !first_pass {
                    h.wake.notify_one();
                }
            }
            // `ip -o monitor address`: an address came or went.
            _ if !tag.starts_with("@@") => {
                h.cache().addr_dirty = true;
                h.wake.notify_one();
            }
            _ => {}
        }
    }
}
