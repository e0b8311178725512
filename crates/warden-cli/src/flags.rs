//! How the command line spells an option: the engine's errors name options by key
//! (`max_workers`), and this module turns a key into its flag (`--max-workers`) by asking the
//! clap definitions in `args.rs`, so that renaming a flag renames it in every message too.

use clap::{Arg, CommandFactory};
use warden::config::{ConfigError, Form, OptionKey};

use crate::args::Cli;

/// `max_workers` → `--max-workers`, `parallel = false` → `--sequential`, `paths` → `PATH`,
/// `cargo_args` → `-- CARGO_ARGS`; with [`Form::Short`], `filter` → `-k`.
pub fn flag(key: OptionKey, form: Form) -> String {
    let id = clap_id(key);
    let cli = Cli::command();
    let arg = cli
        .find_subcommand("run")
        .and_then(|run| run.get_arguments().find(|a| a.get_id() == id));
    match arg {
        Some(arg) => spell(arg, form),
        // Every option has a flag (the tests below check it); this keeps a message readable
        // should one ever be missing.
        None => format!("--{}", id.replace('_', "-")),
    }
}

/// The message of a configuration error with the options spelled as on the command line.
pub fn render(e: &ConfigError) -> String {
    e.render(&flag)
}

/// The clap argument of an option: its field name in `RunArgs`/`SelectArgs`, except the options
/// whose opposite is a flag of its own.
fn clap_id(key: OptionKey) -> &'static str {
    match (key.key, key.negated) {
        ("parallel", true) => "sequential",
        (k, _) => k,
    }
}

fn spell(arg: &Arg, form: Form) -> String {
    if let (Form::Short, Some(c)) = (form, arg.get_short()) {
        return format!("-{c}");
    }
    if let Some(long) = arg.get_long() {
        return format!("--{long}");
    }
    let name = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map(|n| n.to_string())
        .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
    if arg.is_last_set() {
        format!("-- {name}")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden::config::RunOptions;

    #[test]
    fn keys_become_the_flags_clap_defines() {
        let long = |k| flag(OptionKey::new(k), Form::Long);
        assert_eq!(long("max_workers"), "--max-workers");
        assert_eq!(long("parallel"), "--parallel");
        assert_eq!(
            flag(OptionKey::negated("parallel"), Form::Long),
            "--sequential"
        );
        assert_eq!(long("filter"), "--filter");
        assert_eq!(flag(OptionKey::new("filter"), Form::Short), "-k");
        assert_eq!(flag(OptionKey::new("filter_expr"), Form::Short), "-E");
        assert_eq!(flag(OptionKey::new("cargo"), Form::Short), "--cargo");
        assert_eq!(long("paths"), "PATH");
        assert_eq!(long("cargo_args"), "-- CARGO_ARGS");
    }

    /// A renamed field or flag must not leave an option that errors cannot name.
    #[test]
    fn every_run_option_has_a_flag() {
        let cli = Cli::command();
        let run = cli.find_subcommand("run").unwrap();
        let fields = serde_json::to_value(RunOptions::default()).unwrap();
        for key in fields.as_object().unwrap().keys() {
            assert!(
                run.get_arguments().any(|a| a.get_id() == key.as_str()),
                "RunOptions::{key} has no argument in `warden run`"
            );
        }
    }
}
