//! Streaming TAP 13/14 parser (SPEC §3, `format = "auto"` and `"tap"`): turns a test file's
//! output into subtest counts and a verdict, in bounded memory, without ever panicking.

mod line;
mod parser;
mod report;

pub use parser::{TapParser, LINE_CAP};
pub use report::{Plan, TapReport};
