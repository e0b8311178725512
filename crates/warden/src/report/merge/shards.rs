//! Whether the shards being merged are the shards of one cut (issue 19): each shard's
//! `run-started` records its `--partition`, the digest of the whole assignment and the whole
//! selection. Merged shards must agree on all three, and every selected test must have run in
//! one of them; otherwise a test fell between two cuts and nothing else would say so.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// What one shard's report says of its partition.
pub(super) struct ShardSide<'a> {
    /// The report's file name.
    pub name: &'a str,
    pub started: &'a Map<String, Value>,
    /// Ids of the tests it finished.
    pub finished: Vec<&'a str>,
}

/// How many ids a message names before it says "and N more".
const NAMED: usize = 10;

/// The problems that make the merge fail (exit 1); empty when the shards agree or none was
/// partitioned.
pub(super) fn disagreements(shards: &[ShardSide<'_>]) -> Vec<String> {
    let parts: Vec<(&str, Option<&Map<String, Value>>)> = shards
        .iter()
        .map(|s| {
            (
                s.name,
                s.started.get("partition").and_then(Value::as_object),
            )
        })
        .collect();
    if parts.iter().all(|(_, p)| p.is_none()) {
        return Vec::new();
    }
    let mut problems = Vec::new();
    let unpartitioned: Vec<&str> = parts
        .iter()
        .filter(|(_, p)| p.is_none())
        .map(|(n, _)| *n)
        .collect();
    if !unpartitioned.is_empty() {
        problems.push(format!(
            "{} {} not a shard (no --partition) but the others are",
            unpartitioned.join(", "),
            if unpartitioned.len() == 1 {
                "is"
            } else {
                "are"
            }
        ));
    }
    let partitioned: Vec<(&str, &Map<String, Value>)> = parts
        .iter()
        .filter_map(|(n, p)| p.map(|p| (*n, p)))
        .collect();
    let text = |m: &Map<String, Value>, k: &str| {
        m.get(k).and_then(Value::as_str).unwrap_or("?").to_string()
    };

    // One kind and N; each shard number once.
    let mut specs: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, p) in &partitioned {
        specs.entry(text(p, "spec")).or_default().push(name);
    }
    for (spec, names) in &specs {
        if names.len() > 1 {
            problems.push(format!(
                "shard {spec} is in more than one report: {}",
                names.join(", ")
            ));
        }
    }
    let kinds: BTreeSet<String> = specs
        .keys()
        // `duration:2/4` → `duration/4`: the kind and N, without the shard number.
        .map(|s| match (s.split_once(':'), s.split_once('/')) {
            (Some((kind, _)), Some((_, n))) => format!("{kind}/{n}"),
            _ => s.clone(),
        })
        .collect();
    if kinds.len() > 1 {
        problems.push(format!(
            "the shards were cut differently: {}",
            specs.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }

    // The same cut.
    let mut cuts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, p) in &partitioned {
        cuts.entry(text(p, "cut"))
            .or_default()
            .push(format!("{} ({name})", text(p, "spec")));
    }
    if cuts.len() > 1 {
        let groups: Vec<String> = cuts
            .iter()
            .map(|(cut, who)| format!("cut {cut}: {}", who.join(", ")))
            .collect();
        problems.push(format!(
            "the shards disagree on the cut (their histories differed; pin one with --history \
             FILE): {}",
            groups.join("; ")
        ));
    }

    // The same selection, and every selected test run somewhere.
    let selections: Vec<BTreeSet<&str>> = partitioned
        .iter()
        .map(|(_, p)| {
            p.get("selection")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default()
        })
        .collect();
    let union: BTreeSet<&str> = selections.iter().flatten().copied().collect();
    let not_everywhere: Vec<&str> = union
        .iter()
        .filter(|id| !selections.iter().all(|s| s.contains(*id)))
        .copied()
        .collect();
    if !not_everywhere.is_empty() {
        problems.push(format!(
            "the shards selected different tests; not in every shard's selection: {}",
            names(&not_everywhere)
        ));
    }
    let ran: BTreeSet<&str> = shards
        .iter()
        .flat_map(|s| s.finished.iter().copied())
        .collect();
    let missing: Vec<&str> = union
        .iter()
        .filter(|id| !ran.contains(*id))
        .copied()
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "{} selected test{} ran in no shard: {}",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            names(&missing)
        ));
    }
    problems
}

fn names(ids: &[&str]) -> String {
    let shown: Vec<&str> = ids.iter().take(NAMED).copied().collect();
    match ids.len().saturating_sub(NAMED) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn started(spec: &str, cut: &str, selection: &[&str]) -> Map<String, Value> {
        json!({"type": "run-started", "partition": {"spec": spec, "cut": cut, "selection": selection}})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn agreeing_shards_that_cover_the_selection_pass() {
        let a = started("duration:1/2", "c1", &["x", "y"]);
        let b = started("duration:2/2", "c1", &["x", "y"]);
        let shards = [
            ShardSide {
                name: "a.jsonl",
                started: &a,
                finished: vec!["x"],
            },
            ShardSide {
                name: "b.jsonl",
                started: &b,
                finished: vec!["y"],
            },
        ];
        assert!(disagreements(&shards).is_empty());
    }

    #[test]
    fn another_cut_and_a_lost_test_are_named() {
        let a = started("duration:1/2", "c1", &["x", "y", "z"]);
        let b = started("duration:2/2", "c2", &["x", "y", "z"]);
        let shards = [
            ShardSide {
                name: "a.jsonl",
                started: &a,
                finished: vec!["x"],
            },
            ShardSide {
                name: "b.jsonl",
                started: &b,
                finished: vec!["y"],
            },
        ];
        let p = disagreements(&shards).join("\n");
        assert!(p.contains("disagree on the cut"), "{p}");
        assert!(p.contains("1 selected test ran in no shard: z"), "{p}");
    }

    #[test]
    fn the_same_shard_twice_and_unpartitioned_reports_are_named() {
        let a = started("hash:1/2", "c", &["x"]);
        let plain = json!({"type": "run-started"}).as_object().unwrap().clone();
        let shards = [
            ShardSide {
                name: "a.jsonl",
                started: &a,
                finished: vec!["x"],
            },
            ShardSide {
                name: "a2.jsonl",
                started: &a,
                finished: vec!["x"],
            },
            ShardSide {
                name: "p.jsonl",
                started: &plain,
                finished: vec![],
            },
        ];
        let p = disagreements(&shards).join("\n");
        assert!(
            p.contains("shard hash:1/2 is in more than one report"),
            "{p}"
        );
        assert!(p.contains("p.jsonl is not a shard"), "{p}");
    }
}
