//! The hostile suite's scene: a project (a copy of `fixtures/hostile/<area>` plus whatever a
//! case generates), a private run registry and state dir, and the checks every hostile case
//! makes after a run: the exit code, the statuses, that the JSON and JUnit reports parse, and
//! that no process carrying the run's id (or the invocation's mark) survives.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::contain::{registry_entries, REGISTRY_ENV};
use super::events::{parse_json_lines, run_id, statuses};
use super::procs::{kill_procs, procs_with_env};
use super::sandbox::{copy_tree, repo_root, Sandbox};
use super::user::TestUser;
use super::warden::{assert_no_panic, Outcome, Warden};

/// The reports every hostile run writes, relative to the scene.
pub const JSON_REPORT: &str = "events.jsonl";
pub const JUNIT_REPORT: &str = "junit.xml";

pub struct Scene {
    pub sandbox: Sandbox,
    /// Run ids seen; their processes are killed when the scene is dropped, whatever happened.
    watched: Vec<String>,
    user: Option<TestUser>,
}

/// What a finished run reported.
#[derive(Debug)]
pub struct Verdict {
    pub events: Vec<Value>,
    pub statuses: BTreeMap<String, String>,
    pub run_id: Option<String>,
    /// `(name, status word)` of every JUnit testcase: `skipped`, `failure`, `error` or `pass`.
    pub junit_cases: Vec<(String, String)>,
}

impl Verdict {
    pub fn status(&self, id: &str) -> Option<&str> {
        self.statuses.get(id).map(String::as_str)
    }

    pub fn finished(&self, id: &str) -> Option<&Value> {
        self.events
            .iter()
            .find(|e| e["type"] == "test-finished" && e["id"] == id)
    }
}

impl Scene {
    /// An empty project.
    pub fn empty() -> Scene {
        let sandbox = Sandbox::new();
        sandbox.mkdir("registry");
        Scene {
            sandbox,
            watched: Vec::new(),
            user: None,
        }
    }

    /// A copy of `fixtures/hostile/<area>` at `<scene>/<area>`.
    pub fn with_area(area: &str) -> Scene {
        let scene = Scene::empty();
        copy_tree(
            &repo_root().join("fixtures/hostile").join(area),
            &scene.sandbox.path().join(area),
        );
        scene
    }

    /// Every later run is as `user` (who is given the whole scene now).
    pub fn run_by(mut self, user: &TestUser) -> Scene {
        user.own_tree(self.sandbox.path());
        self.user = Some(user.clone());
        self
    }

    pub fn path(&self) -> &Path {
        self.sandbox.path()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path().join("state")
    }

    /// `warden` in the scene, with the private registry (and as the scene's user).
    pub fn warden(&self) -> Warden {
        let w = Warden::new(self.path()).env(REGISTRY_ENV, self.path().join("registry"));
        match &self.user {
            Some(u) => w.run_as(u),
            None => w,
        }
    }

    /// `warden` in `<scene>/<rel>`, with the private registry (and as the scene's user).
    pub fn warden_in(&self, rel: &str) -> Warden {
        let w = Warden::new(&self.path().join(rel)).env(REGISTRY_ENV, self.path().join("registry"));
        match &self.user {
            Some(u) => w.run_as(u),
            None => w,
        }
    }

    /// `warden run <paths> --state-dir state --json events.jsonl --junit junit.xml <extra>`.
    pub fn run(&self, paths: &[&str], extra: &[&str]) -> Warden {
        self.warden()
            .arg("run")
            .args(paths)
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(["--json", JSON_REPORT, "--junit", JUNIT_REPORT])
            .args(extra)
    }

    /// The checks of every run: `code`, no panic, both reports parse, and nothing of the run
    /// left alive (killed by pid when found, and then a failure).
    pub fn verify(&mut self, out: &Outcome, code: i32) -> Verdict {
        assert_no_panic(out);
        let events = self
            .sandbox
            .read(JSON_REPORT)
            .and_then(|t| parse_json_lines(&t))
            .unwrap_or_else(|e| panic!("the JSON report does not parse: {e}\n{}", out.describe()));
        let id = run_id(&events);
        if let Some(id) = &id {
            self.watched.push(format!("WARDEN_RUN_ID={id}"));
        }
        let junit_cases = self
            .junit_cases()
            .unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
        self.assert_nothing_left(out, id.as_deref());
        assert_eq!(out.code, Some(code), "exit code\n{}", out.describe());
        let statuses = statuses(&events).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
        Verdict {
            events,
            statuses,
            run_id: id,
            junit_cases,
        }
    }

    /// No process with the run's id alive now, and none that outlived warden.
    pub fn assert_nothing_left(&mut self, out: &Outcome, run_id: Option<&str>) {
        let mut problems = Vec::new();
        if let Some(id) = run_id {
            let alive = procs_with_env(&format!("WARDEN_RUN_ID={id}"));
            kill_procs(&alive);
            problems.extend(alive.iter().map(|p| format!("alive after the run: {p}")));
        }
        problems.extend(
            out.left_behind
                .iter()
                .map(|p| format!("outlived warden: {p}")),
        );
        let entries = registry_entries(&self.path().join("registry"));
        if !entries.is_empty() {
            problems.push(format!("registry entries left: {entries:?}"));
        }
        assert!(
            problems.is_empty(),
            "{}\n{}",
            problems.join("\n"),
            out.describe()
        );
    }

    /// The testcases of `junit.xml`; an error when it does not parse.
    pub fn junit_cases(&self) -> Result<Vec<(String, String)>, String> {
        let xml = self.sandbox.read(JUNIT_REPORT)?;
        let doc = roxmltree::Document::parse(&xml)
            .map_err(|e| format!("the JUnit report does not parse: {e}\n{xml}"))?;
        Ok(doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|n| {
                let word = ["skipped", "failure", "error"]
                    .into_iter()
                    .find(|w| n.children().any(|c| c.has_tag_name(*w)))
                    .unwrap_or("pass");
                (
                    n.attribute("name").unwrap_or("").to_string(),
                    word.to_string(),
                )
            })
            .collect())
    }

    /// Writes a file with mode 0755 below the scene (and gives it to the scene's user).
    pub fn script(&self, rel: &str, body: &str) -> PathBuf {
        let path = self.sandbox.write_executable(rel, body);
        if let Some(u) = &self.user {
            u.own_tree(self.path());
        }
        path
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        for entry in &self.watched {
            kill_procs(&procs_with_env(entry));
        }
    }
}

/// Control bytes that must never reach a terminal from a test: ESC, CR, NUL, BEL, and the C1
/// CSI. Newlines and tabs are warden's own.
pub fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t') || ('\u{80}'..='\u{9f}').contains(&c)
        })
        .collect()
}

/// Bytes of a file (panics naming it).
pub fn read_bytes(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
