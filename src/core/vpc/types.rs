//! Typed VPC API objects with the official field names. Unknown fields are
//! ignored and missing optional ones tolerated, as the API adds fields over
//! time. The simulator, the emulator and the client share these types.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::core::model::CloudBinding;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct PrivateIpAddressSpecification {
    pub(crate) private_ip_address: String,
    pub(crate) primary: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct NetworkInterfaceAttachment {
    pub instance_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkInterface {
    pub network_interface_id: String,
    pub(crate) network_interface_name: String,
    pub(crate) vpc_id: String,
    pub(crate) subnet_id: String,
    pub(crate) mac_address: String,
    pub(crate) primary: bool,
    pub state: String,
    pub(crate) private_ip_address_set: Vec<PrivateIpAddressSpecification>,
    pub(crate) attachment: Option<NetworkInterfaceAttachment>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct HaVipAssociation {
    pub(crate) ha_vip_id: String,
    pub instance_id: String,
    pub(crate) instance_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HaVip {
    pub(crate) ha_vip_id: String,
    pub(crate) ha_vip_name: String,
    pub(crate) vpc_id: String,
    pub(crate) subnet_id: String,
    /// The virtual IP address itself (the official `Vip` field).
    pub vip: String,
    /// The elastic (public) IP bound to the HAVIP, if any; not the VIP.
    pub(crate) address_ip: String,
    /// Empty when unbound.
    pub network_interface_id: String,
    pub instance_id: String,
    /// `AVAILABLE` (bound) or `UNBIND`.
    pub state: String,
    pub(crate) address_id: String,
    pub(crate) created_time: String,
    /// The last rebind, `YYYY-mm-dd HH:MM:SS` (Beijing time), empty if never.
    pub flushed_time: String,
    pub(crate) business: String,
    pub(crate) ha_vip_association_set: Vec<HaVipAssociation>,
    pub(crate) check_associate: bool,
}

/// A filter of a `Describe*` action: `Name` is ANDed with the other
/// filters, the `Values` are ORed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Filter {
    pub name: String,
    pub(crate) values: Vec<String>,
}

impl Filter {
    pub fn new(name: impl Into<String>, values: Vec<String>) -> Self {
        Filter {
            name: name.into(),
            values,
        }
    }
}

/// The most objects one `Describe*` call returns (`Limit`, default 20) and the
/// most ids one call takes, for both ENIs and HAVIPs.
pub(crate) const MAX_LIMIT: u64 = 100;

/// `DescribeNetworkInterfaces`. The API refuses ids and filters together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeNetworkInterfacesRequest {
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) network_interface_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub filters: Vec<Filter>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeNetworkInterfacesResponse {
    pub(crate) total_count: u64,
    pub(crate) network_interface_set: Vec<NetworkInterface>,
    pub request_id: String,
}

/// `DescribeHaVips`. The API refuses ids and filters together; a filter
/// takes at most 5 values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeHaVipsRequest {
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub ha_vip_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub filters: Vec<Filter>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeHaVipsResponse {
    pub(crate) total_count: u64,
    pub ha_vip_set: Vec<HaVip>,
    pub request_id: String,
}

/// `MigratePrivateIpAddress`: moves a private IP between two ENIs of the
/// same subnet. Asynchronous: poll `DescribeVpcTaskResult` with the
/// response's `RequestId`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MigratePrivateIpAddressRequest {
    pub(crate) source_network_interface_id: String,
    pub(crate) destination_network_interface_id: String,
    pub(crate) private_ip_address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct MigratePrivateIpAddressResponse {
    pub request_id: String,
}

/// `DescribeVpcTaskResult`; `TaskId` is the `RequestId` of the asynchronous call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DescribeVpcTaskResultRequest {
    pub(crate) task_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct DescribeVpcTaskResultResponse {
    /// `SUCCESS`, `FAILED` or `RUNNING`.
    pub status: String,
    pub output: Option<String>,
    pub request_id: String,
}

/// The state of an asynchronous VPC task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TaskStatus {
    Success,
    Failed,
    Running,
}

impl TaskStatus {
    /// `None` for a status word this client does not know.
    pub fn parse(s: &str) -> Option<TaskStatus> {
        match s {
            "SUCCESS" => Some(TaskStatus::Success),
            "FAILED" => Some(TaskStatus::Failed),
            "RUNNING" => Some(TaskStatus::Running),
            _ => None,
        }
    }
}

/// API timestamps are `YYYY-mm-dd HH:MM:SS` in China Standard Time (UTC+8).
pub fn parse_api_time(s: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    let cst = chrono::FixedOffset::east_opt(8 * 3600)?;
    cst.from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

pub(crate) fn format_api_time(t: DateTime<Utc>) -> String {
    match chrono::FixedOffset::east_opt(8 * 3600) {
        Some(cst) => t
            .with_timezone(&cst)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        None => t.format("%Y-%m-%d %H:%M:%S").to_string(),
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Where an HAVIP is bound.
pub(crate) fn binding_from_havip(h: &HaVip) -> CloudBinding {
    CloudBinding {
        network_interface_id: non_empty(&h.network_interface_id),
        instance_id: non_empty(&h.instance_id),
        state: non_empty(&h.state),
        havip_id: non_empty(&h.ha_vip_id),
        flushed_time: parse_api_time(&h.flushed_time),
    }
}

/// Which of `enis` holds `vip` as a private IP (ENI mode).
pub(crate) fn binding_from_enis(vip: &str, enis: &[NetworkInterface]) -> CloudBinding {
    let holder = enis.iter().find(|e| {
        e.private_ip_address_set
            .iter()
            .any(|p| p.private_ip_address == vip)
    });
    match holder {
        Some(e) => CloudBinding {
            network_interface_id: Some(e.network_interface_id.clone()),
            instance_id: e
                .attachment
                .as_ref()
                .and_then(|a| non_empty(&a.instance_id)),
            ..Default::default()
        },
        None => CloudBinding::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn havip_from_official_json_ignores_unknown_fields() {
        let json = r#"{"HaVipId":"havip-abcd1234","Vip":"172.16.16.12","AddressIp":"",
            "NetworkInterfaceId":"eni-pvsvph0u","InstanceId":"ins-1","State":"AVAILABLE",
            "FlushedTime":"2026-11-22 06:44:02","SomethingNew":42,
            "HaVipAssociationSet":[{"InstanceId":"ins-1","InstanceType":"CVM"}],
            "CheckAssociate":true}"#;
        let h: HaVip = serde_json::from_str(json).expect("parses");
        let b = binding_from_havip(&h);
        assert_eq!(b.network_interface_id.as_deref(), Some("eni-pvsvph0u"));
        assert_eq!(b.state.as_deref(), Some("AVAILABLE"));
        assert_eq!(
            b.flushed_time.map(|t| t.to_rfc3339()),
            Some("2026-11-21T22:44:02+00:00".to_string())
        );
    }

    #[test]
    fn eni_binding_finds_the_holder() {
        let enis = vec![
            NetworkInterface {
                network_interface_id: "eni-a".into(),
                private_ip_address_set: vec![PrivateIpAddressSpecification {
                    private_ip_address: "10.0.0.5".into(),
                    primary: true,
                }],
                ..Default::default()
            },
            NetworkInterface {
                network_interface_id: "eni-b".into(),
                private_ip_address_set: vec![PrivateIpAddressSpecification {
                    private_ip_address: "10.0.0.100".into(),
                    primary: false,
                }],
                attachment: Some(NetworkInterfaceAttachment {
                    instance_id: "ins-b".into(),
                }),
                ..Default::default()
            },
        ];
        let b = binding_from_enis("10.0.0.100", &enis);
        assert_eq!(b.network_interface_id.as_deref(), Some("eni-b"));
        assert_eq!(b.instance_id.as_deref(), Some("ins-b"));
        assert_eq!(
            binding_from_enis("10.0.0.9", &enis),
            CloudBinding::default()
        );
    }
}
