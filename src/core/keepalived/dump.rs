//! keepalived's own view of its instances: the JSON dump
//! (`/tmp/keepalived.json`, written on `keepalived --signum=JSON`) and the
//! text data dump (`/tmp/keepalived.data`, on `--signum=DATA`), as
//! keepalived 2.2.7 writes them (tests/fixtures/keepalived/real/).
//!
//! The JSON dump carries the VRRP password (`auth_data`); it is never read
//! into these types.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::track::DumpWhy;
use crate::core::model::VrrpState;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DumpError {
    #[error("keepalived JSON dump is not valid JSON: {0}")]
    Json(String),
    #[error("keepalived JSON dump: {0}")]
    Shape(String),
    #[error("keepalived data dump has no VRRP instance")]
    NoInstance,
}

/// keepalived's numeric states (vrrp.h): 0 INIT, 1 BACKUP, 2 MASTER,
/// 3 FAULT, 97 DELETED, 98 STOP. INIT and DELETED have no
/// [`VrrpState`] and read as `Unknown`.
pub(crate) fn state_from_code(code: i64) -> VrrpState {
    match code {
        1 => VrrpState::Backup,
        2 => VrrpState::Master,
        3 => VrrpState::Fault,
        98 => VrrpState::Stop,
        _ => VrrpState::Unknown,
    }
}

/// Counters from the `stats` object of a JSON dump entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpStats {
    pub(crate) advert_rcvd: u64,
    pub(crate) advert_sent: u64,
    pub become_master: u64,
    pub(crate) release_master: u64,
    pub(crate) packet_len_err: u64,
    pub(crate) advert_interval_err: u64,
    pub(crate) ip_ttl_err: u64,
    pub(crate) invalid_type_rcvd: u64,
    pub(crate) addr_list_err: u64,
    pub(crate) invalid_authtype: u64,
    pub(crate) authtype_mismatch: u64,
    pub(crate) auth_failure: u64,
    pub(crate) pri_zero_rcvd: u64,
    pub(crate) pri_zero_sent: u64,
}

/// One instance from the JSON dump.
#[derive(Debug, Clone, PartialEq)]
pub struct DumpInstance {
    pub iname: String,
    pub state: VrrpState,
    /// keepalived's numeric state, kept because INIT/DELETED read as Unknown.
    pub state_code: Option<i64>,
    pub wantstate: VrrpState,
    pub(crate) wantstate_code: Option<i64>,
    pub last_transition: Option<DateTime<Utc>>,
    pub vrid: Option<u8>,
    pub base_priority: Option<u8>,
    pub effective_priority: Option<u8>,
    /// The priority of the master this instance last heard (0: none).
    pub master_priority: Option<u8>,
    pub interface: Option<String>,
    /// As keepalived prints them: `192.0.2.100/24 dev eth0 scope global set`.
    pub vips: Vec<String>,
    /// Whether the VIPs are currently set on the interface.
    pub vipset: Option<bool>,
    pub nopreempt: Option<bool>,
    pub advert_int: Option<f64>,
    pub stats: DumpStats,
    /// Priorities, preemption and trackers (names only: the JSON dump
    /// gives no tracker's result).
    pub why: DumpWhy,
}

impl DumpInstance {
    /// The VIP addresses without prefix or options.
    pub fn vip_addresses(&self) -> Vec<String> {
        vip_addresses(&self.vips)
    }
}

/// Float epoch seconds (`1795305003.832747`) to a time; 0 or nonsense is
/// None.
fn epoch(secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() || secs <= 0.0 || secs > 1e11 {
        return None;
    }
    // keepalived prints microseconds; an f64 of ~1.8e9 is only good to
    // ~0.2 µs, so round to the microsecond it printed.
    let whole = secs.floor();
    let micros = ((secs - whole) * 1e6).round().clamp(0.0, 999_999.0) as u32;
    DateTime::from_timestamp(whole as i64, micros * 1000)
}

fn u8_field(o: &Value, k: &str) -> Option<u8> {
    o.get(k)?.as_u64().and_then(|v| u8::try_from(v).ok())
}

fn bool_field(o: &Value, k: &str) -> Option<bool> {
    // keepalived writes some flags as true/false and others as 0/1.
    match o.get(k)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|v| v != 0),
        _ => None,
    }
}

fn stats_from(o: &Value) -> DumpStats {
    let n = |k: &str| o.get(k).and_then(Value::as_u64).unwrap_or(0);
    DumpStats {
        advert_rcvd: n("advert_rcvd"),
        advert_sent: n("advert_sent"),
        become_master: n("become_master"),
        release_master: n("release_master"),
        packet_len_err: n("packet_len_err"),
        advert_interval_err: n("advert_interval_err"),
        ip_ttl_err: n("ip_ttl_err"),
        invalid_type_rcvd: n("invalid_type_rcvd"),
        addr_list_err: n("addr_list_err"),
        invalid_authtype: n("invalid_authtype"),
        authtype_mismatch: n("authtype_mismatch"),
        auth_failure: n("auth_failure"),
        pri_zero_rcvd: n("pri_zero_rcvd"),
        pri_zero_sent: n("pri_zero_sent"),
    }
}

/// Parses `/tmp/keepalived.json`: a JSON array with one
/// `{"data": {...}, "stats": {...}}` per instance. Fields that are missing
/// or of the wrong type read as None; an entry without `data.iname`, or
/// input that is not such an array, is an error.
pub fn parse_json_dump(bytes: &[u8]) -> Result<Vec<DumpInstance>, DumpError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| DumpError::Json(e.to_string()))?;
    let Value::Array(entries) = v else {
        return Err(DumpError::Shape(
            "expected a JSON array of instances".into(),
        ));
    };
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let data = entry
            .get("data")
            .filter(|d| d.is_object())
            .ok_or_else(|| DumpError::Shape(format!("entry {i} has no \"data\" object")))?;
        let iname = data
            .get("iname")
            .and_then(Value::as_str)
            .ok_or_else(|| DumpError::Shape(format!("entry {i} has no \"iname\"")))?;
        let state_code = data.get("state").and_then(Value::as_i64);
        let wantstate_code = data.get("wantstate").and_then(Value::as_i64);
        out.push(DumpInstance {
            iname: iname.to_string(),
            state: state_code.map_or(VrrpState::Unknown, state_from_code),
            state_code,
            wantstate: wantstate_code.map_or(VrrpState::Unknown, state_from_code),
            wantstate_code,
            last_transition: data
                .get("last_transition")
                .and_then(Value::as_f64)
                .and_then(epoch),
            vrid: u8_field(data, "vrid"),
            base_priority: u8_field(data, "base_priority"),
            effective_priority: u8_field(data, "effective_priority"),
            master_priority: u8_field(data, "master_priority"),
            interface: data
                .get("ifp_ifname")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            vips: data
                .get("vips")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            vipset: bool_field(data, "vipset"),
            nopreempt: bool_field(data, "nopreempt"),
            advert_int: data.get("adver_int").and_then(Value::as_f64),
            stats: entry.get("stats").map(stats_from).unwrap_or_default(),
            why: super::track::json_why(data, wantstate_code.map(|c| state_from_code(c).as_str())),
        });
    }
    Ok(out)
}

/// One instance from the text data dump.
#[derive(Debug, Clone, PartialEq)]
pub struct DataInstance {
    pub iname: String,
    pub state: VrrpState,
    /// The state word as written (`MASTER`, `INIT`, ...).
    pub(crate) state_word: String,
    pub wantstate: Option<VrrpState>,
    pub last_transition: Option<DateTime<Utc>>,
    pub priority: Option<u8>,
    pub effective_priority: Option<u8>,
    pub vrid: Option<u8>,
    pub interface: Option<String>,
    pub vips: Vec<String>,
    pub unicast_peers: Vec<String>,
    /// Priorities, preemption, trackers and their results.
    pub why: DumpWhy,
}

impl DataInstance {
    /// The VIP addresses without prefix or options.
    pub fn vip_addresses(&self) -> Vec<String> {
        vip_addresses(&self.vips)
    }
}

/// What either dump says of one instance: all a peer's VRRP state needs.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceWord {
    pub iname: String,
    pub state: VrrpState,
    pub last_transition: Option<DateTime<Utc>>,
    pub vip_addresses: Vec<String>,
    /// What moved its priority or put it in FAULT, as far as the dump says.
    pub why: DumpWhy,
}

impl From<&DumpInstance> for InstanceWord {
    fn from(d: &DumpInstance) -> Self {
        InstanceWord {
            iname: d.iname.clone(),
            state: d.state,
            last_transition: d.last_transition,
            vip_addresses: d.vip_addresses(),
            why: d.why.clone(),
        }
    }
}

impl From<&DataInstance> for InstanceWord {
    fn from(d: &DataInstance) -> Self {
        InstanceWord {
            iname: d.iname.clone(),
            state: d.state,
            last_transition: d.last_transition,
            vip_addresses: d.vip_addresses(),
            why: d.why.clone(),
        }
    }
}

fn vip_addresses(vips: &[String]) -> Vec<String> {
    vips.iter()
        .filter_map(|v| v.split_whitespace().next())
        .map(|a| a.split('/').next().unwrap_or(a).to_string())
        .collect()
}

/// Parses `/tmp/keepalived.data`: the `VRRP Topology` section's
/// `VRRP Instance = NAME` blocks and their `Key = value` lines. Lines it
/// does not know are skipped; text without any instance is an error.
pub fn parse_data_dump(bytes: &[u8]) -> Result<Vec<DataInstance>, DumpError> {
    let text = String::from_utf8_lossy(bytes);
    let mut out: Vec<DataInstance> = Vec::new();
    // The list header we are under (`Virtual IP (1):`, `Unicast Peer :`)
    // and its indentation; list items are indented deeper.
    let mut list: Option<(&str, usize)> = None;
    let mut in_topology = false;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if t.starts_with("------<") {
            // 1.x prints a `NIC` block inside an instance, whose lines go
            // on after it: that header does not end the topology.
            in_topology = t.contains("VRRP Topology") || (in_topology && t.contains("< NIC >"));
            list = None;
            continue;
        }
        if !in_topology {
            continue;
        }
        if let Some(name) = t.strip_prefix("VRRP Instance = ") {
            out.push(DataInstance {
                iname: name.trim().to_string(),
                state: VrrpState::Unknown,
                state_word: String::new(),
                wantstate: None,
                last_transition: None,
                priority: None,
                effective_priority: None,
                vrid: None,
                interface: None,
                vips: Vec::new(),
                unicast_peers: Vec::new(),
                why: DumpWhy::default(),
            });
            list = None;
            continue;
        }
        let Some(cur) = out.last_mut() else { continue };
        if let Some((which, at)) = list {
            if indent > at && !t.is_empty() {
                let first = t.split_whitespace().next().unwrap_or_default();
                match which {
                    "vip" => cur.vips.push(t.to_string()),
                    "peer" => cur.unicast_peers.push(first.to_string()),
                    _ => {}
                }
                continue;
            }
            list = None;
        }
        // The list headers of each era: `Virtual IP (1):` (2.2.7+),
        // `Virtual IP :` (2.1, 2.2.4), `Virtual IP = 1` (1.x, 2.0).
        let list_header = |name: &str| {
            t.strip_prefix(name)
                .is_some_and(|r| r.starts_with(" (") || r.trim() == ":" || r.starts_with(" = "))
        };
        if list_header("Virtual IP") {
            list = Some(("vip", indent));
            continue;
        }
        if list_header("Unicast Peer") {
            list = Some(("peer", indent));
            continue;
        }
        let Some((key, value)) = t.split_once(" = ") else {
            continue;
        };
        let value = value.trim();
        match key {
            "State" => {
                cur.state_word = value.to_string();
                // 1.x prints states it has no word for as numbers
                // (`State = 0` while INIT).
                cur.state = match value.parse::<i64>() {
                    Ok(code) => state_from_code(code),
                    Err(_) => VrrpState::from_word(value),
                };
            }
            "Wantstate" => cur.wantstate = Some(VrrpState::from_word(value)),
            "Last transition" => {
                cur.last_transition = value
                    .split_whitespace()
                    .next()
                    .and_then(|s| s.parse::<f64>().ok())
                    .and_then(epoch);
            }
            "Priority" => cur.priority = value.parse().ok(),
            "Effective priority" => cur.effective_priority = value.parse().ok(),
            "Virtual Router ID" => cur.vrid = value.parse().ok(),
            "Interface" => cur.interface = Some(value.to_string()),
            _ => {}
        }
    }
    if out.is_empty() {
        return Err(DumpError::NoInstance);
    }
    let mut whys = super::track::data_dump_why(&text);
    for inst in &mut out {
        if let Some(why) = whys.remove(&inst.iname) {
            inst.why = why;
        }
    }
    Ok(out)
}
