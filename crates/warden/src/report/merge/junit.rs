//! Merging JUnit XML reports: one `<testsuites>` document holding every `<testsuite>` of every
//! shard, each copied byte for byte from its file, with totals counted from the testcases.

use std::collections::HashMap;
use std::fmt::Write as _;

use roxmltree::{Document, Node};

use super::input::{worst_exit_code, MergeError, Merged, ReportFormat, ReportText};

/// Name of the merged document's `<testsuites>`.
const ROOT_NAME: &str = "warden";

#[derive(Default)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
    time: f64,
}

pub(super) fn merge(reports: &[ReportText]) -> Result<Merged, MergeError> {
    let mut suites: Vec<&str> = Vec::new();
    let mut total = Counts::default();
    let mut codes = Vec::new();
    let mut codes_complete = true;
    let mut seen: HashMap<(String, String), &str> = HashMap::new();
    let mut warnings = Vec::new();
    // Per suite of a shard: (report name, its `partition*` properties as run-started has them).
    let mut partitions: Vec<(&str, serde_json::Map<String, serde_json::Value>)> = Vec::new();
    let mut selected = 0usize;
    for report in reports {
        let name = report.name.as_str();
        let doc = Document::parse(&report.text).map_err(|e| {
            let pos = e.pos();
            MergeError::Malformed {
                name: name.to_string(),
                line: pos.row as usize,
                message: format!("not well-formed XML: {e}"),
            }
        })?;
        let root = doc.root_element();
        let file_suites: Vec<Node> = match root.tag_name().name() {
            "testsuites" => root
                .children()
                .filter(|n| n.has_tag_name("testsuite"))
                .collect(),
            "testsuite" => vec![root],
            other => {
                return Err(MergeError::Invalid {
                    name: name.to_string(),
                    message: format!(
                        "root element is <{other}>, not <testsuites> or <testsuite>: not a JUnit report"
                    ),
                })
            }
        };
        for suite in file_suites {
            count(suite, &mut total);
            let mut started = serde_json::Map::new();
            if let Some(spec) = property(suite, "partition") {
                let cut = property(suite, "partition.cut").unwrap_or_default();
                selected = selected.max(
                    property(suite, "partition.selected")
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0),
                );
                started.insert(
                    "partition".into(),
                    serde_json::json!({"spec": spec, "cut": cut, "selection": []}),
                );
            }
            partitions.push((name, started));
            match exit_code_property(suite) {
                Some(code) => codes.push(code),
                None => codes_complete = false,
            }
            for case in suite.descendants().filter(|n| n.has_tag_name("testcase")) {
                let key = (
                    case.attribute("classname").unwrap_or("").to_string(),
                    case.attribute("name").unwrap_or("").to_string(),
                );
                if let Some(other) = seen.insert(key.clone(), name) {
                    if other != name {
                        warnings.push(format!(
                            "testcase {} is in both {other} and {name}: were all shards run with \
                             the same --partition kind, N and history?",
                            key.1
                        ));
                    }
                }
            }
            suites.push(&report.text[suite.range()]);
        }
    }

    let mut text = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // `skipped` is what GitLab, GitHub and Jenkins read (quick-junit's `disabled` is not).
    let _ = writeln!(
        text,
        "<testsuites name=\"{ROOT_NAME}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        total.tests, total.failures, total.errors, total.skipped, total.time
    );
    for suite in suites {
        text.push_str("    ");
        text.push_str(suite);
        text.push('\n');
    }
    text.push_str("</testsuites>\n");

    Ok(Merged {
        format: ReportFormat::Junit,
        text,
        reports: reports.len(),
        tests: total.tests,
        failed: total.failures + total.errors,
        // Worst of what was recorded only if every suite recorded one: a foreign suite could
        // have failed for all we know.
        exit_code: if codes_complete {
            worst_exit_code(codes)
        } else {
            None
        },
        warnings,
        disagreements: {
            let sides: Vec<super::shards::ShardSide> = partitions
                .iter()
                .map(|(name, started)| super::shards::ShardSide {
                    name,
                    started,
                    finished: Vec::new(),
                })
                .collect();
            let mut problems = super::shards::disagreements(&sides);
            // JUnit carries the count of the selection, not its ids.
            if selected > seen.len() {
                let n = selected - seen.len();
                problems.push(format!(
                    "{n} selected test{} ran in no shard (the JUnit reports do not name the \
                     selection; merge the --json reports to see which)",
                    if n == 1 { "" } else { "s" }
                ));
            }
            problems
        },
    })
}

/// The value of the suite's property `name`.
fn property(suite: Node, name: &str) -> Option<String> {
    suite
        .children()
        .filter(|n| n.has_tag_name("properties"))
        .flat_map(|p| p.children())
        .find(|p| p.has_tag_name("property") && p.attribute("name") == Some(name))
        .and_then(|p| p.attribute("value"))
        .map(str::to_string)
}

/// Counts from the testcases themselves rather than the suite's attributes, which other tools
/// fill differently (or not at all).
fn count(suite: Node, total: &mut Counts) {
    for case in suite.descendants().filter(|n| n.has_tag_name("testcase")) {
        total.tests += 1;
        let has = |tag: &str| case.children().any(|c| c.has_tag_name(tag));
        if has("failure") {
            total.failures += 1;
        } else if has("error") {
            total.errors += 1;
        } else if has("skipped") {
            total.skipped += 1;
        }
    }
    total.time += suite
        .attribute("time")
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t >= 0.0)
        .unwrap_or(0.0);
}

/// The `exit_code` property warden's JUnit writer puts on its suite.
fn exit_code_property(suite: Node) -> Option<i32> {
    suite
        .children()
        .filter(|n| n.has_tag_name("properties"))
        .flat_map(|p| p.children())
        .find(|p| p.has_tag_name("property") && p.attribute("name") == Some("exit_code"))
        .and_then(|p| p.attribute("value"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use crate::exit_code::ExitCode;
    use std::time::{Duration, UNIX_EPOCH};

    use super::super::input::merge_texts;
    use super::*;
    use crate::events::{Event, EventKind, Status, Totals};
    use crate::report::junit::JunitReport;
    use crate::report::text::fixtures::{output, result};

    /// A real report from the JUnit writer for a shard whose tests end as given.
    fn shard_xml(run_id: &str, tests: &[(&str, Status)], exit_code: i32) -> String {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ev = |kind| Event { at, kind };
        let mut report = JunitReport::new(run_id);
        report.on_event(&ev(EventKind::RunStarted {
            run_id: run_id.into(),
            selected: tests.len(),
            workers: 1,
            resumed_from: None,
            log_dir: None,
            info: Box::default(),
            partition: None,
        }));
        let mut totals = Totals::default();
        for (id, status) in tests {
            let mut r = result(id, *status, 250);
            // Output with characters XML must escape, to see them survive the copy.
            r.output = output(b"<out> & \"quoted\"\n", b"", 17);
            totals.add(&r);
            report.on_event(&ev(EventKind::TestFinished(Box::new(r))));
        }
        report.on_event(&ev(EventKind::RunFinished {
            run_id: run_id.into(),
            totals,
            duration: Duration::from_millis(1_500),
            exit_code: ExitCode::from_raw(exit_code),
            stopped: None,
        }));
        report.to_xml()
    }

    fn text(name: &str, text: String) -> ReportText {
        ReportText {
            name: name.into(),
            text,
        }
    }

    #[test]
    fn one_document_with_every_testcase() {
        use Status::*;
        let reports = vec![
            text(
                "s1.xml",
                shard_xml("r1", &[("t/a", Pass), ("t/b", Fail)], 1),
            ),
            text("s2.xml", shard_xml("r2", &[("t/c", Skip)], 0)),
            text(
                "s3.xml",
                shard_xml("r3", &[("t/d", Error), ("t/e", Timeout)], 1),
            ),
            text("s4.xml", shard_xml("r4", &[], 0)),
        ];
        let merged = merge_texts(&reports).expect("merge");
        assert_eq!(merged.format, ReportFormat::Junit);
        assert_eq!((merged.reports, merged.tests, merged.failed), (4, 5, 3));
        assert_eq!(merged.exit_code, Some(1));
        assert!(merged.warnings.is_empty(), "{:?}", merged.warnings);
        let doc = Document::parse(&merged.text).unwrap_or_else(|e| panic!("{e}\n{}", merged.text));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        for (attr, want) in [
            ("tests", "5"),
            ("failures", "2"),
            ("errors", "1"),
            ("skipped", "1"),
            ("time", "6.000"),
        ] {
            assert_eq!(root.attribute(attr), Some(want), "{attr}");
        }
        let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
        let names: Vec<_> = suites.iter().filter_map(|s| s.attribute("name")).collect();
        assert_eq!(names, ["r1", "r2", "r3", "r4"]);
        let cases: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .filter_map(|n| n.attribute("name"))
            .collect();
        assert_eq!(cases, ["t/a", "t/b", "t/c", "t/d", "t/e"]);
        // Escaped text is copied as it was written, so it reads back the same.
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .and_then(|n| n.text());
        assert_eq!(failure, Some("<out> & \"quoted\"\n"));
    }

    #[test]
    fn a_bare_testsuite_root_and_foreign_reports_merge_too() {
        let foreign = "<?xml version=\"1.0\"?>\n<testsuite name=\"pytest\" time=\"0.5\">\
                       <testcase classname=\"m\" name=\"t1\"/>\
                       <testcase classname=\"m\" name=\"t2\"><failure message=\"x\"/></testcase>\
                       </testsuite>";
        let reports = vec![
            text("py.xml", foreign.to_string()),
            text("w.xml", shard_xml("r1", &[("t/a", Status::Pass)], 0)),
        ];
        let merged = merge_texts(&reports).expect("merge");
        assert_eq!((merged.tests, merged.failed), (3, 1));
        assert_eq!(
            merged.exit_code, None,
            "the foreign suite recorded no exit code"
        );
        let doc = Document::parse(&merged.text).expect("valid");
        assert_eq!(doc.root_element().attribute("time"), Some("2.000"));
    }

    #[test]
    fn a_testcase_in_two_reports_is_warned_about() {
        let reports = vec![
            text("a.xml", shard_xml("r1", &[("t/a", Status::Pass)], 0)),
            text("b.xml", shard_xml("r2", &[("t/a", Status::Pass)], 0)),
        ];
        let merged = merge_texts(&reports).expect("merge");
        assert_eq!(merged.warnings.len(), 1, "{:?}", merged.warnings);
        assert!(merged.warnings[0].starts_with("testcase t/a is in both a.xml and b.xml"));
    }

    #[test]
    fn broken_xml_is_named_with_the_line() {
        let good = shard_xml("r1", &[("t/a", Status::Pass)], 0);
        let cases = [
            (
                good.replace("</testsuites>", ""),
                "bad.xml:",
                "not well-formed XML",
            ),
            (
                "<?xml version=\"1.0\"?>\n<html><body/></html>".to_string(),
                "bad.xml: root element is <html>",
                "not a JUnit report",
            ),
            (
                "<testsuite>\n<testcase>\n</testsuite>".to_string(),
                "bad.xml:3: not well-formed XML",
                "",
            ),
        ];
        for (body, prefix, part) in cases {
            let reports = [text("ok.xml", good.clone()), text("bad.xml", body)];
            let err = merge_texts(&reports).expect_err(prefix).to_string();
            assert!(err.starts_with(prefix) && err.contains(part), "{err}");
        }
    }
}
