//! The run: queue + worker slots + stop requests → events.
mod classify;
mod host_watch;
mod scheduler;
mod slots;

pub use classify::{classify, SKIP_EXIT_CODE};
pub use scheduler::{run, RunOutcome, RunPlan, StopRequest};

#[cfg(test)]
mod guard_tests;
#[cfg(test)]
mod tests;
