//! The VPC client against `vipdeck cloudsim`, in process, over real HTTP:
//! batched describe, migration polled to SUCCESS and to FAILED, throttling
//! retried then surfaced, wrong keys refused.

use std::time::Duration;

use vipdeck::cloudsim::{example_world, start, Config};
use vipdeck::core::model::{ClusterSpec, Mode, PeerSpec};
use vipdeck::core::vpc::types::TaskStatus;
use vipdeck::sources::cloud::client::{ClientConfig, RetryPolicy, VpcClient};
use vipdeck::sources::cloud::credentials::{CredentialProvider, CredentialSource, Credentials};
use vipdeck::sources::cloud::poll_bindings;

const ID: &str = "AKIDcloudsimEXAMPLEid000000000000001";
const KEY: &str = "cloudsimEXAMPLEkey00000000000001";

fn client(url: &str, id: &str, key: &str) -> VpcClient {
    let mut cfg = ClientConfig::new(url, "ap-guangzhou");
    cfg.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    };
    cfg.task_poll_interval = Duration::from_millis(100);
    VpcClient::new(
        cfg,
        CredentialProvider::fixed(Credentials::new(
            id,
            key,
            None,
            CredentialSource::Static("test".into()),
        )),
    )
    .expect("client")
}

fn peer(name: &str, eni: &str, ins: &str) -> PeerSpec {
    PeerSpec {
        name: name.into(),
        address: "sim".into(),
        network_interface_id: Some(eni.into()),
        instance_id: Some(ins.into()),
    }
}

fn clusters() -> Vec<ClusterSpec> {
    vec![
        ClusterSpec {
            name: "web".into(),
            mode: Mode::Havip,
            vip: "192.0.2.10".into(),
            havip_id: Some("havip-web00001".into()),
            peers: [
                peer("web-1", "eni-web00001", "ins-web00001"),
                peer("web-2", "eni-web00002", "ins-web00002"),
            ],
        },
        ClusterSpec {
            name: "web-by-vip".into(),
            mode: Mode::Havip,
            vip: "192.0.2.10".into(),
            havip_id: None,
            peers: [
                peer("web-1", "eni-web00001", "ins-web00001"),
                peer("web-2", "eni-web00002", "ins-web00002"),
            ],
        },
        ClusterSpec {
            name: "api".into(),
            mode: Mode::Eni,
            vip: "192.0.2.20".into(),
            havip_id: None,
            peers: [
                peer("api-1", "eni-api00001", "ins-api00001"),
                peer("api-2", "eni-api00002", "ins-api00002"),
            ],
        },
    ]
}

#[tokio::test]
async fn batched_describe_then_migration_to_success() {
    let mut cfg = Config::new(example_world().expect("world"));
    cfg.timing.migration_delay = chrono::Duration::milliseconds(300);
    let sim = start("127.0.0.1:0", cfg).await.expect("cloudsim");
    let c = client(&sim.url(), ID, KEY);
    let specs = clusters();

    let r = poll_bindings(&c, &specs).await;
    let peers: Vec<Option<usize>> = specs
        .iter()
        .zip(&r)
        .map(|(s, b)| s.peer_of_binding(b.as_ref().expect("binding")))
        .collect();
    assert_eq!(peers, vec![Some(0), Some(0), Some(0)], "{r:?}");
    assert_eq!(
        r[0].as_ref().expect("web").state.as_deref(),
        Some("AVAILABLE")
    );

    let id = c
        .migrate_private_ip("eni-api00001", "eni-api00002", "192.0.2.20")
        .await
        .expect("migration starts");
    let done = c
        .wait_task(&id, Duration::from_secs(10))
        .await
        .expect("ends");
    assert_eq!(done.status, TaskStatus::Success, "{done:?}");
    assert!(done.polls >= 2, "asynchronous: polled {} times", done.polls);

    let r = poll_bindings(&c, &specs).await;
    assert_eq!(
        specs[2].peer_of_binding(r[2].as_ref().expect("api")),
        Some(1)
    );
    sim.shutdown().await.expect("stops");
}

#[tokio::test]
async fn a_failed_migration_is_reported_as_failed() {
    let mut cfg = Config::new(example_world().expect("world"));
    cfg.timing.migration_delay = chrono::Duration::milliseconds(200);
    cfg.fail_next_migration = true;
    let sim = start("127.0.0.1:0", cfg).await.expect("cloudsim");
    let c = client(&sim.url(), ID, KEY);
    let id = c
        .migrate_private_ip("eni-api00001", "eni-api00002", "192.0.2.20")
        .await
        .expect("starts");
    let out = c
        .wait_task(&id, Duration::from_secs(10))
        .await
        .expect("ends");
    assert_eq!(out.status, TaskStatus::Failed);
    assert!(!out.succeeded());
    sim.shutdown().await.expect("stops");
}

#[tokio::test]
async fn throttling_is_retried_then_surfaced() {
    let mut cfg = Config::new(example_world().expect("world"));
    cfg.faults
        .error_rate
        .insert("RequestLimitExceeded".into(), 1.0);
    let sim = start("127.0.0.1:0", cfg).await.expect("cloudsim");
    let c = client(&sim.url(), ID, KEY);
    let e = c
        .describe_ha_vips(&Default::default())
        .await
        .expect_err("throttled");
    assert_eq!(e.code(), Some("RequestLimitExceeded"));
    assert!(e.request_id().is_some_and(|r| !r.is_empty()), "{e}");
    sim.shutdown().await.expect("stops");
}

#[tokio::test]
async fn wrong_keys_are_refused() {
    let sim = start("127.0.0.1:0", Config::new(example_world().expect("world")))
        .await
        .expect("cloudsim");
    let e = client(&sim.url(), ID, "wrong-key")
        .describe_ha_vips(&Default::default())
        .await
        .expect_err("refused");
    assert_eq!(e.code(), Some("AuthFailure.SignatureFailure"));
    let e = client(&sim.url(), "AKIDnobody", KEY)
        .describe_ha_vips(&Default::default())
        .await
        .expect_err("refused");
    assert_eq!(e.code(), Some("AuthFailure.SecretIdNotFound"));
    sim.shutdown().await.expect("stops");
}

/// 252 generated pairs: more ids than one call takes, so the plan splits
/// (HaVipIds 126 → 100 + 26, ENIs 252 → 100 + 100 + 52) and every cluster
/// still gets its own answer.
#[tokio::test]
async fn hundreds_of_clusters_in_a_handful_of_calls() {
    use vipdeck::cloudsim::world::generated_world;
    let sim = start(
        "127.0.0.1:0",
        Config::new(generated_world(252).expect("world")),
    )
    .await
    .expect("cloudsim");
    let c = client(&sim.url(), ID, KEY);
    let specs: Vec<ClusterSpec> = (0..252)
        .map(|i| {
            let side = |s: &str| peer(s, &format!("eni-g{i:05}{s}"), &format!("ins-g{i:05}{s}"));
            let havip = i % 2 == 0;
            ClusterSpec {
                name: format!("c{i}"),
                mode: if havip { Mode::Havip } else { Mode::Eni },
                vip: String::new(),
                // A few HAVIP clusters are known by address only.
                havip_id: (havip && i >= 10).then(|| format!("havip-g{i:07}")),
                peers: [side("a"), side("b")],
            }
        })
        .collect();
    // The VIP is the first address of the cluster's slot (generated_world).
    let ranges = ["192.0.2", "198.51.100", "203.0.113"];
    let specs: Vec<ClusterSpec> = specs
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            s.vip = format!("{}.{}", ranges[i / 84], 1 + (i % 84) * 3);
            s
        })
        .collect();

    let r = poll_bindings(&c, &specs).await;
    for (s, b) in specs.iter().zip(&r) {
        let b = b.as_ref().unwrap_or_else(|e| panic!("{}: {e}", s.name));
        assert_eq!(s.peer_of_binding(b), Some(0), "{}: {b:?}", s.name);
    }
    let records: Vec<serde_json::Value> = reqwest::get(format!("{}/admin/requests", sim.url()))
        .await
        .expect("admin")
        .json()
        .await
        .expect("json");
    let count = |a: &str| records.iter().filter(|r| r["action"] == a).count();
    // 121 HAVIPs by id (100 + 21), 5 by address (one filter of 5 values),
    // 252 ENIs by id (100 + 100 + 52).
    assert_eq!(count("DescribeHaVips"), 3, "{records:?}");
    assert_eq!(count("DescribeNetworkInterfaces"), 3);
    sim.shutdown().await.expect("stops");
}
