//! Command line + `warden.toml` + defaults → [`Settings`]. Every value is checked here, and an
//! error names where the value came from: the option `timeout` (the CLI shows `--timeout`) or
//! `warden.toml:7: [run] timeout`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{ConfigError, Conflict, Mention, Message, OptionKey};
use super::file::{key_path, ConfigFile};
use super::options::RunOptions;
use super::paths::{absolute, normalize, relative_id};
use super::settings::{Adapter, CargoConfig, DiscoveryConfig, Settings, Suite};
use super::suites::{resolve_levels, resolve_suites};
use crate::units::parse_duration;

pub const CONFIG_FILE_NAME: &str = "warden.toml";

/// Where tests are looked for without PATH and without `[run] paths`: those that exist.
pub const DEFAULT_TEST_DIRS: [&str; 3] = ["test", "tests", "t"];

/// Resolves the settings of one invocation.
///
/// `cwd` is where warden runs (test ids are relative to it); `cli` holds the options given on
/// the command line (`paths` = the PATH arguments); `config_file` is an explicit config file,
/// else `warden.toml` is searched in `cwd` and its ancestors. The project root is that file's
/// directory, else `cwd`.
pub fn load_settings(
    cwd: &Path,
    cli: RunOptions,
    config_file: Option<&Path>,
) -> Result<Settings, ConfigError> {
    load_settings_over(cwd, cli, RunOptions::default(), config_file)
}

/// [`load_settings`] with a layer between the command line and `warden.toml`: the options of
/// the interrupted run that `--resume` continues (`saved`, paths already absolute). What the
/// command line gives now wins over them; they win over the file.
pub fn load_settings_over(
    cwd: &Path,
    cli: RunOptions,
    saved: RunOptions,
    config_file: Option<&Path>,
) -> Result<Settings, ConfigError> {
    let cwd = normalize(
        &std::path::absolute(cwd).map_err(|source| ConfigError::Read {
            path: cwd.to_path_buf(),
            source,
        })?,
    );
    let path = match config_file {
        Some(p) => Some(absolute(&cwd, p)),
        None => find_config(&cwd),
    };
    let file = match path {
        Some(path) => {
            let shown = match path.strip_prefix(&cwd) {
                Ok(_) => relative_id(&path, &cwd),
                Err(_) => path.display().to_string(),
            };
            Some(ConfigFile::load(&path, shown)?)
        }
        None => None,
    };
    let root = match &file {
        Some(f) => f
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or(cwd.clone()),
        None => cwd.clone(),
    };
    let file_run = file.as_ref().map(|f| f.run.clone()).unwrap_or_default();
    Resolver {
        cwd,
        root,
        cli,
        saved,
        file_run,
        file,
    }
    .resolve()
}

/// The state directory as far as the options and `warden.toml` say, without resolving
/// anything else (no test paths needed): `--state-dir` (relative to `cwd`), else `[run]
/// state_dir` (relative to the file's directory), else `.warden` beside the config file.
/// `None` when there is neither a `--state-dir` nor a config file.
pub fn state_dir_of(
    cwd: &Path,
    state_dir: Option<&str>,
    config_file: Option<&Path>,
) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(dir) = state_dir.filter(|d| !d.trim().is_empty()) {
        return Ok(Some(absolute(cwd, Path::new(dir))));
    }
    let path = match config_file {
        Some(p) => Some(absolute(cwd, p)),
        None => find_config(cwd),
    };
    let Some(path) = path else {
        return Ok(None);
    };
    let file = ConfigFile::load(&path, path.display().to_string())?;
    let root = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(cwd.to_path_buf());
    Ok(Some(match file.run.state_dir.as_deref() {
        Some(d) if !d.trim().is_empty() => absolute(&root, Path::new(d)),
        _ => root.join(super::resolve::STATE_DIR_NAME),
    }))
}

/// The nearest `warden.toml` in `dir` or its ancestors.
fn find_config(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join(CONFIG_FILE_NAME))
        .find(|p| p.is_file())
}

/// Which layer a merged option came from; higher wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Layer {
    Default,
    File,
    /// The interrupted run's options, under `--resume`.
    Saved,
    Cli,
}

/// One merged option with its origin, as the macro [`given!`] builds it.
pub(super) struct Given<T> {
    pub key: &'static str,
    /// Given as its opposite (`parallel = false`): see [`Given::named_as_written`].
    pub negated: bool,
    pub layer: Layer,
    pub value: Option<T>,
}

/// Merges option `$f` (command line over file) and remembers where it came from.
macro_rules! given {
    ($r:ident . $f:ident) => {{
        let layer = if $r.cli.$f.is_some() {
            Layer::Cli
        } else if $r.saved.$f.is_some() {
            Layer::Saved
        } else if $r.file_run.$f.is_some() {
            Layer::File
        } else {
            Layer::Default
        };
        Given {
            key: stringify!($f),
            negated: false,
            layer,
            value: $r
                .cli
                .$f
                .clone()
                .or_else(|| $r.saved.$f.clone())
                .or_else(|| $r.file_run.$f.clone()),
        }
    }};
}
pub(super) use given;

impl<T> Given<T> {
    /// The option, as errors name it.
    pub fn option(&self) -> OptionKey {
        OptionKey {
            key: self.key,
            negated: self.negated,
        }
    }
}

impl Given<bool> {
    /// Named as the user wrote it: `parallel = false` is `--sequential` on the command line.
    pub fn named_as_written(self) -> Given<bool> {
        Given {
            negated: self.value == Some(false),
            ..self
        }
    }
}

/// Which of two contradicting options survives.
pub(super) enum Keep {
    First,
    Second,
}

pub(super) struct Resolver {
    pub cwd: PathBuf,
    pub root: PathBuf,
    pub cli: RunOptions,
    /// The interrupted run's options (`--resume`); empty otherwise.
    pub saved: RunOptions,
    pub file_run: RunOptions,
    pub file: Option<ConfigFile>,
}

impl Resolver {
    fn resolve(self) -> Result<Settings, ConfigError> {
        let levels = resolve_levels(self.file.as_ref())?;
        let mut suites = resolve_suites(self.file.as_ref(), &self.root)?;
        let run = self.run_config()?;
        let selection = self.selection(&levels)?;
        let output = self.output()?;
        let cargo = self.cargo(&mut suites)?;
        let paths = match &cargo {
            // `--cargo`: cargo says what the tests are.
            Some((_, true)) => Vec::new(),
            // A cargo suite beside file suites: a project without test directories is fine.
            Some((_, false)) => match self.test_paths() {
                Err(ConfigError::NoTestPaths { .. }) => Vec::new(),
                other => other?,
            },
            None => self.test_paths()?,
        };
        let discovery = DiscoveryConfig {
            cwd: self.cwd.clone(),
            paths,
            suites,
            levels,
            ignore_dirs: vec![run.state_dir.clone()],
            net: self.net()?,
            cargo: cargo.map(|(c, _)| c),
        };
        Ok(Settings {
            root: self.root.clone(),
            config_file: self.file.as_ref().map(|f| f.path.clone()),
            discovery,
            selection,
            run,
            output,
            container: self.containers()?,
        })
    }

    /// The cargo tests to run and whether they are the only tests (`--cargo`): the suite with
    /// `adapter = "cargo"`, else (for `--cargo`) a built-in one added to `suites`.
    fn cargo(&self, suites: &mut Vec<Suite>) -> Result<Option<(CargoConfig, bool)>, ConfigError> {
        let only = given!(self.cargo).value == Some(true);
        let args = given!(self.cargo_args);
        let run_ignored = given!(self.run_ignored).value == Some(true);
        let configured = suites.iter().position(|s| s.adapter == Adapter::Cargo);
        if !only {
            if args.value.is_some() && args.layer == Layer::Cli {
                return Err(ConfigError::Option {
                    key: OptionKey::new("cargo_args"),
                    message: Message::new()
                        .text("cargo options need ")
                        .option(OptionKey::new("cargo")),
                });
            }
            if configured.is_none() {
                if run_ignored && given!(self.run_ignored).layer == Layer::Cli {
                    return Err(ConfigError::Option {
                        key: OptionKey::new("run_ignored"),
                        message: Message::new()
                            .text("only Rust tests are #[ignore]d: use it with ")
                            .option(OptionKey::new("cargo"))
                            .text(" or a suite with adapter = \"cargo\""),
                    });
                }
                return Ok(None);
            }
        }
        if only && self.cli.paths.as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(ConfigError::Option {
                key: OptionKey::new("cargo"),
                message: Message::new()
                    .text("takes no ")
                    .option(OptionKey::new("paths"))
                    .text(": cargo finds the tests (pick packages with `-- -p NAME`, tests with ")
                    .short(OptionKey::new("filter"))
                    .text(" or ")
                    .short(OptionKey::new("filter_expr"))
                    .text(")"),
            });
        }
        let suite = match configured {
            Some(i) => i,
            None => {
                suites.push(Suite::builtin_cargo());
                suites.len() - 1
            }
        };
        let args = args
            .value
            .unwrap_or_else(|| suites[suite].cargo_args.clone());
        Ok(Some((
            CargoConfig {
                suite,
                args,
                run_ignored,
            },
            only,
        )))
    }

    /// PATH arguments (relative to cwd), else `[run] paths` (relative to the root), else
    /// those of `test/`, `tests/` and `t/` in cwd that exist.
    fn test_paths(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let cli_paths = self
            .cli
            .paths
            .as_deref()
            .or(self.saved.paths.as_deref())
            .unwrap_or_default();
        if !cli_paths.is_empty() {
            if cli_paths.iter().any(|p| p.is_empty()) {
                return Err(ConfigError::Option {
                    key: OptionKey::new("paths"),
                    message: "empty path".into(),
                });
            }
            return Ok(dedup(
                cli_paths.iter().map(|p| absolute(&self.cwd, Path::new(p))),
            ));
        }
        if let (Some(paths), Some(file)) = (&self.file_run.paths, &self.file) {
            if paths.is_empty() {
                return Err(file.error_at(&key_path!["run", "paths"], "empty list"));
            }
            if let Some(i) = paths.iter().position(|p| p.is_empty()) {
                return Err(file.error_at(&key_path!["run", "paths", i], "empty path"));
            }
            return Ok(dedup(
                paths.iter().map(|p| absolute(&self.root, Path::new(p))),
            ));
        }
        // Every conventional directory that exists: `t/` is Perl's and git's.
        let found: Vec<PathBuf> = DEFAULT_TEST_DIRS
            .iter()
            .map(|d| self.cwd.join(d))
            .filter(|d| d.is_dir())
            .collect();
        if found.is_empty() {
            return Err(ConfigError::NoTestPaths {
                cwd: self.cwd.clone(),
            });
        }
        Ok(found)
    }

    pub(super) fn duration(
        &self,
        opt: Given<String>,
        default: Duration,
        zero_ok: bool,
    ) -> Result<Duration, ConfigError> {
        let Some(text) = &opt.value else {
            return Ok(default);
        };
        let d = parse_duration(text).map_err(|e| self.invalid(&opt, e))?;
        if d.is_zero() && !zero_ok {
            return Err(self.invalid(&opt, format!("`{text}`: must be greater than 0")));
        }
        Ok(d)
    }

    /// A list of names (levels, tags, filters): no empty entries, duplicates dropped.
    pub(super) fn names(
        &self,
        opt: &Given<Vec<String>>,
        what: &str,
    ) -> Result<Vec<String>, ConfigError> {
        let mut out: Vec<String> = Vec::new();
        for name in opt.value.iter().flatten() {
            let name = name.trim();
            if name.is_empty() {
                return Err(self.invalid(opt, format!("empty {what}")));
            }
            if !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        }
        Ok(out)
    }

    /// A path option: relative to cwd on the command line, to the root in `warden.toml`.
    pub(super) fn path_from<T>(&self, opt: &Given<T>, p: &str) -> PathBuf {
        let base = match opt.layer {
            Layer::Cli | Layer::Saved => &self.cwd,
            _ => &self.root,
        };
        absolute(base, Path::new(p))
    }

    /// A bad value of `opt`, named where the user wrote it.
    pub(super) fn invalid<T>(
        &self,
        opt: &Given<T>,
        message: impl std::fmt::Display,
    ) -> ConfigError {
        self.invalid_because(opt, Message::from(message.to_string()))
    }

    /// [`Resolver::invalid`] with a message that mentions other options.
    pub(super) fn invalid_because<T>(&self, opt: &Given<T>, message: Message) -> ConfigError {
        match (&self.file, opt.layer) {
            (Some(file), Layer::File) => file.error_at(&key_path!["run", opt.key], message),
            _ => ConfigError::Option {
                key: opt.option(),
                message,
            },
        }
    }

    /// Two options set at once that contradict each other: an error when both come from the
    /// same layer; otherwise the command line overrides the file, as everywhere else.
    pub(super) fn settle<A, B>(
        &self,
        first: &Given<A>,
        second: &Given<B>,
        reason: impl Into<Message>,
    ) -> Result<Keep, ConfigError> {
        if first.layer == second.layer {
            return Err(ConfigError::Conflict(Box::new(Conflict {
                first: self.mention(first),
                second: self.mention(second),
                reason: reason.into(),
            })));
        }
        Ok(if first.layer > second.layer {
            Keep::First
        } else {
            Keep::Second
        })
    }

    /// The option, with its place in `warden.toml` when it comes from there.
    fn mention<T>(&self, opt: &Given<T>) -> Mention {
        Mention {
            key: opt.option(),
            at: match (&self.file, opt.layer) {
                (Some(file), Layer::File) => {
                    Some((file.shown.clone(), file.line_of(&key_path!["run", opt.key])))
                }
                _ => None,
            },
        }
    }
}

fn dedup(paths: impl Iterator<Item = PathBuf>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for p in paths {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// A seed for `--shuffle` without `--seed`: unpredictable, and printed by the caller so the
/// order can be reproduced.
pub(super) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.write_u128(now.as_nanos());
    h.write_u32(std::process::id());
    h.finish()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::config::settings::{ColorChoice, LeakPolicy, Levels, ReportTarget, Selection};
    use std::fs;

    /// A project directory with `test/` and optionally a `warden.toml`.
    pub(crate) fn project(config: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("test")).unwrap();
        if let Some(text) = config {
            fs::write(dir.path().join(CONFIG_FILE_NAME), text).unwrap();
        }
        dir
    }

    pub(crate) fn load(dir: &Path, cli: RunOptions) -> Result<Settings, String> {
        load_settings(dir, cli, None).map_err(|e| e.to_string())
    }

    /// The option a bad command-line value is blamed on, and the message in warden.toml words.
    pub(crate) fn option_error(dir: &Path, cli: RunOptions) -> (String, String) {
        match load_settings(dir, cli, None) {
            Err(ConfigError::Option { key, message }) => (key.to_string(), message.to_string()),
            other => panic!("want an option error, got {:?}", other.err()),
        }
    }

    /// The two contradicting options (as named in warden.toml) and why they contradict.
    pub(crate) fn conflict(dir: &Path, cli: RunOptions) -> (String, String, String) {
        match load_settings(dir, cli, None) {
            Err(ConfigError::Conflict(c)) => (
                c.first.key.to_string(),
                c.second.key.to_string(),
                c.reason.to_string(),
            ),
            other => panic!("want a conflict, got {:?}", other.err()),
        }
    }

    pub(crate) fn cli() -> RunOptions {
        RunOptions::default()
    }

    #[test]
    fn defaults_follow_the_spec() {
        let dir = project(None);
        let s = load(dir.path(), cli()).unwrap();
        let cwd = dir.path();
        assert_eq!(s.root, cwd);
        assert_eq!(s.config_file, None);
        assert_eq!(s.discovery.cwd, cwd);
        assert_eq!(s.discovery.paths, vec![cwd.join("test")]);
        assert_eq!(s.discovery.suites.len(), 1);
        assert_eq!(s.discovery.suites[0].name, "default");
        assert_eq!(s.discovery.levels, Levels::default());
        assert_eq!(s.discovery.ignore_dirs, vec![cwd.join(".warden")]);
        let cpus = std::thread::available_parallelism().unwrap().get();
        assert_eq!(s.run.workers, cpus);
        assert_eq!(s.run.timeout, Duration::from_secs(120));
        assert_eq!(s.run.grace, Duration::from_secs(5));
        assert_eq!(s.run.state_dir, cwd.join(".warden"));
        assert_eq!(s.run.leak, LeakPolicy::Kill);
        assert_eq!(
            (s.run.fail_fast, s.run.max_fail, s.run.retries),
            (false, None, 0)
        );
        assert_eq!(s.selection, Selection::default());
        assert_eq!(s.output.color, ColorChoice::Auto);
        assert_eq!((s.output.junit, s.output.json), (None, None));
        assert!(s.run.host_guard.is_none() && !s.container.enabled);
        assert_eq!(s.run.no_tests, crate::config::NoTests::Fail);
        assert_eq!(s.run.slow_after, Duration::from_secs(60));
    }

    #[test]
    fn falls_back_to_the_conventional_dirs_then_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), cli()).unwrap_err();
        assert!(err.contains("none of test/, tests/ or t/"), "{err}");
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        fs::create_dir(dir.path().join("t")).unwrap();
        let s = load(dir.path(), cli()).unwrap();
        assert_eq!(s.discovery.paths, vec![dir.path().join("t")]);
        fs::create_dir(dir.path().join("tests")).unwrap();
        let s = load(dir.path(), cli()).unwrap();
        assert_eq!(
            s.discovery.paths,
            vec![dir.path().join("tests"), dir.path().join("t")]
        );
    }

    #[test]
    fn root_is_the_nearest_config_and_paths_resolve_per_layer() {
        let dir = project(Some(
            "[run]\npaths = [\"test\", \"more/../test\"]\nstate_dir = \"var/st\"\njunit = \"j.xml\"\n[container]\nimage = \"x\"\n",
        ));
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        let s = load(&sub, cli()).unwrap();
        assert_eq!(s.root, dir.path());
        assert_eq!(s.config_file, Some(dir.path().join(CONFIG_FILE_NAME)));
        assert_eq!(s.discovery.cwd, sub);
        // relative to the root in the file, deduplicated
        assert_eq!(s.discovery.paths, vec![dir.path().join("test")]);
        assert_eq!(s.run.state_dir, dir.path().join("var/st"));
        assert_eq!(s.discovery.ignore_dirs, vec![dir.path().join("var/st")]);
        // reports resolve against cwd
        assert_eq!(s.output.junit, Some(sub.join("j.xml")));
        assert_eq!(s.container.config.image.as_deref(), Some("x"));

        let s = load(
            &sub,
            RunOptions {
                paths: Some(vec!["../test/unit".into(), "x".into()]),
                state_dir: Some("st".into()),
                json: Some("-".into()),
                html: Some("/tmp/r.html".into()),
                ..cli()
            },
        )
        .unwrap();
        assert_eq!(
            s.discovery.paths,
            vec![dir.path().join("test/unit"), sub.join("x")]
        );
        assert_eq!(s.run.state_dir, sub.join("st"));
        assert_eq!(s.output.json, Some(ReportTarget::Stdout));
        assert_eq!(s.output.html, Some(PathBuf::from("/tmp/r.html")));
    }

    #[test]
    fn explicit_config_file_sets_the_root() {
        let dir = project(None);
        let conf = dir.path().join("conf");
        fs::create_dir(&conf).unwrap();
        fs::write(conf.join("ci.toml"), "[run]\nmax_workers = 3\n").unwrap();
        let s = load_settings(dir.path(), cli(), Some(Path::new("conf/ci.toml"))).unwrap();
        assert_eq!(s.root, conf);
        assert_eq!(s.run.workers, 3);
        let err = load_settings(dir.path(), cli(), Some(Path::new("nope.toml")))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot read ") && err.contains("nope.toml"),
            "{err}"
        );
    }

    #[test]
    fn command_line_overrides_the_file() {
        let dir = project(Some(
            "[run]\nmax_workers = 8\ntimeout = \"60s\"\ngrace = \"1s\"\n",
        ));
        let s = load(
            dir.path(),
            RunOptions {
                max_workers: Some(2),
                grace: Some("250ms".into()),
                ..cli()
            },
        )
        .unwrap();
        assert_eq!(s.run.workers, 2);
        assert_eq!(s.run.timeout, Duration::from_secs(60));
        assert_eq!(s.run.grace, Duration::from_millis(250));
    }

    #[test]
    fn file_errors_surface_through_load() {
        let dir = project(Some("[run]\nmax_workers = 2\ntimout = \"1s\"\n"));
        let err = load(dir.path(), cli()).unwrap_err();
        assert_eq!(
            err,
            "warden.toml:3: unknown key `timout` in [run], did you mean `timeout`?"
        );
        let dir = project(Some("[run\n"));
        assert!(load(dir.path(), cli())
            .unwrap_err()
            .starts_with("warden.toml:1: "));
        // found in an ancestor: named by its absolute path
        let sub = dir.path().join("test");
        let err = load(&sub, cli()).unwrap_err();
        let shown = dir.path().join("warden.toml").display().to_string();
        assert!(err.starts_with(&format!("{shown}:1: ")), "{err}");
    }
}
