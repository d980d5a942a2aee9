//! `vipdeck init`: a config to start from, made from what a cluster already
//! has — keepalived.conf, the notify script, a seed-style `vip.py` — and,
//! when credentials are available, what the cloud says about the peers'
//! addresses and the VIP.
//!
//! Three steps, one module each: [`discover`] reads what a peer has (local
//! files or a remote shell over ssh) and parses the scripts; [`guess`]
//! makes the draft from it and fills it from the cloud's answers (pure);
//! [`emit`] writes the draft as a TOML document (`toml_edit`): every value
//! a TOML string made by the serializer, every comment through one function
//! that cannot end its line, so nothing a peer or the cloud says becomes
//! configuration. [`run`] does the reading and the cloud calls. A `vip.py`
//! holds a SecretId/SecretKey: nothing here ever reads those lines, so they
//! cannot end up in the config.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::core::model::Mode;
use crate::core::sanitize::clean_lines;
use crate::core::vpc::types::{
    Filter, HaVip, NetworkInterface, NetworkInterfaceAttachment, PrivateIpAddressSpecification,
};
use crate::faces::cli::out::emit;

pub(crate) mod discover;
pub(crate) mod emit;
pub(crate) mod guess;

use discover::Gathered;
use emit::render;
use guess::{apply_cloud, draft, CloudAnswers};

/// Where the seed scripts put things; written only when they differ.
pub(crate) const DEFAULT_STATE_FILE: &str = "/var/keepalived/state";
pub(crate) const DEFAULT_LOG_FILE: &str = "/var/log/keepalived.log";
pub(crate) const DEFAULT_CONF: &str = "/etc/keepalived/keepalived.conf";
pub(crate) const DEFAULT_REGION: &str = "ap-guangzhou";

/// `vipdeck init` arguments.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct InitArgs {
    /// keepalived.conf to read: a local file or directory, or ssh://[user@]host[:port][/path]
    /// (the path defaults to /etc/keepalived/keepalived.conf).
    #[arg(long, value_name = "PATH|ssh://HOST")]
    pub(crate) from: String,
    /// The seed-style vip.py (ENI ids, VPC, region); found through the
    /// notify script when not given. Its secretId/secretKey are never read.
    #[arg(long, value_name = "PATH")]
    pub(crate) vip_script: Option<String>,
    /// How vipdeck reaches the peers over ssh: this node first, then its
    /// unicast_peer (or ADDRESS=DESTINATION). Default: the addresses.
    #[arg(long, value_name = "DEST")]
    pub(crate) peer_ssh: Vec<String>,
    /// ssh config file (ssh -F), used to read --from ssh:// and written to [ssh].
    #[arg(long, value_name = "PATH")]
    pub(crate) ssh_config: Option<PathBuf>,
    /// VPC API endpoint to ask (and to write to [cloud]), e.g. an emulator.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Region (default: vip.py's Region, else ap-guangzhou).
    #[arg(long)]
    pub region: Option<String>,
    /// Cluster name (default: the vrrp_instance name).
    #[arg(long)]
    pub name: Option<String>,
    /// Only this vrrp_instance (default: every instance with a VIP).
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// This machine is the node whose keepalived.conf is read: watch it
    /// directly (`local = true`) instead of over ssh.
    #[arg(long)]
    pub(crate) local: bool,
    /// Do not ask the cloud, even when credentials are available.
    #[arg(long)]
    pub(crate) no_cloud: bool,
    /// Write the config file (--config PATH or the default path) instead of printing it.
    #[arg(long)]
    pub write: bool,
    /// With --write: replace an existing file.
    #[arg(long, requires = "write")]
    pub force: bool,
}

// ---------------------------------------------------------------------------
// The draft: every value with where it came from
// ---------------------------------------------------------------------------

/// A value and the sentence saying where it came from (a TOML comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub(crate) value: T,
    pub(crate) from: String,
}

pub(crate) fn sourced<T>(value: T, from: impl Into<String>) -> Sourced<T> {
    Sourced {
        value,
        from: from.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftPeer {
    pub name: String,
    /// The peer's VRRP address (unicast_src_ip / unicast_peer), if known.
    pub address: Option<String>,
    pub ssh: Sourced<String>,
    /// Read on this machine (`local = true`) instead of over ssh.
    pub(crate) local: bool,
    pub network_interface_id: Option<Sourced<String>>,
    pub instance_id: Option<Sourced<String>>,
    pub interface: Sourced<String>,
    pub state_file: Sourced<String>,
    pub log_file: Sourced<String>,
    pub keepalived_conf: Sourced<String>,
    /// keepalived's own log: a file, or `None` for the journal.
    pub daemon_log: Sourced<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftCluster {
    pub name: String,
    pub instance: String,
    pub mode: Sourced<Mode>,
    pub vip: Sourced<String>,
    pub havip_id: Option<Sourced<String>>,
    pub peers: [DraftPeer; 2],
    /// Things the operator should check, shown as comments.
    pub(crate) notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub source: String,
    pub region: Sourced<String>,
    pub endpoint: Option<String>,
    pub(crate) ssh_config: Option<PathBuf>,
    pub clusters: Vec<DraftCluster>,
    pub(crate) notes: Vec<String>,
}

/// Reads the files, asks the cloud unless told not to, and returns the
/// draft and its rendering. Progress and warnings go to `log`.
pub async fn run(args: &InitArgs, log: &mut dyn FnMut(String)) -> anyhow::Result<(Draft, String)> {
    let (parsed, g) = discover::gather(args, log).await?;
    let mut d = draft(&parsed, &g, args).map_err(anyhow::Error::msg)?;
    if !args.no_cloud {
        ask_cloud(&mut d, args, log).await;
    }
    let text = render(&d);
    Ok((d, text))
}

/// `vipdeck init`: print the draft config, or write it with --write.
pub async fn command(config: Option<&Path>, args: InitArgs) -> anyhow::Result<u8> {
    let (_, text) = run(&args, &mut |line| {
        eprintln!("vipdeck: {}", clean_lines(&line))
    })
    .await?;
    if !args.write {
        emit(&text)?;
        return Ok(0);
    }
    let path = match config {
        Some(p) => p.to_path_buf(),
        None => crate::core::config::default_path()
            .ok_or_else(|| anyhow::anyhow!("no config directory; pass --config PATH"))?,
    };
    if path.exists() && !args.force {
        bail!(
            "{} exists; pass --force to replace it (or print the config without --write)",
            path.display()
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // 0600 from the first byte: a config is the operator's own, and the
    // next `config check` must not have to warn about it.
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        // --force on an existing, looser file: tighten it too.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod 600 {}", path.display()))?;
        f.write_all(text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "vipdeck: {}",
        clean_lines(&format!(
            "wrote {}; check it with `vipdeck --config {} config check`",
            path.display(),
            path.display()
        ))
    );
    Ok(0)
}

/// Fills the draft from the cloud; any failure becomes a note, not an error.
async fn ask_cloud(d: &mut Draft, args: &InitArgs, log: &mut dyn FnMut(String)) {
    let cloud = crate::core::config::CloudConfig {
        region: d.region.value.clone(),
        endpoint: args
            .endpoint
            .clone()
            .unwrap_or_else(|| crate::core::config::DEFAULT_ENDPOINT.to_string()),
        ..Default::default()
    };
    let client = match crate::sources::cloud::connect(&cloud, &d.region.value).await {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("the cloud was not asked: {e}");
            log(format!("note: {msg}"));
            d.notes.push(msg);
            return;
        }
    };
    log(format!(
        "asking the VPC API at {} ({}) with credentials from {}",
        cloud.endpoint,
        d.region.value,
        client.credential_source()
    ));
    for c in &mut d.clusters {
        match answers(&client, c).await {
            Ok(a) => apply_cloud(c, &a),
            Err(e) => {
                let msg = cloud_failed(c, &e.to_string());
                log(format!("warning: {}: {msg}", c.name));
            }
        }
    }
}

/// A cluster the cloud could not be asked about: the reason is a note.
fn cloud_failed(c: &mut DraftCluster, why: &str) -> String {
    let msg = format!("the cloud could not be asked: {why}");
    c.notes.push(msg.clone());
    msg
}

/// Ids a cloud could answer with, for [`render_from_texts`].
#[derive(Debug, Clone, Default)]
pub struct CloudIds {
    /// The ENI that holds both peers' addresses and the VIP.
    pub eni_id: String,
    /// The instance that ENI is attached to.
    pub instance_id: String,
    /// An HAVIP whose address is the VIP (none when empty).
    pub havip_id: String,
}

/// `init` without I/O, for the tests and the fuzzer: a keepalived.conf
/// whose instances run a seed-style vip.py that loads `vip_json`, the
/// cloud answering with `ids`, or failing with `cloud_error`. The config
/// text, or why there is none.
pub fn render_from_texts(
    conf_text: &str,
    vip_json: &str,
    ids: &CloudIds,
    cloud_error: Option<&str>,
) -> Result<String, String> {
    let (parsed, _) = crate::core::keepalived::conf::parse_lenient(conf_text, &|_| None);
    let g = Gathered {
        source: "keepalived.conf".to_string(),
        vip_script: discover::parse_vip_json(vip_json),
        vip_script_path: Some("/etc/keepalived/vip.py".to_string()),
        ..Default::default()
    };
    let args = InitArgs::default();
    let mut d = draft(&parsed, &g, &args)?;
    for c in &mut d.clusters {
        match cloud_error {
            Some(e) => {
                cloud_failed(c, e);
            }
            None => {
                let eni = NetworkInterface {
                    network_interface_id: ids.eni_id.clone(),
                    private_ip_address_set: c
                        .peers
                        .iter()
                        .filter_map(|p| p.address.clone())
                        .map(|ip| (ip, true))
                        .chain([(c.vip.value.clone(), false)])
                        .map(|(ip, primary)| PrivateIpAddressSpecification {
                            private_ip_address: ip,
                            primary,
                        })
                        .collect(),
                    attachment: Some(NetworkInterfaceAttachment {
                        instance_id: ids.instance_id.clone(),
                    }),
                    ..Default::default()
                };
                let havips = (!ids.havip_id.is_empty())
                    .then(|| HaVip {
                        ha_vip_id: ids.havip_id.clone(),
                        vip: c.vip.value.clone(),
                        ..Default::default()
                    })
                    .into_iter()
                    .collect();
                let a = CloudAnswers {
                    peer_enis: [vec![eni.clone()], vec![eni.clone()]],
                    vip_enis: vec![eni],
                    havips,
                };
                apply_cloud(c, &a);
            }
        }
    }
    Ok(render(&d))
}

fn by_address(ip: &str) -> Vec<Filter> {
    vec![
        Filter::new("address-ip", vec![ip.to_string()]),
        Filter::new("ip-exact-match", vec!["true".to_string()]),
    ]
}

async fn answers(
    client: &crate::sources::cloud::VpcClient,
    c: &DraftCluster,
) -> Result<CloudAnswers, crate::sources::cloud::CloudError> {
    let mut a = CloudAnswers::default();
    for (i, p) in c.peers.iter().enumerate() {
        if let Some(addr) = &p.address {
            a.peer_enis[i] = client
                .describe_network_interfaces_all(&[], &by_address(addr))
                .await?;
        }
    }
    a.havips = client
        .describe_ha_vips_all(
            &[],
            &[Filter::new(
                crate::sources::cloud::batch::HAVIP_VIP_FILTER,
                vec![c.vip.value.clone()],
            )],
        )
        .await?;
    a.vip_enis = client
        .describe_network_interfaces_all(&[], &by_address(&c.vip.value))
        .await?;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::discover::*;
    use super::emit::*;
    use super::guess::*;
    use super::*;
    use crate::core::keepalived::conf;

    fn fixture(rel: &str) -> String {
        let p = format!(
            "{}/tests/fixtures/keepalived/{rel}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn keepalived_s_log_is_found_where_the_distribution_puts_it() {
        // CentOS 7: the seeds' notify log beside rsyslog's /var/log/messages
        // with 1.3.5's own lines; no journal.
        let found = vec![
            (
                "/var/log/keepalived.log".to_string(),
                fixture("versions/1.3.5/notify-a.log"),
            ),
            (
                "/var/log/messages".to_string(),
                fixture("versions/1.3.5/messages-a.log"),
            ),
        ];
        let g = guess_daemon_log(&found);
        assert_eq!(g.value.as_deref(), Some("/var/log/messages"), "{}", g.from);
        assert!(g.from.contains("transitions"), "{}", g.from);
        // Debian/Ubuntu with systemd: only the journal has them.
        let journal = vec![
            (
                "/var/log/syslog".to_string(),
                "Dec  6 07:01:03 a sshd[77]: keepalived? no\n".to_string(),
            ),
            ("journal".to_string(), fixture("real/messages-a.log")),
        ];
        let g = guess_daemon_log(&journal);
        assert_eq!(g.value, None, "{}", g.from);
        assert!(g.from.contains("journal"), "{}", g.from);
        // Nothing anywhere: the default, and the reason.
        let g = guess_daemon_log(&[("/var/log/messages".to_string(), String::new())]);
        assert_eq!(g.value, None);
        assert!(
            g.from
                .contains("no line of keepalived's own found in /var/log/messages"),
            "{}",
            g.from
        );
        // The probe's output splits by candidate.
        let split = split_daemon_log_probe("@@f /var/log/messages\na\nb\n@@f journal\n");
        assert_eq!(
            split,
            vec![
                ("/var/log/messages".into(), "a\nb\n".into()),
                ("journal".into(), String::new())
            ]
        );
    }

    const NOTIFY: &str = r#"#!/bin/bash
#/etc/keepalived/notify_action.sh
log_file=/var/log/keepalived.log
mkdir -p /var/keepalived/
if [ $1 == 'MASTER' ]; then
        echo -n "$1" > /var/keepalived/state
        /etc/keepalived/vip.py migrate &
fi
"#;

    #[test]
    fn notify_script_gives_state_log_and_vip_script() {
        let n = parse_notify_script(NOTIFY);
        assert_eq!(n.state_file.as_deref(), Some("/var/keepalived/state"));
        assert_eq!(n.log_file.as_deref(), Some("/var/log/keepalived.log"));
        assert_eq!(n.vip_script.as_deref(), Some("/etc/keepalived/vip.py"));
        // The vip_check_failed_count file is not the state file.
        let other =
            "echo -n 0 > /var/keepalived/vip_check_failed_count\necho -n \"$1\" > /srv/ka/state\n";
        assert_eq!(
            parse_notify_script(other).state_file.as_deref(),
            Some("/srv/ka/state")
        );
        // A commented-out line does not count.
        assert_eq!(
            parse_notify_script("# /opt/x.py migrate\n").vip_script,
            None
        );
    }

    #[test]
    fn vip_script_never_yields_secrets() {
        let text = "vip = \"10.0.1.100\"\nthisNetworkInterfaceId = 'eni-pvsvph0u'\n\
                    thatNetworkInterfaceId = 'eni-qnxioxyi'\nvpcId = 'vpc-1yxuk010'\n\
                    interface = {\"eth0\":\"10.0.1.17\"}\nconfig = {\n    'Region': 'bj',\n    \
                    'secretId': 'AKIDsecretid',\n    'secretKey': 'TOPSECRET',\n}\n";
        let v = parse_vip_script(text);
        assert_eq!(v.vip.as_deref(), Some("10.0.1.100"));
        assert_eq!(v.this_eni.as_deref(), Some("eni-pvsvph0u"));
        assert_eq!(v.that_eni.as_deref(), Some("eni-qnxioxyi"));
        assert_eq!(v.vpc_id.as_deref(), Some("vpc-1yxuk010"));
        assert_eq!(v.region.as_deref(), Some("bj"));
        assert_eq!(v.interface.as_deref(), Some("eth0"));
        assert_eq!(v.primary_ip.as_deref(), Some("10.0.1.17"));
        let shown = format!("{v:?}");
        assert!(
            !shown.contains("TOPSECRET") && !shown.contains("AKIDsecretid"),
            "{shown}"
        );
        assert_eq!(region_name("bj"), "ap-beijing");
        assert_eq!(region_name("ap-hongkong"), "ap-hongkong");
    }

    #[test]
    fn ssh_sources_split_into_destination_and_path() {
        assert_eq!(
            split_ssh_source("ssh://root@h1"),
            Some(("root@h1".into(), DEFAULT_CONF.into()))
        );
        assert_eq!(
            split_ssh_source("ssh://h1:2222/srv/ka.conf"),
            Some(("ssh://h1:2222".into(), "/srv/ka.conf".into()))
        );
        assert_eq!(split_ssh_source("/etc/keepalived/keepalived.conf"), None);
        assert_eq!(split_ssh_source("ssh:///x"), None);
        assert_eq!(host_of("root@vdlab-a"), "vdlab-a");
        assert_eq!(host_of("ssh://u@h1:2222"), "h1");
        assert_eq!(host_of("[2001:db8::1]"), "2001:db8::1");
    }

    #[test]
    fn cloud_answers_fill_ids_and_detect_havip() {
        let conf = conf::parse(
            "vrrp_instance VI_1 {\n interface eth0\n unicast_src_ip 198.51.100.11\n \
             unicast_peer {\n 198.51.100.12\n }\n virtual_ipaddress {\n 198.51.100.100/24\n }\n}\n",
        )
        .expect("parses");
        let args = InitArgs {
            from: "x".into(),
            ..Default::default()
        };
        let mut d = draft(&conf, &Gathered::default(), &args).expect("draft");
        assert_eq!(d.clusters[0].mode.value, Mode::Havip);
        let eni = |id: &str, ins: &str, ips: &[&str]| NetworkInterface {
            network_interface_id: id.into(),
            private_ip_address_set: ips
                .iter()
                .enumerate()
                .map(
                    |(i, ip)| crate::core::vpc::types::PrivateIpAddressSpecification {
                        private_ip_address: ip.to_string(),
                        primary: i == 0,
                    },
                )
                .collect(),
            attachment: Some(crate::core::vpc::types::NetworkInterfaceAttachment {
                instance_id: ins.into(),
            }),
            ..Default::default()
        };
        let a = CloudAnswers {
            peer_enis: [
                vec![eni("eni-a", "ins-a", &["198.51.100.11", "198.51.100.100"])],
                // A fuzzy match the exact check must drop.
                vec![
                    eni("eni-x", "ins-x", &["198.51.100.120"]),
                    eni("eni-b", "ins-b", &["198.51.100.12"]),
                ],
            ],
            vip_enis: vec![eni("eni-a", "ins-a", &["198.51.100.11", "198.51.100.100"])],
            havips: vec![],
        };
        apply_cloud(&mut d.clusters[0], &a);
        let c = &d.clusters[0];
        assert_eq!(c.mode.value, Mode::Eni, "{:?}", c.mode);
        assert_eq!(
            c.peers[0]
                .network_interface_id
                .as_ref()
                .map(|s| s.value.as_str()),
            Some("eni-a")
        );
        assert_eq!(
            c.peers[1].instance_id.as_ref().map(|s| s.value.as_str()),
            Some("ins-b")
        );
        assert!(c.notes.is_empty(), "{:?}", c.notes);

        let mut d2 = draft(&conf, &Gathered::default(), &args).expect("draft");
        let a2 = CloudAnswers {
            havips: vec![HaVip {
                ha_vip_id: "havip-1".into(),
                vip: "198.51.100.100".into(),
                ..Default::default()
            }],
            ..a
        };
        apply_cloud(&mut d2.clusters[0], &a2);
        assert_eq!(d2.clusters[0].mode.value, Mode::Havip);
        assert_eq!(
            d2.clusters[0].havip_id.as_ref().map(|s| s.value.as_str()),
            Some("havip-1")
        );
        let text = render(&d2);
        let parsed = crate::core::config::parse(&text, Path::new("init.toml"))
            .expect("renders valid config");
        assert_eq!(parsed.clusters[0].havip_id.as_deref(), Some("havip-1"));
    }
}
