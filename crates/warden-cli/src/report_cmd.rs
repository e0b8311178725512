//! `warden report EVENTS.jsonl --html OUT`: the page `run --html` writes, from a saved or
//! merged event stream; and the history strips both of them show.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use warden::exit_code::ExitCode;

use anyhow::{bail, Context, Result};
use warden::events::Status;
use warden::report::{HtmlReport, UserPath, HISTORY_RUNS};
use warden::state::History;

use crate::args::ReportArgs;
use crate::history_cmd::{state_dir, HISTORY_DB};
use crate::prepare::no_state;

pub fn run_report(args: &ReportArgs) -> Result<ExitCode> {
    let name = args.events.display().to_string();
    let file = std::fs::File::open(&args.events).with_context(|| format!("cannot read {name}"))?;
    let mut report = HtmlReport::new();
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read {name}"))?;
        if n == 0 {
            break;
        }
        number += 1;
        let text = std::str::from_utf8(&buf).map_err(|_| {
            anyhow::anyhow!("{name}:{number}: not UTF-8 text: not a warden event stream")
        })?;
        if let Err(e) = report.push_line(text) {
            bail!("{name}:{}: {}", e.line, e.message);
        }
    }
    let tests = report.test_ids().len();
    let history = if args.no_history {
        HashMap::new()
    } else {
        let dir = state_dir(args.state_dir.as_deref(), args.config.as_deref())?;
        let (strips, warning) =
            history_strips(&dir, &report.test_ids(), report.last_time().as_deref());
        if let Some(w) = warning {
            eprintln!("warning: {w}");
        }
        strips
    };
    let with_history = !history.is_empty();
    let Some(page) = report.render(&history) else {
        bail!("{name}: empty, not a warden event stream");
    };
    let to_stdout = args.html == Path::new("-");
    if to_stdout {
        let mut out = std::io::stdout().lock();
        out.write_all(page.as_bytes())
            .and_then(|()| out.flush())
            .context("cannot write the HTML report to stdout")?;
    } else {
        UserPath::new("--html", &args.html).write_atomic(page.as_bytes())?;
    }
    eprintln!(
        "wrote the report of {name} ({tests} test{}, {} KiB{}) to {}",
        if tests == 1 { "" } else { "s" },
        page.len().div_ceil(1024),
        if with_history { ", with history" } else { "" },
        if to_stdout {
            "stdout".to_string()
        } else {
            args.html.display().to_string()
        }
    );
    Ok(ExitCode::PASSED)
}

/// Each test's last results from `<state_dir>/history.db`, up to `until` (the end of the run
/// the page shows): empty without a history, or with `WARDEN_NO_STATE`. A history that cannot
/// be read is a warning, not an error: the page is still worth having.
pub fn history_strips(
    state_dir: &Path,
    ids: &[String],
    until: Option<&str>,
) -> (HashMap<String, Vec<Status>>, Option<String>) {
    let db = state_dir.join(HISTORY_DB);
    if no_state() || ids.is_empty() || !db.is_file() {
        return (HashMap::new(), None);
    }
    let read = History::open(&db)
        .and_then(|h| h.recent_statuses(ids, HISTORY_RUNS, until.unwrap_or("9999")));
    match read {
        Ok(strips) => (strips, None),
        Err(e) => (
            HashMap::new(),
            Some(format!("HTML report without history strips: {e}")),
        ),
    }
}
