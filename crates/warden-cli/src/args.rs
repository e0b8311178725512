//! The command line as typed: clap definitions and their translation to `RunOptions`.
//! Validation of values (durations, sizes, contradictions) happens in the engine's config
//! module so that the same rules apply to `warden.toml`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use warden::config::RunOptions;
use warden::select::Partition;

/// Read when `--partition` is not given, so that CI templates can set the shard once.
pub const PARTITION_ENV: &str = "WARDEN_PARTITION";

const AFTER_HELP: &str = "\
Without a command, `warden PATH...` runs the tests (same as `warden run PATH...`).
Durations: 500ms, 30s, 5m, 1h. Exit codes: 0 all passed or skipped, 1 a test failed,
2 usage or configuration error, 4 no test selected (see --no-tests), 42 stopped by
--self-protect, 43 --resume impossible, 130/143/129 stopped by SIGINT/SIGTERM/SIGHUP.
Docs: docs/guide.md and docs/reference.md in the warden repository.";

#[derive(Debug, Parser)]
#[command(name = "warden", version, about = "A robust, language-agnostic test runner", after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the selected tests (the default command)
    #[command(visible_alias = "test", after_help = AFTER_HELP)]
    Run(Box<RunArgs>),
    /// Print the tests `run` would run, with level, tags and flags
    List(Box<ListArgs>),
    /// Reap what dead runs left: processes, cgroups, containers, temp dirs
    Clean(CleanArgs),
    /// Merge the JSON-lines or JUnit reports of several shards into one
    #[command(after_help = MERGE_HELP)]
    Merge(MergeArgs),
    /// Render a saved (or merged) JSON-lines event stream as the HTML report
    #[command(after_help = REPORT_HELP)]
    Report(ReportArgs),
    /// Move recorded test durations between machines (for `--partition duration:K/N`)
    History(HistoryArgs),
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub command: HistoryCommand,
}

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Write the expected duration of every test the history knows to FILE (JSON lines)
    Export(HistoryFileArgs),
    /// Add the durations in FILE (from `export`) to the history; they stand in for tests
    /// without results of their own
    Import(HistoryFileArgs),
}

#[derive(Debug, Args)]
pub struct HistoryFileArgs {
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where history.db lives [default: .warden/ at the project root]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<String>,
    /// Use this configuration file instead of looking for warden.toml
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
}

const MERGE_HELP: &str = "\
All REPORTs must be of one kind: JSON lines (--json) or JUnit XML (--junit); OUT is the same kind.
JSON lines: one run-started, every shard's events in order (each with its `shard` number), one
run-finished with the counts added up and the worst exit code: 2 > 43 > 130 > 143 > 129 > 42 >
other > 1 > 0. JUnit: one <testsuites> holding every shard's <testsuite>.
Shards (--partition) must make one run: the same cut of the same selection, each shard once,
every selected test run in some shard; otherwise each problem is named and the exit code is 1.
OUT: a regular file is replaced atomically; a symlink, FIFO or device is written through.
Exit codes: 0 merged (with --exit-code: the merged run's exit code), 1 the shards do not make
one run (OUT is still written), 2 a report is missing, unreadable, malformed or of the other
kind; nothing is written then.";

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Reports written by `warden run --json FILE` or `--junit FILE` of each shard
    #[arg(value_name = "REPORT", required = true)]
    pub reports: Vec<PathBuf>,
    /// Where to write the merged report (`-` = stdout; a device, FIFO or symlink is written
    /// through, never replaced)
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Once merged, exit with the worst exit code the reports recorded (the merged run's
    /// verdict) instead of 0
    #[arg(long)]
    pub exit_code: bool,
}

const REPORT_HELP: &str = "\
EVENTS is a file written by `warden run --json FILE` (or `--json -` saved), or by `warden merge`
of such files (one lane group per shard). The page is the one `warden run --html FILE` writes:
timeline per worker, host CPU and memory, failures with their output, every test; it loads
nothing from anywhere. When the state dir has a history, each test gets a strip of its last
results up to the end of the stream.
Exit codes: 0 written, 2 EVENTS is missing, unreadable or not a warden event stream (the error
names the line), or OUT cannot be written; nothing is written then.";

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A JSON-lines event stream (`warden run --json`, `warden merge`)
    #[arg(value_name = "EVENTS")]
    pub events: PathBuf,
    /// Where to write the HTML page (`-` = stdout)
    #[arg(long, value_name = "OUT", required = true)]
    pub html: PathBuf,
    /// Where history.db lives, for the history strips [default: .warden/ at the project root]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<String>,
    /// Use this configuration file instead of looking for warden.toml
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
    /// Leave out the history strips even when a history exists
    #[arg(long)]
    pub no_history: bool,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Only list what would be removed
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Print JSON (one array of tests) instead of a table
    #[arg(long)]
    pub json: bool,
    /// With --json: show each test's coverage directory and the variables `run --coverage`
    /// sets for it
    #[arg(long)]
    pub coverage: bool,
    /// The network `run --net` would give each test (host or private), for the listing; a
    /// test's `@net` marker and its suite's `net` still win
    #[arg(long, value_name = "host|private")]
    pub net: Option<String>,
}

/// Which tests: shared by `run` and `list`.
#[derive(Debug, Args, Default)]
pub struct SelectArgs {
    /// Test directories (searched recursively) or single test files [default: `paths` from
    /// warden.toml, else those of test/, tests/ and t/ that exist]
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
    /// Only tests of level `unit`
    #[arg(long, help_heading = "Selection")]
    pub unit: bool,
    /// Only tests of level `integration`
    #[arg(long, help_heading = "Selection")]
    pub integration: bool,
    /// Only tests of level `system`
    #[arg(long, help_heading = "Selection")]
    pub system: bool,
    /// Only tests of this level (repeatable: any of them)
    #[arg(long, value_name = "LEVEL", help_heading = "Selection")]
    pub level: Vec<String>,
    /// Only tests with this tag (repeatable: any of them)
    #[arg(long, value_name = "TAG", help_heading = "Selection")]
    pub tag: Vec<String>,
    /// Leave out tests with this tag (repeatable)
    #[arg(long, value_name = "TAG", help_heading = "Selection")]
    pub exclude_tag: Vec<String>,
    /// Only tests marked @slow
    #[arg(long, help_heading = "Selection")]
    pub only_slow: bool,
    /// Include tests marked @slow (left out by default)
    #[arg(long, visible_alias = "all", help_heading = "Selection")]
    pub include_slow: bool,
    /// Only tests marked @skip, and run them (to see whether they pass now)
    #[arg(long, help_heading = "Selection")]
    pub only_skipped: bool,
    /// Only tests whose id contains TEXT (repeatable: any of them)
    #[arg(
        short = 'k',
        long = "filter",
        value_name = "TEXT",
        help_heading = "Selection"
    )]
    pub filter: Vec<String>,
    /// Only tests matching the filter expression EXPR (repeatable: any of them), e.g.
    /// 'test(parse) and not (slow() or tag(net))'. Predicates: test(TEXT|/REGEX/), file(GLOB),
    /// suite(NAME), level(NAME), tag(NAME), slow(), failed(), all(), none()
    #[arg(
        short = 'E',
        long = "filter-expr",
        value_name = "EXPR",
        help_heading = "Selection"
    )]
    pub filter_expr: Vec<String>,
    /// Run in a random order (the seed is printed so the order can be repeated)
    #[arg(long, help_heading = "Selection")]
    pub shuffle: bool,
    /// Only the tests that failed (fail, timeout, oom, error, leak) in the last completed run
    #[arg(long, help_heading = "Selection")]
    pub failed: bool,
    /// Seed for --shuffle (implies --shuffle)
    #[arg(long, value_name = "N", help_heading = "Selection")]
    pub seed: Option<u64>,
    /// Where checkpoint, history and logs live [default: .warden/ at the project root]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<String>,
    /// Use this configuration file instead of looking for warden.toml
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
    /// Only shard K of N: `hash:K/N` (by test id), `count:K/N` (round-robin over sorted ids)
    /// or `duration:K/N` (balanced by recorded durations) [env: WARDEN_PARTITION]
    #[arg(long, value_name = "KIND:K/N", help_heading = "Selection")]
    pub partition: Option<String>,
    /// Expected durations (for duration partitions and ordering) from FILE, written by
    /// `warden history export`, instead of the state dir's history
    #[arg(long, value_name = "FILE", help_heading = "Selection")]
    pub history: Option<PathBuf>,
    /// Build the test binaries with `cargo test --no-run` and run each #[test] as its own
    /// test (no warden.toml needed; no PATH)
    #[arg(long, help_heading = "Rust")]
    pub cargo: bool,
    /// Run #[ignore]d tests too, instead of reporting them SKIP
    #[arg(long, help_heading = "Rust")]
    pub run_ignored: bool,
    /// With --cargo, after `--`: options for `cargo test --no-run` (--workspace, -p NAME,
    /// --features F, --release)
    #[arg(last = true, value_name = "CARGO_ARGS")]
    pub cargo_args: Vec<String>,
}

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Tests running at once, 1 to 1024 (more is refused) [default: number of CPUs]
    #[arg(
        short = 'j',
        long,
        visible_alias = "test-threads",
        value_name = "N",
        help_heading = "Execution"
    )]
    pub max_workers: Option<usize>,
    /// Run tests in parallel with the default number of workers
    #[arg(long, conflicts_with = "sequential", help_heading = "Execution")]
    pub parallel: bool,
    /// Run one test at a time
    #[arg(long, help_heading = "Execution")]
    pub sequential: bool,
    /// Per-test wall-clock limit; then SIGTERM to the whole test, SIGKILL after --grace [default: 120s]
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "DUR",
        help_heading = "Execution"
    )]
    pub timeout: Option<String>,
    /// Time between SIGTERM and SIGKILL for timeouts and stops [default: 5s]
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "DUR",
        help_heading = "Execution"
    )]
    pub grace: Option<String>,
    /// Stop after the first failure; running tests are terminated
    #[arg(long, help_heading = "Execution")]
    pub fail_fast: bool,
    /// Stop after N failures; running tests are terminated
    #[arg(long, value_name = "N", help_heading = "Execution")]
    pub max_fail: Option<u32>,
    /// Rerun a failing test up to N times; a pass after a failure is FLAKY
    #[arg(long, value_name = "N", help_heading = "Execution")]
    pub retries: Option<u32>,
    /// Let test output go straight to the terminal (implies -j1)
    #[arg(long, help_heading = "Execution")]
    pub no_capture: bool,
    /// What to do with processes a test leaves behind: kill (killed and listed, the test keeps
    /// its status) or fail (the test is LEAK, a failure)
    #[arg(long, value_name = "kill|fail", help_heading = "Execution")]
    pub leak: Option<String>,
    /// When no test is selected: fail (exit 4), warn (exit 0 with a warning) or pass (exit 0)
    /// [default: fail]
    #[arg(long, value_name = "fail|warn|pass", help_heading = "Execution")]
    pub no_tests: Option<String>,
    /// The network of each test: host (shared with everything else) or private (a network
    /// namespace of its own with only loopback, so parallel tests may bind the same port; no
    /// outside access). A test's `@net` marker and its suite's `net` win [default: host]
    #[arg(long, value_name = "host|private", help_heading = "Execution")]
    pub net: Option<String>,
    /// Guard the host: start fewer tests when CPU is busy, none when memory is short, and stop
    /// (exit 42, resumable) when memory stays short
    #[arg(long, help_heading = "Host and test limits")]
    pub self_protect: bool,
    /// Host CPU busy percentage above which fewer tests run [default: 90]
    #[arg(long, visible_alias = "cpu-limit", value_name = "P", value_parser = percent, help_heading = "Host and test limits")]
    pub cpu_threshold: Option<f64>,
    /// Host memory in use (percent) above which no test starts [default: 90]
    #[arg(long, visible_alias = "mem-limit", value_name = "P", value_parser = mem_percent, help_heading = "Host and test limits")]
    pub mem_threshold: Option<f64>,
    /// Memory cap of each test (512M, 2G); a test over it is killed and reported OOM
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "SIZE",
        help_heading = "Host and test limits"
    )]
    pub test_mem_limit: Option<String>,
    /// Most processes and threads a test may have at once
    #[arg(long, value_name = "N", help_heading = "Host and test limits")]
    pub test_pids_limit: Option<u32>,
    /// Per-test rlimits: no core files, files up to 1 GiB, at most 4096 open files
    #[arg(long, help_heading = "Host and test limits")]
    pub safe_mode: bool,
    /// Per-test coverage: each test writes to <run dir>/coverage/<test>/ through the variables
    /// the coverage runtimes read (LLVM_PROFILE_FILE, GCOV_PREFIX, GOCOVERDIR,
    /// NODE_V8_COVERAGE, COVERAGE_FILE); build with coverage yourself (gcc --coverage, rustc -C
    /// instrument-coverage, go build -cover, coverage run -p). Merged at the end with the tools
    /// on PATH, each run killed after WARDEN_COVERAGE_MERGE_TIMEOUT (default 5m)
    /// (docs/coverage.md)
    #[arg(long, help_heading = "Reports")]
    pub coverage: bool,
    /// Write a JUnit XML report to FILE
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub junit: Option<String>,
    /// Stream JSON-lines events to FILE (`-` = stdout)
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub json: Option<String>,
    /// Write a self-contained HTML page to FILE when the run ends (also when it is stopped):
    /// timeline per worker, host CPU and memory, failures with their output, every test
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub html: Option<String>,
    /// More output: every test's start, and output of passing tests
    #[arg(short, long, help_heading = "Reports")]
    pub verbose: bool,
    /// Less output: only failures and the summary
    #[arg(short, long, help_heading = "Reports")]
    pub quiet: bool,
    /// Colour: auto, always or never (NO_COLOR is honoured)
    #[arg(long, value_name = "WHEN", help_heading = "Reports")]
    pub color: Option<String>,
    /// Report a test still running as SLOW each time it passes another multiple of DUR
    /// [default: 60s]
    #[arg(long, value_name = "DUR", help_heading = "Reports")]
    pub slow_after: Option<String>,
    /// Continue the interrupted run: run only what did not finish, report the whole run. Alone
    /// it repeats the interrupted run's PATHs, selection and options (from any directory of
    /// the project); execution options given with it override them. `--resume=force` resumes
    /// even when the selection changed (on the common tests)
    #[arg(long, value_name = "force", num_args = 0..=1, require_equals = true, default_missing_value = "", help_heading = "Execution")]
    pub resume: Option<String>,
    /// Print the selected tests instead of running them (same as `warden list`)
    #[arg(long)]
    pub list: bool,
    /// Run each test in its own hardened container, in parallel (honours -j)
    #[arg(long, help_heading = "Containers")]
    pub container: bool,
    /// Run each test in its own hardened container, one at a time
    #[arg(
        long,
        visible_alias = "container-sequential",
        help_heading = "Containers"
    )]
    pub container_seq: bool,
    /// Image the containers run [default: `image` in [container] of warden.toml]
    #[arg(long, value_name = "IMG", help_heading = "Containers")]
    pub container_image: Option<String>,
    /// Container engine: docker, podman or auto (docker if it answers, else podman) [default: auto]
    #[arg(long, value_name = "ENGINE", help_heading = "Containers")]
    pub container_engine: Option<String>,
}

fn flag(on: bool) -> Option<bool> {
    on.then_some(true)
}

fn list(v: Vec<String>) -> Option<Vec<String>> {
    (!v.is_empty()).then_some(v)
}

impl SelectArgs {
    /// The shard to keep: `--partition`, else a non-empty `WARDEN_PARTITION`. An error names
    /// where the bad value came from.
    pub fn partition(&self) -> Result<Option<Partition>, String> {
        let env = std::env::var(PARTITION_ENV).ok();
        partition_from(self.partition.as_deref(), env.as_deref())
    }

    pub fn to_options(&self) -> RunOptions {
        let mut levels = self.level.clone();
        for (on, name) in [
            (self.unit, "unit"),
            (self.integration, "integration"),
            (self.system, "system"),
        ] {
            if on {
                levels.push(name.to_string());
            }
        }
        RunOptions {
            paths: list(self.paths.clone()),
            level: list(levels),
            tag: list(self.tag.clone()),
            exclude_tag: list(self.exclude_tag.clone()),
            only_slow: flag(self.only_slow),
            include_slow: flag(self.include_slow),
            only_skipped: flag(self.only_skipped),
            filter: list(self.filter.clone()),
            filter_expr: list(self.filter_expr.clone()),
            shuffle: flag(self.shuffle),
            seed: self.seed,
            state_dir: self.state_dir.clone(),
            cargo: flag(self.cargo),
            run_ignored: flag(self.run_ignored),
            cargo_args: list(self.cargo_args.clone()),
            ..RunOptions::default()
        }
    }
}

impl RunArgs {
    pub fn to_options(&self) -> RunOptions {
        let parallel = if self.sequential {
            Some(false)
        } else {
            flag(self.parallel)
        };
        RunOptions {
            max_workers: self.max_workers,
            parallel,
            timeout: self.timeout.clone(),
            grace: self.grace.clone(),
            fail_fast: flag(self.fail_fast),
            max_fail: self.max_fail,
            retries: self.retries,
            no_capture: flag(self.no_capture),
            leak: self.leak.clone(),
            no_tests: self.no_tests.clone(),
            slow_after: self.slow_after.clone(),
            net: self.net.clone(),
            self_protect: flag(self.self_protect),
            cpu_threshold: self.cpu_threshold,
            mem_threshold: self.mem_threshold,
            test_mem_limit: self.test_mem_limit.clone(),
            test_pids_limit: self.test_pids_limit,
            safe_mode: flag(self.safe_mode),
            coverage: flag(self.coverage),
            junit: self.junit.clone(),
            json: self.json.clone(),
            html: self.html.clone(),
            verbose: flag(self.verbose),
            quiet: flag(self.quiet),
            color: self.color.clone(),
            container: flag(self.container),
            container_seq: flag(self.container_seq),
            container_image: self.container_image.clone(),
            container_engine: self.container_engine.clone(),
            ..self.select.to_options()
        }
    }
}

/// A percentage as typed: `85`, `87.5` or `85%` (the range is checked with the config).
fn percent(text: &str) -> Result<f64, String> {
    text.trim()
        .trim_end_matches('%')
        .parse::<f64>()
        .map_err(|_| format!("`{text}` is not a percentage (e.g. 85 or 87.5)"))
}

/// `--mem-threshold` (the seed's `--mem-limit`) is a share of the host; a size typed there was
/// meant as the per-test cap, so the error says which option takes it.
fn mem_percent(text: &str) -> Result<f64, String> {
    percent(text).map_err(|e| {
        let size = text.trim();
        let looks_like_size = size.ends_with(|c: char| c.is_ascii_alphabetic())
            && warden::units::parse_size(size).is_ok();
        if looks_like_size {
            format!(
                "`{text}` is a size, but this option is the host memory threshold in percent \
                 (e.g. 90); to cap each test's memory, use --test-mem-limit {size}"
            )
        } else {
            e
        }
    })
}

/// The partition from the option, else from the environment's value (empty = not set, as CI
/// templates often leave it).
pub fn partition_from(
    option: Option<&str>,
    env: Option<&str>,
) -> Result<Option<Partition>, String> {
    let (source, value) = match (option, env) {
        (Some(v), _) => ("--partition", v),
        (None, Some(v)) if !v.trim().is_empty() => (PARTITION_ENV, v),
        _ => return Ok(None),
    };
    value
        .parse()
        .map(Some)
        .map_err(|e| format!("{source}: {e}"))
}

/// `warden PATH...` means `warden run PATH...`: insert `run` when the first argument is not a
/// command or a top-level flag.
pub fn with_default_command(mut argv: Vec<String>) -> Vec<String> {
    const TOP: &[&str] = &[
        "run",
        "test",
        "list",
        "clean",
        "merge",
        "report",
        "history",
        "help",
        "-h",
        "--help",
        "-V",
        "--version",
    ];
    match argv.get(1) {
        Some(first) if TOP.contains(&first.as_str()) => {}
        _ => argv.insert(1.min(argv.len()), "run".to_string()),
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let argv = with_default_command(args.iter().map(|s| s.to_string()).collect());
        Cli::try_parse_from(argv).unwrap()
    }

    #[test]
    fn default_command_is_run() {
        let Command::Run(r) = parse(&["warden", "tests", "-j", "3"]).command else {
            panic!()
        };
        assert_eq!(r.select.paths, ["tests"]);
        assert_eq!(r.to_options().max_workers, Some(3));
        let Command::Run(_) = parse(&["warden"]).command else {
            panic!()
        };
        let Command::Run(r) = parse(&["warden", "test", "--test-threads", "2", "--all"]).command
        else {
            panic!()
        };
        assert_eq!(r.max_workers, Some(2));
        assert!(r.select.include_slow);
    }

    #[test]
    fn levels_collect_from_flags() {
        let Command::Run(r) = parse(&["warden", "--unit", "--level", "smoke", "--system"]).command
        else {
            panic!()
        };
        assert_eq!(r.to_options().level.unwrap(), ["smoke", "unit", "system"]);
    }

    #[test]
    fn html_reaches_the_options_and_report_takes_a_stream() {
        let Command::Run(r) = parse(&["warden", "--html", "report.html"]).command else {
            panic!()
        };
        assert_eq!(r.to_options().html.as_deref(), Some("report.html"));
        let Command::Report(r) =
            parse(&["warden", "report", "events.jsonl", "--html", "r.html"]).command
        else {
            panic!()
        };
        assert_eq!(r.events, PathBuf::from("events.jsonl"));
        assert_eq!(r.html, PathBuf::from("r.html"));
        assert!(!r.no_history);
        for bad in [
            &["warden", "report", "events.jsonl"][..],
            &["warden", "report", "--html", "r.html"],
        ] {
            let argv = with_default_command(bad.iter().map(|s| s.to_string()).collect());
            assert!(Cli::try_parse_from(argv).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn partition_from_the_option_else_the_environment() {
        let p = |o, e| partition_from(o, e).map(|p| p.map(|p| p.to_string()));
        assert_eq!(p(None, None), Ok(None));
        assert_eq!(p(None, Some(" ")), Ok(None));
        assert_eq!(p(None, Some("count:2/3")), Ok(Some("count:2/3".into())));
        assert_eq!(
            p(Some("hash:1/2"), Some("count:2/3")),
            Ok(Some("hash:1/2".into()))
        );
        let err = p(Some("hash:3/2"), None).unwrap_err();
        assert!(err.starts_with("--partition: `hash:3/2`"), "{err}");
        let err = p(None, Some("round:1/2")).unwrap_err();
        assert!(
            err.starts_with("WARDEN_PARTITION: unknown partition kind `round`"),
            "{err}"
        );
    }

    #[test]
    fn merge_takes_reports_and_an_output() {
        let Command::Merge(m) =
            parse(&["warden", "merge", "a.jsonl", "b.jsonl", "-o", "m.jsonl"]).command
        else {
            panic!()
        };
        assert_eq!(
            m.reports,
            [PathBuf::from("a.jsonl"), PathBuf::from("b.jsonl")]
        );
        assert_eq!(m.output, PathBuf::from("m.jsonl"));
        for bad in [
            &["warden", "merge", "-o", "m.jsonl"][..],
            &["warden", "merge", "a.jsonl"],
        ] {
            let argv = with_default_command(bad.iter().map(|s| s.to_string()).collect());
            assert!(Cli::try_parse_from(argv).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn guard_and_caps_reach_the_options() {
        let Command::Run(r) = parse(&[
            "warden",
            "--self-protect",
            "--cpu-limit",
            "75%",
            "--mem-threshold",
            "87.5",
            "--test-mem-limit",
            "256M",
            "--test-pids-limit",
            "64",
            "--safe-mode",
        ])
        .command
        else {
            panic!()
        };
        let o = r.to_options();
        assert_eq!(o.self_protect, Some(true));
        assert_eq!((o.cpu_threshold, o.mem_threshold), (Some(75.0), Some(87.5)));
        assert_eq!(o.test_mem_limit.as_deref(), Some("256M"));
        assert_eq!((o.test_pids_limit, o.safe_mode), (Some(64), Some(true)));
        let argv = with_default_command(vec![
            "warden".into(),
            "--cpu-threshold".into(),
            "lots".into(),
        ]);
        let err = Cli::try_parse_from(argv).unwrap_err().to_string();
        assert!(
            err.contains("--cpu-threshold") && err.contains("not a percentage"),
            "{err}"
        );
    }

    #[test]
    fn a_size_for_the_memory_threshold_points_to_the_test_cap() {
        for flag in ["--mem-limit", "--mem-threshold"] {
            let argv = with_default_command(vec!["warden".into(), flag.into(), "512M".into()]);
            let err = Cli::try_parse_from(argv).unwrap_err().to_string();
            assert!(err.contains("use --test-mem-limit 512M"), "{err}");
        }
        let argv = with_default_command(vec!["warden".into(), "--mem-limit".into(), "x".into()]);
        let err = Cli::try_parse_from(argv).unwrap_err().to_string();
        assert!(err.contains("not a percentage"), "{err}");
    }

    #[test]
    fn cargo_args_follow_a_double_dash() {
        let Command::Run(r) = parse(&[
            "warden",
            "--cargo",
            "-k",
            "parse",
            "--",
            "-p",
            "x",
            "--release",
        ])
        .command
        else {
            panic!()
        };
        let o = r.to_options();
        assert_eq!(o.cargo, Some(true));
        assert_eq!(o.cargo_args.unwrap(), ["-p", "x", "--release"]);
        assert_eq!(o.filter.unwrap(), ["parse"]);
        assert!(r.select.paths.is_empty());
    }

    #[test]
    fn unknown_option_is_an_error() {
        let argv = with_default_command(vec!["warden".into(), "--frobnicate".into()]);
        let err = Cli::try_parse_from(argv).unwrap_err();
        assert!(err.to_string().contains("--frobnicate"));
    }
}
