//! Sharding (SPEC §9): cut the selection into N disjoint shards that together cover it, so
//! that N machines (CI jobs, pods) each run one shard and `warden merge` puts the reports back
//! together. Every shard computes the whole assignment and keeps its own part, so the
//! assignment must depend only on what all shards see alike: the selected ids and, for
//! `duration`, the shared durations; never on discovery order, the shuffle or the process.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

use super::shuffle::SplitMix64;
use crate::test_case::TestCase;

/// How tests are assigned to shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionKind {
    /// By a fixed hash of the test id: a test stays in its shard whatever else is selected.
    Hash,
    /// Round-robin over the selection sorted by id: shard sizes differ by at most one.
    Count,
    /// Greedy longest-first into the least-loaded shard over known durations; tests without
    /// a known duration are spread by hash.
    Duration,
}

impl PartitionKind {
    pub fn name(self) -> &'static str {
        match self {
            PartitionKind::Hash => "hash",
            PartitionKind::Count => "count",
            PartitionKind::Duration => "duration",
        }
    }
}

/// `--partition KIND:K/N`: run shard `K` (1-based) of `N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Partition {
    pub kind: PartitionKind,
    /// 1-based, `1 ..= total`.
    pub shard: u32,
    pub total: u32,
}

/// A `--partition` value that cannot be used; the caller prefixes where it came from
/// (`--partition: ...`, `WARDEN_PARTITION: ...`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PartitionError {
    #[error("`{0}` is not of the form KIND:K/N (e.g. hash:1/4, count:2/3, duration:4/4)")]
    Form(String),
    #[error("unknown partition kind `{kind}` in `{value}` (expected hash, count or duration)")]
    Kind { kind: String, value: String },
    #[error("`{part}` in `{value}` is not a whole number")]
    Number { part: String, value: String },
    #[error("`{value}`: the shard count N must be at least 1")]
    ZeroTotal { value: String },
    #[error("`{value}`: shards are numbered from 1, so K must be at least 1")]
    ZeroShard { value: String },
    #[error(
        "`{value}`: shard {shard} does not exist when there are {total} (K must be at most N)"
    )]
    ShardPastTotal {
        value: String,
        shard: u32,
        total: u32,
    },
}

impl FromStr for Partition {
    type Err = PartitionError;

    fn from_str(value: &str) -> Result<Partition, PartitionError> {
        let form = || PartitionError::Form(value.to_string());
        let (kind, shards) = value.trim().split_once(':').ok_or_else(form)?;
        let (k, n) = shards.split_once('/').ok_or_else(form)?;
        let kind = match kind.trim().to_ascii_lowercase().as_str() {
            "hash" => PartitionKind::Hash,
            "count" => PartitionKind::Count,
            "duration" => PartitionKind::Duration,
            _ => {
                return Err(PartitionError::Kind {
                    kind: kind.to_string(),
                    value: value.to_string(),
                })
            }
        };
        let number = |part: &str| {
            let part = part.trim();
            // `+3` parses as u32 but is no way to write a shard number.
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PartitionError::Number {
                    part: part.to_string(),
                    value: value.to_string(),
                });
            }
            part.parse::<u32>().map_err(|_| PartitionError::Number {
                part: part.to_string(),
                value: value.to_string(),
            })
        };
        let (shard, total) = (number(k)?, number(n)?);
        let value = value.to_string();
        if total == 0 {
            return Err(PartitionError::ZeroTotal { value });
        }
        if shard == 0 {
            return Err(PartitionError::ZeroShard { value });
        }
        if shard > total {
            return Err(PartitionError::ShardPastTotal {
                value,
                shard,
                total,
            });
        }
        Ok(Partition { kind, shard, total })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.kind.name(), self.shard, self.total)
    }
}

impl Partition {
    /// The tests of this shard, in the order they came in (partitioning never reorders).
    pub fn keep(
        &self,
        tests: Vec<TestCase>,
        durations: &HashMap<String, Duration>,
    ) -> Vec<TestCase> {
        let ids: Vec<&str> = tests.iter().map(|t| t.id.as_str()).collect();
        let shards = assign(self.kind, self.total, &ids, durations);
        let mine = self.shard - 1;
        tests
            .into_iter()
            .zip(shards)
            .filter(|(_, s)| *s == mine)
            .map(|(t, _)| t)
            .collect()
    }
}

/// The 0-based shard of each id (same positions as `ids`) when cutting into `total` shards.
/// The result does not depend on the order of `ids`. `durations` is read only for
/// [`PartitionKind::Duration`]. `total` 0 is treated as 1.
pub fn assign(
    kind: PartitionKind,
    total: u32,
    ids: &[&str],
    durations: &HashMap<String, Duration>,
) -> Vec<u32> {
    let total = total.max(1);
    match kind {
        PartitionKind::Hash => ids.iter().map(|id| hash_shard(id, total)).collect(),
        PartitionKind::Count => {
            let mut order: Vec<usize> = (0..ids.len()).collect();
            // Ties (the same id twice) broken by position keep the result a function of the
            // multiset of ids only when the ids are distinct, which selection guarantees.
            order.sort_by(|&a, &b| ids[a].cmp(ids[b]).then(a.cmp(&b)));
            let mut shards = vec![0; ids.len()];
            for (rank, i) in order.into_iter().enumerate() {
                shards[i] = (rank % total as usize) as u32;
            }
            shards
        }
        PartitionKind::Duration => by_duration(total, ids, durations),
    }
}

/// Longest-processing-time first (Graham): each known test, longest first, goes to the shard
/// with the least total so far. The largest shard is then at most total/N + the longest test,
/// and within 4/3 of the optimum.
fn by_duration(total: u32, ids: &[&str], durations: &HashMap<String, Duration>) -> Vec<u32> {
    let mut shards = vec![0; ids.len()];
    let mut known: Vec<(Duration, usize)> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        match durations.get(*id) {
            Some(d) => known.push((*d, i)),
            None => shards[i] = hash_shard(id, total),
        }
    }
    // Longest first; equal durations by id so that every shard sorts alike.
    known.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| ids[a.1].cmp(ids[b.1])));
    let mut load = vec![Duration::ZERO; total as usize];
    for (d, i) in known {
        // The least-loaded shard; the lowest number among equals, so the result is fixed.
        let (target, _) = load
            .iter()
            .enumerate()
            .min_by_key(|(s, l)| (**l, *s))
            .expect("at least one shard");
        load[target] += d;
        shards[i] = target as u32;
    }
    shards
}

/// FNV-1a (64-bit) of the id's bytes: fixed by its definition, so it is the same on every
/// machine, build and version (Rust's `DefaultHasher` is seeded per process and may change).
pub fn stable_hash(id: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    id.bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// The hash shard of an id. FNV's low bits are weak for ids that differ only in their last
/// characters (`t01` … `t48`), so the hash goes through SplitMix64's finaliser, then a
/// multiply-shift picks the shard from the high bits.
fn hash_shard(id: &str, total: u32) -> u32 {
    let mixed = SplitMix64::new(stable_hash(id)).next_u64();
    ((u128::from(mixed) * u128::from(total)) >> 64) as u32
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use proptest::prelude::*;

    use super::*;

    fn parse(s: &str) -> Result<Partition, PartitionError> {
        s.parse()
    }

    #[test]
    fn parses_every_kind_and_prints_it_back() {
        for (text, kind, k, n) in [
            ("hash:1/4", PartitionKind::Hash, 1, 4),
            ("count:3/3", PartitionKind::Count, 3, 3),
            ("duration:2/5", PartitionKind::Duration, 2, 5),
            (" HASH:1/1 ", PartitionKind::Hash, 1, 1),
        ] {
            let p = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((p.kind, p.shard, p.total), (kind, k, n), "{text}");
            assert_eq!(parse(&p.to_string()), Ok(p));
        }
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        let cases = [
            ("hash", "not of the form KIND:K/N"),
            ("hash:1", "not of the form KIND:K/N"),
            ("1/4", "not of the form KIND:K/N"),
            ("slice:1/4", "unknown partition kind `slice`"),
            (":1/4", "unknown partition kind ``"),
            ("hash:a/4", "`a` in `hash:a/4` is not a whole number"),
            ("hash:1/", "`` in `hash:1/` is not a whole number"),
            ("hash:-1/4", "`-1` in `hash:-1/4` is not a whole number"),
            ("hash:+1/4", "`+1` in `hash:+1/4` is not a whole number"),
            ("hash:1/99999999999", "not a whole number"),
            ("count:1/0", "N must be at least 1"),
            ("count:0/0", "N must be at least 1"),
            ("count:0/3", "K must be at least 1"),
            ("duration:5/4", "shard 5 does not exist when there are 4"),
        ];
        for (text, want) in cases {
            let err = parse(text).expect_err(text).to_string();
            assert!(err.contains(want), "{text}: got {err:?}, want {want:?}");
        }
    }

    #[test]
    fn the_hash_is_fnv1a_as_published() {
        // Test vectors of the FNV reference (Fowler, Noll, Vo).
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn hash_shards_do_not_depend_on_what_else_is_selected() {
        let all: Vec<String> = (0..200).map(|i| format!("test/t{i:03}_test.sh")).collect();
        let ids: Vec<&str> = all.iter().map(String::as_str).collect();
        let none = HashMap::new();
        let full = assign(PartitionKind::Hash, 4, &ids, &none);
        let odd: Vec<&str> = ids.iter().copied().skip(1).step_by(2).collect();
        let part = assign(PartitionKind::Hash, 4, &odd, &none);
        for (j, id) in odd.iter().enumerate() {
            let i = ids.iter().position(|x| x == id).expect("present");
            assert_eq!(full[i], part[j], "{id} moved when others were filtered out");
        }
        // Similar ids still spread: each of 4 shards gets a fair share of 200.
        let mut sizes = [0; 4];
        for s in full {
            sizes[s as usize] += 1;
        }
        assert!(sizes.iter().all(|n| (30..=70).contains(n)), "{sizes:?}");
    }

    #[test]
    fn count_is_round_robin_over_sorted_ids() {
        let ids = ["c", "a", "e", "b", "d"];
        let got = assign(PartitionKind::Count, 2, &ids, &HashMap::new());
        // sorted: a b c d e → 0 1 0 1 0
        assert_eq!(got, [0, 0, 0, 1, 1]);
    }

    #[test]
    fn duration_is_longest_first_into_the_least_loaded_shard() {
        let ms = |n| Duration::from_millis(n);
        let durations: HashMap<String, Duration> = [
            ("a", ms(700)),
            ("b", ms(500)),
            ("c", ms(400)),
            ("d", ms(300)),
            ("e", ms(100)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let ids = ["e", "d", "c", "b", "a", "unknown"];
        let got = assign(PartitionKind::Duration, 2, &ids, &durations);
        // a(700)→0; b(500)→1; c(400)→1 (500<700); d(300)→0 (700<900); e(100)→1 (900<1000)
        assert_eq!(&got[..5], &[1, 0, 1, 1, 0]);
        assert_eq!(got[5], hash_shard("unknown", 2), "unknown tests go by hash");
        let only_unknown = assign(PartitionKind::Duration, 3, &["x", "y"], &HashMap::new());
        assert_eq!(
            only_unknown,
            assign(PartitionKind::Hash, 3, &["x", "y"], &HashMap::new())
        );
    }

    #[test]
    fn keep_returns_one_shard_in_input_order() {
        let tests: Vec<TestCase> = ["z", "m", "a", "q", "b"].into_iter().map(case).collect();
        let p: Partition = "count:1/2".parse().expect("valid");
        let kept: Vec<String> = p
            .keep(tests, &HashMap::new())
            .into_iter()
            .map(|t| t.id)
            .collect();
        // sorted a b m q z → shard 1 has a, m, z; they keep the input order z, m, a.
        assert_eq!(kept, ["z", "m", "a"]);
    }

    fn case(id: &str) -> TestCase {
        TestCase::for_test(id)
    }

    fn kinds() -> impl Strategy<Value = PartitionKind> {
        prop_oneof![
            Just(PartitionKind::Hash),
            Just(PartitionKind::Count),
            Just(PartitionKind::Duration),
        ]
    }

    /// Distinct ids, some with a known duration (ms), in a random order.
    fn suites() -> impl Strategy<Value = Vec<(String, Option<u64>)>> {
        prop::collection::btree_map(
            "[a-z]{1,3}(/[a-z0-9_]{1,8}){0,2}",
            prop::option::of(0..5_000u64),
            0..120,
        )
        .prop_map(|m| m.into_iter().collect::<Vec<_>>())
        .prop_shuffle()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn shards_are_disjoint_and_cover_the_selection(
            suite in suites(),
            kind in kinds(),
            total in 1u32..=5,
        ) {
            let durations: HashMap<String, Duration> = suite
                .iter()
                .filter_map(|(id, d)| d.map(|d| (id.clone(), Duration::from_millis(d))))
                .collect();
            let tests: Vec<TestCase> = suite.iter().map(|(id, _)| case(id)).collect();
            let mut seen: HashSet<String> = HashSet::new();
            for shard in 1..=total {
                let p = Partition { kind, shard, total };
                let kept = p.keep(tests.clone(), &durations);
                // Each shard keeps the input order.
                let positions: Vec<usize> = kept
                    .iter()
                    .map(|t| suite.iter().position(|(id, _)| *id == t.id).expect("from the input"))
                    .collect();
                prop_assert!(positions.windows(2).all(|w| w[0] < w[1]));
                for t in kept {
                    prop_assert!(seen.insert(t.id.clone()), "{} in two shards", t.id);
                }
            }
            let all: HashSet<String> = suite.iter().map(|(id, _)| id.clone()).collect();
            prop_assert_eq!(seen, all);
        }

        #[test]
        fn the_assignment_ignores_input_order(
            suite in suites(),
            kind in kinds(),
            total in 1u32..=5,
        ) {
            let durations: HashMap<String, Duration> = suite
                .iter()
                .filter_map(|(id, d)| d.map(|d| (id.clone(), Duration::from_millis(d))))
                .collect();
            let ids: Vec<&str> = suite.iter().map(|(id, _)| id.as_str()).collect();
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            let a: BTreeSet<(&str, u32)> = ids.iter().copied()
                .zip(assign(kind, total, &ids, &durations)).collect();
            let b: BTreeSet<(&str, u32)> = sorted.iter().copied()
                .zip(assign(kind, total, &sorted, &durations)).collect();
            prop_assert_eq!(a, b);
        }

        #[test]
        fn count_shards_differ_in_size_by_at_most_one(
            suite in suites(),
            total in 1u32..=5,
        ) {
            let ids: Vec<&str> = suite.iter().map(|(id, _)| id.as_str()).collect();
            let mut sizes = vec![0usize; total as usize];
            for s in assign(PartitionKind::Count, total, &ids, &HashMap::new()) {
                sizes[s as usize] += 1;
            }
            let (min, max) = (sizes.iter().min().copied(), sizes.iter().max().copied());
            prop_assert!(max.unwrap_or(0) - min.unwrap_or(0) <= 1, "{:?}", sizes);
        }

        /// With every duration known and no test longer than a fifth of a fair share, the
        /// largest shard is within 1.2× of the fair share.
        #[test]
        fn duration_shards_are_balanced(
            durations in prop::collection::vec(1..2_000u64, 20..300),
            total in 1u32..=5,
        ) {
            let sum: u64 = durations.iter().sum();
            let longest = durations.iter().copied().max().unwrap_or(0);
            let fair = sum as f64 / f64::from(total);
            prop_assume!(longest as f64 <= 0.2 * fair);
            let ids: Vec<String> = (0..durations.len()).map(|i| format!("t{i:03}")).collect();
            let known: HashMap<String, Duration> = ids
                .iter()
                .zip(&durations)
                .map(|(id, d)| (id.clone(), Duration::from_millis(*d)))
                .collect();
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let mut load = vec![0u64; total as usize];
            for (s, d) in assign(PartitionKind::Duration, total, &refs, &known).into_iter().zip(&durations) {
                load[s as usize] += d;
            }
            let largest = load.iter().copied().max().unwrap_or(0);
            prop_assert!(largest as f64 <= 1.2 * fair, "{:?} fair {}", load, fair);
        }
    }
}
