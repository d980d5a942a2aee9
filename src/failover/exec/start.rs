//! The executor's construction: one constructor ([`Executor::open`]) from
//! a source of facts ([`Facts`]) — its own watch of real peers, a
//! dashboard's live sources, or the simulator — and the first facts the
//! plan needs, as fast as they come.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use tokio::sync::mpsc;

use crate::core::config::{ClusterConfig, Config};
use crate::core::model::{ClusterSnapshot, ClusterSpec, Snapshot, Update};
use crate::core::verdict::Thresholds;
use crate::sources::monitor::{self, Sources};
use crate::sources::simulator::SimCommand;

use super::super::hands::{self, Hands, PeerAction};
use super::super::plan::Settings;
use super::cloud::cloud_first;
use super::{own_probe, Echo, Executor};

/// Where the executor's facts come from, and so what its hands touch.
// One per failover: the size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Facts<'a> {
    /// Its own watch of the cluster named `cluster` of `config` (probes
    /// every 500 ms, the cloud every 250 ms, for the time of the
    /// failover): the real peers and cloud (`vipdeck failover`).
    Real {
        config: &'a Config,
        cluster: &'a str,
    },
    /// A dashboard's live sources (the TUI wizard): `snapshot` is what the
    /// dashboard knows of the cluster now and `updates` its updates from
    /// here on (as cluster 0); `echo` hands the facts the executor reads
    /// itself back to the dashboard. No watch of its own and no first
    /// round: only the lock files are read (over the executor's shells,
    /// channels of the dashboard's ssh connections) and the cloud's
    /// binding once more, at once, and the plan can be shown.
    Attached {
        config: &'a Config,
        snapshot: ClusterSnapshot,
        updates: mpsc::Receiver<Update>,
        thresholds: Thresholds,
        echo: Option<Echo>,
    },
    /// The simulated cluster named `cluster` of the simulator behind `sim`,
    /// watched and acted on there: the same plan, steps and checks as on
    /// a real cluster (the demo's `m`/`F`, `failover --demo`, `rehearse`).
    Simulated {
        sim: mpsc::Sender<SimCommand>,
        cluster: &'a str,
    },
}

/// What a source of facts gives the executor: everything but the run's
/// own state, which starts empty whatever the source.
struct Opened {
    cluster: ClusterConfig,
    snapshot: Snapshot,
    sources: Sources,
    thresholds: Thresholds,
    hands: Hands,
    cmd_timeout: Duration,
    early_locks: Option<[Result<(String, i32), String>; 2]>,
    timing: FirstFacts,
    echo: Option<Echo>,
}

impl Executor {
    /// The executor of a cluster, its facts from `facts`.
    pub(crate) async fn open(facts: Facts<'_>, settings: Settings) -> anyhow::Result<Self> {
        let o = match facts {
            Facts::Real { config, cluster } => watch(config, cluster).await?,
            Facts::Attached {
                config,
                snapshot,
                updates,
                thresholds,
                echo,
            } => attach(config, snapshot, updates, thresholds, echo).await?,
            Facts::Simulated { sim, cluster } => simulate(sim, cluster).await?,
        };
        Ok(Executor {
            cluster: o.cluster,
            settings,
            snapshot: o.snapshot,
            sources: o.sources,
            thresholds: o.thresholds,
            hands: o.hands,
            cmd_timeout: o.cmd_timeout,
            interrupted: Arc::new(AtomicBool::new(false)),
            request_ids: Vec::new(),
            move_since: None,
            early_locks: o.early_locks,
            timing: o.timing,
            ask_cloud: false,
            echo: o.echo,
            probe_log: Default::default(),
        })
    }

    /// [`Facts::Real`]: starts watching `cluster_name` of `config`.
    pub async fn start(
        config: &Config,
        cluster_name: &str,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        let facts = Facts::Real {
            config,
            cluster: cluster_name,
        };
        Self::open(facts, settings).await
    }

    /// [`Facts::Attached`]: runs on a dashboard's live sources.
    pub(crate) async fn attach(
        config: &Config,
        snapshot: ClusterSnapshot,
        updates: mpsc::Receiver<Update>,
        settings: Settings,
        thresholds: Thresholds,
        echo: Option<Echo>,
    ) -> anyhow::Result<Self> {
        let facts = Facts::Attached {
            config,
            snapshot,
            updates,
            thresholds,
            echo,
        };
        Self::open(facts, settings).await
    }

    /// [`Facts::Simulated`]: watches and acts on the simulator behind `sim`.
    pub(crate) async fn start_sim(
        sim: mpsc::Sender<SimCommand>,
        cluster_name: &str,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        let facts = Facts::Simulated {
            sim,
            cluster: cluster_name,
        };
        Self::open(facts, settings).await
    }
}

/// [`Facts::Real`]: first, at once, the cloud client, its credentials and
/// a first read of the binding; the executor's own shells (the ones the
/// steps use) probing each peer, then reading the lock files — every fact
/// the plan needs, over two connections, before the watch opens its own
/// (which then follows the move).
async fn watch(config: &Config, cluster_name: &str) -> anyhow::Result<Opened> {
    let cluster = config
        .cluster(cluster_name)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no cluster named `{cluster_name}`"))?;
    let mut sub = config.clone();
    sub.clusters = vec![cluster.clone()];
    // Watch closely for the few seconds a failover lasts.
    sub.monitor.poll_interval_ms = sub.monitor.poll_interval_ms.min(500);
    sub.cloud.poll_interval_ms = sub.cloud.poll_interval_ms.min(250);
    let t0 = tokio::time::Instant::now();
    let (mut hands, region, cmd_timeout) = real_hands(&cluster, &sub);
    let names = [cluster.peers[0].name.clone(), cluster.peers[1].name.clone()];
    let spec = cluster.spec();
    let cloud_first = async {
        let (client, read) = cloud_first(&sub.cloud, &region, &spec).await;
        (client, read, t0.elapsed())
    };
    let own_first = async {
        let probes = hands
            .both(
                &names,
                [Some(PeerAction::Probe), Some(PeerAction::Probe)],
                cmd_timeout,
            )
            .await;
        let probed = t0.elapsed();
        let locks = hands
            .both(
                &names,
                [Some(PeerAction::LockRead), Some(PeerAction::LockRead)],
                cmd_timeout,
            )
            .await;
        (probes, locks, probed, t0.elapsed())
    };
    let ((cloud, read, cloud_read), own) =
        tokio::join!(cloud_first, tokio::time::timeout(OWN_PROBE, own_first));
    let probed = t0.elapsed();
    let mut sources = monitor::start_config(&sub);
    let mut snapshot = Snapshot::new(sources.specs.clone());
    if let Some((at, result)) = read {
        snapshot.apply(Update::Cloud {
            cluster: 0,
            at,
            result,
            credential_source: None,
        });
    }
    let mut parts = vec![(cloud_read, "cloud client and first read".to_string())];
    let reads = match own {
        Ok((probes, locks, p_at, l_at)) => {
            parts.push((p_at, "own probes".into()));
            parts.push((l_at, "lock reads".into()));
            for (i, a) in probes.into_iter().enumerate() {
                if let Some(Ok((out, _))) = a {
                    snapshot.apply(own_probe(i, &out, &cluster.vip.to_string()));
                }
            }
            Some(locks)
        }
        Err(_) => {
            hands.close_shells().await;
            None
        }
    };
    // The watch's first facts: at once when the executor's own were
    // enough, else as they come.
    let mut first = first_facts(&mut snapshot, &mut sources.updates, Duration::from_secs(10)).await;
    first.first = first.first.map(|f| f + probed);
    first.ready += probed;
    for p in &mut first.parts {
        p.0 += probed;
    }
    parts.push((probed, "own probes, lock reads, cloud read".into()));
    parts.append(&mut first.parts);
    first.parts = parts;
    let early_locks = reads.and_then(both);
    hands.set_cloud(cloud);
    Ok(Opened {
        cluster,
        snapshot,
        sources,
        thresholds: sub.monitor.thresholds(),
        hands,
        cmd_timeout,
        early_locks,
        timing: first,
        echo: None,
    })
}

/// [`Facts::Attached`]: the lock files and the cloud's binding read at
/// once, beside the dashboard's facts.
async fn attach(
    config: &Config,
    snapshot: ClusterSnapshot,
    updates: mpsc::Receiver<Update>,
    thresholds: Thresholds,
    echo: Option<Echo>,
) -> anyhow::Result<Opened> {
    let name = snapshot.spec.name.clone();
    let cluster = config
        .cluster(&name)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no cluster named `{name}` in the config"))?;
    // The facts are the collector's, the hands act on the local config's
    // peers: they must be one cluster.
    if let Some(why) = spec_differs(&cluster.spec(), &snapshot.spec) {
        anyhow::bail!(
            "the attached facts describe another cluster than the local config: {why}; \
             refusing to plan on the one and act on the other (make both configs name \
             the same peers, VIP and mode)"
        );
    }
    let t0 = tokio::time::Instant::now();
    let (mut hands, region, cmd_timeout) = real_hands(&cluster, config);
    let names = [cluster.peers[0].name.clone(), cluster.peers[1].name.clone()];
    let spec = snapshot.spec.clone();
    let cloud = async {
        let r = cloud_first(&config.cloud, &region, &spec).await;
        (r, t0.elapsed())
    };
    let locks = async {
        let acts = [Some(PeerAction::LockRead), Some(PeerAction::LockRead)];
        let r = tokio::time::timeout(OWN_PROBE, hands.both(&names, acts, cmd_timeout)).await;
        (r, t0.elapsed())
    };
    let (((client, read), cloud_at), (locks, locks_at)) = tokio::join!(cloud, locks);
    let mut view = Snapshot {
        clusters: vec![snapshot],
    };
    if let Some((at, result)) = read {
        let u = Update::Cloud {
            cluster: 0,
            at,
            result,
            credential_source: None,
        };
        if let Some(echo) = &echo {
            echo(u.clone());
        }
        view.apply(u);
    }
    let early_locks = match locks {
        Ok(read) => both(read),
        Err(_) => {
            hands.close_shells().await;
            None
        }
    };
    hands.set_cloud(client);
    let timing = FirstFacts {
        first: Some(Duration::ZERO),
        ready: cloud_at.max(locks_at),
        parts: vec![
            (Duration::ZERO, "the dashboard's facts".into()),
            (cloud_at, "cloud read".into()),
            (locks_at, "lock reads".into()),
        ],
    };
    let sources = Sources {
        specs: vec![spec],
        updates,
        sim: None,
        label: "dashboard".into(),
        thresholds: thresholds.clone(),
        first_round: Duration::from_secs(5),
        first_probes: Default::default(),
        collector: None,
        tasks: Default::default(),
    };
    Ok(Opened {
        cluster,
        snapshot: view,
        sources,
        thresholds,
        hands,
        cmd_timeout,
        early_locks,
        timing,
        echo,
    })
}

/// The first field where the cluster `seen` (a collector's) differs from
/// the `local` config's, both values said.
fn spec_differs(local: &ClusterSpec, seen: &ClusterSpec) -> Option<String> {
    let say = |field: String, l: &str, s: &str| {
        let show = |v: &str| crate::core::sanitize::clip(&crate::core::sanitize::clean(v), 80);
        format!(
            "{field} is {} in the local config but {} where the facts come from",
            show(l),
            show(s)
        )
    };
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "(none)".into());
    let mut fields = vec![
        ("name".to_string(), local.name.clone(), seen.name.clone()),
        ("mode".into(), local.mode.to_string(), seen.mode.to_string()),
        ("vip".into(), local.vip.clone(), seen.vip.clone()),
        ("havip_id".into(), opt(&local.havip_id), opt(&seen.havip_id)),
    ];
    for (i, (l, s)) in local.peers.iter().zip(&seen.peers).enumerate() {
        let f = |k: &str| format!("peers[{i}].{k}");
        fields.push((f("name"), l.name.clone(), s.name.clone()));
        fields.push((f("address"), l.address.clone(), s.address.clone()));
        fields.push((
            f("network_interface_id"),
            opt(&l.network_interface_id),
            opt(&s.network_interface_id),
        ));
        fields.push((f("instance_id"), opt(&l.instance_id), opt(&s.instance_id)));
    }
    fields
        .into_iter()
        .find(|(_, l, s)| l != s)
        .map(|(field, l, s)| say(field, &l, &s))
}

/// [`Facts::Simulated`]: the simulator's watch of the cluster, and hands
/// that act in the simulator.
async fn simulate(sim: mpsc::Sender<SimCommand>, cluster_name: &str) -> anyhow::Result<Opened> {
    let (tx, rx) = mpsc::channel(1024);
    let probe_tx = tx.clone();
    let (reply, answer) = tokio::sync::oneshot::channel();
    // A probe of a real service (`VIPDECK_DEMO_PROBE`) replaces the
    // simulator's own data plane: one source of answers, never two.
    let real_probe = super::super::sim::demo_probe();
    sim.send(SimCommand::Watch {
        name: cluster_name.to_string(),
        updates: tx,
        dataplane: real_probe.is_none(),
        reply,
    })
    .await
    .map_err(|_| anyhow::anyhow!("the simulator has stopped"))?;
    let (spec, probed) = answer
        .await
        .ok()
        .flatten()
        .ok_or_else(|| anyhow::anyhow!("no simulated cluster named `{cluster_name}`"))?;
    let mut cluster = super::super::sim::cluster_config(&spec)?;
    if cluster.probe.is_none() && probed {
        cluster.probe = Some(crate::sources::simulator::demo_probe_spec());
    }
    let mut tasks = crate::sources::monitor::Tasks::default();
    // A probe of a real service beside the simulated peers (the demo's
    // `VIPDECK_DEMO_PROBE`): the same prober a real cluster's watch runs.
    if let Some(probe) = real_probe {
        let probed = vec![crate::sources::dataplane::ProbedCluster {
            index: 0,
            name: cluster.name.clone(),
            vip: "127.0.0.1".into(),
            spec: probe,
        }];
        tasks.spawn(crate::sources::dataplane::watch(probed, 1, probe_tx));
    }
    let mut sources = Sources {
        specs: vec![spec],
        updates: rx,
        sim: None,
        label: "simulator".into(),
        thresholds: Thresholds::default(),
        first_round: Duration::from_secs(5),
        first_probes: Default::default(),
        collector: None,
        tasks,
    };
    let mut snapshot = Snapshot::new(sources.specs.clone());
    let timing = first_facts(&mut snapshot, &mut sources.updates, Duration::from_secs(5)).await;
    let hands = Hands::Sim(hands::Sim {
        tx: sim,
        cluster: cluster.name.clone(),
    });
    Ok(Opened {
        cluster,
        snapshot,
        sources,
        thresholds: Thresholds::default(),
        hands,
        cmd_timeout: Duration::from_secs(5),
        early_locks: None,
        timing,
        echo: None,
    })
}

/// How long the executor's own first probes and lock reads may take before
/// the watch is left to find the facts (a peer that does not answer).
const OWN_PROBE: Duration = Duration::from_millis(2500);
/// Once the facts the plan needs are in, how long the slower ones
/// (keepalived.conf) are waited for at most.
const SLOWER_FACTS: Duration = Duration::from_millis(300);

/// When the first facts came in, counted from [`first_facts`]' call.
#[derive(Debug, Clone, Default)]
pub(crate) struct FirstFacts {
    /// The first update of any kind.
    pub(crate) first: Option<Duration>,
    /// Every fact the plan needs.
    pub(crate) ready: Duration,
    /// When each part came in ("n1 answered", "n1 complete", "cloud"), in
    /// order, for `VIPDECK_TIMING`.
    pub(crate) parts: Vec<(Duration, String)>,
}

/// What the plan needs of `c`: each peer answered (or is known not to)
/// with keepalived's process, the state file and the NIC; the cloud answered.
/// `slower`: also keepalived.conf of each peer.
fn plan_ready(c: &ClusterSnapshot, slower: bool) -> bool {
    let peers = c
        .peers
        .iter()
        .all(|p| match p.reachable.as_ref().map(|f| f.value) {
            None => false,
            Some(false) => true,
            Some(true) => {
                p.keepalived_running.is_some()
                    && p.state_file.is_some()
                    && p.vip_on_nic.is_some()
                    && (!slower || p.config.is_some())
            }
        });
    peers && (c.cloud.binding.is_some() || c.cloud.error.is_some())
}

/// Folds updates into `snapshot` until the facts the plan needs are in (then
/// at most [`SLOWER_FACTS`] more for the slower ones), or `deadline` passes;
/// a peer that never answered is then marked unreachable with the reason.
/// Planning starts on fresh facts, not after a fixed round.
async fn first_facts(
    snapshot: &mut Snapshot,
    updates: &mut tokio::sync::mpsc::Receiver<Update>,
    deadline: Duration,
) -> FirstFacts {
    let t0 = tokio::time::Instant::now();
    let mut until = t0 + deadline;
    let mut timing = FirstFacts::default();
    let mut needed = false;
    loop {
        let c = &snapshot.clusters[0];
        if plan_ready(c, true) {
            break;
        }
        if !needed && plan_ready(c, false) {
            needed = true;
            timing.ready = t0.elapsed();
            until = until.min(tokio::time::Instant::now() + SLOWER_FACTS);
        }
        match tokio::time::timeout_at(until, updates.recv()).await {
            Ok(Some(u)) => {
                timing.first.get_or_insert_with(|| t0.elapsed());
                snapshot.apply(u);
                let c = &snapshot.clusters[0];
                let mut now_parts = Vec::new();
                for (i, p) in c.peers.iter().enumerate() {
                    let name = &c.spec.peers[i].name;
                    if p.reachable.is_some() {
                        now_parts.push(format!("{name} answered"));
                    }
                    if p.keepalived_running.is_some()
                        && p.state_file.is_some()
                        && p.vip_on_nic.is_some()
                    {
                        now_parts.push(format!("{name} running, state file, NIC"));
                    }
                    if p.config.is_some() {
                        now_parts.push(format!("{name} keepalived.conf"));
                    }
                    if p.keepalived_state.is_some() {
                        now_parts.push(format!("{name} keepalived's dump"));
                    }
                }
                if c.cloud.binding.is_some() || c.cloud.error.is_some() {
                    now_parts.push("cloud".into());
                }
                for part in now_parts {
                    if !timing.parts.iter().any(|(_, p)| *p == part) {
                        timing.parts.push((t0.elapsed(), part));
                    }
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    if !needed {
        timing.ready = t0.elapsed();
    }
    // Whatever else has already arrived (the logs' first lines).
    while let Ok(u) = updates.try_recv() {
        snapshot.apply(u);
    }
    let now = Utc::now();
    for p in &mut snapshot.clusters[0].peers {
        if p.reachable.is_none() {
            p.apply(crate::core::model::PeerObservation::unreachable(
                now,
                format!(
                    "gave up: no answer within {}",
                    crate::core::humanize::duration(deadline)
                ),
            ));
        }
    }
    timing
}

/// Both answers, when both peers gave one.
fn both<T>(r: [Option<T>; 2]) -> Option<[T; 2]> {
    match r {
        [Some(a), Some(b)] => Some([a, b]),
        _ => None,
    }
}

/// The real hands for `cluster` (its peers' ssh targets, no shell open
/// and no cloud client yet), its cloud region and the commands' timeout.
fn real_hands(cluster: &ClusterConfig, config: &Config) -> (Hands, String, Duration) {
    let targets = [
        monitor::target_of(&cluster.peers[0], config),
        monitor::target_of(&cluster.peers[1], config),
    ];
    let hands = Hands::Real(Box::new(hands::Real {
        cluster: cluster.clone(),
        targets,
        shells: [None, None],
        cloud: None,
        cloud_error: None,
        lock_dir: crate::core::lockfile::lock_dir_from(&config.failover.lock_dir),
    }));
    let region = cluster.effective_region(&config.cloud).to_string();
    let cmd_timeout = config.ssh.command_timeout().max(Duration::from_secs(5));
    (hands, region, cmd_timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        config_with("")
    }

    fn config_with(failover: &str) -> Config {
        let text = format!(
            r#"
{failover}
[cloud]
region = "ap-guangzhou"
endpoint = "http://127.0.0.1:9"

[[clusters]]
name = "web"
mode = "havip"
vip = "192.0.2.10"
havip_id = "havip-0001"
  [[clusters.peers]]
  name = "n1"
  local = true
  network_interface_id = "eni-1"
  instance_id = "ins-1"
  [[clusters.peers]]
  name = "n2"
  local = true
  network_interface_id = "eni-2"
  instance_id = "ins-2"
"#
        );
        crate::core::config::parse(&text, std::path::Path::new("t.toml")).expect("config")
    }

    /// M6: the lock directory is `[failover] lock_dir` (a directory only
    /// root can write in shuts out planted locks).
    #[test]
    fn the_lock_directory_is_a_failover_key() {
        let config = config_with("[failover]\nlock_dir = \"/run/vipdeck/\"\n");
        assert!(format!("{:?}", config.failover).contains("/run/vipdeck"));
        if std::env::var_os("VIPDECK_LOCK_DIR").is_some() {
            return; // the environment wins
        }
        let (hands, _, _) = real_hands(&config.clusters[0], &config);
        assert_eq!(hands.lock_dir(), "/run/vipdeck");
        let (hands, _, _) = real_hands(&config.clusters[0], &config_with(""));
        assert_eq!(hands.lock_dir(), "/run/lock");
        let relative = config_with("[failover]\nlock_dir = \"run/lock\"\n");
        let (hands, _, _) = real_hands(&relative.clusters[0], &relative);
        match &hands {
            Hands::Real(r) => assert!(r.lock_dir.is_err()),
            Hands::Sim(_) => panic!("real hands"),
        }
    }

    /// L10: a failover attached to a collector's facts (`--attach`) took
    /// the collector's cluster as it was, though its hands act on the
    /// local config's peers: another VIP, mode or peer there, and the plan
    /// would judge one cluster and act on another. Refused, naming the
    /// field, before anything is read or asked.
    #[tokio::test]
    async fn an_attached_failover_refuses_a_collector_with_another_cluster() {
        let config = config();
        let local = config.clusters[0].spec();
        type Change = fn(&mut crate::core::model::ClusterSpec);
        let changes: [(&str, Change); 6] = [
            ("vip", |s| s.vip = "192.0.2.99".into()),
            ("mode", |s| s.mode = crate::core::model::Mode::Eni),
            ("havip_id", |s| s.havip_id = Some("havip-other".into())),
            ("peers[1].address", |s| {
                s.peers[1].address = "root@192.0.2.66".into()
            }),
            ("peers[0].instance_id", |s| s.peers[0].instance_id = None),
            ("peers[1].network_interface_id", |s| {
                s.peers[1].network_interface_id = Some("eni-9".into())
            }),
        ];
        for (field, change) in changes {
            let mut spec = local.clone();
            change(&mut spec);
            let (_tx, rx) = mpsc::channel(8);
            let r = Executor::attach(
                &config,
                ClusterSnapshot::new(spec),
                rx,
                Settings::default(),
                Thresholds::default(),
                None,
            )
            .await;
            let e = match r {
                Ok(_) => panic!("{field}: attached to another cluster"),
                Err(e) => format!("{e:#}"),
            };
            assert!(e.contains(field), "{field}: {e}");
            assert!(e.contains("local config"), "{e}");
        }
        assert_eq!(spec_differs(&local, &local), None);
        let mut evil = local.clone();
        evil.vip = "\u{1b}[2J10.0.0.1".into();
        let said = spec_differs(&local, &evil).expect("differs");
        assert!(!said.contains('\u{1b}'), "{said}");
    }
}
