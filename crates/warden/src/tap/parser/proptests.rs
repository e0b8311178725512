//! Property tests: no input panics, chunking never changes a report, and generated TAP
//! documents are counted and judged as their model says.

use proptest::prelude::*;

use super::*;

/// Feed `bytes` cut at `cuts` (taken modulo the length, in any order).
fn feed_chunked(mut p: TapParser, bytes: &[u8], cuts: &[usize]) -> TapReport {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut start = 0;
    for cut in cuts {
        p.feed(&bytes[start..cut]);
        start = cut;
    }
    p.feed(&bytes[start..]);
    p.finish()
}

fn whole(p: TapParser, bytes: &[u8]) -> TapReport {
    feed_chunked(p, bytes, &[])
}

/// Pieces of TAP and near-TAP, glued at random: random bytes alone almost never look like TAP.
const FRAGMENTS: &[&str] = &[
    "TAP version 14\n",
    "TAP version 13\n",
    "TAP version ",
    "1..3\n",
    "1..0 # SKIP x\n",
    "1..",
    "ok",
    "ok ",
    "ok 1",
    "not ok",
    "not ok 2 - x",
    " - ",
    " # SKIP",
    " # TODO",
    " #todo",
    "#",
    "\\#",
    "\\\\",
    "\\",
    "Bail out!",
    "bail out! x\n",
    "    ",
    "  ",
    "  ---\n",
    "  ...\n",
    "---",
    "...",
    "pragma +strict\n",
    "# Subtest: a\n",
    "99999999999999999999999",
    "18446744073709551615",
    "..",
    "0",
    "1",
    "7",
    "T",
    "\r",
    "\n",
    "\r\n",
    " ",
    "\t",
    "é",
    "\u{feff}",
];

fn tapish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => prop::sample::select(FRAGMENTS).prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..4),
    ];
    // Most interesting streams start like a header, so the first-line decision is exercised.
    let head = prop::sample::select(
        &[
            "",
            "1..3\n",
            "1..3\r\n",
            "1..2 # two\n",
            "TAP version 14\n",
            "1..0 # skip\n",
            "\n1..",
            "TAP",
            " ",
        ][..],
    );
    (head, prop::collection::vec(piece, 0..120))
        .prop_map(|(head, pieces)| [head.as_bytes().to_vec(), pieces.concat()].concat())
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(any::<usize>(), 0..24)
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_chunking_is_invisible(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        cuts in cuts(),
    ) {
        prop_assert_eq!(feed_chunked(TapParser::new(), &bytes, &cuts), whole(TapParser::new(), &bytes));
        let forced = whole(TapParser::assume_tap(), &bytes);
        prop_assert_eq!(feed_chunked(TapParser::assume_tap(), &bytes, &cuts), forced.clone());
        let _ = forced.failure_reason();
        let _ = forced.subtests();
    }

    #[test]
    fn tap_like_bytes_never_panic_and_chunking_is_invisible(bytes in tapish(), cuts in cuts()) {
        let auto = whole(TapParser::new(), &bytes);
        prop_assert_eq!(feed_chunked(TapParser::new(), &bytes, &cuts), auto.clone());
        let forced = whole(TapParser::assume_tap(), &bytes);
        prop_assert_eq!(feed_chunked(TapParser::assume_tap(), &bytes, &cuts), forced.clone());
        for r in [&auto, &forced] {
            let _ = r.failure_reason();
            let _ = r.skip_all_reason();
            prop_assert!(r.failures.len() <= MAX_LISTED);
            prop_assert!(r.warnings.len() <= MAX_LISTED + 1);
            prop_assert_eq!(
                u64::from(r.passed) + u64::from(r.failed) + u64::from(r.skipped) + u64::from(r.todo),
                r.tests_run
            );
        }
    }

    #[test]
    fn generated_documents_match_their_model(doc in document(), cuts in cuts()) {
        let (text, want) = doc.render();
        let parser = if doc.version || doc.plan == PlanAt::Lead {
            TapParser::new()
        } else {
            TapParser::assume_tap()
        };
        let got = feed_chunked(parser, text.as_bytes(), &cuts);
        prop_assert!(got.is_tap);
        prop_assert_eq!((got.passed, got.failed, got.skipped, got.todo), want.counts, "{}", text);
        prop_assert_eq!(got.tests_run, want.tests_run, "{}", text);
        prop_assert_eq!(&got.failures, &want.failures, "{}", text);
        prop_assert_eq!(&got.problems, &want.problems, "{}", text);
        prop_assert_eq!(got.warnings.len(), 0, "{}", text);
        prop_assert_eq!(got.failure_reason().is_some(), want.fails, "{}", text);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlanAt {
    Lead,
    Trail,
    Missing,
}

#[derive(Debug, Clone)]
enum Item {
    Point {
        ok: bool,
        directive: Option<(Directive, &'static str)>,
        numbered: bool,
        desc: String,
        yaml: bool,
    },
    Subtest {
        parent_ok: bool,
        desc: String,
    },
    Comment,
    Blank(&'static str),
    Junk(&'static str),
}

#[derive(Debug, Clone)]
struct Document {
    version: bool,
    plan: PlanAt,
    /// Planned count minus the real count.
    plan_delta: i64,
    items: Vec<Item>,
    /// Bail out before this item.
    bail: Option<usize>,
    crlf: bool,
}

struct Expected {
    counts: (u32, u32, u32, u32),
    tests_run: u64,
    failures: Vec<String>,
    problems: Vec<String>,
    fails: bool,
}

fn description() -> impl Strategy<Value = String> {
    "[a-z #\\\\]{0,10}".prop_map(|s| s.trim_matches(' ').to_string())
}

fn item() -> impl Strategy<Value = Item> {
    let directive = prop_oneof![
        6 => Just(None),
        1 => prop::sample::select(&[" # SKIP no db", " # skip", " #Skipped: later"][..])
            .prop_map(|s| Some((Directive::Skip, s))),
        1 => prop::sample::select(&[" # TODO later", " # todo", " #TODO: soon"][..])
            .prop_map(|s| Some((Directive::Todo, s))),
    ];
    prop_oneof![
        8 => (any::<bool>(), directive, any::<bool>(), description(), prop::bool::weighted(0.2))
            .prop_map(|(ok, directive, numbered, desc, yaml)| Item::Point { ok, directive, numbered, desc, yaml }),
        1 => (any::<bool>(), description()).prop_map(|(parent_ok, desc)| Item::Subtest { parent_ok, desc }),
        1 => Just(Item::Comment),
        1 => prop::sample::select(&["", "   ", "\t"][..]).prop_map(Item::Blank),
        1 => prop::sample::select(&[
            "hello world", "okay", "pragma +strict", "Bail out", "1..x", "  indented text",
            "\tok 5", "TAP version 13 no", "nothing ok", "  ...",
        ][..]).prop_map(Item::Junk),
    ]
}

fn document() -> impl Strategy<Value = Document> {
    let plan = prop_oneof![
        Just(PlanAt::Lead),
        Just(PlanAt::Trail),
        Just(PlanAt::Missing)
    ];
    let delta = prop_oneof![6 => Just(0i64), 1 => Just(1), 1 => Just(-1), 1 => Just(3)];
    (
        any::<bool>(),
        plan,
        delta,
        prop::collection::vec(item(), 0..40),
        prop::option::weighted(0.15, 0usize..40),
        any::<bool>(),
    )
        .prop_map(|(version, plan, plan_delta, items, bail, crlf)| Document {
            version,
            plan,
            plan_delta,
            items,
            bail,
            crlf,
        })
}

fn escape(desc: &str) -> String {
    desc.replace('\\', "\\\\").replace('#', "\\#")
}

impl Document {
    fn render(&self) -> (String, Expected) {
        let total = self
            .items
            .iter()
            .filter(|i| matches!(i, Item::Point { .. } | Item::Subtest { .. }))
            .count() as i64;
        let planned = (total + self.plan_delta).max(0) as u64;
        let plan_line = if planned == 0 {
            "1..0 # SKIP nothing to do".to_string()
        } else {
            format!("1..{planned}")
        };

        let mut lines: Vec<String> = Vec::new();
        if self.version {
            lines.push("TAP version 14".into());
        }
        if self.plan == PlanAt::Lead {
            lines.push(plan_line.clone());
        }
        let mut counts = (0u32, 0u32, 0u32, 0u32);
        let mut position = 0u64;
        let mut max_numbered = 0u64;
        let mut failures = Vec::new();
        let mut bailed = false;
        for (i, item) in self.items.iter().enumerate() {
            if self.bail == Some(i) {
                lines.push("Bail out! why".into());
                bailed = true;
            }
            let (ok, directive, numbered, desc) = match item {
                Item::Point {
                    ok,
                    directive,
                    numbered,
                    desc,
                    ..
                } => (*ok, *directive, *numbered, desc),
                Item::Subtest { parent_ok, desc } => {
                    lines.push(format!("# Subtest: {desc}"));
                    for inner in [
                        "    1..2",
                        "    ok 1 - inner",
                        "    not ok 2 - inner",
                        "      ---",
                        "      ...",
                    ] {
                        lines.push(inner.into());
                    }
                    (*parent_ok, None, true, desc)
                }
                Item::Comment => {
                    lines.push("# not ok 3 - only a comment".into());
                    continue;
                }
                Item::Blank(s) | Item::Junk(s) => {
                    lines.push((*s).into());
                    continue;
                }
            };
            position += 1;
            let mut line = String::from(if ok { "ok" } else { "not ok" });
            if numbered {
                line.push_str(&format!(" {position}"));
            }
            if !desc.is_empty() {
                line.push_str(&format!(" - {}", escape(desc)));
            }
            if let Some((_, text)) = directive {
                line.push_str(text);
            }
            lines.push(line);
            if let Item::Point { yaml: true, .. } = item {
                for y in [
                    "  ---",
                    "  message: not ok 9",
                    "  data: |",
                    "    Bail out! inside yaml",
                    "    1..99",
                    "",
                    "  ...",
                ] {
                    lines.push(y.into());
                }
            }
            if bailed {
                continue;
            }
            if numbered {
                max_numbered = position;
            }
            match (directive, ok) {
                (Some((Directive::Skip, _)), _) => counts.2 += 1,
                (Some((Directive::Todo, _)), _) => counts.3 += 1,
                (None, true) => counts.0 += 1,
                (None, false) => {
                    counts.1 += 1;
                    if failures.len() < MAX_LISTED {
                        failures.push(if desc.is_empty() {
                            format!("not ok {position}")
                        } else {
                            format!("not ok {position} - {desc}")
                        });
                    }
                }
            }
        }
        if self.plan == PlanAt::Trail {
            lines.push(plan_line);
        }
        let tests_run = u64::from(counts.0 + counts.1 + counts.2 + counts.3);

        let mut problems = Vec::new();
        let ran = |n: u64| format!("{n} test{} ran", if n == 1 { "" } else { "s" });
        if bailed {
            problems.push("bail out: why".to_string());
        } else if self.plan == PlanAt::Missing {
            problems.push(format!("no plan ({})", ran(tests_run)));
        } else {
            if planned != tests_run {
                problems.push(format!("plan 1..{planned} but {}", ran(tests_run)));
            } else if max_numbered > planned {
                problems.push(format!("test {max_numbered} outside plan 1..{planned}"));
            }
        }
        let fails = counts.1 > 0 || !problems.is_empty();
        let sep = if self.crlf { "\r\n" } else { "\n" };
        let text = lines.join(sep) + sep;
        let expected = Expected {
            counts,
            tests_run,
            failures,
            problems,
            fails,
        };
        (text, expected)
    }
}
