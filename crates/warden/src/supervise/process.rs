//! One test's life as a process tree: spawn it in its own session, capture its output, enforce
//! its timeout with TERM → grace → KILL to the whole group, and sweep what it leaves behind.

use std::path::PathBuf;
#[cfg(not(target_os = "linux"))]
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until};

use super::child::{self, MainChild};
use super::limits::{Limits, MemCapBy, Usage};
use super::os;
use super::os::cgroup::TestCgroup;
use super::os::controllers::{Caps, ControllerSlot, SlotStart};
use super::os::rlimit;
use super::pause;
use super::peak::PeakSampler;
use super::sink::OutputSink;
use super::tree::Tree;
use crate::events::{CapturedOutput, Leak};
use crate::tap::TapReport;

/// How long to keep reading output after the test's processes are gone: only a process that
/// escaped the group can still hold the pipe open.
const DRAIN_LIMIT: Duration = Duration::from_millis(1000);
/// How many times (10 ms apart) leftovers are looked at again until their command lines hold
/// still: up to 250 ms, only for tests that leave something behind.
const LEAK_SETTLE_TRIES: usize = 25;
/// How often a terminating group is checked for emptiness.
const POLL: Duration = Duration::from_millis(20);

/// A request from outside to end the test early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cancel {
    #[default]
    No,
    /// TERM the tree, KILL it after the grace.
    Graceful,
    /// KILL the tree now (a second Ctrl-C).
    Now,
}

/// What to run and under which limits.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// Added to warden's own environment.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub grace: Duration,
    /// `None` = output goes straight to warden's stdout/stderr (`--no-capture`).
    pub capture: Option<CaptureSpec>,
    /// The (empty) cgroup the test runs in, when the host has them.
    pub cgroup: Option<Arc<TestCgroup>>,
    /// `K=V` entries of `env` that mark every process of this test: how escaped processes are
    /// found when there is no cgroup.
    pub token: Vec<String>,
    /// The rlimit mark every process of this test carries ([`os::mark`]): how processes that
    /// dropped the token (`env -i`) or hide it (non-dumpable) are still told.
    pub mark: Option<u64>,
    /// Memory, pids and CPU controllers of the worker slot, when the host has them.
    pub controllers: Option<Arc<ControllerSlot>>,
    pub limits: Limits,
}

#[derive(Debug, Clone)]
pub struct CaptureSpec {
    /// Where the full output is written.
    pub log_path: Option<PathBuf>,
    pub tap: TapMode,
    /// Also copy the output to warden's stderr as it arrives (`--no-capture`): live output
    /// that still reaches the log, the TAP parser, and never mixes into `--json -`.
    pub echo: bool,
}

/// Whether and how the output is read as TAP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapMode {
    Off,
    /// TAP only when the output starts like TAP (a plan or `TAP version`).
    Detect,
    /// TAP whatever the first line is (a plan may come last).
    Assume,
}

/// How the main process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Past the timeout; the tree was terminated.
    TimedOut,
    /// Stopped from outside (fail-fast, shutdown); the tree was terminated.
    Cancelled,
    /// Could not be started at all.
    SpawnFailed(String),
}

#[derive(Debug)]
pub struct ProcessOutcome {
    pub exit: Exit,
    pub duration: Duration,
    pub output: CapturedOutput,
    pub log: Option<PathBuf>,
    pub tap: Option<TapReport>,
    /// Processes still in the test's group when its main process ended (they were killed).
    pub leaked: Vec<Leak>,
    /// Things worth telling that are not the test's fault (an unwritable log, a held pipe).
    pub notes: Vec<String>,
    /// Peak memory and CPU time, the memory cap and whether it killed the test.
    pub usage: Usage,
}

/// Run `spec` to the end. `cancel` leaving `Cancel::No` terminates the tree early.
pub async fn run_process(spec: SpawnSpec, mut cancel: watch::Receiver<Cancel>) -> ProcessOutcome {
    let started = Instant::now();
    let mut notes = Vec::new();
    let mut sink = OutputSink::new(spec.capture.as_ref());

    let spawned = spawn(&spec);
    let (mut child, mut reader, slot_start, mut peak) = match spawned {
        Ok(s) => (s.child, s.reader, s.slot_start, s.peak),
        Err(msg) => {
            let kept = sink.finish();
            return ProcessOutcome {
                exit: Exit::SpawnFailed(msg),
                duration: started.elapsed(),
                output: kept.output,
                log: kept.log,
                tap: None,
                leaked: Vec::new(),
                notes,
                usage: Usage::default(),
            };
        }
    };
    let pid = child.id();
    // setsid made the main process the leader of its own session and group.
    let tree = Tree {
        pgid: pid,
        cgroup: spec.cgroup.clone(),
        token: spec.token.clone(),
        mark: spec.mark,
    };
    // Frozen with every other test on Ctrl-Z; time paused does not count against it.
    let paused_at_start = pause::paused_total();
    let pausable = pause::register(&tree);
    let mut buf = vec![0u8; 64 * 1024];

    // Phase 1: until the main process ends, the deadline passes or we are told to stop.
    let deadline = sleep_until(crate::clock::instant_after(started, spec.timeout).into());
    tokio::pin!(deadline);
    let mut status = None;
    let mut stop: Option<Exit> = None;
    if *cancel.borrow() != Cancel::No {
        stop = Some(Exit::Cancelled);
    }
    while status.is_none() && stop.is_none() {
        let look_at = peak.as_ref().map(PeakSampler::due);
        tokio::select! {
            r = read_some(&mut reader, &mut buf), if reader.is_some() => match r {
                Some(n) => sink.push(&buf[..n]),
                None => reader = None,
            },
            st = child.wait() => status = Some(st),
            _ = sleep_until(look_at.unwrap_or(started).into()), if look_at.is_some() => {
                if let Some(p) = peak.as_mut() {
                    p.sample();
                }
            }
            _ = &mut deadline => {
                match pause::due_after_pauses(crate::clock::instant_after(started, spec.timeout), paused_at_start) {
                    Some(later) => deadline.as_mut().reset(later.into()),
                    None => stop = Some(Exit::TimedOut),
                }
            }
            changed = cancel.changed() => {
                if changed.is_err() || *cancel.borrow() != Cancel::No {
                    stop = Some(Exit::Cancelled);
                }
            }
        }
    }

    let mut leaked = Vec::new();
    if stop.is_none() {
        // The main process ended: whatever is left in its group was left behind.
        leaked = tree.members();
        // Leftovers found the instant the main process ended may be mid-fork or mid-exec
        // (`setsid sleep 300` shows as `setsid`, or as the parent's command line): look again
        // until the list holds still and no entry still shows the test's own command line
        // (a child that has not exec'd yet, however loaded the machine), within a bound: a
        // subshell left behind never execs.
        let own_cmd = spec.argv.join(" ");
        // (An interpreter run by a shebang line shows up in front of the script path.)
        let unexeced = |l: &[Leak]| l.iter().any(|x| x.cmd.ends_with(&own_cmd));
        for _ in 0..LEAK_SETTLE_TRIES {
            if leaked.is_empty() {
                break;
            }
            sleep(Duration::from_millis(10)).await;
            let again = tree.members();
            let settled = again == leaked && !unexeced(&again);
            leaked = again;
            if settled {
                break;
            }
        }
    }
    if stop.is_some() || !leaked.is_empty() {
        // Phase 2: TERM the whole group, KILL what is left after the grace, keep reading.
        let mut killed = *cancel.borrow() == Cancel::Now;
        tree.signal(if killed {
            Signal::SIGKILL
        } else {
            Signal::SIGTERM
        });
        let grace_from = Instant::now();
        let paused_at_grace = pause::paused_total();
        let kill_at = sleep(spec.grace);
        tokio::pin!(kill_at);
        let mut cancel_open = true;
        let mut poll = tokio::time::interval(POLL);
        loop {
            tokio::select! {
                r = read_some(&mut reader, &mut buf), if reader.is_some() => match r {
                    Some(n) => sink.push(&buf[..n]),
                    None => reader = None,
                },
                st = child.wait(), if status.is_none() => status = Some(st),
                _ = &mut kill_at, if !killed => {
                    match pause::due_after_pauses(crate::clock::instant_after(grace_from, spec.grace), paused_at_grace) {
                        Some(later) => kill_at.as_mut().reset(later.into()),
                        None => {
                            tree.signal(Signal::SIGKILL);
                            killed = true;
                        }
                    }
                }
                changed = cancel.changed(), if cancel_open && !killed => {
                    cancel_open = changed.is_ok();
                    if *cancel.borrow() == Cancel::Now {
                        tree.signal(Signal::SIGKILL);
                        killed = true;
                    }
                }
                _ = poll.tick() => {
                    if status.is_some() && tree.is_empty() {
                        break;
                    }
                }
            }
        }
    }

    drop(pausable);
    // Orphans re-parented to warden (the subreaper) and killed above are zombies now.
    os::reap_orphans(child::is_waited_for);

    // Phase 3: the tree is gone; read what is still in the pipe.
    if reader.is_some() {
        let drain = sleep(DRAIN_LIMIT);
        tokio::pin!(drain);
        loop {
            tokio::select! {
                r = read_some(&mut reader, &mut buf) => match r {
                    Some(n) => sink.push(&buf[..n]),
                    None => break,
                },
                _ = &mut drain => {
                    notes.push(format!(
                        "output pipe still open {}ms after the test ended: a process outside its group holds it",
                        DRAIN_LIMIT.as_millis()
                    ));
                    break;
                }
            }
        }
    }
    // A test's duration is its running time: a pause is not its doing.
    let duration = started
        .elapsed()
        .saturating_sub(pause::paused_total().saturating_sub(paused_at_start));

    let exit = match stop {
        Some(e) => e,
        None => match status {
            Some(Ok(st)) => exit_of(st),
            Some(Err(e)) => {
                Exit::SpawnFailed(format!("failed to wait for `{}`: {e}", spec.argv[0]))
            }
            None => unreachable!("phase 1 ends with a status or a stop"),
        },
    };
    let kept = sink.finish();
    notes.extend(kept.log_error);
    let cgroup_usage = spec
        .controllers
        .as_ref()
        .zip(slot_start)
        .map(|(slot, start)| slot.finish(start));
    let child_usage = child.usage();
    let mut usage = Usage::measure(
        &spec.limits,
        mem_cap_by(&spec),
        cgroup_usage,
        child_usage,
        &exit,
    );
    if let (Some(p), Some(u)) = (&peak, child_usage) {
        usage.peak_rss_bytes = p.peak(u.max_rss_bytes);
    }
    ProcessOutcome {
        exit,
        duration,
        output: kept.output,
        log: kept.log,
        tap: kept.tap,
        leaked,
        notes,
        usage,
    }
}

/// How the memory cap (if any) is enforced for this spec: a memory cgroup when the slot has
/// one, else the address-space rlimit.
fn mem_cap_by(spec: &SpawnSpec) -> Option<MemCapBy> {
    spec.limits.mem_bytes?;
    Some(match &spec.controllers {
        Some(c) if c.limits_memory() => MemCapBy::Cgroup,
        _ => MemCapBy::Rlimit,
    })
}

struct Spawned {
    child: MainChild,
    reader: Option<pipe::Receiver>,
    /// Counters of the slot's controllers at the start, to measure this test alone.
    slot_start: Option<SlotStart>,
    /// Looks at the test's peak memory when no cgroup measures it.
    peak: Option<PeakSampler>,
}

fn exit_of(st: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => Exit::Code(c),
        (None, Some(s)) => Exit::Signal(s),
        (None, None) => Exit::Code(-1),
    }
}

async fn read_some(reader: &mut Option<pipe::Receiver>, buf: &mut [u8]) -> Option<usize> {
    match reader.as_mut()?.read(buf).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

/// Start the main process: own session (so its own process group, no controlling terminal),
/// stdin from /dev/null, stdout and stderr into one pipe so their interleaving is kept, in the
/// slot's cgroups and under the spec's rlimits.
fn spawn(spec: &SpawnSpec) -> Result<Spawned, String> {
    let Some(program) = spec.argv.first() else {
        return Err("empty command".to_string());
    };
    let slot_start = match &spec.controllers {
        Some(slot) => Some(
            slot.prepare(&Caps {
                mem_bytes: spec.limits.mem_bytes,
                pids: spec.limits.pids,
            })
            .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    // The open-files limit warden was started with (it raised its own), before
    // `--safe-mode` lowers it further.
    let mut rlimits: Vec<_> = rlimit::inherited_nofile()
        .into_iter()
        .chain(spec.mark.and_then(os::mark::rlimit))
        .collect();
    if spec.limits.safe_mode {
        rlimits.extend(rlimit::safe_mode());
    }
    if let (Some(bytes), Some(MemCapBy::Rlimit)) = (spec.limits.mem_bytes, mem_cap_by(spec)) {
        rlimits.push(rlimit::address_space(bytes));
    }
    let v1_fds = spec
        .controllers
        .as_ref()
        .map(|c| c.join_fds())
        .unwrap_or_default();
    let cgroup_fd = spec.cgroup.as_ref().map(|cg| cg.procs_fd());
    let joins: Vec<_> = cgroup_fd.into_iter().chain(v1_fds).collect();
    let mut reader = None;
    let mut output = None;
    if spec.capture.is_some() {
        let (tx, rx) = pipe::pipe().map_err(|e| format!("cannot create output pipe: {e}"))?;
        let fd = tx
            .into_blocking_fd()
            .map_err(|e| format!("cannot create output pipe: {e}"))?;
        output = Some(fd);
        reader = Some(rx);
    }
    let child = start_main(spec, program, output.as_ref(), &joins, &rlimits).map_err(|e| {
        let msg = spawn_error(program, &e);
        match (e.raw_os_error(), spec.limits.mem_bytes) {
            // The cap, not the host, is what is short: say which cap and how it is enforced.
            (Some(libc::ENOMEM), Some(bytes)) => format!(
                "{msg}: the test's memory cap of {} ({}) is too small to start it",
                crate::units::format_size(bytes),
                match mem_cap_by(spec) {
                    Some(MemCapBy::Cgroup) => "memory cgroup",
                    _ => "address-space rlimit",
                }
            ),
            _ => msg,
        }
    })?;
    // Without a cgroup peak, wait4's figure carries warden's own size: look at the test's own
    // high-water mark, the first time at once (a short test may be gone a moment later).
    let peak = slot_start
        .as_ref()
        .is_none_or(|s| !s.measures_peak())
        .then(|| PeakSampler::start(child.id()));
    // The write end of the output pipe must close here, or reading never ends.
    drop(output);
    Ok(Spawned {
        child,
        reader,
        slot_start,
        peak,
    })
}

/// Start the main process without copying warden (see `os::spawn`).
#[cfg(target_os = "linux")]
fn start_main(
    spec: &SpawnSpec,
    _program: &str,
    output: Option<&std::os::fd::OwnedFd>,
    joins: &[std::os::fd::RawFd],
    rlimits: &[rlimit::Rlimit],
) -> std::io::Result<MainChild> {
    use std::os::fd::AsRawFd;
    let req = os::spawn::Request {
        argv: &spec.argv,
        cwd: &spec.cwd,
        env: &spec.env,
        output: output.map(|fd| fd.as_raw_fd()),
        cgroup_procs: joins,
        rlimits,
    };
    MainChild::spawn_with(|| os::spawn::spawn(&req))
}

/// Start the main process with fork + exec where there is no clone.
#[cfg(not(target_os = "linux"))]
fn start_main(
    spec: &SpawnSpec,
    program: &str,
    output: Option<&std::os::fd::OwnedFd>,
    joins: &[std::os::fd::RawFd],
    rlimits: &[rlimit::Rlimit],
) -> std::io::Result<MainChild> {
    let mut cmd = std::process::Command::new(program);
    cmd.args(&spec.argv[1..])
        .current_dir(&spec.cwd)
        .stdin(Stdio::null());
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    if let Some(fd) = output {
        cmd.stdout(Stdio::from(fd.try_clone()?))
            .stderr(Stdio::from(fd.try_clone()?));
    }
    let joins = joins.to_vec();
    let rlimits = rlimits.to_vec();
    // SAFETY: only async-signal-safe calls (write, setrlimit, setsid) on memory prepared
    // before the fork.
    unsafe {
        cmd.pre_exec(move || {
            // "0" moves the writing process (the child, before exec) into the cgroup.
            for fd in &joins {
                if libc::write(*fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            rlimit::apply(&rlimits)?;
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    MainChild::spawn(&mut cmd)
}

fn spawn_error(program: &str, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => format!("cannot run `{program}`: command not found"),
        std::io::ErrorKind::PermissionDenied => {
            format!("cannot run `{program}`: permission denied")
        }
        _ => format!("cannot run `{program}`: {e}"),
    }
}

#[cfg(test)]
mod tests;
