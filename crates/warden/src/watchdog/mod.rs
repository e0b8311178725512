//! What outlives warden: the watchdog process, and the reaping of dead runs it shares with
//! `warden clean`.
mod process;
mod reap;
mod sweep;

pub use process::{serve, Watchdog, WATCHDOG_COMMAND};
pub use reap::{reap_run, Reaped, INTERRUPTED_FILE};
pub use sweep::{note_containers_used, sweep, Swept};
