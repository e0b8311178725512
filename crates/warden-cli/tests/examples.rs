//! The bundled `examples/` suite, which the README's first command runs: everything passes
//! except the one skip, and warden exits 0.

mod common;

use std::collections::BTreeMap;

use common::*;

#[test]
fn examples_suite_passes() {
    let sandbox = Sandbox::with_repo_dir("examples");
    let out = Warden::new(sandbox.path())
        .args(["run", "examples", "--json", "events.jsonl"])
        .run();
    let events = read_events(&sandbox, "events.jsonl", &out);
    let got = statuses(&events).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    let want: BTreeMap<String, String> = [
        ("examples/integration/files_test.pl", "pass"),
        ("examples/integration/protocol.t", "pass"),
        ("examples/system/later_test.sh", "skip"),
        ("examples/system/serial_test.sh", "pass"),
        ("examples/unit/arithmetic_test.sh", "pass"),
        ("examples/unit/strings_test.py", "pass"),
    ]
    .into_iter()
    .map(|(id, status)| (id.to_string(), status.to_string()))
    .collect();
    assert_eq!(got, want, "{}", out.describe());
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_no_panic(&out);
}
