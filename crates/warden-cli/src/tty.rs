//! The live progress line's hold on the terminal. A key that signals (Ctrl-C, Ctrl-Z) makes
//! the terminal echo `^C` / `^Z` where the cursor is: at the end of the progress line, which
//! then wraps or is overwritten half-way, so the line can no longer be cleared and stays on
//! screen. While the line is shown, that echo is off (`ECHOCTL`; warden prints what happens
//! itself). A stop (Ctrl-Z) hides the line and gives the terminal back as it was, and a
//! continue (`fg`) takes it again and redraws the line.

use std::sync::Mutex;

use indicatif::ProgressBar;

struct Held {
    bar: ProgressBar,
    /// The terminal's settings before, restored on release and while stopped.
    saved: Option<libc::termios>,
}

static HELD: Mutex<Option<Held>> = Mutex::new(None);

fn held() -> std::sync::MutexGuard<'static, Option<Held>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// The progress line is on stderr from now on: control characters are no longer echoed.
pub fn hold(bar: &ProgressBar) {
    let saved = quiet_echo();
    *held() = Some(Held {
        bar: bar.clone(),
        saved,
    });
}

/// The line is gone for good: the terminal as it was.
pub fn release() {
    if let Some(h) = held().take() {
        restore(h.saved.as_ref());
    }
}

/// Run `stop` (which stops warden until it is continued) with the line hidden and the
/// terminal as it was; then take the terminal again and redraw the line.
pub fn while_stopped(stop: impl FnOnce()) {
    let bar = held().as_ref().map(|h| (h.bar.clone(), h.saved));
    match bar {
        Some((bar, saved)) => bar.suspend(|| {
            restore(saved.as_ref());
            stop();
            let _ = quiet_echo();
        }),
        None => stop(),
    }
}

/// Whether warden is in the foreground of stderr's terminal. Changing the settings from the
/// background (`warden run &`, or `bg` after Ctrl-Z) would stop warden with SIGTTOU, and would
/// change them under the shell the user is typing into.
fn in_foreground() -> bool {
    // SAFETY: tcgetpgrp and getpgrp only read.
    unsafe { libc::isatty(2) == 1 && libc::tcgetpgrp(2) == libc::getpgrp() }
}

/// Clear `ECHOCTL` on stderr's terminal; the settings before, when it is one and warden is in
/// its foreground.
fn quiet_echo() -> Option<libc::termios> {
    if !in_foreground() {
        return None;
    }
    // SAFETY: tcgetattr/tcsetattr on fd 2 with a termios owned by this frame.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(2, &mut t) != 0 {
            return None;
        }
        let saved = t;
        t.c_lflag &= !libc::ECHOCTL;
        libc::tcsetattr(2, libc::TCSANOW, &t);
        Some(saved)
    }
}

fn restore(saved: Option<&libc::termios>) {
    if let Some(t) = saved.filter(|_| in_foreground()) {
        // SAFETY: tcsetattr on fd 2 with settings read from it earlier.
        unsafe {
            libc::tcsetattr(2, libc::TCSANOW, t);
        }
    }
}
