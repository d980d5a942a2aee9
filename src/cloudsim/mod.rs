//! `vipdeck cloudsim`: an emulator of the VPC API that verifies real TC3
//! signatures, for tests, the lab and rehearsals (docs/cloudsim.md).
//!
//! - `world.rs`: the world file (keys, VPCs, subnets, instances, ENIs,
//!   HAVIPs) and its consistency checks.
//! - `sim.rs`: the actions and what happens over time (migrations, GARP
//!   rebinds), with the clock passed in.
//! - `auth.rs`: signature verification with the client's own signer.
//! - `server.rs`: HTTP (axum), fault injection, the admin endpoints.
//!
//! From a test: `cloudsim::start("127.0.0.1:0", Config::new(example_world()?))`
//! gives a [`Running`] with the address to point a client at.

pub mod auth;
pub mod engine;
pub mod server;
pub mod world;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use clap::Args;

pub use engine::Timing;
pub use server::{start, Config, Faults, Running};
pub use world::{example_world, generated_world, World, EXAMPLE_WORLD};

#[derive(Debug, Clone, Args)]
pub struct CloudsimArgs {
    /// Address to listen on; port 0 picks a free port. Loopback, or a
    /// documentation address (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24)
    /// for a lab namespace: the admin endpoints have no authentication.
    #[arg(long, default_value = "127.0.0.1:9400")]
    pub(crate) listen: String,
    /// World file (JSON). Without it, the built-in example world.
    #[arg(long, value_name = "PATH", conflicts_with = "generate_clusters")]
    pub state: Option<std::path::PathBuf>,
    /// Instead of a world file, N generated keepalived pairs (up to 504),
    /// for batching and paging: see docs/cloudsim.md.
    #[arg(long, value_name = "N")]
    pub(crate) generate_clusters: Option<usize>,
    /// Print the built-in example world and exit.
    #[arg(long)]
    pub(crate) print_example_world: bool,
    /// Delay from MigratePrivateIpAddress to the IP having moved.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    pub(crate) migration_delay_ms: u64,
    /// Delay from a GARP claim to the HAVIP being rebound.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    pub(crate) havip_delay_ms: u64,
    /// At most one GARP claim per device in this interval.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    pub(crate) garp_interval_ms: u64,
    /// Latency added to every API call.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub(crate) latency_ms: u64,
    /// Fail this share of API calls with CODE, e.g. RequestLimitExceeded=0.3
    /// (repeatable).
    #[arg(long, value_name = "CODE=RATE")]
    pub error_rate: Vec<String>,
    /// Hold every API call until cleared through POST /admin/faults.
    #[arg(long)]
    pub(crate) hang: bool,
    /// The first migration ends FAILED.
    #[arg(long)]
    pub fail_next_migration: bool,
}

fn listen_allowed(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || (o[0], o[1], o[2]) == (192, 0, 2)
                || (o[0], o[1], o[2]) == (198, 51, 100)
                || (o[0], o[1], o[2]) == (203, 0, 113)
        }
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

fn parse_error_rates(items: &[String]) -> anyhow::Result<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for item in items {
        let (code, rate) = item
            .split_once('=')
            .with_context(|| format!("--error-rate {item:?}: expected CODE=RATE"))?;
        let rate: f64 = rate
            .trim()
            .parse()
            .with_context(|| format!("--error-rate {item:?}: RATE is not a number"))?;
        out.insert(code.trim().to_string(), rate);
    }
    Ok(out)
}

fn ms(n: u64) -> chrono::Duration {
    chrono::Duration::milliseconds(i64::try_from(n).unwrap_or(i64::MAX / 1_000_000))
}

/// Builds the emulator configuration from the command line.
pub(crate) fn config_from_args(args: &CloudsimArgs) -> anyhow::Result<Config> {
    let world = match &args.state {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read world file {}", path.display()))?;
            World::from_json(&text).with_context(|| format!("world file {}", path.display()))?
        }
        None => match args.generate_clusters {
            Some(n) => generated_world(n)?,
            None => example_world()?,
        },
    };
    let faults = Faults {
        latency_ms: args.latency_ms,
        error_rate: parse_error_rates(&args.error_rate)?,
        hang: args.hang,
    };
    faults.check().map_err(anyhow::Error::msg)?;
    Ok(Config {
        world,
        timing: Timing {
            migration_delay: ms(args.migration_delay_ms),
            havip_delay: ms(args.havip_delay_ms),
            garp_interval: ms(args.garp_interval_ms),
        },
        faults,
        fail_next_migration: args.fail_next_migration,
    })
}

pub async fn run(args: CloudsimArgs) -> anyhow::Result<()> {
    if args.print_example_world {
        print!("{EXAMPLE_WORLD}");
        return Ok(());
    }
    let addr: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {:?} is not IP:PORT", args.listen))?;
    if !listen_allowed(addr.ip()) {
        anyhow::bail!(
            "--listen {addr}: cloudsim has unauthenticated admin endpoints; listen on loopback \
             or a documentation address (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) only"
        );
    }
    let config = config_from_args(&args)?;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let running = start(&args.listen, config).await?;
    // Tests and the lab wait for exactly this line.
    println!("cloudsim listening on {}", running.url());
    use std::io::Write;
    std::io::stdout().flush()?;
    tokio::signal::ctrl_c().await?;
    running.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_and_documentation_addresses() {
        for ok in [
            "127.0.0.1",
            "::1",
            "192.0.2.1",
            "198.51.100.9",
            "203.0.113.5",
        ] {
            assert!(listen_allowed(ok.parse().expect("ip")), "{ok}");
        }
        for bad in ["0.0.0.0", "10.0.0.1", "172.16.16.5", "::"] {
            assert!(!listen_allowed(bad.parse().expect("ip")), "{bad}");
        }
    }

    #[test]
    fn error_rates_parse_with_clear_errors() {
        let m = parse_error_rates(&[
            "RequestLimitExceeded=0.5".into(),
            "InternalError = 0.1".into(),
        ])
        .expect("parses");
        assert_eq!(m.get("RequestLimitExceeded"), Some(&0.5));
        assert_eq!(m.get("InternalError"), Some(&0.1));
        let e = parse_error_rates(&["RequestLimitExceeded".into()]).expect_err("no rate");
        assert!(e.to_string().contains("CODE=RATE"));
    }
}
