//! `warden`: parse the command line, build settings, run or list, turn the outcome into the
//! exit code. All printing happens here and in `terminal.rs`; the engine only emits events.

mod args;
mod clean_cmd;
mod degraded;
mod flags;
mod hints;
mod history_cmd;
mod list_cmd;
mod merge_cmd;
mod prepare;
mod report_cmd;
mod reports;
mod resume;
mod run_cmd;
mod selection_changes;
mod signals;
mod systemd_scope;
mod terminal;
mod tty;

use std::path::PathBuf;
use warden::exit_code::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use warden::state::registry;
use warden::watchdog;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(run_command().process_code())
}

fn run_command() -> ExitCode {
    let raw: Vec<String> = std::env::args().collect();
    // The watchdog is this same binary under a hidden command (see watchdog/process.rs).
    if raw.get(1).map(String::as_str) == Some(watchdog::WATCHDOG_COMMAND) {
        let dir = raw
            .get(2)
            .map(PathBuf::from)
            .unwrap_or_else(registry::registry_dir);
        return ExitCode::from_raw(watchdog::serve(&dir));
    }
    // `warden test ...` says `warden test --resume` when it stops: the seed's users type it.
    let invoked = run_cmd::Invoked {
        argv0: raw.first().cloned().unwrap_or_else(|| "warden".to_string()),
        command: if raw.get(1).map(String::as_str) == Some("test") {
            "test".to_string()
        } else {
            "run".to_string()
        },
    };
    let argv = args::with_default_command(raw);
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout with exit 0 and usage errors with exit 2.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::USAGE
            } else {
                ExitCode::PASSED
            };
        }
    };
    let result = match cli.command {
        Command::Run(args) if args.list => list_cmd::run_list_from_run(&args),
        Command::Run(args) => run_cmd::run(*args, &invoked),
        Command::List(args) => prepare::Sharding::from_args(&args.select).and_then(|sharding| {
            list_cmd::run_list(
                warden::config::RunOptions {
                    coverage: args.coverage.then_some(true),
                    net: args.net.clone(),
                    ..args.select.to_options()
                },
                args.select.config.as_deref(),
                args.select.failed,
                sharding,
                args.json,
            )
        }),
        Command::Clean(args) => Ok(clean_cmd::run_clean(args.dry_run)),
        Command::Merge(args) => merge_cmd::run_merge(&args),
        Command::Report(args) => report_cmd::run_report(&args),
        Command::History(args) => history_cmd::run_history(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "error: {}",
                warden::report::terminal_safe_lines(&error_chain(&e))
            );
            ExitCode::USAGE
        }
    }
}

/// `outer: cause: cause`, leaving out a cause whose text the message before it already
/// holds: many errors say their source in their own message (`cannot open X: Permission
/// denied`) and also return it as their source, and the OS error must not appear twice. A
/// configuration error names options by key; here they get their flags, and an error with a
/// way out that names a flag gets it (`hints.rs`).
fn error_chain(e: &anyhow::Error) -> String {
    let text = |cause: &(dyn std::error::Error + 'static)| {
        let mut shown = match cause.downcast_ref() {
            Some(config) => flags::render(config),
            None => cause.to_string(),
        };
        shown.extend(hints::hint(cause));
        shown
    };
    let mut out = text(e.as_ref());
    for cause in e.chain().skip(1) {
        let shown = text(cause);
        if !out.contains(&shown) {
            out.push_str(": ");
            out.push_str(&shown);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden::config::{ConfigError, Message, OptionKey};

    #[test]
    fn config_errors_reach_the_user_with_flags_however_deep() {
        let e = || ConfigError::Option {
            key: OptionKey::new("container_image"),
            message: Message::new()
                .text("only used with ")
                .option(OptionKey::new("container")),
        };
        let want = "--container-image: only used with --container";
        assert_eq!(error_chain(&anyhow::Error::from(e())), want);
        let wrapped = anyhow::Error::from(e()).context("cannot start the run");
        assert_eq!(
            error_chain(&wrapped),
            format!("cannot start the run: {want}")
        );
    }
}
