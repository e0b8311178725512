use super::*;

use std::time::Instant;

fn result(id: &str, status: Status, ms: u64) -> TestResult {
    // History stores peak memory and CPU time: give them values to store.
    TestResult {
        exit_code: Some(0),
        peak_rss_bytes: Some(10 << 20),
        cpu_ms: Some(ms / 2),
        ..TestResult::for_test(id, status, ms)
    }
}

fn attempt(id: &str, status: Status, ms: u64, n: u32) -> TestResult {
    TestResult {
        attempt: n,
        ..result(id, status, ms)
    }
}

fn open_in(dir: &Path) -> History {
    History::open(&dir.join("history.db")).unwrap()
}

/// A run that records `results` and completes with `completed`.
fn run(h: &History, id: &str, completed: bool, results: &[TestResult]) {
    h.begin_run(id, None).unwrap();
    for r in results {
        h.record(id, r).unwrap();
    }
    h.finish_run(id, completed, 0).unwrap();
}

#[test]
fn open_creates_a_wal_database_and_reopens_it() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("state").join("history.db");
    let h = History::open(&path).unwrap();
    assert_eq!(h.path(), path);
    run(&h, "r1", true, &[result("a", Status::Pass, 10)]);
    drop(h);
    let raw = Connection::open(&path).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    drop(raw);
    let h = History::open(&path).unwrap();
    assert_eq!(
        h.expected_durations(&["a"]).unwrap()["a"],
        Duration::from_millis(10)
    );
}

#[test]
fn rows_hold_what_was_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let h = open_in(tmp.path());
    h.begin_run("r1", None).unwrap();
    let mut r = attempt("t/a_test.sh", Status::Timeout, 2500, 2);
    r.peak_rss_bytes = Some(u64::MAX);
    r.cpu_ms = None;
    let finished = std::time::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    h.record_at("r1", &r, finished).unwrap();
    h.finish_run("r1", false, 143).unwrap();
    let row = h
        .conn
        .query_row(
            "SELECT run_id, test_id, status, attempt, duration_ms, peak_rss_bytes, cpu_ms,
                    started_at, finished_at FROM results",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        row,
        (
            "r1".into(),
            "t/a_test.sh".into(),
            "timeout".into(),
            2,
            2500,
            Some(i64::MAX),
            None,
            "2023-11-14T22:13:17.623Z".into(),
            "2023-11-14T22:13:20.123Z".into(),
        )
    );
    let run_row = h
        .conn
        .query_row(
            "SELECT completed, exit_code, finished IS NOT NULL FROM runs WHERE id = 'r1'",
            [],
            |r| {
                Ok((
                    r.get::<_, bool>(0)?,
                    r.get::<_, i32>(1)?,
                    r.get::<_, bool>(2)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(run_row, (false, 143, true));
}

#[test]
fn expected_duration_is_the_mean_of_the_last_five() {
    let tmp = tempfile::tempdir().unwrap();
    let h = open_in(tmp.path());
    for (i, ms) in [1000, 1000, 10, 20, 30, 40, 50].into_iter().enumerate() {
        run(&h, &format!("r{i}"), true, &[result("a", Status::Pass, ms)]);
    }
    // An error never ran: its 0 ms says nothing about how long the test takes.
    run(&h, "r7", true, &[result("a", Status::Error, 0)]);
    run(&h, "r8", true, &[result("b", Status::Fail, 7)]);
    let d = h.expected_durations(&["a", "b", "unknown"]).unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d["a"], Duration::from_millis(30));
    assert_eq!(d["b"], Duration::from_millis(7));
    // Only asked-for tests come back.
    assert_eq!(h.expected_durations(&["b"]).unwrap().len(), 1);
    assert!(h.expected_durations::<&str>(&[]).unwrap().is_empty());
}

#[test]
fn latest_failures_take_each_tests_most_recent_final_attempt() {
    let tmp = tempfile::tempdir().unwrap();
    let h = open_in(tmp.path());
    assert_eq!(h.latest_failures().unwrap(), None);
    run(
        &h,
        "r1",
        true,
        &[
            result("a", Status::Fail, 1),
            result("b", Status::Pass, 1),
            attempt("c", Status::Fail, 1, 1),
            attempt("c", Status::Flaky, 1, 2),
            result("d", Status::Timeout, 1),
            result("e", Status::Oom, 1),
            result("f", Status::Error, 1),
            result("g", Status::Leak, 1),
            result("h", Status::Skip, 1),
        ],
    );
    assert_eq!(
        h.latest_failures().unwrap().unwrap(),
        ["a", "d", "e", "f", "g"]
    );
    // A later run, even an interrupted one, replaces the results of the tests it ran.
    run(&h, "r2", false, &[result("b", Status::Fail, 1)]);
    assert_eq!(
        h.latest_failures().unwrap().unwrap(),
        ["a", "b", "d", "e", "f", "g"]
    );
    // A partial run (`-k a`) leaves the others' failures standing.
    run(&h, "r3", true, &[result("a", Status::Pass, 1)]);
    assert_eq!(
        h.latest_failures().unwrap().unwrap(),
        ["b", "d", "e", "f", "g"]
    );
    run(
        &h,
        "r4",
        true,
        &[
            attempt("b", Status::Fail, 1, 1),
            attempt("b", Status::Flaky, 1, 2),
        ],
    );
    assert_eq!(h.latest_failures().unwrap().unwrap(), ["d", "e", "f", "g"]);
}

#[test]
fn a_resumed_run_counts_with_the_runs_it_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let h = open_in(tmp.path());
    run(
        &h,
        "r1",
        false,
        &[result("a", Status::Fail, 1), result("b", Status::Fail, 1)],
    );
    h.begin_run("r2", Some("r1")).unwrap();
    h.record("r2", &result("c", Status::Timeout, 1)).unwrap();
    h.finish_run("r2", false, 130).unwrap();
    h.begin_run("r3", Some("r2")).unwrap();
    // b was running when r1 stopped, so r3 ran it again.
    h.record("r3", &result("b", Status::Pass, 1)).unwrap();
    h.record("r3", &result("d", Status::Pass, 1)).unwrap();
    h.finish_run("r3", true, 1).unwrap();
    assert_eq!(h.latest_failures().unwrap().unwrap(), ["a", "c"]);
}

#[test]
fn stats_count_runs_by_their_final_attempt() {
    let tmp = tempfile::tempdir().unwrap();
    let h = open_in(tmp.path());
    run(&h, "r1", true, &[result("a", Status::Pass, 100)]);
    run(
        &h,
        "r2",
        true,
        &[
            attempt("a", Status::Fail, 900, 1),
            attempt("a", Status::Flaky, 200, 2),
        ],
    );
    run(&h, "r3", true, &[result("a", Status::Timeout, 300)]);
    run(&h, "r4", true, &[result("a", Status::Skip, 0)]);
    run(&h, "r5", true, &[result("a", Status::Error, 0)]);
    run(&h, "r6", true, &[result("s", Status::Skip, 0)]);
    let st = h.stats(&["a", "s", "none"]).unwrap();
    assert_eq!(st.len(), 2);
    assert_eq!(
        st["a"],
        TestStats {
            runs: 5,
            passed: 2,
            failed: 2,
            skipped: 1,
            flaky: 1,
            pass_rate: Some(0.5),
            // pass 100, flaky 200, timeout 300, skip 0; the error is left out.
            mean_duration_ms: Some(150),
        }
    );
    assert_eq!(st["s"].pass_rate, None);
    assert_eq!(st["s"].runs, 1);
}

#[test]
fn recent_statuses_are_final_attempts_of_the_newest_runs_up_to_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let h = open_in(tmp.path());
    let at = |s: u64| std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s);
    let record = |run: &str, s: u64, r: TestResult| {
        h.begin_run(run, None).unwrap();
        h.record_at(run, &r, at(s)).unwrap();
    };
    record("r1", 10, result("a", Status::Pass, 5));
    record("r2", 20, attempt("a", Status::Fail, 5, 1));
    record("r2", 21, attempt("a", Status::Flaky, 5, 2));
    record("r3", 30, result("a", Status::Timeout, 5));
    record("r3", 30, result("b", Status::Pass, 5));
    record("r4", 40, result("a", Status::Pass, 5));
    let until = |s: u64| clock::rfc3339_utc_millis(at(s));
    let got = h
        .recent_statuses(&["a", "b", "none"], 3, &until(35))
        .unwrap();
    assert_eq!(
        got["a"],
        [Status::Pass, Status::Flaky, Status::Timeout],
        "oldest first, one per run, the run after `until` left out"
    );
    assert_eq!(got["b"], [Status::Pass]);
    assert!(!got.contains_key("none"));
    let all = h.recent_statuses(&["a"], 10, &until(99)).unwrap();
    assert_eq!(
        all["a"],
        [Status::Pass, Status::Flaky, Status::Timeout, Status::Pass]
    );
    assert!(h.recent_statuses(&["a"], 10, &until(5)).unwrap().is_empty());
}

#[test]
fn prune_with_no_more_runs_than_kept_removes_nothing_and_one_more_prunes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = open_in(tmp.path());
    for id in ["20250001", "20250002", "20250003"] {
        run(&h, id, true, &[result("a", Status::Pass, 5)]);
    }
    assert_eq!(h.prune(3).unwrap(), 0);
    assert_eq!(h.stats(&["a"]).unwrap()["a"].runs, 3);
    assert_eq!(h.prune(2).unwrap(), 1);
    assert_eq!(h.stats(&["a"]).unwrap()["a"].runs, 2);
}

#[test]
fn prune_keeps_the_newest_runs_of_each_test() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = open_in(tmp.path());
    for i in 0..60u64 {
        let id = format!("2025{i:04}");
        let mut rs = vec![
            attempt("a", Status::Fail, 1000 + i, 1),
            attempt("a", Status::Flaky, 1000 + i, 2),
        ];
        if i >= 57 {
            rs.push(result("b", Status::Pass, 5));
        }
        run(&h, &id, true, &rs);
    }
    // Older runs of `b` only: an old run with a test nobody runs anymore.
    run(&h, "1999", true, &[result("gone", Status::Pass, 5)]);
    let removed = h.prune(50).unwrap();
    assert_eq!(removed, 20, "10 runs of a, 2 attempts each");
    let st = h.stats(&["a", "b", "gone"]).unwrap();
    assert_eq!(st["a"].runs, 50);
    assert_eq!(st["b"].runs, 3);
    assert_eq!(st["gone"].runs, 1, "each test keeps its own newest runs");
    let oldest_a: String = h
        .conn
        .query_row(
            "SELECT MIN(run_id) FROM results WHERE test_id = 'a'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(oldest_a, "20250010");
    let runs: i64 = h
        .conn
        .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        runs, 51,
        "runs without results beyond the newest 50 are forgotten"
    );
    assert_eq!(h.prune(50).unwrap(), 0, "pruning again removes nothing");
    assert_eq!(
        h.expected_durations(&["a"]).unwrap()["a"],
        // The last 5 attempts: 1059, 1059, 1058, 1058, 1057.
        Duration::from_millis(1058),
        "newest results survive"
    );
}

#[test]
fn export_and_import_carry_durations_to_another_machine() {
    let tmp = tempfile::tempdir().unwrap();
    let src = History::open(&tmp.path().join("src.db")).unwrap();
    run(
        &src,
        "r1",
        true,
        &[result("b", Status::Pass, 20), result("a", Status::Pass, 10)],
    );
    let file = tmp.path().join("durations.jsonl");
    assert_eq!(src.export(&file).unwrap(), 2);
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "{\"id\":\"a\",\"duration_ms\":10}\n{\"id\":\"b\",\"duration_ms\":20}\n"
    );

    let mut dst = History::open(&tmp.path().join("dst.db")).unwrap();
    run(&dst, "r9", true, &[result("b", Status::Pass, 99)]);
    assert_eq!(dst.import(&file).unwrap(), 2);
    let d = dst.expected_durations(&["a", "b"]).unwrap();
    assert_eq!(d["a"], Duration::from_millis(10), "imported");
    assert_eq!(d["b"], Duration::from_millis(99), "local results win");
    // Re-importing replaces, and an export includes imported tests.
    fs::write(&file, "{\"id\":\"a\",\"duration_ms\":15}\n\n").unwrap();
    assert_eq!(dst.import(&file).unwrap(), 1);
    assert_eq!(
        dst.expected_durations(&["a"]).unwrap()["a"],
        Duration::from_millis(15)
    );
    let again = tmp.path().join("again.jsonl");
    assert_eq!(dst.export(&again).unwrap(), 2);
    assert!(fs::read_to_string(&again)
        .unwrap()
        .contains("\"a\",\"duration_ms\":15"));
}

#[test]
fn a_bad_import_line_imports_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = open_in(tmp.path());
    let file = tmp.path().join("d.jsonl");
    fs::write(
        &file,
        "{\"id\":\"a\",\"duration_ms\":10}\n{\"id\":\"b\",\"duration_ms\":-3}\n",
    )
    .unwrap();
    let err = h.import(&file).unwrap_err();
    assert!(matches!(err, HistoryError::Parse { line: 2, .. }), "{err}");
    assert!(err
        .to_string()
        .starts_with(&format!("{}:2: ", file.display())));
    assert!(h.expected_durations(&["a"]).unwrap().is_empty());
    let missing = h.import(&tmp.path().join("nope")).unwrap_err();
    assert!(matches!(missing, HistoryError::Io { .. }), "{missing}");
}

#[test]
fn a_file_that_is_not_a_database_is_a_clean_error() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("history.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 13) as u8).collect();
    fs::write(&path, &garbage).unwrap();
    let err = History::open(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, HistoryError::Open { .. }), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("not a database"), "{msg}");
    assert!(!err.is_busy());
    // Nothing was overwritten: the user may want to look at it.
    assert_eq!(fs::read(&path).unwrap(), garbage);
}

#[test]
fn damaged_pages_give_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("history.db");
    let mut h = History::open(&path).unwrap();
    for i in 0..200 {
        run(
            &h,
            &format!("r{i:03}"),
            true,
            &[result(&format!("t{i}"), Status::Fail, 5)],
        );
    }
    drop(h);
    // Merge the WAL into the main file, then overwrite everything after the first page.
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
        .unwrap();
    let mut bytes = fs::read(&path).unwrap();
    assert!(bytes.len() > 8192);
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i * 31) as u8;
    }
    fs::write(&path, &bytes).unwrap();
    let mut failures = 0;
    match History::open(&path) {
        Err(_) => failures += 1,
        Ok(h2) => {
            h = h2;
            failures += usize::from(h.expected_durations(&["t1"]).is_err());
            failures += usize::from(h.latest_failures().is_err());
            failures += usize::from(h.stats(&["t1"]).is_err());
            failures += usize::from(h.record("r", &result("x", Status::Pass, 1)).is_err());
            failures += usize::from(h.prune(1).is_err());
        }
    }
    assert!(failures > 0, "a damaged database went unnoticed");
}

#[test]
fn a_database_from_a_newer_warden_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("history.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let err = History::open(&path).unwrap_err();
    assert!(
        matches!(err, HistoryError::TooNew { found: 99, .. }),
        "{err}"
    );
}

#[test]
fn a_path_under_a_regular_file_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("file"), "x").unwrap();
    let err = History::open(&tmp.path().join("file").join("history.db")).unwrap_err();
    assert!(matches!(err, HistoryError::Io { .. }), "{err}");
}

/// Another warden holding the write lock longer than the busy timeout: `record` fails with a
/// busy error after about the timeout, and works once the lock is gone. Reading and opening
/// need no write lock, so they go on.
#[test]
fn a_held_write_lock_is_a_busy_error_after_the_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("history.db");
    let h = History::open_with_timeout(&path, Duration::from_millis(300)).unwrap();
    run(&h, "r1", true, &[result("a", Status::Fail, 5)]);
    let other = Connection::open(&path).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO runs (id, started) VALUES ('x', 'now');")
        .unwrap();

    let start = Instant::now();
    let err = h.record("r1", &result("b", Status::Pass, 1)).unwrap_err();
    let waited = start.elapsed();
    assert!(err.is_busy(), "{err}");
    assert!(err.to_string().contains("database is locked"), "{err}");
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");

    let reopened = History::open_with_timeout(&path, Duration::from_millis(300)).unwrap();
    assert_eq!(reopened.expected_durations(&["a"]).unwrap().len(), 1);
    assert_eq!(
        reopened.latest_failures().unwrap(),
        Some(vec!["a".to_string()])
    );

    other.execute_batch("ROLLBACK;").unwrap();
    h.record("r1", &result("b", Status::Pass, 1)).unwrap();
    assert_eq!(h.expected_durations(&["b"]).unwrap().len(), 1);
}

/// A lock released within the busy timeout is waited for.
#[test]
fn a_short_write_lock_is_waited_for() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("history.db");
    let h = History::open_with_timeout(&path, Duration::from_secs(10)).unwrap();
    h.begin_run("r1", None).unwrap();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = {
        let path = path.clone();
        std::thread::spawn(move || {
            let other = Connection::open(&path).unwrap();
            other
                .execute_batch(
                    "BEGIN IMMEDIATE; INSERT INTO runs (id, started) VALUES ('x', 'now');",
                )
                .unwrap();
            locked_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(400));
            other.execute_batch("COMMIT;").unwrap();
        })
    };
    locked_rx.recv().unwrap();
    let start = Instant::now();
    h.record("r1", &result("a", Status::Pass, 1)).unwrap();
    let waited = start.elapsed();
    holder.join().unwrap();
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert_eq!(h.expected_durations(&["a"]).unwrap().len(), 1);
}

/// Per-record cost of `record` and of the read queries (run with `--ignored --nocapture`).
#[test]
#[ignore = "measurement"]
fn measure_record_cost() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = open_in(tmp.path());
    let ids: Vec<String> = (0..500)
        .map(|i| format!("test/unit/t{i}_test.sh"))
        .collect();
    for r in 0..60 {
        let run_id = format!("2025{r:04}");
        h.begin_run(&run_id, None).unwrap();
        let start = Instant::now();
        for id in &ids {
            h.record(&run_id, &result(id, Status::Pass, 123)).unwrap();
        }
        let per = start.elapsed() / ids.len() as u32;
        h.finish_run(&run_id, true, 0).unwrap();
        if r == 0 || r == 59 {
            eprintln!("history record (run {r}): {per:?} per record");
            assert!(per < Duration::from_millis(1));
        }
    }
    let t = Instant::now();
    let d = h.expected_durations(&ids).unwrap();
    eprintln!("expected_durations of {}: {:?}", d.len(), t.elapsed());
    let t = Instant::now();
    let s = h.stats(&ids).unwrap();
    eprintln!("stats of {}: {:?}", s.len(), t.elapsed());
    let t = Instant::now();
    h.latest_failures().unwrap();
    eprintln!("latest_failures: {:?}", t.elapsed());
    let t = Instant::now();
    let removed = h.prune(50).unwrap();
    eprintln!("prune of 30000 rows removing {removed}: {:?}", t.elapsed());
    eprintln!(
        "db size: {} KiB",
        fs::metadata(h.path()).unwrap().len() / 1024
    );
}
