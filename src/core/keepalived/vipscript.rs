//! A seed-style `vip.py` (the script the notify lines run to move the VIP
//! by API) and the JSON settings file it may load: the VIP and the ENIs it
//! names. Pure: text in, settings out; secrets are never read. `vipdeck
//! init` fills a config from them, `vipdeck lint` checks them.

use std::sync::OnceLock;

use regex::Regex;

fn re(cell: &'static OnceLock<Option<Regex>>, pattern: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pattern).ok()).as_ref()
}

/// The settings of a seed-style vip.py (or of the JSON file it reads).
/// Deliberately without secretId/secretKey.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VipScript {
    pub vip: Option<String>,
    pub(crate) this_eni: Option<String>,
    pub(crate) that_eni: Option<String>,
    pub(crate) vpc_id: Option<String>,
    /// As written: `bj`, `ap-beijing`, ...
    pub region: Option<String>,
    /// `interface = {"eth0": "10.0.1.17"}`: this node's NIC and address.
    pub interface: Option<String>,
    pub(crate) primary_ip: Option<String>,
    /// A settings file the script loads (`CONF_FILE = ... "/etc/keepalived/vip.conf"`).
    pub(crate) conf_file: Option<String>,
}

/// Reads the assignments a seed vip.py is edited at; nothing else.
pub(crate) fn parse_vip_script(text: &str) -> VipScript {
    static ASSIGN: OnceLock<Option<Regex>> = OnceLock::new();
    static REGION: OnceLock<Option<Regex>> = OnceLock::new();
    static IFACE: OnceLock<Option<Regex>> = OnceLock::new();
    static CONF: OnceLock<Option<Regex>> = OnceLock::new();
    let assign = re(
        &ASSIGN,
        r#"^\s*(thisNetworkInterfaceId|thatNetworkInterfaceId|vpcId|vip)\s*=\s*['"]([^'"]*)['"]"#,
    );
    let region = re(&REGION, r#"['"]Region['"]\s*:\s*['"]([^'"]+)['"]"#);
    let iface = re(
        &IFACE,
        r#"^\s*interface\s*=\s*\{\s*['"]([^'"]+)['"]\s*:\s*['"]([^'"]+)['"]"#,
    );
    let conf = re(&CONF, r#"^\s*CONF_FILE\s*=.*?['"](/[^'"]+)['"]"#);
    let mut v = VipScript::default();
    for line in text.lines() {
        let caps = |r: Option<&Regex>| r.and_then(|r| r.captures(line));
        if let Some(c) = caps(assign) {
            let value = Some(c[2].to_string());
            match &c[1] {
                "thisNetworkInterfaceId" => v.this_eni = v.this_eni.take().or(value),
                "thatNetworkInterfaceId" => v.that_eni = v.that_eni.take().or(value),
                "vpcId" => v.vpc_id = v.vpc_id.take().or(value),
                _ => v.vip = v.vip.take().or(value),
            }
        } else if let Some(c) = caps(region) {
            v.region = v.region.take().or(Some(c[1].to_string()));
        } else if let Some(c) = caps(iface) {
            v.interface = Some(c[1].to_string());
            v.primary_ip = Some(c[2].to_string());
        } else if let Some(c) = caps(conf) {
            v.conf_file = Some(c[1].to_string());
        }
    }
    v
}

/// A JSON settings file next to vip.py (`vip`, `interface`, `primary_ip`,
/// `this_eni`, `that_eni`, `region`, `vpc_id`); secrets are not read.
pub(crate) fn parse_vip_json(text: &str) -> Option<VipScript> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let s = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .filter(|x| !x.is_empty())
            .map(str::to_string)
    };
    Some(VipScript {
        vip: s("vip"),
        this_eni: s("this_eni"),
        that_eni: s("that_eni"),
        vpc_id: s("vpc_id"),
        region: s("region"),
        interface: s("interface"),
        primary_ip: s("primary_ip"),
        conf_file: None,
    })
}

impl VipScript {
    /// Fields of `other` fill the gaps of `self`.
    pub(crate) fn or(self, other: VipScript) -> VipScript {
        VipScript {
            vip: self.vip.or(other.vip),
            this_eni: self.this_eni.or(other.this_eni),
            that_eni: self.that_eni.or(other.that_eni),
            vpc_id: self.vpc_id.or(other.vpc_id),
            region: self.region.or(other.region),
            interface: self.interface.or(other.interface),
            primary_ip: self.primary_ip.or(other.primary_ip),
            conf_file: self.conf_file.or(other.conf_file),
        }
    }
}
