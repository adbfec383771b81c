// SPDX-License-Identifier: MPL-2.0
//! `lockstep`: the command-line front of the lockstep plugins.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "lockstep", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a redundant live channel: two encoders, a failover, an encoder update on air,
    /// HLS + DASH served with a player page.
    Live(lockstep_cli::live::LiveArgs),
    /// Check an output directory, or whether two redundant outputs are interchangeable.
    Validate(lockstep_cli::validate::ValidateArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap: 0 for --help/--version, 2 for a usage error.
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match cli.command {
        Command::Live(args) => lockstep_cli::live::run(args),
        Command::Validate(args) => lockstep_cli::validate::run(args),
    }
}
