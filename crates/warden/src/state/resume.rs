//! `--resume`: find the interrupted run, check that it asked for what is asked now, and split
//! the selection into results to carry over and tests still to run (SPEC §7, exit 43).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::journal::{
    find_resumable, journal_path, read_journal, Fingerprint, JournalContents, JournalError,
};
use crate::events::TestResult;

#[derive(Debug, Error)]
pub enum ResumeError {
    #[error("nothing to resume: no interrupted run in {}", .state_dir.display())]
    NoCheckpoint { state_dir: PathBuf },
    #[error("cannot resume: {0}")]
    Unreadable(#[from] JournalError),
    #[error(
        "cannot resume run {run_id}: the selection differs from the interrupted run:\n  {}",
        .differences.join("\n  ")
    )]
    Mismatch {
        run_id: String,
        differences: Vec<String>,
    },
}

/// What the resumed run does.
#[derive(Debug)]
pub struct ResumePlan {
    pub from_run: String,
    pub from_dir: PathBuf,
    /// Results of the interrupted run for tests still selected: reported, never rerun.
    pub carried: Vec<TestResult>,
    /// The checkpoint's fingerprint, kept for the new journal so that it can be resumed again.
    pub fingerprint: Fingerprint,
    /// Ids of selected tests the interrupted run did not ask for (only with `force`): left out.
    pub dropped: Vec<String>,
    /// Tests still to run that must run alone: the host guard stopped the interrupted run
    /// while they ran, or requeued them.
    pub alone: Vec<String>,
    /// Torn records and the like, read past with a warning.
    pub warnings: Vec<String>,
}

impl ResumePlan {
    /// Whether `id` still has to run.
    pub fn should_run(&self, id: &str) -> bool {
        !self.carried.iter().any(|r| r.id == id) && !self.dropped.iter().any(|d| d == id)
    }
}

/// The newest interrupted run of a state dir, read.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub dir: PathBuf,
    pub contents: JournalContents,
}

/// Find and read the newest interrupted run in `state_dir`.
pub fn find_checkpoint(state_dir: &Path) -> Result<Checkpoint, ResumeError> {
    let dir = find_resumable(state_dir).ok_or_else(|| ResumeError::NoCheckpoint {
        state_dir: state_dir.to_path_buf(),
    })?;
    let contents = read_journal(&journal_path(&dir))?;
    Ok(Checkpoint { dir, contents })
}

/// Plan the resumption of the newest interrupted run in `state_dir` against the selection now
/// asked for (`current`). With `force`, a differing selection resumes on the intersection.
pub fn plan_resume(
    state_dir: &Path,
    current: &Fingerprint,
    force: bool,
) -> Result<ResumePlan, ResumeError> {
    plan_resume_from(find_checkpoint(state_dir)?, current, force, Vec::new())
}

/// [`plan_resume`] of a checkpoint already read. `changes` are differences of the selection
/// options already found (from the invocation): a mismatch like any other.
pub fn plan_resume_from(
    checkpoint: Checkpoint,
    current: &Fingerprint,
    force: bool,
    changes: Vec<String>,
) -> Result<ResumePlan, ResumeError> {
    let Checkpoint {
        dir: from_dir,
        contents,
    } = checkpoint;
    let from_run = contents.header.run_id.clone();
    let mut differences = changes;
    differences.extend(contents.header.fingerprint.compare(current));
    if !differences.is_empty() && !force {
        return Err(ResumeError::Mismatch {
            run_id: from_run,
            differences,
        });
    }
    let asked_then: HashSet<&str> = contents
        .header
        .fingerprint
        .tests
        .iter()
        .map(String::as_str)
        .collect();
    let asked_now: HashSet<&str> = current.tests.iter().map(String::as_str).collect();
    let carried: Vec<TestResult> = contents
        .records
        .into_iter()
        .filter(|r| asked_now.contains(r.id.as_str()))
        .collect();
    let dropped: Vec<String> = current
        .tests
        .iter()
        .filter(|id| !asked_then.contains(id.as_str()))
        .cloned()
        .collect();
    let finished: HashSet<&str> = carried.iter().map(|r| r.id.as_str()).collect();
    let alone = contents
        .alone
        .iter()
        .filter(|id| asked_now.contains(id.as_str()) && !finished.contains(id.as_str()))
        .cloned()
        .collect();
    let mut fingerprint = contents.header.fingerprint;
    if force {
        // The resumed run is the intersection: that is what a later `--resume` compares with.
        fingerprint
            .tests
            .retain(|id| asked_now.contains(id.as_str()));
        fingerprint.options = current.options.clone();
        fingerprint.config_hash = current.config_hash.clone();
    }
    Ok(ResumePlan {
        from_run,
        from_dir,
        carried,
        fingerprint,
        dropped,
        alone,
        warnings: contents.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Status;
    use crate::state::journal::{Header, Journal};

    fn result(id: &str) -> TestResult {
        TestResult::for_test(id, Status::Pass, 5)
    }

    fn fp(tests: &[&str]) -> Fingerprint {
        Fingerprint {
            tests: tests.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn carries_finished_and_refuses_other_selections() {
        let state = tempfile::tempdir().unwrap();
        assert!(matches!(
            plan_resume(state.path(), &fp(&["a"]), false),
            Err(ResumeError::NoCheckpoint { .. })
        ));
        let run_dir = state.path().join("runs").join("20260101T000000Z-aaaaaa");
        std::fs::create_dir_all(&run_dir).unwrap();
        let mut j = Journal::create(
            &run_dir,
            &Header::new("20260101T000000Z-aaaaaa", None, fp(&["a", "b", "c"])),
        )
        .unwrap();
        j.append(&result("a")).unwrap();

        let plan = plan_resume(state.path(), &fp(&["c", "b", "a"]), false).unwrap();
        assert_eq!(plan.from_run, "20260101T000000Z-aaaaaa");
        assert_eq!(plan.carried.len(), 1);
        assert!(plan.carried[0].carried_over);
        assert!(!plan.should_run("a") && plan.should_run("b") && plan.should_run("c"));

        let err = plan_resume(state.path(), &fp(&["a", "b", "d"]), false).unwrap_err();
        match &err {
            ResumeError::Mismatch { differences, .. } => assert_eq!(
                differences,
                &["1 test added: d", "1 test removed: c"],
                "{err}"
            ),
            other => panic!("not a mismatch: {other}"),
        }
        let forced = plan_resume(state.path(), &fp(&["a", "b", "d"]), true).unwrap();
        assert!(!forced.should_run("a") && forced.should_run("b") && !forced.should_run("d"));
        assert_eq!(forced.fingerprint.tests, ["a", "b"]);
    }

    /// Tests the guard stopped or requeued run alone when resumed, unless they finished.
    #[test]
    fn alone_tests_are_those_still_to_run() {
        let state = tempfile::tempdir().unwrap();
        let run_dir = state.path().join("runs").join("20260101T000000Z-cccccc");
        let mut j = Journal::create(
            &run_dir,
            &Header::new("20260101T000000Z-cccccc", None, fp(&["a", "b", "c"])),
        )
        .unwrap();
        j.append_alone("b").unwrap();
        j.append_alone("a").unwrap();
        j.append(&result("a")).unwrap();
        j.append_alone("b").unwrap();
        let plan = plan_resume(state.path(), &fp(&["a", "b", "c"]), false).unwrap();
        assert_eq!(plan.alone, ["b"]);
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    }

    #[test]
    fn garbage_journal_is_an_error_naming_the_file() {
        let state = tempfile::tempdir().unwrap();
        let run_dir = state.path().join("runs").join("20260101T000000Z-bbbbbb");
        std::fs::create_dir_all(&run_dir).unwrap();
        std::fs::write(journal_path(&run_dir), "garbage\nmore garbage\n").unwrap();
        let err = plan_resume(state.path(), &fp(&["a"]), false).unwrap_err();
        assert!(matches!(err, ResumeError::Unreadable(_)));
        assert!(err.to_string().contains("journal.jsonl"), "{err}");
    }
}
