//! Walks the PATHs, lets the first matching suite claim each file, and turns every claimed file
//! into a [`TestCase`]. Problems with one file (unreadable, bad marker, nothing to run it with)
//! become that test's command error, reported when it runs; only a missing PATH stops discovery.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use walkdir::{DirEntry, WalkDir};

use super::command::build_command;
use super::markers::{parse_markers, Markers, MARKER_BYTES};
use crate::config::paths::relative_id;
use crate::config::DiscoveryConfig;
use crate::test_case::TestCase;

/// Directory names never searched (besides hidden ones): build output and dependencies.
const SKIPPED_DIRS: [&str; 2] = ["target", "node_modules"];

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("test path `{shown}` does not exist")]
    MissingPath { shown: String, path: PathBuf },
    #[error("test path `{shown}` is neither a file nor a directory")]
    NotAFile { shown: String, path: PathBuf },
    #[error("cannot read test path `{shown}`: {source}")]
    Unreadable {
        shown: String,
        path: PathBuf,
        source: io::Error,
    },
    /// A directory below a PATH that cannot be searched would hide its tests silently.
    #[error("cannot search `{shown}`: {reason} (its tests would not run; make it readable, or exclude it with a suite's `exclude`)")]
    UnreadableDir { shown: String, reason: String },
}

/// The tests found, sorted by id, and things worth telling the user that did not stop discovery.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    pub tests: Vec<TestCase>,
    pub warnings: Vec<String>,
}

/// A file a suite claimed, before its head is read.
struct Claim {
    path: PathBuf,
    suite: usize,
    /// Level from the directory names, before any `@level` marker.
    level: Option<String>,
}

/// Finds the tests under `config.paths`: directories are searched recursively, files named
/// explicitly are always tests.
pub fn discover(config: &DiscoveryConfig) -> Result<Discovered, DiscoveryError> {
    // Check every PATH before walking any, so a typo fails at once.
    let mut is_dir = Vec::with_capacity(config.paths.len());
    for path in &config.paths {
        let shown = relative_id(path, &config.cwd);
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => is_dir.push(true),
            Ok(m) if m.is_file() => is_dir.push(false),
            Ok(_) => {
                return Err(DiscoveryError::NotAFile {
                    shown,
                    path: path.clone(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(DiscoveryError::MissingPath {
                    shown,
                    path: path.clone(),
                })
            }
            Err(source) => {
                return Err(DiscoveryError::Unreadable {
                    shown,
                    path: path.clone(),
                    source,
                })
            }
        }
    }

    let mut seen = HashSet::new();
    let mut claims = Vec::new();
    let mut warnings = Vec::new();
    for (path, is_dir) in config.paths.iter().zip(is_dir) {
        let mut add = |claim: Claim| {
            if seen.insert(claim.path.clone()) {
                claims.push(claim);
            }
        };
        if is_dir {
            walk_dir(path, config, &mut add, &mut warnings)?;
        } else {
            add(claim_named_file(path, config));
        }
    }

    // Measured: 10 000 files take ~75 ms (release, warm cache) with or without threads, so
    // heads are read on this thread.
    let mut tests: Vec<TestCase> = claims.iter().map(|c| build(c, config)).collect();
    tests.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Discovered { tests, warnings })
}

fn walk_dir(
    root: &Path,
    config: &DiscoveryConfig,
    add: &mut impl FnMut(Claim),
    warnings: &mut Vec<String>,
) -> Result<(), DiscoveryError> {
    let mut claimed = 0usize;
    // Tests directly below a PATH like `test/unit` take their level from the PATH itself.
    let root_id = relative_id(root, &config.cwd);
    let root_dirs: Vec<&str> = root_id
        .split('/')
        .filter(|p| *p != ".." && *p != ".")
        .collect();
    let enclosing_level = level_of_enclosing(&root_dirs, config);
    let walker = WalkDir::new(root)
        .into_iter()
        // The PATH itself is searched even when hidden or named `target`: the user asked.
        .filter_entry(|e| e.depth() == 0 || !skipped(e, &config.ignore_dirs));
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let place = e.path().unwrap_or(root);
                let why = e
                    .io_error()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| e.to_string());
                let is_dir =
                    e.io_error().is_some() && fs::symlink_metadata(place).is_ok_and(|m| m.is_dir());
                if is_dir {
                    let rel = relative_slash_path(place, root);
                    if !config.suites.iter().all(|s| s.excludes_dir(&rel)) {
                        return Err(DiscoveryError::UnreadableDir {
                            shown: relative_id(place, &config.cwd),
                            reason: why,
                        });
                    }
                    continue;
                }
                warnings.push(format!(
                    "cannot search {}: {why}",
                    relative_id(place, &config.cwd)
                ));
                continue;
            }
        };
        let file_type = entry.file_type();
        if file_type.is_dir() {
            continue;
        }
        let rel = relative_slash_path(entry.path(), root);
        let Some(suite) = config.suites.iter().position(|s| s.matches(&rel)) else {
            continue;
        };
        if file_type.is_symlink() {
            match fs::metadata(entry.path()) {
                Ok(m) if m.is_file() => {}
                Ok(_) => continue,
                Err(e) => {
                    warnings.push(format!(
                        "skipping {}: broken symbolic link ({e})",
                        relative_id(entry.path(), &config.cwd)
                    ));
                    continue;
                }
            }
        } else if !file_type.is_file() {
            continue;
        }
        let level = rel
            .rsplit_once('/')
            .and_then(|(dirs, _)| dirs.split('/').find_map(|d| config.levels.level_of_dir(d)))
            .or(enclosing_level.as_deref())
            .map(str::to_string);
        claimed += 1;
        add(Claim {
            path: entry.into_path(),
            suite,
            level,
        });
    }
    if claimed == 0 {
        let globs: Vec<&str> = config
            .suites
            .iter()
            .flat_map(|s| s.include.iter().map(String::as_str))
            .collect();
        warnings.push(format!(
            "{}: no test files found (looked for {})",
            relative_id(root, &config.cwd),
            globs.join(", ")
        ));
    }
    Ok(())
}

/// Hidden entries (`.git`, editor lock files like `.#a_test.sh`), `target/`, `node_modules/`
/// and the ignored directories (the state dir) are not searched.
fn skipped(entry: &DirEntry, ignore_dirs: &[PathBuf]) -> bool {
    let name = entry.file_name().as_encoded_bytes();
    if name.first() == Some(&b'.') {
        return true;
    }
    entry.file_type().is_dir()
        && (SKIPPED_DIRS.iter().any(|d| d.as_bytes() == name)
            || ignore_dirs.iter().any(|d| d == entry.path()))
}

/// The level of the nearest directory (within the id, deepest first) that `[levels]` names:
/// `warden run test/unit --unit` selects what is under `test/unit`.
fn level_of_enclosing(dirs: &[&str], config: &DiscoveryConfig) -> Option<String> {
    dirs.iter()
        .rev()
        .find_map(|d| config.levels.level_of_dir(d))
        .map(str::to_string)
}

/// A file named as a PATH: always a test. The first suite with an include glob matching any
/// tail of its id (`test/unit/a.t`, `unit/a.t`, `a.t`) claims it, else the first suite.
fn claim_named_file(path: &Path, config: &DiscoveryConfig) -> Claim {
    let id = relative_id(path, &config.cwd);
    let parts: Vec<&str> = id.split('/').filter(|p| *p != "..").collect();
    let tails: Vec<String> = (0..parts.len()).map(|i| parts[i..].join("/")).collect();
    let suite = config
        .suites
        .iter()
        .position(|s| tails.iter().any(|t| s.includes(t)))
        .unwrap_or(0);
    let level = level_of_enclosing(&parts[..parts.len().saturating_sub(1)], config);
    Claim {
        path: path.to_path_buf(),
        suite,
        level,
    }
}

fn build(claim: &Claim, config: &DiscoveryConfig) -> TestCase {
    let suite = &config.suites[claim.suite];
    let id = relative_id(&claim.path, &config.cwd);
    let mut markers = Markers::default();
    let command = match read_head(&claim.path) {
        Err(e) => Err(format!("{id}: cannot read: {e}")),
        Ok((head, executable)) => {
            let checked = if head.contains(&0) {
                // A compiled test has no markers; it can run if it is executable or a
                // template says how, but no interpreter makes sense of it.
                match suite.command.is_some() || executable {
                    true => Ok(()),
                    false => Err(format!("{id}: binary file that is not executable")),
                }
            } else {
                parse_markers(&String::from_utf8_lossy(&head), &config.levels)
                    .map(|m| markers = m)
                    .map_err(|e| format!("{id}:{}: {}", e.line, e.message))
            };
            checked.and_then(|()| {
                build_command(&claim.path, &id, suite.command.as_deref(), executable)
                    .map_err(|e| e.to_string())
            })
        }
    };
    TestCase {
        id,
        case: None,
        cwd: None,
        path: claim.path.clone(),
        suite: suite.name.clone(),
        level: markers.level.or_else(|| claim.level.clone()),
        tags: markers.tags,
        slow: markers.slow,
        skip: markers.skip,
        timeout: markers.timeout.or(suite.timeout),
        serial: markers.serial,
        command,
        format: suite.format,
        env: suite.env.clone(),
        mem_limit: markers.mem_limit.or(suite.mem_limit),
        skip_exit_codes: suite.skip_exit_codes.clone(),
        net: markers.net.or(suite.net).unwrap_or(config.net),
    }
}

/// The first [`MARKER_BYTES`] of the file (cut after the last complete line when the file is
/// longer, so that `@timeout: 30s` is never read as `@timeout: 3`) and whether it is executable.
fn read_head(path: &Path) -> io::Result<(Vec<u8>, bool)> {
    let file = File::open(path)?;
    let executable = is_executable(&file.metadata()?);
    let mut head = Vec::with_capacity(4096);
    file.take(MARKER_BYTES as u64 + 1).read_to_end(&mut head)?;
    if head.len() > MARKER_BYTES {
        head.truncate(MARKER_BYTES);
        let end = head.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        head.truncate(end);
    }
    Ok((head, executable))
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

/// `path` below `root` with `/` separators, as globs see it.
fn relative_slash_path(path: &Path, root: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut out = String::new();
    for (i, part) in rel.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&part.to_string_lossy());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Suite;
    use crate::supervise::Network;
    use crate::test_case::OutputFormat;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::time::Duration;

    /// Writes `text` at `dir/rel` (creating parents) with the given mode.
    fn put(dir: &Path, rel: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn config(cwd: &Path, paths: &[&str]) -> DiscoveryConfig {
        DiscoveryConfig::new(
            cwd.to_path_buf(),
            paths.iter().map(|p| cwd.join(p)).collect(),
        )
    }

    fn ids(found: &Discovered) -> Vec<&str> {
        found.tests.iter().map(|t| t.id.as_str()).collect()
    }

    fn test<'a>(found: &'a Discovered, id: &str) -> &'a TestCase {
        found
            .tests
            .iter()
            .find(|t| t.id == id)
            .unwrap_or_else(|| panic!("no {id}"))
    }

    #[test]
    fn builtin_suite_walks_the_tree_and_skips_what_it_should() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        put(d, "test/unit/a_test.sh", "#!/bin/sh\nexit 0\n", 0o755);
        put(d, "test/integration/b_spec.py", "print('ok')\n", 0o644);
        put(d, "test/system/deep/c.t", "print \"1..0\\n\";\n", 0o644);
        put(d, "test/feature/f_test.js", "", 0o644);
        put(d, "test/misc/m_test.xyz", "", 0o644);
        put(d, "test/helper.sh", "", 0o755);
        put(d, "test/.hidden/h_test.sh", "", 0o755);
        put(d, "test/.#lock_test.sh", "", 0o644);
        put(d, "test/sub/.git/g_test.sh", "", 0o755);
        put(d, "test/target/t_test.sh", "", 0o755);
        put(d, "test/node_modules/n_test.js", "", 0o644);
        put(d, "test/state/s_test.sh", "", 0o755);
        let mut cfg = config(d, &["test"]);
        cfg.ignore_dirs.push(d.join("test/state"));

        let found = discover(&cfg).unwrap();
        assert_eq!(
            ids(&found),
            [
                "test/feature/f_test.js",
                "test/integration/b_spec.py",
                "test/misc/m_test.xyz",
                "test/system/deep/c.t",
                "test/unit/a_test.sh",
            ]
        );
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
        let a = test(&found, "test/unit/a_test.sh");
        assert_eq!(a.path, d.join("test/unit/a_test.sh"));
        assert_eq!(a.suite, "default");
        assert_eq!(a.level.as_deref(), Some("unit"));
        assert_eq!(
            a.command,
            Ok(vec![d.join("test/unit/a_test.sh").display().to_string()])
        );
        let b = test(&found, "test/integration/b_spec.py");
        assert_eq!(b.level.as_deref(), Some("integration"));
        let b_path = d.join("test/integration/b_spec.py").display().to_string();
        assert_eq!(b.command, Ok(vec!["python3".to_string(), b_path]));
        let c = test(&found, "test/system/deep/c.t");
        assert_eq!(c.level.as_deref(), Some("system"));
        assert_eq!(c.command.as_ref().unwrap()[0], "perl");
        assert_eq!(
            test(&found, "test/feature/f_test.js").level.as_deref(),
            Some("system")
        );
        assert_eq!(test(&found, "test/misc/m_test.xyz").level, None);
        assert_eq!(
            test(&found, "test/misc/m_test.xyz").command,
            Err("test/misc/m_test.xyz: not executable and no interpreter known for `.xyz`".into())
        );
    }

    #[test]
    fn markers_shape_the_test_case() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        put(
            d,
            "t/unit/m_test.sh",
            "#!/bin/sh\n# @tags: db, smoke\n# @slow\n# @serial\n# @skip: flaky\n# @timeout: 2m\n# @level: system\n# @mem-limit: 1G\n# @net: host\n",
            0o755,
        );
        put(d, "t/plain_test.sh", "#!/bin/sh\n", 0o755);
        put(d, "t/own_test.sh", "#!/bin/sh\n# @net: private\n", 0o755);
        let mut cfg = config(d, &["t"]);
        cfg.suites[0].timeout = Some(Duration::from_secs(9));
        cfg.suites[0].mem_limit = Some(64 << 20);
        let found = discover(&cfg).unwrap();
        let m = test(&found, "t/unit/m_test.sh");
        assert_eq!(m.tags, ["db", "smoke"]);
        assert!(m.slow && m.serial);
        assert_eq!(m.skip.as_deref(), Some("flaky"));
        assert_eq!(m.timeout, Some(Duration::from_secs(120)));
        assert_eq!(m.level.as_deref(), Some("system"));
        let p = test(&found, "t/plain_test.sh");
        assert_eq!(
            p.timeout,
            Some(Duration::from_secs(9)),
            "suite timeout applies"
        );
        assert!(!p.slow && !p.serial && p.skip.is_none() && p.tags.is_empty());
        assert_eq!(p.mem_limit, Some(64 << 20), "suite memory limit applies");
        assert_eq!(m.mem_limit, Some(1 << 30), "the marker wins");

        // The network: marker over suite over the run's.
        assert_eq!(p.net, Network::Host, "host unless asked");
        assert_eq!(test(&found, "t/own_test.sh").net, Network::Private);
        cfg.net = Network::Private;
        let found = discover(&cfg).unwrap();
        assert_eq!(test(&found, "t/plain_test.sh").net, Network::Private);
        cfg.suites[0].net = Some(Network::Host);
        let found = discover(&cfg).unwrap();
        assert_eq!(test(&found, "t/plain_test.sh").net, Network::Host);
        assert_eq!(test(&found, "t/own_test.sh").net, Network::Private);
        assert_eq!(test(&found, "t/unit/m_test.sh").net, Network::Host);
    }

    #[test]
    fn broken_files_become_errors_of_their_own_test() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        put(
            d,
            "t/bad_test.sh",
            "#!/bin/sh\n#\n# @timeout: soon\n",
            0o755,
        );
        put(d, "t/blob_test.bin", "\u{7f}ELF\0\0\x01", 0o644);
        put(d, "t/exe_test.bin", "\u{7f}ELF\0\0\x01\n# @slow\n", 0o755);
        let locked = put(d, "t/locked_test.sh", "#!/bin/sh\n", 0o000);
        let found = discover(&config(d, &["t"])).unwrap();
        let err = test(&found, "t/bad_test.sh").command.clone().unwrap_err();
        assert!(
            err.starts_with("t/bad_test.sh:3: bad `@timeout`: invalid duration `soon`"),
            "{err}"
        );
        assert_eq!(
            test(&found, "t/blob_test.bin").command,
            Err("t/blob_test.bin: binary file that is not executable".into())
        );
        let exe = test(&found, "t/exe_test.bin");
        assert_eq!(
            exe.command,
            Ok(vec![d.join("t/exe_test.bin").display().to_string()])
        );
        assert!(!exe.slow, "binary files have no markers");
        // root reads anything; the check only means something for other users
        if File::open(&locked).is_err() {
            let err = test(&found, "t/locked_test.sh")
                .command
                .clone()
                .unwrap_err();
            assert!(err.starts_with("t/locked_test.sh: cannot read: "), "{err}");
        }
    }

    #[test]
    fn a_marker_cut_by_the_byte_limit_is_not_misread() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // The limit falls inside `30s`: without the cut this would read as `@timeout: 3`.
        let mut text = format!("#{}\n", "x".repeat(MARKER_BYTES - 15));
        text.push_str("# @timeout: 30s\n");
        put(d, "t/long_test.sh", &text, 0o755);
        let found = discover(&config(d, &["t"])).unwrap();
        let t = test(&found, "t/long_test.sh");
        assert_eq!((t.timeout, &t.command.is_ok()), (None, &true));
    }

    #[test]
    fn configured_suites_claim_in_order_and_fill_templates() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        put(d, "t/a_spec.spl", "", 0o644);
        put(d, "t/fixtures/b_spec.spl", "", 0o644);
        put(d, "t/it's a $x_spec.spl", "", 0o644);
        put(d, "t/c_test.sh", "", 0o644);
        let mut spl = Suite::new(
            "spl",
            vec!["**/*_spec.spl".into()],
            vec!["**/fixtures/**".into()],
        )
        .unwrap();
        spl.command = Some(vec![
            "/bin/simple".into(),
            "{path}".into(),
            "--in={dir}".into(),
            "{name}".into(),
            "{stem}".into(),
        ]);
        spl.format = OutputFormat::Tap;
        spl.env.insert("K".into(), "V".into());
        let mut any = Suite::new(
            "any",
            vec!["**/*_spec.*".into(), "**/*_test.*".into()],
            vec![],
        )
        .unwrap();
        any.command = Some(vec!["cat".into(), "{path}".into()]);
        let mut cfg = config(d, &["t"]);
        cfg.suites = vec![spl, any];
        let found = discover(&cfg).unwrap();
        assert_eq!(test(&found, "t/a_spec.spl").suite, "spl");
        assert_eq!(
            test(&found, "t/fixtures/b_spec.spl").suite,
            "any",
            "excluded → next suite"
        );
        assert_eq!(test(&found, "t/c_test.sh").suite, "any");
        let odd = test(&found, "t/it's a $x_spec.spl");
        let t = d.join("t").display().to_string();
        assert_eq!(
            odd.command,
            Ok(vec![
                "/bin/simple".to_string(),
                format!("{t}/it's a $x_spec.spl"),
                format!("--in={t}"),
                "it's a $x_spec.spl".to_string(),
                "it's a $x_spec".to_string(),
            ])
        );
        assert_eq!(odd.format, OutputFormat::Tap);
        assert_eq!(odd.env.get("K").map(String::as_str), Some("V"));
    }

    #[test]
    fn named_files_are_always_tests() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        put(d, "t/unit/helper.sh", "# @tag h\n", 0o644);
        put(d, "t/unit/x_check.sh", "", 0o644);
        put(d, "t/unit/y_test.sh", "", 0o644);
        let first = Suite::new("first", vec!["nothing/*".into()], vec![]).unwrap();
        let check = Suite::new("check", vec!["unit/*_check.sh".into()], vec!["**".into()]).unwrap();
        let mut cfg = config(
            d,
            &[
                "t/unit/helper.sh",
                "t/unit/x_check.sh",
                "t/unit",
                "t/unit/y_test.sh",
            ],
        );
        cfg.suites = vec![first, check, Suite::builtin()];
        let found = discover(&cfg).unwrap();
        assert_eq!(
            ids(&found),
            ["t/unit/helper.sh", "t/unit/x_check.sh", "t/unit/y_test.sh"]
        );
        let helper = test(&found, "t/unit/helper.sh");
        assert_eq!(
            (helper.suite.as_str(), helper.level.as_deref()),
            ("first", Some("unit"))
        );
        assert_eq!(helper.tags, ["h"]);
        assert_eq!(
            test(&found, "t/unit/x_check.sh").suite,
            "check",
            "a tail of the id matched"
        );
        assert_eq!(test(&found, "t/unit/y_test.sh").suite, "default");
    }

    #[test]
    fn ids_are_relative_to_cwd_even_outside_it() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        put(d, "proj/t/a_test.sh", "", 0o755);
        put(d, "other/b_test.sh", "", 0o755);
        let cwd = d.join("proj");
        let cfg = DiscoveryConfig::new(cwd.clone(), vec![cwd.join("t"), d.join("other")]);
        let found = discover(&cfg).unwrap();
        assert_eq!(ids(&found), ["../other/b_test.sh", "t/a_test.sh"]);
    }

    #[test]
    fn missing_paths_stop_discovery_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir(d.join("t")).unwrap();
        let err = discover(&config(d, &["t", "nope/x_test.sh"])).unwrap_err();
        assert_eq!(err.to_string(), "test path `nope/x_test.sh` does not exist");
    }

    #[test]
    fn symlinks_to_files_count_but_are_not_followed_into_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        put(d, "real/r_test.sh", "", 0o755);
        fs::create_dir(d.join("t")).unwrap();
        symlink(d.join("real/r_test.sh"), d.join("t/link_test.sh")).unwrap();
        symlink(d.join("real"), d.join("t/linked_dir")).unwrap();
        symlink(d.join("gone"), d.join("t/dangling_test.sh")).unwrap();
        let found = discover(&config(d, &["t"])).unwrap();
        assert_eq!(ids(&found), ["t/link_test.sh"]);
        assert_eq!(found.warnings.len(), 1, "{:?}", found.warnings);
        assert!(found.warnings[0].starts_with("skipping t/dangling_test.sh: broken symbolic link"));
    }

    #[test]
    fn an_empty_path_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        put(d, "t/readme.md", "", 0o644);
        let found = discover(&config(d, &["t"])).unwrap();
        assert!(found.tests.is_empty());
        assert_eq!(
            found.warnings,
            ["t: no test files found (looked for **/*_test.*, **/*_spec.*, **/*.t)"]
        );
    }

    /// The 10 000-file target of issue 2; run with
    /// `cargo test --release -p warden --lib ten_thousand -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing; run in release by hand"]
    fn ten_thousand_files_in_well_under_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let levels = ["unit", "integration", "system", "misc"];
        for i in 0..10_000 {
            let rel = format!("t/{}/group{}/case{i}_test.sh", levels[i % 4], i / 100);
            put(
                d,
                &rel,
                "#!/bin/sh\n# @tags: generated\n# @timeout: 10s\nexit 0\n",
                0o755,
            );
            if i % 10 == 0 {
                put(
                    d,
                    &format!("t/{}/group{}/helper{i}.sh", levels[i % 4], i / 100),
                    "",
                    0o644,
                );
            }
        }
        let cfg = config(d, &["t"]);
        let start = std::time::Instant::now();
        let found = discover(&cfg).unwrap();
        let elapsed = start.elapsed();
        eprintln!("discovered {} tests in {elapsed:?}", found.tests.len());
        assert_eq!(found.tests.len(), 10_000);
        assert!(found
            .tests
            .iter()
            .all(|t| t.command.is_ok() && t.tags == ["generated"]));
        if !cfg!(debug_assertions) {
            assert!(elapsed < Duration::from_millis(500), "{elapsed:?}");
        }
    }
}
