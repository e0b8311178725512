//! Containment tests' sandbox: a fixture copy with a private run registry and state dir, the
//! problems found so far, and the processes to kill whatever happens; plus polling and /proc
//! helpers for runs that are acted on while they run.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::events::{parse_json_lines, run_id};
use super::procs::{kill_procs, procs_with_env, Proc};
use super::sandbox::Sandbox;
use super::warden::{Outcome, Running, Warden};

pub const REGISTRY_ENV: &str = "WARDEN_REGISTRY_DIR";
pub const NO_CGROUP_ENV: &str = "WARDEN_NO_CGROUP";
/// How long to wait for the tests of a run to be up before acting on it.
pub const STARTUP_LIMIT: Duration = Duration::from_secs(20);

/// One test's sandbox: a copy of the fixture, a private registry dir and a state dir in it.
pub struct Case {
    pub fixture: &'static str,
    pub sandbox: Sandbox,
    /// Env entries (`WARDEN_RUN_ID=…`, marks) whose processes are killed when the case ends,
    /// however it ends: a failed assertion must not leave sleeps behind.
    pub watched: Vec<String>,
    pub problems: Vec<String>,
}

impl Case {
    pub fn new(fixture: &'static str) -> Case {
        let sandbox = Sandbox::with_fixture(fixture);
        sandbox.mkdir("registry");
        Case {
            fixture,
            sandbox,
            watched: Vec::new(),
            problems: Vec::new(),
        }
    }

    pub fn registry(&self) -> PathBuf {
        self.sandbox.path().join("registry")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.sandbox.path().join("state")
    }

    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.state_dir().join("runs").join(run_id)
    }

    /// `warden <args>` in the sandbox with the private registry.
    pub fn warden(&self) -> Warden {
        Warden::new(self.sandbox.path()).env(REGISTRY_ENV, self.registry())
    }

    /// `warden run <dir> --state-dir state --json events.jsonl --junit junit.xml <extra>`.
    pub fn run_args(&self, dir: &str, extra: &[&str]) -> Warden {
        self.warden()
            .args(["run", &format!("{}/{dir}", self.fixture)])
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(["--json", "events.jsonl", "--junit", "junit.xml"])
            .args(extra)
    }

    pub fn check(&mut self, ok: bool, problem: impl FnOnce() -> String) {
        if !ok {
            self.problems.push(problem());
        }
    }

    /// The events of `--json events.jsonl`; none (and a problem) when unreadable.
    pub fn events(&mut self) -> Vec<Value> {
        match self
            .sandbox
            .read("events.jsonl")
            .and_then(|t| parse_json_lines(&t))
        {
            Ok(events) => events,
            Err(e) => {
                self.problems.push(e);
                Vec::new()
            }
        }
    }

    /// The run id from `run-started`, watched from now on.
    pub fn run_id(&mut self, events: &[Value]) -> Option<String> {
        let id = run_id(events);
        match &id {
            Some(id) => self.watched.push(format!("WARDEN_RUN_ID={id}")),
            None => self
                .problems
                .push("no run-started event with a run_id".into()),
        }
        id
    }

    /// What must hold after any run: nothing of it alive (killed by pid if so), its temp
    /// root, cgroup and registry entry gone.
    pub fn check_nothing_left(&mut self, run_id: &str, out: Option<&Outcome>) {
        let entry = format!("WARDEN_RUN_ID={run_id}");
        let alive = procs_with_env(&entry);
        kill_procs(&alive);
        for p in &alive {
            self.problems
                .push(format!("left alive after the run (now killed): {p}"));
        }
        if let Some(out) = out {
            // The harness killed these, by pid, half a second after warden exited.
            for p in &out.left_behind {
                self.problems.push(format!(
                    "a process warden started outlived it (now killed): {p}"
                ));
            }
        }
        let temp_root = std::env::temp_dir().join(format!("warden-{run_id}"));
        self.check(!temp_root.exists(), || {
            format!("the run's temp root {} is still there", temp_root.display())
        });
        if let Some(cg) = run_cgroup_dir(run_id).filter(|d| d.exists()) {
            self.problems
                .push(format!("the run's cgroup {} is still there", cg.display()));
            remove_cgroup_tree(&cg);
        }
        let entries = registry_entries(&self.registry());
        self.check(entries.is_empty(), || {
            format!("registry entries left: {entries:?}")
        });
    }

    /// Panics with every problem found, and the run's output.
    pub fn finish(mut self, out: Option<&Outcome>) {
        let problems = std::mem::take(&mut self.problems);
        assert!(
            problems.is_empty(),
            "{} problem(s):\n  {}\n\n{}",
            problems.len(),
            problems.join("\n  "),
            out.map(Outcome::describe).unwrap_or_default()
        );
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        for entry in &self.watched {
            kill_procs(&procs_with_env(entry));
        }
    }
}

/// Files in the registry dir.
pub fn registry_entries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Where warden puts the run's cgroup when the host has a cgroup2 tree: under the cgroup this
/// test process is in (warden is its child), `warden-<run-id>`.
pub fn run_cgroup_dir(run_id: &str) -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = info.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        (right.split_whitespace().next()? == "cgroup2").then(|| left.split_whitespace().nth(4))?
    })?;
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(
        Path::new(mount)
            .join(own.trim_start_matches('/'))
            .join(format!("warden-{run_id}")),
    )
}

pub fn remove_cgroup_tree(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = fs::write(dir.join("cgroup.kill"), "1");
    // cgroup.kill is asynchronous, and a populated cgroup cannot be removed.
    let _ = poll(Duration::from_secs(2), || {
        fs::read_to_string(dir.join("cgroup.events"))
            .map_or(true, |s| s.lines().any(|l| l == "populated 0"))
    });
    let _ = fs::remove_dir(dir);
}

pub fn describe_procs(procs: &[Proc]) -> String {
    procs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Polls `cond` every 10 ms until it holds or `limit` passes; returns how long it took.
pub fn poll(limit: Duration, mut cond: impl FnMut() -> bool) -> Result<Duration, Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= limit {
            return Err(start.elapsed());
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `n` processes carrying `mark` run `sleep 300`: the tests are all up.
/// Returns the run id they carry.
pub fn wait_for_sleeps(running: &Running, n: usize) -> Result<String, String> {
    let mark = running.mark_entry();
    let mut seen = Vec::new();
    poll(STARTUP_LIMIT, || {
        seen = procs_with_env(&mark)
            .into_iter()
            .filter(|p| p.cmdline == "sleep 300")
            .collect();
        seen.len() >= n
    })
    .map_err(|_| {
        format!(
            "only {} of {n} `sleep 300` came up: {}",
            seen.len(),
            describe_procs(&seen)
        )
    })?;
    seen[0]
        .environ
        .iter()
        .find_map(|e| e.strip_prefix("WARDEN_RUN_ID="))
        .map(str::to_string)
        .ok_or_else(|| format!("a test process without WARDEN_RUN_ID: {}", seen[0]))
}

/// Dead (a zombie, or gone).
pub fn is_zombie(pid: i32) -> bool {
    matches!(proc_state(pid), 'Z' | 'X' | '?')
}

/// The state letter of `/proc/<pid>/stat` (`T` = stopped), `?` when it cannot be read.
pub fn proc_state(pid: i32) -> char {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().to_string()))
        .and_then(|r| r.chars().next())
        .unwrap_or('?')
}
