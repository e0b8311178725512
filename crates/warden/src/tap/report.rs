//! What a TAP stream said, and whether it makes its test file fail.

use serde::Serialize;

use crate::events::Subtests;

/// How many failed test points, problems and warnings are kept word for word; counts stay
/// exact past this.
pub(crate) const MAX_LISTED: usize = 20;

/// The plan line `first..last`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub first: u64,
    pub last: u64,
    /// `Some(reason)` for `1..0 [# SKIP reason]`: the file skipped all its tests (the reason
    /// may be empty).
    pub skip_all: Option<String>,
}

impl Plan {
    /// Number of test points the plan announces.
    pub fn expected(&self) -> u64 {
        if self.last < self.first {
            0
        } else {
            (self.last - self.first).saturating_add(1)
        }
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.first, self.last)
    }
}

/// Everything the parser learnt from one test file's output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TapReport {
    /// The output is TAP: its first non-blank line was a plan or `TAP version 13|14` (or the
    /// parser was told to assume TAP). When false every other field is empty.
    pub is_tap: bool,
    pub version: Option<u32>,
    /// The first plan seen.
    pub plan: Option<Plan>,
    /// Top-level test points counted (subtests' own lines are not), up to a bail out.
    pub tests_run: u64,
    /// `ok` without a directive.
    pub passed: u32,
    /// `not ok` without a directive.
    pub failed: u32,
    /// `ok` or `not ok` with `# SKIP`.
    pub skipped: u32,
    /// `ok` or `not ok` with `# TODO`: neither a pass nor a failure.
    pub todo: u32,
    /// `Bail out!` was seen, with its reason (possibly empty).
    pub bailed_out: Option<String>,
    /// Violations that make the file fail: bail out, missing, duplicate or mismatched plan,
    /// test points after a trailing plan or outside the plan's range.
    pub problems: Vec<String>,
    /// The first failed test points (`not ok 2 - adds`), at most 20.
    pub failures: Vec<String>,
    /// Oddities that do not make the file fail (TAP 14 allows test points in any order):
    /// the first 20, then one entry counting the rest.
    pub warnings: Vec<String>,
}

impl TapReport {
    /// Subtest counts for events and reports. A TODO test point is expected to fail and does
    /// not count against the file, so it is shown with the skipped ones rather than as a pass.
    pub fn subtests(&self) -> Subtests {
        Subtests {
            passed: self.passed,
            failed: self.failed,
            skipped: self.skipped.saturating_add(self.todo),
            cases: Vec::new(),
        }
    }

    /// `None` when the TAP says the file passed (or the output is not TAP); `Some(reason)`
    /// when it must fail even with exit 0: a `not ok` without TODO or SKIP, a bail out, or any
    /// entry of [`TapReport::problems`].
    pub fn failure_reason(&self) -> Option<String> {
        if !self.is_tap {
            return None;
        }
        let mut parts = Vec::new();
        if self.failed > 0 {
            let mut part = format!(
                "{} TAP test{} failed",
                self.failed,
                if self.failed == 1 { "" } else { "s" }
            );
            const SHOWN: usize = 3;
            if !self.failures.is_empty() {
                let shown: Vec<&str> = self
                    .failures
                    .iter()
                    .take(SHOWN)
                    .map(String::as_str)
                    .collect();
                part.push_str(&format!(" ({}", shown.join(", ")));
                let more = self.failed as usize - shown.len().min(self.failed as usize);
                if more > 0 {
                    part.push_str(&format!(", and {more} more"));
                }
                part.push(')');
            }
            parts.push(part);
        }
        parts.extend(self.problems.iter().cloned());
        if parts.is_empty() {
            None
        } else {
            Some(parts.join("; "))
        }
    }

    /// The reason (possibly empty) when the file skipped everything with `1..0` and nothing
    /// went wrong.
    pub fn skip_all_reason(&self) -> Option<String> {
        let reason = self.plan.as_ref()?.skip_all.as_ref()?;
        (self.tests_run == 0 && self.failure_reason().is_none()).then(|| reason.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap() -> TapReport {
        TapReport {
            is_tap: true,
            plan: Some(Plan {
                first: 1,
                last: 3,
                skip_all: None,
            }),
            tests_run: 3,
            passed: 3,
            ..TapReport::default()
        }
    }

    #[test]
    fn a_clean_report_passes() {
        assert_eq!(tap().failure_reason(), None);
        assert_eq!(tap().skip_all_reason(), None);
    }

    #[test]
    fn not_tap_never_fails() {
        let r = TapReport {
            is_tap: false,
            failed: 2,
            problems: vec!["no plan".into()],
            ..TapReport::default()
        };
        assert_eq!(r.failure_reason(), None);
    }

    #[test]
    fn failures_are_listed_then_problems() {
        let r = TapReport {
            failed: 5,
            failures: ["not ok 1 - a", "not ok 2 - b", "not ok 3 - c", "not ok 4"]
                .map(String::from)
                .to_vec(),
            problems: vec!["plan 1..3 but 6 tests ran".into()],
            ..tap()
        };
        assert_eq!(
            r.failure_reason().unwrap(),
            "5 TAP tests failed (not ok 1 - a, not ok 2 - b, not ok 3 - c, and 2 more); \
             plan 1..3 but 6 tests ran"
        );
        let one = TapReport {
            failed: 1,
            failures: vec!["not ok 2 - adds".into()],
            ..tap()
        };
        assert_eq!(
            one.failure_reason().unwrap(),
            "1 TAP test failed (not ok 2 - adds)"
        );
    }

    #[test]
    fn problems_alone_fail() {
        let r = TapReport {
            problems: vec!["bail out: db down".into()],
            ..tap()
        };
        assert_eq!(r.failure_reason().unwrap(), "bail out: db down");
    }

    #[test]
    fn todo_counts_with_skipped_in_subtests() {
        let r = TapReport {
            passed: 4,
            failed: 1,
            skipped: 2,
            todo: 3,
            ..tap()
        };
        assert_eq!(
            r.subtests(),
            Subtests {
                passed: 4,
                failed: 1,
                skipped: 5,
                cases: Vec::new()
            }
        );
    }

    #[test]
    fn skip_all_only_when_clean() {
        let skip = TapReport {
            plan: Some(Plan {
                first: 1,
                last: 0,
                skip_all: Some("no db".into()),
            }),
            tests_run: 0,
            passed: 0,
            ..tap()
        };
        assert_eq!(skip.skip_all_reason().as_deref(), Some("no db"));
        let broken = TapReport {
            problems: vec!["plan 1..0 but 1 test ran".into()],
            ..skip.clone()
        };
        assert_eq!(broken.skip_all_reason(), None);
    }

    #[test]
    fn plan_expected_counts() {
        let p = |first, last| Plan {
            first,
            last,
            skip_all: None,
        };
        assert_eq!(p(1, 0).expected(), 0);
        assert_eq!(p(1, 5).expected(), 5);
        assert_eq!(p(5, 8).expected(), 4);
        assert_eq!(p(1, u64::MAX).expected(), u64::MAX);
        assert_eq!(p(0, u64::MAX).expected(), u64::MAX, "saturates");
        assert_eq!(p(1, 3).to_string(), "1..3");
    }
}
