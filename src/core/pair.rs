//! The one comparison of a pair's keepalived configs: the fields the two
//! peers of a VRRP pair must share, normalised the way keepalived itself
//! reads them. The verdict, the failover planner and `vipdeck init` all ask
//! this module, so they cannot disagree.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::core::model::ConfigSummary;

/// One field the two peers must share but do not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The keepalived.conf keyword: `virtual_router_id`, `auth_type`,
    /// `auth_pass`, `virtual_ipaddress`, `advert_int`, `unicast_peer`.
    pub(crate) field: &'static str,
    /// What differs, naming both peers.
    pub sentence: String,
}

/// The authentication keepalived applies: it knows exactly `PASS` and `AH`
/// (a case-sensitive match); any other word is reported and ignored, which
/// leaves the instance without authentication.
fn effective_auth_type(written: Option<&str>) -> Option<&'static str> {
    match written {
        Some("PASS") => Some("PASS"),
        Some("AH") => Some("AH"),
        _ => None,
    }
}

fn show_auth_type(written: Option<&str>) -> String {
    match (written, effective_auth_type(written)) {
        (None, _) => "none".to_string(),
        (Some(w), Some(_)) => w.to_string(),
        (Some(w), None) => {
            format!("`{w}` (not a type keepalived knows: no authentication)")
        }
    }
}

/// The VIPs as a set of addresses: order, prefix length and spelling
/// (`::1` vs `0::1`) do not matter.
fn vip_set(s: &ConfigSummary) -> BTreeSet<String> {
    s.virtual_ipaddresses
        .iter()
        .map(|v| canonical_addr(v.split('/').next().unwrap_or(v)))
        .collect()
}

fn canonical_addr(a: &str) -> String {
    a.parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .unwrap_or_else(|_| a.to_string())
}

/// keepalived reads `advert_int` with `atof`: `1`, `1.0` and unset are one.
fn advert_secs(s: &ConfigSummary) -> String {
    let written = s.advert_int.as_deref().unwrap_or("1");
    written
        .trim()
        .parse::<f64>()
        .map(|f| format!("{f}"))
        .unwrap_or_else(|_| written.to_string())
}

/// Every field that differs between the peers `a` and `b`, in a fixed order.
pub fn mismatches(
    a: &ConfigSummary,
    a_name: &str,
    b: &ConfigSummary,
    b_name: &str,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut push = |field: &'static str, sentence: String| out.push(Mismatch { field, sentence });
    let show = |v: Option<u8>| v.map_or_else(|| "unset".to_string(), |v| v.to_string());
    if a.virtual_router_id != b.virtual_router_id {
        push(
            "virtual_router_id",
            format!(
                "virtual_router_id differs: {} on {a_name}, {} on {b_name}",
                show(a.virtual_router_id),
                show(b.virtual_router_id)
            ),
        );
    }
    let (at, bt) = (a.auth_type.as_deref(), b.auth_type.as_deref());
    if effective_auth_type(at) != effective_auth_type(bt) {
        push(
            "auth_type",
            format!(
                "authentication differs: {} on {a_name}, {} on {b_name} (the peers will reject \
                 each other's adverts)",
                show_auth_type(at),
                show_auth_type(bt)
            ),
        );
    } else if effective_auth_type(at).is_some() && a.auth_digest != b.auth_digest {
        push(
            "auth_pass",
            format!(
                "auth_pass differs between {a_name} and {b_name} (the peers will reject each \
                 other's adverts)"
            ),
        );
    }
    let (av, bv) = (vip_set(a), vip_set(b));
    if av != bv {
        let list = |s: &BTreeSet<String>| {
            if s.is_empty() {
                "none".to_string()
            } else {
                s.iter().cloned().collect::<Vec<_>>().join(", ")
            }
        };
        push(
            "virtual_ipaddress",
            format!(
                "virtual_ipaddress differs: {} on {a_name}, {} on {b_name}",
                list(&av),
                list(&bv)
            ),
        );
    }
    if advert_secs(a) != advert_secs(b) {
        push(
            "advert_int",
            format!(
                "advert_int differs: {} on {a_name}, {} on {b_name}",
                advert_secs(a),
                advert_secs(b)
            ),
        );
    }
    match (a.unicast_peers.is_empty(), b.unicast_peers.is_empty()) {
        (false, true) => push(
            "unicast_peer",
            format!("{a_name} uses unicast (unicast_peer) but {b_name} has no unicast_peer"),
        ),
        (true, false) => push(
            "unicast_peer",
            format!("{b_name} uses unicast (unicast_peer) but {a_name} has no unicast_peer"),
        ),
        _ => {
            for (x, xn, y, yn) in [(a, a_name, b, b_name), (b, b_name, a, a_name)] {
                let Some(src) = &y.unicast_src_ip else {
                    continue;
                };
                let src = canonical_addr(src);
                if !x.unicast_peers.is_empty()
                    && !x.unicast_peers.iter().any(|p| canonical_addr(p) == src)
                {
                    push(
                        "unicast_peer",
                        format!(
                            "{xn}'s unicast_peer ({}) does not include {yn}'s unicast_src_ip {src}",
                            x.unicast_peers.join(", ")
                        ),
                    );
                }
            }
        }
    }
    out
}

/// The names of the fields that differ, for a one-line alert.
pub(crate) fn fields(m: &[Mismatch]) -> String {
    let mut names: Vec<&str> = m.iter().map(|m| m.field).collect();
    names.dedup();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> ConfigSummary {
        ConfigSummary {
            instance: "VI_1".into(),
            virtual_router_id: Some(51),
            advert_int: Some("1".into()),
            auth_type: Some("PASS".into()),
            auth_digest: Some("abc".into()),
            unicast_src_ip: Some("192.0.2.5".into()),
            unicast_peers: vec!["192.0.2.6".into()],
            virtual_ipaddresses: vec!["192.0.2.12".into(), "192.0.2.13".into()],
            ..ConfigSummary::default()
        }
    }

    fn other() -> ConfigSummary {
        ConfigSummary {
            unicast_src_ip: Some("192.0.2.6".into()),
            unicast_peers: vec!["192.0.2.5".into()],
            ..summary()
        }
    }

    #[test]
    fn a_matching_pair_has_no_mismatch() {
        assert_eq!(mismatches(&summary(), "a", &other(), "b"), vec![]);
    }

    #[test]
    fn vips_in_another_order_or_spelling_are_the_same() {
        let b = ConfigSummary {
            virtual_ipaddresses: vec!["192.0.2.13/24".into(), "192.0.2.12".into()],
            advert_int: Some("1.0".into()),
            ..other()
        };
        assert_eq!(mismatches(&summary(), "a", &b, "b"), vec![]);
    }

    #[test]
    fn lower_case_pass_is_no_authentication_to_keepalived() {
        let b = ConfigSummary {
            auth_type: Some("pass".into()),
            ..other()
        };
        let m = mismatches(&summary(), "a", &b, "b");
        assert_eq!(fields(&m), "auth_type");
        assert!(m[0].sentence.contains("PASS on a"), "{}", m[0].sentence);
        assert!(
            m[0].sentence.contains("no authentication"),
            "{}",
            m[0].sentence
        );
    }

    #[test]
    fn every_field_is_named() {
        let b = ConfigSummary {
            virtual_router_id: Some(52),
            auth_digest: Some("def".into()),
            virtual_ipaddresses: vec!["192.0.2.99".into()],
            advert_int: Some("2".into()),
            unicast_peers: vec!["192.0.2.7".into()],
            ..other()
        };
        let m = mismatches(&summary(), "a", &b, "b");
        assert_eq!(
            fields(&m),
            "virtual_router_id, auth_pass, virtual_ipaddress, advert_int, unicast_peer"
        );
        assert!(
            m[4].sentence.contains("b's unicast_peer (192.0.2.7)"),
            "{m:?}"
        );
    }
}
