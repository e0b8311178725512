//! `--coverage`: warden instruments nothing. It gives every test its own directory and the
//! variables each toolchain's coverage runtime already reads, so that every test's data stays
//! apart (which tests cover a line), and at the end merges the run's data with the
//! toolchain's own tool when one is on PATH.

mod carry;
mod merge;
mod tools;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use carry::carry_over;
pub use merge::{merge_run, scan};
pub use tools::{timeout_from, TIMEOUT_ENV};

use crate::events::{Event, EventKind};
use crate::state::test_slug;
use crate::test_case::TestCase;

/// The variables `--coverage` sets, in the order they are set, with the value each gets
/// (`<dir>` is the test's coverage directory) and who reads it: what `list --json` and the docs
/// show.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    (
        "LLVM_PROFILE_FILE",
        "<dir>/%p-%m.profraw",
        "LLVM's profile runtime: Rust -C instrument-coverage, clang -fprofile-instr-generate",
    ),
    (
        "GCOV_PREFIX",
        "<dir>",
        "gcc/clang --coverage: the .gcda files go under <dir>",
    ),
    (
        "GCOV_PREFIX_STRIP",
        "0",
        "gcc/clang --coverage: the object's whole absolute path is kept under <dir>",
    ),
    (
        "GOCOVERDIR",
        "<dir>",
        "Go >= 1.20 binaries built with -cover",
    ),
    ("NODE_V8_COVERAGE", "<dir>", "Node's V8 coverage"),
    (
        "COVERAGE_FILE",
        "<dir>/.coverage",
        "coverage.py (coverage run -p, and processes it starts)",
    ),
    (
        "COVERAGE_PROCESS_START",
        "<coverage.py config file>",
        "coverage.py subprocess measurement; only when the project has a coverage.py config",
    ),
];

/// Variables set together: a user's own value of one keeps warden from setting the other,
/// which would only make sense beside warden's value.
const PAIRED: &[(&str, &str)] = &[("GCOV_PREFIX", "GCOV_PREFIX_STRIP")];

/// A test's coverage directory that could not be made ready; the test runs without it.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("cannot create the coverage directory {}: {source}", dir.display())]
    Create {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// Containers run as another user, who must be able to write there.
    #[error("cannot open {} to the container's user: {source}", dir.display())]
    Open {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// The coverage set-up of one run.
#[derive(Debug, Clone)]
pub struct Coverage {
    /// `<run dir>/coverage`: one directory per test under it, merged results beside them.
    pub root: PathBuf,
    /// The project root: where `coverage combine` and `gcovr` run, what `gcovr --root` is.
    pub project: PathBuf,
    /// The project's coverage.py config file, for `COVERAGE_PROCESS_START`.
    pub python_config: Option<PathBuf>,
    /// Tests run in containers, possibly as another user: their directories are left open
    /// to every user (only the run's own tests can reach them).
    pub open_dirs: bool,
}

impl Coverage {
    pub fn new(run_dir: &Path, project: &Path) -> Coverage {
        Coverage {
            root: run_dir.join("coverage"),
            project: project.to_path_buf(),
            python_config: python_config(project),
            open_dirs: false,
        }
    }

    /// `<run dir>/coverage-merged`: beside the test directories, never among them (a test
    /// may be called anything).
    pub fn merged_dir(&self) -> PathBuf {
        let mut name = self.root.file_name().unwrap_or_default().to_os_string();
        name.push("-merged");
        self.root.with_file_name(name)
    }

    /// `<run dir>/coverage/<test slug>`.
    pub fn test_dir(&self, test_id: &str) -> PathBuf {
        self.root.join(test_slug(test_id))
    }

    /// Create the test's directory (before every attempt: a test may remove it).
    pub fn prepare_dir(&self, test_id: &str) -> Result<PathBuf, DirError> {
        let dir = self.test_dir(test_id);
        if let Err(source) = std::fs::create_dir_all(&dir) {
            return Err(DirError::Create { dir, source });
        }
        if self.open_dirs {
            use std::os::unix::fs::PermissionsExt;
            let all = std::fs::Permissions::from_mode(0o777);
            if let Err(source) = std::fs::set_permissions(&dir, all) {
                return Err(DirError::Open { dir, source });
            }
        }
        Ok(dir)
    }

    /// The variables for a test whose directory is `dir`, leaving out every one the user set
    /// (`user_sets` says which): a user's own value wins.
    pub fn env(&self, dir: &Path, user_sets: impl Fn(&str) -> bool) -> Vec<(String, String)> {
        let taken = |name: &str| {
            user_sets(name)
                || PAIRED
                    .iter()
                    .any(|(a, b)| (name == *a && user_sets(b)) || (name == *b && user_sets(a)))
        };
        variables(dir, self.python_config.as_deref())
            .into_iter()
            .filter(|(k, _)| !taken(k))
            .collect()
    }
}

/// Tell the user, once per variable and where it was set, which coverage variables warden
/// leaves alone because the user set them: for every test (`everywhere`: warden's environment,
/// or `[container] env`) or in a suite's `env`.
pub fn user_value_warnings(tests: &[TestCase], everywhere: impl Fn(&str) -> bool) -> Vec<String> {
    let mut warnings = Vec::new();
    for (name, _, _) in VARIABLES {
        // `GCOV_PREFIX_STRIP` alone keeps warden from setting `GCOV_PREFIX` too: say both.
        let partner = PAIRED
            .iter()
            .find_map(|(a, b)| match *name {
                n if n == *a => Some(*b),
                n if n == *b => Some(*a),
                _ => None,
            })
            .map(|p| format!(" (nor {p}, which goes with it)"))
            .unwrap_or_default();
        if everywhere(name) {
            warnings.push(format!(
                "--coverage: {name} is already set for every test; warden did not set \
                 it{partner}, so that data is not in the run's coverage directory"
            ));
            continue;
        }
        let suites: BTreeSet<&str> = tests
            .iter()
            .filter(|t| t.env.contains_key(*name))
            .map(|t| t.suite.as_str())
            .collect();
        for suite in suites {
            warnings.push(format!(
                "--coverage: suite `{suite}` sets {name}; warden did not set it{partner} for \
                 that suite's tests, so that data is not in the run's coverage directory"
            ));
        }
    }
    warnings
}

/// The end of a coverage run: merge (unless `skip` says why not) and report each kind, or
/// warn that no test wrote anything. Each merge tool run takes at most
/// `WARDEN_COVERAGE_MERGE_TIMEOUT` (5 minutes by default).
pub fn finish(cov: &Coverage, skip: Option<&str>, on_event: &mut impl FnMut(Event)) {
    let timeout = match tools::timeout_from(std::env::var_os(tools::TIMEOUT_ENV).as_deref()) {
        Ok(t) => t,
        Err(warning) => {
            on_event(Event::now(EventKind::Warning(format!(
                "--coverage: {warning}; using {}",
                crate::units::format_duration(tools::DEFAULT_TIMEOUT)
            ))));
            tools::DEFAULT_TIMEOUT
        }
    };
    let summaries = merge_run(cov, skip, timeout);
    if summaries.is_empty() {
        on_event(Event::now(EventKind::Warning(format!(
            "--coverage: no test wrote coverage data into {} (were they built with coverage? \
             see docs/coverage.md)",
            cov.root.display()
        ))));
    }
    for s in summaries {
        on_event(Event::now(EventKind::Coverage(Box::new(s))));
    }
}

/// Every variable with its value for a test whose directory is `dir`.
pub fn variables(dir: &Path, python_config: Option<&Path>) -> Vec<(String, String)> {
    let d = dir.to_string_lossy();
    let mut v: Vec<(String, String)> = vec![
        ("LLVM_PROFILE_FILE".into(), format!("{d}/%p-%m.profraw")),
        ("GCOV_PREFIX".into(), d.to_string()),
        ("GCOV_PREFIX_STRIP".into(), "0".into()),
        ("GOCOVERDIR".into(), d.to_string()),
        ("NODE_V8_COVERAGE".into(), d.to_string()),
        ("COVERAGE_FILE".into(), format!("{d}/.coverage")),
    ];
    if let Some(config) = python_config {
        v.push((
            "COVERAGE_PROCESS_START".into(),
            config.to_string_lossy().into_owned(),
        ));
    }
    v
}

/// The project's coverage.py configuration file, found as coverage.py finds it:
/// `.coveragerc`, else `setup.cfg`/`tox.ini` with a `[coverage:...]` section, else
/// `pyproject.toml` with a `[tool.coverage...]` table.
pub fn python_config(project: &Path) -> Option<PathBuf> {
    let rc = project.join(".coveragerc");
    if rc.is_file() {
        return Some(rc);
    }
    let has = |name: &str, marker: &str| {
        let path = project.join(name);
        std::fs::read_to_string(&path)
            .ok()
            .filter(|text| text.lines().any(|l| l.trim_start().starts_with(marker)))
            .map(|_| path)
    };
    has("setup.cfg", "[coverage:")
        .or_else(|| has("tox.ini", "[coverage:"))
        .or_else(|| has("pyproject.toml", "[tool.coverage"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_points_into_the_test_dir() {
        let c = Coverage {
            root: "/r/coverage".into(),
            project: "/p".into(),
            python_config: Some("/p/.coveragerc".into()),
            open_dirs: false,
        };
        let dir = c.test_dir("tests/a b_test.sh");
        assert_eq!(dir, Path::new("/r/coverage/tests__a b_test.sh"));
        let env = c.env(&dir, |_| false);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("LLVM_PROFILE_FILE"),
            Some("/r/coverage/tests__a b_test.sh/%p-%m.profraw")
        );
        assert_eq!(get("GCOV_PREFIX"), Some("/r/coverage/tests__a b_test.sh"));
        assert_eq!(get("GCOV_PREFIX_STRIP"), Some("0"));
        assert_eq!(
            get("COVERAGE_FILE"),
            Some("/r/coverage/tests__a b_test.sh/.coverage")
        );
        assert_eq!(get("COVERAGE_PROCESS_START"), Some("/p/.coveragerc"));
        assert_eq!(env.len(), VARIABLES.len());
    }

    #[test]
    fn a_users_value_wins_with_its_pair() {
        let c = Coverage {
            root: "/r/coverage".into(),
            project: "/p".into(),
            python_config: None,
            open_dirs: false,
        };
        let env = c.env(Path::new("/d"), |k| k == "GCOV_PREFIX" || k == "GOCOVERDIR");
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["LLVM_PROFILE_FILE", "NODE_V8_COVERAGE", "COVERAGE_FILE"]
        );
    }

    #[test]
    fn finds_a_coverage_py_config() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(python_config(tmp.path()), None);
        std::fs::write(tmp.path().join("setup.cfg"), "[metadata]\nname = x\n").unwrap();
        assert_eq!(python_config(tmp.path()), None);
        std::fs::write(tmp.path().join("pyproject.toml"), "[tool.coverage.run]\n").unwrap();
        assert_eq!(
            python_config(tmp.path()),
            Some(tmp.path().join("pyproject.toml"))
        );
        std::fs::write(tmp.path().join(".coveragerc"), "[run]\n").unwrap();
        assert_eq!(
            python_config(tmp.path()),
            Some(tmp.path().join(".coveragerc"))
        );
    }
}
