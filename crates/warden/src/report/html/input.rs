//! Reading the JSON-lines event stream back (as `--json` or `warden merge` wrote it) into typed
//! records. The HTML report is built from these records only, whether the events come from a
//! live run or from a file, so a saved stream renders to the same page as the run did.

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::clock::parse_rfc3339_utc_millis;
use crate::events::{Leak, Status, Subtests};
use crate::report::json::SCHEMA;

/// A line that is not a warden event, or not one this warden reads. `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {message}")]
pub struct InputError {
    pub line: usize,
    pub message: String,
}

/// One event line: the fields every line has, and what its type carries.
#[derive(Debug, Clone)]
pub struct Line {
    /// Milliseconds since 1970 (UTC).
    pub at: i64,
    /// Set on the lines of a merged stream: which shard (1-based) the event came from.
    pub shard: Option<u32>,
    pub record: Record,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Record {
    RunStarted(RunStarted),
    TestStarted(TestStarted),
    TestRetrying(Box<TestDone>),
    TestFinished(Box<TestDone>),
    TestCancelled(TestEnded),
    TestRequeued(TestEnded),
    ResourceSample(Sample),
    Guard(GuardDecision),
    Warning(Warning),
    Coverage(CoverageLine),
    RunFinished(RunFinished),
    /// A type this warden does not know (a newer writer's): ignored, as the contract says.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunStarted {
    pub run_id: String,
    #[serde(default)]
    pub selected: u64,
    #[serde(default)]
    pub workers: u64,
    pub resumed_from: Option<String>,
    pub log_dir: Option<String>,
    pub warden_version: Option<String>,
    pub host: Option<String>,
    #[serde(default)]
    pub argv: Vec<String>,
    pub timeout_ms: Option<u64>,
    pub retries: Option<u32>,
    pub cpu_threshold: Option<f64>,
    pub mem_threshold: Option<f64>,
    /// With `--partition`: which shard this run is.
    pub partition: Option<Partition>,
    /// A merged stream's list of its shards.
    #[serde(default)]
    pub merged: Vec<MergedShard>,
}

/// `run-started`'s `partition` (its `cut` and `selection` are for `warden merge`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Partition {
    /// `duration:2/4`.
    pub spec: String,
}

/// A shard as a merged `run-started` lists it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MergedShard {
    pub shard: u32,
    #[serde(default)]
    pub file: String,
    pub run_id: Option<String>,
    pub workers: Option<u64>,
    pub host: Option<String>,
    pub cpu_threshold: Option<f64>,
    pub mem_threshold: Option<f64>,
    pub partition: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TestStarted {
    pub id: String,
    pub worker: u32,
    pub attempt: u32,
}

/// `test-finished` and `test-retrying`.
#[derive(Debug, Clone, Deserialize)]
pub struct TestDone {
    pub id: String,
    pub status: Status,
    pub duration_ms: u64,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub attempt: u32,
    /// Absent in streams written before it was added.
    pub worker: Option<u32>,
    pub subtests: Option<Subtests>,
    pub peak_rss_bytes: Option<u64>,
    pub cpu_ms: Option<u64>,
    #[serde(default)]
    pub leaked: Vec<Leak>,
    pub log: Option<String>,
    pub message: Option<String>,
    #[serde(default)]
    pub carried_over: bool,
    pub output_tail: Option<String>,
}

/// `test-cancelled` and `test-requeued`: an attempt that ended without a result.
#[derive(Debug, Clone, Deserialize)]
pub struct TestEnded {
    pub id: String,
    /// `test-cancelled` only: why the run stopped.
    pub reason: Option<String>,
    pub worker: Option<u32>,
    pub attempt: Option<u32>,
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Sample {
    pub cpu_percent: Option<f64>,
    pub mem_used_percent: f64,
    #[serde(default)]
    pub running: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GuardDecision {
    pub action: String,
    pub reason: String,
    pub id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Warning {
    pub message: String,
}

/// `coverage`: what became of one kind of coverage data (`--coverage`).
#[derive(Debug, Clone, Deserialize)]
pub struct CoverageLine {
    pub kind: String,
    #[serde(default)]
    pub tests: u64,
    #[serde(default)]
    pub files: u64,
    #[serde(default)]
    pub raw_dir: String,
    pub merged: Option<String>,
    pub tool: Option<String>,
    pub command: Option<String>,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunFinished {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub timed_out: u64,
    pub flaky: u64,
    pub leaky: u64,
    pub oom: u64,
    pub errors: u64,
    #[serde(default)]
    pub not_run: u64,
    pub duration_ms: u64,
    pub exit_code: i32,
    pub stopped: Option<String>,
    /// A merged stream's shards, with their own exit codes.
    #[serde(default)]
    pub shards: Vec<ShardEnd>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ShardEnd {
    pub shard: u32,
    pub exit_code: Option<i32>,
    pub duration_ms: Option<u64>,
}

/// Parses one line of text (`line` is its 1-based number, for errors). Blank lines are `None`.
pub fn parse_line(line: usize, text: &str) -> Result<Option<Line>, InputError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| InputError {
        line,
        message: if e.is_eof() {
            format!(
                "the line ends in the middle of a JSON value: torn (was the writer killed?) ({e})"
            )
        } else {
            format!("not a JSON line ({e})")
        },
    })?;
    parse_value(line, value).map(Some)
}

/// Checks and types one event as a JSON value (what [`crate::report::event_to_json`] gives).
pub fn parse_value(line: usize, value: Value) -> Result<Line, InputError> {
    let err = |message: String| InputError { line, message };
    let Value::Object(obj) = &value else {
        return Err(err("not a JSON object: not a warden event".into()));
    };
    let ty = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| err("no string `type`: not a warden event".into()))?
        .to_string();
    match obj.get("schema").and_then(Value::as_u64) {
        Some(s) if s == u64::from(SCHEMA) => {}
        Some(s) => {
            return Err(err(format!(
                "schema {s} is not one this warden reads (schema {SCHEMA})"
            )))
        }
        None => return Err(err("no `schema`: not a warden event".into())),
    }
    let time = obj
        .get("time")
        .and_then(Value::as_str)
        .ok_or_else(|| err(format!("{ty}: no `time`")))?;
    let at = parse_rfc3339_utc_millis(time)
        .ok_or_else(|| err(format!("{ty}: `time` {time:?} is not a UTC RFC 3339 time")))?;
    let shard = match obj.get("shard") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| err(format!("{ty}: `shard` is {v}, not a shard number")))?,
        ),
    };
    let record = serde_json::from_value(value).map_err(|e| err(format!("{ty}: {e}")))?;
    Ok(Line { at, shard, record })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<Line>, String> {
        parse_line(7, text).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_a_finished_test_with_every_field() {
        let line = parse(
            r#"{"type":"test-finished","schema":1,"time":"2023-11-14T22:13:20.123Z","id":"t/a.sh","status":"timeout","duration_ms":2000,"exit_code":null,"signal":"SIGTERM","attempt":2,"worker":1,"subtests":{"passed":1,"failed":0,"skipped":2},"peak_rss_bytes":4096,"cpu_ms":3,"leaked":[{"pid":9,"cmd":"sleep 9"}],"log":"l/t.log","message":"timed out after 2s","carried_over":false,"output_tail":"waiting\n","shard":2,"future_field":[1]}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!((line.at, line.shard), (1_700_000_000_123, Some(2)));
        let Record::TestFinished(t) = line.record else {
            panic!("{:?}", line.record)
        };
        assert_eq!(
            (t.id.as_str(), t.status, t.attempt),
            ("t/a.sh", Status::Timeout, 2)
        );
        assert_eq!(t.worker, Some(1));
        assert_eq!(t.subtests.map(|s| s.skipped), Some(2));
        assert_eq!(t.leaked[0].cmd, "sleep 9");
        assert_eq!(t.output_tail.as_deref(), Some("waiting\n"));
    }

    #[test]
    fn unknown_types_and_blank_lines_are_skipped() {
        assert!(parse("   ").unwrap().is_none());
        let line = parse(r#"{"type":"coffee-break","schema":1,"time":"2023-11-14T22:13:20.123Z"}"#)
            .unwrap()
            .unwrap();
        assert!(matches!(line.record, Record::Unknown));
    }

    #[test]
    fn foreign_and_torn_lines_are_named() {
        let cases = [
            (
                r#"{"type":"test-fini"#,
                "line 7: the line ends in the middle of a JSON value: torn",
            ),
            ("hello", "line 7: not a JSON line"),
            ("[1,2]", "line 7: not a JSON object: not a warden event"),
            (
                r#"{"name":"x"}"#,
                "line 7: no string `type`: not a warden event",
            ),
            (
                r#"{"type":"run-started"}"#,
                "line 7: no `schema`: not a warden event",
            ),
            (
                r#"{"type":"run-started","schema":2}"#,
                "line 7: schema 2 is not one this warden reads (schema 1)",
            ),
            (
                r#"{"type":"warning","schema":1}"#,
                "line 7: warning: no `time`",
            ),
            (
                r#"{"type":"warning","schema":1,"time":"yesterday"}"#,
                "line 7: warning: `time` \"yesterday\" is not a UTC RFC 3339 time",
            ),
            (
                r#"{"type":"warning","schema":1,"time":"2023-11-14T22:13:20.123Z","shard":"a"}"#,
                "line 7: warning: `shard` is \"a\", not a shard number",
            ),
            (
                r#"{"type":"test-started","schema":1,"time":"2023-11-14T22:13:20.123Z","id":"a"}"#,
                "line 7: test-started: missing field `worker`",
            ),
            (
                r#"{"type":"test-finished","schema":1,"time":"2023-11-14T22:13:20.123Z","id":"a","status":"great","duration_ms":1,"exit_code":0,"signal":null,"attempt":1}"#,
                "line 7: test-finished: unknown variant `great`",
            ),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_err();
            assert!(got.starts_with(want), "{text}\n got: {got}\nwant: {want}");
        }
    }
}
