//! The seed runner's own command lines, verbatim (issue 10, section 2): each is run through
//! `sh -c` exactly as written in `fixtures/seed/expected.json`, with this build's `warden` on
//! `PATH`, in a copy of `fixtures/seed` (`test/unit`, `test/integration`, `test/system` with
//! slow-, tag- and skip-marked files), and must do what its words say: the exit code, and the
//! status of every test it ran, as the expected data says. `warden test --resume` continues the
//! first command after a Ctrl-C. The container commands use the image named in the fixture's
//! `warden.toml`, built from local files by `fixtures/container/build-image.sh`.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use serde::Deserialize;

const LIMIT: Duration = Duration::from_secs(90);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    #[allow(dead_code)]
    about: Vec<String>,
    commands: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    command: String,
    exit: i32,
    /// Test id → status word of its line in the plain output.
    #[serde(default)]
    ran: Option<BTreeMap<String, String>>,
    /// Ids `--list` prints, sorted.
    #[serde(default)]
    listed: Option<Vec<String>>,
    /// `container`: every test's log says it ran in a container.
    #[serde(default)]
    r#where: Option<String>,
    /// The tests ran on different workers at once.
    #[serde(default)]
    parallel: bool,
}

fn expected() -> Expected {
    let path = repo_root().join("fixtures/seed/expected.json");
    let text = std::fs::read_to_string(&path).expect("fixtures/seed/expected.json");
    serde_json::from_str(&text).expect("valid expected.json")
}

/// A copy of `fixtures/seed`; commands run in it.
struct Project {
    sandbox: Sandbox,
    dir: PathBuf,
}

impl Project {
    fn new() -> Project {
        let sandbox = Sandbox::with_fixture("seed");
        let dir = sandbox.path().join("seed");
        Project { sandbox, dir }
    }

    fn envs(&self) -> Vec<(&'static str, OsString)> {
        vec![
            (
                "WARDEN_REGISTRY_DIR",
                self.sandbox.path().join("registry").into(),
            ),
            ("SEED_LOG", self.sandbox.path().join("workers.txt").into()),
        ]
    }

    fn run(&self, command: &str) -> ShellOutcome {
        let out = sh(&self.dir, command, self.sandbox.path(), &self.envs(), LIMIT);
        assert!(
            procs_with_env(&format!("{MARK_VAR}={}", self.sandbox.path().display())).is_empty(),
            "`{command}` left processes behind"
        );
        out
    }

    /// The logs of the newest run.
    fn last_logs(&self) -> Vec<(String, String)> {
        let runs = self.dir.join(".warden/runs");
        let newest = std::fs::read_dir(&runs)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .max()
            .expect("a run directory");
        std::fs::read_dir(newest.join("logs"))
            .unwrap()
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read_to_string(e.path()).unwrap_or_default(),
                )
            })
            .collect()
    }
}

/// Test id → status word, from the plain output's one line per finished test.
fn statuses(stderr: &str) -> BTreeMap<String, String> {
    const WORDS: [&str; 8] = [
        "PASS", "FAIL", "TIMEOUT", "SKIP", "FLAKY", "LEAK", "ERROR", "OOM",
    ];
    stderr
        .lines()
        .filter_map(|line| {
            let (word, rest) = line.split_once(' ')?;
            if !WORDS.contains(&word) {
                return None;
            }
            let after = rest.split_once("] ")?.1;
            let id = after.split(" (").next()?.to_string();
            Some((id, word.to_string()))
        })
        .collect()
}

fn check(project: &Project, case: &Case, out: &ShellOutcome) {
    assert_eq!(out.code, Some(case.exit), "{}", out.describe());
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());
    if let Some(ran) = &case.ran {
        assert_eq!(&statuses(&out.stderr), ran, "{}", out.describe());
    }
    if let Some(listed) = &case.listed {
        let mut ids: Vec<String> = out
            .stdout
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
        ids.sort();
        assert_eq!(&ids, listed, "{}", out.describe());
    }
    if case.r#where.as_deref() == Some("container") {
        let logs = project.last_logs();
        assert_eq!(
            logs.len(),
            case.ran.as_ref().map_or(0, |r| r.len()),
            "{logs:?}"
        );
        for (name, text) in &logs {
            assert!(text.contains("ran in: container"), "{name}: {text}");
        }
    }
}

/// Every command of the expected data but the container ones, each in a fresh copy.
#[test]
fn the_seeds_command_lines_work_verbatim() {
    for case in expected().commands {
        if case.r#where.is_some() {
            continue;
        }
        let project = Project::new();
        let out = project.run(&case.command);
        check(&project, &case, &out);
        if case.parallel {
            let workers = project.sandbox.read("workers.txt").unwrap_or_default();
            let used: std::collections::BTreeSet<&str> = workers
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .collect();
            assert!(used.len() > 1, "one worker only: {workers}");
        }
    }
}

/// `--container-seq` and its seed spelling `--container-sequential`, with the image from
/// `warden.toml`: the tests ran in containers.
#[test]
fn the_container_command_lines_work_verbatim() {
    test_image();
    for case in expected().commands {
        if case.r#where.is_none() {
            continue;
        }
        let project = Project::new();
        let out = project.run(&case.command);
        check(&project, &case, &out);
    }
}

/// The first command interrupted with Ctrl-C (SIGINT), then `warden test --resume`: what
/// the shutdown message says to run. It completes the run with nothing rerun.
#[test]
fn warden_test_resume_continues_the_interrupted_run() {
    let cases = expected().commands;
    let first = &cases[0];
    let project = Project::new();
    // `exec` so that the signal reaches warden itself, with default dispositions.
    let child = sh_spawn(
        &project.dir,
        &format!("exec {}", first.command),
        project.sandbox.path(),
        &project.envs(),
    );
    let pid = child.id() as i32;
    let start = Instant::now();
    let journal_records = || -> usize {
        let runs = project.dir.join(".warden/runs");
        std::fs::read_dir(runs)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("journal.jsonl")).ok())
            .map(|t| t.matches("\"kind\":\"test\"").count())
            .sum()
    };
    while journal_records() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no test finished"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: kill(2) of the warden this test started (sh exec'd into it).
    unsafe { libc::kill(pid, libc::SIGINT) };
    let stopped = finish(child, &first.command, LIMIT);
    assert_eq!(stopped.code, Some(130), "{}", stopped.describe());
    assert!(
        stopped.stderr.contains(" test --resume`"),
        "{}",
        stopped.describe()
    );

    let resumed = project.run("warden test --resume");
    check(&project, first, &resumed);
    assert!(
        resumed.stderr.contains("results carried over"),
        "{}",
        resumed.describe()
    );
    assert!(
        resumed.stderr.contains("(carried over)"),
        "{}",
        resumed.describe()
    );
}

/// Helper check: the status parser reads the shapes of the plain output.
#[test]
fn status_lines_are_parsed() {
    let text = "warning: x\nPASS  [ 0.312s] test/a b_test.sh\nSKIP  [ 0.000s] t/x.t (why (not))\n\
                TIMEOUT [ 2.000s] t/h.sh (timed out after 2s)\n";
    let s = statuses(text);
    assert_eq!(s["test/a b_test.sh"], "PASS");
    assert_eq!(s["t/x.t"], "SKIP");
    assert_eq!(s["t/h.sh"], "TIMEOUT");
    assert_eq!(s.len(), 3);
}
