//! `warden merge REPORT... -o OUT`: the shards' reports as one (SPEC §9).

use std::io::Write;
use std::path::Path;
use warden::exit_code::ExitCode;

use anyhow::{Context, Result};
use warden::report::{merge_files, ReportFormat, UserPath};

use crate::args::MergeArgs;

/// Merges and writes; any problem with an input is an error naming it (exit 2), and nothing
/// is written then. The exit code is 0 once merged (the shards' outcome is in the report), or
/// with `--exit-code` the worst one the reports recorded.
pub fn run_merge(args: &MergeArgs) -> Result<ExitCode> {
    let merged = merge_files(&args.reports)?;
    for w in &merged.warnings {
        eprintln!("warning: {w}");
    }
    let to_stdout = args.output == Path::new("-");
    if to_stdout {
        let mut out = std::io::stdout().lock();
        out.write_all(merged.text.as_bytes())
            .and_then(|()| out.flush())
            .context("cannot write the merged report to stdout")?;
    } else {
        // Atomic for a regular file (OUT may be one of the inputs); a device, FIFO or symlink
        // is written through, never replaced.
        UserPath::new("-o", &args.output).write_atomic(merged.text.as_bytes())?;
    }
    let what = match merged.format {
        ReportFormat::JsonLines => "finished tests",
        ReportFormat::Junit => "testcases",
    };
    let exit = merged
        .exit_code
        .map(|c| format!(", exit code {c}"))
        .unwrap_or_default();
    eprintln!(
        "merged {} {} report{} ({} {what}, {} failed{exit}) into {}",
        merged.reports,
        merged.format.name(),
        if merged.reports == 1 { "" } else { "s" },
        merged.tests,
        merged.failed,
        if to_stdout {
            "stdout".to_string()
        } else {
            args.output.display().to_string()
        }
    );
    if !merged.disagreements.is_empty() {
        for d in &merged.disagreements {
            eprintln!("error: {}", warden::report::terminal_safe(d));
        }
        eprintln!("error: the merged report is not the whole run (see above)");
        return Ok(ExitCode::FAILED);
    }
    if args.exit_code {
        // A JUnit report of another tool records none: judge by its failures then.
        let code = match merged.exit_code {
            Some(c) => ExitCode::from_raw(c),
            None => ExitCode::of_failure(merged.failed > 0),
        };
        return Ok(code);
    }
    Ok(ExitCode::PASSED)
}
