use super::*;
use crate::events::Subtests;

fn parse(text: &str) -> TapReport {
    TapParser::parse(text.as_bytes())
}

/// Same input fed one byte at a time: the report must not change.
fn parse_bytewise(bytes: &[u8]) -> TapReport {
    let mut p = TapParser::new();
    for b in bytes {
        p.feed(std::slice::from_ref(b));
    }
    p.finish()
}

fn reason(text: &str) -> Option<String> {
    parse(text).failure_reason()
}

fn counts(r: &TapReport) -> (u32, u32, u32, u32) {
    (r.passed, r.failed, r.skipped, r.todo)
}

#[test]
fn a_passing_stream() {
    let r = parse("TAP version 14\n1..3\nok 1 - a\nok 2 - b\n# a comment\nok 3 - c\n");
    assert!(r.is_tap);
    assert_eq!(r.version, Some(14));
    assert_eq!(
        r.plan,
        Some(Plan {
            first: 1,
            last: 3,
            skip_all: None
        })
    );
    assert_eq!(r.tests_run, 3);
    assert_eq!(counts(&r), (3, 0, 0, 0));
    assert!(r.problems.is_empty() && r.failures.is_empty() && r.warnings.is_empty());
    assert_eq!(r.failure_reason(), None);
    assert_eq!(
        r.subtests(),
        Subtests {
            passed: 3,
            failed: 0,
            skipped: 0,
            cases: Vec::new()
        }
    );
}

#[test]
fn detection_needs_a_plan_or_version_first_or_a_trailing_plan() {
    assert!(parse("1..1\nok 1\n").is_tap);
    assert!(
        parse("\n  \r\n\t\n1..1\nok 1\n").is_tap,
        "blank lines first"
    );
    assert!(parse("TAP version 13\nok 1\n1..1\n").is_tap);
    for not_tap in [
        "",
        "\n\n",
        "hello\n1..1\nok 1\n",
        "# comment\nhello\n1..1\nok 1\n",
        "ok 1\nok 2\n",
        "ok\n",
        "okay\n1..1\n",
        "  1..1\nok 1\n",
        "TAP version 12\n1..1\nok 1\n",
        "TAP version 14 \u{1F600}\n1..1\n",
        "1..3 tests\nok 1\n",
        "\u{feff}1..1\nok 1\n",
    ] {
        let r = parse(not_tap);
        assert!(!r.is_tap, "{not_tap:?}");
        assert_eq!(r, TapReport::default(), "{not_tap:?}");
        assert_eq!(r.failure_reason(), None, "{not_tap:?}");
    }
}

#[test]
fn not_tap_output_with_failures_later_is_ignored() {
    let r = parse("compiling...\n1..2\nnot ok 1\nBail out!\n");
    assert_eq!(r, TapReport::default());
}

#[test]
fn is_tap_is_known_as_soon_as_possible() {
    let mut p = TapParser::new();
    assert_eq!(p.is_tap(), None);
    p.feed(b"   \n1..");
    assert_eq!(p.is_tap(), None, "an unfinished plan");
    p.feed(b"2\n");
    assert_eq!(p.is_tap(), Some(true));

    let mut p = TapParser::new();
    p.feed(b"Compiling");
    assert_eq!(p.is_tap(), Some(false), "decided before any newline");
    let mut p = TapParser::new();
    p.feed(b"TAP vers");
    assert_eq!(p.is_tap(), None);
    p.feed(b"ion 13");
    assert_eq!(p.is_tap(), None);
    p.feed(b"\n");
    assert_eq!(p.is_tap(), Some(true));
    let mut p = TapParser::new();
    p.feed(b"  \t ");
    assert_eq!(p.is_tap(), None);
    p.feed(b" x");
    assert_eq!(p.is_tap(), Some(false), "indented text is never a header");
}

#[test]
fn not_tap_does_no_more_work_and_keeps_no_memory() {
    let mut p = TapParser::new();
    p.feed(b"this is not TAP\n");
    assert_eq!(p.is_tap(), Some(false));
    let junk = vec![b'x'; 1 << 20];
    for _ in 0..16 {
        p.feed(&junk);
    }
    assert_eq!(p.line.capacity(), 0);
    assert_eq!(p.finish(), TapReport::default());
}

#[test]
fn not_ok_fails_the_file_and_is_described() {
    let r = parse("1..3\nok 1 - first\nnot ok 2 - adds \\# numbers\nnot ok\n");
    assert_eq!(counts(&r), (1, 2, 0, 0));
    assert_eq!(r.failures, vec!["not ok 2 - adds # numbers", "not ok 3"]);
    assert_eq!(
        r.failure_reason().unwrap(),
        "2 TAP tests failed (not ok 2 - adds # numbers, not ok 3)"
    );
    assert!(r.problems.is_empty());
}

#[test]
fn skip_directive_counts_as_skipped_never_failed() {
    let r = parse(
        "1..4\nok 1 - a # SKIP no db\nnot ok 2 - b # skip broken\nok 3 #Skipped: later\nok 4\n",
    );
    assert_eq!(counts(&r), (1, 0, 3, 0));
    assert_eq!(r.failure_reason(), None);
    assert_eq!(r.subtests().skipped, 3);
}

#[test]
fn todo_directive_counts_separately_and_does_not_fail() {
    let r = parse("1..3\nnot ok 1 - later # TODO not written\nok 2 - bonus # todo\nok 3\n");
    assert_eq!(counts(&r), (1, 0, 0, 2));
    assert_eq!(r.failure_reason(), None);
    assert_eq!(
        r.subtests(),
        Subtests {
            passed: 1,
            failed: 0,
            skipped: 2,
            cases: Vec::new()
        }
    );
}

#[test]
fn escaped_hash_does_not_make_a_directive() {
    let r = parse("1..1\nnot ok 1 - hello \\# TODO\n");
    assert_eq!(counts(&r), (0, 1, 0, 0));
    assert_eq!(r.failures, vec!["not ok 1 - hello # TODO"]);
}

#[test]
fn skip_all_plan_is_not_a_failure() {
    for (text, why) in [
        ("1..0 # SKIP no network\n", "no network"),
        (
            "TAP version 14\n1..0 # skip because English-to-French translator isn't installed",
            "because English-to-French translator isn't installed",
        ),
        (
            "1..0 # Skipped: WWW::Mechanize not installed\n",
            "WWW::Mechanize not installed",
        ),
        (
            "1..0 # WWW::Mechanize not installed\n",
            "WWW::Mechanize not installed",
        ),
        ("1..0\n", ""),
    ] {
        let r = parse(text);
        assert!(r.is_tap, "{text:?}");
        assert_eq!(
            r.plan.as_ref().unwrap().skip_all.as_deref(),
            Some(why),
            "{text:?}"
        );
        assert_eq!(r.failure_reason(), None, "{text:?}");
        assert_eq!(r.skip_all_reason().as_deref(), Some(why), "{text:?}");
    }
    let r = parse("1..0 # SKIP nothing\nok 1\n");
    assert_eq!(r.failure_reason().unwrap(), "plan 1..0 but 1 test ran");
    assert_eq!(r.skip_all_reason(), None);
}

#[test]
fn plan_may_come_last() {
    let r = parse("TAP version 14\nok 1 - a\nnot ok 2 - b # TODO\nok 3 - c\n1..3\n");
    assert_eq!(r.plan.as_ref().map(Plan::expected), Some(3));
    assert_eq!(r.failure_reason(), None);
}

/// Perl's `done_testing`: test points first (after comments), the plan last. Without a plan
/// by the end, output that merely starts with `ok` is not TAP.
#[test]
fn auto_detects_a_trailing_plan_after_test_points() {
    let r = parse("# Testing Foo 1.2\nok 1 - a\nok 2 - b # SKIP no db\n# diag\nok 3\n1..3\n");
    assert!(r.is_tap);
    assert_eq!(r.failure_reason(), None);
    assert_eq!(
        r.subtests(),
        Subtests {
            passed: 2,
            failed: 0,
            skipped: 1,
            cases: Vec::new()
        }
    );
    let r = parse("ok 1\nnot ok 2 - broken\n1..2\n");
    assert!(r.is_tap);
    assert!(r.failure_reason().unwrap().contains("not ok 2"), "{r:?}");
    // Chunking does not change the decision.
    let text = b"# x\nok 1\n1..1\n";
    let mut p = TapParser::new();
    for b in text {
        p.feed(std::slice::from_ref(b));
    }
    assert_eq!(p.finish(), parse("# x\nok 1\n1..1\n"));
    for prose in ["ok\n", "ok 1\nnot ok 2\n", "# hi\nok then\ndone\n"] {
        assert_eq!(parse(prose), TapReport::default(), "{prose:?}");
    }
}

#[test]
fn plan_mismatch_fails() {
    assert_eq!(
        reason("1..3\nok 1\nok 2\n").unwrap(),
        "plan 1..3 but 2 tests ran"
    );
    assert_eq!(
        reason("ok 1\nok 2\n1..1\n").unwrap(),
        "plan 1..1 but 2 tests ran",
        "a trailing plan"
    );
    assert_eq!(
        reason("TAP version 13\nok 1\nok 2\n1..1\n").unwrap(),
        "plan 1..1 but 2 tests ran"
    );
    assert_eq!(
        reason("1..2\nok\nok\nok\n").unwrap(),
        "plan 1..2 but 3 tests ran"
    );
    assert_eq!(
        reason("1..6\nnot ok\nok\nnot ok\nok\nok\n").unwrap(),
        "2 TAP tests failed (not ok 1, not ok 3); plan 1..6 but 5 tests ran"
    );
}

#[test]
fn missing_plan_fails() {
    assert_eq!(
        reason("TAP version 14\nok 1\n").unwrap(),
        "no plan (1 test ran)"
    );
    assert_eq!(reason("TAP version 14\n").unwrap(), "no plan (0 tests ran)");
}

#[test]
fn duplicate_plan_fails_once() {
    let r = parse("1..2\nok 1\nok 2\n1..2\n1..3\n");
    assert_eq!(r.problems, vec!["more than one plan (1..2, then 1..2)"]);
    assert!(r.failure_reason().is_some());
    assert_eq!(r.plan.as_ref().unwrap().last, 2, "the first plan is kept");
}

#[test]
fn test_points_after_a_trailing_plan_fail() {
    let r = parse("TAP version 14\nok 1\n1..2\nok 2\nok 3\n");
    assert_eq!(
        r.problems,
        vec![
            "test point after the trailing plan 1..2",
            "plan 1..2 but 3 tests ran"
        ]
    );
    // A leading plan followed by test points is the normal case.
    assert!(parse("1..1\nok 1\n").problems.is_empty());
}

#[test]
fn invalid_plans_fail() {
    assert_eq!(
        reason("TAP version 14\n0..2\nok\nok\n").unwrap(),
        "invalid plan 0..2"
    );
    assert_eq!(
        reason("TAP version 14\n3..1\n").unwrap(),
        "invalid plan 3..1"
    );
}

#[test]
fn out_of_order_ids_are_a_warning_but_ids_outside_the_plan_fail() {
    // Valid TAP 14: any order, all inside the plan.
    let r = parse("1..3\nok 2\nok 3\nok 1\n");
    assert_eq!(r.failure_reason(), None);
    assert_eq!(
        r.warnings,
        vec![
            "test 2 out of order (expected 1)",
            "test 3 out of order (expected 2)",
            "test 1 out of order (expected 3)"
        ]
    );
    assert_eq!(
        reason("1..3\nok 2\nok 4\nok 1\n").unwrap(),
        "test 4 outside plan 1..3"
    );
    assert_eq!(
        reason("1..2\nok 0\nok 1\n").unwrap(),
        "test 0 outside plan 1..2"
    );
    assert_eq!(
        reason("TAP version 14\nok 1\nok 7\n1..2\n").unwrap(),
        "test 7 outside plan 1..2",
        "checked against a trailing plan too"
    );
    // A plan starting past 1 is tolerated, with ids checked against its range.
    assert_eq!(reason("5..6\nok 5\nok 6\n"), None);
    assert_eq!(
        reason("5..6\nok 4\nok 5\n").unwrap(),
        "test 4 outside plan 5..6"
    );
}

#[test]
fn bail_out_stops_counting_and_fails() {
    let r = parse("1..5\nok 1\nnot ok 2 - db\nBail out! db \\# down\nnot ok 3\nok 4\n1..9\n");
    assert_eq!(r.bailed_out.as_deref(), Some("db # down"));
    assert_eq!(counts(&r), (1, 1, 0, 0));
    assert_eq!(r.tests_run, 2);
    assert_eq!(
        r.problems,
        vec!["bail out: db # down"],
        "no plan mismatch on top"
    );
    assert_eq!(
        r.failure_reason().unwrap(),
        "1 TAP test failed (not ok 2 - db); bail out: db # down"
    );

    let r = parse("1..1\nok 1\nBAIL OUT!\n");
    assert_eq!(r.bailed_out.as_deref(), Some(""));
    assert_eq!(r.failure_reason().unwrap(), "bail out");
    assert!(
        parse("1..1\nok 1\nBail out\n").failure_reason().is_none(),
        "needs the `!`"
    );
}

#[test]
fn bail_out_inside_a_subtest_stops_the_file() {
    let r = parse("TAP version 14\n1..2\n# Subtest: db\n    1..2\n    ok 1\n    Bail out! no db\nok 1\nok 2\n");
    assert_eq!(r.bailed_out.as_deref(), Some("no db"));
    assert_eq!(r.tests_run, 0);
    // Indented by other than a multiple of 4, it is not TAP.
    let r = parse("1..1\nok 1\n   Bail out! nope\n");
    assert_eq!(r.failure_reason(), None);
}

#[test]
fn yaml_blocks_are_ignored() {
    let text = "\
TAP version 14
1..2
not ok 1 - resolve
  ---
  message: 'failed'
  data: |
    not ok 7
    Bail out! this is YAML text
    1..9

  ...
ok 2 - after
";
    let r = parse(text);
    assert_eq!(counts(&r), (1, 1, 0, 0));
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.failures, vec!["not ok 1 - resolve"]);
}

#[test]
fn yaml_without_terminator_ends_at_a_less_indented_line() {
    let r = parse("1..2\nok 1\n  ---\n  a: 1\nnot ok 2 - counted\n");
    assert_eq!(counts(&r), (1, 1, 0, 0));
    assert_eq!(r.tests_run, 2);
}

#[test]
fn yaml_opens_only_after_a_test_point() {
    // Not after a test point: `---` is plain indented text and the bail out counts.
    let r = parse("1..1\n# x\nsome text\n  ---\n    Bail out! real\nok 1\n");
    assert_eq!(r.bailed_out.as_deref(), Some("real"));
    // Comments may sit between a test point and its YAML block.
    let r = parse("1..1\nok 1\n# note\n  ---\n    Bail out! yaml\n  ...\n");
    assert_eq!(r.bailed_out, None);
    assert_eq!(r.failure_reason(), None);
}

#[test]
fn subtests_count_only_through_their_parent_line() {
    let text = "\
TAP version 14
1..3
ok 1 - in the parent
# Subtest: nested
    1..2
    ok 1 - inner
    not ok 2 - inner failure
      ---
      at: x
      ...
        # Subtest: deeper
            ok 1
            1..1
        ok 3 - deeper
not ok 2 - nested
    ok 1 - bare subtest
    1..1
ok 3 - bare
";
    let r = parse(text);
    assert_eq!(r.tests_run, 3);
    assert_eq!(counts(&r), (2, 1, 0, 0));
    assert_eq!(r.failures, vec!["not ok 2 - nested"]);
    assert_eq!(r.problems, Vec::<String>::new());

    // A failing subtest whose parent says ok (e.g. todo inside) passes: the parent decides.
    let r = parse("1..1\n    not ok 1 - inner\n    1..1\nok 1 - parent\n");
    assert_eq!(r.failure_reason(), None);
}

#[test]
fn pragmas_and_unknown_lines_are_ignored() {
    let r = parse(
        "TAP version 14\npragma +strict\n1..2\nsome noise\nokay\nok 1\n!!not TAP!!\n\tok 9\nok 2\n",
    );
    assert_eq!(counts(&r), (2, 0, 0, 0));
    assert_eq!(r.failure_reason(), None);
}

#[test]
fn crlf_and_trailing_whitespace_are_tolerated() {
    let r = parse("TAP version 13\r\n1..2\r\nok 1 - a \r\nnot ok 2 - b # TODO x\r\n");
    assert_eq!(r.version, Some(13));
    assert_eq!(counts(&r), (1, 0, 0, 1));
    assert_eq!(r.failure_reason(), None);
    let r = parse("1..1\r\nnot ok 1 - b\r\n");
    assert_eq!(r.failures, vec!["not ok 1 - b"]);
}

#[test]
fn invalid_utf8_is_fine() {
    let r = TapParser::parse(b"1..2\nok 1 - caf\xe9\nnot ok 2 - \xff\xfe\n");
    assert_eq!(counts(&r), (1, 1, 0, 0));
    assert_eq!(r.failures, vec!["not ok 2 - \u{fffd}\u{fffd}"]);
}

#[test]
fn last_line_without_newline_counts() {
    let r = parse("1..2\nok 1\nnot ok 2");
    assert_eq!(counts(&r), (1, 1, 0, 0));
    let r = parse("1..0 # SKIP x");
    assert_eq!(r.skip_all_reason().as_deref(), Some("x"));
}

#[test]
fn version_line_only_counts_first() {
    let r = parse("1..1\nTAP version 14\nok 1\nTAP version 99\n");
    assert_eq!(r.version, None);
    assert_eq!(
        r.warnings,
        vec![
            "`TAP version` line after the start ignored",
            "unsupported TAP version 99"
        ]
    );
    assert_eq!(r.failure_reason(), None);
}

#[test]
fn assume_tap_accepts_output_without_a_header() {
    let mut p = TapParser::assume_tap();
    p.feed(b"# Perl done_testing style\nok 1 - a\nok 2 - b\n1..2\n");
    let r = p.finish();
    assert!(r.is_tap);
    assert_eq!(r.failure_reason(), None);

    let mut p = TapParser::assume_tap();
    p.feed(b"TAP version 14\nok 1\n1..1\n");
    assert_eq!(p.finish().version, Some(14));

    let r = TapParser::assume_tap().finish();
    assert_eq!(r.failure_reason().unwrap(), "no plan (0 tests ran)");
    let mut p = TapParser::assume_tap();
    p.feed(b"hello world\n");
    assert_eq!(
        p.finish().failure_reason().unwrap(),
        "no plan (0 tests ran)"
    );
}

#[test]
fn a_huge_line_is_truncated_and_parsing_goes_on() {
    let mut p = TapParser::new();
    p.feed(b"1..3\nok 1\nnot ok 2 - ");
    let chunk = vec![b'y'; 1 << 20];
    for _ in 0..64 {
        p.feed(&chunk);
        assert!(p.line.capacity() <= LINE_CAP, "{}", p.line.capacity());
    }
    p.feed(b" # TODO this directive is past the cap\nok 3\n");
    let r = p.finish();
    assert_eq!(counts(&r), (2, 1, 0, 0));
    let failure = &r.failures[0];
    assert!(failure.starts_with("not ok 2 - yyy"), "{failure}");
    assert!(failure.chars().count() < 250, "{}", failure.len());
}

#[test]
fn an_overlong_first_line_is_judged_on_its_head() {
    // A plan comment longer than the cap is still a plan, in one piece or byte by byte.
    let mut text = b"1..1 # ".to_vec();
    text.extend(vec![b'c'; LINE_CAP * 2]);
    text.extend(b"\nok 1\n");
    let r = TapParser::parse(&text);
    assert!(r.is_tap);
    assert_eq!(r.failure_reason(), None);
    assert_eq!(parse_bytewise(&text), r);

    // Blank for longer than the cap, then text: the kept head is blank, so still undecided.
    let mut text = vec![b' '; LINE_CAP];
    text.extend(b"text\n1..1\nok 1\n");
    let r = TapParser::parse(&text);
    assert!(r.is_tap);
    assert_eq!(parse_bytewise(&text), r);
}

#[test]
fn failures_and_warnings_are_bounded_but_counts_exact() {
    let mut text = String::from("1..1000\n");
    for i in 0..1000 {
        text.push_str(&format!("not ok {} - f{i}\n", 1000 - i));
    }
    let r = parse(&text);
    assert_eq!(r.failed, 1000);
    assert_eq!(r.failures.len(), MAX_LISTED);
    assert_eq!(r.failures[0], "not ok 1000 - f0");
    assert_eq!(r.warnings.len(), MAX_LISTED + 1);
    assert_eq!(
        r.warnings.last().unwrap(),
        &format!("{} more warnings", 1000 - MAX_LISTED)
    );
    assert!(r
        .failure_reason()
        .unwrap()
        .starts_with("1000 TAP tests failed ("));
}

#[test]
fn chunk_boundaries_do_not_matter() {
    let text =
        "TAP version 14\r\n1..4\r\nok 1 - a # SKIP x\r\nnot ok 2 - b\n  ---\n  x: 1\n  ...\n\
                # Subtest\n    ok 1\n    1..1\nok 3\nnot ok 4 # TODO\nBail out! stop\nok 5\n";
    let whole = parse(text);
    assert_eq!(parse_bytewise(text.as_bytes()), whole);
    for split in 0..text.len() {
        let mut p = TapParser::new();
        p.feed(&text.as_bytes()[..split]);
        p.feed(&text.as_bytes()[split..]);
        assert_eq!(p.finish(), whole, "split at {split}");
    }
}
