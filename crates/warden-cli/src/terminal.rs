//! The human report on stderr: a live progress bar on an interactive terminal (not in CI),
//! plain lines otherwise; failed tests' output and the summary at the end.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use warden::exit_code::ExitCode;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use warden::config::{ColorChoice, OutputConfig};
use warden::events::{Event, EventKind, GuardAction, HostReading, TestResult, Totals};
use warden::report::{self as human, HumanStyle};

pub struct Terminal {
    style: HumanStyle,
    quiet: bool,
    progress: Option<ProgressBar>,
    results: Vec<TestResult>,
    running: HashSet<String>,
    /// For the ETA: expected duration of each unfinished test (zero = unknown), start times of
    /// the running ones, and the worker count.
    pending: HashMap<String, Duration>,
    started: HashMap<String, Instant>,
    workers: usize,
    failed: usize,
    log_dir: Option<PathBuf>,
    finished: Option<(Totals, Duration, ExitCode)>,
    /// The last host sample (`--self-protect`), shown in the progress line.
    host: Option<HostReading>,
    /// Why the host guard stopped the run, with its readings.
    shutdown: Option<String>,
    /// Whether anything was printed yet: the summary is set off by a blank line only from
    /// something above it (`-q` on a passing run prints the summary alone).
    printed: Cell<bool>,
    /// The command that continues this run if it stops early; `None` without a checkpoint.
    continue_with: Option<String>,
    /// `--coverage`: one line per kind of data, printed before the summary (even with `-q`).
    coverage: Vec<String>,
}

impl Terminal {
    pub fn new(out: &OutputConfig, total: usize) -> Self {
        let stderr = std::io::stderr();
        let tty = stderr.is_terminal();
        let color = match out.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        };
        let in_ci =
            std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
        let progress = (tty && !in_ci && !out.quiet && total > 0).then(|| {
            let pb =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            pb.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            pb.enable_steady_tick(Duration::from_millis(120));
            crate::tty::hold(&pb);
            pb
        });
        Terminal {
            style: HumanStyle {
                color,
                verbose: out.verbose,
            },
            quiet: out.quiet,
            progress,
            results: Vec::new(),
            running: HashSet::new(),
            pending: HashMap::new(),
            started: HashMap::new(),
            workers: 1,
            failed: 0,
            log_dir: None,
            finished: None,
            host: None,
            shutdown: None,
            printed: Cell::new(false),
            continue_with: None,
            coverage: Vec::new(),
        }
    }

    fn line(&self, text: &str) {
        self.printed.set(true);
        match &self.progress {
            Some(pb) => pb.println(text.trim_end_matches('\n')),
            None => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{}", text.trim_end_matches('\n'));
            }
        }
    }

    /// Live output of a test (`--no-capture`), as the test wrote it: raw, like a test run
    /// by hand, on stderr so that it never mixes into `--json -`.
    fn output(&self, chunk: &[u8]) {
        self.printed.set(true);
        let write = || {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(chunk);
            let _ = err.flush();
        };
        match &self.progress {
            Some(pb) => pb.suspend(write),
            None => write(),
        }
    }

    /// The "continue with" command printed when the run stops early (`None`: no checkpoint).
    pub fn continue_with(&mut self, command: Option<String>) {
        self.continue_with = command;
    }

    /// Warnings and notes quote paths and test ids: escaped like every other echo.
    pub fn warning(&self, text: &str) {
        self.line(&format!("warning: {}", human::terminal_safe_lines(text)));
    }

    /// Something went wrong that did not stop the run (printed even with -q).
    pub fn error(&self, text: &str) {
        self.line(&format!("error: {}", human::terminal_safe_lines(text)));
    }

    pub fn note(&self, text: &str) {
        if !self.quiet {
            self.line(&human::terminal_safe_lines(text));
        }
    }

    /// Expected durations from history, for the ETA: every test not finished yet, and the
    /// number of workers sharing the work.
    pub fn expect(&mut self, pending: HashMap<String, Duration>, workers: usize) {
        self.pending = pending;
        self.workers = workers.max(1);
    }

    /// Remaining expected work divided among the workers; tests without history count as the
    /// mean of those with it. `None` without any history.
    fn eta(&self) -> Option<Duration> {
        let known: Vec<Duration> = self
            .pending
            .values()
            .copied()
            .filter(|d| !d.is_zero())
            .collect();
        if known.is_empty() {
            return None;
        }
        let mean = known.iter().sum::<Duration>() / known.len() as u32;
        let now = Instant::now();
        let work: Duration = self
            .pending
            .iter()
            .map(|(id, d)| {
                let d = if d.is_zero() { mean } else { *d };
                match self.started.get(id) {
                    Some(t) => d.saturating_sub(now - *t),
                    None => d,
                }
            })
            .sum();
        Some(work / self.workers as u32)
    }

    /// `: a_test.sh, b_test.sh +3`: the tests running longest, so that a hang has a name.
    fn longest_running(&self) -> String {
        const NAMED: usize = 2;
        let mut running: Vec<(&String, &Instant)> = self
            .running
            .iter()
            .filter_map(|id| self.started.get(id).map(|t| (id, t)))
            .collect();
        if running.is_empty() {
            return String::new();
        }
        running.sort_by(|a, b| a.1.cmp(b.1).then_with(|| a.0.cmp(b.0)));
        let names: Vec<&str> = running
            .iter()
            .take(NAMED)
            .map(|(id, _)| id.as_str())
            .collect();
        let more = running.len().saturating_sub(NAMED);
        let more = if more > 0 {
            format!(" +{more}")
        } else {
            String::new()
        };
        format!(": {}{more}", names.join(", "))
    }

    fn update_progress(&self) {
        if let Some(pb) = &self.progress {
            let eta = self
                .eta()
                .filter(|d| d.as_secs() > 0)
                .map(|d| {
                    format!(
                        ", ETA {}",
                        warden::units::format_duration(Duration::from_secs(d.as_secs()))
                    )
                })
                .unwrap_or_default();
            let host = self
                .host
                .map(|h| {
                    let cpu = h
                        .cpu_percent
                        .map(|c| format!("cpu {c:.0}%, "))
                        .unwrap_or_default();
                    format!(", host {cpu}mem {:.0}%", h.mem_used_percent)
                })
                .unwrap_or_default();
            // Names last: a narrow terminal cuts them, not the counts.
            pb.set_message(format!(
                "failed {}{eta}{host}, running {}{}",
                self.failed,
                self.running.len(),
                self.longest_running(),
            ));
        }
    }

    pub fn on_event(&mut self, event: &Event) {
        match &event.kind {
            EventKind::RunStarted {
                log_dir,
                workers,
                selected,
                ..
            } => {
                self.log_dir = log_dir.clone();
                if self.style.verbose {
                    self.line(&format!(
                        "running {selected} test{} on {workers} worker{}",
                        if *selected == 1 { "" } else { "s" },
                        if *workers == 1 { "" } else { "s" }
                    ));
                }
            }
            EventKind::TestStarted {
                id,
                worker,
                attempt,
                net,
            } => {
                self.running.insert(id.clone());
                self.started.insert(id.clone(), Instant::now());
                if self.style.verbose {
                    // The host's network goes without saying; any other is named.
                    let net = match net.as_str() {
                        "host" => String::new(),
                        other => format!(", net {other}"),
                    };
                    self.line(&format!("START [w{worker}] {id} (attempt {attempt}{net})"));
                }
                self.update_progress();
            }
            EventKind::TestSlow { id, elapsed, .. } => {
                // The live display names the longest-running tests instead.
                if self.progress.is_none() && !self.quiet {
                    self.line(&human::slow_line(id, *elapsed, &self.style));
                }
            }
            EventKind::TestRetrying(r) => {
                self.running.remove(&r.id);
                if !self.quiet {
                    self.line(&human::retry_line(r, &self.style));
                }
            }
            EventKind::TestFinished(r) => {
                self.running.remove(&r.id);
                self.started.remove(&r.id);
                self.pending.remove(&r.id);
                let failed = r.status.is_failure();
                if failed {
                    self.failed += 1;
                }
                if !self.quiet || failed {
                    self.line(&human::finished_line(r, &self.style));
                }
                if self.style.verbose && !failed && r.output.total_bytes > 0 {
                    self.line(&human::failure_details(r, &self.style));
                }
                if let Some(pb) = &self.progress {
                    pb.inc(1);
                }
                self.update_progress();
                self.results.push((**r).clone());
            }
            // The guard line said so when it was decided; the test is already off the list.
            EventKind::TestRequeued { .. } => {}
            EventKind::TestCancelled { id, reason, .. } => {
                self.running.remove(id);
                self.started.remove(id);
                self.pending.remove(id);
                self.line(&human::cancelled_line(id, *reason, &self.style));
                self.update_progress();
            }
            EventKind::TestOutput { chunk, .. } => self.output(chunk),
            EventKind::Warning(w) => self.warning(w),
            // Shown with the summary, where the end of a run is read.
            EventKind::Coverage(c) => self.coverage.push(human::coverage_line(c)),
            EventKind::ResourceSample { reading, .. } => {
                self.host = Some(*reading);
                self.update_progress();
            }
            EventKind::Guard {
                action,
                reason,
                reading,
                id,
                ..
            } => {
                if let (GuardAction::Requeue, Some(id)) = (action, id) {
                    // It runs again later; until then it is neither running nor finished.
                    self.running.remove(id);
                    self.started.remove(id);
                    self.line(&human::guard_line(
                        *action,
                        &format!("{id}: {reason}"),
                        &self.style,
                    ));
                } else if *action != GuardAction::Throttle || !self.quiet {
                    self.line(&human::guard_line(*action, reason, &self.style));
                }
                if *action == GuardAction::Shutdown {
                    let cpu = reading
                        .cpu_percent
                        .map(|c| format!("cpu {c:.1}%, "))
                        .unwrap_or_default();
                    self.shutdown = Some(format!(
                        "{reason} (host {cpu}memory {:.1}% in use)",
                        reading.mem_used_percent
                    ));
                }
                self.update_progress();
            }
            EventKind::RunFinished {
                totals,
                duration,
                exit_code,
                ..
            } => {
                self.finished = Some((totals.clone(), *duration, *exit_code));
            }
        }
    }

    /// Failed tests' output, then the summary.
    /// The run lost data (a report, logs, the checkpoint): the summary says the exit code
    /// warden really returns.
    pub fn raise_exit_code(&mut self, code: ExitCode) {
        if let Some((_, _, exit)) = &mut self.finished {
            if *exit == ExitCode::PASSED {
                *exit = code;
            }
        }
    }

    pub fn finish(&mut self) {
        if let Some(pb) = self.progress.take() {
            pb.finish_and_clear();
            crate::tty::release();
        }
        let Some((totals, duration, exit_code)) = self.finished.take() else {
            return;
        };
        let mut err = std::io::stderr().lock();
        let failures: Vec<&TestResult> = self
            .results
            .iter()
            .filter(|r| r.status.is_failure())
            .collect();
        // A blank line between blocks, never before the first thing printed.
        let gap = |printed: &Cell<bool>| if printed.replace(true) { "\n" } else { "" };
        for r in failures {
            let _ = writeln!(
                err,
                "{}{}",
                gap(&self.printed),
                human::failure_details(r, &self.style).trim_end()
            );
        }
        if !self.coverage.is_empty() {
            let _ = writeln!(err, "{}{}", gap(&self.printed), self.coverage.join("\n"));
        }
        if let Some(why) = &self.shutdown {
            let _ = writeln!(
                err,
                "{}stopped by --self-protect: {why}",
                gap(&self.printed)
            );
        }
        let _ = writeln!(
            err,
            "{}{}",
            gap(&self.printed),
            human::summary(
                &totals,
                &self.results,
                duration,
                self.log_dir.as_deref(),
                exit_code,
                self.continue_with.as_deref(),
                &self.style
            )
            .trim_end()
        );
    }
}

impl Drop for Terminal {
    /// An early return (an error after the bar appeared) still gives the terminal back.
    fn drop(&mut self) {
        if let Some(pb) = self.progress.take() {
            pb.finish_and_clear();
            crate::tty::release();
        }
    }
}
