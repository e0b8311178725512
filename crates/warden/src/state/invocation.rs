//! The whole invocation of a run, kept in its checkpoint (SPEC §7): what `warden run --resume`
//! alone repeats, and the execution options in effect, by the names the binary gave them, so
//! that a resumed run can name each override in a note. (Which options change *which* tests
//! run is the binary's to say, in its own words: `warden-cli`'s `selection_changes`.)

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

    #[test]
    fn overrides_name_each_changed_execution_option() {
        let saved = Invocation {
            effective: [("--grace", "5s"), ("-j", "2"), ("--timeout", "2m")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Invocation::default()
        };
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
