//! The `vipdeck` command line: parses the arguments and hands them to the
//! command-line face ([`vipdeck::faces::cli`]). Nothing else lives here.

use std::process::ExitCode;

use clap::Parser;

use vipdeck::faces::cli::{self, args::Cli};

fn main() -> ExitCode {
    match Cli::try_parse() {
        Ok(args) => cli::main(args),
        Err(e) => cli::parse_failed(e),
    }
}
