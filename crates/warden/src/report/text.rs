//! Words shared by the human and JUnit writers: captured output as text, and why a test ended
//! the way it did.

use crate::events::{CapturedOutput, Status, StopReason, TestResult};

/// The line that stands for the middle of an output that was not kept in memory.
pub fn omitted_marker(bytes: u64) -> String {
    format!("[… {bytes} bytes omitted …]")
}

/// Captured output as text: head, a marker line for the bytes dropped in between, tail.
/// Invalid UTF-8 becomes U+FFFD; nothing else is touched (callers strip what their medium
/// cannot hold).
pub fn render_output(out: &CapturedOutput) -> String {
    let omitted = out.omitted_bytes();
    if omitted == 0 {
        // Head and tail are contiguous: decode them together so a character split across
        // the two buffers survives.
        let mut all = Vec::with_capacity(out.head.len() + out.tail.len());
        all.extend_from_slice(&out.head);
        all.extend_from_slice(&out.tail);
        return String::from_utf8_lossy(&all).into_owned();
    }
    let mut s = String::from_utf8_lossy(&out.head).into_owned();
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(&omitted_marker(omitted));
    s.push('\n');
    s.push_str(&String::from_utf8_lossy(&out.tail));
    s
}

/// About the last `max` bytes of the captured output as text, for a report that keeps only the
/// end: it starts at a line when one starts near the cut, after a marker line that says how
/// much came before. `None` when the test printed nothing.
pub fn output_tail(out: &CapturedOutput, max: usize) -> Option<String> {
    if out.total_bytes == 0 && out.head.is_empty() && out.tail.is_empty() {
        return None;
    }
    let text = render_output(out);
    if text.len() <= max {
        return Some(text);
    }
    let mut cut = text.len() - max;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    // A whole first line reads better than half of one, unless that would drop too much.
    if let Some(nl) = text[cut..].find('\n').filter(|nl| *nl < max / 4) {
        cut += nl + 1;
    }
    let kept = &text[cut..];
    let before = out.total_bytes.saturating_sub(kept.len() as u64);
    Some(format!("{}\n{kept}", omitted_marker(before)))
}

/// `text` made safe to show on a terminal, on one line: every control character (C0 but TAB,
/// DEL, C1) and every bidirectional override is shown escaped (`\x1b`, `\r`, `\n`,
/// `\u{202e}`), so what a test printed or named can neither move the cursor, clear the
/// screen, set the title, nor forge a line of warden's (a carriage return before `PASS`).
/// Log files keep the raw bytes; only what is echoed is escaped.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !needs_escape(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// [`terminal_safe`] for text of several lines: each line escaped, the newlines kept.
pub fn terminal_safe_lines(text: &str) -> String {
    text.split('\n')
        .map(terminal_safe)
        .collect::<Vec<_>>()
        .join("\n")
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t')
        // Bidirectional embeddings, overrides and isolates reorder what follows them.
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// How the main process ended, when that is worth saying: `exit 3`, `killed by SIGSEGV`.
pub fn exit_description(r: &TestResult) -> Option<String> {
    match (&r.signal, r.exit_code) {
        (Some(sig), _) => Some(format!("killed by {sig}")),
        (None, Some(code)) if code != 0 => Some(format!("exit {code}")),
        _ => None,
    }
}

/// Why a result is not a plain pass, in a few words; `None` for a pass (or a skip without
/// reason). The runner's own `message` wins; otherwise it is derived from the measurements.
pub fn reason(r: &TestResult) -> Option<String> {
    let message = r.message.as_deref().filter(|m| !m.trim().is_empty());
    match r.status {
        Status::Pass => None,
        Status::Skip => message.map(str::to_owned),
        Status::Flaky => Some(format!("passed on attempt {}", r.attempt)),
        Status::Fail => {
            let mut parts: Vec<String> = Vec::new();
            if let Some(exit) = exit_description(r) {
                parts.push(exit);
            }
            if let Some(m) = message {
                parts.push(m.to_owned());
            } else if let Some(st) = r.subtests.filter(|s| s.failed > 0) {
                let total = st.passed + st.failed + st.skipped;
                parts.push(format!("{} of {total} subtests failed", st.failed));
            }
            if parts.is_empty() {
                Some("failed".to_owned())
            } else {
                Some(parts.join(", "))
            }
        }
        Status::Timeout => Some(message.unwrap_or("timed out").to_owned()),
        Status::Leak => Some(match message {
            Some(m) => m.to_owned(),
            None => leaked_summary(r),
        }),
        Status::Error => Some(message.unwrap_or("could not be run").to_owned()),
        Status::Oom => Some(message.unwrap_or("out of memory").to_owned()),
    }
}

/// `left 2 processes behind: sleep 300, cat`.
pub fn leaked_summary(r: &TestResult) -> String {
    let n = r.leaked.len();
    let cmds: Vec<&str> = r.leaked.iter().map(|l| l.cmd.as_str()).collect();
    format!(
        "left {n} {} behind: {}",
        if n == 1 { "process" } else { "processes" },
        cmds.join(", ")
    )
}

/// What stopped a run, as said to a person.
pub fn stop_description(reason: StopReason) -> &'static str {
    match reason {
        StopReason::FailFast => "stopped by --fail-fast",
        StopReason::MaxFail => "stopped by --max-fail",
        StopReason::Signal => "run interrupted",
        StopReason::Guard => "stopped by --self-protect",
    }
}

#[cfg(test)]
mod escape_tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_the_rest_kept() {
        assert_eq!(terminal_safe("plain ünï\tcode"), "plain ünï\tcode");
        assert_eq!(
            terminal_safe("\u{1b}[2J\rPASS\u{0}\u{7}\u{9b}\n\u{202e}x"),
            "\\x1b[2J\\rPASS\\x00\\x07\\u{9b}\\n\\u{202e}x"
        );
        assert_eq!(terminal_safe_lines("a\rb\nc\u{1b}"), "a\\rb\nc\\x1b");
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Results shaped like the runner's, for the writers' tests.

    use std::path::PathBuf;

    use crate::events::{CapturedOutput, Leak, Status, Subtests, TestResult};

    pub fn result(id: &str, status: Status, ms: u64) -> TestResult {
        TestResult::for_test(id, status, ms)
    }

    pub fn output(head: &[u8], tail: &[u8], total: u64) -> CapturedOutput {
        CapturedOutput {
            head: head.to_vec(),
            tail: tail.to_vec(),
            total_bytes: total,
        }
    }

    pub fn with_everything(mut r: TestResult) -> TestResult {
        r.subtests = Some(Subtests {
            passed: 4,
            failed: 1,
            skipped: 0,
        });
        r.peak_rss_bytes = Some(3 * 1024 * 1024);
        r.cpu_ms = Some(40);
        r.leaked = vec![Leak {
            pid: 4242,
            cmd: "sleep 300".to_owned(),
        }];
        r.log = Some(PathBuf::from(".warden/runs/r1/logs/x.log"));
        r.output = output(b"first line\n", b"last line\n", 1000);
        r.net = Some("private".to_owned());
        r
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::events::Subtests;

    #[test]
    fn output_with_nothing_omitted_is_head_then_tail() {
        let out = output(b"abc\n", b"def\n", 8);
        assert_eq!(render_output(&out), "abc\ndef\n");
    }

    #[test]
    fn output_split_inside_a_character_is_decoded_whole() {
        // "é" is C3 A9; the capture boundary fell between the two bytes.
        let out = output(b"caf\xC3", b"\xA9\n", 6);
        assert_eq!(render_output(&out), "café\n");
    }

    #[test]
    fn omitted_middle_gets_a_marker_line() {
        let out = output(b"head", b"tail\n", 1009);
        assert_eq!(
            render_output(&out),
            "head\n[… 1000 bytes omitted …]\ntail\n"
        );
    }

    #[test]
    fn output_tail_keeps_the_end_from_a_line_start() {
        assert_eq!(output_tail(&output(b"", b"", 0), 100), None);
        let short = output(b"one\n", b"two\n", 8);
        assert_eq!(output_tail(&short, 100).as_deref(), Some("one\ntwo\n"));
        // 10 lines of 9 bytes; 35 bytes kept at most: the cut (byte 55) falls inside the
        // seventh line, so the tail starts at the eighth and says the 63 bytes before it were
        // left out.
        let lines: Vec<u8> = (0..10)
            .flat_map(|i| format!("line {i:03}\n").into_bytes())
            .collect();
        let out = output(&lines, b"", lines.len() as u64);
        assert_eq!(
            output_tail(&out, 35).as_deref(),
            Some("[… 63 bytes omitted …]\nline 007\nline 008\nline 009\n")
        );
        // One long line: cut where the bytes run out, never inside a character.
        let long = "é".repeat(50);
        let out = output(long.as_bytes(), b"", 100);
        let tail = output_tail(&out, 9).expect("output");
        assert_eq!(tail, format!("[… 92 bytes omitted …]\n{}", "é".repeat(4)));
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let out = output(b"a\xFFb\n", b"", 4);
        assert_eq!(render_output(&out), "a\u{FFFD}b\n");
    }

    #[test]
    fn reasons_by_status() {
        let mut r = result("t", Status::Fail, 1);
        r.exit_code = Some(3);
        assert_eq!(reason(&r).as_deref(), Some("exit 3"));
        r.exit_code = None;
        r.signal = Some("SIGSEGV".into());
        assert_eq!(reason(&r).as_deref(), Some("killed by SIGSEGV"));

        let mut tap = result("t", Status::Fail, 1);
        tap.exit_code = Some(0);
        tap.subtests = Some(Subtests {
            passed: 2,
            failed: 1,
            skipped: 0,
        });
        assert_eq!(reason(&tap).as_deref(), Some("1 of 3 subtests failed"));
        tap.exit_code = Some(1);
        assert_eq!(
            reason(&tap).as_deref(),
            Some("exit 1, 1 of 3 subtests failed")
        );
        tap.exit_code = Some(0);
        tap.message = Some("plan 1..4 but 3 tests".into());
        assert_eq!(reason(&tap).as_deref(), Some("plan 1..4 but 3 tests"));

        let mut leak = result("t", Status::Leak, 1);
        leak.leaked = vec![
            crate::events::Leak {
                pid: 1,
                cmd: "sleep 300".into(),
            },
            crate::events::Leak {
                pid: 2,
                cmd: "cat".into(),
            },
        ];
        assert_eq!(
            reason(&leak).as_deref(),
            Some("left 2 processes behind: sleep 300, cat")
        );

        let mut flaky = result("t", Status::Flaky, 1);
        flaky.attempt = 3;
        assert_eq!(reason(&flaky).as_deref(), Some("passed on attempt 3"));
        assert_eq!(reason(&result("t", Status::Pass, 1)), None);
        assert_eq!(reason(&result("t", Status::Skip, 1)), None);
    }
}
