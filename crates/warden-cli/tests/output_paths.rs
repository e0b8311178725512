//! Paths the user names for output (issue 10 §5): `warden merge -o`, `--junit`, `--json` and
//! `history export` write through a device, a FIFO or a symlink and never replace them; a
//! regular file is replaced whole. And the JUnit report counts skips as `skipped=` and lists
//! the tests a stopped run never started as skipped, "not run".

mod common;

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{symlink, FileTypeExt};
use std::path::Path;
use std::thread;

use common::*;

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// Reads a FIFO to its end on a thread (the writer blocks until a reader opens it).
fn drain_fifo(path: &Path) -> thread::JoinHandle<Vec<u8>> {
    let path = path.to_path_buf();
    thread::spawn(move || fs::read(path).unwrap_or_default())
}

fn is_char_device(p: &str) -> bool {
    fs::metadata(p).is_ok_and(|m| m.file_type().is_char_device())
}

/// A project with two tests and one JSON report of a run of them.
fn project() -> Scene {
    let scene = Scene::empty();
    scene.script("t/a_test.sh", "#!/bin/sh\nexit 0\n");
    scene.script("t/b_test.sh", "#!/bin/sh\nexit 0\n");
    scene
}

#[test]
fn merge_writes_through_dev_null_a_fifo_and_a_symlink() {
    let mut scene = project();
    let out = scene.run(&["t"], &[]).run();
    scene.verify(&out, 0);
    let input = scene.path().join(JSON_REPORT);

    // /dev/null as root: still the character device afterwards.
    let out = scene
        .warden()
        .args(["merge"])
        .arg(&input)
        .args(["-o", "/dev/null"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(is_char_device("/dev/null"), "merge -o replaced /dev/null");

    // A FIFO: the reader gets the merged report; the FIFO stays a FIFO.
    let fifo = scene.path().join("merged.fifo");
    mkfifo(&fifo);
    let reader = drain_fifo(&fifo);
    let out = scene
        .warden()
        .arg("merge")
        .arg(&input)
        .arg("-o")
        .arg(&fifo)
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let got = String::from_utf8(reader.join().unwrap()).unwrap();
    assert_eq!(
        parse_json_lines(&got).unwrap().len(),
        parse_json_lines(&fs::read_to_string(&input).unwrap())
            .unwrap()
            .len()
    );
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());

    // A symlink: its target gets the report, the link stays.
    let target = scene.path().join("artifacts/real.jsonl");
    fs::create_dir_all(target.parent().unwrap()).unwrap();
    fs::write(&target, "old").unwrap();
    let link = scene.path().join("merged.jsonl");
    symlink(&target, &link).unwrap();
    let out = scene
        .warden()
        .arg("merge")
        .arg(&input)
        .arg("-o")
        .arg(&link)
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    parse_json_lines(&fs::read_to_string(&target).unwrap()).unwrap();
}

#[test]
fn run_reports_and_history_export_write_through_too() {
    let mut scene = project();
    // --junit and --json to /dev/null.
    let out = scene
        .warden()
        .args(["run", "t", "--junit", "/dev/null", "--json", "/dev/null"])
        .arg("--state-dir")
        .arg(scene.state_dir())
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(is_char_device("/dev/null"));

    // --junit into a FIFO, --json through a symlink.
    let fifo = scene.path().join("junit.fifo");
    mkfifo(&fifo);
    let reader = drain_fifo(&fifo);
    fs::write(scene.path().join("real.jsonl"), "").unwrap();
    symlink("real.jsonl", scene.path().join("events-link.jsonl")).unwrap();
    let out = scene
        .warden()
        .args(["run", "t", "--junit"])
        .arg(&fifo)
        .args(["--json", "events-link.jsonl", "--state-dir"])
        .arg(scene.state_dir())
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let xml = String::from_utf8(reader.join().unwrap()).unwrap();
    roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(fs::symlink_metadata(scene.path().join("events-link.jsonl"))
        .unwrap()
        .file_type()
        .is_symlink());
    let events =
        parse_json_lines(&fs::read_to_string(scene.path().join("real.jsonl")).unwrap()).unwrap();
    let v = statuses(&events).unwrap();
    assert_eq!(v.len(), 2);
    scene.assert_nothing_left(&out, run_id(&events).as_deref());

    // history export through a symlink and to /dev/null.
    symlink("durations.jsonl", scene.path().join("export-link.jsonl")).unwrap();
    for to in ["export-link.jsonl", "/dev/null"] {
        let out = scene
            .warden()
            .args(["history", "export", to, "--state-dir"])
            .arg(scene.state_dir())
            .run();
        assert_eq!(out.code, Some(0), "{}", out.describe());
    }
    assert!(is_char_device("/dev/null"));
    assert!(fs::symlink_metadata(scene.path().join("export-link.jsonl"))
        .unwrap()
        .file_type()
        .is_symlink());
    let exported = fs::read_to_string(scene.path().join("durations.jsonl")).unwrap();
    assert_eq!(exported.lines().count(), 2, "{exported}");
}

#[test]
fn a_report_path_that_cannot_be_made_names_its_option() {
    let scene = project();
    for (option, path) in [
        ("--junit", "/proc/nope/j.xml"),
        ("--json", "/proc/nope/e.jsonl"),
    ] {
        let out = scene.warden().args(["run", "t", option, path]).run();
        out.assert_usage_error(&[option, path]);
    }
    let out = scene
        .warden()
        .args(["history", "export", "/proc/nope/h.jsonl"])
        .run();
    out.assert_usage_error(&["history export", "/proc/nope/h.jsonl"]);
}

/// `skipped=` (not `disabled=`), and a run stopped by --fail-fast lists the tests it never
/// started as skipped, "not run".
#[test]
fn junit_counts_skips_and_lists_never_started_tests() {
    let mut scene = Scene::empty();
    scene.script("t/a_fail_test.sh", "#!/bin/sh\nexit 1\n");
    scene.script("t/b_skip_test.sh", "#!/bin/sh\nexit 77\n");
    for name in ["c", "d", "e"] {
        scene.script(&format!("t/{name}_test.sh"), "#!/bin/sh\nexit 0\n");
    }
    // -j1 in id order (no history yet): a fails first, the rest never start.
    let out = scene.run(&["t"], &["-j", "1", "--fail-fast"]).run();
    let v = scene.verify(&out, 1);
    assert_eq!(v.status("t/a_fail_test.sh"), Some("fail"));
    assert_eq!(v.junit_cases.len(), 5, "{:?}", v.junit_cases);
    let xml = scene.sandbox.read(JUNIT_REPORT).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("skipped"), Some("4"), "{xml}");
    assert_eq!(suite.attribute("disabled"), None, "{xml}");
    assert_eq!(doc.root_element().attribute("skipped"), Some("4"), "{xml}");
    let not_run: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("skipped") && n.attribute("message") == Some("not run"))
        .filter_map(|n| n.parent().and_then(|p| p.attribute("name")))
        .collect();
    assert_eq!(
        not_run,
        [
            "t/b_skip_test.sh",
            "t/c_test.sh",
            "t/d_test.sh",
            "t/e_test.sh"
        ]
    );
}
