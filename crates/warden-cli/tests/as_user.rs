//! warden run as a normal user (created when the tests run as root): the tests run with that
//! user's ids, the run passes, and nothing of it is left.

mod common;

use common::*;

#[test]
fn a_normal_user_runs_a_suite_with_its_own_ids() {
    let user = normal_user().expect("a normal user to run warden as");
    let sandbox = Sandbox::new();
    sandbox.write_executable(
        "t/ids_test.sh",
        &format!(
            "#!/bin/sh\n[ \"$(id -u)\" = {} ] || {{ echo \"uid $(id -u)\"; exit 1; }}\n[ \"$(id -g)\" = {} ] || {{ echo \"gid $(id -g)\"; exit 1; }}\necho ok\n",
            user.uid, user.gid
        ),
    );
    user.own_tree(sandbox.path());
    let out = Warden::new(sandbox.path())
        .run_as(&user)
        .args(["run", "t", "--json", "events.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(out.left_behind.is_empty(), "{}", out.describe());
    let events = parse_json_lines(&sandbox.read("events.jsonl").unwrap()).unwrap();
    assert_eq!(
        statuses(&events)
            .unwrap()
            .get("t/ids_test.sh")
            .map(String::as_str),
        Some("pass")
    );
}
