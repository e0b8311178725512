//! What `warden merge` reads: report files, their format, and the rules shared by both formats
//! (which exit code is the worst, what goes wrong and how it is said).

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::{json, junit};
use crate::exit_code::ExitCode;

/// The two report formats warden writes and can merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// `--json`: one event per line (SPEC §10).
    JsonLines,
    /// `--junit`: one XML document.
    Junit,
}

impl ReportFormat {
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::JsonLines => "JSON-lines",
            ReportFormat::Junit => "JUnit XML",
        }
    }
}

/// One report already in memory; `name` is how errors refer to it (usually its path).
#[derive(Debug, Clone)]
pub struct ReportText {
    pub name: String,
    pub text: String,
}

/// The merged report and what the merge learned on the way.
#[derive(Debug, Clone)]
pub struct Merged {
    pub format: ReportFormat,
    /// The merged document, ready to write.
    pub text: String,
    pub reports: usize,
    /// Finished tests (JSON) or testcases (JUnit) in all reports.
    pub tests: usize,
    /// Of those, how many failed in any way (JUnit: `<failure>` or `<error>`).
    pub failed: usize,
    /// The worst exit code the reports recorded (see [`ExitCode::merge_rank`]); `None` for JUnit
    /// reports that carry no `exit_code` property (written by another tool).
    pub exit_code: Option<i32>,
    /// Things worth telling the user that do not stop the merge (a test in two shards).
    pub warnings: Vec<String>,
    /// Shards that are not the shards of one cut, or selected tests that ran in no shard:
    /// the merged report is still written, and `warden merge` exits 1 naming them.
    pub disagreements: Vec<String>,
}

/// Why nothing was merged. Every message names the file at fault.
#[derive(Debug, Error)]
pub enum MergeError {
    #[error("no reports to merge")]
    NoInput,
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{name}: empty, not a report")]
    Empty { name: String },
    #[error("{name}: not a JSON-lines or JUnit XML report (it starts with `{start}`)")]
    UnknownFormat { name: String, start: String },
    #[error(
        "cannot merge {first_format} and {second_format} reports together: {first} is {first_format}, \
         {second} is {second_format}"
    )]
    Mixed {
        first: String,
        first_format: &'static str,
        second: String,
        second_format: &'static str,
    },
    /// A line (JSON) or position (XML) that does not parse or does not fit the schema.
    #[error("{name}:{line}: {message}")]
    Malformed {
        name: String,
        line: usize,
        message: String,
    },
    /// The file parses but is not a whole report (no `run-finished`, a foreign root element).
    #[error("{name}: {message}")]
    Invalid { name: String, message: String },
}

/// The format of a report, from its first non-blank character: `{` JSON lines, `<` XML.
pub fn detect_format(report: &ReportText) -> Result<ReportFormat, MergeError> {
    let body = report.text.trim_start_matches('\u{feff}').trim_start();
    match body.chars().next() {
        None => Err(MergeError::Empty {
            name: report.name.clone(),
        }),
        Some('{') => Ok(ReportFormat::JsonLines),
        Some('<') => Ok(ReportFormat::Junit),
        Some(_) => Err(MergeError::UnknownFormat {
            name: report.name.clone(),
            start: body
                .chars()
                .take(20)
                .collect::<String>()
                .escape_debug()
                .to_string(),
        }),
    }
}

/// Reads every file (UTF-8 text), then merges them as [`merge_texts`] does.
pub fn merge_files(paths: &[PathBuf]) -> Result<Merged, MergeError> {
    let reports = paths
        .iter()
        .map(|path| read(path))
        .collect::<Result<Vec<_>, _>>()?;
    merge_texts(&reports)
}

fn read(path: &Path) -> Result<ReportText, MergeError> {
    let bytes = std::fs::read(path).map_err(|source| MergeError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path.display().to_string();
    let text = String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        MergeError::Malformed {
            line: upto.iter().filter(|b| **b == b'\n').count() + 1,
            name: name.clone(),
            message: "not UTF-8 text".to_string(),
        }
    })?;
    Ok(ReportText { name, text })
}

/// Merges reports that are all of one format, in the order given: each report's tests stay
/// together and in their order.
pub fn merge_texts(reports: &[ReportText]) -> Result<Merged, MergeError> {
    let first = reports.first().ok_or(MergeError::NoInput)?;
    let format = detect_format(first)?;
    for other in &reports[1..] {
        let f = detect_format(other)?;
        if f != format {
            return Err(MergeError::Mixed {
                first: first.name.clone(),
                first_format: format.name(),
                second: other.name.clone(),
                second_format: f.name(),
            });
        }
    }
    match format {
        ReportFormat::JsonLines => json::merge(reports),
        ReportFormat::Junit => junit::merge(reports),
    }
}

/// The worst of some exit codes by [`ExitCode::merge_rank`]; `None` when there are none.
pub fn worst_exit_code(codes: impl IntoIterator<Item = i32>) -> Option<i32> {
    let rank = |c: i32| ExitCode::from_raw(c).merge_rank();
    // Among unknown codes of equal rank, the first one given wins, so the result is stable.
    codes.into_iter().fold(None, |worst, c| match worst {
        Some(w) if rank(w) >= rank(c) => Some(w),
        _ => Some(c),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str, text: &str) -> ReportText {
        ReportText {
            name: name.into(),
            text: text.into(),
        }
    }

    #[test]
    fn the_format_comes_from_the_first_character() {
        assert_eq!(
            detect_format(&text("a", "\n  {\"type\":1}")).ok(),
            Some(ReportFormat::JsonLines)
        );
        assert_eq!(
            detect_format(&text("a", "\u{feff}<?xml?>")).ok(),
            Some(ReportFormat::Junit)
        );
        let err = detect_format(&text("notes.txt", "hello world")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "notes.txt: not a JSON-lines or JUnit XML report (it starts with `hello world`)"
        );
        let err = detect_format(&text("e.json", " \n ")).unwrap_err();
        assert_eq!(err.to_string(), "e.json: empty, not a report");
    }

    #[test]
    fn mixed_formats_name_both_files() {
        let err = merge_texts(&[text("a.jsonl", "{}"), text("b.xml", "<testsuites/>")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "cannot merge JSON-lines and JUnit XML reports together: a.jsonl is JSON-lines, \
             b.xml is JUnit XML"
        );
        assert!(matches!(merge_texts(&[]), Err(MergeError::NoInput)));
    }

    #[test]
    fn the_worst_exit_code_follows_the_documented_order() {
        let order = [0, 1, 7, 42, 129, 143, 130, 43, 2];
        for pair in order.windows(2) {
            assert_eq!(worst_exit_code([pair[1], pair[0]]), Some(pair[1]));
            assert_eq!(worst_exit_code([pair[0], pair[1]]), Some(pair[1]));
        }
        assert_eq!(worst_exit_code([0, 0, 1, 0]), Some(1));
        assert_eq!(worst_exit_code([7, 9]), Some(7));
        assert_eq!(worst_exit_code([]), None);
    }

    #[test]
    fn unreadable_files_are_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing.jsonl");
        let err = merge_files(std::slice::from_ref(&missing))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("cannot read {}: ", missing.display())),
            "{err}"
        );
        let binary = dir.path().join("bin.jsonl");
        std::fs::write(&binary, b"{\"type\":\"x\"}\n{\"a\":\"\xff\"}\n").expect("write");
        let err = merge_files(std::slice::from_ref(&binary))
            .unwrap_err()
            .to_string();
        assert_eq!(err, format!("{}:2: not UTF-8 text", binary.display()));
    }
}
