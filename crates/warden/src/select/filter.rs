//! Which discovered tests run, and in which order.

use super::shuffle::shuffle;
use crate::config::{Selection, SlowMode};
use crate::test_case::TestCase;

/// The tests to run, in order, and how many were left out.
#[derive(Debug, Clone, Default)]
pub struct Selected {
    pub tests: Vec<TestCase>,
    /// Tests left out only because they are `@slow` (worth a hint: `--include-slow`).
    pub deselected_slow: usize,
    /// All tests left out, the slow ones included.
    pub deselected: usize,
}

/// Applies levels, tags, excluded tags, the slow mode, `--only-skipped` and `-k` filters, then
/// orders by id, or shuffles reproducibly when the selection has a seed.
pub fn select(tests: Vec<TestCase>, sel: &Selection) -> Selected {
    let total = tests.len();
    let mut deselected_slow = 0;
    let mut kept: Vec<TestCase> = tests
        .into_iter()
        .filter(|t| {
            if !wanted(t, sel) {
                return false;
            }
            match sel.slow {
                SlowMode::Exclude if t.slow => {
                    deselected_slow += 1;
                    false
                }
                SlowMode::Only => t.slow,
                _ => true,
            }
        })
        .collect();
    // Sort first so that a seed gives the same order whatever order discovery produced.
    kept.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(seed) = sel.shuffle_seed {
        shuffle(&mut kept, seed);
    }
    Selected {
        deselected: total - kept.len(),
        deselected_slow,
        tests: kept,
    }
}

/// Every filter but the slow mode.
fn wanted(t: &TestCase, sel: &Selection) -> bool {
    let has = |tag: &String| t.tags.contains(tag);
    (sel.levels.is_empty() || t.level.as_ref().is_some_and(|l| sel.levels.contains(l)))
        && (sel.tags.is_empty() || sel.tags.iter().any(has))
        && !sel.exclude_tags.iter().any(has)
        && (!sel.only_skipped || t.skip.is_some())
        && (sel.filters.is_empty() || sel.filters.iter().any(|f| t.id.contains(f.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// `spec`: id, then space-separated flags: `L=level`, `#tag`, `slow`, `skip`.
    fn case(spec: &str) -> TestCase {
        let mut words = spec.split(' ');
        let id = words.next().unwrap().to_string();
        let mut t = TestCase::for_test(&id);
        t.path = PathBuf::from("/w").join(&id);
        for w in words {
            match w {
                "slow" => t.slow = true,
                "skip" => t.skip = Some(String::new()),
                w if w.starts_with("L=") => t.level = Some(w[2..].to_string()),
                w if w.starts_with('#') => t.tags.push(w[1..].to_string()),
                other => panic!("bad spec word {other}"),
            }
        }
        t
    }

    fn fixture() -> Vec<TestCase> {
        [
            "t/unit/a L=unit #db",
            "t/unit/b L=unit #net #db slow",
            "t/int/c L=integration #net",
            "t/sys/d L=system skip",
            "t/e #db",
            "t/f slow skip",
        ]
        .into_iter()
        .map(case)
        .rev() // discovery order must not matter
        .collect()
    }

    fn ids(s: &Selected) -> Vec<&str> {
        s.tests.iter().map(|t| t.id.as_str()).collect()
    }

    fn run(sel: Selection) -> Selected {
        select(fixture(), &sel)
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_keeps_all_but_slow_sorted_by_id() {
        let s = run(Selection::default());
        assert_eq!(ids(&s), ["t/e", "t/int/c", "t/sys/d", "t/unit/a"]);
        assert_eq!((s.deselected, s.deselected_slow), (2, 2));
    }

    #[test]
    fn levels_exclude_tests_without_a_level() {
        let s = run(Selection {
            levels: strings(&["unit", "system"]),
            ..Default::default()
        });
        assert_eq!(ids(&s), ["t/sys/d", "t/unit/a"]);
        assert_eq!(
            (s.deselected, s.deselected_slow),
            (4, 1),
            "only t/unit/b was left out for being slow"
        );
    }

    #[test]
    fn tags_are_any_of_and_exclusions_win() {
        let s = run(Selection {
            tags: strings(&["net", "db"]),
            ..Default::default()
        });
        assert_eq!(ids(&s), ["t/e", "t/int/c", "t/unit/a"]);
        let s = run(Selection {
            tags: strings(&["db"]),
            exclude_tags: strings(&["net"]),
            slow: SlowMode::Include,
            ..Default::default()
        });
        assert_eq!(ids(&s), ["t/e", "t/unit/a"]);
    }

    #[test]
    fn slow_modes() {
        let s = run(Selection {
            slow: SlowMode::Include,
            ..Default::default()
        });
        assert_eq!(s.tests.len(), 6);
        assert_eq!((s.deselected, s.deselected_slow), (0, 0));
        let s = run(Selection {
            slow: SlowMode::Only,
            ..Default::default()
        });
        assert_eq!(ids(&s), ["t/f", "t/unit/b"]);
        assert_eq!((s.deselected, s.deselected_slow), (4, 0));
    }

    #[test]
    fn only_skipped_and_filters() {
        let s = run(Selection {
            only_skipped: true,
            ..Default::default()
        });
        assert_eq!(ids(&s), ["t/sys/d"]);
        assert_eq!(s.deselected_slow, 1, "t/f is skip-marked but slow");
        let s = run(Selection {
            filters: strings(&["unit/", "/c"]),
            slow: SlowMode::Include,
            ..Default::default()
        });
        assert_eq!(ids(&s), ["t/int/c", "t/unit/a", "t/unit/b"]);
    }

    #[test]
    fn a_seed_shuffles_reproducibly_whatever_the_input_order() {
        let sel = Selection {
            slow: SlowMode::Include,
            shuffle_seed: Some(99),
            ..Default::default()
        };
        let a = select(fixture(), &sel);
        let mut reversed = fixture();
        reversed.reverse();
        let b = select(reversed, &sel);
        assert_eq!(ids(&a), ids(&b));
        let mut sorted = ids(&a);
        sorted.sort();
        assert_eq!(
            sorted,
            ids(&run(Selection {
                slow: SlowMode::Include,
                ..Default::default()
            }))
        );
        let orders: std::collections::HashSet<Vec<String>> = (0..20)
            .map(|seed| {
                let s = select(
                    fixture(),
                    &Selection {
                        shuffle_seed: Some(seed),
                        ..sel.clone()
                    },
                );
                s.tests.into_iter().map(|t| t.id).collect()
            })
            .collect();
        assert!(
            orders.len() > 10,
            "seeds should give different orders: {}",
            orders.len()
        );
    }
}
