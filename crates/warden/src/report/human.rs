//! Terminal text (SPEC §4): pure functions from results to strings. No I/O and no progress
//! bar here; the CLI decides where lines go and draws the live progress.
//! Returned strings carry no trailing newline.

use crate::exit_code::ExitCode;
use std::path::Path;
use std::time::Duration;

use anstyle::{AnsiColor, Style};

use super::text::{omitted_marker, reason, render_output, stop_description, terminal_safe};
use crate::events::{CoverageSummary, GuardAction, Status, StopReason, TestResult, Totals};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HumanStyle {
    /// Emit ANSI colours (the CLI resolves `--color`, `NO_COLOR` and the TTY check).
    pub color: bool,
    /// Add measurements (peak memory, CPU time) to each finished line.
    pub verbose: bool,
}

/// Status words are padded to this width so that most lines align; `TIMEOUT` overflows by
/// design, to keep the SPEC's `PASS  [` shape.
const WORD_WIDTH: usize = 5;
/// How many tests the summary names as the slowest.
const SLOWEST: usize = 5;
/// How many tests the summary names as the largest memory users.
const TOP_MEMORY: usize = 3;

fn colored(c: AnsiColor) -> Style {
    Style::new().fg_color(Some(c.into()))
}

fn status_style(status: Status) -> Style {
    match status {
        Status::Pass => colored(AnsiColor::Green),
        Status::Fail | Status::Timeout | Status::Error | Status::Oom => {
            colored(AnsiColor::Red).bold()
        }
        Status::Skip | Status::Flaky => colored(AnsiColor::Yellow),
        Status::Leak => colored(AnsiColor::Magenta).bold(),
    }
}

fn paint(text: &str, style: Style, hs: &HumanStyle) -> String {
    if hs.color {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_owned()
    }
}

/// The status column: the word, coloured, then padding (outside the colour, so escape codes
/// never count towards the width).
fn word_cell(word: &str, style: Style, hs: &HumanStyle) -> String {
    let pad = WORD_WIDTH.saturating_sub(word.chars().count());
    format!("{}{} ", paint(word, style, hs), " ".repeat(pad))
}

/// `[ 0.012s]`
fn duration_cell(d: Duration) -> String {
    format!("[{:>6.3}s]", d.as_secs_f64())
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn with_parens(parts: &[String]) -> String {
    if parts.is_empty() {
        String::new()
    } else {
        // Reasons quote what tests printed (TAP descriptions, `Bail out!` reasons).
        format!(" ({})", terminal_safe(&parts.join(", ")))
    }
}

/// `PASS  [ 0.012s] test/unit/a_test.sh (5 subtests)`, `FAIL  [ 1.200s] test/x_test.sh (exit 3)`.
pub fn finished_line(r: &TestResult, style: &HumanStyle) -> String {
    let mut parts = Vec::new();
    if r.status == Status::Pass {
        if let Some(st) = &r.subtests {
            let total = st.passed + st.failed + st.skipped;
            parts.push(format!(
                "{total} {}",
                if total == 1 { "subtest" } else { "subtests" }
            ));
            if st.skipped > 0 {
                parts.push(format!("{} skipped", st.skipped));
            }
        }
        if !r.leaked.is_empty() {
            parts.push(super::text::leaked_summary(r));
        }
    } else if let Some(why) = reason(r) {
        parts.push(why);
    }
    if r.carried_over {
        parts.push("carried over".to_string());
    }
    if style.verbose {
        if let Some(rss) = r.peak_rss_bytes {
            parts.push(format!("peak {}", human_bytes(rss)));
        }
        if let Some(cpu) = r.cpu_ms {
            parts.push(format!("cpu {cpu}ms"));
        }
    }
    format!(
        "{}{} {}{}",
        word_cell(r.status.word(), status_style(r.status), style),
        duration_cell(r.duration),
        terminal_safe(&r.id),
        with_parens(&parts)
    )
}

/// A failed attempt that will be retried: `RETRY [ 1.200s] test/x_test.sh (attempt 1: exit 3)`.
pub fn retry_line(r: &TestResult, style: &HumanStyle) -> String {
    let why = reason(r).unwrap_or_else(|| r.status.word().to_lowercase());
    format!(
        "{}{} {} (attempt {}: {})",
        word_cell("RETRY", colored(AnsiColor::Yellow), style),
        duration_cell(r.duration),
        terminal_safe(&r.id),
        r.attempt,
        terminal_safe(&why)
    )
}

/// A test still running past another multiple of `--slow-after`: `SLOW [  60.0s] test/x.sh`.
pub fn slow_line(id: &str, elapsed: Duration, style: &HumanStyle) -> String {
    format!(
        "{} [{:>6.1}s] {id}",
        paint("SLOW", colored(AnsiColor::Yellow), style),
        elapsed.as_secs_f64()
    )
}

/// A running test terminated because the run stops; the id stays in the same column.
pub fn cancelled_line(id: &str, reason: StopReason, style: &HumanStyle) -> String {
    const WORD: &str = "CANCEL";
    let id_column = WORD_WIDTH + 1 + duration_cell(Duration::ZERO).len() + 1;
    let blank = " ".repeat(id_column.saturating_sub(WORD.len() + 2));
    format!(
        "{}{blank} {} ({})",
        word_cell(WORD, colored(AnsiColor::Yellow), style),
        terminal_safe(id),
        stop_description(reason)
    )
}

/// A decision of the host guard: `GUARD throttle: cpu 97.0% above the 90% threshold ...`.
pub fn guard_line(action: GuardAction, reason: &str, style: &HumanStyle) -> String {
    let st = match action {
        GuardAction::Throttle => colored(AnsiColor::Yellow),
        GuardAction::Requeue | GuardAction::Fail | GuardAction::Shutdown => {
            colored(AnsiColor::Red).bold()
        }
    };
    format!(
        "{}{}: {}",
        word_cell("GUARD", st, style),
        action.name(),
        terminal_safe(reason)
    )
}

/// One kind of coverage at the end of a run: where the merged result is, or where the raw
/// data is and the command that merges it.
pub fn coverage_line(c: &CoverageSummary) -> String {
    let what = format!(
        "{} test{}, {} file{}",
        c.tests,
        if c.tests == 1 { "" } else { "s" },
        c.files,
        if c.files == 1 { "" } else { "s" }
    );
    let text = match (&c.merged, &c.command) {
        (Some(merged), _) => format!(
            "coverage {}: {what} merged by {} into {}{}",
            c.kind.name(),
            c.tool.as_deref().unwrap_or("?"),
            merged.display(),
            c.problem
                .as_deref()
                .map(|p| format!(" (note: {p})"))
                .unwrap_or_default()
        ),
        (None, command) => format!(
            "coverage {}: {what} not merged ({}); raw data in {}/<test>/; merge with: {}",
            c.kind.name(),
            c.problem.as_deref().unwrap_or("no tool"),
            c.raw_dir.display(),
            command.as_deref().unwrap_or("?")
        ),
    };
    terminal_safe(&text).into_owned()
}

/// The block printed after the list for a test that did not pass: a header, the captured
/// output (head, omitted-bytes marker, tail) indented, leaked processes, the full log's path.
pub fn failure_details(r: &TestResult, style: &HumanStyle) -> String {
    const INDENT: &str = "    ";
    let mut lines = vec![format!(
        "--- {} {}{}",
        paint(r.status.word(), status_style(r.status), style),
        terminal_safe(&r.id),
        with_parens(&reason(r).into_iter().collect::<Vec<_>>())
    )];
    let text = render_output(&r.output);
    if text.is_empty() {
        lines.push(format!("{INDENT}(no output)"));
    }
    let marker = omitted_marker(r.output.omitted_bytes());
    for line in text.lines() {
        if r.output.omitted_bytes() > 0 && line == marker {
            lines.push(format!(
                "{INDENT}{}",
                paint(line, Style::new().dimmed(), style)
            ));
        } else {
            // The test's bytes, escaped; the log file keeps them raw.
            lines.push(format!("{INDENT}{}", terminal_safe(line)));
        }
    }
    for leak in &r.leaked {
        lines.push(format!(
            "{INDENT}leaked: pid {} {}",
            leak.pid,
            terminal_safe(&leak.cmd)
        ));
    }
    if let Some(log) = &r.log {
        lines.push(format!(
            "{INDENT}full log: {}",
            terminal_safe(&log.display().to_string())
        ));
    }
    lines.join("\n")
}

/// The end-of-run summary. Its first line is exactly `N passed, N failed, N skipped`, never
/// coloured (CI tools grep it); then only the counts that are not zero, the slowest tests,
/// the wall time and where the logs are.
pub fn summary(
    totals: &Totals,
    results: &[TestResult],
    duration: Duration,
    log_dir: Option<&Path>,
    exit_code: ExitCode,
    continue_with: Option<&str>,
    style: &HumanStyle,
) -> String {
    let mut lines = vec![format!(
        "{} passed, {} failed, {} skipped",
        totals.passed, totals.failed, totals.skipped
    )];
    let red = colored(AnsiColor::Red).bold();
    let yellow = colored(AnsiColor::Yellow);
    let counts = [
        (totals.timed_out, "timed out", red),
        (totals.flaky, "flaky", yellow),
        (totals.leaky, "leaked", colored(AnsiColor::Magenta)),
        (totals.oom, "out of memory", red),
        (
            totals.errors,
            if totals.errors == 1 {
                "error"
            } else {
                "errors"
            },
            red,
        ),
        (totals.cancelled, "cancelled", yellow),
        (totals.not_run, "not run", yellow),
    ];
    for (n, what, st) in counts {
        if n > 0 {
            lines.push(paint(&format!("{n} {what}"), st, style));
        }
    }

    let mut timed: Vec<&TestResult> = results
        .iter()
        // Tests that never ran (skip markers, errors) and results carried over from an
        // interrupted run say nothing about this run's time.
        .filter(|r| r.status != Status::Skip && !r.duration.is_zero() && !r.carried_over)
        .collect();
    if timed.len() >= 2 {
        timed.sort_by(|a, b| b.duration.cmp(&a.duration).then_with(|| a.id.cmp(&b.id)));
        lines.push(paint("slowest:", Style::new().bold(), style));
        for r in timed.iter().take(SLOWEST) {
            lines.push(format!(
                "  {:>8.3}s  {}",
                r.duration.as_secs_f64(),
                terminal_safe(&r.id)
            ));
        }
    }

    let mut by_memory: Vec<(&TestResult, u64)> = results
        .iter()
        .filter_map(|r| r.peak_rss_bytes.map(|p| (r, p)))
        .collect();
    if by_memory.len() >= 2 {
        by_memory.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.id.cmp(&b.0.id)));
        lines.push(paint("most memory:", Style::new().bold(), style));
        for (r, peak) in by_memory.iter().take(TOP_MEMORY) {
            lines.push(format!(
                "  {:>9}  {}",
                human_bytes(*peak),
                terminal_safe(&r.id)
            ));
        }
    }

    lines.push(format!(
        "finished in {:.3}s, exit code {exit_code}",
        duration.as_secs_f64()
    ));
    if let Some(stopped) = exit_code.stopped_by() {
        let next = match continue_with {
            Some(command) => format!("{stopped}; continue with `{command}`"),
            None => format!("{stopped}; no checkpoint was kept, so it cannot be resumed"),
        };
        lines.push(paint(&next, yellow, style));
    }
    if let Some(dir) = log_dir {
        lines.push(format!(
            "logs: {}",
            terminal_safe(&dir.display().to_string())
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::events::{Leak, Subtests};
    use crate::report::text::fixtures::{output, result, with_everything};

    #[test]
    fn coverage_lines_say_where_the_result_or_the_raw_data_is() {
        let mut c = CoverageSummary {
            kind: crate::events::CoverageKind::Gcov,
            tests: 1,
            files: 2,
            raw_dir: "/r/coverage".into(),
            merged: Some("/r/coverage-merged/gcov.txt".into()),
            tool: Some("gcovr".into()),
            command: None,
            problem: None,
        };
        assert_eq!(
            coverage_line(&c),
            "coverage gcov: 1 test, 2 files merged by gcovr into /r/coverage-merged/gcov.txt"
        );
        c.merged = None;
        c.problem = Some("no gcovr on PATH".into());
        c.command = Some("gcovr --txt x /r/coverage".into());
        assert_eq!(
            coverage_line(&c),
            "coverage gcov: 1 test, 2 files not merged (no gcovr on PATH); raw data in \
             /r/coverage/<test>/; merge with: gcovr --txt x /r/coverage"
        );
        // A path is echoed like every other: no escape sequence reaches the terminal.
        c.raw_dir = "/r/\x1b[2J".into();
        assert!(!coverage_line(&c).contains('\x1b'));
    }

    const PLAIN: HumanStyle = HumanStyle {
        color: false,
        verbose: false,
    };
    const COLOR: HumanStyle = HumanStyle {
        color: true,
        verbose: false,
    };

    /// Removes CSI sequences, to compare coloured text with plain text.
    fn strip_ansi(s: &str) -> String {
        let mut out = String::new();
        let mut in_seq = false;
        for c in s.chars() {
            match (in_seq, c) {
                (false, '\x1b') => in_seq = true,
                (false, c) => out.push(c),
                (true, c) if c.is_ascii_alphabetic() => in_seq = false,
                (true, _) => {}
            }
        }
        out
    }

    fn tap_pass() -> TestResult {
        let mut r = result("test/unit/a_test.sh", Status::Pass, 12);
        r.subtests = Some(Subtests {
            passed: 5,
            failed: 0,
            skipped: 0,
            cases: Vec::new(),
        });
        r
    }

    fn fail() -> TestResult {
        let mut r = result("test/x_test.sh", Status::Fail, 1_200);
        r.exit_code = Some(3);
        r
    }

    fn timeout() -> TestResult {
        let mut r = result("test/hang_test.sh", Status::Timeout, 2_000);
        r.exit_code = None;
        r.signal = Some("SIGTERM".into());
        r.message = Some("timed out after 2s".into());
        r
    }

    #[test]
    fn slow_line_has_the_spec_shape() {
        let line = slow_line("test/x_test.sh", Duration::from_secs(60), &PLAIN);
        assert_eq!(line, "SLOW [  60.0s] test/x_test.sh");
        let line = slow_line("a b.t", Duration::from_millis(1_234_560), &PLAIN);
        assert_eq!(line, "SLOW [1234.6s] a b.t");
        assert_eq!(
            strip_ansi(&slow_line("x", Duration::from_secs(120), &COLOR)),
            "SLOW [ 120.0s] x"
        );
    }

    #[test]
    fn finished_lines_by_status() {
        assert_eq!(
            finished_line(&tap_pass(), &PLAIN),
            "PASS  [ 0.012s] test/unit/a_test.sh (5 subtests)"
        );
        assert_eq!(
            finished_line(&fail(), &PLAIN),
            "FAIL  [ 1.200s] test/x_test.sh (exit 3)"
        );
        assert_eq!(
            finished_line(&timeout(), &PLAIN),
            "TIMEOUT [ 2.000s] test/hang_test.sh (timed out after 2s)"
        );
        let mut skip = result("test/db_test.sh", Status::Skip, 0);
        assert_eq!(
            finished_line(&skip, &PLAIN),
            "SKIP  [ 0.000s] test/db_test.sh"
        );
        skip.message = Some("needs docker".into());
        assert_eq!(
            finished_line(&skip, &PLAIN),
            "SKIP  [ 0.000s] test/db_test.sh (needs docker)"
        );
        let mut flaky = result("test/f_test.sh", Status::Flaky, 6);
        flaky.attempt = 2;
        assert_eq!(
            finished_line(&flaky, &PLAIN),
            "FLAKY [ 0.006s] test/f_test.sh (passed on attempt 2)"
        );
        let mut err = result("test/r_test.py", Status::Error, 0);
        err.message = Some("python3: not found".into());
        assert_eq!(
            finished_line(&err, &PLAIN),
            "ERROR [ 0.000s] test/r_test.py (python3: not found)"
        );
        let mut oom = result("test/big_test.sh", Status::Oom, 30_500);
        oom.exit_code = None;
        oom.message = Some("exceeded --test-mem-limit 64M".into());
        assert_eq!(
            finished_line(&oom, &PLAIN),
            "OOM   [30.500s] test/big_test.sh (exceeded --test-mem-limit 64M)"
        );
        let mut slow = result("test/slow_test.sh", Status::Pass, 123_456);
        slow.exit_code = Some(0);
        assert_eq!(
            finished_line(&slow, &PLAIN),
            "PASS  [123.456s] test/slow_test.sh"
        );
    }

    #[test]
    fn leaks_show_on_the_line() {
        let mut pass = result("test/l_test.sh", Status::Pass, 10);
        pass.leaked = vec![Leak {
            pid: 9,
            cmd: "sleep 300".into(),
        }];
        assert_eq!(
            finished_line(&pass, &PLAIN),
            "PASS  [ 0.010s] test/l_test.sh (left 1 process behind: sleep 300)"
        );
        pass.status = Status::Leak;
        assert_eq!(
            finished_line(&pass, &PLAIN),
            "LEAK  [ 0.010s] test/l_test.sh (left 1 process behind: sleep 300)"
        );
    }

    #[test]
    fn verbose_adds_measurements() {
        let mut r = tap_pass();
        r.subtests = Some(Subtests {
            passed: 4,
            failed: 0,
            skipped: 1,
            cases: Vec::new(),
        });
        r.peak_rss_bytes = Some(3 * 1024 * 1024 + 100 * 1024);
        r.cpu_ms = Some(40);
        let verbose = HumanStyle {
            color: false,
            verbose: true,
        };
        assert_eq!(
            finished_line(&r, &verbose),
            "PASS  [ 0.012s] test/unit/a_test.sh (5 subtests, 1 skipped, peak 3.1 MiB, cpu 40ms)"
        );
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }

    #[test]
    fn colour_wraps_the_word_without_moving_anything() {
        for r in [tap_pass(), fail(), timeout()] {
            let plain = finished_line(&r, &PLAIN);
            let coloured = finished_line(&r, &COLOR);
            assert!(coloured.contains("\x1b["), "{coloured:?}");
            assert!(!plain.contains('\x1b'));
            assert_eq!(strip_ansi(&coloured), plain);
        }
        assert!(finished_line(&fail(), &COLOR).starts_with("\x1b[1m\x1b[31mFAIL\x1b[0m  ["));
    }

    #[test]
    fn retry_and_cancel_lines() {
        assert_eq!(
            retry_line(&fail(), &PLAIN),
            "RETRY [ 1.200s] test/x_test.sh (attempt 1: exit 3)"
        );
        assert_eq!(
            cancelled_line("test/slow_test.sh", StopReason::FailFast, &PLAIN),
            "CANCEL          test/slow_test.sh (stopped by --fail-fast)"
        );
        // The id starts in the same column as on a finished line.
        let col = |s: &str| s.find("test/").unwrap_or(usize::MAX);
        assert_eq!(
            col(&cancelled_line("test/s", StopReason::Signal, &PLAIN)),
            col(&finished_line(&fail(), &PLAIN))
        );
    }

    #[test]
    fn failure_details_block() {
        let mut r = with_everything(fail());
        r.output = output(b"first line\nsecond line\n", b"tail line\n", 5_000);
        assert_eq!(
            failure_details(&r, &PLAIN),
            "--- FAIL test/x_test.sh (exit 3, 1 of 5 subtests failed)\n\
             \x20   first line\n\
             \x20   second line\n\
             \x20   [… 4967 bytes omitted …]\n\
             \x20   tail line\n\
             \x20   leaked: pid 4242 sleep 300\n\
             \x20   full log: .warden/runs/r1/logs/x.log"
        );
        let quiet = timeout();
        assert_eq!(
            failure_details(&quiet, &PLAIN),
            "--- TIMEOUT test/hang_test.sh (timed out after 2s)\n    (no output)"
        );
        let coloured = failure_details(&r, &COLOR);
        assert_eq!(strip_ansi(&coloured), failure_details(&r, &PLAIN));
        assert!(coloured.contains("\x1b[2m[… 4967 bytes omitted …]"));
    }

    fn sample_results() -> (Totals, Vec<TestResult>) {
        let mut flaky = result("test/f_test.sh", Status::Flaky, 6);
        flaky.attempt = 2;
        let mut leaky = result("test/l_test.sh", Status::Pass, 30);
        leaky.leaked = vec![Leak {
            pid: 1,
            cmd: "x".into(),
        }];
        let results = vec![
            tap_pass(),
            fail(),
            timeout(),
            result("test/s_test.sh", Status::Skip, 9_999),
            flaky,
            leaky,
            result("test/a_test.sh", Status::Pass, 100),
            result("test/b_test.sh", Status::Pass, 100),
        ];
        let mut totals = Totals::default();
        for r in &results {
            totals.add(r);
        }
        totals.not_run = 3;
        (totals, results)
    }

    #[test]
    fn summary_lists_non_zero_counts_slowest_and_logs() {
        let (totals, results) = sample_results();
        let text = summary(
            &totals,
            &results,
            Duration::from_millis(3_456),
            Some(Path::new(".warden/runs/r1/logs")),
            ExitCode::FAILED,
            None,
            &PLAIN,
        );
        assert_eq!(
            text,
            "4 passed, 1 failed, 1 skipped\n\
             1 timed out\n\
             1 flaky\n\
             1 leaked\n\
             3 not run\n\
             slowest:\n\
             \x20    2.000s  test/hang_test.sh\n\
             \x20    1.200s  test/x_test.sh\n\
             \x20    0.100s  test/a_test.sh\n\
             \x20    0.100s  test/b_test.sh\n\
             \x20    0.030s  test/l_test.sh\n\
             finished in 3.456s, exit code 1\n\
             logs: .warden/runs/r1/logs"
        );
    }

    #[test]
    fn summary_names_the_largest_memory_users() {
        let (totals, mut results) = sample_results();
        for (r, mib) in results.iter_mut().zip([5u64, 300, 1024, 0, 12]) {
            r.peak_rss_bytes = Some(mib << 20);
        }
        let text = summary(
            &totals,
            &results,
            Duration::ZERO,
            None,
            ExitCode::FAILED,
            None,
            &PLAIN,
        );
        let at = text.find("most memory:\n").expect(&text);
        assert_eq!(
            &text[at..],
            "most memory:\n\
             \x20   1.0 GiB  test/hang_test.sh\n\
             \x20 300.0 MiB  test/x_test.sh\n\
             \x20  12.0 MiB  test/f_test.sh\n\
             finished in 0.000s, exit code 1"
        );
    }

    #[test]
    fn guard_lines_name_the_action_and_reason() {
        assert_eq!(
            guard_line(
                GuardAction::Requeue,
                "memory 93.1% above the 90% threshold",
                &PLAIN
            ),
            "GUARD requeue: memory 93.1% above the 90% threshold"
        );
        let coloured = guard_line(GuardAction::Throttle, "cpu", &COLOR);
        assert_eq!(strip_ansi(&coloured), "GUARD throttle: cpu");
        assert!(coloured.starts_with("\x1b["));
    }

    #[test]
    fn summary_of_a_single_clean_test_is_short() {
        let r = result("test/only_test.sh", Status::Pass, 5);
        let mut totals = Totals::default();
        totals.add(&r);
        assert_eq!(
            summary(
                &totals,
                &[r],
                Duration::from_millis(7),
                None,
                ExitCode::PASSED,
                None,
                &PLAIN
            ),
            "1 passed, 0 failed, 0 skipped\nfinished in 0.007s, exit code 0"
        );
    }

    #[test]
    fn summary_explains_resumable_stops() {
        let totals = Totals::default();
        let text = summary(
            &totals,
            &[],
            Duration::ZERO,
            None,
            ExitCode::GUARD,
            Some("warden run --resume"),
            &PLAIN,
        );
        assert!(text.ends_with("stopped by --self-protect; continue with `warden run --resume`"));
        let text = summary(
            &totals,
            &[],
            Duration::ZERO,
            None,
            ExitCode::SIGINT,
            Some("warden run --resume"),
            &PLAIN,
        );
        assert!(text.ends_with("interrupted; continue with `warden run --resume`"));
        let text = summary(
            &totals,
            &[],
            Duration::ZERO,
            None,
            ExitCode::SIGTERM,
            None,
            &PLAIN,
        );
        assert!(text.ends_with("interrupted; no checkpoint was kept, so it cannot be resumed"));
    }

    #[test]
    fn summary_colours_everything_but_its_first_line() {
        let (mut totals, results) = sample_results();
        totals.errors = 2;
        totals.oom = 1;
        let dir = PathBuf::from("logs");
        let coloured = summary(
            &totals,
            &results,
            Duration::ZERO,
            Some(&dir),
            ExitCode::FAILED,
            None,
            &COLOR,
        );
        let plain = summary(
            &totals,
            &results,
            Duration::ZERO,
            Some(&dir),
            ExitCode::FAILED,
            None,
            &PLAIN,
        );
        let first = coloured.lines().next().unwrap_or_default();
        assert_eq!(first, "4 passed, 1 failed, 1 skipped");
        assert!(!first.contains('\x1b'));
        let rest: Vec<&str> = coloured.lines().skip(1).collect();
        assert!(rest.iter().any(|l| l.contains("\x1b[")), "{coloured:?}");
        assert!(
            coloured.contains("\x1b[1m\x1b[31m2 errors\x1b[0m"),
            "{coloured:?}"
        );
        assert_eq!(strip_ansi(&coloured), plain);
    }
}
