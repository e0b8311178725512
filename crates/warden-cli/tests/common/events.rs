//! Reading what warden writes for machines: `--json` event lines and `list --json`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Parses JSON Lines; every non-empty line must be one JSON object.
pub fn parse_json_lines(text: &str) -> Result<Vec<Value>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| match serde_json::from_str::<Value>(line) {
            Ok(v) if v.is_object() => Ok(v),
            Ok(_) => Err(format!("line {}: not a JSON object: {line}", n + 1)),
            Err(e) => Err(format!("line {}: not JSON ({e}): {line}", n + 1)),
        })
        .collect()
}

pub fn of_type<'a>(events: &'a [Value], ty: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == ty).collect()
}

/// The `test-finished` event of each test id; an error when one id finished twice.
pub fn finished_by_id(events: &[Value]) -> Result<BTreeMap<String, &Value>, String> {
    let mut map = BTreeMap::new();
    for e in of_type(events, "test-finished") {
        let id = e["id"]
            .as_str()
            .ok_or_else(|| format!("test-finished without a string id: {e}"))?;
        if map.insert(id.to_string(), e).is_some() {
            return Err(format!("two test-finished events for {id}"));
        }
    }
    Ok(map)
}

/// `(id, status)` of every finished test.
pub fn statuses(events: &[Value]) -> Result<BTreeMap<String, String>, String> {
    Ok(finished_by_id(events)?
        .into_iter()
        .map(|(id, e)| {
            (
                id,
                e["status"].as_str().unwrap_or("<no status>").to_string(),
            )
        })
        .collect())
}

pub fn run_id(events: &[Value]) -> Option<String> {
    of_type(events, "run-started")
        .first()
        .and_then(|e| e["run_id"].as_str())
        .map(str::to_string)
}

/// The entries of `warden list --json`: a JSON array, an object with a `tests` array, or one
/// object per line are all accepted (SPEC does not fix the shape); each must have a string `id`.
pub fn parse_list(stdout: &str) -> Result<Vec<Value>, String> {
    let entries = match serde_json::from_str::<Value>(stdout) {
        Ok(Value::Array(items)) => items,
        Ok(Value::Object(obj)) if obj.get("tests").is_some_and(Value::is_array) => {
            obj["tests"].as_array().cloned().unwrap_or_default()
        }
        Ok(other) if other.get("id").is_some() => vec![other],
        _ => parse_json_lines(stdout)?,
    };
    for e in &entries {
        if !e["id"].is_string() {
            return Err(format!("list entry without a string id: {e}"));
        }
    }
    Ok(entries)
}

pub fn list_ids(stdout: &str) -> Result<BTreeSet<String>, String> {
    Ok(parse_list(stdout)?
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect())
}

/// The events of a `--json FILE` written inside `sandbox`; panics with the run's output when
/// the file is missing or malformed.
pub fn read_events(
    sandbox: &super::sandbox::Sandbox,
    rel: &str,
    out: &super::warden::Outcome,
) -> Vec<Value> {
    sandbox
        .read(rel)
        .and_then(|text| parse_json_lines(&text))
        .unwrap_or_else(|e| panic!("{e}\n{}", out.describe()))
}
