//! Per-case results from a JUnit XML file a test wrote (`format = "junit"`, `{junit}`):
//! pytest `--junitxml`, `ctest --output-junit`, jest-junit, go-junit-report. Each `<testcase>`
//! becomes a subtest of the test, with its failure message.

use std::path::{Path, PathBuf};

use crate::events::{Status, SubtestCase, Subtests, TestResult};

/// The variable holding the path a `format = "junit"` test writes its report to (the same as
/// `{junit}`). A container run mounts the directory of that path writable into the test's
/// container (see `container::spec`).
pub const JUNIT_ENV: &str = "WARDEN_JUNIT";
/// The report's file name, alone in a directory of its own per test and attempt.
pub const JUNIT_FILE: &str = "junit.xml";

/// What is wrong with a document that should be JUnit XML.
#[derive(Debug, thiserror::Error)]
pub enum JunitError {
    #[error(transparent)]
    Xml(#[from] roxmltree::Error),
    #[error("the root element is <{0}>, not <testsuites> or <testsuite>")]
    Root(String),
}

/// Why the JUnit report a test should have written gives no cases.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("JUnit report {} was not written", .0.display())]
    Missing(PathBuf),
    #[error("cannot read JUnit report {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("JUnit report {} is larger than 64 MiB", .0.display())]
    TooLarge(PathBuf),
    #[error("JUnit report {} is malformed: {source}", path.display())]
    Malformed { path: PathBuf, source: JunitError },
}

/// Bytes of a report read at most: a larger one is refused rather than filling memory.
const MAX_REPORT: u64 = 64 << 20;
/// Characters of a failure message kept per subtest.
const MAX_MESSAGE: usize = 500;

/// Reads the report at `path`; `Err` says what is wrong with it, naming it.
pub fn read_junit(path: &Path) -> Result<Vec<SubtestCase>, ReportError> {
    use std::io::Read;
    let read = |source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ReportError::Missing(path.to_path_buf()),
        _ => read(e),
    })?;
    let mut text = String::new();
    file.take(MAX_REPORT + 1)
        .read_to_string(&mut text)
        .map_err(read)?;
    if text.len() as u64 > MAX_REPORT {
        return Err(ReportError::TooLarge(path.to_path_buf()));
    }
    parse_junit(&text).map_err(|source| ReportError::Malformed {
        path: path.to_path_buf(),
        source,
    })
}

/// The `<testcase>`s of a JUnit document, in order.
pub fn parse_junit(text: &str) -> Result<Vec<SubtestCase>, JunitError> {
    let doc = roxmltree::Document::parse(text)?;
    let root = doc.root_element().tag_name().name();
    if root != "testsuites" && root != "testsuite" {
        return Err(JunitError::Root(root.to_string()));
    }
    let mut cases = Vec::new();
    for case in doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "testcase")
    {
        let name = case.attribute("name").unwrap_or("").trim();
        let class = case.attribute("classname").unwrap_or("").trim();
        let name = match (class, name) {
            ("", n) => n.to_string(),
            (c, "") => c.to_string(),
            (c, n) => format!("{c}.{n}"),
        };
        let mut status = Status::Pass;
        let mut message = None;
        for child in case.children().filter(|c| c.is_element()) {
            let kind = child.tag_name().name();
            let (s, rank) = match kind {
                "failure" => (Status::Fail, 3),
                "error" => (Status::Error, 3),
                "skipped" => (Status::Skip, 1),
                _ => continue,
            };
            let current = match status {
                Status::Fail | Status::Error => 3,
                Status::Skip => 1,
                _ => 0,
            };
            if rank > current {
                status = s;
                let text = child
                    .attribute("message")
                    .filter(|m| !m.trim().is_empty())
                    .map(str::to_string)
                    .or_else(|| child.text().map(|t| t.trim().to_string()))
                    .filter(|m| !m.is_empty());
                message = text.map(|m| {
                    let first = m.lines().next().unwrap_or("").trim();
                    first.chars().take(MAX_MESSAGE).collect()
                });
            }
        }
        cases.push(SubtestCase {
            name,
            status,
            message,
        });
    }
    Ok(cases)
}

/// Folds the report into the result of the test that wrote it: the cases become its subtests,
/// a failed case fails a test that exited 0, and a missing or malformed report is an ERROR
/// (unless the test already timed out, crashed or ran out of memory: that says more).
pub fn apply_junit(result: &mut TestResult, report: Result<Vec<SubtestCase>, ReportError>) {
    let cases = match report {
        Ok(cases) => cases,
        Err(why) => {
            let why = why.to_string();
            match result.status {
                Status::Pass | Status::Fail | Status::Leak | Status::Skip => {
                    result.status = Status::Error;
                    result.message = Some(match result.message.take() {
                        Some(m) => format!("{why}; {m}"),
                        None => why,
                    });
                }
                _ => {
                    result.message = Some(match result.message.take() {
                        Some(m) => format!("{m}; {why}"),
                        None => why,
                    });
                }
            }
            return;
        }
    };
    let count = |f: &dyn Fn(Status) -> bool| cases.iter().filter(|c| f(c.status)).count() as u32;
    let failed = count(&|s| matches!(s, Status::Fail | Status::Error));
    let subtests = Subtests {
        passed: count(&|s| s == Status::Pass),
        failed,
        skipped: count(&|s| s == Status::Skip),
        cases,
    };
    if failed > 0 {
        let names: Vec<String> = subtests
            .cases
            .iter()
            .filter(|c| matches!(c.status, Status::Fail | Status::Error))
            .take(5)
            .map(|c| match &c.message {
                Some(m) => format!("{} ({m})", c.name),
                None => c.name.clone(),
            })
            .collect();
        let more = if failed as usize > names.len() {
            ", ..."
        } else {
            ""
        };
        let what = format!("failed: {}{more}", names.join(", "));
        if result.status == Status::Pass || result.status == Status::Leak {
            result.status = Status::Fail;
        }
        if result.status == Status::Fail {
            result.message = Some(match result.message.take() {
                Some(m) => format!("{m}; {what}"),
                None => what,
            });
        }
    }
    result.subtests = Some(subtests);
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="4">
<testcase classname="tests.test_math" name="test_adds" time="0.001" />
<testcase classname="tests.test_math" name="test_breaks" time="0.001"><failure message="AssertionError: arithmetic broke&#10;assert 2 == 3">def test_breaks(): ...</failure></testcase>
<testcase classname="tests.test_math" name="test_later" time="0.0"><skipped type="pytest.skip" message="not yet">skip</skipped></testcase>
<testcase classname="" name="setup" time="0.0"><error>fixture exploded
traceback</error></testcase>
</testsuite></testsuites>"#;

    #[test]
    fn cases_statuses_and_first_lines_of_messages() {
        let cases = parse_junit(PYTEST).unwrap();
        let got: Vec<(&str, Status, Option<&str>)> = cases
            .iter()
            .map(|c| (c.name.as_str(), c.status, c.message.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("tests.test_math.test_adds", Status::Pass, None),
                (
                    "tests.test_math.test_breaks",
                    Status::Fail,
                    Some("AssertionError: arithmetic broke")
                ),
                ("tests.test_math.test_later", Status::Skip, Some("not yet")),
                ("setup", Status::Error, Some("fixture exploded")),
            ]
        );
    }

    #[test]
    fn bad_documents_say_what_is_wrong() {
        assert!(parse_junit("<testsuite><testcase").is_err());
        let err = parse_junit("<html/>").unwrap_err();
        assert!(
            matches!(&err, JunitError::Root(r) if r == "html"),
            "{err:?}"
        );
        assert!(err.to_string().contains("root element is <html>"), "{err}");
        assert!(parse_junit("<testsuite/>").unwrap().is_empty());
        let err = read_junit(Path::new("/nonexistent/r.xml")).unwrap_err();
        assert!(matches!(err, ReportError::Missing(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "JUnit report /nonexistent/r.xml was not written"
        );
    }

    fn result(status: Status) -> TestResult {
        TestResult::for_test("t/a_test.py", status, 5)
    }

    #[test]
    fn failed_cases_fail_a_passing_test_and_a_missing_report_is_an_error() {
        let mut r = result(Status::Pass);
        apply_junit(&mut r, Ok(parse_junit(PYTEST).unwrap()));
        assert_eq!(r.status, Status::Fail);
        let st = r.subtests.as_ref().unwrap();
        assert_eq!((st.passed, st.failed, st.skipped), (1, 2, 1));
        assert_eq!(
            r.message.as_deref(),
            Some("failed: tests.test_math.test_breaks (AssertionError: arithmetic broke), setup (fixture exploded)")
        );
        let mut r = result(Status::Pass);
        apply_junit(&mut r, Err(ReportError::Missing("/x.xml".into())));
        assert_eq!(r.status, Status::Error);
        assert_eq!(
            r.message.as_deref(),
            Some("JUnit report /x.xml was not written")
        );
        let mut r = result(Status::Timeout);
        r.message = Some("timed out after 1s".into());
        apply_junit(&mut r, Err(ReportError::Missing("/x.xml".into())));
        assert_eq!(r.status, Status::Timeout);
        let mut r = result(Status::Pass);
        apply_junit(&mut r, Ok(Vec::new()));
        assert_eq!(r.status, Status::Pass);
    }
}
