//! Command spellings: `warden test` and bare `warden PATH` as `run`, the seed's option
//! spellings (`--test-threads`, `--all`), worker counts, `--list`, and `--shuffle --seed`
//! (SPEC §1–§2). Run on the quick parts of the `basic` fixture only.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

const FIXTURE: &str = "basic";

/// Runs warden with `args` plus `--json events.jsonl`; returns the outcome and the events.
fn run_json(sandbox: &Sandbox, args: &[&str]) -> (Outcome, Vec<Value>) {
    let _ = std::fs::remove_file(sandbox.path().join("events.jsonl"));
    let out = Warden::new(sandbox.path())
        .args(args)
        .args(["--json", "events.jsonl"])
        .run();
    let events = read_events(sandbox, "events.jsonl", &out);
    (out, events)
}

fn statuses_of(out: &Outcome, events: &[Value]) -> BTreeMap<String, String> {
    statuses(events).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()))
}

#[test]
fn test_and_bare_path_are_aliases_of_run() {
    let sandbox = Sandbox::with_fixture(FIXTURE);
    let (run_out, run_events) = run_json(&sandbox, &["run", "basic/integration"]);
    let want = statuses_of(&run_out, &run_events);
    assert_eq!(run_out.code, Some(0), "{}", run_out.describe());
    assert_eq!(want.len(), 3, "{}", run_out.describe());
    for args in [
        &["test", "basic/integration"][..],
        &["basic/integration"][..],
    ] {
        let (out, events) = run_json(&sandbox, args);
        assert_eq!(out.code, run_out.code, "{}", out.describe());
        assert_eq!(statuses_of(&out, &events), want, "{}", out.describe());
    }
}

#[test]
fn worker_count_spellings() {
    let sandbox = Sandbox::with_fixture(FIXTURE);
    let cases: [(&[&str], u64); 5] = [
        (&["--test-threads", "1"], 1),
        (&["-j", "1"], 1),
        (&["--max-workers", "2"], 2),
        (&["-j", "3"], 3),
        (&["--sequential"], 1),
    ];
    for (flags, workers) in cases {
        let mut args = vec!["run", "basic/integration"];
        args.extend_from_slice(flags);
        let (out, events) = run_json(&sandbox, &args);
        assert_eq!(out.code, Some(0), "{}", out.describe());
        let started = of_type(&events, "run-started");
        assert_eq!(
            started.first().map(|e| &e["workers"]),
            Some(&Value::from(workers)),
            "{flags:?}: run-started.workers\n{}",
            out.describe()
        );
        // At most `workers` tests between their test-started and test-finished at any time.
        let mut running = 0u64;
        for e in &events {
            match e["type"].as_str() {
                Some("test-started") => running += 1,
                Some("test-finished") => running = running.saturating_sub(1),
                _ => {}
            }
            assert!(
                running <= workers,
                "{flags:?}: {running} tests running at once\n{}",
                out.describe()
            );
        }
    }
}

#[test]
fn test_with_all_runs_slow_tests() {
    let sandbox = Sandbox::with_fixture(FIXTURE);
    let (out, events) = run_json(&sandbox, &["test", FIXTURE, "--all", "-k", "slow"]);
    let want: BTreeMap<String, String> =
        [("basic/slow_test.sh".to_string(), "pass".to_string())].into();
    assert_eq!(statuses_of(&out, &events), want, "{}", out.describe());
    assert_eq!(out.code, Some(0), "{}", out.describe());
}

#[test]
fn list_flag_is_the_list_command() {
    let sandbox = Sandbox::with_fixture(FIXTURE);
    let listed = Warden::new(sandbox.path()).args(["list", FIXTURE]).run();
    let flagged = Warden::new(sandbox.path())
        .args(["run", FIXTURE, "--list"])
        .run();
    assert_eq!(listed.code, Some(0), "{}", listed.describe());
    assert_eq!(flagged.code, Some(0), "{}", flagged.describe());
    assert_eq!(listed.stdout, flagged.stdout, "{}", flagged.describe());
}

#[test]
fn shuffle_with_a_seed_is_reproducible() {
    let sandbox = Sandbox::with_fixture(FIXTURE);
    let order = |seed: &str| {
        let (out, events) = run_json(
            &sandbox,
            &["run", "basic/unit", "-j", "1", "--shuffle", "--seed", seed],
        );
        assert_eq!(out.code, Some(0), "{}", out.describe());
        of_type(&events, "test-finished")
            .iter()
            .map(|e| e["id"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    let first = order("7");
    assert_eq!(first, order("7"), "same seed, different order");
    let mut sorted = first.clone();
    sorted.sort();
    let mut other = order("8");
    other.sort();
    assert_eq!(
        sorted, other,
        "a different seed ran a different set of tests"
    );
}

/// `--no-capture`: a test's output reaches the terminal (stderr) as it is written, raw, once
/// per line, before the test's result line; it never mixes into `--json -` on stdout, and it
/// is still in the log and read as TAP.
#[test]
fn no_capture_shows_output_live_on_stderr_only() {
    let sandbox = Sandbox::new();
    sandbox.write_executable(
        "t/live_test.sh",
        "#!/bin/sh\necho '1..1'\necho 'line from the test'\necho 'to stderr' >&2\necho 'ok 1'\n",
    );
    let out = Warden::new(sandbox.path())
        .args(["run", "t", "--no-capture", "--json", "-"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(
        out.stderr.matches("line from the test\n").count(),
        1,
        "{}",
        out.describe()
    );
    assert!(out.stderr.contains("to stderr\n"), "{}", out.describe());
    let said = out.stderr.find("line from the test").unwrap();
    let result = out.stderr.find("t/live_test.sh").unwrap_or(usize::MAX);
    assert!(
        said < result,
        "output after the result line:\n{}",
        out.describe()
    );
    assert!(
        !out.stdout.contains("line from the test"),
        "{}",
        out.describe()
    );
    assert!(!out.stdout.contains("test-output"), "{}", out.describe());
    let events = parse_json_lines(&out.stdout).unwrap();
    let finished = finished_by_id(&events).unwrap();
    let r = &finished["t/live_test.sh"];
    assert_eq!(r["status"], "pass", "{r}");
    assert_eq!(r["subtests"]["passed"], 1, "{r}");
}
