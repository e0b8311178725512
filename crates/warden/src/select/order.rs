//! Ordering from history: the longest expected tests start first so that the run does not end
//! with one long test running alone; tests never seen before go first of all (they may be long).

use std::collections::HashMap;
use std::time::Duration;

use crate::test_case::TestCase;

/// Reorder `tests` by expected duration, longest first, unknown first of all. Ties keep their
/// current order (by id, or the shuffle), so the order is reproducible.
pub fn order_by_expected(tests: &mut [TestCase], expected: &HashMap<String, Duration>) {
    tests.sort_by_key(|t| std::cmp::Reverse(expected.get(&t.id).copied().unwrap_or(Duration::MAX)));
}

/// `@serial` tests go last (keeping their relative order): they run one at a time, after the
/// parallel part, so they never hold worker slots idle. `warden list` shows this order too.
pub fn serial_last(tests: &mut [TestCase]) {
    tests.sort_by_key(|t| t.serial);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str) -> TestCase {
        TestCase::for_test(id)
    }

    #[test]
    fn serial_tests_go_last_in_order() {
        let mut tests: Vec<TestCase> = ["a", "b", "c", "d"].iter().map(|i| t(i)).collect();
        tests[0].serial = true;
        tests[2].serial = true;
        serial_last(&mut tests);
        let ids: Vec<&str> = tests.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["b", "d", "a", "c"]);
    }

    #[test]
    fn longest_first_unknown_before_all() {
        let mut tests: Vec<TestCase> = ["a", "b", "c", "d", "e"].iter().map(|i| t(i)).collect();
        let expected: HashMap<String, Duration> =
            [("a", 100), ("b", 4000), ("d", 1000), ("e", 100)]
                .iter()
                .map(|(k, ms)| (k.to_string(), Duration::from_millis(*ms)))
                .collect();
        order_by_expected(&mut tests, &expected);
        let ids: Vec<&str> = tests.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "d", "a", "e"]);
    }
}
