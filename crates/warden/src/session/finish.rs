//! After the run: what is killed, removed and kept before the binary shows the summary.

use super::containment::Containment;
use super::{Finished, Notice, Session};
use crate::container::remove_run_containers;
use crate::events::StopReason;
use crate::runner::RunOutcome;
use crate::state::{prune_runs, Persistence, RunDir};
use crate::watchdog::INTERRUPTED_FILE;

/// How many run directories (logs, journals) are kept under the state dir.
const KEEP_RUNS: usize = 20;

/// How many test ids a "logs could not be written" error names.
const LOST_LOGS_SHOWN: usize = 5;

pub(super) fn after_run(
    session: &Session,
    outcome: RunOutcome,
    containment: Option<Containment>,
    run_dir: Option<&RunDir>,
    persist: Option<Persistence>,
    lost_logs: Vec<String>,
) -> Finished {
    let mut notices = Vec::new();
    // Every child of warden is a test's now (the watchdog is claimed): an orphan that shed
    // both the run's token and its mark, so that even the runner could not tell it, ends here.
    let strays = crate::supervise::kill_unclaimed(|_| true);
    if !strays.is_empty() {
        let list: Vec<String> = strays
            .iter()
            .map(|l| format!("{} {}", l.pid, l.cmd))
            .collect();
        notices.push(Notice::Warning(format!(
            "killed {} orphaned process{} left under warden: {}",
            strays.len(),
            if strays.len() == 1 { "" } else { "es" },
            list.join(", ")
        )));
    }
    // Every test removed its container; this catches one whose removal failed.
    if let Some(engine) = &session.engine {
        match remove_run_containers(engine, &session.run_id, false) {
            Ok(left) if !left.is_empty() => notices.push(Notice::Warning(format!(
                "removed {} container{} the run left behind",
                left.len(),
                if left.len() == 1 { "" } else { "s" }
            ))),
            Ok(_) => {}
            Err(e) => notices.push(Notice::Warning(format!(
                "cannot check for leftover containers: {e}"
            ))),
        }
    }
    if let Some(run_dir) = run_dir {
        mark_interrupted(&run_dir.dir, &outcome);
    }
    if let Some(c) = containment {
        c.tear_down(outcome.temp_left.is_some());
    }
    let (warnings, mut lost) = match persist {
        Some(p) => p.finish(&outcome),
        None => (Vec::new(), Vec::new()),
    };
    if !lost_logs.is_empty() {
        let shown: Vec<&str> = lost_logs
            .iter()
            .take(LOST_LOGS_SHOWN)
            .map(String::as_str)
            .collect();
        lost.push(format!(
            "the logs of {} test{} could not be written ({}{}); their output is lost beyond \
             what is shown here",
            lost_logs.len(),
            if lost_logs.len() == 1 { "" } else { "s" },
            shown.join(", "),
            if lost_logs.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        ));
    }
    prune_runs(&session.settings.run.state_dir, KEEP_RUNS);
    Finished {
        outcome,
        notices,
        warnings,
        lost,
    }
}

/// Why the run stopped, for the watchdog and `warden clean`: a run stopped by a signal or the
/// host guard is interrupted, not dead.
fn mark_interrupted(run_dir: &std::path::Path, outcome: &RunOutcome) {
    let marker = run_dir.join(INTERRUPTED_FILE);
    match (outcome.stopped, &outcome.guard_reason) {
        (Some(StopReason::Signal), _) => {
            let _ = std::fs::write(&marker, "stopped by a signal\n");
        }
        (Some(StopReason::Guard), reason) => {
            let reason = reason.as_deref().unwrap_or("host resources");
            let _ = std::fs::write(&marker, format!("stopped by --self-protect: {reason}\n"));
        }
        _ => {}
    }
}
