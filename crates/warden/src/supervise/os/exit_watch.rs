//! Waiting for a child's exit without polling: a pidfd turns readable when the process exits
//! (Linux 5.3 and later). Elsewhere, and on older kernels, there is none and the caller polls.

use std::io;

/// A process's exit, watched.
#[derive(Debug)]
pub struct ExitWatch(imp::Fd);

impl ExitWatch {
    /// `None` when the OS cannot watch `pid` this way.
    pub fn open(pid: i32) -> Option<ExitWatch> {
        imp::open(pid).map(ExitWatch)
    }

    /// Wait until `check` (which reaps) finds the process exited; each wake-up that finds it
    /// not exited yet was spurious. Cancel-safe.
    pub async fn until<T>(
        &self,
        mut check: impl FnMut() -> io::Result<Option<T>>,
    ) -> io::Result<T> {
        loop {
            let mut ready = self.0.readable().await?;
            if let Some(done) = check()? {
                return Ok(done);
            }
            ready.clear_ready();
        }
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::os::fd::{FromRawFd, OwnedFd};

    use tokio::io::unix::AsyncFd;

    pub type Fd = AsyncFd<OwnedFd>;

    pub fn open(pid: i32) -> Option<Fd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: the kernel just returned this fd to us; nothing else owns it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // SAFETY: the AsyncFd owns the fd and never closes or replaces it while registered.
        unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }.ok()
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io;

    /// Never made: [`open`] always says there is no watch.
    #[derive(Debug)]
    pub enum Fd {}

    pub struct Ready;

    impl Ready {
        pub fn clear_ready(&mut self) {}
    }

    impl Fd {
        pub async fn readable(&self) -> io::Result<Ready> {
            match *self {}
        }
    }

    pub fn open(_pid: i32) -> Option<Fd> {
        None
    }
}
