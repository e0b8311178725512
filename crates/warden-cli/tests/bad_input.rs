//! Bad input: each is a usage or configuration error (exit 2) whose message names the culprit,
//! never a panic, and nothing runs (SPEC §2, §3, §5). A suite command that does not exist or a
//! file that cannot be run is different: that test is an ERROR and the run goes on.

mod common;

use std::path::PathBuf;

use common::*;

/// A small project: `tests/probe_test.sh` records that it ran, so "nothing was run" is checked.
struct Project {
    sandbox: Sandbox,
    probe: PathBuf,
}

impl Project {
    fn new() -> Project {
        let sandbox = Sandbox::new();
        sandbox.write_executable(
            "tests/probe_test.sh",
            "#!/bin/sh\n[ -n \"$WARDEN_FIXTURE_PROBE\" ] && touch \"$WARDEN_FIXTURE_PROBE/ran\"\nexit 0\n",
        );
        let probe = sandbox.mkdir("probe");
        Project { sandbox, probe }
    }

    fn with_config(toml: &str) -> Project {
        let project = Project::new();
        project.sandbox.write("warden.toml", toml);
        project
    }

    fn warden<I: IntoIterator<Item = &'static str>>(&self, args: I) -> Outcome {
        Warden::new(self.sandbox.path())
            .args(args)
            .env("WARDEN_FIXTURE_PROBE", &self.probe)
            .run()
    }

    /// Exit 2 naming every culprit, no panic, and the probe test never ran.
    fn assert_usage_error(&self, out: &Outcome, culprits: &[&str]) {
        out.assert_usage_error(culprits);
        assert!(
            !self.probe.join("ran").exists(),
            "a usage error must run nothing, but the test ran\n{}",
            out.describe()
        );
    }
}

#[test]
fn unknown_option() {
    let p = Project::new();
    let out = p.warden(["run", "tests", "--frobnicate"]);
    p.assert_usage_error(&out, &["--frobnicate"]);
}

#[test]
fn unknown_option_of_list() {
    let p = Project::new();
    let out = p.warden(["list", "tests", "--frobnicate"]);
    p.assert_usage_error(&out, &["--frobnicate"]);
}

#[test]
fn bad_duration() {
    let p = Project::new();
    let out = p.warden(["run", "tests", "--timeout", "abc"]);
    p.assert_usage_error(&out, &["--timeout", "abc"]);
}

#[test]
fn bad_grace_duration() {
    let p = Project::new();
    let out = p.warden(["run", "tests", "--grace", "5parsecs"]);
    p.assert_usage_error(&out, &["--grace", "5parsecs"]);
}

#[test]
fn bad_size() {
    let p = Project::new();
    let out = p.warden(["run", "tests", "--test-mem-limit", "12Q"]);
    p.assert_usage_error(&out, &["--test-mem-limit"]);
}

#[test]
fn bad_worker_count() {
    let p = Project::new();
    let out = p.warden(["run", "tests", "--max-workers", "many"]);
    p.assert_usage_error(&out, &["many"]);
}

#[test]
fn bad_color_choice() {
    let p = Project::new();
    let out = p.warden(["run", "tests", "--color", "sometimes"]);
    p.assert_usage_error(&out, &["--color", "sometimes"]);
}

#[test]
fn option_missing_its_value() {
    let p = Project::new();
    let out = p.warden(["run", "tests", "--tag"]);
    p.assert_usage_error(&out, &["--tag"]);
}

#[test]
fn contradictory_options() {
    let p = Project::new();
    let out = p.warden(["run", "tests", "--parallel", "--sequential"]);
    p.assert_usage_error(&out, &["--parallel", "--sequential"]);
}

#[test]
fn unknown_level() {
    let p = Project::new();
    let out = p.warden(["run", "tests", "--level", "nosuchlevel"]);
    p.assert_usage_error(&out, &["nosuchlevel"]);
}

#[test]
fn json_report_that_cannot_be_written() {
    // Nothing is silently ignored: a report that cannot be created is an error before any
    // test runs, not a run that quietly produces no report. (A missing directory is created;
    // a directory that is a regular file cannot be.)
    let p = Project::new();
    p.sandbox.write("afile", "not a directory");
    let out = p.warden(["run", "tests", "--json", "afile/events.jsonl"]);
    p.assert_usage_error(&out, &["afile"]);
}

#[test]
fn junit_report_that_cannot_be_written() {
    let p = Project::new();
    p.sandbox.write("afile", "not a directory");
    let out = p.warden(["run", "tests", "--junit", "afile/junit.xml"]);
    p.assert_usage_error(&out, &["afile"]);
}

#[test]
fn report_directories_are_created() {
    let p = Project::new();
    let out = p.warden([
        "run",
        "tests",
        "--junit",
        "new/dir/junit.xml",
        "--json",
        "new/events.jsonl",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(p
        .sandbox
        .read("new/dir/junit.xml")
        .is_ok_and(|x| x.contains("<testcase")));
    assert!(p
        .sandbox
        .read("new/events.jsonl")
        .is_ok_and(|x| x.contains("run-finished")));
}

#[test]
fn missing_path() {
    let p = Project::new();
    let out = p.warden(["run", "no/such/dir"]);
    p.assert_usage_error(&out, &["no/such/dir"]);
}

#[test]
fn missing_path_with_default_command() {
    // `warden PATH` means `warden run PATH`; a word that is no path is then a missing path.
    let p = Project::new();
    let out = p.warden(["frobnicate"]);
    p.assert_usage_error(&out, &["frobnicate"]);
}

#[test]
fn missing_path_in_list() {
    let p = Project::new();
    let out = p.warden(["list", "tests", "no/such/file_test.sh"]);
    p.assert_usage_error(&out, &["no/such/file_test.sh"]);
}

#[test]
fn malformed_config() {
    let p = Project::with_config("[run\ntimeout = \"5s\"\n");
    let out = p.warden(["run", "tests"]);
    p.assert_usage_error(&out, &["warden.toml"]);
    assert_names_line(&out, 1);
}

/// The message names the key and its line: `warden.toml:3` or `line 3`.
fn assert_names_line(out: &Outcome, line: u32) {
    let named = out.stderr.contains(&format!("warden.toml:{line}"))
        || out.stderr.contains(&format!("line {line}"));
    assert!(
        named,
        "stderr does not name line {line}\n{}",
        out.describe()
    );
}

#[test]
fn unknown_key_in_run() {
    let p = Project::with_config("# settings\n[run]\ntimout = \"5s\"\n");
    let out = p.warden(["run", "tests"]);
    p.assert_usage_error(&out, &["timout", "warden.toml"]);
    assert_names_line(&out, 3);
}

#[test]
fn unknown_key_in_suite() {
    let p = Project::with_config(
        "[[suite]]\nname = \"sh\"\ninclude = [\"**/*_test.sh\"]\ncommand = [\"sh\", \"{path}\"]\nformatt = \"tap\"\n",
    );
    let out = p.warden(["run", "tests"]);
    p.assert_usage_error(&out, &["formatt", "warden.toml"]);
    assert_names_line(&out, 5);
}

#[test]
fn unknown_table() {
    let p = Project::with_config("[run]\ntimeout = \"5s\"\n\n[runn]\nmax_workers = 2\n");
    let out = p.warden(["run", "tests"]);
    p.assert_usage_error(&out, &["runn", "warden.toml"]);
}

#[test]
fn wrong_type_in_config() {
    let p = Project::with_config("[run]\nmax_workers = \"four\"\n");
    let out = p.warden(["run", "tests"]);
    p.assert_usage_error(&out, &["max_workers", "warden.toml"]);
    assert_names_line(&out, 2);
}

#[test]
fn bad_duration_in_config() {
    let p = Project::with_config("[run]\n\ntimeout = \"soon\"\n");
    let out = p.warden(["run", "tests"]);
    p.assert_usage_error(&out, &["timeout", "soon", "warden.toml"]);
    assert_names_line(&out, 3);
}

#[test]
fn suite_command_that_does_not_exist_is_an_error_and_the_run_goes_on() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "warden.toml",
        r#"[[suite]]
name = "ghost"
include = ["**/*.ghost"]
command = ["warden-itest-no-such-command", "{path}"]

[[suite]]
name = "shell"
include = ["**/*_test.sh"]
command = ["sh", "{path}"]
"#,
    );
    sandbox.write("tests/a.ghost", "boo\n");
    sandbox.write("tests/ok_test.sh", "exit 0\n");
    let out = Warden::new(sandbox.path())
        .args(["run", "tests", "--json", "events.jsonl"])
        .run();
    assert_no_panic(&out);
    let events = read_events(&sandbox, "events.jsonl", &out);
    let got = statuses(&events).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    let want = [
        ("tests/a.ghost".to_string(), "error".to_string()),
        ("tests/ok_test.sh".to_string(), "pass".to_string()),
    ]
    .into();
    assert_eq!(got, want, "{}", out.describe());
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.combined_output()
            .contains("warden-itest-no-such-command"),
        "the output does not name the missing command\n{}",
        out.describe()
    );
}

#[test]
fn file_that_cannot_be_run_is_an_error_and_the_run_goes_on() {
    // Not executable, and `.xyz` maps to no interpreter.
    let sandbox = Sandbox::new();
    sandbox.write("tests/odd_test.xyz", "whatever\n");
    sandbox.write("tests/ok_test.sh", "exit 0\n");
    let out = Warden::new(sandbox.path())
        .args(["run", "tests", "--json", "events.jsonl"])
        .run();
    assert_no_panic(&out);
    let events = read_events(&sandbox, "events.jsonl", &out);
    let got = statuses(&events).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    let want = [
        ("tests/odd_test.xyz".to_string(), "error".to_string()),
        ("tests/ok_test.sh".to_string(), "pass".to_string()),
    ]
    .into();
    assert_eq!(got, want, "{}", out.describe());
    assert_eq!(out.code, Some(1), "{}", out.describe());
}

/// A state dir another run holds: exit 2 naming it, with the way out (another `--state-dir`).
#[test]
fn a_state_dir_in_use_names_the_way_out() {
    use std::os::fd::AsRawFd;
    let p = Project::new();
    let dir = p.sandbox.mkdir(".warden");
    let held = std::fs::File::create(dir.join("lock")).unwrap();
    // SAFETY: flock on a descriptor this test owns; released when `held` is dropped.
    let locked = unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(locked, 0, "cannot lock {}", dir.display());
    let out = p.warden(["run", "tests"]);
    p.assert_usage_error(
        &out,
        &[
            "is using the state dir",
            ".warden",
            "wait for it, or use another --state-dir",
        ],
    );
    drop(held);
    let out = p.warden(["run", "tests"]);
    assert_eq!(out.code, Some(0), "free again\n{}", out.describe());
}

/// `--container` where no engine is installed: exit 2 naming the engine and the flag that
/// chooses one.
#[test]
fn a_missing_container_engine_names_the_flag_that_chooses_one() {
    let p = Project::new();
    let empty = p.sandbox.mkdir("empty-path");
    let out = Warden::new(p.sandbox.path())
        .args([
            "run",
            "tests",
            "--container",
            "--container-image",
            "img",
            "--container-engine",
            "podman",
        ])
        .env("PATH", &empty)
        .env("WARDEN_FIXTURE_PROBE", &p.probe)
        .run();
    p.assert_usage_error(
        &out,
        &[
            "no container engine found: `podman` is not in PATH",
            "choose it with --container-engine",
        ],
    );
}

/// A coverage merge deadline that is no duration is refused before any test runs, not found
/// after all of them ran; without `--coverage` it does not matter.
#[test]
fn a_bad_coverage_merge_deadline_is_refused_before_the_run() {
    let p = Project::new();
    let run = |coverage: bool| {
        let mut args = vec!["run", "tests"];
        if coverage {
            args.push("--coverage");
        }
        Warden::new(p.sandbox.path())
            .args(args)
            .env("WARDEN_COVERAGE_MERGE_TIMEOUT", "soon")
            .env("WARDEN_FIXTURE_PROBE", &p.probe)
            .run()
    };
    let out = run(true);
    p.assert_usage_error(
        &out,
        &["WARDEN_COVERAGE_MERGE_TIMEOUT=soon: invalid duration `soon`"],
    );
    let out = run(false);
    assert_eq!(out.code, Some(0), "{}", out.describe());
}
