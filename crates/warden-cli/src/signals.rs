//! SIGINT / SIGTERM / SIGHUP: the first asks the runner to stop (tests are terminated with the
//! grace, reports are flushed); a second one kills the running tests at once. The exit code
//! then says which signal came first (SPEC §5).

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use warden::events::StopReason;
use warden::runner::StopRequest;

/// Which signal stopped the run (0 = none).
#[derive(Clone, Default)]
pub struct Received(Arc<AtomicI32>);

/// Install the handlers; must be called inside the runtime.
pub fn install(stop: watch::Sender<Option<StopRequest>>) -> std::io::Result<Received> {
    let received = Received::default();
    let kinds = [
        (SignalKind::interrupt(), libc::SIGINT),
        (SignalKind::terminate(), libc::SIGTERM),
        (SignalKind::hangup(), libc::SIGHUP),
    ];
    let stop = Arc::new(stop);
    for (kind, num) in kinds {
        let mut s = signal(kind)?;
        let received = received.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                // The first signal decides the exit code; any later one only hurries things.
                let first = received
                    .0
                    .compare_exchange(0, num, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok();
                let _ = stop.send(Some(StopRequest {
                    reason: StopReason::Signal,
                    immediate: !first,
                    exit_code: 128 + received.0.load(Ordering::SeqCst),
                }));
            }
        });
    }
    Ok(received)
}
