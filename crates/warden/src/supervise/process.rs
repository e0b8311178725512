//! One test's life as a process tree: spawn it in its own session, capture its output, enforce
//! its timeout with TERM → grace → KILL to the whole group, and sweep what it leaves behind.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use std::process::ExitStatus;

use nix::sys::signal::Signal;
use tokio::net::unix::pipe;
use tokio::sync::watch;
use tokio::time::{sleep, Instant};

use super::child::{self, MainChild};
use super::driver::{self, DriveSpec, End, Finish, Stop, Supervisee};
use super::limits::{Limits, MemCapBy, Usage};
use super::net::Network;
use super::os;
use super::os::cgroup::TestCgroup;
use super::os::controllers::{Caps, ControllerSlot, SlotStart};
use super::os::no_cgroup::CapError;
use super::os::rlimit;
use super::pause;
use super::peak::PeakSampler;
use super::sink::Echo;
use super::tree::Tree;
use crate::events::{CapturedOutput, Leak};
use crate::tap::TapReport;

/// How many times (10 ms apart) leftovers are looked at again until their command lines hold
/// still: up to 250 ms, only for tests that leave something behind.
const LEAK_SETTLE_TRIES: usize = 25;

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
    /// `Private`: the tree starts in a network namespace of its own ([`os::netns`]).
    pub net: Network,
}

#[derive(Debug, Clone)]
pub struct CaptureSpec {
    /// Where the full output is written.
    pub log_path: Option<PathBuf>,
    pub tap: TapMode,
    /// Also send the output on as it arrives (`--no-capture`): live output that still
    /// reaches the log and the TAP parser; the scheduler turns it into events.
    pub echo: Option<Echo>,
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
pub async fn run_process(spec: SpawnSpec, cancel: watch::Receiver<Cancel>) -> ProcessOutcome {
    let started = Instant::now();
    let (tree, reader) = match ProcessTree::start(&spec) {
        Ok(t) => t,
        Err(e) => return driver::not_started(e.to_string(), started.elapsed(), None),
    };
    let drive = DriveSpec {
        timeout: spec.timeout,
        grace: spec.grace,
        capture: spec.capture.as_ref(),
    };
    driver::drive(tree, started, reader, drive, cancel).await
}

/// A test's process tree as the driver sees it: its main process (waited for here), the tree
/// around it, and what measures it.
struct ProcessTree<'a> {
    spec: &'a SpawnSpec,
    child: MainChild,
    tree: Tree,
    /// Counters of the slot's controllers at the start, to measure this test alone.
    slot_start: Option<SlotStart>,
    /// Looks at the test's peak memory when no cgroup measures it.
    peak: Option<PeakSampler>,
}

impl<'a> ProcessTree<'a> {
    fn start(spec: &'a SpawnSpec) -> Result<(ProcessTree<'a>, Option<pipe::Receiver>), SpawnError> {
        let s = spawn(spec)?;
        // setsid made the main process the leader of its own session and group.
        let tree = Tree {
            pgid: s.child.id(),
            cgroup: spec.cgroup.clone(),
            token: spec.token.clone(),
            mark: spec.mark,
        };
        let me = ProcessTree {
            spec,
            child: s.child,
            tree,
            slot_start: s.slot_start,
            peak: s.peak,
        };
        Ok((me, s.reader))
    }
}

impl Supervisee for ProcessTree<'_> {
    fn register_pause(&self) -> pause::Registration {
        pause::register(Box::new(self.tree.clone()))
    }

    async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    fn sample_due(&self) -> Option<Instant> {
        self.peak.as_ref().map(|p| Instant::from_std(p.due()))
    }

    async fn sample(&mut self) {
        if let Some(p) = self.peak.as_mut() {
            p.sample();
        }
    }

    async fn leftovers(&mut self) -> Vec<Leak> {
        // Whatever is left in its group was left behind.
        let mut leaked = self.tree.members();
        // Leftovers found the instant the main process ended may be mid-fork or mid-exec
        // (`setsid sleep 300` shows as `setsid`, or as the parent's command line): look again
        // until the list holds still and no entry still shows the test's own command line
        // (a child that has not exec'd yet, however loaded the machine), within a bound: a
        // subshell left behind never execs.
        let own_cmd = self.spec.argv.join(" ");
        // (An interpreter run by a shebang line shows up in front of the script path.)
        let unexeced = |l: &[Leak]| l.iter().any(|x| x.cmd.ends_with(&own_cmd));
        for _ in 0..LEAK_SETTLE_TRIES {
            if leaked.is_empty() {
                break;
            }
            sleep(Duration::from_millis(10)).await;
            let again = self.tree.members();
            let settled = again == leaked && !unexeced(&again);
            leaked = again;
            if settled {
                break;
            }
        }
        leaked
    }

    async fn signal(&mut self, stop: Stop) {
        self.tree.signal(match stop {
            Stop::Term => Signal::SIGTERM,
            Stop::Kill => Signal::SIGKILL,
        });
    }

    fn is_gone(&self) -> bool {
        self.tree.is_empty()
    }

    fn kill_wait(&self) -> Option<Duration> {
        // A KILLed process always goes: wait for it.
        None
    }

    async fn force_end(&mut self) -> (std::io::Result<ExitStatus>, String) {
        (self.child.wait().await, String::new())
    }

    async fn finish(self, end: End, _output: &CapturedOutput) -> Finish {
        // Orphans re-parented to warden (the subreaper) and killed are zombies now.
        os::reap_orphans(child::is_waited_for);
        let spec = self.spec;
        let exit = match end {
            End::Stopped(e) => e,
            End::Returned(Ok(st)) => exit_of(st),
            End::Returned(Err(e)) => {
                Exit::SpawnFailed(format!("failed to wait for `{}`: {e}", spec.argv[0]))
            }
        };
        let cgroup_usage = spec
            .controllers
            .as_ref()
            .zip(self.slot_start)
            .map(|(slot, start)| slot.finish(start));
        let child_usage = self.child.usage();
        let mut usage = Usage::measure(
            &spec.limits,
            mem_cap_by(spec),
            cgroup_usage,
            child_usage,
            &exit,
        );
        if let (Some(p), Some(u)) = (&self.peak, child_usage) {
            usage.peak_rss_bytes = p.peak(u.max_rss_bytes);
        }
        Finish {
            exit,
            usage,
            notes: Vec::new(),
        }
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

/// Why a test's main process did not start: the test is an `error` with this message.
#[derive(Debug, thiserror::Error)]
enum SpawnError {
    #[error("empty command")]
    EmptyCommand,
    /// A cap the test asks for could not be set: it must not run without it.
    #[error(transparent)]
    Cap(#[from] CapError),
    #[error("cannot create output pipe: {0}")]
    Pipe(#[source] std::io::Error),
    #[error("cannot run `{program}`: {}", why_not(source))]
    Start {
        program: String,
        source: std::io::Error,
    },
    /// The cap, not the host, is what is short: which cap, and how it is enforced (`by`).
    #[error(
        "cannot run `{program}`: {}: the test's memory cap of {} ({by}) is too small to start it",
        why_not(source),
        crate::units::format_size(*bytes)
    )]
    CapTooSmall {
        program: String,
        source: std::io::Error,
        bytes: u64,
        by: &'static str,
    },
}

/// Why a program could not be run, in the words a user looks for.
fn why_not(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "command not found".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// Start the main process: own session (so its own process group, no controlling terminal),
/// stdin from /dev/null, stdout and stderr into one pipe so their interleaving is kept, in the
/// slot's cgroups and under the spec's rlimits.
fn spawn(spec: &SpawnSpec) -> Result<Spawned, SpawnError> {
    let Some(program) = spec.argv.first() else {
        return Err(SpawnError::EmptyCommand);
    };
    let slot_start = match &spec.controllers {
        Some(slot) => Some(slot.prepare(&Caps {
            mem_bytes: spec.limits.mem_bytes,
            pids: spec.limits.pids,
        })?),
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
        let (tx, rx) = pipe::pipe().map_err(SpawnError::Pipe)?;
        let fd = tx.into_blocking_fd().map_err(SpawnError::Pipe)?;
        output = Some(fd);
        reader = Some(rx);
    }
    let child = start_main(spec, output.as_ref(), &joins, &rlimits).map_err(|source| {
        let program = program.clone();
        match (source.raw_os_error(), spec.limits.mem_bytes) {
            (Some(libc::ENOMEM), Some(bytes)) => SpawnError::CapTooSmall {
                program,
                source,
                bytes,
                by: match mem_cap_by(spec) {
                    Some(MemCapBy::Cgroup) => "memory cgroup",
                    _ => "address-space rlimit",
                },
            },
            _ => SpawnError::Start { program, source },
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

/// Start the main process (see `os::spawn`).
fn start_main(
    spec: &SpawnSpec,
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
        private_net: spec.net == Network::Private,
    };
    MainChild::spawn_with(|| os::spawn::spawn(&req))
}

#[cfg(test)]
mod tests;
