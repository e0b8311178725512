//! A private network namespace for a test (`--net private`): the child enters it between clone
//! and exec, so the test's first instruction already sees only its own loopback.
//!
//! As root that is `unshare(CLONE_NEWNET)`. A normal user may not create a network namespace in
//! the host's user namespace, so the child first makes a user namespace of its own, with its
//! uid and gid mapped onto themselves (the test keeps its identity and nothing more: it is not
//! root in there, and its capabilities are dropped at exec), and the network namespace inside
//! it. The new namespace's `lo` is down: it is brought up with `SIOCSIFFLAGS` on a socket, which
//! gives it `127.0.0.1` and `::1`; no `ip` binary is needed.
//!
//! [`PrivateNet::enter`] runs in the vfork'd child: raw system calls on bytes prepared here,
//! no allocation. [`probe`] tries the same steps once, in a throwaway child, before a run
//! starts, and [`PrivateNetError`] then says which sysctl is in the way.

use std::ffi::CStr;
use std::fmt;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

/// The steps of entering a private network, in order: what a failure names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Unshare = 1,
    Setgroups,
    UidMap,
    GidMap,
    Socket,
    LoopbackUp,
}

impl Step {
    pub(super) fn from_code(code: i32) -> Step {
        match code {
            2 => Step::Setgroups,
            3 => Step::UidMap,
            4 => Step::GidMap,
            5 => Step::Socket,
            6 => Step::LoopbackUp,
            _ => Step::Unshare,
        }
    }

    fn describe(self, user_ns: bool) -> &'static str {
        match (self, user_ns) {
            (Step::Unshare, true) => "unshare(CLONE_NEWUSER | CLONE_NEWNET)",
            (Step::Unshare, false) => "unshare(CLONE_NEWNET)",
            (Step::Setgroups, _) => "writing `deny` to /proc/self/setgroups",
            (Step::UidMap, _) => "writing /proc/self/uid_map",
            (Step::GidMap, _) => "writing /proc/self/gid_map",
            (Step::Socket, _) => "opening a socket to configure `lo`",
            (Step::LoopbackUp, _) => "bringing `lo` up (SIOCSIFFLAGS)",
        }
    }
}

/// How this process makes a private network for its children, prepared once.
#[derive(Debug)]
pub struct PrivateNet {
    /// `"<uid> <uid> 1\n"` and `"<gid> <gid> 1\n"` when not root: a user namespace is needed.
    maps: Option<(Vec<u8>, Vec<u8>)>,
}

impl PrivateNet {
    /// For this process: plain `CLONE_NEWNET` as root, a user namespace too otherwise.
    pub fn get() -> &'static PrivateNet {
        static NET: OnceLock<PrivateNet> = OnceLock::new();
        NET.get_or_init(|| {
            // SAFETY: geteuid/getegid have no preconditions.
            let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
            PrivateNet {
                maps: (uid != 0).then(|| {
                    (
                        format!("{uid} {uid} 1\n").into_bytes(),
                        format!("{gid} {gid} 1\n").into_bytes(),
                    )
                }),
            }
        })
    }

    /// Whether a user namespace is made as well (warden is not root).
    pub fn uses_user_ns(&self) -> bool {
        self.maps.is_some()
    }

    /// Move the calling process into a new network namespace with `lo` up. Only for a child
    /// between clone and exec: async-signal-safe, allocates nothing, touches only `self`.
    /// Returns the failed step and its errno.
    pub fn enter(&self) -> Result<(), (Step, i32)> {
        let errno = || {
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO)
        };
        let flags = match self.maps {
            Some(_) => libc::CLONE_NEWUSER | libc::CLONE_NEWNET,
            None => libc::CLONE_NEWNET,
        };
        // SAFETY: unshare only changes this process's namespaces.
        if unsafe { libc::unshare(flags) } != 0 {
            return Err((Step::Unshare, errno()));
        }
        if let Some((uid_map, gid_map)) = &self.maps {
            // An unprivileged gid_map is refused until setgroups is denied (kernels before
            // 3.19 have no such file, and need nothing).
            match write_file(c"/proc/self/setgroups", b"deny") {
                Err(e) if e != libc::ENOENT => return Err((Step::Setgroups, e)),
                _ => {}
            }
            write_file(c"/proc/self/uid_map", uid_map).map_err(|e| (Step::UidMap, e))?;
            write_file(c"/proc/self/gid_map", gid_map).map_err(|e| (Step::GidMap, e))?;
        }
        loopback_up()
    }
}

/// `open` + one `write` + `close`. Async-signal-safe; returns the errno.
fn write_file(path: &CStr, data: &[u8]) -> Result<(), i32> {
    // SAFETY: raw system calls on a static path and a borrowed buffer.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(last_errno());
        }
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        let e = last_errno();
        libc::close(fd);
        if n != data.len() as isize {
            return Err(if n < 0 { e } else { libc::EIO });
        }
    }
    Ok(())
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `lo` up, by `SIOCGIFFLAGS` / `SIOCSIFFLAGS` on a datagram socket. Async-signal-safe.
fn loopback_up() -> Result<(), (Step, i32)> {
    // SAFETY: socket/ioctl/close on a zeroed ifreq naming `lo`; the fd is closed on every path.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err((Step::Socket, last_errno()));
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let mut result = Ok(());
        if libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req) != 0 {
            result = Err((Step::LoopbackUp, last_errno()));
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &req) != 0 {
                result = Err((Step::LoopbackUp, last_errno()));
            }
        }
        libc::close(fd);
        result
    }
}

/// Why a private network cannot be made here, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateNetError {
    pub step: Step,
    pub errno: i32,
    pub user_ns: bool,
    /// The sysctls that forbid unprivileged user namespaces, as `name = value`.
    pub blocking: Vec<String>,
}

/// A sysctl's name, its file, and which values of it forbid unprivileged user namespaces.
type Sysctl = (&'static str, &'static str, fn(i64) -> bool);

/// Sysctls that decide whether a normal user may create a user namespace: Debian's switch,
/// the per-user-namespace count (0 forbids), Ubuntu's AppArmor restriction.
const USERNS_SYSCTLS: [Sysctl; 3] = [
    (
        "kernel.unprivileged_userns_clone",
        "/proc/sys/kernel/unprivileged_userns_clone",
        |v| v == 0,
    ),
    (
        "user.max_user_namespaces",
        "/proc/sys/user/max_user_namespaces",
        |v| v == 0,
    ),
    (
        "kernel.apparmor_restrict_unprivileged_userns",
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        |v| v != 0,
    ),
];

impl PrivateNetError {
    pub(super) fn new(step: Step, errno: i32, user_ns: bool) -> PrivateNetError {
        let blocking = if user_ns {
            USERNS_SYSCTLS
                .iter()
                .filter_map(|(name, path, blocks)| {
                    let v: i64 = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
                    blocks(v).then(|| format!("{name} = {v}"))
                })
                .collect()
        } else {
            Vec::new()
        };
        PrivateNetError {
            step,
            errno,
            user_ns,
            blocking,
        }
    }
}

impl fmt::Display for PrivateNetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let os = std::io::Error::from_raw_os_error(self.errno);
        write!(
            f,
            "cannot create a private network namespace: {} failed: {os}",
            self.step.describe(self.user_ns)
        )?;
        if !self.user_ns {
            return write!(
                f,
                " (as root this needs CAP_SYS_ADMIN: in a container, give it that capability; \
                 or run with --net host)"
            );
        }
        let names: Vec<&str> = USERNS_SYSCTLS.iter().map(|(n, _, _)| *n).collect();
        match self.blocking.as_slice() {
            [] => write!(
                f,
                " (as a normal user warden needs an unprivileged user namespace; the sysctls \
                 that allow them are {}; or run warden as root, or with --net host)",
                names.join(", ")
            ),
            blocking => write!(
                f,
                " (unprivileged user namespaces are not allowed here: {}; allow them with \
                 sysctl, run warden as root, or run with --net host)",
                blocking.join(", ")
            ),
        }
    }
}

impl std::error::Error for PrivateNetError {}

/// Make a private network once in a throwaway child, to find out before any test runs
/// whether this host allows it.
pub fn probe() -> Result<(), PrivateNetError> {
    let net = PrivateNet::get();
    let shared = Probe {
        net,
        step: AtomicI32::new(0),
        errno: AtomicI32::new(0),
    };
    let mut stack = vec![0u8; 16 * 1024];
    // SAFETY: the stack grows down; aligned to 16 bytes. CLONE_VFORK keeps this frame (and
    // `stack`, `shared`) alive and suspended until the child has exited.
    let top = unsafe { stack.as_mut_ptr().add(stack.len()) };
    let top = (top as usize & !15) as *mut libc::c_void;
    // SAFETY: `probe_main` makes raw system calls only (see `PrivateNet::enter`) and `_exit`s;
    // signals reaching it run warden's handlers at worst, which only set flags.
    let pid = unsafe {
        libc::clone(
            probe_main,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&shared as *const Probe).cast_mut().cast(),
        )
    };
    if pid < 0 {
        return Err(PrivateNetError::new(
            Step::Unshare,
            last_errno(),
            net.uses_user_ns(),
        ));
    }
    let mut status = 0;
    // SAFETY: waits for our own child; status is a valid out-pointer.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 && last_errno() == libc::EINTR {}
    drop(stack);
    match shared.step.load(Ordering::SeqCst) {
        0 => Ok(()),
        step => Err(PrivateNetError::new(
            Step::from_code(step),
            shared.errno.load(Ordering::SeqCst),
            net.uses_user_ns(),
        )),
    }
}

struct Probe {
    net: &'static PrivateNet,
    step: AtomicI32,
    errno: AtomicI32,
}

extern "C" fn probe_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Probe` that `probe` keeps alive until we exit.
    let p = unsafe { &*(arg as *const Probe) };
    if let Err((step, errno)) = p.net.enter() {
        p.errno.store(errno, Ordering::SeqCst);
        p.step.store(step as i32, Ordering::SeqCst);
    }
    // SAFETY: ends the child without running anything of warden's.
    unsafe { libc::_exit(0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_makes_a_private_network_here() {
        // The machines warden is tested on allow it, as root and as a normal user.
        probe().unwrap();
    }

    #[test]
    fn errors_say_the_step_and_the_sysctl_in_the_way() {
        let e = PrivateNetError {
            step: Step::Unshare,
            errno: libc::ENOSPC,
            user_ns: true,
            blocking: vec!["user.max_user_namespaces = 0".into()],
        };
        let text = e.to_string();
        assert!(
            text.contains("unshare(CLONE_NEWUSER | CLONE_NEWNET) failed")
                && text.contains("user.max_user_namespaces = 0")
                && text.contains("--net host"),
            "{text}"
        );
        let e = PrivateNetError {
            blocking: Vec::new(),
            ..e
        };
        assert!(
            e.to_string().contains("kernel.unprivileged_userns_clone"),
            "{e}"
        );
        let e = PrivateNetError {
            user_ns: false,
            errno: libc::EPERM,
            ..e
        };
        assert!(e.to_string().contains("CAP_SYS_ADMIN"), "{e}");
    }
}
