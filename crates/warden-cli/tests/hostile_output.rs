//! Hostile suite, output (issue 17): tests that flood, print bytes no terminal should see,
//! stream 100,000 TAP subtests, close their output early or reach for `/dev/tty`. warden keeps
//! its memory bounded, its terminal clean (the log files keep the raw bytes), and its reports
//! valid. Fixtures: `fixtures/hostile/output/`; the 500 MB are generated as the test runs.

mod common;

use std::path::Path;

use common::*;

/// warden's own peak RSS while a test prints 500 MB: head and tail are kept, the rest goes to
/// the log file, so this stays far below the flood.
const PEAK_RSS_LIMIT_KIB: u64 = 96 * 1024;

const AREA: &str = "output";

fn expected() -> [(&'static str, &'static str); 6] {
    [
        ("output/flood_test.sh", "fail"),
        ("output/bytes_test.sh", "fail"),
        ("output/tap_many_test.sh", "pass"),
        ("output/tap_escape_test.sh", "fail"),
        ("output/closed_test.sh", "pass"),
        ("output/tty_test.sh", "pass"),
    ]
}

/// The whole area in one run, checked case by case.
fn run_output_area(scene: &mut Scene) {
    let out = scene
        .run(&[AREA], &["-j", "2", "--timeout", "60s"])
        .limit(std::time::Duration::from_secs(90))
        .run();
    let v = scene.verify(&out, 1);
    for (id, status) in expected() {
        assert_eq!(v.status(id), Some(status), "{id}\n{}", out.describe());
    }
    assert_eq!(v.junit_cases.len(), expected().len(), "{:?}", v.junit_cases);

    // Flood: bounded memory, every byte in the log, a tail on the terminal.
    let peak = out.peak_rss_kib.expect("warden's VmHWM was read");
    assert!(
        peak < PEAK_RSS_LIMIT_KIB,
        "warden's peak RSS was {peak} KiB while a test printed 500 MB (limit {PEAK_RSS_LIMIT_KIB} KiB)"
    );
    let flood = v.finished("output/flood_test.sh").unwrap();
    let log = flood["log"].as_str().expect("the flood's log path");
    let len = std::fs::metadata(scene.path().join(log).as_path())
        .or_else(|_| std::fs::metadata(log))
        .map(|m| m.len())
        .unwrap_or_else(|e| panic!("log {log}: {e}"));
    assert_eq!(len, 500_000_000, "the flood's log holds every byte");
    assert!(out.stderr.contains("bytes omitted"), "{}", out.describe());

    // 100,000 TAP subtests counted.
    let many = v.finished("output/tap_many_test.sh").unwrap();
    assert_eq!(many["subtests"]["passed"], 100_000, "{many}");

    // Nothing a test printed reaches the terminal raw, and nothing forges a result line.
    let controls = raw_controls(&out.stdout)
        .into_iter()
        .chain(raw_controls(&out.stderr))
        .collect::<Vec<_>>();
    assert!(
        controls.is_empty(),
        "raw control characters reached the terminal: {controls:?}\n{}",
        out.describe()
    );
    for forged in ["forged_by_output", "forged_by_tap", "forged_by_bail"] {
        assert!(
            !out.stderr
                .lines()
                .any(|l| l.starts_with("PASS") && l.contains(forged)),
            "a test forged a PASS line ({forged})\n{}",
            out.describe()
        );
    }
    // ...but the log file keeps the raw bytes.
    let bytes = v.finished("output/bytes_test.sh").unwrap();
    let log = bytes["log"].as_str().expect("a log path");
    let raw = read_bytes(Path::new(log));
    for needle in [&b"\x1b[2J"[..], b"\0", b"\xff\xfe", b"\r"] {
        assert!(
            raw.windows(needle.len()).any(|w| w == needle),
            "the log lost the raw bytes {needle:?}"
        );
    }
    let bail = v.finished("output/tap_escape_test.sh").unwrap();
    assert_eq!(bail["status"], "fail");
}

#[test]
fn output_floods_and_hostile_bytes_as_root() {
    let mut scene = Scene::with_area(AREA);
    run_output_area(&mut scene);
}

#[test]
fn output_floods_and_hostile_bytes_as_a_normal_user() {
    let user = normal_user().expect("a normal user");
    let mut scene = Scene::with_area(AREA).run_by(&user);
    run_output_area(&mut scene);
}
