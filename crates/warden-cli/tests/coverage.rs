//! `--coverage` (issue 14) with the real toolchains: a C program built with `gcc --coverage`
//! run by two tests keeps two `.gcda` sets and merges (gcovr) into a report where both tests'
//! lines are covered; Node writes one V8 profile per process; a Rust program built with
//! `-C instrument-coverage` writes `.profraw` per test, merged by whichever `llvm-profdata`
//! reads rustc's format; coverage.py data is combined; nothing is set without `--coverage`; a
//! user's own value wins; `--resume` keeps the carried tests' coverage; containers write to
//! the same directory. A test whose toolchain is missing is skipped with a message, unless
//! `WARDEN_REQUIRE_COVERAGE=1` (CI sets it; .ci/run installs the tools).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const VARIABLES: [&str; 7] = [
    "LLVM_PROFILE_FILE",
    "GCOV_PREFIX",
    "GCOV_PREFIX_STRIP",
    "GOCOVERDIR",
    "NODE_V8_COVERAGE",
    "COVERAGE_FILE",
    "COVERAGE_PROCESS_START",
];

fn required() -> bool {
    std::env::var("WARDEN_REQUIRE_COVERAGE").is_ok_and(|v| v == "1")
}

/// The first of `names` on PATH; `None` (the caller skips) when absent and not required.
fn tool(names: &[&str]) -> Option<PathBuf> {
    let found = names.iter().find_map(|name| which(name));
    if found.is_none() {
        assert!(
            !required(),
            "WARDEN_REQUIRE_COVERAGE=1 but none of {names:?} is on PATH (.ci/run installs it)"
        );
        eprintln!("skipped: none of {names:?} on PATH");
    }
    found
}

fn sh(cwd: &Path, program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn warden(sb: &Sandbox) -> Warden {
    Warden::new(sb.path()).env("WARDEN_REGISTRY_DIR", sb.path().join("registry"))
}

fn events(sb: &Sandbox, file: &str) -> Vec<Value> {
    parse_json_lines(&sb.read(file).unwrap()).unwrap()
}

/// Every file under `dir` whose name ends with `suffix`.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                found.push(p);
            }
        }
    }
    found.sort();
    found
}

/// `coverage_dir` of each finished test, by id.
fn coverage_dirs(ev: &[Value]) -> std::collections::BTreeMap<String, PathBuf> {
    of_type(ev, "test-finished")
        .iter()
        .map(|e| {
            let dir = e["coverage_dir"]
                .as_str()
                .unwrap_or_else(|| panic!("no coverage_dir in {e}"));
            (e["id"].as_str().unwrap().to_string(), PathBuf::from(dir))
        })
        .collect()
}

fn coverage_event<'a>(ev: &'a [Value], kind: &str) -> &'a Value {
    of_type(ev, "coverage")
        .into_iter()
        .find(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("no coverage event of kind {kind} in {ev:?}"))
}

const PROG_C: &str = r#"#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "alpha") == 0) {
        printf("alpha path\n");
    } else if (argc > 1 && strcmp(argv[1], "beta") == 0) {
        printf("beta path\n");
    } else {
        printf("gamma path\n");
    }
    return 0;
}
"#;

/// Line numbers (1-based) of `PROG_C` that only one argument runs.
const ALPHA_LINE: u64 = 5;
const BETA_LINE: u64 = 7;
const GAMMA_LINE: u64 = 9;

/// A project with `src/prog.c` built by `gcc --coverage` into `build/`, and a test per
/// argument running it (`tests/<arg>_test.sh`); `None` without gcc and gcovr.
fn c_project(args: &[&str]) -> Option<Sandbox> {
    let gcc = tool(&["gcc"])?;
    tool(&["gcovr"])?;
    let sb = Sandbox::new();
    sb.mkdir("registry");
    sb.write("src/prog.c", PROG_C);
    sb.mkdir("build");
    sh(
        sb.path(),
        &gcc,
        &["--coverage", "-O0", "-o", "build/prog", "src/prog.c"],
    );
    for arg in args {
        // A test runs in its file's directory.
        sb.write_executable(
            &format!("tests/{arg}_test.sh"),
            &format!("#!/bin/sh\nexec ../build/prog {arg}\n"),
        );
    }
    Some(sb)
}

/// Execution counts by line of `src/prog.c` in a gcovr JSON report.
fn gcovr_counts(report: &Value) -> std::collections::BTreeMap<u64, u64> {
    let file = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"].as_str().unwrap().ends_with("prog.c"))
        .unwrap_or_else(|| panic!("prog.c not in {report}"));
    file["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["line_number"].as_u64().unwrap(),
                l["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn gcc_tests_keep_their_own_gcda_and_the_merge_covers_both() {
    let Some(sb) = c_project(&["alpha", "beta"]) else {
        return;
    };
    let out = warden(&sb)
        .args(["run", "--coverage", "tests", "--json", "ev.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let ev = events(&sb, "ev.jsonl");
    let dirs = coverage_dirs(&ev);
    let alpha = &dirs["tests/alpha_test.sh"];
    let beta = &dirs["tests/beta_test.sh"];
    assert!(
        alpha.ends_with("coverage/tests__alpha_test.sh"),
        "{alpha:?}"
    );
    assert_ne!(alpha, beta);
    for dir in [alpha, beta] {
        let gcda = files_ending(dir, ".gcda");
        assert_eq!(gcda.len(), 1, "one .gcda set per test in {dir:?}: {gcda:?}");
        // The object's whole path is kept under the test's directory (GCOV_PREFIX_STRIP=0).
        let build = sb.path().join("build").canonicalize().unwrap();
        assert_eq!(
            gcda[0],
            dir.join(build.strip_prefix("/").unwrap()).join("prog.gcda")
        );
    }
    // Which tests cover a line: each test's own directory is a report of its own.
    let gcovr = tool(&["gcovr"]).unwrap();
    let root = sb.path().to_string_lossy().into_owned();
    for (dir, ran, not) in [
        (alpha, ALPHA_LINE, BETA_LINE),
        (beta, BETA_LINE, ALPHA_LINE),
    ] {
        let json = sh(
            sb.path(),
            &gcovr,
            &["--root", &root, "--json", "-", &dir.to_string_lossy()],
        );
        let counts = gcovr_counts(&serde_json::from_str(&json).unwrap());
        assert_eq!((counts[&ran], counts[&not]), (1, 0), "{dir:?}: {counts:?}");
    }
    // The merge covers both tests' lines.
    let merged = coverage_event(&ev, "gcov");
    assert_eq!(
        (merged["tests"].as_u64(), merged["files"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(merged["tool"], "gcovr", "{merged}");
    let txt = PathBuf::from(merged["merged"].as_str().unwrap());
    assert!(txt.ends_with("coverage-merged/gcov.txt"), "{merged}");
    assert!(std::fs::read_to_string(&txt)
        .unwrap()
        .contains("src/prog.c"));
    // Cobertura XML for CI beside it.
    let xml = std::fs::read_to_string(txt.with_file_name("gcov.xml")).unwrap();
    assert!(xml.contains("<coverage") && xml.contains("prog.c"), "{xml}");
    let json = txt.with_file_name("gcov.json");
    let counts =
        gcovr_counts(&serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap());
    assert_eq!(
        (counts[&ALPHA_LINE], counts[&BETA_LINE], counts[&GAMMA_LINE]),
        (1, 1, 0),
        "{counts:?}"
    );
    // One line for the kind, with where the merged report is.
    let line = format!(
        "coverage gcov: 2 tests, 2 files merged by gcovr into {}",
        txt.display()
    );
    assert!(out.stderr.contains(&line), "{}", out.describe());
}

#[test]
fn without_gcovr_gcov_tool_merges_and_gcov_reports() {
    let Some(sb) = c_project(&["alpha", "beta"]) else {
        return;
    };
    let (Some(gcov), Some(gcov_tool)) = (tool(&["gcov"]), tool(&["gcov-tool"])) else {
        return;
    };
    // A PATH with gcov and gcov-tool only.
    let bin = sb.mkdir("bin");
    std::os::unix::fs::symlink(&gcov, bin.join("gcov")).unwrap();
    std::os::unix::fs::symlink(&gcov_tool, bin.join("gcov-tool")).unwrap();
    let out = warden(&sb)
        .env("PATH", &bin)
        .args(["run", "--coverage", "tests", "--json", "ev.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let ev = events(&sb, "ev.jsonl");
    let merged = coverage_event(&ev, "gcov");
    assert_eq!(merged["tool"], "gcov-tool", "{merged}");
    let report = PathBuf::from(merged["merged"].as_str().unwrap());
    assert!(report.ends_with("coverage-merged/gcov"), "{merged}");
    let text: String = files_ending(&report, "prog.gcov")
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    // `count:line:source`: both tests' lines ran once, main twice.
    let count = |line: u64| {
        text.lines()
            .find_map(|l| {
                let mut f = l.split(':');
                let n = f.next()?.trim();
                (f.next()?.trim() == line.to_string()).then(|| n.to_string())
            })
            .unwrap_or_else(|| panic!("no line {line} in {text}"))
    };
    assert_eq!(
        (count(ALPHA_LINE), count(BETA_LINE), count(GAMMA_LINE)),
        ("1".into(), "1".into(), "#####".into()),
        "{text}"
    );
    assert!(out
        .stderr
        .contains("coverage gcov: 2 tests, 2 files merged by gcov-tool into"));
}

const ODD: &str = "tests/-one it's \"β\"_test.sh";

#[test]
fn node_writes_one_profile_per_test_process() {
    let Some(node) = tool(&["node"]) else {
        return;
    };
    let sb = Sandbox::new();
    sb.mkdir("registry");
    let node = node.to_string_lossy();
    // An odd name: its directory is named after it all the same.
    sb.write_executable(
        ODD,
        &format!("#!/bin/sh\nexec {node} -e 'console.log(1 + 1)'\n"),
    );
    // Two node processes: the test's and the child it starts.
    sb.write_executable(
        "tests/two_test.sh",
        &format!(
            "#!/bin/sh\nexec {node} -e \"require('child_process').execFileSync(process.execPath, ['-e', '0'])\"\n"
        ),
    );
    let out = warden(&sb)
        .args(["run", "--coverage", "tests", "--json", "ev.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let ev = events(&sb, "ev.jsonl");
    let dirs = coverage_dirs(&ev);
    assert!(
        dirs[ODD].ends_with("tests__-one it's \"β\"_test.sh"),
        "{dirs:?}"
    );
    for (id, processes) in [(ODD, 1), ("tests/two_test.sh", 2)] {
        let profiles = files_ending(&dirs[id], ".json");
        assert_eq!(profiles.len(), processes, "{id}: {profiles:?}");
        for p in profiles {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            assert!(name.starts_with("coverage-"), "{name}");
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            assert!(v["result"].is_array(), "{name} is not a V8 profile");
        }
    }
    let node_ev = coverage_event(&ev, "node");
    assert_eq!(
        (node_ev["tests"].as_u64(), node_ev["files"].as_u64()),
        (Some(2), Some(3))
    );
    if node_ev["merged"].is_null() {
        // No c8: where the data is and how to merge it.
        assert!(
            node_ev["command"].as_str().unwrap().contains("c8 report"),
            "{node_ev}"
        );
        assert!(
            out.stderr
                .contains("coverage node: 2 tests, 3 files not merged"),
            "{}",
            out.describe()
        );
    }
}

const PROG_RS: &str = r#"fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("alpha") => println!("alpha path"),
        _ => println!("other path"),
    }
}
"#;

/// Every `llvm-profdata` on PATH, split into those that read the `.profraw` of this rustc and
/// those too old for it, as `llvm-profdata merge` says.
fn profdata_reading(profraw: &Path, scratch: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut found = Vec::new();
    let mut old = Vec::new();
    let paths = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&paths) {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == "llvm-profdata" || name.starts_with("llvm-profdata-") {
                let ok = Command::new(e.path())
                    .args(["merge", "-o"])
                    .arg(scratch.join("probe.profdata"))
                    .arg(profraw)
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if ok {
                    found.push(e.path());
                } else {
                    old.push(e.path());
                }
            }
        }
    }
    (found, old)
}

#[test]
fn rust_tests_write_profraw_merged_by_an_llvm_profdata_that_reads_it() {
    let Some(rustc) = tool(&["rustc"]) else {
        return;
    };
    let sb = Sandbox::new();
    sb.mkdir("registry");
    sb.write("src/prog.rs", PROG_RS);
    sb.mkdir("build");
    sh(
        sb.path(),
        &rustc,
        &[
            "-C",
            "instrument-coverage",
            "-o",
            "build/prog",
            "src/prog.rs",
        ],
    );
    // A comma in a name: llvm-profdata's input list must not read it as a weight.
    for arg in ["alpha", "be,ta"] {
        sb.write_executable(
            &format!("tests/{arg}_test.sh"),
            &format!("#!/bin/sh\nexec ../build/prog '{arg}'\n"),
        );
    }
    let out = warden(&sb)
        .args(["run", "--coverage", "tests", "--json", "ev.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let ev = events(&sb, "ev.jsonl");
    let dirs = coverage_dirs(&ev);
    let mut one = None;
    for dir in dirs.values() {
        let raw = files_ending(dir, ".profraw");
        assert_eq!(
            raw.len(),
            1,
            "one process, one .profraw in {dir:?}: {raw:?}"
        );
        one = raw.into_iter().next();
    }
    let (readers, too_old) = profdata_reading(&one.unwrap(), sb.path());
    let llvm = coverage_event(&ev, "llvm");
    assert_eq!(
        (llvm["tests"].as_u64(), llvm["files"].as_u64()),
        (Some(2), Some(2))
    );
    if readers.is_empty() {
        assert!(
            !required(),
            "WARDEN_REQUIRE_COVERAGE=1 but no llvm-profdata on PATH reads rustc's .profraw \
             (.ci/run installs llvm-19)"
        );
        eprintln!("no llvm-profdata reads this rustc's profiles: only the raw data is checked");
        assert!(llvm["merged"].is_null(), "{llvm}");
        assert!(llvm["command"]
            .as_str()
            .unwrap()
            .starts_with("llvm-profdata merge"));
        return;
    }
    let merged = PathBuf::from(llvm["merged"].as_str().unwrap_or_else(|| panic!("{llvm}")));
    assert!(
        merged.ends_with("coverage-merged/coverage.profdata"),
        "{llvm}"
    );
    // Whichever merged it is one that reads the format, whatever `llvm-profdata` alone is.
    let tool = llvm["tool"].as_str().unwrap();
    assert!(
        readers.iter().any(|r| r.ends_with(tool)),
        "{tool} vs {readers:?}"
    );
    let show = sh(
        sb.path(),
        &readers[0],
        &[
            "show",
            "--all-functions",
            "--counts",
            &merged.to_string_lossy(),
        ],
    );
    // Both runs are counted in main.
    assert!(show.contains("Function count: 2"), "{show}");

    // Only llvm-profdata too old for this rustc on PATH (Debian 12's default is LLVM 14): the
    // run passes, and the line says why nothing was merged and how to do it.
    if too_old.is_empty() {
        return;
    }
    let bin = sb.mkdir("old-bin");
    for p in &too_old {
        // PATH may name one directory twice (/bin and /usr/bin): the first one wins.
        let link = bin.join(p.file_name().unwrap());
        if !link.exists() {
            std::os::unix::fs::symlink(p, link).unwrap();
        }
    }
    let out = warden(&sb)
        .env("PATH", &bin)
        .args(["run", "--coverage", "tests", "--json", "old.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let ev = events(&sb, "old.jsonl");
    let llvm = coverage_event(&ev, "llvm");
    assert!(llvm["merged"].is_null(), "{llvm}");
    let problem = llvm["problem"].as_str().unwrap();
    assert!(problem.contains("failed"), "{llvm}");
    assert!(llvm["command"]
        .as_str()
        .unwrap()
        .starts_with("llvm-profdata merge -sparse -o "));
    assert!(
        out.stderr
            .contains("coverage llvm: 2 tests, 2 files not merged (llvm-profdata"),
        "{}",
        out.describe()
    );
}

#[test]
fn python_coverage_is_combined_over_tests() {
    let Some(coverage) = tool(&["coverage", "python3-coverage", "coverage3"]) else {
        return;
    };
    let sb = Sandbox::new();
    sb.mkdir("registry");
    sb.write(
        "src/mod.py",
        "import sys\nif sys.argv[1] == 'alpha':\n    print('alpha path')\nelse:\n    print('beta path')\n",
    );
    // A coverage.py config: COVERAGE_PROCESS_START points at it.
    sb.write(".coveragerc", "[run]\nbranch = false\n");
    let cov = coverage.to_string_lossy();
    for arg in ["alpha", "beta"] {
        sb.write_executable(
            &format!("tests/{arg}_test.sh"),
            &format!(
                "#!/bin/sh\necho \"start=$COVERAGE_PROCESS_START\"\ncd \"$(dirname \"$0\")/..\"\nexec {cov} run -p src/mod.py {arg}\n"
            ),
        );
    }
    let out = warden(&sb)
        .args(["run", "--coverage", "tests", "--json", "ev.jsonl", "-v"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let rc = sb.path().join(".coveragerc");
    assert!(
        out.stderr.contains(&format!("start={}", rc.display())),
        "{}",
        out.describe()
    );
    let ev = events(&sb, "ev.jsonl");
    for dir in coverage_dirs(&ev).values() {
        let data = files_ending(dir, "");
        assert!(
            data.len() == 1
                && data[0]
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".coverage."),
            "one parallel data file in {dir:?}: {data:?}"
        );
    }
    let py = coverage_event(&ev, "python");
    let merged = PathBuf::from(py["merged"].as_str().unwrap_or_else(|| panic!("{py}")));
    assert!(merged.ends_with("coverage-merged/python.coverage"));
    let xml = std::fs::read_to_string(merged.with_file_name("python.xml")).unwrap();
    assert!(xml.contains("<coverage") && xml.contains("mod.py"), "{xml}");
    let report = Command::new(&coverage)
        .args(["report", "-m"])
        .current_dir(sb.path())
        .env("COVERAGE_FILE", &merged)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&report.stdout);
    // Every line of the module ran in one test or the other.
    let line = report
        .lines()
        .find(|l| l.contains("mod.py"))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(line.contains("100%"), "{report}");
}

/// The interpreter a coverage.py script runs with (its `#!` line).
fn interpreter_of(script: &Path) -> PathBuf {
    let text = std::fs::read_to_string(script).unwrap();
    let line = text.lines().next().unwrap_or_default();
    let program = line.trim_start_matches("#!").split_whitespace().next();
    PathBuf::from(program.unwrap_or_else(|| panic!("no #! line in {}", script.display())))
}

#[test]
fn python_subprocesses_are_measured_through_coverage_process_start() {
    let Some(coverage) = tool(&["coverage", "python3-coverage", "coverage3"]) else {
        return;
    };
    let python = interpreter_of(&coverage);
    let sb = Sandbox::new();
    sb.mkdir("registry");
    // Measurement starts in every interpreter that finds COVERAGE_PROCESS_START set: the
    // standard coverage.py set-up for subprocesses (here through sitecustomize).
    sb.write(".coveragerc", "[run]\nparallel = true\n");
    sb.write(
        "site/sitecustomize.py",
        "import coverage\ncoverage.process_startup()\n",
    );
    sb.write(
        "src/main.py",
        "import subprocess, sys\nsubprocess.run([sys.executable, 'src/child.py', sys.argv[1]], check=True)\n",
    );
    sb.write(
        "src/child.py",
        "import sys\nif sys.argv[1] == 'alpha':\n    print('alpha')\nelse:\n    print('beta')\n",
    );
    for arg in ["alpha", "beta"] {
        sb.write_executable(
            &format!("tests/{arg}_test.sh"),
            &format!(
                "#!/bin/sh\ncd ..\nPYTHONPATH=site exec {} src/main.py {arg}\n",
                python.display()
            ),
        );
    }
    let out = warden(&sb)
        .args(["run", "--coverage", "tests", "--json", "ev.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let ev = events(&sb, "ev.jsonl");
    for dir in coverage_dirs(&ev).values() {
        // The test's interpreter and the one it started.
        let data = files_ending(dir, "");
        assert_eq!(data.len(), 2, "{dir:?}: {data:?}");
    }
    let py = coverage_event(&ev, "python");
    assert_eq!(
        (py["tests"].as_u64(), py["files"].as_u64()),
        (Some(2), Some(4))
    );
    let merged = py["merged"].as_str().unwrap_or_else(|| panic!("{py}"));
    let report = Command::new(&coverage)
        .args(["report", "-m", "--include=src/child.py"])
        .current_dir(sb.path())
        .env("COVERAGE_FILE", merged)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&report.stdout);
    let line = report
        .lines()
        .find(|l| l.contains("child.py"))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(line.contains("100%"), "{report}");
}

#[test]
fn without_coverage_no_variable_is_set_and_with_it_all_are() {
    let sb = Sandbox::new();
    sb.mkdir("registry");
    sb.write_executable("tests/env_test.sh", "#!/bin/sh\nenv\n");
    let out = warden(&sb)
        .args(["run", "tests", "-v", "--json", "off.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    for var in VARIABLES {
        assert!(
            !out.stderr.contains(&format!("{var}=")),
            "{var} set without --coverage\n{}",
            out.describe()
        );
    }
    let ev = events(&sb, "off.jsonl");
    assert!(of_type(&ev, "test-finished")[0]
        .get("coverage_dir")
        .is_none());
    assert!(of_type(&ev, "coverage").is_empty());
    let run_dir = sb.path().join(".warden/runs").join(run_id(&ev).unwrap());
    assert!(!run_dir.join("coverage").exists());

    // `[run] coverage = true` does the same as the flag.
    sb.write("warden.toml", "[run]\ncoverage = true\n");
    let out = warden(&sb)
        .args(["run", "tests", "-v", "--json", "on.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let ev = events(&sb, "on.jsonl");
    let dir = &coverage_dirs(&ev)["tests/env_test.sh"];
    for (var, value) in [
        (
            "LLVM_PROFILE_FILE",
            format!("{}/%p-%m.profraw", dir.display()),
        ),
        ("GCOV_PREFIX", dir.display().to_string()),
        ("GCOV_PREFIX_STRIP", "0".to_string()),
        ("GOCOVERDIR", dir.display().to_string()),
        ("NODE_V8_COVERAGE", dir.display().to_string()),
        ("COVERAGE_FILE", format!("{}/.coverage", dir.display())),
    ] {
        assert!(
            out.stderr.contains(&format!("    {var}={value}\n")),
            "{var}={value} not set\n{}",
            out.describe()
        );
    }
    // No coverage.py config in the project: no COVERAGE_PROCESS_START.
    assert!(
        !out.stderr.contains("COVERAGE_PROCESS_START="),
        "{}",
        out.describe()
    );
    // Nothing was written: the run says so instead of a merge line.
    assert!(
        out.stderr.contains("no test wrote coverage data"),
        "{}",
        out.describe()
    );
}

#[test]
fn a_users_own_value_wins_and_warden_says_so() {
    let sb = Sandbox::new();
    sb.mkdir("registry");
    sb.write(
        "warden.toml",
        "[[suite]]\nname = \"mine\"\ninclude = [\"**/*_test.sh\"]\nenv = { NODE_V8_COVERAGE = \"/suite/v8\" }\n",
    );
    sb.write_executable("tests/env_test.sh", "#!/bin/sh\nenv\n");
    let out = warden(&sb)
        .env("GOCOVERDIR", "/mine/go")
        .env("GCOV_PREFIX", "/mine/gcov")
        .args(["run", "--coverage", "tests", "-v"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    for kept in [
        "GOCOVERDIR=/mine/go",
        "GCOV_PREFIX=/mine/gcov",
        "NODE_V8_COVERAGE=/suite/v8",
    ] {
        assert!(
            out.stderr.contains(&format!("    {kept}\n")),
            "{kept}\n{}",
            out.describe()
        );
    }
    // The strip only makes sense with warden's prefix.
    assert!(
        !out.stderr.contains("GCOV_PREFIX_STRIP="),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("LLVM_PROFILE_FILE="),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr.contains(
            "warning: --coverage: GOCOVERDIR is already set for every test; warden did not set it"
        ),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr.contains(
            "warning: --coverage: suite `mine` sets NODE_V8_COVERAGE; warden did not set it"
        ),
        "{}",
        out.describe()
    );
    // `list --json --coverage` shows the same: what warden sets, not what the user did.
    let list = warden(&sb)
        .env("GOCOVERDIR", "/mine/go")
        .args(["list", "--json", "--coverage", "tests"])
        .run();
    assert_eq!(list.code, Some(0), "{}", list.describe());
    let tests = parse_list(&list.stdout).unwrap();
    let cov = &tests[0]["coverage"];
    assert!(
        cov["dir"]
            .as_str()
            .unwrap()
            .ends_with("/runs/<run-id>/coverage/tests__env_test.sh"),
        "{cov}"
    );
    let env = cov["env"].as_object().unwrap();
    assert!(
        env.contains_key("LLVM_PROFILE_FILE") && env.contains_key("GCOV_PREFIX"),
        "{cov}"
    );
    assert!(
        !env.contains_key("GOCOVERDIR") && !env.contains_key("NODE_V8_COVERAGE"),
        "{cov}"
    );
}

#[test]
fn resume_keeps_the_coverage_of_carried_tests() {
    let Some(sb) = c_project(&["alpha", "beta"]) else {
        return;
    };
    // The third test hangs in the first run (it is interrupted) and not in the resumed one.
    sb.write_executable(
        "tests/gamma_test.sh",
        "#!/bin/sh\ncd \"$(dirname \"$0\")/..\"\n[ -e resumed ] || sleep 60\nexec build/prog gamma\n",
    );
    let mut child = spawn(
        &sb,
        &["run", "--coverage", "-j3", "tests", "--json", "first.jsonl"],
    );
    let start = Instant::now();
    while sb
        .read("first.jsonl")
        .map(|t| t.matches("\"test-finished\"").count() < 2)
        .unwrap_or(true)
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "alpha and beta did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    let first = events(&sb, "first.jsonl");
    // Stopped: nothing merged, the command is given.
    let gcov = coverage_event(&first, "gcov");
    assert!(
        gcov["merged"].is_null() && gcov["command"].is_string(),
        "{gcov}"
    );
    sb.write("resumed", "");
    // `--resume` alone repeats the interrupted run's options, `--coverage` included.
    let out = warden(&sb)
        .args(["run", "--resume", "--json", "second.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let ev = events(&sb, "second.jsonl");
    let new_run = sb.path().join(".warden/runs").join(run_id(&ev).unwrap());
    let dirs = coverage_dirs(&ev);
    for (id, dir) in &dirs {
        assert!(
            dir.starts_with(new_run.join("coverage")),
            "{id}: {dir:?} is not in the new run"
        );
        assert_eq!(files_ending(dir, ".gcda").len(), 1, "{id}: {dir:?}");
    }
    let carried = of_type(&ev, "test-finished")
        .iter()
        .filter(|e| e["carried_over"] == true)
        .count();
    assert_eq!(carried, 2);
    let merged = coverage_event(&ev, "gcov");
    assert_eq!(merged["tests"], 3, "{merged}");
    let json = PathBuf::from(merged["merged"].as_str().unwrap()).with_file_name("gcov.json");
    let counts =
        gcovr_counts(&serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap());
    assert_eq!(
        (counts[&ALPHA_LINE], counts[&BETA_LINE], counts[&GAMMA_LINE]),
        (1, 1, 1),
        "{counts:?}"
    );
}

#[test]
fn a_normal_user_gets_the_same() {
    let user = normal_user().expect("a normal user");
    let Some(sb) = c_project(&["alpha", "beta"]) else {
        return;
    };
    user.own_tree(sb.path());
    let out = warden(&sb)
        .run_as(&user)
        .args(["run", "--coverage", "tests", "--json", "ev.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let ev = events(&sb, "ev.jsonl");
    for dir in coverage_dirs(&ev).values() {
        assert_eq!(files_ending(dir, ".gcda").len(), 1, "{dir:?}");
    }
    let merged = coverage_event(&ev, "gcov");
    assert!(merged["merged"].is_string(), "{merged}");
}

per_engine!(containers_write_into_the_tests_coverage_dir);

/// Inside the container (as its hardened user, on a read-only workspace) the variables point
/// at the test's directory, mounted writable at the same path.
fn containers_write_into_the_tests_coverage_dir(e: &Engine) {
    let sb = Sandbox::new();
    sb.mkdir("registry");
    sb.write(
        "test/write_test.sh",
        "set -e\necho counts > \"$GCOV_PREFIX/probe.gcda\"\necho \"dir=$GOCOVERDIR\"\n",
    );
    e.own(sb.path());
    let out = e
        .warden(sb.path())
        .env("WARDEN_REGISTRY_DIR", sb.path().join("registry"))
        .args([
            "--container",
            "--container-image",
            IMAGE,
            "--coverage",
            "-v",
        ])
        .args(e.choice())
        .args(["--json", "ev.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let ev = events(&sb, "ev.jsonl");
    let dir = &coverage_dirs(&ev)["test/write_test.sh"];
    assert_eq!(
        std::fs::read_to_string(dir.join("probe.gcda")).unwrap(),
        "counts\n"
    );
    assert!(
        out.stderr.contains(&format!("dir={}", dir.display())),
        "{}",
        out.describe()
    );
    let gcov = coverage_event(&ev, "gcov");
    assert_eq!(gcov["files"], 1, "{gcov}");
}

/// A merge tool that never ends: warden kills it (with the child it waits for and the one it
/// double-forked) at `WARDEN_COVERAGE_MERGE_TIMEOUT`, says so on the kind's line with the tool
/// and its arguments, leaves the raw data, and exits with the tests' code. The tool is a fake
/// `go` first on PATH (the tests write Go's data files themselves), so no toolchain is needed.
#[test]
fn a_hanging_merge_tool_is_killed_at_its_deadline_and_the_run_ends() {
    let sb = Sandbox::new();
    sb.mkdir("registry");
    let pids = sb.mkdir("pids");
    for (name, code) in [("pass", 0), ("fail", 1)] {
        sb.write(
            &format!("tests/{name}_test.sh"),
            &format!(
                "echo meta > \"$GOCOVERDIR/covmeta.{name}\"\n\
                 echo counts > \"$GOCOVERDIR/covcounters.{name}.1.1\"\nexit {code}\n"
            ),
        );
    }
    let p = pids.display();
    sb.write_executable(
        "bin/go",
        &format!(
            "#!/bin/sh\necho $$ > '{p}/tool'\n\
             (sleep 600 </dev/null >/dev/null 2>&1 & echo $! > '{p}/left')\n\
             sleep 600 &\necho $! > '{p}/child'\nwait\n"
        ),
    );
    let mut path = std::ffi::OsString::from(sb.path().join("bin"));
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let out = warden(&sb)
        .env("PATH", &path)
        .env("WARDEN_COVERAGE_MERGE_TIMEOUT", "2s")
        .args(["run", "--coverage", "tests", "--json", "ev.jsonl"])
        .limit(Duration::from_secs(60))
        .spawn()
        .unwrap()
        // What warden left is checked by pid below, not swept away first.
        .wait_unswept()
        .unwrap();
    let pid = |who: &str| -> i32 {
        let text = sb.read(&format!("pids/{who}")).unwrap_or_else(|e| {
            panic!(
                "the fake go never wrote its {who} pid: {e}\n{}",
                out.describe()
            )
        });
        text.trim().parse().unwrap()
    };
    let pids: Vec<(&str, i32)> = ["tool", "child", "left"].map(|w| (w, pid(w))).into();
    // A zombie of an orphan is init's to reap: gone in all but name.
    let alive: Vec<_> = pids.iter().filter(|(_, p)| !is_zombie(*p)).collect();
    for (_, p) in &alive {
        // SAFETY: kill(2) of a pid this test's fake tool wrote and that is still alive.
        unsafe { libc::kill(*p, libc::SIGKILL) };
    }
    assert!(
        alive.is_empty(),
        "left running: {alive:?}\n{}",
        out.describe()
    );
    assert_eq!(out.code, Some(1), "the tests' code: {}", out.describe());
    // Tests, a 2 s deadline and the run's own start and end: far below a hang.
    assert!(
        out.elapsed < Duration::from_secs(30),
        "took {:?}\n{}",
        out.elapsed,
        out.describe()
    );
    let ev = events(&sb, "ev.jsonl");
    let go = coverage_event(&ev, "go");
    assert_eq!(
        (go["tests"].as_u64(), go["files"].as_u64()),
        (Some(2), Some(4)),
        "{go}"
    );
    assert!(go["merged"].is_null(), "{go}");
    assert_eq!(go["tool"], "go", "{go}");
    let problem = go["problem"].as_str().unwrap();
    assert!(
        problem.starts_with("`go tool covdata merge -i=")
            && problem.ends_with(
                "did not finish within 2s and was killed (the deadline is \
                 WARDEN_COVERAGE_MERGE_TIMEOUT)"
            ),
        "{problem}"
    );
    assert!(go["command"].as_str().is_some(), "{go}");
    let raw = PathBuf::from(go["raw_dir"].as_str().unwrap());
    assert_eq!(files_ending(&raw, ".1.1").len(), 2, "the raw data stays");
    assert!(
        out.stderr
            .contains("coverage go: 2 tests, 4 files not merged (`go tool covdata merge")
            && out
                .stderr
                .contains("did not finish within 2s and was killed"),
        "{}",
        out.describe()
    );
}
