//! `warden list`: exactly the tests `run` would run, in the order it would run them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use warden::exit_code::ExitCode;

use anyhow::Result;
use serde::Serialize;
use warden::supervise::Network;
use warden::test_case::{OutputFormat, TestCase};

use warden::config::RunOptions;
use warden::coverage::Coverage;
use warden::state::TestStats;

use crate::args::RunArgs;
use crate::prepare::{plural, prepare, Prepared, Request, Sharding};

pub fn run_list(
    options: RunOptions,
    config: Option<&str>,
    failed: bool,
    sharding: Sharding,
    json: bool,
) -> Result<ExitCode> {
    let prepared = prepare(Request::here(options, config, failed, sharding)?, false)?;
    let shard_note = prepared.shard_note();
    let Prepared {
        settings,
        tests,
        warnings,
        history,
        ..
    } = prepared;
    for w in &warnings {
        eprintln!("warning: {}", warden::report::terminal_safe_lines(w));
    }
    if let Some(seed) = settings.selection.shuffle_seed {
        // The order shown is only repeatable with its seed.
        eprintln!("warning: shuffled with --seed {seed}");
    }
    let ids: Vec<&str> = tests.iter().map(|t| t.id.as_str()).collect();
    let stats = history
        .as_ref()
        .and_then(|h| h.stats(&ids).ok())
        .unwrap_or_default();
    // The run id is not known before the run: the directory shows where it goes.
    let coverage = settings.run.coverage.then(|| {
        let mut c = Coverage::new(
            &settings.run.state_dir.join("runs").join("<run-id>"),
            &settings.root,
        );
        c.open_dirs = settings.container.enabled;
        c
    });
    let container_env = settings
        .container
        .enabled
        .then_some(&settings.container.config.env);
    let mut out = std::io::stdout().lock();
    let written = if json {
        let listed: Vec<Listed> = tests
            .iter()
            .map(|t| {
                let mut l = Listed::new(t, stats.get(&t.id));
                l.coverage = coverage.as_ref().map(|c| {
                    let dir = c.test_dir(&t.id);
                    // What the runner does: the suite's, warden's or `[container] env` wins.
                    let user_sets = |k: &str| {
                        t.env.contains_key(k)
                            || match container_env {
                                Some(env) => env.contains_key(k),
                                None => std::env::var_os(k).is_some(),
                            }
                    };
                    CoverageView {
                        env: c.env(&dir, user_sets).into_iter().collect(),
                        dir: dir.to_string_lossy().into_owned(),
                    }
                });
                l
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &listed)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        tests
            .iter()
            // One line per test, whatever its name holds (a newline is shown as `\n`).
            .try_for_each(|t| writeln!(out, "{}", warden::report::terminal_safe(&describe(t))))
    };
    match written {
        // `warden list | head` is fine: the reader has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::PASSED),
        other => other?,
    }
    if !json {
        match shard_note {
            Some(note) => eprintln!("{note}"),
            None => eprintln!("{} test{} selected", tests.len(), plural(tests.len())),
        }
    }
    Ok(ExitCode::PASSED)
}

/// `warden run --list ...`: every option is still validated, and options that only make
/// sense for a run are refused rather than ignored.
pub fn run_list_from_run(args: &RunArgs) -> Result<ExitCode> {
    let run_only = [
        (args.json.is_some(), "--json (use `warden list --json`)"),
        (args.junit.is_some(), "--junit"),
        (args.html.is_some(), "--html"),
        (args.resume.is_some(), "--resume"),
    ];
    if let Some((_, name)) = run_only.iter().find(|(given, _)| *given) {
        anyhow::bail!("--list cannot be combined with {name}");
    }
    run_list(
        args.to_options(),
        args.select.config.as_deref(),
        args.select.failed,
        Sharding::from_args(&args.select)?,
        false,
    )
}

/// One test as `warden list --json` shows it: the discovery facts plus the command or why
/// there is none.
#[derive(Serialize)]
struct Listed<'a> {
    id: &'a str,
    /// A case of a file or binary: its name there, and the file or binary's own id.
    #[serde(skip_serializing_if = "Option::is_none")]
    case: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    path: &'a Path,
    suite: &'a str,
    level: Option<&'a str>,
    tags: &'a [String],
    slow: bool,
    skip: Option<&'a str>,
    timeout_ms: Option<u64>,
    serial: bool,
    command: Option<&'a [String]>,
    error: Option<&'a str>,
    format: OutputFormat,
    env: &'a BTreeMap<String, String>,
    /// `host` or `private`: the test's `@net`, its suite's `net`, else the run's.
    net: Network,
    /// From history: how the test fared in the runs it remembers (null when never run).
    history: Option<HistoryView>,
    /// With `--coverage`: the test's coverage directory and the variables warden sets.
    #[serde(skip_serializing_if = "Option::is_none")]
    coverage: Option<CoverageView>,
}

#[derive(Serialize)]
struct CoverageView {
    /// `<state dir>/runs/<run-id>/coverage/<test>`: the run id is the run's.
    dir: String,
    env: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct HistoryView {
    runs: u32,
    pass_rate: Option<f64>,
    mean_duration_ms: Option<u64>,
    flaky: u32,
}

impl<'a> Listed<'a> {
    fn new(t: &'a TestCase, stats: Option<&TestStats>) -> Self {
        Listed {
            id: &t.id,
            case: t.case.as_deref(),
            file: t.case.as_ref().map(|_| t.file_id()),
            path: &t.path,
            suite: &t.suite,
            level: t.level.as_deref(),
            tags: &t.tags,
            slow: t.slow,
            skip: t.skip.as_deref(),
            timeout_ms: t.timeout.map(|d| d.as_millis() as u64),
            serial: t.serial,
            command: t.command.as_deref().ok(),
            error: t.command.as_ref().err().map(String::as_str),
            format: t.format,
            env: &t.env,
            net: t.net,
            history: stats.map(|s| HistoryView {
                runs: s.runs,
                pass_rate: s.pass_rate,
                mean_duration_ms: s.mean_duration_ms,
                flaky: s.flaky,
            }),
            coverage: None,
        }
    }
}

/// `test/unit/a_test.sh  [unit] tags=db,smoke slow serial skip(reason)`
fn describe(t: &TestCase) -> String {
    let mut s = t.id.clone();
    if let Some(level) = &t.level {
        s.push_str(&format!("  [{level}]"));
    }
    if !t.tags.is_empty() {
        s.push_str(&format!(" tags={}", t.tags.join(",")));
    }
    if t.slow {
        s.push_str(" slow");
    }
    if t.serial {
        s.push_str(" serial");
    }
    if t.net == Network::Private {
        s.push_str(" net=private");
    }
    if let Some(reason) = &t.skip {
        if reason.is_empty() {
            s.push_str(" skip");
        } else {
            s.push_str(&format!(" skip({reason})"));
        }
    }
    if let Err(e) = &t.command {
        s.push_str(&format!(" error({e})"));
    }
    s
}
