//! `warden run`: settings → discovery → selection → the runner, with every reporter fed from
//! one event stream.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use std::sync::Arc;
use tokio::sync::watch;
use warden::config::{load_settings, ReportTarget, RunOptions, Settings};
use warden::container::{remove_run_containers, ContainerRun, Engine};
use warden::discovery::discover;
use warden::events::Event;
use warden::report::{JsonLinesWriter, JunitReport};
use warden::runner::{self, RunPlan};
use warden::select::select;

use warden::events::StopReason;
use warden::state::registry::{self, RunEntry};
use warden::state::{new_run_id, prune_runs, RunDir};
use warden::supervise::{self, os::cgroup::CgroupRun};
use warden::test_case::TestCase;
use warden::watchdog::{Watchdog, INTERRUPTED_FILE};

use crate::args::RunArgs;
use crate::clean_cmd;
use crate::signals;
use crate::terminal::Terminal;

/// How many run directories (logs) are kept under the state dir.
const KEEP_RUNS: usize = 20;

/// What `run` and `list` share: validated settings and the selected tests in run order.
pub struct Prepared {
    pub settings: Settings,
    pub tests: Vec<TestCase>,
    pub warnings: Vec<String>,
}

pub fn prepare(options: RunOptions, config_file: Option<&str>) -> Result<Prepared> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let settings = load_settings(&cwd, options, config_file.map(Path::new))?;
    let discovered = discover(&settings.discovery)?;
    let mut warnings = discovered.warnings;
    let selected = select(discovered.tests, &settings.selection);
    if selected.deselected_slow > 0 && settings.selection.slow == warden::config::SlowMode::Exclude
    {
        warnings.push(format!(
            "{} slow test{} not selected (use --include-slow or --only-slow)",
            selected.deselected_slow,
            if selected.deselected_slow == 1 {
                ""
            } else {
                "s"
            }
        ));
    }
    Ok(Prepared {
        settings,
        tests: selected.tests,
        warnings,
    })
}

pub fn run(args: RunArgs) -> Result<u8> {
    if let Some(option) = args.later.first_given() {
        bail!("{option} is not available in this version of warden yet");
    }
    let Prepared {
        settings,
        tests,
        warnings,
    } = prepare(args.to_options(), args.select.config.as_deref())?;
    // Containers: the engine answers and has the image, or nothing runs (exit 2).
    let engine = match &settings.container {
        c if c.enabled => {
            let image = c.config.image.as_deref().unwrap_or_default();
            Some(Engine::prepare(c.config.engine, image, c.config.pull)?)
        }
        _ => None,
    };
    let run_id = new_run_id();
    let state_dir = settings.run.state_dir.clone();
    let run_dir = RunDir::create(&state_dir, &run_id)?;
    prune_runs(&state_dir, KEEP_RUNS);

    // Open every report before the first test runs: a bad path is a usage error, not a lost run.
    let mut json = match &settings.output.json {
        None => None,
        Some(ReportTarget::Stdout) => Some(JsonLinesWriter::new(
            Box::new(std::io::stdout()) as Box<dyn Write>
        )),
        Some(ReportTarget::File(path)) => Some(JsonLinesWriter::new(Box::new(BufWriter::new(
            create(path)?,
        )) as Box<dyn Write>)),
    };
    let junit_file = settings
        .output
        .junit
        .as_ref()
        .map(|p| create(p).map(|f| (p.clone(), f)))
        .transpose()?;
    let mut junit = junit_file.as_ref().map(|_| JunitReport::new(&run_id));

    let mut terminal = Terminal::new(&settings.output, tests.len());
    for w in &warnings {
        terminal.warning(w);
    }
    if let Some(seed) = settings.selection.shuffle_seed {
        terminal.note(&format!("shuffled with --seed {seed}"));
    }
    if tests.is_empty() {
        terminal.warning("no tests selected");
    }

    // Containment (SPEC §6): leftovers of dead runs first, then this run's cgroup, registry
    // entry and watchdog, so that nothing of it can outlive it.
    let (reaped, _) = clean_cmd::sweep(false, engine.as_slice());
    for r in reaped.iter().filter(|r| !r.is_empty()) {
        terminal.warning(&clean_cmd::describe(r, false));
    }
    if let Err(e) = supervise::os::become_subreaper() {
        terminal.note(&format!(
            "note: not a child subreaper ({e}): orphans of tests go to init"
        ));
    }
    let cgroup = match CgroupRun::create(&run_id) {
        Ok(cg) => Some(Arc::new(cg)),
        Err(why) => {
            if settings.output.verbose {
                terminal.note(&format!(
                    "no cgroup ({why}): tracking by process group and environment"
                ));
            }
            None
        }
    };
    let temp_root = std::env::temp_dir().join(format!("warden-{run_id}"));
    let registry_dir = registry::registry_dir();
    let mut entry = RunEntry::for_this_process(
        &run_id,
        cgroup.as_ref().map(|c| c.dir()),
        &temp_root,
        Some(&run_dir.dir),
    );
    entry.container_engine = engine.clone();
    let container = engine.as_ref().map(|engine| {
        Arc::new(ContainerRun {
            engine: engine.clone(),
            config: Arc::new(settings.container.config.clone()),
            image: settings.container.config.image.clone().unwrap_or_default(),
            run_id: run_id.clone(),
            project: settings.root.clone(),
            cid_dir: temp_root.join("containers"),
        })
    });
    if let Err(e) = registry::register(&registry_dir, &entry) {
        terminal.warning(&format!(
            "cannot register the run in {}: {e}",
            registry_dir.display()
        ));
    }
    let watchdog = match std::env::current_exe()
        .and_then(|exe| Watchdog::spawn(&exe, &entry, &registry_dir))
    {
        Ok(w) => Some(w),
        Err(e) => {
            terminal.warning(&format!(
                "cannot start the watchdog: {e}; if warden is killed, run `warden clean`"
            ));
            None
        }
    };
    let interrupted_marker = run_dir.dir.join(INTERRUPTED_FILE);

    let plan = RunPlan {
        run_id: run_id.clone(),
        tests,
        workers: settings.run.workers,
        default_timeout: settings.run.timeout,
        grace: settings.run.grace,
        max_fail: settings.run.max_fail,
        fail_fast: settings.run.fail_fast,
        retries: settings.run.retries,
        capture: !settings.run.no_capture,
        run_skipped: settings.run.run_skipped,
        leak_fails: settings.run.leak == warden::config::LeakPolicy::Fail,
        root: settings.root.clone(),
        run_dir: Some(run_dir),
        cgroup,
        temp_root,
        container,
    };

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut json_error: Option<String> = None;
    let (outcome, received) = rt.block_on(async {
        let (stop_tx, stop_rx) = watch::channel(None);
        let received = signals::install(stop_tx).context("cannot install signal handlers")?;
        let outcome = runner::run(plan, stop_rx, |event: Event| {
            terminal.on_event(&event);
            if let Some(j) = &mut junit {
                j.on_event(&event);
            }
            if let Some(w) = &mut json {
                if let Err(e) = w.write_event(&event) {
                    json_error = Some(format!("cannot write the JSON report: {e}"));
                    json = None;
                }
            }
        })
        .await;
        anyhow::Ok((outcome, received))
    })?;
    // Every test removed its container; this catches one whose removal failed.
    if let Some(engine) = &engine {
        match remove_run_containers(engine, &run_id, false) {
            Ok(left) if !left.is_empty() => terminal.warning(&format!(
                "removed {} container{} the run left behind",
                left.len(),
                if left.len() == 1 { "" } else { "s" }
            )),
            Ok(_) => {}
            Err(e) => terminal.warning(&format!("cannot check for leftover containers: {e}")),
        }
    }
    if outcome.stopped == Some(StopReason::Signal) {
        let _ = std::fs::write(&interrupted_marker, "stopped by a signal\n");
    }
    if let Some(w) = watchdog {
        w.finish();
    }
    registry::unregister(&registry_dir, &run_id);
    terminal.finish();
    if let Some(e) = json_error {
        terminal.warning(&e);
    }
    if let (Some(j), Some((path, file))) = (junit, junit_file) {
        let mut w = BufWriter::new(file);
        w.write_all(j.to_xml().as_bytes())
            .and_then(|()| w.flush())
            .with_context(|| format!("cannot write JUnit report {}", path.display()))?;
    }
    Ok(received.exit_code().unwrap_or(outcome.exit_code as u8))
}

fn create(path: &PathBuf) -> Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    File::create(path).with_context(|| format!("cannot create report file {}", path.display()))
}
