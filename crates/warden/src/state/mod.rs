//! What warden keeps between and during runs under the state dir.
pub mod registry;
mod run_dir;
pub use run_dir::{new_run_id, prune_runs, RunDir, StateError};
