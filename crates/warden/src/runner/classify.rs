//! From how a process ended to what the test's result is: pure, so every rule is unit-tested.

use std::time::Duration;

use crate::events::{Status, Subtests, TestResult};
use crate::supervise::MemCapBy;
use crate::supervise::{os, Exit, ProcessOutcome};
use crate::test_case::{OutputFormat, TestCase};
use crate::units::{format_duration, format_size};

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
        Exit::Signal(s) => {
            let name = os::signal_name(*s);
            // Reporters describe the exit code and signal themselves; `message` adds only news.
            signal = Some(name);
            (Status::Fail, None)
        }
        Exit::Code(c) => {
            exit_code = Some(*c);
            match *c {
                c if test.skip_exit_codes.contains(&c) => (Status::Skip, Some(format!("exit {c}"))),
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
    let usage = outcome.usage;
    if usage.oom_killed {
        // The cap is the cause whatever the symptom (a signal, an exit code, a timeout of a
        // parent waiting for a killed child).
        status = Status::Oom;
        let limit = usage
            .mem_limit
            .map(|(b, _)| format!(" of {}", format_size(b)))
            .unwrap_or_default();
        let peak = usage
            .peak_rss_bytes
            .map(|p| format!(" (peak {})", format_size(p)))
            .unwrap_or_default();
        message = Some(format!("killed by the memory limit{limit}{peak}"));
    } else if let Some((bytes, MemCapBy::Rlimit)) = usage.mem_limit {
        if status.is_failure() {
            // Under RLIMIT_AS an allocation fails instead of a kill: say so next to the failure.
            let note = format!("ran under an address-space limit of {}", format_size(bytes));
            message = Some(match message {
                Some(m) => format!("{m}; {note}"),
                None => note,
            });
        }
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
        peak_rss_bytes: usage.peak_rss_bytes,
        cpu_ms: usage.cpu_ms,
        leaked: outcome.leaked,
        log: outcome.log,
        output: outcome.output,
        message,
        carried_over: false,
        coverage_dir: None,
        net: None,
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::events::CapturedOutput;
    use crate::supervise::Usage;

    fn case() -> TestCase {
        TestCase {
            path: PathBuf::from("/p/t/mem_test.sh"),
            command: Ok(vec!["/p/t/mem_test.sh".into()]),
            ..TestCase::for_test("t/mem_test.sh")
        }
    }

    fn outcome(exit: Exit, usage: Usage) -> ProcessOutcome {
        ProcessOutcome {
            exit,
            duration: Duration::from_millis(40),
            output: CapturedOutput::default(),
            log: None,
            tap: None,
            leaked: vec![],
            notes: vec![],
            usage,
        }
    }

    fn run(exit: Exit, usage: Usage) -> TestResult {
        classify(
            &case(),
            1,
            0,
            Duration::from_secs(5),
            false,
            outcome(exit, usage),
        )
    }

    #[test]
    fn a_suites_skip_exit_codes_are_skips() {
        let r = run(Exit::Code(77), Usage::default());
        assert_eq!(
            (r.status, r.message.as_deref()),
            (Status::Skip, Some("exit 77"))
        );
        let mut regrtest = case();
        regrtest.skip_exit_codes = vec![4, 5];
        let with = |code| {
            classify(
                &regrtest,
                1,
                0,
                Duration::from_secs(5),
                false,
                outcome(Exit::Code(code), Usage::default()),
            )
        };
        assert_eq!(with(4).status, Status::Skip);
        assert_eq!(with(5).message.as_deref(), Some("exit 5"));
        assert_eq!(
            with(77).status,
            Status::Fail,
            "77 is no skip once the suite says which are"
        );
        assert_eq!(with(0).status, Status::Pass);
    }

    #[test]
    fn measurements_are_carried_over() {
        let usage = Usage {
            peak_rss_bytes: Some(100 << 20),
            cpu_ms: Some(12),
            ..Usage::default()
        };
        let r = run(Exit::Code(0), usage);
        assert_eq!(r.status, Status::Pass);
        assert_eq!((r.peak_rss_bytes, r.cpu_ms), (Some(100 << 20), Some(12)));
        assert_eq!(r.message, None);
    }

    #[test]
    fn killed_by_the_memory_cap_is_oom_with_limit_and_peak() {
        let usage = Usage {
            peak_rss_bytes: Some(256 << 20),
            cpu_ms: Some(300),
            mem_limit: Some((256 << 20, MemCapBy::Cgroup)),
            oom_killed: true,
        };
        for exit in [
            Exit::Signal(9),
            Exit::Code(137),
            Exit::Code(0),
            Exit::TimedOut,
        ] {
            let r = run(exit.clone(), usage);
            assert_eq!(r.status, Status::Oom, "{exit:?}");
            assert_eq!(
                r.message.as_deref(),
                Some("killed by the memory limit of 256M (peak 256M)")
            );
        }
        // The same exit without the OOM kill is a plain failure.
        let plain = Usage {
            oom_killed: false,
            ..usage
        };
        assert_eq!(run(Exit::Signal(9), plain).status, Status::Fail);
    }

    #[test]
    fn failures_under_an_address_space_cap_say_so() {
        let usage = Usage {
            mem_limit: Some((64 << 20, MemCapBy::Rlimit)),
            ..Usage::default()
        };
        let r = run(Exit::Code(1), usage);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.message.as_deref(),
            Some("ran under an address-space limit of 64M")
        );
        assert_eq!(run(Exit::Code(0), usage).message, None);
    }
}
