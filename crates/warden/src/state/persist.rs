//! No work lost (SPEC §7), as one more consumer of the run's events: every finished test goes
//! to the run's journal at once (the checkpoint `--resume` reads) and to the history database
//! (durations, `--failed`, flakiness). Problems are collected, never printed: the caller says
//! them once at the end.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use super::history::DEFAULT_KEEP_RUNS_PER_TEST;
use super::{journal, History, Journal};
use crate::events::{Event, EventKind, GuardAction, StopReason, TestResult};
use crate::runner::RunOutcome;

pub struct Persistence {
    run_id: String,
    run_dir: PathBuf,
    journal: Option<Journal>,
    history: Option<History>,
    /// Problems met while writing; reported once at the end.
    warnings: Vec<String>,
    /// What could not be kept (the checkpoint): reported at the end, and the run exits non-zero.
    lost: Vec<String>,
    /// Results not yet in history, and when history was last written.
    pending: Vec<(TestResult, SystemTime)>,
    flushed: Instant,
}

/// History is written in batches (one SQLite commit per batch, not per test): at most this many
/// results or this long apart. What a crash loses of it, the journal still has.
const HISTORY_BATCH: usize = 64;
const HISTORY_FLUSH_EVERY: Duration = Duration::from_secs(2);

impl Persistence {
    /// Keep the results of run `run_id` (whose directory is `run_dir`) in `journal` and
    /// `history`, either of which may be missing (then that part is not kept).
    pub fn new(
        run_id: &str,
        run_dir: PathBuf,
        journal: Option<Journal>,
        history: Option<History>,
    ) -> Persistence {
        Persistence {
            run_id: run_id.to_string(),
            run_dir,
            journal,
            history,
            warnings: Vec::new(),
            lost: Vec::new(),
            pending: Vec::new(),
            flushed: Instant::now(),
        }
    }

    pub fn on_event(&mut self, event: &Event) {
        match &event.kind {
            EventKind::TestFinished(r) if !r.carried_over => {
                if let Some(j) = &mut self.journal {
                    if let Err(e) = j.append(r) {
                        self.lost.push(format!(
                            "the checkpoint is incomplete ({e}): --resume would rerun {} and \
                             every test finished after it",
                            r.id
                        ));
                        self.journal = None;
                    }
                }
                self.record(r);
            }
            EventKind::TestRetrying(r) => self.record(r),
            // A test the guard took memory back from runs alone when the run is resumed, so
            // that it cannot stop the run again together with another test.
            EventKind::Guard {
                action: GuardAction::Requeue,
                id: Some(id),
                ..
            }
            | EventKind::TestCancelled {
                id,
                reason: StopReason::Guard,
                ..
            } => {
                if let Some(j) = &mut self.journal {
                    if let Err(e) = j.append_alone(id) {
                        self.warnings.push(format!("journal: {e}"));
                    }
                }
            }
            _ => {}
        }
    }

    fn record(&mut self, r: &TestResult) {
        if self.history.is_some() {
            self.pending.push((r.clone(), SystemTime::now()));
            // A failure is written at once: `--failed` must know it even if warden is killed
            // before the next batch (carried-over results are not recorded again on resume).
            if r.status.is_failure()
                || self.pending.len() >= HISTORY_BATCH
                || self.flushed.elapsed() >= HISTORY_FLUSH_EVERY
            {
                self.flush();
            }
        }
    }

    /// Write the buffered results to history in one transaction.
    fn flush(&mut self) {
        self.flushed = Instant::now();
        let batch = std::mem::take(&mut self.pending);
        if let (Some(h), false) = (&self.history, batch.is_empty()) {
            if let Err(e) = h.record_batch(&self.run_id, &batch) {
                self.warnings
                    .push(format!("history: {e}; continuing without it"));
                self.history = None;
            }
        }
    }

    /// A run that completed removes its checkpoint; an interrupted one keeps it for `--resume`.
    /// Returns the warnings, and what was lost.
    pub fn finish(mut self, outcome: &RunOutcome) -> (Vec<String>, Vec<String>) {
        self.flush();
        // Stopping on failures is the run the user asked for: complete, not resumable.
        let completed = matches!(
            outcome.stopped,
            None | Some(StopReason::FailFast | StopReason::MaxFail)
        );
        if let Some(mut h) = self.history.take() {
            let done = h
                .finish_run(&self.run_id, completed, outcome.exit_code.code())
                .and_then(|()| h.prune(DEFAULT_KEEP_RUNS_PER_TEST).map(|_| ()));
            if let Err(e) = done {
                self.warnings.push(format!("history: {e}"));
            }
        }
        if completed {
            if let Err(e) = journal::complete(&self.run_dir) {
                self.warnings.push(format!("journal: {e}"));
            }
        }
        (self.warnings, self.lost)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::events::{ExitCode, Status, Totals};
    use crate::state::journal::{journal_path, read_journal, Fingerprint, Header};

    fn outcome(stopped: Option<StopReason>) -> RunOutcome {
        RunOutcome {
            totals: Totals::default(),
            exit_code: ExitCode::FAILED,
            stopped,
            duration: Duration::ZERO,
            guard_reason: None,
            temp_left: None,
        }
    }

    fn finished(r: TestResult) -> Event {
        Event::now(EventKind::TestFinished(Box::new(r)))
    }

    /// Real files, real SQLite: a failure reaches history before the batch is full (so that
    /// `--failed` knows it if warden is killed next), every result is in the journal at once,
    /// and an interrupted run keeps its checkpoint.
    #[test]
    fn failures_are_kept_at_once_and_an_interrupted_run_keeps_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let fingerprint = Fingerprint {
            tests: vec!["a".into(), "b".into()],
            config_hash: String::new(),
            options: Default::default(),
        };
        let journal = Journal::create(dir.path(), &Header::new("r1", None, fingerprint)).unwrap();
        let history = History::open(&dir.path().join("history.db")).unwrap();
        history.begin_run("r1", None).unwrap();
        let mut persist =
            Persistence::new("r1", dir.path().to_path_buf(), Some(journal), Some(history));
        persist.on_event(&finished(TestResult::for_test("a", Status::Pass, 5)));
        persist.on_event(&finished(TestResult::for_test("b", Status::Fail, 5)));

        let other = History::open(&dir.path().join("history.db")).unwrap();
        assert_eq!(
            other.latest_failures().unwrap(),
            Some(vec!["b".to_string()])
        );
        let contents = read_journal(&journal_path(dir.path())).unwrap();
        assert_eq!(contents.finished_ids().len(), 2);

        let (warnings, lost) = persist.finish(&outcome(Some(StopReason::Signal)));
        assert!(
            warnings.is_empty() && lost.is_empty(),
            "{warnings:?} {lost:?}"
        );
        assert!(journal_path(dir.path()).exists(), "the checkpoint is kept");
    }

    #[test]
    fn a_completed_run_removes_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let fingerprint = Fingerprint {
            tests: vec!["a".into()],
            config_hash: String::new(),
            options: Default::default(),
        };
        let journal = Journal::create(dir.path(), &Header::new("r1", None, fingerprint)).unwrap();
        let mut persist = Persistence::new("r1", dir.path().to_path_buf(), Some(journal), None);
        persist.on_event(&finished(TestResult::for_test("a", Status::Fail, 5)));
        let (warnings, lost) = persist.finish(&outcome(Some(StopReason::FailFast)));
        assert!(
            warnings.is_empty() && lost.is_empty(),
            "{warnings:?} {lost:?}"
        );
        assert!(
            !journal_path(dir.path()).exists(),
            "stopping on failures is complete"
        );
    }
}
