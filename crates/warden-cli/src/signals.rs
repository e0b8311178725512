//! SIGINT / SIGTERM / SIGHUP: the first asks the runner to stop (tests are terminated with the
//! grace, reports are flushed); a second one kills the running tests at once. The exit code
//! then says which signal came first (SPEC §5).
//!
//! SIGTSTP (Ctrl-Z) freezes every running test and stops their clocks, then stops warden
//! itself; when warden is continued (SIGCONT: `fg`, `bg`) the tests are thawed. Tests run in
//! sessions of their own, so the terminal's stop and continue never reach them directly.
//!
//! A signal that warden was started with ignored stays ignored, as the starter asked:
//! `nohup warden …` must survive the hangup, and a shell starts background jobs with SIGINT
//! ignored so that a Ctrl-C meant for the foreground leaves them running.

//! The signals are counted by a handler of their own the moment they arrive, so that code that
//! does not poll the runtime — the set-up, the sweep of dead runs — can see one and stop
//! ([`pending`]); the runtime's handlers only wake the runner up.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::Arc;
use warden::exit_code::ExitCode;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use warden::events::StopReason;
use warden::runner::StopRequest;

/// The first stop signal received (0 = none), and how many arrived.
static FIRST: AtomicI32 = AtomicI32::new(0);
static COUNT: AtomicU32 = AtomicU32::new(0);

/// The first stop signal (SIGINT, SIGTERM or SIGHUP) received so far, if any.
pub fn pending() -> Option<i32> {
    Some(FIRST.load(Ordering::SeqCst)).filter(|s| *s != 0)
}

/// What the signals received so far ask of the runner.
fn request() -> Option<StopRequest> {
    let first = pending()?;
    Some(StopRequest {
        reason: StopReason::Signal,
        // The first signal decides the exit code; any later one only hurries things.
        immediate: COUNT.load(Ordering::SeqCst) > 1,
        exit_code: ExitCode::of_signal(first),
    })
}

/// Hands what the signals received so far ask for to the runner.
#[derive(Clone)]
pub struct Signals(Arc<watch::Sender<Option<StopRequest>>>);

impl Signals {
    /// Passes a signal that arrived while nothing polled the runtime (during the set-up) on
    /// to the runner, so that it starts no test.
    pub fn forward_pending(&self) {
        forward(&self.0);
    }
}

fn forward(stop: &watch::Sender<Option<StopRequest>>) {
    if let Some(req) = request() {
        stop.send_if_modified(|cur| {
            let changed = *cur != Some(req);
            *cur = Some(req);
            changed
        });
    }
}

/// Install the handlers; must be called inside the runtime.
pub fn install(stop: watch::Sender<Option<StopRequest>>) -> std::io::Result<Signals> {
    let kinds = [
        (SignalKind::interrupt(), libc::SIGINT),
        (SignalKind::terminate(), libc::SIGTERM),
        (SignalKind::hangup(), libc::SIGHUP),
    ];
    let stop = Arc::new(stop);
    for (kind, num) in kinds {
        if inherited_ignored(num) {
            continue;
        }
        // SAFETY: the action only touches atomics, which is async-signal-safe.
        unsafe {
            signal_hook_registry::register(num, move || {
                let _ = FIRST.compare_exchange(0, num, Ordering::SeqCst, Ordering::SeqCst);
                COUNT.fetch_add(1, Ordering::SeqCst);
            })
        }?;
        let mut s = signal(kind)?;
        let stop = stop.clone();
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                forward(&stop);
            }
        });
    }
    if !inherited_ignored(libc::SIGTSTP) {
        let mut s = signal(SignalKind::from_raw(libc::SIGTSTP))?;
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                warden::supervise::pause::pause();
                // Stop as SIGTSTP would have without the handler. The runtime (and every
                // timer) stops with the process; execution goes on from here on SIGCONT.
                // The progress line is hidden meanwhile, the terminal given back.
                crate::tty::while_stopped(|| {
                    // SAFETY: raise(3) with a valid signal number.
                    unsafe {
                        libc::raise(libc::SIGSTOP);
                    }
                });
                warden::supervise::pause::resume();
            }
        });
    }
    Ok(Signals(stop))
}

/// Whether `sig` is ignored (SIG_IGN) in this process: inherited that way, since nothing in
/// warden ignores these signals itself.
fn inherited_ignored(sig: libc::c_int) -> bool {
    // SAFETY: sigaction with a null new action only reads the current disposition into `old`,
    // a zeroed (valid) sigaction owned by this frame.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SIGUSR1, which warden does not handle: dispositions are per process, shared with the
    /// other tests of this binary, and none of them uses it.
    #[test]
    fn sees_an_ignored_signal() {
        assert!(!inherited_ignored(libc::SIGUSR1));
        // SAFETY: setting SIG_IGN and back to SIG_DFL installs no handler code.
        unsafe { libc::signal(libc::SIGUSR1, libc::SIG_IGN) };
        let ignored = inherited_ignored(libc::SIGUSR1);
        unsafe { libc::signal(libc::SIGUSR1, libc::SIG_DFL) };
        assert!(ignored);
        assert!(!inherited_ignored(libc::SIGUSR1));
    }
}
