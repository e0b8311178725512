//! The run, selection and output options of [`Resolver`]: defaults, value checks, and the
//! rules for options that imply or contradict each other.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{ConfigError, Message};
use super::load::{given, random_seed, Given, Keep, Layer, Resolver};
use super::paths::absolute;
use super::settings::{
    ColorChoice, LeakPolicy, Levels, NoTests, OutputConfig, ReportTarget, RunConfig, Selection,
    SlowMode,
};

use crate::supervise::Network;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
const DEFAULT_GRACE: Duration = Duration::from_secs(5);
const DEFAULT_SLOW_AFTER: Duration = Duration::from_secs(60);
pub(super) const STATE_DIR_NAME: &str = ".warden";
/// The most tests warden runs at once. Every worker slot holds a temp dir, cgroups and file
/// descriptors; a value above this is a typo or an attack (issue 17), not a machine.
pub const MAX_WORKERS: usize = 1024;

impl Resolver {
    pub(super) fn run_config(&self) -> Result<RunConfig, ConfigError> {
        let max_workers = given!(self.max_workers);
        let parallel = given!(self.parallel).named_as_written();
        let no_capture = given!(self.no_capture);
        if max_workers.value == Some(0) {
            return Err(self.invalid(&max_workers, "must be at least 1"));
        }
        if let Some(n) = max_workers.value.filter(|n| *n > MAX_WORKERS) {
            return Err(self.invalid(
                &max_workers,
                format!("{n} is more than the {MAX_WORKERS} tests warden runs at once"),
            ));
        }
        let mut requested = max_workers.value;
        let mut sequential = parallel.value == Some(false);
        let mut no_cap = no_capture.value == Some(true);
        if sequential && requested.is_some_and(|n| n > 1) {
            let reason = Message::new()
                .option(parallel.option())
                .text(" means exactly one worker");
            match self.settle(&parallel, &max_workers, reason)? {
                Keep::First => requested = None,
                Keep::Second => sequential = false,
            }
        }
        let no_capture_reason = Message::new()
            .option(no_capture.option())
            .text(" streams output live and runs one test at a time");
        if no_cap && requested.is_some_and(|n| n > 1) {
            match self.settle(&no_capture, &max_workers, no_capture_reason.clone())? {
                Keep::First => requested = None,
                Keep::Second => no_cap = false,
            }
        }
        if no_cap && parallel.value == Some(true) {
            if let Keep::Second = self.settle(&no_capture, &parallel, no_capture_reason)? {
                no_cap = false;
            }
        }
        // --container-seq: one container at a time, whatever the worker count says.
        let mut container_seq = self.container_mode()? == Some(true);
        if container_seq && (requested.is_some_and(|n| n > 1) || parallel.value == Some(true)) {
            let seq = given!(self.container_seq);
            let reason = Message::new()
                .option(seq.option())
                .text(" runs one container at a time");
            let other = if requested.is_some_and(|n| n > 1) {
                self.settle(&seq, &max_workers, reason)?
            } else {
                self.settle(&seq, &parallel, reason)?
            };
            if let Keep::Second = other {
                container_seq = false;
            }
        }
        let workers = if sequential || no_cap || container_seq {
            1
        } else {
            requested.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(usize::from)
                    .unwrap_or(1)
                    .min(MAX_WORKERS)
            })
        };

        let timeout = self.duration(given!(self.timeout), DEFAULT_TIMEOUT, false)?;
        let grace = self.duration(given!(self.grace), DEFAULT_GRACE, true)?;

        let fail_fast_opt = given!(self.fail_fast);
        let max_fail_opt = given!(self.max_fail);
        if max_fail_opt.value == Some(0) {
            return Err(self.invalid(&max_fail_opt, "must be at least 1"));
        }
        let mut fail_fast = fail_fast_opt.value == Some(true);
        let mut max_fail = max_fail_opt.value;
        if fail_fast && max_fail.is_some_and(|n| n > 1) {
            let reason = Message::new()
                .option(fail_fast_opt.option())
                .text(" stops at the first failure");
            match self.settle(&fail_fast_opt, &max_fail_opt, reason)? {
                Keep::First => max_fail = None,
                Keep::Second => fail_fast = false,
            }
        }

        let state_opt = given!(self.state_dir);
        let state_dir = match &state_opt.value {
            Some(dir) if dir.trim().is_empty() => return Err(self.invalid(&state_opt, "empty")),
            Some(dir) => self.path_from(&state_opt, dir),
            None => self.root.join(STATE_DIR_NAME),
        };

        let leak_opt = given!(self.leak);
        let leak = match leak_opt.value.as_deref() {
            None | Some("kill") => LeakPolicy::Kill,
            Some("fail") => LeakPolicy::Fail,
            Some(other) => {
                return Err(self.invalid(
                    &leak_opt,
                    format!("unknown leak policy `{other}` (expected `kill` or `fail`)"),
                ))
            }
        };

        let no_tests_opt = given!(self.no_tests);
        let no_tests = match no_tests_opt.value.as_deref() {
            None | Some("fail") => NoTests::Fail,
            Some("warn") => NoTests::Warn,
            Some("pass") => NoTests::Pass,
            Some(other) => {
                return Err(self.invalid(
                    &no_tests_opt,
                    format!("unknown choice `{other}` (expected fail, warn or pass)"),
                ))
            }
        };
        let slow_after = self.duration(given!(self.slow_after), DEFAULT_SLOW_AFTER, false)?;

        Ok(RunConfig {
            workers,
            timeout,
            grace,
            fail_fast,
            max_fail,
            retries: given!(self.retries).value.unwrap_or(0),
            no_capture: no_cap,
            run_skipped: given!(self.only_skipped).value == Some(true),
            state_dir,
            leak,
            host_guard: self.host_guard()?,
            test_limits: self.test_limits()?,
            no_tests,
            slow_after,
            coverage: given!(self.coverage).value == Some(true),
        })
    }

    /// `--net` / `[run] net`: the network of tests whose suite or markers do not choose.
    pub(super) fn net(&self) -> Result<Network, ConfigError> {
        let opt = given!(self.net);
        match opt.value.as_deref() {
            None => Ok(Network::Host),
            Some(text) => Network::parse(text).map_err(|e| self.invalid(&opt, e)),
        }
    }

    pub(super) fn selection(&self, levels: &Levels) -> Result<Selection, ConfigError> {
        let level_opt = given!(self.level);
        let wanted = self.names(&level_opt, "level")?;
        if let Some(unknown) = wanted.iter().find(|l| !levels.contains(l)) {
            let known: Vec<&str> = levels.names().collect();
            return Err(self.invalid(
                &level_opt,
                format!("unknown level `{unknown}` (known: {})", known.join(", ")),
            ));
        }
        let slow = if given!(self.only_slow).value == Some(true) {
            // --only-slow already includes the slow tests; --include-slow adds nothing to it.
            SlowMode::Only
        } else if given!(self.include_slow).value == Some(true) {
            SlowMode::Include
        } else {
            SlowMode::Exclude
        };

        let shuffle = given!(self.shuffle);
        let seed = given!(self.seed);
        let mut seed_value = seed.value;
        if shuffle.value == Some(false) && seed_value.is_some() {
            let reason = "a seed only orders a shuffled run";
            if let Keep::First = self.settle(&shuffle, &seed, reason)? {
                seed_value = None;
            }
        }
        let shuffle_seed = match seed_value {
            Some(seed) => Some(seed),
            None if shuffle.value == Some(true) => Some(random_seed()),
            None => None,
        };

        Ok(Selection {
            levels: wanted,
            tags: self.names(&given!(self.tag), "tag")?,
            exclude_tags: self.names(&given!(self.exclude_tag), "tag")?,
            slow,
            only_skipped: given!(self.only_skipped).value == Some(true),
            filters: self.names(&given!(self.filter), "filter")?,
            filter_exprs: self.filter_exprs()?,
            shuffle_seed,
        })
    }

    /// `-E` expressions, each parsed so that a mistake stops the run with a caret under it.
    fn filter_exprs(&self) -> Result<Vec<String>, ConfigError> {
        let given = given!(self.filter_expr);
        let exprs = given.value.clone().unwrap_or_default();
        for text in &exprs {
            if let Err(e) = crate::select::Expr::parse(text) {
                return Err(self.invalid(&given, e));
            }
        }
        Ok(exprs)
    }

    pub(super) fn output(&self) -> Result<OutputConfig, ConfigError> {
        let report_path = |opt: &Given<String>| -> Result<Option<PathBuf>, ConfigError> {
            match opt.value.as_deref() {
                None => Ok(None),
                Some(p) if p.trim().is_empty() => Err(self.invalid(opt, "empty file name")),
                Some(p) => Ok(Some(absolute(&self.cwd, Path::new(p)))),
            }
        };
        let json_opt = given!(self.json);
        let json = match json_opt.value.as_deref() {
            Some("-") => Some(ReportTarget::Stdout),
            _ => report_path(&json_opt)?.map(ReportTarget::File),
        };
        let html_opt = given!(self.html);
        // The page is written whole at the end, and stdout may carry `--json -`: a file only.
        if html_opt.value.as_deref().map(str::trim) == Some("-") {
            return Err(self.invalid(
                &html_opt,
                "`-` (stdout) is not supported for the HTML report; name a file \
                 (`warden report EVENTS.jsonl --html -` can write one to stdout)",
            ));
        }
        let color_opt = given!(self.color);
        let color = match color_opt.value.as_deref() {
            None | Some("auto") => ColorChoice::Auto,
            Some("always") => ColorChoice::Always,
            Some("never") => ColorChoice::Never,
            Some(other) => {
                return Err(self.invalid(
                    &color_opt,
                    format!("unknown color choice `{other}` (expected auto, always or never)"),
                ))
            }
        };
        let verbose_opt = given!(self.verbose);
        let quiet_opt = given!(self.quiet);
        let mut verbose = verbose_opt.value == Some(true);
        let mut quiet = quiet_opt.value == Some(true);
        if verbose && quiet {
            let reason = "choose one amount of output";
            match self.settle(&quiet_opt, &verbose_opt, reason)? {
                Keep::First => verbose = false,
                Keep::Second => quiet = false,
            }
        }
        Ok(OutputConfig {
            junit: report_path(&given!(self.junit))?,
            json,
            html: report_path(&html_opt)?,
            color,
            verbose,
            quiet,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::load::tests::{cli, conflict, load, option_error, project};
    use super::super::options::RunOptions;
    use super::*;

    #[test]
    fn bad_file_values_name_file_line_and_key() {
        let cases = [
            ("timeout = \"abc\"", "[run] timeout: invalid duration `abc`"),
            (
                "timeout = \"0s\"",
                "[run] timeout: `0s`: must be greater than 0",
            ),
            ("grace = \"-1s\"", "[run] grace: invalid duration `-1s`"),
            ("max_workers = 0", "[run] max_workers: must be at least 1"),
            (
                "max_workers = 99999999999999999",
                "[run] max_workers: 99999999999999999 is more than the 1024 tests warden runs at once",
            ),
            ("max_fail = 0", "[run] max_fail: must be at least 1"),
            (
                "color = \"blue\"",
                "[run] color: unknown color choice `blue`",
            ),
            (
                "leak = \"maybe\"",
                "[run] leak: unknown leak policy `maybe`",
            ),
            (
                "level = [\"smoke\"]",
                "[run] level: unknown level `smoke` (known: unit, integration, system)",
            ),
            ("tag = [\"\"]", "[run] tag: empty tag"),
            ("paths = []", "[run] paths: empty list"),
            (
                "no_tests = \"ok\"",
                "[run] no_tests: unknown choice `ok` (expected fail, warn or pass)",
            ),
            (
                "slow_after = \"0s\"",
                "[run] slow_after: `0s`: must be greater than 0",
            ),
            ("junit = \"\"", "[run] junit: empty file name"),
            ("html = \"\"", "[run] html: empty file name"),
            ("html = \"-\"", "[run] html: `-` (stdout) is not supported"),
        ];
        for (line, expected) in cases {
            let dir = project(Some(&format!("# project\n[run]\n{line}\n")));
            let err = load(dir.path(), cli()).unwrap_err();
            assert!(
                err.starts_with(&format!("warden.toml:3: {expected}")),
                "{line}: {err}"
            );
        }
    }

    #[test]
    fn bad_cli_values_name_the_option() {
        let dir = project(None);
        let cases = [
            (
                RunOptions {
                    timeout: Some("abc".into()),
                    ..cli()
                },
                ("timeout", "invalid duration `abc`"),
            ),
            (
                RunOptions {
                    max_workers: Some(0),
                    ..cli()
                },
                ("max_workers", "must be at least 1"),
            ),
            (
                RunOptions {
                    max_workers: Some(100_000),
                    ..cli()
                },
                (
                    "max_workers",
                    "100000 is more than the 1024 tests warden runs at once",
                ),
            ),
            (
                RunOptions {
                    exclude_tag: Some(vec![" ".into()]),
                    ..cli()
                },
                ("exclude_tag", "empty tag"),
            ),
            (
                RunOptions {
                    level: Some(vec!["e2e".into()]),
                    ..cli()
                },
                ("level", "unknown level `e2e`"),
            ),
            (
                RunOptions {
                    color: Some("yes".into()),
                    ..cli()
                },
                ("color", "unknown color choice `yes`"),
            ),
            (
                RunOptions {
                    paths: Some(vec!["".into()]),
                    ..cli()
                },
                ("paths", "empty path"),
            ),
            (
                RunOptions {
                    html: Some("-".into()),
                    ..cli()
                },
                (
                    "html",
                    "`-` (stdout) is not supported for the HTML report; name a file",
                ),
            ),
        ];
        for (opts, (want_key, want)) in cases {
            let (key, message) = option_error(dir.path(), opts);
            assert_eq!(key, want_key);
            assert!(message.starts_with(want), "got {message}, want {want}");
        }
    }

    #[test]
    fn contradictions_at_one_level_name_both_options() {
        let dir = project(None);
        let cases = [
            (
                RunOptions {
                    quiet: Some(true),
                    verbose: Some(true),
                    ..cli()
                },
                ("quiet", "verbose", "choose one amount of output"),
            ),
            (
                RunOptions {
                    parallel: Some(false),
                    max_workers: Some(4),
                    ..cli()
                },
                (
                    "parallel = false",
                    "max_workers",
                    "`parallel = false` means exactly one worker",
                ),
            ),
            (
                RunOptions {
                    no_capture: Some(true),
                    max_workers: Some(3),
                    ..cli()
                },
                (
                    "no_capture",
                    "max_workers",
                    "`no_capture` streams output live and runs one test at a time",
                ),
            ),
            (
                RunOptions {
                    no_capture: Some(true),
                    parallel: Some(true),
                    ..cli()
                },
                (
                    "no_capture",
                    "parallel",
                    "`no_capture` streams output live and runs one test at a time",
                ),
            ),
            (
                RunOptions {
                    fail_fast: Some(true),
                    max_fail: Some(3),
                    ..cli()
                },
                (
                    "fail_fast",
                    "max_fail",
                    "`fail_fast` stops at the first failure",
                ),
            ),
        ];
        for (opts, (first, second, reason)) in cases {
            let got = conflict(dir.path(), opts);
            assert_eq!(got, (first.into(), second.into(), reason.into()));
        }

        let dir = project(Some("[run]\nverbose = true\nquiet = true\n"));
        let err = load(dir.path(), cli()).unwrap_err();
        assert_eq!(
            err,
            "`quiet` (warden.toml:3) and `verbose` (warden.toml:2) cannot be used together: \
             choose one amount of output"
        );
        // In the file, the reason names options by their keys too.
        let dir = project(Some("[run]\nparallel = false\nmax_workers = 4\n"));
        assert_eq!(
            load(dir.path(), cli()).unwrap_err(),
            "`parallel` (warden.toml:2) and `max_workers` (warden.toml:3) cannot be used \
             together: `parallel = false` means exactly one worker"
        );
    }

    #[test]
    fn the_command_line_settles_contradictions_with_the_file() {
        let dir = project(Some(
            "[run]\nverbose = true\nmax_workers = 4\nfail_fast = true\n",
        ));
        let s = load(
            dir.path(),
            RunOptions {
                quiet: Some(true),
                no_capture: Some(true),
                max_fail: Some(5),
                ..cli()
            },
        )
        .unwrap();
        assert!(s.output.quiet && !s.output.verbose);
        assert_eq!(s.run.workers, 1);
        assert!(s.run.no_capture);
        assert_eq!((s.run.fail_fast, s.run.max_fail), (false, Some(5)));
    }

    #[test]
    fn worker_count_rules() {
        let dir = project(None);
        let workers = |o: RunOptions| load(dir.path(), o).unwrap().run.workers;
        assert_eq!(
            workers(RunOptions {
                parallel: Some(false),
                ..cli()
            }),
            1
        );
        assert_eq!(
            workers(RunOptions {
                parallel: Some(false),
                max_workers: Some(1),
                ..cli()
            }),
            1
        );
        assert_eq!(
            workers(RunOptions {
                no_capture: Some(true),
                ..cli()
            }),
            1
        );
        assert_eq!(
            workers(RunOptions {
                parallel: Some(true),
                max_workers: Some(7),
                ..cli()
            }),
            7
        );
    }

    #[test]
    fn selection_options() {
        let dir = project(None);
        let s = load(
            dir.path(),
            RunOptions {
                level: Some(vec!["unit".into(), "system".into(), "unit".into()]),
                tag: Some(vec!["db".into()]),
                exclude_tag: Some(vec!["flaky".into()]),
                filter: Some(vec!["net".into()]),
                only_slow: Some(true),
                include_slow: Some(true),
                only_skipped: Some(true),
                seed: Some(42),
                ..cli()
            },
        )
        .unwrap();
        let sel = s.selection;
        assert_eq!(sel.levels, ["unit", "system"]);
        assert_eq!(
            (sel.tags, sel.exclude_tags, sel.filters),
            (
                vec!["db".to_string()],
                vec!["flaky".to_string()],
                vec!["net".to_string()]
            )
        );
        assert_eq!(sel.slow, SlowMode::Only);
        assert!(sel.only_skipped && s.run.run_skipped);
        assert_eq!(sel.shuffle_seed, Some(42));

        let slow = |o: RunOptions| load(dir.path(), o).unwrap().selection.slow;
        assert_eq!(
            slow(RunOptions {
                include_slow: Some(true),
                ..cli()
            }),
            SlowMode::Include
        );
        assert_eq!(slow(cli()), SlowMode::Exclude);
    }

    #[test]
    fn shuffle_without_seed_picks_one_and_seed_implies_shuffle() {
        let dir = project(None);
        let seed = |o: RunOptions| load(dir.path(), o).unwrap().selection.shuffle_seed;
        let a = seed(RunOptions {
            shuffle: Some(true),
            ..cli()
        });
        let b = seed(RunOptions {
            shuffle: Some(true),
            ..cli()
        });
        assert!(a.is_some() && b.is_some() && a != b);
        assert_eq!(
            seed(RunOptions {
                shuffle: Some(true),
                seed: Some(7),
                ..cli()
            }),
            Some(7)
        );
        assert_eq!(
            seed(RunOptions {
                seed: Some(7),
                ..cli()
            }),
            Some(7)
        );
        assert_eq!(seed(cli()), None);
        let dir = project(Some("[run]\nshuffle = false\nseed = 3\n"));
        assert!(load(dir.path(), cli())
            .unwrap_err()
            .contains("cannot be used together"));
        let dir = project(Some("[run]\nshuffle = false\n"));
        assert_eq!(
            load(
                dir.path(),
                RunOptions {
                    seed: Some(9),
                    ..cli()
                }
            )
            .unwrap()
            .selection
            .shuffle_seed,
            Some(9)
        );
    }
}
