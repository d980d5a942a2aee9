//! The `vipdeck` command line: parses arguments and hands over to the
//! library. Each subcommand lives in its own module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "vipdeck", version, about = "Terminal console for keepalived pairs in a Tencent Cloud VPC")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The VPC API emulator.
    Cloudsim(vipdeck::cloudsim::CloudsimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vipdeck: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Cloudsim(args)) => rt.block_on(vipdeck::cloudsim::run(args)),
        None => Err(anyhow::anyhow!("the dashboard is not built yet")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vipdeck: {e:#}");
            ExitCode::FAILURE
        }
    }
}
