use super::*;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Instant;

fn fingerprint(tests: &[&str]) -> Fingerprint {
    Fingerprint {
        tests: tests.iter().map(|t| t.to_string()).collect(),
        config_hash: fingerprint_hash(b"[run]\ntimeout = \"60s\"\n"),
        options: [("timeout", "60s"), ("retries", "0")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn header(run_id: &str) -> Header {
    Header::new(run_id, None, fingerprint(&["t/a_test.sh", "t/b_test.sh"]))
}

/// A result with every field set, different per `n`, so a field lost or swapped on the way
/// through the journal shows up as a difference.
fn full_result(n: u32) -> TestResult {
    TestResult {
        id: format!("test/unit/t{n}_test.sh"),
        status: [Status::Pass, Status::Fail, Status::Timeout, Status::Leak][n as usize % 4],
        attempt: n % 3 + 1,
        worker: n as usize % 7,
        duration: Duration::from_millis(1000 + u64::from(n)),
        exit_code: Some(n as i32),
        signal: (n % 2 == 1).then(|| "SIGKILL".to_string()),
        subtests: Some(Subtests {
            passed: n,
            failed: n + 1,
            skipped: n + 2,
            cases: Vec::new(),
        }),
        peak_rss_bytes: Some(1 << 20 | u64::from(n)),
        cpu_ms: Some(u64::from(n) * 3),
        leaked: vec![Leak {
            pid: 4000 + n as i32,
            cmd: format!("sleep {n}"),
        }],
        log: Some(PathBuf::from(format!(".warden/runs/r/logs/t{n}.log"))),
        output: CapturedOutput {
            head: format!("head {n}\n\"quoted\" \\ tab\t").into_bytes(),
            tail: format!("tail {n}\n").into_bytes(),
            total_bytes: 10_000 + u64::from(n),
        },
        message: Some(format!("message {n}")),
        carried_over: false,
        coverage_dir: None,
        net: None,
    }
}

fn minimal_result(id: &str) -> TestResult {
    TestResult {
        id: id.to_string(),
        status: Status::Pass,
        attempt: 1,
        worker: 0,
        duration: Duration::from_millis(5),
        exit_code: Some(0),
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

fn lines_of(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn records_round_trip_with_every_field() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("runs").join("r1");
    let h = header("r1");
    let mut j = Journal::create(&run_dir, &h).unwrap();
    assert_eq!(j.path(), journal_path(&run_dir));
    let written: Vec<TestResult> = (0..6).map(full_result).collect();
    for r in &written {
        j.append(r).unwrap();
    }
    let c = read_journal(j.path()).unwrap();
    assert_eq!(c.header, h);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.records.len(), written.len());
    for (w, r) in written.iter().zip(&c.records) {
        assert_eq!(TestRecord::from(w), TestRecord::from(r));
        assert_eq!(r.duration, w.duration);
        assert_eq!(r.output.head, w.output.head);
        assert_eq!(r.log, w.log);
        assert_eq!(r.leaked, w.leaked);
    }
    assert_eq!(c.finished_ids().len(), 6);
    assert!(c.finished_ids().contains("test/unit/t3_test.sh"));
}

#[test]
fn file_format_is_the_documented_json_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let h = Header::new("r2", Some("r1"), fingerprint(&["t/a_test.sh"]));
    let mut j = Journal::create(tmp.path(), &h).unwrap();
    j.append(&full_result(1)).unwrap();
    let text = fs::read_to_string(j.path()).unwrap();
    assert!(text.ends_with('\n'));
    let lines = lines_of(j.path());
    assert_eq!(lines.len(), 2);
    let hv: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(hv["kind"], "header");
    assert_eq!(hv["warden_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(hv["run_id"], "r2");
    assert_eq!(hv["resumed_from"], "r1");
    assert_eq!(
        hv["fingerprint"]["tests"],
        serde_json::json!(["t/a_test.sh"])
    );
    assert_eq!(hv["fingerprint"]["options"]["timeout"], "60s");
    assert_eq!(hv["fingerprint"]["config_hash"].as_str().unwrap().len(), 16);
    let created = hv["created"].as_str().unwrap();
    assert_eq!(created.len(), "2023-11-14T22:13:20.123Z".len());
    assert!(created.ends_with('Z') && created.as_bytes()[10] == b'T');

    let tv: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(tv["kind"], "test");
    assert_eq!(tv["id"], "test/unit/t1_test.sh");
    assert_eq!(tv["status"], "fail");
    assert_eq!(tv["duration_ms"], 1001);
    assert_eq!(tv["signal"], "SIGKILL");
    assert_eq!(tv["subtests"]["failed"], 2);
    assert_eq!(tv["leaked"][0]["cmd"], "sleep 1");
    assert_eq!(tv["head"], "head 1\n\"quoted\" \\ tab\t");
    assert_eq!(tv["total_bytes"], 10_001);
    // One record per line: the line itself carries no raw newline from the output.
    assert!(!lines[1].contains('\t'));
}

#[test]
fn invalid_utf8_output_becomes_replacement_characters() {
    let tmp = tempfile::tempdir().unwrap();
    let mut j = Journal::create(tmp.path(), &header("r")).unwrap();
    let mut r = minimal_result("t/x_test.sh");
    r.output.head = b"ok \xff\xfe end".to_vec();
    r.output.tail = vec![0x80];
    j.append(&r).unwrap();
    let back = &read_journal(j.path()).unwrap().records[0];
    assert_eq!(
        String::from_utf8(back.output.head.clone()).unwrap(),
        "ok \u{fffd}\u{fffd} end"
    );
    assert_eq!(back.output.tail, "\u{fffd}".as_bytes());
}

#[test]
fn carried_records_come_before_new_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let old: Vec<TestResult> = (0..3).map(full_result).collect();
    let h = Header::new("r2", Some("r1"), fingerprint(&[]));
    let mut j = Journal::create_with_records(tmp.path(), &h, &old).unwrap();
    j.append(&minimal_result("t/new_test.sh")).unwrap();
    let c = read_journal(j.path()).unwrap();
    assert_eq!(c.header.resumed_from.as_deref(), Some("r1"));
    let ids: Vec<&str> = c.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "test/unit/t0_test.sh",
            "test/unit/t1_test.sh",
            "test/unit/t2_test.sh",
            "t/new_test.sh"
        ]
    );
    assert!(!tmp.path().join(JOURNAL_TMP).exists());
}

/// Cut the file at every byte after the header: the reader must return the records whose
/// line is complete, warn about at most the one cut line, and never fail.
#[test]
fn a_cut_at_any_byte_loses_only_the_torn_record() {
    let tmp = tempfile::tempdir().unwrap();
    let mut j = Journal::create(tmp.path(), &header("r")).unwrap();
    for n in 0..3 {
        j.append(&full_result(n)).unwrap();
    }
    let full = fs::read(j.path()).unwrap();
    let header_len = full.iter().position(|&b| b == b'\n').unwrap() + 1;
    let ends: Vec<usize> = full
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    let cut_path = tmp.path().join("cut.jsonl");
    for cut in header_len..=full.len() {
        fs::write(&cut_path, &full[..cut]).unwrap();
        let c = read_journal(&cut_path).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let complete = ends.iter().filter(|&&e| e <= cut).count() - 1;
        assert_eq!(c.records.len(), complete, "cut at {cut}");
        let torn = !ends.contains(&cut);
        assert_eq!(
            c.warnings.len(),
            usize::from(torn),
            "cut at {cut}: {:?}",
            c.warnings
        );
        if torn {
            assert!(c.warnings[0].contains("incomplete last record"));
        }
    }
}

#[test]
fn unparsable_final_line_is_ignored_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let mut j = Journal::create(tmp.path(), &header("r")).unwrap();
    j.append(&minimal_result("t/a_test.sh")).unwrap();
    let mut f = OpenOptions::new().append(true).open(j.path()).unwrap();
    f.write_all(b"{\"kind\":\"test\",\"id\":\n").unwrap();
    let c = read_journal(j.path()).unwrap();
    assert_eq!(c.records.len(), 1);
    assert_eq!(c.warnings.len(), 1);
    assert!(
        c.warnings[0].contains(":3: unreadable last record"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn garbage_before_the_end_is_corrupt_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let mut j = Journal::create(tmp.path(), &header("r")).unwrap();
    j.append(&minimal_result("t/a_test.sh")).unwrap();
    let mut f = OpenOptions::new().append(true).open(j.path()).unwrap();
    f.write_all(b"\x00\xffnot json\n").unwrap();
    j.append(&minimal_result("t/b_test.sh")).unwrap();
    match read_journal(j.path()) {
        Err(JournalError::Corrupt { line, path, reason }) => {
            assert_eq!(line, 3);
            assert_eq!(path, j.path());
            assert!(reason.starts_with("bad record"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn header_problems_are_corrupt_at_line_one() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join(JOURNAL_FILE);
    let test_line = {
        let mut b = Vec::new();
        push_line(
            &mut b,
            &LineOut::Test(&TestRecord::from(&minimal_result("a"))),
        )
        .unwrap();
        b
    };
    let header_line = {
        let mut b = Vec::new();
        push_line(&mut b, &LineOut::Header(&header("r"))).unwrap();
        b
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "no header"),
        (
            "torn header",
            header_line[..20].to_vec(),
            "header line is incomplete",
        ),
        ("garbage", b"PK\x03\x04 zip?\n".to_vec(), "bad header"),
        ("test first", test_line.clone(), "expected a header"),
        (
            "header missing a field",
            b"{\"kind\":\"header\",\"run_id\":\"r\"}\n".to_vec(),
            "bad header",
        ),
        (
            "two headers",
            [header_line.clone(), header_line.clone(), test_line].concat(),
            "a second header",
        ),
    ];
    for (name, bytes, want) in cases {
        fs::write(&p, &bytes).unwrap();
        match read_journal(&p) {
            Err(e @ JournalError::Corrupt { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(want), "{name}: {msg}");
                let line = if name == "two headers" { 2 } else { 1 };
                assert!(msg.contains(&format!("at line {line}:")), "{name}: {msg}");
            }
            other => panic!("{name}: expected Corrupt, got {other:?}"),
        }
    }
}

#[test]
fn unknown_kinds_and_blank_lines_are_skipped_with_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let mut j = Journal::create(tmp.path(), &header("r")).unwrap();
    let mut f = OpenOptions::new().append(true).open(j.path()).unwrap();
    f.write_all(b"{\"kind\":\"guard\",\"action\":\"throttle\"}\n\n")
        .unwrap();
    j.append(&minimal_result("t/a_test.sh")).unwrap();
    let c = read_journal(j.path()).unwrap();
    assert_eq!(c.records.len(), 1);
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(c.warnings[0].contains("unknown record kind `guard`"));
    assert!(c.warnings[1].contains(":3: empty line"));
}

#[test]
fn a_missing_journal_is_a_read_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = read_journal(&tmp.path().join("nope.jsonl")).unwrap_err();
    assert!(matches!(err, JournalError::Read { .. }));
    assert!(err.to_string().starts_with("cannot read journal "));
}

#[test]
fn compare_says_what_differs() {
    let old = fingerprint(&["a", "b", "c"]);
    assert!(old.compare(&old.clone()).is_empty());

    let mut reordered = old.clone();
    reordered.tests.reverse();
    assert!(
        old.compare(&reordered).is_empty(),
        "order alone is no difference"
    );

    let mut new = fingerprint(&["a", "c", "d", "e", "f"]);
    // Execution options (older journals keep some here) override on resume: no difference.
    new.options.insert("timeout".into(), "120s".into());
    new.options.remove("retries");
    new.options.insert("leak".into(), "fail".into());
    new.options.insert("only_skipped".into(), "true".into());
    new.config_hash = fingerprint_hash(b"other");
    assert_eq!(
        old.compare(&new),
        [
            "3 tests added: d, e, f",
            "1 test removed: b",
            "option only_skipped: (unset) → true",
            "config changed",
        ]
    );
}

#[test]
fn compare_summarises_long_lists() {
    let old = fingerprint(&[]);
    let ids: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let new = fingerprint(&refs);
    assert_eq!(
        old.compare(&new),
        ["8 tests added: t0, t1, t2, t3, t4 and 3 more"]
    );
    assert_eq!(
        new.compare(&old),
        ["8 tests removed: t0, t1, t2, t3, t4 and 3 more"]
    );
}

#[test]
fn fingerprint_hash_is_fnv1a_64() {
    // Published FNV-1a 64 test vectors.
    assert_eq!(fingerprint_hash(b""), "cbf29ce484222325");
    assert_eq!(fingerprint_hash(b"a"), "af63dc4c8601ec8c");
    assert_eq!(fingerprint_hash(b"foobar"), "85944171f73967e8");
    assert_ne!(fingerprint_hash(b"x = 1\n"), fingerprint_hash(b"x = 2\n"));
}

#[test]
fn resumable_is_the_newest_run_with_a_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path();
    assert_eq!(find_resumable(state), None, "no runs dir");
    let run = |id: &str| state.join("runs").join(id);
    for id in [
        "20250101T000000Z-aaaaaa",
        "20250102T000000Z-ffffff",
        "20250103T000000Z-000000",
    ] {
        Journal::create(&run(id), &header(id)).unwrap();
    }
    // The newest run completed: nothing of it to resume.
    complete(&run("20250103T000000Z-000000")).unwrap();
    assert!(!journal_path(&run("20250103T000000Z-000000")).exists());
    // A newer run dir without a journal (e.g. `warden list` never makes one) does not count.
    fs::create_dir_all(run("20250104T000000Z-123456").join("logs")).unwrap();
    assert_eq!(find_resumable(state), Some(run("20250102T000000Z-ffffff")));
    complete(&run("20250102T000000Z-ffffff")).unwrap();
    complete(&run("20250102T000000Z-ffffff")).unwrap(); // twice is fine
    assert_eq!(find_resumable(state), Some(run("20250101T000000Z-aaaaaa")));
    complete(&run("20250101T000000Z-aaaaaa")).unwrap();
    assert_eq!(find_resumable(state), None);
}

#[test]
fn runs_of_the_same_second_are_ordered_by_journal_time() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |id: &str| tmp.path().join("runs").join(id);
    // The later run has the smaller random suffix.
    Journal::create(&run("20250101T000000Z-ffffff"), &header("a")).unwrap();
    let later = run("20250101T000000Z-000000");
    let mut j = Journal::create(&later, &header("b")).unwrap();
    let old = SystemTime::now() - Duration::from_secs(60);
    File::options()
        .write(true)
        .open(journal_path(&run("20250101T000000Z-ffffff")))
        .unwrap()
        .set_modified(old)
        .unwrap();
    j.append(&minimal_result("t")).unwrap();
    assert_eq!(find_resumable(tmp.path()), Some(later));
}

/// Run one `#[ignore]`d helper test of this module in a child copy of the test binary.
fn run_child(test: &str, dir: &Path) -> std::process::ExitStatus {
    let exe = std::env::current_exe().unwrap();
    Command::new(exe)
        .args([
            &format!("state::journal::tests::{test}"),
            "--exact",
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD_DIR_ENV, dir)
        .env_remove("WARDEN_RUN_ID")
        .status()
        .unwrap()
}

const CHILD_DIR_ENV: &str = "WARDEN_JOURNAL_TEST_DIR";
const KILLED_AFTER: u32 = 200;

/// A warden killed with SIGKILL right after `append` returned loses no record: nothing is held
/// in a user-space buffer.
#[test]
fn sigkill_after_append_loses_no_record() {
    let tmp = tempfile::tempdir().unwrap();
    let status = run_child("child_appends_then_sigkills_itself", tmp.path());
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    let c = read_journal(&journal_path(tmp.path())).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.records.len(), KILLED_AFTER as usize);
    assert_eq!(
        c.records.last().unwrap().id,
        format!("test/unit/t{}_test.sh", KILLED_AFTER - 1)
    );
}

#[test]
#[ignore = "helper: run in a child process by sigkill_after_append_loses_no_record"]
fn child_appends_then_sigkills_itself() {
    // Only meaningful as the child of its parent test (`--ignored` alone runs it bare).
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV).map(PathBuf::from) else {
        return;
    };
    let mut j = Journal::create(&dir, &header("r")).unwrap();
    for n in 0..KILLED_AFTER {
        j.append(&full_result(n)).unwrap();
    }
    // No drop, no flush, no exit handlers.
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL).unwrap();
    unreachable!("SIGKILL cannot be caught");
}

/// A write cut short by a file size limit (as by a full disk) fails cleanly and leaves no torn
/// line for later records to follow: the journal stays readable and complete.
#[test]
fn a_short_write_is_cut_back_and_later_records_stay_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let status = run_child("child_writes_past_a_file_size_limit", tmp.path());
    assert!(status.success(), "{status:?}");
    let c = read_journal(&journal_path(tmp.path())).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let ids: Vec<&str> = c.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["t/before_test.sh", "t/after_test.sh"]);
}

#[test]
#[ignore = "helper: run in a child process by a_short_write_is_cut_back_and_later_records_stay_readable"]
fn child_writes_past_a_file_size_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    use nix::sys::signal::{signal, SigHandler, Signal};
    // Only meaningful as the child of its parent test (`--ignored` alone runs it bare).
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV).map(PathBuf::from) else {
        return;
    };
    let mut j = Journal::create(&dir, &header("r")).unwrap();
    j.append(&minimal_result("t/before_test.sh")).unwrap();
    let size = fs::metadata(j.path()).unwrap().len();
    let (soft, hard) = getrlimit(Resource::RLIMIT_FSIZE).unwrap();
    // SAFETY: ignoring SIGXFSZ installs no handler code; the write then fails with EFBIG.
    unsafe { signal(Signal::SIGXFSZ, SigHandler::SigIgn) }.unwrap();
    setrlimit(Resource::RLIMIT_FSIZE, size + 100, hard).unwrap();
    let mut big = minimal_result("t/big_test.sh");
    big.output.tail = vec![b'x'; 10_000];
    let err = j.append(&big).unwrap_err();
    assert!(matches!(err, JournalError::Write { .. }), "{err}");
    assert_eq!(
        fs::metadata(j.path()).unwrap().len(),
        size,
        "torn part cut off"
    );
    setrlimit(Resource::RLIMIT_FSIZE, soft, hard).unwrap();
    j.append(&minimal_result("t/after_test.sh")).unwrap();
}

/// Per-record cost of `append` (run with `--ignored --nocapture` to see the numbers).
#[test]
#[ignore = "measurement"]
fn measure_append_cost() {
    let tmp = tempfile::tempdir().unwrap();
    let mut j = Journal::create(tmp.path(), &header("r")).unwrap();
    let results: Vec<TestResult> = (0..500).map(full_result).collect();
    let mut typical = minimal_result("t/x_test.sh");
    typical.output.head = vec![b'h'; 4096];
    typical.output.tail = vec![b't'; 4096];
    for (name, rs) in [("full", results), ("4 KiB head+tail", vec![typical; 500])] {
        let start = Instant::now();
        for r in &rs {
            j.append(r).unwrap();
        }
        let per = start.elapsed() / rs.len() as u32;
        eprintln!("journal append ({name}): {per:?} per record");
        assert!(per < Duration::from_millis(1));
    }
    let start = Instant::now();
    let c = read_journal(j.path()).unwrap();
    eprintln!(
        "read_journal of {} records: {:?}",
        c.records.len(),
        start.elapsed()
    );
}
