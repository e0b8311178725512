use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::events::{Event, EventKind, RunInfo, StopReason, TestResult, Totals};
use crate::exit_code::ExitCode;
use crate::report::html::input::{parse_line, parse_value};
use crate::report::json::JsonLinesWriter;
use crate::report::{event_to_json, merge_texts, ReportText};

const T0: u64 = 1_700_000_000_000;

fn at(ms: u64, kind: EventKind) -> Event {
    Event {
        at: UNIX_EPOCH + Duration::from_millis(T0 + ms),
        kind,
    }
}

fn started(workers: usize) -> EventKind {
    EventKind::RunStarted {
        run_id: "r1".into(),
        selected: 3,
        workers,
        resumed_from: None,
        log_dir: None,
        info: Box::new(RunInfo {
            host: Some("ci-1".into()),
            ..RunInfo::default()
        }),
        partition: None,
    }
}

fn test_started(id: &str, worker: usize, attempt: u32) -> EventKind {
    EventKind::TestStarted {
        id: id.into(),
        worker,
        attempt,
        net: "host".into(),
    }
}

fn done(id: &str, status: Status, worker: usize, attempt: u32, ms: u64) -> Box<TestResult> {
    let mut r = TestResult::for_test(id, status, ms);
    r.worker = worker;
    r.attempt = attempt;
    Box::new(r)
}

fn finished(exit_code: i32) -> EventKind {
    EventKind::RunFinished {
        run_id: "r1".into(),
        totals: Totals::default(),
        duration: Duration::from_millis(900),
        exit_code: ExitCode::from_raw(exit_code),
        stopped: None,
    }
}

/// The model of these events, read as the JSON stream carries them.
fn model_of(events: &[Event]) -> Result<Model, InputError> {
    let mut b = ModelBuilder::default();
    for (n, e) in events.iter().enumerate() {
        let v = event_to_json(e).expect("carried");
        b.push(n + 1, parse_value(n + 1, v)?)?;
    }
    Ok(b.finish().expect("a run-started"))
}

fn ends(m: &Model) -> Vec<(String, u32, u32, i64, i64, BarEnd)> {
    m.bars
        .iter()
        .map(|b| {
            (
                m.tests[b.test].id.clone(),
                m.lanes[b.lane].worker,
                b.attempt,
                b.start,
                b.end,
                b.end_kind,
            )
        })
        .collect()
}

#[test]
fn one_bar_per_attempt_with_retries_requeues_and_cancels() {
    let events = [
        at(0, started(2)),
        at(10, test_started("a", 0, 1)),
        at(20, test_started("b", 1, 1)),
        at(
            110,
            EventKind::TestRetrying(done("a", Status::Fail, 0, 1, 100)),
        ),
        at(110, test_started("a", 0, 2)),
        at(
            150,
            EventKind::TestRequeued {
                id: "b".into(),
                worker: 1,
                attempt: 1,
                duration: Duration::from_millis(130),
            },
        ),
        at(160, test_started("b", 1, 1)),
        at(
            300,
            EventKind::TestFinished(done("a", Status::Flaky, 0, 2, 190)),
        ),
        at(310, test_started("c", 0, 1)),
        at(
            400,
            EventKind::TestFinished(done("b", Status::Pass, 1, 1, 240)),
        ),
        at(
            500,
            EventKind::TestCancelled {
                id: "c".into(),
                reason: StopReason::Signal,
                worker: 0,
                attempt: 1,
                duration: Duration::from_millis(190),
            },
        ),
        at(510, finished(130)),
    ];
    let m = model_of(&events).unwrap();
    let s = |x: &str| x.to_string();
    assert_eq!(
        ends(&m),
        [
            (s("a"), 0, 1, 10, 110, BarEnd::Retried(Status::Fail)),
            (s("a"), 0, 2, 110, 300, BarEnd::Final(Shown::Flaky)),
            (s("c"), 0, 1, 310, 500, BarEnd::Cancelled),
            (s("b"), 1, 1, 20, 150, BarEnd::Requeued),
            (s("b"), 1, 1, 160, 400, BarEnd::Final(Shown::Pass)),
        ]
    );
    let rows: Vec<(&str, Shown, u32, usize)> = m
        .tests
        .iter()
        .map(|t| (t.id.as_str(), t.shown, t.requeues, t.earlier.len()))
        .collect();
    assert_eq!(
        rows,
        [
            ("a", Shown::Flaky, 0, 1),
            ("b", Shown::Pass, 1, 0),
            ("c", Shown::Cancelled, 0, 0)
        ]
    );
    assert_eq!(m.tests[2].cancelled.as_deref(), Some("signal"));
    assert_eq!(m.span, 510);
    assert_eq!(m.lanes.len(), 2);
    assert_eq!(m.groups[0].exit_code, Some(130));
    assert_eq!(m.groups[0].host.as_deref(), Some("ci-1"));
}

#[test]
fn results_that_never_started_have_no_bar() {
    let mut carried = done("old", Status::Pass, 0, 1, 50);
    carried.carried_over = true;
    let events = [
        at(0, started(4)),
        at(1, EventKind::TestFinished(carried)),
        at(
            2,
            EventKind::TestFinished(done("skipped", Status::Skip, 0, 1, 0)),
        ),
        at(3, test_started("ran", 2, 1)),
        at(
            40,
            EventKind::TestFinished(done("ran", Status::Fail, 2, 1, 37)),
        ),
        at(41, finished(1)),
    ];
    let m = model_of(&events).unwrap();
    assert_eq!(m.tests.len(), 3);
    assert_eq!(
        ends(&m),
        [("ran".into(), 2, 1, 3, 40, BarEnd::Final(Shown::Fail))]
    );
    // Every slot the run had gets a lane, used or not.
    assert_eq!(m.lanes.len(), 4);
}

#[test]
fn a_stream_cut_short_ends_its_open_attempts_where_it_ends() {
    let events = [
        at(0, started(1)),
        at(5, test_started("hang", 0, 1)),
        at(700, EventKind::Warning("something".into())),
    ];
    let m = model_of(&events).unwrap();
    assert!(m.finished.is_none());
    assert_eq!(
        ends(&m),
        [("hang".into(), 0, 1, 5, 700, BarEnd::Unfinished)]
    );
    assert_eq!(m.tests[0].shown, Shown::Unfinished);
    assert_eq!(m.warnings, ["something"]);
}

#[test]
fn a_stream_must_be_one_run_from_its_start() {
    let mut b = ModelBuilder::default();
    let line = |n: usize, e: Event| parse_value(n, event_to_json(&e).unwrap()).unwrap();
    let err = b
        .push(1, line(1, at(0, test_started("a", 0, 1))))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 1: an event before run-started: not the start of a warden event stream"
    );
    let mut b = ModelBuilder::default();
    b.push(1, line(1, at(0, started(1)))).unwrap();
    let err = b.push(2, line(2, at(1, started(1)))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 2: a second run-started (the first is on line 1): one run per file"
    );
    assert!(ModelBuilder::default().finish().is_none());
}

/// A shard's stream as `--json` writes it: each test runs on worker 0 for 100 ms.
fn shard(run_id: &str, start: u64, tests: &[(&str, Status)], exit_code: i32) -> String {
    let mut w = JsonLinesWriter::new(Vec::new());
    let mut write = |e: Event| w.write_event(&e).unwrap();
    write(at(
        start,
        EventKind::RunStarted {
            run_id: run_id.into(),
            selected: tests.len(),
            workers: 2,
            resumed_from: None,
            log_dir: None,
            info: Box::new(RunInfo {
                host: Some(format!("host-{run_id}")),
                ..RunInfo::default()
            }),
            partition: None,
        },
    ));
    let mut t = start;
    for (id, status) in tests {
        write(at(t, test_started(id, 0, 1)));
        t += 100;
        write(at(t, EventKind::TestFinished(done(id, *status, 0, 1, 100))));
    }
    write(at(t, finished(exit_code)));
    w.into_inner().iter().map(|b| *b as char).collect()
}

#[test]
fn a_merged_stream_has_a_lane_group_per_shard() {
    let reports = [
        ReportText {
            name: "s1.jsonl".into(),
            text: shard("r1", 0, &[("a", Status::Pass), ("b", Status::Fail)], 1),
        },
        ReportText {
            name: "s2.jsonl".into(),
            text: shard("r2", 50, &[("c", Status::Pass)], 0),
        },
    ];
    let merged = merge_texts(&reports).unwrap();
    let mut b = ModelBuilder::default();
    for (n, text) in merged.text.lines().enumerate() {
        if let Some(line) = parse_line(n + 1, text).unwrap() {
            b.push(n + 1, line).unwrap();
        }
    }
    let m = b.finish().unwrap();
    assert!(m.is_merged());
    let groups: Vec<(u32, Option<&str>, Option<i32>, usize)> = m
        .groups
        .iter()
        .map(|g| (g.shard, g.host.as_deref(), g.exit_code, g.lanes.len()))
        .collect();
    assert_eq!(
        groups,
        [
            (1, Some("host-r1"), Some(1), 2),
            (2, Some("host-r2"), Some(0), 2)
        ]
    );
    let bars: Vec<(&str, Lane, i64)> = m
        .bars
        .iter()
        .map(|b| (m.tests[b.test].id.as_str(), m.lanes[b.lane], b.start))
        .collect();
    let lane = |shard, worker| Lane { shard, worker };
    assert_eq!(
        bars,
        [
            ("a", lane(1, 0), 0),
            ("b", lane(1, 0), 100),
            ("c", lane(2, 0), 50)
        ]
    );
    assert_eq!(
        m.tests.iter().map(|t| t.shard).collect::<Vec<_>>(),
        [1, 1, 2]
    );
}
