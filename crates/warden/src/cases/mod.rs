//! Test cases as tests: files or binaries that list their cases (a suite's `list`, the cargo
//! adapter) become one test per case, each run alone by its own command.
pub mod cargo;
mod command;
mod expand;
mod junit;
mod parse;

pub use command::{run_listing, Ended, Listed, ListingError, Tail};
pub use expand::{cases_of, expand_listed};
pub use junit::{
    apply_junit, parse_junit, read_junit, JunitError, ReportError, JUNIT_ENV, JUNIT_FILE,
};
pub use parse::{libtest, ListFormat};
