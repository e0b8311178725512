//! The one supervision driver: whatever a test runs as (a process tree, a container), its life
//! has the same phases, owned here so that every kind behaves the same way:
//!
//! 1. run: read its output, measure it, until its main end (the main process, the engine CLI)
//!    returns, the deadline passes or a stop is asked for;
//! 2. stop: TERM, KILL after the grace (at once for `Cancel::Now`), KILL again until it is
//!    gone, keep reading; also when the main end returned but left something behind;
//! 3. drain: read what is still in the pipe, for a bounded time;
//! 4. finish: the supervisee says how it ended and at what cost.
//!
//! Ctrl-Z pauses it (time paused counts neither against its timeout and grace nor in its
//! duration). A [`Supervisee`] only knows how to do each step to its kind of thing.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::watch;
// The tokio clock: the driver's own tests run it paused.
use tokio::time::{sleep, sleep_until, Instant};

use super::limits::Usage;
use super::pause;
use super::process::{Cancel, CaptureSpec, Exit, ProcessOutcome};
use super::sink::OutputSink;
use crate::events::{CapturedOutput, Leak};

/// How long to keep reading output after the test is gone: only a process that escaped it can
/// still hold the pipe open.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_millis(1000);
/// How often a terminating test is checked for being gone.
const POLL: Duration = Duration::from_millis(20);
/// How often KILL is sent again while the test is not gone: a process (or container) created
/// after the first KILL, while it was still being set up, is caught by the next.
const KILL_REPEAT: Duration = Duration::from_millis(500);

/// A signal the driver asks a supervisee to deliver to everything it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Term,
    Kill,
}

/// How phase 1 ended, for [`Supervisee::finish`].
#[derive(Debug)]
pub(crate) enum End {
    /// The driver stopped it (timeout, cancel): the exit is already known.
    Stopped(Exit),
    /// The main end returned by itself with this status.
    Returned(io::Result<ExitStatus>),
}

/// What a supervisee says once everything is over.
pub(crate) struct Finish {
    pub exit: Exit,
    pub usage: Usage,
    pub notes: Vec<String>,
}

/// One kind of thing a test can run as. Methods are called by [`drive`] only, in phase order.
pub(crate) trait Supervisee: Send {
    /// Count it in pauses (Ctrl-Z) until the registration is dropped.
    fn register_pause(&self) -> pause::Registration;
    /// The main end returned (called again after it did: must return at once then).
    fn wait(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + Send;
    /// When [`Supervisee::sample`] is due next; `None` when nothing is measured by looking.
    fn sample_due(&self) -> Option<Instant>;
    fn sample(&mut self) -> impl Future<Output = ()> + Send;
    /// What is still there after the main end returned by itself: it was left behind.
    fn leftovers(&mut self) -> impl Future<Output = Vec<Leak>> + Send;
    /// Deliver `stop` to everything it holds.
    fn signal(&mut self, stop: Stop) -> impl Future<Output = ()> + Send;
    /// Nothing of it is alive any more (asked once the main end returned).
    fn is_gone(&self) -> bool;
    /// How long after the first KILL the main end may take to return before it is forced
    /// ([`Supervisee::force_end`]); `None`: wait for it however long.
    fn kill_wait(&self) -> Option<Duration>;
    /// End the main end by force; returns its status and a note saying what was done.
    fn force_end(&mut self) -> impl Future<Output = (io::Result<ExitStatus>, String)> + Send;
    /// How it ended and what it used, once the output is all read.
    fn finish(self, end: End, output: &CapturedOutput) -> impl Future<Output = Finish> + Send;
}

/// How a test is driven, whatever it runs as.
pub(crate) struct DriveSpec<'a> {
    pub timeout: Duration,
    pub grace: Duration,
    pub capture: Option<&'a CaptureSpec>,
}

/// Run `s` through every phase. `started` is when its start began (the spawn counts in its
/// duration), `reader` the read end of its output pipe.
pub(crate) async fn drive<S: Supervisee>(
    mut s: S,
    started: Instant,
    reader: Option<pipe::Receiver>,
    spec: DriveSpec<'_>,
    mut cancel: watch::Receiver<Cancel>,
) -> ProcessOutcome {
    let mut notes = Vec::new();
    let mut sink = OutputSink::new(spec.capture);
    let mut out = Output {
        reader,
        buf: vec![0u8; 64 * 1024],
    };
    // Frozen with every other test on Ctrl-Z; time paused does not count against it.
    let paused_at_start = pause::paused_total();
    let pausable = s.register_pause();

    // Phase 1: until the main end returns, the deadline passes or we are told to stop.
    let deadline = sleep_until(instant_after(started, spec.timeout));
    tokio::pin!(deadline);
    let mut status = None;
    let mut stop: Option<Exit> = None;
    if *cancel.borrow() != Cancel::No {
        stop = Some(Exit::Cancelled);
    }
    while status.is_none() && stop.is_none() {
        let look_at = s.sample_due();
        tokio::select! {
            r = out.read(), if out.open() => out.take(r, &mut sink),
            st = s.wait() => status = Some(st),
            _ = sleep_until(look_at.unwrap_or(started)), if look_at.is_some() => {
                s.sample().await;
            }
            _ = &mut deadline => {
                let due = instant_after(started, spec.timeout);
                match after_pauses(due, paused_at_start) {
                    Some(later) => deadline.as_mut().reset(later),
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

    let leaked = match stop {
        None => s.leftovers().await,
        Some(_) => Vec::new(),
    };
    if stop.is_some() || !leaked.is_empty() {
        // Phase 2: TERM everything, KILL what is left after the grace, keep reading.
        let mut killed = *cancel.borrow() == Cancel::Now;
        s.signal(if killed { Stop::Kill } else { Stop::Term }).await;
        let grace_from = Instant::now();
        let paused_at_grace = pause::paused_total();
        let kill_at = sleep(spec.grace);
        tokio::pin!(kill_at);
        let mut killed_at = killed.then(Instant::now);
        let mut cancel_open = true;
        let mut poll = tokio::time::interval(POLL);
        let mut repeat = tokio::time::interval(KILL_REPEAT);
        repeat.reset();
        loop {
            let give_up = killed_at.zip(s.kill_wait()).map(|(at, w)| at + w);
            tokio::select! {
                r = out.read(), if out.open() => out.take(r, &mut sink),
                st = s.wait(), if status.is_none() => {
                    status = Some(st);
                    if s.is_gone() {
                        break;
                    }
                }
                _ = &mut kill_at, if !killed => {
                    let due = instant_after(grace_from, spec.grace);
                    match after_pauses(due, paused_at_grace) {
                        Some(later) => kill_at.as_mut().reset(later),
                        None => {
                            s.signal(Stop::Kill).await;
                            killed = true;
                            killed_at = Some(Instant::now());
                            repeat.reset();
                        }
                    }
                }
                _ = repeat.tick(), if killed && status.is_none() => s.signal(Stop::Kill).await,
                changed = cancel.changed(), if cancel_open && !killed => {
                    cancel_open = changed.is_ok();
                    if *cancel.borrow() == Cancel::Now {
                        s.signal(Stop::Kill).await;
                        killed = true;
                        killed_at = Some(Instant::now());
                        repeat.reset();
                    }
                }
                _ = sleep_until(give_up.unwrap_or(grace_from)), if give_up.is_some() && status.is_none() => {
                    let (st, note) = s.force_end().await;
                    notes.push(note);
                    status = Some(st);
                    if s.is_gone() {
                        break;
                    }
                }
                _ = poll.tick() => {
                    if status.is_some() && s.is_gone() {
                        break;
                    }
                }
            }
        }
    }
    drop(pausable);

    // Phase 3: it is gone; read what is still in the pipe.
    if out.open() {
        let drain = sleep(DRAIN_LIMIT);
        tokio::pin!(drain);
        while out.open() {
            tokio::select! {
                r = out.read() => out.take(r, &mut sink),
                _ = &mut drain => {
                    notes.push(format!(
                        "output pipe still open {}ms after the test ended: a process outside it holds it",
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

    let kept = sink.finish();
    notes.extend(kept.log_error);
    let end = match (stop, status) {
        (Some(e), _) => End::Stopped(e),
        (None, Some(st)) => End::Returned(st),
        (None, None) => unreachable!("phase 1 ends with a status or a stop"),
    };
    let finish = s.finish(end, &kept.output).await;
    notes.extend(finish.notes);
    ProcessOutcome {
        exit: finish.exit,
        duration,
        output: kept.output,
        log: kept.log,
        tap: kept.tap,
        leaked,
        notes,
        usage: finish.usage,
    }
}

/// `at + d`, never overflowing (see [`crate::clock::instant_after`]).
fn instant_after(at: Instant, d: Duration) -> Instant {
    Instant::from_std(crate::clock::instant_after(at.into_std(), d))
}

/// `due` pushed back by the pauses since `paused_at` was read: `None` when it has come.
fn after_pauses(due: Instant, paused_at: Duration) -> Option<Instant> {
    let now = Instant::now().into_std();
    pause::due_after(due.into_std(), paused_at, pause::paused_total(), now).map(Instant::from_std)
}

/// The outcome of a test that could not be started at all.
pub(crate) fn not_started(msg: String, duration: Duration, log: Option<PathBuf>) -> ProcessOutcome {
    ProcessOutcome {
        exit: Exit::SpawnFailed(msg),
        duration,
        output: CapturedOutput::default(),
        log,
        tap: None,
        leaked: Vec::new(),
        notes: Vec::new(),
        usage: Usage::default(),
    }
}

/// The read end of the test's output pipe, closed once it says end of file.
struct Output {
    reader: Option<pipe::Receiver>,
    buf: Vec<u8>,
}

impl Output {
    fn open(&self) -> bool {
        self.reader.is_some()
    }

    /// Some bytes (their count), or `None` at the end (or a read error: the same for us).
    async fn read(&mut self) -> Option<usize> {
        match self.reader.as_mut()?.read(&mut self.buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        }
    }

    fn take(&mut self, read: Option<usize>, sink: &mut OutputSink) {
        match read {
            Some(n) => sink.push(&self.buf[..n]),
            None => self.reader = None,
        }
    }
}
