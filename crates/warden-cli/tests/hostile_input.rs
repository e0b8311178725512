//! Hostile suite, bad input (issue 17, issue 19 items 2 and 6): malformed `warden.toml`,
//! nonsense durations and sizes, report paths that would destroy something, file names no
//! shell quoting survives, symlink loops, unreadable and vanishing directories, 20,000 files.
//! A usage or configuration error is exit 2 naming the culprit and runs nothing; one bad test
//! file is that test's ERROR and the run goes on. Fixtures: `fixtures/hostile/input/`; the
//! odd names and the 20,000 files are made as the test runs.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::time::{Duration, Instant};

use common::*;

const AREA: &str = "input";

/// The `input` area with the probe test; the probe dir records whether anything ran.
fn scene() -> Scene {
    let scene = Scene::with_area(AREA);
    scene.sandbox.mkdir("probe");
    scene
}

fn probe_ran(scene: &Scene) -> bool {
    scene.path().join("probe/ran").exists()
}

/// `warden run tests <args>` in the area, with the probe armed.
fn run_in_area(scene: &Scene, args: &[&str]) -> Outcome {
    scene
        .warden_in(AREA)
        .arg("run")
        .arg("tests")
        .args(args)
        .env("WARDEN_FIXTURE_PROBE", scene.path().join("probe"))
        .run()
}

/// What is wrong with `out` as a usage error naming `culprits` that ran nothing, if anything.
fn usage_error_problem(scene: &Scene, out: &Outcome, culprits: &[&str]) -> Option<String> {
    let mut wrong = Vec::new();
    if out.code != Some(2) {
        wrong.push(format!("exit {:?}, not 2", out.code));
    }
    if out.stderr.contains("panicked") {
        wrong.push("panicked".to_string());
    }
    wrong.extend(
        culprits
            .iter()
            .filter(|c| !out.stderr.contains(*c))
            .map(|c| format!("does not name `{c}`")),
    );
    if probe_ran(scene) {
        wrong.push("a test ran".to_string());
    }
    (!wrong.is_empty()).then(|| {
        format!(
            "{}: {}
  stderr: {}",
            out.command,
            wrong.join(", "),
            out.stderr.lines().take(3).collect::<Vec<_>>().join(" | ")
        )
    })
}

fn assert_usage_error(scene: &Scene, out: &Outcome, culprits: &[&str]) {
    out.assert_usage_error(culprits);
    assert!(
        !probe_ran(scene),
        "a usage error ran a test\n{}",
        out.describe()
    );
}

#[test]
fn malformed_configs_are_exit_2_naming_file_and_key() {
    let cases: [(&str, &[&str]); 11] = [
        ("wrong_type", &["warden.toml", "timeout"]),
        ("wrong_type_workers", &["warden.toml", "max_workers"]),
        ("unknown_key", &["warden.toml", "timout"]),
        ("unknown_table", &["warden.toml", "runn"]),
        ("duplicate_suite", &["warden.toml", "shell"]),
        ("empty_include", &["warden.toml", "include"]),
        ("not_toml", &["warden.toml"]),
        ("huge_run_timeout", &["warden.toml", "timeout", "too large"]),
        (
            "huge_suite_timeout",
            &["warden.toml", "timeout", "too large"],
        ),
        ("negative_timeout", &["warden.toml", "timeout", "negative"]),
        ("tiny_mem_limit", &["warden.toml", "test_mem_limit"]),
    ];
    let mut problems = Vec::new();
    for (name, culprits) in cases {
        let scene = scene();
        let config = scene.path().join(AREA).join(format!("configs/{name}.toml"));
        fs::copy(&config, scene.path().join(AREA).join("warden.toml")).unwrap();
        let out = run_in_area(&scene, &[]);
        problems
            .extend(usage_error_problem(&scene, &out, culprits).map(|p| format!("{name}: {p}")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn nonsense_durations_and_sizes_are_exit_2_naming_the_option() {
    let cases: [(&[&str], &[&str]); 8] = [
        (&["--timeout", "0"], &["--timeout"]),
        (&["--timeout=-1s"], &["--timeout", "negative"]),
        (&["--timeout", "-1s"], &["-1s"]),
        (
            &["--timeout", "18446744073709551615s"],
            &["--timeout", "too large"],
        ),
        (
            &["--timeout", "5124095576030431h"],
            &["--timeout", "too large"],
        ),
        (
            &["--grace", "18446744073709551615s"],
            &["--grace", "too large"],
        ),
        (&["--test-mem-limit", "1"], &["--test-mem-limit"]),
        (&["--test-mem-limit", "99999999999T"], &["--test-mem-limit"]),
    ];
    let mut problems = Vec::new();
    for (args, culprits) in cases {
        let scene = scene();
        let out = run_in_area(&scene, args);
        problems.extend(usage_error_problem(&scene, &out, culprits));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// One test's `@timeout` too large to add to a clock: that test is an ERROR naming the marker;
/// the others run, and a resume of the run does not die on it either.
#[test]
fn a_huge_timeout_marker_is_that_tests_error() {
    let mut scene = Scene::empty();
    scene.script(
        "t/huge_test.sh",
        "#!/bin/sh\n# @timeout: 5124095576030431h\nexit 0\n",
    );
    scene.script("t/fine_test.sh", "#!/bin/sh\nexit 0\n");
    let out = scene.run(&["t"], &[]).run();
    let v = scene.verify(&out, 1);
    assert_eq!(v.status("t/fine_test.sh"), Some("pass"));
    assert_eq!(
        v.status("t/huge_test.sh"),
        Some("error"),
        "{}",
        out.describe()
    );
    let message = v.finished("t/huge_test.sh").unwrap()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("@timeout") && message.contains("t/huge_test.sh:2"),
        "the error names the marker and its line: {message}"
    );
}

/// Two reports into one file, or a report over a selected test, would destroy one of them.
#[test]
fn report_paths_that_would_destroy_something_are_refused() {
    let scene = scene();
    let out = run_in_area(&scene, &["--json", "same.out", "--junit", "same.out"]);
    assert_usage_error(&scene, &out, &["--json", "--junit", "same.out"]);
    assert!(!scene.path().join(AREA).join("same.out").exists());

    let test = scene.path().join(AREA).join("tests/probe_test.sh");
    let before = fs::read(&test).unwrap();
    for option in ["--json", "--junit"] {
        let out = run_in_area(&scene, &[option, "tests/probe_test.sh"]);
        assert_usage_error(&scene, &out, &[option, "tests/probe_test.sh"]);
        assert_eq!(
            fs::read(&test).unwrap(),
            before,
            "{option} overwrote the test"
        );
    }
    let out = run_in_area(&scene, &["--junit", "/proc/nope/j.xml"]);
    assert_usage_error(&scene, &out, &["--junit", "/proc/nope/j.xml"]);
}

/// Names with spaces, quotes, `$`, a newline, a leading `-` and unicode run as themselves,
/// their ids are exact in the reports, and the terminal shows the newline escaped.
#[test]
fn file_names_no_shell_survives() {
    let names = [
        "t/with space_test.sh",
        "t/quote'and\"_test.sh",
        "t/$HOME_test.sh",
        "t/new\nline_test.sh",
        "t/-leading_test.sh",
        "t/ünïcødé_日本_test.sh",
    ];
    let user = normal_user().expect("a normal user");
    for as_user in [false, true] {
        let mut scene = Scene::empty();
        if as_user {
            scene = scene.run_by(&user);
        }
        for name in names {
            scene.script(name, "#!/bin/sh\n[ -f \"$0\" ] || exit 3\nexit 0\n");
        }
        let out = scene.run(&["t"], &[]).run();
        let v = scene.verify(&out, 0);
        for name in names {
            assert_eq!(v.status(name), Some("pass"), "{name:?}\n{}", out.describe());
        }
        assert_eq!(v.junit_cases.len(), names.len());
        assert!(
            raw_controls(&out.stderr).is_empty(),
            "{:?}",
            raw_controls(&out.stderr)
        );
        assert!(
            !out.stderr.lines().any(|l| l.starts_with("line_test.sh")),
            "a newline in a test id broke the terminal line\n{}",
            out.describe()
        );
    }
}

#[test]
fn symlink_loops_do_not_hang_or_crash() {
    let mut scene = Scene::empty();
    scene.script("t/real_test.sh", "#!/bin/sh\nexit 0\n");
    symlink(".", scene.path().join("t/loop")).unwrap();
    symlink("../t", scene.path().join("t/up")).unwrap();
    symlink("self_test.sh", scene.path().join("t/self_test.sh")).unwrap();
    let out = scene.run(&["t"], &[]).run();
    let v = scene.verify(&out, 0);
    assert_eq!(v.status("t/real_test.sh"), Some("pass"));
    assert_eq!(v.statuses.len(), 1, "{:?}", v.statuses);
    assert!(out.stderr.contains("self_test.sh"), "{}", out.describe());
}

/// A directory warden cannot read hides tests: exit 2 naming it, unless excluded.
#[test]
fn an_unreadable_test_directory_is_an_error_unless_excluded() {
    let user = normal_user().expect("a normal user");
    let scene = Scene::empty().run_by(&user);
    scene.script("t/ok_test.sh", "#!/bin/sh\nexit 0\n");
    scene.script("t/private/hidden_test.sh", "#!/bin/sh\nexit 0\n");
    fs::set_permissions(
        scene.path().join("t/private"),
        fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let out = scene.run(&["t"], &[]).run();
    out.assert_usage_error(&["t/private"]);

    // Excluded by the suite: not an error.
    scene.sandbox.write(
        "warden.toml",
        "[[suite]]\nname = \"sh\"\ninclude = [\"**/*_test.sh\"]\nexclude = [\"private/**\"]\n",
    );
    user.own_tree(scene.path());
    fs::set_permissions(
        scene.path().join("t/private"),
        fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let mut scene = scene;
    let out = scene.run(&["t"], &[]).run();
    let v = scene.verify(&out, 0);
    assert_eq!(v.status("t/ok_test.sh"), Some("pass"));
    fs::set_permissions(
        scene.path().join("t/private"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
}

/// A test deletes the directory of a test that has not run yet: that test is an ERROR, the
/// run finishes and both reports parse.
#[test]
fn a_directory_deleted_mid_run() {
    let mut scene = Scene::empty();
    scene.script(
        "t/a_test.sh",
        "#!/bin/sh\nrm -rf \"$(dirname \"$0\")/b\"\nexit 0\n",
    );
    scene.script("t/b/b_test.sh", "#!/bin/sh\nexit 0\n");
    let out = scene.run(&["t"], &["-j", "1", "--seed", "0"]).run();
    // Order by id without history (the seed only pins it); a runs first and removes b.
    let v = scene.verify(&out, 1);
    assert_eq!(v.status("t/a_test.sh"), Some("pass"), "{}", out.describe());
    assert_eq!(
        v.status("t/b/b_test.sh"),
        Some("error"),
        "{}",
        out.describe()
    );
}

/// 20,000 test files: discovery lists them all, and a filter runs a few of them. The slowest
/// hostile case (about 5 s idle, 15 s on a loaded machine): it makes 20,000 files.
#[test]
fn twenty_thousand_files() {
    let mut scene = Scene::empty();
    let dir = scene.sandbox.mkdir("t");
    for d in 0..100 {
        let sub = dir.join(format!("d{d:03}"));
        fs::create_dir(&sub).unwrap();
        for f in 0..200 {
            let path = sub.join(format!("f{f:03}_test.sh"));
            fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    let started = Instant::now();
    let out = scene
        .warden()
        .args(["list", "t", "--json"])
        .limit(Duration::from_secs(60))
        .run();
    assert_eq!(
        out.code,
        Some(0),
        "{}",
        out.describe().chars().take(4000).collect::<String>()
    );
    let ids = list_ids(&out.stdout).unwrap();
    assert_eq!(ids.len(), 20_000);
    eprintln!("list of 20,000 files took {:?}", started.elapsed());

    let out = scene
        .run(&["t"], &["-k", "d042/f01"])
        .limit(Duration::from_secs(60))
        .run();
    let v = scene.verify(&out, 0);
    assert_eq!(v.statuses.len(), 10, "{:?}", v.statuses.keys());
    assert!(v.statuses.values().all(|s| s == "pass"));
    let peak = out.peak_rss_kib.unwrap_or(0);
    assert!(
        peak < 128 * 1024,
        "warden's peak RSS {peak} KiB over 20,000 files"
    );
}
