//! What warden keeps between and during runs under the state dir.
pub mod history;
pub mod invocation;
pub mod journal;
mod lock;
mod persist;
pub mod registry;
mod remove;
pub mod resume;
mod run_dir;
mod selection_fingerprint;
pub use history::{History, HistoryError, TestStats};
pub use invocation::Invocation;
pub use journal::{
    find_resumable, fingerprint_hash, journal_path, read_journal, Fingerprint, Header, Journal,
    JournalContents, JournalError, TestRecord,
};
pub use lock::{LockError, StateLock};
pub use persist::Persistence;
pub use remove::{remove_tree_within, Unfinished};
pub use resume::{
    find_checkpoint, plan_resume, plan_resume_from, Checkpoint, ResumeError, ResumePlan,
};
pub use run_dir::{new_run_id, prune_runs, test_slug, RunDir, StateError};
