//! The executor's hands: what it does to the peers (the lock, keepalived,
//! the GARP, a line in each peer's log) and asks of the cloud (describe,
//! migrate, the task's end). [`Hands::Real`] runs the shell text of
//! [`super::scripts`] over each peer's long-lived shell and calls the VPC
//! API; [`Hands::Sim`] sends the same acts to the embedded simulator
//! (`vipdeck demo`, `failover --demo`, `vipdeck rehearse`). The executor
//! and the session are the same for both: only what the acts touch differs.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::core::config::ClusterConfig;
use crate::core::model::{CloudBinding, ClusterSpec};
use crate::core::vpc::types::{HaVip, NetworkInterface};
use crate::sources::cloud::VpcClient;
use crate::sources::simulator::{CloudAct, CloudAnswer, PeerAct, SimCommand};
use crate::sources::transport::{quote, Shell, Target, TransportError};

use super::lock::TakeOver;
use super::scripts;

/// What the executor does on a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PeerAction {
    LockRead,
    /// Reads the cluster's maintenance marker (beside the lock).
    MaintenanceRead,
    LockAcquire {
        content: String,
        take_over: Option<TakeOver>,
    },
    LockRelease {
        token: String,
    },
    Stop,
    Start,
    /// Re-announce the VIP from the peer's interface.
    Garp {
        vip: String,
    },
    /// Append `line` to the peer's log.
    Log {
        line: String,
    },
    /// The monitor's probe (without keepalived's dump), on the executor's
    /// own shell: a fact right after an act instead of at the next poll.
    /// Real peers only ([`Hands::can_probe`]).
    Probe,
}

/// A cloud call that failed: its words, and the API's code and RequestId
/// when the cloud answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloudFail {
    pub(crate) text: String,
    pub(crate) code: Option<String>,
    pub(crate) request_id: Option<String>,
}

/// The real peers and cloud.
pub(crate) struct Real {
    pub(crate) cluster: ClusterConfig,
    pub(crate) targets: [Target; 2],
    pub(crate) shells: [Option<Shell>; 2],
    pub(crate) cloud: Option<VpcClient>,
    pub(crate) cloud_error: Option<String>,
    /// The lock files' directory on the peers (`[failover] lock_dir`,
    /// `VIPDECK_LOCK_DIR`), or why the config's is not one.
    pub(crate) lock_dir: Result<String, String>,
}

/// The simulator's peers and cloud, for the cluster named `cluster`.
pub(crate) struct Sim {
    pub(crate) tx: mpsc::Sender<SimCommand>,
    pub(crate) cluster: String,
}

pub(crate) enum Hands {
    Real(Box<Real>),
    Sim(Sim),
}

impl Real {
    /// The shell text of an act on peer `i`.
    fn script(&self, i: usize, act: &PeerAction) -> String {
        let c = &self.cluster;
        let p = &c.peers[i];
        let lock = || match &self.lock_dir {
            Ok(dir) => Ok(crate::core::lockfile::lock_path_in(dir, &c.name)),
            Err(e) => Err(format!("printf 'ERROR %s\\n' {}", quote(e))),
        };
        match act {
            PeerAction::LockRead => lock().map_or_else(|e| e, |p| scripts::lock_read_at(&p)),
            PeerAction::MaintenanceRead => match &self.lock_dir {
                Ok(dir) => {
                    scripts::lock_read_at(&crate::core::lockfile::maintenance_path_in(dir, &c.name))
                }
                Err(e) => format!("printf 'ERROR %s\\n' {}", quote(e)),
            },
            PeerAction::LockAcquire { content, take_over } => lock().map_or_else(
                |e| e,
                |p| scripts::lock_acquire_at(&p, content, take_over.as_ref()),
            ),
            PeerAction::LockRelease { token } => {
                lock().map_or_else(|e| e, |p| scripts::lock_release_at(&p, token))
            }
            PeerAction::Stop => p.stop_cmd.clone(),
            PeerAction::Start => p.start_cmd.clone(),
            PeerAction::Garp { vip } => scripts::garp_command(&p.interface, vip),
            PeerAction::Log { line } => scripts::peer_log(&p.log_file.display().to_string(), line),
            PeerAction::Probe => crate::sources::probe::script(
                &crate::sources::probe::ProbePaths {
                    state_file: p.state_file.display().to_string(),
                    keepalived_conf: p.keepalived_conf.display().to_string(),
                    interface: p.interface.clone(),
                    pid_file: p.pid_file.display().to_string(),
                    json_dump: p.json_dump.display().to_string(),
                    data_dump: p.data_dump.display().to_string(),
                },
                &crate::sources::probe::ProbeWants {
                    dump: false,
                    known_conf_mtime: None,
                },
            ),
        }
    }
}

impl Sim {
    async fn ask<T>(&self, cmd: SimCommand, rx: oneshot::Receiver<T>) -> Option<T> {
        self.tx.send(cmd).await.ok()?;
        rx.await.ok()
    }

    async fn cloud(&self, act: CloudAct) -> Result<CloudAnswer, CloudFail> {
        let (reply, rx) = oneshot::channel();
        let cmd = SimCommand::Cloud {
            cluster: self.cluster.clone(),
            act,
            reply,
        };
        match self.ask(cmd, rx).await {
            Some(Ok(a)) => Ok(a),
            Some(Err(r)) => Err(CloudFail {
                text: format!("{}: {} (RequestId {})", r.code, r.message, r.request_id),
                code: Some(r.code),
                request_id: Some(r.request_id),
            }),
            None => Err(CloudFail {
                text: "the simulator has stopped".into(),
                code: None,
                request_id: None,
            }),
        }
    }
}

impl Hands {
    /// Does `act` on peer `i` (named `name`): its output and exit code, or
    /// why it could not be done.
    pub(crate) async fn peer(
        &mut self,
        i: usize,
        name: &str,
        act: PeerAction,
        timeout: Duration,
    ) -> Result<(String, i32), String> {
        match self {
            Hands::Real(r) => {
                let script = r.script(i, &act);
                run_shell(&mut r.shells[i], &r.targets[i], name, &script, timeout).await
            }
            Hands::Sim(s) => {
                let act = match act {
                    PeerAction::LockRead => PeerAct::LockRead,
                    PeerAction::LockAcquire { content, take_over } => PeerAct::LockAcquire {
                        content,
                        // The simulator's locks are its own: only tokens.
                        take_over: match take_over {
                            Some(TakeOver::Token(t)) => Some(t),
                            _ => None,
                        },
                    },
                    PeerAction::LockRelease { token } => PeerAct::LockRelease { token },
                    PeerAction::Stop => PeerAct::Stop,
                    PeerAction::Start => PeerAct::Start,
                    PeerAction::Garp { .. } => PeerAct::Garp,
                    PeerAction::Log { line } => PeerAct::Log { line },
                    // The simulator's peers hold no maintenance windows.
                    PeerAction::MaintenanceRead => return Ok(("FREE\n".into(), 0)),
                    PeerAction::Probe => {
                        return Err(format!("{name}: the simulator's facts come by themselves"))
                    }
                };
                let (reply, rx) = oneshot::channel();
                let cmd = SimCommand::Peer {
                    cluster: s.cluster.clone(),
                    peer: i,
                    act,
                    reply,
                };
                match tokio::time::timeout(timeout, s.ask(cmd, rx)).await {
                    Ok(Some(r)) => r,
                    Ok(None) => Err(format!("{name}: the simulator has stopped")),
                    Err(_) => Err(format!("{name}: no answer within {timeout:?}")),
                }
            }
        }
    }

    /// Does one act on each peer at once (`None` skips a peer).
    pub(crate) async fn both(
        &mut self,
        names: &[String; 2],
        acts: [Option<PeerAction>; 2],
        timeout: Duration,
    ) -> [Option<Result<(String, i32), String>>; 2] {
        match self {
            Hands::Real(r) => {
                let scripts = [0, 1].map(|i| acts[i].as_ref().map(|a| r.script(i, a)));
                let [s0, s1] = &mut r.shells;
                let [t0, t1] = &r.targets;
                let [c0, c1] = scripts;
                let f0 = async {
                    match c0 {
                        Some(c) => Some(run_shell(s0, t0, &names[0], &c, timeout).await),
                        None => None,
                    }
                };
                let f1 = async {
                    match c1 {
                        Some(c) => Some(run_shell(s1, t1, &names[1], &c, timeout).await),
                        None => None,
                    }
                };
                let (r0, r1) = tokio::join!(f0, f1);
                [r0, r1]
            }
            Hands::Sim(_) => {
                let [a0, a1] = acts;
                let r0 = match a0 {
                    Some(a) => Some(self.peer(0, &names[0], a, timeout).await),
                    None => None,
                };
                let r1 = match a1 {
                    Some(a) => Some(self.peer(1, &names[1], a, timeout).await),
                    None => None,
                };
                [r0, r1]
            }
        }
    }

    /// Closes the real hands' shells: after a command was cut short, one
    /// may still be running there, and its output must not be read as the
    /// next command's. They open again when next needed.
    pub(crate) async fn close_shells(&mut self) {
        if let Hands::Real(r) = self {
            for slot in &mut r.shells {
                if let Some(sh) = slot.take() {
                    sh.close().await;
                }
            }
        }
    }

    /// The cloud client the real hands call, or why there is none.
    pub(crate) fn set_cloud(
        &mut self,
        client: Result<VpcClient, crate::sources::cloud::CloudError>,
    ) {
        if let Hands::Real(r) = self {
            match client {
                Ok(c) => r.cloud = Some(c),
                Err(e) => r.cloud_error = Some(e.to_string()),
            }
        }
    }

    /// Why the cloud cannot be asked, if it cannot.
    pub(crate) fn cloud_error(&self) -> Option<String> {
        match self {
            Hands::Real(r) if r.cloud.is_none() => Some(r.cloud_error.clone().unwrap_or_default()),
            _ => None,
        }
    }

    /// The lock files' directory on the peers, as the plan shows it.
    pub(crate) fn lock_dir(&self) -> String {
        match self {
            Hands::Real(r) => r
                .lock_dir
                .clone()
                .unwrap_or_else(|_| crate::core::lockfile::lock_dir()),
            Hands::Sim(_) => crate::core::lockfile::lock_dir(),
        }
    }

    /// Whether [`PeerAction::Probe`] can be asked (real peers).
    pub(crate) fn can_probe(&self) -> bool {
        matches!(self, Hands::Real(_))
    }

    /// Whether there is a cloud to ask.
    pub(crate) fn has_cloud(&self) -> bool {
        self.cloud_error().is_none()
    }

    pub(crate) async fn describe_enis(
        &self,
        ids: &[String],
    ) -> Result<Vec<NetworkInterface>, CloudFail> {
        match self {
            Hands::Real(r) => match &r.cloud {
                Some(c) => c
                    .describe_network_interfaces_all(ids, &[])
                    .await
                    .map_err(fail),
                None => Err(no_cloud(r)),
            },
            Hands::Sim(s) => match s.cloud(CloudAct::Enis).await? {
                CloudAnswer::Enis(mut v) => {
                    v.retain(|e| ids.contains(&e.network_interface_id));
                    Ok(v)
                }
                other => Err(unexpected(&other)),
            },
        }
    }

    pub(crate) async fn describe_havips(&self, ids: &[String]) -> Result<Vec<HaVip>, CloudFail> {
        match self {
            Hands::Real(r) => match &r.cloud {
                Some(c) => c.describe_ha_vips_all(ids, &[]).await.map_err(fail),
                None => Err(no_cloud(r)),
            },
            Hands::Sim(s) => match s.cloud(CloudAct::HaVips).await? {
                CloudAnswer::HaVips(mut v) => {
                    v.retain(|h| ids.contains(&h.ha_vip_id));
                    Ok(v)
                }
                other => Err(unexpected(&other)),
            },
        }
    }

    /// The cluster's binding, read now.
    pub(crate) async fn binding(&self, spec: &ClusterSpec) -> Result<CloudBinding, CloudFail> {
        match self {
            Hands::Real(r) => match &r.cloud {
                Some(c) => crate::sources::cloud::poll_bindings(c, std::slice::from_ref(spec))
                    .await
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| Err("no answer".into()))
                    .map_err(|text| CloudFail {
                        text,
                        code: None,
                        request_id: None,
                    }),
                None => Err(no_cloud(r)),
            },
            Hands::Sim(s) => match s.cloud(CloudAct::Binding).await? {
                CloudAnswer::Binding(b) => Ok(b),
                other => Err(unexpected(&other)),
            },
        }
    }

    /// MigratePrivateIpAddress of `vip` from ENI `from` to ENI `to`: the
    /// RequestId to wait for.
    pub(crate) async fn migrate(
        &self,
        from: &str,
        to: &str,
        vip: &str,
    ) -> Result<String, CloudFail> {
        match self {
            Hands::Real(r) => match &r.cloud {
                Some(c) => c.migrate_private_ip(from, to, vip).await.map_err(fail),
                None => Err(no_cloud(r)),
            },
            Hands::Sim(s) => match s
                .cloud(CloudAct::Migrate {
                    to_eni: to.to_string(),
                })
                .await?
            {
                CloudAnswer::RequestId(id) => Ok(id),
                other => Err(unexpected(&other)),
            },
        }
    }

    /// Waits for the migration `request_id` to `to_eni` to end: whether it
    /// succeeded, and the task's output.
    pub(crate) async fn wait_task(
        &self,
        request_id: &str,
        spec: &ClusterSpec,
        to_eni: &str,
        timeout: Duration,
    ) -> Result<(bool, Option<String>), CloudFail> {
        match self {
            Hands::Real(r) => match &r.cloud {
                Some(c) => c
                    .wait_task(request_id, timeout)
                    .await
                    .map(|t| (t.succeeded(), t.output))
                    .map_err(fail),
                None => Err(no_cloud(r)),
            },
            // The simulated task ends when the VIP is on the ENI.
            Hands::Sim(_) => {
                let until = tokio::time::Instant::now() + timeout;
                loop {
                    let b = self.binding(spec).await?;
                    if b.network_interface_id.as_deref() == Some(to_eni) {
                        return Ok((true, None));
                    }
                    if tokio::time::Instant::now() >= until {
                        return Err(CloudFail {
                            text: format!("task {request_id} still RUNNING after {timeout:?}"),
                            code: None,
                            request_id: None,
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }
}

fn fail(e: crate::sources::cloud::CloudError) -> CloudFail {
    CloudFail {
        text: e.to_string(),
        code: e.code().map(str::to_string),
        request_id: e.request_id().map(str::to_string),
    }
}

fn no_cloud(r: &Real) -> CloudFail {
    CloudFail {
        text: format!(
            "no cloud client: {}",
            r.cloud_error.clone().unwrap_or_default()
        ),
        code: None,
        request_id: None,
    }
}

fn unexpected(a: &CloudAnswer) -> CloudFail {
    CloudFail {
        text: format!("unexpected answer from the simulator: {a:?}"),
        code: None,
        request_id: None,
    }
}

/// Runs `script` over a peer's long-lived shell, opening it when needed;
/// a failed shell is dropped so the next command opens a new one.
async fn run_shell(
    slot: &mut Option<Shell>,
    target: &Target,
    name: &str,
    script: &str,
    timeout: Duration,
) -> Result<(String, i32), String> {
    // A shell that was open may have died under us (Ctrl-C at the terminal
    // reaches the ssh children too): one retry on a new connection. Never
    // after a timeout, when the command may still be running.
    for attempt in 0..2 {
        let reused = slot.is_some();
        if slot.is_none() {
            *slot = Some(open_shell(target, name, timeout).await?);
        }
        let Some(sh) = slot.as_mut() else {
            return Err("no shell".into());
        };
        match sh.run(script, timeout).await {
            Ok(r) => return Ok(r),
            Err(e) => {
                if let Some(sh) = slot.take() {
                    sh.close().await;
                }
                let died = matches!(e, TransportError::Closed(_) | TransportError::Io(_));
                if !(reused && died && attempt == 0) {
                    return Err(format!("{name}: {e}"));
                }
            }
        }
    }
    Err(format!("{name}: the connection keeps closing"))
}

async fn open_shell(target: &Target, name: &str, timeout: Duration) -> Result<Shell, String> {
    tokio::time::timeout(timeout, async {
        let mut sh = Shell::spawn(target).await.map_err(|e| e.to_string())?;
        match sh.run("echo ok", timeout).await {
            Ok((o, _)) if o.trim() == "ok" => Ok(sh),
            Ok((o, c)) => {
                sh.close().await;
                Err(format!("exit {c}: {}", o.trim()))
            }
            Err(e) => {
                sh.close().await;
                Err(e.to_string())
            }
        }
    })
    .await
    .map_err(|_| format!("no answer within {timeout:?}"))
    .and_then(|r| r)
    .map_err(|e| format!("{name} ({}): {e}", target.describe()))
}
