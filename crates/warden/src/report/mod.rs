//! Reporters: pure writers of [`crate::events::Event`]s (terminal text, JSON Lines, JUnit XML,
//! the HTML page).
//! They decide the bytes; where the bytes go is the caller's business.

mod html;
mod human;
mod json;
mod junit;
mod merge;
pub mod output_path;
mod shell;
mod text;

pub use html::{HtmlReport, InputError, HISTORY_RUNS};
pub use human::{
    cancelled_line, coverage_line, failure_details, finished_line, guard_line, retry_line,
    slow_line, summary, HumanStyle,
};
pub use json::{event_to_json, JsonLinesWriter, OUTPUT_TAIL_BYTES, SCHEMA};
pub use junit::{JunitError, JunitReport};
pub use merge::{
    detect_format, merge_files, merge_texts, worst_exit_code, MergeError, Merged, ReportFormat,
    ReportText,
};
pub use output_path::{OutputPathError, PathKind, UserPath};
pub use shell::{shell_word, shell_words};
pub use text::{omitted_marker, render_output, terminal_safe, terminal_safe_lines};
