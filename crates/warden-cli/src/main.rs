//! `warden`: parse the command line, build settings, run or list, turn the outcome into the
//! exit code. All printing happens here and in `terminal.rs`; the engine only emits events.

mod args;
mod list_cmd;
mod run_cmd;
mod signals;
mod terminal;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

/// Usage or configuration error: nothing was run (SPEC §5).
pub const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let argv = args::with_default_command(std::env::args().collect());
    if let Some(cmd) = argv
        .get(1)
        .filter(|c| matches!(c.as_str(), "clean" | "merge"))
    {
        eprintln!("error: `warden {cmd}` is not available in this version yet");
        return ExitCode::from(EXIT_USAGE);
    }
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout with exit 0 and usage errors with exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Run(args) if args.list => list_cmd::run_list(&args.select, false),
        Command::Run(args) => run_cmd::run(*args),
        Command::List(args) => list_cmd::run_list(&args.select, args.json),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
