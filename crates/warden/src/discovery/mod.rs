//! Discovery: walk the PATHs, let suites claim files, read markers → [`TestCase`]s.
//!
//! [`TestCase`]: crate::test_case::TestCase
mod command;
mod markers;
mod walk;

pub use command::{build_case_command, build_command, interpreter_for, CommandError};
pub use markers::{parse_markers, MarkerError, Markers, MARKER_BYTES, MARKER_LINES};
pub use walk::{discover, Discovered, DiscoveryError};
