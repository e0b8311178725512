//! The page as a whole: what it holds, that it holds nothing from outside, that hostile test
//! names and output stay text, and that a big run stays a small file.

use crate::exit_code::ExitCode;
use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use super::*;
use crate::events::{
    CapturedOutput, EventKind, GuardAction, HostReading, RunInfo, TestResult, Totals,
};

const T0: u64 = 1_700_000_000_000;

fn at(ms: u64, kind: EventKind) -> Event {
    Event {
        at: UNIX_EPOCH + Duration::from_millis(T0 + ms),
        kind,
    }
}

fn run_started(workers: usize) -> EventKind {
    EventKind::RunStarted {
        run_id: "20231114T221320Z-abcdef".into(),
        selected: 0,
        workers,
        resumed_from: None,
        log_dir: Some("/p/.warden/runs/r/logs".into()),
        info: Box::new(RunInfo {
            warden_version: "0.1.0".into(),
            host: Some("ci-7".into()),
            argv: vec!["run".into(), "--html".into(), "r.html".into()],
            timeout: Duration::from_secs(120),
            retries: 1,
            cpu_threshold: Some(90.0),
            mem_threshold: Some(80.0),
        }),
        partition: Some(std::sync::Arc::new(crate::events::ShardInfo {
            spec: "hash:1/2".into(),
            cut: "abc".into(),
            selection: vec!["t/api_test.sh".into()],
        })),
    }
}

fn result(
    id: &str,
    status: Status,
    worker: usize,
    attempt: u32,
    ms: u64,
    out: &str,
) -> Box<TestResult> {
    let mut r = TestResult::for_test(id, status, ms);
    r.worker = worker;
    r.attempt = attempt;
    r.peak_rss_bytes = Some(3 << 20);
    r.log = Some(format!("/p/.warden/runs/r/logs/{}.log", id.replace('/', "__")).into());
    r.output = CapturedOutput {
        head: out.as_bytes().to_vec(),
        tail: Vec::new(),
        total_bytes: out.len() as u64,
    };
    Box::new(r)
}

fn reading(cpu: f64, mem: f64) -> HostReading {
    HostReading {
        cpu_percent: Some(cpu),
        mem_used_percent: mem,
        cpu_pressure: None,
        mem_pressure: None,
    }
}

/// A small run: a pass, a failure retried, a flaky test, a leak, a guard throttle, samples.
fn sample() -> Vec<Event> {
    let mut leaky = result("t/leak_test.sh", Status::Pass, 1, 1, 200, "");
    leaky.leaked = vec![crate::events::Leak {
        pid: 4242,
        cmd: "sleep 300".into(),
    }];
    vec![
        at(0, run_started(2)),
        at(
            10,
            EventKind::TestStarted {
                id: "t/api_test.sh".into(),
                worker: 0,
                attempt: 1,
                net: "host".into(),
            },
        ),
        at(
            10,
            EventKind::TestStarted {
                id: "t/leak_test.sh".into(),
                worker: 1,
                attempt: 1,
                net: "host".into(),
            },
        ),
        at(
            100,
            EventKind::ResourceSample {
                reading: reading(55.0, 40.0),
                running: 2,
            },
        ),
        at(
            150,
            EventKind::TestRetrying(result(
                "t/api_test.sh",
                Status::Fail,
                0,
                1,
                140,
                "first try: 503\n",
            )),
        ),
        at(
            150,
            EventKind::TestStarted {
                id: "t/api_test.sh".into(),
                worker: 0,
                attempt: 2,
                net: "host".into(),
            },
        ),
        at(210, EventKind::TestFinished(leaky)),
        at(
            210,
            EventKind::TestStarted {
                id: "t/flaky_test.sh".into(),
                worker: 1,
                attempt: 1,
                net: "host".into(),
            },
        ),
        at(
            300,
            EventKind::Guard {
                action: GuardAction::Throttle,
                reason: "cpu 97% above the 90% threshold: 1 test at a time".into(),
                reading: reading(97.0, 41.0),
                allowed: 1,
                id: None,
            },
        ),
        at(
            320,
            EventKind::TestRetrying(result(
                "t/flaky_test.sh",
                Status::Fail,
                1,
                1,
                110,
                "reset by peer\n",
            )),
        ),
        at(
            320,
            EventKind::TestStarted {
                id: "t/flaky_test.sh".into(),
                worker: 1,
                attempt: 2,
                net: "host".into(),
            },
        ),
        at(
            400,
            EventKind::TestFinished(result(
                "t/api_test.sh",
                Status::Fail,
                0,
                2,
                250,
                "GET /orders\nassertion failed: expected 200, got 503\n",
            )),
        ),
        at(
            420,
            EventKind::TestFinished(result("t/flaky_test.sh", Status::Flaky, 1, 2, 100, "ok\n")),
        ),
        at(
            500,
            EventKind::ResourceSample {
                reading: reading(60.0, 42.0),
                running: 0,
            },
        ),
        at(
            510,
            EventKind::RunFinished {
                run_id: "20231114T221320Z-abcdef".into(),
                totals: Totals {
                    passed: 1,
                    failed: 1,
                    flaky: 1,
                    leaky: 1,
                    ..Totals::default()
                },
                duration: Duration::from_millis(510),
                exit_code: ExitCode::FAILED,
                stopped: None,
            },
        ),
    ]
}

fn render(events: &[Event], history: &HashMap<String, Vec<Status>>) -> String {
    let mut r = HtmlReport::new();
    for e in events {
        r.on_event(e).unwrap();
    }
    r.render(history).expect("a run")
}

fn data(page: &str) -> Value {
    let start = page
        .find(r#"<script type="application/json" id="warden-data">"#)
        .unwrap();
    let json = &page[start..];
    let json = &json[json.find('>').unwrap() + 1..json.find("</script>").unwrap()];
    serde_json::from_str(json).unwrap()
}

#[test]
fn the_page_has_a_bar_per_attempt_and_the_failing_output() {
    let page = render(&sample(), &HashMap::new());
    // 2 attempts of api, 1 of leak, 2 of flaky.
    assert_eq!(page.matches(r#"<rect class="b "#).count(), 5);
    assert_eq!(page.matches(r#"<rect class="b fail retried""#).count(), 2);
    assert!(page.contains("t/api_test.sh&#10;attempt 2 · FAIL · 250ms · peak 3.0 MiB</title>"));
    assert!(page.contains("assertion failed: expected 200, got 503"));
    assert!(
        page.contains("first try: 503"),
        "the retried attempt's output"
    );
    assert!(
        page.contains("reset by peer"),
        "the flaky test's failed attempt"
    );
    assert!(page.contains("sleep 300"), "the leaked command line");
    assert!(
        page.contains(r#"<line class="gm throttle""#),
        "the guard's decision"
    );
    // 55% and 60% CPU at 100 ms and 500 ms of 510.
    assert!(page.contains(r#"<polyline class="cpu" points="196.08,45.2 980.39,40.4"/>"#));
    assert!(page.contains(r#"<span class="k g throttle">guard throttle</span>"#));
    assert!(page.contains("cpu limit 90%") && page.contains("mem limit 80%"));
    assert!(page.contains("$ warden run --html r.html"));
    assert!(page.contains("on ci-7"));
    assert!(page.contains("shard hash:1/2"));
    let d = data(&page);
    let tests = d["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 3);
    // The failing test has a card (0) and its log relative to the log dir.
    let api = tests.iter().find(|t| t[0] == "t/api_test.sh").unwrap();
    assert_eq!(
        (&api[1], &api[5], &api[8]),
        (&Value::from("fail"), &Value::from(2), &Value::from(0))
    );
    assert_eq!(api[10], "+t__api_test.sh.log");
    assert_eq!(d["logDir"], "/p/.warden/runs/r/logs/");
    assert_eq!(d["span"], 510);
}

#[test]
fn the_page_loads_nothing_from_anywhere() {
    let page = render(&sample(), &HashMap::new());
    for outside in [
        "http:", "https:", "//cdn", "<link", " src=", "@import", "url(http", "fetch(",
    ] {
        assert!(!page.contains(outside), "the page refers to {outside}");
    }
    // Only the page's own fragments are referred to.
    for part in page.split("url(").skip(1) {
        assert!(part.starts_with('#'), "url({}", &part[..20.min(part.len())]);
    }
}

#[test]
fn hostile_names_and_output_stay_text() {
    let id = "t/<script>alert(1)</script>\"'&\u{202e}hs.sh";
    let events = vec![
        at(0, run_started(1)),
        at(
            1,
            EventKind::TestStarted {
                id: id.into(),
                worker: 0,
                attempt: 1,
                net: "host".into(),
            },
        ),
        at(
            9,
            EventKind::TestFinished(result(
                id,
                Status::Fail,
                0,
                1,
                8,
                "</script><script>alert(2)</script>\u{1b}[31mred\u{1b}[0m\n",
            )),
        ),
        at(
            10,
            EventKind::RunFinished {
                run_id: "r".into(),
                totals: Totals::default(),
                duration: Duration::from_millis(10),
                exit_code: ExitCode::FAILED,
                stopped: None,
            },
        ),
    ];
    let page = render(&events, &HashMap::new());
    assert_eq!(
        page.matches("<script").count(),
        2,
        "only the page's own scripts"
    );
    assert!(!page.contains("alert(1)</script>"));
    assert!(page.contains("&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;red"));
    assert!(!page.contains('\u{1b}'));
    // The override is shown, not obeyed, everywhere but in the script's data.
    let markup = page.split(r#"id="warden-data""#).next().unwrap();
    assert!(!markup.contains('\u{202e}') && markup.contains("\\u{202e}hs.sh"));
    assert_eq!(data(&page)["tests"][0][0], id);
}

#[test]
fn history_strips_show_the_last_results() {
    let mut history = HashMap::new();
    history.insert(
        "t/api_test.sh".to_string(),
        vec![Status::Pass, Status::Fail, Status::Pass, Status::Fail],
    );
    let page = render(&sample(), &history);
    assert!(page.contains(r#"<th data-k="hist""#));
    assert!(page.contains(
        r#"<span class="strip" title="last runs, oldest first"><i class="pass"></i><i class="fail"></i><i class="pass"></i><i class="fail"></i></span>"#
    ));
    assert_eq!(data(&page)["tests"][1][9], "pfpf");
    let without = render(&sample(), &HashMap::new());
    assert!(!without.contains(r#"<th data-k="hist""#));
}

#[test]
fn a_live_run_and_its_saved_stream_give_the_same_page() {
    let events = sample();
    let mut from_file = HtmlReport::new();
    for e in &events {
        let mut w = crate::report::JsonLinesWriter::new(Vec::new());
        w.write_event(e).unwrap();
        from_file
            .push_line(std::str::from_utf8(&w.into_inner()).unwrap())
            .unwrap();
    }
    assert_eq!(
        from_file.render(&HashMap::new()).unwrap(),
        render(&events, &HashMap::new())
    );
}

/// 10,000 tests on 8 workers for 20 minutes, 2% failing with 4 KiB of output each, a host
/// sample every 500 ms: the page stays under 5 MB. (How fast it is written is measured by
/// bench/html_report.sh, not here.)
#[test]
fn ten_thousand_tests_make_a_page_under_five_megabytes() {
    let page = render(&big_run(10_000, 8), &HashMap::new());
    let size = page.len();
    if let Ok(path) = std::env::var("WARDEN_SAVE_BIG_PAGE") {
        std::fs::write(path, &page).unwrap();
    }
    assert!(size < 5_000_000, "{size} bytes");
    assert_eq!(page.matches(r#"<rect class="b "#).count(), 10_000);
    eprintln!("10,000 tests: {} KiB", size / 1024);
}

/// A run of `n` tests spread over `workers`, as the benchmark and the size test use it.
pub(crate) fn big_run(n: usize, workers: usize) -> Vec<Event> {
    let span_ms = 20 * 60 * 1000;
    let per = (span_ms * workers as u64) / n as u64;
    let mut events = vec![at(0, run_started(workers))];
    let noise = "x".repeat(60);
    let mut tail = String::new();
    while tail.len() < 4096 {
        tail.push_str(&format!(
            "assertion failed at step {}: {noise}\n",
            tail.len()
        ));
    }
    let mut next_sample = 0;
    for i in 0..n {
        let worker = i % workers;
        let start = (i / workers) as u64 * per;
        while next_sample <= start {
            events.push(at(
                next_sample,
                EventKind::ResourceSample {
                    reading: reading(80.0, 50.0),
                    running: workers,
                },
            ));
            next_sample += 500;
        }
        let id = format!(
            "tests/integration/service_{:02}/case_{i:05}_test.sh",
            i % 37
        );
        events.push(at(
            start,
            EventKind::TestStarted {
                id: id.clone(),
                worker,
                attempt: 1,
                net: "host".into(),
            },
        ));
        let failing = i % 50 == 7;
        let status = if failing { Status::Fail } else { Status::Pass };
        let out = if failing { tail.as_str() } else { "ok\n" };
        events.push(at(
            start + per - 1,
            EventKind::TestFinished(result(&id, status, worker, 1, per - 1, out)),
        ));
    }
    events.push(at(
        span_ms,
        EventKind::RunFinished {
            run_id: "big".into(),
            totals: Totals::default(),
            duration: Duration::from_millis(span_ms),
            exit_code: ExitCode::FAILED,
            stopped: None,
        },
    ));
    events
}

/// In a merged stream each shard's guard marks cross only that shard's lanes (its own host).
#[test]
fn a_shards_guard_marks_cross_only_its_lanes() {
    let t = |ms: u64| crate::clock::rfc3339_utc_millis(UNIX_EPOCH + Duration::from_millis(T0 + ms));
    let lines = [
        format!(
            r#"{{"type":"run-started","schema":1,"time":"{}","run_id":"a+b","selected":2,"workers":2,"merged":[{{"shard":1,"file":"a","workers":1}},{{"shard":2,"file":"b","workers":1}}]}}"#,
            t(0)
        ),
        format!(
            r#"{{"type":"test-started","schema":1,"time":"{}","id":"x","worker":0,"attempt":1,"shard":2}}"#,
            t(1)
        ),
        format!(
            r#"{{"type":"guard","schema":1,"time":"{}","action":"shutdown","reason":"memory","shard":2}}"#,
            t(50)
        ),
        format!(
            r#"{{"type":"test-cancelled","schema":1,"time":"{}","id":"x","reason":"guard","worker":0,"attempt":1,"duration_ms":99,"shard":2}}"#,
            t(100)
        ),
    ];
    let mut r = HtmlReport::new();
    for l in &lines {
        r.push_line(l).unwrap();
    }
    let page = r.render(&HashMap::new()).unwrap();
    let timeline = &page[page.find(r#"<svg class="chart tl"#).unwrap()..];
    let timeline = &timeline[..timeline.find("</svg>").unwrap()];
    // Shard 1: a 24 px band and one 30 px lane; shard 2 from 54 to 108.
    assert!(
        timeline.contains(r#"<line class="gm shutdown" x1="500" x2="500" y1="54" y2="108"/>"#),
        "{timeline}"
    );
    assert_eq!(timeline.matches(r#"class="gm "#).count(), 1);
    assert!(
        page.contains("<b>INCOMPLETE</b>"),
        "no run-finished in this stream"
    );
}

/// The timeline of the smallest run, byte for byte: what a change to the drawing changes shows
/// up here first.
#[test]
fn timeline_snapshot() {
    let events = vec![
        at(0, run_started(1)),
        at(
            0,
            EventKind::TestStarted {
                id: "t/a.sh".into(),
                worker: 0,
                attempt: 1,
                net: "host".into(),
            },
        ),
        at(
            400,
            EventKind::TestRetrying(result("t/a.sh", Status::Fail, 0, 1, 400, "x\n")),
        ),
        at(
            400,
            EventKind::TestStarted {
                id: "t/a.sh".into(),
                worker: 0,
                attempt: 2,
                net: "host".into(),
            },
        ),
        at(
            1000,
            EventKind::TestFinished(result("t/a.sh", Status::Flaky, 0, 2, 600, "")),
        ),
        at(
            1000,
            EventKind::RunFinished {
                run_id: "r".into(),
                totals: Totals {
                    flaky: 1,
                    ..Totals::default()
                },
                duration: Duration::from_millis(1000),
                exit_code: ExitCode::PASSED,
                stopped: None,
            },
        ),
    ];
    let page = render(&events, &HashMap::new());
    let start = page
        .find(r#"<div class="rows"><div class="labels"><div class="lab""#)
        .unwrap();
    let end = start + page[start..].find("</svg>").unwrap() + "</svg>".len();
    let got = page[start..end].replace("><", ">\n<");
    let want = SNAPSHOT.trim();
    assert!(got == want, "the timeline changed:\n{got}");
}

const SNAPSHOT: &str = r#"
<div class="rows">
<div class="labels">
<div class="lab" style="height:30px">w0</div>
</div>
<div class="plot">
<svg class="chart tl zoomable" viewBox="0 0 1000 30" preserveAspectRatio="none" height="30" data-h="30" role="img" aria-label="timeline: 2 attempts on 1 worker slot">
<defs>
<pattern id="p-retried-fail" class="stripes" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">
<rect width="6" height="6" class="pf fail"/>
<rect width="2.5" height="6" class="ps"/>
</pattern>
<pattern id="p-retried-timeout" class="stripes" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">
<rect width="6" height="6" class="pf timeout"/>
<rect width="2.5" height="6" class="ps"/>
</pattern>
<pattern id="p-retried-other" class="stripes" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">
<rect width="6" height="6" class="pf oom"/>
<rect width="2.5" height="6" class="ps"/>
</pattern>
<pattern id="p-requeued" class="stripes" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">
<rect width="6" height="6" class="pf requeued"/>
<rect width="2.5" height="6" class="ps"/>
</pattern>
<pattern id="p-cancelled" class="stripes" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">
<rect width="6" height="6" class="pf cancelled"/>
<rect width="2.5" height="6" class="ps"/>
</pattern>
</defs>
<g class="lanes">
</g>
<g class="grid">
<line x1="0" x2="0" y1="0" y2="30"/>
<line x1="200" x2="200" y1="0" y2="30"/>
<line x1="400" x2="400" y1="0" y2="30"/>
<line x1="600" x2="600" y1="0" y2="30"/>
<line x1="800" x2="800" y1="0" y2="30"/>
<line x1="1000" x2="1000" y1="0" y2="30"/>
</g>
<g class="bars">
<rect class="b fail retried" x="0" y="4" width="400" height="22" data-i="0">
<title>t/a.sh&#10;attempt 1 · FAIL, retried · 400ms · peak 3.0 MiB</title>
</rect>
<rect class="b flaky" x="400" y="4" width="600" height="22" data-i="0" data-a="2">
<title>t/a.sh&#10;attempt 2 · FLAKY · 600ms · peak 3.0 MiB</title>
</rect>
</g>
<g class="marks">
</g>
</svg>
"#;

#[test]
fn coverage_results_are_a_panel() {
    let mut events = sample();
    let finished = events.pop().unwrap();
    events.push(at(
        505,
        EventKind::Coverage(Box::new(crate::events::CoverageSummary {
            kind: crate::events::CoverageKind::Gcov,
            tests: 2,
            files: 2,
            raw_dir: "/p/.warden/runs/r/coverage".into(),
            merged: Some("/p/.warden/runs/r/coverage-merged/gcov.txt".into()),
            tool: Some("gcovr".into()),
            command: None,
            problem: None,
        })),
    ));
    events.push(at(
        506,
        EventKind::Coverage(Box::new(crate::events::CoverageSummary {
            kind: crate::events::CoverageKind::Node,
            tests: 1,
            files: 1,
            raw_dir: "/p/<b>".into(),
            merged: None,
            tool: None,
            command: Some("npx c8 report --temp-directory x".into()),
            problem: Some("no c8 on PATH".into()),
        })),
    ));
    events.push(finished);
    let page = render(&events, &HashMap::new());
    assert!(page.contains("<h2>Coverage</h2>"));
    assert!(page.contains(
        "<li><b>gcov</b>: 2 tests, 2 files merged by gcovr into \
         <code>/p/.warden/runs/r/coverage-merged/gcov.txt</code></li>"
    ));
    assert!(page.contains(
        "<li><b>node</b>: 1 test, 1 file not merged (no c8 on PATH); raw data in \
         <code>/p/&lt;b&gt;/&lt;test&gt;/</code>; merge with: \
         <code>npx c8 report --temp-directory x</code></li>"
    ));
    // Without coverage events, no panel.
    assert!(!render(&sample(), &HashMap::new()).contains("<h2>Coverage</h2>"));
}
