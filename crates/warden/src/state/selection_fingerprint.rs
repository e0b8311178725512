//! What a checkpoint must match for `--resume` to continue it, built from the run's settings.

use std::collections::BTreeMap;

use super::journal::{fingerprint_hash, Fingerprint};
use crate::config::Settings;
use crate::test_case::TestCase;

impl Fingerprint {
    /// What a checkpoint must match for `--resume`: the selected tests, the suites and levels of
    /// the config, and the selection options the test list does not show. Execution options are
    /// not in it: given beside `--resume` they override.
    pub fn of_selection(settings: &Settings, tests: &[TestCase]) -> Fingerprint {
        let mut ids: Vec<String> = tests.iter().map(|t| t.id.clone()).collect();
        ids.sort();
        // Only what makes a file a test and how it runs: a change of `[run] timeout` in the file is
        // an execution option like any other.
        let config_hash = settings
            .config_file
            .as_ref()
            .map(|_| {
                let mut text = format!("{:?}\n", settings.discovery.levels);
                for s in &settings.discovery.suites {
                    text.push_str(&format!(
                        "{:?}\n",
                        (
                            &s.name,
                            &s.include,
                            &s.exclude,
                            &s.command,
                            s.format,
                            &s.env,
                            s.timeout,
                            s.mem_limit,
                            &s.skip_exit_codes
                        )
                    ));
                    // Only when set, so that the checkpoints of configs without it still match.
                    if let Some(net) = s.net {
                        text.push_str(&format!("net {net}\n"));
                    }
                }
                fingerprint_hash(text.as_bytes())
            })
            .unwrap_or_default();
        let options: BTreeMap<String, String> = [(
            "only_skipped".to_string(),
            settings.run.run_skipped.to_string(),
        )]
        .into_iter()
        .collect();
        Fingerprint {
            tests: ids,
            config_hash,
            options,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{load_settings, RunOptions};

    fn settings(dir: &Path, toml: &str) -> Settings {
        std::fs::write(dir.join("warden.toml"), toml).unwrap();
        std::fs::create_dir_all(dir.join("t")).unwrap();
        let cli = RunOptions {
            paths: Some(vec!["t".to_string()]),
            ..RunOptions::default()
        };
        load_settings(dir, cli, None).unwrap()
    }

    /// How a file becomes a test is part of the fingerprint; how long it may run is not.
    #[test]
    fn suites_count_and_execution_options_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let suite = "[[suite]]\nname = \"py\"\ninclude = [\"*_test.py\"]\ncommand = [\"python3\", \"{file}\"]\n";
        let base = Fingerprint::of_selection(&settings(dir.path(), suite), &[]);
        let slower = Fingerprint::of_selection(
            &settings(dir.path(), &format!("[run]\ntimeout = \"9m\"\n{suite}")),
            &[],
        );
        assert_eq!(base.config_hash, slower.config_hash);
        let other = Fingerprint::of_selection(
            &settings(dir.path(), &suite.replace("python3", "pypy3")),
            &[],
        );
        assert_ne!(base.config_hash, other.config_hash);
        assert!(!base.config_hash.is_empty());
    }
}
