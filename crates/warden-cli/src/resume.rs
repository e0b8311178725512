//! `--resume` on the command line (SPEC §7): find the interrupted run from wherever warden runs
//! in the project, repeat its invocation with what is given now over it, tell selection changes
//! (exit 43 unless `--resume=force`) from execution overrides (one note), and the
//! "continue with" command that resumes the run being started.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use warden::report::shell_word;

use anyhow::Result;
use warden::config::{absolute, state_dir_of, RunOptions, Settings};
use warden::state::journal::find_resumable;
use warden::state::{Checkpoint, Invocation};
use warden::units::{format_duration, format_size};

use crate::args::{RunArgs, PARTITION_ENV};
use crate::prepare::{Request, Sharding};

/// Where the state dir of this invocation is, for finding its checkpoint: `--state-dir`,
/// else what `warden.toml` says, else the nearest `.warden` holding an interrupted run in the
/// current directory or one of its parents (a project without a config file, resumed from a
/// subdirectory), else `.warden` here.
pub fn locate_state_dir(cwd: &Path, args: &RunArgs) -> Result<PathBuf> {
    let config = args.select.config.as_deref().map(Path::new);
    if let Some(dir) = state_dir_of(cwd, args.select.state_dir.as_deref(), config)? {
        return Ok(dir);
    }
    let found = cwd
        .ancestors()
        .map(|d| d.join(".warden"))
        .find(|d| find_resumable(d).is_some());
    Ok(found.unwrap_or_else(|| cwd.join(".warden")))
}

/// The invocation as typed now, every path absolute (relative to `cwd`, where warden runs).
pub fn invocation_now(args: &RunArgs, command: &str, cwd: &Path) -> Invocation {
    let abs = |p: &str| absolute(cwd, Path::new(p)).to_string_lossy().into_owned();
    let mut options = args.to_options();
    options.paths = options.paths.map(|ps| ps.iter().map(|p| abs(p)).collect());
    options.state_dir = options.state_dir.as_deref().map(abs);
    options.junit = options.junit.as_deref().map(abs);
    options.json = options
        .json
        .as_deref()
        .map(|p| if p == "-" { p.to_string() } else { abs(p) });
    options.html = options.html.as_deref().map(abs);
    let env_partition = std::env::var(PARTITION_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty());
    Invocation {
        command: command.to_string(),
        cwd: cwd.to_path_buf(),
        config: args
            .select
            .config
            .as_deref()
            .map(|c| absolute(cwd, Path::new(c))),
        options,
        failed: args.select.failed,
        partition: args.select.partition.clone().or(env_partition),
        history: args.select.history.as_deref().map(|h| absolute(cwd, h)),
        effective: BTreeMap::new(),
    }
}

/// What `prepare` gets for a run resuming `saved` with `now` given on the command line.
/// Selection options given now win (only with `--resume=force` is there a difference); a
/// `--failed` selection is the interrupted run's.
pub fn request(
    saved: &Invocation,
    now: &Invocation,
    checkpoint: &Checkpoint,
    changed: bool,
) -> Result<Request> {
    if !saved.cwd.is_dir() {
        anyhow::bail!(
            "cannot resume run {}: the directory it ran in, {}, is gone",
            checkpoint.contents.header.run_id,
            saved.cwd.display()
        );
    }
    let partition = now.partition.clone().or(saved.partition.clone());
    let failed = now.failed || saved.failed;
    // `--failed` would now read the interrupted run's own failures; partitions cut by the
    // durations of the last run that was not a shard, which the interrupted run did not move.
    let only = (failed && !changed).then(|| {
        checkpoint
            .contents
            .header
            .fingerprint
            .tests
            .iter()
            .cloned()
            .collect::<HashSet<String>>()
    });
    let sharding = Sharding {
        partition: crate::args::partition_from(partition.as_deref(), None)
            .map_err(anyhow::Error::msg)?,
        history_file: now.history.clone().or(saved.history.clone()),
    };
    Ok(Request {
        cwd: saved.cwd.clone(),
        options: now.options.clone(),
        saved: saved.options.clone(),
        config: now.config.clone().or(saved.config.clone()),
        failed,
        sharding,
        only,
    })
}

/// The invocation a resumed run keeps in its own checkpoint, so that resuming it again repeats
/// it: the options given now over the saved ones, where an option given now takes its whole
/// group with it (`--sequential` now drops a saved `-j 4`: together they would contradict).
pub fn merged(saved: &Invocation, now: &Invocation) -> Invocation {
    let mut options = saved.options.clone();
    let n = &now.options;
    macro_rules! group {
        ($($f:ident),+) => {
            if false $(|| n.$f.is_some())+ {
                $(options.$f = n.$f.clone();)+
            }
        };
    }
    group!(max_workers, parallel, no_capture, container_seq, container);
    group!(fail_fast, max_fail);
    group!(verbose, quiet);
    group!(shuffle, seed);
    let rest = RunOptions {
        max_workers: None,
        parallel: None,
        no_capture: None,
        container_seq: None,
        container: None,
        fail_fast: None,
        max_fail: None,
        verbose: None,
        quiet: None,
        shuffle: None,
        seed: None,
        ..n.clone()
    };
    Invocation {
        command: now.command.clone(),
        cwd: saved.cwd.clone(),
        config: now.config.clone().or(saved.config.clone()),
        options: rest.over(options),
        failed: now.failed || saved.failed,
        partition: now.partition.clone().or(saved.partition.clone()),
        history: now.history.clone().or(saved.history.clone()),
        effective: BTreeMap::new(),
    }
}

/// The execution options in effect, by option name, in the words of the command line: what a
/// resumed run names when it runs with other ones.
pub fn effective_options(settings: &Settings) -> BTreeMap<String, String> {
    let run = &settings.run;
    let out = &settings.output;
    let on = |b: bool| if b { "on" } else { "off" }.to_string();
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), v);
    };
    put("-j", run.workers.to_string());
    put("--timeout", format_duration(run.timeout));
    put("--grace", format_duration(run.grace));
    put("--retries", run.retries.to_string());
    put("--fail-fast", on(run.fail_fast));
    put(
        "--max-fail",
        run.max_fail.map_or("off".to_string(), |n| n.to_string()),
    );
    put("--leak", format!("{:?}", run.leak).to_lowercase());
    put("--net", settings.discovery.net.to_string());
    put("--no-capture", on(run.no_capture));
    put("--self-protect", on(run.host_guard.is_some()));
    if let Some(g) = run.host_guard {
        put("--cpu-threshold", format!("{}", g.cpu_threshold));
        put("--mem-threshold", format!("{}", g.mem_threshold));
    }
    put(
        "--test-mem-limit",
        run.test_limits
            .mem_bytes
            .map_or("none".to_string(), format_size),
    );
    put(
        "--test-pids-limit",
        run.test_limits
            .pids
            .map_or("none".to_string(), |n| n.to_string()),
    );
    put("--safe-mode", on(run.test_limits.safe_mode));
    put("--slow-after", format_duration(run.slow_after));
    put("--coverage", on(run.coverage));
    let report = |p: Option<&PathBuf>| p.map_or("none".to_string(), |p| p.display().to_string());
    put("--junit", report(out.junit.as_ref()));
    put(
        "--json",
        match &out.json {
            Some(warden::config::ReportTarget::Stdout) => "-".to_string(),
            Some(warden::config::ReportTarget::File(p)) => p.display().to_string(),
            None => "none".to_string(),
        },
    );
    put(
        "output",
        if out.verbose {
            "verbose"
        } else if out.quiet {
            "quiet"
        } else {
            "normal"
        }
        .to_string(),
    );
    let container = if settings.container.enabled {
        settings.container.config.image.clone().unwrap_or_default()
    } else {
        "off".to_string()
    };
    put("--container", container);
    m
}

/// The command that resumes this run, runnable as printed from where warden runs now: the
/// program as it was invoked when that was a path, the word typed (`run` or `test`), and the
/// state dir and config file when they were named on the command line.
pub fn continue_command(argv0: &str, command: &str, args: &RunArgs, cwd: &Path) -> String {
    let program = if argv0.contains('/') {
        shell_word(argv0)
    } else {
        "warden".to_string()
    };
    let mut cmd = format!("{program} {command} --resume");
    if let Some(dir) = &args.select.state_dir {
        let dir = absolute(cwd, Path::new(dir));
        cmd.push_str(&format!(
            " --state-dir {}",
            shell_word(&dir.to_string_lossy())
        ));
    }
    if let Some(config) = &args.select.config {
        let config = absolute(cwd, Path::new(config));
        cmd.push_str(&format!(
            " --config {}",
            shell_word(&config.to_string_lossy())
        ));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_options_take_a_given_group_whole() {
        let saved = Invocation {
            options: RunOptions {
                parallel: Some(false),
                grace: Some("1s".into()),
                filter: Some(vec!["t1".into()]),
                ..RunOptions::default()
            },
            ..Invocation::default()
        };
        let now = Invocation {
            options: RunOptions {
                max_workers: Some(4),
                grace: Some("2s".into()),
                ..RunOptions::default()
            },
            ..Invocation::default()
        };
        let m = merged(&saved, &now).options;
        assert_eq!((m.max_workers, m.parallel), (Some(4), None));
        assert_eq!(m.grace.as_deref(), Some("2s"));
        assert_eq!(m.filter, Some(vec!["t1".to_string()]));
    }
}
