//! `--junit`: JUnit XML that GitLab, GitHub and Jenkins accept (SPEC §10): one testcase per
//! test, subtests and measurements as properties, failure output, flaky reruns.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};
use thiserror::Error;

use super::text::{reason, render_output, stop_description};
use crate::clock::rfc3339_utc_millis;
use crate::events::{Event, EventKind, Status, TestResult};

/// Ids in the order they were expected, removable by id.
#[derive(Debug, Default)]
struct Expected {
    order: Vec<String>,
    pending: std::collections::HashSet<String>,
}

impl Expected {
    fn extend(&mut self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            if self.pending.insert(id.clone()) {
                self.order.push(id);
            }
        }
    }

    fn remove(&mut self, id: &str) {
        self.pending.remove(id);
    }

    /// The ids still pending, in order; none afterwards.
    fn drain(&mut self) -> Vec<String> {
        let pending = std::mem::take(&mut self.pending);
        std::mem::take(&mut self.order)
            .into_iter()
            .filter(|id| pending.contains(id))
            .collect()
    }
}

#[derive(Debug, Error)]
pub enum JunitError {
    #[error("failed to write junit xml: {0}")]
    Serialize(#[from] quick_junit::SerializeError),
}

/// Collects a run's events into one `<testsuite>`; serialise with [`JunitReport::to_xml`] or
/// [`JunitReport::write_xml`] once the run is over (JUnit has no streaming form).
pub struct JunitReport {
    name: String,
    suite: TestSuite,
    duration: Option<Duration>,
    /// Failed attempts of tests being retried, until their final attempt arrives.
    earlier: HashMap<String, Vec<TestResult>>,
    warnings: Vec<String>,
    /// See [`JunitReport::expect`]; removed as they finish or are cancelled.
    expected: Expected,
    /// See [`JunitReport::classes`]: the file or binary of each case.
    classes: HashMap<String, String>,
}

impl Default for JunitReport {
    fn default() -> Self {
        Self::new("warden")
    }
}

impl JunitReport {
    /// A report whose suite (and top-level `<testsuites>`) carries `name`.
    pub fn new(name: &str) -> Self {
        JunitReport {
            name: name.to_owned(),
            suite: TestSuite::new(xml_text(name)),
            duration: None,
            earlier: HashMap::new(),
            warnings: Vec::new(),
            expected: Default::default(),
            classes: HashMap::new(),
        }
    }

    /// `(id, file)` of tests that are cases of a file or binary: their `classname` is that
    /// file or binary, as CI servers group cases by class.
    pub fn classes(&mut self, cases: impl IntoIterator<Item = (String, String)>) {
        self.classes.extend(cases);
    }

    fn classname(&self, id: &str) -> String {
        match self.classes.get(id) {
            Some(file) => xml_text(file),
            None => classname(id, &self.name),
        }
    }

    pub fn on_event(&mut self, event: &Event) {
        match &event.kind {
            EventKind::RunStarted {
                run_id, partition, ..
            } => {
                self.suite
                    .extra
                    .insert("timestamp".into(), rfc3339_utc_millis(event.at).into());
                self.suite
                    .add_property(("run_id", xml_text(run_id).as_str()));
                if let Some(p) = partition {
                    // What `warden merge` checks: every shard of one cut, none missing.
                    self.suite.add_property(("partition", p.spec.as_str()));
                    self.suite.add_property(("partition.cut", p.cut.as_str()));
                    self.suite.add_property((
                        "partition.selected",
                        p.selection.len().to_string().as_str(),
                    ));
                }
            }
            EventKind::TestStarted { .. }
            | EventKind::TestSlow { .. }
            | EventKind::TestOutput { .. } => {}
            EventKind::TestRetrying(r) => {
                self.earlier
                    .entry(r.id.clone())
                    .or_default()
                    .push((**r).clone());
            }
            EventKind::TestFinished(r) => {
                self.expected.remove(&r.id);
                let earlier = self.earlier.remove(&r.id).unwrap_or_default();
                let mut case = test_case(r, &earlier, &self.name);
                case.set_classname(self.classname(&r.id));
                if let Some(start) = event.at.checked_sub(r.duration) {
                    case.extra
                        .insert("timestamp".into(), rfc3339_utc_millis(start).into());
                }
                self.suite.add_test_case(case);
            }
            EventKind::TestCancelled { id, reason, .. } => {
                // It did not finish, but it ran: CI should see it, as neither pass nor failure.
                self.earlier.remove(id);
                self.expected.remove(id);
                let mut status = TestCaseStatus::skipped();
                status
                    .set_type("cancelled")
                    .set_message(format!("cancelled: {}", stop_description(*reason)));
                let mut case = TestCase::new(xml_text(id), status);
                case.set_classname(self.classname(id));
                self.suite.add_test_case(case);
            }
            EventKind::Warning(message) => self.warnings.push(xml_text(message)),
            EventKind::Coverage(_) => {}
            EventKind::ResourceSample { .. } | EventKind::TestRequeued { .. } => {}
            EventKind::Guard { action, reason, .. } => {
                let action = action.name();
                self.warnings
                    .push(xml_text(&format!("guard {action}: {reason}")));
            }
            EventKind::RunFinished {
                duration,
                exit_code,
                stopped,
                ..
            } => {
                self.duration = Some(*duration);
                self.suite.set_time(*duration);
                for id in self.expected.drain() {
                    let mut status = TestCaseStatus::skipped();
                    status.set_type("not-run").set_message("not run");
                    let mut case = TestCase::new(xml_text(&id), status);
                    case.set_classname(self.classname(&id));
                    self.suite.add_test_case(case);
                }
                self.suite
                    .add_property(("exit_code", exit_code.to_string().as_str()));
                if let Some(stop) = stopped {
                    self.suite
                        .add_property(("stopped", stop_description(*stop)));
                }
            }
        }
    }

    /// Number of testcases so far.
    pub fn len(&self) -> usize {
        self.suite.test_cases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.suite.test_cases.is_empty()
    }

    fn report(&self) -> Report {
        let mut suite = self.suite.clone();
        if !self.warnings.is_empty() {
            suite.set_system_err(self.warnings.join("\n"));
        }
        let mut report = Report::new(xml_text(&self.name));
        if let Some(d) = self.duration {
            report.set_time(d);
        }
        report.add_test_suite(suite);
        report
    }

    pub fn write_xml<W: Write>(&self, mut out: W) -> Result<(), JunitError> {
        let report = self.report();
        let skipped: usize = report.test_suites.iter().map(|s| s.disabled).sum();
        let mut buf = Vec::new();
        report.serialize(&mut buf)?;
        let xml = skipped_attribute(&String::from_utf8_lossy(&buf), skipped);
        out.write_all(xml.as_bytes())
            .map_err(|e| JunitError::Serialize(e.into()))
    }

    /// Tests that will run (or were meant to): any that never reaches the report, because
    /// the run stopped first (fail-fast, a signal, the guard), is added as skipped, "not run",
    /// so that CI sees the whole selection.
    pub fn expect<I: IntoIterator<Item = String>>(&mut self, ids: I) {
        self.expected.extend(ids);
    }

    pub fn to_xml(&self) -> String {
        let mut buf = Vec::new();
        match self.write_xml(&mut buf) {
            Ok(()) => String::from_utf8_lossy(&buf).into_owned(),
            // Serialising into memory has no I/O to fail and every input is already a str, so
            // this is unreachable in practice; still, a report must not take the run down.
            Err(e) => format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{}\" tests=\"0\" \
                 failures=\"0\" errors=\"1\"><testsuite name=\"{}\" tests=\"0\" errors=\"1\">\
                 <system-err>{}</system-err></testsuite></testsuites>\n",
                attr_escape(&self.name),
                attr_escape(&self.name),
                attr_escape(&e.to_string())
            ),
        }
    }
}

/// quick-junit counts skipped tests as `disabled=`; GitLab, GitHub and Jenkins read
/// `skipped=` on `<testsuites>` and `<testsuite>`. Only those opening tags are touched (a
/// test's output inside them is escaped text and never starts a tag).
/// The root `<testsuites>` has no count of its own in quick-junit: it gets `total_skipped`.
pub(crate) fn skipped_attribute(xml: &str, total_skipped: usize) -> String {
    let mut out = String::with_capacity(xml.len() + 16);
    let mut rest = xml;
    while let Some(at) = rest.find("<testsuite") {
        let (before, tag_on) = rest.split_at(at);
        out.push_str(before);
        let end = tag_on.find('>').map_or(tag_on.len(), |i| i + 1);
        let mut tag = tag_on[..end].replacen(" disabled=\"", " skipped=\"", 1);
        if tag.starts_with("<testsuites ") && !tag.contains(" skipped=\"") {
            tag = tag.replacen(
                "<testsuites ",
                &format!("<testsuites skipped=\"{total_skipped}\" "),
                1,
            );
        }
        out.push_str(&tag);
        rest = &tag_on[end..];
    }
    out.push_str(rest);
    out
}

/// `test/unit/a_test.sh` → `test.unit`; a file at the top level gets the suite name, since an
/// empty classname makes some CI servers drop the case.
fn classname(id: &str, fallback: &str) -> String {
    match id.rsplit_once('/') {
        Some((dir, _)) if !dir.is_empty() => xml_text(&dir.replace('/', ".")),
        _ => xml_text(fallback),
    }
}

fn test_case(r: &TestResult, earlier: &[TestResult], suite_name: &str) -> TestCase {
    let output = (r.output.total_bytes > 0).then(|| xml_text(&render_output(&r.output)));
    let why = reason(r).map(|m| xml_text(&m));
    let mut status = match r.status {
        Status::Pass | Status::Flaky => TestCaseStatus::success(),
        Status::Skip => {
            let mut s = TestCaseStatus::skipped();
            if let Some(m) = &why {
                s.set_message(m.as_str());
            }
            s
        }
        Status::Fail | Status::Timeout | Status::Leak | Status::Oom | Status::Error => {
            let kind = if r.status == Status::Error {
                NonSuccessKind::Error
            } else {
                NonSuccessKind::Failure
            };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_type(r.status.name());
            if let Some(m) = &why {
                s.set_message(m.as_str());
            }
            if let Some(d) = failure_description(r, output.as_deref()) {
                s.set_description(d);
            }
            s
        }
    };
    // Success keeps them as flakyFailure/flakyError, a failure as rerunFailure/rerunError.
    status.add_reruns(earlier.iter().map(rerun));

    let mut case = TestCase::new(xml_text(&r.id), status);
    case.set_classname(classname(&r.id, suite_name));
    case.set_time(r.duration);
    if r.carried_over {
        // Finished in the interrupted run this `--resume` continued.
        case.add_property(("carried_over", "true"));
    }
    if let Some(st) = &r.subtests {
        case.add_property(("subtests.passed", st.passed.to_string().as_str()));
        case.add_property(("subtests.failed", st.failed.to_string().as_str()));
        case.add_property(("subtests.skipped", st.skipped.to_string().as_str()));
        // The cases of the test's own JUnit report: one property each, `STATUS name: message`.
        for sub in &st.cases {
            let mut text = format!("{} {}", sub.status.word(), sub.name);
            if let Some(m) = &sub.message {
                text.push_str(": ");
                text.push_str(m);
            }
            case.add_property(("subtest", xml_text(&text).as_str()));
        }
    }
    if let Some(code) = r.exit_code {
        case.add_property(("exit_code", code.to_string().as_str()));
    }
    if let Some(sig) = &r.signal {
        case.add_property(("signal", xml_text(sig).as_str()));
    }
    if r.attempt > 1 {
        case.add_property(("attempts", r.attempt.to_string().as_str()));
    }
    if let Some(rss) = r.peak_rss_bytes {
        case.add_property(("peak_rss_bytes", rss.to_string().as_str()));
    }
    if let Some(cpu) = r.cpu_ms {
        case.add_property(("cpu_ms", cpu.to_string().as_str()));
    }
    for leak in &r.leaked {
        case.add_property((
            "leaked",
            xml_text(&format!("{} {}", leak.pid, leak.cmd)).as_str(),
        ));
    }
    if let Some(log) = &r.log {
        case.add_property(("log", xml_text(&log.to_string_lossy()).as_str()));
    }
    // A plain pass's output is noise in CI; everything else keeps it.
    let plain_pass = r.status == Status::Pass && r.leaked.is_empty();
    if let (Some(out), false) = (output, plain_pass) {
        case.set_system_out(out);
    }
    case
}

fn failure_description(r: &TestResult, output: Option<&str>) -> Option<String> {
    let mut d = output.unwrap_or("").to_owned();
    if !r.leaked.is_empty() {
        if !d.is_empty() && !d.ends_with('\n') {
            d.push('\n');
        }
        d.push_str("leaked processes:\n");
        for leak in &r.leaked {
            d.push_str(&xml_text(&format!("  {} {}\n", leak.pid, leak.cmd)));
        }
    }
    (!d.is_empty()).then_some(d)
}

fn rerun(r: &TestResult) -> TestRerun {
    let kind = if r.status == Status::Error {
        NonSuccessKind::Error
    } else {
        NonSuccessKind::Failure
    };
    let mut rerun = TestRerun::new(kind);
    rerun.set_time(r.duration).set_type(r.status.name());
    if let Some(m) = reason(r) {
        rerun.set_message(xml_text(&m));
    }
    if r.output.total_bytes > 0 {
        rerun.set_system_out(xml_text(&render_output(&r.output)));
    }
    rerun
}

/// Text XML 1.0 can hold: terminal escape sequences removed (their ESC is not allowed, and
/// what follows it is noise), then every character outside the XML `Char` production.
fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    // Column since the last line break, to expand tabs as a terminal would: quick-junit drops
    // TAB characters, which mangles `diff -u` headers and tabular output.
    let mut column = 0usize;
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            skip_escape_sequence(&mut chars);
        } else if c == '\t' {
            let spaces = 8 - column % 8;
            out.extend(std::iter::repeat_n(' ', spaces));
            column += spaces;
        } else if is_xml_char(c) {
            out.push(c);
            column = if c == '\n' || c == '\r' {
                0
            } else {
                column + 1
            };
        }
    }
    out
}

fn skip_escape_sequence(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.peek() {
        // CSI: parameter and intermediate bytes, then one final byte.
        Some('[') => {
            chars.next();
            while let Some(&c) = chars.peek() {
                if ('\x20'..='\x3f').contains(&c) {
                    chars.next();
                } else {
                    if ('\x40'..='\x7e').contains(&c) {
                        chars.next();
                    }
                    break;
                }
            }
        }
        // OSC (titles, hyperlinks): up to BEL or ESC \.
        Some(']') => {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '\x07' {
                    break;
                }
                if c == '\x1b' {
                    if chars.peek() == Some(&'\\') {
                        chars.next();
                    }
                    break;
                }
            }
        }
        Some(&c) if ('\x20'..='\x7e').contains(&c) => {
            chars.next();
        }
        _ => {}
    }
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn attr_escape(s: &str) -> String {
    xml_text(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use crate::exit_code::ExitCode;
    use std::collections::BTreeMap;
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::events::{Leak, StopReason, Totals};
    use crate::report::text::fixtures::{output, result, with_everything};

    fn ev(ms: u64, kind: EventKind) -> Event {
        Event {
            at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms),
            kind,
        }
    }

    fn finished(r: TestResult) -> EventKind {
        EventKind::TestFinished(Box::new(r))
    }

    /// A run touching every mapping; returns the events and how many tests finished.
    fn sample_run() -> (Vec<Event>, usize) {
        let mut fail = result("test/x_test.sh", Status::Fail, 1_200);
        fail.exit_code = Some(3);
        fail.log = Some("logs/x.log".into());
        // NUL, a colour sequence, a title sequence, invalid UTF-8 and U+FFFE: none may reach
        // the XML as such.
        fail.output = output(
            b"first \x00line \x1b[31mred\x1b[0m\x1b]0;title\x07\n",
            b"bad \xFF byte \xEF\xBF\xBE end <&>\n",
            100_000,
        );
        let mut timeout = result("test/hang_test.sh", Status::Timeout, 2_000);
        timeout.exit_code = None;
        timeout.signal = Some("SIGTERM".into());
        timeout.message = Some("timed out after 2s".into());
        let mut skip = result("top_test.sh", Status::Skip, 3);
        skip.message = Some("needs docker".into());
        let mut error = result("test/py/run_test.py", Status::Error, 0);
        error.exit_code = None;
        error.message = Some("python3: not found".into());
        let mut oom = result("test/big_test.sh", Status::Oom, 50);
        oom.signal = Some("SIGKILL".into());
        let mut leak = result("test/leak_test.sh", Status::Leak, 10);
        leak.leaked = vec![Leak {
            pid: 77,
            cmd: "sleep 300".into(),
        }];
        let mut leaky_pass = result("test/unit/leaky_pass_test.sh", Status::Pass, 10);
        leaky_pass.leaked = leak.leaked.clone();
        leaky_pass.output = output(b"ok\n", b"", 3);
        let mut flaky_try = result("test/flaky_test.sh", Status::Fail, 5);
        flaky_try.output = output(b"boom\n", b"", 5);
        let mut flaky = result("test/flaky_test.sh", Status::Flaky, 6);
        flaky.attempt = 2;
        let stubborn_try = result("test/stubborn_test.sh", Status::Fail, 7);
        let mut stubborn = result("test/stubborn_test.sh", Status::Fail, 8);
        stubborn.attempt = 2;

        let finals = vec![
            with_everything(result("test/unit/a_test.sh", Status::Pass, 12)),
            fail,
            timeout,
            skip,
            error,
            oom,
            leak,
            leaky_pass,
            flaky,
            stubborn,
        ];
        let n = finals.len();
        let mut totals = Totals::default();
        let mut events = vec![
            ev(
                0,
                EventKind::RunStarted {
                    run_id: "r1".into(),
                    selected: 12,
                    workers: 2,
                    resumed_from: None,
                    log_dir: None,
                    info: Box::default(),
                    partition: None,
                },
            ),
            ev(1, EventKind::TestRetrying(Box::new(flaky_try))),
            ev(2, EventKind::TestRetrying(Box::new(stubborn_try))),
            ev(3, EventKind::Warning("cgroup v2 not writable".into())),
        ];
        for r in finals {
            totals.add(&r);
            events.push(ev(5_000, finished(r)));
        }
        events.push(ev(
            5_001,
            EventKind::TestCancelled {
                id: "test/slow_test.sh".into(),
                reason: StopReason::FailFast,
                worker: 0,
                attempt: 1,
                duration: Duration::from_millis(900),
            },
        ));
        events.push(ev(
            5_002,
            EventKind::RunFinished {
                run_id: "r1".into(),
                totals,
                duration: Duration::from_millis(5_002),
                exit_code: ExitCode::FAILED,
                stopped: Some(StopReason::FailFast),
            },
        ));
        (events, n)
    }

    fn build(events: &[Event]) -> String {
        let mut report = JunitReport::default();
        for e in events {
            report.on_event(e);
        }
        report.to_xml()
    }

    fn props(case: roxmltree::Node) -> BTreeMap<String, Vec<String>> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in case.descendants().filter(|n| n.has_tag_name("property")) {
            map.entry(p.attribute("name").unwrap_or("").to_owned())
                .or_default()
                .push(p.attribute("value").unwrap_or("").to_owned());
        }
        map
    }

    fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
        node.children().find(|n| n.has_tag_name(tag))
    }

    #[test]
    fn a_strict_parser_rejects_what_we_must_not_emit() {
        // The well-formedness check below means something only if the parser is strict.
        assert!(roxmltree::Document::parse("<a>\u{0}</a>").is_err());
        assert!(roxmltree::Document::parse("<a>\u{1b}[31m</a>").is_err());
        assert!(roxmltree::Document::parse("<a>&</a>").is_err());
    }

    #[test]
    fn parses_as_xml_with_one_testcase_per_test() {
        let (events, finished) = sample_run();
        let xml = build(&events);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
        assert_eq!(suites.len(), 1);
        let suite = suites[0];
        assert_eq!(suite.attribute("name"), Some("warden"));
        assert_eq!(
            suite.attribute("timestamp"),
            Some("2023-11-14T22:13:20.000Z")
        );
        assert_eq!(suite.attribute("time"), Some("5.002"));
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        // Every finished test, plus the one cancelled mid-run.
        assert_eq!(cases.len(), finished + 1);
        assert_eq!(
            suite.attribute("tests"),
            Some((finished + 1).to_string().as_str())
        );
        let names: Vec<_> = cases.iter().filter_map(|c| c.attribute("name")).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "duplicate testcase: {names:?}");
        // failures: fail, timeout, oom, leak, stubborn; errors: error.
        assert_eq!(suite.attribute("failures"), Some("5"));
        assert_eq!(suite.attribute("errors"), Some("1"));
        assert_eq!(suite.attribute("skipped"), Some("2"));
        assert_eq!(suite.attribute("disabled"), None);
        let suite_props = props(suite);
        assert_eq!(suite_props["run_id"], ["r1"]);
        assert_eq!(suite_props["stopped"], ["stopped by --fail-fast"]);
        let err = child(suite, "system-err").and_then(|n| n.text());
        assert_eq!(err, Some("cgroup v2 not writable"));
    }

    #[test]
    fn statuses_map_to_junit_elements() {
        let (events, _) = sample_run();
        let xml = build(&events);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let case = |id: &str| {
            doc.descendants()
                .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(id))
                .unwrap_or_else(|| panic!("no testcase {id}"))
        };

        let pass = case("test/unit/a_test.sh");
        assert_eq!(pass.attribute("classname"), Some("test.unit"));
        assert_eq!(pass.attribute("time"), Some("0.012"));
        assert_eq!(
            pass.attribute("timestamp"),
            Some("2023-11-14T22:13:24.988Z")
        );
        assert!(pass.children().all(|n| !n.has_tag_name("failure")));
        let p = props(pass);
        assert_eq!(p["subtests.passed"], ["4"]);
        assert_eq!(p["subtests.failed"], ["1"]);
        assert_eq!(p["subtests.skipped"], ["0"]);
        assert_eq!(p["peak_rss_bytes"], ["3145728"]);
        assert_eq!(p["cpu_ms"], ["40"]);
        assert_eq!(p["log"], [".warden/runs/r1/logs/x.log"]);

        let fail = case("test/x_test.sh");
        assert_eq!(fail.attribute("classname"), Some("test"));
        let failure = child(fail, "failure").expect("failure element");
        assert_eq!(failure.attribute("type"), Some("fail"));
        assert_eq!(failure.attribute("message"), Some("exit 3"));
        let text = failure.text().unwrap_or("");
        // 100 000 bytes seen, 35 + 23 kept; the title sequence goes with its escape.
        let expected = "first line red\n[… 99942 bytes omitted …]\nbad \u{FFFD} byte  end <&>\n";
        assert_eq!(text, expected);
        let out = child(fail, "system-out").and_then(|n| n.text());
        assert_eq!(out, Some(expected));

        let timeout = child(case("test/hang_test.sh"), "failure").expect("failure");
        assert_eq!(timeout.attribute("type"), Some("timeout"));
        assert_eq!(timeout.attribute("message"), Some("timed out after 2s"));
        assert_eq!(props(case("test/hang_test.sh"))["signal"], ["SIGTERM"]);

        let skip = case("top_test.sh");
        assert_eq!(skip.attribute("classname"), Some("warden"));
        let skipped = child(skip, "skipped").expect("skipped");
        assert_eq!(skipped.attribute("message"), Some("needs docker"));

        let error = child(case("test/py/run_test.py"), "error").expect("error element");
        assert_eq!(error.attribute("message"), Some("python3: not found"));
        assert_eq!(error.attribute("type"), Some("error"));

        let oom = child(case("test/big_test.sh"), "failure").expect("failure");
        assert_eq!(oom.attribute("type"), Some("oom"));

        let leak = child(case("test/leak_test.sh"), "failure").expect("failure");
        assert_eq!(leak.attribute("type"), Some("leak"));
        assert_eq!(
            leak.attribute("message"),
            Some("left 1 process behind: sleep 300")
        );
        assert_eq!(leak.text(), Some("leaked processes:\n  77 sleep 300\n"));

        let leaky_pass = case("test/unit/leaky_pass_test.sh");
        assert!(leaky_pass
            .children()
            .all(|n| !n.has_tag_name("failure") && !n.has_tag_name("error")));
        assert_eq!(props(leaky_pass)["leaked"], ["77 sleep 300"]);
        assert_eq!(
            child(leaky_pass, "system-out").and_then(|n| n.text()),
            Some("ok\n")
        );

        let flaky = case("test/flaky_test.sh");
        assert!(child(flaky, "failure").is_none());
        let rerun = child(flaky, "flakyFailure").expect("flakyFailure");
        assert_eq!(rerun.attribute("type"), Some("fail"));
        assert_eq!(
            child(rerun, "system-out").and_then(|n| n.text()),
            Some("boom\n")
        );
        assert_eq!(props(flaky)["attempts"], ["2"]);

        let stubborn = case("test/stubborn_test.sh");
        assert!(child(stubborn, "failure").is_some());
        assert!(child(stubborn, "rerunFailure").is_some());

        let cancelled = child(case("test/slow_test.sh"), "skipped").expect("skipped");
        assert_eq!(cancelled.attribute("type"), Some("cancelled"));
    }

    #[test]
    fn xml_text_keeps_only_what_xml_can_hold() {
        assert_eq!(
            xml_text(
                "a\u{0}b\u{7}c\td\r\ne\u{1b}[1;31mf\u{1b}[0m\u{FFFE}g\u{1b}]8;;http://x\u{1b}\\h"
            ),
            "abc     d\r\nefgh"
        );
        // Plain and non-ASCII text passes untouched.
        assert_eq!(xml_text("ünï 𝄞 <&>"), "ünï 𝄞 <&>");
    }

    #[test]
    fn an_empty_run_is_still_a_valid_report() {
        let report = JunitReport::new("shard-1");
        assert!(report.is_empty());
        let xml = report.to_xml();
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let suite = doc
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .expect("suite");
        assert_eq!(suite.attribute("name"), Some("shard-1"));
        assert_eq!(suite.attribute("tests"), Some("0"));
    }

    /// The whole XML of a run with every status, retries and output, reviewed once: a change
    /// to what CI systems read shows up as a snapshot diff.
    #[test]
    fn a_run_with_every_status_writes_the_reviewed_xml() {
        let (events, _) = sample_run();
        insta::assert_snapshot!("junit_every_status", build(&events));
    }
}
