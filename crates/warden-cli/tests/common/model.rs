//! The written model of a fixture suite (`fixtures/<name>/expected.json`): what warden must
//! find, select and report for each file. Data, not code; see the file's `about`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::sandbox::repo_root;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub about: Vec<String>,
    /// Files that must never be listed or run.
    pub not_tests: Vec<String>,
    pub filters: BTreeMap<String, FilterCase>,
    /// Keyed by id relative to the fixture directory.
    pub tests: BTreeMap<String, TestModel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterCase {
    pub args: Vec<String>,
    /// Relative to the fixture directory; `None` = the fixture directory itself.
    #[serde(default)]
    pub paths: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestModel {
    pub status: String,
    #[serde(default)]
    pub status_when_forced: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i64>,
    /// Name of the signal the test's main process died of.
    #[serde(default)]
    pub signal: Option<String>,
    #[serde(default)]
    pub subtests: Option<Subtests>,
    pub level: Option<String>,
    pub tags: Vec<String>,
    pub slow: bool,
    pub skip: Option<String>,
    pub serial: bool,
    pub timeout_ms: Option<u64>,
    pub selected_by: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subtests {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl Model {
    pub fn load(fixture: &str) -> Model {
        let path = repo_root()
            .join("fixtures")
            .join(fixture)
            .join("expected.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
    }

    /// Ids (relative to the fixture) that filter `name` selects, per the model.
    pub fn selected_by(&self, name: &str) -> BTreeSet<String> {
        self.tests
            .iter()
            .filter(|(_, t)| t.selected_by.iter().any(|f| f == name))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// The id warden reports for a model id when run from the fixture copy's parent directory.
pub fn prefixed(fixture: &str, id: &str) -> String {
    format!("{fixture}/{id}")
}
