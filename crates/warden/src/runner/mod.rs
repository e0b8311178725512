//! The run: queue + worker slots + stop requests → events.
mod classify;
mod host_watch;
pub mod launch;
mod scheduler;
mod slots;

pub use classify::{classify, SKIP_EXIT_CODE};
pub use host_watch::HostSource;
pub use scheduler::{run, run_with, RunOutcome, RunPlan, Seams, StopRequest};

#[cfg(test)]
mod caps_tests;
#[cfg(test)]
mod scripted_tests;
#[cfg(test)]
mod tests;
