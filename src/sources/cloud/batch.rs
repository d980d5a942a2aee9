//! One poll of every cluster's cloud binding in as few calls as the API
//! allows: HAVIPs by id in one `DescribeHaVips`, HAVIPs known only by their
//! address in one more (the API refuses ids and filters together), and the
//! ENIs of every ENI-mode peer in one `DescribeNetworkInterfaces`. Lists
//! longer than one call takes are split, and each call pages.
//!
//! [`plan`] and [`assemble`] are pure; [`poll_bindings`] runs the plan.

use std::collections::BTreeSet;

use crate::core::model::{CloudBinding, ClusterSpec, Mode};

use super::client::VpcClient;
use crate::core::vpc::types::{
    binding_from_enis, binding_from_havip, Filter, HaVip, NetworkInterface,
};

/// Most ids one call takes (`NetworkInterfaceIds`, `HaVipIds`).
pub(crate) const MAX_IDS_PER_CALL: usize = 100;
/// Most values one `DescribeHaVips` filter takes.
pub(crate) const MAX_FILTER_VALUES: usize = 5;
/// The `DescribeHaVips` filter on the HAVIP's own address (`address-ip`
/// filters on the EIP bound to it).
pub(crate) const HAVIP_VIP_FILTER: &str = "vip";
/// The `DescribeNetworkInterfaces` filter on the attached instance.
pub(crate) const ENI_INSTANCE_FILTER: &str = "attachment.instance-id";

/// One call of a poll, before paging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedCall {
    HaVipsByIds(Vec<String>),
    HaVipsByVip(Vec<String>),
    EnisByIds(Vec<String>),
    EnisByInstance(Vec<String>),
}

impl PlannedCall {
    pub(crate) fn action(&self) -> &'static str {
        match self {
            PlannedCall::HaVipsByIds(_) | PlannedCall::HaVipsByVip(_) => "DescribeHaVips",
            PlannedCall::EnisByIds(_) | PlannedCall::EnisByInstance(_) => {
                "DescribeNetworkInterfaces"
            }
        }
    }
}

fn chunks(
    set: BTreeSet<String>,
    size: usize,
    make: fn(Vec<String>) -> PlannedCall,
) -> Vec<PlannedCall> {
    let all: Vec<String> = set.into_iter().collect();
    all.chunks(size).map(|c| make(c.to_vec())).collect()
}

/// The calls that answer for every cluster, ids deduplicated and sorted.
pub fn plan(clusters: &[ClusterSpec]) -> Vec<PlannedCall> {
    let mut havip_ids = BTreeSet::new();
    let mut havip_vips = BTreeSet::new();
    let mut eni_ids = BTreeSet::new();
    let mut instance_ids = BTreeSet::new();
    for c in clusters {
        match c.mode {
            Mode::Havip => match c.havip_id.as_deref().filter(|s| !s.is_empty()) {
                Some(id) => {
                    havip_ids.insert(id.to_string());
                }
                None => {
                    havip_vips.insert(c.vip.clone());
                }
            },
            Mode::Eni => {
                for p in &c.peers {
                    match (&p.network_interface_id, &p.instance_id) {
                        (Some(eni), _) if !eni.is_empty() => {
                            eni_ids.insert(eni.clone());
                        }
                        (_, Some(ins)) if !ins.is_empty() => {
                            instance_ids.insert(ins.clone());
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    let mut calls = chunks(havip_ids, MAX_IDS_PER_CALL, PlannedCall::HaVipsByIds);
    calls.extend(chunks(
        havip_vips,
        MAX_FILTER_VALUES,
        PlannedCall::HaVipsByVip,
    ));
    calls.extend(chunks(eni_ids, MAX_IDS_PER_CALL, PlannedCall::EnisByIds));
    calls.extend(chunks(
        instance_ids,
        MAX_FILTER_VALUES,
        PlannedCall::EnisByInstance,
    ));
    calls
}

/// The most calls one poll cycle makes per API and region (the API's rate
/// limits are per API): a fleet larger than that reads in rounds.
pub(crate) const MAX_CALLS_PER_CYCLE: usize = 2;

/// The clusters (indices into `clusters`) read together, round after round:
/// each round as many clusters as [`plan`] answers with at most
/// [`MAX_CALLS_PER_CYCLE`] calls per API. One round for up to 100 ENI
/// clusters and 200 HAVIPs; more for a larger fleet. HAVIP and ENI
/// clusters are packed apart (each needs one API only) and their rounds
/// zipped, so every call but each API's last is full: packed together in
/// file order, a round of 101 HAVIPs made a one-id call.
pub(crate) fn rounds(clusters: &[ClusterSpec]) -> Vec<Vec<usize>> {
    let (havips, enis): (Vec<usize>, Vec<usize>) =
        (0..clusters.len()).partition(|&i| clusters[i].mode == Mode::Havip);
    let havip_rounds = pack(clusters, &havips);
    let eni_rounds = pack(clusters, &enis);
    let n = havip_rounds.len().max(eni_rounds.len());
    (0..n)
        .map(|k| {
            let mut round: Vec<usize> =
                havip_rounds.get(k).into_iter().flatten().copied().collect();
            round.extend(eni_rounds.get(k).into_iter().flatten());
            round.sort_unstable();
            round
        })
        .collect()
}

/// `members` (indices into `clusters`) in order, cut into rounds that each
/// fit [`MAX_CALLS_PER_CYCLE`] calls per API.
fn pack(clusters: &[ClusterSpec], members: &[usize]) -> Vec<Vec<usize>> {
    let fits = |group: &[usize]| {
        let specs: Vec<ClusterSpec> = group.iter().map(|&i| clusters[i].clone()).collect();
        let calls = plan(&specs);
        ["DescribeHaVips", "DescribeNetworkInterfaces"]
            .iter()
            .all(|a| calls.iter().filter(|c| c.action() == *a).count() <= MAX_CALLS_PER_CYCLE)
    };
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for &i in members {
        current.push(i);
        // A cluster that alone needs more calls still gets a round.
        if current.len() > 1 && !fits(&current) {
            current.pop();
            out.push(std::mem::take(&mut current));
            current.push(i);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// What the calls of a plan returned, or why they failed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answers {
    pub(crate) havips: Vec<HaVip>,
    pub(crate) enis: Vec<NetworkInterface>,
    /// The error of a failed HAVIP call; clusters that needed it report it.
    pub(crate) havip_error: Option<String>,
    pub(crate) eni_error: Option<String>,
}

/// One result per cluster, in order.
pub(crate) fn assemble(
    clusters: &[ClusterSpec],
    answers: &Answers,
) -> Vec<Result<CloudBinding, String>> {
    clusters
        .iter()
        .map(|c| match c.mode {
            Mode::Havip => {
                if let Some(e) = &answers.havip_error {
                    return Err(e.clone());
                }
                let found = match c.havip_id.as_deref().filter(|s| !s.is_empty()) {
                    Some(id) => answers.havips.iter().find(|h| h.ha_vip_id == id),
                    None => answers.havips.iter().find(|h| h.vip == c.vip),
                };
                match (found, &c.havip_id) {
                    (Some(h), _) => Ok(binding_from_havip(h)),
                    (None, Some(id)) if !id.is_empty() => Err(format!("HAVIP {id} not found")),
                    (None, _) => Err(format!("no HAVIP with address {}", c.vip)),
                }
            }
            Mode::Eni => {
                if let Some(e) = &answers.eni_error {
                    return Err(e.clone());
                }
                let mine: Vec<NetworkInterface> = answers
                    .enis
                    .iter()
                    .filter(|e| {
                        c.peers.iter().any(|p| {
                            p.network_interface_id.as_deref()
                                == Some(e.network_interface_id.as_str())
                                || (p.network_interface_id.is_none()
                                    && p.instance_id.is_some()
                                    && e.attachment.as_ref().map(|a| a.instance_id.as_str())
                                        == p.instance_id.as_deref())
                        })
                    })
                    .cloned()
                    .collect();
                if mine.is_empty() {
                    return Err("none of the peers' ENIs was found".to_string());
                }
                Ok(binding_from_enis(&c.vip, &mine))
            }
        })
        .collect()
}

enum Fetched {
    HaVips(Vec<HaVip>),
    Enis(Vec<NetworkInterface>),
}

async fn run(client: &VpcClient, call: &PlannedCall) -> Result<Fetched, String> {
    let r = match call {
        PlannedCall::HaVipsByIds(ids) => client
            .describe_ha_vips_all(ids, &[])
            .await
            .map(Fetched::HaVips),
        PlannedCall::HaVipsByVip(vips) => client
            .describe_ha_vips_all(&[], &[Filter::new(HAVIP_VIP_FILTER, vips.clone())])
            .await
            .map(Fetched::HaVips),
        PlannedCall::EnisByIds(ids) => client
            .describe_network_interfaces_all(ids, &[])
            .await
            .map(Fetched::Enis),
        PlannedCall::EnisByInstance(ins) => client
            .describe_network_interfaces_all(&[], &[Filter::new(ENI_INSTANCE_FILTER, ins.clone())])
            .await
            .map(Fetched::Enis),
    };
    r.map_err(|e| e.to_string())
}

/// Asks the cloud where every cluster's VIP is bound, in batched calls run
/// side by side: a slow HAVIP answer does not hold up the ENI clusters.
pub async fn poll_bindings(
    client: &VpcClient,
    clusters: &[ClusterSpec],
) -> Vec<Result<CloudBinding, String>> {
    let calls = plan(clusters);
    let results = futures::future::join_all(calls.iter().map(|c| run(client, c))).await;
    let mut answers = Answers::default();
    for (call, result) in calls.iter().zip(results) {
        match result {
            Ok(Fetched::HaVips(v)) => answers.havips.extend(v),
            Ok(Fetched::Enis(v)) => answers.enis.extend(v),
            Err(e) => {
                let slot = match call.action() {
                    "DescribeHaVips" => &mut answers.havip_error,
                    _ => &mut answers.eni_error,
                };
                slot.get_or_insert(e);
            }
        }
    }
    assemble(clusters, &answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::PeerSpec;
    use crate::core::vpc::types::{NetworkInterfaceAttachment, PrivateIpAddressSpecification};

    fn peer(name: &str, eni: Option<&str>, ins: Option<&str>) -> PeerSpec {
        PeerSpec {
            name: name.into(),
            address: "sim".into(),
            network_interface_id: eni.map(str::to_string),
            instance_id: ins.map(str::to_string),
        }
    }

    fn cluster(
        name: &str,
        mode: Mode,
        vip: &str,
        havip: Option<&str>,
        enis: [&str; 2],
    ) -> ClusterSpec {
        ClusterSpec {
            name: name.into(),
            mode,
            vip: vip.into(),
            havip_id: havip.map(str::to_string),
            peers: [
                peer("a", Some(enis[0]), Some(&format!("ins-{}", enis[0]))),
                peer("b", Some(enis[1]), Some(&format!("ins-{}", enis[1]))),
            ],
        }
    }

    /// `n` clusters, HAVIP (even) and ENI (odd) alternating, each id unique.
    fn mixed_fleet(n: usize) -> Vec<ClusterSpec> {
        (0..n)
            .map(|i| {
                let (mode, havip) = if i % 2 == 0 {
                    (Mode::Havip, Some(format!("havip-{i:04}")))
                } else {
                    (Mode::Eni, None)
                };
                cluster(
                    &format!("c{i}"),
                    mode,
                    &format!("10.1.{}.{}", i / 200, i % 200),
                    havip.as_deref(),
                    [&format!("eni-{i:04}a"), &format!("eni-{i:04}b")],
                )
            })
            .collect()
    }

    #[test]
    fn one_call_per_kind_for_many_clusters() {
        let clusters = vec![
            cluster(
                "h1",
                Mode::Havip,
                "10.0.0.10",
                Some("havip-1"),
                ["eni-1", "eni-2"],
            ),
            cluster(
                "h2",
                Mode::Havip,
                "10.0.0.11",
                Some("havip-2"),
                ["eni-3", "eni-4"],
            ),
            cluster("h3", Mode::Havip, "10.0.0.12", None, ["eni-5", "eni-6"]),
            cluster("e1", Mode::Eni, "10.0.1.10", None, ["eni-7", "eni-8"]),
            cluster("e2", Mode::Eni, "10.0.1.11", None, ["eni-9", "eni-7"]),
        ];
        let p = plan(&clusters);
        assert_eq!(
            p,
            vec![
                PlannedCall::HaVipsByIds(vec!["havip-1".into(), "havip-2".into()]),
                PlannedCall::HaVipsByVip(vec!["10.0.0.12".into()]),
                PlannedCall::EnisByIds(vec!["eni-7".into(), "eni-8".into(), "eni-9".into()]),
            ]
        );
        assert_eq!(
            p.iter().filter(|c| c.action() == "DescribeHaVips").count(),
            2
        );
        assert_eq!(
            p.iter()
                .filter(|c| c.action() == "DescribeNetworkInterfaces")
                .count(),
            1
        );
    }

    #[test]
    fn splits_past_the_per_call_maximum() {
        let clusters: Vec<ClusterSpec> = (0..130)
            .map(|i| {
                cluster(
                    &format!("c{i}"),
                    Mode::Eni,
                    &format!("10.1.{}.{}", i / 200, i % 200),
                    None,
                    [&format!("eni-{i:03}a"), &format!("eni-{i:03}b")],
                )
            })
            .collect();
        let p = plan(&clusters);
        let sizes: Vec<usize> = p
            .iter()
            .map(|c| match c {
                PlannedCall::EnisByIds(v) => v.len(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(sizes, vec![100, 100, 60]);
        let vips: Vec<ClusterSpec> = (0..12)
            .map(|i| {
                cluster(
                    &format!("h{i}"),
                    Mode::Havip,
                    &format!("10.2.0.{i}"),
                    None,
                    ["x", "y"],
                )
            })
            .collect();
        let p = plan(&vips);
        assert_eq!(p.len(), 3, "12 addresses in filters of at most 5: {p:?}");
    }

    #[test]
    fn a_large_fleet_is_read_in_rounds_of_at_most_two_calls_per_api() {
        let clusters = mixed_fleet(300);
        let r = rounds(&clusters);
        assert!(r.len() >= 2, "300 clusters need more than one round");
        let mut seen: Vec<usize> = r.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..300).collect::<Vec<_>>(), "each cluster once");
        for round in &r {
            let specs: Vec<ClusterSpec> = round.iter().map(|&i| clusters[i].clone()).collect();
            let p = plan(&specs);
            for api in ["DescribeHaVips", "DescribeNetworkInterfaces"] {
                let n = p.iter().filter(|c| c.action() == api).count();
                assert!(n <= MAX_CALLS_PER_CYCLE, "{api}: {n} calls in a round");
            }
        }
        assert_eq!(rounds(&clusters[..100]).len(), 1, "100 clusters: one round");
        assert!(rounds(&[]).is_empty());
    }

    #[test]
    fn a_mixed_fleet_makes_no_partial_calls_but_the_last() {
        // 1,000 clusters, HAVIP and ENI alternating: 500 HAVIP ids need 5
        // calls, 1,000 ENI ids 10; a round that packs 101 HAVIPs made a
        // one-id call (100 + 1, then 49, ...).
        let clusters = mixed_fleet(1000);
        let mut sizes: std::collections::BTreeMap<&str, Vec<usize>> =
            std::collections::BTreeMap::new();
        for round in rounds(&clusters) {
            let specs: Vec<ClusterSpec> = round.iter().map(|&i| clusters[i].clone()).collect();
            for call in plan(&specs) {
                let n = match &call {
                    PlannedCall::HaVipsByIds(v)
                    | PlannedCall::HaVipsByVip(v)
                    | PlannedCall::EnisByIds(v)
                    | PlannedCall::EnisByInstance(v) => v.len(),
                };
                sizes.entry(call.action()).or_default().push(n);
            }
        }
        assert_eq!(sizes["DescribeHaVips"], vec![100; 5], "{sizes:?}");
        assert_eq!(
            sizes["DescribeNetworkInterfaces"],
            vec![100; 10],
            "{sizes:?}"
        );
    }

    #[test]
    fn peers_without_eni_are_found_by_instance() {
        let mut c = cluster("e", Mode::Eni, "10.0.0.5", None, ["eni-a", "eni-b"]);
        c.peers[1].network_interface_id = None;
        assert_eq!(
            plan(&[c.clone()]),
            vec![
                PlannedCall::EnisByIds(vec!["eni-a".into()]),
                PlannedCall::EnisByInstance(vec!["ins-eni-b".into()]),
            ]
        );
        let answers = Answers {
            enis: vec![NetworkInterface {
                network_interface_id: "eni-other".into(),
                private_ip_address_set: vec![PrivateIpAddressSpecification {
                    private_ip_address: "10.0.0.5".into(),
                    primary: false,
                }],
                attachment: Some(NetworkInterfaceAttachment {
                    instance_id: "ins-eni-b".into(),
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let b = assemble(&[c], &answers).remove(0).expect("bound");
        assert_eq!(b.network_interface_id.as_deref(), Some("eni-other"));
    }

    #[test]
    fn assemble_matches_results_to_clusters_in_order() {
        let clusters = vec![
            cluster("e1", Mode::Eni, "10.0.1.10", None, ["eni-7", "eni-8"]),
            cluster(
                "h1",
                Mode::Havip,
                "10.0.0.10",
                Some("havip-1"),
                ["eni-1", "eni-2"],
            ),
            cluster("h3", Mode::Havip, "10.0.0.12", None, ["eni-5", "eni-6"]),
            cluster(
                "h4",
                Mode::Havip,
                "10.0.0.13",
                Some("havip-gone"),
                ["eni-5", "eni-6"],
            ),
        ];
        let answers = Answers {
            havips: vec![
                HaVip {
                    ha_vip_id: "havip-3".into(),
                    vip: "10.0.0.12".into(),
                    network_interface_id: "eni-6".into(),
                    state: "AVAILABLE".into(),
                    ..Default::default()
                },
                HaVip {
                    ha_vip_id: "havip-1".into(),
                    vip: "10.0.0.10".into(),
                    network_interface_id: "eni-1".into(),
                    state: "AVAILABLE".into(),
                    ..Default::default()
                },
            ],
            enis: vec![
                NetworkInterface {
                    network_interface_id: "eni-8".into(),
                    private_ip_address_set: vec![PrivateIpAddressSpecification {
                        private_ip_address: "10.0.1.10".into(),
                        primary: false,
                    }],
                    ..Default::default()
                },
                NetworkInterface {
                    network_interface_id: "eni-7".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let r = assemble(&clusters, &answers);
        assert_eq!(
            r[0].as_ref().expect("e1").network_interface_id.as_deref(),
            Some("eni-8")
        );
        assert_eq!(
            r[1].as_ref().expect("h1").network_interface_id.as_deref(),
            Some("eni-1")
        );
        assert_eq!(
            r[2].as_ref().expect("h3").havip_id.as_deref(),
            Some("havip-3")
        );
        assert_eq!(
            r[3].as_ref().expect_err("gone"),
            "HAVIP havip-gone not found"
        );

        let failed = Answers {
            havip_error: Some("DescribeHaVips: RequestLimitExceeded".into()),
            ..answers
        };
        let r = assemble(&clusters, &failed);
        assert!(r[0].is_ok(), "an HAVIP failure does not hide ENI answers");
        assert!(r[1]
            .as_ref()
            .expect_err("failed call")
            .contains("RequestLimitExceeded"));
    }
}
