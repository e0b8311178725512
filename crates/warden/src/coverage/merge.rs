//! The end of a coverage run: find what the tests wrote, kind by kind, and merge each kind with
//! its toolchain's tool into `<run dir>/coverage-merged/`, or say where the raw data is and the
//! command that would merge it.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::tools::{self, ToolError};
use super::Coverage;
use crate::events::{CoverageKind, CoverageSummary};
use crate::report::shell_word;

/// Why one kind's data could not be merged (the run goes on; the summary says it).
#[derive(Debug, thiserror::Error)]
enum MergeError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// Every candidate tool failed (an older `llvm-profdata` cannot read a newer format).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    AllFailed(Vec<ToolError>),
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("no test wrote .gcda files")]
    NoGcda,
}

/// `cannot <action> <path>: <error>`.
fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> MergeError {
    let path = path.to_path_buf();
    move |source| MergeError::Io {
        action,
        path,
        source,
    }
}

/// The data files of one kind and the test directories that hold them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Found {
    pub files: Vec<PathBuf>,
    pub tests: BTreeSet<PathBuf>,
}

/// The kind of a data file, by the name its runtime gives it.
fn kind_of(name: &str, top_level: bool) -> Option<CoverageKind> {
    if name.ends_with(".profraw") {
        Some(CoverageKind::Llvm)
    } else if name.ends_with(".gcda") {
        Some(CoverageKind::Gcov)
    } else if name.starts_with("covmeta.") || name.starts_with("covcounters.") {
        Some(CoverageKind::Go)
    } else if top_level && name.starts_with("coverage-") && name.ends_with(".json") {
        Some(CoverageKind::Node)
    } else if top_level && (name == ".coverage" || name.starts_with(".coverage.")) {
        Some(CoverageKind::Python)
    } else {
        None
    }
}

/// Every data file under the test directories of `root`, by kind.
pub fn scan(root: &Path) -> BTreeMap<CoverageKind, Found> {
    let mut found: BTreeMap<CoverageKind, Found> = BTreeMap::new();
    let Ok(tests) = std::fs::read_dir(root) else {
        return found;
    };
    let mut tests: Vec<PathBuf> = tests.flatten().map(|e| e.path()).collect();
    tests.sort();
    for test in tests.iter().filter(|t| t.is_dir()) {
        let mut stack = vec![test.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut entries: Vec<_> = entries.flatten().collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let Ok(t) = e.file_type() else { continue };
                if t.is_dir() {
                    stack.push(e.path());
                    continue;
                }
                let name = e.file_name();
                let Some(kind) = name.to_str().and_then(|n| kind_of(n, &dir == test)) else {
                    continue;
                };
                let f = found.entry(kind).or_default();
                f.files.push(e.path());
                f.tests.insert(test.clone());
            }
        }
    }
    found
}

/// What merging one kind came to.
struct Merged {
    result: Option<PathBuf>,
    tool: Option<String>,
    /// The command that merges it by hand.
    command: String,
    problem: Option<String>,
}

/// Merge every kind of data under `cov.root` into `cov.merged_dir()`, each tool run taking at
/// most `timeout`. `skip` says why nothing is run (the run was stopped): each kind then gets
/// its command only.
pub fn merge_run(cov: &Coverage, skip: Option<&str>, timeout: Duration) -> Vec<CoverageSummary> {
    let out = cov.merged_dir();
    scan(&cov.root)
        .into_iter()
        .map(|(kind, found)| {
            let m = match skip {
                Some(why) => Merged {
                    result: None,
                    tool: None,
                    command: command(kind, cov, &out),
                    problem: Some(why.to_string()),
                },
                None => match std::fs::create_dir_all(&out) {
                    Err(e) => Merged {
                        result: None,
                        tool: None,
                        command: command(kind, cov, &out),
                        problem: Some(format!("cannot create {}: {e}", out.display())),
                    },
                    Ok(()) => merge_kind(kind, cov, &found, &out, timeout),
                },
            };
            CoverageSummary {
                kind,
                tests: found.tests.len(),
                files: found.files.len(),
                raw_dir: cov.root.clone(),
                command: m.result.is_none().then_some(m.command),
                merged: m.result,
                tool: m.tool,
                problem: m.problem,
            }
        })
        .collect()
}

fn merge_kind(
    kind: CoverageKind,
    cov: &Coverage,
    found: &Found,
    out: &Path,
    timeout: Duration,
) -> Merged {
    let command = command(kind, cov, out);
    let missing = |what: &str| Merged {
        result: None,
        tool: None,
        command: command.clone(),
        problem: Some(format!("no {what} on PATH")),
    };
    let ran = |tool: &Path, result: Result<PathBuf, MergeError>| {
        let tool = Some(file_name(tool));
        match result {
            Ok(path) => Merged {
                result: Some(path),
                tool,
                command: command.clone(),
                problem: None,
            },
            Err(e) => Merged {
                result: None,
                tool,
                command: command.clone(),
                problem: Some(e.to_string()),
            },
        }
    };
    match kind {
        CoverageKind::Llvm => {
            let candidates = tools::llvm_profdata(timeout);
            if candidates.is_empty() {
                return missing("llvm-profdata");
            }
            let target = out.join("coverage.profdata");
            // Thousands of tests' files do not fit on a command line: they go in a list.
            let list = input_list(&found.files, &out.join("profraw-files.txt"));
            let mut errors = Vec::new();
            for tool in &candidates {
                let mut args: Vec<&OsStr> = vec![
                    "merge".as_ref(),
                    "-sparse".as_ref(),
                    "-o".as_ref(),
                    target.as_os_str(),
                ];
                match &list {
                    Some(list) => args.extend(["-f".as_ref(), list.as_os_str()]),
                    None => args.extend(found.files.iter().map(|f| f.as_os_str())),
                }
                match tools::run(tool, args, &cov.project, &[], timeout) {
                    Ok(_) => return ran(tool, Ok(target)),
                    // A hang is no format problem: the next one would only wait as long.
                    Err(e @ ToolError::TimedOut { .. }) => return ran(tool, Err(e.into())),
                    // An older llvm-profdata cannot read a newer format: try the next one.
                    Err(e) => errors.push(e),
                }
            }
            let tool = candidates.last().expect("not empty");
            ran(tool, Err(MergeError::AllFailed(errors)))
        }
        CoverageKind::Gcov => {
            let missing_notes = place_gcno(cov, &found.files);
            let Some(gcovr) = tools::find(&["gcovr"]) else {
                return match (tools::find(&["gcov-tool"]), tools::find(&["gcov"])) {
                    (Some(gcov_tool), Some(gcov)) => {
                        let result =
                            gcov_merge(&gcov_tool, &gcov, &cov.project, &found.tests, out, timeout);
                        ran(&gcov_tool, result)
                    }
                    _ => missing("gcovr (nor gcov-tool and gcov)"),
                };
            };
            let txt = out.join("gcov.txt");
            let json = out.join("gcov.json");
            // Cobertura XML, which CI systems show.
            let xml = out.join("gcov.xml");
            let result = tools::run(
                &gcovr,
                [
                    "--root".as_ref(),
                    cov.project.as_os_str(),
                    "--txt".as_ref(),
                    txt.as_os_str(),
                    "--json".as_ref(),
                    json.as_os_str(),
                    "--json-pretty".as_ref(),
                    "--xml".as_ref(),
                    xml.as_os_str(),
                    cov.root.as_os_str(),
                ],
                &cov.project,
                &[],
                timeout,
            );
            let mut m = ran(&gcovr, result.map(|_| txt).map_err(MergeError::from));
            if m.result.is_some() && !missing_notes.is_empty() {
                m.problem = Some(missing_notes.join("; "));
            }
            m
        }
        CoverageKind::Go => {
            let Some(go) = tools::find(&["go"]) else {
                return missing("go");
            };
            let target = out.join("go");
            let inputs = dir_list(&found.tests);
            let result = std::fs::create_dir_all(&target)
                .map_err(io_error("create", &target))
                .and_then(|()| {
                    tools::run(
                        &go,
                        [
                            "tool".into(),
                            "covdata".into(),
                            "merge".into(),
                            format!("-i={inputs}"),
                            format!("-o={}", target.display()),
                        ],
                        &cov.project,
                        &[],
                        timeout,
                    )
                    .map_err(MergeError::from)
                });
            ran(&go, result.map(|_| target))
        }
        CoverageKind::Node => {
            let Some(c8) = tools::find(&["c8"]) else {
                return missing("c8");
            };
            let profiles = out.join("node-v8");
            let report = out.join("node");
            let result = gather(&cov.root, &found.files, &profiles).and_then(|()| {
                tools::run(
                    &c8,
                    [
                        "report".as_ref(),
                        "--temp-directory".as_ref(),
                        profiles.as_os_str(),
                        "--reports-dir".as_ref(),
                        report.as_os_str(),
                        "--reporter=text".as_ref(),
                        "--reporter=lcov".as_ref(),
                    ],
                    &cov.project,
                    &[],
                    timeout,
                )
                .map_err(MergeError::from)
            });
            ran(&c8, result.map(|_| report))
        }
        CoverageKind::Python => {
            let Some(tool) = tools::find(&["coverage", "python3-coverage", "coverage3"]) else {
                return missing("coverage (coverage.py)");
            };
            let target = out.join("python.coverage");
            // The output file is named the way every coverage.py version understands.
            let env = [("COVERAGE_FILE", target.as_os_str())];
            // In batches that fit on a command line, each appended to the last.
            let result = found.files.chunks(PYTHON_BATCH).try_for_each(|batch| {
                let mut args: Vec<&OsStr> =
                    vec!["combine".as_ref(), "--append".as_ref(), "--keep".as_ref()];
                args.extend(batch.iter().map(|f| f.as_os_str()));
                tools::run(&tool, args, &cov.project, &env, timeout).map(drop)
            });
            let mut m = ran(
                &tool,
                result.map(|_| target.clone()).map_err(MergeError::from),
            );
            if m.result.is_some() {
                // Cobertura XML beside it, for CI; the data file is the result either way.
                let xml = out.join("python.xml");
                let args = ["xml".as_ref(), "-o".as_ref(), xml.as_os_str()];
                if let Err(e) = tools::run(&tool, args, &cov.project, &env, timeout) {
                    m.problem = Some(format!("no python.xml: {e}"));
                }
            }
            m
        }
    }
}

/// Data files given to one `coverage combine`: well below any command-line limit.
const PYTHON_BATCH: usize = 500;

/// `llvm-profdata -f` input: one `weight,path` per line (the weight keeps a comma in a path
/// from being read as one). `None` when a path cannot be a line or the list cannot be written:
/// the files are then passed as arguments.
fn input_list(files: &[PathBuf], list: &Path) -> Option<PathBuf> {
    let mut text = String::new();
    for f in files {
        let p = f.to_str().filter(|p| !p.contains('\n') && p.trim() == *p)?;
        text.push_str("1,");
        text.push_str(p);
        text.push('\n');
    }
    std::fs::write(list, text).ok().map(|()| list.to_path_buf())
}

/// The command that merges one kind by hand, from anywhere.
fn command(kind: CoverageKind, cov: &Coverage, out: &Path) -> String {
    let root = shell_word(&cov.root.to_string_lossy());
    let project = shell_word(&cov.project.to_string_lossy());
    let o = |name: &str| shell_word(&out.join(name).to_string_lossy());
    match kind {
        CoverageKind::Llvm => format!(
            "llvm-profdata merge -sparse -o {} {root}/*/*.profraw",
            o("coverage.profdata")
        ),
        CoverageKind::Gcov => format!(
            "cd {project} && gcovr --root . --txt {} {root}",
            o("gcov.txt")
        ),
        CoverageKind::Go => format!(
            "go tool covdata merge -i=$(printf '%s,' {root}/*/ | sed 's/,$//') -o={}",
            o("go")
        ),
        CoverageKind::Node => {
            let dir = o("node-v8");
            format!(
                "mkdir -p {dir} && cp {root}/*/coverage-*.json {dir}/ && npx c8 report \
                 --temp-directory {dir} --reporter=text"
            )
        }
        CoverageKind::Python => format!(
            "cd {project} && COVERAGE_FILE={} coverage combine --keep {root}/*/.coverage*",
            o("python.coverage")
        ),
    }
}

/// gcov reads a `.gcda` beside its `.gcno`: copy each object's `.gcno` from where the build
/// left it next to every test's `.gcda`, so that a test's directory is a complete snapshot
/// (later rebuilds do not change it). With `GCOV_PREFIX_STRIP=0` the `.gcda` of
/// `/src/build/a.o` is at `<dir>/src/build/a.gcda`; with a user's own strip, the path is
/// tried under the project. Returns a note for every `.gcda` left without one.
fn place_gcno(cov: &Coverage, gcda: &[PathBuf]) -> Vec<String> {
    let mut notes = Vec::new();
    for file in gcda {
        let beside = file.with_extension("gcno");
        if beside.exists() {
            continue;
        }
        let Ok(under) = file.strip_prefix(&cov.root) else {
            continue;
        };
        // Past the test's own directory.
        let rel: PathBuf = under.iter().skip(1).collect();
        let rel = rel.with_extension("gcno");
        let source = [Path::new("/").join(&rel), cov.project.join(&rel)]
            .into_iter()
            .find(|p| p.is_file());
        match source {
            Some(src) => {
                if let Err(e) = std::fs::copy(&src, &beside) {
                    notes.push(format!("cannot copy {}: {e}", src.display()));
                }
            }
            None => notes.push(format!("no .gcno found for {}", file.display())),
        }
    }
    notes
}

/// Without gcovr: `gcov-tool merge` the tests' `.gcda` trees (with their `.gcno` copies) one
/// after another into `<out>/gcda`, then `gcov` writes the merged counts of each object as a
/// `.gcov` text file into `<out>/gcov`, the result.
fn gcov_merge(
    gcov_tool: &Path,
    gcov: &Path,
    project: &Path,
    tests: &BTreeSet<PathBuf>,
    out: &Path,
    timeout: Duration,
) -> Result<PathBuf, MergeError> {
    let merged = out.join("gcda");
    let report = out.join("gcov");
    for dir in [&merged, &report] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io_error("remove", dir))?;
        }
    }
    let first = tests.first().ok_or(MergeError::NoGcda)?;
    copy_tree(first, &merged)?;
    for (n, dir) in tests.iter().skip(1).enumerate() {
        let next = out.join(format!("gcda.{n}"));
        tools::run(
            gcov_tool,
            [
                "merge".as_ref(),
                "-o".as_ref(),
                next.as_os_str(),
                merged.as_os_str(),
                dir.as_os_str(),
            ],
            out,
            &[],
            timeout,
        )?;
        std::fs::remove_dir_all(&merged)
            .and_then(|()| std::fs::rename(&next, &merged))
            .map_err(io_error("replace", &merged))?;
    }
    // gcov-tool writes the counts only: the notes come from the tests' own copies.
    for dir in tests {
        copy_matching(dir, &merged, "gcno")?;
    }
    std::fs::create_dir_all(&report).map_err(io_error("create", &report))?;
    // In the project, where the build most likely ran (gcov finds relative sources from
    // there); `-t` writes to stdout, so nothing lands in the project.
    for file in scan_files(&merged, "gcda") {
        let text = tools::run(
            gcov,
            ["-t".as_ref(), file.as_os_str()],
            project,
            &[],
            timeout,
        )?;
        let rel = file.strip_prefix(&merged).unwrap_or(&file);
        let name = rel
            .with_extension("gcov")
            .to_string_lossy()
            .replace('/', "__");
        let dest = report.join(name);
        std::fs::write(&dest, text).map_err(io_error("write", &dest))?;
    }
    Ok(report)
}

/// Copy every file of `from` into `to`, keeping the tree.
fn copy_tree(from: &Path, to: &Path) -> Result<(), MergeError> {
    copy_matching(from, to, "")
}

/// Copy the files of `from` whose name ends with `ext` (all with "") into `to`, keeping the
/// tree; existing files are left alone.
fn copy_matching(from: &Path, to: &Path, ext: &str) -> Result<(), MergeError> {
    for file in scan_files(from, ext) {
        let rel = file.strip_prefix(from).unwrap_or(&file);
        let dest = to.join(rel);
        if dest.exists() {
            continue;
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io_error("create", parent))?;
        }
        std::fs::copy(&file, &dest).map_err(io_error("copy", &file))?;
    }
    Ok(())
}

/// Every file under `dir` whose name ends with `ext` (all with "").
fn scan_files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) if ext.is_empty() || e.path().extension().is_some_and(|x| x == ext) => {
                    found.push(e.path())
                }
                _ => {}
            }
        }
    }
    found.sort();
    found
}

/// `a,b,c` of the directories, as `go tool covdata -i` takes them.
fn dir_list(dirs: &BTreeSet<PathBuf>) -> String {
    dirs.iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(",")
}

/// Link (or copy) every test's profiles into one directory, prefixed with the test's
/// directory name so that two tests' files of one name stay apart.
fn gather(root: &Path, files: &[PathBuf], into: &Path) -> Result<(), MergeError> {
    std::fs::create_dir_all(into).map_err(io_error("create", into))?;
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(f);
        let name = rel.to_string_lossy().replace('/', "--");
        let dest = into.join(name);
        let _ = std::fs::remove_file(&dest);
        if std::fs::hard_link(f, &dest).is_err() {
            std::fs::copy(f, &dest).map_err(io_error("copy", f))?;
        }
    }
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .unwrap_or(p.as_os_str())
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_sorted_by_kind_and_test() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let write = |p: &str| {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        };
        write("t1/12-34.profraw");
        write("t1/src/build/a.gcda");
        write("t2/src/build/a.gcda");
        write("t2/coverage-99-1-0.json");
        write("t2/.coverage.host.99.123");
        write("t3/covmeta.abc");
        write("t3/covcounters.abc.1.2");
        write("t3/deep/coverage-1.json");
        let found = scan(root);
        let kinds: Vec<_> = found.keys().copied().collect();
        assert_eq!(
            kinds,
            [
                CoverageKind::Llvm,
                CoverageKind::Gcov,
                CoverageKind::Go,
                CoverageKind::Node,
                CoverageKind::Python
            ]
        );
        assert_eq!(found[&CoverageKind::Gcov].tests.len(), 2);
        assert_eq!(found[&CoverageKind::Go].files.len(), 2);
        // A JSON file deeper down is not a V8 profile of NODE_V8_COVERAGE.
        assert_eq!(found[&CoverageKind::Node].files.len(), 1);
    }

    #[test]
    fn gcno_is_found_from_the_absolute_path_kept_under_the_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let build = tmp.path().join("project/build");
        std::fs::create_dir_all(&build).unwrap();
        std::fs::write(build.join("a.gcno"), "notes").unwrap();
        let cov = Coverage {
            root: tmp.path().join("run/coverage"),
            project: tmp.path().join("project"),
            python_config: None,
            open_dirs: false,
        };
        let rel = build.strip_prefix("/").unwrap();
        let data = cov.root.join("t1").join(rel).join("a.gcda");
        std::fs::create_dir_all(data.parent().unwrap()).unwrap();
        std::fs::write(&data, "counts").unwrap();
        // A user's own GCOV_PREFIX_STRIP: the path under the project.
        let stripped = cov.root.join("t2/build/a.gcda");
        std::fs::create_dir_all(stripped.parent().unwrap()).unwrap();
        std::fs::write(&stripped, "counts").unwrap();
        let lost = cov.root.join("t3/nowhere/b.gcda");
        std::fs::create_dir_all(lost.parent().unwrap()).unwrap();
        std::fs::write(&lost, "counts").unwrap();
        let notes = place_gcno(&cov, &[data.clone(), stripped.clone(), lost.clone()]);
        assert_eq!(
            std::fs::read_to_string(data.with_extension("gcno")).unwrap(),
            "notes"
        );
        assert!(stripped.with_extension("gcno").is_file());
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("b.gcda"), "{notes:?}");
    }

    #[test]
    fn the_llvm_input_list_weighs_every_path() {
        let tmp = tempfile::tempdir().unwrap();
        let list = tmp.path().join("list.txt");
        let files = [
            PathBuf::from("/r/a,b/1.profraw"),
            PathBuf::from("/r/c d/2.profraw"),
        ];
        assert_eq!(input_list(&files, &list), Some(list.clone()));
        assert_eq!(
            std::fs::read_to_string(&list).unwrap(),
            "1,/r/a,b/1.profraw\n1,/r/c d/2.profraw\n"
        );
        // A path that cannot be one line goes on the command line instead.
        assert_eq!(input_list(&[PathBuf::from("/r/x\ny.profraw")], &list), None);
    }

    #[test]
    fn a_missing_tool_leaves_the_command() {
        let tmp = tempfile::tempdir().unwrap();
        let cov = Coverage {
            root: tmp.path().join("my run/coverage"),
            project: tmp.path().to_path_buf(),
            python_config: None,
            open_dirs: false,
        };
        let t = cov.root.join("t1");
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(t.join("covmeta.1"), "x").unwrap();
        let summaries = merge_run(&cov, Some("the run was stopped"), Duration::from_secs(1));
        assert_eq!(summaries.len(), 1);
        let s = &summaries[0];
        assert_eq!((s.kind, s.tests, s.files), (CoverageKind::Go, 1, 1));
        assert_eq!(s.merged, None);
        let cmd = s.command.as_deref().unwrap();
        assert!(cmd.starts_with("go tool covdata merge -i="), "{cmd}");
        assert!(cmd.contains("'"), "the space is quoted: {cmd}");
        assert_eq!(s.problem.as_deref(), Some("the run was stopped"));
    }
}
