//! No work lost (SPEC §7): every finished test goes to the run's journal at once (the
//! checkpoint `--resume` reads) and to the history database (durations, `--failed`, flakiness).

use std::path::PathBuf;

use warden::events::{Event, EventKind, StopReason};
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
}

impl Persistence {
    pub fn on_event(&mut self, event: &Event) {
        match &event.kind {
            EventKind::TestFinished(r) if !r.carried_over => {
                if let Some(j) = &mut self.journal {
                    if let Err(e) = j.append(r) {
                        self.warnings.push(format!(
                            "journal: {e}; --resume will rerun tests finished after this"
                        ));
                        self.journal = None;
                    }
                }
                self.record(r);
            }
            EventKind::TestRetrying(r) => self.record(r),
            _ => {}
        }
    }

    fn record(&mut self, r: &warden::events::TestResult) {
        if let Some(h) = &self.history {
            if let Err(e) = h.record(&self.run_id, r) {
                self.warnings
                    .push(format!("history: {e}; continuing without it"));
                self.history = None;
            }
        }
    }

    /// A run that completed removes its checkpoint; an interrupted one keeps it for `--resume`.
    pub fn finish(mut self, outcome: &RunOutcome) -> Vec<String> {
        // Stopping on failures is the run the user asked for: complete, not resumable.
        let completed = matches!(
            outcome.stopped,
            None | Some(StopReason::FailFast | StopReason::MaxFail)
        );
        if let Some(mut h) = self.history.take() {
            let done = h
                .finish_run(&self.run_id, completed, outcome.exit_code)
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
        self.warnings
    }
}
