//! The run options as the user wrote them, before validation: one struct filled from the
//! `[run]` table of `warden.toml` and one from the command line, merged field by field
//! (command line wins). Values stay as text where validation must name what was wrong.

use serde::{Deserialize, Serialize};

/// Every option of SPEC §2 that can have a default in `[run]`, spelled with `_`.
/// `None` / empty means "not given here". Also what a run's checkpoint keeps of its command
/// line, so that `--resume` alone can repeat it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunOptions {
    pub paths: Option<Vec<String>>,
    pub max_workers: Option<usize>,
    /// `true` = parallel with the default worker count, `false` = `--sequential`.
    pub parallel: Option<bool>,
    pub timeout: Option<String>,
    pub grace: Option<String>,
    /// Level names to select (`--unit` adds `unit`, `--level L` adds `L`).
    pub level: Option<Vec<String>>,
    pub tag: Option<Vec<String>>,
    pub exclude_tag: Option<Vec<String>>,
    pub only_slow: Option<bool>,
    pub include_slow: Option<bool>,
    pub only_skipped: Option<bool>,
    pub filter: Option<Vec<String>>,
    pub fail_fast: Option<bool>,
    pub max_fail: Option<u32>,
    pub retries: Option<u32>,
    pub no_capture: Option<bool>,
    pub shuffle: Option<bool>,
    pub seed: Option<u64>,
    pub state_dir: Option<String>,
    pub junit: Option<String>,
    pub json: Option<String>,
    pub html: Option<String>,
    /// `auto | always | never`
    pub color: Option<String>,
    pub verbose: Option<bool>,
    pub quiet: Option<bool>,
    /// `kill | fail` (SPEC §6).
    pub leak: Option<String>,
    /// `--container`: every test in its own container, in parallel (SPEC §8).
    pub container: Option<bool>,
    /// `--container-seq`: in containers, one at a time.
    pub container_seq: Option<bool>,
    /// Over `[container] image`.
    pub container_image: Option<String>,
    /// `docker | podman | auto`, over `[container] engine`.
    pub container_engine: Option<String>,
    /// The host guard (SPEC §6); thresholds are percentages of the host.
    pub self_protect: Option<bool>,
    pub cpu_threshold: Option<f64>,
    pub mem_threshold: Option<f64>,
    pub safe_mode: Option<bool>,
    pub test_mem_limit: Option<String>,
    pub test_pids_limit: Option<u32>,
    /// `fail | warn | pass`: what an empty selection means (SPEC §5, exit 4).
    pub no_tests: Option<String>,
    /// A running test is reported `SLOW` each time it passes another multiple of this.
    pub slow_after: Option<String>,
    /// `--coverage`: every test gets its own coverage directory and the variables that point
    /// the toolchains' coverage runtimes at it; the run merges what they wrote.
    pub coverage: Option<bool>,
    /// `host | private`: the network of every test without a suite `net` or `@net` marker.
    pub net: Option<String>,
    /// `--cargo`: the tests are the cases of cargo's test binaries (no PATHs).
    pub cargo: Option<bool>,
    /// `warden run --cargo -- CARGO_ARGS`: options for `cargo test --no-run`.
    pub cargo_args: Option<Vec<String>>,
    /// `--run-ignored`: run `#[ignore]`d Rust tests instead of reporting them skipped.
    pub run_ignored: Option<bool>,
    /// `-E/--filter-expr`: filter expressions, any-of (SPEC: `test(...)`, `and`, `or`, ...).
    pub filter_expr: Option<Vec<String>>,
}

impl RunOptions {
    /// `self` (higher priority, e.g. the command line) over `lower` (e.g. `warden.toml`).
    pub fn over(self, lower: RunOptions) -> RunOptions {
        macro_rules! pick {
            ($($f:ident),* $(,)?) => {
                RunOptions { $($f: self.$f.or(lower.$f)),* }
            };
        }
        pick!(
            paths,
            max_workers,
            parallel,
            timeout,
            grace,
            level,
            tag,
            exclude_tag,
            only_slow,
            include_slow,
            only_skipped,
            filter,
            fail_fast,
            max_fail,
            retries,
            no_capture,
            shuffle,
            seed,
            state_dir,
            junit,
            json,
            html,
            color,
            verbose,
            quiet,
            leak,
            container,
            container_seq,
            container_image,
            container_engine,
            self_protect,
            cpu_threshold,
            mem_threshold,
            safe_mode,
            test_mem_limit,
            test_pids_limit,
            no_tests,
            slow_after,
            coverage,
            net,
            cargo,
            cargo_args,
            run_ignored,
            filter_expr,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_wins_and_file_fills_gaps() {
        let cli = RunOptions {
            max_workers: Some(3),
            ..Default::default()
        };
        let file = RunOptions {
            max_workers: Some(8),
            timeout: Some("60s".into()),
            ..Default::default()
        };
        let merged = cli.over(file);
        assert_eq!(merged.max_workers, Some(3));
        assert_eq!(merged.timeout.as_deref(), Some("60s"));
        assert_eq!(merged.grace, None);
    }
}
