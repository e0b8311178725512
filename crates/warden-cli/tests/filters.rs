//! Selection: `warden list --json` with each filter option on the `basic` fixture, compared
//! with the sets its written model (`fixtures/basic/expected.json`) says (SPEC §2–§3).

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;

const FIXTURE: &str = "basic";

/// `warden list --json` with a filter case's args and paths.
fn list(sandbox: &Sandbox, case: &FilterCase) -> Outcome {
    let paths: Vec<String> = match &case.paths {
        Some(paths) => paths.iter().map(|p| prefixed(FIXTURE, p)).collect(),
        None => vec![FIXTURE.to_string()],
    };
    Warden::new(sandbox.path())
        .args(["list", "--json"])
        .args(&paths)
        .args(&case.args)
        .run()
}

#[test]
fn each_filter_selects_exactly_what_the_model_says() {
    let model = model();
    let sandbox = Sandbox::with_fixture(FIXTURE);
    let mut problems = Vec::new();
    for (name, case) in &model.filters {
        let out = list(&sandbox, case);
        let args = format!("{:?} paths {:?}", case.args, case.paths);
        if out.code != Some(0) {
            problems.push(format!(
                "{name} {args}: exit {:?}\n{}",
                out.code, out.stderr
            ));
            continue;
        }
        let got = match list_ids(&out.stdout) {
            Ok(ids) => ids,
            Err(e) => {
                problems.push(format!("{name} {args}: {e}\n{}", out.stdout));
                continue;
            }
        };
        let want: BTreeSet<String> = model
            .selected_by(name)
            .iter()
            .map(|id| prefixed(FIXTURE, id))
            .collect();
        if got != want {
            let missing: Vec<_> = want.difference(&got).collect();
            let extra: Vec<_> = got.difference(&want).collect();
            problems.push(format!(
                "{name} {args}: missing {missing:?}, not expected {extra:?}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} filter cases wrong:\n  {}",
        problems.len(),
        model.filters.len(),
        problems.join("\n  ")
    );
}

#[test]
fn list_json_reports_level_tags_and_markers_as_modelled() {
    let model = model();
    let sandbox = Sandbox::with_fixture(FIXTURE);
    // --all: the slow test too, so that every test of the model is listed.
    let out = Warden::new(sandbox.path())
        .args(["list", "--json", FIXTURE, "--all"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let entries = parse_list(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    let mut problems = Vec::new();
    for (id, t) in &model.tests {
        let full = prefixed(FIXTURE, id);
        let Some(entry) = entries.iter().find(|e| e["id"] == full.as_str()) else {
            problems.push(format!("{full}: not listed"));
            continue;
        };
        let tags: BTreeSet<&str> = entry["tags"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let want_tags: BTreeSet<&str> = t.tags.iter().map(String::as_str).collect();
        let checks: [(&str, bool); 6] = [
            ("level", entry["level"] == Value::from(t.level.clone())),
            ("tags", entry["tags"].is_array() && tags == want_tags),
            ("slow", entry["slow"] == t.slow),
            ("skip", entry["skip"] == Value::from(t.skip.clone())),
            ("serial", entry["serial"] == t.serial),
            (
                "timeout_ms",
                entry["timeout_ms"] == Value::from(t.timeout_ms),
            ),
        ];
        for (field, ok) in checks {
            if !ok {
                problems.push(format!(
                    "{full}: {field} is {}, model says {}",
                    entry[field],
                    {
                        match field {
                            "level" => format!("{:?}", t.level),
                            "tags" => format!("{:?}", t.tags),
                            "slow" => t.slow.to_string(),
                            "skip" => format!("{:?}", t.skip),
                            "serial" => t.serial.to_string(),
                            _ => format!("{:?}", t.timeout_ms),
                        }
                    }
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\n{}",
        problems.join("\n"),
        out.describe()
    );
}

#[test]
fn helpers_hidden_dirs_and_node_modules_are_never_listed() {
    let model = model();
    let sandbox = Sandbox::with_fixture(FIXTURE);
    let out = Warden::new(sandbox.path())
        .args(["list", "--json", FIXTURE, "--all"])
        .run();
    let ids = list_ids(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    let listed: Vec<&String> = model
        .not_tests
        .iter()
        .filter(|f| ids.contains(&prefixed(FIXTURE, f)))
        .collect();
    assert!(
        listed.is_empty(),
        "listed as tests: {listed:?}\n{}",
        out.describe()
    );
}

#[test]
fn human_list_names_each_selected_test_and_no_other() {
    let model = model();
    let sandbox = Sandbox::with_fixture(FIXTURE);
    let out = Warden::new(sandbox.path()).args(["list", FIXTURE]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let mut problems = Vec::new();
    for (id, t) in &model.tests {
        let full = prefixed(FIXTURE, id);
        let shown = out.stdout.contains(&full);
        let selected = t.selected_by.iter().any(|f| f == "default");
        if shown != selected {
            problems.push(format!("{full}: shown {shown}, selected {selected}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n{}",
        problems.join("\n"),
        out.describe()
    );
}

/// The model's `selected_by` lists are written by hand; this re-derives them from each test's
/// level, tags and markers with the selection rules of SPEC §2, so a slip in the data shows up
/// here rather than as a false report against warden.
#[test]
fn model_selected_by_agrees_with_its_own_markers() {
    let model = model();
    let mut problems = Vec::new();
    for (name, case) in &model.filters {
        for (id, t) in &model.tests {
            let derived = selects(case, &prefixed(FIXTURE, id), id, t);
            let written = t.selected_by.iter().any(|f| f == name);
            if derived != written {
                problems.push(format!(
                    "{id}: filter {name} selects it: derived {derived}, written {written}"
                ));
            }
        }
    }
    for (id, t) in &model.tests {
        for f in &t.selected_by {
            if !model.filters.contains_key(f) {
                problems.push(format!("{id}: selected_by names unknown filter {f}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn selects(case: &FilterCase, full_id: &str, rel_id: &str, t: &TestModel) -> bool {
    let (mut levels, mut tags, mut excluded, mut substrings) = (vec![], vec![], vec![], vec![]);
    let (mut only_slow, mut include_slow, mut only_skipped) = (false, false, false);
    let mut args = case.args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().cloned().unwrap_or_default();
        match arg.as_str() {
            "--unit" | "--integration" | "--system" => levels.push(arg[2..].to_string()),
            "--level" => levels.push(value()),
            "--tag" => tags.push(value()),
            "--exclude-tag" => excluded.push(value()),
            "-k" | "--filter" => substrings.push(value()),
            "--only-slow" => only_slow = true,
            "--include-slow" | "--all" => include_slow = true,
            "--only-skipped" => only_skipped = true,
            other => panic!("the model uses {other}, which this derivation does not know"),
        }
    }
    let in_paths = match &case.paths {
        None => true,
        Some(paths) => paths
            .iter()
            .any(|p| rel_id == p || rel_id.starts_with(&format!("{p}/"))),
    };
    let level_ok = levels.is_empty() || t.level.as_ref().is_some_and(|l| levels.contains(l));
    let tag_ok = tags.is_empty() || t.tags.iter().any(|x| tags.contains(x));
    let not_excluded = !t.tags.iter().any(|x| excluded.contains(x));
    let slow_ok = if only_slow {
        t.slow
    } else {
        include_slow || !t.slow
    };
    let skip_ok = !only_skipped || t.skip.is_some();
    let k_ok = substrings.is_empty() || substrings.iter().any(|s| full_id.contains(s.as_str()));
    in_paths && level_ok && tag_ok && not_excluded && slow_ok && skip_ok && k_ok
}

fn model() -> Model {
    Model::load(FIXTURE)
}
