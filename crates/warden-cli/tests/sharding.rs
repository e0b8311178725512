//! Sharding and merging on the real binary (SPEC §9, issue 7): `--partition` shards of a
//! 48-test suite are disjoint and cover the selection, and `warden merge` puts the shards'
//! JSON-lines and JUnit reports back together.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::Value;

const SUITE: &str = "suite";
const TESTS: usize = 48;

/// How each test of the generated suite ends: its index in the sorted ids decides, so that
/// under `count:K/4` the failures all land in shard 3 and the skips in shard 2.
fn exit_code_at(sorted_index: usize) -> i32 {
    match sorted_index {
        2 | 6 => 1,
        5 | 9 | 13 => 77,
        _ => 0,
    }
}

/// A sandbox with 48 quick tests spread over levels and directories; returns the sorted ids.
fn suite() -> (Sandbox, Vec<String>) {
    let sandbox = Sandbox::new();
    let mut ids: Vec<String> = (0..TESTS)
        .map(|i| match i % 4 {
            0 => format!("{SUITE}/unit/u{i:02}_test.sh"),
            1 => format!("{SUITE}/integration/db/i{i:02}_test.sh"),
            2 => format!("{SUITE}/system/s{i:02}_test.sh"),
            _ => format!("{SUITE}/t{i:02}_test.sh"),
        })
        .collect();
    ids.sort();
    for (i, id) in ids.iter().enumerate() {
        sandbox.write(id, &format!("#!/bin/sh\nexit {}\n", exit_code_at(i)));
    }
    (sandbox, ids)
}

/// The ids `warden list --json` prints with `args`, in order, duplicates kept.
fn listed(sandbox: &Sandbox, args: &[&str], env: Option<&str>) -> Vec<String> {
    let mut w = Warden::new(sandbox.path())
        .args(["list", "--json", SUITE])
        .args(args);
    if let Some(value) = env {
        w = w.env("WARDEN_PARTITION", value);
    }
    let out = w.run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    parse_list(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}\n{}", out.describe()))
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect()
}

/// Checks that `shards` are pairwise disjoint and together exactly `all`.
fn assert_partition(what: &str, shards: &[Vec<String>], all: &[String]) {
    let mut owner: BTreeMap<&str, usize> = BTreeMap::new();
    for (k, shard) in shards.iter().enumerate() {
        for id in shard {
            if let Some(other) = owner.insert(id, k + 1) {
                panic!("{what}: {id} is in shard {other} and shard {}", k + 1);
            }
        }
    }
    let union: BTreeSet<&str> = owner.keys().copied().collect();
    let want: BTreeSet<&str> = all.iter().map(String::as_str).collect();
    assert_eq!(union, want, "{what}: the shards do not cover the selection");
}

#[test]
fn hash_and_count_shards_are_disjoint_and_cover_the_selection() {
    let (sandbox, ids) = suite();
    let all = listed(&sandbox, &[], None);
    assert_eq!(all, ids, "the unsharded list is the whole suite, sorted");
    for kind in ["hash", "count"] {
        for n in 1..=5 {
            let shards: Vec<Vec<String>> = (1..=n)
                .map(|k| listed(&sandbox, &["--partition", &format!("{kind}:{k}/{n}")], None))
                .collect();
            assert_partition(&format!("{kind} N={n}"), &shards, &all);
            if kind == "count" {
                for shard in &shards {
                    let len = shard.len();
                    assert!(
                        len == TESTS / n || len == TESTS / n + 1,
                        "count N={n}: a shard of {len}"
                    );
                }
            }
            // Each shard lists its tests in run order, as the whole list does.
            for shard in &shards {
                let mut sorted = shard.clone();
                sorted.sort();
                assert_eq!(&sorted, shard);
            }
        }
    }
}

#[test]
fn hash_shards_do_not_move_when_filters_change() {
    let (sandbox, _) = suite();
    for k in 1..=3 {
        let spec = format!("hash:{k}/3");
        let whole: BTreeSet<String> = listed(&sandbox, &["--partition", &spec], None)
            .into_iter()
            .collect();
        let filtered: BTreeSet<String> = listed(
            &sandbox,
            &["--partition", &spec, "-k", "unit/", "-k", "system/"],
            None,
        )
        .into_iter()
        .collect();
        let expected: BTreeSet<String> = whole
            .iter()
            .filter(|id| id.contains("unit/") || id.contains("system/"))
            .cloned()
            .collect();
        assert_eq!(filtered, expected, "{spec}");
    }
}

#[test]
fn the_environment_gives_the_partition_when_the_option_is_absent() {
    let (sandbox, _) = suite();
    let by_option = listed(&sandbox, &["--partition", "count:2/3"], None);
    assert_eq!(listed(&sandbox, &[], Some("count:2/3")), by_option);
    assert_eq!(
        listed(&sandbox, &["--partition", "count:2/3"], Some("hash:1/2")),
        by_option
    );
    // Empty, as CI templates leave it: not sharded.
    assert_eq!(listed(&sandbox, &[], Some("")).len(), TESTS);
}

#[test]
fn bad_partitions_are_usage_errors_naming_the_source() {
    let (sandbox, _) = suite();
    for (args, env, culprits) in [
        (
            &["--partition", "hash:0/4"][..],
            None,
            &["--partition", "hash:0/4", "at least 1"][..],
        ),
        (
            &["--partition", "count:5/4"],
            None,
            &["--partition", "count:5/4", "at most N"],
        ),
        (
            &["--partition", "count:1/0"],
            None,
            &["--partition", "count:1/0"],
        ),
        (
            &["--partition", "hash:a/b"],
            None,
            &["--partition", "`a`", "whole number"],
        ),
        (
            &["--partition", "slice:1/2"],
            None,
            &["--partition", "unknown partition kind `slice`"],
        ),
        (&["--partition", "hash"], None, &["--partition", "KIND:K/N"]),
        (&[], Some("hash:3/2"), &["WARDEN_PARTITION", "hash:3/2"]),
    ] {
        for command in ["list", "run"] {
            let mut w = Warden::new(sandbox.path())
                .args([command, SUITE])
                .args(args);
            if let Some(v) = env {
                w = w.env("WARDEN_PARTITION", v);
            }
            let out = w.run();
            out.assert_usage_error(culprits);
            if command == "run" {
                assert!(
                    !sandbox.path().join(".warden/runs").exists(),
                    "nothing may run on a usage error\n{}",
                    out.describe()
                );
            }
        }
    }
}

/// Runs shard K of 4 by count with both reports; returns its exit code.
fn run_shard(sandbox: &Sandbox, k: usize) -> i32 {
    let out = Warden::new(sandbox.path())
        .args(["run", SUITE, "-j2", "--partition", &format!("count:{k}/4")])
        .args(["--json", &format!("reports/s{k}.jsonl")])
        .args(["--junit", &format!("reports/s{k}.xml")])
        .run();
    assert!(out.left_behind.is_empty(), "{}", out.describe());
    out.code
        .unwrap_or_else(|| panic!("killed by a signal\n{}", out.describe()))
}

const COUNTS: [&str; 8] = [
    "passed",
    "failed",
    "skipped",
    "timed_out",
    "flaky",
    "leaky",
    "oom",
    "errors",
];

#[test]
fn merging_four_shards_gives_summed_counts_the_worst_exit_code_and_every_test() {
    let (sandbox, ids) = suite();
    let codes: Vec<i32> = (1..=4).map(|k| run_shard(&sandbox, k)).collect();
    assert_eq!(codes, [0, 0, 1, 0], "the failing tests are all in shard 3");

    // JSON lines.
    let out = Warden::new(sandbox.path())
        .args([
            "merge",
            "reports/s1.jsonl",
            "reports/s2.jsonl",
            "reports/s3.jsonl",
        ])
        .args(["reports/s4.jsonl", "-o", "merged/all.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stderr.contains("merged 4 JSON-lines reports"),
        "{}",
        out.describe()
    );
    let merged = read_events(&sandbox, "merged/all.jsonl", &out);
    let shard_events: Vec<Vec<Value>> = (1..=4)
        .map(|k| read_events(&sandbox, &format!("reports/s{k}.jsonl"), &out))
        .collect();
    assert_eq!(of_type(&merged, "run-started").len(), 1);
    let finished = of_type(&merged, "run-finished");
    assert_eq!(finished.len(), 1);
    let finished = finished[0];
    assert_eq!(merged.last(), Some(finished), "run-finished comes last");
    for key in COUNTS {
        let sum: u64 = shard_events
            .iter()
            .map(|events| {
                of_type(events, "run-finished")[0][key]
                    .as_u64()
                    .expect("count")
            })
            .sum();
        assert_eq!(finished[key].as_u64(), Some(sum), "{key}");
    }
    // And the sums are the suite's: 2 failures, 3 skips, the rest passes.
    assert_eq!(finished["failed"], 2);
    assert_eq!(finished["skipped"], 3);
    assert_eq!(finished["passed"], (TESTS - 5) as u64);
    assert_eq!(finished["exit_code"], 1);
    let statuses = statuses(&merged).unwrap_or_else(|e| panic!("{e}"));
    let want: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(
        statuses.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        want
    );
    // Each shard's events are all there, in the shard's order.
    for (k, events) in shard_events.iter().enumerate() {
        let ours: Vec<&Value> = merged.iter().filter(|e| e["shard"] == k + 1).collect();
        let theirs: Vec<&Value> = events
            .iter()
            .filter(|e| e["type"] != "run-started" && e["type"] != "run-finished")
            .collect();
        assert_eq!(ours.len(), theirs.len(), "shard {}", k + 1);
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(
                (&a["type"], &a["id"], &a["time"]),
                (&b["type"], &b["id"], &b["time"])
            );
        }
    }

    // --exit-code: the merged verdict as the exit code. Without one of the shards the merge
    // is not the whole run whatever the shards' verdicts (issue 19): exit 1, naming that a
    // part of the selection ran in no shard.
    for (inputs, want, missing) in [
        (
            &["reports/s1.jsonl", "reports/s3.jsonl", "reports/s4.jsonl"][..],
            1,
            true,
        ),
        (
            &["reports/s1.jsonl", "reports/s2.jsonl", "reports/s4.jsonl"],
            1,
            true,
        ),
        (&["reports/s3.xml", "reports/s4.xml"], 1, true),
        (
            &[
                "reports/s1.jsonl",
                "reports/s2.jsonl",
                "reports/s3.jsonl",
                "reports/s4.jsonl",
            ],
            1,
            false,
        ),
    ] {
        let out = Warden::new(sandbox.path())
            .arg("merge")
            .args(inputs)
            .args(["--exit-code", "-o", "merged/verdict"])
            .run();
        assert_eq!(out.code, Some(want), "{inputs:?}\n{}", out.describe());
        assert_eq!(
            out.stderr.contains("ran in no shard"),
            missing,
            "{inputs:?}\n{}",
            out.describe()
        );
    }

    // JUnit.
    let out = Warden::new(sandbox.path())
        .args([
            "merge",
            "reports/s1.xml",
            "reports/s2.xml",
            "reports/s3.xml",
            "reports/s4.xml",
        ])
        .args(["-o", "merged/all.xml"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let xml = sandbox.read("merged/all.xml").expect("merged JUnit");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some(TESTS.to_string().as_str()));
    assert_eq!(root.attribute("failures"), Some("2"));
    assert_eq!(root.attribute("skipped"), Some("3"));
    let suites = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .count();
    assert_eq!(suites, 4);
    let cases: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter_map(|n| n.attribute("name"))
        .collect();
    assert_eq!(cases.len(), TESTS, "one testcase per test");
    assert_eq!(cases.into_iter().collect::<BTreeSet<_>>(), want);

    // To stdout, the same bytes.
    let out = Warden::new(sandbox.path())
        .args([
            "merge",
            "reports/s1.xml",
            "reports/s2.xml",
            "reports/s3.xml",
            "reports/s4.xml",
        ])
        .args(["-o", "-"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.stdout, xml);
}

#[test]
fn merge_refuses_mixed_unreadable_and_malformed_reports() {
    let (sandbox, _) = suite();
    run_shard(&sandbox, 1);
    run_shard(&sandbox, 2);
    sandbox.write("reports/garbage.txt", "hello\n");
    sandbox.write(
        "reports/torn.jsonl",
        "{\"type\":\"run-started\",\"schema\":1,\"run_id\":\"x\"}\n{\"type\":\"test-",
    );
    let unfinished: String = sandbox
        .read("reports/s2.jsonl")
        .expect("report")
        .lines()
        .filter(|l| !l.contains("\"run-finished\""))
        .map(|l| format!("{l}\n"))
        .collect();
    sandbox.write("reports/unfinished.jsonl", &unfinished);
    sandbox.write("reports/html.xml", "<html><body/></html>");
    sandbox.write(
        "reports/broken.xml",
        "<testsuites>\n<testsuite>\n</testsuites>\n",
    );
    sandbox.write("reports/empty.jsonl", "");
    let cases: [(&[&str], &[&str]); 8] = [
        (
            &["reports/s1.jsonl", "reports/s2.xml"],
            &["reports/s1.jsonl", "reports/s2.xml", "cannot merge"],
        ),
        (
            &["reports/s1.jsonl", "reports/missing.jsonl"],
            &["cannot read reports/missing.jsonl"],
        ),
        (
            &["reports/s1.jsonl", "reports/garbage.txt"],
            &["reports/garbage.txt", "not a JSON-lines or JUnit"],
        ),
        (
            &["reports/s1.jsonl", "reports/torn.jsonl"],
            &["reports/torn.jsonl:2", "not a JSON line"],
        ),
        (
            &["reports/s1.jsonl", "reports/unfinished.jsonl"],
            &["reports/unfinished.jsonl", "no run-finished"],
        ),
        (
            &["reports/s1.xml", "reports/html.xml"],
            &["reports/html.xml", "<html>"],
        ),
        (
            &["reports/s1.xml", "reports/broken.xml"],
            &["reports/broken.xml:3", "not well-formed"],
        ),
        (&["reports/empty.jsonl"], &["reports/empty.jsonl", "empty"]),
    ];
    for (inputs, culprits) in cases {
        let out = Warden::new(sandbox.path())
            .arg("merge")
            .args(inputs)
            .args(["-o", "out/merged"])
            .run();
        out.assert_usage_error(culprits);
        assert!(
            !sandbox.path().join("out").exists(),
            "nothing is written when a merge fails\n{}",
            out.describe()
        );
    }
    // Usage: no reports, or no output.
    Warden::new(sandbox.path())
        .args(["merge", "-o", "x"])
        .run()
        .assert_usage_error(&["REPORT"]);
    Warden::new(sandbox.path())
        .args(["merge", "reports/s1.jsonl"])
        .run()
        .assert_usage_error(&["--output"]);
}
