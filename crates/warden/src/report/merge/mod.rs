//! `warden merge`: the reports of several shards (SPEC §9) as one, JSON lines or JUnit XML.
mod input;
mod json;
mod junit;
mod shards;

pub use input::{
    detect_format, merge_files, merge_texts, worst_exit_code, MergeError, Merged, ReportFormat,
    ReportText,
};
