//! `warden run --cargo` (issue 13) on a small crate generated in a tempdir and built with the
//! offline cargo (it has no dependencies): every #[test] runs alone with cargo's working
//! directory and variables, #[ignore]d ones are skips unless `--run-ignored`, a leaked `sleep`
//! is killed and reported, a hang times out, a binary that cannot list is an ERROR naming it,
//! and a build failure or a PATH with `--cargo` exit 2.
//! Building the crate takes a few seconds: the tests here are not marked slow but build once
//! each.

mod common;

use common::*;

const CARGO_TOML: &str = r#"[package]
name = "demo"
version = "0.3.1-beta.2"
edition = "2021"
authors = ["A <a@example.com>", "B"]
description = "warden's cargo fixture"

[[bin]]
name = "tool"
path = "src/main.rs"

[[test]]
name = "crashy"
harness = false
"#;

/// Ids are `demo <module::case>` (the library) and `demo::api <case>` (tests/api.rs).
const LIB_RS: &str = r#"pub fn add(a: i32, b: i32) -> i32 { a + b }

#[cfg(test)]
mod tests {
    #[test]
    fn adds() { assert_eq!(super::add(1, 1), 2); }

    #[test]
    fn breaks() { assert_eq!(super::add(1, 1), 3, "arithmetic broke"); }

    #[test]
    #[ignore = "expensive"]
    fn ignored() {}

    #[test]
    fn cargo_env() {
        assert_eq!(std::env::var("CARGO_PKG_NAME").unwrap(), "demo");
        assert_eq!(std::env::var("CARGO_PKG_VERSION_PRE").unwrap(), "beta.2");
        assert_eq!(std::env::var("CARGO_PKG_AUTHORS").unwrap(), "A <a@example.com>:B");
        assert_eq!(std::env::var("CARGO_CRATE_NAME").unwrap(), "demo");
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
        assert_eq!(dir, env!("CARGO_MANIFEST_DIR"));
        assert_eq!(std::env::current_dir().unwrap(), std::path::Path::new(&dir));
    }

    #[test]
    fn leaks() {
        std::process::Command::new("sleep").arg("613.25").spawn().unwrap();
    }

    #[test]
    fn hangs() { std::thread::sleep(std::time::Duration::from_secs(600)); }

    pub mod deep {
        #[test]
        fn nested() {}
    }
}
"#;

const API_RS: &str = r#"#[test]
fn runs_the_tool() {
    let tool = std::env::var("CARGO_BIN_EXE_tool").unwrap();
    assert_eq!(tool, env!("CARGO_BIN_EXE_tool"));
    let out = std::process::Command::new(tool).output().unwrap();
    assert_eq!(out.stdout, b"tool\n");
    assert!(std::env::var("CARGO_TARGET_TMPDIR").is_ok());
}
"#;

/// A custom harness that cannot list: an ERROR of its own binary.
const CRASHY_RS: &str = r#"fn main() {
    if std::env::args().any(|a| a == "--list") {
        eprintln!("no listing here");
        std::process::exit(3);
    }
}
"#;

fn demo_crate() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write("Cargo.toml", CARGO_TOML);
    sandbox.write("src/lib.rs", LIB_RS);
    sandbox.write("src/main.rs", "fn main() { println!(\"tool\"); }\n");
    sandbox.write("tests/api.rs", API_RS);
    sandbox.write("tests/crashy.rs", CRASHY_RS);
    sandbox
}

/// warden with the crate's own target dir (never the caller's `CARGO_TARGET_DIR`) and cargo
/// offline.
fn warden(sandbox: &Sandbox) -> Warden {
    Warden::new(sandbox.path())
        .env("CARGO_TARGET_DIR", sandbox.path().join("target"))
        .env("CARGO_NET_OFFLINE", "true")
        .limit(std::time::Duration::from_secs(300))
}

fn sleeps_alive(arg: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if cmd.split(|&b| b == 0).any(|a| a == arg.as_bytes()) {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            if !stat.contains(") Z ") {
                pids.push(pid);
            }
        }
    }
    pids
}

#[test]
fn every_rust_test_runs_alone_like_cargo_would_run_it() {
    let sandbox = demo_crate();
    let out = warden(&sandbox)
        .args([
            "run",
            "--cargo",
            "--json",
            "events.jsonl",
            "--junit",
            "junit.xml",
        ])
        .args(["--timeout", "5s", "--grace", "300ms", "-j", "2"])
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.left_behind.is_empty(), "{:?}", out.left_behind);
    let events = parse_json_lines(&sandbox.read("events.jsonl").unwrap()).unwrap();
    let fin = finished_by_id(&events).unwrap();
    let st = |id: &str| {
        fin.get(id)
            .unwrap_or_else(|| panic!("no {id} in {:?}\n{}", fin.keys(), out.describe()))["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(st("demo tests::adds"), "pass");
    assert_eq!(st("demo tests::breaks"), "fail");
    assert_eq!(st("demo tests::ignored"), "skip");
    assert_eq!(st("demo tests::cargo_env"), "pass", "{}", out.describe());
    assert_eq!(st("demo tests::hangs"), "timeout");
    assert_eq!(st("demo tests::deep::nested"), "pass");
    assert_eq!(st("demo::api runs_the_tool"), "pass", "{}", out.describe());
    // The leaked sleep was found, named and killed.
    assert_eq!(st("demo tests::leaks"), "pass");
    let leaked = fin["demo tests::leaks"]["leaked"].to_string();
    assert!(leaked.contains("sleep"), "{leaked}");
    assert!(
        sleeps_alive("613.25").is_empty(),
        "the leaked sleep survived"
    );
    // The binary that cannot list is one ERROR naming it; the rest ran.
    let crashy = fin["demo::crashy"];
    assert_eq!(crashy["status"], "error");
    let message = crashy["message"].as_str().unwrap();
    assert!(
        message.starts_with("demo::crashy: listing its tests (")
            && message.ends_with("exited with 3: no listing here"),
        "{message}"
    );
    assert!(
        out.combined_output().contains("arithmetic broke"),
        "{}",
        out.describe()
    );
    assert_eq!(fin.len(), 9, "{:?}", fin.keys());
    // JUnit: the class of a case is its binary.
    let junit = sandbox.read("junit.xml").unwrap();
    assert!(
        junit.contains(r#"name="demo::api runs_the_tool" classname="demo::api""#),
        "{junit}"
    );

    // --run-ignored runs what was a skip; -k picks by id; the list shows levels.
    let out = warden(&sandbox)
        .args([
            "run",
            "--cargo",
            "--run-ignored",
            "-k",
            "ignored",
            "--json",
            "e2.jsonl",
        ])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let events = parse_json_lines(&sandbox.read("e2.jsonl").unwrap()).unwrap();
    let st2 = statuses(&events).unwrap();
    assert_eq!(st2.len(), 1);
    assert_eq!(st2["demo tests::ignored"], "pass");
    let out = warden(&sandbox).args(["list", "--cargo", "--unit"]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stdout.contains("demo tests::adds  [unit]"),
        "{}",
        out.describe()
    );
    assert!(!out.stdout.contains("demo::api"), "{}", out.describe());

    // --failed after a run of cases reruns the failed cases only.
    let out = warden(&sandbox).args(["list", "--cargo", "--failed"]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let mut lines: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.split("  [").next().unwrap())
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        ["demo tests::breaks", "demo tests::hangs", "demo::crashy"]
    );
}

#[test]
fn build_failures_and_misuse_exit_2() {
    let sandbox = demo_crate();
    sandbox.write("src/lib.rs", "pub fn broken( {\n");
    let out = warden(&sandbox).args(["run", "--cargo", "-q"]).run();
    out.assert_usage_error(&["cargo", "`cargo test --no-run` failed (exit 101)"]);
    let out = warden(&sandbox).args(["run", "--cargo", "src"]).run();
    out.assert_usage_error(&["--cargo", "takes no PATH"]);
    let out = warden(&sandbox).args(["run", "src", "--", "-p", "x"]).run();
    out.assert_usage_error(&["cargo options need --cargo"]);
    let not_a_crate = Sandbox::new();
    let out = Warden::new(not_a_crate.path())
        .args(["run", "--cargo", "-q"])
        .run();
    out.assert_usage_error(&["cargo", "Cargo.toml"]);
}

/// A libtest binary under the generic adapter (`list_format = "libtest"`), as a normal user:
/// cargo is root's here, so the binary is built first and warden lists it itself.
#[test]
fn a_normal_user_runs_libtest_cases_of_a_built_binary() {
    let user = normal_user().expect("a normal user to run warden as");
    let sandbox = demo_crate();
    sandbox.write(
        "tests/api.rs",
        "#[test]\nfn ok() {}\n#[test]\nfn bad() { panic!(\"bad\") }\n",
    );
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args(["build", "--tests", "--offline", "-q"])
        .current_dir(sandbox.path())
        .env("CARGO_TARGET_DIR", sandbox.path().join("target"))
        .status()
        .unwrap();
    assert!(status.success());
    let deps = sandbox.path().join("target/debug/deps");
    let api = std::fs::read_dir(&deps)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("api-") && !name.contains('.')
        })
        .expect("the api test binary");
    std::fs::create_dir_all(sandbox.path().join("bin")).unwrap();
    std::fs::copy(&api, sandbox.path().join("bin/api_test")).unwrap();
    sandbox.write(
        "warden.toml",
        "[[suite]]\ninclude = [\"*_test\"]\nlist = [\"{path}\", \"--list\", \"--format\", \"terse\"]\n\
         list_format = \"libtest\"\ncommand = [\"{path}\", \"--exact\", \"{case}\"]\n",
    );
    user.own_tree(sandbox.path());
    let out = Warden::new(sandbox.path())
        .args(["run", "bin", "--json", "events.jsonl"])
        .run_as(&user)
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let st = statuses(&parse_json_lines(&sandbox.read("events.jsonl").unwrap()).unwrap()).unwrap();
    assert_eq!(st["bin/api_test ok"], "pass");
    assert_eq!(st["bin/api_test bad"], "fail");
    assert_eq!(st.len(), 2);
}
