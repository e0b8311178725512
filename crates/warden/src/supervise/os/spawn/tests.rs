//! The clone-based spawn on real processes: exec errors, cwd, environment, session, fds and
//! cgroup membership as the test's program sees them.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::*;
use crate::supervise::os::cgroup::CgroupRun;

/// Run `argv` with output into a pipe; its exit status and everything it wrote.
fn run(
    argv: &[&str],
    cwd: &Path,
    env: &[(&str, &str)],
    joins: &[RawFd],
) -> io::Result<(i32, String)> {
    run_in(argv, cwd, env, joins, false)
}

fn run_in(
    argv: &[&str],
    cwd: &Path,
    env: &[(&str, &str)],
    joins: &[RawFd],
    net: bool,
) -> io::Result<(i32, String)> {
    // Close-on-exec, as every fd warden opens: other tests spawn concurrently.
    let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let pid = spawn(&Request {
        argv: &argv,
        cwd,
        env: &env,
        output: Some(tx.as_raw_fd()),
        cgroup_procs: joins,
        rlimits: &[],
        private_net: net,
    })?;
    drop(tx);
    let mut out = String::new();
    std::fs::File::from(rx).read_to_string(&mut out).unwrap();
    let mut status = 0;
    // SAFETY: our own child; status is a valid out-pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    Ok((libc::WEXITSTATUS(status), out))
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn exec_errors_carry_the_errno_and_leave_no_child() {
    let d = tmp();
    let e = run(&["no-such-program-xyz"], d.path(), &[], &[]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    let e = run(&["./missing.sh"], d.path(), &[], &[]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    let script = d.path().join("noexec.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let e = run(&[script.to_str().unwrap()], d.path(), &[], &[]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
    // A cwd that does not exist fails the spawn, as with std::process::Command.
    let e = run(&["true"], &d.path().join("gone"), &[], &[]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    // The failed children were reaped by spawn: none is left to wait for.
    // SAFETY: WNOHANG wait on any child of this test thread's process.
    let rc = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
    assert!(rc <= 0, "an unreaped child: {rc}");
}

#[test]
fn runs_in_cwd_with_added_env_path_lookup_and_no_shebang() {
    let d = tmp();
    let (code, out) = run(
        &[
            "sh",
            "-c",
            "pwd; echo \"$WARDEN_X|$HOME\"; echo err >&2; exit 7",
        ],
        d.path(),
        &[("WARDEN_X", "a b=c")],
        &[],
    )
    .unwrap();
    assert_eq!(code, 7);
    let home = std::env::var("HOME").unwrap_or_default();
    let cwd = d.path().canonicalize().unwrap();
    assert_eq!(out, format!("{}\na b=c|{home}\nerr\n", cwd.display()));

    // A PATH given in env is the one searched; a file without `#!` runs under /bin/sh.
    std::fs::create_dir(d.path().join("bin")).unwrap();
    let prog = d.path().join("bin/myprog");
    std::fs::write(&prog, "echo \"plain script $1\"\n").unwrap();
    std::fs::set_permissions(&prog, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("/nonexistent:{}", d.path().join("bin").display());
    let (code, out) = run(&["myprog", "arg1"], d.path(), &[("PATH", &path)], &[]).unwrap();
    assert_eq!((code, out.as_str()), (0, "plain script arg1\n"));
}

#[test]
fn own_session_stdin_null_no_fds_of_ours_signals_as_with_std() {
    let d = tmp();
    let held = std::fs::File::open("/dev/null").unwrap();
    // `exec`: the shell's own mask changes while it waits for a child.
    let signals = "exec grep -E '^Sig(Blk|Ign)' /proc/self/status";
    let script = format!(
        "ps -o sid= -o pgid= -p $$; readlink /proc/self/fd/0; \
         test -e /proc/$$/fd/{} && echo leaked; {signals}",
        held.as_raw_fd()
    );
    let (code, out) = run(&["sh", "-c", &script], d.path(), &[], &[]).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    let ids: Vec<&str> = lines[0].split_whitespace().collect();
    // sid == pgid == the shell's own pid: a session of its own, not ours.
    assert_eq!(ids[0], ids[1], "{out}");
    // SAFETY: getsid(0) reads our own session id.
    assert_ne!(
        ids[0].parse::<i32>().unwrap(),
        unsafe { libc::getsid(0) },
        "{out}"
    );
    assert_eq!(lines[1], "/dev/null", "{out}");
    // Blocked and ignored signals as a child of std::process::Command gets them (nothing
    // blocked; SIGPIPE, which Rust ignores for itself, back to default). Only the standard
    // signals (1 to 31): 32 and 33 are glibc's own, which neither of us can touch.
    let std_out = std::process::Command::new("sh")
        .args(["-c", signals])
        .output()
        .unwrap();
    let standard = |text: &str| -> Vec<u64> {
        text.lines()
            .map(|l| u64::from_str_radix(l.split('\t').nth(1).unwrap(), 16).unwrap() & 0x7fff_ffff)
            .collect()
    };
    let ours = standard(&lines[2..4].join("\n"));
    assert_eq!(
        ours,
        standard(&String::from_utf8_lossy(&std_out.stdout)),
        "{out}"
    );
    assert_eq!(ours, [0, 0], "{out}");
    // Our fds are close-on-exec and stay so.
    assert!(!out.contains("leaked"), "fd {}: {out}", held.as_raw_fd());
    assert_eq!(code, 0, "{out}");
}

#[test]
fn joins_the_cgroup_before_exec() {
    let id = format!("spawn-test-{}", std::process::id());
    let Ok(run_cg) = CgroupRun::create(&id) else {
        crate::supervise::os::require::skip_without_cgroups("no writable cgroup v2 here");
        return;
    };
    let slot = run_cg.test("w0").unwrap();
    let d = tmp();
    // The program's very first view of itself is already inside the cgroup.
    let got = run(
        &["cat", "/proc/self/cgroup"],
        d.path(),
        &[],
        &[slot.procs_fd()],
    );
    let dir = slot.dir().to_path_buf();
    drop(slot);
    run_cg.remove();
    let (code, out) = got.unwrap();
    assert_eq!(code, 0);
    let rel = out
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_default();
    assert!(
        dir.ends_with(rel.trim_start_matches('/')),
        "{out} vs {dir:?}"
    );
    // A join that fails (a closed fd) fails the spawn with its errno.
    let e = run(&["true"], d.path(), &[], &[-1]).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
}

#[test]
fn a_private_network_holds_only_loopback_and_it_is_up() {
    let d = tmp();
    let script = "readlink /proc/self/ns/net; cut -d: -f1 /proc/self/net/dev | tail -n +3; \
                  cat /proc/self/net/if_inet6";
    let (code, out) = run_in(&["sh", "-c", script], d.path(), &[], &[], true).unwrap();
    assert_eq!(code, 0, "{out}");
    let own = std::fs::read_link("/proc/self/ns/net").unwrap();
    let mut lines = out.lines();
    assert_ne!(lines.next(), Some(own.to_str().unwrap()), "{out}");
    assert_eq!(lines.next().map(str::trim), Some("lo"), "{out}");
    // ::1 is there only once `lo` is up.
    assert!(
        out.contains("00000000000000000000000000000001") || !ipv6_on(),
        "{out}"
    );
}

/// Whether this kernel has IPv6 (without it, `lo` has no `::1` to show).
fn ipv6_on() -> bool {
    Path::new("/proc/self/net/if_inet6").exists()
}
