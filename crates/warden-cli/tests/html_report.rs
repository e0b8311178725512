//! `--html` and `warden report`, looked at as a person would: the page of a real run is opened
//! in headless Chromium (Debian's `chromium`), whose DOM must hold one bar per attempt and the
//! failing tests' output, and whose screenshot is saved under the target dir. Without chromium
//! the browser checks are skipped, unless `WARDEN_REQUIRE_CHROMIUM=1` (CI sets it).

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const FIXTURE: &str = "report";

/// One run of fixtures/report with `--retries 1 -j3 --html --json`, shared by the tests.
struct ReportRun {
    sandbox: Sandbox,
    out: Outcome,
    events: Vec<Value>,
    page: String,
}

fn report_run() -> &'static ReportRun {
    static RUN: OnceLock<ReportRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let sandbox = Sandbox::with_fixture(FIXTURE);
        let out = Warden::new(sandbox.path())
            .args(["run", "report", "-j3", "--retries", "1"])
            .args(["--html", "out/report.html", "--json", "out/events.jsonl"])
            .run();
        let events = read_events(&sandbox, "out/events.jsonl", &out);
        let page = sandbox
            .read("out/report.html")
            .unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
        ReportRun {
            sandbox,
            out,
            events,
            page,
        }
    })
}

fn expected() -> Value {
    let text = std::fs::read_to_string(repo_root().join("fixtures/report/expected.json"))
        .expect("fixtures/report/expected.json");
    serde_json::from_str(&text).expect("expected.json is JSON")
}

/// `(id, attempt)` of every `test-started` line: the attempts the page must draw.
fn started_attempts(events: &[Value]) -> BTreeMap<(String, u64), usize> {
    let mut out = BTreeMap::new();
    for e in of_type(events, "test-started") {
        let key = (
            e["id"].as_str().unwrap_or("").to_string(),
            e["attempt"].as_u64().unwrap_or(0),
        );
        *out.entry(key).or_default() += 1;
    }
    out
}

/// `(id, attempt)` of every bar in a page or DOM: `<rect class="b ...">` with a `<title>` whose
/// first line is the test id and whose second starts with `attempt N`.
fn bars(html: &str) -> BTreeMap<(String, u64), usize> {
    let mut out = BTreeMap::new();
    for piece in html.split(r#"<rect class="b "#).skip(1) {
        let title = piece
            .split_once("<title>")
            .and_then(|(_, t)| t.split_once("</title>"))
            .map(|(t, _)| t.replace("&#10;", "\n"))
            .unwrap_or_else(|| panic!("a bar without a title: {}", &piece[..80.min(piece.len())]));
        let mut lines = title.lines();
        let id = lines.next().unwrap_or("").replace("&amp;", "&");
        let attempt = lines
            .next()
            .and_then(|l| l.strip_prefix("attempt "))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no attempt in the title {title:?}"));
        *out.entry((id, attempt)).or_default() += 1;
    }
    out
}

fn require_chromium() -> bool {
    std::env::var("WARDEN_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1")
}

/// Debian's chromium on PATH; `None` (the browser checks are skipped) when absent and not
/// required.
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"]
        .iter()
        .find_map(|name| which(name));
    if found.is_none() {
        assert!(
            !require_chromium(),
            "WARDEN_REQUIRE_CHROMIUM=1 but no chromium on PATH (.ci/run installs Debian's chromium)"
        );
        eprintln!("chromium not found: skipping the browser checks");
    }
    found
}

/// Runs headless chromium on a local page with `args` (`--dump-dom`, `--screenshot=...`) and
/// returns its stdout. It runs in its own process group, which is killed when it is done
/// (or after a minute), so none of its helper processes outlive the test.
fn headless(chrome: &Path, page: &Path, args: &[String], hash: &str) -> String {
    let profile = tempfile::tempdir().expect("a profile dir");
    let mut cmd = Command::new(chrome);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(args)
    .arg(format!("file://{}{hash}", page.display()))
    .env("HOME", profile.path())
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .process_group(0);
    let child = cmd.spawn().expect("start chromium");
    let pgid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx.recv_timeout(Duration::from_secs(60));
    // SAFETY: kill(2) on the process group we created for chromium alone.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let out = out
        .expect("chromium finished within a minute")
        .expect("chromium ran");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_run_ends_as_the_fixture_says_and_writes_the_page() {
    let run = report_run();
    assert_eq!(run.out.code, Some(1), "{}", run.out.describe());
    assert!(run.out.left_behind.is_empty(), "{}", run.out.describe());
    let expected = expected();
    let statuses = statuses(&run.events).unwrap();
    let want: BTreeMap<String, String> = expected["tests"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, t)| {
            (
                format!("report/{id}"),
                t["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(statuses, want, "{}", run.out.describe());
    let attempts = started_attempts(&run.events);
    for (id, t) in expected["tests"].as_object().unwrap() {
        let n: usize = attempts
            .iter()
            .filter(|((i, _), _)| *i == format!("report/{id}"))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(n as u64, t["attempts"].as_u64().unwrap(), "{id}");
    }
    // The page as written: a bar per attempt, nothing from outside.
    assert_eq!(bars(&run.page), attempts);
    for outside in ["http:", "https:", "<link", " src="] {
        assert!(!run.page.contains(outside), "the page refers to {outside}");
    }
}

#[test]
fn chromium_shows_a_bar_per_attempt_and_the_failing_output() {
    let Some(chrome) = chromium() else { return };
    let run = report_run();
    let page = run.sandbox.path().join("out/report.html");
    let dom = headless(&chrome, &page, &["--dump-dom".to_string()], "");
    assert!(dom.contains("</html>"), "no DOM from chromium:\n{dom}");
    assert_eq!(bars(&dom), started_attempts(&run.events), "bars in the DOM");
    // The failing tests' output, as text in the page.
    for (id, t) in expected()["tests"].as_object().unwrap() {
        if let Some(line) = t["output"].as_str() {
            assert!(dom.contains(line), "{id}: {line:?} not in the DOM");
        }
    }
    let api = dom
        .split(r#"<pre class="out">"#)
        .skip(1)
        .find(|p| p.contains("assertion failed: expected status 200, got 503"));
    assert!(
        api.is_some(),
        "the failure's output is not in an output block"
    );
    // The script ran: it drew a table row per test.
    let tests = of_type(&run.events, "test-finished").len();
    let rows = dom
        .split(r#"<tr class="row" data-i=""#)
        .skip(1)
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert_eq!(rows, tests, "table rows drawn by the script");
    assert!(
        dom.contains(r#"class="blabels""#) && dom.contains("api_test.sh #2"),
        "bar labels"
    );

    // The table's filter and sort, as a link can set them.
    let view = |hash: &str| -> Vec<(String, String)> {
        let dom = headless(&chrome, &page, &["--dump-dom".to_string()], hash);
        dom.split(r#"<tr class="row" data-i=""#)
            .skip(1)
            .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
            .map(|row| {
                let id = row
                    .split("<code>")
                    .nth(1)
                    .and_then(|r| r.split("</code>").next());
                let cells: Vec<&str> = row.split(r#"<td class="num">"#).skip(1).collect();
                let dur = cells.first().and_then(|c| c.split("</td>").next());
                (id.unwrap_or("").to_string(), dur.unwrap_or("").to_string())
            })
            .collect()
    };
    let api = view("#q=api_test&status=fail");
    assert_eq!(api.len(), 1, "{api:?}");
    assert_eq!(api[0].0, "report/integration/api_test.sh");
    let passing = view("#status=pass");
    assert_eq!(passing.len(), 8, "{passing:?}");
    let by_duration: Vec<u64> = view("#sort=dur")
        .iter()
        .map(|(_, d)| match d.strip_suffix("ms") {
            Some(ms) => ms.parse().unwrap(),
            None => (d.trim_end_matches('s').parse::<f64>().unwrap() * 1000.0) as u64,
        })
        .collect();
    assert_eq!(by_duration.len(), tests);
    assert!(
        by_duration.windows(2).all(|w| w[0] >= w[1]),
        "not sorted by duration: {by_duration:?}"
    );

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html-report");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("report.png");
    let _ = std::fs::remove_file(&shot);
    headless(
        &chrome,
        &page,
        &[
            "--window-size=1440,1400".to_string(),
            format!("--screenshot={}", shot.display()),
        ],
        "",
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 30_000,
        "a {} byte screenshot is blank",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
}

#[test]
fn warden_report_renders_the_saved_stream_to_the_same_page() {
    let run = report_run();
    let out = Warden::new(run.sandbox.path())
        .args(["report", "out/events.jsonl", "--html", "out/again.html"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stderr.contains("to out/again.html"),
        "{}",
        out.describe()
    );
    let again = run.sandbox.read("out/again.html").unwrap();
    assert!(
        again == run.page,
        "the page of the saved stream differs from the run's"
    );
    let stdout = Warden::new(run.sandbox.path())
        .args(["report", "out/events.jsonl", "--html", "-", "--no-history"])
        .run();
    assert_eq!(stdout.code, Some(0), "{}", stdout.describe());
    assert!(stdout.stdout.starts_with("<!DOCTYPE html>"));
    assert_eq!(bars(&stdout.stdout), bars(&run.page));
}

#[test]
fn warden_report_names_the_line_of_a_torn_or_foreign_stream() {
    let run = report_run();
    let good = run.sandbox.read("out/events.jsonl").unwrap();
    let lines: Vec<&str> = good.lines().collect();
    let n = lines.len();
    let torn = format!("{}\n{}", lines[..n - 1].join("\n"), &lines[n - 1][..30]);
    let sandbox = Sandbox::new();
    sandbox.write("torn.jsonl", &torn);
    sandbox.write("foreign.jsonl", "{\"name\":\"a\",\"value\":1}\n");
    sandbox.write("junit.xml", "<testsuites/>\n");
    sandbox.write("empty.jsonl", "\n");
    sandbox.write("headless.jsonl", &format!("{}\n", lines[1..].join("\n")));
    let cases = [
        (
            "torn.jsonl",
            format!("torn.jsonl:{n}: the line ends in the middle of a JSON value: torn"),
        ),
        (
            "foreign.jsonl",
            "foreign.jsonl:1: no string `type`: not a warden event".to_string(),
        ),
        ("junit.xml", "junit.xml:1: not a JSON line".to_string()),
        (
            "empty.jsonl",
            "empty.jsonl: empty, not a warden event stream".to_string(),
        ),
        (
            "headless.jsonl",
            "headless.jsonl:1: an event before run-started: not the start of a warden event stream"
                .to_string(),
        ),
        ("missing.jsonl", "cannot read missing.jsonl".to_string()),
    ];
    for (file, message) in cases {
        let out = Warden::new(sandbox.path())
            .args(["report", file, "--html", "out.html"])
            .run();
        out.assert_usage_error(&[&message]);
        assert!(
            !sandbox.path().join("out.html").exists(),
            "{file}: a page was written\n{}",
            out.describe()
        );
    }
}

#[test]
fn merged_shards_render_one_lane_group_each() {
    let sandbox = Sandbox::with_fixture(FIXTURE);
    for k in 1..=2 {
        let out = Warden::new(sandbox.path())
            .args([
                "run",
                "report",
                "-j2",
                "--partition",
                &format!("count:{k}/2"),
            ])
            .args([
                "--json",
                &format!("s{k}.jsonl"),
                "--state-dir",
                &format!(".st{k}"),
            ])
            .run();
        assert_eq!(out.code, Some(1), "{}", out.describe());
    }
    let merged = Warden::new(sandbox.path())
        .args(["merge", "s1.jsonl", "s2.jsonl", "-o", "merged.jsonl"])
        .run();
    assert_eq!(merged.code, Some(0), "{}", merged.describe());
    let out = Warden::new(sandbox.path())
        .args(["report", "merged.jsonl", "--html", "merged.html"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let page = sandbox.read("merged.html").unwrap();
    let events = parse_json_lines(&sandbox.read("merged.jsonl").unwrap()).unwrap();
    assert_eq!(page.matches(r#"<div class="glab""#).count(), 2);
    assert!(page.contains("shard 1 · count:1/2") && page.contains("shard 2 · count:2/2"));
    assert_eq!(bars(&page), started_attempts(&events));
    assert!(page.contains("2 shards merged"));
}

#[test]
fn an_interrupted_run_still_writes_its_page() {
    let sandbox = Sandbox::new();
    sandbox.write_executable("t/quick_test.sh", "#!/bin/sh\necho quick\n");
    sandbox.write_executable("t/hang_test.sh", "#!/bin/sh\necho started\nsleep 60\n");
    let running = Warden::new(sandbox.path())
        .args([
            "run",
            "t",
            "-j2",
            "--html",
            "r.html",
            "--json",
            "events.jsonl",
        ])
        .spawn()
        .expect("start warden");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sandbox
        .read("events.jsonl")
        .is_ok_and(|t| t.contains("\"id\":\"t/hang_test.sh\"") && t.contains("test-started"))
    {
        assert!(Instant::now() < deadline, "the hang test never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    running.signal(libc::SIGINT);
    let out = running.wait().unwrap();
    assert_eq!(out.code, Some(130), "{}", out.describe());
    let page = sandbox
        .read("r.html")
        .unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    assert!(page.contains("<b>INTERRUPTED</b>"), "{}", out.describe());
    assert!(page.contains("stopped by a signal"));
    assert!(
        page.contains(r#"<rect class="b cancelled"#),
        "the hang test's bar"
    );
    assert!(page.contains("cancelled: the run was interrupted"));
    assert!(out.left_behind.is_empty(), "{}", out.describe());
}

#[test]
fn html_from_the_config_file_through_a_symlink_as_a_normal_user() {
    let user = normal_user().expect("a normal user to run warden as");
    let sandbox = Sandbox::new();
    sandbox.write_executable("t/a_test.sh", "#!/bin/sh\necho a\n");
    sandbox.write("warden.toml", "[run]\nhtml = \"reports/link.html\"\n");
    sandbox.mkdir("reports");
    sandbox.write("reports/real.html", "old");
    std::os::unix::fs::symlink("real.html", sandbox.path().join("reports/link.html")).unwrap();
    user.own_tree(sandbox.path());
    let out = Warden::new(sandbox.path())
        .run_as(&user)
        .args(["run", "t"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let link = sandbox.path().join("reports/link.html");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the symlink was replaced"
    );
    let page = sandbox.read("reports/real.html").unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("t/a_test.sh"));
    assert!(page.contains("<b>PASSED</b>"));
}

#[test]
fn html_options_that_cannot_work_are_usage_errors() {
    let sandbox = Sandbox::new();
    sandbox.write_executable("t/a_test.sh", "#!/bin/sh\necho a\n");
    sandbox.mkdir("adir");
    let cases: [(&[&str], &str); 3] = [
        (
            &["run", "t", "--html", "-"],
            "--html: `-` (stdout) is not supported",
        ),
        (
            &["run", "t", "--list", "--html", "r.html"],
            "--list cannot be combined with --html",
        ),
        (&["run", "t", "--html", "adir"], "adir: is a directory"),
    ];
    for (args, message) in cases {
        let out = Warden::new(sandbox.path()).args(args).run();
        out.assert_usage_error(&[message]);
        assert!(
            !out.stderr.contains("a_test.sh"),
            "a test ran\n{}",
            out.describe()
        );
    }
}
