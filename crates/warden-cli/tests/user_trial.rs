//! Defects a user trial found (issue 10, section 5), each with its regression test on the real
//! binary: what a new user sees on the terminal, and the small errors of the first hour.

mod common;

use common::*;

/// `-q` on a passing run prints the summary alone: no blank line before it.
#[test]
fn quiet_passing_run_starts_with_the_summary() {
    let sb = Sandbox::new();
    sb.write_executable("test/a_test.sh", "#!/bin/sh\nexit 0\n");
    let out = Warden::new(sb.path()).args(["run", "-q"]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stderr.starts_with("1 passed, 0 failed, 0 skipped\n"),
        "{}",
        out.describe()
    );
    // A failure keeps its blank line between the list and the details.
    sb.write_executable("test/b_test.sh", "#!/bin/sh\necho boom\nexit 1\n");
    let out = Warden::new(sb.path()).args(["run", "-q"]).run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stderr.starts_with("FAIL"), "{}", out.describe());
    assert!(
        out.stderr.contains("\n\n1 passed, 1 failed, 0 skipped\n"),
        "{}",
        out.describe()
    );
}

/// `list --shuffle` says its seed as `run --shuffle` does (and as the guide shows it).
#[test]
fn list_shuffle_prints_its_seed_as_a_warning() {
    let sb = Sandbox::new();
    sb.write_executable("test/a_test.sh", "#!/bin/sh\n");
    sb.write_executable("test/b_test.sh", "#!/bin/sh\n");
    for command in ["list", "run"] {
        let out = Warden::new(sb.path())
            .args([command, "--shuffle", "--seed", "7"])
            .run();
        assert!(matches!(out.code, Some(0)), "{}", out.describe());
        assert!(
            out.stderr.contains("warning: shuffled with --seed 7\n"),
            "{}",
            out.describe()
        );
    }
}

/// The seed's `--mem-limit` is the host threshold: a size there points to `--test-mem-limit`.
#[test]
fn a_size_for_mem_limit_names_the_per_test_cap() {
    let sb = Sandbox::new();
    sb.write_executable("test/a_test.sh", "#!/bin/sh\n");
    let out = Warden::new(sb.path())
        .args(["test", "--mem-limit", "512M", "test/"])
        .run();
    out.assert_usage_error(&["--mem-threshold", "--test-mem-limit 512M"]);
}

/// Without PATH, `t/` (Perl's and git's convention) is searched beside `test/` and `tests/`,
/// and the error names all three.
#[test]
fn default_paths_include_t_and_the_error_names_all_three() {
    let sb = Sandbox::new();
    let out = Warden::new(sb.path()).arg("run").run();
    out.assert_usage_error(&["test/, tests/ or t/"]);
    sb.write_executable("t/basic.t", "#!/bin/sh\necho 1..1\necho ok 1\n");
    sb.write_executable("tests/a_test.sh", "#!/bin/sh\n");
    let out = Warden::new(sb.path())
        .args(["run", "--json", "ev.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let ids: Vec<String> = statuses(&read_events(&sb, "ev.jsonl", &out))
        .unwrap()
        .into_keys()
        .collect();
    assert_eq!(ids, ["t/basic.t", "tests/a_test.sh"]);
}

/// `warden clean` as a normal user who never ran containers says nothing about an engine it
/// cannot reach (docker without the docker group).
#[test]
fn clean_as_a_normal_user_is_quiet_about_container_engines() {
    let user = normal_user().expect("a normal user");
    let sb = Sandbox::new();
    user.own_tree(sb.path());
    let out = Warden::new(sb.path())
        .run_as(&user)
        .env("WARDEN_REGISTRY_DIR", sb.path().join("registry"))
        .arg("clean")
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(!out.stderr.contains("warning"), "{}", out.describe());
    assert_eq!(out.stdout.trim(), "nothing to clean", "{}", out.describe());
}

/// A filter that matches nothing is exit 4, naming the PATHs and filters; `--no-tests=warn`
/// and `pass` (or `[run] no_tests`) exit 0; the JSON `run-finished` says 4 too.
#[test]
fn no_tests_selected_is_exit_4_unless_allowed() {
    let sb = Sandbox::new();
    sb.write_executable("test/parse_test.sh", "#!/bin/sh\n");
    let out = Warden::new(sb.path())
        .args(["run", "test", "-k", "pasre", "--json", "ev.jsonl"])
        .run();
    assert_eq!(out.code, Some(4), "{}", out.describe());
    assert!(
        out.stderr
            .contains("error: no tests selected in test (-k pasre)"),
        "{}",
        out.describe()
    );
    let events = read_events(&sb, "ev.jsonl", &out);
    assert_eq!(of_type(&events, "run-finished")[0]["exit_code"], 4);

    let out = Warden::new(sb.path())
        .args(["test", "--tag", "nope", "--no-tests=warn"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stderr
            .contains("warning: no tests selected in test (--tag nope)"),
        "{}",
        out.describe()
    );
    let out = Warden::new(sb.path())
        .args(["run", "-k", "x", "--no-tests", "pass"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        !out.stderr.contains("no tests selected"),
        "{}",
        out.describe()
    );
    sb.write("warden.toml", "[run]\nno_tests = \"warn\"\n");
    let out = Warden::new(sb.path()).args(["run", "-k", "x"]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let out = Warden::new(sb.path())
        .args(["run", "-k", "x", "--no-tests=fail"])
        .run();
    assert_eq!(out.code, Some(4), "{}", out.describe());
    let out = Warden::new(sb.path())
        .args(["run", "--no-tests=maybe"])
        .run();
    out.assert_usage_error(&["--no-tests", "maybe"]);
}

/// Empty selections that are not mistakes: `--failed` after a green run, and a shard that
/// got none of a non-empty selection.
#[test]
fn empty_failed_and_empty_shards_exit_0() {
    let sb = Sandbox::new();
    sb.write_executable("test/a_test.sh", "#!/bin/sh\n");
    assert_eq!(Warden::new(sb.path()).arg("run").run().code, Some(0));
    let out = Warden::new(sb.path()).args(["run", "--failed"]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stderr.contains(
            "--failed: none of the 1 selected test failed in its most recent recorded run"
        ),
        "{}",
        out.describe()
    );
    let codes: Vec<Option<i32>> = (1..=3)
        .map(|k| {
            Warden::new(sb.path())
                .args(["run", "--partition", &format!("count:{k}/3")])
                .run()
                .code
        })
        .collect();
    assert_eq!(codes, [Some(0), Some(0), Some(0)]);
}

/// Plain output names a test that is still running at each multiple of `--slow-after`, and
/// the JSON stream has a `test-slow` event for each.
#[test]
fn slow_tests_are_named_while_they_run() {
    let sb = Sandbox::new();
    sb.write_executable("test/long_test.sh", "#!/bin/sh\nsleep 1.3\n");
    sb.write_executable("test/quick_test.sh", "#!/bin/sh\n");
    let out = Warden::new(sb.path())
        .args(["run", "--slow-after", "500ms", "--json", "ev.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let slow: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("SLOW"))
        .collect();
    assert_eq!(
        slow,
        [
            "SLOW [   0.5s] test/long_test.sh",
            "SLOW [   1.0s] test/long_test.sh"
        ],
        "{}",
        out.describe()
    );
    let events = read_events(&sb, "ev.jsonl", &out);
    let slow_events = of_type(&events, "test-slow");
    assert_eq!(slow_events.len(), 2, "{events:?}");
    assert_eq!(slow_events[0]["id"], "test/long_test.sh");
    assert_eq!(slow_events[1]["elapsed_ms"], 1000);
    // -q keeps them out.
    let out = Warden::new(sb.path())
        .args(["run", "-q", "--slow-after", "500ms"])
        .run();
    assert!(!out.stderr.contains("SLOW"), "{}", out.describe());
}

/// What real suites need (issue 10, section 3): a suite's `skip_exit_codes` (CPython's
/// regrtest exits 4 when a resource is off, pytest 5 when it collects nothing), and TAP whose
/// plan comes last (Perl's `done_testing`) read in `auto` mode.
#[test]
fn suite_skip_codes_and_done_testing_tap() {
    let sb = Sandbox::new();
    sb.write(
        "warden.toml",
        "[[suite]]\nname = \"py\"\ninclude = [\"**/*_test.py\"]\nskip_exit_codes = [4, 5]\n\n\
         [[suite]]\nname = \"perl\"\ninclude = [\"**/*.t\"]\n",
    );
    sb.write("test/resource_test.py", "import sys\nsys.exit(4)\n");
    sb.write("test/empty_test.py", "import sys\nsys.exit(5)\n");
    sb.write("test/automake_test.py", "import sys\nsys.exit(77)\n");
    sb.write(
        "test/done.t",
        "use strict; use Test::More;\ndiag('starting');\nok(1, 'one');\nok(1, 'two');\n\
         SKIP: { skip 'no db', 1; ok(0) }\ndone_testing();\n",
    );
    sb.write(
        "test/broken.t",
        "use strict; use Test::More;\nok(1);\nok(0, 'broken');\ndone_testing();\n",
    );
    // Exits 0: only the TAP says it failed.
    sb.write_executable(
        "test/sh_tap.t",
        "#!/bin/sh\necho '# checking'\necho 'ok 1'\necho 'not ok 2 - nope'\necho '1..2'\n",
    );
    let out = Warden::new(sb.path())
        .args(["run", "--json", "ev.jsonl"])
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let events = read_events(&sb, "ev.jsonl", &out);
    let finished = finished_by_id(&events).unwrap();
    let status = |id: &str| finished[id]["status"].as_str().unwrap().to_string();
    assert_eq!(status("test/resource_test.py"), "skip");
    assert_eq!(finished["test/resource_test.py"]["message"], "exit 4");
    assert_eq!(status("test/empty_test.py"), "skip");
    // The suite named its skip codes: 77 is a failure there.
    assert_eq!(status("test/automake_test.py"), "fail");
    assert_eq!(status("test/done.t"), "pass");
    assert_eq!(
        finished["test/done.t"]["subtests"],
        serde_json::json!({"passed": 2, "failed": 0, "skipped": 1})
    );
    assert_eq!(status("test/broken.t"), "fail", "{}", out.describe());
    assert_eq!(
        finished["test/broken.t"]["subtests"],
        serde_json::json!({"passed": 1, "failed": 1, "skipped": 0})
    );
    let sh = finished["test/sh_tap.t"];
    assert_eq!(
        (sh["status"].as_str(), sh["exit_code"].as_i64()),
        (Some("fail"), Some(0))
    );
    assert!(
        sh["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not ok 2"),
        "{sh}"
    );
}

/// `--failed` after a partial run still knows the failures of the tests that run left out:
/// each test's most recent recorded result decides.
#[test]
fn failed_remembers_failures_across_partial_runs() {
    let sb = Sandbox::new();
    sb.write_executable("test/math_test.sh", "#!/bin/sh\n");
    sb.write("test/parse_test.py", "import sys\nsys.exit(1)\n");
    sb.write_executable("test/flaky_test.sh", "#!/bin/sh\nexit 2\n");
    for _ in 0..2 {
        assert_eq!(Warden::new(sb.path()).arg("run").run().code, Some(1));
    }
    let out = Warden::new(sb.path()).args(["run", "-k", "math"]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let list = Warden::new(sb.path())
        .args(["list", "--failed", "--json"])
        .run();
    let failed: Vec<String> = list_ids(&list.stdout).unwrap().into_iter().collect();
    assert_eq!(
        failed,
        ["test/flaky_test.sh", "test/parse_test.py"],
        "{}",
        list.describe()
    );
    // Fixed and rerun alone: only parse_test.py is left.
    sb.write_executable("test/flaky_test.sh", "#!/bin/sh\n");
    let out = Warden::new(sb.path())
        .args(["run", "--failed", "-k", "flaky"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let out = Warden::new(sb.path())
        .args(["run", "--failed", "--json", "ev.jsonl"])
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let ran: Vec<String> = statuses(&read_events(&sb, "ev.jsonl", &out))
        .unwrap()
        .into_keys()
        .collect();
    assert_eq!(ran, ["test/parse_test.py"]);
}

/// Without cgroups (a normal user, `WARDEN_NO_CGROUP=1`) peak memory is the test's own, not
/// warden's: a trivial shell test reads under 3 MiB (or unknown, when it ended before warden
/// could look at it once; never warden's own size), a 200 MiB test about 200 MiB.
#[test]
fn peak_memory_without_cgroups_is_the_tests_own() {
    let user = normal_user().expect("a normal user");
    let sb = Sandbox::new();
    sb.write_executable("test/trivial_test.sh", "#!/bin/sh\nexit 0\n");
    sb.write(
        "test/big_test.py",
        "import time\nb = bytearray(b'x') * (200 << 20)\ntime.sleep(0.3)\n",
    );
    user.own_tree(sb.path());
    let runs = [
        ("normal user", Warden::new(sb.path()).run_as(&user)),
        (
            "WARDEN_NO_CGROUP=1",
            Warden::new(sb.path()).env("WARDEN_NO_CGROUP", "1"),
        ),
    ];
    for (how, warden) in runs {
        let out = warden.args(["run", "--json", "ev.jsonl"]).run();
        assert_eq!(out.code, Some(0), "{how}: {}", out.describe());
        let events = read_events(&sb, "ev.jsonl", &out);
        let finished = finished_by_id(&events).unwrap();
        let peak = |id: &str| finished[id]["peak_rss_bytes"].as_u64();
        let trivial = peak("test/trivial_test.sh");
        assert!(
            trivial.is_none_or(|p| p < 3 << 20),
            "{how}: trivial test peak {trivial:?}"
        );
        let big = peak("test/big_test.py").unwrap_or_default();
        assert!(
            (195 << 20..260 << 20).contains(&big),
            "{how}: 200 MiB test peak {big}"
        );
        user.own_tree(sb.path());
    }
}
