//! What `run` and `list` share: settings, discovery, selection (`--failed` included), the
//! shard (`--partition`) and the run order (history's longest-first, `@serial` last), so `list`
//! shows exactly what `run` runs.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use warden::cases::cargo::discover_cargo;
use warden::cases::expand_listed;
use warden::config::{load_settings_over, RunOptions, Settings, SlowMode};
use warden::discovery::discover;
use warden::events::ShardInfo;
use warden::select::{
    assign, order_by_expected, select, serial_last, Expr, ExprContext, Partition, PartitionKind,
};
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

/// What to prepare: the options and where they apply.
pub struct Request {
    /// Where warden runs, as far as test ids are concerned (`--resume`: where the interrupted
    /// run ran).
    pub cwd: PathBuf,
    pub options: RunOptions,
    /// The interrupted run's options under `--resume` (below `options`, above warden.toml).
    pub saved: RunOptions,
    pub config: Option<PathBuf>,
    pub failed: bool,
    pub sharding: Sharding,
    /// `--resume` of a `--failed` run: the interrupted run's tests stand in for that step (and
    /// the partition), which would now read the interrupted run's own results.
    pub only: Option<HashSet<String>>,
}

impl Request {
    /// The command line as given, in the current directory.
    pub fn here(
        options: RunOptions,
        config: Option<&str>,
        failed: bool,
        sharding: Sharding,
    ) -> Result<Request> {
        Ok(Request {
            cwd: std::env::current_dir().context("cannot read the current directory")?,
            options,
            saved: RunOptions::default(),
            config: config.map(PathBuf::from),
            failed,
            sharding,
            only: None,
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
    /// `--failed` found a completed run in which nothing failed: an empty selection is the
    /// good news it looks like, not a typo in a filter.
    pub nothing_failed: bool,
    /// With `--partition`: the cut and the whole selection, for `run-started` and `merge`.
    pub shard_info: Option<ShardInfo>,
}

impl Prepared {
    /// `shard hash:2/4: 12 of 48 selected tests`, when partitioned.
    /// Whether an empty selection is expected rather than a mistake (`--no-tests` does not
    /// apply): nothing failed for `--failed`, or this shard got none of a non-empty selection.
    pub fn empty_is_expected(&self) -> bool {
        self.nothing_failed || self.shard.is_some_and(|(_, of)| of > 0)
    }

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
pub fn prepare(req: Request, for_run: bool) -> Result<Prepared> {
    let Request {
        cwd,
        options,
        saved,
        config,
        failed: failed_only,
        sharding,
        only,
    } = req;
    let settings = load_settings_over(&cwd, options, saved, config.as_deref())?;
    let discovered = discover(&settings.discovery)?;
    let mut warnings = discovered.warnings;
    // Files that list their cases become their cases before anything selects by id.
    let tests = expand_listed(
        discovered.tests,
        &settings.discovery.suites,
        settings.run.timeout,
        settings.run.workers,
    );
    let mut tests = tests;
    if let Some(cargo) = &settings.discovery.cargo {
        let found = discover_cargo(
            &settings.discovery,
            cargo,
            !settings.output.quiet,
            settings.run.timeout,
            settings.run.workers,
        )
        .map_err(|e| anyhow::anyhow!("cargo: {e}"))?;
        tests.extend(found);
    }
    let selected = select(tests, &settings.selection);
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

    if !settings.selection.filter_exprs.is_empty() {
        tests = filter_by_exprs(tests, &settings.selection.filter_exprs, history.as_ref())?;
    }

    let mut nothing_failed = false;
    if let Some(only) = &only {
        tests.retain(|t| only.contains(&t.id));
    } else if failed_only {
        let failures = history.as_ref().map(|h| h.latest_failures());
        match failures {
            Some(Ok(Some(failed))) => {
                let failed: HashSet<String> = failed.into_iter().collect();
                let before = tests.len();
                tests.retain(|t| failed.contains(&t.id));
                if tests.is_empty() && before > 0 {
                    nothing_failed = true;
                    warnings.push(format!(
                        "--failed: none of the {before} selected test{} failed in its most \
                         recent recorded run",
                        plural(before)
                    ));
                }
            }
            Some(Ok(None)) | None => {
                warnings.push("--failed: no test result is recorded yet".to_string());
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
    let partition = sharding.partition.filter(|_| only.is_none());
    let shard = partition.map(|p| {
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
        nothing_failed,
        shard_info,
    })
}

/// Keeps the tests that match any of the `-E` expressions (already checked when the settings
/// were made). `failed()` reads the last recorded result of each test from the history.
fn filter_by_exprs(
    tests: Vec<TestCase>,
    texts: &[String],
    history: Option<&History>,
) -> Result<Vec<TestCase>> {
    let exprs = texts
        .iter()
        .map(|t| Expr::parse(t).map_err(|e| anyhow::anyhow!("--filter-expr: {e}")))
        .collect::<Result<Vec<Expr>>>()?;
    let mut cx = ExprContext::default();
    if exprs.iter().any(Expr::uses_failed) {
        if let Some(h) = history {
            // Each test's own last recorded result, whichever run it was in.
            let ids: Vec<&str> = tests.iter().map(|t| t.id.as_str()).collect();
            let last = h
                .recent_statuses(&ids, 1, "9999-12-31T23:59:59.999Z")
                .map_err(|e| anyhow::anyhow!("failed(): cannot read the history: {e}"))?;
            cx.failed = last
                .into_iter()
                .filter(|(_, s)| s.last().is_some_and(|s| s.is_failure()))
                .map(|(id, _)| id)
                .collect();
        }
    }
    Ok(tests
        .into_iter()
        .filter(|t| exprs.iter().any(|e| e.matches(t, &cx)))
        .collect())
}

/// `no tests selected in test/unit, tests (filters: -k parse, --tag smoke)`: what was
/// searched and what narrowed it, so that a typo is visible.
pub fn nothing_selected(settings: &Settings, failed_only: bool) -> String {
    let cwd = &settings.discovery.cwd;
    let paths: Vec<String> = settings
        .discovery
        .paths
        .iter()
        .map(|p| warden::config::relative_id(p, cwd))
        .collect();
    let sel = &settings.selection;
    let mut filters: Vec<String> = Vec::new();
    filters.extend(sel.levels.iter().map(|l| format!("--level {l}")));
    filters.extend(sel.tags.iter().map(|t| format!("--tag {t}")));
    filters.extend(
        sel.exclude_tags
            .iter()
            .map(|t| format!("--exclude-tag {t}")),
    );
    filters.extend(sel.filters.iter().map(|f| format!("-k {f}")));
    filters.extend(sel.filter_exprs.iter().map(|e| format!("-E '{e}'")));
    // Slow tests left out are already counted in a warning of their own.
    if sel.slow == SlowMode::Only {
        filters.push("--only-slow".into());
    }
    if sel.only_skipped {
        filters.push("--only-skipped".into());
    }
    if failed_only {
        filters.push("--failed".into());
    }
    let filters = if filters.is_empty() {
        "no filters".to_string()
    } else {
        filters.join(", ")
    };
    let place = match (&settings.discovery.cargo, paths.is_empty()) {
        (Some(_), true) => "cargo's test binaries".to_string(),
        (Some(_), false) => format!("{} and cargo's test binaries", paths.join(", ")),
        (None, _) => paths.join(", "),
    };
    format!("no tests selected in {place} ({filters})")
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
