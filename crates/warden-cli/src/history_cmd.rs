//! History on the command line: `warden history export|import FILE`, the expected durations
//! that `duration:` partitions, ordering and the ETA use (from `<state-dir>/history.db`, or
//! from `--history FILE`), and recording a run's results.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use warden::config::{load_settings, RunOptions};
use warden::events::{Event, EventKind};
use warden::state::history::DEFAULT_KEEP_RUNS_PER_TEST;
use warden::state::History;

use crate::args::{HistoryArgs, HistoryCommand};

/// The database's name under the state dir.
pub const HISTORY_DB: &str = "history.db";

pub fn run_history(args: &HistoryArgs) -> Result<u8> {
    let (file, options) = match &args.command {
        HistoryCommand::Export(a) | HistoryCommand::Import(a) => (&a.file, a),
    };
    let state_dir = state_dir(options.state_dir.as_deref(), options.config.as_deref())?;
    let db = state_dir.join(HISTORY_DB);
    match &args.command {
        HistoryCommand::Export(_) => {
            // Like the reports: missing directories of FILE are created (CI artifact dirs).
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create directory {}", dir.display()))?;
            }
            // Exporting a history that was never written is exporting nothing: an empty file,
            // which `--history` and `import` read as no durations (a first CI run).
            let n = if db.exists() {
                History::open(&db)?.export(file)?
            } else {
                std::fs::write(file, b"")
                    .with_context(|| format!("cannot write {}", file.display()))?;
                0
            };
            eprintln!(
                "exported the durations of {n} test{} to {}",
                plural(n),
                file.display()
            );
        }
        HistoryCommand::Import(_) => {
            let n = History::open(&db)?.import(file)?;
            eprintln!(
                "imported the durations of {n} test{} into {}",
                plural(n),
                db.display()
            );
        }
    }
    Ok(0)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The state dir as `run` would use it: `--state-dir`, else `state_dir` of `warden.toml`,
/// else `.warden/` at the project root.
fn state_dir(option: Option<&str>, config: Option<&str>) -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let options = RunOptions {
        state_dir: option.map(str::to_string),
        // The test paths do not matter here; naming one that exists keeps a checkout without
        // test/ (a merge job) from failing on "no tests to look for".
        paths: Some(vec![".".to_string()]),
        ..RunOptions::default()
    };
    let settings = load_settings(&cwd, options, config.map(Path::new))?;
    Ok(settings.run.state_dir)
}

/// Where expected durations come from, and what they are for the given tests.
pub struct Expected {
    pub durations: HashMap<String, Duration>,
    pub warnings: Vec<String>,
}

/// Expected durations of `ids`: from `file` (`--history`) when given, else from the state dir's
/// history when it exists. A given file that is missing is a warning (a first CI run has none);
/// one that is malformed is an error, naming the file and line. A local history that cannot be
/// read is a warning: history is an aid, never a requirement.
pub fn expected_durations(state_dir: &Path, file: Option<&Path>, ids: &[&str]) -> Result<Expected> {
    let mut warnings = Vec::new();
    let durations = match file {
        Some(file) if !file.exists() => {
            warnings.push(format!(
                "--history {}: no such file; no recorded durations",
                file.display()
            ));
            HashMap::new()
        }
        Some(file) => {
            // The file's format and checks are History's own; an in-memory database reads it
            // without touching the state dir.
            let mut h = History::open(Path::new(":memory:"))?;
            h.import(file)
                .with_context(|| format!("--history {}", file.display()))?;
            h.expected_durations(ids)?
        }
        None => {
            let db = state_dir.join(HISTORY_DB);
            match db.exists().then(|| History::open(&db)).transpose() {
                Ok(None) => HashMap::new(),
                Ok(Some(h)) => match h.expected_durations(ids) {
                    Ok(d) => d,
                    Err(e) => {
                        warnings.push(format!("{e}; running without history"));
                        HashMap::new()
                    }
                },
                Err(e) => {
                    warnings.push(format!("{e}; running without history"));
                    HashMap::new()
                }
            }
        }
    };
    Ok(Expected {
        durations,
        warnings,
    })
}

/// Records a run's results in the state dir's history as they happen (SPEC §7). A failure
/// stops recording with one warning; the run goes on.
pub struct Recorder {
    history: Option<History>,
    run_id: String,
    failure: Option<String>,
}

impl Recorder {
    /// Opens (or creates) the history and notes the run's start; `Err` is the warning to show.
    pub fn start(state_dir: &Path, run_id: &str) -> (Recorder, Option<String>) {
        let opened = History::open(&state_dir.join(HISTORY_DB))
            .and_then(|h| h.begin_run(run_id, None).map(|()| h));
        let (history, warning) = match opened {
            Ok(h) => (Some(h), None),
            Err(e) => (None, Some(format!("{e}; this run is not recorded"))),
        };
        let recorder = Recorder {
            history,
            run_id: run_id.to_string(),
            failure: None,
        };
        (recorder, warning)
    }

    pub fn on_event(&mut self, event: &Event) {
        let Some(h) = &mut self.history else {
            return;
        };
        let done = match &event.kind {
            EventKind::TestRetrying(r) | EventKind::TestFinished(r) => {
                h.record_at(&self.run_id, r, event.at)
            }
            EventKind::RunFinished {
                exit_code, stopped, ..
            } => h
                .finish_run(&self.run_id, stopped.is_none(), *exit_code)
                .and_then(|()| h.prune(DEFAULT_KEEP_RUNS_PER_TEST).map(drop)),
            _ => Ok(()),
        };
        if let Err(e) = done {
            self.failure = Some(format!("{e}; the rest of this run is not recorded"));
            self.history = None;
        }
    }

    /// Why recording stopped, if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
}
