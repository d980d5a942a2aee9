//! The executor and the cloud: the first read (the client, its
//! credentials and the binding, beside the first probes), the fast reads
//! while a step waits on the binding, and whether the target may hold
//! the VIP at all.

use chrono::{DateTime, Utc};

use crate::core::config::CloudConfig;
use crate::core::model::{CloudBinding, ClusterSpec, Mode, Update};
use crate::sources::cloud::{CloudError, VpcClient};

use super::Executor;

/// The cloud client (credentials, endpoint) and a first read of `spec`'s
/// binding, with when it was asked.
pub(super) async fn cloud_first(
    cloud: &CloudConfig,
    region: &str,
    spec: &ClusterSpec,
) -> (
    Result<VpcClient, CloudError>,
    Option<(DateTime<Utc>, Result<CloudBinding, String>)>,
) {
    let client = crate::sources::cloud::connect(cloud, region).await;
    let read = match &client {
        Ok(c) => {
            let sent = Utc::now();
            crate::sources::cloud::poll_bindings(c, std::slice::from_ref(spec))
                .await
                .into_iter()
                .next()
                .map(|r| (sent, r))
        }
        Err(_) => None,
    };
    (client, read)
}

impl Executor {
    /// Reads the cloud's binding now and folds it in (a failed read is
    /// left to the watch, which reports it).
    pub(super) async fn read_cloud_now(&mut self) {
        let spec = self.cluster.spec();
        let sent = Utc::now();
        if let Ok(b) = self.hands.binding(&spec).await {
            self.learn(Update::Cloud {
                cluster: 0,
                at: sent,
                result: Ok(b),
                credential_source: None,
            });
        }
    }

    /// Asks the cloud whether `target` may hold the VIP.
    pub(crate) async fn target_allowed(&self, target: usize) -> Option<Result<(), String>> {
        if !self.hands.has_cloud() {
            return None;
        }
        let client = &self.hands;
        let c = &self.cluster;
        let tp = &c.peers[target];
        let binding = self
            .snapshot()
            .cloud
            .binding
            .as_ref()
            .map(|b| b.value.clone())?;
        match c.mode {
            Mode::Eni => {
                let t_eni = tp.network_interface_id.clone()?;
                let b_eni = binding.network_interface_id.clone()?;
                if t_eni == b_eni {
                    return Some(Ok(()));
                }
                let enis = client
                    .describe_enis(&[t_eni.clone(), b_eni.clone()])
                    .await
                    .ok()?;
                let subnet = |id: &str| {
                    enis.iter()
                        .find(|e| e.network_interface_id == id)
                        .map(|e| e.subnet_id.clone())
                };
                match (subnet(&t_eni), subnet(&b_eni)) {
                    (Some(a), Some(b)) if a == b => Some(Ok(())),
                    (Some(a), Some(b)) => Some(Err(format!(
                        "{}'s ENI {t_eni} is in {a}, the bound ENI {b_eni} in {b}: \
                         MigratePrivateIpAddress only moves an IP within a subnet",
                        tp.name
                    ))),
                    (None, _) => Some(Err(format!(
                        "the cloud does not know {}'s ENI {t_eni}",
                        tp.name
                    ))),
                    _ => None,
                }
            }
            Mode::Havip => {
                let id = c.havip_id.clone().or(binding.havip_id.clone())?;
                let havips = client
                    .describe_havips(std::slice::from_ref(&id))
                    .await
                    .ok()?;
                let h = havips.into_iter().find(|h| h.ha_vip_id == id)?;
                if !h.check_associate {
                    return Some(Ok(()));
                }
                let ins = tp.instance_id.clone()?;
                if h.ha_vip_association_set
                    .iter()
                    .any(|a| a.instance_id == ins)
                {
                    Some(Ok(()))
                } else {
                    Some(Err(format!(
                        "{} ({ins}) is outside the drift range of {id} (CheckAssociate)",
                        tp.name
                    )))
                }
            }
        }
    }
}
