//! `--resume` alone continues the interrupted run (issue 10, section 1; SPEC §7): the
//! checkpoint keeps the whole invocation, the "continue with" hint of exits 129, 130 and 143
//! works exactly as printed (run here through `sh -c`), from any directory of the project;
//! execution options beside `--resume` override with a note, selection options are exit 43
//! with the diff unless `--resume=force`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// 8 tests of 0.4 s under `test/unit`, one under `test/other`; each appends its id to
/// `ran.txt` when it starts.
fn project() -> Sandbox {
    let sb = Sandbox::new();
    for i in 1..=8 {
        sb.write_executable(
            &format!("test/unit/t{i}_test.sh"),
            "#!/bin/sh\necho \"$WARDEN_TEST_ID\" >> \"$RAN\"\nsleep 0.4\n",
        );
    }
    sb.write_executable("test/other/o_test.sh", "#!/bin/sh\n");
    sb
}

fn ran(sb: &Sandbox) -> Vec<String> {
    let mut ids: Vec<String> = sb
        .read("ran.txt")
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    ids.sort();
    ids
}

fn warden(sb: &Sandbox, cwd: &Path) -> Warden {
    Warden::new(cwd)
        .env("WARDEN_REGISTRY_DIR", sb.path().join("registry"))
        .env("RAN", sb.path().join("ran.txt"))
}

/// Start `args` in `cwd`, send `signal` once `finished` tests have finished (by `json`), and
/// return what warden printed.
fn interrupt(sb: &Sandbox, cwd: &Path, args: &[&str], json: &str, signal: i32) -> Outcome {
    let running = warden(sb, cwd).args(args).spawn().expect("start warden");
    let start = Instant::now();
    while sb
        .read(json)
        .map(|t| t.matches("\"test-finished\"").count() < 2)
        .unwrap_or(true)
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no test finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    running.signal(signal);
    running.wait().expect("warden ends")
}

/// The command in ``continue with `...` `` on stderr.
fn hint(out: &Outcome) -> String {
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("continue with `"))
        .unwrap_or_else(|| panic!("no hint\n{}", out.describe()));
    line.split('`').nth(1).unwrap().to_string()
}

/// Run `command` verbatim through `sh -c` in `cwd`, as a user pasting it would; its output.
fn run_verbatim(sb: &Sandbox, cwd: &Path, command: &str) -> (Option<i32>, String) {
    let envs = [
        ("WARDEN_REGISTRY_DIR", sb.path().join("registry").into()),
        ("RAN", sb.path().join("ran.txt").into()),
    ];
    let out = sh(cwd, command, sb.path(), &envs, Duration::from_secs(60));
    (out.code, format!("{}{}", out.stdout, out.stderr))
}

fn events(sb: &Sandbox, file: &str) -> Vec<Value> {
    parse_json_lines(&sb.read(file).unwrap()).unwrap()
}

/// SIGINT, SIGTERM, SIGHUP: the printed hint, run verbatim in the same directory, completes
/// the run: every test passed once in all, nothing rerun, the guard and grace kept.
#[test]
fn the_hint_of_each_signal_works_verbatim() {
    for (signal, code) in [
        (libc::SIGINT, 130),
        (libc::SIGTERM, 143),
        (libc::SIGHUP, 129),
    ] {
        let sb = project();
        let out = interrupt(
            &sb,
            sb.path(),
            &[
                "test",
                "--self-protect",
                "--grace",
                "1s",
                "-j2",
                "test/unit/",
                "--json",
                "first.jsonl",
            ],
            "first.jsonl",
            signal,
        );
        assert_eq!(out.code, Some(code), "{}", out.describe());
        let command = hint(&out);
        assert!(command.ends_with(" test --resume"), "{command}");
        let finished_first = of_type(&events(&sb, "first.jsonl"), "test-finished").len();
        let (code, text) = run_verbatim(&sb, sb.path(), &command);
        assert_eq!(code, Some(0), "`{command}`:\n{text}");
        assert!(text.contains("8 passed, 0 failed, 0 skipped"), "{text}");
        assert!(
            text.contains(&format!("{finished_first} results carried over")),
            "{text}"
        );
        // Nothing ran twice: a test interrupted mid-way ran again, the finished ones not.
        let ids = ran(&sb);
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(unique.len(), 8, "{ids:?}");
        assert!(ids.len() <= 8 + 2, "{ids:?}");
        assert!(
            procs_with_env(&format!("{MARK_VAR}={}", sb.path().display())).is_empty(),
            "left behind"
        );
    }
}

/// From a subdirectory of a project without `warden.toml`, and with `--state-dir` and
/// `--config` named on the command line: the hint names them and works from where it was
/// printed; `warden test --resume` from a subdirectory finds the checkpoint too, with the
/// same test ids.
#[test]
fn resume_from_anywhere_in_the_project() {
    let sb = project();
    let out = interrupt(
        &sb,
        sb.path(),
        &["test", "-j2", "test/unit/", "--json", "first.jsonl"],
        "first.jsonl",
        libc::SIGTERM,
    );
    assert_eq!(out.code, Some(143), "{}", out.describe());
    let sub = sb.path().join("test/unit");
    let resumed = warden(&sb, &sub)
        .args(["test", "--resume", "--json", "../../second.jsonl"])
        .run();
    assert_eq!(resumed.code, Some(0), "{}", resumed.describe());
    let ev = events(&sb, "second.jsonl");
    let ids: Vec<String> = statuses(&ev).unwrap().into_keys().collect();
    assert_eq!(ids.len(), 8);
    assert!(ids.iter().all(|id| id.starts_with("test/unit/")), "{ids:?}");

    // Named state dir and config: the hint carries both.
    let sb = project();
    sb.write("conf/ci.toml", "[run]\nmax_workers = 2\n");
    let out = interrupt(
        &sb,
        sb.path(),
        &[
            "run",
            "--state-dir",
            "my state",
            "--config",
            "conf/ci.toml",
            "--json",
            "first.jsonl",
        ],
        "first.jsonl",
        libc::SIGINT,
    );
    assert_eq!(out.code, Some(130), "{}", out.describe());
    let command = hint(&out);
    assert!(
        command.contains(" run --resume --state-dir '") && command.contains(" --config "),
        "{command}"
    );
    let (code, text) = run_verbatim(&sb, &sb.path().join("test"), &command);
    assert_eq!(code, Some(0), "`{command}`:\n{text}");
    assert!(text.contains("9 passed, 0 failed, 0 skipped"), "{text}");
}

/// Execution options beside `--resume` override the saved ones, each named in one note;
/// selection options that differ are exit 43 with the diff, unless `--resume=force`.
#[test]
fn how_options_override_and_which_options_refuse() {
    let sb = project();
    let out = interrupt(
        &sb,
        sb.path(),
        &[
            "run",
            "--grace",
            "1s",
            "-j1",
            "test/unit",
            "--json",
            "first.jsonl",
        ],
        "first.jsonl",
        libc::SIGTERM,
    );
    assert_eq!(out.code, Some(143), "{}", out.describe());

    let refused = warden(&sb, sb.path())
        .args(["run", "--resume", "-k", "t1"])
        .run();
    assert_eq!(refused.code, Some(43), "{}", refused.describe());
    assert!(
        refused.stderr.contains("-k: (none) → t1") && refused.stderr.contains("--resume=force"),
        "{}",
        refused.describe()
    );
    let refused = warden(&sb, sb.path())
        .args(["run", "--resume", "test"])
        .run();
    assert_eq!(refused.code, Some(43), "{}", refused.describe());
    assert!(
        refused
            .stderr
            .contains("1 test added: test/other/o_test.sh"),
        "{}",
        refused.describe()
    );

    let resumed = warden(&sb, sb.path())
        .args(["run", "--resume", "--grace", "2s", "-j", "3"])
        .args(["--json", "second.jsonl"])
        .run();
    assert_eq!(resumed.code, Some(0), "{}", resumed.describe());
    let notes: Vec<&str> = resumed
        .stderr
        .lines()
        .filter(|l| l.starts_with("resuming with"))
        .collect();
    let first = sb.path().join("first.jsonl");
    let second = sb.path().join("second.jsonl");
    assert_eq!(
        notes,
        [format!(
            "resuming with --grace 2s (was 1s), --json {} (was {}), -j 3 (was 1)",
            second.display(),
            first.display()
        )],
        "{}",
        resumed.describe()
    );
    let ev = events(&sb, "second.jsonl");
    assert_eq!(of_type(&ev, "run-started")[0]["workers"], 3);
    assert_eq!(of_type(&ev, "run-finished")[0]["passed"], 8);
}

/// `--resume=force` with another selection resumes the tests both share.
#[test]
fn force_resumes_the_common_tests() {
    let sb = project();
    let out = interrupt(
        &sb,
        sb.path(),
        &["run", "-j1", "test/unit", "--json", "first.jsonl"],
        "first.jsonl",
        libc::SIGTERM,
    );
    assert_eq!(out.code, Some(143), "{}", out.describe());
    let forced = warden(&sb, sb.path())
        .args(["run", "--resume=force", "-k", "t8", "--json", "f.jsonl"])
        .run();
    assert_eq!(forced.code, Some(0), "{}", forced.describe());
    let ids: Vec<String> = statuses(&events(&sb, "f.jsonl"))
        .unwrap()
        .into_keys()
        .collect();
    assert_eq!(ids, ["test/unit/t8_test.sh"]);
}
