//! Waiting for a test's main process ourselves, with `wait4`, so that its resource usage (peak
//! RSS and CPU time, its waited-for descendants included) is known even without a cgroup.
//! On Linux the exit is awaited on a pidfd; elsewhere (or on kernels before 5.3) by polling.

use std::collections::BTreeSet;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::os;
use super::os::exit_watch::ExitWatch;

/// How often the exit is polled without a pidfd.
const POLL: Duration = Duration::from_millis(10);

/// Pids of main processes spawned here and not reaped yet: the orphan reaper must leave them
/// alone, or their exit status is lost.
static WAITED: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn waited() -> MutexGuard<'static, BTreeSet<i32>> {
    WAITED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `pid` is a main process that a [`MainChild`] will reap.
pub fn is_waited_for(pid: i32) -> bool {
    waited().contains(&pid)
}

/// A child that someone else (the async runtime) waits for, not a test's main process: the
/// container engine's CLI. Claimed for as long as this lives, so the orphan reaper leaves it
/// alone. Claim it before the child can exit: spawn with [`ClaimedChild::spawn`].
pub(crate) struct ClaimedChild(i32);

impl ClaimedChild {
    /// Spawn `cmd`, registering the pid under the same lock the orphan sweep reads.
    pub(crate) fn spawn(
        cmd: &mut tokio::process::Command,
    ) -> io::Result<(tokio::process::Child, ClaimedChild)> {
        let mut set = waited();
        let child = cmd.spawn()?;
        let pid = child.id().map_or(0, |p| p as i32);
        set.insert(pid);
        Ok((child, ClaimedChild(pid)))
    }
}

impl ClaimedChild {
    /// Claim a child spawned some other way that will not exit before it is claimed (the
    /// watchdog, which waits for warden's word).
    pub(crate) fn claim(pid: i32) -> ClaimedChild {
        waited().insert(pid);
        ClaimedChild(pid)
    }
}

impl Drop for ClaimedChild {
    fn drop(&mut self) {
        waited().remove(&self.0);
    }
}

/// Resource usage of an exited process and of the descendants it waited for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildUsage {
    /// The largest resident set of the process or of one of its waited-for descendants.
    pub max_rss_bytes: u64,
    pub cpu: Duration,
}

/// The main process of a test, reaped here.
#[derive(Debug)]
pub struct MainChild {
    pid: i32,
    exit_watch: Option<ExitWatch>,
    exited: Option<(ExitStatus, ChildUsage)>,
}

impl MainChild {
    /// Spawn `cmd` and take over waiting for it. The pid is registered before anyone can see
    /// it exit, so a concurrent orphan sweep never reaps it.
    pub fn spawn(cmd: &mut std::process::Command) -> io::Result<MainChild> {
        // Dropping a `Child` neither kills nor reaps it.
        MainChild::spawn_with(|| cmd.spawn().map(|c| c.id() as i32))
    }

    /// Take over waiting for the child that `start` spawns and returns the pid of, with the
    /// same guarantee as [`MainChild::spawn`].
    pub fn spawn_with(start: impl FnOnce() -> io::Result<i32>) -> io::Result<MainChild> {
        let mut set = waited();
        let pid = start()?;
        set.insert(pid);
        drop(set);
        Ok(MainChild {
            pid,
            exit_watch: ExitWatch::open(pid),
            exited: None,
        })
    }

    pub fn id(&self) -> i32 {
        self.pid
    }

    /// Usage of the process, once it has been reaped.
    pub fn usage(&self) -> Option<ChildUsage> {
        self.exited.map(|(_, u)| u)
    }

    /// Wait for the process to exit and reap it. Cancel-safe: a dropped call loses nothing.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some((st, _)) = reap(self.pid, &mut self.exited)? {
                return Ok(st);
            }
            if let Some(watch) = &self.exit_watch {
                let (pid, exited) = (self.pid, &mut self.exited);
                let (st, _) = watch.until(|| reap(pid, exited)).await?;
                return Ok(st);
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Reap `pid` if it exited, recording its status and usage in `exited`.
fn reap(
    pid: i32,
    exited: &mut Option<(ExitStatus, ChildUsage)>,
) -> io::Result<Option<(ExitStatus, ChildUsage)>> {
    if let Some(done) = *exited {
        return Ok(Some(done));
    }
    let mut status: libc::c_int = 0;
    // SAFETY: zeroed rusage is a valid value of a plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: status and ru are valid for writes for the duration of the call.
        let rc = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if rc == pid {
            let done = (ExitStatus::from_raw(status), usage_of(&ru));
            *exited = Some(done);
            waited().remove(&pid);
            return Ok(Some(done));
        }
        if rc == 0 {
            return Ok(None);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn usage_of(ru: &libc::rusage) -> ChildUsage {
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    ChildUsage {
        max_rss_bytes: (ru.ru_maxrss.max(0) as u64) * os::MAXRSS_UNIT,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn exit_code_signal_and_usage_of_a_real_child() {
        rt().block_on(async {
            let mut c =
                MainChild::spawn(std::process::Command::new("sh").args(["-c", "exit 3"])).unwrap();
            assert!(is_waited_for(c.id()));
            assert_eq!(c.usage(), None);
            let st = c.wait().await.unwrap();
            assert_eq!(st.code(), Some(3));
            assert!(!is_waited_for(c.id()));
            // Waiting again returns the same status without touching the (reaped) pid.
            assert_eq!(c.wait().await.unwrap().code(), Some(3));

            let mut c = MainChild::spawn(std::process::Command::new("sleep").arg("30")).unwrap();
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id()),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
            assert_eq!(c.wait().await.unwrap().signal(), Some(9));
        });
    }

    /// The usage covers what the process's own children (waited for by it) did.
    #[test]
    fn usage_counts_waited_for_descendants() {
        rt().block_on(async {
            let script = "python3 -c 'b = bytearray(b\"x\") * (64 << 20); import time
t = time.process_time()
while time.process_time() - t < 0.2: pass'";
            let mut c =
                MainChild::spawn(std::process::Command::new("sh").args(["-c", script])).unwrap();
            assert!(c.wait().await.unwrap().success());
            let u = c.usage().unwrap();
            assert!(u.max_rss_bytes >= 64 << 20, "{u:?}");
            assert!(u.max_rss_bytes < 1 << 30, "{u:?}");
            assert!(u.cpu >= Duration::from_millis(200), "{u:?}");
        });
    }
}
