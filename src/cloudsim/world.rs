//! The emulated VPC: its objects (the world file) and the checks that make a
//! world consistent. Pure data; behaviour over time lives in `sim.rs`.

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::core::vpc::types::{HaVip, NetworkInterface};

/// What the real API reports as the `FlushedTime` of an HAVIP never rebound.
pub(crate) const NEVER_FLUSHED: &str = "0000-00-00 00:00:00";

/// A secret (SecretKey or session token) from the world file. It can be
/// used for signing checks but never shows up in Debug output or in the
/// world served by the admin endpoint.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// An API key the emulator accepts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiKey {
    pub secret_id: String,
    pub secret_key: Secret,
    /// Temporary keys (CVM role, STS) come with a token that must be sent as
    /// `X-TC-Token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) token: Option<Secret>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Vpc {
    pub(crate) vpc_id: String,
    pub(crate) vpc_name: String,
    pub(crate) cidr_block: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Subnet {
    pub(crate) subnet_id: String,
    pub(crate) subnet_name: String,
    pub(crate) vpc_id: String,
    pub(crate) cidr_block: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Instance {
    pub instance_id: String,
    pub(crate) instance_name: String,
}

/// The whole emulated region. Field names follow the API's PascalCase.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct World {
    #[serde(default = "default_region")]
    pub region: String,
    pub keys: Vec<ApiKey>,
    #[serde(default)]
    pub(crate) vpcs: Vec<Vpc>,
    #[serde(default)]
    pub(crate) subnets: Vec<Subnet>,
    #[serde(default)]
    pub instances: Vec<Instance>,
    #[serde(default)]
    pub(crate) network_interfaces: Vec<NetworkInterface>,
    #[serde(default)]
    pub ha_vips: Vec<HaVip>,
}

fn default_region() -> String {
    "ap-guangzhou".to_string()
}

/// An IPv4 CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: u32,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, len) = s.trim().split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = len.parse().ok()?;
        if prefix > 32 {
            return None;
        }
        let net = u32::from(addr) & Self::mask(prefix);
        Some(Cidr {
            network: net,
            prefix,
        })
    }

    fn mask(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        }
    }

    pub(crate) fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask(self.prefix) == self.network
    }

    pub(crate) fn contains_cidr(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(Ipv4Addr::from(other.network))
    }
}

/// `52:54:00:12:34:56`: six hex pairs separated by colons.
pub(crate) fn valid_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn unique<'a>(what: &str, ids: impl Iterator<Item = &'a str>) -> anyhow::Result<()> {
    let mut seen = HashSet::new();
    for id in ids {
        if id.is_empty() {
            bail!("a {what} has an empty id");
        }
        if !seen.insert(id) {
            bail!("{what} {id} appears twice");
        }
    }
    Ok(())
}

impl World {
    /// Parses a world file and checks it; see [`World::check`].
    pub fn from_json(text: &str) -> anyhow::Result<World> {
        let mut w: World = serde_json::from_str(text)
            .context("world file is not valid JSON of the expected shape")?;
        w.check()?;
        Ok(w)
    }

    pub(crate) fn eni(&self, id: &str) -> Option<&NetworkInterface> {
        self.network_interfaces
            .iter()
            .find(|e| e.network_interface_id == id)
    }

    pub(crate) fn eni_mut(&mut self, id: &str) -> Option<&mut NetworkInterface> {
        self.network_interfaces
            .iter_mut()
            .find(|e| e.network_interface_id == id)
    }

    pub fn key(&self, secret_id: &str) -> Option<&ApiKey> {
        self.keys.iter().find(|k| k.secret_id == secret_id)
    }

    /// Checks that the world is one the real VPC could hold, and fills in
    /// what follows from the rest (an ENI's VpcId from its subnet, an
    /// HAVIP's InstanceId and State from its ENI). Errors name the object.
    pub(crate) fn check(&mut self) -> anyhow::Result<()> {
        if self.keys.is_empty() {
            bail!("the world has no Keys: no request could ever be signed");
        }
        unique("key", self.keys.iter().map(|k| k.secret_id.as_str()))?;
        unique("VPC", self.vpcs.iter().map(|v| v.vpc_id.as_str()))?;
        unique("subnet", self.subnets.iter().map(|s| s.subnet_id.as_str()))?;
        unique(
            "instance",
            self.instances.iter().map(|i| i.instance_id.as_str()),
        )?;
        unique(
            "network interface",
            self.network_interfaces
                .iter()
                .map(|e| e.network_interface_id.as_str()),
        )?;
        unique("HAVIP", self.ha_vips.iter().map(|h| h.ha_vip_id.as_str()))?;

        let mut vpc_cidrs = Vec::new();
        for v in &self.vpcs {
            let c = Cidr::parse(&v.cidr_block).with_context(|| {
                format!(
                    "VPC {}: CidrBlock {:?} is not an IPv4 CIDR",
                    v.vpc_id, v.cidr_block
                )
            })?;
            vpc_cidrs.push((v.vpc_id.clone(), c));
        }
        let mut subnet_cidrs = Vec::new();
        for s in &self.subnets {
            let c = Cidr::parse(&s.cidr_block).with_context(|| {
                format!(
                    "subnet {}: CidrBlock {:?} is not an IPv4 CIDR",
                    s.subnet_id, s.cidr_block
                )
            })?;
            let Some((_, vc)) = vpc_cidrs.iter().find(|(id, _)| *id == s.vpc_id) else {
                bail!(
                    "subnet {}: VpcId {:?} is not a VPC of this world",
                    s.subnet_id,
                    s.vpc_id
                );
            };
            if !vc.contains_cidr(&c) {
                bail!(
                    "subnet {}: {} is outside its VPC's CIDR",
                    s.subnet_id,
                    s.cidr_block
                );
            }
            subnet_cidrs.push((s.subnet_id.clone(), s.vpc_id.clone(), c));
        }
        let subnet_of = |id: &str| subnet_cidrs.iter().find(|(s, _, _)| s == id).cloned();
        let instance_ids: HashSet<String> = self
            .instances
            .iter()
            .map(|i| i.instance_id.clone())
            .collect();

        let mut macs = HashSet::new();
        let mut ips = HashSet::new();
        for e in &mut self.network_interfaces {
            let id = e.network_interface_id.clone();
            let Some((_, vpc, cidr)) = subnet_of(&e.subnet_id) else {
                bail!(
                    "network interface {id}: SubnetId {:?} is not a subnet of this world",
                    e.subnet_id
                );
            };
            if e.vpc_id.is_empty() {
                e.vpc_id = vpc.clone();
            } else if e.vpc_id != vpc {
                bail!(
                    "network interface {id}: VpcId {} is not the VPC of its subnet ({vpc})",
                    e.vpc_id
                );
            }
            if !valid_mac(&e.mac_address) {
                bail!(
                    "network interface {id}: MacAddress {:?} is not like 52:54:00:12:34:56",
                    e.mac_address
                );
            }
            e.mac_address = e.mac_address.to_ascii_lowercase();
            if !macs.insert(e.mac_address.clone()) {
                bail!(
                    "network interface {id}: MacAddress {} is used twice",
                    e.mac_address
                );
            }
            let primaries = e
                .private_ip_address_set
                .iter()
                .filter(|p| p.primary)
                .count();
            if primaries != 1 {
                bail!(
                    "network interface {id}: needs exactly one Primary private IP, has {primaries}"
                );
            }
            for p in &e.private_ip_address_set {
                let ip: Ipv4Addr = p.private_ip_address.parse().with_context(|| {
                    format!(
                        "network interface {id}: {:?} is not an IPv4 address",
                        p.private_ip_address
                    )
                })?;
                if !cidr.contains(ip) {
                    bail!(
                        "network interface {id}: {ip} is outside subnet {}",
                        e.subnet_id
                    );
                }
                if !ips.insert((vpc.clone(), ip)) {
                    bail!("network interface {id}: {ip} is already used in {vpc}");
                }
            }
            if let Some(a) = &e.attachment {
                if !a.instance_id.is_empty() && !instance_ids.contains(&a.instance_id) {
                    bail!(
                        "network interface {id}: attached to unknown instance {}",
                        a.instance_id
                    );
                }
            }
            if e.state.is_empty() {
                e.state = "AVAILABLE".to_string();
            }
        }

        let enis = self.network_interfaces.clone();
        for h in &mut self.ha_vips {
            let id = h.ha_vip_id.clone();
            let Some((_, vpc, cidr)) = subnet_of(&h.subnet_id) else {
                bail!(
                    "HAVIP {id}: SubnetId {:?} is not a subnet of this world",
                    h.subnet_id
                );
            };
            if h.vpc_id.is_empty() {
                h.vpc_id = vpc.clone();
            } else if h.vpc_id != vpc {
                bail!(
                    "HAVIP {id}: VpcId {} is not the VPC of its subnet ({vpc})",
                    h.vpc_id
                );
            }
            let vip: Ipv4Addr = h
                .vip
                .parse()
                .with_context(|| format!("HAVIP {id}: Vip {:?} is not an IPv4 address", h.vip))?;
            if !cidr.contains(vip) {
                bail!("HAVIP {id}: Vip {vip} is outside subnet {}", h.subnet_id);
            }
            if !ips.insert((vpc.clone(), vip)) {
                bail!("HAVIP {id}: Vip {vip} is already used in {vpc}");
            }
            if h.network_interface_id.is_empty() {
                h.instance_id.clear();
                h.state = "UNBIND".to_string();
            } else {
                let Some(e) = enis
                    .iter()
                    .find(|e| e.network_interface_id == h.network_interface_id)
                else {
                    bail!(
                        "HAVIP {id}: bound to unknown network interface {}",
                        h.network_interface_id
                    );
                };
                if e.subnet_id != h.subnet_id {
                    bail!(
                        "HAVIP {id}: bound to {} in another subnet",
                        h.network_interface_id
                    );
                }
                h.instance_id = e
                    .attachment
                    .as_ref()
                    .map(|a| a.instance_id.clone())
                    .unwrap_or_default();
                h.state = "AVAILABLE".to_string();
            }
            if h.flushed_time.is_empty() {
                h.flushed_time = NEVER_FLUSHED.to_string();
            }
            for a in &mut h.ha_vip_association_set {
                a.ha_vip_id = id.clone();
                if a.instance_type.is_empty() {
                    a.instance_type = "CVM".to_string();
                }
                if a.instance_type != "CVM" && a.instance_type != "ENI" {
                    bail!(
                        "HAVIP {id}: association InstanceType must be CVM or ENI, not {}",
                        a.instance_type
                    );
                }
            }
        }
        Ok(())
    }
}

/// The documented example world (docs/cloudsim.md). Addresses come from the
/// documentation range 192.0.2.0/24 so the lab's network namespaces can use
/// them as they are.
pub const EXAMPLE_WORLD: &str = include_str!("example_world.json");

pub fn example_world() -> anyhow::Result<World> {
    World::from_json(EXAMPLE_WORLD).context("built-in example world")
}

/// Clusters that fit in one generated VPC: three addresses each in a /24.
const CLUSTERS_PER_VPC: usize = 84;
const GENERATED_RANGES: [[u8; 3]; 3] = [[192, 0, 2], [198, 51, 100], [203, 0, 113]];
/// Generated VPCs: the documentation ranges again in further VPCs (a VPC's
/// addresses only need to be unique within it).
const GENERATED_VPCS: usize = 6;

/// A world of `clusters` keepalived pairs, for batching and paging tests
/// (more than the 100 objects one Describe call returns). Cluster `i`
/// (from 0) has instances `ins-g{i:05}a`/`b` with ENIs `eni-g{i:05}a`/`b`;
/// even clusters are HAVIP pairs (`havip-g{i:07}`, bound to side a, drift
/// range both instances), odd ones ENI pairs whose VIP is a secondary IP
/// of side a. Up to 504 clusters, 84 per VPC, each VPC in a documentation
/// range (the three ranges are used twice, in different VPCs).
/// The keys are those of the example world.
pub fn generated_world(clusters: usize) -> anyhow::Result<World> {
    use crate::core::vpc::types::{
        HaVipAssociation, NetworkInterfaceAttachment, PrivateIpAddressSpecification,
    };
    if clusters > CLUSTERS_PER_VPC * GENERATED_VPCS {
        bail!(
            "at most {} generated clusters",
            CLUSTERS_PER_VPC * GENERATED_VPCS
        );
    }
    let mut w = example_world()?;
    w.vpcs.clear();
    w.subnets.clear();
    w.instances.clear();
    w.network_interfaces.clear();
    w.ha_vips.clear();
    for i in 0..clusters {
        let (v, slot) = (i / CLUSTERS_PER_VPC, i % CLUSTERS_PER_VPC);
        let [a, b, c] = GENERATED_RANGES[v % GENERATED_RANGES.len()];
        let (vpc_id, subnet_id) = (format!("vpc-gen{v:05}"), format!("subnet-gen{v:05}"));
        if slot == 0 {
            w.vpcs.push(Vpc {
                vpc_id: vpc_id.clone(),
                vpc_name: format!("generated-{v}"),
                cidr_block: format!("{a}.{b}.{c}.0/24"),
            });
            w.subnets.push(Subnet {
                subnet_id: subnet_id.clone(),
                subnet_name: format!("generated-{v}"),
                vpc_id: vpc_id.clone(),
                cidr_block: format!("{a}.{b}.{c}.0/24"),
            });
        }
        let ip = |k: usize| format!("{a}.{b}.{c}.{}", 1 + slot * 3 + k);
        let vip = ip(0);
        let havip_mode = i % 2 == 0;
        for (k, side) in ["a", "b"].iter().enumerate() {
            let ins = format!("ins-g{i:05}{side}");
            w.instances.push(Instance {
                instance_id: ins.clone(),
                instance_name: format!("c{i}-{side}"),
            });
            let mut ips = vec![PrivateIpAddressSpecification {
                private_ip_address: ip(1 + k),
                primary: true,
            }];
            if !havip_mode && k == 0 {
                ips.push(PrivateIpAddressSpecification {
                    private_ip_address: vip.clone(),
                    primary: false,
                });
            }
            w.network_interfaces.push(NetworkInterface {
                network_interface_id: format!("eni-g{i:05}{side}"),
                network_interface_name: format!("c{i}-{side} eth0"),
                subnet_id: subnet_id.clone(),
                mac_address: format!("52:54:01:{:02x}:{:02x}:{:02x}", i / 256, i % 256, k + 1),
                primary: true,
                private_ip_address_set: ips,
                attachment: Some(NetworkInterfaceAttachment { instance_id: ins }),
                ..Default::default()
            });
        }
        if havip_mode {
            w.ha_vips.push(HaVip {
                ha_vip_id: format!("havip-g{i:07}"),
                ha_vip_name: format!("c{i}"),
                subnet_id: subnet_id.clone(),
                vip,
                network_interface_id: format!("eni-g{i:05}a"),
                check_associate: true,
                ha_vip_association_set: ["a", "b"]
                    .iter()
                    .map(|side| HaVipAssociation {
                        instance_id: format!("ins-g{i:05}{side}"),
                        instance_type: "CVM".to_string(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            });
        }
    }
    w.check()?;
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_world_is_consistent() {
        let w = example_world().expect("example world loads");
        assert!(w.keys.len() >= 2);
        let h = &w.ha_vips[0];
        assert_eq!(h.state, "AVAILABLE");
        assert!(!h.instance_id.is_empty());
        assert_eq!(h.flushed_time, NEVER_FLUSHED);
        assert_eq!(h.ha_vip_association_set[0].ha_vip_id, h.ha_vip_id);
    }

    #[test]
    fn secrets_stay_hidden() {
        let w = example_world().expect("example world loads");
        let key = w.keys[0].secret_key.expose().to_string();
        assert!(!key.is_empty());
        let debug = format!("{w:?}");
        let json = serde_json::to_string(&w).expect("serializes");
        assert!(!debug.contains(&key));
        assert!(!json.contains(&key));
        assert!(json.contains("\"SecretKey\":\"***\""));
    }

    #[test]
    fn generated_worlds_are_consistent_and_large() {
        let w = generated_world(250).expect("generates");
        assert_eq!(w.network_interfaces.len(), 500);
        assert_eq!(w.ha_vips.len(), 125);
        assert_eq!(w.vpcs.len(), 3);
        assert_eq!(w.ha_vips[3].network_interface_id, "eni-g00006a");
        assert_eq!(w.ha_vips[3].instance_id, "ins-g00006a");
        let eni_vip = &w.network_interfaces[2].private_ip_address_set;
        assert_eq!(
            eni_vip.len(),
            2,
            "odd clusters carry the VIP as a secondary IP"
        );
        let big = generated_world(300).expect("300 pairs in four VPCs");
        assert_eq!(big.vpcs.len(), 4);
        assert_eq!(big.vpcs[3].cidr_block, big.vpcs[0].cidr_block);
        assert!(generated_world(504).is_ok());
        assert!(generated_world(505).is_err());
        assert!(generated_world(0).is_ok());
    }

    #[test]
    fn cidr_math() {
        let c = Cidr::parse("192.0.2.0/26").expect("parses");
        assert!(c.contains("192.0.2.63".parse().expect("ip")));
        assert!(!c.contains("192.0.2.64".parse().expect("ip")));
        let big = Cidr::parse("192.0.2.0/24").expect("parses");
        assert!(big.contains_cidr(&c));
        assert!(!c.contains_cidr(&big));
        assert!(Cidr::parse("192.0.2.0/33").is_none());
        assert!(Cidr::parse("192.0.2.0").is_none());
    }

    fn broken(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE_WORLD).expect("json");
        edit(&mut v);
        match World::from_json(&v.to_string()) {
            Ok(_) => "accepted".to_string(),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn bad_worlds_are_refused_with_the_object_named() {
        let e = broken(|v| v["NetworkInterfaces"][0]["MacAddress"] = "52:54:zz:00:00:01".into());
        assert!(e.contains("MacAddress"), "{e}");
        let e = broken(|v| {
            v["NetworkInterfaces"][0]["PrivateIpAddressSet"][0]["PrivateIpAddress"] =
                "198.51.100.7".into()
        });
        assert!(e.contains("outside subnet"), "{e}");
        let e = broken(|v| v["HaVips"][0]["NetworkInterfaceId"] = "eni-nothere1".into());
        assert!(e.contains("unknown network interface"), "{e}");
        let e = broken(|v| v["Keys"] = serde_json::json!([]));
        assert!(e.contains("no Keys"), "{e}");
        let e = broken(|v| {
            let first = v["NetworkInterfaces"][0].clone();
            v["NetworkInterfaces"]
                .as_array_mut()
                .expect("array")
                .push(first);
        });
        assert!(e.contains("appears twice"), "{e}");
        let e = broken(|v| {
            v["HaVips"][0]["Vip"] =
                v["NetworkInterfaces"][0]["PrivateIpAddressSet"][0]["PrivateIpAddress"].clone()
        });
        assert!(e.contains("already used"), "{e}");
    }
}
