//! The run: queue + worker slots + stop requests → events.
mod classify;
mod scheduler;

pub use classify::{classify, SKIP_EXIT_CODE};
pub use scheduler::{run, RunOutcome, RunPlan, StopRequest};

#[cfg(test)]
mod tests;
