//! Starting a test's main process with fork + exec where there is no `clone` (see the Linux
//! `spawn` for why warden avoids a fork there): the same steps in `pre_exec`.

use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use super::rlimit;
pub use super::spawn_request::Request;

/// Start `req`; returns the child's pid (dropping a `Child` neither kills nor reaps it: the
/// caller waits for it).
pub fn spawn(req: &Request) -> io::Result<i32> {
    if req.private_net {
        return Err(io::Error::other(
            "a private network (--net private) needs Linux network namespaces",
        ));
    }
    let Some(program) = req.argv.first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    };
    let mut cmd = Command::new(program);
    cmd.args(&req.argv[1..])
        .current_dir(req.cwd)
        .stdin(Stdio::null())
        .envs(req.env.iter().map(|(k, v)| (k, v)));
    if let Some(fd) = req.output {
        // SAFETY: the caller keeps `fd` open for the duration of this call.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        cmd.stdout(Stdio::from(fd.try_clone_to_owned()?))
            .stderr(Stdio::from(fd.try_clone_to_owned()?));
    }
    let joins = req.cgroup_procs.to_vec();
    let rlimits = req.rlimits.to_vec();
    // SAFETY: only async-signal-safe calls (write, setrlimit, setsid) on memory prepared
    // before the fork.
    unsafe {
        cmd.pre_exec(move || {
            // "0" moves the writing process (the child, before exec) into the cgroup.
            for fd in &joins {
                if libc::write(*fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            rlimit::apply(&rlimits)?;
            nix::unistd::setsid().map_err(io::Error::from)?;
            Ok(())
        });
    }
    Ok(cmd.spawn()?.id() as i32)
}
