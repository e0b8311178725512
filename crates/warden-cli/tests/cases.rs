//! Test cases as tests (issue 13): a `[[suite]]` whose files list their cases runs every case
//! alone, with the markers of its file, in every report, and through `--failed` and
//! `--partition`; bad listings are errors of their own file, bad configs exit 2.
//! Frameworks: a shell "framework" with odd case names, real pytest and real GoogleTest.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::*;

/// A test file that is its own framework: `--list` prints its cases, `-- CASE` runs one.
/// `ok`-like cases pass, `fails` fails, `hangs` outlives the file's `@timeout`.
const SHELL_FRAMEWORK: &str = r#"#!/bin/sh
# @tags: db
# @timeout: 2s
if [ "$1" = --list ]; then
    printf '%s\n' ok 'with space' 'a::b' 'ünï' -dash fails hangs
    exit 0
fi
[ "$1" = -- ] || { echo "usage: $0 --list | -- CASE"; exit 2; }
echo "running <$2> in $(pwd)"
case "$2" in
    fails) echo 'expected 1, got 2'; exit 1 ;;
    hangs) sleep 600 ;;
    ok|'with space'|'a::b'|'ünï'|-dash) exit 0 ;;
    *) echo "no case <$2>"; exit 3 ;;
esac
"#;

const SHELL_SUITE: &str = r#"
[[suite]]
name = "cases"
include = ["**/*_test.sh"]
list = ["{path}", "--list"]
command = ["{path}", "--", "{case}"]

[[suite]]
name = "files"
include = ["**/*_check.sh"]
"#;

fn shell_sandbox() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write("warden.toml", SHELL_SUITE);
    sandbox.write_executable("t/unit/math_test.sh", SHELL_FRAMEWORK);
    sandbox.write_executable("t/plain_check.sh", "#!/bin/sh\nexit 0\n");
    sandbox
}

fn json_run(sandbox: &Sandbox, extra: &[&str]) -> (Outcome, Vec<serde_json::Value>) {
    let out = Warden::new(sandbox.path())
        .args(["run", "t", "--json", "events.jsonl", "-j", "4"])
        .args(extra)
        .run();
    assert_no_panic(&out);
    let events = parse_json_lines(&sandbox.read("events.jsonl").unwrap()).unwrap();
    (out, events)
}

const M: &str = "t/unit/math_test.sh";

fn case_ids(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| format!("{M} {n}")).collect()
}

#[test]
fn every_case_is_a_test_with_its_files_markers() {
    let sandbox = shell_sandbox();
    let out = Warden::new(sandbox.path())
        .args(["list", "--json", "t"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let listed = parse_list(&out.stdout).unwrap();
    let mut want = case_ids(&["ok", "with space", "a::b", "ünï", "-dash", "fails", "hangs"]);
    want.insert("t/plain_check.sh".into());
    let ids: BTreeSet<String> = listed
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, want);
    let odd = listed
        .iter()
        .find(|t| t["id"] == format!("{M} with space"))
        .unwrap();
    assert_eq!(odd["case"], "with space");
    assert_eq!(odd["file"], M);
    assert_eq!(odd["level"], "unit", "the level of the file's directory");
    assert_eq!(odd["tags"], serde_json::json!(["db"]), "the file's tags");
    assert_eq!(odd["timeout_ms"], 2000, "the file's @timeout");

    let (out, events) = json_run(&sandbox, &["--junit", "junit.xml", "--grace", "200ms"]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let st = statuses(&events).unwrap();
    let mut want: BTreeMap<String, String> = ["ok", "with space", "a::b", "ünï", "-dash"]
        .iter()
        .map(|n| (format!("{M} {n}"), "pass".to_string()))
        .collect();
    want.insert(format!("{M} fails"), "fail".into());
    want.insert(format!("{M} hangs"), "timeout".into());
    want.insert("t/plain_check.sh".into(), "pass".into());
    assert_eq!(st, want, "{}", out.describe());
    // Each case ran alone (`with space` passed, so it came as one argument), in the file's
    // directory.
    let dir = sandbox.path().join("t/unit").canonicalize().unwrap();
    let fin = finished_by_id(&events).unwrap();
    let said = fin[&format!("{M} fails")]["output_tail"].to_string();
    assert!(
        said.contains(&format!("running <fails> in {}", dir.display())),
        "{said}"
    );
    assert!(
        out.combined_output().contains("expected 1, got 2"),
        "{}",
        out.describe()
    );

    // JUnit: the classname of a case is its file.
    let junit = sandbox.read("junit.xml").unwrap();
    let doc = roxmltree::Document::parse(&junit).unwrap();
    let case = doc
        .descendants()
        .find(|n| n.attribute("name") == Some(&format!("{M} ünï")))
        .unwrap_or_else(|| panic!("no case in\n{junit}"));
    assert_eq!(case.attribute("classname"), Some(M));

    // --failed reruns exactly the failed cases; -k picks cases by name.
    let (out, events) = json_run(&sandbox, &["--failed", "--grace", "200ms"]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let ran: BTreeSet<String> = statuses(&events).unwrap().into_keys().collect();
    assert_eq!(ran, case_ids(&["fails", "hangs"]));
    let (out, events) = json_run(&sandbox, &["-k", "a::b", "-k", "with space"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let ran: BTreeSet<String> = statuses(&events).unwrap().into_keys().collect();
    assert_eq!(ran, case_ids(&["a::b", "with space"]));
}

#[test]
fn partitions_split_cases_and_add_up() {
    let sandbox = shell_sandbox();
    let mut seen = BTreeSet::new();
    for k in 1..=2 {
        let out = Warden::new(sandbox.path())
            .args([
                "list",
                "--json",
                "t",
                "--partition",
                &format!("count:{k}/2"),
            ])
            .run();
        assert_eq!(out.code, Some(0), "{}", out.describe());
        for t in parse_list(&out.stdout).unwrap() {
            let id = t["id"].as_str().unwrap().to_string();
            assert!(seen.insert(id.clone()), "{id} in two shards");
        }
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
}

#[test]
fn bad_listings_are_errors_naming_their_file_and_the_rest_runs() {
    let sandbox = Sandbox::new();
    sandbox.write("warden.toml", SHELL_SUITE);
    let lister =
        |body: &str| format!("#!/bin/sh\nif [ \"$1\" = --list ]; then {body}; fi\nexit 0\n");
    sandbox.write_executable(
        "t/fails_test.sh",
        &lister("echo 'cannot import' >&2; exit 4"),
    );
    sandbox.write_executable("t/empty_test.sh", &lister("exit 0"));
    sandbox.write_executable("t/crash_test.sh", &lister("kill -SEGV $$"));
    sandbox.write_executable("t/dup_test.sh", &lister("printf 'x\\ny\\nx\\n'; exit 0"));
    sandbox.write_executable("t/hangs_test.sh", &lister("sleep 600"));
    sandbox.write_executable("t/good_test.sh", &lister("echo fine; exit 0"));
    let (out, events) = json_run(&sandbox, &["--timeout", "1s"]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let fin = finished_by_id(&events).unwrap();
    let error = |id: &str, why: &str| {
        let e = fin
            .get(id)
            .unwrap_or_else(|| panic!("no result for {id}: {:?}", fin.keys()));
        assert_eq!(e["status"], "error", "{id}: {e}");
        let message = e["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!("{id}: list command `{id}` {why}")),
            "{id}: {message}"
        );
    };
    error("t/fails_test.sh", "exited with 4: cannot import");
    error("t/empty_test.sh", "printed no cases");
    error("t/crash_test.sh", "was killed by signal 11");
    error("t/hangs_test.sh", "did not finish within 1s");
    let dup = &fin["t/dup_test.sh x"];
    assert_eq!(dup["status"], "error");
    assert!(dup["message"]
        .as_str()
        .unwrap()
        .contains("names case `x` 2 times"));
    assert_eq!(fin["t/dup_test.sh y"]["status"], "pass");
    assert_eq!(fin["t/good_test.sh fine"]["status"], "pass");
    assert_eq!(fin.len(), 7, "{:?}", fin.keys());
}

#[test]
fn case_placeholders_without_a_list_are_config_errors() {
    let sandbox = Sandbox::new();
    sandbox.write_executable("t/a_test.sh", "#!/bin/sh\n");
    for (toml, culprits) in [
        (
            "[[suite]]\ncommand = [\"{path}\", \"{case}\"]\n",
            &["warden.toml:2", "`{case}` needs `list`"][..],
        ),
        (
            "[[suite]]\nlist = [\"{path}\", \"--list\"]\ncommand = [\"{path}\"]\n",
            &["warden.toml:3", "needs the `{case}` placeholder"],
        ),
        (
            "[[suite]]\nlist = [\"{path}\"]\nlist_format = \"xml\"\ncommand = [\"{case}\"]\n",
            &["warden.toml:3", "unknown list format `xml`"],
        ),
    ] {
        sandbox.write("warden.toml", toml);
        for cmd in ["run", "list"] {
            let out = Warden::new(sandbox.path()).args([cmd, "t"]).run();
            out.assert_usage_error(culprits);
        }
    }
}

#[test]
fn a_normal_user_runs_cases_too() {
    let user = normal_user().expect("a normal user to run warden as");
    let sandbox = shell_sandbox();
    user.own_tree(sandbox.path());
    let out = Warden::new(sandbox.path())
        .args([
            "run",
            "t",
            "-k",
            "ok",
            "-k",
            "fails",
            "--json",
            "events.jsonl",
        ])
        .run_as(&user)
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let st = statuses(&parse_json_lines(&sandbox.read("events.jsonl").unwrap()).unwrap()).unwrap();
    assert_eq!(st[&format!("{M} ok")], "pass");
    assert_eq!(st[&format!("{M} fails")], "fail");
}

/// Debian's python3 with python3-pytest (installed by .ci/run); a pyenv python on PATH may
/// lack pytest.
const PYTHON: &str = "/usr/bin/python3";

fn have_pytest() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import pytest"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn pytest_functions_are_tests() {
    if !have_pytest() {
        assert!(
            std::env::var_os("WARDEN_REQUIRE_FRAMEWORKS").is_none(),
            "python3-pytest is missing (.ci/run installs it)"
        );
        eprintln!("skipped: {PYTHON} has no pytest");
        return;
    }
    let sandbox = Sandbox::new();
    sandbox.write(
        "warden.toml",
        &format!(
            r#"
[[suite]]
name = "py"
include = ["**/test_*.py"]
list = ["{PYTHON}", "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "{{name}}"]
list_format = "pytest"
command = ["{PYTHON}", "-m", "pytest", "-q", "-p", "no:cacheprovider", "{{name}}::{{case}}"]
"#
        ),
    );
    sandbox.write(
        "tests/test_math.py",
        "import pytest\n\ndef test_adds():\n    assert 1 + 1 == 2\n\n\
         def test_breaks():\n    assert 1 + 1 == 3, 'arithmetic broke'\n\n\
         class TestGroup:\n    def test_in_class(self):\n        pass\n\n\
         @pytest.mark.parametrize('n', [1, 'a b'])\ndef test_param(n):\n    assert n != 'a b'\n",
    );
    let out = Warden::new(sandbox.path())
        .args(["run", "tests", "--json", "events.jsonl"])
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let st = statuses(&parse_json_lines(&sandbox.read("events.jsonl").unwrap()).unwrap()).unwrap();
    let f = "tests/test_math.py";
    let want: BTreeMap<String, String> = [
        ("test_adds", "pass"),
        ("test_breaks", "fail"),
        ("TestGroup::test_in_class", "pass"),
        ("test_param[1]", "pass"),
        ("test_param[a b]", "fail"),
    ]
    .iter()
    .map(|(c, s)| (format!("{f} {c}"), s.to_string()))
    .collect();
    assert_eq!(st, want, "{}", out.describe());
    assert!(
        out.combined_output().contains("arithmetic broke"),
        "{}",
        out.describe()
    );
}

/// Builds a real GoogleTest binary (libgtest-dev, installed by .ci/run) into `dir`.
fn build_gtest(dir: &Path) -> Option<()> {
    let src = dir.join("math.cc");
    std::fs::write(
        &src,
        r#"#include <gtest/gtest.h>
TEST(Math, Adds) { EXPECT_EQ(2, 1 + 1); }
TEST(Math, Breaks) { EXPECT_EQ(3, 1 + 1) << "arithmetic broke"; }
class Sq : public ::testing::TestWithParam<int> {};
TEST_P(Sq, NonNegative) { EXPECT_GE(GetParam() * GetParam(), 0); }
INSTANTIATE_TEST_SUITE_P(Small, Sq, ::testing::Values(-1, 2));
"#,
    )
    .unwrap();
    let status = Command::new("g++")
        .arg(&src)
        .args(["-o"])
        .arg(dir.join("math_gtest"))
        .args(["-lgtest", "-lgtest_main", "-pthread"])
        .status()
        .ok()?;
    status.success().then_some(())
}

#[test]
fn googletest_cases_are_tests() {
    let sandbox = Sandbox::new();
    let bin_dir = sandbox.mkdir("gtest");
    if build_gtest(&bin_dir).is_none() {
        assert!(
            std::env::var_os("WARDEN_REQUIRE_FRAMEWORKS").is_none(),
            "g++ or libgtest-dev is missing (.ci/run installs them)"
        );
        eprintln!("skipped: cannot build a GoogleTest binary");
        return;
    }
    sandbox.write(
        "warden.toml",
        r#"
[[suite]]
name = "gtest"
include = ["**/*_gtest"]
list = ["{path}", "--gtest_list_tests"]
list_format = "gtest"
command = ["{path}", "--gtest_filter={case}"]
"#,
    );
    let out = Warden::new(sandbox.path())
        .args(["run", "gtest", "--json", "events.jsonl"])
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let st = statuses(&parse_json_lines(&sandbox.read("events.jsonl").unwrap()).unwrap()).unwrap();
    let want: BTreeMap<String, String> = [
        ("Math.Adds", "pass"),
        ("Math.Breaks", "fail"),
        ("Small/Sq.NonNegative/0", "pass"),
        ("Small/Sq.NonNegative/1", "pass"),
    ]
    .iter()
    .map(|(c, s)| (format!("gtest/math_gtest {c}"), s.to_string()))
    .collect();
    assert_eq!(st, want, "{}", out.describe());
}

fn listed_ids(sandbox: &Sandbox, args: &[&str]) -> BTreeSet<String> {
    let out = Warden::new(sandbox.path())
        .args(["list", "--json", "t"])
        .args(args)
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    parse_list(&out.stdout)
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn filter_expressions_select_cases_and_point_at_mistakes() {
    let sandbox = shell_sandbox();
    let mut want = case_ids(&["ok", "a::b"]);
    want.insert("t/plain_check.sh".into());
    assert_eq!(
        listed_ids(
            &sandbox,
            &["-E", "test(/ (ok|a::b)$/) or file(t/*_check.sh)"]
        ),
        want
    );
    assert_eq!(
        listed_ids(
            &sandbox,
            &[
                "-E",
                "tag(db) and not (test(::b) | test(\" -dash\") | test(space))"
            ]
        ),
        case_ids(&["ok", "ünï", "fails", "hangs"])
    );
    // Two expressions: either; with -k: both.
    assert_eq!(
        listed_ids(
            &sandbox,
            &["-E", "test(ok)", "-E", "test(hangs)", "-k", "ok"]
        ),
        case_ids(&["ok"])
    );
    // failed(): the last recorded result of each test.
    let (out, _) = json_run(&sandbox, &["--grace", "200ms"]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert_eq!(
        listed_ids(&sandbox, &["-E", "failed() and not test(hangs)"]),
        case_ids(&["fails"])
    );
    for (expr, caret) in [
        ("tset(x) or slow()", "  tset(x) or slow()\n  ^^^^"),
        ("slow() andd tag(x)", "  slow() andd tag(x)\n         ^^^^"),
        ("test(/a(b/)", "  test(/a(b/)\n        ^^^"),
    ] {
        for cmd in ["run", "list"] {
            let out = Warden::new(sandbox.path())
                .args([cmd, "t", "-E", expr])
                .run();
            out.assert_usage_error(&["--filter-expr: ", caret]);
        }
    }
}

#[test]
fn junit_reports_become_subtests_and_bad_reports_are_errors() {
    let sandbox = Sandbox::new();
    let mut toml = String::from(
        r#"
[[suite]]
name = "scripts"
include = ["**/*_test.sh"]
command = ["{path}", "--report={junit}"]
format = "junit"
"#,
    );
    let pytest = have_pytest();
    if pytest {
        toml.push_str(&format!(
            r#"
[[suite]]
name = "pytest"
include = ["**/test_*.py"]
command = ["{PYTHON}", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml={{junit}}", "{{name}}"]
format = "junit"
"#
        ));
        sandbox.write(
            "t/test_math.py",
            "def test_adds():\n    assert 1 + 1 == 2\n\n\
             def test_breaks():\n    assert 1 + 1 == 3, 'arithmetic broke'\n",
        );
    } else {
        assert!(
            std::env::var_os("WARDEN_REQUIRE_FRAMEWORKS").is_none(),
            "python3-pytest is missing (.ci/run installs it)"
        );
    }
    sandbox.write("warden.toml", &toml);
    let writer = |xml: &str| {
        format!(
            "#!/bin/sh\nf=\"${{1#--report=}}\"\n[ \"$f\" = \"$WARDEN_JUNIT\" ] || exit 9\ncat > \"$f\" <<'X'\n{xml}\nX\nexit 0\n"
        )
    };
    sandbox.write_executable(
        "t/hidden_failure_test.sh",
        &writer(
            r#"<testsuite><testcase classname="c" name="one"/><testcase classname="c" name="two"><failure message="two broke">trace</failure></testcase><testcase name="three"><skipped/></testcase></testsuite>"#,
        ),
    );
    sandbox.write_executable(
        "t/all_good_test.sh",
        &writer(r#"<testsuites><testsuite><testcase name="a"/></testsuite></testsuites>"#),
    );
    sandbox.write_executable("t/malformed_test.sh", &writer("<testsuite><testcase"));
    sandbox.write_executable("t/silent_test.sh", "#!/bin/sh\nexit 0\n");
    let out = Warden::new(sandbox.path())
        .args(["run", "t", "--json", "events.jsonl", "--junit", "out.xml"])
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let events = parse_json_lines(&sandbox.read("events.jsonl").unwrap()).unwrap();
    let fin = finished_by_id(&events).unwrap();
    let hidden = fin["t/hidden_failure_test.sh"];
    assert_eq!(hidden["status"], "fail", "{hidden}");
    assert_eq!(hidden["message"], "failed: c.two (two broke)");
    assert_eq!(
        hidden["subtests"],
        serde_json::json!({"passed": 1, "failed": 1, "skipped": 1, "cases": [
            {"name": "c.one", "status": "pass"},
            {"name": "c.two", "status": "fail", "message": "two broke"},
            {"name": "three", "status": "skip"},
        ]})
    );
    assert_eq!(fin["t/all_good_test.sh"]["status"], "pass");
    for (id, why) in [
        ("t/malformed_test.sh", "is malformed: "),
        ("t/silent_test.sh", "was not written"),
    ] {
        let e = fin[id];
        assert_eq!(e["status"], "error", "{e}");
        let message = e["message"].as_str().unwrap();
        assert!(
            message.starts_with("JUnit report /") && message.contains(why),
            "{id}: {message}"
        );
    }
    let junit = sandbox.read("out.xml").unwrap();
    assert!(
        junit.contains(r#"<property name="subtest" value="FAIL c.two: two broke"/>"#),
        "{junit}"
    );
    if pytest {
        let py = fin["t/test_math.py"];
        assert_eq!(py["status"], "fail", "{py}");
        assert_eq!(
            py["subtests"]["cases"][1],
            serde_json::json!({"name": "test_math.test_breaks", "status": "fail",
                               "message": "AssertionError: arithmetic broke"})
        );
        assert_eq!(py["subtests"]["passed"], 1);
    }
}

/// An interrupted run of cases resumes by case: what finished is carried over, the rest runs.
#[test]
fn an_interrupted_run_of_cases_resumes_case_by_case() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "warden.toml",
        "[[suite]]\ninclude = [\"**/*_test.sh\"]\nlist = [\"{path}\", \"--list\"]\n\
         command = [\"{path}\", \"--\", \"{case}\"]\n",
    );
    let ran = sandbox.path().join("ran.log");
    sandbox.write_executable(
        "t/many_test.sh",
        &format!(
            "#!/bin/sh\nif [ \"$1\" = --list ]; then seq -f 'case %g' 1 10; exit 0; fi\n\
             echo \"$2\" >> '{}'\nsleep 0.4\n",
            ran.display()
        ),
    );
    let running = Warden::new(sandbox.path())
        .args(["run", "t", "-j2", "--json", "first.jsonl"])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while sandbox
        .read("first.jsonl")
        .map_or(0, |t| t.matches("\"test-finished\"").count())
        < 4
    {
        assert!(
            std::time::Instant::now() < deadline,
            "4 cases never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    running.signal(libc::SIGINT);
    let out = running.wait().unwrap();
    assert_eq!(out.code, Some(130), "{}", out.describe());
    let first = parse_json_lines(&sandbox.read("first.jsonl").unwrap()).unwrap();
    let finished: BTreeSet<String> = statuses(&first).unwrap().into_keys().collect();
    let lines_before = std::fs::read_to_string(&ran).unwrap().lines().count();

    let out = Warden::new(sandbox.path())
        .args(["run", "t", "-j2", "--resume", "--json", "second.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let second = parse_json_lines(&sandbox.read("second.jsonl").unwrap()).unwrap();
    let fin = finished_by_id(&second).unwrap();
    assert_eq!(fin.len(), 10, "{:?}", fin.keys());
    let carried: BTreeSet<String> = fin
        .iter()
        .filter(|(_, e)| e["carried_over"] == true)
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(carried, finished);
    let after: Vec<String> = std::fs::read_to_string(&ran)
        .unwrap()
        .lines()
        .skip(lines_before)
        .map(|c| format!("t/many_test.sh {c}"))
        .collect();
    assert_eq!(after.len(), 10 - finished.len(), "{after:?}");
    assert!(after.iter().all(|id| !finished.contains(id)), "{after:?}");
}
