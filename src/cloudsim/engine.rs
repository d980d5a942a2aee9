//! What happens in the emulated VPC over time: the API actions, the
//! asynchronous private-IP migrations and the HAVIP rebinds that follow a
//! gratuitous ARP. The clock is passed in (`now`), nothing here sleeps or
//! does I/O, so every rule is unit-tested with a hand-driven clock.
//!
//! Pending work (a migration task, a rebind) carries the time it is due;
//! [`Sim::advance`] applies whatever is due before each call.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::world::World;
use crate::core::vpc::types::{
    format_api_time, HaVip, NetworkInterface, PrivateIpAddressSpecification,
};

/// The API version every request must name.
pub(crate) const API_VERSION: &str = "2017-03-12";
/// The per-call maximum of `Limit` and of ids in one Describe call.
pub(crate) const MAX_LIMIT: i64 = 100;
const DEFAULT_LIMIT: i64 = 20;

/// An error as the API reports it in `Response.Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ApiError {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// Delays of the asynchronous parts of the VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// From `MigratePrivateIpAddress` to the IP having moved.
    pub migration_delay: Duration,
    /// From a GARP claim to the HAVIP being rebound.
    pub havip_delay: Duration,
    /// At most one GARP claim per device in this interval.
    pub garp_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            migration_delay: Duration::milliseconds(2000),
            havip_delay: Duration::milliseconds(2000),
            garp_interval: Duration::seconds(5),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TaskStatus {
    Running,
    Success,
    Failed,
}

/// An asynchronous `MigratePrivateIpAddress`, keyed by its RequestId.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MigrationTask {
    pub(crate) task_id: String,
    pub source: String,
    pub destination: String,
    pub(crate) ip: String,
    pub status: TaskStatus,
    pub(crate) created: DateTime<Utc>,
    pub(crate) due: DateTime<Utc>,
    /// Set by the `fail_next_migration` fault when the task was created.
    pub(crate) doomed: bool,
    pub output: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PendingRebind {
    pub(crate) ha_vip_id: String,
    pub network_interface_id: String,
    pub(crate) due: DateTime<Utc>,
}

/// What became of one GARP claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub(crate) enum GarpOutcome {
    /// The HAVIP will be bound to the claiming ENI at `due`.
    Scheduled {
        ha_vip_id: String,
        network_interface_id: String,
        due: DateTime<Utc>,
    },
    /// The HAVIP is already bound to this ENI; nothing changes.
    AlreadyBound { ha_vip_id: String },
    /// A second claim from the same device within the interval: ignored.
    RateLimited { retry_after_ms: i64 },
    /// `CheckAssociate` is on and the device is outside `HaVipAssociationSet`.
    Refused { ha_vip_id: String, reason: String },
    /// No ENI has this MAC address.
    UnknownMac,
    /// No HAVIP in the ENI's subnet has this address.
    NoHaVip,
}

/// Counters of GARP claims, for tests and the admin endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct GarpStats {
    pub(crate) received: u64,
    pub(crate) scheduled: u64,
    pub(crate) already_bound: u64,
    pub(crate) rate_limited: u64,
    pub(crate) refused: u64,
    pub(crate) unknown_mac: u64,
    pub(crate) no_havip: u64,
    pub(crate) rebinds_applied: u64,
}

/// The emulated VPC with its pending work.
#[derive(Debug, Clone)]
pub(crate) struct Sim {
    world: World,
    pub timing: Timing,
    /// The next migration created ends `FAILED` (then the flag clears).
    pub fail_next_migration: bool,
    tasks: HashMap<String, MigrationTask>,
    rebinds: Vec<PendingRebind>,
    last_claim: HashMap<String, DateTime<Utc>>,
    garp: GarpStats,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Filter {
    pub name: String,
    #[serde(default)]
    pub(crate) values: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeNetworkInterfacesRequest {
    pub(crate) network_interface_ids: Option<Vec<String>>,
    pub filters: Option<Vec<Filter>>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeHaVipsRequest {
    pub ha_vip_ids: Option<Vec<String>>,
    pub filters: Option<Vec<Filter>>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct MigratePrivateIpAddressRequest {
    pub(crate) source_network_interface_id: Option<String>,
    pub(crate) destination_network_interface_id: Option<String>,
    pub(crate) private_ip_address: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct DescribeVpcTaskResultRequest {
    pub(crate) task_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeNetworkInterfacesResponse {
    pub(crate) network_interface_set: Vec<NetworkInterface>,
    pub(crate) total_count: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeHaVipsResponse {
    pub ha_vip_set: Vec<HaVip>,
    pub(crate) total_count: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DescribeVpcTaskResultResponse {
    pub status: TaskStatus,
    pub output: String,
}

/// The actions the emulator speaks.
pub(crate) const ACTIONS: &[&str] = &[
    "DescribeNetworkInterfaces",
    "DescribeHaVips",
    "MigratePrivateIpAddress",
    "DescribeVpcTaskResult",
];

fn parse<T: for<'de> Deserialize<'de>>(params: &Value) -> Result<T, ApiError> {
    serde_json::from_value(params.clone()).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("unknown field") {
            ApiError::new(
                "UnknownParameter",
                format!("The parameter is not recognized: {msg}"),
            )
        } else {
            ApiError::new(
                "InvalidParameter",
                format!("The parameter is invalid: {msg}"),
            )
        }
    })
}

fn to_value<T: Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v)
        .map_err(|e| ApiError::new("InternalError", format!("cannot encode the response: {e}")))
}

fn required(v: &Option<String>, name: &str) -> Result<String, ApiError> {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        _ => Err(ApiError::new(
            "MissingParameter",
            format!("The request is missing a required parameter `{name}`."),
        )),
    }
}

fn check_id(id: &str, prefix: &str, param: &str) -> Result<(), ApiError> {
    match id.strip_prefix(prefix) {
        Some(rest) if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()) => Ok(()),
        _ => Err(ApiError::new(
            "InvalidParameterValue.Malformed",
            format!("The value `{id}` of `{param}` is malformed; expected {prefix}xxxxxxxx."),
        )),
    }
}

/// Offset/Limit with the API's defaults and bounds.
fn page(offset: Option<i64>, limit: Option<i64>) -> Result<(usize, usize), ApiError> {
    let offset = offset.unwrap_or(0);
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if offset < 0 {
        return Err(ApiError::new(
            "InvalidParameterValue.Range",
            "Offset must not be negative.",
        ));
    }
    if !(0..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::new(
            "InvalidParameterValue.LimitExceeded",
            format!("Limit must be between 0 and {MAX_LIMIT}, got {limit}."),
        ));
    }
    Ok((offset as usize, limit as usize))
}

fn paged<T: Clone>(items: Vec<&T>, offset: usize, limit: usize) -> Vec<T> {
    items
        .into_iter()
        .skip(offset)
        .take(limit)
        .cloned()
        .collect()
}

fn truthy(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn ids_and_filters(
    ids: &Option<Vec<String>>,
    filters: &Option<Vec<Filter>>,
    ids_name: &str,
) -> Result<(), ApiError> {
    let has_ids = ids.as_ref().is_some_and(|v| !v.is_empty());
    let has_filters = filters.as_ref().is_some_and(|v| !v.is_empty());
    if has_ids && has_filters {
        return Err(ApiError::new(
            "InvalidParameter.Coexist",
            format!("`{ids_name}` and `Filters` cannot be given together."),
        ));
    }
    if ids.as_ref().is_some_and(|v| v.len() as i64 > MAX_LIMIT) {
        return Err(ApiError::new(
            "InvalidParameterValue.LimitExceeded",
            format!("At most {MAX_LIMIT} ids in `{ids_name}`."),
        ));
    }
    Ok(())
}

impl Sim {
    pub fn new(world: World, timing: Timing) -> Self {
        Sim {
            world,
            timing,
            fail_next_migration: false,
            tasks: HashMap::new(),
            rebinds: Vec::new(),
            last_claim: HashMap::new(),
            garp: GarpStats::default(),
        }
    }

    pub(crate) fn world(&self) -> &World {
        &self.world
    }

    /// Replaces the world and forgets pending work (for tests and rehearsals).
    pub(crate) fn replace_world(&mut self, world: World) {
        self.world = world;
        self.tasks.clear();
        self.rebinds.clear();
        self.last_claim.clear();
    }

    pub(crate) fn garp_stats(&self) -> &GarpStats {
        &self.garp
    }

    pub(crate) fn tasks(&self) -> Vec<MigrationTask> {
        let mut t: Vec<MigrationTask> = self.tasks.values().cloned().collect();
        t.sort_by_key(|t| t.created);
        t
    }

    pub(crate) fn pending_rebinds(&self) -> &[PendingRebind] {
        &self.rebinds
    }

    /// Applies every migration and rebind that is due at `now`, oldest first.
    pub(crate) fn advance(&mut self, now: DateTime<Utc>) {
        let mut due: Vec<(DateTime<Utc>, String)> = self
            .tasks
            .values()
            .filter(|t| t.status == TaskStatus::Running && t.due <= now)
            .map(|t| (t.due, t.task_id.clone()))
            .collect();
        due.sort();
        for (_, id) in due {
            self.finish_migration(&id);
        }
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.rebinds)
            .into_iter()
            .partition(|r| r.due <= now);
        self.rebinds = waiting;
        let mut ready = ready;
        ready.sort_by_key(|r| r.due);
        for r in ready {
            self.apply_rebind(&r);
        }
    }

    /// Runs one API action. `request_id` is the RequestId of this call (it
    /// becomes the TaskId of an asynchronous action).
    pub(crate) fn call(
        &mut self,
        action: &str,
        params: &Value,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        self.advance(now);
        match action {
            "DescribeNetworkInterfaces" => {
                to_value(&self.describe_network_interfaces(&parse(params)?)?)
            }
            "DescribeHaVips" => to_value(&self.describe_ha_vips(&parse(params)?)?),
            "MigratePrivateIpAddress" => {
                self.migrate_private_ip_address(&parse(params)?, request_id, now)?;
                Ok(Value::Object(Default::default()))
            }
            "DescribeVpcTaskResult" => to_value(&self.describe_vpc_task_result(&parse(params)?)?),
            other => Err(ApiError::new(
                "InvalidAction",
                format!("The action `{other}` does not exist or is not supported by cloudsim."),
            )),
        }
    }

    pub fn describe_network_interfaces(
        &self,
        req: &DescribeNetworkInterfacesRequest,
    ) -> Result<DescribeNetworkInterfacesResponse, ApiError> {
        ids_and_filters(
            &req.network_interface_ids,
            &req.filters,
            "NetworkInterfaceIds",
        )?;
        let (offset, limit) = page(req.offset, req.limit)?;
        let mut matched: Vec<&NetworkInterface> = self.world.network_interfaces.iter().collect();
        if let Some(ids) = req.network_interface_ids.as_ref().filter(|v| !v.is_empty()) {
            for id in ids {
                check_id(id, "eni-", "NetworkInterfaceIds")?;
            }
            matched.retain(|e| ids.contains(&e.network_interface_id));
        }
        let filters = req.filters.as_deref().unwrap_or_default();
        let exact_ip = filters
            .iter()
            .find(|f| f.name == "ip-exact-match")
            .and_then(|f| f.values.first())
            .and_then(|v| truthy(v))
            .unwrap_or(false);
        for f in filters {
            let vals = &f.values;
            let any = |s: &str| vals.iter().any(|v| v == s);
            match f.name.as_str() {
                "vpc-id" => matched.retain(|e| any(&e.vpc_id)),
                "subnet-id" => matched.retain(|e| any(&e.subnet_id)),
                "network-interface-id" => matched.retain(|e| any(&e.network_interface_id)),
                "network-interface-name" => matched.retain(|e| {
                    vals.iter()
                        .any(|v| e.network_interface_name.contains(v.as_str()))
                }),
                "attachment.instance-id" => {
                    matched.retain(|e| e.attachment.as_ref().is_some_and(|a| any(&a.instance_id)))
                }
                "is-primary" => {
                    let want = vals.first().and_then(|v| truthy(v));
                    matched.retain(|e| want.is_none_or(|w| e.primary == w))
                }
                // As documented: one value matches as a prefix ("suffix
                // fuzzy match"), several values match exactly, and
                // ip-exact-match forces exact matching.
                "address-ip" => {
                    let fuzzy = vals.len() == 1 && !exact_ip;
                    matched.retain(|e| {
                        e.private_ip_address_set.iter().any(|p| {
                            vals.iter().any(|v| {
                                if fuzzy {
                                    p.private_ip_address.starts_with(v.as_str())
                                } else {
                                    p.private_ip_address == *v
                                }
                            })
                        })
                    })
                }
                "ip-exact-match" => {}
                other => {
                    return Err(ApiError::new(
                        "InvalidParameter.FilterInvalidKey",
                        format!("The filter name `{other}` is not supported."),
                    ))
                }
            }
        }
        Ok(DescribeNetworkInterfacesResponse {
            total_count: matched.len(),
            network_interface_set: paged(matched, offset, limit),
        })
    }

    pub fn describe_ha_vips(
        &self,
        req: &DescribeHaVipsRequest,
    ) -> Result<DescribeHaVipsResponse, ApiError> {
        ids_and_filters(&req.ha_vip_ids, &req.filters, "HaVipIds")?;
        let (offset, limit) = page(req.offset, req.limit)?;
        let mut matched: Vec<&HaVip> = self.world.ha_vips.iter().collect();
        if let Some(ids) = req.ha_vip_ids.as_ref().filter(|v| !v.is_empty()) {
            for id in ids {
                check_id(id, "havip-", "HaVipIds")?;
            }
            matched.retain(|h| ids.contains(&h.ha_vip_id));
        }
        let filters = req.filters.as_deref().unwrap_or_default();
        // Documented limits: 10 filters, 5 values each.
        if filters.len() > 10 || filters.iter().any(|f| f.values.len() > 5) {
            return Err(ApiError::new(
                "InvalidParameterValue.LimitExceeded",
                "At most 10 filters with at most 5 values each.",
            ));
        }
        for f in filters {
            let vals = &f.values;
            let any = |s: &str| vals.iter().any(|v| v == s);
            match f.name.as_str() {
                "havip-id" => matched.retain(|h| any(&h.ha_vip_id)),
                "havip-name" => matched.retain(|h| any(&h.ha_vip_name)),
                "vpc-id" => matched.retain(|h| any(&h.vpc_id)),
                "subnet-id" => matched.retain(|h| any(&h.subnet_id)),
                "vip" => matched.retain(|h| any(&h.vip)),
                // The elastic IP bound to the HAVIP, not the VIP itself.
                "address-ip" => matched.retain(|h| any(&h.address_ip)),
                "havip-association.instance-id" => {
                    matched.retain(|h| h.ha_vip_association_set.iter().any(|a| any(&a.instance_id)))
                }
                "check-associate" => {
                    let want = vals.first().and_then(|v| truthy(v));
                    matched.retain(|h| want.is_none_or(|w| h.check_associate == w))
                }
                other => {
                    return Err(ApiError::new(
                        "InvalidParameter.FilterInvalidKey",
                        format!("The filter name `{other}` is not supported."),
                    ))
                }
            }
        }
        Ok(DescribeHaVipsResponse {
            total_count: matched.len(),
            ha_vip_set: paged(matched, offset, limit),
        })
    }

    /// Checks a migration and queues it; the IP moves `migration_delay` later.
    pub(crate) fn migrate_private_ip_address(
        &mut self,
        req: &MigratePrivateIpAddressRequest,
        task_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let src_id = required(&req.source_network_interface_id, "SourceNetworkInterfaceId")?;
        let dst_id = required(
            &req.destination_network_interface_id,
            "DestinationNetworkInterfaceId",
        )?;
        let ip = required(&req.private_ip_address, "PrivateIpAddress")?;
        check_id(&src_id, "eni-", "SourceNetworkInterfaceId")?;
        check_id(&dst_id, "eni-", "DestinationNetworkInterfaceId")?;
        if ip.parse::<Ipv4Addr>().is_err() {
            return Err(ApiError::new(
                "InvalidParameterValue.Malformed",
                format!("The value `{ip}` of `PrivateIpAddress` is not an IPv4 address."),
            ));
        }
        let not_found = |id: &str| {
            ApiError::new(
                "ResourceNotFound",
                format!("The network interface `{id}` does not exist."),
            )
        };
        let src = self.world.eni(&src_id).ok_or_else(|| not_found(&src_id))?;
        let dst = self.world.eni(&dst_id).ok_or_else(|| not_found(&dst_id))?;
        if src_id == dst_id {
            return Err(ApiError::new(
                "UnsupportedOperation",
                "The source and destination network interfaces are the same.",
            ));
        }
        if src.subnet_id != dst.subnet_id {
            return Err(ApiError::new(
                "UnsupportedOperation",
                format!(
                    "The source ({}) and destination ({}) network interfaces must be in the same subnet.",
                    src.subnet_id, dst.subnet_id
                ),
            ));
        }
        match src
            .private_ip_address_set
            .iter()
            .find(|p| p.private_ip_address == ip)
        {
            None => {
                return Err(ApiError::new(
                    "ResourceNotFound",
                    format!("The private IP `{ip}` is not on network interface `{src_id}`."),
                ))
            }
            Some(p) if p.primary => {
                return Err(ApiError::new(
                    "UnsupportedOperation.PrimaryIp",
                    format!(
                        "`{ip}` is the primary IP of `{src_id}`; primary IPs cannot be migrated."
                    ),
                ))
            }
            Some(_) => {}
        }
        let busy = self.tasks.values().any(|t| {
            t.status == TaskStatus::Running
                && (t.ip == ip
                    || [&t.source, &t.destination]
                        .iter()
                        .any(|e| **e == src_id || **e == dst_id))
        });
        if busy {
            return Err(ApiError::new(
                "UnsupportedOperation.MutexOperationTaskRunning",
                "Another task on these network interfaces is still running.",
            ));
        }
        let doomed = std::mem::take(&mut self.fail_next_migration);
        self.tasks.insert(
            task_id.to_string(),
            MigrationTask {
                task_id: task_id.to_string(),
                source: src_id,
                destination: dst_id,
                ip,
                status: TaskStatus::Running,
                created: now,
                due: now + self.timing.migration_delay,
                doomed,
                output: String::new(),
            },
        );
        Ok(())
    }

    fn finish_migration(&mut self, task_id: &str) {
        let Some(task) = self.tasks.get(task_id).cloned() else {
            return;
        };
        let outcome = if task.doomed {
            Err("migration failed (injected fault)".to_string())
        } else {
            self.move_ip(&task.source, &task.destination, &task.ip)
        };
        if let Some(t) = self.tasks.get_mut(task_id) {
            match outcome {
                Ok(()) => {
                    t.status = TaskStatus::Success;
                    t.output = "success".to_string();
                }
                Err(e) => {
                    t.status = TaskStatus::Failed;
                    t.output = e;
                }
            }
        }
    }

    /// Moves a secondary IP; re-checked at the time it happens, as the
    /// world may have changed since the request.
    fn move_ip(&mut self, src_id: &str, dst_id: &str, ip: &str) -> Result<(), String> {
        if self.world.eni(dst_id).is_none() {
            return Err(format!("destination {dst_id} no longer exists"));
        }
        let src = self
            .world
            .eni_mut(src_id)
            .ok_or_else(|| format!("source {src_id} no longer exists"))?;
        let pos = src
            .private_ip_address_set
            .iter()
            .position(|p| p.private_ip_address == ip && !p.primary)
            .ok_or_else(|| format!("{ip} is no longer a secondary IP of {src_id}"))?;
        src.private_ip_address_set.remove(pos);
        if let Some(dst) = self.world.eni_mut(dst_id) {
            dst.private_ip_address_set
                .push(PrivateIpAddressSpecification {
                    private_ip_address: ip.to_string(),
                    primary: false,
                });
        }
        Ok(())
    }

    pub(crate) fn describe_vpc_task_result(
        &self,
        req: &DescribeVpcTaskResultRequest,
    ) -> Result<DescribeVpcTaskResultResponse, ApiError> {
        let id = required(&req.task_id, "TaskId")?;
        let t = self.tasks.get(&id).ok_or_else(|| {
            ApiError::new(
                "ResourceNotFound",
                format!("The task `{id}` does not exist."),
            )
        })?;
        Ok(DescribeVpcTaskResultResponse {
            status: t.status,
            output: t.output.clone(),
        })
    }

    /// A gratuitous ARP for `ip` was seen from `mac` (the lab's GARP watcher
    /// reports it). Decides what the VPC makes of it.
    pub(crate) fn garp(&mut self, mac: &str, ip: &str, now: DateTime<Utc>) -> GarpOutcome {
        self.advance(now);
        self.garp.received += 1;
        let mac = mac.trim().to_ascii_lowercase().replace('-', ":");
        let Some(eni) = self
            .world
            .network_interfaces
            .iter()
            .find(|e| e.mac_address == mac)
        else {
            self.garp.unknown_mac += 1;
            return GarpOutcome::UnknownMac;
        };
        let Some(havip) = self
            .world
            .ha_vips
            .iter()
            .find(|h| h.vip == ip.trim() && h.subnet_id == eni.subnet_id)
        else {
            self.garp.no_havip += 1;
            return GarpOutcome::NoHaVip;
        };
        if let Some(last) = self.last_claim.get(&mac) {
            let since = now - *last;
            if since < self.timing.garp_interval {
                self.garp.rate_limited += 1;
                return GarpOutcome::RateLimited {
                    retry_after_ms: (self.timing.garp_interval - since).num_milliseconds(),
                };
            }
        }
        self.last_claim.insert(mac, now);
        let instance_id = eni
            .attachment
            .as_ref()
            .map(|a| a.instance_id.as_str())
            .unwrap_or("");
        if havip.check_associate {
            let allowed =
                havip
                    .ha_vip_association_set
                    .iter()
                    .any(|a| match a.instance_type.as_str() {
                        "ENI" => a.instance_id == eni.network_interface_id,
                        _ => !instance_id.is_empty() && a.instance_id == instance_id,
                    });
            if !allowed {
                self.garp.refused += 1;
                return GarpOutcome::Refused {
                    ha_vip_id: havip.ha_vip_id.clone(),
                    reason: format!(
                        "{} ({}) is outside the HAVIP's drift range (HaVipAssociationSet)",
                        eni.network_interface_id,
                        if instance_id.is_empty() {
                            "no instance"
                        } else {
                            instance_id
                        }
                    ),
                };
            }
        }
        let (ha_vip_id, eni_id) = (havip.ha_vip_id.clone(), eni.network_interface_id.clone());
        let bound_here = havip.network_interface_id == eni_id;
        let heading_elsewhere = self.rebinds.iter().any(|r| r.ha_vip_id == ha_vip_id);
        if bound_here && !heading_elsewhere {
            self.garp.already_bound += 1;
            return GarpOutcome::AlreadyBound { ha_vip_id };
        }
        let due = now + self.timing.havip_delay;
        self.rebinds.push(PendingRebind {
            ha_vip_id: ha_vip_id.clone(),
            network_interface_id: eni_id.clone(),
            due,
        });
        self.garp.scheduled += 1;
        GarpOutcome::Scheduled {
            ha_vip_id,
            network_interface_id: eni_id,
            due,
        }
    }

    fn apply_rebind(&mut self, r: &PendingRebind) {
        let Some(eni) = self.world.eni(&r.network_interface_id) else {
            return;
        };
        let instance_id = eni
            .attachment
            .as_ref()
            .map(|a| a.instance_id.clone())
            .unwrap_or_default();
        if let Some(h) = self
            .world
            .ha_vips
            .iter_mut()
            .find(|h| h.ha_vip_id == r.ha_vip_id)
        {
            h.network_interface_id = r.network_interface_id.clone();
            h.instance_id = instance_id;
            h.state = "AVAILABLE".to_string();
            h.flushed_time = format_api_time(r.due);
            self.garp.rebinds_applied += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudsim::world::{example_world, NEVER_FLUSHED};
    use chrono::TimeZone;
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 22, 44, 0)
            .single()
            .expect("valid time")
    }

    fn ms(n: i64) -> Duration {
        Duration::milliseconds(n)
    }

    fn sim() -> Sim {
        Sim::new(
            example_world().expect("example world"),
            Timing {
                migration_delay: ms(1000),
                havip_delay: ms(3000),
                garp_interval: Duration::seconds(5),
            },
        )
    }

    fn holder(s: &Sim, ip: &str) -> Vec<String> {
        s.world()
            .network_interfaces
            .iter()
            .filter(|e| {
                e.private_ip_address_set
                    .iter()
                    .any(|p| p.private_ip_address == ip)
            })
            .map(|e| e.network_interface_id.clone())
            .collect()
    }

    fn migrate(
        s: &mut Sim,
        src: &str,
        dst: &str,
        ip: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        s.call(
            "MigratePrivateIpAddress",
            &json!({"SourceNetworkInterfaceId": src, "DestinationNetworkInterfaceId": dst, "PrivateIpAddress": ip}),
            id,
            now,
        )
    }

    fn status(s: &mut Sim, id: &str, now: DateTime<Utc>) -> String {
        let v = s
            .call("DescribeVpcTaskResult", &json!({"TaskId": id}), "r", now)
            .expect("task known");
        v["Status"].as_str().unwrap_or_default().to_string()
    }

    #[test]
    fn migration_runs_then_moves_the_ip() {
        let mut s = sim();
        migrate(
            &mut s,
            "eni-api00001",
            "eni-api00002",
            "192.0.2.20",
            "task-1",
            t0(),
        )
        .expect("accepted");
        assert_eq!(status(&mut s, "task-1", t0() + ms(999)), "RUNNING");
        assert_eq!(holder(&s, "192.0.2.20"), vec!["eni-api00001"]);
        assert_eq!(status(&mut s, "task-1", t0() + ms(1000)), "SUCCESS");
        assert_eq!(holder(&s, "192.0.2.20"), vec!["eni-api00002"]);
        let moved = s.world().eni("eni-api00002").expect("eni");
        assert!(moved
            .private_ip_address_set
            .iter()
            .any(|p| p.private_ip_address == "192.0.2.20" && !p.primary));
    }

    #[test]
    fn migration_checks_use_the_real_codes() {
        let mut s = sim();
        let code =
            |r: Result<Value, ApiError>| r.err().map(|e| e.code).unwrap_or_else(|| "ok".into());
        let now = t0();
        assert_eq!(
            code(migrate(
                &mut s,
                "eni-api00001",
                "eni-oth00001",
                "192.0.2.20",
                "a",
                now
            )),
            "UnsupportedOperation"
        );
        assert_eq!(
            code(migrate(
                &mut s,
                "eni-api00001",
                "eni-api00002",
                "192.0.2.21",
                "b",
                now
            )),
            "UnsupportedOperation.PrimaryIp"
        );
        assert_eq!(
            code(migrate(
                &mut s,
                "eni-api00002",
                "eni-api00001",
                "192.0.2.20",
                "c",
                now
            )),
            "ResourceNotFound"
        );
        assert_eq!(
            code(migrate(
                &mut s,
                "eni-nothere1",
                "eni-api00002",
                "192.0.2.20",
                "d",
                now
            )),
            "ResourceNotFound"
        );
        assert_eq!(
            code(migrate(
                &mut s,
                "vpc-cloudsim",
                "eni-api00002",
                "192.0.2.20",
                "e",
                now
            )),
            "InvalidParameterValue.Malformed"
        );
        assert_eq!(
            code(migrate(
                &mut s,
                "eni-api00001",
                "eni-api00002",
                "192.0.2.x",
                "f",
                now
            )),
            "InvalidParameterValue.Malformed"
        );
        assert_eq!(
            code(migrate(
                &mut s,
                "eni-api00001",
                "eni-api00001",
                "192.0.2.20",
                "g",
                now
            )),
            "UnsupportedOperation"
        );
        let missing = s.call(
            "MigratePrivateIpAddress",
            &json!({"SourceNetworkInterfaceId": "eni-api00001"}),
            "h",
            now,
        );
        assert_eq!(code(missing), "MissingParameter");
        let unknown = s.call("MigratePrivateIpAddress", &json!({"Bogus": 1}), "i", now);
        assert_eq!(code(unknown), "UnknownParameter");
        // None of the refused requests created a task.
        assert!(s.tasks().is_empty());
        // A second migration while the first runs is refused.
        assert_eq!(
            code(migrate(
                &mut s,
                "eni-api00001",
                "eni-api00002",
                "192.0.2.20",
                "j",
                now
            )),
            "ok"
        );
        assert_eq!(
            code(migrate(
                &mut s,
                "eni-api00001",
                "eni-api00002",
                "192.0.2.20",
                "k",
                now + ms(10)
            )),
            "UnsupportedOperation.MutexOperationTaskRunning"
        );
        assert_eq!(
            code(s.call(
                "DescribeVpcTaskResult",
                &json!({"TaskId": "nope"}),
                "l",
                now
            )),
            "ResourceNotFound"
        );
        assert_eq!(
            code(s.call("DeleteVpc", &json!({}), "m", now)),
            "InvalidAction"
        );
    }

    #[test]
    fn failed_migration_leaves_the_ip_and_clears_the_fault() {
        let mut s = sim();
        s.fail_next_migration = true;
        migrate(
            &mut s,
            "eni-api00001",
            "eni-api00002",
            "192.0.2.20",
            "t1",
            t0(),
        )
        .expect("accepted");
        assert!(!s.fail_next_migration);
        assert_eq!(status(&mut s, "t1", t0() + ms(500)), "RUNNING");
        assert_eq!(status(&mut s, "t1", t0() + ms(1500)), "FAILED");
        assert_eq!(holder(&s, "192.0.2.20"), vec!["eni-api00001"]);
        // The next one succeeds.
        migrate(
            &mut s,
            "eni-api00001",
            "eni-api00002",
            "192.0.2.20",
            "t2",
            t0() + ms(2000),
        )
        .expect("accepted");
        assert_eq!(status(&mut s, "t2", t0() + ms(3000)), "SUCCESS");
    }

    fn havip(s: &Sim) -> HaVip {
        s.world().ha_vips[0].clone()
    }

    #[test]
    fn garp_rebinds_after_the_delay_and_stamps_flushed_time() {
        let mut s = sim();
        let out = s.garp("52:54:00:00:01:02", "192.0.2.10", t0());
        assert!(matches!(out, GarpOutcome::Scheduled { .. }), "{out:?}");
        s.advance(t0() + ms(2999));
        assert_eq!(havip(&s).network_interface_id, "eni-web00001");
        assert_eq!(havip(&s).flushed_time, NEVER_FLUSHED);
        s.advance(t0() + ms(3000));
        let h = havip(&s);
        assert_eq!(h.network_interface_id, "eni-web00002");
        assert_eq!(h.instance_id, "ins-web00002");
        assert_eq!(h.state, "AVAILABLE");
        // 22:44:03 UTC is 06:44:03 the next day in Beijing.
        assert_eq!(h.flushed_time, "2026-11-22 06:44:03");
        assert_eq!(s.garp_stats().rebinds_applied, 1);
    }

    #[test]
    fn garp_rate_limit_is_one_claim_per_device_per_interval() {
        let mut s = sim();
        assert!(matches!(
            s.garp("52:54:00:00:01:02", "192.0.2.10", t0()),
            GarpOutcome::Scheduled { .. }
        ));
        for i in 1..=4 {
            let out = s.garp("52:54:00:00:01:02", "192.0.2.10", t0() + ms(1000 * i));
            assert_eq!(
                out,
                GarpOutcome::RateLimited {
                    retry_after_ms: 5000 - 1000 * i
                }
            );
        }
        // Another device is not limited by the first one's claims.
        assert!(matches!(
            s.garp("52:54:00:00:01:01", "192.0.2.10", t0() + ms(4000)),
            GarpOutcome::Scheduled { .. }
        ));
        // After the interval the first device may claim again.
        assert!(matches!(
            s.garp("52:54:00:00:01:02", "192.0.2.10", t0() + ms(5000)),
            GarpOutcome::Scheduled { .. }
        ));
        assert_eq!(s.garp_stats().rate_limited, 4);
        assert_eq!(s.garp_stats().scheduled, 3);
        // The last claim wins once everything is due.
        s.advance(t0() + ms(9000));
        assert_eq!(havip(&s).network_interface_id, "eni-web00002");
    }

    #[test]
    fn garp_outside_the_drift_range_is_refused() {
        let mut s = sim();
        let out = s.garp("52:54:00:00:03:01", "192.0.2.10", t0());
        assert!(matches!(out, GarpOutcome::Refused { .. }), "{out:?}");
        s.advance(t0() + Duration::seconds(60));
        assert_eq!(havip(&s).network_interface_id, "eni-web00001");
        // With the check off, the same device may take it.
        s.world.ha_vips[0].check_associate = false;
        let out = s.garp(
            "52:54:00:00:03:01",
            "192.0.2.10",
            t0() + Duration::seconds(61),
        );
        assert!(matches!(out, GarpOutcome::Scheduled { .. }), "{out:?}");
        s.advance(t0() + Duration::seconds(70));
        assert_eq!(havip(&s).network_interface_id, "eni-out00001");
        assert_eq!(s.garp_stats().refused, 1);
    }

    #[test]
    fn garp_for_unknown_mac_or_address_changes_nothing() {
        let mut s = sim();
        assert_eq!(
            s.garp("52:54:00:99:99:99", "192.0.2.10", t0()),
            GarpOutcome::UnknownMac
        );
        assert_eq!(
            s.garp("52:54:00:00:01:02", "192.0.2.12", t0()),
            GarpOutcome::NoHaVip
        );
        // The HAVIP lives in subnet a; a device in subnet b cannot claim it.
        assert_eq!(
            s.garp("52:54:00:00:04:01", "192.0.2.10", t0()),
            GarpOutcome::NoHaVip
        );
        // MACs match however they are written.
        assert_eq!(
            s.garp("52-54-00-00-01-01", "192.0.2.10", t0()),
            GarpOutcome::AlreadyBound {
                ha_vip_id: "havip-web00001".into()
            }
        );
        assert!(s.pending_rebinds().is_empty());
        assert_eq!(s.garp_stats().received, 4);
    }

    fn enis(s: &mut Sim, params: Value) -> Result<(Vec<String>, u64), ApiError> {
        let v = s.call("DescribeNetworkInterfaces", &params, "r", t0())?;
        let ids = v["NetworkInterfaceSet"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["NetworkInterfaceId"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        Ok((ids, v["TotalCount"].as_u64().unwrap_or(0)))
    }

    #[test]
    fn eni_filters() {
        let mut s = sim();
        let (ids, total) = enis(
            &mut s,
            json!({"Filters": [{"Name": "subnet-id", "Values": ["subnet-simb0001"]}]}),
        )
        .expect("ok");
        assert_eq!((ids, total), (vec!["eni-oth00001".to_string()], 1));
        let (ids, _) = enis(&mut s, json!({"Filters": [{"Name": "attachment.instance-id", "Values": ["ins-api00002", "ins-web00001"]}]})).expect("ok");
        assert_eq!(ids, vec!["eni-web00001", "eni-api00002"]);
        // One address matches as a prefix, as the real API documents ...
        let (ids, _) = enis(
            &mut s,
            json!({"Filters": [{"Name": "address-ip", "Values": ["192.0.2.2"]}]}),
        )
        .expect("ok");
        assert_eq!(ids, vec!["eni-api00001", "eni-api00002"]);
        // ... unless exact matching is asked for.
        let (ids, _) = enis(&mut s, json!({"Filters": [{"Name": "address-ip", "Values": ["192.0.2.20"]}, {"Name": "ip-exact-match", "Values": ["TRUE"]}]})).expect("ok");
        assert_eq!(ids, vec!["eni-api00001"]);
        let (ids, _) = enis(&mut s, json!({"Filters": [{"Name": "vpc-id", "Values": ["vpc-cloudsim"]}, {"Name": "network-interface-id", "Values": ["eni-web00002"]}]})).expect("ok");
        assert_eq!(ids, vec!["eni-web00002"]);
        let (ids, _) = enis(
            &mut s,
            json!({"NetworkInterfaceIds": ["eni-web00002", "eni-nothere1"]}),
        )
        .expect("ok");
        assert_eq!(ids, vec!["eni-web00002"]);
        let e = enis(
            &mut s,
            json!({"Filters": [{"Name": "colour", "Values": ["red"]}]}),
        )
        .expect_err("bad filter");
        assert_eq!(e.code, "InvalidParameter.FilterInvalidKey");
        let e = enis(&mut s, json!({"NetworkInterfaceIds": ["eni-web00002"], "Filters": [{"Name": "vpc-id", "Values": ["x"]}]})).expect_err("coexist");
        assert_eq!(e.code, "InvalidParameter.Coexist");
        let e =
            enis(&mut s, json!({"NetworkInterfaceIds": ["ins-web00001"]})).expect_err("malformed");
        assert_eq!(e.code, "InvalidParameterValue.Malformed");
    }

    #[test]
    fn paging_counts_everything_and_returns_a_window() {
        let mut s = sim();
        let (all, total) = enis(&mut s, json!({})).expect("ok");
        assert_eq!((all.len(), total), (6, 6));
        let (p1, t1) = enis(&mut s, json!({"Limit": 4})).expect("ok");
        let (p2, t2) = enis(&mut s, json!({"Limit": 4, "Offset": 4})).expect("ok");
        assert_eq!((p1.len(), p2.len(), t1, t2), (4, 2, 6, 6));
        assert_eq!([p1, p2].concat(), all);
        let (p3, _) = enis(&mut s, json!({"Offset": 10})).expect("ok");
        assert!(p3.is_empty());
        assert_eq!(
            enis(&mut s, json!({"Limit": 101}))
                .expect_err("too big")
                .code,
            "InvalidParameterValue.LimitExceeded"
        );
        assert_eq!(
            enis(&mut s, json!({"Offset": -1}))
                .expect_err("negative")
                .code,
            "InvalidParameterValue.Range"
        );
        let ids: Vec<String> = (0..101).map(|i| format!("eni-x{i:07}")).collect();
        assert_eq!(
            enis(&mut s, json!({"NetworkInterfaceIds": ids}))
                .expect_err("too many ids")
                .code,
            "InvalidParameterValue.LimitExceeded"
        );
    }

    #[test]
    fn havip_filters() {
        let mut s = sim();
        let ids = |s: &mut Sim, p: Value| -> Result<Vec<String>, ApiError> {
            let v = s.call("DescribeHaVips", &p, "r", t0())?;
            Ok(v["HaVipSet"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|h| h["HaVipId"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default())
        };
        assert_eq!(
            ids(
                &mut s,
                json!({"Filters": [{"Name": "vip", "Values": ["192.0.2.40"]}]})
            )
            .expect("ok"),
            vec!["havip-free0001"]
        );
        assert_eq!(
            ids(&mut s, json!({"HaVipIds": ["havip-web00001"]})).expect("ok"),
            vec!["havip-web00001"]
        );
        assert!(ids(
            &mut s,
            json!({"Filters": [{"Name": "address-ip", "Values": ["192.0.2.10"]}]})
        )
        .expect("ok")
        .is_empty());
        assert_eq!(
            ids(&mut s, json!({"Filters": [{"Name": "havip-association.instance-id", "Values": ["ins-web00002"]}]})).expect("ok"),
            vec!["havip-web00001"]
        );
        assert_eq!(
            ids(
                &mut s,
                json!({"Filters": [{"Name": "check-associate", "Values": ["FALSE"]}]})
            )
            .expect("ok"),
            vec!["havip-free0001"]
        );
        assert_eq!(
            ids(&mut s, json!({"Limit": 1, "Offset": 1})).expect("ok"),
            vec!["havip-free0001"]
        );
        let six = json!({"Filters": [{"Name": "vip", "Values": ["a", "b", "c", "d", "e", "f"]}]});
        assert_eq!(
            ids(&mut s, six).expect_err("limit").code,
            "InvalidParameterValue.LimitExceeded"
        );
        let v = s
            .call(
                "DescribeHaVips",
                &json!({"HaVipIds": ["havip-web00001"]}),
                "r",
                t0(),
            )
            .expect("ok");
        assert_eq!(v["TotalCount"], 1);
        assert_eq!(v["HaVipSet"][0]["Vip"], "192.0.2.10");
        assert_eq!(v["HaVipSet"][0]["State"], "AVAILABLE");
        assert_eq!(v["HaVipSet"][0]["CheckAssociate"], true);
    }
}
