use std::path::PathBuf;

use crate::exit_code::ExitCode;
use crate::state::{LockError, ResumeError, StateError};

/// Why a run session could not start: nothing of the run ran.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Lock(#[from] LockError),
    /// `--resume` found nothing to resume, or a selection that differs (exit 43).
    #[error(transparent)]
    NotResumed(#[from] ResumeError),
    #[error(transparent)]
    RunDir(#[from] StateError),
    #[error("cannot create the run's private temp dir {}: {source}", path.display())]
    TempDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl SessionError {
    /// 43 when the run could not be resumed as asked, else 2.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            SessionError::NotResumed(_) => ExitCode::NOT_RESUMED,
            _ => ExitCode::USAGE,
        }
    }
}
