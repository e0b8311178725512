//! The streaming TAP parser: bytes in any chunks → [`TapReport`].
//!
//! Output is cut into lines and each line is judged on its own, so the report never depends
//! on where the chunks were split. Memory is bounded whatever a test prints: at most
//! [`LINE_CAP`] bytes of the current line are kept, the rest of an overlong line is dropped.

use super::line::{
    indent, is_blank, is_space, may_be_header, parse_bail_out, parse_plan, parse_test_point,
    parse_version, skip_reason, trim_end, unescape, Directive, PlanLine, TestPoint,
};
use super::report::{Plan, TapReport, MAX_LISTED};

/// Longest line prefix kept. Every TAP line that matters is far shorter; the cap only
/// protects warden from a test that prints gigabytes without a newline.
pub const LINE_CAP: usize = 64 * 1024;

/// Longest description or reason copied into a report.
const MAX_TEXT_CHARS: usize = 200;

/// How far into an unfinished first line the "could this still be TAP" check looks: enough
/// for `TAP version ` and for a plan's two 20-digit numbers.
const HEADER_PREFIX: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No non-blank line yet.
    Undecided,
    Tap,
    /// Decided: not TAP. Everything else is ignored.
    NotTap,
    /// `Bail out!` seen: nothing after it counts.
    BailedOut,
}

/// Streaming TAP 13/14 parser (SPEC §3, `format = "auto"` and `"tap"`).
#[derive(Debug, Clone)]
pub struct TapParser {
    mode: Mode,
    /// The current line so far, at most `LINE_CAP` bytes.
    line: Vec<u8>,
    /// While undecided and `line` starts with whitespace: how much of it is known blank, so
    /// many tiny chunks do not rescan it.
    blank_checked: usize,
    report: TapReport,
    /// A top-level line other than a blank one has been seen (a version line must be first).
    started: bool,
    /// Validity of the plan in `report.plan`; an invalid one is reported once and not checked.
    plan_valid: bool,
    /// The plan came after test points: it is a trailing plan and must be the end of the TAP.
    plan_after_tests: bool,
    /// Taken for TAP in `auto` mode because the first line that is not a comment was a test
    /// point (a plan to come last, Perl's `done_testing`): without a plan by the end it was
    /// prose that happened to start with `ok`, and is not TAP after all.
    tentative: bool,
    after_trailing_plan_reported: bool,
    extra_plan_reported: bool,
    min_id: Option<u64>,
    max_id: Option<u64>,
    /// Inside a YAML diagnostic block indented this far.
    yaml_indent: Option<usize>,
    /// Indentation of the last test point, while only comments followed it: a YAML block may
    /// open there.
    last_point_indent: Option<usize>,
    warnings_dropped: u64,
}

impl Default for TapParser {
    fn default() -> Self {
        Self::new()
    }
}

impl TapParser {
    /// A parser for `format = "auto"`: the output is TAP if its first non-blank line is a plan
    /// or `TAP version 13|14`, or if its first line that is neither blank nor a comment is a
    /// test point (`ok`, `not ok`) and a plan comes later (a trailing plan, as Perl's
    /// `done_testing` prints it).
    pub fn new() -> Self {
        TapParser {
            mode: Mode::Undecided,
            line: Vec::new(),
            blank_checked: 0,
            report: TapReport::default(),
            started: false,
            plan_valid: false,
            plan_after_tests: false,
            tentative: false,
            after_trailing_plan_reported: false,
            extra_plan_reported: false,
            min_id: None,
            max_id: None,
            yaml_indent: None,
            last_point_indent: None,
            warnings_dropped: 0,
        }
    }

    /// A parser for `format = "tap"`: the output is TAP whatever its first line, so a
    /// trailing plan (`done_testing`) works and output without a plan fails.
    pub fn assume_tap() -> Self {
        let mut p = Self::new();
        p.mode = Mode::Tap;
        p.report.is_tap = true;
        p
    }

    /// Parse a whole output at once.
    pub fn parse(bytes: &[u8]) -> TapReport {
        let mut p = Self::new();
        p.feed(bytes);
        p.finish()
    }

    /// `Some(true)` once the output is known to be TAP, `Some(false)` once it is known not
    /// to be, `None` while no non-blank line has been seen.
    pub fn is_tap(&self) -> Option<bool> {
        match self.mode {
            Mode::Undecided => None,
            Mode::NotTap => Some(false),
            Mode::Tap | Mode::BailedOut => Some(true),
        }
    }

    /// Feed raw output in arbitrary chunks: lines may be split anywhere, bytes need not be
    /// UTF-8.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && self.counting() {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    self.push(&bytes[..nl]);
                    self.end_line();
                    bytes = &bytes[nl + 1..];
                }
                None => {
                    self.push(bytes);
                    if self.mode == Mode::Undecided {
                        self.give_up_early();
                    }
                    return;
                }
            }
        }
    }

    /// End of output: judge the last unterminated line and the stream as a whole.
    pub fn finish(mut self) -> TapReport {
        if !self.line.is_empty() && self.counting() {
            self.end_line();
        }
        match self.mode {
            Mode::Undecided | Mode::NotTap => return TapReport::default(),
            Mode::Tap if self.tentative && self.report.plan.is_none() => {
                return TapReport::default()
            }
            // A bail out already says why the counts are short: no plan check after one.
            Mode::BailedOut => {}
            Mode::Tap => self.check_plan(),
        }
        if self.warnings_dropped > 0 {
            let n = self.warnings_dropped;
            self.report.warnings.push(format!("{n} more warnings"));
        }
        self.report
    }

    fn counting(&self) -> bool {
        matches!(self.mode, Mode::Undecided | Mode::Tap)
    }

    fn push(&mut self, seg: &[u8]) {
        let room = LINE_CAP - self.line.len();
        let take = &seg[..seg.len().min(room)];
        if take.is_empty() {
            return;
        }
        let need = self.line.len() + take.len();
        if need > self.line.capacity() {
            // Grow geometrically but never past the cap (plain `extend` could double past it).
            let target = need.max(self.line.capacity() * 2).clamp(256, LINE_CAP);
            self.line.reserve_exact(target - self.line.len());
        }
        self.line.extend_from_slice(take);
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.process(trim_end(&line));
        if self.counting() {
            self.line = line;
            self.line.clear();
        }
        self.blank_checked = 0;
    }

    /// Decide "not TAP" on an unfinished first line as soon as no ending could make it a
    /// header, so a non-TAP test printing one huge line costs nothing more. It must agree
    /// with the decision `process` takes at the newline, or chunking would change reports.
    fn give_up_early(&mut self) {
        let Some(&first) = self.line.first() else {
            return;
        };
        let hopeless = if is_space(first) {
            // Blank so far, or indented text, which is never a header.
            let start = self.blank_checked.max(1);
            let found = self.line[start..].iter().any(|&b| !is_space(b));
            self.blank_checked = self.line.len();
            found
        } else {
            !may_be_header(&self.line[..self.line.len().min(HEADER_PREFIX)])
        };
        if hopeless {
            self.become_not_tap();
        }
    }

    fn become_not_tap(&mut self) {
        self.mode = Mode::NotTap;
        self.line = Vec::new();
    }

    /// One complete line, trailing whitespace (and `\r`) already removed.
    fn process(&mut self, line: &[u8]) {
        match self.mode {
            Mode::Undecided => {
                if line.is_empty() {
                    return;
                }
                if let Some(v) = parse_version(line).and_then(supported_version) {
                    self.mode = Mode::Tap;
                    self.report.is_tap = true;
                    self.report.version = Some(v);
                    self.started = true;
                } else if parse_plan(line).is_some() {
                    self.mode = Mode::Tap;
                    self.report.is_tap = true;
                    self.tap_line(line);
                } else if line[0] == b'#' {
                    // A comment (`# Testing Foo 1.2`, a diag) before the first test point.
                } else if parse_test_point(line).is_some() {
                    self.mode = Mode::Tap;
                    self.report.is_tap = true;
                    self.tentative = true;
                    self.tap_line(line);
                } else {
                    self.become_not_tap();
                }
            }
            Mode::Tap => self.tap_line(line),
            Mode::NotTap | Mode::BailedOut => {}
        }
    }

    fn tap_line(&mut self, line: &[u8]) {
        if let Some(yaml) = self.yaml_indent {
            if is_blank(line) {
                return;
            }
            let ind = indent(line);
            if ind >= yaml {
                if ind == yaml && &line[ind..] == b"..." {
                    self.yaml_indent = None;
                    self.last_point_indent = None;
                }
                return;
            }
            // Less indented than the block: the `...` was forgotten. Recover, as the
            // indentation is there for.
            self.yaml_indent = None;
            self.last_point_indent = None;
        }
        if line.is_empty() {
            return;
        }
        let ind = indent(line);
        let content = &line[ind..];
        if ind > 0 {
            self.nested_line(ind, content);
            return;
        }
        let first = !self.started;
        self.started = true;
        if content[0] == b'#' {
            // Comments, `# Subtest: name` included, may sit between a test point and its YAML.
            return;
        }
        if let Some(point) = parse_test_point(content) {
            self.test_point(&point);
            self.last_point_indent = Some(0);
            return;
        }
        self.last_point_indent = None;
        if let Some(plan) = parse_plan(content) {
            self.plan(&plan);
        } else if let Some(reason) = parse_bail_out(content) {
            self.bail_out(reason);
        } else if let Some(v) = parse_version(content) {
            match supported_version(v) {
                Some(v) if first => self.report.version = Some(v),
                Some(_) => self.warn(|| "`TAP version` line after the start ignored".into()),
                None => self.warn(|| format!("unsupported TAP version {v}")),
            }
        }
        // Pragmas and any other line are not test output (TAP 14: ignore them).
    }

    /// An indented line: YAML diagnostics or a subtest, whose own results do not count (its
    /// correlated test point at the top level does), except that a bail out anywhere stops
    /// the whole file.
    fn nested_line(&mut self, ind: usize, content: &[u8]) {
        if content.starts_with(b"---") && self.last_point_indent.is_some_and(|at| ind > at) {
            self.yaml_indent = Some(ind);
            return;
        }
        if content[0] == b'#' {
            return;
        }
        if parse_test_point(content).is_some() {
            self.last_point_indent = Some(ind);
            return;
        }
        self.last_point_indent = None;
        // Subtests are indented by multiples of 4; anything else is not TAP.
        if ind % 4 == 0 {
            if let Some(reason) = parse_bail_out(content) {
                self.bail_out(reason);
            }
        }
    }

    fn test_point(&mut self, point: &TestPoint<'_>) {
        let r = &mut self.report;
        r.tests_run = r.tests_run.saturating_add(1);
        let position = r.tests_run;
        if self.plan_after_tests && !self.after_trailing_plan_reported {
            self.after_trailing_plan_reported = true;
            let plan = r.plan.as_ref().map(Plan::to_string).unwrap_or_default();
            r.problems
                .push(format!("test point after the trailing plan {plan}"));
        }
        match point.directive {
            Some(Directive::Skip) => r.skipped = r.skipped.saturating_add(1),
            Some(Directive::Todo) => r.todo = r.todo.saturating_add(1),
            None if point.ok => r.passed = r.passed.saturating_add(1),
            None => {
                r.failed = r.failed.saturating_add(1);
                if r.failures.len() < MAX_LISTED {
                    let id = point.id.unwrap_or(position);
                    let desc = unescape(point.description, MAX_TEXT_CHARS);
                    r.failures.push(if desc.is_empty() {
                        format!("not ok {id}")
                    } else {
                        format!("not ok {id} - {desc}")
                    });
                }
            }
        }
        if let Some(id) = point.id {
            self.min_id = Some(self.min_id.map_or(id, |m| m.min(id)));
            self.max_id = Some(self.max_id.map_or(id, |m| m.max(id)));
            // TAP 14 allows any order, so this is worth a note but not a failure.
            if id != position {
                self.warn(|| format!("test {id} out of order (expected {position})"));
            }
        }
    }

    fn plan(&mut self, plan: &PlanLine<'_>) {
        let r = &mut self.report;
        if let Some(existing) = &r.plan {
            if !self.extra_plan_reported {
                self.extra_plan_reported = true;
                let msg = format!(
                    "more than one plan ({existing}, then {}..{})",
                    plan.first, plan.last
                );
                r.problems.push(msg);
            }
            return;
        }
        let skip_all = plan.first == 1 && plan.last == 0;
        self.plan_valid = skip_all || (plan.first >= 1 && plan.last >= plan.first);
        if !self.plan_valid {
            r.problems
                .push(format!("invalid plan {}..{}", plan.first, plan.last));
        }
        self.plan_after_tests = r.tests_run > 0;
        r.plan = Some(Plan {
            first: plan.first,
            last: plan.last,
            skip_all: skip_all.then(|| {
                unescape(
                    skip_reason(plan.comment.unwrap_or_default()),
                    MAX_TEXT_CHARS,
                )
            }),
        });
    }

    fn bail_out(&mut self, reason: &[u8]) {
        let reason = unescape(reason, MAX_TEXT_CHARS);
        self.report.problems.push(if reason.is_empty() {
            "bail out".to_string()
        } else {
            format!("bail out: {reason}")
        });
        self.report.bailed_out = Some(reason);
        self.mode = Mode::BailedOut;
        self.line = Vec::new();
    }

    fn check_plan(&mut self) {
        let r = &mut self.report;
        let ran = r.tests_run;
        let tests = |n: u64| format!("{n} test{} ran", if n == 1 { "" } else { "s" });
        let Some(plan) = &r.plan else {
            r.problems.push(format!("no plan ({})", tests(ran)));
            return;
        };
        if !self.plan_valid {
            return;
        }
        if ran != plan.expected() {
            let msg = format!("plan {plan} but {}", tests(ran));
            r.problems.push(msg);
            // Ids past the end are then expected; saying so again would be noise.
            return;
        }
        let outside = match (self.min_id, self.max_id) {
            (_, Some(max)) if max > plan.last => Some(max),
            (Some(min), _) if min < plan.first => Some(min),
            _ => None,
        };
        if let Some(id) = outside {
            let msg = format!("test {id} outside plan {plan}");
            r.problems.push(msg);
        }
    }

    fn warn(&mut self, msg: impl FnOnce() -> String) {
        if self.report.warnings.len() < MAX_LISTED {
            self.report.warnings.push(msg());
        } else {
            self.warnings_dropped += 1;
        }
    }
}

fn supported_version(v: u64) -> Option<u32> {
    matches!(v, 13 | 14).then_some(v as u32)
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
