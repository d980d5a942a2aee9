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

use crate::core::keepalived::dump::InstanceWord;
use crate::core::model::Witness;

use super::dump::{batch_script, Asked, DUMP_BATCH_MAX};
use super::parse::{idx_rest, parse_answer, parse_state_rest, StateRead};
use super::script::{poll_script, watcher_script, Wants, FIND_FROM};
use super::{
    allowance, on_our_clock, tick_for, HostPeer, Items, BACKSTOP, CLOCK_EVERY, CLOCK_UNKNOWN,
    CONNECT_MARGIN, DETECT_BUDGET, DETECT_HOLD_POLLS, DUMP_EVERY,
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
    // Per dump: when it is due again, and whether it is wanted now (at
    // start, after a state change or a restart); at most `dump_budget`
    // are asked a poll, the wanted first, then the longest overdue.
    let mut dump_due = vec![tokio::time::Instant::now(); n.dumps.len()];
    let mut dump_urgent = vec![true; n.dumps.len()];
    let mut dump_budget = DUMP_BATCH_MAX;
    // Likewise the keepalived processes asked what they are in one poll:
    // halved when a poll times out (the expensive part backs off first, the
    // cheap facts keep flowing), doubled again by each poll that answers.
    let mut detect_budget = DETECT_BUDGET;
    // A poll that timed out asking even one: no one is asked until then.
    let mut detect_held_until: Option<tokio::time::Instant> = None;
    // The shell was dropped because a dump was slow, not the host: what
    // keepalived is stays known.
    let mut keep_detection = false;
    // What this shell said of each pid file (running, pid) and lock: it
    // says only changes once it holds its definitions.
    let mut defined = false;
    let mut pid_said: Vec<Option<(bool, Option<String>)>> = vec![None; n.pids.len()];
    let mut lock_said: Vec<Option<crate::core::lockfile::LockSeen>> = vec![None; n.locks.len()];
    let mut mark_said: Vec<Option<crate::core::marker::MarkerSeen>> = vec![None; n.marks.len()];
    let mut last_clock: Option<tokio::time::Instant> = None;
    // Per peer: an observation was sent.
    let mut shown = vec![false; h.peers.len()];
    // A new shell reads everything once.
    let mut read_all_done = false;
    // Polls since the start: which slice of the files is read again.
    let mut sweep: usize = 0;
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
                    defined = false;
                    pid_said.iter_mut().for_each(|p| *p = None);
                    lock_said.iter_mut().for_each(|l| *l = None);
                    mark_said.iter_mut().for_each(|m| *m = None);
                    // A new shell asks keepalived again (unless it only
                    // replaces one a slow dump timed out).
                    if !std::mem::take(&mut keep_detection) {
                        keepalived.iter_mut().for_each(|k| *k = None);
                        detected_for.iter_mut().for_each(|k| *k = None);
                    }
                    h.ready.send_replace(true);
                    // A new shell: read everything once.
                    read_all_done = false;
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
        let mut drop_shell = false;
        let mut retry_now = false;
        if let Some(sh) = shell.as_mut() {
            // Everything is read once on a new shell, and again every
            // BACKSTOP: a slice of the state files and confs each poll (a
            // thousand of them at once would make one poll slow), every pid
            // file and address with the last slice.
            let backstop = !read_all_done;
            let polls = backstop_polls(h.interval);
            let round_ends = sweep % polls == polls - 1;
            // (A host of a few files reads them all with the last slice:
            // three processes every BACKSTOP rather than each poll.)
            let sliced = n.states.len().max(n.confs.len()) >= FIND_FROM;
            let slice = |i: usize| {
                if sliced {
                    i % polls == sweep % polls
                } else {
                    round_ends
                }
            };
            let detect_held = detect_held_until.is_some_and(|t| started < t);
            let wants = {
                let mut c = h.cache();
                let w = Wants {
                    clock: last_clock.is_none_or(|t| t.elapsed() >= CLOCK_EVERY),
                    states: c
                        .states
                        .iter()
                        .enumerate()
                        .map(|(i, s)| backstop || slice(i) || !c.watcher_up || s.is_none())
                        .collect(),
                    confs: (0..n.confs.len())
                        .map(|i| {
                            (backstop
                                || slice(i)
                                || !c.watcher_up
                                || c.conf_dirty[i]
                                || conf_read[i])
                                .then(|| known_conf[i].clone())
                        })
                        .collect(),
                    conf_read: conf_read.clone(),
                    ifaces: (0..n.ifaces.len())
                        .map(|i| {
                            backstop
                                || round_ends
                                || !c.addr_monitor
                                || c.addr_dirty
                                || ips[i].is_none()
                        })
                        .collect(),
                    // Dumps are asked in a command of their own, after
                    // this one (a slow dump must not time out the facts).
                    dumps: vec![None; n.dumps.len()],
                    detect: {
                        // At most DETECT_BUDGET a poll (each reads its
                        // process's status): the rest next poll, at once.
                        let mut left = if detect_held { 0 } else { detect_budget };
                        (0..n.pids.len())
                            .map(|i| {
                                let due = (keepalived[i].is_none()
                                    || live_pid[i] != detected_for[i])
                                    && (!defined || live_pid[i].is_some());
                                let ask = due && left > 0;
                                left -= usize::from(ask);
                                ask
                            })
                            .collect()
                    },
                    defined,
                    reread_pids: backstop || round_ends,
                };
                c.conf_dirty.iter_mut().for_each(|d| *d = false);
                c.addr_dirty = false;
                for (j, wanted) in c.dump_wanted.iter_mut().enumerate() {
                    if std::mem::take(wanted) {
                        dump_urgent[j] = true;
                    }
                }
                w
            };
            let script = poll_script(n, &wants);
            let sent = Utc::now();
            let timeout = h.timeout + allowance(wants.items(n.pids.len()));
            match sh.run(&script, timeout).await {
                Ok((out, _)) => {
                    let received = Utc::now();
                    let a = parse_answer(&out, n);
                    read_all_done = true;
                    sweep = sweep.wrapping_add(1);
                    defined = true;
                    for (i, running) in &a.pids {
                        if let Some(slot) = pid_said.get_mut(*i) {
                            *slot = Some((*running, a.pid_of.get(i).cloned()));
                        }
                    }
                    for (i, seen) in &a.locks {
                        if let Some(slot) = lock_said.get_mut(*i) {
                            *slot = Some(seen.clone());
                        }
                    }
                    for (i, seen) in &a.marks {
                        if let Some(slot) = mark_said.get_mut(*i) {
                            *slot = Some(seen.clone());
                        }
                    }
                    for (i, slot) in live_pid.iter_mut().enumerate() {
                        *slot = pid_said[i].as_ref().and_then(|(_, p)| p.clone());
                    }
                    // A keepalived detected (at start, after a restart):
                    // its dumps are wanted, in this very poll.
                    for (i, (pid, info)) in &a.keepalived {
                        if let Some(slot) = keepalived.get_mut(*i) {
                            *slot = Some(info.clone());
                            detected_for[*i] = Some(pid.clone());
                        }
                        for (j, d) in n.dumps.iter().enumerate() {
                            if d.0 == *i {
                                dump_urgent[j] = true;
                            }
                        }
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
                    // Confs changed since read, or keepalived processes
                    // left for the next poll's budget: that poll now.
                    let detect_left = wants.detect.iter().filter(|d| **d).count() >= detect_budget;
                    detect_budget = (detect_budget * 2).min(DETECT_BUDGET);
                    if reread || detect_left {
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
                        // A peer never shown whose keepalived waits for a
                        // later poll's budget is shown once it is asked:
                        // a first round (a one-shot `status`) waits for it.
                        let unasked = live_pid[pi].is_some()
                            && keepalived[pi].is_none()
                            && wants.detect.get(pi) == Some(&false);
                        let deferred = unasked && !detect_held;
                        if deferred && !shown[k] {
                            continue;
                        }
                        shown[k] = true;
                        let mut obs = PeerObservation {
                            at: received,
                            reachable: Some(true),
                            watcher: Some(kind.clone()),
                            keepalived_running: pid_said[pi].as_ref().map(|(r, _)| *r),
                            failover_lock: lock_said[n.lock_of_peer[k]].clone(),
                            maintenance: mark_said.get(n.lock_of_peer[k]).cloned().flatten(),
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
                                    obs.config = Some::<ConfigSummary>(inst.summary_in(&parsed));
                                }
                            }
                        }
                        // Sent when detected (connect, restart): the
                        // snapshot keeps it.
                        obs.keepalived = a.keepalived.get(&pi).map(|(_, k)| Box::new(k.clone()));
                        if let Some(why) = a.refused.get(&pi) {
                            obs.keepalived_dump_error = Some(crate::core::sanitize::clip(why, 512));
                        } else if unasked && detect_held {
                            obs.keepalived_dump_error = Some(format!(
                                "keepalived did not say what it is within {:?}: using the state file, asked again soon",
                                h.timeout
                            ));
                        }
                        dump_said(
                            &mut obs,
                            a.dumps.get(&di),
                            instance[k].as_ref(),
                            &p.vip,
                            offset_ms,
                        );
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
                    drop_shell = true;
                    let asked = wants.detect.iter().filter(|d| **d).count();
                    if asked > 0 {
                        // Asking keepalived what it is was the slow part,
                        // not the host: half as many are asked, at once, on
                        // a new shell (what is known stays known); one that
                        // alone took too long waits a while. The host is
                        // called down only when a poll that asked no one
                        // (or the connect) does not answer.
                        keep_detection = true;
                        retry_now = true;
                        detect_budget = asked / 2;
                        if detect_budget == 0 {
                            detect_budget = 1;
                            detect_held_until = Some(started + h.interval * DETECT_HOLD_POLLS);
                        }
                        tracing::debug!(host = %h.target.describe(), "poll asking {asked} keepalived: {e}");
                    } else if !h.report_down(format!("{}: {e}", h.target.describe())).await {
                        return;
                    }
                }
            }
            if ok {
                // The expensive part, on the same shell: the dumps due, at
                // most `dump_budget` of them, the wanted first, then the
                // longest overdue (so a dump that keeps failing does not
                // starve the others).
                let now = tokio::time::Instant::now();
                let method = |j: usize| match keepalived[n.dumps[j].0].as_ref().map(|k| &k.dump) {
                    Some(m @ (DumpMethod::Json { .. } | DumpMethod::Data { .. })) => {
                        Some(m.clone())
                    }
                    _ => None,
                };
                let mut due: Vec<usize> = (0..n.dumps.len())
                    .filter(|&j| (dump_urgent[j] || now >= dump_due[j]) && method(j).is_some())
                    .collect();
                due.sort_by_key(|&j| (!dump_urgent[j], dump_due[j]));
                let more = due.len() > dump_budget;
                due.truncate(dump_budget);
                let batch: Vec<Asked> = due.iter().filter_map(|&j| Some((j, method(j)?))).collect();
                if !batch.is_empty() {
                    let asked_at = tokio::time::Instant::now();
                    let outcome = sh
                        .run(&batch_script(n, &batch), h.timeout + allowance(batch.len()))
                        .await;
                    let at = Utc::now();
                    let offset_ms = h.clock.load(Ordering::Relaxed);
                    let said = match outcome {
                        Ok((out, _)) => {
                            let a = parse_answer(&out, n);
                            let mut all = true;
                            for (j, _) in &batch {
                                if a.dumps.contains_key(j) || a.no_dump.contains(j) {
                                    dump_urgent[*j] = false;
                                    dump_due[*j] = now + DUMP_EVERY;
                                } else {
                                    // Not read this round: asked again.
                                    all = false;
                                    dump_due[*j] = now;
                                }
                            }
                            dump_budget = if all {
                                (dump_budget * 2).min(DUMP_BATCH_MAX)
                            } else {
                                (dump_budget / 2).max(1)
                            };
                            if all && more {
                                // The rest of the first round, at once.
                                h.wake.notify_one();
                            }
                            Ok(a.dumps)
                        }
                        Err(e) => {
                            // Carried over (still wanted), behind the other
                            // overdue ones; fewer asked next time. The shell
                            // is replaced, the peer is not down: its facts
                            // came in the poll above.
                            for (j, _) in &batch {
                                dump_due[*j] = now;
                            }
                            dump_budget = (dump_budget / 2).max(1);
                            drop_shell = true;
                            keep_detection = true;
                            tracing::debug!(host = %h.target.describe(), "dumps: {e}");
                            Err(matches!(e, transport::TransportError::Timeout(_))
                                .then(|| asked_at.elapsed().as_millis()))
                        }
                    };
                    for (k, p) in h.peers.iter().enumerate() {
                        let di = n.of_peer[k][4];
                        if !batch.iter().any(|(j, _)| *j == di) {
                            continue;
                        }
                        let mut obs = PeerObservation {
                            at,
                            ..Default::default()
                        };
                        match &said {
                            Ok(dumps) => dump_said(
                                &mut obs,
                                dumps.get(&di),
                                instance[k].as_ref(),
                                &p.vip,
                                offset_ms,
                            ),
                            Err(Some(ms)) => {
                                obs.keepalived_dump_error =
                                    Some(format!("dump slow ({ms} ms), using the state file"));
                            }
                            Err(None) => {}
                        }
                        if obs
                            == (PeerObservation {
                                at,
                                ..Default::default()
                            })
                        {
                            continue;
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
                }
            }
        }
        if drop_shell {
            if let Some(sh) = shell.take() {
                sh.close().await;
            }
        }
        let pause = if ok {
            h.interval.saturating_sub(started.elapsed())
        } else if std::mem::take(&mut retry_now) {
            Duration::ZERO
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

/// In how many polls every `interval` all files are read again: file `i`
/// with poll `k` when `i % polls == k % polls`, so each at least once
/// every [`BACKSTOP`].
fn backstop_polls(interval: Duration) -> usize {
    (BACKSTOP.as_millis() / interval.as_millis().max(1)).max(1) as usize
}

/// What keepalived's dump (when one was read) says of the peer's
/// instance: the one its keepalived.conf names for the VIP, else the one
/// holding the VIP, else the first.
fn dump_said(
    obs: &mut PeerObservation,
    said: Option<&(Witness, Result<Vec<InstanceWord>, String>)>,
    instance: Option<&String>,
    vip: &str,
    offset_ms: i64,
) {
    match said {
        Some((witness, Ok(instances))) => {
            let inst = instances
                .iter()
                .find(|i| Some(&i.iname) == instance)
                .or_else(|| {
                    instances
                        .iter()
                        .find(|i| i.vip_addresses.iter().any(|v| v == vip))
                })
                .or(instances.first());
            if let Some(i) = inst {
                obs.keepalived_state = Some(i.state);
                obs.keepalived_state_from = Some(*witness);
                obs.keepalived_why = Some(Box::new(i.why.clone()));
                if let Some(t) = i.last_transition {
                    obs.last_transition = Some(on_our_clock(t, offset_ms));
                }
            }
        }
        Some((_, Err(e))) => {
            obs.keepalived_dump_error = Some(crate::core::sanitize::clip(e, 512));
        }
        None => {}
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
    let mut rx = transport::follow_ticked(
        h.target.clone(),
        watcher_script(&h.items),
        tick_for(h.items.states.len()),
    );
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::model::{VrrpState, Witness};
    use crate::sources::probe::ProbePaths;

    /// Builds the keepalived stand-in (`standin.c`) as `DIR/keepalived`.
    pub(crate) fn build_standin(dir: &std::path::Path) -> std::path::PathBuf {
        let bin = dir.join("keepalived");
        let st = std::process::Command::new("cc")
            .args(["-O2", "-o"])
            .arg(&bin)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/sources/host/standin.c"
            ))
            .status()
            .expect("cc");
        assert!(st.success(), "the stand-in builds");
        bin
    }

    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// A keepalived stand-in run by the test (its dump written `dump_ms`
    /// after the signal), its state file saying MASTER, and the peer that
    /// reads them.
    fn standin_peer(dir: &std::path::Path, dump_ms: u32) -> (Killed, HostPeer) {
        let d = dir.display().to_string();
        let bin = build_standin(dir);
        std::fs::write(format!("{d}/delay"), dump_ms.to_string()).expect("delay");
        let ka = Killed(
            std::process::Command::new(&bin)
                .arg(format!("{d}/keepalived.json"))
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/fixtures/keepalived/real/keepalived-master.json"
                ))
                .arg(format!("{d}/delay"))
                .arg(format!("{d}/keepalived.pid"))
                .spawn()
                .expect("stand-in"),
        );
        for _ in 0..200 {
            if std::fs::read_to_string(format!("{d}/keepalived.pid"))
                .is_ok_and(|p| p.ends_with('\n'))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::write(format!("{d}/state"), "MASTER").expect("state");
        std::fs::write(
            format!("{d}/conf"),
            "vrrp_instance VI_1 {\n interface lo\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n 192.0.2.100/24\n }\n}\n",
        )
        .expect("conf");
        let mut paths = ProbePaths::new(&format!("{d}/state"), &format!("{d}/conf"), "lo");
        paths.pid_file = format!("{d}/keepalived.pid");
        paths.json_dump = format!("{d}/keepalived.json");
        let peer = HostPeer {
            cluster: 0,
            peer: 0,
            paths,
            vip: "192.0.2.100".into(),
            lock: format!("{d}/lock"),
        };
        (ka, peer)
    }

    /// The poll of `peer` alone on this machine, every 200 ms with a
    /// 600 ms command timeout.
    fn poll_alone(peer: HostPeer) -> (mpsc::Receiver<Update>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(1024);
        let h = HostWatch::new(
            Target::Local,
            vec![peer],
            Duration::from_millis(200),
            Duration::from_millis(600),
            Duration::from_secs(3),
            tx,
        );
        (rx, tokio::spawn(poll_host(h)))
    }

    /// Issue #24: a poll that times out is followed by good ones that
    /// bring every fact back. Here keepalived is slow to say what it is
    /// (`--version` takes 2 s, the command timeout is 0.6 s): the poll
    /// that asked times out, the next ones (not asking) answer at once, the
    /// peer is never called unreachable and says why keepalived's own word
    /// is missing; once `--version` answers in time, keepalived is known
    /// and its dump is the witness again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timed_out_poll_is_followed_by_good_ones_that_bring_every_fact_back() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: only a keepalived run by root is asked");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let slow = dir.path().join("keepalived.version-delay");
        std::fs::write(&slow, "2000").expect("version delay");
        let (ka, peer) = standin_peer(dir.path(), 20);
        let (mut rx, task) = poll_alone(peer);
        let mut facts_now = crate::core::model::PeerFacts::default();
        let (mut facts, mut down, mut why) = (0, Vec::new(), None);
        let until = tokio::time::Instant::now() + Duration::from_secs(4);
        while let Ok(Some(u)) = tokio::time::timeout_at(until, rx.recv()).await {
            let Update::Peer { observation: o, .. } = u else {
                continue;
            };
            if o.reachable == Some(false) {
                down.push(o.error.clone());
            }
            if o.reachable == Some(true) && o.state_file == Some(VrrpState::Master) {
                facts += 1;
            }
            if let Some(e) = &o.keepalived_dump_error {
                why = Some(e.clone());
            }
            facts_now.apply(o);
        }
        assert!(down.is_empty(), "reported unreachable: {down:?}");
        assert!(facts >= 5, "{facts} polls answered");
        let why = why.expect("why keepalived's word is missing");
        assert!(why.contains("did not say what it is"), "{why}");
        assert!(facts_now.keepalived.is_none(), "{:?}", facts_now.keepalived);
        // `--version` answers in time again: everything comes back.
        std::fs::remove_file(&slow).expect("rm");
        let until = tokio::time::Instant::now() + Duration::from_secs(8);
        while let Ok(Some(u)) = tokio::time::timeout_at(until, rx.recv()).await {
            if let Update::Peer { observation: o, .. } = u {
                assert_ne!(o.reachable, Some(false), "{:?}", o.error);
                facts_now.apply(o);
            }
            if facts_now
                .keepalived_state
                .as_ref()
                .is_some_and(|s| s.witness == Witness::KeepalivedDump)
            {
                break;
            }
        }
        assert!(facts_now.keepalived.is_some(), "keepalived is known again");
        let dump = facts_now
            .keepalived_state
            .as_ref()
            .expect("the dump is back");
        assert_eq!(dump.value, VrrpState::Master);
        assert_eq!(dump.witness, Witness::KeepalivedDump);
        assert_eq!(facts_now.keepalived_dump_error, None);
        task.abort();
        drop(ka);
    }

    /// Issue #24: a poll whose keepalived dump was slow timed out as a
    /// whole, the peer was reported unreachable, and every later poll asked
    /// for the dump again and timed out too. Now the cheap facts keep
    /// flowing while the dump is slow, the dump is shown as slow (the
    /// state file is used), and once keepalived answers in time again its
    /// dump is the witness once more.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_dump_never_makes_the_peer_unreachable_and_the_dump_comes_back() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: only a keepalived run by root is signalled");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        let (ka, peer) = standin_peer(dir.path(), 1500);
        let (mut rx, task) = poll_alone(peer);
        // The slow phase: keepalived writes its dump 1.5 s after the signal.
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        let (mut facts, mut late_facts, mut down, mut slow) = (0, 0, Vec::new(), None);
        let mut facts_now = crate::core::model::PeerFacts::default();
        let started = tokio::time::Instant::now();
        while let Ok(Some(u)) = tokio::time::timeout_at(until, rx.recv()).await {
            let Update::Peer { observation: o, .. } = u else {
                continue;
            };
            facts_now.apply(o.clone());
            if o.reachable == Some(false) {
                down.push(o.error.clone());
            }
            if o.reachable == Some(true) && o.state_file == Some(VrrpState::Master) {
                facts += 1;
                if started.elapsed() > Duration::from_secs(3) {
                    late_facts += 1;
                }
            }
            if let Some(e) = o.keepalived_dump_error {
                slow = Some(e);
            }
        }
        assert!(down.is_empty(), "reported unreachable: {down:?}");
        assert!(
            facts >= 8 && late_facts >= 3,
            "{facts} polls, {late_facts} late"
        );
        let slow = slow.expect("the slow dump is shown");
        assert!(
            slow.starts_with("dump slow (") && slow.ends_with("ms), using the state file"),
            "{slow}"
        );
        // keepalived answers in time again: its dump is the witness (the
        // late dump of the slow phase may already have been read).
        std::fs::write(format!("{d}/delay"), "20").expect("delay");
        let until = tokio::time::Instant::now() + Duration::from_secs(4);
        while let Ok(Some(u)) = tokio::time::timeout_at(until, rx.recv()).await {
            if let Update::Peer { observation: o, .. } = u {
                assert_ne!(o.reachable, Some(false), "{:?}", o.error);
                facts_now.apply(o);
            }
        }
        let dump = facts_now
            .keepalived_state
            .as_ref()
            .expect("the dump is back");
        assert_eq!(dump.value, VrrpState::Master);
        assert_eq!(dump.witness, Witness::KeepalivedDump);
        assert_eq!(facts_now.keepalived_dump_error, None);
        task.abort();
        drop(ka);
    }
}
