//! What outlives warden: the watchdog process, and the reaping of dead runs it shares with
//! `warden clean`.
mod process;
mod reap;

pub use process::{serve, Watchdog, WATCHDOG_COMMAND};
pub use reap::{reap_run, Reaped, INTERRUPTED_FILE};
