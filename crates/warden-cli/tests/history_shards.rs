//! `duration:K/N` partitions from recorded history, and moving history between machines with
//! `warden history export|import` and `--history FILE` (SPEC §7, §9; issue 7).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::Value;

const SUITE: &str = "suite";

/// Sleep of each test in ms; the long ones sort last by name, where `count:` piles them up.
const TESTS: [(&str, u64); 16] = [
    ("a01_test.sh", 100),
    ("a02_test.sh", 100),
    ("a03_test.sh", 100),
    ("a04_test.sh", 100),
    ("a05_test.sh", 100),
    ("a06_test.sh", 100),
    ("m01_test.sh", 200),
    ("m02_test.sh", 200),
    ("m03_test.sh", 200),
    ("m04_test.sh", 200),
    ("m05_test.sh", 300),
    ("m06_test.sh", 300),
    ("z01_test.sh", 400),
    ("z02_test.sh", 500),
    ("z03_test.sh", 600),
    ("z04_test.sh", 700),
];

fn suite() -> Sandbox {
    let sandbox = Sandbox::new();
    for (name, ms) in TESTS {
        sandbox.write(
            &format!("{SUITE}/{name}"),
            &format!("#!/bin/sh\nsleep {}.{:03}\n", ms / 1000, ms % 1000),
        );
    }
    sandbox
}

fn ok(out: Outcome) -> Outcome {
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_no_panic(&out);
    out
}

/// The ids of `warden list --json SUITE ARGS`, in order.
fn listed(sandbox: &Sandbox, args: &[&str]) -> (Vec<String>, Outcome) {
    let out = ok(Warden::new(sandbox.path())
        .args(["list", "--json", SUITE])
        .args(args)
        .run());
    let ids = parse_list(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}\n{}", out.describe()))
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect();
    (ids, out)
}

/// `{"id":…,"duration_ms":…}` lines of an export.
fn read_export(sandbox: &Sandbox, rel: &str) -> BTreeMap<String, u64> {
    let text = sandbox.read(rel).expect("export file");
    parse_json_lines(&text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .iter()
        .map(|v| {
            let id = v["id"].as_str().unwrap_or_else(|| panic!("no id: {v}"));
            let ms = v["duration_ms"]
                .as_u64()
                .unwrap_or_else(|| panic!("no ms: {v}"));
            (id.to_string(), ms)
        })
        .collect()
}

/// The four `duration:K/4` shards; checks they are disjoint, cover the suite and that nothing
/// warned about unknown durations.
fn duration_shards(sandbox: &Sandbox, extra: &[&str]) -> Vec<Vec<String>> {
    let mut owner: BTreeMap<String, usize> = BTreeMap::new();
    let shards: Vec<Vec<String>> = (1..=4)
        .map(|k| {
            let spec = format!("duration:{k}/4");
            let mut args = vec!["--partition", spec.as_str()];
            args.extend_from_slice(extra);
            let (ids, out) = listed(sandbox, &args);
            assert!(
                !out.stderr.contains("no recorded duration"),
                "{}",
                out.describe()
            );
            for id in &ids {
                if let Some(other) = owner.insert(id.clone(), k) {
                    panic!("{id} in shards {other} and {k}");
                }
            }
            ids
        })
        .collect();
    let want: BTreeSet<String> = TESTS.iter().map(|(n, _)| format!("{SUITE}/{n}")).collect();
    assert_eq!(owner.keys().cloned().collect::<BTreeSet<_>>(), want);
    shards
}

#[test]
fn duration_shards_after_one_recorded_run_are_balanced() {
    let sandbox = suite();
    let run = ok(Warden::new(sandbox.path())
        .args(["run", SUITE, "-j4"])
        .run());
    assert!(run.left_behind.is_empty(), "{}", run.describe());
    ok(Warden::new(sandbox.path())
        .args(["history", "export", "durations.jsonl"])
        .run());
    let recorded = read_export(&sandbox, "durations.jsonl");
    assert_eq!(recorded.len(), TESTS.len(), "{recorded:?}");
    for (name, ms) in TESTS {
        let got = recorded[&format!("{SUITE}/{name}")];
        assert!(got >= ms, "{name}: recorded {got} ms for a {ms} ms sleep");
    }

    let shards = duration_shards(&sandbox, &[]);
    let total: u64 = recorded.values().sum();
    let loads: Vec<u64> = shards
        .iter()
        .map(|ids| ids.iter().map(|id| recorded[id]).sum())
        .collect();
    let largest = loads.iter().copied().max().unwrap_or(0) as f64;
    let fair = total as f64 / 4.0;
    assert!(
        largest <= 1.2 * fair,
        "largest shard {largest} ms, fair share {fair} ms: {loads:?}"
    );
    // Each shard runs longest first.
    for ids in &shards {
        let ms: Vec<u64> = ids.iter().map(|id| recorded[id]).collect();
        assert!(ms.windows(2).all(|w| w[0] >= w[1]), "{ids:?} {ms:?}");
    }

    // Another machine with no history of its own cuts the same shards from the exported file,
    // whether read with --history or imported.
    let other = suite();
    std::fs::copy(
        sandbox.path().join("durations.jsonl"),
        other.path().join("durations.jsonl"),
    )
    .expect("copy the export");
    assert_eq!(
        duration_shards(&other, &["--history", "durations.jsonl"]),
        shards
    );
    // Reading the file imports nothing into the local history.
    ok(Warden::new(other.path())
        .args(["history", "export", "local.jsonl"])
        .run());
    assert_eq!(other.read("local.jsonl").as_deref(), Ok(""));
    let imported = ok(Warden::new(other.path())
        .args(["history", "import", "durations.jsonl"])
        .run());
    assert!(imported
        .stderr
        .contains("imported the durations of 16 tests"));
    assert_eq!(duration_shards(&other, &[]), shards);

    // A real run of a shard runs exactly the listed tests.
    let out = ok(Warden::new(other.path())
        .args([
            "run",
            SUITE,
            "--partition",
            "duration:2/4",
            "--json",
            "s2.jsonl",
        ])
        .run());
    let events = read_events(&other, "s2.jsonl", &out);
    let ran: BTreeSet<String> = statuses(&events)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_keys()
        .collect();
    assert_eq!(ran, shards[1].iter().cloned().collect::<BTreeSet<_>>());
    assert_eq!(
        of_type(&events, "run-started")[0]["selected"],
        Value::from(shards[1].len())
    );
}

#[test]
fn history_files_missing_empty_or_malformed() {
    let sandbox = suite();
    // Nothing recorded yet: an empty export, which reads as no durations.
    ok(Warden::new(sandbox.path())
        .args(["history", "export", "out/empty.jsonl"])
        .run());
    assert_eq!(sandbox.read("out/empty.jsonl").as_deref(), Ok(""));
    let (_, out) = listed(
        &sandbox,
        &[
            "--history",
            "out/empty.jsonl",
            "--partition",
            "duration:1/2",
        ],
    );
    assert!(
        out.stderr
            .contains("no recorded duration for 16 of 16 tests"),
        "{}",
        out.describe()
    );

    // A missing --history file is a warning, as on a first CI run.
    let (ids, out) = listed(&sandbox, &["--history", "nowhere.jsonl"]);
    assert_eq!(ids.len(), TESTS.len());
    assert!(
        out.stderr.contains("nowhere.jsonl: no such file"),
        "{}",
        out.describe()
    );

    // A malformed one is a usage error naming the file and line; so is importing it.
    sandbox.write(
        "bad.jsonl",
        "{\"id\":\"suite/a01_test.sh\",\"duration_ms\":5}\n{\"id\":3}\n",
    );
    Warden::new(sandbox.path())
        .args(["list", SUITE, "--history", "bad.jsonl"])
        .run()
        .assert_usage_error(&["--history", "bad.jsonl:2"]);
    Warden::new(sandbox.path())
        .args(["history", "import", "bad.jsonl"])
        .run()
        .assert_usage_error(&["bad.jsonl:2"]);
    Warden::new(sandbox.path())
        .args(["history", "import", "missing.jsonl"])
        .run()
        .assert_usage_error(&["missing.jsonl"]);
    // `history` needs one of its commands.
    Warden::new(sandbox.path())
        .args(["history"])
        .run()
        .assert_usage_error(&["export", "import"]);
}
