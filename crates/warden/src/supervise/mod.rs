//! Supervision of one process tree: spawn, capture, timeout, terminate, leak sweep.
//! Knows nothing of tests, suites or reports.

mod capture;
pub mod os;
pub mod pause;
mod process;
mod tree;

pub use capture::{OutputCapture, HEAD_BYTES, TAIL_BYTES};
pub(crate) use process::ClaimedChild;
pub use process::{run_process, Cancel, CaptureSpec, Exit, ProcessOutcome, SpawnSpec, TapMode};
