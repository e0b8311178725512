//! The validated settings of one invocation: what discovery, selection, the runner and the
//! reporters consume. Built by [`super::load_settings`]; every value here is already checked.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use crate::cases::ListFormat;
use crate::container::ContainerConfig;
use crate::supervise::Network;
use crate::test_case::OutputFormat;

/// Everything `warden run` / `warden list` needs, resolved from the command line, `warden.toml`
/// and the defaults of SPEC §2.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Directory of `warden.toml`, else the working directory.
    pub root: PathBuf,
    pub config_file: Option<PathBuf>,
    pub discovery: DiscoveryConfig,
    pub selection: Selection,
    pub run: RunConfig,
    pub output: OutputConfig,
    /// Containers (SPEC §8): whether tests run in them, and how (`[container]` with the command
    /// line's image and engine over it). Validated even when containers are off.
    pub container: ContainerSettings,
}

/// See [`Settings::container`].
#[derive(Debug, Clone, Default)]
pub struct ContainerSettings {
    /// `--container` / `--container-seq` (or `container` / `container_seq` in `[run]`); with
    /// `--container-seq`, [`RunConfig::workers`] is 1.
    pub enabled: bool,
    /// When `enabled`, `image` is set.
    pub config: ContainerConfig,
}

/// Where to look for tests and how to turn files into [`crate::test_case::TestCase`]s.
#[derive(Debug, Clone)]
pub struct DiscoveryConfig {
    /// Test ids are paths relative to this directory.
    pub cwd: PathBuf,
    /// Absolute, lexically normalised directories or files to search.
    pub paths: Vec<PathBuf>,
    /// In order: the first suite that matches a file claims it. Never empty.
    pub suites: Vec<Suite>,
    pub levels: Levels,
    /// Absolute directories never searched (e.g. the state directory).
    pub ignore_dirs: Vec<PathBuf>,
    /// The network of a test that neither its suite nor an `@net` marker sets (`--net`).
    pub net: Network,
    /// The Rust tests to build and list (`--cargo`, or a suite with `adapter = "cargo"`).
    pub cargo: Option<CargoConfig>,
}

/// What the cargo adapter builds and how its cases run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CargoConfig {
    /// Index in [`DiscoveryConfig::suites`] of the cargo suite (timeout, env, limits).
    pub suite: usize,
    /// Options for `cargo test --no-run`: `-- CARGO_ARGS`, else the suite's `cargo_args`.
    pub args: Vec<String>,
    /// `--run-ignored`: `#[ignore]`d tests run instead of being reported skipped.
    pub run_ignored: bool,
}

impl DiscoveryConfig {
    /// The built-in suite and default levels over `paths` (absolute), ids relative to `cwd`.
    pub fn new(cwd: PathBuf, paths: Vec<PathBuf>) -> DiscoveryConfig {
        DiscoveryConfig {
            cwd,
            paths,
            suites: vec![Suite::builtin()],
            levels: Levels::default(),
            ignore_dirs: Vec::new(),
            net: Network::Host,
            cargo: None,
        }
    }
}

/// Globs of the built-in suite (SPEC §3), also the `include` of a suite that names none.
pub const DEFAULT_INCLUDE: [&str; 3] = ["**/*_test.*", "**/*_spec.*", "**/*.t"];

/// Exit codes that mean "skipped" unless a suite says otherwise (automake's 77).
pub const DEFAULT_SKIP_EXIT_CODES: [i32; 1] = [77];

/// Name of the suite used when `warden.toml` configures none.
pub const BUILTIN_SUITE: &str = "default";

/// Name of the suite `--cargo` uses when `warden.toml` configures no cargo suite.
pub const CARGO_SUITE: &str = "cargo";

/// A `[[suite]]`: which files it claims and how to run them.
#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    /// Globs relative to each PATH, `/`-separated; `*` does not cross `/`, `**` does.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// argv template with `{path}` `{dir}` `{name}` `{stem}`; `None` = the file or its interpreter.
    pub command: Option<Vec<String>>,
    pub format: OutputFormat,
    pub env: BTreeMap<String, String>,
    pub timeout: Option<Duration>,
    /// Memory cap of the suite's tests, in bytes (`mem_limit = "512M"`).
    pub mem_limit: Option<u64>,
    /// The network of the suite's tests (`net = "private"`); `None` = the run's.
    pub net: Option<Network>,
    /// Exit codes that mean "skipped" (`skip_exit_codes`, default `[77]`).
    pub skip_exit_codes: Vec<i32>,
    /// argv template that prints the cases of a claimed file (`list`); then every case is a
    /// test and `command` has `{case}`.
    pub list: Option<Vec<String>>,
    /// How the output of `list` is read.
    pub list_format: ListFormat,
    /// Where the suite's tests come from: claimed files, or cargo's test binaries.
    pub adapter: Adapter,
    /// `cargo_args` of a cargo suite: passed to `cargo test --no-run` (`--workspace`, `-p x`).
    pub cargo_args: Vec<String>,
    include_set: GlobSet,
    exclude_set: GlobSet,
}

impl Suite {
    /// A suite with compiled globs and defaults elsewhere (no command, auto format, no env).
    pub fn new(
        name: impl Into<String>,
        include: Vec<String>,
        exclude: Vec<String>,
    ) -> Result<Suite, globset::Error> {
        let include_set = compile_globs(&include)?;
        let exclude_set = compile_globs(&exclude)?;
        Ok(Suite {
            name: name.into(),
            include,
            exclude,
            command: None,
            format: OutputFormat::Auto,
            env: BTreeMap::new(),
            timeout: None,
            mem_limit: None,
            net: None,
            skip_exit_codes: DEFAULT_SKIP_EXIT_CODES.to_vec(),
            list: None,
            list_format: ListFormat::Lines,
            adapter: Adapter::Files,
            cargo_args: Vec::new(),
            include_set,
            exclude_set,
        })
    }

    /// The suite `--cargo` uses when `warden.toml` configures none.
    pub fn builtin_cargo() -> Suite {
        let mut suite = Suite::new(CARGO_SUITE, Vec::new(), Vec::new()).expect("no globs");
        suite.adapter = Adapter::Cargo;
        suite
    }

    /// The built-in suite: `*_test.*`, `*_spec.*`, `*.t` anywhere.
    pub fn builtin() -> Suite {
        let include = DEFAULT_INCLUDE.iter().map(|s| s.to_string()).collect();
        Suite::new(BUILTIN_SUITE, include, Vec::new()).expect("built-in globs are valid")
    }

    /// Whether this suite claims `rel`, a `/`-separated path relative to a PATH.
    pub fn matches(&self, rel: &str) -> bool {
        // A cargo suite's tests come from cargo, never from files.
        self.adapter == Adapter::Files
            && self.include_set.is_match(rel)
            && !self.exclude_set.is_match(rel)
    }

    /// Whether the exclude globs leave out everything below the directory `rel_dir`: then
    /// a directory there that cannot be read hides nothing of this suite.
    pub fn excludes_dir(&self, rel_dir: &str) -> bool {
        self.exclude_set.is_match(rel_dir)
            || self
                .exclude_set
                .is_match(format!("{rel_dir}/any_test.file"))
    }

    /// Whether an include glob matches `rel`, ignoring excludes (for explicitly named files).
    pub fn includes(&self, rel: &str) -> bool {
        self.adapter == Adapter::Files && self.include_set.is_match(rel)
    }
}

/// Where a suite's tests come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Adapter {
    /// Files under the PATHs that the include globs claim (each file a test, or its cases).
    #[default]
    Files,
    /// `adapter = "cargo"`: the test binaries `cargo test --no-run` builds, each case a test.
    Cargo,
}

/// One glob as warden understands it: shell-like, `*` stays within a path component.
pub fn compile_glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).build()
}

fn compile_globs(patterns: &[String]) -> Result<GlobSet, globset::Error> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(compile_glob(pattern)?);
    }
    builder.build()
}

/// `[levels]`: level name → directory names that put a test in that level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Levels {
    /// In display order; a directory name appears under at most one level.
    entries: Vec<(String, Vec<String>)>,
}

impl Default for Levels {
    fn default() -> Levels {
        let entry = |level: &str, dirs: &[&str]| {
            (
                level.to_string(),
                dirs.iter().map(|d| d.to_string()).collect(),
            )
        };
        Levels {
            entries: vec![
                entry("unit", &["unit"]),
                entry("integration", &["integration"]),
                entry("system", &["system", "feature", "e2e"]),
            ],
        }
    }
}

/// A directory name that two levels claim: its tests would have two levels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("directory name `{dir}` is claimed by both level `{first}` and level `{second}`")]
pub struct DoubleClaim {
    pub dir: String,
    pub first: String,
    pub second: String,
}

impl Levels {
    /// Levels from `(level, dirs)` pairs; fails naming a directory that two levels claim.
    pub fn new(entries: Vec<(String, Vec<String>)>) -> Result<Levels, DoubleClaim> {
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for (level, dirs) in &entries {
            for dir in dirs {
                if let Some(other) = owner.insert(dir, level) {
                    if other != level {
                        return Err(DoubleClaim {
                            dir: dir.clone(),
                            first: other.to_string(),
                            second: level.clone(),
                        });
                    }
                }
            }
        }
        Ok(Levels { entries })
    }

    /// The level a directory of this name puts its tests in.
    pub fn level_of_dir(&self, dir: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(_, dirs)| dirs.iter().any(|d| d == dir))
            .map(|(level, _)| level.as_str())
    }

    pub fn contains(&self, level: &str) -> bool {
        self.entries.iter().any(|(l, _)| l == level)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(l, _)| l.as_str())
    }

    pub fn entries(&self) -> &[(String, Vec<String>)] {
        &self.entries
    }
}

/// Which discovered tests to run, and in what order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// Any-of; a test without a level is excluded when this is not empty.
    pub levels: Vec<String>,
    /// Any-of.
    pub tags: Vec<String>,
    pub exclude_tags: Vec<String>,
    pub slow: SlowMode,
    pub only_skipped: bool,
    /// Substrings of the test id, any-of.
    pub filters: Vec<String>,
    /// Filter expressions (`-E`), any-of; each parses (checked when the settings were made).
    pub filter_exprs: Vec<String>,
    /// `Some` = shuffle reproducibly with this seed (print it so a run can be repeated).
    pub shuffle_seed: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowMode {
    /// `@slow` tests are left out (the default).
    #[default]
    Exclude,
    /// `--include-slow` / `--all`.
    Include,
    /// `--only-slow`.
    Only,
}

/// How the runner behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    pub workers: usize,
    pub timeout: Duration,
    pub grace: Duration,
    pub fail_fast: bool,
    pub max_fail: Option<u32>,
    pub retries: u32,
    pub no_capture: bool,
    /// Run `@skip` tests instead of reporting them skipped (`--only-skipped`).
    pub run_skipped: bool,
    pub state_dir: PathBuf,
    pub leak: LeakPolicy,
    /// `--self-protect` with its thresholds; `None` = off.
    pub host_guard: Option<HostGuard>,
    /// Caps of every test (a test's `@mem-limit` or its suite's `mem_limit` wins).
    pub test_limits: TestLimits,
    /// What a run with no test selected exits with (`--no-tests`).
    pub no_tests: NoTests,
    /// `SLOW` is reported each time a running test passes another multiple of this.
    pub slow_after: Duration,
    /// `--coverage` / `[run] coverage = true`.
    pub coverage: bool,
}

/// `--no-tests`: what an empty selection means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoTests {
    /// Exit 4 with an error: a typo in a filter must not turn CI green.
    #[default]
    Fail,
    /// A warning, exit 0.
    Warn,
    /// Nothing said, exit 0.
    Pass,
}

/// The host guard's thresholds, percentages of the host (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostGuard {
    pub cpu_threshold: f64,
    pub mem_threshold: f64,
}

/// `--test-mem-limit`, `--test-pids-limit`, `--safe-mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestLimits {
    pub mem_bytes: Option<u64>,
    pub pids: Option<u64>,
    pub safe_mode: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeakPolicy {
    /// Kill leaked processes, report them, keep the test's status.
    #[default]
    Kill,
    /// Kill them and fail the test with status `leak`.
    Fail,
}

/// Where reports go and how the terminal output looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputConfig {
    pub junit: Option<PathBuf>,
    pub json: Option<ReportTarget>,
    pub html: Option<PathBuf>,
    pub color: ColorChoice,
    pub verbose: bool,
    pub quiet: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportTarget {
    /// `-`
    Stdout,
    /// Absolute path.
    File(PathBuf),
}

/// `--color`; `Auto` leaves the terminal/`NO_COLOR` decision to the output layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_suite_matches_the_spec_patterns_at_any_depth() {
        let s = Suite::builtin();
        for yes in [
            "a_test.sh",
            "unit/a_test.py",
            "x/y/z_spec.rb",
            "deep/er/t.t",
            "b.t",
        ] {
            assert!(s.matches(yes), "{yes}");
        }
        for no in ["helper.sh", "test.sh", "a_test", "unit/a.tt", "spec/x.rb"] {
            assert!(!s.matches(no), "{no}");
        }
    }

    #[test]
    fn star_does_not_cross_directories_and_excludes_win() {
        let s = Suite::new(
            "s",
            vec!["*_check.sh".into()],
            vec!["**/fixtures/**".into()],
        )
        .unwrap();
        assert!(s.matches("a_check.sh"));
        assert!(!s.matches("sub/a_check.sh"));
        let s = Suite::new(
            "s",
            vec!["**/*_check.sh".into()],
            vec!["**/fixtures/**".into()],
        )
        .unwrap();
        assert!(s.matches("sub/a_check.sh"));
        assert!(!s.matches("sub/fixtures/a_check.sh"));
        assert!(s.includes("sub/fixtures/a_check.sh"));
    }

    #[test]
    fn levels_map_directories_and_refuse_double_claims() {
        let l = Levels::default();
        assert_eq!(l.level_of_dir("e2e"), Some("system"));
        assert_eq!(l.level_of_dir("unit"), Some("unit"));
        assert_eq!(l.level_of_dir("helpers"), None);
        assert!(l.contains("integration") && !l.contains("e2e"));
        let err = Levels::new(vec![
            ("unit".into(), vec!["fast".into()]),
            ("smoke".into(), vec!["fast".into()]),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            DoubleClaim {
                dir: "fast".into(),
                first: "unit".into(),
                second: "smoke".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "directory name `fast` is claimed by both level `unit` and level `smoke`"
        );
    }

    #[test]
    fn bad_glob_is_an_error_not_a_panic() {
        assert!(Suite::new("s", vec!["a[".into()], vec![]).is_err());
    }
}
