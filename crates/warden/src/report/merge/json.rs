//! Merging JSON-lines reports: one `run-started`, every other event of every shard in its
//! shard's order (shard after shard, each line kept byte for byte plus a `shard` number), and
//! one `run-finished` with the summed counts and the worst exit code.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::input::{worst_exit_code, MergeError, Merged, ReportFormat, ReportText};
use crate::events::Status;
use crate::report::json::SCHEMA;

/// Counters of `run-finished` that add up across shards. The first eight are required by
/// SPEC §10; the others are read when present.
const REQUIRED_COUNTS: [&str; 8] = [
    "passed",
    "failed",
    "skipped",
    "timed_out",
    "flaky",
    "leaky",
    "oom",
    "errors",
];
const OPTIONAL_COUNTS: [&str; 2] = ["cancelled", "not_run"];

/// One shard's report, parsed.
struct Shard<'a> {
    name: &'a str,
    started: Map<String, Value>,
    finished: Map<String, Value>,
    /// Every other line, as written, with the shard number spliced in.
    events: Vec<String>,
    /// Id and status of each `test-finished` event.
    finished_tests: Vec<(String, String)>,
}

#[derive(Serialize)]
struct Started<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    schema: u32,
    time: Option<&'a str>,
    run_id: String,
    selected: u64,
    workers: u64,
    resumed_from: Option<()>,
    log_dir: Option<()>,
    /// What was merged, in shard order.
    merged: Vec<ShardRef<'a>>,
}

#[derive(Serialize)]
struct ShardRef<'a> {
    shard: usize,
    file: &'a str,
    run_id: Option<&'a str>,
    /// The shard's own `run-started` facts, which the merged one cannot hold for all shards
    /// (each shard ran on its own host, with its own workers): null when the shard's stream
    /// did not have them.
    time: Option<&'a Value>,
    workers: Option<&'a Value>,
    host: Option<&'a Value>,
    warden_version: Option<&'a Value>,
    partition: Option<&'a Value>,
    cpu_threshold: Option<&'a Value>,
    mem_threshold: Option<&'a Value>,
}

#[derive(Serialize)]
struct Finished<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    schema: u32,
    time: Option<&'a str>,
    run_id: String,
    passed: u64,
    failed: u64,
    skipped: u64,
    timed_out: u64,
    flaky: u64,
    leaky: u64,
    oom: u64,
    errors: u64,
    cancelled: u64,
    not_run: u64,
    /// The longest shard's: with shards running side by side, the wall time of the whole.
    duration_ms: u64,
    /// All shards' durations added: the machine time the suite took.
    total_duration_ms: u64,
    exit_code: i32,
    stopped: Option<&'a Value>,
    shards: Vec<ShardEnd<'a>>,
}

#[derive(Serialize)]
struct ShardEnd<'a> {
    shard: usize,
    file: &'a str,
    run_id: Option<&'a str>,
    exit_code: i32,
    duration_ms: u64,
    stopped: Option<&'a Value>,
}

pub(super) fn merge(reports: &[ReportText]) -> Result<Merged, MergeError> {
    let shards = reports
        .iter()
        .enumerate()
        .map(|(i, r)| parse(r, i + 1))
        .collect::<Result<Vec<_>, _>>()?;

    let mut counts: HashMap<&str, u64> = HashMap::new();
    let mut codes = Vec::with_capacity(shards.len());
    let mut durations = Vec::with_capacity(shards.len());
    for shard in &shards {
        for key in REQUIRED_COUNTS.iter().chain(&OPTIONAL_COUNTS) {
            *counts.entry(key).or_default() += count(shard, key)?;
        }
        codes.push(exit_code(shard)?);
        durations.push(count(shard, "duration_ms")?);
    }
    let exit = worst_exit_code(codes.iter().copied()).unwrap_or(0);
    let run_id = shards
        .iter()
        .filter_map(|s| s.started.get("run_id").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("+");
    // Our times are all RFC 3339 UTC with milliseconds, so text order is time order.
    let first_time = shards
        .iter()
        .filter_map(|s| str_of(&s.started, "time"))
        .min();
    let last_time = shards
        .iter()
        .filter_map(|s| str_of(&s.finished, "time"))
        .max();
    // The stop reason of the shard that gave the exit code, else of the first that stopped.
    let stopped = shards
        .iter()
        .zip(&codes)
        .find(|(s, c)| **c == exit && stopped_of(s).is_some())
        .and_then(|(s, _)| stopped_of(s))
        .or_else(|| shards.iter().find_map(stopped_of));

    let mut selected = 0;
    let mut workers = 0;
    for s in &shards {
        selected += s
            .started
            .get("selected")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        workers += s
            .started
            .get("workers")
            .and_then(Value::as_u64)
            .unwrap_or(0);
    }
    let started = Started {
        ty: "run-started",
        schema: SCHEMA,
        time: first_time,
        run_id: run_id.clone(),
        selected,
        workers,
        resumed_from: None,
        log_dir: None,
        merged: shards
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let of = |key: &str| s.started.get(key);
                ShardRef {
                    shard: i + 1,
                    file: s.name,
                    run_id: str_of(&s.started, "run_id"),
                    time: of("time"),
                    workers: of("workers"),
                    host: of("host"),
                    warden_version: of("warden_version"),
                    // Only the spec: the shard's whole selection is already in its own file.
                    partition: s.started.get("partition").and_then(|p| p.get("spec")),
                    cpu_threshold: of("cpu_threshold"),
                    mem_threshold: of("mem_threshold"),
                }
            })
            .collect(),
    };
    let c = |k: &str| counts.get(k).copied().unwrap_or(0);
    let finished = Finished {
        ty: "run-finished",
        schema: SCHEMA,
        time: last_time,
        run_id,
        passed: c("passed"),
        failed: c("failed"),
        skipped: c("skipped"),
        timed_out: c("timed_out"),
        flaky: c("flaky"),
        leaky: c("leaky"),
        oom: c("oom"),
        errors: c("errors"),
        cancelled: c("cancelled"),
        not_run: c("not_run"),
        duration_ms: durations.iter().copied().max().unwrap_or(0),
        total_duration_ms: durations.iter().sum(),
        exit_code: exit,
        stopped,
        shards: shards
            .iter()
            .enumerate()
            .map(|(i, s)| ShardEnd {
                shard: i + 1,
                file: s.name,
                run_id: str_of(&s.finished, "run_id"),
                exit_code: codes[i],
                duration_ms: durations[i],
                stopped: stopped_of(s),
            })
            .collect(),
    };

    let mut text = to_line(&started);
    let mut tests = 0;
    for shard in &shards {
        for line in &shard.events {
            text.push_str(line);
            text.push('\n');
        }
        tests += shard.finished_tests.len();
    }
    text.push_str(&to_line(&finished));

    let failed = shards
        .iter()
        .flat_map(|s| &s.finished_tests)
        .filter(|(_, status)| Status::parse(status).is_some_and(Status::is_failure))
        .count();
    Ok(Merged {
        format: ReportFormat::JsonLines,
        text,
        reports: shards.len(),
        tests,
        failed,
        exit_code: Some(exit),
        warnings: duplicates(&shards),
        disagreements: super::shards::disagreements(
            &shards
                .iter()
                .map(|s| super::shards::ShardSide {
                    name: s.name,
                    started: &s.started,
                    finished: s.finished_tests.iter().map(|(id, _)| id.as_str()).collect(),
                })
                .collect::<Vec<_>>(),
        ),
    })
}

fn str_of<'m>(m: &'m Map<String, Value>, key: &str) -> Option<&'m str> {
    m.get(key).and_then(Value::as_str)
}

fn stopped_of<'s>(shard: &'s Shard<'_>) -> Option<&'s Value> {
    shard.finished.get("stopped").filter(|v| !v.is_null())
}

fn to_line<T: Serialize>(value: &T) -> String {
    // Serialising plain structs of strings and numbers into memory cannot fail.
    let mut line = serde_json::to_string(value).unwrap_or_default();
    line.push('\n');
    line
}

fn parse(report: &ReportText, number: usize) -> Result<Shard<'_>, MergeError> {
    let name = report.name.as_str();
    let malformed = |line: usize, message: String| MergeError::Malformed {
        name: name.to_string(),
        line,
        message,
    };
    let mut started: Option<(usize, Map<String, Value>)> = None;
    let mut finished: Option<(usize, Map<String, Value>)> = None;
    let mut events = Vec::new();
    let mut finished_tests = Vec::new();
    for (i, raw) in report.text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .map_err(|e| malformed(n, format!("not a JSON line ({e})")))?;
        let Value::Object(obj) = value else {
            return Err(malformed(n, "not a JSON object".into()));
        };
        let ty = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(n, "no string `type`: not a warden event".into()))?;
        match obj.get("schema").and_then(Value::as_u64) {
            Some(s) if s == u64::from(SCHEMA) => {}
            Some(s) => {
                return Err(malformed(
                    n,
                    format!("schema {s} is not one this warden reads (schema {SCHEMA})"),
                ))
            }
            None => return Err(malformed(n, "no `schema`: not a warden event".into())),
        }
        match ty {
            "run-started" | "run-finished" => {
                let slot = if ty == "run-started" {
                    &mut started
                } else {
                    &mut finished
                };
                if let Some((first, _)) = slot {
                    return Err(malformed(
                        n,
                        format!("a second {ty} (the first is on line {first}): one run per file"),
                    ));
                }
                *slot = Some((n, obj));
            }
            _ => {
                if ty == "test-finished" {
                    let field = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("");
                    finished_tests.push((field("id").to_string(), field("status").to_string()));
                }
                events.push(with_shard(line, &obj, number));
            }
        }
    }
    let invalid = |message: &str| MergeError::Invalid {
        name: name.to_string(),
        message: message.to_string(),
    };
    let (_, started) = started.ok_or_else(|| invalid("no run-started event: not a warden run"))?;
    let (_, finished) = finished.ok_or_else(|| {
        invalid("no run-finished event: the run did not finish (was warden killed?)")
    })?;
    Ok(Shard {
        name,
        started,
        finished,
        events,
        finished_tests,
    })
}

/// The line as written, with `"shard":N` added before its closing brace, unless it has one
/// (a report that was itself merged keeps the numbers it has).
fn with_shard(line: &str, obj: &Map<String, Value>, number: usize) -> String {
    match line.strip_suffix('}') {
        Some(body) if !obj.contains_key("shard") => format!("{body},\"shard\":{number}}}"),
        _ => line.to_string(),
    }
}

fn count(shard: &Shard<'_>, key: &str) -> Result<u64, MergeError> {
    match shard.finished.get(key) {
        Some(v) => v.as_u64().ok_or_else(|| MergeError::Invalid {
            name: shard.name.to_string(),
            message: format!("run-finished `{key}` is {v}, not a count"),
        }),
        None if OPTIONAL_COUNTS.contains(&key) => Ok(0),
        None => Err(MergeError::Invalid {
            name: shard.name.to_string(),
            message: format!("run-finished has no `{key}`"),
        }),
    }
}

fn exit_code(shard: &Shard<'_>) -> Result<i32, MergeError> {
    let v = shard.finished.get("exit_code");
    v.and_then(Value::as_i64)
        .and_then(|c| i32::try_from(c).ok())
        .ok_or_else(|| MergeError::Invalid {
            name: shard.name.to_string(),
            message: match v {
                Some(v) => format!("run-finished `exit_code` is {v}, not an exit code"),
                None => "run-finished has no `exit_code`".to_string(),
            },
        })
}

/// A test that finished in two shards means the shards were not cut alike (different
/// `--partition` kinds or N, or different durations for `duration:`).
fn duplicates(shards: &[Shard<'_>]) -> Vec<String> {
    let mut first_seen: HashMap<&str, &str> = HashMap::new();
    let mut warnings = Vec::new();
    for shard in shards {
        for (id, _) in &shard.finished_tests {
            if let Some(other) = first_seen.insert(id, shard.name) {
                if other != shard.name {
                    warnings.push(format!(
                        "{id} finished in both {other} and {}: were all shards run with the \
                         same --partition kind, N and history?",
                        shard.name
                    ));
                }
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use crate::exit_code::ExitCode;
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::json;

    use super::super::input::merge_texts;
    use super::*;
    use crate::events::{Event, EventKind, RunInfo, Status, StopReason, Totals};
    use crate::report::json::JsonLinesWriter;
    use crate::report::text::fixtures::result;

    /// A real report, written by the JSON-lines writer, of a shard whose tests end as given.
    fn shard_report(
        run_id: &str,
        start_ms: u64,
        tests: &[(&str, Status)],
        exit_code: i32,
        stopped: Option<StopReason>,
    ) -> String {
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms);
        let mut w = JsonLinesWriter::new(Vec::new());
        let mut write = |ms: u64, kind: EventKind| {
            w.write_event(&Event { at: at(ms), kind }).expect("write");
        };
        write(
            start_ms,
            EventKind::RunStarted {
                run_id: run_id.into(),
                selected: tests.len(),
                workers: 2,
                resumed_from: None,
                log_dir: None,
                info: Box::new(RunInfo {
                    warden_version: "0.1.0".into(),
                    host: Some(format!("ci-{run_id}")),
                    ..RunInfo::default()
                }),
                partition: None,
            },
        );
        let mut totals = Totals::default();
        for (i, (id, status)) in tests.iter().enumerate() {
            write(
                start_ms + i as u64,
                EventKind::TestStarted {
                    id: id.to_string(),
                    worker: 0,
                    attempt: 1,
                    net: "host".into(),
                },
            );
            let r = result(id, *status, 10);
            totals.add(&r);
            write(
                start_ms + i as u64 + 1,
                EventKind::TestFinished(Box::new(r)),
            );
        }
        write(
            start_ms + 100,
            EventKind::RunFinished {
                run_id: run_id.into(),
                totals,
                duration: Duration::from_millis(100 + start_ms),
                exit_code: ExitCode::from_raw(exit_code),
                stopped,
            },
        );
        String::from_utf8(w.into_inner()).expect("utf-8")
    }

    fn text(name: &str, text: String) -> ReportText {
        ReportText {
            name: name.into(),
            text,
        }
    }

    fn lines(text: &str) -> Vec<Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    fn four_shards() -> Vec<ReportText> {
        use Status::*;
        vec![
            text(
                "s1.jsonl",
                shard_report("r1", 0, &[("t/a", Pass), ("t/b", Fail)], 1, None),
            ),
            text("s2.jsonl", shard_report("r2", 5, &[("t/c", Pass)], 0, None)),
            text(
                "s3.jsonl",
                shard_report(
                    "r3",
                    3,
                    &[("t/d", Skip), ("t/e", Timeout), ("t/f", Leak)],
                    1,
                    None,
                ),
            ),
            text("s4.jsonl", shard_report("r4", 9, &[], 0, None)),
        ]
    }

    #[test]
    fn counts_add_up_and_the_worst_exit_code_wins() {
        let merged = merge_texts(&four_shards()).expect("merge");
        assert_eq!(merged.format, ReportFormat::JsonLines);
        assert_eq!((merged.reports, merged.tests, merged.failed), (4, 6, 3));
        assert_eq!(merged.exit_code, Some(1));
        assert!(merged.warnings.is_empty(), "{:?}", merged.warnings);
        let events = lines(&merged.text);
        let started = &events[0];
        assert_eq!(started["type"], "run-started");
        assert_eq!(started["run_id"], "r1+r2+r3+r4");
        assert_eq!(started["selected"], 6);
        assert_eq!(started["workers"], 8);
        assert_eq!(started["time"], "2023-11-14T22:13:20.000Z");
        assert_eq!(
            started["merged"][3],
            json!({
                "shard": 4, "file": "s4.jsonl", "run_id": "r4",
                "time": "2023-11-14T22:13:20.009Z", "workers": 2, "host": "ci-r4",
                "warden_version": "0.1.0", "partition": null,
                "cpu_threshold": null, "mem_threshold": null,
            })
        );
        let finished = events.last().expect("lines");
        assert_eq!(finished["type"], "run-finished");
        for (key, want) in [
            ("passed", 2),
            ("failed", 1),
            ("skipped", 1),
            ("timed_out", 1),
            ("leaky", 1),
            ("flaky", 0),
            ("errors", 0),
            ("oom", 0),
            ("cancelled", 0),
            ("not_run", 0),
            ("exit_code", 1),
            ("duration_ms", 109),
            ("total_duration_ms", 100 + 105 + 103 + 109),
        ] {
            assert_eq!(finished[key], want, "{key} in {finished}");
        }
        assert_eq!(finished["time"], "2023-11-14T22:13:20.109Z");
        assert_eq!(finished["shards"][1]["exit_code"], 0);
    }

    #[test]
    fn every_test_event_is_kept_in_shard_order_with_its_shard() {
        let shards = four_shards();
        let merged = merge_texts(&shards).expect("merge");
        let events = lines(&merged.text);
        assert_eq!(
            events.iter().filter(|e| e["type"] == "run-started").count(),
            1
        );
        assert_eq!(
            events
                .iter()
                .filter(|e| e["type"] == "run-finished")
                .count(),
            1
        );
        let middle = &events[1..events.len() - 1];
        // The same events as the inputs' (bar their run events), in the same order, each
        // with its shard number and otherwise unchanged.
        let mut want = Vec::new();
        for (i, shard) in shards.iter().enumerate() {
            for mut e in lines(&shard.text) {
                if e["type"] != "run-started" && e["type"] != "run-finished" {
                    e["shard"] = json!(i + 1);
                    want.push(e);
                }
            }
        }
        assert_eq!(middle, &want[..]);
        // Lines still begin with the type, as the writer's contract says.
        assert!(merged.text.lines().all(|l| l.starts_with("{\"type\":\"")));
    }

    #[test]
    fn a_merged_report_merges_again() {
        let shards = four_shards();
        let once = merge_texts(&shards[..2]).expect("merge");
        let twice = merge_texts(&[text("m.jsonl", once.text), shards[2].clone()]).expect("merge");
        let events = lines(&twice.text);
        let finished = events.last().expect("lines");
        assert_eq!(finished["passed"], 2);
        assert_eq!(finished["timed_out"], 1);
        let shard_of = |id: &str| {
            events
                .iter()
                .find(|e| e["type"] == "test-finished" && e["id"] == id)
                .map(|e| e["shard"].clone())
        };
        // Numbers given by the first merge stay; the new report gets its place in the second.
        assert_eq!(shard_of("t/c"), Some(json!(2)));
        assert_eq!(shard_of("t/d"), Some(json!(2)));
    }

    #[test]
    fn stops_and_signals_outrank_failures() {
        use Status::*;
        let reports = vec![
            text("a", shard_report("r1", 0, &[("t/a", Fail)], 1, None)),
            text(
                "b",
                shard_report("r2", 0, &[("t/b", Pass)], 130, Some(StopReason::Signal)),
            ),
            text("c", shard_report("r3", 0, &[("t/c", Pass)], 0, None)),
        ];
        let merged = merge_texts(&reports).expect("merge");
        assert_eq!(merged.exit_code, Some(130));
        let finished = lines(&merged.text).pop().expect("lines");
        assert_eq!(finished["exit_code"], 130);
        assert_eq!(finished["stopped"], "signal");
    }

    #[test]
    fn a_test_in_two_shards_is_warned_about() {
        use Status::*;
        let reports = vec![
            text("a", shard_report("r1", 0, &[("t/x", Pass)], 0, None)),
            text(
                "b",
                shard_report("r2", 0, &[("t/x", Pass), ("t/y", Pass)], 0, None),
            ),
        ];
        let merged = merge_texts(&reports).expect("merge");
        assert_eq!(merged.warnings.len(), 1, "{:?}", merged.warnings);
        assert!(merged.warnings[0].starts_with("t/x finished in both a and b"));
    }

    #[test]
    fn broken_reports_are_named_with_the_line() {
        let good = shard_report("r1", 0, &[("t/a", Status::Pass)], 0, None);
        let without_end: String = good
            .lines()
            .filter(|l| !l.contains("run-finished"))
            .map(|l| format!("{l}\n"))
            .collect();
        let cases = [
            (
                format!("{good}{{\"type\": tor"),
                "bad.jsonl:5: not a JSON line",
            ),
            (format!("{good}[1,2]\n"), "bad.jsonl:5: not a JSON object"),
            (
                format!("{good}{{\"a\":1}}\n"),
                "bad.jsonl:5: no string `type`",
            ),
            (
                good.replacen("\"schema\":1", "\"schema\":2", 1),
                "bad.jsonl:1: schema 2 is not one this warden reads",
            ),
            (
                format!("{good}{good}"),
                "bad.jsonl:5: a second run-started (the first is on line 1)",
            ),
            (
                without_end,
                "bad.jsonl: no run-finished event: the run did not finish",
            ),
            (
                good.replace("\"passed\":1", "\"passed\":-1"),
                "bad.jsonl: run-finished `passed` is -1, not a count",
            ),
            (
                good.replace("\"exit_code\":0,\"stopped\"", "\"stopped\""),
                "bad.jsonl: run-finished has no `exit_code`",
            ),
        ];
        for (body, want) in cases {
            let reports = [
                text("ok.jsonl", good.clone()),
                text("bad.jsonl", body.clone()),
            ];
            let err = merge_texts(&reports).expect_err(want).to_string();
            assert!(err.starts_with(want), "got {err:?}, want {want:?}\n{body}");
        }
    }
}
