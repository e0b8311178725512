//! No work lost (SPEC §7): every finished test goes to the run's journal at once (the
//! checkpoint `--resume` reads) and to the history database (durations, `--failed`, flakiness).

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use warden::events::{Event, EventKind, GuardAction, StopReason, TestResult};
use warden::runner::RunOutcome;
use warden::state::history::DEFAULT_KEEP_RUNS_PER_TEST;
use warden::state::{journal, History, Journal};

pub struct Persistence {
    pub run_id: String,
    pub run_dir: PathBuf,
    pub journal: Option<Journal>,
    pub history: Option<History>,
    /// Problems met while writing; reported once at the end.
    pub warnings: Vec<String>,
    /// What could not be kept (the checkpoint): reported at the end, and the run exits non-zero.
    pub lost: Vec<String>,
    /// Results not yet in history, and when history was last written.
    pub pending: Vec<(TestResult, SystemTime)>,
    pub flushed: Instant,
}

/// History is written in batches (one SQLite commit per batch, not per test): at most this many
/// results or this long apart. What a crash loses of it, the journal still has.
const HISTORY_BATCH: usize = 64;
const HISTORY_FLUSH_EVERY: Duration = Duration::from_secs(2);

impl Persistence {
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
