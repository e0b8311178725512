//! Supervision of one process tree: spawn, capture, caps, timeout, terminate, leak sweep,
//! measurements. Knows nothing of tests, suites or reports.

mod capture;
mod child;
mod driver;
#[cfg(test)]
mod driver_tests;
mod limits;
mod net;
pub mod os;
pub mod pause;
mod peak;
mod process;
mod sink;
mod tree;

pub use capture::{OutputCapture, HEAD_BYTES, TAIL_BYTES};
pub(crate) use child::{is_waited_for, ClaimedChild};
pub use child::{ChildUsage, MainChild};
pub(crate) use driver::{drive, not_started, DriveSpec, End, Finish, Stop, Supervisee};
pub use limits::{Limits, MemCapBy, Usage};
pub use net::{Network, UnknownNetwork};
pub use process::{run_process, Cancel, CaptureSpec, Exit, ProcessOutcome, SpawnSpec, TapMode};
pub use sink::{Echo, OutputSink, SinkResult};
pub use tree::{kill_unclaimed, owned_by};
