//! A pure, time-stepped model of a keepalived pair with unicast VRRP and the
//! VPC around it. `step(now)` advances it; nothing here reads a clock.
//!
//! VRRP as keepalived does it: the MASTER sends an advert every
//! `advert_int`; a BACKUP that hears none for the master-down interval
//! (3 × advert_int + skew, skew = (256 − priority) / 256 × advert_int)
//! becomes MASTER. A MASTER that hears a better advert (higher priority, or
//! equal priority and higher address) yields. `nopreempt` keeps a better
//! BACKUP from taking over a working MASTER.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::core::model::{LogKind, LogSource, Mode, VrrpState};
use crate::core::vpc::types::{
    format_api_time, HaVip, HaVipAssociation, NetworkInterface, NetworkInterfaceAttachment,
    PrivateIpAddressSpecification,
};

/// Injected faults, toggled from the demo keys or by tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerFaults {
    /// vipdeck cannot reach the peer (SSH times out).
    pub unreachable: bool,
    /// The VRRP link to the other peer is cut: no adverts either way.
    pub link_cut: bool,
}

#[derive(Debug, Clone)]
pub struct SimPeer {
    pub name: String,
    /// The unicast source address; breaks priority ties.
    pub address: [u8; 4],
    pub priority: u8,
    pub nopreempt: bool,
    pub(crate) running: bool,
    /// keepalived's own state.
    pub state: VrrpState,
    /// What the notify script last wrote.
    pub state_file: VrrpState,
    pub vip_on_nic: bool,
    pub last_transition: DateTime<Utc>,
    /// Whether keepalived.conf has `notify_stop` (the seed's ENI setup does).
    pub notify_stop: bool,
    pub faults: PeerFaults,
    /// When a supervisor (systemd's `Restart=`) starts a killed keepalived
    /// again; `None`: it stays down until started.
    pub(crate) restart_at: Option<DateTime<Utc>>,
    pub(crate) eni: String,
    pub instance: String,
    pub(crate) mac: String,
    last_advert_heard: DateTime<Utc>,
    next_advert: DateTime<Utc>,
    next_garp: Option<DateTime<Utc>>,
    garps_sent: u32,
    next_check: DateTime<Utc>,
    pid: u32,
    /// The failover lock file's content, when one is held on this peer.
    pub(crate) lock: Option<String>,
}

/// A cloud-side change that lands later (the API is asynchronous).
#[derive(Debug, Clone, PartialEq)]
enum Pending {
    /// ENI mode: the VIP moves to this peer's ENI.
    Migrate { to: usize },
    /// HAVIP mode: a GARP from this peer's MAC rebinds the HAVIP.
    Rebind { to: usize },
    /// keepalived stops on this peer (a `systemctl stop` that takes time).
    Stop { peer: usize },
    /// keepalived starts on this peer.
    Start { peer: usize },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudFaults {
    /// Extra delay on every cloud-side change.
    pub(crate) lag: Duration,
    /// The API answers errors: describes fail and migrations fail.
    pub(crate) failing: bool,
    /// The notify path breaks: vip.py fails (ENI) or the VPC ignores the
    /// GARP (HAVIP), so the binding does not follow the master.
    pub move_broken: bool,
}

/// One line a peer wrote to a log.
#[derive(Debug, Clone, PartialEq)]
pub struct SimLog {
    pub peer: usize,
    pub source: LogSource,
    pub kind: LogKind,
    pub at: DateTime<Utc>,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct SimCluster {
    pub name: String,
    pub mode: Mode,
    pub vip: String,
    pub instance: String,
    pub advert_int: Duration,
    pub peers: [SimPeer; 2],
    pub(crate) enis: Vec<NetworkInterface>,
    pub(crate) havip: Option<HaVip>,
    pub cloud_faults: CloudFaults,
    /// How long the VPC takes to apply a move (ENI migration or HAVIP rebind).
    pub cloud_delay: Duration,
    /// How long `systemctl stop` / `start keepalived` take to act (zero in
    /// the demo; a rehearsal's twin measures them).
    pub stop_delay: Duration,
    pub start_delay: Duration,
    pending: Vec<(DateTime<Utc>, Pending)>,
    last_claim: [Option<DateTime<Utc>>; 2],
    pub logs: Vec<SimLog>,
    /// The demo probes this cluster's VIP as a client would (its
    /// data-plane witness); off for fleets and rehearsals.
    pub probed: bool,
}

fn secs(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or_else(|_| chrono::Duration::seconds(1))
}

impl SimPeer {
    fn new(
        name: &str,
        address: [u8; 4],
        priority: u8,
        eni: &str,
        instance: &str,
        mac: &str,
        now: DateTime<Utc>,
    ) -> Self {
        SimPeer {
            name: name.into(),
            address,
            priority,
            nopreempt: true,
            running: false,
            state: VrrpState::Stop,
            state_file: VrrpState::Stop,
            vip_on_nic: false,
            last_transition: now,
            notify_stop: true,
            faults: PeerFaults::default(),
            restart_at: None,
            eni: eni.into(),
            instance: instance.into(),
            mac: mac.into(),
            last_advert_heard: now,
            next_advert: now,
            next_garp: None,
            garps_sent: 0,
            next_check: now,
            pid: 1000,
            lock: None,
        }
    }

    fn master_down(&self, advert_int: Duration) -> chrono::Duration {
        secs(advert_int * 3) + self.skew(advert_int)
    }

    /// The skew time, (256 − priority) / 256 × advert_int: what a BACKUP
    /// waits after a priority-0 advert before it takes over.
    fn skew(&self, advert_int: Duration) -> chrono::Duration {
        secs(advert_int.mul_f64((256.0 - f64::from(self.priority)) / 256.0))
    }

    pub(crate) fn ip(&self) -> String {
        let [a, b, c, d] = self.address;
        format!("{a}.{b}.{c}.{d}")
    }
}

/// Parameters of a simulated cluster.
pub struct ClusterParams<'a> {
    pub name: &'a str,
    pub mode: Mode,
    pub vip: &'a str,
    pub peer_names: [&'a str; 2],
    pub addresses: [[u8; 4]; 2],
    pub priorities: [u8; 2],
    pub cloud_delay: Duration,
}

impl SimCluster {
    /// A pair with both keepalived started at `now`, VIP bound to peer 0 in
    /// the cloud (as after a first election), both `state BACKUP`.
    pub fn new(p: ClusterParams<'_>, now: DateTime<Utc>) -> Self {
        let mut c = Self::powered_on(p, now);
        for i in 0..2 {
            c.start_keepalived(i, now);
        }
        c
    }

    /// The pair and its VPC, keepalived not started on either peer.
    fn powered_on(p: ClusterParams<'_>, now: DateTime<Utc>) -> Self {
        let id = |prefix: &str, i: usize| format!("{prefix}-{}{}", p.name, i + 1);
        let peers: [SimPeer; 2] = std::array::from_fn(|i| {
            SimPeer::new(
                p.peer_names[i],
                p.addresses[i],
                p.priorities[i],
                &id("eni", i),
                &id("ins", i),
                &format!(
                    "52:54:00:{:02x}:{:02x}:{:02x}",
                    p.addresses[i][1], p.addresses[i][2], p.addresses[i][3]
                ),
                now,
            )
        });
        let subnet = format!("subnet-{}", p.name);
        let enis = peers
            .iter()
            .map(|peer| NetworkInterface {
                network_interface_id: peer.eni.clone(),
                vpc_id: "vpc-demo".into(),
                subnet_id: subnet.clone(),
                mac_address: peer.mac.clone(),
                primary: true,
                state: "AVAILABLE".into(),
                private_ip_address_set: vec![PrivateIpAddressSpecification {
                    private_ip_address: peer.ip(),
                    primary: true,
                }],
                attachment: Some(NetworkInterfaceAttachment {
                    instance_id: peer.instance.clone(),
                }),
                ..Default::default()
            })
            .collect();
        let havip = (p.mode == Mode::Havip).then(|| HaVip {
            ha_vip_id: format!("havip-{}", p.name),
            ha_vip_name: p.name.into(),
            vpc_id: "vpc-demo".into(),
            subnet_id: subnet.clone(),
            // `Vip` is the HAVIP's private address; `AddressIp` its EIP.
            vip: p.vip.into(),
            state: "UNBIND".into(),
            ha_vip_association_set: peers
                .iter()
                .map(|peer| HaVipAssociation {
                    ha_vip_id: format!("havip-{}", p.name),
                    instance_id: peer.instance.clone(),
                    instance_type: "CVM".into(),
                })
                .collect(),
            check_associate: true,
            ..Default::default()
        });
        SimCluster {
            name: p.name.into(),
            mode: p.mode,
            vip: p.vip.into(),
            instance: "VI_1".into(),
            advert_int: Duration::from_secs(1),
            peers,
            enis,
            havip,
            cloud_faults: CloudFaults::default(),
            cloud_delay: p.cloud_delay,
            stop_delay: Duration::ZERO,
            start_delay: Duration::ZERO,
            pending: Vec::new(),
            last_claim: [None, None],
            logs: Vec::new(),
            probed: false,
        }
    }

    /// A pair whose peer `first` starts keepalived `gap` before the other,
    /// as when one host boots after the other: it wins the election alone,
    /// instead of both timing out together and one yielding (two MASTER
    /// transitions that would count towards flapping).
    pub fn booted_apart(
        p: ClusterParams<'_>,
        now: DateTime<Utc>,
        first: usize,
        gap: Duration,
    ) -> Self {
        let mut c = Self::powered_on(p, now);
        c.start_keepalived(first, now);
        c.pending
            .push((now + secs(gap), Pending::Start { peer: 1 - first }));
        c
    }

    /// Which peer the cloud says holds the VIP.
    pub(crate) fn cloud_holder(&self) -> Option<usize> {
        let eni = match self.mode {
            Mode::Havip => self
                .havip
                .as_ref()
                .filter(|h| h.state == "AVAILABLE")
                .map(|h| h.network_interface_id.clone())?,
            Mode::Eni => self
                .enis
                .iter()
                .find(|e| {
                    e.private_ip_address_set
                        .iter()
                        .any(|a| a.private_ip_address == self.vip)
                })
                .map(|e| e.network_interface_id.clone())?,
        };
        self.peers.iter().position(|p| p.eni == eni)
    }

    fn log(
        &mut self,
        peer: usize,
        source: LogSource,
        kind: LogKind,
        at: DateTime<Utc>,
        text: String,
    ) {
        self.logs.push(SimLog {
            peer,
            source,
            kind,
            at,
            text,
        });
    }

    /// A notify-script line: `[2026-11-21 22:44:01]  notify_master`.
    fn script_log(&mut self, peer: usize, kind: LogKind, at: DateTime<Utc>, msg: &str) {
        let text = format!("[{}] {msg}", at.format("%Y-%m-%d %H:%M:%S"));
        self.log(peer, LogSource::Script, kind, at, text);
    }

    /// A vip.py line: `[2026-11-21 22:44:02][pid1234]  try set vip.`.
    fn vip_py_log(&mut self, peer: usize, kind: LogKind, at: DateTime<Utc>, msg: &str) {
        let pid = self.peers[peer].pid;
        let text = format!("[{}][pid{pid}] {msg}", at.format("%Y-%m-%d %H:%M:%S"));
        self.log(peer, LogSource::Script, kind, at, text);
    }

    fn daemon_log(&mut self, peer: usize, kind: LogKind, at: DateTime<Utc>, msg: &str) {
        let p = &self.peers[peer];
        let text = format!(
            "{} {} Keepalived_vrrp[{}]: {msg}",
            at.format("%b %e %H:%M:%S"),
            p.name,
            p.pid
        );
        self.log(peer, LogSource::Daemon, kind, at, text);
    }

    pub(crate) fn start_keepalived(&mut self, i: usize, now: DateTime<Utc>) {
        if self.peers[i].running {
            return;
        }
        let p = &mut self.peers[i];
        p.running = true;
        p.pid = p.pid.wrapping_add(7);
        p.last_advert_heard = now;
        p.next_check = now + chrono::Duration::seconds(5);
        self.daemon_log(i, LogKind::Other, now, "Starting VRRP child process");
        self.enter(i, VrrpState::Backup, now);
    }

    /// keepalived exits: its VIPs are released and, if configured,
    /// `notify_stop` writes STOP; without it the state file keeps its word.
    pub fn stop_keepalived(&mut self, i: usize, now: DateTime<Utc>) {
        self.leave(i, now);
        self.exit(i, now);
    }

    /// The first half of a stop (keepalived got SIGTERM): a MASTER sends
    /// priority 0 and drops the VIP, so the peer takes over at once.
    fn leave(&mut self, i: usize, now: DateTime<Utc>) {
        if !self.peers[i].running || self.peers[i].state == VrrpState::Stop {
            return;
        }
        let inst = self.instance.clone();
        let was_master = self.peers[i].state == VrrpState::Master;
        self.daemon_log(i, LogKind::Other, now, "Stopping");
        if was_master {
            self.daemon_log(
                i,
                LogKind::Transition,
                now,
                &format!("({inst}) sent 0 priority"),
            );
        }
        let p = &mut self.peers[i];
        p.state = VrrpState::Stop;
        p.vip_on_nic = false;
        p.next_garp = None;
        p.last_transition = now;
        // A MASTER that stops sends priority 0: its BACKUP's master-down
        // timer is cut to the skew time (keepalived's vrrp.c), so the
        // takeover comes a moment later, not in the same instant.
        let other = 1 - i;
        if was_master && self.can_talk() && self.peers[other].running {
            let o = &mut self.peers[other];
            o.last_advert_heard = now - o.master_down(self.advert_int) + o.skew(self.advert_int);
        }
    }

    /// The second half of a stop: the process is gone; `notify_stop`, if
    /// configured, writes STOP.
    fn exit(&mut self, i: usize, now: DateTime<Utc>) {
        if !self.peers[i].running {
            return;
        }
        let p = &mut self.peers[i];
        p.running = false;
        if p.notify_stop {
            p.state_file = VrrpState::Stop;
            self.script_log(i, LogKind::Script, now, " notify_stop");
        }
    }

    fn can_talk(&self) -> bool {
        !self.peers[0].faults.link_cut && !self.peers[1].faults.link_cut
    }

    fn enter(&mut self, i: usize, state: VrrpState, now: DateTime<Utc>) {
        let inst = self.instance.clone();
        let vip = self.vip.clone();
        let word = match state {
            VrrpState::Master => "MASTER",
            VrrpState::Backup => "BACKUP",
            VrrpState::Fault => "FAULT",
            _ => "STOP",
        };
        self.daemon_log(
            i,
            LogKind::Transition,
            now,
            &format!("({inst}) Entering {word} STATE"),
        );
        let p = &mut self.peers[i];
        p.state = state;
        p.state_file = state;
        p.last_transition = now;
        let notify = format!(" notify_{}", word.to_ascii_lowercase());
        self.script_log(i, LogKind::Script, now, &notify);
        match state {
            VrrpState::Master => {
                let p = &mut self.peers[i];
                p.vip_on_nic = true;
                p.next_advert = now;
                p.next_garp = Some(now + chrono::Duration::seconds(1));
                p.garps_sent = 0;
                if self.mode == Mode::Eni {
                    self.vip_py_migrate(i, now);
                }
            }
            _ => {
                let p = &mut self.peers[i];
                p.vip_on_nic = false;
                p.next_garp = None;
                p.last_advert_heard = now;
                let _ = vip;
            }
        }
    }

    /// What `vip.py migrate` does, run from notify_master or check_self.sh.
    fn vip_py_migrate(&mut self, i: usize, now: DateTime<Utc>) {
        self.vip_py_log(i, LogKind::VipMigration, now, " try set vip.");
        if self.cloud_faults.move_broken || self.cloud_faults.failing {
            let ret = r#" call ret {"Response": {"Error": {"Code": "InternalError", "Message": "An internal error has occurred."}}}"#;
            self.vip_py_log(i, LogKind::VipMigration, now, ret);
            self.vip_py_log(i, LogKind::Error, now, " set vip failed");
            return;
        }
        let ret = format!(
            r#" call ret {{"Response": {{"RequestId": "sim-{}-{}"}}}}"#,
            self.name,
            now.timestamp_millis()
        );
        self.vip_py_log(i, LogKind::VipMigration, now, &ret);
        self.vip_py_log(i, LogKind::VipMigration, now, " set done");
        let due = now + secs(self.cloud_delay + self.cloud_faults.lag);
        self.pending.push((due, Pending::Migrate { to: i }));
    }

    fn send_garp(&mut self, i: usize, now: DateTime<Utc>, first: bool) {
        // keepalived logs the GARPs after a transition, not the refreshes.
        if first {
            let vip = self.vip.clone();
            let inst = self.instance.clone();
            let msg = format!("({inst}) Sending/queueing gratuitous ARPs on eth0 for {vip}");
            self.daemon_log(i, LogKind::Garp, now, &msg);
        }
        if self.mode != Mode::Havip || self.cloud_faults.move_broken {
            return;
        }
        // The VPC honours one claim per device per 5 s.
        if self.last_claim[i].is_some_and(|t| now - t < chrono::Duration::seconds(5)) {
            return;
        }
        self.last_claim[i] = Some(now);
        let due = now + secs(self.cloud_delay + self.cloud_faults.lag);
        self.pending.push((due, Pending::Rebind { to: i }));
    }

    /// An `arping -U` from peer `i` (vipdeck's forced HAVIP move): the VPC
    /// takes it as a claim, one per device per 5 s, even when keepalived's
    /// own GARPs go unheeded (`move_broken` breaks the notify path, not the
    /// VPC). Whether the claim was taken.
    pub(crate) fn arping(&mut self, i: usize, now: DateTime<Utc>) -> bool {
        if self.mode != Mode::Havip {
            return false;
        }
        if self.last_claim[i].is_some_and(|t| now - t < chrono::Duration::seconds(5)) {
            return false;
        }
        self.last_claim[i] = Some(now);
        let due = now + secs(self.cloud_delay + self.cloud_faults.lag);
        self.pending.push((due, Pending::Rebind { to: i }));
        true
    }

    /// `MigratePrivateIpAddress` to peer `to`'s ENI, asked of the API: it
    /// lands after the cloud's delay. `false` while another migration of
    /// the VIP is still running (the API's mutex).
    pub(crate) fn api_migrate(&mut self, to: usize, now: DateTime<Utc>) -> bool {
        if self
            .pending
            .iter()
            .any(|(_, p)| matches!(p, Pending::Migrate { .. }))
        {
            return false;
        }
        let due = now + secs(self.cloud_delay + self.cloud_faults.lag);
        self.pending.push((due, Pending::Migrate { to }));
        true
    }

    /// `systemctl stop keepalived` on peer `i`: acts after `stop_delay`.
    pub(crate) fn ask_stop(&mut self, i: usize, now: DateTime<Utc>) {
        self.peers[i].restart_at = None;
        if self.stop_delay.is_zero() {
            self.stop_keepalived(i, now);
        } else {
            // keepalived leaves at once; the process takes a while to end.
            self.leave(i, now);
            let due = now + secs(self.stop_delay);
            self.pending.push((due, Pending::Stop { peer: i }));
        }
    }

    /// `systemctl start keepalived` on peer `i`: acts after `start_delay`.
    pub(crate) fn ask_start(&mut self, i: usize, now: DateTime<Utc>) {
        if self.start_delay.is_zero() {
            self.start_keepalived(i, now);
        } else {
            let due = now + secs(self.start_delay);
            self.pending.push((due, Pending::Start { peer: i }));
        }
    }

    /// The cloud binds the VIP to peer `to` now (a twin starting from a
    /// live cluster's binding).
    pub(crate) fn bind_now(&mut self, to: usize, now: DateTime<Utc>) {
        // The live binding is the truth: a move the twin's own start-up
        // left in flight must not land after it.
        self.pending
            .retain(|(_, p)| !matches!(p, Pending::Migrate { .. } | Pending::Rebind { .. }));
        let op = match self.mode {
            Mode::Eni => Pending::Migrate { to },
            Mode::Havip => Pending::Rebind { to },
        };
        self.pending.push((now, op));
        self.apply_cloud(now);
    }

    /// A line a peer's own log gets (vipdeck's record of a failover).
    pub(crate) fn peer_log_line(&mut self, i: usize, at: DateTime<Utc>, line: &str) {
        self.log(i, LogSource::Script, LogKind::Other, at, line.to_string());
    }

    /// Advances the world to `now`.
    pub fn step(&mut self, now: DateTime<Utc>) {
        let adv = secs(self.advert_int);
        for i in 0..2 {
            if self.peers[i].restart_at.is_some_and(|t| now >= t) {
                self.peers[i].restart_at = None;
                self.start_keepalived(i, now);
            }
        }
        for i in 0..2 {
            let other = 1 - i;
            if !self.peers[i].running {
                continue;
            }
            match self.peers[i].state {
                VrrpState::Master => {
                    if now >= self.peers[i].next_advert {
                        self.peers[i].next_advert = now + adv;
                        if self.can_talk() && self.peers[other].running {
                            self.deliver_advert(i, other, now);
                        }
                    }
                    if self.peers[i].state == VrrpState::Master {
                        if let Some(t) = self.peers[i].next_garp {
                            if now >= t {
                                let first = self.peers[i].garps_sent == 0;
                                self.peers[i].garps_sent += 1;
                                // garp_master_refresh 5
                                self.peers[i].next_garp = Some(now + chrono::Duration::seconds(5));
                                self.send_garp(i, now, first);
                            }
                        }
                    }
                }
                VrrpState::Backup => {
                    let p = &self.peers[i];
                    if now - p.last_advert_heard > p.master_down(self.advert_int) {
                        self.enter(i, VrrpState::Master, now);
                    }
                }
                _ => {}
            }
            // check_self.sh (track_script, interval 5): a MASTER the cloud
            // does not bind re-runs vip.py migrate.
            if self.peers[i].state == VrrpState::Master && now >= self.peers[i].next_check {
                self.peers[i].next_check = now + chrono::Duration::seconds(5);
                let pending = self
                    .pending
                    .iter()
                    .any(|(_, p)| *p == Pending::Migrate { to: i });
                if self.mode == Mode::Eni && self.cloud_holder() != Some(i) && !pending {
                    self.vip_py_log(
                        i,
                        LogKind::VipMigration,
                        now,
                        "vip.py checks vip: is this cvm holding the vip? false",
                    );
                    self.vip_py_migrate(i, now);
                }
            }
        }
        self.apply_cloud(now);
    }

    fn deliver_advert(&mut self, from: usize, to: usize, now: DateTime<Utc>) {
        let inst = self.instance.clone();
        let (fp, fa) = (self.peers[from].priority, self.peers[from].address);
        let receiver = &mut self.peers[to];
        receiver.last_advert_heard = now;
        let better = fp > receiver.priority || (fp == receiver.priority && fa > receiver.address);
        match receiver.state {
            VrrpState::Master if better => {
                let from_ip = self.peers[from].ip();
                self.daemon_log(to, LogKind::Transition, now, &format!("({inst}) Master received advert from {from_ip} with higher priority {fp}, ours {}", self.peers[to].priority));
                self.enter(to, VrrpState::Backup, now);
            }
            VrrpState::Backup if !receiver.nopreempt && receiver.priority > fp => {
                // Preempt: take over from a lower-priority master.
                self.enter(to, VrrpState::Master, now);
            }
            _ => {}
        }
    }

    fn apply_cloud(&mut self, now: DateTime<Utc>) {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(t, _)| *t <= now);
        self.pending = later;
        for (_, op) in due {
            match op {
                Pending::Stop { peer } => self.exit(peer, now),
                Pending::Start { peer } => self.start_keepalived(peer, now),
                Pending::Migrate { to } => {
                    let vip = self.vip.clone();
                    for e in &mut self.enis {
                        e.private_ip_address_set
                            .retain(|a| a.private_ip_address != vip);
                    }
                    let eni = self.peers[to].eni.clone();
                    if let Some(e) = self.enis.iter_mut().find(|e| e.network_interface_id == eni) {
                        e.private_ip_address_set
                            .push(PrivateIpAddressSpecification {
                                private_ip_address: vip,
                                primary: false,
                            });
                    }
                }
                Pending::Rebind { to } => {
                    let (eni, ins) = (self.peers[to].eni.clone(), self.peers[to].instance.clone());
                    if let Some(h) = &mut self.havip {
                        // A claim from the device already bound changes nothing.
                        if h.state == "AVAILABLE" && h.network_interface_id == eni {
                            continue;
                        }
                        h.network_interface_id = eni;
                        h.instance_id = ins;
                        h.state = "AVAILABLE".into();
                        h.flushed_time = format_api_time(now);
                    }
                }
            }
        }
    }

    /// The index of the peer keepalived considers MASTER, if exactly one.
    pub fn vrrp_master(&self) -> Option<usize> {
        let m: Vec<usize> = (0..2)
            .filter(|&i| self.peers[i].state == VrrpState::Master)
            .collect();
        (m.len() == 1).then(|| m[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 22, 0, 0)
            .single()
            .expect("time")
    }

    fn pair(mode: Mode, priorities: [u8; 2]) -> SimCluster {
        SimCluster::new(
            ClusterParams {
                name: "web",
                mode,
                vip: "172.16.16.12",
                peer_names: ["a", "b"],
                addresses: [[172, 16, 16, 5], [172, 16, 16, 6]],
                priorities,
                cloud_delay: Duration::from_secs(2),
            },
            t0(),
        )
    }

    /// Steps in 100 ms increments from `from` for `secs` seconds.
    fn run(c: &mut SimCluster, from: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
        let mut t = from;
        let end = from + chrono::Duration::seconds(secs);
        while t < end {
            t += chrono::Duration::milliseconds(100);
            c.step(t);
        }
        t
    }

    #[test]
    fn equal_priorities_elect_exactly_one_master_after_master_down() {
        let mut c = pair(Mode::Eni, [100, 100]);
        let t = run(&mut c, t0(), 3);
        assert_eq!(c.vrrp_master(), None, "nobody before 3 × advert_int + skew");
        run(&mut c, t, 2);
        // Both time out together; the higher address wins the tie.
        assert_eq!(c.vrrp_master(), Some(1));
        assert!(c.peers[1].vip_on_nic && !c.peers[0].vip_on_nic);
        assert_eq!(c.peers[0].state_file, VrrpState::Backup);
    }

    #[test]
    fn eni_migration_follows_notify_master_after_the_cloud_delay() {
        let mut c = pair(Mode::Eni, [100, 100]);
        let t = run(&mut c, t0(), 4);
        assert_eq!(c.vrrp_master(), Some(1));
        assert_eq!(c.cloud_holder(), None);
        run(&mut c, t, 3);
        assert_eq!(c.cloud_holder(), Some(1));
        let texts: Vec<&str> = c
            .logs
            .iter()
            .filter(|l| l.peer == 1)
            .map(|l| l.text.as_str())
            .collect();
        assert!(
            texts.iter().any(|t| t.ends_with("]  notify_master")),
            "{texts:?}"
        );
        assert!(texts
            .iter()
            .any(|t| t.contains("][pid") && t.ends_with("  try set vip.")));
        assert!(texts.iter().any(|t| t.ends_with("  set done")));
    }

    #[test]
    fn stopping_the_master_moves_vip_and_havip_follows_garp() {
        let mut c = pair(Mode::Havip, [100, 100]);
        let t = run(&mut c, t0(), 10);
        assert_eq!(c.vrrp_master(), Some(1));
        assert_eq!(c.cloud_holder(), Some(1));
        let flushed = c.havip.as_ref().map(|h| h.flushed_time.clone());
        c.stop_keepalived(1, t);
        let t = run(&mut c, t, 1);
        assert_eq!(
            c.vrrp_master(),
            Some(0),
            "priority 0 from the leaving master"
        );
        assert_eq!(
            c.cloud_holder(),
            Some(1),
            "rebinding takes the GARP delay plus the cloud delay"
        );
        run(&mut c, t, 4);
        assert_eq!(c.cloud_holder(), Some(0));
        assert_ne!(c.havip.as_ref().map(|h| h.flushed_time.clone()), flushed);
    }

    #[test]
    fn nopreempt_keeps_a_lower_master_and_preempt_takes_over() {
        let mut c = pair(Mode::Eni, [100, 150]);
        // b (150) wins the first election; stop it, a takes over.
        let t = run(&mut c, t0(), 5);
        assert_eq!(c.vrrp_master(), Some(1));
        c.stop_keepalived(1, t);
        let t = run(&mut c, t, 2);
        assert_eq!(c.vrrp_master(), Some(0));
        c.start_keepalived(1, t);
        let t = run(&mut c, t, 5);
        assert_eq!(c.vrrp_master(), Some(0), "nopreempt: b stays BACKUP");
        c.peers[1].nopreempt = false;
        run(&mut c, t, 2);
        assert_eq!(c.vrrp_master(), Some(1), "preempt: b takes over");
    }

    #[test]
    fn broken_notify_leaves_drift_until_check_self_repairs() {
        let mut c = pair(Mode::Eni, [100, 100]);
        let t = run(&mut c, t0(), 10);
        assert_eq!(c.cloud_holder(), Some(1));
        c.cloud_faults.move_broken = true;
        c.stop_keepalived(1, t);
        c.start_keepalived(1, t);
        let t = run(&mut c, t, 8);
        assert_eq!(c.vrrp_master(), Some(0));
        assert_eq!(c.cloud_holder(), Some(1), "drift: the migration failed");
        assert!(c
            .logs
            .iter()
            .any(|l| l.peer == 0 && l.text.ends_with("  set vip failed")));
        c.cloud_faults.move_broken = false;
        run(&mut c, t, 8);
        assert_eq!(c.cloud_holder(), Some(0), "check_self.sh re-ran vip.py");
    }

    #[test]
    fn a_cut_link_makes_two_masters_and_healing_leaves_one() {
        let mut c = pair(Mode::Havip, [100, 100]);
        let t = run(&mut c, t0(), 6);
        c.peers[0].faults.link_cut = true;
        let t = run(&mut c, t, 5);
        assert_eq!(
            c.peers
                .iter()
                .filter(|p| p.state == VrrpState::Master)
                .count(),
            2
        );
        c.peers[0].faults.link_cut = false;
        run(&mut c, t, 2);
        assert!(c.vrrp_master().is_some());
    }

    #[test]
    fn killed_without_notify_stop_keeps_master_in_state_file() {
        let mut c = pair(Mode::Havip, [100, 100]);
        c.peers[1].notify_stop = false;
        let t = run(&mut c, t0(), 6);
        c.stop_keepalived(1, t);
        assert_eq!(c.peers[1].state_file, VrrpState::Master);
        assert!(!c.peers[1].running);
    }
}
