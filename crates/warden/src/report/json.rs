//! `--json`: JSON Lines, one event per line, flushed as it happens (SPEC §10).
//! Each line starts with `"type"` and `"schema"` so a reader can dispatch before parsing on.

use crate::exit_code::ExitCode;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::clock::rfc3339_utc_millis;
use crate::events::{
    CoverageKind, Event, EventKind, GuardAction, HostReading, Leak, Status, StopReason, Subtests,
    TestResult, Totals,
};
use crate::report::text::output_tail;

/// Version of the line format; bumped only when a field changes meaning or disappears.
pub const SCHEMA: u32 = 1;

#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    schema: u32,
    time: String,
    #[serde(flatten)]
    body: Body<'a>,
}

#[derive(Serialize)]
struct PartitionJson<'a> {
    spec: &'a str,
    cut: &'a str,
    selection: &'a [String],
}

#[derive(Serialize)]
#[serde(untagged)]
enum Body<'a> {
    RunStarted {
        run_id: &'a str,
        selected: usize,
        workers: usize,
        resumed_from: Option<&'a str>,
        log_dir: Option<String>,
        warden_version: &'a str,
        host: Option<&'a str>,
        argv: &'a [String],
        timeout_ms: u64,
        retries: u32,
        cpu_threshold: Option<f64>,
        mem_threshold: Option<f64>,
        /// Only in shards: `{"spec":"duration:2/4","cut":"…","selection":[…]}`.
        #[serde(skip_serializing_if = "Option::is_none")]
        partition: Option<PartitionJson<'a>>,
    },
    TestStarted {
        id: &'a str,
        worker: usize,
        attempt: u32,
        net: &'a str,
    },
    TestSlow {
        id: &'a str,
        worker: usize,
        attempt: u32,
        elapsed_ms: u64,
    },
    Test(TestFields<'a>),
    TestCancelled {
        id: &'a str,
        reason: StopReason,
        worker: usize,
        attempt: u32,
        duration_ms: u64,
    },
    TestRequeued {
        id: &'a str,
        worker: usize,
        attempt: u32,
        duration_ms: u64,
    },
    Warning {
        message: &'a str,
    },
    Coverage {
        kind: CoverageKind,
        tests: usize,
        files: usize,
        raw_dir: String,
        merged: Option<String>,
        tool: Option<&'a str>,
        command: Option<&'a str>,
        problem: Option<&'a str>,
    },
    ResourceSample {
        #[serde(flatten)]
        reading: &'a HostReading,
        running: usize,
    },
    Guard {
        action: GuardAction,
        reason: &'a str,
        #[serde(flatten)]
        reading: &'a HostReading,
        allowed: usize,
        id: Option<&'a str>,
    },
    RunFinished {
        run_id: &'a str,
        #[serde(flatten)]
        totals: &'a Totals,
        duration_ms: u64,
        exit_code: ExitCode,
        stopped: Option<StopReason>,
    },
}

#[derive(Serialize)]
struct TestFields<'a> {
    id: &'a str,
    status: Status,
    duration_ms: u64,
    exit_code: Option<i32>,
    signal: Option<&'a str>,
    attempt: u32,
    worker: usize,
    subtests: Option<&'a Subtests>,
    peak_rss_bytes: Option<u64>,
    cpu_ms: Option<u64>,
    leaked: &'a [Leak],
    log: Option<String>,
    message: Option<&'a str>,
    /// True for results of an interrupted run carried into a `--resume` run.
    carried_over: bool,
    /// `host`, `private` or a container's network; null for a test that was not run.
    net: Option<&'a str>,
    /// The end of the captured output of an attempt that did not pass, so that a report made
    /// from this stream alone (`warden report`, a merge of shards from other machines) can
    /// show why it failed.
    output_tail: Option<String>,
    /// With `--coverage`: the test's own coverage directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    coverage_dir: Option<String>,
}

/// Bytes of captured output a `test-finished` / `test-retrying` line carries at most.
pub const OUTPUT_TAIL_BYTES: usize = 4 * 1024;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn test_fields(r: &TestResult) -> TestFields<'_> {
    TestFields {
        id: &r.id,
        status: r.status,
        duration_ms: millis(r.duration),
        exit_code: r.exit_code,
        signal: r.signal.as_deref(),
        attempt: r.attempt,
        worker: r.worker,
        subtests: r.subtests.as_ref(),
        peak_rss_bytes: r.peak_rss_bytes,
        cpu_ms: r.cpu_ms,
        leaked: &r.leaked,
        log: r.log.as_deref().map(path_text),
        message: r.message.as_deref(),
        carried_over: r.carried_over,
        net: r.net.as_deref(),
        output_tail: match r.status {
            Status::Pass | Status::Skip | Status::Flaky => None,
            _ => output_tail(&r.output, OUTPUT_TAIL_BYTES),
        },
        coverage_dir: r.coverage_dir.as_deref().map(path_text),
    }
}

/// The line for an event, or `None` for an event the JSON stream does not carry: live output
/// (`--no-capture`), which is in the log and the result's output instead.
fn line(event: &Event) -> Option<Line<'_>> {
    let (ty, body) = match &event.kind {
        EventKind::TestOutput { .. } => return None,
        EventKind::RunStarted {
            run_id,
            selected,
            workers,
            resumed_from,
            log_dir,
            info,
            partition,
        } => (
            "run-started",
            Body::RunStarted {
                run_id,
                selected: *selected,
                workers: *workers,
                resumed_from: resumed_from.as_deref(),
                log_dir: log_dir.as_deref().map(path_text),
                warden_version: &info.warden_version,
                host: info.host.as_deref(),
                argv: &info.argv,
                timeout_ms: millis(info.timeout),
                retries: info.retries,
                cpu_threshold: info.cpu_threshold,
                mem_threshold: info.mem_threshold,
                partition: partition.as_deref().map(|p| PartitionJson {
                    spec: &p.spec,
                    cut: &p.cut,
                    selection: &p.selection,
                }),
            },
        ),
        EventKind::TestStarted {
            id,
            worker,
            attempt,
            net,
        } => (
            "test-started",
            Body::TestStarted {
                id,
                worker: *worker,
                attempt: *attempt,
                net,
            },
        ),
        EventKind::TestSlow {
            id,
            worker,
            attempt,
            elapsed,
        } => (
            "test-slow",
            Body::TestSlow {
                id,
                worker: *worker,
                attempt: *attempt,
                elapsed_ms: millis(*elapsed),
            },
        ),
        EventKind::TestRetrying(r) => ("test-retrying", Body::Test(test_fields(r))),
        EventKind::TestFinished(r) => ("test-finished", Body::Test(test_fields(r))),
        EventKind::TestCancelled {
            id,
            reason,
            worker,
            attempt,
            duration,
        } => (
            "test-cancelled",
            Body::TestCancelled {
                id,
                reason: *reason,
                worker: *worker,
                attempt: *attempt,
                duration_ms: millis(*duration),
            },
        ),
        EventKind::TestRequeued {
            id,
            worker,
            attempt,
            duration,
        } => (
            "test-requeued",
            Body::TestRequeued {
                id,
                worker: *worker,
                attempt: *attempt,
                duration_ms: millis(*duration),
            },
        ),
        EventKind::Warning(message) => ("warning", Body::Warning { message }),
        EventKind::Coverage(c) => (
            "coverage",
            Body::Coverage {
                kind: c.kind,
                tests: c.tests,
                files: c.files,
                raw_dir: path_text(&c.raw_dir),
                merged: c.merged.as_deref().map(path_text),
                tool: c.tool.as_deref(),
                command: c.command.as_deref(),
                problem: c.problem.as_deref(),
            },
        ),
        EventKind::ResourceSample { reading, running } => (
            "resource-sample",
            Body::ResourceSample {
                reading,
                running: *running,
            },
        ),
        EventKind::Guard {
            action,
            reason,
            reading,
            allowed,
            id,
        } => (
            "guard",
            Body::Guard {
                action: *action,
                reason,
                reading,
                allowed: *allowed,
                id: id.as_deref(),
            },
        ),
        EventKind::RunFinished {
            run_id,
            totals,
            duration,
            exit_code,
            stopped,
        } => (
            "run-finished",
            Body::RunFinished {
                run_id,
                totals,
                duration_ms: millis(*duration),
                exit_code: *exit_code,
                stopped: *stopped,
            },
        ),
    };
    Some(Line {
        ty,
        schema: SCHEMA,
        time: rfc3339_utc_millis(event.at),
        body,
    })
}

/// An event as the JSON object of its line, or `None` when the stream does not carry it.
pub fn event_to_json(event: &Event) -> Option<serde_json::Value> {
    line(event).and_then(|l| serde_json::to_value(l).ok())
}

/// Writes events as JSON Lines. Each line is written whole and flushed before `write_event`
/// returns, so a reader tailing the file (or a crash of warden) never sees a torn line from us.
pub struct JsonLinesWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> JsonLinesWriter<W> {
    pub fn new(out: W) -> Self {
        JsonLinesWriter {
            out,
            buf: Vec::with_capacity(512),
        }
    }

    pub fn write_event(&mut self, event: &Event) -> io::Result<()> {
        let Some(line) = line(event) else {
            return Ok(());
        };
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, &line).map_err(io::Error::other)?;
        self.buf.push(b'\n');
        // One write_all per line: on a pipe or O_APPEND file the line lands in one piece.
        self.out.write_all(&self.buf)?;
        self.out.flush()
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::BufWriter;
    use std::path::PathBuf;
    use std::time::UNIX_EPOCH;

    use serde_json::{json, Value};

    use super::*;
    use crate::events::{CoverageSummary, RunInfo};
    use crate::report::text::fixtures::{result, with_everything};

    #[derive(Clone, Copy, Debug)]
    enum J {
        Str,
        UInt,
        Num,
        Int,
        Obj,
        Arr,
        Null,
    }

    fn is(v: &Value, k: J) -> bool {
        match k {
            J::Str => v.is_string(),
            J::UInt => v.is_u64(),
            J::Num => v.is_number(),
            J::Int => v.is_i64() || v.is_u64(),
            J::Obj => v.is_object(),
            J::Arr => v.is_array(),
            J::Null => v.is_null(),
        }
    }

    type Fields = &'static [(&'static str, &'static [J])];

    const TEST_FIELDS: Fields = &[
        ("id", &[J::Str]),
        ("status", &[J::Str]),
        ("duration_ms", &[J::UInt]),
        ("exit_code", &[J::Int, J::Null]),
        ("signal", &[J::Str, J::Null]),
        ("attempt", &[J::UInt]),
        ("subtests", &[J::Obj, J::Null]),
        ("peak_rss_bytes", &[J::UInt, J::Null]),
        ("cpu_ms", &[J::UInt, J::Null]),
        ("leaked", &[J::Arr]),
        ("log", &[J::Str, J::Null]),
        ("output_tail", &[J::Str, J::Null]),
        ("net", &[J::Str, J::Null]),
    ];

    /// SPEC §10, plus the documented extra event types.
    fn spec_fields(ty: &str) -> Option<Fields> {
        Some(match ty {
            "run-started" => &[
                ("run_id", &[J::Str]),
                ("selected", &[J::UInt]),
                ("workers", &[J::UInt]),
                ("resumed_from", &[J::Str, J::Null]),
                ("warden_version", &[J::Str]),
                ("host", &[J::Str, J::Null]),
                ("argv", &[J::Arr]),
                ("timeout_ms", &[J::UInt]),
                ("retries", &[J::UInt]),
                ("cpu_threshold", &[J::Num, J::Null]),
                ("mem_threshold", &[J::Num, J::Null]),
            ],
            "test-started" => &[
                ("id", &[J::Str]),
                ("worker", &[J::UInt]),
                ("attempt", &[J::UInt]),
                ("net", &[J::Str]),
            ],
            "test-slow" => &[
                ("id", &[J::Str]),
                ("worker", &[J::UInt]),
                ("attempt", &[J::UInt]),
                ("elapsed_ms", &[J::UInt]),
            ],
            "test-finished" | "test-retrying" => TEST_FIELDS,
            "test-cancelled" => &[
                ("id", &[J::Str]),
                ("reason", &[J::Str]),
                ("worker", &[J::UInt]),
                ("attempt", &[J::UInt]),
                ("duration_ms", &[J::UInt]),
            ],
            "test-requeued" => &[
                ("id", &[J::Str]),
                ("worker", &[J::UInt]),
                ("attempt", &[J::UInt]),
                ("duration_ms", &[J::UInt]),
            ],
            "warning" => &[("message", &[J::Str])],
            "coverage" => &[
                ("kind", &[J::Str]),
                ("tests", &[J::UInt]),
                ("files", &[J::UInt]),
                ("raw_dir", &[J::Str]),
                ("merged", &[J::Str, J::Null]),
                ("tool", &[J::Str, J::Null]),
                ("command", &[J::Str, J::Null]),
                ("problem", &[J::Str, J::Null]),
            ],
            "resource-sample" => &[
                ("cpu_percent", &[J::Num, J::Null]),
                ("mem_used_percent", &[J::Num]),
                ("running", &[J::UInt]),
            ],
            "guard" => &[
                ("action", &[J::Str]),
                ("reason", &[J::Str]),
                ("cpu_percent", &[J::Num, J::Null]),
                ("mem_used_percent", &[J::Num]),
            ],
            "run-finished" => &[
                ("run_id", &[J::Str]),
                ("passed", &[J::UInt]),
                ("failed", &[J::UInt]),
                ("skipped", &[J::UInt]),
                ("timed_out", &[J::UInt]),
                ("flaky", &[J::UInt]),
                ("leaky", &[J::UInt]),
                ("oom", &[J::UInt]),
                ("errors", &[J::UInt]),
                ("duration_ms", &[J::UInt]),
                ("exit_code", &[J::Int]),
            ],
            _ => return None,
        })
    }

    fn is_rfc3339_millis_utc(s: &str) -> bool {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
        b.len() == 24
            && digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && b[10] == b'T'
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19)
            && b[19] == b'.'
            && digits(20..23)
            && b[23] == b'Z'
    }

    /// Checks one line against the contract; says what is wrong.
    fn check_line(v: &Value) -> Result<(), String> {
        let obj = v.as_object().ok_or("line is not an object")?;
        let ty = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or("no string `type`")?;
        if obj.get("schema") != Some(&json!(1)) {
            return Err(format!("{ty}: `schema` is not 1"));
        }
        let time = obj.get("time").and_then(Value::as_str).unwrap_or("");
        if !is_rfc3339_millis_utc(time) {
            return Err(format!("{ty}: bad `time` {time:?}"));
        }
        let fields = spec_fields(ty).ok_or_else(|| format!("unknown type {ty}"))?;
        for (key, kinds) in fields {
            let value = obj
                .get(*key)
                .ok_or_else(|| format!("{ty}: missing `{key}`"))?;
            if !kinds.iter().any(|k| is(value, *k)) {
                return Err(format!("{ty}: `{key}` = {value} is not one of {kinds:?}"));
            }
        }
        if matches!(ty, "test-finished" | "test-retrying") {
            let status = obj["status"].as_str().unwrap_or("");
            let known = [
                "pass", "fail", "timeout", "skip", "flaky", "leak", "error", "oom",
            ];
            if !known.contains(&status) {
                return Err(format!("{ty}: unknown status {status}"));
            }
            if let Some(sub) = obj["subtests"].as_object() {
                for key in ["passed", "failed", "skipped"] {
                    if !sub.get(key).is_some_and(Value::is_u64) {
                        return Err(format!("{ty}: subtests.{key} missing or not a count"));
                    }
                }
            }
            for leak in obj["leaked"].as_array().into_iter().flatten() {
                if !(leak["pid"].is_i64() && leak["cmd"].is_string()) {
                    return Err(format!("{ty}: leaked entry {leak} is not {{pid, cmd}}"));
                }
            }
        }
        Ok(())
    }

    fn at(ms: u64) -> std::time::SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn ev(kind: EventKind) -> Event {
        Event {
            at: at(1_700_000_000_123),
            kind,
        }
    }

    fn timeout_result() -> TestResult {
        let mut r = result("test/hang_test.sh", Status::Timeout, 2_000);
        r.exit_code = None;
        r.signal = Some("SIGTERM".into());
        r.message = Some("timed out after 2s".into());
        r
    }

    const READING: HostReading = HostReading {
        cpu_percent: Some(37.5),
        mem_used_percent: 93.1,
        cpu_pressure: None,
        mem_pressure: Some(2.5),
    };

    /// One event of every kind, with optional fields both present and absent.
    fn sample_run() -> Vec<Event> {
        let mut totals = Totals::default();
        let finals = [
            with_everything(result("test/unit/a_test.sh", Status::Pass, 12)),
            timeout_result(),
            result("test/skip_test.sh", Status::Skip, 1),
        ];
        for r in &finals {
            totals.add(r);
        }
        let mut events = vec![
            ev(EventKind::RunStarted {
                run_id: "r1".into(),
                selected: 4,
                workers: 2,
                resumed_from: None,
                log_dir: Some(PathBuf::from(".warden/runs/r1/logs")),
                info: Box::new(RunInfo {
                    warden_version: "0.1.0".into(),
                    host: Some("ci-7".into()),
                    argv: vec!["run".into(), "--html".into(), "r.html".into()],
                    timeout: Duration::from_secs(120),
                    retries: 1,
                    cpu_threshold: Some(90.0),
                    mem_threshold: Some(85.5),
                }),
                partition: None,
            }),
            ev(EventKind::RunStarted {
                run_id: "r2".into(),
                selected: 1,
                workers: 1,
                resumed_from: Some("r1".into()),
                log_dir: None,
                info: Box::default(),
                partition: None,
            }),
            ev(EventKind::TestStarted {
                id: "test/unit/a_test.sh".into(),
                worker: 0,
                attempt: 1,
                net: "host".into(),
            }),
            ev(EventKind::TestRetrying(Box::new(result(
                "test/flaky_test.sh",
                Status::Fail,
                5,
            )))),
            ev(EventKind::TestCancelled {
                id: "test/slow_test.sh".into(),
                reason: StopReason::FailFast,
                worker: 1,
                attempt: 1,
                duration: Duration::from_millis(1_500),
            }),
            ev(EventKind::TestRequeued {
                id: "test/big_test.sh".into(),
                worker: 0,
                attempt: 1,
                duration: Duration::from_millis(700),
            }),
            ev(EventKind::TestSlow {
                id: "test/hang_test.sh".into(),
                worker: 1,
                attempt: 1,
                elapsed: Duration::from_secs(60),
            }),
            ev(EventKind::Warning("0 tests selected".into())),
            ev(EventKind::Coverage(Box::new(CoverageSummary {
                kind: CoverageKind::Llvm,
                tests: 2,
                files: 3,
                raw_dir: ".warden/runs/r1/coverage".into(),
                merged: Some(".warden/runs/r1/coverage-merged/coverage.profdata".into()),
                tool: Some("llvm-profdata-19".into()),
                command: None,
                problem: None,
            }))),
            ev(EventKind::Coverage(Box::new(CoverageSummary {
                kind: CoverageKind::Go,
                tests: 1,
                files: 2,
                raw_dir: ".warden/runs/r1/coverage".into(),
                merged: None,
                tool: None,
                command: Some("go tool covdata merge ...".into()),
                problem: Some("no go on PATH".into()),
            }))),
            ev(EventKind::ResourceSample {
                reading: READING,
                running: 2,
            }),
            ev(EventKind::Guard {
                action: GuardAction::Requeue,
                reason: "memory 93.1% above the 90% threshold".into(),
                reading: READING,
                allowed: 0,
                id: Some("test/big_test.sh".into()),
            }),
        ];
        events.extend(
            finals
                .into_iter()
                .map(|r| ev(EventKind::TestFinished(Box::new(r)))),
        );
        events.push(ev(EventKind::RunFinished {
            run_id: "r1".into(),
            totals,
            duration: Duration::from_millis(2_345),
            exit_code: ExitCode::FAILED,
            stopped: Some(StopReason::FailFast),
        }));
        events
    }

    /// Exhaustive on purpose: a new event kind fails to compile here until the sample and
    /// the field list know about it.
    fn kind_index(kind: &EventKind) -> usize {
        match kind {
            EventKind::RunStarted { .. } => 0,
            EventKind::TestStarted { .. } => 1,
            EventKind::TestRetrying(_) => 2,
            EventKind::TestFinished(_) => 3,
            EventKind::TestCancelled { .. } => 4,
            EventKind::Warning(_) => 5,
            EventKind::RunFinished { .. } => 6,
            EventKind::ResourceSample { .. } => 7,
            EventKind::Guard { .. } => 8,
            EventKind::TestRequeued { .. } => 9,
            EventKind::TestSlow { .. } => 10,
            EventKind::Coverage(_) => 11,
            EventKind::TestOutput { .. } => unreachable!("not in the JSON stream"),
        }
    }

    #[test]
    fn every_event_matches_the_spec_field_list() {
        let events = sample_run();
        let mut seen = [false; 12];
        for event in &events {
            seen[kind_index(&event.kind)] = true;
            let v = event_to_json(event).expect("every current event kind is carried");
            if let Err(why) = check_line(&v) {
                panic!("{why}\nin {v}");
            }
        }
        assert!(seen.iter().all(|s| *s), "sample misses a kind: {seen:?}");
    }

    #[test]
    fn the_checker_rejects_broken_lines() {
        let good = event_to_json(&ev(EventKind::TestFinished(Box::new(timeout_result()))))
            .expect("carried");
        assert_eq!(check_line(&good), Ok(()));
        let mut broken = Vec::new();
        for key in ["duration_ms", "leaked", "log", "schema", "time", "type"] {
            let mut v = good.clone();
            v.as_object_mut().map(|o| o.remove(key));
            broken.push(v);
        }
        let mut v = good.clone();
        v["exit_code"] = json!("3");
        broken.push(v);
        let mut v = good.clone();
        v["status"] = json!("passed");
        broken.push(v);
        let mut v = good.clone();
        v["schema"] = json!(2);
        broken.push(v);
        let mut v = good;
        v["subtests"] = json!({"passed": 1});
        broken.push(v);
        for v in broken {
            assert!(check_line(&v).is_err(), "accepted {v}");
        }
    }

    #[test]
    fn test_finished_carries_the_result_values() {
        let r = with_everything(result("test/unit/a_test.sh", Status::Pass, 1_234));
        let v = event_to_json(&ev(EventKind::TestFinished(Box::new(r)))).expect("carried");
        assert_eq!(
            v,
            json!({
                "type": "test-finished", "schema": 1, "time": "2023-11-14T22:13:20.123Z",
                "id": "test/unit/a_test.sh", "status": "pass", "duration_ms": 1234,
                "exit_code": 0, "signal": null, "attempt": 1, "worker": 0,
                "subtests": {"passed": 4, "failed": 1, "skipped": 0},
                "peak_rss_bytes": 3_145_728, "cpu_ms": 40,
                "leaked": [{"pid": 4242, "cmd": "sleep 300"}],
                "log": ".warden/runs/r1/logs/x.log", "message": null,
                "carried_over": false, "net": "private", "output_tail": null,
            })
        );
        let t = event_to_json(&ev(EventKind::TestFinished(Box::new(timeout_result()))))
            .expect("carried");
        assert_eq!(t["status"], "timeout");
        assert_eq!(t["exit_code"], Value::Null);
        assert_eq!(t["signal"], "SIGTERM");
        assert_eq!(t["subtests"], Value::Null);
        assert_eq!(t["leaked"], json!([]));
        assert_eq!(t["message"], "timed out after 2s");
        assert_eq!(t["output_tail"], Value::Null, "it printed nothing");
    }

    /// A result that did not pass carries the end of its output, so that a report made from
    /// the stream alone can show it; a pass carries none (the stream stays small).
    #[test]
    fn output_tails_come_with_results_that_did_not_pass() {
        let big: String = (0..2_000).map(|i| format!("line {i}\n")).collect();
        let mut failed = result("test/a_test.sh", Status::Fail, 5);
        failed.output =
            crate::report::text::fixtures::output(big.as_bytes(), b"", big.len() as u64);
        let v =
            event_to_json(&ev(EventKind::TestRetrying(Box::new(failed.clone())))).expect("carried");
        let tail = v["output_tail"].as_str().expect("a tail");
        assert!(tail.len() <= OUTPUT_TAIL_BYTES + 40, "{}", tail.len());
        assert!(
            tail.starts_with("[… ") && tail.ends_with("line 1999\n"),
            "{tail}"
        );
        let mut passed = failed;
        passed.status = Status::Pass;
        let v = event_to_json(&ev(EventKind::TestFinished(Box::new(passed)))).expect("carried");
        assert_eq!(v["output_tail"], Value::Null);
    }

    #[test]
    fn run_finished_carries_totals_and_stop_reason() {
        let events = sample_run();
        let v = event_to_json(events.last().expect("sample")).expect("carried");
        assert_eq!(
            (&v["passed"], &v["timed_out"], &v["skipped"], &v["leaky"]),
            (&json!(1), &json!(1), &json!(1), &json!(1))
        );
        assert_eq!(v["duration_ms"], 2345);
        assert_eq!(v["exit_code"], 1);
        assert_eq!(v["stopped"], "fail-fast");
        assert_eq!(v["cancelled"], 0);
        assert_eq!(v["not_run"], 0);
    }

    #[test]
    fn host_samples_and_guard_decisions_carry_their_readings() {
        let events = sample_run();
        let of = |ty: &str| {
            events
                .iter()
                .filter_map(event_to_json)
                .find(|v| v["type"] == ty)
                .expect("in the sample")
        };
        let sample = of("resource-sample");
        assert_eq!(sample["cpu_percent"], 37.5);
        assert_eq!(sample["mem_used_percent"], 93.1);
        assert_eq!(sample["running"], 2);
        assert_eq!(sample["cpu_pressure"], Value::Null);
        assert_eq!(sample["mem_pressure"], 2.5);
        let guard = of("guard");
        assert_eq!(guard["action"], "requeue");
        assert_eq!(guard["reason"], "memory 93.1% above the 90% threshold");
        assert_eq!(guard["mem_used_percent"], 93.1);
        assert_eq!(guard["allowed"], 0);
        assert_eq!(guard["id"], "test/big_test.sh");
        let stopped = ev(EventKind::RunFinished {
            run_id: "r".into(),
            totals: Totals::default(),
            duration: Duration::ZERO,
            exit_code: ExitCode::GUARD,
            stopped: Some(StopReason::Guard),
        });
        assert_eq!(
            event_to_json(&stopped).expect("carried")["stopped"],
            "guard"
        );
    }

    /// The writer's lines are on disk as soon as `write_event` returns, even through a
    /// buffered file, each whole, starting with the type.
    #[test]
    fn writer_flushes_each_line_at_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("events.jsonl");
        let file = File::create(&path).expect("create");
        let mut w = JsonLinesWriter::new(BufWriter::with_capacity(1 << 16, file));
        let events = sample_run();
        for (n, event) in events.iter().enumerate() {
            w.write_event(event).expect("write");
            let text = std::fs::read_to_string(&path).expect("read back");
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), n + 1, "after event {n}: {text}");
            assert!(text.ends_with('\n'));
            let last = lines[n];
            assert!(last.starts_with(r#"{"type":""#), "{last}");
            assert!(last.contains(r#","schema":1,"time":""#), "{last}");
            let v: Value = serde_json::from_str(last).expect("line is JSON");
            assert_eq!(Some(v), event_to_json(event));
        }
    }

    /// A failing sink's error reaches the caller instead of being swallowed.
    #[test]
    fn writer_reports_write_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A read-only handle: every write fails with a real OS error.
        let path = dir.path().join("ro");
        std::fs::write(&path, b"").expect("create");
        let ro = File::open(&path).expect("open");
        let mut w = JsonLinesWriter::new(ro);
        let events = sample_run();
        assert!(w.write_event(&events[0]).is_err());
    }

    /// The exact bytes of every event kind, reviewed once: any change to the wire format shows
    /// up as a snapshot diff (`cargo insta review`, or `INSTA_UPDATE=always` and read the diff).
    #[test]
    fn every_event_kind_serializes_to_the_reviewed_lines() {
        let mut w = JsonLinesWriter::new(Vec::new());
        for event in &sample_run() {
            w.write_event(event).expect("write");
        }
        let text = String::from_utf8(w.into_inner()).expect("utf-8");
        insta::assert_snapshot!("json_lines_every_event_kind", text);
    }
}
