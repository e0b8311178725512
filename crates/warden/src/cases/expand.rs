//! Files of a suite with `list` become their cases: the list command runs once per file (files
//! in parallel), its output is parsed by the suite's `list_format`, and every case becomes a
//! test `<file> <case>` with the file's markers and the command filled with `{case}`.
//! A file whose listing fails stays one test whose ERROR says why; its neighbours still run.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::command::run_listing;
use crate::config::Suite;
use crate::discovery::{build_case_command, build_command};
use crate::test_case::TestCase;

/// Runs the listings of `tests` whose suite has `list`, at most `parallel` at once, and
/// returns every test with those files replaced by their cases.
pub fn expand_listed(
    tests: Vec<TestCase>,
    suites: &[Suite],
    default_timeout: Duration,
    parallel: usize,
) -> Vec<TestCase> {
    let listing = |t: &TestCase| {
        suites
            .iter()
            .find(|s| s.name == t.suite)
            .filter(|s| s.list.is_some() && t.command.is_ok() && t.case.is_none())
    };
    let (todo, mut out): (Vec<TestCase>, Vec<TestCase>) =
        tests.into_iter().partition(|t| listing(t).is_some());
    if todo.is_empty() {
        return out;
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Vec<TestCase>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..parallel.clamp(1, todo.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(file) = todo.get(i) else { break };
                let suite = listing(file).expect("partitioned by this");
                let cases = expand_file(file, suite, default_timeout);
                results.lock().unwrap().push((i, cases));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    out.extend(results.into_iter().flat_map(|(_, cases)| cases));
    out
}

/// The cases of one file, or the file itself as an error.
fn expand_file(file: &TestCase, suite: &Suite, default_timeout: Duration) -> Vec<TestCase> {
    let template = suite.list.as_deref().unwrap_or_default();
    let argv = match build_command(&file.path, &file.id, Some(template), false) {
        Ok(argv) => argv,
        Err(e) => {
            let mut t = file.clone();
            t.command = Err(e.to_string());
            return vec![t];
        }
    };
    // The file itself as its own lister is named by its id, as everywhere else.
    let program = match argv.first() {
        Some(p) if Path::new(p) == file.path => file.id.clone(),
        Some(p) => p.clone(),
        None => String::new(),
    };
    let failed = |why: String| {
        let mut t = file.clone();
        t.command = Err(format!("{}: list command `{program}` {why}", file.id));
        vec![t]
    };
    let cwd = file
        .cwd
        .clone()
        .or_else(|| file.path.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| "/".into());
    let env: Vec<(String, String)> = file
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let timeout = file.timeout.unwrap_or(default_timeout);
    let listed = match run_listing(&argv, &cwd, &env, timeout) {
        Ok(listed) => listed,
        Err(why) => return failed(why.to_string()),
    };
    let names = suite.list_format.parse(&listed.stdout);
    if names.is_empty() {
        let first = listed.stdout.lines().find(|l| !l.trim().is_empty());
        return failed(match first {
            Some(line) => format!(
                "printed no case in the `{}` list format (first line: `{}`)",
                suite.list_format.name(),
                line.trim()
            ),
            None => "printed no cases".to_string(),
        });
    }
    cases_of(file, suite, names)
}

/// One test per distinct name; a name listed twice or one that cannot be an argument is an
/// ERROR of its own case, since running it alone would run something else or nothing.
pub fn cases_of(file: &TestCase, suite: &Suite, names: Vec<String>) -> Vec<TestCase> {
    let template = suite.command.as_deref().unwrap_or_default();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for name in &names {
        *count.entry(name.as_str()).or_default() += 1;
    }
    let mut cases = Vec::with_capacity(names.len());
    for name in &names {
        let Some(n) = count.remove(name.as_str()) else {
            continue;
        };
        let id = format!("{} {name}", file.id);
        let command = if n > 1 {
            Err(format!(
                "{}: the list names case `{name}` {n} times; a case must be unique to be run alone",
                file.id
            ))
        } else if name.chars().any(char::is_control) {
            Err(format!(
                "{}: case `{}` has a control character and cannot be passed as an argument",
                file.id,
                name.escape_debug()
            ))
        } else {
            build_case_command(&file.path, &id, template, name).map_err(|e| e.to_string())
        };
        cases.push(TestCase {
            id,
            case: Some(name.clone()),
            command,
            ..file.clone()
        });
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::ListFormat;
    use std::os::unix::fs::PermissionsExt;

    fn suite(list: &[&str], format: ListFormat) -> Suite {
        let mut s = Suite::new("s", vec!["**/*_test.*".into()], vec![]).unwrap();
        s.list = Some(list.iter().map(|a| a.to_string()).collect());
        s.list_format = format;
        s.command = Some(vec!["{path}".into(), "--".into(), "{case}".into()]);
        s
    }

    fn file(dir: &Path, name: &str, body: &str) -> TestCase {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut t = TestCase::for_test(&format!("t/{name}"));
        t.suite = "s".into();
        t.path = path;
        t.tags = vec!["db".into()];
        t
    }

    fn expand(tests: Vec<TestCase>, s: Suite) -> Vec<TestCase> {
        let mut out = expand_listed(tests, &[s], Duration::from_secs(10), 4);
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    #[test]
    fn every_case_is_a_test_with_the_markers_of_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let a = file(d, "a_test.sh", "printf 'one\\n-two\\nsp ace::ünï\\n'");
        let out = expand(vec![a], suite(&["{path}", "--list"], ListFormat::Lines));
        let ids: Vec<&str> = out.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "t/a_test.sh -two",
                "t/a_test.sh one",
                "t/a_test.sh sp ace::ünï"
            ]
        );
        let odd = &out[2];
        assert_eq!(odd.case.as_deref(), Some("sp ace::ünï"));
        assert_eq!(odd.file_id(), "t/a_test.sh");
        assert_eq!(odd.tags, ["db"]);
        let path = d.join("a_test.sh").display().to_string();
        assert_eq!(
            odd.command.as_deref().unwrap(),
            [path.as_str(), "--", "sp ace::ünï"]
        );
    }

    #[test]
    fn bad_listings_are_errors_of_their_file_and_others_still_expand() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let tests = vec![
            file(d, "fails_test.sh", "echo 'cannot load module' >&2; exit 3"),
            file(d, "empty_test.sh", "exit 0"),
            file(d, "junk_test.sh", "echo 'Usage: x [options]'"),
            file(d, "crash_test.sh", "kill -SEGV $$"),
            file(d, "dup_test.sh", "printf 'a: test\\nb: test\\na: test\\n'"),
            file(d, "good_test.sh", "echo 'ok: test'"),
        ];
        let out = expand(tests, suite(&["{path}"], ListFormat::Libtest));
        let by_id: HashMap<&str, &TestCase> = out.iter().map(|t| (t.id.as_str(), t)).collect();
        let err = |id: &str| by_id[id].command.clone().unwrap_err();
        assert_eq!(
            err("t/fails_test.sh"),
            "t/fails_test.sh: list command `t/fails_test.sh` exited with 3: cannot load module"
        );
        assert_eq!(
            err("t/empty_test.sh"),
            "t/empty_test.sh: list command `t/empty_test.sh` printed no cases"
        );
        assert_eq!(
            err("t/junk_test.sh"),
            "t/junk_test.sh: list command `t/junk_test.sh` printed no case in the `libtest` list \
             format (first line: `Usage: x [options]`)"
        );
        assert_eq!(
            err("t/crash_test.sh"),
            "t/crash_test.sh: list command `t/crash_test.sh` was killed by signal 11"
        );
        assert!(err("t/dup_test.sh a").contains("names case `a` 2 times"));
        assert!(by_id["t/dup_test.sh b"].command.is_ok());
        assert!(by_id["t/good_test.sh ok"].command.is_ok());
        assert_eq!(out.len(), 7);
    }

    #[test]
    fn files_of_other_suites_and_broken_files_stay_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut other = file(d, "o_test.sh", "echo x");
        other.suite = "default".into();
        let mut broken = file(d, "b_test.sh", "echo x");
        broken.command = Err("bad marker".into());
        let out = expand(vec![other, broken], suite(&["{path}"], ListFormat::Lines));
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|t| t.case.is_none()));
    }
}
