//! Starting a test's main process without copying warden: `clone(CLONE_VM | CLONE_VFORK)`, the
//! way posix_spawn does it, but with the steps posix_spawn cannot do (joining cgroups by a
//! write to `cgroup.procs`, rlimits, a new session) done in the child before `execve`, so the
//! test is contained from its first instruction. A `fork` (what `std::process::Command` does
//! as soon as a `pre_exec` hook is set) copies warden's page tables and makes every page
//! copy-on-write: most of warden's own CPU per trivial test went there.
//!
//! Everything the child touches is prepared before the clone (C strings, pointer arrays, fds);
//! the child makes raw system calls only and reports a failure's errno through memory it shares
//! with the parent, which `CLONE_VFORK` keeps suspended until the child has exec'd or exited.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

use super::netns::{PrivateNet, PrivateNetError, Step};
use super::rlimit::{self, Rlimit};

/// The child's stack: it calls a handful of libc wrappers and nothing recursive.
const STACK_SIZE: usize = 64 * 1024;
/// glibc's default search path when `PATH` is unset.
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";
/// Highest signal number on Linux.
const MAX_SIGNAL: libc::c_int = 64;

pub use super::spawn_request::Request;

/// Everything the child reads, laid out before the clone.
struct Prepared {
    /// Paths to try, in order, each NUL-terminated.
    candidates: Vec<CString>,
    /// Null-terminated `argv`.
    argv: Vec<*const libc::c_char>,
    /// `["/bin/sh", <candidate>, argv[1..], NULL]`: a file without a `#!` line (ENOEXEC) is run
    /// by the shell, as `execvp` does. Slot 1 is filled in by the child.
    sh_argv: *mut *const libc::c_char,
    envp: Vec<*const libc::c_char>,
    cwd: CString,
    stdin: RawFd,
    output: Option<RawFd>,
    cgroup_procs: Vec<RawFd>,
    rlimits: Vec<Rlimit>,
    net: Option<&'static PrivateNet>,
    /// The errno of the step that failed, written by the child before it exits.
    error: AtomicI32,
    /// When entering the private network failed: which step (a [`Step`] as a number).
    net_step: AtomicI32,
}

/// Start `req`'s program in its own session. Returns the pid; an error carries the errno of the
/// step that failed in the child (exec, chdir, cgroup join, ...), which has then been reaped.
pub fn spawn(req: &Request) -> io::Result<i32> {
    let Some(program) = req.argv.first() else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    let argv_c: Vec<CString> = req.argv.iter().map(cstr).collect::<io::Result<_>>()?;
    let env = environment(req.env);
    let env_c: Vec<CString> = env
        .iter()
        .map(|(k, v)| {
            let mut kv = k.clone().into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
        })
        .collect::<io::Result<_>>()?;
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_bytes());
    let candidates = candidates(program.as_bytes(), path)?;
    let sh = c"/bin/sh";
    let mut sh_argv = vec![sh.as_ptr(), std::ptr::null()];
    sh_argv.extend(argv_c[1..].iter().map(|a| a.as_ptr()));
    sh_argv.push(std::ptr::null());
    let prepared = Prepared {
        candidates,
        argv: argv_c
            .iter()
            .map(|a| a.as_ptr())
            .chain([std::ptr::null()])
            .collect(),
        sh_argv: sh_argv.as_mut_ptr(),
        envp: env_c
            .iter()
            .map(|e| e.as_ptr())
            .chain([std::ptr::null()])
            .collect(),
        cwd: CString::new(req.cwd.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        stdin: dev_null()?,
        output: req.output,
        cgroup_procs: req.cgroup_procs.to_vec(),
        rlimits: req.rlimits.to_vec(),
        net: req.private_net.then(PrivateNet::get),
        error: AtomicI32::new(0),
        net_step: AtomicI32::new(0),
    };
    let mut stack = vec![0u8; STACK_SIZE];
    // SAFETY: the stack grows down on every Linux target; aligned down to 16 bytes as the ABIs
    // require. The buffer outlives the child's use of it: CLONE_VFORK returns only once the
    // child has exec'd (leaving this address space) or exited.
    let top = unsafe { stack.as_mut_ptr().add(STACK_SIZE) };
    let top = (top as usize & !15) as *mut libc::c_void;

    // Signals are blocked across the clone so that no handler of warden's runs in the child
    // (on warden's memory) before it has reset them; the child unblocks after the reset.
    // SAFETY: plain sigset manipulation on local values.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: `child_main` only makes async-signal-safe system calls on `prepared`, which
    // lives (unmoved: it is borrowed here) until clone returns; the child shares our memory
    // but we are suspended until it has exec'd or exited (CLONE_VFORK), and no other thread
    // frees or mutates anything it reads. It allocates nothing, takes no lock and never
    // unwinds. SIGCHLD as the exit signal makes it an ordinary child for wait4 and pidfds.
    let pid = unsafe {
        libc::clone(
            child_main,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&prepared as *const Prepared).cast_mut().cast(),
        )
    };
    let clone_error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    drop(stack);
    drop(sh_argv);
    if pid < 0 {
        return Err(clone_error);
    }
    let errno = prepared.error.load(Ordering::SeqCst);
    if errno != 0 {
        // It has exited already (the write came just before `_exit`): reap it.
        let mut status = 0;
        // SAFETY: waits for our own child; status is a valid out-pointer.
        while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
            && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
        {}
        let step = prepared.net_step.load(Ordering::SeqCst);
        if let (Some(net), true) = (prepared.net, step != 0) {
            let e = PrivateNetError::new(Step::from_code(step), errno, net.uses_user_ns());
            return Err(io::Error::other(e));
        }
        return Err(io::Error::from_raw_os_error(errno));
    }
    Ok(pid)
}

/// The child, between clone and exec. Async-signal-safe calls only; see `spawn`.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Prepared` that `spawn` keeps alive until we exec or exit.
    let p = unsafe { &*(arg as *const Prepared) };
    let fail = |errno: libc::c_int| -> ! {
        p.error.store(errno.max(1), Ordering::SeqCst);
        // SAFETY: ends this child without running anything of warden's.
        unsafe { libc::_exit(127) }
    };
    let errno = || {
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    // SAFETY (whole block): raw system calls on fds and C strings prepared by the parent.
    unsafe {
        // Handlers are warden's code on warden's memory: default them (ignored signals stay
        // ignored across exec, as with fork + exec) but SIGPIPE, which Rust ignores for
        // itself and a test must get back, as std::process::Command does.
        // Until setsid the child is in warden's process group, so a Ctrl-Z typed now reaches
        // it too: stopped before its exec, it would keep warden (waiting in the vfork) from
        // ever handling its own. The terminal's stop signals are ignored until then (which
        // also discards one already pending), and defaulted after.
        let job_control = [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU];
        let mut restore_job_control = [false; 3];
        for sig in 1..=MAX_SIGNAL {
            let mut act: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut act) != 0 {
                continue;
            }
            if let Some(i) = job_control.iter().position(|&s| s == sig) {
                if act.sa_sigaction != libc::SIG_IGN {
                    restore_job_control[i] = true;
                    let mut ign: libc::sigaction = std::mem::zeroed();
                    ign.sa_sigaction = libc::SIG_IGN;
                    libc::sigaction(sig, &ign, std::ptr::null_mut());
                }
                continue;
            }
            if act.sa_sigaction != libc::SIG_DFL
                && (act.sa_sigaction != libc::SIG_IGN || sig == libc::SIGPIPE)
            {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());

        // "0" moves the writing process into the cgroup: before the test's first instruction.
        for &fd in &p.cgroup_procs {
            if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                fail(errno());
            }
        }
        if let Err(e) = rlimit::apply(&p.rlimits) {
            fail(e.raw_os_error().unwrap_or(libc::EINVAL));
        }
        if libc::setsid() < 0 {
            fail(errno());
        }
        // After the cgroup joins, which are permission-checked against the namespace the
        // writer is in; before exec, so the test never sees the host's network.
        if let Some(net) = p.net {
            if let Err((step, e)) = net.enter() {
                p.net_step.store(step as i32, Ordering::SeqCst);
                fail(e);
            }
        }
        // In a session of its own no terminal stops it any more: the test gets the defaults.
        for (i, &sig) in job_control.iter().enumerate() {
            if restore_job_control[i] {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
        if !redirect(p.stdin, 0) {
            fail(errno());
        }
        if let Some(out) = p.output {
            if !redirect(out, 1) || !redirect(out, 2) {
                fail(errno());
            }
        }
        if libc::chdir(p.cwd.as_ptr()) != 0 {
            fail(errno());
        }
        // As execvp: keep looking past missing entries, report EACCES if one was seen.
        let mut saw_eacces = false;
        let mut last = libc::ENOENT;
        for c in &p.candidates {
            libc::execve(c.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr());
            last = errno();
            if last == libc::ENOEXEC {
                *p.sh_argv.add(1) = c.as_ptr();
                libc::execve(*p.sh_argv, p.sh_argv.cast_const(), p.envp.as_ptr());
                last = errno();
            }
            match last {
                libc::EACCES => saw_eacces = true,
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
                _ => break,
            }
        }
        fail(if saw_eacces && last != libc::ENOEXEC {
            libc::EACCES
        } else {
            last
        })
    }
}

/// `dup2(from, to)`, clearing close-on-exec also when `from` already is `to`.
/// Async-signal-safe.
fn redirect(from: RawFd, to: RawFd) -> bool {
    // SAFETY: fd-number system calls; a bad fd is an error return, not undefined behaviour.
    unsafe {
        if from == to {
            return libc::fcntl(to, libc::F_SETFD, 0) == 0;
        }
        libc::dup2(from, to) == to
    }
}

fn cstr(s: &String) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Warden's environment with `added` over it.
fn environment(added: &[(String, String)]) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    for (k, v) in added {
        // The last of a repeated key wins, as with `Command::envs`.
        env.retain(|(ek, _)| ek != OsStr::new(k));
        env.push((k.into(), v.into()));
    }
    env
}

/// The paths `execvp` would try for `program` under `path`.
fn candidates(program: &[u8], path: Option<&[u8]>) -> io::Result<Vec<CString>> {
    let invalid = |_| io::Error::from(io::ErrorKind::InvalidInput);
    if program.contains(&b'/') {
        return Ok(vec![CString::new(program).map_err(invalid)?]);
    }
    if program.is_empty() {
        return Err(io::Error::from(io::ErrorKind::NotFound));
    }
    path.unwrap_or(DEFAULT_PATH)
        .split(|&b| b == b':')
        .map(|dir| {
            let mut full = if dir.is_empty() {
                b".".to_vec()
            } else {
                dir.to_vec()
            };
            full.push(b'/');
            full.extend_from_slice(program);
            CString::new(full).map_err(invalid)
        })
        .collect()
}

/// /dev/null for stdin, opened once (close-on-exec: only the dup2'd copy reaches the test).
fn dev_null() -> io::Result<RawFd> {
    static NULL: OnceLock<OwnedFd> = OnceLock::new();
    if let Some(fd) = NULL.get() {
        return Ok(fd.as_raw_fd());
    }
    // SAFETY: open with a static path; the fd returned is ours.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned by nothing else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(NULL.get_or_init(|| owned).as_raw_fd())
}

#[cfg(test)]
mod tests;
