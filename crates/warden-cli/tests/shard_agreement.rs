//! Duration shards agree on the cut (issue 19 item 7): shards run one after another on one
//! state dir (a CI runner with a cached `.warden/`) each record results the next would cut by;
//! they must still cut alike, say which cut they used in `run-started`, and `warden merge`
//! must fail naming the tests when shards disagree or a selected test ran in no shard.

mod common;

use std::collections::BTreeSet;
use std::fs;

use common::*;
use serde_json::Value;

const TESTS: usize = 12;

/// Twelve tests whose durations turn around after their first run: test i sleeps i×15 ms the
/// first time and (13−i)×15 ms after, so every shard run changes what history says.
fn project() -> Scene {
    let scene = Scene::empty();
    for i in 1..=TESTS {
        scene.script(
            &format!("t/d{i:02}_test.sh"),
            &format!(
                "#!/bin/sh\nmark=\"$WARDEN_FIXTURE_DIR/ran-{i}\"\nif [ -e \"$mark\" ]; then ms={}; else ms={}; fi\ntouch \"$mark\"\nsleep \"$(echo \"$ms\" | awk '{{print $1/1000}}')\"\nexit 0\n",
                (TESTS + 1 - i) * 15,
                i * 15
            ),
        );
    }
    scene
}

fn ids() -> BTreeSet<String> {
    (1..=TESTS).map(|i| format!("t/d{i:02}_test.sh")).collect()
}

fn run(scene: &Scene, extra: &[&str]) -> Outcome {
    scene
        .warden()
        .args(["run", "t", "-j", "2", "--state-dir"])
        .arg(scene.state_dir())
        .args(extra)
        .env("WARDEN_FIXTURE_DIR", scene.path())
        .run()
}

fn partition_of(scene: &Scene, report: &str) -> Value {
    let events = parse_json_lines(&scene.sandbox.read(report).unwrap()).unwrap();
    events
        .iter()
        .find(|e| e["type"] == "run-started")
        .map(|e| e["partition"].clone())
        .unwrap()
}

#[test]
fn duration_shards_in_a_row_on_one_state_dir_cover_the_selection_once() {
    let scene = project();
    // A full run records the durations the shards cut by.
    let out = run(&scene, &[]);
    assert_eq!(out.code, Some(0), "{}", out.describe());

    let mut reports = Vec::new();
    for k in 1..=4 {
        let report = format!("shard{k}.jsonl");
        let out = run(
            &scene,
            &["--partition", &format!("duration:{k}/4"), "--json", &report],
        );
        assert_eq!(out.code, Some(0), "{}", out.describe());
        reports.push(report);
    }
    let parts: Vec<Value> = reports.iter().map(|r| partition_of(&scene, r)).collect();
    for (k, p) in parts.iter().enumerate() {
        assert_eq!(p["spec"], format!("duration:{}/4", k + 1));
        assert_eq!(
            p["cut"],
            parts[0]["cut"],
            "shard {} cut differently: {parts:?}",
            k + 1
        );
        let selection: BTreeSet<String> = p["selection"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(selection, ids());
    }

    let out = scene
        .warden()
        .arg("merge")
        .args(&reports)
        .args(["-o", "merged.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let merged = parse_json_lines(&scene.sandbox.read("merged.jsonl").unwrap()).unwrap();
    let finished = statuses(&merged).expect("each test finished once");
    assert_eq!(finished.keys().cloned().collect::<BTreeSet<_>>(), ids());
}

#[test]
fn merge_fails_naming_the_tests_when_shards_disagree_or_miss_one() {
    let scene = project();
    // Two pinned histories that cut the suite differently.
    let history = |name: &str, slow_first: bool| {
        let lines: Vec<String> = (1..=TESTS)
            .map(|i| {
                // A ramp against one long test: the two cut the suite differently.
                let ms = match (slow_first, i) {
                    (true, _) => i * 100,
                    (false, 1) => 100_000,
                    (false, _) => 100,
                };
                format!("{{\"id\":\"t/d{i:02}_test.sh\",\"duration_ms\":{ms}}}")
            })
            .collect();
        fs::write(scene.path().join(name), lines.join("\n") + "\n").unwrap();
    };
    history("h1.jsonl", true);
    history("h2.jsonl", false);
    for (k, h) in [(1, "h1.jsonl"), (2, "h2.jsonl")] {
        let out = run(
            &scene,
            &[
                "--partition",
                &format!("duration:{k}/2"),
                "--history",
                h,
                "--json",
                &format!("s{k}.jsonl"),
            ],
        );
        assert_eq!(out.code, Some(0), "{}", out.describe());
    }
    let out = scene
        .warden()
        .args(["merge", "s1.jsonl", "s2.jsonl", "-o", "m.jsonl"])
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("disagree on the cut"),
        "{}",
        out.describe()
    );

    // One shard of two: the other half ran nowhere, and is named.
    let out = scene
        .warden()
        .args(["merge", "s1.jsonl", "-o", "m.jsonl"])
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let events = parse_json_lines(&scene.sandbox.read("s1.jsonl").unwrap()).unwrap();
    let ran: BTreeSet<String> = statuses(&events).unwrap().into_keys().collect();
    let missing: Vec<String> = ids().difference(&ran).cloned().collect();
    assert!(!missing.is_empty());
    assert!(
        out.stderr
            .contains(&format!("{} selected tests ran in no shard", missing.len())),
        "{}",
        out.describe()
    );
    for id in missing {
        assert!(
            out.stderr.contains(&id),
            "{id} not named\n{}",
            out.describe()
        );
    }
}
