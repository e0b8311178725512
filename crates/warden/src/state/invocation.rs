//! The whole invocation of a run, kept in its checkpoint (SPEC §7): what `warden run --resume`
//! alone repeats, and what tells an option that changes *which* tests run (a different
//! selection: exit 43 unless `--resume=force`) from one that changes only *how* they run (an
//! override, named in a note).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::RunOptions;

/// What the user asked for, as they asked it, with every path made absolute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// `run` or `test`: the word typed, repeated in the "continue with" hint.
    pub command: String,
    /// Where warden ran: test ids are relative to it, so a resumed run uses it too.
    pub cwd: PathBuf,
    /// `--config FILE`.
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// The options of the command line (`paths` = the PATH arguments); a shuffled run's seed
    /// is always here, also when it was chosen at random.
    #[serde(default)]
    pub options: RunOptions,
    #[serde(default)]
    pub failed: bool,
    /// `--partition` (or `WARDEN_PARTITION`) as written.
    #[serde(default)]
    pub partition: Option<String>,
    /// `--history FILE`.
    #[serde(default)]
    pub history: Option<PathBuf>,
    /// The execution options in effect (from the command line, `warden.toml` or defaults),
    /// in words: what a resumed run compares its own with to name each override.
    #[serde(default)]
    pub effective: BTreeMap<String, String>,
}

impl Invocation {
    /// The options of `now` that change which tests run and differ from this (saved)
    /// invocation, in words (`-k: (none) → t1`). Options not given now are taken from the
    /// saved run, so they never differ.
    pub fn selection_changes(&self, now: &Invocation) -> Vec<String> {
        let (a, b) = (&self.options, &now.options);
        let mut out = Vec::new();
        let mut check = |name: &str, then: String, given: Option<String>| {
            if let Some(given) = given {
                if given != then {
                    out.push(format!("{name}: {then} → {given}"));
                }
            }
        };
        let list = |v: &Option<Vec<String>>| match v {
            Some(v) if !v.is_empty() => v.join(", "),
            _ => "(none)".to_string(),
        };
        let flag = |v: Option<bool>| if v == Some(true) { "on" } else { "off" }.to_string();
        let given_list = |v: &Option<Vec<String>>| v.as_ref().map(|_| list(v));
        let given_flag = |v: Option<bool>| v.map(|_| flag(v));
        check("PATH", list(&a.paths), given_list(&b.paths));
        check("--level", list(&a.level), given_list(&b.level));
        check("--tag", list(&a.tag), given_list(&b.tag));
        check(
            "--exclude-tag",
            list(&a.exclude_tag),
            given_list(&b.exclude_tag),
        );
        check("-k", list(&a.filter), given_list(&b.filter));
        check("--only-slow", flag(a.only_slow), given_flag(b.only_slow));
        check(
            "--include-slow",
            flag(a.include_slow),
            given_flag(b.include_slow),
        );
        check(
            "--only-skipped",
            flag(a.only_skipped),
            given_flag(b.only_skipped),
        );
        let seed = |v: Option<u64>| v.map_or("(none)".to_string(), |s| s.to_string());
        check("--seed", seed(a.seed), b.seed.map(|s| s.to_string()));
        let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_string());
        check(
            "--failed",
            flag(Some(self.failed)),
            now.failed.then(|| flag(Some(true))),
        );
        check("--partition", text(&self.partition), now.partition.clone());
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        check(
            "--history",
            path(&self.history).unwrap_or_else(|| "(none)".into()),
            path(&now.history),
        );
        check(
            "--config",
            path(&self.config).unwrap_or_else(|| "(none)".into()),
            path(&now.config),
        );
        out
    }

    /// `--grace 1s (was 5s), -j 4 (was 2)`: the execution options that differ from the saved
    /// run's, by their option names; `None` when none does.
    pub fn overrides(&self, now: &BTreeMap<String, String>) -> Option<String> {
        let changed: Vec<String> = now
            .iter()
            .filter_map(|(key, value)| {
                let then = self.effective.get(key)?;
                (then != value).then(|| format!("{key} {value} (was {then})"))
            })
            .collect();
        (!changed.is_empty()).then(|| changed.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(options: RunOptions) -> Invocation {
        Invocation {
            command: "test".into(),
            cwd: "/p".into(),
            options,
            ..Invocation::default()
        }
    }

    #[test]
    fn only_given_selection_options_that_differ_are_changes() {
        let saved = inv(RunOptions {
            paths: Some(vec!["/p/test".into()]),
            filter: Some(vec!["t1".into()]),
            ..RunOptions::default()
        });
        // Nothing given, or the same again: no change.
        assert!(saved
            .selection_changes(&inv(RunOptions::default()))
            .is_empty());
        assert!(saved.selection_changes(&saved.clone()).is_empty());
        let now = inv(RunOptions {
            paths: Some(vec!["/p/test/unit".into()]),
            filter: Some(vec!["t2".into()]),
            only_slow: Some(true),
            max_workers: Some(4),
            ..RunOptions::default()
        });
        assert_eq!(
            saved.selection_changes(&now),
            [
                "PATH: /p/test → /p/test/unit",
                "-k: t1 → t2",
                "--only-slow: off → on"
            ]
        );
        let mut failed = inv(RunOptions::default());
        failed.failed = true;
        failed.partition = Some("hash:1/2".into());
        assert_eq!(
            saved.selection_changes(&failed),
            ["--failed: off → on", "--partition: (none) → hash:1/2"]
        );
    }

    #[test]
    fn overrides_name_each_changed_execution_option() {
        let mut saved = inv(RunOptions::default());
        saved.effective = [("--grace", "5s"), ("-j", "2"), ("--timeout", "2m")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut now = saved.effective.clone();
        assert_eq!(saved.overrides(&now), None);
        now.insert("--grace".into(), "1s".into());
        now.insert("-j".into(), "4".into());
        assert_eq!(
            saved.overrides(&now).as_deref(),
            Some("--grace 1s (was 5s), -j 4 (was 2)")
        );
    }
}
