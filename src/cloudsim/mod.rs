//! `vipdeck cloudsim`: an emulator of the VPC API that verifies real TC3
//! signatures, for tests, the lab and rehearsals.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct CloudsimArgs {
    /// Address to listen on, e.g. 127.0.0.1:9400.
    #[arg(long, default_value = "127.0.0.1:9400")]
    pub listen: String,
}

pub async fn run(args: CloudsimArgs) -> anyhow::Result<()> {
    anyhow::bail!("cloudsim is not built yet (listen {})", args.listen)
}
