//! What `run` and `list` share: settings, discovery, selection (`--failed` included), the
//! shard (`--partition`) and the run order (history's longest-first, `@serial` last), so `list`
//! shows exactly what `run` runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use warden::config::{load_settings, RunOptions, Settings, SlowMode};
use warden::discovery::discover;
use warden::events::ShardInfo;
use warden::select::{assign, order_by_expected, select, serial_last, Partition, PartitionKind};
use warden::state::journal::fingerprint_hash;
use warden::state::History;
use warden::test_case::TestCase;

use crate::args::SelectArgs;
use crate::history_cmd::durations_from_file;

/// `--partition` (or `WARDEN_PARTITION`) and `--history FILE`.
#[derive(Debug, Default)]
pub struct Sharding {
    pub partition: Option<Partition>,
    /// Expected durations from this file instead of the state dir's history.
    pub history_file: Option<PathBuf>,
}

impl Sharding {
    pub fn from_args(select: &SelectArgs) -> Result<Sharding> {
        Ok(Sharding {
            partition: select.partition().map_err(anyhow::Error::msg)?,
            history_file: select.history.clone(),
        })
    }
}

pub struct Prepared {
    pub settings: Settings,
    /// Selected tests in run order.
    pub tests: Vec<TestCase>,
    pub warnings: Vec<String>,
    /// `None` (with a warning) when the history database cannot be used.
    pub history: Option<History>,
    /// Expected duration of each selected test that history knows.
    pub expected: HashMap<String, Duration>,
    /// With `--partition`: which shard, and of how many selected tests it is a part.
    pub shard: Option<(Partition, usize)>,
    /// With `--partition`: the cut and the whole selection, for `run-started` and `merge`.
    pub shard_info: Option<ShardInfo>,
}

impl Prepared {
    /// `shard hash:2/4: 12 of 48 selected tests`, when partitioned.
    pub fn shard_note(&self) -> Option<String> {
        self.shard.map(|(p, of)| {
            format!(
                "shard {p}: {} of {of} selected test{}",
                self.tests.len(),
                plural(of)
            )
        })
    }
}

/// `for_run`: the history database is created when missing (`list` only reads an existing one).
pub fn prepare(
    options: RunOptions,
    config_file: Option<&str>,
    failed_only: bool,
    sharding: Sharding,
    for_run: bool,
) -> Result<Prepared> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let settings = load_settings(&cwd, options, config_file.map(Path::new))?;
    let discovered = discover(&settings.discovery)?;
    let mut warnings = discovered.warnings;
    let selected = select(discovered.tests, &settings.selection);
    let mut tests = selected.tests;
    if selected.deselected_slow > 0 && settings.selection.slow == SlowMode::Exclude {
        warnings.push(format!(
            "{} slow test{} not selected (use --include-slow or --only-slow)",
            selected.deselected_slow,
            plural(selected.deselected_slow)
        ));
    }

    let history_path = settings.run.state_dir.join("history.db");
    let history = if no_state() {
        None
    } else if history_path.exists() || (for_run && !failed_only) {
        match History::open(&history_path) {
            Ok(h) => Some(h),
            Err(e) => {
                warnings.push(format!("running without history: {e}"));
                None
            }
        }
    } else {
        None
    };

    if failed_only {
        let failures = history.as_ref().map(|h| h.last_completed_failures());
        match failures {
            Some(Ok(Some((run_id, failed)))) => {
                tests.retain(|t| failed.contains(&t.id));
                if failed.is_empty() {
                    warnings.push(format!(
                        "--failed: nothing failed in the last completed run ({run_id})"
                    ));
                }
            }
            Some(Ok(None)) | None => {
                warnings.push("--failed: no completed run is recorded yet".to_string());
                tests.clear();
            }
            Some(Err(e)) => anyhow::bail!("--failed: cannot read the history: {e}"),
        }
    }

    let ids: Vec<&str> = tests.iter().map(|t| t.id.as_str()).collect();
    let expected = match &sharding.history_file {
        // Every shard reads the same file, so every shard cuts the suite alike.
        Some(file) => durations_from_file(file, &ids)?.unwrap_or_else(|| {
            warnings.push(format!(
                "--history {}: no such file; no recorded durations",
                file.display()
            ));
            HashMap::new()
        }),
        None => match history.as_ref().map(|h| h.expected_durations(&ids)) {
            Some(Ok(map)) => map,
            Some(Err(e)) => {
                warnings.push(format!("history: cannot read durations: {e}"));
                HashMap::new()
            }
            None => HashMap::new(),
        },
    };
    // Duration shards cut by the durations as of the last run that was not a shard (or by the
    // pinned --history FILE): shards run one after another on one state dir must not see
    // each other's results, or a test can fall between two cuts.
    let cut_durations = match (&sharding.partition, &sharding.history_file, &history) {
        (Some(p), None, Some(h)) if p.kind == PartitionKind::Duration => {
            match h.expected_durations_for_cut(&ids) {
                Ok(map) => map,
                Err(e) => {
                    warnings.push(format!("history: cannot read durations: {e}"));
                    HashMap::new()
                }
            }
        }
        _ => expected.clone(),
    };
    let shard_info = sharding.partition.map(|p| {
        let mut sorted: Vec<&str> = ids.clone();
        sorted.sort_unstable();
        let shards = assign(p.kind, p.total, &sorted, &cut_durations);
        let mut text = format!("{}:{}\n", p.kind.name(), p.total);
        for (id, s) in sorted.iter().zip(&shards) {
            text.push_str(&format!("{id}\t{s}\n"));
        }
        ShardInfo {
            spec: p.to_string(),
            cut: fingerprint_hash(text.as_bytes()),
            selection: sorted.iter().map(|s| s.to_string()).collect(),
        }
    });
    // After every filter and before ordering; the assignment does not depend on the order.
    let shard = sharding.partition.map(|p| {
        let of = tests.len();
        let unknown = ids
            .iter()
            .filter(|id| !cut_durations.contains_key(**id))
            .count();
        if p.kind == PartitionKind::Duration && unknown > 0 {
            warnings.push(format!(
                "--partition {p}: no recorded duration for {unknown} of {of} tests; they are \
                 spread by hash"
            ));
        }
        (p, of)
    });
    if let Some((p, _)) = shard {
        tests = p.keep(tests, &cut_durations);
    }
    if settings.selection.shuffle_seed.is_none() {
        order_by_expected(&mut tests, &expected);
    }
    serial_last(&mut tests);
    Ok(Prepared {
        settings,
        tests,
        warnings,
        history,
        expected,
        shard,
        shard_info,
    })
}

/// `WARDEN_NO_STATE=1`: no journal and no history (benchmarks of their cost; throw-away runs).
pub fn no_state() -> bool {
    std::env::var_os("WARDEN_NO_STATE").is_some_and(|v| !v.is_empty() && v != "0")
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
