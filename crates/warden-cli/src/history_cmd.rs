//! History on the command line: `warden history export|import FILE`, and reading expected
//! durations from such a file (`--history FILE`) so that every CI shard cuts the suite alike.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use warden::exit_code::ExitCode;

use anyhow::{Context, Result};
use warden::config::{load_settings, RunOptions};
use warden::report::UserPath;
use warden::state::History;

use crate::args::{HistoryArgs, HistoryCommand};

/// The database's name under the state dir.
pub const HISTORY_DB: &str = "history.db";

pub fn run_history(args: &HistoryArgs) -> Result<ExitCode> {
    let (file, options) = match &args.command {
        HistoryCommand::Export(a) | HistoryCommand::Import(a) => (&a.file, a),
    };
    let state_dir = state_dir(options.state_dir.as_deref(), options.config.as_deref())?;
    let db = state_dir.join(HISTORY_DB);
    match &args.command {
        HistoryCommand::Export(_) => {
            // Like the reports: missing directories of FILE are created (CI artifact dirs), and
            // a device, FIFO or symlink is written through, never replaced.
            let out = UserPath::new("history export", file);
            out.check()?;
            // Exporting a history that was never written is exporting nothing: an empty file,
            // which `--history` and `import` read as no durations (a first CI run).
            let mut bytes = Vec::new();
            let n = if db.exists() {
                History::open(&db)?.export_to(&mut bytes)?
            } else {
                0
            };
            out.write_atomic(&bytes)?;
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
    Ok(ExitCode::PASSED)
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
pub fn state_dir(option: Option<&str>, config: Option<&str>) -> Result<PathBuf> {
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

/// Expected durations of `ids` from a file written by `export` (`--history FILE`); `None` when
/// the file does not exist (a first CI run has none). A malformed file is an error naming the
/// file and line.
pub fn durations_from_file(file: &Path, ids: &[&str]) -> Result<Option<HashMap<String, Duration>>> {
    if !file.exists() {
        return Ok(None);
    }
    // The file's format and checks are History's own; an in-memory database reads it without
    // touching the state dir.
    let mut h = History::open(Path::new(":memory:"))?;
    h.import(file)
        .with_context(|| format!("--history {}", file.display()))?;
    Ok(Some(h.expected_durations(ids)?))
}
