//! The only contract between the runner and everything that reports on a run.
//! Reporters (terminal, JSON lines, JUnit, the journal) are pure consumers of these.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

pub use crate::exit_code::ExitCode;

/// Final status of one test (SPEC §10 `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Timeout,
    Skip,
    Flaky,
    Leak,
    Error,
    Oom,
}

impl Status {
    /// Every status, in the order the contract lists them.
    pub const ALL: [Status; 8] = [
        Status::Pass,
        Status::Fail,
        Status::Timeout,
        Status::Skip,
        Status::Flaky,
        Status::Leak,
        Status::Error,
        Status::Oom,
    ];

    /// The wire name (SPEC §10 `status`): the same word in JSON, JUnit, the journal, history
    /// and merged reports.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Timeout => "timeout",
            Status::Skip => "skip",
            Status::Flaky => "flaky",
            Status::Leak => "leak",
            Status::Error => "error",
            Status::Oom => "oom",
        }
    }

    /// The status of a wire name; `None` for a word the contract does not have.
    pub fn parse(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The word shown in the terminal (SPEC §4).
    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Timeout => "TIMEOUT",
            Status::Skip => "SKIP",
            Status::Flaky => "FLAKY",
            Status::Leak => "LEAK",
            Status::Error => "ERROR",
            Status::Oom => "OOM",
        }
    }

    /// Whether this status makes the run fail (exit 1).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Status::Fail | Status::Timeout | Status::Leak | Status::Error | Status::Oom
        )
    }
}

/// Subtest counts, when the test spoke TAP or wrote a JUnit report (`format = "junit"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subtests {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    /// Each case of a JUnit report, in its order (empty for TAP).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cases: Vec<SubtestCase>,
}

/// One case of a test's JUnit report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtestCase {
    /// `classname.name` as the report gives them.
    pub name: String,
    /// `pass`, `fail`, `error` or `skip`.
    pub status: Status,
    /// First line of the failure, error or skip message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A process a test left behind when its main process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leak {
    pub pid: i32,
    pub cmd: String,
}

/// Captured output of one test: bounded head and tail for display, the full stream on disk.
#[derive(Debug, Clone, Default)]
pub struct CapturedOutput {
    pub head: Vec<u8>,
    pub tail: Vec<u8>,
    /// Bytes seen in total; when larger than head + tail, the middle was omitted from memory.
    pub total_bytes: u64,
}

impl CapturedOutput {
    /// Bytes dropped between head and tail.
    pub fn omitted_bytes(&self) -> u64 {
        self.total_bytes
            .saturating_sub((self.head.len() + self.tail.len()) as u64)
    }
}

/// Everything known about one finished attempt of a test.
#[derive(Debug, Clone)]
pub struct TestResult {
    pub id: String,
    pub status: Status,
    pub attempt: u32,
    pub worker: usize,
    pub duration: Duration,
    pub exit_code: Option<i32>,
    /// Signal name (`SIGKILL`) when the main process died of one.
    pub signal: Option<String>,
    pub subtests: Option<Subtests>,
    pub peak_rss_bytes: Option<u64>,
    pub cpu_ms: Option<u64>,
    pub leaked: Vec<Leak>,
    /// Full output log on disk, when capture was on.
    pub log: Option<PathBuf>,
    pub output: CapturedOutput,
    /// Why the status is what it is, in words (`timed out after 2s`, `plan 1..3 but 2 tests`, an
    /// error message, a skip reason).
    pub message: Option<String>,
    /// Finished in an earlier, interrupted run and carried into this one by `--resume`.
    pub carried_over: bool,
    /// With `--coverage`: the directory the test's coverage data went to.
    pub coverage_dir: Option<PathBuf>,
    /// The network the attempt ran in (`host`, `private`, or a container's network other than
    /// `none`); `None` for a test that was not run.
    pub net: Option<String>,
}

/// Totals of a run (SPEC §10 `run-finished`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub timed_out: u32,
    pub flaky: u32,
    pub leaky: u32,
    pub oom: u32,
    pub errors: u32,
    /// Tests that were started but terminated before they finished (fail-fast, shutdown).
    pub cancelled: u32,
    /// Selected tests never started (fail-fast, shutdown).
    pub not_run: u32,
}

impl Totals {
    /// Count one final result. `failed` counts only plain failures; the other failure kinds
    /// have their own counters, as in the JSON contract.
    pub fn add(&mut self, r: &TestResult) {
        match r.status {
            Status::Pass => self.passed += 1,
            Status::Fail => self.failed += 1,
            Status::Skip => self.skipped += 1,
            Status::Timeout => self.timed_out += 1,
            Status::Flaky => self.flaky += 1,
            Status::Leak => self.leaky += 1,
            Status::Error => self.errors += 1,
            Status::Oom => self.oom += 1,
        }
        // A pass that leaked (leak = "kill") still counts as leaky.
        if r.status != Status::Leak && !r.leaked.is_empty() {
            self.leaky += 1;
        }
    }
}

/// Why a run stopped before running everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    FailFast,
    MaxFail,
    Signal,
    /// `--self-protect` shut the run down (exit 42).
    Guard,
}

/// What the host guard did (SPEC §6, the `guard` event of §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GuardAction {
    /// The number of tests allowed at once changed (down, to zero, or back up).
    Throttle,
    /// A running test was terminated to be run again later.
    Requeue,
    /// A test running alone (it was running when the guard stopped the run being resumed)
    /// still filled memory: terminated and reported failed, so the run can finish.
    Fail,
    /// The run was stopped.
    Shutdown,
}

impl GuardAction {
    /// The name used in reports (`throttle`, `requeue`, `fail`, `shutdown`).
    pub fn name(self) -> &'static str {
        match self {
            GuardAction::Throttle => "throttle",
            GuardAction::Requeue => "requeue",
            GuardAction::Fail => "fail",
            GuardAction::Shutdown => "shutdown",
        }
    }
}

/// Host readings behind a sample or a guard decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HostReading {
    /// Busy share of all CPUs over the last window; `None` before the first window ended.
    pub cpu_percent: Option<f64>,
    pub mem_used_percent: f64,
    /// PSI `some avg10`, where the kernel has it.
    pub cpu_pressure: Option<f64>,
    pub mem_pressure: Option<f64>,
}

/// What a run was, beyond its tests: what ran it, where, and with which settings that shape a
/// report of it (the HTML report's header, the thresholds drawn on its resource chart).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunInfo {
    /// Version of the warden that ran.
    pub warden_version: String,
    /// Name of the machine (`gethostname`), when it has one.
    pub host: Option<String>,
    /// The command line after the program name, as typed.
    pub argv: Vec<String>,
    /// Per-test time limit (before markers and suites override it).
    pub timeout: Duration,
    pub retries: u32,
    /// `--self-protect` thresholds; `None` when the guard is off.
    pub cpu_threshold: Option<f64>,
    pub mem_threshold: Option<f64>,
}

/// The shard a partitioned run is (`--partition`), as recorded in its `run-started` event so
/// that `warden merge` can check that the shards agree: the same cut of the same selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    /// `duration:2/4`.
    pub spec: String,
    /// Digest of the whole assignment (every selected id and its shard): equal in every shard
    /// of one cut.
    pub cut: String,
    /// Every selected test of the whole run (all shards), sorted.
    pub selection: Vec<String>,
}

/// A kind of coverage data, named after the runtime that writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CoverageKind {
    /// `.profraw` of `LLVM_PROFILE_FILE` (Rust `-C instrument-coverage`, clang).
    Llvm,
    /// `.gcda` under `GCOV_PREFIX` (gcc/clang `--coverage`).
    Gcov,
    /// `covmeta.*`/`covcounters.*` in `GOCOVERDIR` (Go `-cover`).
    Go,
    /// V8 JSON profiles in `NODE_V8_COVERAGE`.
    Node,
    /// coverage.py data files named after `COVERAGE_FILE`.
    Python,
}

impl CoverageKind {
    pub const ALL: [CoverageKind; 5] = [
        CoverageKind::Llvm,
        CoverageKind::Gcov,
        CoverageKind::Go,
        CoverageKind::Node,
        CoverageKind::Python,
    ];

    /// The name used in reports (`llvm`, `gcov`, `go`, `node`, `python`).
    pub fn name(self) -> &'static str {
        match self {
            CoverageKind::Llvm => "llvm",
            CoverageKind::Gcov => "gcov",
            CoverageKind::Go => "go",
            CoverageKind::Node => "node",
            CoverageKind::Python => "python",
        }
    }
}

/// What became of one kind of coverage data at the end of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageSummary {
    pub kind: CoverageKind,
    /// Tests whose directory holds data of this kind.
    pub tests: usize,
    /// Data files of this kind.
    pub files: usize,
    /// Where the raw data is: `<run dir>/coverage`, one directory per test.
    pub raw_dir: PathBuf,
    /// The merged result (a file or a directory), when a tool merged it.
    pub merged: Option<PathBuf>,
    /// The tool that merged it, or that failed to.
    pub tool: Option<String>,
    /// The command that merges the raw data, when warden did not (no tool, a failure).
    pub command: Option<String>,
    /// Why it was not merged: no tool on PATH, the tool's error.
    pub problem: Option<String>,
}

/// One thing that happened during a run.
#[derive(Debug, Clone)]
pub struct Event {
    pub at: SystemTime,
    pub kind: EventKind,
}

#[derive(Debug, Clone)]
pub enum EventKind {
    RunStarted {
        run_id: String,
        selected: usize,
        workers: usize,
        resumed_from: Option<String>,
        log_dir: Option<PathBuf>,
        info: Box<RunInfo>,
        /// With `--partition`: which shard, and of which cut.
        partition: Option<std::sync::Arc<ShardInfo>>,
    },
    TestStarted {
        id: String,
        worker: usize,
        attempt: u32,
        /// As [`TestResult::net`].
        net: String,
    },
    /// A failed attempt that will be retried; the final attempt comes as `TestFinished`.
    TestRetrying(Box<TestResult>),
    TestFinished(Box<TestResult>),
    /// A test still running has passed another multiple of `--slow-after` (not paused time).
    TestSlow {
        id: String,
        worker: usize,
        attempt: u32,
        /// The multiple it passed: it has run at least this long.
        elapsed: Duration,
    },
    /// A running test terminated because the run is stopping.
    TestCancelled {
        id: String,
        reason: StopReason,
        worker: usize,
        attempt: u32,
        /// From its start until it was gone.
        duration: Duration,
    },
    /// Output of a running test as it arrives (`--no-capture`): for the terminal only; the
    /// output is in the test's log and result as always, and the JSON stream leaves it out.
    TestOutput {
        id: String,
        worker: usize,
        attempt: u32,
        chunk: Vec<u8>,
    },
    /// A running test the guard terminated is gone; it runs again later (same attempt).
    TestRequeued {
        id: String,
        worker: usize,
        attempt: u32,
        duration: Duration,
    },
    /// A condition worth telling the user that is not a test result.
    Warning(String),
    /// With `--coverage`, at the end of the run: one per kind of data the tests wrote.
    Coverage(Box<CoverageSummary>),
    /// A periodic look at the host while tests run (with `--self-protect`).
    ResourceSample {
        reading: HostReading,
        running: usize,
    },
    /// A decision of the host guard, with the readings behind it.
    Guard {
        action: GuardAction,
        reason: String,
        reading: HostReading,
        /// Tests allowed at once after the decision (0 = start none).
        allowed: usize,
        /// The requeued test.
        id: Option<String>,
    },
    RunFinished {
        run_id: String,
        totals: Totals,
        duration: Duration,
        exit_code: ExitCode,
        stopped: Option<StopReason>,
    },
}

impl Event {
    pub fn now(kind: EventKind) -> Self {
        Event {
            at: SystemTime::now(),
            kind,
        }
    }
}

#[cfg(test)]
impl TestResult {
    /// A finished first attempt for unit tests: `status` with the exit code it implies
    /// (0 for a pass, 77 for a skip, 1 otherwise), `ms` long, nothing measured, no output.
    pub fn for_test(id: &str, status: Status, ms: u64) -> TestResult {
        TestResult {
            id: id.to_owned(),
            status,
            attempt: 1,
            worker: 0,
            duration: Duration::from_millis(ms),
            exit_code: Some(match status {
                Status::Pass | Status::Flaky | Status::Leak => 0,
                Status::Skip => 77,
                _ => 1,
            }),
            signal: None,
            subtests: None,
            peak_rss_bytes: None,
            cpu_ms: None,
            leaked: Vec::new(),
            log: None,
            output: CapturedOutput::default(),
            message: None,
            carried_over: false,
            coverage_dir: None,
            net: None,
        }
    }
}

#[cfg(test)]
mod status_tests {
    use super::Status;

    #[test]
    fn wire_names_are_serde_names_and_parse_back() {
        for s in Status::ALL {
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(json, s.name());
            assert_eq!(Status::parse(s.name()), Some(s));
        }
        assert_eq!(Status::parse("bogus"), None);
        assert_eq!(Status::parse("PASS"), None, "wire names are lowercase");
    }
}
