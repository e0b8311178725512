//! No work lost (issue 4, SPEC §7): an interrupted run is resumed without rerunning what
//! finished, the journal survives a torn record and refuses garbage, `--failed` reruns exactly
//! the failures, and history orders the next run longest-first.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// 20 tests of 0.5 s; each appends its id to `ran.txt` when it starts.
fn twenty_tests() -> Sandbox {
    let sb = Sandbox::new();
    for i in 1..=20 {
        sb.write_executable(
            &format!("tests/t{i:02}_test.sh"),
            "#!/bin/sh\necho \"$WARDEN_TEST_ID\" >> ../ran.txt\nsleep 0.5\n",
        );
    }
    sb
}

fn ran(sb: &Sandbox) -> Vec<String> {
    sb.read("ran.txt")
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn warden(sb: &Sandbox, args: &[&str]) -> Outcome {
    Warden::new(sb.path())
        .args(args)
        .env("WARDEN_REGISTRY_DIR", sb.path().join("registry"))
        .run()
}

fn events(sb: &Sandbox, file: &str) -> Vec<Value> {
    parse_json_lines(&sb.read(file).unwrap()).unwrap()
}

fn run_finished(ev: &[Value]) -> Value {
    of_type(ev, "run-finished")
        .last()
        .map(|v| (*v).clone())
        .expect("a run-finished event")
}

/// Interrupt a run of the 20 tests with `signal` once at least 6 finished, then `--resume`:
/// exit 0, 20 passed for the whole run, none of the finished tests ran again, and a second
/// `--resume` has nothing to do (43).
fn interrupt_then_resume(signal: i32, expected_exit: Option<i32>) {
    let sb = twenty_tests();
    let mut child = spawn(&sb, &["run", "-j2", "tests", "--json", "first.jsonl"]);
    wait_for("6 finished tests", Duration::from_secs(20), || {
        sb.read("first.jsonl")
            .map(|t| t.matches("\"test-finished\"").count() >= 6)
            .unwrap_or(false)
    });
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status).or(status.code()),
        expected_exit.or(Some(signal))
    );
    // The watchdog (SIGKILL) or warden itself (other signals) ends the tests.
    wait_for(
        "the interrupted run's tests to end",
        Duration::from_secs(3),
        || procs_with_env(&format!("{MARK_VAR}={}", sb.path().display())).is_empty(),
    );
    let first: Vec<Value> = parse_json_lines(&sb.read("first.jsonl").unwrap()).unwrap_or_default();
    let finished_first: Vec<String> = of_type(&first, "test-finished")
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert!(finished_first.len() >= 6);
    let ran_before = ran(&sb);

    let out = warden(
        &sb,
        &["run", "-j2", "tests", "--resume", "--json", "second.jsonl"],
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let ev = events(&sb, "second.jsonl");
    let done = run_finished(&ev);
    assert_eq!(done["passed"], 20, "{done}");
    assert_eq!(done["exit_code"], 0);
    let started = of_type(&ev, "run-started")[0];
    assert!(started["resumed_from"].is_string(), "{started}");
    let carried: Vec<&str> = of_type(&ev, "test-finished")
        .iter()
        .filter(|e| e["carried_over"] == true)
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(carried.len(), finished_first.len());
    // Nothing that finished ran again; everything else ran (again, if it was in flight).
    let ran_after = &ran(&sb)[ran_before.len()..];
    for id in &finished_first {
        assert!(
            !ran_after.contains(id),
            "{id} finished before the interruption but ran again"
        );
    }
    assert_eq!(ran_after.len(), 20 - finished_first.len(), "{ran_after:?}");

    let again = warden(&sb, &["run", "-j2", "tests", "--resume"]);
    assert_eq!(again.code, Some(43), "{}", again.describe());
    assert!(
        again.stderr.contains("nothing to resume"),
        "{}",
        again.describe()
    );
}

#[test]
fn resume_after_sigkill() {
    interrupt_then_resume(libc::SIGKILL, None);
}

#[test]
fn resume_after_sigint() {
    interrupt_then_resume(libc::SIGINT, Some(130));
}

/// A journal whose last record was cut mid-line (warden died writing it) resumes from the
/// records before it, with a warning.
#[test]
fn torn_journal_resumes() {
    let sb = Sandbox::new();
    for name in ["a", "b", "c"] {
        sb.write_executable(
            &format!("tests/{name}_test.sh"),
            "#!/bin/sh\necho \"$WARDEN_TEST_ID\" >> ../ran.txt\n",
        );
    }
    // A completed run leaves no checkpoint; make one by hand from its journal format.
    let out = warden(&sb, &["run", "tests", "--fail-fast"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let runs = sb.path().join(".warden/runs");
    let run_dir = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let header = serde_json::json!({
        "kind": "header", "warden_version": "0", "run_id": run_dir.file_name().unwrap().to_str().unwrap(),
        "created": "2026-01-01T00:00:00.000Z", "resumed_from": null,
        "fingerprint": {"tests": ["tests/a_test.sh", "tests/b_test.sh", "tests/c_test.sh"], "config_hash": "",
                        "options": {"timeout": "2m", "grace": "5s", "retries": "0", "leak": "kill", "only_skipped": "false"}}
    });
    let record = |id: &str| {
        serde_json::json!({"kind": "test", "id": id, "status": "pass", "attempt": 1, "worker": 0, "duration_ms": 3,
                           "exit_code": 0, "signal": null, "subtests": null, "peak_rss_bytes": null, "cpu_ms": null,
                           "leaked": [], "log": null, "message": null, "head": "", "tail": "", "total_bytes": 0})
        .to_string()
    };
    let torn = record("tests/b_test.sh");
    let text = format!(
        "{header}\n{}\n{}",
        record("tests/a_test.sh"),
        &torn[..torn.len() / 2]
    );
    std::fs::write(run_dir.join("journal.jsonl"), text).unwrap();
    std::fs::remove_file(sb.path().join("ran.txt")).unwrap();

    let out = warden(&sb, &["run", "tests", "--resume", "--json", "ev.jsonl"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stderr.to_lowercase().contains("torn") || out.stderr.contains("incomplete"),
        "{}",
        out.describe()
    );
    let mut again = ran(&sb);
    again.sort();
    assert_eq!(again, ["tests/b_test.sh", "tests/c_test.sh"]);
    assert_eq!(run_finished(&events(&sb, "ev.jsonl"))["passed"], 3);
}

#[test]
fn garbage_journal_is_exit_43_naming_the_file() {
    let sb = Sandbox::new();
    sb.write_executable("tests/a_test.sh", "#!/bin/sh\n");
    let dir = sb.mkdir(".warden/runs/20260101T000000Z-abcdef");
    std::fs::write(dir.join("journal.jsonl"), "\u{0}garbage\nnot json at all\n").unwrap();
    let out = warden(&sb, &["run", "tests", "--resume"]);
    assert_eq!(out.code, Some(43), "{}", out.describe());
    assert!(out.stderr.contains("journal.jsonl"), "{}", out.describe());
    assert_no_panic(&out);
}

#[test]
fn resume_of_another_selection_is_refused_unless_forced() {
    let sb = twenty_tests();
    let mut child = spawn(&sb, &["run", "-j2", "tests", "--json", "first.jsonl"]);
    wait_for("2 finished tests", Duration::from_secs(20), || {
        sb.read("first.jsonl")
            .map(|t| t.matches("\"test-finished\"").count() >= 2)
            .unwrap_or(false)
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(143));
    let out = warden(&sb, &["run", "-j2", "tests", "-k", "t1", "--resume"]);
    assert_eq!(out.code, Some(43), "{}", out.describe());
    assert!(
        out.stderr.contains("removed") || out.stderr.contains("differs"),
        "{}",
        out.describe()
    );
    let forced = warden(
        &sb,
        &[
            "run",
            "-j2",
            "tests",
            "-k",
            "t1",
            "--resume=force",
            "--json",
            "f.jsonl",
        ],
    );
    assert_eq!(forced.code, Some(0), "{}", forced.describe());
    let done = run_finished(&events(&sb, "f.jsonl"));
    // t10..t19 are the tests both selections have.
    assert_eq!(done["passed"], 10, "{done}");
}

#[test]
fn failed_reruns_exactly_the_failures_of_the_last_run() {
    let sb = Sandbox::new();
    for (name, code) in [("a", 0), ("b", 1), ("c", 0), ("d", 3)] {
        sb.write_executable(
            &format!("tests/{name}_test.sh"),
            &format!("#!/bin/sh\nexit {code}\n"),
        );
    }
    let out = warden(&sb, &["run", "tests"]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let list = warden(&sb, &["list", "tests", "--failed", "--json"]);
    assert_eq!(
        list_ids(&list.stdout)
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["tests/b_test.sh", "tests/d_test.sh"]
    );
    let rerun = warden(&sb, &["run", "tests", "--failed", "--json", "ev.jsonl"]);
    assert_eq!(rerun.code, Some(1));
    let ev = events(&sb, "ev.jsonl");
    let ids: Vec<&str> = of_type(&ev, "test-finished")
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"tests/b_test.sh") && ids.contains(&"tests/d_test.sh"));
}

/// After one recorded run, the next one starts the longest tests first and `list --json`
/// carries each test's history.
#[test]
fn history_orders_longest_first() {
    let sb = Sandbox::new();
    for (name, secs) in [("a", "0.05"), ("b", "0.6"), ("c", "0.3")] {
        sb.write_executable(
            &format!("tests/{name}_test.sh"),
            &format!("#!/bin/sh\nsleep {secs}\n"),
        );
    }
    assert_eq!(warden(&sb, &["run", "tests", "-j1"]).code, Some(0));
    let list = warden(&sb, &["list", "tests", "--json"]);
    let tests = parse_list(&list.stdout).unwrap();
    let order: Vec<&str> = tests.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(
        order,
        ["tests/b_test.sh", "tests/c_test.sh", "tests/a_test.sh"]
    );
    let by_id: BTreeMap<&str, &Value> = tests
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t))
        .collect();
    assert_eq!(by_id["tests/b_test.sh"]["history"]["runs"], 1);
    assert_eq!(by_id["tests/b_test.sh"]["history"]["pass_rate"], 1.0);
    assert!(
        by_id["tests/b_test.sh"]["history"]["mean_duration_ms"]
            .as_u64()
            .unwrap()
            >= 550
    );
    let out = warden(&sb, &["run", "tests", "-j1", "--json", "ev.jsonl"]);
    let ev = events(&sb, "ev.jsonl");
    let started: Vec<&str> = of_type(&ev, "test-started")
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(started, order, "{}", out.describe());
}

#[test]
fn concurrent_runs_in_one_state_dir_are_refused() {
    let sb = Sandbox::new();
    sb.write_executable("tests/slow_test.sh", "#!/bin/sh\nsleep 2\n");
    let mut first = spawn(&sb, &["run", "tests"]);
    wait_for("the first run to lock", Duration::from_secs(5), || {
        Path::new(&sb.path().join(".warden/lock")).exists()
    });
    std::thread::sleep(Duration::from_millis(200));
    let second = warden(&sb, &["run", "tests"]);
    assert_eq!(second.code, Some(2), "{}", second.describe());
    assert!(
        second.stderr.contains("another warden run"),
        "{}",
        second.describe()
    );
    assert_eq!(first.wait().unwrap().code(), Some(0));
}

/// A failure recorded before warden was SIGKILLed is still what `--failed` reruns after the
/// interrupted run was resumed to completion (the failure is carried, not rerun).
#[test]
fn failed_after_sigkill_and_resume_knows_the_carried_failure() {
    let sb = twenty_tests();
    sb.write_executable("tests/a_fails_test.sh", "#!/bin/sh\nexit 1\n");
    let mut child = spawn(&sb, &["run", "-j2", "tests", "--json", "first.jsonl"]);
    wait_for(
        "the failure and 3 more finished tests",
        Duration::from_secs(20),
        || {
            sb.read("first.jsonl")
                .map(|t| {
                    t.contains("\"status\":\"fail\"") && t.matches("\"test-finished\"").count() >= 4
                })
                .unwrap_or(false)
        },
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    wait_for(
        "the interrupted run's tests to end",
        Duration::from_secs(3),
        || procs_with_env(&format!("{MARK_VAR}={}", sb.path().display())).is_empty(),
    );
    let resumed = warden(&sb, &["run", "-j2", "tests", "--resume"]);
    assert_eq!(resumed.code, Some(1), "{}", resumed.describe());
    let list = warden(&sb, &["list", "tests", "--failed", "--json"]);
    let failed: Vec<String> = list_ids(&list.stdout).unwrap().into_iter().collect();
    assert_eq!(failed, ["tests/a_fails_test.sh"], "{}", list.describe());
}
