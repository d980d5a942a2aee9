//! The config file (DESIGN.md, "Contracts"): parsing and validation.
//!
//! Parsing runs in three steps so every error can name the file, the line
//! and column, and the key path (`clusters[0].peers[1].ssh`):
//! 1. `toml_edit` parses the text into a document that keeps byte spans of
//!    every key and value (syntax errors come out here);
//! 2. serde fills plain "raw" structs (unknown keys, wrong types and
//!    missing keys come out here; their spans are mapped back to key paths
//!    through the document);
//! 3. the raw structs are checked and converted into [`Config`]; each
//!    semantic error names a key path, which the document turns into a span.
//!
//! [`schema`] holds the types and their defaults; [`mod@load`] reads the
//! text and maps errors to positions (with unknown-key suggestions);
//! [`validate`] holds the semantic checks. Everything here is pure except
//! [`load()`], [`default_path`] and [`data_dir`]. The config layer knows no
//! UI types.

use std::fmt;
use std::path::PathBuf;

pub mod load;
pub mod schema;
pub mod validate;

pub use load::{data_dir, default_path, load, parse};
pub(crate) use schema::DEFAULT_ENDPOINT;
pub use schema::{
    AlertmanagerConfig, CloudConfig, ClusterConfig, Config, FailoverConfig, MonitorConfig,
    PeerConfig, PeerTarget, SshConfig, UiConfig,
};

/// Environment variable that overrides [`default_path`].
pub(crate) const CONFIG_ENV: &str = "VIPDECK_CONFIG";
/// Environment variable that overrides [`data_dir`].
pub(crate) const DATA_DIR_ENV: &str = "VIPDECK_DATA_DIR";

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A 1-based line and column (in characters) in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The file could not be read.
    Read,
    /// Not valid TOML.
    Syntax,
    /// A key vipdeck does not know (often a typo).
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong type or out of range.
    InvalidValue,
    /// The file parses but names no cluster (see [`Config::validate`]).
    NoClusters,
}

/// A config problem, shown as
/// `FILE:LINE:COL: KEY: MESSAGE` (location and key when known).
/// Messages never echo string values that could be secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub location: Option<Location>,
    /// The key path, e.g. `clusters[0].peers[1].ssh`.
    pub key: Option<String>,
    pub kind: ConfigErrorKind,
    pub message: String,
    /// The file's other problems, in file order after this one: all are
    /// said at once, each on its own line.
    pub also: Box<[ConfigError]>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(loc) = self.location {
            write!(f, ":{}:{}", loc.line, loc.column)?;
        }
        if let Some(key) = &self.key {
            if !key.is_empty() {
                write!(f, ": {key}")?;
            }
        }
        write!(f, ": {}", self.message)?;
        for e in &self.also {
            write!(f, "\n{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::core::model::Mode;

    const GOOD: &str = r#"
[cloud]
region = "ap-shanghai"

[[clusters]]
name = "web"
mode = "havip"
vip = "172.16.16.12"
havip_id = "havip-abcd1234"
  [[clusters.peers]]
  name = "havip-01"
  ssh = "root@172.16.16.5"
  network_interface_id = "eni-aaaa0001"
  [[clusters.peers]]
  name = "havip-02"
  local = true
  interface = "eth1"
"#;

    fn at(line: usize, column: usize) -> Option<Location> {
        Some(Location { line, column })
    }

    fn p(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("/etc/vipdeck/config.toml"))
    }

    #[test]
    fn good_config_applies_defaults() {
        let c = p(GOOD).expect("parses");
        assert_eq!(c.cloud.region, "ap-shanghai");
        assert_eq!(c.cloud.endpoint, "https://vpc.tencentcloudapi.com");
        assert_eq!(c.monitor.poll_interval_ms, 1000);
        assert_eq!(c.ui.tick_ms, 1000);
        let web = &c.clusters[0];
        assert_eq!(web.mode, Mode::Havip);
        assert_eq!(
            web.peers[0].target,
            PeerTarget::Ssh("root@172.16.16.5".into())
        );
        assert_eq!(web.peers[1].target, PeerTarget::Local);
        assert_eq!(web.peers[0].interface, "eth0");
        assert_eq!(web.peers[1].interface, "eth1");
        assert_eq!(
            web.peers[1].state_file,
            PathBuf::from("/var/keepalived/state")
        );
        assert_eq!(web.effective_region(&c.cloud), "ap-shanghai");
        let spec = web.spec();
        assert_eq!(spec.vip, "172.16.16.12");
        assert_eq!(spec.peers[0].address, "root@172.16.16.5");
        assert_eq!(spec.peers[1].address, "local");
        assert_eq!(c.path, Some(PathBuf::from("/etc/vipdeck/config.toml")));
        // Its second peer names no id: the binding cannot be matched to it.
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("names neither"), "{:?}", c.warnings);
    }

    #[test]
    fn a_name_that_would_print_differently_is_refused_where_it_is() {
        let text = GOOD.replace("name = \"web\"", "name = \"web\\u001b[2J\"");
        let e = p(&text).expect_err("escape in a name");
        let shown = e.to_string();
        assert!(
            shown.starts_with("/etc/vipdeck/config.toml:6:8: clusters[0].name: cluster name holds the character U+001B"),
            "{shown}"
        );
        let text = GOOD.replace("name = \"havip-02\"", "name = \"havip\\u200b-02\"");
        let shown = p(&text).expect_err("invisible mark").to_string();
        assert!(
            shown.contains("clusters[0].peers[1].name: peer name holds the character U+200B"),
            "{shown}"
        );
        assert!(
            crate::core::sanitize::is_safe(&shown),
            "the error itself prints safely: {shown}"
        );
    }

    #[test]
    fn mode_error_points_at_the_value() {
        let text = GOOD.replace("mode = \"havip\"", "mode = \"vrrp\"");
        let e = p(&text).expect_err("bad mode");
        assert_eq!(
            e.to_string(),
            "/etc/vipdeck/config.toml:7:8: clusters[0].mode: unknown mode \"vrrp\" \
             (expected \"eni\" or \"havip\")"
        );
    }

    #[test]
    fn unknown_key_is_located_and_a_close_key_suggested() {
        let text = GOOD.replace("ssh = ", "ssh_host = ");
        let e = p(&text).expect_err("unknown key");
        assert_eq!(e.kind, ConfigErrorKind::UnknownKey);
        assert_eq!(e.key.as_deref(), Some("clusters[0].peers[0].ssh_host"));
        assert_eq!(
            e.location,
            Some(Location {
                line: 12,
                column: 3
            })
        );
        assert!(e.message.contains("did you mean \"ssh\""), "{}", e.message);
    }

    #[test]
    fn type_errors_never_echo_string_values() {
        let text = "[cloud]\ntimeout_ms = \"hunter2-secret\"\n";
        let e = p(text).expect_err("wrong type");
        let shown = e.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(e.key.as_deref(), Some("cloud.timeout_ms"));
        assert_eq!(e.location.map(|l| l.line), Some(2));
        assert!(shown.contains("expected a whole number"), "{shown}");
    }

    #[test]
    fn syntax_error_context_names_the_table_and_key() {
        let text = "[[clusters]]\nname = \"a\"\n[[clusters.peers]]\nname = \"x\"\n\
                    [[clusters.peers]]\nname = \"y\nssh = \"b\"\n";
        let e = p(text).expect_err("syntax");
        assert_eq!(e.kind, ConfigErrorKind::Syntax);
        assert_eq!(e.location.map(|l| l.line), Some(6));
        assert_eq!(e.key.as_deref(), Some("clusters[0].peers[1].name"));
    }

    #[test]
    fn no_clusters_parses_but_does_not_validate() {
        let c = p("").expect("empty config parses");
        assert!(c.clusters.is_empty());
        let e = c.validate().expect_err("no clusters");
        assert_eq!(e.kind, ConfigErrorKind::NoClusters);
        assert!(e
            .to_string()
            .starts_with("/etc/vipdeck/config.toml: clusters: no clusters"));
        assert!(p(GOOD).expect("good").validate().is_ok());
    }

    #[test]
    fn havip_peers_without_ids_warn() {
        let text = "[[clusters]]\nname = \"web\"\nmode = \"havip\"\nvip = \"192.0.2.10\"\n\
            [[clusters.peers]]\nname = \"a\"\nssh = \"a\"\ninstance_id = \"ins-1\"\n\
            [[clusters.peers]]\nname = \"b\"\nssh = \"b\"\n";
        let c = parse(text, Path::new("t.toml")).expect("parses");
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].starts_with("clusters[0].peers[1]: \"b\" names neither"));
    }

    #[test]
    fn a_cluster_can_set_its_own_grace() {
        let text = "[monitor]\nhavip_grace_ms = 15000\n\
            [[clusters]]\nname = \"web\"\nmode = \"havip\"\nvip = \"192.0.2.10\"\n\
            havip_id = \"havip-1\"\nconverge_grace_ms = 60000\n\
            [[clusters.peers]]\nname = \"a\"\nssh = \"a\"\nnetwork_interface_id = \"eni-1\"\n\
            [[clusters.peers]]\nname = \"b\"\nssh = \"b\"\nnetwork_interface_id = \"eni-2\"\n";
        let c = parse(text, Path::new("t.toml")).expect("parses");
        let t = c.thresholds();
        assert_eq!(t.havip_grace, Duration::from_secs(15));
        assert_eq!(
            t.grace_by_cluster.get("web"),
            Some(&Duration::from_secs(60))
        );
    }

    #[test]
    fn inline_tables_and_dotted_keys_are_located_too() {
        let text = "cloud.region = \"ap-beijing\"\n\
                    clusters = [{ name = \"a\", mode = \"eni\", vip = \"10.0.0.1\", peers = [\n\
                    { name = \"x\", ssh = \"h1\" },\n\
                    { name = \"y\", sssh = \"h2\" },\n\
                    ] }]\n";
        let e = p(text).expect_err("typo in an inline table");
        assert_eq!(e.key.as_deref(), Some("clusters[0].peers[1].sssh"));
        assert_eq!(e.location, at(4, 15));
        assert!(e.message.contains("did you mean \"ssh\""), "{}", e.message);

        let fixed = text.replace("sssh", "local = true, instance_id");
        let c = p(&fixed).expect("parses");
        assert_eq!(c.cloud.region, "ap-beijing");
        assert_eq!(c.clusters[0].peers[1].target, PeerTarget::Local);

        let bad_vip = fixed.replace("10.0.0.1", "10.0.0");
        let e = p(&bad_vip).expect_err("bad vip");
        assert_eq!(e.key.as_deref(), Some("clusters[0].vip"));
        assert_eq!(e.location, at(2, 47));
    }

    #[test]
    fn eni_mode_with_havip_id_warns() {
        let text = GOOD.replace("mode = \"havip\"", "mode = \"eni\"");
        let c = p(&text).expect("parses");
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].contains("clusters[0].havip_id"));
    }

    #[test]
    fn a_region_typo_names_the_region_meant_and_an_unknown_one_is_a_warning() {
        let with = |region: &str| GOOD.replace("ap-shanghai", region);
        let e = p(&with("ap-bejing")).expect_err("a typo");
        assert_eq!(e.key.as_deref(), Some("cloud.region"));
        assert_eq!(e.location, at(3, 10));
        assert!(e.message.contains("did you mean \"ap-beijing\""), "{e}");
        let c = p(&with("xx-atlantis")).expect("an unknown region is not refused");
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("cloud.region") && w.contains("xx-atlantis")),
            "{:?}",
            c.warnings
        );
        for known in validate::KNOWN_REGIONS {
            let c = p(&with(known)).expect("a known region");
            assert!(c.warnings.iter().all(|w| !w.contains("region")), "{known}");
        }
    }
}
