//! The unit of work: one test file, with everything discovery learned about it.
//! Plain data so that `warden list --json`, the runner and later the journal share one shape.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::supervise::Network;

/// How a test's output is interpreted on top of its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    /// TAP when the output starts with a plan or `TAP version`, else exit code only.
    #[default]
    Auto,
    ExitCode,
    Tap,
}

/// One selected or selectable test.
#[derive(Debug, Clone, Serialize)]
pub struct TestCase {
    /// Path relative to the directory warden runs in, `/`-separated: the stable identity.
    pub id: String,
    /// Absolute path of the file.
    pub path: PathBuf,
    /// Name of the suite that claimed the file (`default` for the built-in suite).
    pub suite: String,
    pub level: Option<String>,
    pub tags: Vec<String>,
    pub slow: bool,
    /// `Some(reason)` when marked `@skip`/`@pending` (reason may be empty).
    pub skip: Option<String>,
    /// Effective per-test timeout from the marker or the suite; `None` = the run's default.
    #[serde(serialize_with = "ser_opt_duration_ms", rename = "timeout_ms")]
    pub timeout: Option<Duration>,
    pub serial: bool,
    /// The argv to exec, or why there is none (reported as ERROR when the test is run).
    pub command: Result<Vec<String>, String>,
    pub format: OutputFormat,
    /// Extra environment from the suite.
    pub env: BTreeMap<String, String>,
    /// Memory cap from the `@mem-limit` marker or the suite, in bytes; `None` = the run's.
    pub mem_limit: Option<u64>,
    /// Exit codes that mean "skipped", from the suite (`[77]` by default).
    pub skip_exit_codes: Vec<i32>,
    /// The network the test runs in: its `@net` marker, else its suite's `net`, else the
    /// run's (`--net`, `[run] net`, `host`).
    pub net: Network,
}

fn ser_opt_duration_ms<S: serde::Serializer>(
    d: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_millis() as u64)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
impl TestCase {
    /// A plain test for unit tests: id `id`, path `id`, the default suite, command `true`,
    /// no markers. Tests change the fields they care about.
    pub fn for_test(id: &str) -> TestCase {
        TestCase {
            id: id.to_string(),
            path: id.into(),
            suite: "default".into(),
            level: None,
            tags: Vec::new(),
            slow: false,
            skip: None,
            timeout: None,
            serial: false,
            command: Ok(vec!["true".into()]),
            format: OutputFormat::Auto,
            env: BTreeMap::new(),
            mem_limit: None,
            skip_exit_codes: vec![77],
            net: Network::Host,
        }
    }
}
