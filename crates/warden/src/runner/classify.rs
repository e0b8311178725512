//! From how a process ended to what the test's result is: pure, so every rule is unit-tested.

use std::time::Duration;

use crate::events::{Status, Subtests, TestResult};
use crate::supervise::{os, Exit, ProcessOutcome};
use crate::test_case::{OutputFormat, TestCase};
use crate::units::format_duration;

/// Exit code that means "skipped" (automake convention).
pub const SKIP_EXIT_CODE: i32 = 77;

/// The result of one finished attempt. `Exit::Cancelled` never reaches here.
pub fn classify(
    test: &TestCase,
    attempt: u32,
    worker: usize,
    timeout: Duration,
    leak_fails: bool,
    outcome: ProcessOutcome,
) -> TestResult {
    let tap = outcome
        .tap
        .as_ref()
        .filter(|t| t.is_tap || test.format == OutputFormat::Tap);
    let subtests: Option<Subtests> = tap.map(|t| t.subtests());
    let mut exit_code = None;
    let mut signal = None;
    let (mut status, mut message) = match &outcome.exit {
        Exit::SpawnFailed(msg) => (Status::Error, Some(msg.clone())),
        Exit::TimedOut => (
            Status::Timeout,
            Some(format!("timed out after {}", format_duration(timeout))),
        ),
        Exit::Cancelled => (Status::Error, Some("cancelled".to_string())),
        Exit::OutOfMemory => (
            Status::Oom,
            Some("killed by the out-of-memory killer: over its memory limit".to_string()),
        ),
        Exit::Signal(s) => {
            let name = os::signal_name(*s);
            // Reporters describe the exit code and signal themselves; `message` adds only news.
            signal = Some(name);
            (Status::Fail, None)
        }
        Exit::Code(c) => {
            exit_code = Some(*c);
            match *c {
                SKIP_EXIT_CODE => (Status::Skip, Some(format!("exit {SKIP_EXIT_CODE}"))),
                0 => match tap_verdict(test, tap) {
                    TapVerdict::Fail(reason) => (Status::Fail, Some(reason)),
                    TapVerdict::SkipAll(reason) => (Status::Skip, Some(reason)),
                    TapVerdict::Pass => (Status::Pass, None),
                },
                _ => (Status::Fail, None),
            }
        }
    };
    if !outcome.leaked.is_empty() && leak_fails && status == Status::Pass {
        status = Status::Leak;
    }
    if !outcome.notes.is_empty() {
        let notes = outcome.notes.join("; ");
        message = Some(match message {
            Some(m) => format!("{m}; {notes}"),
            None => notes,
        });
    }
    TestResult {
        id: test.id.clone(),
        status,
        attempt,
        worker,
        duration: outcome.duration,
        exit_code,
        signal,
        subtests,
        peak_rss_bytes: None,
        cpu_ms: None,
        leaked: outcome.leaked,
        log: outcome.log,
        output: outcome.output,
        message,
        carried_over: false,
    }
}

enum TapVerdict {
    Pass,
    Fail(String),
    SkipAll(String),
}

fn tap_verdict(test: &TestCase, tap: Option<&crate::tap::TapReport>) -> TapVerdict {
    match tap {
        None if test.format == OutputFormat::Tap => TapVerdict::Fail("no TAP output".to_string()),
        None => TapVerdict::Pass,
        Some(t) if !t.is_tap => {
            TapVerdict::Fail("output is not TAP (no plan or `TAP version` first)".into())
        }
        Some(t) => match (t.failure_reason(), t.skip_all_reason()) {
            (Some(reason), _) => TapVerdict::Fail(reason),
            (None, Some(reason)) => TapVerdict::SkipAll(reason),
            (None, None) => TapVerdict::Pass,
        },
    }
}
